"""``Babysitter``: gradwise's checks, logs, diagnosis and report for PyTorch Lightning's ``Trainer.fit``.

::

    from gradwise.integrations.lightning import Babysitter

    sitter = Babysitter(log_dir="runs/lit")
    pl.Trainer(max_epochs=20, callbacks=[sitter]).fit(module, train_loader, val_loader)
    print(sitter.history.diagnosis.verdict, [(c.name, c.status) for c in sitter.history.checks])

The callback drives a :class:`gradwise.train.watch.Watch` from Lightning's hooks, so a Lightning run
gets exactly what ``fit`` and ``watch`` give - the same thirteen checks, thresholds and messages, the same
run directory (``history.csv``, ``checks.json``, ``babysit.json``, ``run.json``, ``report.html``):

* ``on_train_start`` - the checks before training, on a sample of the training data (the first
  batches of ``trainer.train_dataloader``, drawn with every random stream restored, or ``sample_batch``)
  and the loss function (``loss_fn``, else the module's ``loss_fn``/``criterion`` attribute);
* ``on_train_batch_start`` / ``on_before_backward`` / ``on_after_backward`` / ``on_train_batch_end`` -
  one step: hooks attached before the forward pass of a sampled step, the loss, the gradients before
  the update, the update;
* ``on_validation_epoch_end`` / ``on_train_epoch_end`` - the epoch's record: ``loss`` is the mean of the
  steps' losses (``outputs["loss"]``), the other metrics come from ``trainer.callback_metrics`` in their
  common spellings (``train_acc`` -> ``accuracy``, ``val_loss``, ``val_acc`` -> ``val_accuracy``);
* ``on_train_end`` - the last checks, the diagnosis and the files; ``on_exception`` writes what there is.

A failed check with ``stop_on_fail=True``, or a NaN/inf loss, sets ``trainer.should_stop``.  Under
data-parallel strategies only global rank 0 babysits and writes.
"""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

try:
    import pytorch_lightning as pl
except ImportError:   # the unified "lightning" package ships the same API as lightning.pytorch
    try:
        import lightning.pytorch as pl  # type: ignore[no-redef]
    except ImportError:
        raise ImportError("gradwise.integrations.lightning needs PyTorch Lightning 2.x: pip install pytorch-lightning "
                          "(or pip install 'gradwise[lightning]')") from None

import torch

from gradwise.engines import engine_for
from gradwise.train import checkpoint as ckpt
from gradwise.train.history import History
from gradwise.train.watch import Watch, _as_sample, canonical_metrics

__all__ = ["Babysitter"]

#: Attributes of a LightningModule where its loss function is usually kept.
LOSS_ATTRIBUTES = ("loss_fn", "criterion", "loss_func", "loss_function", "loss_module", "loss")


