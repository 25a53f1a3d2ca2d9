"""nnmat.config(), `python -m nnmat info`, thread controls, NNMAT_ISA / OMP_NUM_THREADS,
and concurrent use from several Python threads."""
import os
import platform
import re
import subprocess
import sys
import threading

import numpy as np
import pytest

import nnmat
from _helpers import KERNEL_SHAPES, random_array

ALL_ISAS = ["generic", "avx2", "avx512"]
EXPECTED_KEYS = {
    "version", "isa", "isa_detected", "isa_available", "isa_compiled", "cpu", "threads",
    "openmp", "compiler", "build_type", "gemm_kernel", "python", "numpy", "forked_child",
}
SRC_DIR = os.path.dirname(os.path.dirname(os.path.abspath(nnmat.__file__)))


def run_python(code, **env_overrides):
    """Run `python -c code` with nnmat importable; env_overrides of None remove a variable."""
    env = dict(os.environ)
    env.pop("NNMAT_ISA", None)
    env.pop("OMP_NUM_THREADS", None)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (SRC_DIR, env.get("PYTHONPATH")) if p)
    for key, value in env_overrides.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )


@pytest.fixture
def restore_num_threads():
    yield
    nnmat._core.set_num_threads(0)  # back to the OpenMP default


# --------------------------------------------------------------------------- config()


def test_config_has_exactly_the_documented_keys():
    assert set(nnmat.config()) == EXPECTED_KEYS


def test_config_value_types():
    cfg = nnmat.config()
    for key in ("version", "isa", "isa_detected", "cpu", "openmp", "compiler", "build_type", "python", "numpy"):
        assert isinstance(cfg[key], str) and cfg[key], key
    assert isinstance(cfg["isa_available"], list)
    assert isinstance(cfg["isa_compiled"], list)
    assert type(cfg["threads"]) is int and cfg["threads"] >= 1
    assert isinstance(cfg["gemm_kernel"], dict)


def test_config_versions():
    cfg = nnmat.config()
    assert re.fullmatch(r"\d+\.\d+\.\d+.*", cfg["version"])
    assert cfg["version"] == nnmat.__version__
    assert cfg["python"] == platform.python_version()
    assert cfg["numpy"] == np.__version__


def test_config_isa_fields_are_consistent():
    cfg = nnmat.config()
    available = cfg["isa_available"]
    assert available == ALL_ISAS[: len(available)]  # ordered, starting at generic
    assert cfg["isa_detected"] == available[-1]
    assert cfg["isa"] in available
    assert "generic" in cfg["isa_compiled"]
    assert set(available) <= set(cfg["isa_compiled"]) <= set(ALL_ISAS)


def test_config_threads_matches_get_num_threads(restore_num_threads):
    assert nnmat.config()["threads"] == nnmat.get_num_threads()
    nnmat.set_num_threads(3)
    assert nnmat.config()["threads"] == 3
    with nnmat.threads(1):
        assert nnmat.config()["threads"] == 1


def test_config_reports_selected_isa_and_its_kernel_shape(isa):
    cfg = nnmat.config()
    assert cfg["isa"] == isa == nnmat._core.get_isa()
    assert cfg["gemm_kernel"] == KERNEL_SHAPES[isa]


@pytest.mark.parametrize("name", ["sse2", "AVX2", "", "avx-512", "neon"])
def test_set_isa_rejects_unknown_names(name):
    before = nnmat._core.get_isa()
    with pytest.raises(ValueError):
        nnmat._core.set_isa(name)
    assert nnmat._core.get_isa() == before


def test_set_isa_above_detected_level_raises_value_error():
    detected = nnmat.config()["isa_detected"]
    higher = ALL_ISAS[ALL_ISAS.index(detected) + 1 :]
    if not higher:
        pytest.skip("this CPU supports every ISA level")
    with pytest.raises(ValueError):
        nnmat._core.set_isa(higher[0])


