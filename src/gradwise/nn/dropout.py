"""`Dropout` (Srivastava et al., 2014) and `Dropout2d` (whole channels), inverted: scaled at
training time, identity in eval()."""
from __future__ import annotations

from gradwise.nn import functional as F
from gradwise.nn.module import Module
from gradwise.tensor.tensor import Tensor


class _DropoutNd(Module):
    def __init__(self, p: float = 0.5, inplace: bool = False) -> None:
        super().__init__()
        if p < 0 or p > 1:
            raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
        self.p, self.inplace = p, inplace

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"


class Dropout(_DropoutNd):
    """Zero each element with probability p during training and scale the rest by 1/(1-p).

    The mask comes from gradwise's global generator, so `gradwise.manual_seed` reproduces it.
    """

    def forward(self, input: Tensor) -> Tensor:
        return F.dropout(input, self.p, self.training, self.inplace)


class Dropout2d(_DropoutNd):
    """Zero whole channels of an (N, C, H, W) input with probability p during training, scaling
    the rest by 1/(1-p): after convolutions neighbouring activations are correlated, so dropping
    single ones barely regularises (Tompson et al., 2015). A 3-D input is read as (N, C, L)."""

    def forward(self, input: Tensor) -> Tensor:
        return F.dropout2d(input, self.p, self.training, self.inplace)
