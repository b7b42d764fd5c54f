"""The framework of a model, as far as transfer learning needs it beyond :mod:`gradwise.engines`.

Transfer builds layers (a new head, a linear probe) and wrappers (feature extractors) *in the
model's own framework*: ``torch.nn.Linear`` for a PyTorch model, ``gradwise.nn.Linear`` for a
gradwise one, so that the result trains with that framework's optimizers and moves with
``.to(device)``.  Both frameworks use PyTorch's names, so one ``nn`` namespace per framework is
all that differs; everything else goes through the model's :class:`~gradwise.engines.Engine`.
PyTorch is imported only when the model is a PyTorch model.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from gradwise.engines import Engine, engine_for, engine_of

__all__ = ["Framework", "framework", "device_of", "is_batchnorm"]

#: Class names (anywhere in a module's MRO) of layers with running statistics that freezing keeps fixed.
BATCHNORM_NAMES = frozenset({"BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "SyncBatchNorm", "_BatchNorm"})


def is_batchnorm(module: Any) -> bool:
    """Whether ``module`` is a BatchNorm layer of either framework (by class name, so no import is needed)."""
    return any(cls.__name__ in BATCHNORM_NAMES for cls in type(module).__mro__)


def device_of(model: Any) -> Any:
    """Where a PyTorch model's parameters (or buffers) live; None for gradwise models and empty ones."""
    if engine_of(model) != "torch":
        return None
    for tensor in (*model.parameters(), *model.buffers()):
        return tensor.device
    return None


class Framework:
    """A model's engine (on the model's device) and its framework's ``nn`` namespace and ``cat``."""

    def __init__(self, model: Any) -> None:
        kind = engine_of(model)
        if kind is None:
            raise TypeError(f"expected a gradwise.nn.Module or a torch.nn.Module, got {type(model).__name__}")
        self.engine: Engine = engine_for(model, device_of(model))
        if kind == "torch":
            import torch

            self.lib: Any = torch
        else:
            import gradwise

            self.lib = gradwise
        self.nn = self.lib.nn
        self.name = kind

    @property
    def is_torch(self) -> bool:
        return self.name == "torch"

    def cat(self, tensors: list, dim: int = 0) -> Any:
        return self.lib.cat(tensors, dim)

    def tensor(self, array: np.ndarray) -> Any:
        """A tensor of this framework (on the model's device) with the numbers of ``array``."""
        return self.engine.as_input(np.ascontiguousarray(array))

    def linear(self, in_features: int, out_features: int, bias: bool = True, like: Any = None,
               dtype: Any = None) -> Any:
        """A fresh ``nn.Linear`` of this framework with the dtype (and device) of the tensor ``like``, or of the
        NumPy ``dtype`` on the model's device."""
        layer = self.nn.Linear(int(in_features), int(out_features), bias=bias)
        if self.is_torch:
            if like is not None:
                return layer.to(device=like.device, dtype=like.dtype)
            torch_dtype = self.lib.from_numpy(np.empty(0, dtype)).dtype if dtype is not None else None
            return layer.to(device=self.engine.device, dtype=torch_dtype)
        target = like.dtype if like is not None else dtype
        return layer.to(target) if target is not None else layer

    def is_linear(self, module: Any) -> bool:
        return isinstance(module, self.nn.Linear)

    def is_sequential(self, module: Any) -> bool:
        return isinstance(module, self.nn.Sequential)


def framework(model: Any) -> Framework:
    """The :class:`Framework` of ``model`` (gradwise or PyTorch)."""
    return Framework(model)
