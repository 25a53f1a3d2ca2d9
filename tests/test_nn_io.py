"""Sequential.save / nnmat.nn.load: round trips and rejection of bad files."""
import json
import zipfile

import numpy as np
import pytest

import nnmat
from nnmat import nn
from nnmat.nn import _io


def _all_layers_model(dtype, seed=3):
    return nn.Sequential([
        nn.Flatten(),
        nn.Dense(12, 10, activation="relu", dtype=dtype, seed=1),
        nn.Dropout(0.3, seed=7),
        nn.Dense(10, 9, activation=nn.LeakyReLU(0.2), bias=False, init="he_normal", dtype=dtype),
        nn.GELU("tanh"),
        nn.Dense(9, 8, activation=nn.GELU(), init="xavier_uniform", dtype=dtype),
        nn.Softplus(beta=2.0, threshold=15.0),
        nn.Dense(8, 8, activation="tanh", dtype=dtype),
        nn.ELU(0.7), nn.SELU(), nn.SiLU(), nn.Mish(), nn.Hardtanh(-2.0, 2.0), nn.Hardswish(),
        nn.Dense(8, 7, activation=nn.Hardsigmoid(), dtype=dtype),
        nn.Sigmoid(), nn.Tanh(), nn.ReLU(), nn.LeakyReLU(0.05), nn.Identity(),
        nn.Dense(7, 5, dtype=dtype),
        nn.Softmax(), nn.LogSoftmax(),
    ], dtype=dtype, seed=seed)


def _meta(path):
    with np.load(path, allow_pickle=False) as d:
        return json.loads(str(d["__nnmat__"])), {k: d[k] for k in d.files if k != "__nnmat__"}


def _write(path, meta, arrays):
    np.savez(path, __nnmat__=np.array(json.dumps(meta)), **arrays)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_round_trip_predictions_identical(tmp_path, rng, dtype):
    model = _all_layers_model(dtype)
    x = rng.standard_normal((17, 3, 4))
    ref = model.predict(x)
    written = model.save(tmp_path / "m")
    assert written == str(tmp_path / "m.npz")
    loaded = nn.load(tmp_path / "m")   # finds m.npz, as save wrote it
    assert type(loaded) is nn.Sequential
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.npz"]   # no temporary file left
    assert loaded.dtype == np.dtype(dtype)
    assert loaded.seed == 3
    assert [type(a) for a in loaded.layers] == [type(b) for b in model.layers]
    assert [a.get_config() for a in loaded.layers] == [b.get_config() for b in model.layers]
    assert loaded.layers[2].seed == model.layers[2].seed   # the Dropout seed
    assert loaded.layers[3].bias is None
    for (n1, a), (n2, b) in zip(model.named_parameters(), loaded.named_parameters()):
        assert n1 == n2 and a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)
    out = loaded.predict(x)
    assert out.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(out, ref)   # bit-identical
    # the training-mode forward (dropout masks keyed by seed and counter) is identical too
    np.testing.assert_array_equal(loaded.forward(x, training=True), model.forward(x, training=True))


def test_file_contents_no_pickle(tmp_path):
    model = _all_layers_model(np.float32)
    path = tmp_path / "m.npz"
    model.save(path)
    meta, arrays = _meta(path)   # allow_pickle=False reads every entry
    assert meta["format"] == "nnmat.nn.model" and meta["format_version"] == 1
    assert meta["nnmat_version"] == nnmat.__version__
    assert meta["model"] == {"class": "Sequential", "config": {"dtype": "float32", "seed": 3}}
    assert meta["layers"][1]["config"]["activation"] == {"class": "ReLU", "config": {}}
    assert meta["layers"][3]["config"]["activation"] == {"class": "LeakyReLU",
                                                         "config": {"negative_slope": 0.2}}
    assert meta["layers"][4] == {"class": "GELU", "config": {"approximate": "tanh"}}
    assert meta["optimizer"] is None
    assert sorted(arrays) == sorted(n for n, _ in model.named_parameters())
    assert [p["name"] for p in meta["parameters"]] == [n for n, _ in model.named_parameters()]
    assert all(a.dtype == np.float32 and a.dtype.kind != "O" for a in arrays.values())
    with zipfile.ZipFile(path) as z:
        assert not any(b"pickle" in z.read(n)[:200] for n in z.namelist())


