"""Tensor factories with PyTorch's names: zeros, ones, full, empty, rand, randn, arange..."""
from __future__ import annotations

import numpy as np

from gradwise.tensor import dtypes
from gradwise.tensor.random import _rng
from gradwise.tensor.tensor import Tensor, _check_device, _sizes


def _finish(array: np.ndarray, requires_grad: bool, device) -> Tensor:
    if device is not None:
        _check_device(device)
    t = Tensor._make(array)
    if requires_grad:
        t.requires_grad_(True)
    return t


def _float_dtype(dtype) -> np.dtype:
    return dtypes.to_dtype(dtype) if dtype is not None else dtypes.get_default_dtype()


def zeros(*size, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    return _finish(np.zeros(_sizes(size), dtype=_float_dtype(dtype)), requires_grad, device)


def ones(*size, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    return _finish(np.ones(_sizes(size), dtype=_float_dtype(dtype)), requires_grad, device)


def empty(*size, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    return _finish(np.empty(_sizes(size), dtype=_float_dtype(dtype)), requires_grad, device)


def full(size, fill_value, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    if dtype is None:
        dtype = np.int64 if isinstance(fill_value, (int, np.integer)) and not isinstance(fill_value, bool) \
            else np.bool_ if isinstance(fill_value, bool) else dtypes.get_default_dtype()
    return _finish(np.full(tuple(size), fill_value, dtype=dtypes.to_dtype(dtype)), requires_grad, device)


def _like(t: Tensor, dtype) -> np.dtype:
    return dtypes.to_dtype(dtype) if dtype is not None else t.dtype


def zeros_like(input: Tensor, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    return _finish(np.zeros(input.shape, dtype=_like(input, dtype)), requires_grad, device)


def ones_like(input: Tensor, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    return _finish(np.ones(input.shape, dtype=_like(input, dtype)), requires_grad, device)


def empty_like(input: Tensor, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    return _finish(np.empty(input.shape, dtype=_like(input, dtype)), requires_grad, device)


def rand(*size, generator=None, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """Uniform samples on [0, 1)."""
    dtype = _float_dtype(dtype)
    return _finish(_rng(generator).random(_sizes(size), dtype=dtype), requires_grad, device)


def randn(*size, generator=None, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """Standard normal samples."""
    dtype = _float_dtype(dtype)
    return _finish(_rng(generator).standard_normal(_sizes(size), dtype=dtype), requires_grad, device)


def rand_like(input: Tensor, dtype=None, requires_grad: bool = False) -> Tensor:
    return rand(*input.shape, dtype=_like(input, dtype), requires_grad=requires_grad)


def randn_like(input: Tensor, dtype=None, requires_grad: bool = False) -> Tensor:
    return randn(*input.shape, dtype=_like(input, dtype), requires_grad=requires_grad)


def randint(low, high=None, size=None, generator=None, dtype=None, device=None) -> Tensor:
    """Integers in [low, high) (`randint(high, size)` also works, as in PyTorch)."""
    if size is None:
        low, high, size = 0, low, high
    if high is None:
        low, high = 0, low
    array = _rng(generator).integers(low, high, size=tuple(size))
    return _finish(array.astype(dtypes.to_dtype(dtype) if dtype else np.int64), False, device)


def randperm(n: int, generator=None, dtype=None, device=None) -> Tensor:
    return _finish(_rng(generator).permutation(n).astype(dtypes.to_dtype(dtype) if dtype else np.int64),
                   False, device)


def normal(mean: float, std: float, size, generator=None, dtype=None) -> Tensor:
    return Tensor._make(_rng(generator).normal(mean, std, tuple(size)).astype(_float_dtype(dtype)))


def arange(start, end=None, step=1, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    if end is None:
        start, end = 0, start
    values = (start, end, step)
    if dtype is None:
        dtype = np.int64 if all(isinstance(v, (int, np.integer)) for v in values) else dtypes.get_default_dtype()
    return _finish(np.arange(start, end, step).astype(dtypes.to_dtype(dtype)), requires_grad, device)


def linspace(start, end, steps: int, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    return _finish(np.linspace(start, end, steps).astype(_float_dtype(dtype)), requires_grad, device)


def eye(n: int, m: int | None = None, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    return _finish(np.eye(n, m, dtype=_float_dtype(dtype)), requires_grad, device)
