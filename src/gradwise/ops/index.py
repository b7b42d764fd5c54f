"""Indexing `x[key]` and its adjoint, scattering a gradient back to the indexed places.

The scatter adds repeated indices together (x[[0, 0]] sends two gradients to x[0]). It uses
`np.bincount` on flat positions, a single C pass, instead of `np.add.at`, which is several
times slower for large index arrays; basic keys (slices, ints) and boolean masks cannot
repeat, so they use plain assignment.
"""
from __future__ import annotations

import numpy as np

from gradwise.tensor.function import Function


def is_basic_key(key) -> bool:
    """True when `key` holds only slices, ints, None and Ellipsis (a view, no repeats)."""
    parts = key if isinstance(key, tuple) else (key,)
    return all(isinstance(k, (slice, int, np.integer, type(None), type(Ellipsis))) for k in parts)


def _repeats_impossible(key) -> bool:
    """Only integer arrays can name a position twice; one boolean mask never does."""
    parts = key if isinstance(key, tuple) else (key,)
    advanced = [k for k in parts if not is_basic_key(k)]
    return len(advanced) <= 1 and all(isinstance(k, np.ndarray) and k.dtype == bool for k in advanced)


def scatter_add(shape: tuple, key, values: np.ndarray) -> np.ndarray:
    """An array of zeros of `shape` with `values` added at `key` (repeats accumulate)."""
    out = np.zeros(shape, dtype=values.dtype)
    if is_basic_key(key) or _repeats_impossible(key):
        out[key] = values
        return out
    size = int(np.prod(shape))
    if isinstance(key, np.ndarray) and key.dtype != bool and len(shape) >= 1:
        # The common case (embeddings, x[idx]): whole rows gathered along the first axis.
        rows = np.where(key < 0, key + shape[0], key).ravel()
        width = size // shape[0] if shape[0] else 0
        positions = (rows[:, None] * width + np.arange(width)).ravel()
    else:
        positions = np.arange(size).reshape(shape)[key].ravel()
    flat = np.bincount(positions, weights=np.broadcast_to(values, values.shape).ravel(), minlength=size)
    return flat.astype(values.dtype, copy=False).reshape(shape)


class Index(Function):
    def forward(self, a, key):
        self.key, self.in_shape = key, a.shape
        try:
            return a[key]
        except IndexError as exc:
            raise IndexError(f"index {describe_key(key)} is out of bounds for a tensor of shape "
                             f"{a.shape}: {exc}") from None

    def backward(self, g):
        return IndexScatter.apply(g, key=self.key, shape=self.in_shape)


class IndexScatter(Function):
    """The adjoint of indexing: zeros of `shape` with the gradient added at `key`."""

    def forward(self, g, key, shape):
        self.key = key
        return scatter_add(shape, key, g)

    def backward(self, gg):
        return Index.apply(gg, key=self.key)


class IndexPut(Function):
    """out = a with `value` written at `key` (the differentiable form of `a[key] = value`)."""

    def forward(self, a, value, key):
        self.key = key
        self.value_shape = np.shape(value)
        out = a.copy()
        out[key] = value
        return out

    def backward(self, g):
        grad_a = grad_value = None
        if self.needs_input_grad[0]:
            keep = np.ones(g.shape, dtype=bool)
            keep[self.key] = False
            grad_a = g * keep
        if self.needs_input_grad[1]:
            grad_value = g[self.key]
        return grad_a, grad_value


def describe_key(key) -> str:
    parts = key if isinstance(key, tuple) else (key,)
    return "[" + ", ".join(f"array(shape={k.shape}, dtype={k.dtype})" if isinstance(k, np.ndarray)
                           else repr(k) for k in parts) + "]"


class ViewPut(Function):
    """out = base with `value` written where the view `view_fn(base)` looks (PyTorch's CopySlices).

    It records an in-place change made through a view: `view_fn` (reshape, permute, slicing,
    split...) is applied to an array of flat positions to find which base elements the view
    covers, so any chain of views works, whether NumPy could express it as a view or not.
    """

    def forward(self, base, value, view_fn):
        from gradwise.tensor.function import Tensor

        self.view_fn = view_fn
        positions = view_fn(Tensor._make(np.arange(base.size).reshape(base.shape)))._data
        self.positions = positions.reshape(-1)
        out = np.array(base, copy=True)
        out.reshape(-1)[self.positions] = np.broadcast_to(value, positions.shape).reshape(-1)
        return out

    def backward(self, g):
        grad_base = grad_value = None
        if self.needs_input_grad[0]:
            keep = np.ones(g.shape, dtype=bool)
            keep.reshape(-1)[self.positions] = False
            grad_base = g * keep
        if self.needs_input_grad[1]:
            grad_value = self.view_fn(g)
        return grad_base, grad_value