def test_save_to_file_object(tmp_path, rng):
    model = nn.Sequential([nn.Dense(3, 2, seed=0)])
    with open(tmp_path / "f.bin", "wb") as f:
        model.save(f)
    loaded = nn.load(tmp_path / "f.bin")
    x = rng.standard_normal((4, 3))
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))


def _data(rng, n=64):
    x = rng.standard_normal((n, 6)).astype(np.float32)
    y = rng.integers(0, 3, n)
    return x, y


def _net(seed=0):
    return nn.Sequential([nn.Dense(6, 16, activation="relu"), nn.Dropout(0.25),
                          nn.Dense(16, 3)], seed=seed)


@pytest.mark.parametrize("opt_factory", [
    lambda: nn.optim.Adam(lr=1e-2, amsgrad=True),
    lambda: nn.optim.AdamW(lr=1e-2, weight_decay=0.1),
    lambda: nn.optim.SGD(lr=0.05, momentum=0.9, nesterov=True),
])
def test_optimizer_round_trip_continues_identically(tmp_path, rng, opt_factory):
    x, y = _data(rng)
    ref = _net()
    opt = opt_factory()
    ref.fit(x, y, "cross_entropy", opt, epochs=2, batch_size=16, seed=1, verbose=0)
    ref.save(tmp_path / "ckpt", optimizer=opt)
    ref.fit(x, y, "cross_entropy", opt, epochs=2, batch_size=16, seed=2, verbose=0)

    model, opt2 = nn.load(tmp_path / "ckpt.npz", with_optimizer=True)
    assert type(opt2) is type(opt) and model.optimizer is opt2
    assert opt2.steps == 8
    model.fit(x, y, "cross_entropy", opt2, epochs=2, batch_size=16, seed=2, verbose=0)
    np.testing.assert_array_equal(model.flat_parameters, ref.flat_parameters)
    assert opt2.steps == opt.steps == 16


def test_optimizer_round_trip_train_on_batch_python_loss(tmp_path, rng):
    # a loss computed in Python between the engine's passes; optimizer attached per parameter
    x = rng.standard_normal((20, 4))
    y = rng.random((20, 2))
    ref = nn.Sequential([nn.Dense(4, 5, activation="tanh", dtype=np.float64), nn.Dense(5, 2, dtype=np.float64)],
                        seed=4)
    opt = nn.optim.Adam(ref, lr=0.01)
    for _ in range(3):
        ref.train_on_batch(x, y, nn.KLDivergence(), opt)
    ref.save(tmp_path / "c.npz", optimizer=opt)
    model, opt2 = nn.load(tmp_path / "c.npz", with_optimizer=True)
    for _ in range(3):
        ref.train_on_batch(x, y, nn.KLDivergence(), opt)
        model.train_on_batch(x, y, nn.KLDivergence(), opt2)
    np.testing.assert_array_equal(model.flat_parameters, ref.flat_parameters)


def test_unattached_optimizer_and_without(tmp_path):
    model = nn.Sequential([nn.Dense(3, 2, seed=0)])
    model.save(tmp_path / "a.npz", optimizer=nn.optim.SGD(lr=0.3, momentum=0.5))
    m, opt = nn.load(tmp_path / "a.npz", with_optimizer=True)
    assert isinstance(opt, nn.optim.SGD) and opt.lr == 0.3 and opt.momentum == 0.5 and not opt.attached
    model.save(tmp_path / "b.npz")
    m, opt = nn.load(tmp_path / "b.npz", with_optimizer=True)
    assert opt is None
    assert isinstance(nn.load(tmp_path / "a.npz"), nn.Sequential)


