"""Callbacks: code that watches the training loop and acts on it, in Keras' and Lightning's style.

The loop itself (:class:`gradwise.train.Trainer`) only does the lecture's algorithm - forward, loss,
backward, update, until a stopping condition.  Everything around it - the stopping conditions other
than the epoch count, checkpoints, learning-rate schedules, logs, the progress bar, and the babysitter
that checks the training as the lecture asks - is a :class:`Callback`.

Hooks, in the order the trainer calls them (each receives the trainer, the run's state)::

    on_train_begin(trainer)
      on_epoch_begin(trainer, epoch)                      # epoch counts from 1
        on_batch_begin(trainer, batch_index, batch)       # batch_index counts from 0 within the epoch
        on_after_forward(trainer, batch_index, outputs, loss)
        on_after_backward(trainer, batch_index)           # gradients populated, before optimizer.step()
        on_batch_end(trainer, batch_index, logs)          # after the step; logs["loss"] is a float
      on_validation_end(trainer, epoch, logs)             # only with validation data; logs: val_loss, val_*
      on_epoch_end(trainer, epoch, logs)                  # logs is the epoch's record (History.records[-1])
    on_train_end(trainer)                                 # history.stop_reason and .diagnosis are set
    on_exception(trainer, exception)                      # instead of on_train_end when the loop raised

A non-finite training loss stops the run right after ``on_after_forward`` (no backward, no step, no
``on_batch_end``, no record for that epoch).  ``trainer.stop(reason)`` during an epoch ends it after the
current batch; the shortened epoch is still validated and recorded.

Callbacks run in ascending ``order`` (then in the order given): the progress bar first (-10), so
that its epoch line precedes other messages; the learning-rate scheduler (40) and the loggers (50)
after the stopping rules and the babysitter (0); :class:`ModelCheckpoint` last (100), so that the
checkpoint it writes holds every other callback's state after the epoch.

Resumable callbacks return their state from ``state_dict()`` (plain values, arrays, Tensors - see
:func:`gradwise.train.checkpoint.encode_state`) and take it back in ``load_state_dict()``; the
checkpoint keys them by class name.  The base classes, :class:`Callback` and :class:`MonitorCallback`
(one rule for "better" shared by early stopping, checkpoints and pruning), are in
:mod:`gradwise.train.callback`.
"""
from __future__ import annotations

import contextlib
import csv
import inspect
import io
import json
import math
import os
import shutil
import string
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from gradwise.train.callback import Callback, MonitorCallback, metric_mode
from gradwise.train.checkpoint import atomic_write

if TYPE_CHECKING:
    from gradwise.train.trainer import Trainer

__all__ = ["Callback", "EarlyStopping", "DiagnosisStopping", "TargetMetric", "TimeBudget", "ModelCheckpoint",
           "LearningRateScheduler", "CSVLogger", "JSONLinesLogger", "TensorBoardLogger", "ProgressBar", "metric_mode"]


# ============================================================================= stopping conditions
class EarlyStopping(MonitorCallback):
    """Stop when ``monitor`` has not improved for ``patience`` epochs (Keras' ``EarlyStopping``).

    The lecture's overfitting graph: validation loss "decreases to a point and begins increasing
    again; the inflection point ... may be the point at which training could be halted".  An epoch
    improves when ``monitor`` beats the best so far by more than ``min_delta`` (below it in ``"min"``
    mode, above in ``"max"``; ``"auto"`` picks ``"max"`` for accuracies).  Epochs before
    ``start_from_epoch`` are not counted.  With ``restore_best_weights`` the model gets back the
    weights of the best epoch when training ends (however it ends), as Keras 3 does.
    """

    def __init__(self, monitor: str = "val_loss", min_delta: float = 0.0, patience: int = 5, mode: str = "auto",
                 restore_best_weights: bool = False, baseline: float | None = None, start_from_epoch: int = 0) -> None:
        if patience < 0:
            raise ValueError(f"EarlyStopping: patience must be >= 0, got {patience}")
        super().__init__(monitor, mode, min_delta, baseline)
        self.patience = int(patience)
        self.restore_best_weights, self.start_from_epoch = restore_best_weights, start_from_epoch
        self.best_weights: dict[str, Any] | None = None
        self.wait = 0

    def on_train_begin(self, trainer: "Trainer") -> None:
        trainer.require_key(self.monitor, "EarlyStopping")

    def on_epoch_end(self, trainer: "Trainer", epoch: int, logs: dict[str, Any]) -> None:
        if epoch <= self.start_from_epoch:
            return
        improved = self.track(epoch, logs)
        if improved is None:
            return
        if improved:
            self.wait = 0
            if self.restore_best_weights:
                self.best_weights = trainer.engine.snapshot_weights(trainer.model)
            return
        self.wait += 1
        if self.wait >= self.patience:
            best = f"best {self.best:.4g} at epoch {self.best_epoch}" if self.best is not None else \
                f"never beat the baseline {self.baseline}"
            trainer.stop(f"early stopping: {self.monitor} did not improve by more than {self.min_delta:g} for "
                         f"{self.wait} epoch(s) ({best})")

    def on_train_end(self, trainer: "Trainer") -> None:
        if self.restore_best_weights and self.best_weights is not None and self.best_epoch != trainer.epoch:
            trainer.engine.restore_weights(trainer.model, self.best_weights)
            trainer.echo(f"restored the weights of epoch {self.best_epoch} ({self.monitor} {self.best:.4g})")

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "wait": self.wait, "best_weights": self.best_weights}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        super().load_state_dict(state)
        self.wait = state["wait"]
        self.best_weights = state.get("best_weights")


