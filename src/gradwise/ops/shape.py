"""Shape ops: reshape, permute, expand, cat, stack, split. Views share memory like PyTorch's."""
from __future__ import annotations

import numpy as np

from gradwise.tensor.function import Function


class Reshape(Function):
    def forward(self, a, shape):
        self.in_shape = a.shape
        try:
            return a.reshape(shape)
        except ValueError:
            raise RuntimeError(f"shape '{list(shape)}' is invalid for input of size {a.size} "
                               f"(shape {a.shape})") from None

    def backward(self, g):
        return g.reshape(self.in_shape)


class Permute(Function):
    def forward(self, a, dims):
        if sorted(d % max(a.ndim, 1) for d in dims) != list(range(a.ndim)):
            raise RuntimeError(f"permute(): dims {tuple(dims)} are not a permutation of the "
                               f"{a.ndim} dims of a tensor of shape {a.shape}")
        self.dims = tuple(d % a.ndim for d in dims)
        return a.transpose(self.dims)

    def backward(self, g):
        return g.permute(tuple(np.argsort(self.dims)))


class Expand(Function):
    """Broadcast to a larger shape (a read-only view); the engine sums the gradient back."""

    def forward(self, a, shape):
        try:
            return np.broadcast_to(a, shape)
        except ValueError:
            raise RuntimeError(f"expand: the tensor of shape {a.shape} cannot be expanded to "
                               f"{tuple(shape)} (only size-1 dims can grow)") from None

    def backward(self, g):
        return g


class Cat(Function):
    def forward(self, *arrays, dim=0):
        first = arrays[0]
        for i, a in enumerate(arrays):
            if a.ndim != first.ndim or any(n != m for k, (n, m) in enumerate(zip(a.shape, first.shape))
                                           if k != dim % first.ndim):
                raise RuntimeError(f"cat: sizes of tensors must match except in dimension {dim}; "
                                   f"tensor 0 has shape {first.shape}, tensor {i} has shape {a.shape}")
        self.dim = dim % first.ndim
        self.sizes = [a.shape[self.dim] for a in arrays]
        return np.concatenate(arrays, axis=self.dim)

    def backward(self, g):
        return tuple(g.split(self.sizes, dim=self.dim))


class Stack(Function):
    def forward(self, *arrays, dim=0):
        shapes = {a.shape for a in arrays}
        if len(shapes) > 1:
            raise RuntimeError(f"stack expects each tensor to be equal size, got shapes "
                               f"{[a.shape for a in arrays]}")
        self.dim = dim % (arrays[0].ndim + 1)
        return np.stack(arrays, axis=self.dim)

    def backward(self, g):
        return tuple(g.unbind(self.dim))


class Split(Function):
    """Split into pieces along a dim; each piece is one output (a view)."""

    def forward(self, a, sizes, dim):
        self.dim = dim % a.ndim
        if sum(sizes) != a.shape[self.dim]:
            raise RuntimeError(f"split: sizes {list(sizes)} do not add up to {a.shape[self.dim]}, "
                               f"the size of dim {dim} of shape {a.shape}")
        bounds = np.cumsum(sizes)[:-1]
        return tuple(np.split(a, bounds, axis=self.dim))

    def backward(self, *grads):
        return Cat.apply(*grads, dim=self.dim)


class Flip(Function):
    def forward(self, a, dims):
        self.dims = dims
        return np.flip(a, axis=dims)

    def backward(self, g):
        return g.flip(self.dims)


class Copy(Function):
    """clone()/contiguous(): a fresh array with the same values; the gradient passes through."""

    def forward(self, a):
        return np.array(a, copy=True, order="C")

    def backward(self, g):
        return g


class Cast(Function):
    """A change of dtype; the gradient is cast back (integer targets get none)."""

    def forward(self, a, dtype):
        self.in_dtype = a.dtype
        return a.astype(dtype)

    def backward(self, g):
        return g.to(self.in_dtype) if self.in_dtype.kind == "f" else None