def test_save_rejects_foreign_optimizer(tmp_path):
    model = nn.Sequential([nn.Dense(3, 2, seed=0)])
    other = nn.Sequential([nn.Dense(3, 2, seed=0)])
    with pytest.raises(ValueError, match="not this model's parameters"):
        model.save(tmp_path / "a.npz", optimizer=nn.optim.Adam(other))


# ---------------------------------------------------------------------------
# rejections

@pytest.fixture
def saved(tmp_path):
    model = nn.Sequential([nn.Dense(3, 4, activation="relu", seed=0), nn.Dropout(0.1, seed=5),
                           nn.Dense(4, 2, seed=1)])
    path = tmp_path / "good.npz"
    model.save(path)
    meta, arrays = _meta(path)
    return tmp_path, meta, arrays


def _expect(tmp_path, meta, arrays, match):
    bad = tmp_path / "bad.npz"
    _write(bad, meta, arrays)
    with pytest.raises(ValueError, match=match):
        nn.load(bad)


def test_reject_not_npz(tmp_path):
    p = tmp_path / "junk.npz"
    p.write_bytes(b"this is not a zip file at all")
    with pytest.raises(ValueError, match="not an nnmat model file"):
        nn.load(p)
    np.save(tmp_path / "arr.npy", np.zeros(3))
    with pytest.raises(ValueError, match="not an nnmat model file"):
        nn.load(tmp_path / "arr.npy")


def test_reject_missing_meta(tmp_path):
    np.savez(tmp_path / "x.npz", **{"0.weight": np.zeros((2, 2), np.float32)})
    with pytest.raises(ValueError, match="no '__nnmat__' entry"):
        nn.load(tmp_path / "x.npz")


def test_reject_bad_meta(saved):
    tmp_path, meta, arrays = saved
    np.savez(tmp_path / "x.npz", __nnmat__=np.zeros(3), **arrays)
    with pytest.raises(ValueError, match="0-d unicode"):
        nn.load(tmp_path / "x.npz")
    np.savez(tmp_path / "y.npz", __nnmat__=np.array("{not json"), **arrays)
    with pytest.raises(ValueError, match="not valid JSON"):
        nn.load(tmp_path / "y.npz")
    _expect(tmp_path, dict(meta, format="something.else"), arrays, "not an nnmat model file")


def test_reject_pickled_entry(saved):
    tmp_path, meta, arrays = saved
    arrays = dict(arrays)
    arrays["0.weight"] = np.array([{"a": 1}], dtype=object)
    _expect(tmp_path, meta, arrays, "unreadable entry")


def test_reject_format_version(saved):
    tmp_path, meta, arrays = saved
    _expect(tmp_path, dict(meta, format_version=2), arrays, "unknown format version 2")
    _expect(tmp_path, {k: v for k, v in meta.items() if k != "format_version"}, arrays, "unknown format version")


def test_reject_unknown_layer_class(saved):
    tmp_path, meta, arrays = saved
    meta["layers"][1]["class"] = "os.system"
    _expect(tmp_path, meta, arrays, r"layer 1: unknown layer class 'os.system'")


def test_reject_unknown_activation_class(saved):
    tmp_path, meta, arrays = saved
    meta["layers"][0]["config"]["activation"]["class"] = "Softmax"   # a layer, but not element-wise
    _expect(tmp_path, meta, arrays, "layer 0: unknown Dense activation class 'Softmax'")


@pytest.mark.parametrize("layer,key,value,match", [
    (1, "p", 1.5, "layer 1: bad config for Dropout"),
    (1, "rate", 0.5, "layer 1: bad config for Dropout.*unexpected keyword"),
    (0, "in_features", -3, "layer 0: bad config for Dense"),
    (0, "init", "glorot", "layer 0: bad config for Dense"),
    (0, "dtype", "int32", "layer 0: bad config for Dense"),
])
def test_reject_bad_layer_config(saved, layer, key, value, match):
    tmp_path, meta, arrays = saved
    meta["layers"][layer]["config"][key] = value
    _expect(tmp_path, meta, arrays, match)


