"""`Linear` (y = x W^T + b) and `Identity`."""
from __future__ import annotations

from gradwise.nn import functional as F
from gradwise.nn.module import Module
from gradwise.nn.parameter import empty_parameter, reset_affine
from gradwise.tensor.tensor import Tensor


class Identity(Module):
    """Returns its input; accepts and ignores any constructor arguments (as PyTorch)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__()

    def forward(self, input: Tensor) -> Tensor:
        return input


class Linear(Module):
    """y = x W^T + b with W of shape (out_features, in_features).

    Initialised as PyTorch: W ~ kaiming_uniform_(a=sqrt(5)), i.e. U[-1/sqrt(in), 1/sqrt(in)],
    and b ~ U[-1/sqrt(in), 1/sqrt(in)]. (`init.by_activation` re-initialises for the activation.)
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, device=None, dtype=None) -> None:
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.weight = empty_parameter((out_features, in_features), device, dtype)
        if bias:
            self.bias = empty_parameter((out_features,), device, dtype)
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        reset_affine(self.weight, self.bias)

    def forward(self, input: Tensor) -> Tensor:
        if input.ndim == 0 or input.shape[-1] != self.in_features:
            raise RuntimeError(f"Linear(in_features={self.in_features}, out_features={self.out_features}): "
                               f"expected input of shape (*, {self.in_features}), got {tuple(input.shape)}"
                               + (" - flatten the input first (e.g. torch.flatten(x, 1))" if input.ndim > 2 else ""))
        return F.linear(input, self.weight, self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"
