"""`Dropout` (Srivastava et al., 2014), inverted: scaled at training time, identity in eval()."""
from __future__ import annotations

from gradwise.nn import functional as F
from gradwise.nn.module import Module
from gradwise.tensor.tensor import Tensor


class Dropout(Module):
    """Zero each element with probability p during training and scale the rest by 1/(1-p).

    The mask comes from gradwise's global generator, so `gradwise.manual_seed` reproduces it.
    """

    def __init__(self, p: float = 0.5, inplace: bool = False) -> None:
        super().__init__()
        if p < 0 or p > 1:
            raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
        self.p, self.inplace = p, inplace

    def forward(self, input: Tensor) -> Tensor:
        return F.dropout(input, self.p, self.training, self.inplace)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"
