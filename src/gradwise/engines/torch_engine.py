"""PyTorch behind the :class:`~gradwise.engines.base.Engine` boundary (imported only for PyTorch objects).

With it, ``fit``, the babysitter, checkpoints, ``lr_find``, ``tune`` and ``transfer`` drive a
``torch.nn.Module`` with a ``torch.optim`` optimizer on the CPU, on CUDA, or data-parallel under
``torchrun``, exactly as they drive a gradwise model.
"""
from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np
import torch

from gradwise.engines.base import ACTIVATION_KINDS, WEIGHTED_KINDS, Engine, activation_kind

__all__ = ["TorchEngine", "TensorBatches", "resolve_device"]

_NUMPY_DTYPE = {torch.bfloat16: np.float32}


def resolve_device(device: Any) -> torch.device:
    """``None``/``"cpu"``/``"cuda"``/``"cuda:N"``/a ``torch.device`` as a ``torch.device`` that exists here."""
    if device is None:
        return torch.device("cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise ValueError(f"device {device!r} is not a device PyTorch knows ({err}); use 'cpu', 'cuda' or 'cuda:N'") \
            from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {device!r}: PyTorch finds no CUDA GPU here (torch.cuda.is_available() is "
                             "False); use device='cpu'")
        count = torch.cuda.device_count()
        if dev.index is not None and dev.index >= count:
            raise ValueError(f"device {device!r}: this machine has {count} CUDA device(s) (cuda:0..cuda:{count - 1})")
    return dev


