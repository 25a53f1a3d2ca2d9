"""nnmat.nn: layers, Sequential, fit / train_on_batch, against finite differences,
plain numpy and (when installed) PyTorch autograd with copied weights."""
import numpy as np
import pytest

import nnmat
from nnmat import nn

ACTS = ["relu", "sigmoid", "tanh", "gelu", "gelu_tanh", "silu", "elu", "selu", "softplus", "mish",
        "leaky_relu", "hardtanh", "hardsigmoid", "hardswish", "identity"]


def numeric_grad(f, x, eps=1e-6):
    g = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"])
    for _ in it:
        i = it.multi_index
        old = x[i]
        x[i] = old + eps
        fp = f()
        x[i] = old - eps
        fm = f()
        x[i] = old
        g[i] = (fp - fm) / (2 * eps)
    return g


def small_model(act="tanh", dtype=np.float64, seed=0, out=3):
    return nn.Sequential([nn.Dense(5, 7, act, dtype=dtype), nn.Dense(7, 6, dtype=dtype), nn.Tanh(),
                          nn.Dense(6, out, dtype=dtype)], seed=seed)


# ---------------------------------------------------------------- layers

@pytest.mark.parametrize("act", ACTS)
def test_dense_backward_finite_differences(act, isa, rng):
    layer = nn.Dense(4, 5, act, dtype=np.float64, seed=1)
    x = rng.standard_normal((3, 4)) * 1.5
    g = rng.standard_normal((3, 5))
    layer.forward(x)
    dx = layer.backward(g)

    def f():
        return float((layer.forward(x) * g).sum())

    np.testing.assert_allclose(dx, numeric_grad(f, x), rtol=1e-5, atol=1e-7)
    layer.forward(x)
    layer.backward(g)
    gw, gb = layer.weight_grad.copy(), layer.bias_grad.copy()
    np.testing.assert_allclose(gw, numeric_grad(f, layer.weight), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(gb, numeric_grad(f, layer.bias), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("cls", [nn.ReLU, nn.Sigmoid, nn.Tanh, nn.GELU, nn.SiLU, nn.ELU, nn.Softplus, nn.Mish,
                                 nn.LeakyReLU, nn.Hardswish, nn.Softmax, nn.LogSoftmax, nn.Identity])
def test_activation_layers_backward(cls, isa, rng):
    layer = cls()
    x = rng.standard_normal((4, 6)) * 2
    g = rng.standard_normal((4, 6))
    layer.forward(x)
    dx = layer.backward(g)

    def f():
        return float((layer.forward(x) * g).sum())

    np.testing.assert_allclose(dx, numeric_grad(f, x), rtol=1e-5, atol=1e-7)


def test_activation_layer_matches_function(rng):
    x = rng.standard_normal((3, 5))
    np.testing.assert_allclose(nn.LeakyReLU(0.2).forward(x), nnmat.activations.leaky_relu(x, 0.2))
    np.testing.assert_allclose(nn.Softmax().forward(x), nnmat.activations.softmax(x), rtol=1e-15)
    np.testing.assert_allclose(nn.Hardtanh(-0.5, 0.5).forward(x), np.clip(x, -0.5, 0.5))
    with pytest.raises(ValueError):
        nn.Softplus(beta=-1.0)
    with pytest.raises(TypeError):
        nn.ReLU(3)


def test_dense_applies_to_last_axis_like_linear(rng):
    layer = nn.Dense(4, 3, "relu", dtype=np.float64, seed=0)
    x = rng.standard_normal((2, 5, 4))
    np.testing.assert_allclose(layer(x), np.maximum(x @ layer.weight.T + layer.bias, 0), rtol=1e-14)
    assert layer.backward(np.ones((2, 5, 3))).shape == x.shape


def test_dense_init_torch_and_seeds():
    d = nn.Dense(100, 50, seed=3)
    bound = 1 / np.sqrt(100)
    assert d.weight.dtype == np.float32 and d.weight.shape == (50, 100)
    assert np.abs(d.weight).max() <= bound and np.abs(d.bias).max() <= bound
    assert np.abs(d.weight).max() > 0.9 * bound
    np.testing.assert_array_equal(d.weight, nn.Dense(100, 50, seed=3).weight)
    assert not np.array_equal(d.weight, nn.Dense(100, 50, seed=4).weight)
    x = nn.Dense(400, 300, init="xavier_uniform", seed=0)
    assert np.abs(x.weight).max() <= np.sqrt(6 / 700) and not x.bias.any()
    h = nn.Dense(400, 300, init="he_normal", seed=0)
    assert abs(h.weight.std() - np.sqrt(2 / 400)) < 0.01 * np.sqrt(2 / 400) * 10
    with pytest.raises(ValueError, match="init"):
        nn.Dense(3, 3, init="orthogonal")


def test_dropout(rng):
    x = np.ones((200, 50))
    d = nn.Dropout(0.3, seed=7)
    y = d.forward(x, training=True)
    kept = y != 0
    assert abs(kept.mean() - 0.7) < 0.02
    np.testing.assert_allclose(y[kept], 1 / 0.7)
    np.testing.assert_array_equal(d.backward(np.full_like(x, 2.0)), 2.0 * y)
    np.testing.assert_array_equal(d.forward(x), x)                       # inference: identity
    np.testing.assert_array_equal(nn.Dropout(0.3, seed=7).forward(x, training=True), y)  # same seed
    assert not np.array_equal(d.forward(x, training=True), y)             # next forward: new mask
    assert not nn.Dropout(1.0, seed=1).forward(x, training=True).any()
    with pytest.raises(ValueError):
        nn.Dropout(1.5)


def test_flatten_in_sequential(rng):
    m = nn.Sequential([nn.Flatten(), nn.Dense(12, 2, dtype=np.float64)], seed=0)
    x = rng.standard_normal((5, 3, 4))
    np.testing.assert_allclose(m.forward(x), x.reshape(5, 12) @ m[1].weight.T + m[1].bias, rtol=1e-14)
    assert m.backward(np.ones((5, 2))).shape == (5, 3, 4)


# ---------------------------------------------------------------- Sequential

def test_sequential_matches_numpy_and_flat_buffer(rng):
    m = small_model()
    x = rng.standard_normal((8, 5))
    d0, d1, _, d2 = m.layers
    ref = np.tanh(np.tanh(x @ d0.weight.T + d0.bias) @ d1.weight.T + d1.bias) @ d2.weight.T + d2.bias
    np.testing.assert_allclose(m.predict(x), ref, rtol=1e-13)
    assert m.count_parameters() == 5 * 7 + 7 + 7 * 6 + 6 + 6 * 3 + 3
    assert np.shares_memory(d0.weight, m.flat_parameters)
    d0.weight = np.zeros((7, 5))       # assignment copies into the model's buffer
    assert np.shares_memory(d0.weight, m.flat_parameters) and not m.flat_parameters[:35].any()


@pytest.mark.parametrize("act", ["relu", "gelu", "sigmoid", "elu"])
def test_sequential_backward_vs_torch(act, rng):
    torch = pytest.importorskip("torch")
    m = nn.Sequential([nn.Dense(5, 8, act, dtype=np.float64), nn.Dropout(0.2), nn.Dense(8, 4, dtype=np.float64),
                       nn.LogSoftmax()], seed=2)
    x = rng.standard_normal((6, 5))
    out = m.forward(x)
    g = rng.standard_normal(out.shape)
    dx = m.backward(g)
    l0, l1 = torch.nn.Linear(5, 8).double(), torch.nn.Linear(8, 4).double()
    for t, d in ((l0, m[0]), (l1, m[2])):
        t.weight.data = torch.tensor(d.weight.copy())
        t.bias.data = torch.tensor(d.bias.copy())
    f = {"relu": torch.relu, "gelu": torch.nn.functional.gelu, "sigmoid": torch.sigmoid,
         "elu": torch.nn.functional.elu}[act]
    xt = torch.tensor(x, requires_grad=True)
    o = torch.log_softmax(l1(f(l0(xt))), -1)
    o.backward(torch.tensor(g))
    np.testing.assert_allclose(out, o.detach().numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(m[0].weight_grad, l0.weight.grad.numpy(), rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(m[2].bias_grad, l1.bias.grad.numpy(), rtol=1e-10, atol=1e-13)


def test_model_gradient_finite_differences(rng):
    m = small_model("gelu")
    x = rng.standard_normal((4, 5))
    y = rng.integers(0, 3, 4)
    loss = nnmat.losses.cross_entropy

    def f():
        return loss(m.forward(x), y)

    _, g = loss.value_and_grad(m.forward(x), y)
    m.backward(g)
    grads = [gr.copy() for gr in m.gradients()]
    for p, gr in zip(m.parameters(), grads):
        np.testing.assert_allclose(gr, numeric_grad(f, p), rtol=1e-5, atol=1e-8)


def test_twenty_adam_steps_match_torch(rng):
    torch = pytest.importorskip("torch")
    m = nn.Sequential([nn.Dense(10, 16, "relu"), nn.Dense(16, 4)], seed=0)
    layers = [m[0], m[1]]
    tl = [torch.nn.Linear(10, 16), torch.nn.Linear(16, 4)]
    for t, d in zip(tl, layers):
        t.weight.data = torch.tensor(d.weight.copy())
        t.bias.data = torch.tensor(d.bias.copy())
    tnet = torch.nn.Sequential(tl[0], torch.nn.ReLU(), tl[1])
    topt = torch.optim.Adam(tnet.parameters(), lr=1e-2)
    opt = nn.optim.Adam(lr=1e-2)
    for step in range(20):
        x = rng.standard_normal((16, 10)).astype(np.float32)
        y = rng.integers(0, 4, 16)
        ours = m.train_on_batch(x, y, loss="cross_entropy", optimizer=opt)
        topt.zero_grad()
        lt = torch.nn.functional.cross_entropy(tnet(torch.tensor(x)), torch.tensor(y))
        lt.backward()
        topt.step()
        assert ours == pytest.approx(lt.item(), rel=1e-5, abs=1e-6)
    np.testing.assert_allclose(m[0].weight, tl[0].weight.detach().numpy(), rtol=1e-4, atol=1e-5)


# ---------------------------------------------------------------- fit

def blobs(rng, n=300, d=6, k=3, dtype=np.float32):
    centers = rng.standard_normal((k, d)) * 3
    y = rng.integers(0, k, n)
    x = (centers[y] + rng.standard_normal((n, d))).astype(dtype)
    return x, y


def test_fit_learns_and_reports(rng):
    x, y = blobs(rng)
    m = nn.Sequential([nn.Dense(6, 16, "relu"), nn.Dense(16, 3)], seed=0)
    h = m.fit(x, y, loss="cross_entropy", epochs=15, batch_size=16, seed=1, verbose=0, metrics=["accuracy"],
              validation_split=0.2)
    assert set(h.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert len(h.history["loss"]) == 15 and h.epoch == list(range(15))
    assert h.history["loss"][-1] < h.history["loss"][0]
    assert h.history["val_accuracy"][-1] > 0.9
    ev = m.evaluate(x, y)
    assert set(ev) == {"loss", "accuracy"} and ev["accuracy"] > 0.9
    assert m.score(x, y) == ev["accuracy"]


def test_fit_is_reproducible_and_thread_invariant(rng):
    x, y = blobs(rng, n=700, d=40)

    def run(threads):
        m = nn.Sequential([nn.Dense(40, 300, "relu"), nn.Dropout(0.1), nn.Dense(300, 3)], seed=5)
        with nnmat.threads(threads):
            h = m.fit(x, y, loss="cross_entropy", epochs=2, batch_size=350, seed=9, verbose=0)
        return m.flat_parameters.copy(), h.history["loss"]

    p1, l1 = run(1)
    p2, l2 = run(2)
    p3, l3 = run(1)
    np.testing.assert_array_equal(p1, p3)
    np.testing.assert_array_equal(p1, p2)
    assert l1 == l2 == l3


@pytest.mark.parametrize("loss,target", [("mse", "value"), ("l1", "value"), ("huber", "value"),
                                         ("bce_with_logits", "binary"), ("hinge", "binary"),
                                         ("nll", "index"), (nn.KLDivLoss(reduction="batchmean"), "logprob"),
                                         (nn.CrossEntropyLoss(label_smoothing=0.1), "index"),
                                         (nn.CrossEntropyLoss(), "prob"), (nn.SparsemaxLoss(), "prob")])
def test_train_on_batch_value_matches_loss_function(loss, target, rng):
    """The training step's reported loss is the loss of the pre-step parameters
    (native C++ step and Python-loss path alike), and the step changes them."""
    out = 1 if target == "binary" else 4
    layers = [nn.Dense(5, 8, "tanh", dtype=np.float64), nn.Dense(8, out, dtype=np.float64)]
    if target in ("index", "logprob") and loss != "index":
        layers.append(nn.LogSoftmax()) if target == "logprob" or loss == "nll" else None
    m = nn.Sequential(layers, seed=3)
    x = rng.standard_normal((12, 5))
    if target == "value":
        y = rng.standard_normal((12, out))
    elif target == "binary":
        y = rng.integers(0, 2, (12, 1)).astype(float)
    elif target == "index":
        y = rng.integers(0, 4, 12)
    else:
        y = rng.dirichlet(np.ones(4), 12)
    lobj = nn.get_loss(loss)
    expected = lobj(m.predict(x), y if target != "binary" or lobj._fn.__name__ != "hinge_loss" else y)
    before = m.flat_parameters.copy()
    got = m.train_on_batch(x, y, loss=loss, optimizer=nn.optim.SGD(lr=0.1))
    assert got == pytest.approx(expected, rel=1e-12, abs=1e-14)
    assert not np.array_equal(before, m.flat_parameters)


def test_sample_weight(rng):
    x, y = blobs(rng, n=40)
    x = x.astype(np.float64)
    m = nn.Sequential([nn.Dense(6, 3, dtype=np.float64)], seed=0)
    w = rng.random(40)
    w[:10] = 0
    out = m.predict(x)
    per = nnmat.losses.cross_entropy(out, y, reduction="none")
    expected = (per * w).sum() / w.sum()
    assert m.evaluate(x, y, loss="cross_entropy", sample_weight=w)["loss"] == pytest.approx(expected, rel=1e-12)
    got = m.train_on_batch(x, y, loss="cross_entropy", optimizer="sgd", sample_weight=w)
    assert got == pytest.approx(expected, rel=1e-12)
    # the Python-loss path weighs the same way
    m2 = nn.Sequential([nn.Dense(6, 3, dtype=np.float64)], seed=0)
    yp = np.eye(3)[y]
    got2 = m2.train_on_batch(x, yp, loss=nn.CrossEntropyLoss(), optimizer="sgd", sample_weight=w)
    assert got2 == pytest.approx(expected, rel=1e-12)
    np.testing.assert_allclose(m.flat_parameters, m2.flat_parameters, rtol=1e-12)
    # zero-weight rows do not move the parameters
    m3 = nn.Sequential([nn.Dense(6, 3, dtype=np.float64)], seed=0)
    m3.train_on_batch(x[10:], y[10:], loss="cross_entropy", optimizer="sgd", sample_weight=w[10:])
    np.testing.assert_allclose(m.flat_parameters, m3.flat_parameters, rtol=1e-12)


def test_early_stopping_and_validation_data(rng):
    x, y = blobs(rng, n=200)
    m = nn.Sequential([nn.Dense(6, 3)], seed=0)
    es = nn.EarlyStopping(monitor="loss", patience=0, min_delta=10.0, restore_best_weights=True)
    h = m.fit(x, y, loss="cross_entropy", epochs=50, verbose=0, callbacks=[es], validation_data=(x[:50], y[:50]))
    assert len(h.epoch) == 2 and es.stopped_epoch == 1 and "val_loss" in h.history
    with pytest.raises(KeyError, match="val_accuracy"):
        m.fit(x, y, epochs=2, verbose=0, callbacks=[nn.EarlyStopping(monitor="val_accuracy")])


def test_keyboard_interrupt_leaves_model_usable(rng):
    x, y = blobs(rng)

    class Interrupt(nn.Callback):
        def on_batch_end(self, batch, logs=None):
            if batch == 3:
                raise KeyboardInterrupt

    m = nn.Sequential([nn.Dense(6, 3)], seed=0)
    with pytest.raises(KeyboardInterrupt):
        m.fit(x, y, loss="cross_entropy", epochs=3, verbose=0, callbacks=[Interrupt()])
    assert np.isfinite(m.predict(x)).all()
    h = m.fit(x, y, loss="cross_entropy", epochs=1, verbose=0)
    assert np.isfinite(h.history["loss"][0])


def test_training_loop_does_not_allocate(rng):
    import tracemalloc

    x, y = blobs(rng, n=512, d=64)
    m = nn.Sequential([nn.Dense(64, 128, "relu"), nn.Dense(128, 10)], seed=0)
    m.fit(x, y, loss="cross_entropy", epochs=1, batch_size=64, verbose=0)
    net = m._network(64)
    opt = nn.optim.Adam(lr=1e-3)
    m._start_task(net, x, nn.get_loss("cross_entropy"), y, None, m._bind_optimizer(opt), "t")
    perm = np.arange(512, dtype=np.int64)
    net.train_batch(perm, 0, 64)
    tracemalloc.start()
    for s in range(0, 512, 64):
        net.train_batch(perm, s, 64)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    net.clear_task()
    assert peak < 4096   # a few Python floats and tuples; a batch's activations would be 64 KB


def test_verbose_progress_and_summary(rng, capsys):
    x, y = blobs(rng, n=64)
    m = nn.Sequential([nn.Dense(6, 4, "relu"), nn.Dense(4, 3)], seed=0)
    m.fit(x, y, loss="cross_entropy", epochs=2, verbose=2)
    out = capsys.readouterr().out
    assert "epoch 2/2" in out and "loss" in out
    text = m.summary(print_fn=None)
    assert "Dense(6, 4" in text and "Total parameters: 43" in text


# ---------------------------------------------------------------- bad input

def test_bad_input_is_rejected_before_training(rng):
    x, y = blobs(rng, n=50)
    m = nn.Sequential([nn.Dense(6, 3)], seed=0)
    before = m.flat_parameters.copy()
    with pytest.raises(ValueError, match="features"):
        m.fit(x[:, :5], y, loss="cross_entropy", verbose=0)
    with pytest.raises(IndexError, match="out of range"):
        m.fit(x, y + 1, loss="cross_entropy", verbose=0)
    bad = x.copy()
    bad[3, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        m.fit(bad, y, loss="cross_entropy", verbose=0)
    with pytest.raises(ValueError, match="samples"):
        m.fit(x, y[:-1], loss="cross_entropy", verbose=0)
    with pytest.raises(TypeError, match="integers"):
        m.fit(x, y + 0.5, loss="cross_entropy", verbose=0)
    with pytest.raises(ValueError, match="shape"):
        m.fit(x, rng.standard_normal((50, 2)), loss="mse", verbose=0)
    with pytest.raises(ValueError, match="unknown loss"):
        m.fit(x, y, loss="crossentropy", verbose=0)
    with pytest.raises(ValueError, match="epochs"):
        m.fit(x, y, loss="cross_entropy", epochs=0, verbose=0)
    with pytest.raises(ValueError, match="batch_size"):
        m.fit(x, y, loss="cross_entropy", batch_size=-1, verbose=0)
    with pytest.raises(ValueError, match="sample_weight"):
        m.fit(x, y, loss="cross_entropy", sample_weight=-np.ones(50), verbose=0)
    with pytest.raises(ValueError, match="inputs"):
        m.fit(x, y, loss=nn.TripletMarginLoss(), verbose=0)
    with pytest.raises(TypeError, match="real numbers"):
        m.fit(x.astype(complex), y, loss="cross_entropy", verbose=0)
    with pytest.raises(ValueError, match="Flatten"):
        m.predict(x.reshape(50, 2, 3))
    np.testing.assert_array_equal(before, m.flat_parameters)


def test_bad_construction():
    with pytest.raises(ValueError, match="in_features"):
        nn.Sequential([nn.Dense(4, 3), nn.Dense(4, 2)])
    with pytest.raises(TypeError):
        nn.Sequential([nn.Dense(4, 3), "relu"])
    d = nn.Dense(4, 3)
    with pytest.raises(ValueError, match="twice"):
        nn.Sequential([d, d])
    with pytest.raises(ValueError, match="activation"):
        nn.Dense(4, 3, activation="softmax")
    with pytest.raises(ValueError):
        nn.Dense(-1, 3)
    with pytest.raises(ValueError, match="shape"):
        d.weight = np.zeros((4, 3))
    with pytest.raises(RuntimeError, match="forward"):
        nn.Dense(4, 3).backward(np.zeros((1, 3)))
    with pytest.raises(ValueError, match="grad_output"):
        d.forward(np.zeros((2, 4)))
        d.backward(np.zeros((3, 3)))


def test_optimizer_of_another_model_is_rejected(rng):
    x, y = blobs(rng, n=20)
    a = nn.Sequential([nn.Dense(6, 3)], seed=0)
    b = nn.Sequential([nn.Dense(6, 3)], seed=1)
    opt = nn.optim.SGD(a, lr=0.1)
    a.fit(x, y, loss="cross_entropy", optimizer=opt, verbose=0)
    with pytest.raises(ValueError, match="not this model"):
        b.fit(x, y, loss="cross_entropy", optimizer=opt, verbose=0)


def test_plain_progress_bar_without_tqdm(rng, monkeypatch):
    import builtins
    import io

    from nnmat.nn._callbacks import Progress

    real_import = builtins.__import__

    def no_tqdm(name, *args, **kwargs):
        if name.startswith("tqdm"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_tqdm)
    out = io.StringIO()
    bar = Progress(total=4, delay=0.0, stream=out)
    assert bar.bar is None
    for _ in range(4):
        bar.update(1, "loss 0.5")
    bar.close()
    text = out.getvalue()
    assert "4/4" in text and "loss 0.5" in text and text.endswith("\n")
    quiet = io.StringIO()
    late = Progress(total=4, delay=60.0, stream=quiet)   # a short run never shows the bar
    late.update(4, "")
    late.close()
    assert quiet.getvalue() == ""