class TargetMetric(Callback):
    """Stop as soon as every metric of ``target`` reaches its value, e.g. ``{"val_accuracy": 0.95}``.

    "Reaches" means ``>=`` for metrics that should grow (accuracy) and ``<=`` for the others (losses),
    as :func:`metric_mode` decides.  Checked at the end of each epoch.
    """

    def __init__(self, target: Mapping[str, float]) -> None:
        if not target:
            raise ValueError("TargetMetric: give at least one metric and its value, e.g. {'val_accuracy': 0.95}")
        self.target = {str(k): float(v) for k, v in target.items()}

    def on_train_begin(self, trainer: "Trainer") -> None:
        for key in self.target:
            trainer.require_key(key, "target")

    def on_epoch_end(self, trainer: "Trainer", epoch: int, logs: dict[str, Any]) -> None:
        reached = []
        for key, goal in self.target.items():
            value = logs.get(key)
            if value is None:
                return
            ok = value >= goal if metric_mode(key) == "max" else value <= goal
            if not ok:
                return
            reached.append(f"{key} {value:.4g} {'>=' if metric_mode(key) == 'max' else '<='} {goal:g}")
        trainer.stop(f"target reached at epoch {epoch}: {', '.join(reached)}")


class TimeBudget(Callback):
    """Stop when the training has used ``seconds`` of wall time (checked after every batch).

    The epoch in progress ends after the batch that crossed the budget and is still validated and
    recorded.  The time already spent before a resume counts (it is part of the checkpoint), as
    Lightning's ``Timer`` does.
    """

    def __init__(self, seconds: float) -> None:
        if not seconds > 0:
            raise ValueError(f"TimeBudget: seconds must be positive, got {seconds}")
        self.seconds = float(seconds)
        self.elapsed_before = 0.0
        self._start = None

    def elapsed(self) -> float:
        return self.elapsed_before + (time.perf_counter() - self._start if self._start is not None else 0.0)

    def on_train_begin(self, trainer: "Trainer") -> None:
        self._start = time.perf_counter()

    def on_batch_end(self, trainer: "Trainer", batch_index: int, logs: dict[str, Any]) -> None:
        if not trainer.stop_training and self.elapsed() >= self.seconds:
            n = trainer.batches_per_epoch
            trainer.stop(f"time budget of {self.seconds:g}s used up at epoch {trainer.epoch}, batch "
                         f"{batch_index + 1}{f'/{n}' if n else ''} ({self.elapsed():.1f}s)")

    def on_epoch_end(self, trainer: "Trainer", epoch: int, logs: dict[str, Any]) -> None:
        if not trainer.stop_training and self.elapsed() >= self.seconds:
            trainer.stop(f"time budget of {self.seconds:g}s used up at the end of epoch {epoch} ({self.elapsed():.1f}s)")

    def state_dict(self) -> dict[str, Any]:
        return {"elapsed": self.elapsed()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.elapsed_before = float(state["elapsed"])


# ============================================================================= checkpoints and schedules
class ModelCheckpoint(MonitorCallback):
    """Write resumable checkpoints: ``last.npz`` every ``every_n_epochs`` epochs and the best ones by ``monitor``.

    Every file is a full training checkpoint (:mod:`gradwise.train.checkpoint`: model, optimizer, schedulers,
    callbacks' state, random streams, history, epoch) written atomically, so ``fit(..., resume=...)``
    accepts any of them.  ``last.npz`` is also written when training stops early or reaches its last epoch
    (``save_last=False``: never).  ``monitor`` is ``"val_loss"`` by default (``"auto"`` mode as
    :class:`EarlyStopping`); ``dirpath`` defaults to ``<log_dir>/checkpoints``.  Runs last (``order = 100``)
    so that the saved state includes every other callback's work on the epoch.

    The best checkpoints, in the three spellings people bring along:

    * gradwise's default: ``best.npz``, rewritten whenever ``monitor`` improves (``save_best=False``: none);
    * Lightning's ``save_top_k=k`` with ``filename``: keep the ``k`` best epochs, each in its own file named
      by ``filename`` - ``"{epoch}-{val_loss:.2f}"`` gives ``epoch=3-val_loss=0.12.npz`` (Lightning's
      ``auto_insert_metric_name``), ``"epoch{epoch:03d}-{val_loss:.4f}"`` gives ``epoch003-0.1234.npz``
      (a template that labels its fields itself is used as written, as Keras does; pass
      ``auto_insert_metric_name=True``/``False`` to force either).  The file that drops out of the top ``k``
      is deleted after its replacement is safely on disk.  ``save_top_k=-1`` keeps every epoch's file,
      ``0`` none; the default template is ``"{epoch}-{<monitor>:.4f}"``.  ``best_model_path``,
      ``best_model_score``, ``best_k_models`` and ``last_model_path`` are as in Lightning;
    * Keras's ``save_best_only=True`` (keep only the best: ``save_top_k=1`` with a ``filename``, else
      ``best.npz``) and a Keras ``filepath`` template in place of ``dirpath`` (``"ckpt/epoch{epoch:02d}.npz"``).

    Template fields are ``epoch``, ``step`` and any logged metric.  ``verbose=True`` prints what is saved.
    """

    order = 100

    def __init__(self, dirpath: str | os.PathLike | None = None, monitor: str = "val_loss", mode: str = "auto",
                 save_best: bool = True, save_last: bool = True, every_n_epochs: int = 1, *,
                 filename: str | None = None, save_top_k: int | None = None, save_best_only: bool | None = None,
                 filepath: str | os.PathLike | None = None, auto_insert_metric_name: bool | None = None,
                 verbose: bool = False) -> None:
        if every_n_epochs < 1:
            raise ValueError(f"ModelCheckpoint: every_n_epochs must be >= 1, got {every_n_epochs}")
        if dirpath is not None and ("{" in str(dirpath) or str(dirpath).endswith(".npz")):
            filepath, dirpath = dirpath, None                 # Keras: the first argument is the file path
        if filepath is not None:
            if filename is not None:
                raise ValueError("ModelCheckpoint: pass filepath= (Keras) or dirpath= and filename= (Lightning), "
                                 "not both")
            path = Path(filepath)
            if str(path.parent) not in ("", "."):
                dirpath = path.parent
            filename = path.name
        if save_top_k is not None and save_best_only is not None:
            raise ValueError("ModelCheckpoint: pass save_top_k (Lightning) or save_best_only (Keras), not both")
        if save_top_k is not None and (not isinstance(save_top_k, int) or isinstance(save_top_k, bool)
                                       or save_top_k < -1):
            raise ValueError(f"ModelCheckpoint: save_top_k must be an int >= -1 (-1 keeps every epoch), "
                             f"got {save_top_k!r}")
        if save_best_only is not None:
            if filename is not None:
                save_top_k = 1 if save_best_only else -1
            else:
                save_best = bool(save_best_only)
        if save_top_k is not None and filename is None:
            filename = "{epoch}-{" + monitor + ":.4f}"
        if filename is not None and save_top_k is None:
            save_top_k = 1
        super().__init__(monitor, mode)
        self.dirpath = Path(dirpath) if dirpath is not None else None
        self.save_best, self.save_last, self.every_n_epochs = save_best, save_last, every_n_epochs
        self.filename, self.save_top_k, self.verbose = filename, save_top_k, verbose
        self.auto_insert_metric_name = auto_insert_metric_name
        self.last_path: Path | None = None
        self.best_path: Path | None = None
        self.top_k: list[dict[str, Any]] = []      # {"path", "score", "epoch"}, best first

    # ------------------------------------------------------------------ Lightning's names
    @property
    def best_model_path(self) -> str:
        return str(self.best_path) if self.best_path is not None and self.best_path.exists() else ""

    @property
    def best_model_score(self) -> float | None:
        return self.top_k[0]["score"] if self.top_k else self.best

    @property
    def best_k_models(self) -> dict[str, float]:
        return {entry["path"]: entry["score"] for entry in self.top_k}

    @property
    def kth_best_model_path(self) -> str:
        return self.top_k[-1]["path"] if self.top_k else ""

    @property
    def last_model_path(self) -> str:
        return str(self.last_path) if self.last_path is not None and self.last_path.exists() else ""

    # ------------------------------------------------------------------ file names
    def _fields(self) -> list[str]:
        return [field for _, field, _, _ in string.Formatter().parse(self.filename or "") if field]

    def format_checkpoint_name(self, metrics: Mapping[str, Any]) -> str:
        """The file name ``filename`` gives for these metrics (``epoch``, ``step``, logged values), with ``.npz``."""
        pieces = list(string.Formatter().parse(self.filename or ""))
        insert = self.auto_insert_metric_name
        if insert is None:   # Lightning's insertion, unless the template labels its fields itself (Keras style)
            insert = not "".join(literal for literal, *_ in pieces).strip("-_=. /")
        out = []
        for literal, field, spec, conversion in pieces:
            out.append(literal)
            if not field:
                continue
            value = metrics.get(field)
            if field in ("epoch", "step") and value is not None:
                value = int(value)
            if conversion:
                value = {"r": repr, "s": str, "a": ascii}[conversion](value)
            try:
                text = format(value, spec or "")
            except (ValueError, TypeError) as err:
                raise ValueError(f"ModelCheckpoint: filename {self.filename!r} cannot format {field}={value!r} "
                                 f"({err})") from None
            out.append(f"{field}={text}" if insert else text)
        name = "".join(out)
        return name if name.endswith(".npz") else name + ".npz"

    # ------------------------------------------------------------------ hooks
    def on_train_begin(self, trainer: "Trainer") -> None:
        if self.dirpath is None:
            if trainer.log_dir is None:
                raise ValueError("ModelCheckpoint needs a folder: pass log_dir= to fit() or ModelCheckpoint(dirpath)")
            self.dirpath = trainer.log_dir / "checkpoints"
        ranked = self.save_top_k is not None and self.save_top_k != 0
        if (self.save_best and self.save_top_k is None) or (ranked and self.save_top_k != -1):
            trainer.require_key(self.monitor, "ModelCheckpoint")
        for name in self._fields():
            if name not in ("epoch", "step"):
                trainer.require_key(name, f"ModelCheckpoint(filename={self.filename!r})")
        self.last_path = self.dirpath / "last.npz"
        if self.save_top_k is None:
            self.best_path = self.dirpath / "best.npz"
        elif self.top_k:
            self.best_path = Path(self.top_k[0]["path"])

    def on_epoch_end(self, trainer: "Trainer", epoch: int, logs: dict[str, Any]) -> None:
        value = self.monitored(logs)
        improved = bool(self.track(epoch, logs))
        final = trainer.stop_training or epoch >= trainer.epochs
        wrote_last = self.save_last and (epoch % self.every_n_epochs == 0 or final)
        if self.save_top_k is None:                        # best.npz
            if wrote_last:
                trainer.save_checkpoint(self.last_path)
            if self.save_best and improved:
                if self.verbose:
                    trainer.echo(f"ModelCheckpoint: {self.monitor} improved to {value:.4g}, saving {self.best_path}")
                if wrote_last:   # the same bytes: copy rather than serialise twice
                    _atomic_copy(self.last_path, self.best_path)
                else:
                    trainer.save_checkpoint(self.best_path)
            return
        new_path, dropped = self._rank(trainer, epoch, value, logs)
        # the ranking is updated before writing, so that every file written now holds the new top k
        if wrote_last:
            trainer.save_checkpoint(self.last_path)
        if new_path is not None:
            if self.verbose:
                trainer.echo(f"ModelCheckpoint: saving {new_path}" + (f" ({self.monitor} {value:.4g})"
                                                                      if value is not None else ""))
            if wrote_last:
                _atomic_copy(self.last_path, new_path)
            else:
                trainer.save_checkpoint(new_path)
        for path in dropped:                                # only once the replacement is on disk
            if path != new_path:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)

    def _rank(self, trainer: "Trainer", epoch: int, value: float | None,
              logs: Mapping[str, Any]) -> tuple[Path | None, list[Path]]:
        """Where this epoch's checkpoint goes (None: not kept) and the files that leave the top k."""
        k = self.save_top_k
        if k == 0:
            return None, []
        if k != -1 and value is None:
            return None, []
        if k != -1 and len(self.top_k) >= k and not self.is_improvement(value, self.top_k[-1]["score"]):
            return None, []
        new: dict[str, Any] = {"path": "", "score": value, "epoch": epoch}
        entries = [e for e in self.top_k if e["epoch"] != epoch] + [new]
        scored = sorted((e for e in entries if e["score"] is not None), key=lambda e: e["score"],
                        reverse=self.mode == "max")          # stable: an earlier epoch wins a tie
        entries = scored + [e for e in entries if e["score"] is None]
        keep = entries if k == -1 else entries[:k]
        dropped = entries[len(keep):]
        name = self.format_checkpoint_name({"epoch": epoch, "step": trainer.global_step, **logs})
        taken = {e["path"] for e in keep if e is not new}
        path, version = self.dirpath / name, 1
        while str(path) in taken:                            # Lightning's -v1, -v2 for a repeated name
            path, version = self.dirpath / f"{name[:-4]}-v{version}.npz", version + 1
        new["path"] = str(path)                              # (a dropped file of the same name is overwritten)
        self.top_k = keep
        self.best_path = Path(keep[0]["path"])
        return path, [Path(e["path"]) for e in dropped if e["path"] != str(path)]

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "top_k": [[e["path"], e["score"], e["epoch"]] for e in self.top_k]}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        super().load_state_dict(state)
        self.top_k = [{"path": str(p), "score": None if s is None else float(s), "epoch": int(e)}
                      for p, s, e in state.get("top_k", [])]


