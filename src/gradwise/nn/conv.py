"""`Conv2d`: a bank of learned 2-D filters, and `ConvTranspose2d`, its adjoint used as a layer
(PyTorch's arguments, layout and initialisation)."""
from __future__ import annotations

from gradwise.nn import functional as F
from gradwise.nn.parameter import empty_parameter, reset_affine
from gradwise.nn.module import Module
from gradwise.tensor.tensor import Tensor


class Conv2d(Module):
    """Cross-correlates an (N, in_channels, H, W) input with (out_channels, in_channels/groups, kH, kW) filters.

    stride, padding (int, pair, "valid" or "same"), dilation and groups as `F.conv2d`.
    padding_mode: "zeros" (the convolution's own zero padding), or "reflect", "replicate",
    "circular": as in PyTorch, the input is first padded with `F.pad` in that mode by the
    `padding` amounts (for "same", the odd extra row/column at the bottom/right) and then
    convolved without padding. Initialised as PyTorch (kaiming_uniform_ with a=sqrt(5),
    bias U[-1/sqrt(fan_in), 1/sqrt(fan_in)] with fan_in = in_channels/groups * kH * kW).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, dilation=1,
                 groups: int = 1, bias: bool = True, padding_mode: str = "zeros", device=None, dtype=None) -> None:
        super().__init__()
        if groups <= 0:
            raise ValueError("groups must be a positive integer")
        if in_channels % groups != 0:
            raise ValueError("in_channels must be divisible by groups")
        if out_channels % groups != 0:
            raise ValueError("out_channels must be divisible by groups")
        if padding_mode not in ("zeros", "reflect", "replicate", "circular"):
            raise ValueError(f"padding_mode must be one of ['zeros', 'reflect', 'replicate', 'circular'], "
                             f"but got padding_mode='{padding_mode}'")
        if isinstance(padding, str):
            if padding not in ("valid", "same"):
                raise ValueError(f"Invalid padding string '{padding}', should be one of ['valid', 'same']")
            if padding == "same" and F._pair(stride, "stride", "Conv2d") != (1, 1):
                raise ValueError("padding='same' is not supported for strided convolutions")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size = F._pair(kernel_size, "kernel_size", "Conv2d")
        self.stride, self.dilation = F._pair(stride, "stride", "Conv2d"), F._pair(dilation, "dilation", "Conv2d")
        self.padding = padding if isinstance(padding, str) else F._pair(padding, "padding", "Conv2d")
        self.groups, self.padding_mode = groups, padding_mode
        self._reversed_padding_repeated_twice = self._reversed_padding(self.padding)
        self.output_padding, self.transposed = (0, 0), False
        self.weight = empty_parameter((out_channels, in_channels // groups) + self.kernel_size, device, dtype)
        if bias:
            self.bias = empty_parameter((out_channels,), device, dtype)
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def _reversed_padding(self, padding) -> list[int]:
        """The padding as `F.pad` takes it, (left, right, top, bottom), for the non-zeros modes.

        "same" pads d * (k - 1) in total per dim, the larger half at the end (right/bottom),
        which is where `F.conv2d`'s own "same" puts it; "valid" pads nothing.
        """
        if isinstance(padding, str):
            if padding == "valid":
                return [0, 0, 0, 0]
            reversed_padding = []
            for k, d in zip(reversed(self.kernel_size), reversed(self.dilation)):
                total = d * (k - 1)
                reversed_padding += [total // 2, total - total // 2]
            return reversed_padding
        return [padding[1], padding[1], padding[0], padding[0]]

    def reset_parameters(self) -> None:
        reset_affine(self.weight, self.bias)

    def forward(self, input: Tensor) -> Tensor:
        if self.padding_mode != "zeros":
            padded = F.pad(input, self._reversed_padding_repeated_twice, mode=self.padding_mode)
            return F.conv2d(padded, self.weight, self.bias, self.stride, (0, 0), self.dilation, self.groups)
        return F.conv2d(input, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)

    def extra_repr(self) -> str:
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0, 0):
            s += f", padding={self.padding}"
        if self.dilation != (1, 1):
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s



class ConvTranspose2d(Module):
    """Transposed convolution of an (N, in_channels, H, W) input with (in_channels,
    out_channels/groups, kH, kW) filters: `F.conv_transpose2d`, the input gradient of a
    `Conv2d` used as a layer (learned upsampling).

    Arguments and their order are PyTorch's (note groups before dilation); only
    padding_mode="zeros" exists, as in PyTorch. `forward(input, output_size=None)`: an
    explicit output_size (H_out, W_out), optionally with the batch and channel dims, picks the
    output_padding that yields it. Initialised as PyTorch (kaiming_uniform_ with a=sqrt(5);
    fan_in = out_channels/groups * kH * kW, from the weight's second dim).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, output_padding=0,
                 groups: int = 1, bias: bool = True, dilation=1, padding_mode: str = "zeros", device=None,
                 dtype=None) -> None:
        super().__init__()
        if groups <= 0:
            raise ValueError("groups must be a positive integer")
        if in_channels % groups != 0:
            raise ValueError("in_channels must be divisible by groups")
        if out_channels % groups != 0:
            raise ValueError("out_channels must be divisible by groups")
        if padding_mode != "zeros":
            raise ValueError(f'Only "zeros" padding mode is supported for ConvTranspose2d, got {padding_mode!r}')
        if isinstance(padding, str):
            raise ValueError(f"ConvTranspose2d: padding must be an int or a pair, got {padding!r}")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size = F._pair(kernel_size, "kernel_size", "ConvTranspose2d")
        self.stride = F._pair(stride, "stride", "ConvTranspose2d")
        self.padding = F._pair(padding, "padding", "ConvTranspose2d")
        self.output_padding = F._pair(output_padding, "output_padding", "ConvTranspose2d")
        self.dilation = F._pair(dilation, "dilation", "ConvTranspose2d")
        self.groups, self.padding_mode, self.transposed = groups, padding_mode, True
        self.weight = empty_parameter((in_channels, out_channels // groups) + self.kernel_size, device, dtype)
        if bias:
            self.bias = empty_parameter((out_channels,), device, dtype)
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        reset_affine(self.weight, self.bias)

    def _output_padding(self, input: Tensor, output_size) -> tuple[int, int]:
        """The output_padding giving `output_size` (PyTorch's rule: it must lie less than one
        stride above the smallest size these arguments produce)."""
        if output_size is None:
            return self.output_padding
        size = [int(s) for s in output_size]
        if len(size) == input.ndim:
            size = size[2:] if input.ndim == 4 else size[1:]
        if len(size) != 2:
            raise ValueError(f"ConvTranspose2d: output_size must have 2 or {input.ndim} elements "
                             f"(got {list(output_size)})")
        padding = []
        for axis, (want, n, k, s, p, d) in enumerate(zip(size, input.shape[-2:], self.kernel_size, self.stride,
                                                         self.padding, self.dilation)):
            smallest = (n - 1) * s - 2 * p + d * (k - 1) + 1
            if not smallest <= want < smallest + s:
                raise ValueError(f"ConvTranspose2d: requested an output size of {size}, but valid sizes along "
                                 f"dim {axis} range from {smallest} to {smallest + s - 1} "
                                 f"(for an input of shape {tuple(input.shape)})")
            padding.append(want - smallest)
        return tuple(padding)

    def forward(self, input: Tensor, output_size=None) -> Tensor:
        return F.conv_transpose2d(input, self.weight, self.bias, self.stride, self.padding,
                                  self._output_padding(input, output_size), self.groups, self.dilation)

    def extra_repr(self) -> str:
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0, 0):
            s += f", padding={self.padding}"
        if self.dilation != (1, 1):
            s += f", dilation={self.dilation}"
        if self.output_padding != (0, 0):
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        return s