class Babysitter(pl.Callback):
    """A Lightning callback that babysits ``Trainer.fit`` as ``gradwise.train.fit`` does (module docstring).

    Args:
        log_dir: the run directory to write (None: nothing on disk; ``history`` still holds everything).
        thresholds: a :class:`gradwise.train.babysit.Thresholds` or a dict of overrides.
        loss_fn: the loss ``loss_fn(outputs, target)`` for the initial-loss and tiny-batch checks (default:
            the module's ``loss_fn``/``criterion``/... attribute when it is a torch loss; else those skip).
        sample_batch: ``(inputs..., target)`` for the checks before training (default: up to
            ``sample_size`` samples from the training loader; batches that are not ``(x, y)`` tuples, or a
            module whose ``forward`` does not take them, make those checks skip).
        sample_size: how many training samples to draw when ``sample_batch`` is not given.
        progress: print a line per epoch (Lightning draws its own bar; the findings are printed anyway).
        stop_on_fail: a failed check stops the fit (``trainer.should_stop``).

    After ``fit``: ``history`` (a :class:`gradwise.train.History` with ``.checks``, ``.diagnosis``,
    ``.records``), ``log_dir``.
    """

    def __init__(self, log_dir: str | Path | None = None, thresholds: Any = None, *, loss_fn: Any = None,
                 sample_batch: Any = None, sample_size: int = 512, progress: bool = False,
                 stop_on_fail: bool = False) -> None:
        super().__init__()
        self.log_dir = Path(log_dir) if log_dir is not None else None
        self.thresholds = thresholds
        self.loss_fn = loss_fn
        self.sample_batch = sample_batch
        self.sample_size = int(sample_size)
        self.progress = progress
        self.stop_on_fail = stop_on_fail
        self.history = History()
        self.sample_note: str | None = None   # why the checks before training had no sample, if they had none
        self._watch: Watch | None = None
        self._val: dict[str, Any] = {}

    # ================================================================== the run
    def on_train_start(self, trainer: Any, pl_module: Any) -> None:
        self._watch, self._val = None, {}
        if not trainer.is_global_zero:
            return   # data-parallel: rank 0 babysits and writes for all
        engine = engine_for(pl_module, _device_of(pl_module))
        sample = self.sample_batch
        if sample is None:
            sample, self.sample_note = _draw_sample(trainer, pl_module, engine, self.sample_size)
        epochs = trainer.max_epochs if isinstance(trainer.max_epochs, int) and trainer.max_epochs > 0 else None
        optimizers = getattr(trainer, "optimizers", None) or [None]
        self._watch = Watch(pl_module, optimizers[0], log_dir=self.log_dir, loss_fn=self.loss_fn or _find_loss(pl_module),
                            sample_batch=sample, thresholds=self.thresholds, progress=self.progress,
                            epochs=epochs, stop_on_fail=self.stop_on_fail, pre_training=trainer.global_step == 0,
                            step_hook=False, driver="lightning")
        self.history = self._watch.history
        self._watch.start()
        if self.sample_note and self._watch._trainer.callbacks:
            self._watch._trainer.echo(f"babysitter: no sample of the training data for the checks before training - "
                                      f"{self.sample_note}; pass Babysitter(sample_batch=(x, y))")

    def on_train_batch_start(self, trainer: Any, pl_module: Any, batch: Any, batch_idx: int) -> None:
        if self._active:
            self._watch._begin_batch()

    def on_before_backward(self, trainer: Any, pl_module: Any, loss: Any) -> None:
        if self._active:
            self._watch._after_forward(loss)

    def on_after_backward(self, trainer: Any, pl_module: Any) -> None:
        if self._active:
            self._watch._after_backward()

    def on_train_batch_end(self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
        if not self._active:
            return
        loss = outputs.get("loss") if isinstance(outputs, Mapping) else outputs
        if loss is None:
            return   # training_step returned nothing: Lightning skipped this batch
        self._watch.step(loss)
        self._stop_if_asked(trainer)

    def on_validation_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        if self._active and not trainer.sanity_checking:
            metrics = canonical_metrics(dict(trainer.callback_metrics))
            self._val = {k: v for k, v in metrics.items() if k.startswith("val_")}

    def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        if not self._active:
            return
        metrics = canonical_metrics(dict(trainer.callback_metrics))
        train = {k: v for k, v in metrics.items() if not k.startswith("val_") and k != "loss" and _scalar(v)}
        val, self._val = {k: v for k, v in self._val.items() if _scalar(v)}, {}
        if self._watch._epoch_losses or self._watch._pending:   # loss: the mean of this epoch's step losses
            self._watch.epoch_end(**train, **val)
        self._stop_if_asked(trainer)

    def on_train_end(self, trainer: Any, pl_module: Any) -> None:
        if self._watch is not None:
            self._watch.finish()

    def on_exception(self, trainer: Any, pl_module: Any, exception: BaseException) -> None:
        if self._watch is not None:
            self._watch.finish(exception)

    # ================================================================== helpers
    @property
    def _active(self) -> bool:
        w = self._watch
        return w is not None and w._started and not w._finished

    def _stop_if_asked(self, trainer: Any) -> None:
        if self._watch.stop_training:
            trainer.should_stop = True

    def __repr__(self) -> str:
        return f"Babysitter(log_dir={str(self.log_dir) if self.log_dir else None!r})"


def _device_of(module: Any) -> Any:
    return next((p.device for p in module.parameters()), None)


def _find_loss(module: Any) -> Any:
    """The module's loss function when it keeps one as a torch loss module (``self.loss_fn = nn.CrossEntropyLoss()``)."""
    for name in LOSS_ATTRIBUTES:
        value = getattr(module, name, None)
        if isinstance(value, torch.nn.Module) and type(value).__name__.endswith("Loss"):
            return value
    return None


def _scalar(value: Any) -> bool:
    return isinstance(value, (int, float, np.number)) or (isinstance(value, torch.Tensor) and value.numel() == 1)


def _draw_sample(trainer: Any, module: Any, engine: Any, size: int) -> tuple[tuple | None, str | None]:
    """Up to ``size`` training samples from the first batches of ``trainer.train_dataloader`` as
    ``(inputs..., target)`` arrays, drawn with every random stream restored, and checked to go through
    the module's ``forward``; ``(None, why)`` when the loader's batches or the forward do not allow it."""
    loader = getattr(trainer, "train_dataloader", None)
    if loader is None or not hasattr(loader, "__iter__") or isinstance(loader, (Mapping, list, tuple)):
        return None, "the training data is not one DataLoader"
    fields: list[list[np.ndarray]] = []
    count = 0
    try:
        with ckpt.preserved(generators=ckpt.loader_generators([loader]), engine=engine):
            batches = iter(loader)
            try:
                for batch in batches:
                    if not (isinstance(batch, (tuple, list)) and len(batch) >= 2
                            and all(isinstance(b, (torch.Tensor, np.ndarray)) for b in batch)):
                        return None, f"the training batches are not (inputs..., target) tensors ({type(batch).__name__})"
                    fields.append([engine.to_numpy(b) for b in batch])
                    count += len(fields[-1][-1])
                    if count >= size:
                        break
            finally:
                del batches
        if not fields:
            return None, "the training data gave no batch"
        sample = tuple(np.concatenate([f[k] for f in fields])[:size] for k in range(len(fields[0])))
        inputs = _as_sample(sample, engine, module)[:-1]
        with ckpt.preserved(module, None, (), engine), engine.no_grad():
            module(*inputs)   # the checks call forward(inputs...): make sure this module's forward takes them
    except Exception as err:   # noqa: BLE001 - the checks that need a sample skip, the fit goes on
        return None, f"the module's forward does not take the training batch's inputs ({type(err).__name__}: {err})"
    return sample, None
