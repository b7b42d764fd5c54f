"""DataLoader: turn a dataset into mini-batches of gradwise Tensors, as ``torch.utils.data.DataLoader``.

An epoch is: draw the order (a :mod:`sampler <gradwise.data.sampler>`), cut it into
batches of indices, fetch the samples of each batch, apply the per-sample ``transform``
(augmentation) and *collate* them into Tensors.  Three things make it fast enough that an
epoch costs little beyond the network's arithmetic:

* **Fast path.**  When the dataset is array-backed (a :class:`~gradwise.data.TensorDataset`,
  a reader of :mod:`gradwise.data.datasets`, or a :class:`~gradwise.data.Subset` of one)
  and the default collate is used, a batch is gathered as ``array[batch_indices]`` -
  one NumPy fancy-indexing call per field - instead of ``batch_size`` Python-level
  ``dataset[i]`` calls and a stack.  The result is identical (``bench/loader.py``
  measures the difference).  A ``transform`` with an ``apply_batch`` method (every
  :mod:`gradwise.augment` transform) keeps the fast path: ``apply_batch`` augments the
  gathered batch, every sample with its own random parameters.  Any other callable is
  applied sample by sample.
* **Prefetch.**  ``prefetch=k`` prepares the next ``k`` batches in a background thread
  while the caller trains on the current one (NumPy releases the GIL in its copying and
  most augmentation maths, so the two overlap).  One producer thread keeps the batches
  in order; the indices are drawn in the caller's thread as without prefetch.  Draws the
  thread makes from gradwise's global generator (an unseeded augmentation, a dataset's
  own randomness, ``worker_init_fn``) come from the thread's own stream, seeded from the
  loader's generator (or the global one) and the epoch's number without drawing from it -
  as PyTorch seeds each worker from a base seed - so a run is reproducible under
  ``manual_seed`` and the training thread's draws (dropout) are those of a run without
  prefetch.  Transforms with their own ``seed=`` give exactly the batches of no prefetch.
  A worker exception is re-raised in the caller with its original traceback; dropping or
  closing the iterator stops the thread.
* ``num_workers=n > 0`` is accepted for PyTorch code and means thread prefetching of
  ``n * prefetch_factor`` batches (gradwise does not start processes: the samples are
  NumPy arrays already, and a single ordered producer keeps results reproducible).
"""
from __future__ import annotations

import collections.abc as cabc
import functools
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np

from gradwise.data.dataset import Dataset, IterableDataset, array_view
from gradwise.data.sampler import BatchSampler, RandomSampler, Sampler, SequentialSampler
from gradwise.data.worker import WorkerInfo, _set_worker_info
from gradwise.engines.native import as_tensor, to_numpy
from gradwise.tensor import random as _random
from gradwise.tensor.random import Generator
from gradwise.tensor.tensor import Tensor

__all__ = ["DataLoader", "default_collate", "default_convert"]


# ----------------------------------------------------------------------------- collate
def _stack(arrays: list[np.ndarray]) -> Tensor:
    shapes = {a.shape for a in arrays}
    if len(shapes) > 1:
        first = arrays[0].shape
        other = next(i for i, a in enumerate(arrays) if a.shape != first)
        raise RuntimeError(f"stack expects each tensor to be equal size, but got {list(first)} at entry 0 and "
                           f"{list(arrays[other].shape)} at entry {other} (samples of different shapes need "
                           "a collate_fn that pads or a transform that resizes)")
    return as_tensor(np.stack(arrays))


def default_collate(batch: list) -> Any:
    """Merge a list of samples into a batch, as ``torch.utils.data.default_collate``.

    Tensors and NumPy arrays are stacked along a new first dimension (their dtype kept);
    Python ints become an int64 Tensor, Python floats float64, bools bool, NumPy scalars
    keep their dtype; strings and bytes stay a list; dicts are collated key by key,
    namedtuples field by field, and tuples/lists field by field into a *list* (as torch).
    The result never carries autograd history.
    """
    elem = batch[0]
    if isinstance(elem, Tensor):
        return _stack([to_numpy(b) for b in batch])
    if isinstance(elem, np.ndarray):
        if elem.dtype.kind in "SUO":
            raise TypeError(f"default_collate: batch must contain numeric arrays; found dtype {elem.dtype}")
        return _stack(batch)
    if isinstance(elem, np.generic):
        return as_tensor(np.array(batch))
    if isinstance(elem, bool):
        return as_tensor(np.array(batch, dtype=np.bool_))
    if isinstance(elem, int):
        return as_tensor(np.array(batch, dtype=np.int64))
    if isinstance(elem, float):
        return as_tensor(np.array(batch, dtype=np.float64))
    if isinstance(elem, (str, bytes)):
        return list(batch)
    if isinstance(elem, cabc.Mapping):
        collated = {key: default_collate([d[key] for d in batch]) for key in elem}
        try:
            return type(elem)(collated)
        except TypeError:
            return collated
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):  # namedtuple
        return type(elem)(*(default_collate(list(field)) for field in zip(*batch)))
    if isinstance(elem, cabc.Sequence):
        if any(len(sample) != len(elem) for sample in batch):
            raise RuntimeError("each element in list of batch should be of equal size")
        return [default_collate(list(field)) for field in zip(*batch)]
    raise TypeError(f"default_collate: batch must contain tensors, numpy arrays, numbers, dicts or lists; "
                    f"found {type(elem).__name__}")


