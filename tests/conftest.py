"""Shared test helpers: the PyTorch oracle and the small models several test files build.

``run_both`` is the one way the suite compares an op with PyTorch: the same float64 arrays into both
libraries, then the outputs' shapes, dtypes and values, and - after a backward pass with a random
upstream gradient - the gradient of every float input (which must exist whenever PyTorch has one).
"""
from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

import numpy as np

import gradwise


def run_both(g_fn: Callable, t_fn: Callable, *arrays: Any, atol: float = 1e-10, rtol: float = 1e-8,
             grads: Collection[int] | None = None, constant: Collection[int] = (), seed: int = 0) -> tuple[Any, Any]:
    """Call ``g_fn`` on gradwise tensors and ``t_fn`` on torch tensors made from the same ``arrays``.

    Float arrays require grad unless their position is in ``constant`` (class weights: PyTorch gives
    them no gradient); integer arrays are class ids; anything else (None, numbers) passes through as it
    is.  ``grads``: compare only these inputs' gradients.  Returns both outputs.
    """
    import torch

    floats = [isinstance(a, np.ndarray) and a.dtype.kind == "f" and i not in constant for i, a in enumerate(arrays)]
    gw = [gradwise.tensor(a, requires_grad=f) if isinstance(a, np.ndarray) else a for a, f in zip(arrays, floats)]
    th = [torch.tensor(a, requires_grad=f) if isinstance(a, np.ndarray) else a for a, f in zip(arrays, floats)]
    g_out, t_out = g_fn(*gw), t_fn(*th)
    assert tuple(g_out.shape) == tuple(t_out.shape), f"shape {tuple(g_out.shape)} != torch's {tuple(t_out.shape)}"
    assert str(g_out.dtype) == str(t_out.dtype).removeprefix("torch."), f"dtype {g_out.dtype} != torch's {t_out.dtype}"
    np.testing.assert_allclose(g_out.detach().numpy(), t_out.detach().numpy(), atol=atol, rtol=rtol)
    if not t_out.requires_grad:
        return g_out, t_out
    upstream = np.random.default_rng(seed).standard_normal(tuple(t_out.shape))
    (g_out * gradwise.tensor(upstream)).sum().backward()
    (t_out * torch.tensor(upstream)).sum().backward()
    for i, (g, t, f) in enumerate(zip(gw, th, floats)):
        if not f or (grads is not None and i not in grads) or t.grad is None:
            continue
        assert g.grad is not None, f"no gradient for input {i} (PyTorch has one)"
        np.testing.assert_allclose(g.grad.numpy(), t.grad.numpy(), atol=atol, rtol=rtol,
                                   err_msg=f"gradient of input {i}")
    return g_out, t_out


def digits_mlp(hidden: int = 16, seed: int = 0, init: bool = False) -> Any:
    """The small gradwise MLP 64-hidden-10 for the embedded digits that the training tests share
    (seeded; ``init=True``: ``nn.init.by_activation``, He before the ReLU)."""
    import gradwise.nn as nn

    gradwise.manual_seed(seed)
    model = nn.Sequential(nn.Linear(64, hidden), nn.ReLU(), nn.Linear(hidden, 10))
    if init:
        nn.init.by_activation(model)
    return model
