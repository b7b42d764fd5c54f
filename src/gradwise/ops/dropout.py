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
        shape = self.mask_shape(x.shape)
        if p >= 1:
            self.mask = np.zeros(shape, dtype=x.dtype)
        else:
            keep = _rng(generator).random(shape, dtype=np.float32) >= p
            self.mask = keep * np.asarray(1 / (1 - p), dtype=x.dtype)
        return x * self.mask

    def backward(self, g):
        return g * self.mask

    @staticmethod
    def mask_shape(shape: tuple) -> tuple:
        return shape


class FeatureDropout(Dropout):
    """Dropout of whole channels (Tompson et al., 2015): one draw per (sample, channel) of an
    (N, C, ...) input, shared by all its positions (neighbouring pixels are correlated, so
    dropping single ones regularises little)."""

    @staticmethod
    def mask_shape(shape: tuple) -> tuple:
        return tuple(shape[:2]) + (1,) * (len(shape) - 2)