def _atomic_copy(src: Path, dst: Path) -> None:
    def write(f) -> None:
        with open(src, "rb") as s:
            shutil.copyfileobj(s, f)

    atomic_write(dst, write)


class LearningRateScheduler(Callback):
    """Step a :mod:`gradwise.optim.lr_scheduler` scheduler from the training loop.

    Works with gradwise's schedulers and ``torch.optim.lr_scheduler``'s alike.  ``interval="epoch"``
    (default) steps after every epoch, ``"step"`` after every optimizer step (chosen automatically for
    the schedules defined per step: ``OneCycleLR``, ``CyclicLR``).  A scheduler whose ``step`` takes the
    metric (``ReduceLROnPlateau``) is stepped with the epoch's ``monitor`` value (default
    ``"val_loss"``; the lecture's "decay rate" knob, used when the validation loss stops improving); its
    ``mode`` must agree with the monitor's direction.  The callback owns the scheduler's state: it is
    checkpointed under this callback's key.
    """

    order = 40
    _PER_STEP = ("OneCycleLR", "CyclicLR")

    def __init__(self, scheduler: Any, interval: str | None = None, monitor: str = "val_loss") -> None:
        self.scheduler = scheduler
        per_step = any(cls.__name__ in self._PER_STEP for cls in type(scheduler).__mro__)
        self.interval = interval or ("step" if per_step else "epoch")
        if self.interval not in ("epoch", "step"):
            raise ValueError(f"LearningRateScheduler: interval {interval!r} is not one of epoch, step")
        self.monitor = monitor
        self.plateau = _steps_with_a_metric(scheduler)

    def on_train_begin(self, trainer: "Trainer") -> None:
        if self.plateau:
            trainer.require_key(self.monitor, "ReduceLROnPlateau")
            wanted, mode = metric_mode(self.monitor), getattr(self.scheduler, "mode", None)
            if mode in ("min", "max") and mode != wanted:
                raise ValueError(f"{type(self.scheduler).__name__}(mode={mode!r}) watches {self.monitor!r}, which "
                                 f"should be {'maximised' if wanted == 'max' else 'minimised'}: use mode={wanted!r}")

    def on_batch_end(self, trainer: "Trainer", batch_index: int, logs: dict[str, Any]) -> None:
        if self.interval == "step":
            self.scheduler.step()

    def on_epoch_end(self, trainer: "Trainer", epoch: int, logs: dict[str, Any]) -> None:
        if self.interval != "epoch":
            return
        if self.plateau:
            before = trainer.lr
            self.scheduler.step(logs[self.monitor])
            if trainer.lr < before:
                trainer.echo(f"ReduceLROnPlateau: {self.monitor} stopped improving; learning rate "
                             f"{before:.3g} -> {trainer.lr:.3g}")
        else:
            self.scheduler.step()

    def state_dict(self) -> dict[str, Any]:
        return {"scheduler": self.scheduler.state_dict()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        if "scheduler" in state:
            self.scheduler.load_state_dict(state["scheduler"])

    def __repr__(self) -> str:
        return f"LearningRateScheduler({type(self.scheduler).__name__}, interval={self.interval!r})"


def _steps_with_a_metric(scheduler: Any) -> bool:
    """True for schedulers whose ``step`` needs the monitored value (``ReduceLROnPlateau`` in both frameworks)."""
    try:
        parameters = inspect.signature(scheduler.step).parameters
    except (TypeError, ValueError):
        return False
    first = next(iter(parameters.values()), None)
    return first is not None and first.name == "metrics" and first.default is inspect.Parameter.empty


# ============================================================================= logs
class _FileLogger(Callback):
    """Shared part of the CSV and JSON Lines loggers: the per-epoch file and the per-step file.

    The per-epoch file is rewritten (atomically) from ``trainer.history`` after every epoch, so a
    resumed run's file holds exactly the resumed history.  The per-step file is appended to and
    flushed at every epoch's end; on resume the steps after the checkpoint (the ones the interrupted
    run does again) are dropped first, by an atomic rewrite, so a crash at any moment loses no row
    that was in the file before.
    """

    order = 50
    suffix = ""

    def __init__(self, log_dir: str | os.PathLike | None = None, filename: str | None = None,
                 steps_filename: str | None = None, log_steps: bool = True) -> None:
        self.log_dir = Path(log_dir) if log_dir is not None else None
        self.filename = filename or f"history{self.suffix}"
        self.steps_filename = steps_filename or f"steps{self.suffix}"
        self.log_steps = log_steps
        self._steps_file: TextIO | None = None

    @property
    def path(self) -> Path:
        return self.log_dir / self.filename

    @property
    def steps_path(self) -> Path:
        return self.log_dir / self.steps_filename

    def on_train_begin(self, trainer: "Trainer") -> None:
        if self.log_dir is None:
            if trainer.log_dir is None:
                raise ValueError(f"{type(self).__name__} needs a folder: pass log_dir= to fit() or "
                                 f"{type(self).__name__}(log_dir)")
            self.log_dir = trainer.log_dir
        self.log_dir.mkdir(parents=True, exist_ok=True)
        if self.log_steps:
            self._open_steps(trainer.global_step)
        if trainer.history.records:
            self._write_history(trainer)

    def on_batch_end(self, trainer: "Trainer", batch_index: int, logs: dict[str, Any]) -> None:
        if self._steps_file is not None:
            self._write_step(logs)

    def on_epoch_end(self, trainer: "Trainer", epoch: int, logs: dict[str, Any]) -> None:
        self._write_history(trainer)
        if self._steps_file is not None:
            self._steps_file.flush()

    def on_train_end(self, trainer: "Trainer") -> None:
        self._close()

    def on_exception(self, trainer: "Trainer", exception: BaseException) -> None:
        self._close()

    def _close(self) -> None:
        if self._steps_file is not None:
            self._steps_file.close()
            self._steps_file = None

    def _open_steps(self, global_step: int) -> None:
        """A fresh run starts the file; a resumed one keeps the rows up to its checkpoint and appends."""
        if global_step == 0 or not self.steps_path.exists():
            self._steps_file = self.steps_path.open("w", encoding="utf-8", newline="")
            self._start_steps([])
            return
        rows, total = self._read_steps_until(global_step)
        if len(rows) != total:   # the interrupted run went past its checkpoint: drop those steps, atomically
            buffer = io.StringIO()
            self._steps_file = buffer
            self._start_steps(rows)
            text = buffer.getvalue().encode("utf-8")
            atomic_write(self.steps_path, lambda f: f.write(text))
        self._steps_file = self.steps_path.open("a", encoding="utf-8", newline="")
        self._continue_steps(rows)

    # subclasses: the format
    def _write_history(self, trainer: "Trainer") -> None: ...
    def _read_steps_until(self, step: int) -> tuple[list[dict[str, Any]], int]: ...
    def _start_steps(self, kept: list[dict[str, Any]]) -> None: ...
    def _continue_steps(self, kept: list[dict[str, Any]]) -> None: ...
    def _write_step(self, logs: dict[str, Any]) -> None: ...


def _step_of(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None   # a row cut short when the interrupted run died


class CSVLogger(_FileLogger):
    """``history.csv`` (gradwise's history format, read by ``gradwise diagnose``) and ``steps.csv``.

    ``steps.csv`` has one row per optimizer step: ``epoch, step, batch, loss, [accuracy,] lr, size``.
    """

    suffix = ".csv"
    _writer: Any = None
    _columns: list[str] | None = None

    def _write_history(self, trainer: "Trainer") -> None:
        trainer.history.to_csv(self.path)

    def _read_steps_until(self, step: int) -> tuple[list[dict[str, Any]], int]:
        with self.steps_path.open(newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            rows = list(reader)
            self._columns = list(reader.fieldnames or [])
        kept = [row for row in rows if _step_of(row.get("step")) is not None and _step_of(row["step"]) <= step]
        return kept, len(rows)

    def _start_steps(self, kept: list[dict[str, Any]]) -> None:
        self._writer, self._columns = None, None
        for row in kept:
            self._write_step(row)

    def _continue_steps(self, kept: list[dict[str, Any]]) -> None:
        self._writer = None
        if self._columns:   # append under the existing header
            self._writer = csv.DictWriter(self._steps_file, fieldnames=self._columns, extrasaction="ignore",
                                          lineterminator="\n")

    def _write_step(self, logs: dict[str, Any]) -> None:
        if self._writer is None:
            self._columns = list(logs)
            self._writer = csv.DictWriter(self._steps_file, fieldnames=self._columns, extrasaction="ignore",
                                          lineterminator="\n")
            self._writer.writeheader()
        self._writer.writerow({k: (repr(v) if isinstance(v, float) else v) for k, v in logs.items()})


class JSONLinesLogger(_FileLogger):
    """``history.jsonl`` (one JSON object per epoch, gradwise's format) and ``steps.jsonl`` (one per step)."""

    suffix = ".jsonl"

    def _write_history(self, trainer: "Trainer") -> None:
        trainer.history.to_jsonl(self.path)

    def _read_steps_until(self, step: int) -> tuple[list[dict[str, Any]], int]:
        kept, total = [], 0
        for line in self.steps_path.read_text(encoding="utf-8").splitlines():
            total += 1
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                break   # a line cut short when the interrupted run died
            if row.get("step", 0) <= step:
                kept.append(row)
        return kept, total

    def _start_steps(self, kept: list[dict[str, Any]]) -> None:
        for row in kept:
            self._write_step(row)

    def _continue_steps(self, kept: list[dict[str, Any]]) -> None:
        pass

    def _write_step(self, logs: dict[str, Any]) -> None:
        self._steps_file.write(json.dumps(logs) + "\n")


class TensorBoardLogger(Callback):
    """TensorBoard event files in ``<log_dir>/tensorboard`` (an optional extra: ``pip install tensorboard``).

    Per epoch (step = the epoch number): the scalars ``loss``, ``val_loss``, ``accuracy``,
    ``val_accuracy`` and ``lr`` (whichever the run has); per optimizer step (step = the global
    step): ``batch/loss``.  ``gradwise diagnose <log_dir>/tensorboard`` reads them back.

    The writer is tensorboard's own event-file writer, else ``tensorboardX``'s or
    ``torch.utils.tensorboard``'s ``SummaryWriter``; with none installed the callback raises an
    ``ImportError`` that says what to install.
    """

    order = 50
    EPOCH_KEYS = ("loss", "val_loss", "accuracy", "val_accuracy", "lr")

    def __init__(self, log_dir: str | os.PathLike | None = None, log_steps: bool = True) -> None:
        self.log_dir = Path(log_dir) if log_dir is not None else None
        self.log_steps = log_steps
        self.writer: Any = None
        _summary_writer_class()   # fail now, with the install hint, rather than after the first epoch

    def on_train_begin(self, trainer: "Trainer") -> None:
        if self.log_dir is None:
            if trainer.log_dir is None:
                raise ValueError("TensorBoardLogger needs a folder: pass log_dir= to fit() or TensorBoardLogger(dir)")
            self.log_dir = trainer.log_dir / "tensorboard"
        self.writer = _summary_writer_class()(str(self.log_dir))

    def on_batch_end(self, trainer: "Trainer", batch_index: int, logs: dict[str, Any]) -> None:
        if self.log_steps:
            self.writer.add_scalar("batch/loss", float(logs["loss"]), trainer.global_step)

    def on_epoch_end(self, trainer: "Trainer", epoch: int, logs: dict[str, Any]) -> None:
        for key in self.EPOCH_KEYS:
            if logs.get(key) is not None:
                self.writer.add_scalar(key, float(logs[key]), epoch)
        self.writer.flush()

    def on_train_end(self, trainer: "Trainer") -> None:
        self._close()

    def on_exception(self, trainer: "Trainer", exception: BaseException) -> None:
        self._close()

    def _close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


class _EventWriter:
    """The smallest ``SummaryWriter``: scalars through tensorboard's own ``EventFileWriter``."""

    def __init__(self, log_dir: str) -> None:
        from tensorboard.compat.proto import event_pb2, summary_pb2
        from tensorboard.summary.writer.event_file_writer import EventFileWriter

        self._event, self._summary = event_pb2.Event, summary_pb2.Summary
        self._writer = EventFileWriter(log_dir)

    def add_scalar(self, tag: str, value: float, step: int) -> None:
        summary = self._summary(value=[self._summary.Value(tag=tag, simple_value=float(value))])
        self._writer.add_event(self._event(wall_time=time.time(), step=int(step), summary=summary))

    def flush(self) -> None:
        self._writer.flush()

    def close(self) -> None:
        self._writer.close()


def _summary_writer_class() -> Any:
    try:
        import tensorboard.summary.writer.event_file_writer  # noqa: F401
        from tensorboard.compat.proto import event_pb2, summary_pb2  # noqa: F401
        return _EventWriter
    except ImportError:
        pass
    try:
        from tensorboardX import SummaryWriter
        return SummaryWriter
    except ImportError:
        pass
    try:
        from torch.utils.tensorboard import SummaryWriter
        return SummaryWriter
    except ImportError:
        pass
    raise ImportError("TensorBoardLogger needs TensorBoard's event writer: pip install tensorboard "
                      "(or pip install 'gradwise[tensorboard]'); the CSV and JSON Lines logs need nothing")


# ============================================================================= progress
class ProgressBar(Callback):
    """A live progress line - epoch, batch n/N, running loss, ETA - and one summary line per epoch.

    On a terminal the line is redrawn in place (at most ``refresh`` times a second); when the output
    is not a terminal, or the ``CI`` environment variable is set, only the per-epoch lines are
    printed, so that logs stay readable.  At the end it prints why training stopped and, when there
    is one, the learning-curve diagnosis in one line.  Messages printed with ``trainer.echo`` (the
    babysitter's warnings) clear the live line first.
    """

    order = -10

    def __init__(self, stream: TextIO | None = None, live: bool | None = None, refresh: float = 10.0) -> None:
        self._stream = stream
        self.live = live
        self.refresh = refresh
        self._shown = 0
        self._last_draw = 0.0
        self._epoch_start = 0.0
        self._loss_sum = 0.0
        self._count = 0

    @property
    def stream(self) -> TextIO:
        return self._stream or sys.stdout

    def on_train_begin(self, trainer: "Trainer") -> None:
        if self.live is None:
            isatty = getattr(self.stream, "isatty", lambda: False)
            self.live = bool(isatty()) and not os.environ.get("CI")
        trainer.live_line = self

    def on_epoch_begin(self, trainer: "Trainer", epoch: int) -> None:
        self._epoch_start, self._loss_sum, self._count = time.perf_counter(), 0.0, 0

    def on_batch_end(self, trainer: "Trainer", batch_index: int, logs: dict[str, Any]) -> None:
        size = logs.get("size", 1)
        self._loss_sum, self._count = self._loss_sum + logs["loss"] * size, self._count + size
        now = time.perf_counter()
        if not self.live or now - self._last_draw < 1.0 / self.refresh:
            return
        self._last_draw = now
        n, done = trainer.batches_per_epoch, batch_index + 1
        elapsed = now - self._epoch_start
        bar = ""
        if n:
            filled = int(20 * done / n)
            eta = elapsed / done * (n - done)
            bar = f"{done}/{n} [{'=' * filled}{'>' if filled < 20 else ''}{' ' * (19 - filled)}] ETA {_duration(eta)}"
        else:
            bar = f"{done}"
        self._draw(f"epoch {epoch_label(trainer)}  {bar}  loss {self._loss_sum / self._count:.4f}")

    def on_epoch_end(self, trainer: "Trainer", epoch: int, logs: dict[str, Any]) -> None:
        parts = [f"epoch {epoch_label(trainer)}"]
        for key in trainer.metric_names:
            if key in ("epoch", "seconds", "lr") or logs.get(key) is None:
                continue
            parts.append(f"{key} {logs[key]:.4f}" if "loss" in key else f"{key} {logs[key]:.3f}")
        if logs.get("lr") is not None:
            parts.append(f"lr {logs['lr']:.2g}")
        parts.append(f"{logs.get('seconds', 0.0):.2f}s")
        self.print("  ".join(parts))

    def on_train_end(self, trainer: "Trainer") -> None:
        h = trainer.history
        self.print(f"stopped: {h.stop_reason}")
        if h.diagnosis is not None:
            best = f", best epoch {h.diagnosis.best_epoch}" if h.diagnosis.best_epoch is not None else ""
            self.print(f"diagnosis: {h.diagnosis.verdict}{best}")
        trainer.live_line = None

    def on_exception(self, trainer: "Trainer", exception: BaseException) -> None:
        self.clear()
        trainer.live_line = None

    def print(self, text: str) -> None:
        """Print a whole line, first clearing the live line if one is shown."""
        self.clear()
        print(text, file=self.stream, flush=True)

    def clear(self) -> None:
        if self._shown:
            self.stream.write("\r" + " " * self._shown + "\r")
            self._shown = 0

    def _draw(self, text: str) -> None:
        width = shutil.get_terminal_size((100, 20)).columns - 1
        text = text[:width]
        self.stream.write("\r" + text + " " * max(0, self._shown - len(text)))
        self.stream.flush()
        self._shown = len(text)


def epoch_label(trainer: "Trainer") -> str:
    width = len(str(trainer.epochs))
    return f"{trainer.epoch:>{width}}/{trainer.epochs}"


def _duration(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, s = divmod(int(seconds), 60)
    return f"{minutes}m{s:02d}s" if minutes < 60 else f"{minutes // 60}h{minutes % 60:02d}m"


# ============================================================================= stopping by the diagnosis
class DiagnosisStopping(Callback):
    """Stop when the learning-curve diagnosis of the epochs so far reads a clear overfit (``fit(...,
    early_stopping="diagnosis")``), and restore the best epoch's weights.

    At each epoch's end :class:`gradwise.diagnose.LiveDiagnosis` reads the history so far (about a
    millisecond): the run stops when, after at least ``min_epochs`` (12) epochs, the diagnosis says ``overfit``
    with confidence >= ``min_confidence`` (0.97), the best epoch is at least ``min_epochs_after_best`` (4) epochs
    back and the rise is beyond the curve's noise, or - the floor - when ``monitor`` has not improved for
    ``patience`` epochs, so it never
    stops later than ``EarlyStopping(patience=6)`` would.  The weights restored at
    the end are those of :func:`gradwise.diagnose.best_epoch` (the lowest raw validation loss).
    Measured on recorded runs: docs/diagnosis_accuracy.md.
    """

    def __init__(self, patience: int = 6, min_confidence: float | None = None,
                 min_epochs_after_best: int | None = None, min_epochs: int | None = None,
                 monitor: str = "val_loss") -> None:
        from gradwise.diagnose import LiveDiagnosis

        self.monitor = monitor
        given = {"min_confidence": min_confidence, "min_epochs_after_best": min_epochs_after_best,
                 "min_epochs": min_epochs}
        self.live = LiveDiagnosis(patience=patience, **{k: v for k, v in given.items() if v is not None})
        self.best_epoch: int | None = None
        self.best_weights: dict[str, Any] | None = None

    def on_train_begin(self, trainer: "Trainer") -> None:
        trainer.require_key(self.monitor, "early_stopping='diagnosis'")

    def on_epoch_end(self, trainer: "Trainer", epoch: int, logs: dict[str, Any]) -> None:
        stop, reason, restore = self.live.update({"epoch": epoch, **logs})
        if restore == epoch:
            self.best_epoch, self.best_weights = epoch, trainer.engine.snapshot_weights(trainer.model)
        if stop:
            trainer.stop(f"early stopping by the diagnosis: {reason}")

    def on_train_end(self, trainer: "Trainer") -> None:
        if self.best_weights is not None and self.best_epoch != trainer.epoch:
            trainer.engine.restore_weights(trainer.model, self.best_weights)
            trainer.echo(f"restored the weights of epoch {self.best_epoch} (the lowest {self.monitor})")

    def state_dict(self) -> dict[str, Any]:
        return {"records": self.live.records, "best_epoch": self.best_epoch, "best_weights": self.best_weights}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.live.records = [dict(r) for r in state.get("records", [])]
        self.best_epoch, self.best_weights = state.get("best_epoch"), state.get("best_weights")