def test_reject_bad_activation_config(saved):
    tmp_path, meta, arrays = saved
    meta["layers"][0]["config"]["activation"] = {"class": "LeakyReLU", "config": {"slope": 0.1}}
    _expect(tmp_path, meta, arrays, "layer 0: bad config for activation LeakyReLU")


def test_reject_bad_model_config(saved):
    tmp_path, meta, arrays = saved
    meta["model"]["config"]["dtype"] = "float16"
    _expect(tmp_path, meta, arrays, "bad Sequential config")
    meta["model"] = {"class": "Functional", "config": {}}
    _expect(tmp_path, meta, arrays, "Sequential")


def test_reject_inconsistent_widths(saved):
    tmp_path, meta, arrays = saved
    meta["layers"][2]["config"]["in_features"] = 5
    _expect(tmp_path, meta, arrays, "do not form a valid Sequential")


def test_reject_missing_and_extra_arrays(saved):
    tmp_path, meta, arrays = saved
    _expect(tmp_path, meta, {k: v for k, v in arrays.items() if k != "2.bias"}, r"missing parameter array.*2\.bias")
    _expect(tmp_path, meta, dict(arrays, **{"3.weight": np.zeros(2, np.float32)}), r"unexpected array.*3\.weight")
    _expect(tmp_path, meta, dict(arrays, **{"optimizer.step": np.zeros(1)}), "no optimizer is described")


def test_reject_wrong_shape_and_dtype(saved):
    tmp_path, meta, arrays = saved
    _expect(tmp_path, meta, dict(arrays, **{"0.weight": np.zeros((3, 4), np.float32)}),
            r"'0.weight' has shape \(3, 4\), expected \(4, 3\)")
    _expect(tmp_path, meta, dict(arrays, **{"0.bias": np.zeros(4, np.float64)}),
            "'0.bias' has dtype float64, expected float32")
    meta2 = json.loads(json.dumps(meta))
    meta2["parameters"][0]["shape"] = [3, 4]
    _expect(tmp_path, meta2, arrays, "described with shape")


def test_reject_bad_optimizer_entries(tmp_path, rng):
    x, y = _data(rng, 16)
    model = _net()
    opt = nn.optim.Adam(lr=1e-2)
    model.fit(x, y, "cross_entropy", opt, epochs=1, batch_size=8, seed=0, verbose=0)
    model.save(tmp_path / "o.npz", optimizer=opt)
    meta, arrays = _meta(tmp_path / "o.npz")
    assert "optimizer.exp_avg.0" in arrays and meta["optimizer"]["class"] == "Adam"
    assert meta["optimizer"]["scalars"]["step"] == 2
    _expect(tmp_path, meta, {k: v for k, v in arrays.items() if k != "optimizer.exp_avg.0"},
            r"missing optimizer array.*optimizer\.exp_avg\.0")
    _expect(tmp_path, meta, dict(arrays, **{"optimizer.junk": np.zeros(1)}), "unexpected optimizer array")
    _expect(tmp_path, meta, dict(arrays, **{"optimizer.exp_avg.0": np.zeros(3, np.float32)}),
            "bad optimizer state")
    meta2 = json.loads(json.dumps(meta))
    meta2["optimizer"]["class"] = "RMSprop"
    _expect(tmp_path, meta2, arrays, "unknown optimizer class 'RMSprop'")
    meta3 = json.loads(json.dumps(meta))
    meta3["optimizer"]["scalars"]["kind"] = "sgd"
    _expect(tmp_path, meta3, arrays, "bad optimizer state")


def test_clone_is_independent():
    model = nn.Sequential([nn.Dense(3, 4, activation="relu"), nn.Dense(4, 2)], seed=0)
    c = _io.clone(model, np.float64)
    assert c.dtype == np.float64 and all(l.dtype in (None, np.float64) for l in c.layers)
    for (_, a), (_, b) in zip(model.named_parameters(), c.named_parameters()):
        np.testing.assert_array_equal(a.astype(np.float64), b)
    c.flat_parameters[:] = 0
    assert np.any(model.flat_parameters != 0)
