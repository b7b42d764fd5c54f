"""Inverted dropout (Srivastava et al., 2014): zero each element with probability p and scale
the survivors by 1/(1 - p), so the expected activation is unchanged and evaluation needs no
rescaling. The mask is drawn from gradwise's global generator (`manual_seed` reproduces it).
"""
from __future__ import annotations

import numpy as np

from gradwise.tensor.function import Function
from gradwise.tensor.random import _rng


class Dropout(Function):
    def forward(self, x, p=0.5, generator=None):
        if p >= 1:
            self.mask = np.zeros(x.shape, dtype=x.dtype)
        else:
            keep = _rng(generator).random(x.shape, dtype=np.float32) >= p
            self.mask = keep * np.asarray(1 / (1 - p), dtype=x.dtype)
        return x * self.mask

    def backward(self, g):
        return g * self.mask
