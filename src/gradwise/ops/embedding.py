"""Embedding lookup: rows of a weight table picked by integer ids.

The gradient of a lookup adds each output gradient row into the row it came from (repeated
ids accumulate). Dense, that is `IndexScatter` (a single `np.bincount` pass, and itself
differentiable); with `sparse=True` it is a `SparseRowGrad` holding only the looked-up rows,
which is what makes huge vocabularies cheap to train with `SparseAdam`. The row at
`padding_idx` gets no gradient, and `scale_grad_by_freq` divides each row's gradient by how
often its id occurs in the batch (both as PyTorch).
"""
from __future__ import annotations

import numpy as np

from gradwise.ops.index import IndexScatter
from gradwise.tensor.function import Function
from gradwise.tensor.sparse import SparseRowGrad


class Embedding(Function):
    def forward(self, weight, indices, padding_idx=-1, scale_grad_by_freq=False, sparse=False):
        self.ids = indices.reshape(-1)
        self.table_shape, self.padding_idx = weight.shape, padding_idx
        self.scale_grad_by_freq, self.sparse = scale_grad_by_freq, sparse
        return np.take(weight, indices, axis=0)

    def backward(self, g):
        ids, shape = self.ids, self.table_shape
        rows = g.reshape((ids.size,) + tuple(shape[1:]))
        extra = (1,) * (len(shape) - 1)
        if self.scale_grad_by_freq:
            rows = rows / np.bincount(ids, minlength=shape[0])[ids].reshape((-1,) + extra).astype(g.dtype)
        if self.padding_idx >= 0:
            keep = ids != self.padding_idx
            if self.sparse:
                ids, rows = ids[keep], rows[keep]
            else:
                rows = rows * keep.reshape((-1,) + extra)
        if self.sparse:
            return SparseRowGrad(ids, rows._data, shape)
        return IndexScatter.apply(rows, key=ids, shape=shape)
