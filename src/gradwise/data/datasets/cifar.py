"""CIFAR-10 and CIFAR-100 from the "python version" archives the user has unpacked.

The python version of CIFAR (https://www.cs.toronto.edu/~kriz/cifar.html) *is* a set of
pickled dicts - ``b"data"``: uint8 (N, 3072) rows of 1024 red, 1024 green, 1024 blue
values; ``b"labels"`` (CIFAR-10) or ``b"fine_labels"`` (CIFAR-100) - written by Python 2,
hence ``pickle.load(..., encoding="bytes")``.  Unpickling can run code, so these readers
only ever open the files the user placed under ``root`` themselves; nothing is
downloaded.
"""
from __future__ import annotations

import os
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from gradwise.data.dataset import ArrayDataset
from gradwise.data.datasets._files import DatasetFormatError, find_file

__all__ = ["CIFAR10", "CIFAR100", "read_cifar_batch"]


def _unpickle(path: Path) -> dict:
    try:
        with open(path, "rb") as f:
            batch = pickle.load(f, encoding="bytes")
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, ImportError,
            IndexError, KeyError) as exc:
        raise DatasetFormatError(f"{path}: not a CIFAR python batch (cannot unpickle: {exc})") from exc
    if not isinstance(batch, dict):
        raise DatasetFormatError(f"{path}: not a CIFAR python batch (holds a {type(batch).__name__}, not a dict)")
    return batch


def read_cifar_batch(path: str | os.PathLike, label_key: bytes = b"labels") -> tuple[np.ndarray, np.ndarray]:
    """One batch file as ``(images uint8 (N, 3, 32, 32), labels int64 (N,))``."""
    path = Path(path)
    batch = _unpickle(path)
    missing = [k for k in (b"data", label_key) if k not in batch]
    if missing:
        raise DatasetFormatError(f"{path}: CIFAR batch lacks the key(s) {missing}; it has {sorted(batch)}")
    data, labels = np.asarray(batch[b"data"]), np.asarray(batch[label_key], dtype=np.int64)
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or len(data) != len(labels):
        raise DatasetFormatError(f"{path}: b'data' should be uint8 of shape (N, 3072) with one label per row, got "
                                 f"{data.dtype} {data.shape} and {len(labels)} labels")
    return data.reshape(-1, 3, 32, 32), labels


class CIFAR10(ArrayDataset):
    """CIFAR-10 (60,000 32x32 colour images, 10 classes) from the user's ``cifar-10-batches-py`` folder.

    ``root`` is the folder that contains ``cifar-10-batches-py`` (torchvision's layout) or
    that folder itself.  ``train=True`` reads ``data_batch_1`` .. ``data_batch_5``,
    ``train=False`` reads ``test_batch``; class names come from ``batches.meta`` when it is
    there.  Samples are ``(image float32 (3, 32, 32) in [0, 1], label int64)``.  Only the
    user's own files are read (they are pickles, see the module docstring); ``download``
    is accepted for torchvision code, and a missing file raises an error saying where to
    put it.
    """

    base_folder = "cifar-10-batches-py"
    train_files = [f"data_batch_{i}" for i in range(1, 6)]
    test_files = ["test_batch"]
    meta_file, label_key, names_key = "batches.meta", b"labels", b"label_names"
    classes = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]

    def __init__(self, root: str | os.PathLike, train: bool = True, transform: Callable | None = None,
                 target_transform: Callable | None = None, download: bool = False) -> None:
        self.root, self.train = Path(root), train
        folders = [self.root / self.base_folder, self.root]
        expected = [*self.train_files, *self.test_files]
        parts = [read_cifar_batch(find_file(type(self).__name__, [name], folders, expected), self.label_key)
                 for name in (self.train_files if train else self.test_files)]
        images = np.concatenate([p[0] for p in parts]).astype(np.float32) / np.float32(255)
        labels = np.concatenate([p[1] for p in parts])
        self.classes = (self._class_names(folders) or list(type(self).classes)
                        or [str(i) for i in range(int(labels.max(initial=-1)) + 1)])
        super().__init__(images, labels, transform=transform, target_transform=target_transform)

    def _class_names(self, folders: list[Path]) -> list[str] | None:
        for folder in folders:
            path = folder / self.meta_file
            if path.is_file():
                meta: dict[Any, Any] = _unpickle(path)
                names = meta.get(self.names_key)
                return [n.decode() if isinstance(n, bytes) else str(n) for n in names] if names else None
        return None


class CIFAR100(CIFAR10):
    """CIFAR-100 (100 fine classes) from the user's ``cifar-100-python`` folder (files ``train``, ``test``).

    See :class:`CIFAR10`; labels are the fine labels and class names come from ``meta``.
    """

    base_folder = "cifar-100-python"
    train_files, test_files = ["train"], ["test"]
    meta_file, label_key, names_key = "meta", b"fine_labels", b"fine_label_names"
    classes: list[str] = []
