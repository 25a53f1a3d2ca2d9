"""nnmat.nn.check_gradients: passes on correct backprop, fails on a wrong one."""
import numpy as np
import pytest

from nnmat import nn

ACTIVATIONS = [None, "relu", "sigmoid", "tanh", "gelu", "gelu_tanh", "silu", "elu", "selu", "softplus", "mish",
               "leaky_relu", "hardtanh", "hardsigmoid", "hardswish", nn.LeakyReLU(0.2), nn.ELU(0.5),
               nn.Softplus(beta=2.0)]


def _model(activation, dtype=np.float32, out=3, seed=0):
    act = activation
    return nn.Sequential([nn.Dense(5, 7, activation=act, dtype=dtype),
                          nn.Dense(7, out, dtype=dtype)], seed=seed)


def _act_name(a):
    return a if isinstance(a, str) or a is None else repr(a)


@pytest.mark.parametrize("activation", ACTIVATIONS, ids=_act_name)
def test_passes_every_fused_activation(rng, activation):
    model = _model(activation)
    x = rng.standard_normal((6, 5))
    y = rng.integers(0, 3, 6)
    res = nn.check_gradients(model, x, y, "cross_entropy")
    assert res.ok, str(res)
    assert res.checked == model.count_parameters() + x.size
    assert set(res.abs_errors) == {n for n, _ in model.named_parameters()} | {"input"}


def test_passes_activation_layers_and_flatten(rng):
    layers = [nn.Flatten(), nn.Dense(6, 6, bias=False), nn.Dropout(0.5, seed=1)]
    for cls in (nn.Sigmoid, nn.Tanh, nn.ReLU, nn.ELU, nn.SELU, nn.SiLU, nn.Softplus, nn.Mish, nn.Hardtanh,
                nn.Hardsigmoid, nn.Hardswish, nn.Identity):
        layers += [cls(), nn.Dense(6, 6)]
    layers += [nn.LeakyReLU(0.2), nn.GELU("tanh"), nn.GELU(), nn.Dense(6, 4), nn.Softmax(), nn.Dense(4, 4),
               nn.LogSoftmax()]
    model = nn.Sequential(layers, seed=2)
    x = rng.standard_normal((5, 2, 3))
    y = rng.standard_normal((5, 4))
    res = nn.check_gradients(model, x, y, nn.MSELoss())
    assert res.ok, str(res)
    assert "input" in res.abs_errors


@pytest.mark.parametrize("loss,target", [
    ("cross_entropy", "class"),
    (nn.CrossEntropyLoss(label_smoothing=0.1), "class"),
    ("mse", "real"),
    ("bce_with_logits", "binary"),
    (nn.HuberLoss(delta=0.5), "real"),
    (nn.SmoothL1Loss(beta=0.3, reduction="sum"), "real"),
    ("log_cosh", "real"),
    (nn.KLDivergence(), "prob"),
])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_passes_losses(rng, loss, target, dtype):
    model = _model("tanh", dtype=dtype, out=3, seed=5)
    x = rng.standard_normal((8, 5))
    y = {"class": lambda: rng.integers(0, 3, 8),
         "real": lambda: rng.standard_normal((8, 3)),
         "binary": lambda: rng.integers(0, 2, (8, 3)).astype(np.float64),
         "prob": lambda: rng.dirichlet(np.ones(3), 8)}[target]()
    if target == "prob":
        model = nn.Sequential(list(model.layers) + [nn.Softmax()])
    res = nn.check_gradients(model, x, y, loss)
    assert res.ok, str(res)
    assert res.max_abs_error < 1e-6 and res.max_rel_error < 1e-4


def test_user_model_unchanged(rng):
    model = nn.Sequential([nn.Dense(5, 7, activation="relu"), nn.Dropout(0.3, seed=3), nn.Dense(7, 3)], seed=1)
    x = rng.standard_normal((6, 5)).astype(np.float32)
    x_copy = x.copy()
    y = rng.integers(0, 3, 6)
    model.forward(x, training=True)
    model.backward(np.ones((6, 3), np.float32))
    params = model.flat_parameters.copy()
    grads = model.flat_gradients.copy()
    pred = model.predict(x)
    counts = {w: n.forward_count for w, n in model._nets.items()}
    res = nn.check_gradients(model, x, y, "cross_entropy")
    assert res.ok
    assert model.dtype == np.float32 and model.flat_parameters.dtype == np.float32
    np.testing.assert_array_equal(model.flat_parameters, params)
    np.testing.assert_array_equal(model.flat_gradients, grads)
    np.testing.assert_array_equal(x, x_copy)
    assert {w: n.forward_count for w, n in model._nets.items()} == counts
    np.testing.assert_array_equal(model.predict(x), pred)


def test_fails_on_wrong_loss_gradient(rng):
    class WrongMSE(nn.MSELoss):
        def value_and_grad(self, input, target, sample_weight=None):
            v, g = super().value_and_grad(input, target, sample_weight=sample_weight)
            return v, g * 1.01   # 1% too large everywhere

    model = _model("tanh")
    x = rng.standard_normal((6, 5))
    y = rng.standard_normal((6, 3))
    assert nn.check_gradients(model, x, y, nn.MSELoss()).ok
    res = nn.check_gradients(model, x, y, WrongMSE())
    assert not res.ok and not res
    assert res.max_rel_error > 5e-3
    assert all(res.failures[k] > 0 for k in res.failures)
    assert "FAILED" in str(res) and "ok=False" in repr(res)


def test_fails_on_one_wrong_parameter_gradient(rng, monkeypatch):
    # corrupt only the gradient of '1.bias' produced by the backward pass
    original = nn.Sequential.backward

    def backward(self, grad_output):
        dx = original(self, grad_output)
        self.layers[1].bias_grad[0] += 1e-3
        return dx

    model = _model("sigmoid")
    x = rng.standard_normal((6, 5))
    y = rng.integers(0, 3, 6)
    monkeypatch.setattr(nn.Sequential, "backward", backward)
    res = nn.check_gradients(model, x, y, "cross_entropy")
    assert not res.ok
    assert res.failures == {"0.weight": 0, "0.bias": 0, "1.weight": 0, "1.bias": 1, "input": 0}
    assert res.abs_errors["1.bias"] == pytest.approx(1e-3, rel=1e-3)
    assert "1.bias" in str(res)


def test_max_checks_subset(rng):
    model = nn.Sequential([nn.Dense(20, 30, activation="relu"), nn.Dense(30, 4)], seed=0)
    x = rng.standard_normal((4, 20))
    y = rng.integers(0, 4, 4)
    res = nn.check_gradients(model, x, y, "cross_entropy", max_checks=5, seed=3)
    assert res.ok
    # 5 per array: 2 weights, 2 biases (4 entries: all of them), input
    assert res.checked == 5 + 5 + 5 + 4 + 5
    res2 = nn.check_gradients(model, x, y, "cross_entropy", max_checks=5, seed=3)
    assert res2.abs_errors == res.abs_errors


def test_bad_arguments(rng):
    model = _model(None)
    x = rng.standard_normal((2, 5))
    y = rng.integers(0, 3, 2)
    with pytest.raises(TypeError):
        nn.check_gradients(nn.Dense(5, 3), x, y, "mse")
    with pytest.raises(ValueError, match="eps"):
        nn.check_gradients(model, x, y, "cross_entropy", eps=0)
    with pytest.raises(ValueError, match="max_checks"):
        nn.check_gradients(model, x, y, "cross_entropy", max_checks=0)
    with pytest.raises(ValueError, match="inputs"):
        nn.check_gradients(model, x, y, nn.TripletMarginLoss())
