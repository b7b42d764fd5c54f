"""gradwise.data: datasets, samplers and the DataLoader (PyTorch's ``torch.utils.data`` names).

* :mod:`gradwise.data.dataset` - ``Dataset``, ``TensorDataset``, ``ConcatDataset``, ``Subset``,
  ``random_split`` and ``train_val_split`` (stratified by class on request).
* :mod:`gradwise.data.sampler` - the samplers that decide the order of an epoch.
* :mod:`gradwise.data.loader` - ``DataLoader``: batching, shuffling, per-sample transforms,
  background prefetching, and a fast path for array-backed datasets.
* :mod:`gradwise.data.datasets` - the embedded 8x8 digits and readers for the files a user
  has (MNIST, CIFAR-10, image/audio folders, text, CSV/NPZ); nothing is ever downloaded.
* :mod:`gradwise.data.preprocessing` - standardization, PCA, whitening (fit on training data).

``datasets`` and ``preprocessing`` are imported on first use, so ``import gradwise.data``
stays cheap and does not depend on them.
"""
from __future__ import annotations

import importlib
from typing import Any

from gradwise.data.dataset import (ArrayDataset, ConcatDataset, Dataset, IterableDataset, Subset, TensorDataset,
                                   random_split, train_val_split)
from gradwise.data.loader import DataLoader, default_collate, default_convert
from gradwise.data.worker import WorkerInfo, get_worker_info
from gradwise.data.sampler import (BatchSampler, RandomSampler, Sampler, SequentialSampler, SubsetRandomSampler,
                                   WeightedRandomSampler)

__all__ = [
    "Dataset", "IterableDataset", "ArrayDataset", "TensorDataset", "ConcatDataset", "Subset", "random_split",
    "train_val_split", "DataLoader", "WorkerInfo", "get_worker_info", "default_collate", "default_convert", "Sampler",
    "SequentialSampler",
    "RandomSampler", "SubsetRandomSampler", "WeightedRandomSampler", "BatchSampler",
]

_LAZY_SUBMODULES = ("datasets", "preprocessing")


def __getattr__(name: str) -> Any:
    """Import the optional submodules (``datasets``, ``preprocessing``) when first accessed."""
    if name in _LAZY_SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
