"""`Parameter`: a Tensor that a Module registers as one of its learnable weights, and the helpers
layers use to make theirs (an empty parameter of the right dtype, PyTorch's default affine init)."""
from __future__ import annotations

import math

import numpy as np

from gradwise.nn import init
from gradwise.tensor import dtypes
from gradwise.tensor.tensor import Tensor, _check_device


class Parameter(Tensor):
    """A leaf Tensor that requires grad by default and is listed by `Module.parameters()`.

    `Parameter(t)` shares `t`'s storage, as in PyTorch.
    """

    __slots__ = ()

    def __new__(cls, data: Tensor | np.ndarray | None = None, requires_grad: bool = True) -> "Parameter":
        if data is None:
            array = np.empty(0, dtype=np.float32)
        elif isinstance(data, Tensor):
            array = data._data
        else:
            array = np.asarray(data)
        param = object.__new__(cls)
        param._init(array, None, requires_grad, 0)
        return param

    def __init__(self, data=None, requires_grad: bool = True) -> None:
        pass

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()

    def __reduce_ex__(self, protocol):
        return (Parameter, (self._data, self.requires_grad))


class Buffer(Tensor):
    """Marks a tensor to be registered as a module buffer (as `torch.nn.Buffer`)."""

    __slots__ = ("persistent",)

    def __new__(cls, data, *, persistent: bool = True) -> "Buffer":
        buf = object.__new__(cls)
        buf._init(data._data if isinstance(data, Tensor) else np.asarray(data), None, False, 0)
        buf.persistent = persistent
        return buf

    def __init__(self, data=None, *, persistent: bool = True) -> None:
        pass


def reset_affine(weight: Tensor, bias: Tensor | None) -> None:
    """PyTorch's default for Linear and Conv: kaiming_uniform_(a=sqrt(5)), bias U[-1/sqrt(fan_in), +]."""
    init.kaiming_uniform_(weight, a=math.sqrt(5))
    if bias is not None:
        fan_in, _ = init._calculate_fan_in_and_fan_out(weight)
        bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
        init.uniform_(bias, -bound, bound)


def float_dtype(device=None, dtype=None) -> np.dtype:
    """The dtype for a layer's tensors from PyTorch's `device=`/`dtype=` arguments."""
    if device is not None:
        _check_device(device)
    return dtypes.get_default_dtype() if dtype is None else dtypes.to_dtype(dtype)


def empty_parameter(shape: tuple, device=None, dtype=None) -> Parameter:
    """An uninitialised Parameter (the layer's reset_parameters fills it)."""
    return Parameter(np.empty(shape, dtype=float_dtype(device, dtype)))
