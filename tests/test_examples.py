"""Smoke tests of examples/: each script runs and prints what its docstring promises."""
import re
import runpy
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def run_example(name, capsys):
    runpy.run_path(str(EXAMPLES / f"{name}.py"), run_name="__main__")
    return capsys.readouterr().out


def test_regression_mse(capsys):
    out = run_example("regression_mse", capsys)
    assert "nnmat mse_loss      = 0.039000" in out
    assert "sum / 20 (= 2n)     = 0.019500" in out
    before = float(re.search(r"test MSE before training: ([0-9.]+)", out).group(1))
    after = float(re.search(r"test MSE after training: +([0-9.]+)", out).group(1))
    assert after < before / 10


def test_digits_classification(capsys):
    out = run_example("digits_classification", capsys)
    acc = float(re.search(r"test accuracy ([0-9.]+)", out).group(1))
    assert acc >= (0.97 if "scikit-learn digits" in out else 0.7)
    assert "EarlyStopping" in out


def test_autoencoder(capsys):
    out = run_example("autoencoder", capsys)
    before = float(re.search(r"before training: held-out MSE ([0-9.]+)", out).group(1))
    after = float(re.search(r"after training: +held-out MSE ([0-9.]+)", out).group(1))
    assert after < before / 3


def test_triplet_embedding(capsys):
    out = run_example("triplet_embedding", capsys)
    accs = [float(v) for v in re.findall(r"triplet accuracy ([0-9.]+)", out)]
    assert len(accs) == 2 and accs[1] > accs[0] and accs[1] > 0.8
