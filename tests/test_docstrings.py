"""Every public name of nnmat has a docstring; functions of the numerical API are
NumPy-style (Parameters / Returns) and name the reference they reproduce."""
from __future__ import annotations

import inspect
import re

import pytest

import nnmat
from nnmat import activations, losses, nn

# What a loss or activation docstring cites as its reference.
REFERENCE = re.compile(
    r"torch|Keras|keras|torchvision|TF-GAN|tfa|pytorch-metric-learning|segmentation_models|"
    r"mmdetection|Wen et al|Hadsell|Gulrajani|Martins|Johnson|Zhang|LPIPS|Caffe")


def _public(module):
    return [(f"{module.__name__}.{n}", getattr(module, n)) for n in module.__all__ if not n.startswith("__")]


ALL = _public(nnmat) + _public(activations) + _public(losses) + _public(nn) + _public(nn.optim) \
    if hasattr(nn.optim, "__all__") else _public(nnmat) + _public(activations) + _public(losses) + _public(nn)


@pytest.mark.parametrize("name,obj", ALL, ids=[n for n, _ in ALL])
def test_every_public_name_has_a_docstring(name, obj):
    doc = obj.__doc__ if inspect.isclass(obj) or inspect.ismodule(obj) else inspect.getdoc(obj)
    assert doc and len(doc.strip()) >= 15, f"{name} has no (or a trivial) docstring"


LOSSES = [(n, getattr(losses, n)) for n in losses.__all__ if isinstance(getattr(losses, n), losses.LossFunction)]
ACTIVATIONS = [(n, getattr(activations, n)) for n in activations.__all__
               if isinstance(getattr(activations, n), activations.Activation)]


@pytest.mark.parametrize("name,fn", LOSSES + ACTIVATIONS, ids=[n for n, _ in LOSSES + ACTIVATIONS])
def test_loss_and_activation_docstrings_are_numpy_style_with_reference(name, fn):
    doc = fn.__doc__
    assert REFERENCE.search(doc.split("\nParameters\n")[0]), f"{name}: no reference named before Parameters"
    assert "\nParameters\n----------\n" in doc and "\nReturns\n-------\n" in doc, name
    for p in inspect.signature(fn).parameters.values():
        assert re.search(rf"^{re.escape(p.name)}\b.* :|^{re.escape(p.name)} :", doc, re.M) or \
            re.search(rf"^{re.escape(p.name)}[ ,]", doc, re.M), f"{name}: parameter {p.name} not documented"


@pytest.mark.parametrize("fn", [nnmat.matmul, nnmat.gemm, nnmat.linear, nnmat.set_num_threads,
                                nnmat.get_num_threads, nnmat.config],
                         ids=lambda f: f.__name__)
def test_top_level_functions_are_numpy_style(fn):
    doc = inspect.getdoc(fn)
    assert "\nReturns\n-------\n" in doc or "\nParameters\n----------\n" in doc, fn.__name__
