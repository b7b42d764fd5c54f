"""``fit()``: train a model with the lecture's loop, its stopping conditions, logs, checkpoints and babysitting.

One call does what the lecture's "Babysitting the Training" slides ask a person to do by hand: log and
show the training loss as it falls, watch the validation curves in the second stage, stop at the right
time, and - with ``babysit=True`` - run the automatic checks (``gradwise.train.babysit``) whose warnings
appear while training.  The loop itself is :class:`gradwise.train.Trainer`; this module turns the
convenient arguments (arrays, names such as ``"adam"`` and ``"cross_entropy"``, numbers such as
``time_budget=60``) into the objects the trainer and its callbacks need.
"""
from __future__ import annotations

import random
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from gradwise.data import DataLoader, Dataset, TensorDataset, train_val_split
from gradwise.engines import Engine, check_same_engine, engine_for
from gradwise.engines.native import NativeEngine
from gradwise.tensor.random import Generator, manual_seed
from gradwise.tensor.tensor import Tensor
from gradwise.train import distributed as dist
from gradwise.train.callbacks import (Callback, CSVLogger, DiagnosisStopping, EarlyStopping, JSONLinesLogger,
                                      LearningRateScheduler, ModelCheckpoint, ProgressBar, TargetMetric, TimeBudget)
from gradwise.train.history import History
from gradwise.train.trainer import Metric, Trainer, accuracy_for, callable_name, classification_kind

__all__ = ["fit", "resolve_loss", "resolve_optimizer", "as_loader", "make_loader", "seed_everything", "LOSSES",
           "optimizers", "VAL_BATCH_SIZE"]

#: Loss names accepted by ``fit(loss=...)`` and the config files.
LOSSES: dict[str, str] = {
    "cross_entropy": "CrossEntropyLoss", "nll": "NLLLoss", "mse": "MSELoss", "l1": "L1Loss",
    "bce": "BCELoss", "bce_with_logits": "BCEWithLogitsLoss",
}
#: Validation batches are at least this large: no gradients are kept, so bigger batches are just faster.
VAL_BATCH_SIZE = 256


def optimizers(engine: Engine | None = None) -> dict[str, type]:
    """Every solver of the engine (gradwise's :mod:`gradwise.optim` by default) by lower-case name
    (``"adam"``, ``"sgd"``, ``"rmsprop"``, ...)."""
    return (engine or NativeEngine()).optimizers()


def resolve_loss(loss: str | Callable, engine: Engine | None = None) -> Callable:
    """A loss callable from a callable (kept) or a name of :data:`LOSSES` (built for the engine's framework)."""
    if callable(loss):
        return loss
    if isinstance(loss, str) and loss in LOSSES:
        return (engine or NativeEngine()).loss(LOSSES[loss])
    raise ValueError(f"loss {loss!r} is not one of {', '.join(LOSSES)} (or pass a callable such as nn.CrossEntropyLoss())")


def resolve_optimizer(spec: Any, model: Any, engine: Engine | None = None) -> Any:
    """An optimizer for ``model`` from an Optimizer (kept), a name, ``(name, {kwargs})`` or a class."""
    engine = engine or engine_for(model)
    if engine.owns_optimizer(spec):
        return spec
    kwargs: dict[str, Any] = {}
    if isinstance(spec, (tuple, list)) and len(spec) == 2 and isinstance(spec[1], Mapping):
        spec, kwargs = spec[0], dict(spec[1])
    table = optimizers(engine)
    if isinstance(spec, type) and spec in table.values() or isinstance(spec, type) and \
            any(issubclass(spec, base) for base in table.values()):
        return spec(model.parameters(), **kwargs)
    if isinstance(spec, str) and spec.lower() in table:
        return table[spec.lower()](model.parameters(), **kwargs)
    raise ValueError(f"optimizer {spec!r} is not one of {', '.join(table)}; pass an Optimizer, a name, or "
                     "(name, {'lr': ...})")


