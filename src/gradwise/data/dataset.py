"""Datasets: indexable collections of samples, and the ways to combine and split them.

The names and semantics are PyTorch's (``torch.utils.data``): a :class:`Dataset` has
``__getitem__(i)`` and ``__len__``; ``a + b`` concatenates; :class:`Subset` views part of
a dataset; :func:`random_split` cuts a dataset into random non-overlapping pieces.

gradwise adds two things PyTorch leaves to other libraries:

* :class:`ArrayDataset`, a dataset whose samples are rows of equal-length NumPy arrays.
  The :class:`~gradwise.data.DataLoader` recognises it (also behind a :class:`Subset`)
  and gathers a whole batch with one fancy-indexing operation per array instead of
  fetching and stacking samples one by one - for small samples (an MLP on MNIST) the
  per-sample Python overhead would otherwise cost more than the network's arithmetic.
  :class:`TensorDataset` and the file readers of :mod:`gradwise.data.datasets` are
  array datasets.
* :func:`train_val_split`, scikit-learn's ``train_test_split`` for a dataset or arrays,
  able to *stratify* - keep every class's share the same in both parts - so a small
  validation set is not accidentally missing a class.
"""
from __future__ import annotations

import bisect
import math
import warnings
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

import numpy as np

from gradwise.engines.native import as_tensor, to_numpy
from gradwise.tensor.random import Generator, _rng
from gradwise.tensor.tensor import Tensor

__all__ = ["Dataset", "IterableDataset", "ArrayDataset", "TensorDataset", "ConcatDataset", "Subset",
           "random_split", "train_val_split"]

T_co = TypeVar("T_co", covariant=True)


class Dataset(Generic[T_co]):
    """A map-style dataset: subclasses implement ``__getitem__(index)`` and ``__len__()``.

    ``dataset_a + dataset_b`` is a :class:`ConcatDataset` of the two, as in PyTorch.
    """

    def __getitem__(self, index: int) -> T_co:
        raise NotImplementedError(f"{type(self).__name__} must implement __getitem__")

    def __add__(self, other: "Dataset") -> "ConcatDataset":
        return ConcatDataset([self, other])


class IterableDataset(Dataset[T_co]):
    """A dataset that is a stream (``__iter__``) rather than indexable; the loader batches it in order."""

    def __iter__(self):
        raise NotImplementedError(f"{type(self).__name__} must implement __iter__")

    def __add__(self, other):  # pragma: no cover - mirrors torch, which has ChainDataset for this
        raise TypeError("IterableDataset does not support +; iterate them one after another instead")


_as_array = to_numpy   # the NumPy array behind a gradwise Tensor (shared memory), or ``np.asarray(data)``


class ArrayDataset(Dataset[tuple]):
    """Samples are rows of NumPy arrays that share their first dimension.

    ``dataset[i]`` is ``(arrays[0][i], arrays[1][i], ...)`` with ``transform`` applied to
    the first field (the input) and ``target_transform`` to the last (the target), as the
    torchvision datasets do.  Without those transforms the loader's fast path gathers a
    batch as ``arrays[k][batch_indices]`` directly.

    Subclasses (the file readers) fill ``self.arrays`` and may keep extra metadata such as
    ``classes``.  ``data`` and ``targets`` are the first and last array (torchvision's names).
    """

    def __init__(self, *arrays: Any, transform: Callable | None = None,
                 target_transform: Callable | None = None) -> None:
        self.arrays: tuple[np.ndarray, ...] = _check_same_length([_as_array(a) for a in arrays], type(self).__name__)
        self.transform = transform
        self.target_transform = target_transform

    @property
    def data(self) -> np.ndarray:
        return self.arrays[0]

    @property
    def targets(self) -> np.ndarray:
        return self.arrays[-1]

    def __len__(self) -> int:
        return len(self.arrays[0])

    def __getitem__(self, index: int) -> tuple:
        sample = [self._field(a[index]) for a in self.arrays]
        if self.transform is not None:
            sample[0] = self.transform(sample[0])
        if self.target_transform is not None and len(sample) > 1:
            sample[-1] = self.target_transform(sample[-1])
        return tuple(sample)

    def _field(self, value: Any) -> Any:
        """How one field of one sample is returned (a NumPy value here; Tensors in TensorDataset)."""
        return value

    @property
    def _plain(self) -> bool:
        """True when samples are exactly the array rows (so a batch may be gathered at once)."""
        return self.transform is None and self.target_transform is None

    def __repr__(self) -> str:
        shapes = ", ".join(f"{a.dtype}{list(a.shape)}" for a in self.arrays)
        return f"{type(self).__name__}({len(self)} samples: {shapes})"


