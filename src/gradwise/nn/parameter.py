"""`Parameter`: a Tensor that a Module registers as one of its learnable weights."""
from __future__ import annotations

import numpy as np

from gradwise.tensor.tensor import Tensor


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
