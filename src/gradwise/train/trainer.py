"""The training loop and the state that callbacks see.

The lecture's BACKPROPAGATION procedure::

    Randomly initialize weights
    repeat
        for all (x, y) in D:
            compute forward pass; compute loss; compute backward pass; update weights
    until achieve stopping criteria

:class:`Trainer` runs exactly that (``run``): the caller initialises the model; every epoch visits the
training data in mini-batches - forward, loss, backward, update - then, in the lecture's second
babysitting stage, measures the validation data; the loop ends at the first stopping condition: the
maximum number of epochs, a non-finite loss (never trained through: the run stops before the update
that would spread NaN into the weights), or any callback calling :meth:`Trainer.stop` (early stopping,
a target metric, a time budget, the babysitter).  Callbacks (:mod:`gradwise.train.callbacks`) see the
trainer itself; its public attributes are the contract they rely on (see :class:`Trainer`).
"""
from __future__ import annotations

import contextlib
import json
import math
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from gradwise.engines import Engine, engine_for
from gradwise.train import checkpoint as ckpt
from gradwise.train.callback import Callback
from gradwise.train.evaluate import Means, Metric, batch_metrics, batch_size_of, evaluate, split_batch
from gradwise.train.history import Check, History
from gradwise.train.jsonable import json_default

__all__ = ["Trainer", "Metric"]


