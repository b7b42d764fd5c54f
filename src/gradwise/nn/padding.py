"""Padding layers (PyTorch's ``ZeroPad2d``, ``ConstantPad2d``, ``ReflectionPad2d`` ... in 1-D, 2-D, 3-D).

Each layer stores its padding as a tuple of (before, after) pairs from the last dim backwards,
``(left, right)`` in 1-D, ``(left, right, top, bottom)`` in 2-D and ``(left, right, top,
bottom, front, back)`` in 3-D (an int pads every side by that much), and calls
`gradwise.nn.functional.pad` with its mode. Reflection avoids the artificial zero border that
zero padding puts around an image; replication repeats the edge; circular wraps around.
"""
from __future__ import annotations

from typing import Sequence, Union

import numpy as np

from gradwise.nn import functional as F
from gradwise.nn.module import Module
from gradwise.tensor.tensor import Tensor

PadSpec = Union[int, Sequence[int]]
_SIDES = {1: "(left, right)", 2: "(left, right, top, bottom)", 3: "(left, right, top, bottom, front, back)"}


def _padding_tuple(layer: str, padding: PadSpec, dims: int) -> tuple[int, ...]:
    """An int for every side, or exactly 2 * dims ints."""
    if isinstance(padding, (int, np.integer)):
        return (int(padding),) * (2 * dims)
    values = tuple(padding)
    if len(values) != 2 * dims or not all(isinstance(v, (int, np.integer)) for v in values):
        raise ValueError(f"{layer}: padding must be an int or a tuple of {2 * dims} ints {_SIDES[dims]}, "
                         f"got {padding!r}")
    return tuple(int(v) for v in values)


class _PadNd(Module):
    """A padding layer: `F.pad(input, self.padding, mode)`."""

    mode: str = "constant"
    dims: int = 2

    def __init__(self, padding: PadSpec) -> None:
        super().__init__()
        self.padding = _padding_tuple(type(self).__name__, padding, self.dims)

    def forward(self, input: Tensor) -> Tensor:
        return F.pad(input, self.padding, self.mode)

    def extra_repr(self) -> str:
        return f"{self.padding}"


class _ConstantPadNd(_PadNd):
    """Pad with a constant value."""

    def __init__(self, padding: PadSpec, value: float) -> None:
        super().__init__(padding)
        self.value = value

    def forward(self, input: Tensor) -> Tensor:
        return F.pad(input, self.padding, "constant", self.value)

    def extra_repr(self) -> str:
        return f"padding={self.padding}, value={self.value}"


class ConstantPad1d(_ConstantPadNd):
    """Pad the last dim with `value`: padding is an int or (left, right)."""

    dims = 1


class ConstantPad2d(_ConstantPadNd):
    """Pad the last two dims with `value`: padding is an int or (left, right, top, bottom)."""

    dims = 2


class ConstantPad3d(_ConstantPadNd):
    """Pad the last three dims with `value`: padding is an int or (left, right, top, bottom, front, back)."""

    dims = 3


class ZeroPad1d(ConstantPad1d):
    """Pad the last dim with zeros: padding is an int or (left, right)."""

    def __init__(self, padding: PadSpec) -> None:
        super().__init__(padding, 0.0)

    def extra_repr(self) -> str:
        return f"{self.padding}"


class ZeroPad2d(ConstantPad2d):
    """Pad the last two dims with zeros: padding is an int or (left, right, top, bottom)."""

    def __init__(self, padding: PadSpec) -> None:
        super().__init__(padding, 0.0)

    def extra_repr(self) -> str:
        return f"{self.padding}"


class ZeroPad3d(ConstantPad3d):
    """Pad the last three dims with zeros: padding is an int or (left, right, top, bottom, front, back)."""

    def __init__(self, padding: PadSpec) -> None:
        super().__init__(padding, 0.0)

    def extra_repr(self) -> str:
        return f"{self.padding}"


class ReflectionPad1d(_PadNd):
    """Mirror the last dim at its edges (without repeating the edge); each width < the dim size.
    Input (C, W) or (N, C, W)."""

    mode, dims = "reflect", 1


class ReflectionPad2d(_PadNd):
    """Mirror the last two dims at their edges (without repeating the edge); each width < the dim
    size. Input (C, H, W) or (N, C, H, W)."""

    mode, dims = "reflect", 2


class ReflectionPad3d(_PadNd):
    """Mirror the last three dims at their edges. Input (C, D, H, W) or (N, C, D, H, W)."""

    mode, dims = "reflect", 3


class ReplicationPad1d(_PadNd):
    """Repeat the edge element of the last dim. Input (C, W) or (N, C, W)."""

    mode, dims = "replicate", 1


class ReplicationPad2d(_PadNd):
    """Repeat the edge rows and columns of the last two dims. Input (C, H, W) or (N, C, H, W)."""

    mode, dims = "replicate", 2


class ReplicationPad3d(_PadNd):
    """Repeat the edge elements of the last three dims. Input (C, D, H, W) or (N, C, D, H, W)."""

    mode, dims = "replicate", 3


class _CircularPadNd(_PadNd):
    """Wrap around; PyTorch checks the input's number of dims in the layer, with a ValueError."""

    mode = "circular"

    def forward(self, input: Tensor) -> Tensor:
        if input.ndim not in (self.dims + 1, self.dims + 2):
            raise ValueError(f"{type(self).__name__}: expected {self.dims + 1}D or {self.dims + 2}D input "
                             f"(got {input.ndim}D input of shape {tuple(input.shape)})")
        return super().forward(input)


class CircularPad1d(_CircularPadNd):
    """Wrap the last dim around (periodic boundary). Input (C, W) or (N, C, W)."""

    dims = 1


class CircularPad2d(_CircularPadNd):
    """Wrap the last two dims around (a torus). Input (C, H, W) or (N, C, H, W)."""

    dims = 2


class CircularPad3d(_CircularPadNd):
    """Wrap the last three dims around. Input (C, D, H, W) or (N, C, D, H, W)."""

    dims = 3