def as_loader(data: Any, batch_size: int, shuffle: bool, generator: Generator | None = None,
              dtype: Any = np.float32, what: str = "train") -> DataLoader:
    """A DataLoader from a DataLoader (kept as is), a Dataset, or ``(X, y)`` arrays / Tensors.

    Floating NumPy inputs are cast to ``dtype`` (the model's parameter dtype) as Keras does, so that
    float64 arrays from other libraries do not silently double the cost of every layer.
    """
    if isinstance(data, DataLoader):
        return data
    if isinstance(data, Dataset):
        return DataLoader(data, batch_size=batch_size, shuffle=shuffle, generator=generator)
    if isinstance(data, (tuple, list)) and len(data) >= 2 and all(isinstance(a, (np.ndarray, Tensor)) for a in data):
        arrays = [a.astype(dtype) if isinstance(a, np.ndarray) and a.dtype.kind == "f" and a.dtype != dtype else a
                  for a in data]
        return DataLoader(TensorDataset(*arrays), batch_size=batch_size, shuffle=shuffle, generator=generator)
    raise TypeError(f"fit: {what} data must be a DataLoader, a Dataset or a tuple (X, y) of arrays/Tensors; "
                    f"got {type(data).__name__}")


def make_loader(data: Any, engine: Engine, batch_size: int, shuffle: bool, seed: int | None, dtype: Any,
                what: str, shard: tuple[int, int] | None = None) -> Any:
    """The loader for ``data``: the engine's own where it has one (PyTorch: in-memory batches on the
    device, torch Datasets and DataLoaders as they are), else gradwise's :func:`as_loader`."""
    loader = engine.make_loader(data, batch_size, shuffle, seed, dtype, what, shard)
    if loader is not None:
        return loader
    if shard is not None:
        raise TypeError(f"fit under torchrun: shard the {what} data by passing (X, y) arrays/tensors or a "
                        f"torch Dataset, not {type(data).__name__}")
    generator = Generator().manual_seed(seed) if seed is not None and shuffle else None
    return as_loader(data, batch_size, shuffle=shuffle, generator=generator, dtype=dtype, what=what)


def seed_everything(seed: int, engine: Engine | None = None) -> None:
    """Seed gradwise's, NumPy's and Python's generators, and the engine's own (PyTorch's CPU and CUDA)."""
    manual_seed(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)
    if engine is not None and not isinstance(engine, NativeEngine):
        engine.manual_seed(seed)


def _metrics(metrics: Any, loss_fn: Callable) -> dict[str, Metric]:
    kind = classification_kind(loss_fn)
    if metrics is None:
        metrics = ("accuracy",) if kind else ()
    if isinstance(metrics, Mapping):
        return dict(metrics)
    out: dict[str, Metric] = {}
    for m in metrics:
        if m in ("accuracy", "acc"):
            out["accuracy"] = accuracy_for(kind)
        elif callable(m):
            out[callable_name(m)] = m
        else:
            raise ValueError(f"metric {m!r} is not 'accuracy' or a callable fn(outputs, targets) -> float")
    return out


def _early_stopping(spec: Any, has_val: bool) -> Callback | None:
    if spec is None or spec is False:
        return None
    if isinstance(spec, (EarlyStopping, DiagnosisStopping)):
        return spec
    if spec == "diagnosis":
        if not has_val:
            raise ValueError("early_stopping='diagnosis' reads the validation curve: pass val= to fit()")
        return DiagnosisStopping()
    monitor = "val_loss" if has_val else "loss"
    if spec is True:
        return EarlyStopping(monitor=monitor)
    if isinstance(spec, int):
        return EarlyStopping(monitor=monitor, patience=spec)
    if isinstance(spec, Mapping):
        return EarlyStopping(**{"monitor": monitor, **spec})
    raise TypeError(f"early_stopping must be None, an EarlyStopping, a patience (int) or its arguments (dict); "
                    f"got {type(spec).__name__}")


