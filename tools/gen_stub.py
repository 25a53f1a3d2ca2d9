#!/usr/bin/env python3
"""Regenerate ``src/nnmat/_core.pyi``, the type stub of the compiled module.

    PYTHONPATH=src python tools/gen_stub.py            # write src/nnmat/_core.pyi
    PYTHONPATH=src python tools/gen_stub.py --check    # exit 1 if the committed stub is stale

Runs ``pybind11-stubgen nnmat._core --numpy-array-use-type-var`` on the importable build,
then gives the bare ``tuple`` / ``list`` / ``dict`` annotations pybind11 emits for
``py::tuple`` / ``py::list`` / ``py::dict`` their type arguments, so that the stub passes
``mypy --strict``. ``tests/test_typing.py`` runs the check.
"""
from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STUB = ROOT / "src" / "nnmat" / "_core.pyi"
COMMAND = ["-m", "pybind11_stubgen", "nnmat._core", "--numpy-array-use-type-var"]
_BARE = re.compile(r"(: |-> )(tuple|list|dict)(?=[,):])")
_ARGS = {"tuple": "tuple[typing.Any, ...]", "list": "list[typing.Any]", "dict": "dict[str, typing.Any]"}


def fix(text: str) -> str:
    """The stub with type arguments on bare tuple/list/dict annotations."""
    return _BARE.sub(lambda m: m.group(1) + _ARGS[m.group(2)], text)


def generate() -> str:
    """The stub text for the nnmat._core importable now (raises if pybind11-stubgen fails)."""
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.run([sys.executable, *COMMAND, "-o", tmp], capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"pybind11-stubgen failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
        return fix((Path(tmp) / "nnmat" / "_core.pyi").read_text())


def main(argv: list[str]) -> int:
    text = generate()
    if "--check" in argv:
        if STUB.read_text() != text:
            print(f"{STUB} is stale: run PYTHONPATH=src python tools/gen_stub.py", file=sys.stderr)
            return 1
        return 0
    STUB.write_text(text)
    print(f"wrote {STUB}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
