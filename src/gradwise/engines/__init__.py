"""One boundary between a deep-learning engine and everything above it (see :mod:`gradwise.engines.base`).

``engine_for(model)`` picks the engine of a model - gradwise's own, or PyTorch's when the model is a
``torch.nn.Module`` (PyTorch is imported only then: ``import gradwise`` never imports it).
"""
from __future__ import annotations

import sys
from typing import Any

from gradwise.engines.base import ACTIVATION_KINDS, Engine, activation_kind

__all__ = ["Engine", "engine_for", "engine_of", "check_same_engine", "ACTIVATION_KINDS", "activation_kind",
           "to_numpy"]


def _torch_engine_class() -> type[Engine] | None:
    if sys.modules.get("torch") is None:   # no PyTorch object can exist before torch is imported
        return None
    from gradwise.engines.torch_engine import TorchEngine

    return TorchEngine


def engine_of(obj: Any) -> str | None:
    """``"gradwise"`` or ``"torch"`` for a model, optimizer or tensor of that framework; None for anything else."""
    from gradwise.engines.native import NativeEngine

    native = NativeEngine()
    if native.owns_model(obj) or native.owns_optimizer(obj) or native.is_tensor(obj):
        return native.name
    torch_cls = _torch_engine_class()
    if torch_cls is not None:
        torch = sys.modules["torch"]
        if isinstance(obj, (torch.nn.Module, torch.optim.Optimizer, torch.Tensor)):
            return torch_cls.name
    return None


def engine_for(model: Any, device: Any = None) -> Engine:
    """The engine that drives ``model`` on ``device`` (None: the CPU)."""
    from gradwise.engines.native import NativeEngine

    kind = engine_of(model)
    if kind == "torch":
        from gradwise.engines.torch_engine import TorchEngine

        return TorchEngine(device)
    if kind == "gradwise":
        return NativeEngine(device)
    raise TypeError(f"expected a model: a gradwise.nn.Module or a torch.nn.Module, got {type(model).__name__}")


def check_same_engine(engine: Engine, who: str, **objects: Any) -> None:
    """Raise a ``TypeError`` naming both frameworks when an object belongs to another one than the model."""
    names = {"gradwise": "gradwise", "torch": "PyTorch"}
    where = {"optimizer": "optim", "loss": "nn", "scheduler": "optim.lr_scheduler"}
    for role, obj in objects.items():
        other = engine_of(obj)
        if other is not None and other != engine.name:
            cls = type(obj)
            package = "torch" if engine.name == "torch" else "gradwise"
            raise TypeError(f"{who}: the model is a {engine.display} model but the {role} is a {names[other]} object "
                            f"({cls.__module__}.{cls.__qualname__}); use the {role} of the model's framework "
                            f"({package}.{where.get(role, '')}) or pass its name (e.g. 'adam', 'cross_entropy')")


def to_numpy(x: Any) -> Any:
    """The numbers of any tensor (gradwise's or PyTorch's, on any device) as a NumPy array."""
    if engine_of(x) == "torch":
        from gradwise.engines.torch_engine import TorchEngine

        return TorchEngine().to_numpy(x)
    from gradwise.engines.native import to_numpy as native

    return native(x)
