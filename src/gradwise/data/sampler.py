"""Samplers: which dataset indices an epoch visits, in which order, grouped into batches.

As in PyTorch (``torch.utils.data.sampler``), a sampler is an iterable of indices and a
:class:`BatchSampler` groups them into lists of ``batch_size``.  gradwise's samplers draw
the whole epoch's order at once as a NumPy array (``_epoch_indices``) when ``iter()`` is
called, for two reasons:

* the loader's fast path cuts that array into index arrays and gathers each batch with
  one fancy-indexing operation, never touching Python ints;
* the random numbers are consumed in the caller's thread at ``iter()`` time, so a loader
  that prefetches batches in a background thread sees exactly the same order as one
  that does not.

Randomness comes from a :class:`gradwise.Generator` when given (reproducible, and a new
order each epoch because the generator's stream advances), else from gradwise's global
generator, which :func:`gradwise.manual_seed` seeds.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np

from gradwise.engines.native import to_numpy
from gradwise.tensor.random import Generator, _rng
from gradwise.tensor.tensor import Tensor

__all__ = ["Sampler", "SequentialSampler", "RandomSampler", "SubsetRandomSampler", "WeightedRandomSampler",
           "BatchSampler"]


class Sampler:
    """Base class: an iterable over dataset indices.

    Subclasses implement ``_epoch_indices()`` (one epoch's indices as an int64 array) or
    override ``__iter__`` directly (then the loader falls back to batching ints).
    """

    def __init__(self, data_source: Any = None) -> None:
        pass

    def _epoch_indices(self) -> np.ndarray:
        raise NotImplementedError

    def __iter__(self) -> Iterator[int]:
        return iter(self._epoch_indices().tolist())

    def __len__(self) -> int:
        raise TypeError(f"{type(self).__name__} has no length")


class SequentialSampler(Sampler):
    """0, 1, ..., len(data_source) - 1, every epoch."""

    def __init__(self, data_source: Any) -> None:
        self.data_source = data_source

    def _epoch_indices(self) -> np.ndarray:
        return np.arange(len(self.data_source), dtype=np.int64)

    def __len__(self) -> int:
        return len(self.data_source)


class RandomSampler(Sampler):
    """A random order of the dataset (a new one each epoch).

    ``replacement=True`` draws ``num_samples`` indices with replacement; otherwise
    ``num_samples`` (default ``len(data_source)``) indices come from as many full
    permutations as needed, as torch.
    """

    def __init__(self, data_source: Any, replacement: bool = False, num_samples: int | None = None,
                 generator: Generator | None = None) -> None:
        self.data_source = data_source
        self.replacement = replacement
        self._num_samples = num_samples
        self.generator = generator
        if not isinstance(self.num_samples, int) or self.num_samples <= 0:
            raise ValueError(f"num_samples should be a positive integer value, but got num_samples={self.num_samples}")

    @property
    def num_samples(self) -> int:
        return len(self.data_source) if self._num_samples is None else self._num_samples

    def _epoch_indices(self) -> np.ndarray:
        n, rng = len(self.data_source), _rng(self.generator)
        if self.replacement:
            return rng.integers(0, n, size=self.num_samples, dtype=np.int64)
        rounds = -(-self.num_samples // n)
        return np.concatenate([rng.permutation(n) for _ in range(rounds)])[:self.num_samples].astype(np.int64)

    def __len__(self) -> int:
        return self.num_samples


class SubsetRandomSampler(Sampler):
    """The given ``indices`` in a random order (a new one each epoch), without replacement."""

    def __init__(self, indices: Sequence[int], generator: Generator | None = None) -> None:
        self.indices = indices
        self.generator = generator

    def _epoch_indices(self) -> np.ndarray:
        return np.asarray(self.indices, dtype=np.int64)[_rng(self.generator).permutation(len(self.indices))]

    def __len__(self) -> int:
        return len(self.indices)


class WeightedRandomSampler(Sampler):
    """``num_samples`` indices drawn with probability proportional to ``weights``.

    The usual use is balancing classes: weight each sample by ``1 / count(its class)``.
    Without replacement each index appears at most once (then ``num_samples`` must not
    exceed the number of non-zero weights).
    """

    def __init__(self, weights: Sequence[float] | np.ndarray | Tensor, num_samples: int, replacement: bool = True,
                 generator: Generator | None = None) -> None:
        weights = np.asarray(to_numpy(weights), dtype=np.float64)
        if weights.ndim != 1:
            raise ValueError(f"weights should be a 1-d sequence but given weights have shape {weights.shape}")
        if (weights < 0).any() or not np.isfinite(weights).all() or weights.sum() <= 0:
            raise ValueError("weights must be finite, non-negative and not all zero")
        if not isinstance(num_samples, int) or isinstance(num_samples, bool) or num_samples <= 0:
            raise ValueError(f"num_samples should be a positive integer value, but got num_samples={num_samples}")
        if not replacement and num_samples > np.count_nonzero(weights):
            raise ValueError("without replacement num_samples cannot exceed the number of non-zero weights")
        self.weights, self.num_samples, self.replacement, self.generator = weights, num_samples, replacement, generator

    def _epoch_indices(self) -> np.ndarray:
        p = self.weights / self.weights.sum()
        return _rng(self.generator).choice(len(p), size=self.num_samples, replace=self.replacement, p=p).astype(np.int64)

    def __len__(self) -> int:
        return self.num_samples


class BatchSampler(Sampler):
    """Group ``sampler``'s indices into lists of ``batch_size`` (the last one shorter unless ``drop_last``)."""

    def __init__(self, sampler: Sampler | Iterable[int], batch_size: int, drop_last: bool) -> None:
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size <= 0:
            raise ValueError(f"batch_size should be a positive integer value, but got batch_size={batch_size}")
        if not isinstance(drop_last, bool):
            raise ValueError(f"drop_last should be a boolean value, but got drop_last={drop_last}")
        self.sampler, self.batch_size, self.drop_last = sampler, batch_size, drop_last

    def _batches(self) -> Iterator[np.ndarray]:
        """One epoch's batches as int64 index arrays; the epoch's order is drawn right now."""
        kind = type(self.sampler)
        if (isinstance(self.sampler, Sampler) and kind._epoch_indices is not Sampler._epoch_indices
                and kind.__iter__ is Sampler.__iter__):  # a subclass overriding __iter__ decides itself
            order = self.sampler._epoch_indices()
            end = len(order) - len(order) % self.batch_size if self.drop_last else len(order)
            return iter([order[i:i + self.batch_size] for i in range(0, end, self.batch_size)])
        return self._batches_from_iterable(iter(self.sampler))

    def _batches_from_iterable(self, indices: Iterator[int]) -> Iterator[np.ndarray]:
        batch: list[int] = []
        for i in indices:
            batch.append(int(i))
            if len(batch) == self.batch_size:
                yield np.asarray(batch, dtype=np.int64)
                batch = []
        if batch and not self.drop_last:
            yield np.asarray(batch, dtype=np.int64)

    def __iter__(self) -> Iterator[list[int]]:
        return (b.tolist() for b in self._batches())

    def __len__(self) -> int:
        n = len(self.sampler)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)