def _check_same_length(arrays: list[np.ndarray], what: str) -> tuple[np.ndarray, ...]:
    if not arrays:
        raise ValueError(f"{what} needs at least one array or tensor")
    if any(a.ndim == 0 for a in arrays):
        raise ValueError(f"{what}: every array or tensor needs a first (sample) dimension, got a 0-d value")
    lengths = [len(a) for a in arrays]
    if len(set(lengths)) > 1:
        raise ValueError(f"{what}: size mismatch between tensors - every tensor must have the same first "
                         f"dimension (number of samples), got {lengths}")
    return tuple(arrays)


class TensorDataset(ArrayDataset):
    """Samples are rows of tensors (or NumPy arrays) with the same first dimension, as torch's.

    ``dataset[i]`` is the tuple ``(tensors[0][i], tensors[1][i], ...)`` of gradwise Tensors
    (views sharing memory with the inputs; NumPy inputs are not copied either).
    """

    def __init__(self, *tensors: Tensor | np.ndarray) -> None:
        super().__init__(*tensors)

    @property
    def tensors(self) -> tuple[Tensor, ...]:
        return tuple(as_tensor(a) for a in self.arrays)

    def _field(self, value: Any) -> Any:
        return as_tensor(np.asarray(value))


class ConcatDataset(Dataset):
    """The samples of several datasets one after the other (``a + b``)."""

    def __init__(self, datasets: Sequence[Dataset]) -> None:
        self.datasets = list(datasets)
        if not self.datasets:
            raise ValueError("ConcatDataset: datasets should not be an empty iterable")
        for d in self.datasets:
            if isinstance(d, IterableDataset):
                raise TypeError("ConcatDataset does not support IterableDataset")
        self.cumulative_sizes = list(np.cumsum([len(d) for d in self.datasets]).tolist())

    def __len__(self) -> int:
        return self.cumulative_sizes[-1]

    def __getitem__(self, index: int) -> Any:
        if index < 0:
            if -index > len(self):
                raise IndexError(f"index {index} is out of range for a dataset of length {len(self)}")
            index += len(self)
        which = bisect.bisect_right(self.cumulative_sizes, index)
        if which == len(self.datasets):
            raise IndexError(f"index {index} is out of range for a dataset of length {len(self)}")
        start = self.cumulative_sizes[which - 1] if which > 0 else 0
        return self.datasets[which][index - start]


class Subset(Dataset):
    """The samples of ``dataset`` at ``indices``, in that order (a view, nothing is copied)."""

    def __init__(self, dataset: Dataset, indices: Sequence[int]) -> None:
        self.dataset = dataset
        self.indices = indices

    def __getitem__(self, index: int | list) -> Any:
        if isinstance(index, list):
            return self.dataset[[self.indices[i] for i in index]]
        return self.dataset[int(self.indices[index])]

    def __len__(self) -> int:
        return len(self.indices)


def array_view(dataset: Dataset) -> tuple[tuple[np.ndarray, ...], np.ndarray | None] | None:
    """If ``dataset`` is array-backed, ``(arrays, index_map)``, else None.

    Sample ``i`` of ``dataset`` is then the rows ``a[index_map[i]]`` (``a[i]`` when the map
    is None) of every array, which lets the loader gather a batch in one indexing operation.
    Subsets of array datasets are array-backed too (their indices compose).
    """
    if isinstance(dataset, ArrayDataset):
        return (dataset.arrays, None) if dataset._plain else None
    if isinstance(dataset, Subset):
        inner = array_view(dataset.dataset)
        if inner is None:
            return None
        arrays, index_map = inner
        indices = np.asarray(dataset.indices, dtype=np.int64)
        return arrays, (indices if index_map is None else index_map[indices])
    return None


# ----------------------------------------------------------------------------- splitting
def _split_lengths(lengths: Sequence[float], n: int) -> list[int]:
    """Counts summing to ``n``, or fractions summing to 1 turned into counts as torch does."""
    if math.isclose(sum(lengths), 1) and sum(lengths) <= 1 and all(0 <= f <= 1 for f in lengths):
        counts = [int(math.floor(n * f)) for f in lengths]
        for i in range(n - sum(counts)):  # torch hands the remainder out round-robin
            counts[i % len(counts)] += 1
        for i, c in enumerate(counts):
            if c == 0:
                warnings.warn(f"Length of split at index {i} is 0. This might result in an empty dataset.",
                              stacklevel=3)
        return counts
    counts = [int(c) for c in lengths]
    if any(c != length or c < 0 for c, length in zip(counts, lengths)):
        raise ValueError(f"random_split: lengths must be non-negative counts or fractions summing to 1, got "
                         f"{list(lengths)}")
    if sum(counts) != n:
        raise ValueError(f"Sum of input lengths ({sum(counts)}) does not equal the length of the input dataset ({n})!")
    return counts


