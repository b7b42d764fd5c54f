"""Reductions: sum, mean, var, amax/amin, max/min along a dim, logsumexp, and sum_to.

Their gradients spread the output gradient back over the reduced axes (`_unreduce`), which
is an `expand`, itself differentiable, so second derivatives flow through reductions too.
"""
from __future__ import annotations

import numpy as np

from gradwise.tensor.function import Function


def normalize_dims(dim, ndim: int) -> tuple[int, ...] | None:
    """`dim` as a sorted tuple of non-negative axes (None means all axes)."""
    if dim is None:
        return None
    dims = (dim,) if isinstance(dim, (int, np.integer)) else tuple(dim)
    out = []
    for d in dims:
        if not -max(ndim, 1) <= d < max(ndim, 1):
            raise IndexError(f"Dimension out of range (expected to be in range of "
                             f"[{-max(ndim, 1)}, {max(ndim, 1) - 1}], but got {d})")
        out.append(d % ndim if ndim else 0)
    return tuple(sorted(set(out)))


def _unreduce(g, in_shape: tuple, dims: tuple | None, keepdim: bool):
    """Broadcast a reduced gradient back to the input's shape."""
    if not keepdim:
        kept = [1 if dims is None or i in dims else n for i, n in enumerate(in_shape)]
        g = g.reshape(tuple(kept))
    return g.expand(in_shape)


class Sum(Function):
    def forward(self, a, dim=None, keepdim=False, dtype=None):
        self.in_shape, self.dims, self.keepdim = a.shape, normalize_dims(dim, a.ndim), keepdim
        out = np.sum(a, axis=self.dims, keepdims=keepdim, dtype=dtype)
        return np.asarray(out)

    def backward(self, g):
        return _unreduce(g, self.in_shape, self.dims, self.keepdim)


class Mean(Function):
    def forward(self, a, dim=None, keepdim=False):
        self.in_shape, self.dims, self.keepdim = a.shape, normalize_dims(dim, a.ndim), keepdim
        out = np.asarray(np.mean(a, axis=self.dims, keepdims=keepdim))
        self.count = a.size // max(out.size, 1)
        return out

    def backward(self, g):
        return _unreduce(g, self.in_shape, self.dims, self.keepdim) / self.count


class Var(Function):
    """Variance with Bessel's `correction` (1 = unbiased, PyTorch's default)."""

    saved_inputs = (0,)

    def forward(self, a, dim=None, keepdim=False, correction=1):
        self.in_shape, self.dims, self.keepdim = a.shape, normalize_dims(dim, a.ndim), keepdim
        self.correction = correction
        out = np.var(a, axis=self.dims, keepdims=keepdim, ddof=correction)
        self.count = a.size // max(np.asarray(out).size, 1)
        return np.asarray(out)

    def backward(self, g):
        (a,) = self.saved_tensors
        centred = a - a.mean(dim=self.dims, keepdim=True)
        scale = 2.0 / max(self.count - self.correction, 0) if self.count > self.correction else float("nan")
        return _unreduce(g, self.in_shape, self.dims, self.keepdim) * centred * scale


class Amax(Function):
    """amax/amin: ties share the gradient evenly (PyTorch's convention)."""

    saved_inputs = (0,)
    saves_output = True
    reducer = staticmethod(np.amax)

    def forward(self, a, dim=None, keepdim=False):
        if a.size == 0:
            raise RuntimeError(f"{type(self).__name__.lower()}(): cannot reduce an empty tensor of shape {a.shape}")
        self.in_shape, self.dims, self.keepdim = a.shape, normalize_dims(dim, a.ndim), keepdim
        return np.asarray(self.reducer(a, axis=self.dims, keepdims=keepdim))

    def backward(self, g):
        (a,) = self.saved_tensors
        out = _unreduce(self.output.detach(), self.in_shape, self.dims, self.keepdim)._data
        hits = (a._data == out)
        share = hits / np.sum(hits, axis=self.dims, keepdims=True)
        return _unreduce(g, self.in_shape, self.dims, self.keepdim) * share.astype(g.dtype)


class Amin(Amax):
    reducer = staticmethod(np.amin)


class MaxAlong(Function):
    """max/min along one dim: the gradient goes to the returned index (as PyTorch)."""

    def forward(self, a, dim, keepdim=False, largest=True):
        if a.shape[dim] == 0 if a.ndim else False:
            raise IndexError(f"max(): cannot reduce over a zero-size dimension {dim} of shape {a.shape}")
        self.in_shape, self.dim, self.keepdim = a.shape, dim % max(a.ndim, 1), keepdim
        find = np.argmax if largest else np.argmin
        idx = np.expand_dims(find(a, axis=dim), self.dim) if a.ndim else np.zeros((), np.int64)
        values = np.take_along_axis(a, idx, axis=self.dim) if a.ndim else a.copy()
        self.index = idx
        if not keepdim and a.ndim:
            values, idx = values.squeeze(self.dim), idx.squeeze(self.dim)
        self.indices = idx.astype(np.int64)
        return values

    def backward(self, g):
        if not self.in_shape:
            return g
        onehot = np.zeros(self.in_shape, dtype=bool)
        np.put_along_axis(onehot, self.index, True, axis=self.dim)
        return _unreduce(g, self.in_shape, (self.dim,), self.keepdim) * onehot


class LogSumExp(Function):
    saved_inputs = (0,)
    saves_output = True

    def forward(self, a, dim, keepdim=False):
        self.in_shape, self.dims, self.keepdim = a.shape, normalize_dims(dim, a.ndim), keepdim
        peak = np.amax(a, axis=self.dims, keepdims=True)
        peak = np.where(np.isfinite(peak), peak, 0)
        out = np.log(np.sum(np.exp(a - peak), axis=self.dims, keepdims=True)) + peak
        return out if keepdim else np.squeeze(out, axis=self.dims)

    def backward(self, g):
        (a,) = self.saved_tensors
        out = _unreduce(self.output, self.in_shape, self.dims, self.keepdim)
        return _unreduce(g, self.in_shape, self.dims, self.keepdim) * (a - out).exp()


class SumTo(Function):
    """Sum a broadcast gradient back to `shape` (the adjoint of broadcasting)."""

    def forward(self, a, shape):
        self.in_shape = a.shape
        lead = a.ndim - len(shape)
        axes = tuple(range(lead)) + tuple(lead + i for i, n in enumerate(shape)
                                          if n == 1 and a.shape[lead + i] != 1)
        out = np.sum(a, axis=axes, keepdims=True) if axes else a
        return out.reshape(shape) if lead else out

    def backward(self, g):
        return g.expand(self.in_shape)


def sum_to(g, shape: tuple):
    """Reduce gradient `g` to `shape` by summing the broadcast axes."""
    return SumTo.apply(g, shape=tuple(shape))