def _babysitter() -> Callback | None:
    """``gradwise.train.babysit.Babysitter()`` when that module is installed, else None.

    A babysit module that exists but fails to import (a missing dependency, a bug) does not stop the
    training: it is reported with a ``RuntimeWarning`` and the run goes on without the checks.
    """
    try:
        from gradwise.train.babysit import Babysitter
    except ImportError as err:
        if isinstance(err, ModuleNotFoundError) and err.name == "gradwise.train.babysit":
            return None
        warnings.warn(f"babysitting is off: gradwise.train.babysit failed to import ({err})", RuntimeWarning,
                      stacklevel=3)
        return None
    return Babysitter()


def _has(callbacks: Iterable[Callback], kind: type) -> bool:
    return any(isinstance(cb, kind) for cb in callbacks)


def fit(model: Any, train: Any, val: Any = None, *, loss: str | Callable, optimizer: Any, epochs: int,
        batch_size: int = 32, callbacks: Sequence[Callback] = (), babysit: bool = True,
        log_dir: str | Path | None = None, seed: int | None = None, scheduler: Any = None,
        metrics: Sequence[str | Callable] | Mapping[str, Metric] | None = None,
        early_stopping: EarlyStopping | int | Mapping[str, Any] | bool | str | None = None,
        target: Mapping[str, float] | None = None, time_budget: float | None = None,
        resume: str | Path | None = None, checkpoint_every: int | None = 1, progress: bool = True,
        device: str | None = None) -> History:
    """Train ``model`` on ``train`` (and watch ``val``) until a stopping condition; return the :class:`History`.

    The lecture's algorithm: the model arrives initialised (``nn.init.by_activation(model)`` does it
    per activation); then forward, loss, backward, update over mini-batches, epoch after epoch, until
    ``epochs`` is reached, ``early_stopping`` runs out of patience, every metric of ``target`` is
    reached (``{"val_accuracy": 0.95}``), ``time_budget`` seconds are used, or the loss becomes
    NaN/infinite (the run stops with ``history.stop_reason`` naming the epoch and batch).

    A PyTorch model (``torch.nn.Module``) trains the same way, with a ``torch.optim`` optimizer (or a
    name, built from ``torch.optim``), a torch loss (or a name), on ``device``; under ``torchrun`` the
    run is data-parallel (:mod:`gradwise.train.distributed`) with no change to the call.

    Args:
        model: a :class:`gradwise.nn.Module` or a ``torch.nn.Module``.
        train, val: a DataLoader, a Dataset, or ``(X, y)`` arrays/tensors (of either framework; a
            ``torch.utils.data`` Dataset/DataLoader for a PyTorch model); ``val`` may also be a
            fraction (``0.2``) of ``train`` to hold out (stratified by class for classification).
        loss: a callable ``loss(outputs, targets)`` or a name: cross_entropy, nll, mse, l1, bce, bce_with_logits.
        optimizer: an Optimizer, a name (``"adam"``), ``("adam", {"lr": 1e-3})`` or an Optimizer class.
        epochs: the maximum number of epochs.
        batch_size: mini-batch size when ``train``/``val`` are not DataLoaders.
        callbacks: extra :class:`~gradwise.train.Callback` objects.
        babysit: add ``gradwise.train.babysit.Babysitter()`` (its checks warn while training).
        log_dir: where to write history.csv/.jsonl, steps.csv/.jsonl, checks.jsonl, run.json and
            checkpoints/last.npz, best.npz (None: keep nothing on disk).
        seed: seed gradwise's, NumPy's, Python's (and PyTorch's) generators and the shuffling of ``train``.
        scheduler: a learning-rate scheduler, a :class:`LearningRateScheduler`, or a function
            ``optimizer -> scheduler`` (handy with ``optimizer="adam"``).
        metrics: metric names/callables (default: ``("accuracy",)`` for classification losses).
        early_stopping: an :class:`EarlyStopping`, a patience, or EarlyStopping's arguments as a dict
            (monitor defaults to val_loss, or loss without validation); ``"diagnosis"`` stops when the
            learning-curve diagnosis reads a clear overfit (never later than patience 6) and restores
            the best epoch (:class:`DiagnosisStopping`).
        target: stop when all these metrics reach their values.
        time_budget: stop after this many seconds of training.
        resume: a checkpoint (``.../checkpoints/last.npz``) to continue from, exactly.
        checkpoint_every: write ``last.npz`` every this many epochs when ``log_dir`` is set (None/0: never).
        progress: show the progress bar and the per-epoch lines.
        device: ``None`` or ``"cpu"``; for a PyTorch model also ``"cuda"`` or ``"cuda:N"`` (the model and
            every batch are moved there; under ``torchrun`` ``"cuda"`` means ``cuda:LOCAL_RANK``).
    """
    engine = engine_for(model, device)
    check_same_engine(engine, "fit", optimizer=optimizer, loss=loss, scheduler=scheduler)
    model = engine.to_device(model)
    parallel = dist.from_environment(device) if engine.name == "torch" else None
    if parallel is not None:
        engine.device = parallel.device
        model = engine.to_device(model)
        if seed is None:   # every process must shuffle alike
            seed = parallel.broadcast_int(int(np.random.SeedSequence().entropy % 2**31))
    if seed is not None:
        seed_everything(seed, engine)
    loss_fn = resolve_loss(loss, engine)
    optimizer = resolve_optimizer(optimizer, model, engine)
    if isinstance(val, float):
        if hasattr(train, "dataset") and hasattr(train, "batch_size"):   # gradwise's or PyTorch's DataLoader
            raise TypeError("fit: val as a fraction needs train as a Dataset or (X, y), not a DataLoader")
        train, val = train_val_split(train, val_fraction=val, stratify=True if classification_kind(loss_fn) else None,
                                     seed=seed)
    dtype = engine.float_dtype(model)
    shard = parallel.shard if parallel is not None else None
    train_loader = make_loader(train, engine, batch_size, True, seed, dtype, "train", shard)
    val_loader = make_loader(val, engine, max(batch_size, VAL_BATCH_SIZE), False, seed, dtype, "validation",
                             shard) if val is not None else None
    if parallel is not None and not parallel.is_main:   # only rank 0 writes and prints
        log_dir, progress, babysit = None, False, False

    cbs: list[Callback] = list(callbacks)
    stopper = _early_stopping(early_stopping, val_loader is not None)
    if stopper is not None and stopper not in cbs:
        cbs.append(stopper)
    if target:
        cbs.append(TargetMetric(target))
    if time_budget is not None:
        cbs.append(TimeBudget(time_budget))
    if scheduler is not None:
        if isinstance(scheduler, LearningRateScheduler):
            cbs.append(scheduler)
        else:
            if not hasattr(scheduler, "step") and callable(scheduler):
                scheduler = scheduler(optimizer)
            cbs.append(LearningRateScheduler(scheduler, monitor="val_loss" if val_loader is not None else "loss"))
    if log_dir is not None:
        for logger in (CSVLogger, JSONLinesLogger):
            if not _has(cbs, logger):
                cbs.append(logger())
        if checkpoint_every and not _has(cbs, ModelCheckpoint):
            cbs.append(ModelCheckpoint(monitor="val_loss" if val_loader is not None else "loss",
                                       every_n_epochs=int(checkpoint_every)))
    if progress and not _has(cbs, ProgressBar):
        cbs.append(ProgressBar())
    if babysit and not any(getattr(cb, "is_babysitter", False) for cb in cbs):
        sitter = _babysitter()
        if sitter is not None:
            cbs.append(sitter)

    trainer = Trainer(model, optimizer, loss_fn, train_loader, val_loader, epochs=epochs, callbacks=cbs,
                      metrics=_metrics(metrics, loss_fn), log_dir=log_dir, engine=engine,
                      distributed=parallel)
    if resume is not None:
        trainer.load_checkpoint(resume)
        trainer.echo(f"resumed from {resume} after epoch {trainer.epoch} (step {trainer.global_step})")
    return trainer.run()
