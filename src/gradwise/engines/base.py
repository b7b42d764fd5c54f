"""The boundary between a deep-learning engine and everything above it.

``train/``, ``train/babysit/``, ``report/``, ``tune/`` and ``transfer/`` never reach into a tensor's
internals: they talk to a model through one :class:`Engine` per framework - gradwise's own NumPy
engine (:mod:`gradwise.engines.native`) and PyTorch (:mod:`gradwise.engines.torch_engine`, imported
only when a PyTorch object shows up).  An engine answers a few questions - what is a tensor, give me
its numbers as NumPy, make a batch of these arrays, snapshot and restore these weights, save and
restore your random streams, which optimizer is called ``"adam"`` - and that is all the training
layer needs to drive a model.  A GPU array backend for gradwise's own tensors plugs in here too.
"""
from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np

__all__ = ["Engine", "HookHandle", "ACTIVATION_KINDS", "WEIGHTED_KINDS", "NORM_KINDS", "activation_kind"]

#: Activation module class -> what the babysitter knows of it.  ``relu``: units can die (the lecture's
#: "dying ReLU"); ``sigmoid``/``tanh``/``hardtanh``: bounded, units saturate; the others are only
#: histogrammed.  The names are the same in gradwise and PyTorch.
ACTIVATION_KINDS = {"ReLU": "relu", "ReLU6": "relu", "LeakyReLU": "leaky_relu", "PReLU": "leaky_relu",
                    "ELU": "elu", "SELU": "elu", "CELU": "elu", "GELU": "gelu", "SiLU": "silu", "Mish": "silu",
                    "Softplus": "softplus", "Sigmoid": "sigmoid", "Tanh": "tanh", "Hardtanh": "hardtanh",
                    "Hardsigmoid": "hardsigmoid", "Maxout": "maxout"}
#: Modules whose weights the init and gradient checks look at.
WEIGHTED_KINDS = ("Linear", "Bilinear", "Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d",
                  "ConvTranspose3d", "Maxout", "Embedding")
#: Normalization layers: a layer followed by one has its scale reset anyway.
NORM_KINDS = ("BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "LayerNorm", "GroupNorm", "InstanceNorm1d",
              "InstanceNorm2d", "InstanceNorm3d", "SyncBatchNorm")


def activation_kind(module: Any) -> str | None:
    """The :data:`ACTIVATION_KINDS` entry of a module or of its nearest known base class (None: not one)."""
    for cls in type(module).__mro__:
        kind = ACTIVATION_KINDS.get(cls.__name__)
        if kind is not None:
            return kind
    return None


class HookHandle:
    """Something with ``remove()`` (both frameworks' hook handles are)."""

    def remove(self) -> None: ...


