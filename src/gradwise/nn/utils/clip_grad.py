"""Gradient clipping: `clip_grad_norm_` and `clip_grad_value_` (PyTorch's names and semantics).

Clipping bounds the size of an update when a batch produces an exploding gradient (deep or
recurrent networks, a too-large learning rate): call it between ``loss.backward()`` and
``optimizer.step()``. Gradients are modified in place.
"""
from __future__ import annotations

import types
import warnings
from typing import Iterable

import numpy as np

from gradwise.tensor.tensor import Tensor

__all__ = ["clip_grad_norm", "clip_grad_norm_", "clip_grad_value_", "clip_grads_with_norm_", "get_total_norm"]

_TensorOrTensors = Tensor | Iterable[Tensor]


def _vector_norm(array: np.ndarray, norm_type: float) -> np.ndarray:
    """The p-norm of all entries of ``array`` (as ``torch.linalg.vector_norm``), in its dtype."""
    flat = np.abs(array.reshape(-1))
    if norm_type == np.inf:
        value = flat.max(initial=0)
    elif norm_type == -np.inf:
        value = flat.min() if flat.size else np.inf
    elif norm_type == 0:
        value = np.count_nonzero(flat)
    elif norm_type == 1:
        value = flat.sum()
    elif norm_type == 2:
        value = np.sqrt(np.dot(flat, flat))
    else:
        value = np.sum(flat ** norm_type) ** (1.0 / norm_type)
    return np.asarray(value, dtype=array.dtype)


def get_total_norm(tensors: _TensorOrTensors, norm_type: float = 2.0, error_if_nonfinite: bool = False,
                   foreach: bool | None = None) -> Tensor:
    """The norm of the given tensors viewed as one vector (the norm of their norms).

    Args:
        tensors: a Tensor or an iterable of Tensors (usually the gradients).
        norm_type: the p of the p-norm; ``float("inf")`` for the largest absolute value.
        error_if_nonfinite: raise if the total norm is nan or infinite.
        foreach: accepted for PyTorch compatibility.
    """
    tensors = [tensors] if isinstance(tensors, Tensor) else list(tensors)
    norm_type = float(norm_type)
    if not tensors:
        return Tensor._make(np.asarray(0.0, dtype=np.float32))
    norms = [_vector_norm(t._data, norm_type) for t in tensors]
    stacked = np.stack(norms).astype(np.result_type(*norms), copy=False)
    total = _vector_norm(stacked, norm_type)
    if error_if_nonfinite and not np.isfinite(total):
        raise RuntimeError(f"The total norm of order {norm_type} for gradients from `parameters` is non-finite, so "
                           "it cannot be clipped. To disable this error and scale the gradients by the non-finite "
                           "norm anyway, set `error_if_nonfinite=False`")
    return Tensor._make(total)


def clip_grads_with_norm_(parameters: _TensorOrTensors, max_norm: float, total_norm: Tensor,
                          foreach: bool | None = None) -> None:
    """Scale the gradients by ``min(max_norm / (total_norm + 1e-6), 1)`` in place, given a
    precomputed total norm (e.g. from ``get_total_norm``)."""
    parameters = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    grads = [p._grad for p in parameters if p._grad is not None]
    if not grads:
        return
    total = total_norm._data if isinstance(total_norm, Tensor) else np.asarray(total_norm)
    clip_coef = float(max_norm) / (total + 1e-6)
    clip_coef_clamped = np.minimum(clip_coef, 1.0).astype(total.dtype)
    with np.errstate(invalid="ignore", over="ignore"):  # a non-finite norm gives nan, silently (as torch)
        for grad in grads:
            np.multiply(grad._data, clip_coef_clamped, out=grad._data, casting="unsafe")
            grad._version.value += 1


def clip_grad_norm_(parameters: _TensorOrTensors, max_norm: float, norm_type: float = 2.0,
                    error_if_nonfinite: bool = False, foreach: bool | None = None) -> Tensor:
    """Rescale the gradients so that their total norm is at most ``max_norm``.

    The norm is computed over all gradients together, as if they were concatenated into one
    vector; when it exceeds ``max_norm`` every gradient is multiplied by
    ``max_norm / (total_norm + 1e-6)``, which keeps the update's direction and bounds its size.

    Args:
        parameters: a Tensor or an iterable of Tensors whose ``.grad`` is clipped.
        max_norm: the largest allowed norm.
        norm_type: the p of the p-norm; ``float("inf")`` for the largest absolute value (default: 2).
        error_if_nonfinite: raise if the total norm is nan or infinite (default: False).
        foreach: accepted for PyTorch compatibility.

    Returns:
        The total norm of the gradients before clipping, as a Tensor.
    """
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    else:
        is_generator = isinstance(parameters, types.GeneratorType)
        parameters = list(parameters)
        if is_generator and not parameters:
            warnings.warn("`parameters` is an empty generator, no gradient clipping will occur.", stacklevel=2)
    grads = [p._grad for p in parameters if p._grad is not None]
    total_norm = get_total_norm(grads, norm_type, error_if_nonfinite, foreach)
    clip_grads_with_norm_(parameters, max_norm, total_norm, foreach)
    return total_norm


def clip_grad_norm(parameters: _TensorOrTensors, max_norm: float, norm_type: float = 2.0,
                   error_if_nonfinite: bool = False, foreach: bool | None = None) -> Tensor:
    """Deprecated spelling of `clip_grad_norm_` (as in PyTorch)."""
    warnings.warn("`clip_grad_norm` is now deprecated in favor of `clip_grad_norm_`.", FutureWarning, stacklevel=2)
    return clip_grad_norm_(parameters, max_norm, norm_type, error_if_nonfinite, foreach)


def clip_grad_value_(parameters: _TensorOrTensors, clip_value: float, foreach: bool | None = None) -> None:
    """Clamp every gradient entry into ``[-clip_value, clip_value]``, in place.

    Args:
        parameters: a Tensor or an iterable of Tensors whose ``.grad`` is clipped.
        clip_value: the largest allowed absolute value.
        foreach: accepted for PyTorch compatibility.
    """
    parameters = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    clip_value = float(clip_value)
    for p in parameters:
        if p._grad is not None:
            np.clip(p._grad._data, -clip_value, clip_value, out=p._grad._data)
            p._grad._version.value += 1
