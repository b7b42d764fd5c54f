"""`get_worker_info` (``torch.utils.data.get_worker_info``) for gradwise's prefetch thread."""
from __future__ import annotations

import threading
from typing import Any

__all__ = ["WorkerInfo", "get_worker_info"]


class WorkerInfo:
    """What :func:`get_worker_info` returns inside the prefetch thread (PyTorch's fields)."""

    __slots__ = ("id", "num_workers", "seed", "dataset")

    def __init__(self, id: int, num_workers: int, seed: int, dataset: Any) -> None:  # noqa: A002 - torch's name
        self.id, self.num_workers, self.seed, self.dataset = id, num_workers, seed, dataset

    def __repr__(self) -> str:
        return f"WorkerInfo(id={self.id}, num_workers={self.num_workers}, seed={self.seed}, dataset={self.dataset!r})"


_local = threading.local()


def get_worker_info() -> WorkerInfo | None:
    """None in the caller's thread (as PyTorch without worker processes); inside the DataLoader's
    prefetch thread (``num_workers > 0``: ``worker_init_fn`` and an ``IterableDataset``'s
    ``__iter__`` run there) ``WorkerInfo(id=0, num_workers=1, ...)``. One thread reads every
    sample, so it is one worker: an IterableDataset that shards its stream by
    ``id``/``num_workers`` keeps all of it, exactly once."""
    return getattr(_local, "info", None)


def _set_worker_info(info: WorkerInfo | None) -> None:
    _local.info = info
