"""+ - * / ** and negation. The engine reduces broadcast gradients, so rules ignore shapes."""
from __future__ import annotations

import numpy as np

from gradwise.ops.select import Where
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
        a, b = self.saved_tensors
        grad_a = grad_b = None
        if self.needs_input_grad[0]:
            grad_a = g * 0 if isinstance(b, (int, float)) and b == 0 else g * b * a ** (b - 1)
        if self.needs_input_grad[1]:
            # d(a^b)/db = a^b ln a; where the base is 0 PyTorch takes the gradient as 0.
            if isinstance(a, (int, float)):
                log_a = float(np.log(a)) if a > 0 else 0.0
            else:
                with np.errstate(divide="ignore", invalid="ignore"):
                    log_a = Where.apply(a._data != 0, a.log(), 0.0)
            grad_b = g * self.output * log_a
        return grad_a, grad_b