def default_convert(data: Any) -> Any:
    """Turn NumPy arrays (recursively inside dicts/sequences) into Tensors without batching."""
    if isinstance(data, np.ndarray) and data.dtype.kind not in "SUO":
        return as_tensor(data)
    if isinstance(data, cabc.Mapping):
        return type(data)({k: default_convert(v) for k, v in data.items()})
    if isinstance(data, tuple) and hasattr(data, "_fields"):
        return type(data)(*(default_convert(d) for d in data))
    if isinstance(data, (list, tuple)):
        return type(data)(default_convert(d) for d in data)
    return data


# ----------------------------------------------------------------------------- prefetching
_BATCH, _END, _ERROR = "batch", "end", "error"


def _put(q: queue.Queue, item: tuple, stop: threading.Event) -> bool:
    """Put ``item`` unless asked to stop meanwhile; False when stopped."""
    while not stop.is_set():
        try:
            q.put(item, timeout=0.05)
            return True
        except queue.Full:
            continue
    return False


def _produce(source: Iterator, q: queue.Queue, stop: threading.Event, init_fn: Callable | None,
             info: WorkerInfo | None = None) -> None:
    """Body of the prefetch thread: run ``source`` and hand its items over through ``q``."""
    _set_worker_info(info)
    try:
        if init_fn is not None:
            init_fn(0)
        for item in source:
            if not _put(q, (_BATCH, item), stop):
                return
        _put(q, (_END, None), stop)
    except BaseException as exc:  # noqa: BLE001 - every failure is handed to the consumer
        exc.add_note("(raised in the gradwise DataLoader prefetch thread)")
        _put(q, (_ERROR, exc), stop)
    finally:
        close = getattr(source, "close", None)
        if close is not None:
            close()


def _call_drawing_from(stream: np.random.Generator, fn: Callable, *args: Any) -> Any:
    """``fn(*args)`` with this thread's draws from gradwise's global generator taken from ``stream``."""
    with _random.thread_stream(stream):
        return fn(*args)


def _drawing_from(stream: np.random.Generator, items: Iterator[Any]) -> Iterator[Any]:
    """``items``, each produced with this thread's draws from gradwise's global generator taken from ``stream``."""
    while True:
        with _random.thread_stream(stream):
            try:
                item = next(items)
            except StopIteration:
                return
        yield item


class _PrefetchIterator:
    """Iterates ``source`` in a background thread, keeping up to ``depth`` items ready.

    The thread holds no reference to this object, so dropping the iterator (or calling
    :meth:`close`) signals the thread, which stops after the batch it is preparing.
    """

    def __init__(self, source: Iterator, depth: int, init_fn: Callable | None = None, timeout: float = 0,
                 info: WorkerInfo | None = None) -> None:
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._timeout = timeout if timeout > 0 else None
        self._finished = False
        self._thread = threading.Thread(target=_produce, args=(source, self._queue, self._stop, init_fn, info),
                                        name="gradwise-prefetch", daemon=True)
        self._thread.start()

    def __iter__(self) -> "_PrefetchIterator":
        return self

    def __next__(self) -> Any:
        if self._finished:
            raise StopIteration
        try:
            kind, value = self._queue.get(timeout=self._timeout)
        except queue.Empty:
            self.close()
            raise RuntimeError(f"DataLoader timed out after {self._timeout} seconds waiting for a batch") from None
        if kind == _BATCH:
            return value
        self._finished = True
        self._thread.join()
        if kind == _ERROR:
            raise value
        raise StopIteration

    def close(self, wait: bool = True) -> None:
        """Stop the producer thread (and wait for it unless ``wait=False``)."""
        self._finished = True
        self._stop.set()
        while True:  # free the queue so a producer blocked in put() notices the stop
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        if wait and self._thread is not threading.current_thread():
            self._thread.join()

    def __del__(self) -> None:
        stop = getattr(self, "_stop", None)
        if stop is not None:
            stop.set()


