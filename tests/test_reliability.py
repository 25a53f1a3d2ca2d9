"""Reliability: concurrent Python threads, fork(), coexistence with torch /
scikit-learn / threadpoolctl, memory (no leaks, MemoryError), interrupts.

Checks that could hang (fork, interrupts) run in a subprocess with a timeout, so
a regression fails the test instead of stopping the suite."""
import os
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest

import nnmat
from nnmat import nn

SRC_DIR = os.path.dirname(os.path.dirname(os.path.abspath(nnmat.__file__)))


def run_script(code, timeout=120, env=None):
    """Runs `code` in a fresh Python with nnmat importable; returns its stdout (fails on error/timeout)."""
    e = dict(os.environ)
    e["PYTHONPATH"] = SRC_DIR + os.pathsep + e.get("PYTHONPATH", "")
    e.update(env or {})
    try:
        r = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                           timeout=timeout, env=e)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the script did not finish within {timeout} s (a hang)")
    assert r.returncode == 0, f"exit {r.returncode}\nstdout:\n{r.stdout}\nstderr:\n{r.stderr}"
    return r.stdout


# ---------------------------------------------------------------- Python threads

def _workload(seed):
    r = np.random.default_rng(seed)
    a = r.standard_normal((300, 200)).astype(np.float32)
    b = r.standard_normal((200, 250)).astype(np.float32)
    x = r.standard_normal(200_000).astype(np.float32)
    logits = r.standard_normal((512, 40))
    labels = r.integers(0, 40, 512)
    out = {
        "matmul": nnmat.matmul(a, b),
        "linear": nnmat.linear(a, b.T, None, activation="gelu"),
        "gelu": nnmat.activations.gelu(x),
        "tanh_bwd": nnmat.activations.tanh.backward(x, x),
        "softmax": nnmat.activations.softmax(logits),
    }
    v, g = nnmat.losses.cross_entropy.value_and_grad(logits, labels)
    out["ce"], out["ce_grad"] = np.array(v), g
    v, g = nnmat.losses.huber_loss.value_and_grad(x, x[::-1].copy())
    out["huber"], out["huber_grad"] = np.array(v), g
    return out


def test_eight_python_threads_match_serial():
    serial = [_workload(s) for s in range(8)]
    results = [None] * 8
    errors = []

    def work(i):
        try:
            for _ in range(3):
                results[i] = _workload(i)
        except Exception as exc:   # reported below
            errors.append(exc)

    ts = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(timeout=120)
    assert not errors, errors
    for s, r in zip(serial, results):
        for k in s:
            np.testing.assert_array_equal(s[k], r[k], err_msg=k)


