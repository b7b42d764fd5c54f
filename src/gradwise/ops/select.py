"""Choosing between values: where, maximum, minimum."""
from __future__ import annotations

import numpy as np

from gradwise.tensor.function import Function


class Where(Function):
    """where(cond, a, b): the gradient goes to whichever side was chosen."""

    def forward(self, cond, a, b):
        self.cond = np.asarray(cond, dtype=bool)
        return np.where(self.cond, a, b)

    def backward(self, g):
        return (None,
                Where.apply(self.cond, g, 0.0) if self.needs_input_grad[1] else None,
                Where.apply(self.cond, 0.0, g) if self.needs_input_grad[2] else None)


class _Extremum(Function):
    """maximum/minimum: the winner takes the gradient, ties split it in half (as PyTorch)."""

    saved_inputs = (0, 1)
    pick = staticmethod(np.maximum)

    def forward(self, a, b):
        return self.pick(a, b)

    def backward(self, g):
        a, b = self.saved_tensors
        a_data = a._data if hasattr(a, "_data") else a
        b_data = b._data if hasattr(b, "_data") else b
        wins = self.pick(a_data, b_data) == a_data
        ties = a_data == b_data
        share_a = np.where(ties, 0.5, wins.astype(np.float64)).astype(g.dtype)
        return (g * share_a if self.needs_input_grad[0] else None,
                g * (1 - share_a) if self.needs_input_grad[1] else None)


class Maximum(_Extremum):
    pick = staticmethod(np.maximum)


class Minimum(_Extremum):
    pick = staticmethod(np.minimum)
