"""Elementwise maths: exp, log, sqrt, rsqrt, sin, cos, abs, log1p, and clamp."""
from __future__ import annotations

import numpy as np

from gradwise.tensor.function import Function


class Exp(Function):
    saves_output = True

    def forward(self, a):
        return np.exp(a)

    def backward(self, g):
        return g * self.output


class Log(Function):
    saved_inputs = (0,)

    def forward(self, a):
        return np.log(a)

    def backward(self, g):
        (a,) = self.saved_tensors
        return g / a


class Log1p(Function):
    saved_inputs = (0,)

    def forward(self, a):
        return np.log1p(a)

    def backward(self, g):
        (a,) = self.saved_tensors
        return g / (a + 1)


class Sqrt(Function):
    saves_output = True

    def forward(self, a):
        return np.sqrt(a)

    def backward(self, g):
        return g / (2 * self.output)


class Rsqrt(Function):
    saves_output = True

    def forward(self, a):
        return 1 / np.sqrt(a)

    def backward(self, g):
        return -0.5 * g * self.output ** 3


class Sin(Function):
    saved_inputs = (0,)

    def forward(self, a):
        return np.sin(a)

    def backward(self, g):
        (a,) = self.saved_tensors
        return g * a.cos()


class Cos(Function):
    saved_inputs = (0,)

    def forward(self, a):
        return np.cos(a)

    def backward(self, g):
        (a,) = self.saved_tensors
        return -g * a.sin()


class Abs(Function):
    saved_inputs = (0,)

    def forward(self, a):
        return np.abs(a)

    def backward(self, g):
        (a,) = self.saved_tensors
        return g * np.sign(a._data)


class Clamp(Function):
    """clamp(min, max); the gradient passes where min <= x <= max (PyTorch's convention)."""

    saved_inputs = (0,)

    def forward(self, a, min=None, max=None):
        self.bounds = (min, max)
        return np.clip(a, min, max) if (min is not None or max is not None) else a.copy()

    def backward(self, g):
        (a,) = self.saved_tensors
        low, high = self.bounds
        inside = np.ones(a.shape, dtype=bool)
        if low is not None:
            inside &= a._data >= low
        if high is not None:
            inside &= a._data <= high
        return g * inside
