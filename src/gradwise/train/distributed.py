"""Data-parallel training under ``torchrun``, on ``torch.distributed`` (gloo on the CPU, NCCL on CUDA).

``torchrun --nproc_per_node=N script.py``, where ``script.py`` calls :func:`gradwise.train.fit` on a
PyTorch model, trains with N processes and no change to the script: :func:`from_environment` reads
the variables ``torchrun`` sets (``WORLD_SIZE``, ``RANK``, ``LOCAL_RANK``, ``MASTER_ADDR``, ...),
joins the process group, and the trainer then

* wraps the model in ``DistributedDataParallel`` (gradients averaged over processes in ``backward``),
* gives each process its shard of every epoch (``DistributedSampler``'s rule: a permutation seeded
  with ``seed + epoch``, padded to equal length, every ``world``-th index from ``rank``),
* adds up the loss and metric sums of all processes before taking the epoch's means (validation
  shards are not padded, so the validation numbers are those of one process over all the data),
* stops every process when one asks to stop (early stopping agrees anyway: it reads the same numbers),
* writes the run directory (logs, checkpoints, checks, report) from rank 0 alone.

The babysitter watches rank 0: its activations come from rank 0's shard, its gradients and updates
are the averaged ones every process applies.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from gradwise.train.evaluate import Means

__all__ = ["Distributed", "from_environment", "world_size_from_environment"]


def world_size_from_environment() -> int:
    """``WORLD_SIZE`` as ``torchrun`` sets it (1 outside ``torchrun``)."""
    try:
        return int(os.environ.get("WORLD_SIZE", "1"))
    except ValueError:
        return 1


@dataclass
class Distributed:
    """This process's place in a data-parallel run: ``rank`` of ``world_size``, and the collectives."""

    rank: int
    world_size: int
    local_rank: int
    device: Any
    backend: str

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def shard(self) -> tuple[int, int]:
        return self.rank, self.world_size

    def wrap(self, model: Any) -> Any:
        """The model as ``DistributedDataParallel`` sees it (the module itself stays ``trainer.model``)."""
        from torch.nn.parallel import DistributedDataParallel

        if self.device is not None and getattr(self.device, "type", "cpu") == "cuda":
            return DistributedDataParallel(model, device_ids=[self.device.index])
        return DistributedDataParallel(model)

    def reduce_means(self, means: Means) -> Means:
        """The sums and counts of every process added up (the same keys in the same order on each)."""
        import torch
        import torch.distributed as dist

        keys = sorted(means.sums)
        values = torch.tensor([means.sums[k] for k in keys] + [float(means.count)], dtype=torch.float64,
                              device=self._collective_device())
        dist.all_reduce(values)
        out = Means()
        out.sums = {k: float(v) for k, v in zip(keys, values[:-1].tolist())}
        out.count = int(round(float(values[-1])))
        return out

    def any(self, flag: bool) -> bool:
        """True on every process when ``flag`` is true on any."""
        import torch
        import torch.distributed as dist

        value = torch.tensor([1.0 if flag else 0.0], device=self._collective_device())
        dist.all_reduce(value, op=dist.ReduceOp.MAX)
        return bool(value.item() > 0)

    def broadcast_int(self, value: int) -> int:
        """Rank 0's ``value`` on every process."""
        import torch
        import torch.distributed as dist

        t = torch.tensor([int(value)], dtype=torch.int64, device=self._collective_device())
        dist.broadcast(t, src=0)
        return int(t.item())

    def _collective_device(self) -> Any:
        return self.device if self.backend == "nccl" else "cpu"


def from_environment(device: Any = None) -> Distributed | None:
    """Join the ``torchrun`` process group when ``WORLD_SIZE`` > 1 (None otherwise).

    ``device="cuda"`` becomes ``cuda:LOCAL_RANK`` (one GPU per process, NCCL); the CPU uses gloo.
    A process group the script already initialised is used as it is.
    """
    if world_size_from_environment() <= 1:
        return None
    import torch
    import torch.distributed as dist

    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    dev = torch.device(device) if device is not None else torch.device("cpu")
    if dev.type == "cuda":
        if dev.index is None:
            dev = torch.device("cuda", local_rank)
        torch.cuda.set_device(dev)
    backend = "nccl" if dev.type == "cuda" else "gloo"
    if not dist.is_initialized():
        dist.init_process_group(backend=backend)
    else:
        backend = dist.get_backend()
    return Distributed(rank=dist.get_rank(), world_size=dist.get_world_size(), local_rank=local_rank, device=dev,
                       backend=backend)
