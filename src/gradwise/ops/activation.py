"""Activation functions of the lecture and the softmax family.

sigmoid(x) = 1/(1+e^-x), tanh, ReLU max(0,x), leaky ReLU max(slope*x, x), ELU
(x if x >= 0 else alpha(e^x - 1)); Maxout is a layer built from these ops (nn.Maxout).
"""
from __future__ import annotations

import numpy as np

from gradwise.tensor.function import Function


class Sigmoid(Function):
    saves_output = True

    def forward(self, a):
        # e^-|x| never overflows: 1/(1+e^-x) for x >= 0 and e^x/(1+e^x) below zero.
        e = np.exp(-np.abs(a))
        return np.where(a >= 0, 1 / (1 + e), e / (1 + e))

    def backward(self, g):
        y = self.output
        return g * y * (1 - y)


class Tanh(Function):
    saves_output = True

    def forward(self, a):
        return np.tanh(a)

    def backward(self, g):
        y = self.output
        return g * (1 - y * y)


class Relu(Function):
    saves_output = True

    def forward(self, a):
        return np.maximum(a, 0)

    def backward(self, g):
        return g * (self.output._data > 0)


class LeakyRelu(Function):
    saved_inputs = (0,)

    def forward(self, a, negative_slope=0.01):
        self.slope = negative_slope
        return np.where(a > 0, a, a * negative_slope)

    def backward(self, g):
        (a,) = self.saved_tensors
        return g * np.where(a._data > 0, 1.0, self.slope).astype(g.dtype)


class Elu(Function):
    saved_inputs = (0,)
    saves_output = True

    def forward(self, a, alpha=1.0):
        self.alpha = alpha
        return np.where(a > 0, a, alpha * np.expm1(np.minimum(a, 0)))

    def backward(self, g):
        (a,) = self.saved_tensors
        positive = a._data > 0
        # For x <= 0, d/dx alpha(e^x - 1) = alpha e^x = out + alpha.
        return Where.apply(positive, g, g * (self.output + self.alpha))


class Softmax(Function):
    saves_output = True

    def forward(self, a, dim):
        self.dim = dim
        shifted = a - np.amax(a, axis=dim, keepdims=True)
        e = np.exp(shifted)
        e /= np.sum(e, axis=dim, keepdims=True)
        return e

    def backward(self, g):
        y = self.output
        return y * (g - (g * y).sum(dim=self.dim, keepdim=True))


class LogSoftmax(Function):
    saves_output = True

    def forward(self, a, dim):
        self.dim = dim
        shifted = a - np.amax(a, axis=dim, keepdims=True)
        shifted -= np.log(np.sum(np.exp(shifted), axis=dim, keepdims=True))
        return shifted

    def backward(self, g):
        return g - self.output.exp() * g.sum(dim=self.dim, keepdim=True)


from gradwise.ops.select import Where  # noqa: E402  (kept last: select imports nothing from here)