def _run_nnmat_module(*args):
    env = dict(os.environ)
    env.pop("NNMAT_ISA", None)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (SRC_DIR, env.get("PYTHONPATH")) if p)
    return subprocess.run(
        [sys.executable, "-m", "nnmat", *args], env=env, capture_output=True, text=True, timeout=120
    )


def test_python_m_nnmat_info_prints_every_config_key():
    proc = _run_nnmat_module("info")
    assert proc.returncode == 0, proc.stderr
    rows = dict(line.split(None, 1) for line in proc.stdout.splitlines() if line.strip())
    assert set(rows) == EXPECTED_KEYS
    cfg = nnmat.config()
    assert rows["isa"].strip() == cfg["isa_detected"]
    assert rows["version"].strip() == cfg["version"]
    assert rows["numpy"].strip() == cfg["numpy"]


def test_python_m_nnmat_rejects_unknown_command():
    proc = _run_nnmat_module("bogus")
    assert proc.returncode == 2
    assert "usage" in proc.stderr


# --------------------------------------------------------------------------- threads


def test_set_and_get_num_threads(restore_num_threads):
    nnmat.set_num_threads(1)
    assert nnmat.get_num_threads() == 1
    nnmat.set_num_threads(3)
    assert nnmat.get_num_threads() == 3
    nnmat.set_num_threads(np.int64(2))
    assert nnmat.get_num_threads() == 2


def test_threads_context_manager_sets_and_restores(restore_num_threads):
    nnmat.set_num_threads(3)
    with nnmat.threads(1):
        assert nnmat.get_num_threads() == 1
        with nnmat.threads(2):
            assert nnmat.get_num_threads() == 2
        assert nnmat.get_num_threads() == 1
    assert nnmat.get_num_threads() == 3


def test_threads_context_manager_restores_after_exception(restore_num_threads):
    nnmat.set_num_threads(3)
    with pytest.raises(RuntimeError):
        with nnmat.threads(1):
            raise RuntimeError("boom")
    assert nnmat.get_num_threads() == 3


def test_threads_context_manager_overrides_process_setting(restore_num_threads):
    nnmat.set_num_threads(2)
    with nnmat.threads(1):
        nnmat.set_num_threads(3)  # process-wide value changes underneath
        assert nnmat.get_num_threads() == 1
    assert nnmat.get_num_threads() == 3


@pytest.mark.parametrize("bad, error", [(0, ValueError), (-1, ValueError), (1.5, TypeError), ("2", TypeError), (None, TypeError)], ids=repr)
def test_invalid_thread_counts_raise(restore_num_threads, bad, error):
    nnmat.set_num_threads(2)
    with pytest.raises(error):
        nnmat.set_num_threads(bad)
    with pytest.raises(error):
        with nnmat.threads(bad):
            pass
    assert nnmat.get_num_threads() == 2


def test_threads_in_one_python_thread_do_not_affect_another(restore_num_threads):
    nnmat.set_num_threads(3)
    barrier = threading.Barrier(2, timeout=30)
    seen = {}

    def inside():
        with nnmat.threads(1):
            barrier.wait()  # 1: the override is active
            seen["inside"] = nnmat.get_num_threads()
            barrier.wait()  # 2: the other thread has looked

    def outside():
        barrier.wait()
        seen["outside"] = nnmat.get_num_threads()
        barrier.wait()

    workers = [threading.Thread(target=inside), threading.Thread(target=outside)]
    for t in workers:
        t.start()
    for t in workers:
        t.join(60)
    assert seen == {"inside": 1, "outside": 3}
    assert nnmat.get_num_threads() == 3


def test_new_python_thread_does_not_inherit_threads_override(restore_num_threads):
    nnmat.set_num_threads(3)
    seen = []
    with nnmat.threads(1):
        t = threading.Thread(target=lambda: seen.append(nnmat.get_num_threads()))
        t.start()
        t.join(60)
        assert nnmat.get_num_threads() == 1
    assert seen == [3]