class TorchEngine(Engine):
    """PyTorch tensors, modules and optimizers, on ``device`` (the CPU by default)."""

    name = "torch"
    display = "PyTorch"

    def __init__(self, device: Any = None) -> None:
        super().__init__(resolve_device(device))

    @property
    def on_accelerator(self) -> bool:
        return self.device.type != "cpu"

    @property
    def sync_every(self) -> int:   # type: ignore[override]
        """On an accelerator, read the step losses back 32 at a time (no per-step host synchronisation)."""
        return 32 if self.on_accelerator else 1

    def read_scalars(self, values: list[Any]) -> list[float]:
        tensors = [v for v in values if isinstance(v, torch.Tensor)]
        if len(tensors) != len(values):
            return super().read_scalars(values)
        return torch.stack([t.detach().reshape(()).to(torch.float64) for t in tensors]).tolist()

    def owns_model(self, obj: Any) -> bool:
        return isinstance(obj, torch.nn.Module)

    def owns_optimizer(self, obj: Any) -> bool:
        return isinstance(obj, torch.optim.Optimizer)

    def is_tensor(self, obj: Any) -> bool:
        return isinstance(obj, torch.Tensor)

    # ------------------------------------------------------------------ arrays
    def to_numpy(self, x: Any) -> np.ndarray:
        if isinstance(x, torch.Tensor):
            x = x.detach()
            if x.dtype in _NUMPY_DTYPE:
                x = x.to(torch.float32)
            return x.cpu().numpy()
        to_numpy = getattr(x, "numpy", None)   # a gradwise Tensor
        if to_numpy is not None and not isinstance(x, np.ndarray):
            return np.asarray(to_numpy())
        return np.asarray(x)

    def as_input(self, x: Any, dtype: Any = None) -> Any:
        if isinstance(x, torch.Tensor):
            t = x
        else:
            if not isinstance(x, np.ndarray):
                numpy = getattr(x, "numpy", None)   # a gradwise Tensor
                if numpy is None or isinstance(x, (str, bytes)):
                    return x
                x = numpy()
            if x.dtype.kind not in "biuf":
                return x
            t = torch.from_numpy(np.ascontiguousarray(x))
        if dtype is not None and t.is_floating_point() and t.dtype != dtype:
            t = t.to(dtype)
        if t.device != self.device:
            t = t.to(self.device, non_blocking=True)
        return t

    def torch_dtype(self, model: Any) -> torch.dtype:
        for p in model.parameters():
            if p.is_floating_point():
                return p.dtype
        return torch.float32

    def float_dtype(self, model: Any) -> np.dtype:
        return np.dtype(str(self.torch_dtype(model)).replace("torch.", "").replace("bfloat16", "float32"))

    def no_grad(self) -> contextlib.AbstractContextManager:
        return torch.no_grad()

    # ------------------------------------------------------------------ modules
    def following_activations(self, model: Any, example_input: Any = None) -> list[tuple[str, Any, str, float | None]]:
        """For every Linear/Conv layer, the first activation module that runs after it (before the next
        weighted layer): in the order the modules ran on ``example_input`` when given, else in
        registration order.  Functional activations (``F.relu`` in ``forward``) are not seen: "none"."""
        leaves = [(name, m) for name, m in model.named_modules() if self.is_leaf(m)]
        order = leaves
        if example_input is not None:
            ran: list[tuple[str, Any]] = []
            handles = [m.register_forward_hook(lambda mod, args, out, name=name: ran.append((name, mod)))
                       for name, m in leaves]
            modes = self.modes(model)
            model.eval()
            try:
                with torch.no_grad():
                    model(self.as_input(example_input, self.torch_dtype(model)))
            finally:
                for h in handles:
                    h.remove()
                self.set_modes(modes)
            seen: set[str] = set()
            order = [(n, m) for n, m in ran if not (n in seen or seen.add(n))] or leaves
        out, current = [], None
        found: dict[str, tuple[str, float | None]] = {}
        for name, module in order:
            if _is_weighted(module):
                current = name
                out.append((name, module))
                continue
            kind = activation_kind(module)
            if kind is not None and current is not None and current not in found:
                found[current] = (_activation_name(module), getattr(module, "negative_slope", None))
        return [(name, layer, *found.get(name, ("none", None))) for name, layer in out]

    # ------------------------------------------------------------------ weights and state
    def snapshot_weights(self, model: Any) -> dict[str, torch.Tensor]:
        return {k: v.detach().clone() for k, v in model.state_dict().items()}

    def load_state_arrays(self, model: Any, arrays: Mapping[str, Any]) -> None:
        model.load_state_dict({k: v if isinstance(v, torch.Tensor) else torch.as_tensor(np.asarray(v))
                               for k, v in arrays.items()})

    # ------------------------------------------------------------------ random streams
    def manual_seed(self, seed: int) -> None:
        torch.manual_seed(seed)   # seeds every CUDA device too

    def rng_state(self) -> dict[str, Any]:
        state: dict[str, Any] = {"torch": torch.get_rng_state().numpy().copy()}
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            state["cuda"] = [s.numpy().copy() for s in torch.cuda.get_rng_state_all()]
        return state

    def set_rng_state(self, state: Mapping[str, Any]) -> None:
        if "torch" in state:
            torch.set_rng_state(torch.from_numpy(np.asarray(state["torch"], dtype=np.uint8).copy()))
        if state.get("cuda") and torch.cuda.is_available():
            saved = [torch.from_numpy(np.asarray(s, dtype=np.uint8).copy()) for s in state["cuda"]]
            if len(saved) == torch.cuda.device_count():
                torch.cuda.set_rng_state_all(saved)

    # ------------------------------------------------------------------ building blocks by name
    def optimizers(self) -> dict[str, type]:
        out = {}
        for name in dir(torch.optim):
            cls = getattr(torch.optim, name)
            if isinstance(cls, type) and issubclass(cls, torch.optim.Optimizer) and cls is not torch.optim.Optimizer:
                out[name.lower()] = cls
        return out

    def loss(self, class_name: str) -> Callable:
        return getattr(torch.nn, class_name)()

    # ------------------------------------------------------------------ devices and data
    def to_device(self, model: Any) -> Any:
        return model.to(self.device)

    def make_loader(self, data: Any, batch_size: int, shuffle: bool, seed: int | None, dtype: Any,
                    what: str, shard: tuple[int, int] | None = None) -> Any | None:
        from torch.utils.data import DataLoader, Dataset, DistributedSampler

        if isinstance(data, DataLoader):
            return data
        if isinstance(data, Dataset):
            if shard is not None:
                sampler = DistributedSampler(data, num_replicas=shard[1], rank=shard[0], shuffle=shuffle,
                                             seed=seed or 0, drop_last=False)
                return DataLoader(data, batch_size=batch_size, sampler=sampler)
            generator = torch.Generator().manual_seed(seed) if seed is not None else None
            return DataLoader(data, batch_size=batch_size, shuffle=shuffle, generator=generator)
        if isinstance(data, (tuple, list)) and len(data) >= 2 and all(_is_array(a) for a in data):
            torch_dtype = dtype if isinstance(dtype, torch.dtype) or dtype is None else \
                torch.from_numpy(np.empty(0, dtype=dtype)).dtype
            tensors = [self.as_input(a, torch_dtype) for a in data]
            return TensorBatches(tensors, batch_size, shuffle=shuffle, seed=seed, shard=shard,
                                 pad=shuffle, device=self.device)
        return None


