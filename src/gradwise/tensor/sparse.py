"""`SparseRowGrad`: the gradient of an `Embedding(sparse=True)` weight, as a list of rows.

A batch looks up a few rows of a (num_embeddings, dim) table, so the dense gradient is
almost all zeros. This tensor keeps only ``indices`` (1-D int64 row ids, possibly repeated
until `coalesce()` sums them) and ``values`` (one row per index), like PyTorch's sparse COO
gradient with ``sparse_dim == 1``: ``_indices()`` has shape (1, nnz), ``_values()`` (nnz, dim).

Sparse-aware code (``SparseAdam``) reads ``is_sparse``, ``coalesce()._indices()[0]`` and
``coalesce()._values()``. Any other code that treats it as an ordinary Tensor sees the dense
matrix (``_data`` materialises it on first use and caches it), so an optimizer that knows
nothing about sparsity still computes the right update instead of a silently wrong one. Once
the dense array has been handed out it is the source of truth: the rows are read back from
it, so an in-place change through ``_data`` (gradient clipping) is seen by sparse readers too.
"""
from __future__ import annotations

import numpy as np

from gradwise.tensor.tensor import Size, Tensor, _Version


class SparseRowGrad(Tensor):
    """Rows ``values[k]`` at row ``indices[k]`` of a ``shape`` matrix; repeated rows add up."""

    __slots__ = ("_row_ids", "_rows", "_shape", "_dense", "_coalesced")

    def __init__(self, indices: np.ndarray, values: np.ndarray, shape: tuple) -> None:
        self._row_ids = np.asarray(indices, dtype=np.int64).reshape(-1)
        self._rows = np.asarray(values).reshape((self._row_ids.size,) + tuple(shape[1:]))
        self._shape = tuple(shape)
        self._dense = None
        self._coalesced = self._row_ids.size <= 1
        self.grad_fn, self.requires_grad, self._grad = None, False, None
        self._version, self._output_nr, self._hooks = _Version(), 0, None
        self._borrowed, self._retains_grad = False, False

    # --- the dense view, for code that does not know about sparsity ------------------------
    @property
    def _data(self) -> np.ndarray:
        if self._dense is None:
            c = self.coalesce()
            dense = np.zeros(self._shape, dtype=self._rows.dtype)
            dense[c._row_ids] = c._rows  # coalesced ids are unique, so assignment is exact
            self._row_ids, self._rows, self._coalesced = c._row_ids, c._rows, True
            self._dense = dense
        return self._dense

    def _current_rows(self) -> np.ndarray:
        """The values: read from the dense array once it exists (it may have been changed)."""
        return self._rows if self._dense is None else self._dense[self._row_ids]

    @_data.setter
    def _data(self, array: np.ndarray) -> None:  # e.g. Module.to(dtype) recasting .grad
        array = np.asarray(array)
        self._row_ids, self._rows = np.arange(array.shape[0], dtype=np.int64), array
        self._shape, self._dense, self._coalesced = array.shape, array, True

    # --- what is known without densifying ---------------------------------------------------
    @property
    def is_sparse(self) -> bool:
        return True

    @property
    def layout(self) -> str:
        return "sparse_coo"

    @property
    def shape(self) -> Size:
        return Size(self._shape)

    @property
    def dtype(self) -> np.dtype:
        return self._rows.dtype

    @property
    def ndim(self) -> int:
        return len(self._shape)

    def dim(self) -> int:
        return len(self._shape)

    def size(self, dim: int | None = None):
        return self.shape if dim is None else self._shape[dim]

    def numel(self) -> int:
        return int(np.prod(self._shape))

    def sparse_dim(self) -> int:
        return 1

    def dense_dim(self) -> int:
        return len(self._shape) - 1

    def _nnz(self) -> int:
        return self._row_ids.size

    def is_coalesced(self) -> bool:
        return self._coalesced

    def _indices(self) -> Tensor:
        """Row ids as a (1, nnz) int64 tensor (PyTorch's COO layout with one sparse dim)."""
        return Tensor._make(self._row_ids.reshape(1, -1))

    indices = _indices

    def _values(self) -> Tensor:
        """The rows, shape (nnz, *shape[1:])."""
        return Tensor._make(self._current_rows())

    values = _values

    def coalesce(self) -> "SparseRowGrad":
        """Sorted unique row ids with the rows of repeated ids summed."""
        if self._dense is not None:
            out = SparseRowGrad(self._row_ids, self._current_rows(), self._shape)
            out._coalesced = True
            return out
        if self._coalesced:
            return self
        ids, inverse = np.unique(self._row_ids, return_inverse=True)
        if ids.size == self._row_ids.size:
            rows = np.empty_like(self._rows)
            rows[inverse] = self._rows
        else:
            order = np.argsort(inverse, kind="stable")
            starts = np.searchsorted(inverse[order], np.arange(ids.size))
            rows = np.add.reduceat(self._rows[order], starts, axis=0)
        out = SparseRowGrad(ids, rows, self._shape)
        out._coalesced = True
        return out

    def to_dense(self) -> Tensor:
        return Tensor._make(self._data.copy())

    def detach(self) -> "SparseRowGrad":
        return self

    def clone(self) -> "SparseRowGrad":
        return SparseRowGrad(self._row_ids.copy(), self._current_rows().copy(), self._shape)

    # --- sums: sparse + sparse stays sparse (concatenation); anything else is dense ---------
    def __add__(self, other):
        if isinstance(other, SparseRowGrad):
            if other._shape != self._shape:
                raise RuntimeError(f"cannot add sparse gradients of shapes {self._shape} and {other._shape}")
            rows = np.concatenate([self._current_rows(), other._current_rows().astype(self.dtype, copy=False)])
            return SparseRowGrad(np.concatenate([self._row_ids, other._row_ids]), rows, self._shape)
        return Tensor.__add__(self, other)

    __radd__ = __add__

    # --- in-place: scaling and zeroing act on the rows; other changes need to_dense() -------
    def mul_(self, other) -> "SparseRowGrad":
        self._rows = self._current_rows() * (other.item() if isinstance(other, Tensor) else other)
        self._dense = None
        self._version.value += 1
        return self

    def div_(self, other) -> "SparseRowGrad":
        return self.mul_(1.0 / (other.item() if isinstance(other, Tensor) else other))

    def zero_(self) -> "SparseRowGrad":
        self._row_ids = np.zeros(0, dtype=np.int64)
        self._rows = np.zeros((0,) + self._shape[1:], dtype=self._rows.dtype)
        self._dense, self._coalesced = None, True
        self._version.value += 1
        return self

    def _modify(self, graph_op, array_op, *args):
        raise RuntimeError("this in-place operation is not supported on a sparse gradient (from "
                           "Embedding(sparse=True)); use grad.to_dense() or a sparse-aware optimizer "
                           "such as SparseAdam")

    def __repr__(self) -> str:
        values = repr(Tensor._make(self._current_rows())).replace("\n", "\n  ")
        return (f"tensor(indices={self._row_ids.reshape(1, -1).tolist()},\n       values={values},\n"
                f"       size={self._shape}, nnz={self._row_ids.size}, layout=gradwise.sparse_coo)")