def test_omp_num_threads_is_honoured():
    for n in ("1", "3"):
        proc = run_python("import nnmat; print(nnmat.get_num_threads())", OMP_NUM_THREADS=n)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.strip() == n


def test_concurrent_matmul_from_python_threads_matches_serial(isa, rng):
    shapes = [(300, 200, 250), (64, 700, 48), (5, 33, 17), (150, 150, 150)]
    problems = []
    for i in range(8):
        m, k, n = shapes[i % len(shapes)]
        dtype = np.float32 if i % 2 else np.float64
        problems.append((random_array(rng, (m, k), dtype), random_array(rng, (k, n), dtype)))
    serial = [nnmat.matmul(a, b) for a, b in problems]

    barrier = threading.Barrier(4, timeout=30)
    results = [[None] * len(problems) for _ in range(4)]
    errors = []

    def worker(w):
        try:
            barrier.wait()
            with nnmat.threads(1 + w % 2):
                for rep in range(3):
                    for j in range(len(problems)):
                        idx = (j + w) % len(problems)
                        c = nnmat.matmul(*problems[idx])
                        if rep == 0:
                            results[w][idx] = c
                        elif not np.array_equal(c, results[w][idx]):
                            errors.append(f"worker {w}: repeat {rep} of problem {idx} differs")
        except Exception as e:  # pragma: no cover - reported below
            errors.append(repr(e))

    workers = [threading.Thread(target=worker, args=(w,)) for w in range(4)]
    for t in workers:
        t.start()
    for t in workers:
        t.join(120)
    assert not errors
    for w in range(4):
        for idx, expected in enumerate(serial):
            assert np.array_equal(results[w][idx], expected), f"worker {w}, problem {idx}"


# --------------------------------------------------------------------------- NNMAT_ISA


@pytest.mark.parametrize("level", ALL_ISAS)
def test_nnmat_isa_env_selects_level(level):
    if level not in nnmat.config()["isa_available"]:
        pytest.skip(f"{level} is not available on this CPU")
    code = (
        "import numpy as np, nnmat; cfg = nnmat.config(); "
        "c = nnmat.matmul(np.ones((5, 7), np.float32), np.ones((7, 3), np.float32)); "
        "print(cfg['isa'], cfg['gemm_kernel']['float32'], cfg['isa_detected'], float(c.sum()))"
    )
    proc = run_python(code, NNMAT_ISA=level)
    assert proc.returncode == 0, proc.stderr
    isa, kernel, detected, total = proc.stdout.split()
    assert isa == level
    assert kernel == KERNEL_SHAPES[level]["float32"]
    assert detected == nnmat.config()["isa_detected"]  # forcing a level does not change detection
    assert float(total) == 105.0


def test_nnmat_isa_env_empty_means_detected():
    proc = run_python("import nnmat; print(nnmat.config()['isa'])", NNMAT_ISA="")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == nnmat.config()["isa_detected"]


@pytest.mark.parametrize("value", ["sse9", "AVX2", "avx512f"])
def test_nnmat_isa_env_unknown_value_fails_import_clearly(value):
    proc = run_python("import nnmat", NNMAT_ISA=value)
    assert proc.returncode != 0
    assert "NNMAT_ISA" in proc.stderr
    assert value in proc.stderr
    assert "Traceback" in proc.stderr  # a Python exception, not a crash


def test_nnmat_isa_env_above_cpu_level_fails_import_clearly():
    detected = nnmat.config()["isa_detected"]
    higher = ALL_ISAS[ALL_ISAS.index(detected) + 1 :]
    if not higher:
        pytest.skip("this CPU supports avx512: no level above it to request")
    proc = run_python("import nnmat", NNMAT_ISA=higher[0])
    assert proc.returncode != 0
    assert "NNMAT_ISA" in proc.stderr
