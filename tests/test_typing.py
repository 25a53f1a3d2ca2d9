"""The typed API: the committed stub of nnmat._core is current, py.typed is there, and mypy
accepts a small typed program (tests/typing/usage.py) using the public API.

Needs pybind11-stubgen and mypy (the ``test`` extra); each check is skipped with a reason
when its tool is missing.
"""
from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PKG = ROOT / "src" / "nnmat"


def _load_gen_stub():
    if not (ROOT / "tools" / "gen_stub.py").is_file():
        pytest.skip("tools/gen_stub.py is not here (tests copied out of the source tree)")
    spec = importlib.util.spec_from_file_location("gen_stub", ROOT / "tools" / "gen_stub.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _pkg_parent() -> Path:
    """The directory holding the nnmat package these tests import (src/ of this checkout
    for a development build, site-packages for an installed one)."""
    import nnmat

    return Path(nnmat.__file__).resolve().parent.parent


def _src_env() -> dict:
    """Environment for subprocesses that must see the same nnmat as this process."""
    env = dict(os.environ)
    parent = str(_pkg_parent())
    env["PYTHONPATH"] = os.pathsep.join([parent] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    return env


def _mypy_env() -> dict:
    env = _src_env()
    # mypy finds an installed nnmat (py.typed) by itself and refuses site-packages in
    # MYPYPATH; a development build under src/ is pointed at.
    if _pkg_parent() == (ROOT / "src").resolve():
        env["MYPYPATH"] = str(ROOT / "src")
    else:
        env.pop("MYPYPATH", None)
    return env


def test_py_typed_and_stub_present():
    pkg = _pkg_parent() / "nnmat"   # the package under test: this checkout's or an installed wheel's
    assert (pkg / "py.typed").is_file()
    assert (pkg / "_core.pyi").is_file()


def test_stub_is_current():
    if importlib.util.find_spec("pybind11_stubgen") is None:
        pytest.skip("pybind11-stubgen is not installed (pip install pybind11-stubgen); stub not compared")
    gen = _load_gen_stub()
    # pybind11-stubgen imports nnmat._core in a subprocess: point it at the same nnmat.
    env = _src_env()
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.run([sys.executable, *gen.COMMAND, "-o", tmp], capture_output=True, text=True,
                              env=env, cwd=tmp, timeout=120)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        fresh = gen.fix((Path(tmp) / "nnmat" / "_core.pyi").read_text())
    committed = (PKG / "_core.pyi").read_text()
    assert fresh == committed, ("src/nnmat/_core.pyi is stale: regenerate it with "
                                "PYTHONPATH=src python tools/gen_stub.py")


def test_mypy_accepts_typed_usage_and_rejects_misuse(tmp_path):
    """mypy --strict passes on tests/typing/usage.py and, in the same run (mypy's start-up
    is the slow part), reports each line of a file that misuses the annotated API."""
    if importlib.util.find_spec("mypy") is None:
        pytest.skip("mypy is not installed (pip install mypy); typed usage not checked")
    bad = tmp_path / "bad.py"
    bad.write_text("import nnmat\nimport numpy as np\n"
                   "a: str = nnmat.activations.relu(np.zeros(3))\n"
                   "b: str = nnmat.get_num_threads()\n"
                   "c: str = nnmat.losses.mse_loss(np.zeros(3), np.zeros(3))\n"
                   "d: str = nnmat.gemm(np.eye(2), np.eye(2))\n"
                   "e: str = nnmat.nn.Sequential([nnmat.nn.Dense(2, 2)]).predict(np.eye(2))\n")
    # --strict on the user's files; nnmat itself is read through its annotations and stub
    # (follow_imports=silent: its own internals are not the user's errors, as for an
    # installed package).
    cmd = [sys.executable, "-m", "mypy", "--strict", "--follow-imports=silent",
           "--cache-dir", str(tmp_path / "mypy_cache"), str(ROOT / "tests" / "typing" / "usage.py"), str(bad)]
    env = _mypy_env()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=180)
    errors = [l for l in proc.stdout.splitlines() if ": error:" in l]
    assert not [l for l in errors if "usage.py" in l], proc.stdout + proc.stderr
    flagged = sorted({int(l.split(":")[1]) for l in errors if l.startswith(str(bad)) or l.startswith("bad.py")})
    assert flagged == [3, 4, 5, 6, 7], proc.stdout + proc.stderr
