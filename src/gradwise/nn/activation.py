"""Activation layers (the lecture's "Activation Functions"): Sigmoid, Tanh, ReLU, LeakyReLU,
ELU, Softmax, LogSoftmax; and the ones PyTorch users reach for beyond it: GELU, SiLU,
Softplus, Hardtanh, ReLU6, PReLU. `inplace=` is accepted where PyTorch has it and ignored
(the result is a new tensor). Maxout, which has weights, is in `maxout.py`.
"""
from __future__ import annotations

import warnings

import numpy as np

from gradwise.nn import functional as F
from gradwise.nn.parameter import float_dtype
from gradwise.nn.module import Module
from gradwise.nn.parameter import Parameter
from gradwise.tensor.tensor import Tensor


def _inplace(inplace: bool, lead: str = "") -> str:
    return f"{lead}inplace=True" if inplace else ""


class Sigmoid(Module):
    """1 / (1 + e^-x): saturates at both ends (vanishing gradients), outputs not zero-centred."""

    def forward(self, input: Tensor) -> Tensor:
        return F.sigmoid(input)


class Tanh(Module):
    """tanh(x): zero-centred, but saturates like the sigmoid."""

    def forward(self, input: Tensor) -> Tensor:
        return F.tanh(input)


class ReLU(Module):
    """max(0, x): no saturation for x > 0 and cheap (why AlexNet used it), but units can die."""

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return F.relu(input)

    def extra_repr(self) -> str:
        return _inplace(self.inplace)


class LeakyReLU(Module):
    """max(negative_slope * x, x): a small gradient for x < 0 keeps units from dying."""

    def __init__(self, negative_slope: float = 0.01, inplace: bool = False) -> None:
        super().__init__()
        self.negative_slope, self.inplace = negative_slope, inplace

    def forward(self, input: Tensor) -> Tensor:
        return F.leaky_relu(input, self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}" + _inplace(self.inplace, ", ")


class ELU(Module):
    """x for x > 0, alpha (e^x - 1) otherwise: ReLU's benefits with mean outputs closer to zero."""

    def __init__(self, alpha: float = 1.0, inplace: bool = False) -> None:
        super().__init__()
        self.alpha, self.inplace = alpha, inplace

    def forward(self, input: Tensor) -> Tensor:
        return F.elu(input, self.alpha)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}" + _inplace(self.inplace, ", ")


class Softmax(Module):
    """e^x / sum(e^x) along `dim`."""

    def __init__(self, dim: int | None = None) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, input: Tensor) -> Tensor:
        return F.softmax(input, self.dim, _stacklevel=5)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class LogSoftmax(Module):
    """log(softmax(x)) along `dim`, computed stably."""

    def __init__(self, dim: int | None = None) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, input: Tensor) -> Tensor:
        return F.log_softmax(input, self.dim, _stacklevel=5)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class GELU(Module):
    """x * Phi(x) (Hendrycks & Gimpel, 2016): a smooth ReLU that weights inputs by how likely
    they are to be positive; the Transformers' activation. approximate="tanh" for the tanh form."""

    def __init__(self, approximate: str = "none") -> None:
        super().__init__()
        self.approximate = approximate

    def forward(self, input: Tensor) -> Tensor:
        return F.gelu(input, approximate=self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class SiLU(Module):
    """x * sigmoid(x) (swish; Elfwing et al., 2017, Ramachandran et al., 2017): smooth, non-monotonic."""

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return F.silu(input)

    def extra_repr(self) -> str:
        return _inplace(self.inplace)


class Softplus(Module):
    """log(1 + e^(beta x)) / beta: a smooth ReLU whose gradient, sigmoid(beta x), is never zero;
    x itself where beta * x > threshold (for numerical stability)."""

    def __init__(self, beta: float = 1.0, threshold: float = 20.0) -> None:
        super().__init__()
        self.beta, self.threshold = beta, threshold

    def forward(self, input: Tensor) -> Tensor:
        return F.softplus(input, self.beta, self.threshold)

    def extra_repr(self) -> str:
        return f"beta={self.beta}, threshold={self.threshold}"


class Hardtanh(Module):
    """clamp(x, min_val, max_val): tanh's cheap piecewise-linear cousin; saturates (zero gradient) outside."""

    def __init__(self, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False,
                 min_value: float | None = None, max_value: float | None = None) -> None:
        super().__init__()
        if min_value is not None:
            warnings.warn("keyword argument `min_value` is deprecated and renamed to `min_val`", FutureWarning,
                          stacklevel=2)
            min_val = min_value
        if max_value is not None:
            warnings.warn("keyword argument `max_value` is deprecated and renamed to `max_val`", FutureWarning,
                          stacklevel=2)
            max_val = max_value
        self.min_val, self.max_val, self.inplace = min_val, max_val, inplace
        if self.max_val <= self.min_val:
            raise AssertionError(f"max_val ({self.max_val}) must be greater than min_val ({self.min_val})")

    def forward(self, input: Tensor) -> Tensor:
        return F.hardtanh(input, self.min_val, self.max_val)

    def extra_repr(self) -> str:
        return f"min_val={self.min_val}, max_val={self.max_val}" + _inplace(self.inplace, ", ")


class ReLU6(Hardtanh):
    """min(max(0, x), 6) (MobileNet): a ReLU whose output is bounded, which suits low precision."""

    def __init__(self, inplace: bool = False) -> None:
        super().__init__(0.0, 6.0, inplace)

    def forward(self, input: Tensor) -> Tensor:
        return F.relu6(input)

    def extra_repr(self) -> str:
        return _inplace(self.inplace)


class PReLU(Module):
    """max(0, x) + a * min(0, x) with the slope a learned (He et al., 2015): one shared slope, or
    one per channel (dim 1) with num_parameters=C. Starts at `init` (0.25)."""

    def __init__(self, num_parameters: int = 1, init: float = 0.25, device=None, dtype=None) -> None:
        super().__init__()
        self.num_parameters, self.init = num_parameters, init
        self.weight = Parameter(np.empty(num_parameters, dtype=float_dtype(device, dtype)))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        from gradwise.nn import init

        init.constant_(self.weight, self.init)

    def forward(self, input: Tensor) -> Tensor:
        return F.prelu(input, self.weight)

    def extra_repr(self) -> str:
        return f"num_parameters={self.num_parameters}"
