"""gradwise's own engine behind the :class:`~gradwise.engines.base.Engine` boundary.

The one place above the core that may look at a :class:`~gradwise.tensor.tensor.Tensor`'s NumPy
array (``_data``) and build tensors from arrays without a copy (``Tensor._make``).  A GPU array
backend for gradwise's tensors would change this file, and nothing above it.
"""
from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from gradwise.engines.base import Engine
from gradwise.tensor import random as gw_random
from gradwise.tensor.grad_mode import no_grad
from gradwise.tensor.tensor import Tensor

__all__ = ["NativeEngine", "to_numpy", "as_tensor"]


def to_numpy(x: Any) -> np.ndarray:
    """The NumPy array behind a gradwise Tensor (no copy), or ``np.asarray(x)``."""
    return x._data if isinstance(x, Tensor) else np.asarray(x)


def as_tensor(x: Any) -> Tensor:
    """A gradwise Tensor sharing the memory of a NumPy array (a Tensor passes through)."""
    return x if isinstance(x, Tensor) else Tensor._make(np.asarray(x))


class NativeEngine(Engine):
    """gradwise tensors, modules and optimizers on NumPy (the CPU)."""

    name = "gradwise"
    display = "gradwise"

    def __init__(self, device: Any = None) -> None:
        if device is not None and str(device) != "cpu":
            raise ValueError(f"device {device!r}: gradwise computes with NumPy on the CPU; use device=None or 'cpu' "
                             "(or train a PyTorch model for CUDA)")
        super().__init__(None)

    def owns_model(self, obj: Any) -> bool:
        from gradwise.nn.module import Module

        return isinstance(obj, Module)

    def owns_optimizer(self, obj: Any) -> bool:
        from gradwise.optim.optimizer import Optimizer

        return isinstance(obj, Optimizer)

    def is_tensor(self, obj: Any) -> bool:
        return isinstance(obj, Tensor)

    def to_numpy(self, x: Any) -> np.ndarray:
        return to_numpy(x)

    def as_input(self, x: Any, dtype: Any = None) -> Any:
        if isinstance(x, np.ndarray) and x.dtype.kind in "biuf":
            return Tensor._make(x)
        return x

    def float_dtype(self, model: Any) -> np.dtype:
        for p in model.parameters():
            if p._data.dtype.kind == "f":
                return p._data.dtype
        return np.dtype(np.float32)

    def no_grad(self) -> contextlib.AbstractContextManager:
        return no_grad()

    def following_activations(self, model: Any, example_input: Any = None) -> list[tuple[str, Any, str, float | None]]:
        from gradwise.nn import init as nn_init

        return nn_init.following_activations(model, example_input)

    def snapshot_weights(self, model: Any) -> dict[str, np.ndarray]:
        return {k: np.array(v._data, copy=True) for k, v in model.state_dict().items()}

    def state_arrays(self, model: Any) -> dict[str, np.ndarray]:
        return self.snapshot_weights(model)

    def load_state_arrays(self, model: Any, arrays: Mapping[str, Any]) -> None:
        model.load_state_dict(arrays)

    def manual_seed(self, seed: int) -> None:
        gw_random.manual_seed(seed)

    def rng_state(self) -> dict[str, Any]:
        return {"gradwise": gw_random.get_rng_state()}

    def set_rng_state(self, state: Mapping[str, Any]) -> None:
        if "gradwise" in state:
            gw_random.set_rng_state(state["gradwise"])

    def optimizers(self) -> dict[str, type]:
        import gradwise.optim as optim

        return {name.lower(): getattr(optim, name) for name in optim.__all__
                if name not in ("Optimizer", "lr_scheduler")}

    def loss(self, class_name: str) -> Callable:
        import gradwise.nn as nn

        return getattr(nn, class_name)()
