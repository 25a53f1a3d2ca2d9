"""NumPy-style docstring sections built from a function's public signature,
shared by :class:`nnmat.activations.Activation` and :class:`nnmat.losses.LossFunction`."""
from __future__ import annotations

import inspect
from typing import Callable, Dict, Optional


def numpy_sections(doc: Optional[str], sig: inspect.Signature, param_docs: Dict[str, str],
                   other_param: Callable[[inspect.Parameter], Optional[str]], returns: str, notes: str) -> str:
    """``doc`` (formula and reference) followed by Parameters / Returns / Notes sections,
    unless it already has them. A parameter is described by ``param_docs[name]``, else by
    ``other_param(p)`` (None leaves it out)."""
    doc = inspect.cleandoc(doc or "")
    if "\nParameters\n---" in doc:
        return doc
    params = []
    for p in sig.parameters.values():
        text = param_docs.get(p.name) or other_param(p)
        if text is not None:
            params.append(text)
    return (f"{doc}\n\nParameters\n----------\n" + "\n".join(params)
            + f"\n\nReturns\n-------\n{returns}\n\nNotes\n-----\n{notes}")