class Engine:
    """What the training layer needs from a deep-learning framework.

    Subclasses implement each method for their tensors, modules and optimizers.  ``device`` is the
    device batches and models are moved to (None: the engine's default, the CPU).
    """

    #: A short name used in messages and checkpoints: ``"gradwise"`` or ``"torch"``.
    name: str = "?"
    #: How users call this framework in messages ("gradwise", "PyTorch").
    display: str = "?"

    def __init__(self, device: Any = None) -> None:
        self.device = device

    # ------------------------------------------------------------------ ownership
    def owns_model(self, obj: Any) -> bool:
        raise NotImplementedError

    def owns_optimizer(self, obj: Any) -> bool:
        raise NotImplementedError

    def is_tensor(self, obj: Any) -> bool:
        raise NotImplementedError

    # ------------------------------------------------------------------ arrays out and in
    def to_numpy(self, x: Any) -> np.ndarray:
        """The numbers of a tensor (detached, on the host) as a NumPy array; arrays and lists pass through."""
        raise NotImplementedError

    def item(self, x: Any) -> float:
        """A one-element tensor as a Python float (a host synchronisation on accelerators)."""
        return float(x.item()) if hasattr(x, "item") else float(x)

    def read_scalars(self, values: list[Any]) -> list[float]:
        """Many one-element tensors as floats (on an accelerator: one host synchronisation for all)."""
        return [self.item(v) for v in values]

    #: Training steps whose numbers may wait on the device before being read back (1: read every step).
    sync_every: int = 1

    def as_input(self, x: Any, dtype: Any = None) -> Any:
        """A batch field as this engine's tensor on :attr:`device` (numbers); other values pass through."""
        raise NotImplementedError

    def as_batch(self, batch: Any, dtype: Any = None) -> Any:
        """Every field of a batch (a tuple/list/dict of fields) through :meth:`as_input`."""
        if isinstance(batch, (tuple, list)):
            return type(batch)(self.as_input(b, dtype) for b in batch)
        if isinstance(batch, Mapping):
            return {k: self.as_input(v, dtype) for k, v in batch.items()}
        return self.as_input(batch, dtype)

    def float_dtype(self, model: Any) -> np.dtype:
        """The NumPy dtype of the model's floating parameters (float32 for a model without any)."""
        raise NotImplementedError

    # ------------------------------------------------------------------ autograd
    def no_grad(self) -> contextlib.AbstractContextManager:
        raise NotImplementedError

    def needs_closure(self, optimizer: Any) -> bool:
        """True for solvers whose ``step`` re-evaluates the loss (LBFGS)."""
        flag = getattr(optimizer, "needs_closure", None)
        if isinstance(flag, bool):
            return flag
        return any(cls.__name__ == "LBFGS" for cls in type(optimizer).__mro__)

    # ------------------------------------------------------------------ modules
    def is_leaf(self, module: Any) -> bool:
        return next(iter(module.children()), None) is None

    def own_weight(self, module: Any) -> Any:
        """The module's own ``weight`` parameter when it is a matrix or kernel (>= 2 dims), else None."""
        w = dict(module.named_parameters(recurse=False)).get("weight")
        return w if w is not None and len(w.shape) >= 2 else None

    def register_forward_hook(self, module: Any, hook: Callable[[Any, Any, Any], None]) -> HookHandle:
        return module.register_forward_hook(hook)

    def following_activations(self, model: Any, example_input: Any = None) -> list[tuple[str, Any, str, float | None]]:
        """``(name, layer, activation, slope)`` for every weighted layer of ``model``, as
        :func:`gradwise.nn.init.following_activations` gives them for gradwise models."""
        raise NotImplementedError

    # ------------------------------------------------------------------ weights and state
    def snapshot_weights(self, model: Any) -> dict[str, Any]:
        """A copy of the model's state dict that later training does not change (kept where it lives)."""
        raise NotImplementedError

    def restore_weights(self, model: Any, snapshot: Mapping[str, Any]) -> None:
        model.load_state_dict(snapshot)

    def state_arrays(self, model: Any) -> dict[str, np.ndarray]:
        """The model's state dict as NumPy arrays (for checkpoints and weight files)."""
        return {k: np.array(self.to_numpy(v), copy=True) for k, v in model.state_dict().items()}

    def load_state_arrays(self, model: Any, arrays: Mapping[str, Any]) -> None:
        """Load a state dict of NumPy arrays or this engine's tensors into ``model``."""
        raise NotImplementedError

    def modes(self, model: Any) -> list[tuple[Any, bool]]:
        return [(m, m.training) for m in model.modules()]

    def set_modes(self, modes: list[tuple[Any, bool]]) -> None:
        for module, training in modes:
            module.training = training

    # ------------------------------------------------------------------ random streams
    def manual_seed(self, seed: int) -> None:
        raise NotImplementedError

    def rng_state(self) -> dict[str, Any]:
        """This engine's random streams (beyond NumPy's and Python's) as arrays and numbers."""
        raise NotImplementedError

    def set_rng_state(self, state: Mapping[str, Any]) -> None:
        raise NotImplementedError

    # ------------------------------------------------------------------ building blocks by name
    def optimizers(self) -> dict[str, type]:
        """Solver classes by lower-case name (``"adam"``, ``"sgd"``, ...)."""
        raise NotImplementedError

    def loss(self, class_name: str) -> Callable:
        """A new loss module of this engine by its class name (``"CrossEntropyLoss"``)."""
        raise NotImplementedError

    # ------------------------------------------------------------------ devices and data
    def to_device(self, model: Any) -> Any:
        """Move the model to :attr:`device`; returns the model."""
        return model

    def make_loader(self, data: Any, batch_size: int, shuffle: bool, seed: int | None, dtype: Any,
                    what: str, shard: tuple[int, int] | None = None) -> Any | None:
        """A loader of this engine for ``data`` (arrays, tensors, its own Dataset/DataLoader), or None to
        let the training layer use gradwise's DataLoader.  ``shard=(rank, world)`` for data-parallel runs."""
        return None

    def describe(self, obj: Any) -> str:
        cls = type(obj)
        return f"{cls.__module__}.{cls.__qualname__}"

    def iter_modules(self, model: Any) -> Iterator[tuple[str, Any]]:
        return iter(model.named_modules())