def _is_array(a: Any) -> bool:
    return isinstance(a, (np.ndarray, torch.Tensor)) or hasattr(a, "numpy") and hasattr(a, "shape")


def _is_weighted(module: Any) -> bool:
    return any(cls.__name__ in WEIGHTED_KINDS and cls.__name__ != "Embedding" for cls in type(module).__mro__)


def _activation_name(module: Any) -> str:
    """The known activation class a module is (its own class, or the nearest base the checks know)."""
    return next((cls.__name__ for cls in type(module).__mro__ if cls.__name__ in ACTIVATION_KINDS),
                type(module).__name__)


class TensorBatches:
    """Mini-batches of in-memory tensors, indexed a whole batch at a time on the device.

    What a careful hand-written PyTorch loop does (no per-sample ``__getitem__`` and collate): each
    epoch draws ``torch.randperm(n)`` from a generator seeded with ``seed + epoch`` - the
    ``DistributedSampler`` rule, so that the order of every epoch is known without saving any state
    and a resumed run sees the same batches.  With ``shard=(rank, world)`` each process takes every
    ``world``-th index from ``rank`` (training shards are padded to equal length, as
    ``DistributedSampler`` does; validation shards are not, so every sample counts once).

    Args:
        tensors: the fields (inputs..., target), equal first dimension, already on ``device``.
        seed: the base seed (None: drawn from torch's global generator now).
    """

    def __init__(self, tensors: list[torch.Tensor], batch_size: int, *, shuffle: bool, seed: int | None = None,
                 shard: tuple[int, int] | None = None, pad: bool = True, device: Any = None) -> None:
        n = {int(t.shape[0]) for t in tensors}
        if len(n) != 1:
            raise ValueError(f"fit: the data arrays have different lengths {sorted(n)}; each field needs one row "
                             "per sample")
        self.tensors, self.n = tensors, n.pop()
        self.batch_size, self.shuffle, self.shard, self.pad = int(batch_size), shuffle, shard, pad
        self.device = device
        self.seed = int(torch.randint(0, 2**62, (1,)).item()) if seed is None else int(seed)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """The epoch (from 0) whose order the next iteration gives (``DistributedSampler.set_epoch``)."""
        self.epoch = int(epoch)

    def indices(self) -> torch.Tensor:
        if self.shuffle:
            order = torch.randperm(self.n, generator=torch.Generator().manual_seed(self.seed + self.epoch))
        else:
            order = torch.arange(self.n)
        if self.shard is not None:
            rank, world = self.shard
            if self.pad and self.n % world:
                extra = world - self.n % world
                order = torch.cat([order, order[:extra]])
            order = order[rank::world]
        return order

    def __len__(self) -> int:
        if self.shard is None:
            count = self.n
        else:
            rank, world = self.shard
            count = -(-self.n // world) if self.pad else len(range(rank, self.n, world))
        return -(-count // self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, ...]]:
        order = self.indices()
        if self.device is not None and torch.device(self.device).type != "cpu":
            order = order.to(self.device, non_blocking=True)
        for start in range(0, len(order), self.batch_size):
            idx = order[start:start + self.batch_size]
            yield tuple(t[idx] for t in self.tensors)

    @property
    def dataset_size(self) -> int:
        return self.n

    def state_dict(self) -> dict[str, Any]:
        return {"seed": self.seed}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.seed = int(state["seed"])
