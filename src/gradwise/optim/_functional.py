"""The arithmetic several optimizers share, written once, in place on NumPy arrays.

Every function works on the arrays behind tensors (``p._data``, ``p._grad._data``, state
arrays) and writes its result into an array it is given (``out=``/``tmp``), so an optimizer
step allocates nothing once its state and scratch arrays exist. The order of operations
follows PyTorch's single-tensor (``foreach=False``) implementations so results agree to
rounding.
"""
from __future__ import annotations

from typing import Any

import numpy as np


def effective_grad(grad: np.ndarray, param: np.ndarray, maximize: bool, weight_decay: float,
                   out: np.ndarray) -> np.ndarray:
    """The gradient an update uses: ``-grad`` when maximizing, plus ``weight_decay * param``
    (the coupled L2 penalty of SGD, Adam, ...).

    Returns ``grad`` itself when neither applies (no copy); otherwise the result is written
    into ``out``. The caller's ``.grad`` is never modified.
    """
    if weight_decay != 0:
        np.multiply(param, weight_decay, out=out)
        if maximize:
            np.subtract(out, grad, out=out)
        else:
            np.add(out, grad, out=out)
        return out
    if maximize:
        np.negative(grad, out=out)
        return out
    return grad


def decoupled_weight_decay_(param: np.ndarray, lr: float, weight_decay: float) -> None:
    """AdamW-style decay straight on the weights: ``param *= 1 - lr * weight_decay``."""
    if weight_decay != 0:
        np.multiply(param, 1.0 - lr * weight_decay, out=param)


def bias_correction(beta: float, step: float) -> float:
    """``1 - beta**step``: the weight an exponential average started at zero has gathered."""
    return 1.0 - beta ** step


def lerp_(start: np.ndarray, end: np.ndarray, weight: float, tmp: np.ndarray) -> None:
    """``start += weight * (end - start)`` in place (``torch.lerp_``: an exponential moving
    average with ``weight = 1 - beta``), using PyTorch's two formulas for small/large weights."""
    np.subtract(end, start, out=tmp)
    if abs(weight) < 0.5:
        np.multiply(tmp, weight, out=tmp)
        np.add(start, tmp, out=start)
    else:
        np.multiply(tmp, 1.0 - weight, out=tmp)
        np.subtract(end, tmp, out=start)


def ema_square_(avg: np.ndarray, grad: np.ndarray, beta: float, tmp: np.ndarray) -> None:
    """``avg = beta * avg + (1 - beta) * grad**2`` in place (a running mean of squared gradients)."""
    np.multiply(grad, grad, out=tmp)
    np.multiply(tmp, 1.0 - beta, out=tmp)
    np.multiply(avg, beta, out=avg)
    np.add(avg, tmp, out=avg)


def add_scaled_(target: np.ndarray, array: np.ndarray, alpha: float, tmp: np.ndarray) -> None:
    """``target += alpha * array`` in place (``torch.add_(array, alpha=alpha)``).

    Two NumPy passes (a multiply into ``tmp``, then an add). BLAS ``axpy`` does it in one pass and
    wins in isolation, but OpenBLAS wakes its threads for every call: inside a training loop that
    made the lecture's ``Net`` epoch 2.7x slower (measured with ``bench/train_epoch.py``), so it is
    not used.
    """
    if alpha == 1:
        np.add(target, array, out=target)
    elif alpha == -1:
        np.subtract(target, array, out=target)
    else:
        np.multiply(array, alpha, out=tmp)
        np.add(target, tmp, out=target)


def sparse_rows(grad: Any) -> tuple[tuple[np.ndarray, ...], np.ndarray]:
    """Split a sparse gradient (e.g. from ``nn.Embedding(sparse=True)``) into the index tuple
    of the rows it touches (unique, after ``coalesce()``) and the values of those rows."""
    coalesced = grad.coalesce()
    indices = np.asarray(_array(coalesced._indices()))
    values = np.asarray(_array(coalesced._values()))
    if indices.ndim == 1:
        indices = indices[None, :]
    return tuple(indices.astype(np.intp, copy=False)), values


def _array(value: Any) -> Any:
    return getattr(value, "_data", value)
