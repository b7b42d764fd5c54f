"""`LayerNorm` and `GroupNorm`: normalization that does not depend on the batch.

Layer norm (Ba et al., 2016) standardises each sample over its last dims (the features of a
token in a Transformer); group norm (Wu & He, 2018) each group of channels of each sample over
the group's channels and positions (CNNs trained with small batches, where batch statistics
are noisy). Both compute the same in training and evaluation and keep no running statistics.
"""
from __future__ import annotations

import numbers
from typing import Sequence

from gradwise.nn import functional as F
from gradwise.nn import init
from gradwise.nn.parameter import empty_parameter
from gradwise.nn.module import Module
from gradwise.tensor.tensor import Tensor


class LayerNorm(Module):
    """(x - mean) / sqrt(var + eps) * weight + bias over the last dims, which must equal
    `normalized_shape`; weight and bias (ones and zeros at first) have that shape."""

    def __init__(self, normalized_shape: int | Sequence[int], eps: float = 1e-5, elementwise_affine: bool = True,
                 bias: bool = True, device=None, dtype=None) -> None:
        super().__init__()
        if isinstance(normalized_shape, numbers.Integral):
            normalized_shape = (normalized_shape,)
        self.normalized_shape = tuple(int(n) for n in normalized_shape)
        self.eps, self.elementwise_affine = eps, elementwise_affine
        _affine_parameters(self, self.normalized_shape, elementwise_affine, bias, device, dtype)

    def reset_parameters(self) -> None:
        _reset_affine(self)

    def forward(self, input: Tensor) -> Tensor:
        return F.layer_norm(input, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}, "
                f"bias={self.bias is not None}")


class GroupNorm(Module):
    """Split the C channels (dim 1) into `num_groups` groups and standardise each group of each
    sample over its channels and positions; then weight * x + bias per channel.
    num_groups=1 is layer norm over (C, H, W), num_groups=C is instance norm."""

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5, affine: bool = True, device=None,
                 dtype=None, *, bias: bool = True) -> None:
        super().__init__()
        if num_channels % num_groups != 0:
            raise ValueError(f"num_channels ({num_channels}) must be divisible by num_groups ({num_groups})")
        self.num_groups, self.num_channels, self.eps, self.affine = num_groups, num_channels, eps, affine
        _affine_parameters(self, (num_channels,), affine, bias, device, dtype)

    def reset_parameters(self) -> None:
        _reset_affine(self)

    def forward(self, input: Tensor) -> Tensor:
        return F.group_norm(input, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}, "
                f"bias={self.bias is not None}")


def _affine_parameters(module: Module, shape: tuple, affine: bool, bias: bool, device, dtype) -> None:
    """The per-element ``weight`` and ``bias`` of a normalization layer (None when not affine), initialised."""
    module.register_parameter("weight", empty_parameter(shape, device, dtype) if affine else None)
    module.register_parameter("bias", empty_parameter(shape, device, dtype) if affine and bias else None)
    _reset_affine(module)


def _reset_affine(module: Module) -> None:
    """Weight 1, bias 0: the layer starts as a pure standardisation."""
    if module.weight is not None:
        init.ones_(module.weight)
    if module.bias is not None:
        init.zeros_(module.bias)