def random_split(dataset: Dataset, lengths: Sequence[float], generator: Generator | None = None) -> list[Subset]:
    """Split ``dataset`` into non-overlapping random :class:`Subset` s of the given lengths.

    ``lengths`` are counts summing to ``len(dataset)``, or fractions summing to 1 (floors,
    with the remainder given round-robin to the first splits, as torch).  The permutation
    comes from ``generator`` (or gradwise's global generator, seeded by ``manual_seed``).
    """
    counts = _split_lengths(lengths, len(dataset))
    order = _rng(generator).permutation(sum(counts))
    bounds = np.cumsum([0] + counts)
    return [Subset(dataset, order[a:b].tolist()) for a, b in zip(bounds[:-1], bounds[1:])]


def _stratified_val_indices(labels: np.ndarray, n_val: int, rng: np.random.Generator) -> np.ndarray:
    """``n_val`` indices chosen so every class keeps (as nearly as counts allow) its share.

    Each class gets ``floor(n_c * n_val / n)`` places; the places left over go to the
    classes with the largest fractional remainders (ties broken at random), so the total is
    exactly ``n_val`` and no class is off by more than one from its exact share.
    """
    classes, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    exact = counts * n_val / len(labels)
    take = np.floor(exact).astype(np.int64)
    leftover = n_val - int(take.sum())
    if leftover:
        order = np.lexsort((rng.random(len(classes)), -(exact - take)))
        take[order[:leftover]] += 1
    chosen = [rng.permutation(np.flatnonzero(inverse == c))[:k] for c, k in enumerate(take)]
    return np.concatenate(chosen) if chosen else np.zeros(0, np.int64)


def _labels_of(dataset: Dataset) -> np.ndarray:
    """A dataset's class labels: its ``targets`` attribute, else the last field of each sample."""
    targets = getattr(dataset, "targets", None)
    if targets is not None:
        return _as_array(targets)
    return np.array([_as_array(dataset[i][-1]).item() for i in range(len(dataset))])


def train_val_split(dataset_or_arrays: Dataset | np.ndarray | Tensor | Sequence[np.ndarray | Tensor],
                    val_fraction: float = 0.2, stratify: None | bool | np.ndarray | Tensor | Sequence = None,
                    seed: int | None = None) -> tuple[Any, Any]:
    """Split into a training part and a validation part of ``round(val_fraction * n)`` samples.

    * A :class:`Dataset` gives ``(train_subset, val_subset)``.
    * A tuple/list of arrays or tensors ``(X, y, ...)`` gives ``((X_train, y_train, ...),
      (X_val, y_val, ...))`` and a single array gives ``(train, val)``, of the same kind as
      the inputs (NumPy arrays or gradwise Tensors).

    ``stratify`` keeps each class's proportion the same in both parts: pass the labels (one
    per sample), or ``True`` to use the dataset's ``targets`` (or the last array / the last
    field of each sample).  Indices inside each part keep the original order, so the parts
    are reproducible for a given ``seed`` whatever the loader does later.
    """
    if not 0 <= val_fraction <= 1:
        raise ValueError(f"val_fraction must lie in [0, 1], got {val_fraction}")
    is_dataset = isinstance(dataset_or_arrays, Dataset)
    single = isinstance(dataset_or_arrays, (np.ndarray, Tensor))
    if is_dataset:
        n = len(dataset_or_arrays)
    else:
        items = [dataset_or_arrays] if single else list(dataset_or_arrays)
        n = len(_check_same_length([_as_array(a) for a in items], "train_val_split")[0])
    n_val = int(round(val_fraction * n))
    rng = np.random.default_rng(seed)

    if stratify is None or stratify is False:
        val = rng.permutation(n)[:n_val]
    else:
        if stratify is True:
            labels = _labels_of(dataset_or_arrays) if is_dataset else _as_array(items[-1])
        else:
            labels = _as_array(stratify)
        if len(labels) != n:
            raise ValueError(f"train_val_split: stratify has {len(labels)} labels for {n} samples")
        val = _stratified_val_indices(labels.reshape(n, -1)[:, 0] if labels.ndim > 1 else labels, n_val, rng)
    in_val = np.zeros(n, dtype=bool)
    in_val[val] = True
    train_idx, val_idx = np.flatnonzero(~in_val), np.flatnonzero(in_val)

    if is_dataset:
        return Subset(dataset_or_arrays, train_idx.tolist()), Subset(dataset_or_arrays, val_idx.tolist())

    def take(a: Any, idx: np.ndarray) -> Any:
        return as_tensor(to_numpy(a)[idx]) if isinstance(a, Tensor) else np.asarray(a)[idx]

    if single:
        return take(dataset_or_arrays, train_idx), take(dataset_or_arrays, val_idx)
    return tuple(take(a, train_idx) for a in items), tuple(take(a, val_idx) for a in items)
