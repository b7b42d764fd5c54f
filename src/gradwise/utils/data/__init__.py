"""`gradwise.utils.data`: `torch.utils.data`'s names, re-exported from :mod:`gradwise.data`.

``from torch.utils.data import DataLoader, TensorDataset`` becomes
``from gradwise.utils.data import DataLoader, TensorDataset``; the submodules PyTorch code
imports from (``dataset``, ``sampler``, ``dataloader``) are gradwise's own modules.
"""
import sys

from gradwise.data import dataset, loader as dataloader, sampler
from gradwise.data.dataset import ConcatDataset, Dataset, IterableDataset, Subset, TensorDataset, random_split
from gradwise.data.loader import DataLoader, default_collate, default_convert
from gradwise.data.sampler import (BatchSampler, RandomSampler, Sampler, SequentialSampler, SubsetRandomSampler,
                                   WeightedRandomSampler)
from gradwise.data.worker import WorkerInfo, get_worker_info

for _name, _module in (("dataset", dataset), ("sampler", sampler), ("dataloader", dataloader)):
    sys.modules.setdefault(f"{__name__}.{_name}", _module)  # `from gradwise.utils.data.dataset import ...`

__all__ = ["Dataset", "IterableDataset", "TensorDataset", "ConcatDataset", "Subset", "random_split", "DataLoader",
           "WorkerInfo", "get_worker_info", "default_collate", "default_convert", "Sampler", "SequentialSampler",
           "RandomSampler", "SubsetRandomSampler", "WeightedRandomSampler", "BatchSampler"]
