"""+ - * / ** and negation. The engine reduces broadcast gradients, so rules ignore shapes."""
from __future__ import annotations

import numpy as np

from gradwise.ops.select import Where
from gradwise.tensor import function
from gradwise.tensor.function import Function


class Add(Function):
    def forward(self, a, b):
        return a + b

    def backward(self, g):
        return g, g


class Sub(Function):
    def forward(self, a, b):
        return a - b

    def backward(self, g):
        return g, (-g if self.needs_input_grad[1] else None)


class Mul(Function):
    saved_inputs = (0, 1)

    def forward(self, a, b):
        return a * b

    def backward(self, g):
        a, b = self.saved_tensors
        return (g * b if self.needs_input_grad[0] else None,
                g * a if self.needs_input_grad[1] else None)


class Div(Function):
    saved_inputs = (0, 1)

    def forward(self, a, b):
        return a / b

    def backward(self, g):
        a, b = self.saved_tensors
        return (g / b if self.needs_input_grad[0] else None,
                -g * a / (b * b) if self.needs_input_grad[1] else None)


class Neg(Function):
    def forward(self, a):
        return -a

    def backward(self, g):
        return -g


class Pow(Function):
    """a ** b for a tensor base or exponent (d/da = b a^(b-1), d/db = a^b ln a)."""

    saved_inputs = (0, 1)
    saves_output = True

    def forward(self, a, b):
        return a ** b

    def backward(self, g):
        # PyTorch's conventions: no gradient to the base where the exponent is 0 (0 * inf would
        # be nan at a zero base), and none to the exponent where base == 0 and exponent >= 0.
        a, b = self.saved_tensors
        grad_a = grad_b = None
        with np.errstate(divide="ignore", invalid="ignore"):
            if self.needs_input_grad[0]:
                if isinstance(b, function.Tensor):
                    grad_a = Where.apply(b._data == 0, 0.0, g * b * a ** (b - 1))
                else:
                    grad_a = g * 0 if b == 0 else g * b * a ** (b - 1)
            if self.needs_input_grad[1]:
                if isinstance(a, function.Tensor):
                    zero = (a._data == 0) & (b._data >= 0)
                    grad_b = Where.apply(zero, 0.0, g * self.output * a.log())
                elif a == 0:
                    grad_b = Where.apply(b._data >= 0, 0.0, g * self.output * float("-inf"))
                else:
                    grad_b = g * self.output * float(np.log(a) if a > 0 else np.nan)
        return grad_a, grad_b
