"""The embedded 8x8 handwritten digits (1,797 images, 10 classes): data that is always there.

The file ``digits.npz`` ships inside the package (licence in ``DIGITS_LICENSE.txt``), so
examples, tests and the demo run without any file from the user and without a network.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from gradwise.data.dataset import ArrayDataset, train_val_split

__all__ = ["load_digits", "Digits"]

_DIGITS_FILE = Path(__file__).with_name("digits.npz")


def load_digits(flatten: bool = False, normalize: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """All 1,797 digits as ``(images, labels)``.

    ``images`` is float32 of shape (N, 1, 8, 8) - one grey channel, ready for a CNN - or
    (N, 64) with ``flatten=True`` for an MLP; pixel values are the original 0..16, or
    0..1 with ``normalize=True`` (a fixed rescaling; the data-dependent zero-centring
    belongs to :class:`gradwise.data.preprocessing.Standardize`, fitted on training data
    only).  ``labels`` is int64 in 0..9.
    """
    with np.load(_DIGITS_FILE) as f:
        images, labels = f["images"].astype(np.float32), f["labels"].astype(np.int64)
    if normalize:
        images /= 16.0
    return (images.reshape(len(images), -1) if flatten else images[:, None]), labels


class Digits(ArrayDataset):
    """The embedded digits as a dataset, split once into a training and a test part.

    The split is stratified (each digit keeps its share in both parts) and fixed by
    ``seed``, so ``Digits(train=True)`` and ``Digits(train=False)`` with the same
    ``test_fraction`` and ``seed`` are complementary.  Samples are
    ``(image float32 (1, 8, 8) or (64,), label int64)``.
    """

    classes = [str(d) for d in range(10)]

    def __init__(self, train: bool = True, test_fraction: float = 0.2, seed: int = 0, flatten: bool = False,
                 normalize: bool = False, transform: Callable | None = None,
                 target_transform: Callable | None = None) -> None:
        images, labels = load_digits(flatten=flatten, normalize=normalize)
        train_idx, test_idx = train_val_split(np.arange(len(labels)), val_fraction=test_fraction,
                                              stratify=labels, seed=seed)
        keep = train_idx if train else test_idx
        self.train = train
        super().__init__(images[keep], labels[keep], transform=transform, target_transform=target_transform)