# ----------------------------------------------------------------------------- the loader
class DataLoader:
    """Iterate over ``dataset`` in mini-batches of gradwise Tensors (PyTorch's ``DataLoader``).

    The positional arguments are PyTorch's.  ``shuffle=True`` draws a new order each
    epoch from ``generator`` (a :class:`gradwise.Generator`), from a private generator
    seeded with ``seed=`` (gradwise's convenience; same seed, same sequence of epochs), or
    else from the global generator that :func:`gradwise.manual_seed` seeds.

    gradwise additions (keyword-only):

    * ``transform``: applied to the input of every sample (the first field of a tuple or
      list sample, the first value of a dict sample, or the whole sample otherwise) as a
      NumPy array - augmentation objects from :mod:`gradwise.augment` fit here.
    * ``prefetch=k``: prepare the next ``k`` batches in a background thread.
    * ``seed``: see above.

    ``num_workers > 0`` turns on thread prefetching (see the module docstring);
    ``pin_memory``, ``persistent_workers`` and ``multiprocessing_context`` are accepted and
    have nothing to do on a NumPy CPU backend.  ``worker_init_fn(0)`` runs in the prefetch
    thread when there is one.
    """

    def __init__(self, dataset: Dataset, batch_size: int | None = 1, shuffle: bool | None = None,
                 sampler: Sampler | Iterable | None = None, batch_sampler: Sampler | Iterable | None = None,
                 num_workers: int = 0, collate_fn: Callable[[list], Any] | None = None, pin_memory: bool = False,
                 drop_last: bool = False, timeout: float = 0, worker_init_fn: Callable[[int], None] | None = None,
                 multiprocessing_context: Any = None, generator: Generator | None = None, *,
                 prefetch_factor: int | None = None, persistent_workers: bool = False,
                 seed: int | None = None, transform: Callable | None = None, prefetch: int = 0) -> None:
        if num_workers < 0:
            raise ValueError("num_workers option should be non-negative; use num_workers=0 to disable prefetching.")
        if prefetch < 0:
            raise ValueError(f"prefetch must be 0 (off) or a positive number of batches, got {prefetch}")
        if prefetch_factor is not None and num_workers == 0:
            raise ValueError("prefetch_factor option could only be specified with num_workers > 0 "
                             "(or use gradwise's prefetch=k)")
        if seed is not None and generator is not None:
            raise ValueError("give either seed= or generator=, not both")
        if seed is not None:
            generator = Generator().manual_seed(seed)
        self.dataset = dataset
        self.num_workers = num_workers
        self.prefetch_factor = prefetch_factor
        self.prefetch = max(prefetch, num_workers * (prefetch_factor or 2))
        self.pin_memory, self.persistent_workers, self.timeout = pin_memory, persistent_workers, timeout
        self.worker_init_fn = worker_init_fn
        self.multiprocessing_context = multiprocessing_context
        self.generator = generator
        self._iterations = 0   # epochs iterated with prefetch: each one's thread stream differs
        self.transform = transform
        self.drop_last = drop_last
        self._iterable = isinstance(dataset, IterableDataset)

        if self._iterable:
            if shuffle or sampler is not None or batch_sampler is not None:
                raise ValueError("DataLoader with IterableDataset: shuffle, sampler and batch_sampler are not "
                                 "supported (the dataset decides the order)")
            sampler = None
        elif batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError("batch_sampler option is mutually exclusive with batch_size, shuffle, sampler, "
                                 "and drop_last")
            batch_size, drop_last = None, False
        elif sampler is not None:
            if shuffle:
                raise ValueError("sampler option is mutually exclusive with shuffle")
        else:
            sampler = RandomSampler(dataset, generator=generator) if shuffle else SequentialSampler(dataset)
        if batch_size is not None and batch_sampler is None and not self._iterable:
            batch_sampler = BatchSampler(sampler, batch_size, drop_last)

        self.batch_size = batch_size
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        self._auto_collation = batch_sampler is not None or (self._iterable and batch_size is not None)
        self.collate_fn = collate_fn or (default_collate if self._auto_collation else default_convert)

    # -- what an epoch is made of ---------------------------------------------------------
    def _array_view(self) -> tuple | None:
        """The dataset's arrays when this epoch can take the fast path, else None.

        Looked up at every ``iter()``, so a transform set on the dataset after the loader
        was built is still honoured.
        """
        if self._iterable or not self._auto_collation or self.collate_fn is not default_collate:
            return None
        if self.transform is not None and not hasattr(self.transform, "apply_batch"):
            return None
        view = array_view(self.dataset)
        if view is None or any(a.dtype.kind not in "biuf" for a in view[0]):
            return None  # not array-backed, or strings/objects that collate into lists
        return view

    @property
    def fast_path(self) -> bool:
        """Whether batches are gathered from the dataset's arrays at once (see module docstring)."""
        return self._array_view() is not None

    def __len__(self) -> int:
        if self._iterable:
            n = len(self.dataset)  # raises TypeError when the stream has no length, as torch
            if self.batch_size is None:
                return n
            return n // self.batch_size if self.drop_last else -(-n // self.batch_size)
        if self.batch_sampler is not None:
            return len(self.batch_sampler)
        return len(self.sampler)

    def _index_batches(self) -> Iterator[Any]:
        """This epoch's batches of indices (single indices without auto-batching); drawn now."""
        if self.batch_sampler is None:
            return iter(self.sampler)
        if isinstance(self.batch_sampler, BatchSampler):
            return self.batch_sampler._batches()
        return iter(self.batch_sampler)

    def _gather(self, view: tuple, indices: np.ndarray) -> list[Tensor]:
        """Fast path: the batch as one fancy-index per array (``transform.apply_batch`` on the input)."""
        arrays, index_map = view
        rows = np.asarray(indices, dtype=np.int64)
        if index_map is not None:
            rows = index_map[rows]
        fields = [a[rows] for a in arrays]
        if self.transform is not None:
            fields[0] = np.asarray(self.transform.apply_batch(fields[0]))
        return [as_tensor(f) for f in fields]

    def _transform_sample(self, sample: Any) -> Any:
        """Apply ``transform`` to the input field of one sample, given as a NumPy array."""
        def apply(x: Any) -> Any:
            return self.transform(to_numpy(x) if isinstance(x, Tensor) else x)

        if isinstance(sample, cabc.Mapping):
            first = next(iter(sample))
            return {**sample, first: apply(sample[first])}
        if isinstance(sample, tuple) and hasattr(sample, "_fields"):
            return sample._replace(**{sample._fields[0]: apply(sample[0])})
        if isinstance(sample, (tuple, list)):
            return type(sample)([apply(sample[0]), *sample[1:]])
        return apply(sample)

    def _fetch(self, indices: Any) -> Any:
        """Slow path: fetch, transform and collate the samples of one batch (or one sample)."""
        if not self._auto_collation:
            sample = self.dataset[indices]
            return self.collate_fn(self._transform_sample(sample) if self.transform is not None else sample)
        samples = [self.dataset[int(i)] for i in indices]
        if self.transform is not None:
            samples = [self._transform_sample(s) for s in samples]
        return self.collate_fn(samples)

    def _iterable_batches(self) -> Iterator[Any]:
        stream = iter(self.dataset)
        if self.batch_size is None:
            for sample in stream:
                yield self.collate_fn(self._transform_sample(sample) if self.transform is not None else sample)
            return
        batch: list = []
        for sample in stream:
            batch.append(self._transform_sample(sample) if self.transform is not None else sample)
            if len(batch) == self.batch_size:
                yield self.collate_fn(batch)
                batch = []
        if batch and not self.drop_last:
            yield self.collate_fn(batch)

    def __iter__(self) -> Iterator[Any]:
        stream = None
        if self.prefetch:
            # the prefetch thread's own stream for gradwise's global generator (transforms, the dataset,
            # worker_init_fn): seeded from the loader's generator state and this epoch's number, without
            # drawing from it - reproducible under manual_seed, every other draw of the run unchanged
            self._iterations += 1
            seed = _random.derived_seed(self.generator, salt=self._iterations)
            stream = np.random.default_rng(seed)
        if self._iterable:
            batches = self._iterable_batches()
            if stream is not None:
                batches = _drawing_from(stream, batches)
        else:
            view = self._array_view()
            fetch = functools.partial(self._gather, view) if view is not None else self._fetch
            if stream is not None:   # (the indices were drawn now, in this thread, from the usual stream)
                fetch = functools.partial(_call_drawing_from, stream, fetch)
            batches = map(fetch, self._index_batches())
        if self.prefetch:
            info = WorkerInfo(0, 1, seed, self.dataset)
            init = functools.partial(_call_drawing_from, stream, self.worker_init_fn) if self.worker_init_fn else None
            return _PrefetchIterator(batches, self.prefetch, init, self.timeout, info)
        return batches

    def __repr__(self) -> str:
        return (f"DataLoader({type(self.dataset).__name__}, batch_size={self.batch_size}, "
                f"fast_path={self.fast_path}, prefetch={self.prefetch})")