class Trainer:
    """The state of a training run, and the loop that advances it.

    Public attributes (what callbacks may read; ``fit`` builds the trainer):

    * ``model``, ``optimizer``, ``loss_fn`` - what is trained, how, against what (a gradwise or a
      PyTorch model; under ``torchrun`` ``model`` is the module itself, not its DDP wrapper).
    * ``engine`` - the :class:`~gradwise.engines.Engine` that drives the model (arrays out and in,
      ``no_grad``, snapshots, random streams); callbacks go through it, never into a tensor.
    * ``distributed`` - the :class:`~gradwise.train.distributed.Distributed` context under ``torchrun``, else None.
    * ``scheduler`` - the first learning-rate scheduler (None without one); ``schedulers`` - all of them.
    * ``train_loader``, ``val_loader`` (None without validation data) - :class:`~gradwise.data.DataLoader`\\ s.
    * ``history`` - the :class:`~gradwise.train.History` being written.
    * ``epoch`` - the current epoch, from 1 (0 before the first; after training: the last one run).
    * ``epochs`` - the maximum number of epochs; ``batch_index`` - the batch within the epoch, from 0.
    * ``global_step`` - optimizer steps done so far (over all epochs, resumes included).
    * ``log_dir`` - a :class:`~pathlib.Path`, or None when the run keeps no files.
    * ``stop_training`` - set by :meth:`stop`; the loop ends after the current batch.
    * ``first_batch`` - the first training batch, drawn without disturbing any random stream, so that
      checks can probe the model before training (``inputs, target = trainer.split_batch(trainer.first_batch)``).
    * ``is_classification``, ``num_classes`` - from the loss (cross-entropy/NLL: the model's output
      width; binary cross-entropy: 2); ``num_classes`` is None for regression.
    * ``metrics`` - name -> ``fn(outputs, targets)`` computed on every batch (``{"accuracy": ...}``).
    * ``batches_per_epoch`` (None when the loader has no length), ``lr`` (param group 0), ``elapsed``.

    Methods for callbacks: :meth:`stop`, :meth:`warn`, :meth:`echo`, :meth:`require_key`,
    :meth:`split_batch`, :meth:`preserve_state`, :meth:`evaluate`, :meth:`save_checkpoint`.
    """

    def __init__(self, model: Any, optimizer: Any, loss_fn: Callable, train_loader: Any, val_loader: Any = None, *,
                 epochs: int, callbacks: Sequence[Callback] = (),
                 metrics: Mapping[str, Metric] | None = None, log_dir: str | Path | None = None,
                 is_classification: bool | None = None, engine: Engine | None = None, distributed: Any = None) -> None:
        if not isinstance(epochs, int) or epochs < 1:
            raise ValueError(f"epochs must be a positive integer, got {epochs!r}")
        self.model, self.optimizer, self.loss_fn = model, optimizer, loss_fn
        self.engine = engine or engine_for(model)
        self.distributed = distributed
        self.forward_model = distributed.wrap(model) if distributed is not None else model
        self.train_loader, self.val_loader = train_loader, val_loader
        self.epochs = epochs
        self.callbacks: list[Callback] = sorted(callbacks, key=lambda cb: getattr(cb, "order", 0))
        self.metrics: dict[str, Metric] = dict(metrics or {})
        self.log_dir = Path(log_dir) if log_dir is not None else None
        kind = classification_kind(loss_fn)
        self.is_classification = bool(kind) if is_classification is None else is_classification
        self._classification_kind = kind
        self.history = History()
        self.epoch = 0
        self.batch_index = -1
        self.global_step = 0
        self.stop_training = False
        self.live_line: Any = None          # the ProgressBar while one is drawing a live line
        self.resumed_from: Path | None = None
        self._resume_rng: dict[str, Any] | None = None
        self._first_batch: Any = None
        self._num_classes: int | None = None
        self._t0 = time.perf_counter()
        self._needs_closure = self.engine.needs_closure(optimizer)
        self.sync_every = self.engine.sync_every
        self.sync_requested = False
        self._pending: list[tuple[int, dict[str, Any]]] = []

    # ================================================================== the loop
    def run(self) -> History:
        """Train until a stopping condition; returns :attr:`history` (``stop_reason`` and ``diagnosis`` set)."""
        self._t0 = time.perf_counter()
        try:
            self._rewrite_checks_file()
            self._call("on_train_begin")
            if self._resume_rng is not None:   # after on_train_begin: probes made there cannot shift the streams
                ckpt.restore_rng(self._resume_rng, self._generators, self.engine, self._loaders)
                self._resume_rng = None
            if self.epoch >= self.epochs:
                self.stop(f"nothing to do: the run already has {self.epoch} of the {self.epochs} epochs asked for")
            while not self.stop_training and self.epoch < self.epochs:
                self._train_epoch(self.epoch + 1)
            if not self.stop_training:
                self.stop(f"completed the {self.epochs} epochs asked for")
        except BaseException as exc:
            for cb in self.callbacks:
                with contextlib.suppress(Exception):
                    cb.on_exception(self, exc)
            if isinstance(exc, KeyboardInterrupt):   # Ctrl-C, or SIGTERM turned into one by the CLI
                self._interrupted(exc)
            raise
        self._diagnose()
        self._call("on_train_end")
        self._write_summary()
        return self.history

    def _train_epoch(self, epoch: int) -> None:
        self.epoch, self.batch_index = epoch, -1
        for loader in (self.train_loader, self.val_loader):
            _set_epoch(loader, epoch - 1)
        self._call("on_epoch_begin", epoch)
        lr = self.lr
        start = time.perf_counter()
        self.model.train()
        totals = Means()
        batches = iter(self.train_loader)
        try:
            for batch_index, batch in enumerate(batches):
                if not self._train_step(batch_index, batch, totals):
                    return   # non-finite loss: stopped, no record for this epoch
                if self.stop_training and self.distributed is None:
                    break    # (data-parallel processes stop together, at the end of the epoch)
            if self._pending and not self._flush(totals):
                return
        finally:
            self._pending = []
            close = getattr(batches, "close", None)
            if close is not None:
                close()
        if self.distributed is not None:
            totals = self.distributed.reduce_means(totals)
        if totals.count == 0:
            raise ValueError("the training data gave no batch in this epoch (an empty dataset, or drop_last=True "
                             "with fewer samples than batch_size)")
        record: dict[str, Any] = {"epoch": epoch, **totals.means()}
        if not math.isfinite(record["loss"]):   # data-parallel runs on an accelerator find it here
            self.stop(f"non-finite training loss ({record['loss']}) in epoch {epoch}: lower the learning rate, "
                      "normalize the inputs, or check what the loss is given")
            return
        if self.val_loader is not None:
            val_logs = self.evaluate(self.val_loader)
            bad = {k: v for k, v in val_logs.items() if not math.isfinite(v)}
            if bad:
                self.stop(f"non-finite validation result at epoch {epoch} ({', '.join(f'{k}={v}' for k, v in bad.items())}): "
                          "the model produces overflowing or NaN outputs on the validation data")
                return
            self._call("on_validation_end", epoch, val_logs)
            record.update(val_logs)
        record["lr"] = lr
        record["seconds"] = time.perf_counter() - start
        self.history.records.append(record)
        self._call("on_epoch_end", epoch, record)
        if self.distributed is not None:
            self._agree_on_stopping()

    def _agree_on_stopping(self) -> None:
        """Data-parallel processes stop together: when any process asks to stop, all do."""
        if self.distributed.any(self.stop_training) and not self.stop_training:
            self.stop("another process of the data-parallel run stopped")
    def _train_step(self, batch_index: int, batch: Any, totals: Means) -> bool:
        """Forward, loss, backward, update for one batch; False when the loss was not finite."""
        self.batch_index = batch_index
        self.sync_requested = False
        self._call("on_batch_begin", batch_index, batch)
        inputs, target = self.split_batch(batch)
        outputs = self.forward_model(*inputs)
        loss = self.loss_fn(outputs, target)
        deferred = self.sync_every > 1 and not self.sync_requested
        value = loss.detach() if deferred else self.engine.item(loss)
        self._call("on_after_forward", batch_index, outputs, loss)
        if not deferred:
            bad = not math.isfinite(value)
            if self.distributed is not None:
                # every process decides at the same step, before the update - where every process reads every
                # step's loss (the CPU); on an accelerator only rank 0's babysitter reads some steps at once,
                # so a collective here would not be matched: the processes agree at the epoch's end instead
                bad = self.distributed.any(bad) if self.sync_every == 1 else False
            if bad:
                mine = not math.isfinite(value)
                when = ("stopped before that update" + (" on every process" if self.distributed else "")
                        + " so the weights stay finite" + ("" if mine else " (the loss was not finite on another "
                                                                          "process)"))
                self._stop_nonfinite(value if mine else math.nan, batch_index, self.global_step + 1, when)
                return False
        self.optimizer.zero_grad()
        loss.backward()
        self._call("on_after_backward", batch_index)
        if self._needs_closure:
            self.optimizer.step(lambda: self._closure(inputs, target))
        else:
            self.optimizer.step()
        self.global_step += 1
        size = batch_size_of(target, inputs)
        logs: dict[str, Any] = {"epoch": self.epoch, "step": self.global_step, "batch": batch_index + 1, "loss": value}
        logs.update(batch_metrics(self.engine, self.metrics, outputs, target, lazy=deferred))
        logs["lr"] = self.lr
        logs["size"] = size
        self._pending.append((batch_index, logs))
        if not deferred or len(self._pending) >= self.sync_every:
            return self._flush(totals)
        return True

    def _flush(self, totals: Means) -> bool:
        """Finish the pending steps: read their numbers back (one host synchronisation for all of them on an
        accelerator), add them to the epoch's totals and run ``on_batch_end`` for each, in order.

        On the CPU every step is finished at once.  On CUDA the steps wait, ``sync_every`` at most, so the
        device is never stopped to read one loss; a callback that needs this step's numbers now (the
        babysitter on a sampled step) sets ``trainer.sync_requested`` in ``on_batch_begin``.
        """
        pending, self._pending = self._pending, []
        lazy = [(logs, key) for _, logs in pending for key in ("loss", *self.metrics) if self.engine.is_tensor(logs[key])]
        if lazy:
            for (logs, key), number in zip(lazy, self.engine.read_scalars([logs[key] for logs, key in lazy])):
                logs[key] = number
        for batch_index, logs in pending:
            if not math.isfinite(logs["loss"]) and self.distributed is None:
                self._stop_nonfinite(logs["loss"], batch_index, logs["step"], "seen when the numbers were read back "
                                     "from the device, after the update")
                return False
            totals.add({k: logs[k] for k in ("loss", *self.metrics)}, logs["size"])
            self._call("on_batch_end", batch_index, logs)
        return True

    def _stop_nonfinite(self, value: float, batch_index: int, step: int, when: str) -> None:
        n = self.batches_per_epoch
        self.stop(f"non-finite training loss ({value}) at epoch {self.epoch}, batch {batch_index + 1}"
                  f"{f'/{n}' if n else ''} (step {step}); {when} - lower the learning rate, normalize the inputs, "
                  "or check what the loss is given")
        self.echo(f"stopping: {self.history.stop_reason}")

    def _closure(self, inputs: tuple, target: Any) -> Any:
        """Re-evaluation of the loss for solvers that need it (LBFGS)."""
        self.optimizer.zero_grad()
        loss = self.loss_fn(self.forward_model(*inputs), target)
        loss.backward()
        return loss

    def evaluate(self, loader: Any, prefix: str = "val_") -> dict[str, float]:
        """Mean loss and metrics over ``loader`` in eval mode without gradients: ``{"val_loss": ..., ...}``
        (:func:`gradwise.train.evaluate`; under ``torchrun`` over every process's shard)."""
        reduce = self.distributed.reduce_means if self.distributed is not None else None
        return evaluate(self.model, loader, self.loss_fn, self.metrics, engine=self.engine, prefix=prefix,
                        reduce=reduce)

    def _call(self, hook: str, *args: Any) -> None:
        for cb in self.callbacks:
            getattr(cb, hook)(self, *args)

    # ================================================================== for callbacks
    def stop(self, reason: str) -> None:
        """Ask the loop to stop after the current batch; the first reason given is the one recorded."""
        if not self.stop_training:
            self.stop_training = True
            self.history.stop_reason = reason
            self.history.stopped_epoch = self.epoch

    def warn(self, check: Any) -> Check:
        """Record a babysitting :class:`~gradwise.train.Check` in ``history.checks`` and show it now.

        Accepts a ``Check``, a dict or any object with ``name``, ``status``, ``message`` (``evidence``);
        fills in ``epoch``/``step`` when missing.  Checks that did not pass are printed at once (the
        lecture's babysitting happens *while* training); all are appended to ``<log_dir>/checks.jsonl``.
        """
        c = Check.coerce(check)
        if c.epoch is None:
            c.epoch = self.epoch
        if c.step is None:
            c.step = self.global_step
        self.history.checks.append(c)
        if c.status != "pass":
            self.echo(str(c))
        if self.log_dir is not None:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            with (self.log_dir / "checks.jsonl").open("a", encoding="utf-8") as f:
                f.write(json.dumps(c.to_dict(), default=json_default) + "\n")
        return c

    def echo(self, text: str) -> None:
        """Print a message while training (clearing the progress bar's live line first)."""
        if self.live_line is not None:
            self.live_line.print(text)
        else:
            print(text, flush=True)

    @property
    def metric_names(self) -> list[str]:
        """The keys every epoch record of this run will have."""
        names = ["loss", *self.metrics]
        if self.val_loader is not None:
            names += ["val_" + n for n in names]
        return ["epoch", *names, "lr", "seconds"]

    def require_key(self, key: str, who: str) -> None:
        """Raise a clear ``ValueError`` when ``who`` wants to watch a key this run will not log."""
        if key in self.metric_names:
            return
        hint = " (val_* keys need validation data: pass val= to fit())" \
            if key.startswith("val_") and self.val_loader is None else ""
        raise ValueError(f"{who}: {key!r} is not logged by this run{hint}; logged keys: {', '.join(self.metric_names)}")

    def split_batch(self, batch: Any) -> tuple[tuple[Any, ...], Any]:
        """``(inputs, target)`` of a batch as the model's tensors on its device: ``(x, y)`` -> ``((x,), y)``;
        ``(x1, x2, y)`` -> ``((x1, x2), y)``."""
        return split_batch(batch, self.engine)

    @property
    def first_batch(self) -> Any:
        """The first training batch (drawn once, with every random stream restored afterwards)."""
        if self._first_batch is None:
            with ckpt.preserved(generators=self._generators, engine=self.engine, loaders=self._loaders):
                batches = iter(self.train_loader)
                try:
                    self._first_batch = next(batches)
                except StopIteration:
                    raise ValueError("the training data is empty") from None
                finally:
                    close = getattr(batches, "close", None)
                    if close is not None:
                        close()
        return self._first_batch

    @property
    def num_classes(self) -> int | None:
        """Classes of a classification run: the model's output width (one probe of ``first_batch``)."""
        if not self.is_classification:
            return None
        if self._num_classes is None:
            if self._classification_kind in ("binary_logits", "binary_probs"):
                self._num_classes = 2
            else:
                inputs, _ = self.split_batch(self.first_batch)
                with self.preserve_state(optimizer=False), self.engine.no_grad():
                    self.model.eval()
                    out = self.model(*inputs)
                self._num_classes = int(out.shape[1]) if out.ndim > 1 else 2
        return self._num_classes

    def preserve_state(self, model: bool = True, optimizer: bool = True) -> contextlib.AbstractContextManager:
        """``with trainer.preserve_state():`` - weights, modes, optimizer state and every RNG are restored on exit.

        For checks that probe or briefly train the model (e.g. "can it overfit a tiny batch?"):
        the run afterwards is exactly the run it would have been without the probe.
        """
        return ckpt.preserved(self.model if model else None, self.optimizer if optimizer else None, self._generators,
                              engine=self.engine, loaders=self._loaders)

    @property
    def schedulers(self) -> list[Any]:
        """The learning-rate schedulers of the run (each owned by its callback, which checkpoints it)."""
        return [cb.scheduler for cb in self.callbacks if getattr(cb, "scheduler", None) is not None]

    @property
    def scheduler(self) -> Any:
        """The first learning-rate scheduler, None without one."""
        return next(iter(self.schedulers), None)

    @property
    def batches_per_epoch(self) -> int | None:
        try:
            return len(self.train_loader)
        except TypeError:
            return None

    @property
    def lr(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"])

    @property
    def elapsed(self) -> float:
        """Seconds since :meth:`run` began."""
        return time.perf_counter() - self._t0

    @property
    def _generators(self) -> list:
        return ckpt.loader_generators([self.train_loader, self.val_loader])

    @property
    def _loaders(self) -> list:
        return [self.train_loader, self.val_loader]

    @property
    def _stateful_loaders(self) -> list:
        """Loaders that keep their own order state (PyTorch's in-memory batches: a base seed)."""
        return [loader for loader in (self.train_loader, self.val_loader)
                if hasattr(loader, "set_epoch") and hasattr(loader, "load_state_dict")]

    # ================================================================== checkpoints
    def _callback_keys(self) -> list[tuple[str, Callback]]:
        keys, seen = [], {}
        for cb in self.callbacks:
            name = type(cb).__name__
            seen[name] = seen.get(name, 0) + 1
            keys.append((name if seen[name] == 1 else f"{name}#{seen[name]}", cb))
        return keys

    def checkpoint_state(self) -> dict[str, Any]:
        """Everything :meth:`load_checkpoint` needs to continue this run exactly."""
        return {
            "epoch": self.epoch,
            "global_step": self.global_step,
            "epochs": self.epochs,
            "saved_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "engine": self.engine.name,
            "model": self.engine.state_arrays(self.model),
            "optimizer": self.optimizer.state_dict(),
            "optimizer_class": type(self.optimizer).__name__,
            "callbacks": {key: cb.state_dict() for key, cb in self._callback_keys()},
            "rng": ckpt.capture_rng(self._generators, self.engine, self._loaders),
            "loaders": [loader.state_dict() for loader in self._stateful_loaders],
            "history": self.history.state_dict(),
        }

    def save_checkpoint(self, path: str | Path) -> Path:
        """Write a resumable checkpoint of the run as it is now (atomically; see :mod:`gradwise.train.checkpoint`)."""
        return ckpt.save_checkpoint(path, self.checkpoint_state())

    def load_checkpoint(self, path: str | Path) -> None:
        """Continue from a checkpoint: model, optimizer, schedulers, callbacks, history, epoch, random streams.

        The random streams are put back when :meth:`run` starts its first epoch, so the resumed run
        draws exactly what the uninterrupted one drew.
        """
        path = Path(path)
        state = ckpt.load_checkpoint(path)
        saved_engine = state.get("engine", "gradwise")
        if saved_engine != self.engine.name:
            raise ValueError(f"{path}: the checkpoint is of a {saved_engine} model, this run trains a "
                             f"{self.engine.display} model; resume with the model it was written for")
        try:
            self.engine.load_state_arrays(self.model, state["model"])
        except RuntimeError as err:
            raise ValueError(f"{path}: the checkpoint does not fit this model: {err}") from None
        saved_class = state.get("optimizer_class")
        ours = type(self.optimizer).__name__
        if (saved_class is not None and saved_class != ours) or \
                ckpt.optimizer_signature(state["optimizer"]) != ckpt.optimizer_signature(self.optimizer.state_dict()):
            raise ValueError(f"{path}: the checkpoint's optimizer state was written by "
                             f"{saved_class or 'another solver'}, this run trains with {ours}; resume with the same "
                             "optimizer")
        try:
            self.optimizer.load_state_dict(state["optimizer"])
        except (ValueError, KeyError) as err:
            raise ValueError(f"{path}: the checkpoint's optimizer state does not fit this optimizer "
                             f"({type(self.optimizer).__name__}): {err}") from None
        saved_callbacks = state.get("callbacks", {})
        saved_schedulers = ckpt.scheduler_states(state)
        if len(saved_schedulers) != len(self.schedulers):
            raise ValueError(f"{path}: the checkpoint has {len(saved_schedulers)} learning-rate scheduler(s), this run "
                             f"{len(self.schedulers)}; resume with the same scheduler setup")
        if state.get("schedulers") is not None:   # written before callbacks owned their scheduler
            for sched, s in zip(self.schedulers, saved_schedulers):
                sched.load_state_dict(s)
        for loader, s in zip(self._stateful_loaders, state.get("loaders", [])):
            loader.load_state_dict(s)
        for key, cb in self._callback_keys():
            if key in saved_callbacks:
                cb.load_state_dict(saved_callbacks[key])
        self.history.load_state_dict(state["history"])
        self.history.stop_reason = self.history.stopped_epoch = None
        self.epoch, self.global_step = int(state["epoch"]), int(state["global_step"])
        self._resume_rng = state["rng"]
        self.resumed_from = path

    # ================================================================== the end
    def _diagnose(self) -> None:
        """Read the learning curves (the lecture's "Training Graphs") when the run allows it; never raises."""
        h = self.history
        if self.val_loader is None:
            h.diagnosis_note = "no diagnosis: the run had no validation data (pass val= to fit())"
            return
        try:
            from gradwise.diagnose import Thresholds, curves
            from gradwise.train.babysit.validation_checks import regularization

            needed = Thresholds().min_epochs
            if len(h.records) < needed:
                h.diagnosis_note = f"no diagnosis: {len(h.records)} epoch(s) recorded, at least {needed} are needed"
                return
            # dropout / augmentation make validation below training expected: the reading takes that into account
            h.diagnosis = curves(h, regularized=regularization(self.model, self.train_loader))
        except Exception as err:   # the diagnosis is advice; it must never cost the user the trained model
            h.diagnosis_note = f"no diagnosis: {err}"

    def _interrupted(self, exc: KeyboardInterrupt) -> None:
        """Record an interrupted run: the stop reason, the checkpoint to resume from, ``run.json``."""
        checkpoint = self.last_checkpoint
        where = f"epoch {self.epoch}" + (f", step {self.global_step}" if self.global_step else "")
        self.history.stop_reason = f"interrupted in {where}"
        self.history.stopped_epoch = self.epoch
        exc.gradwise_checkpoint = checkpoint   # what the CLI names in its "resume with" line
        exc.gradwise_epoch = self.epoch
        with contextlib.suppress(Exception):
            self._write_summary()

    @property
    def last_checkpoint(self) -> Path | None:
        """The newest resumable checkpoint this run wrote (``.../checkpoints/last.npz``), or None."""
        for cb in self.callbacks:
            path = getattr(cb, "last_path", None)
            if path is not None and Path(path).is_file():
                return Path(path)
        return None

    def _rewrite_checks_file(self) -> None:
        if self.log_dir is None:
            return
        self.log_dir.mkdir(parents=True, exist_ok=True)
        text = "".join(json.dumps(c.to_dict(), default=json_default) + "\n" for c in self.history.checks)
        (self.log_dir / "checks.jsonl").write_text(text, encoding="utf-8")

    def _write_summary(self) -> None:
        """``<log_dir>/run.json``: how the run ended, its diagnosis and checks (what a report needs first)."""
        if self.log_dir is None:
            return
        h = self.history
        summary = {
            "stop_reason": h.stop_reason, "epochs_run": len(h.records), "max_epochs": self.epochs,
            "stopped_epoch": h.stopped_epoch, "global_step": self.global_step, "best_epoch": h.best_epoch,
            "seconds": self.elapsed, "final": h.records[-1] if h.records else None,
            "diagnosis": h.diagnosis.to_dict() if h.diagnosis is not None else None,
            "diagnosis_note": h.diagnosis_note, "checks": [c.to_dict() for c in h.checks],
            "resumed_from": str(self.resumed_from) if self.resumed_from else None,
            "model": type(self.model).__name__, "optimizer": type(self.optimizer).__name__, "engine": self.engine.name,
            "processes": self.distributed.world_size if self.distributed is not None else 1,
            "loss": callable_name(self.loss_fn),
        }
        text = json.dumps(summary, indent=2, default=json_default)
        ckpt.atomic_write(self.log_dir / "run.json", lambda f: f.write(text.encode("utf-8")))


# ============================================================================= helpers
def _set_epoch(loader: Any, epoch: int) -> None:
    """Tell a loader (or its sampler) which epoch comes, as ``DistributedSampler.set_epoch`` wants."""
    for owner in (loader, getattr(loader, "sampler", None), getattr(getattr(loader, "batch_sampler", None), "sampler", None)):
        set_epoch = getattr(owner, "set_epoch", None)
        if callable(set_epoch):
            set_epoch(epoch)
            return


def classification_kind(loss_fn: Any) -> str | None:
    """``"multiclass"`` (cross-entropy, NLL), ``"binary_logits"``, ``"binary_probs"`` or None (regression/unknown)."""
    return {
        "CrossEntropyLoss": "multiclass", "cross_entropy": "multiclass", "NLLLoss": "multiclass",
        "nll_loss": "multiclass", "BCEWithLogitsLoss": "binary_logits",
        "binary_cross_entropy_with_logits": "binary_logits", "BCELoss": "binary_probs",
        "binary_cross_entropy": "binary_probs",
    }.get(callable_name(loss_fn))


def callable_name(fn: Any) -> str:
    """A function's ``__name__``, else the class name (a loss module such as ``CrossEntropyLoss()``)."""
    name = getattr(fn, "__name__", None)
    return name if isinstance(name, str) else type(fn).__name__


def accuracy_for(kind: str | None) -> Metric:
    """The accuracy metric matching a loss: argmax for multi-class, a threshold for binary outputs."""
    threshold = 0.0 if kind == "binary_logits" else 0.5

    def accuracy(outputs: Any, targets: Any) -> Any:
        if kind == "multiclass" or (kind is None and outputs.ndim >= 2 and outputs.shape[1] > 1):
            predicted = outputs.argmax(1)
            truth = targets.argmax(1) if tuple(targets.shape) == tuple(outputs.shape) else targets
            return _fraction(predicted == truth)
        predicted = outputs.reshape(targets.shape) > threshold
        return _fraction(predicted == (targets > 0.5))

    accuracy.engine_neutral = True   # NumPy arrays give a float; PyTorch tensors a scalar tensor where they live
    return accuracy


def _fraction(mask: Any) -> Any:
    """The fraction of true values: a float for NumPy, a 0-d tensor (no host synchronisation) for PyTorch."""
    return float(np.mean(mask)) if isinstance(mask, np.ndarray) else mask.float().mean()
