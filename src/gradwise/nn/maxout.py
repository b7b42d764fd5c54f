"""`Maxout` (Goodfellow et al., 2013): the lecture's max(w1^T x + b1, w2^T x + b2).

Each output unit is the max of `pieces` affine functions of the input. It has weights of its
own (it is a layer and an activation at once), generalises ReLU (max(w^T x + b, 0) is the
case with a zero second piece) and leaky ReLU, and never saturates or dies. PyTorch has no
Maxout; this is gradwise's own.

Parameter layout: one affine map to out_features * pieces values followed by a max over
the pieces axis. `weight` has shape (out_features * pieces, in_features) and `bias`
(out_features * pieces,); row j * pieces + k is piece k of output unit j, so
`weight.view(out_features, pieces, in_features)[j, k]` is w_k of unit j.
"""
from __future__ import annotations

from gradwise.nn import functional as F
from gradwise.nn.parameter import empty_parameter, reset_affine
from gradwise.nn.module import Module
from gradwise.tensor.tensor import Tensor


class Maxout(Module):
    """y_j = max_k (x W_{j,k}^T + b_{j,k}) for k < pieces; input (*, in_features), output (*, out_features).

    Initialised like `Linear` (kaiming_uniform_ with a=sqrt(5)); `init.by_activation` gives it
    He initialisation.
    """

    def __init__(self, in_features: int, out_features: int, pieces: int = 2, bias: bool = True,
                 device=None, dtype=None) -> None:
        super().__init__()
        if pieces < 1:
            raise ValueError(f"Maxout: pieces must be >= 1, got {pieces}")
        self.in_features, self.out_features, self.pieces = in_features, out_features, pieces
        self.weight = empty_parameter((out_features * pieces, in_features), device, dtype)
        if bias:
            self.bias = empty_parameter((out_features * pieces,), device, dtype)
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        reset_affine(self.weight, self.bias)

    def forward(self, input: Tensor) -> Tensor:
        if input.ndim == 0 or input.shape[-1] != self.in_features:
            raise RuntimeError(f"Maxout(in_features={self.in_features}): expected input of shape "
                               f"(*, {self.in_features}), got {tuple(input.shape)}")
        z = F.linear(input, self.weight, self.bias)
        return z.unflatten(-1, (self.out_features, self.pieces)).amax(dim=-1)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, pieces={self.pieces}"