def test_thread_count_override_is_per_thread():
    seen = {}
    barrier = threading.Barrier(2)

    def limited():
        with nnmat.threads(1):
            barrier.wait()
            seen["limited"] = nnmat.get_num_threads()
            barrier.wait()

    def default():
        barrier.wait()
        seen["default"] = nnmat.get_num_threads()
        barrier.wait()

    expected = nnmat.get_num_threads()
    ts = [threading.Thread(target=limited), threading.Thread(target=default)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(timeout=30)
    assert seen == {"limited": 1, "default": expected}


def test_models_train_concurrently_in_threads():
    """Two models trained in two Python threads give what each gives alone."""
    r = np.random.default_rng(0)
    x = r.standard_normal((256, 20)).astype(np.float32)
    y = r.integers(0, 4, 256)

    def train(seed):
        m = nn.Sequential([nn.Dense(20, 64, "relu"), nn.Dense(64, 4)], seed=seed)
        m.fit(x, y, loss="cross_entropy", epochs=3, batch_size=32, seed=seed, verbose=0)
        return m.flat_parameters.copy()

    alone = [train(s) for s in (1, 2)]
    got = [None, None]
    ts = [threading.Thread(target=lambda i=i: got.__setitem__(i, train(i + 1))) for i in range(2)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(timeout=120)
    for a, g in zip(alone, got):
        np.testing.assert_array_equal(a, g)


def test_one_model_shared_by_threads():
    """predict / forward on one model from several threads: they take turns on the
    model's buffers (a lock), every result is right."""
    r = np.random.default_rng(0)
    m = nn.Sequential([nn.Dense(30, 200, "relu"), nn.Dense(200, 5)], seed=0)
    inputs = [r.standard_normal((64 + 13 * i, 30)).astype(np.float32) for i in range(8)]
    expected = [m.predict(x) for x in inputs]
    layer = nn.Dense(30, 7, "tanh", seed=1)
    expected_layer = [layer.forward(x) for x in inputs]
    bad = []

    def work(i):
        for _ in range(20):
            if not np.array_equal(m.predict(inputs[i]), expected[i]):
                bad.append(("predict", i))
            if not np.array_equal(m.forward(inputs[i]), expected[i]):
                bad.append(("forward", i))
            if not np.array_equal(layer.forward(inputs[i]), expected_layer[i]):
                bad.append(("layer", i))

    ts = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(timeout=120)
    assert not bad, bad[:5]


# ---------------------------------------------------------------- fork

FORK_CHILD_WORK = """
    import os, sys, numpy as np, nnmat
    from nnmat import nn
    nnmat.set_num_threads(2)
    r = np.random.default_rng(0)
    a = r.standard_normal((512, 512)).astype(np.float32)
    x = r.standard_normal(1_000_000).astype(np.float32)
    logits = r.standard_normal((4096, 100)).astype(np.float32)
    labels = r.integers(0, 100, 4096)
    X = r.standard_normal((2048, 64)).astype(np.float32); Y = r.integers(0, 10, 2048)

    def work():
        m = nn.Sequential([nn.Dense(64, 512, "relu"), nn.Dense(512, 10)], seed=0)
        m.fit(X, Y, loss="cross_entropy", epochs=1, batch_size=1024, seed=0, verbose=0)
        return (nnmat.matmul(a, a), nnmat.activations.gelu(x),
                nnmat.losses.cross_entropy.value_and_grad(logits, labels)[1], m.flat_parameters.copy())

    ref = work()          # parallel regions in the parent: libgomp's pool exists now
"""


def test_fork_child_gets_correct_results_without_hanging():
    out = run_script(FORK_CHILD_WORK + """
    pid = os.fork()
    if pid == 0:
        ok = nnmat.config()["forked_child"] and nnmat.get_num_threads() == 1
        ok = ok and all(np.array_equal(u, v) for u, v in zip(work(), ref))
        os._exit(0 if ok else 3)
    _, status = os.waitpid(pid, 0)
    print("child", os.WEXITSTATUS(status), nnmat.config()["forked_child"], nnmat.get_num_threads())
    """, timeout=120)
    assert out.split() == ["child", "0", "False", "2"]


def test_multiprocessing_fork_pool():
    out = run_script(FORK_CHILD_WORK + """
    import multiprocessing as mp

    def task(i):
        return all(np.array_equal(u, v) for u, v in zip(work(), ref))

    with mp.get_context("fork").Pool(2) as pool:
        print(pool.map(task, range(4)))
    """, timeout=180)
    assert out.strip() == "[True, True, True, True]"


# ---------------------------------------------------------------- coexistence

def test_threadpoolctl_sees_and_limits_nnmat():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    info = threadpoolctl.threadpool_info()
    assert any(p["user_api"] == "openmp" for p in info), info
    with threadpoolctl.threadpool_limits(limits=1, user_api="openmp"):
        assert nnmat.get_num_threads() == 1
        assert nnmat.config()["threads"] == 1
    before = nnmat.get_num_threads()
    with threadpoolctl.threadpool_limits(limits=1):
        assert nnmat.get_num_threads() == 1
    assert nnmat.get_num_threads() == before


def test_coexists_with_torch_and_sklearn():
    pytest.importorskip("torch")
    pytest.importorskip("sklearn")
    out = run_script("""
    import numpy as np, torch, sklearn.neural_network, threadpoolctl
    import nnmat
    r = np.random.default_rng(0)
    a = r.standard_normal((300, 300)).astype(np.float32)
    # each library's OpenMP runs in the same process, interleaved
    for _ in range(3):
        c = nnmat.matmul(a, a)
        t = (torch.from_numpy(a) @ torch.from_numpy(a)).numpy()
        clf = sklearn.neural_network.MLPClassifier((16,), max_iter=5, random_state=0)
        import warnings; warnings.simplefilter("ignore")
        clf.fit(a[:, :10], (a[:, 0] > 0).astype(int))
        assert np.allclose(c, t, rtol=1e-4, atol=1e-3)
        assert np.allclose(c, a.astype(np.float64) @ a, rtol=1e-4, atol=1e-3)
    pools = [p for p in threadpoolctl.threadpool_info() if p["user_api"] == "openmp"]
    with threadpoolctl.threadpool_limits(limits=1, user_api="openmp"):
        n_limited = nnmat.get_num_threads()
        c1 = nnmat.matmul(a, a)
    print(len(pools), n_limited, np.array_equal(c1, c))
    """, timeout=180)
    n_pools, n_limited, same = out.split()
    assert int(n_pools) >= 1 and n_limited == "1" and same == "True"


# ---------------------------------------------------------------- memory

def _rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs /proc (Linux)")
def test_no_leak_over_100k_calls():
    r = np.random.default_rng(0)
    a = r.standard_normal((8, 8)).astype(np.float32)
    logits = r.standard_normal((16, 10)).astype(np.float32)
    labels = r.integers(0, 10, 16)
    x = r.standard_normal((16, 12)).astype(np.float32)
    m = nn.Sequential([nn.Dense(12, 16, "relu"), nn.Dense(16, 10)], seed=0)
    opt = nn.optim.SGD(lr=1e-3)
    ce = nnmat.losses.cross_entropy

    def calls(n):
        for _ in range(n):
            nnmat.matmul(a, a)
            ce.value_and_grad(logits, labels)
            m.train_on_batch(x, labels, loss="cross_entropy", optimizer=opt)

    calls(2000)                        # warm-up: caches, workspaces, allocator pools
    before = _rss_bytes()
    calls(100_000)
    grown = _rss_bytes() - before
    assert grown < 1 << 20, f"RSS grew by {grown / 1024:.0f} KiB over 100,000 calls of each"


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs /proc (Linux)")
def test_gemm_scratch_does_not_grow_with_k():
    """A skinny product with a huge k (a Gram matrix of a transposed tall matrix) must
    not take scratch memory proportional to k (it took 5.6x the input's size)."""
    a = np.random.default_rng(0).random((1_000_000, 10), dtype=np.float32)   # 40 MB
    before = _rss_bytes()
    with nnmat.threads(1):
        g = nnmat.matmul(a.T, a)
    grown = _rss_bytes() - before
    np.testing.assert_allclose(g, a.T.astype(np.float64) @ a, rtol=1e-4)
    assert grown < 20 << 20, f"RSS grew by {grown >> 20} MiB"


def test_huge_requests_raise_memory_error():
    big = np.broadcast_to(np.ones((1, 4), np.float32), (1 << 40, 4))   # 2^42 elements, no memory
    with pytest.raises(MemoryError):
        nnmat.matmul(big, np.ones((4, 4), np.float32))
    with pytest.raises(MemoryError):
        nnmat.activations.relu(big)
    with pytest.raises(MemoryError):
        nnmat.losses.mse_loss(big, big)
    with pytest.raises(MemoryError):
        nn.Dense(1 << 24, 1 << 24)
    m = nn.Sequential([nn.Dense(4, 3)], seed=0)
    for rows in (1 << 62, 1 << 58, 1 << 45):      # overflowing, absurd, merely too big
        with pytest.raises(MemoryError):
            m._network(4).reserve(rows)
    with pytest.raises(MemoryError):
        m.predict(big)
    assert np.isfinite(m.predict(np.ones((2, 4)))).all()   # still usable


# ---------------------------------------------------------------- interrupts

def test_ctrl_c_during_fit_stops_between_batches():
    out = run_script("""
    import _thread, signal, threading, time, numpy as np
    from nnmat import nn
    # Python ignores SIGINT when it started with it ignored (a background job):
    # install its handler, so that interrupt_main() acts as Ctrl-C would
    signal.signal(signal.SIGINT, signal.default_int_handler)
    r = np.random.default_rng(0)
    x = r.standard_normal((20000, 100)).astype(np.float32); y = r.integers(0, 10, 20000)
    m = nn.Sequential([nn.Dense(100, 256, "relu"), nn.Dense(256, 10)], seed=0)
    threading.Timer(0.5, _thread.interrupt_main).start()   # what Ctrl-C does
    t = time.perf_counter()
    try:
        m.fit(x, y, loss="cross_entropy", epochs=1000, batch_size=64, verbose=0)
        print("not interrupted")
    except KeyboardInterrupt:
        dt = time.perf_counter() - t
        p = m.predict(x[:5])
        h = m.fit(x[:256], y[:256], loss="cross_entropy", epochs=1, verbose=0)
        print("interrupted", dt < 30, bool(np.isfinite(p).all()), bool(np.isfinite(h.history["loss"][0])))
    """, timeout=120)
    assert out.split() == ["interrupted", "True", "True", "True"]
