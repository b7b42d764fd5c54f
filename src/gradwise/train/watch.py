"""``watch(model, optimizer)``: gradwise's babysitting, logs, diagnosis and report for a hand-written loop.

People who write their own PyTorch (or gradwise) loop get the same thirteen checks, the same run directory
and the same learning-curve reading as ``fit`` gives, by adding three lines::

    with watch(model, optimizer, loss_fn=loss_fn, sample_batch=(x[:512], y[:512]), log_dir="runs/mine") as w:
        for epoch in range(epochs):
            for x, y in loader:
                loss = loss_fn(model(x), y)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                w.step(loss)                                   # once per batch, after optimizer.step()
            w.epoch_end(loss=train_loss, val_loss=val_loss, val_accuracy=val_acc)   # once per epoch
    print(w.history.diagnosis.verdict, [(c.name, c.status) for c in w.history.checks])

Nothing here repeats the training layer's logic: the watch hands :class:`gradwise.train.babysit.Babysitter`
and the CSV / JSON Lines loggers a trainer-like object (:class:`_LoopTrainer`, a
:class:`~gradwise.train.Trainer` whose loop is the caller's) and calls their hooks at the right moments:

* a step begins at the model's first forward pass in training mode with gradients on after the previous
  ``step()`` (a forward pre-hook on the model), so on a sampled step the activation hooks are attached
  before that forward pass, and the weights are copied there, before the update, for the
  update-to-weight ratio;
* ``step(loss)`` finds the gradients still in place (after ``optimizer.step()``, before the next
  ``zero_grad()``) and records the step;
* leaving the ``with`` block finishes the checks, diagnoses the curves as ``fit`` does and, with
  ``log_dir``, writes the run directory (``history.csv``/``.jsonl``, ``steps.csv``/``.jsonl``,
  ``checks.jsonl``, ``checks.json``, ``babysit.json``, ``run.json``, ``report.html``).  An exception in
  the block writes what there is and propagates.

Checks that need what the loop does not give are reported as ``skip`` with the reason: without
``sample_batch`` the input, initial-loss and tiny-batch checks (``init_scheme`` still runs, on the
weights in registration order); without ``loss_fn`` the initial-loss and tiny-batch checks; without an
optimizer the tiny-batch check (and the learning rate is unknown).
"""
from __future__ import annotations

import json
import math
import time
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from gradwise.engines import check_same_engine, engine_for
from gradwise.train.callbacks import Callback, CSVLogger, JSONLinesLogger, ProgressBar
from gradwise.train.checkpoint import atomic_write
from gradwise.train.history import History
from gradwise.train.jsonable import json_default
from gradwise.train.trainer import Trainer, callable_name

__all__ = ["watch", "Watch", "canonical_metrics"]

#: Metric-name prefixes and how gradwise's history spells them (``train_loss`` -> ``loss``).
_PREFIXES = (("training_", ""), ("train_", ""), ("trn_", ""), ("validation_", "val_"), ("valid_", "val_"),
             ("val_", "val_"))
#: Keys of a record that the loop does not set through epoch_end's metrics.
_RECORD_ONLY = ("epoch", "step", "batch", "size")


def canonical_metrics(metrics: Mapping[str, Any]) -> dict[str, Any]:
    """Metric names as gradwise's history spells them, so that ``gradwise diagnose`` and the report find them.

    ``train_loss``/``training_loss``/``train/loss`` -> ``loss``; ``valid_loss``/``validation_loss`` ->
    ``val_loss``; ``acc``/``train_acc`` -> ``accuracy``; ``val_acc`` -> ``val_accuracy``; other names
    keep their form with the same prefixes mapped (``train_f1`` -> ``f1``).  Lightning's ``*_epoch``
    values are taken for their metric and its ``*_step`` values dropped.
    """
    out: dict[str, Any] = {}
    from_epoch: set[str] = set()
    for key, value in metrics.items():
        name = str(key).replace("/", "_").replace("-", "_")
        if name.endswith("_step") and (name[:-5] in metrics or name[:-5] + "_epoch" in metrics):
            continue   # Lightning logged it on_step and on_epoch: the per-step value is not the epoch's
        epoch_value = name.endswith("_epoch") and name != "_epoch"
        if epoch_value:
            name = name[:-6]
        lower = name.lower()
        prefix, rest = "", name
        for old, new in _PREFIXES:
            if lower.startswith(old) and len(name) > len(old):
                prefix, rest = new, name[len(old):]
                break
        rest = {"acc": "accuracy", "accuracy": "accuracy", "loss": "loss"}.get(rest.lower(), rest)
        canonical = prefix + rest
        if canonical in from_epoch and not epoch_value:
            continue
        out[canonical] = value
        if epoch_value:
            from_epoch.add(canonical)
    return out


def watch(model: Any, optimizer: Any = None, *, log_dir: str | Path | None = None, loss_fn: Any = None,
          sample_batch: Any = None, babysit: bool = True, thresholds: Any = None, progress: bool = True,
          epochs: int | None = None, callbacks: Iterable[Callback] = (), stop_on_fail: bool = False,
          pre_training: bool = True) -> "Watch":
    """Babysit a hand-written training loop (PyTorch or gradwise): ``with watch(model, optimizer) as w:``.

    Call ``w.step(loss)`` once per batch after ``optimizer.step()`` and ``w.epoch_end(loss=..., val_loss=...,
    ...)`` once per epoch; ``w.history`` holds the checks, the per-epoch records and, after the block,
    the diagnosis.  See the module docstring.

    Args:
        model: a ``torch.nn.Module`` or a :class:`gradwise.nn.Module` (on its device).
        optimizer: its optimizer (None: the learning rate is unknown and the tiny-batch check skips).
        log_dir: where to write the run directory (None: nothing on disk).
        loss_fn: the loss, ``loss_fn(outputs, target)`` (or a name such as ``"cross_entropy"``), for the
            initial-loss and tiny-batch checks.
        sample_batch: ``(inputs..., target)`` - a few hundred training samples (arrays or tensors) for the
            checks made before training.
        babysit: run the babysitter's checks (off: only the logs, the diagnosis and the report).
        thresholds: a :class:`gradwise.train.babysit.Thresholds` or a dict of overrides.
        progress: print a line per epoch (and the babysitter's findings as they come).
        epochs: the number of epochs the loop will run (only for the progress lines and ``run.json``).
        callbacks: further :class:`~gradwise.train.Callback` objects (e.g. ``TensorBoardLogger()``).
        stop_on_fail: a failed check sets ``w.stop_training`` (the loop decides whether to break).
        pre_training: make the checks that run before the first update.
    """
    return Watch(model, optimizer, log_dir=log_dir, loss_fn=loss_fn, sample_batch=sample_batch, babysit=babysit,
                 thresholds=thresholds, progress=progress, epochs=epochs, callbacks=callbacks,
                 stop_on_fail=stop_on_fail, pre_training=pre_training)


class _LoopTrainer(Trainer):
    """The :class:`Trainer` the callbacks see when the loop is the caller's: the same state, hooks and files,
    with what only a hand-written loop knows (``sample`` instead of a loader, metric names as they come)."""

    def __init__(self, model: Any, optimizer: Any, loss_fn: Any, sample: Any, *, epochs: int | None,
                 callbacks: list[Callback], log_dir: str | Path | None, engine: Any, driver: str) -> None:
        super().__init__(model, optimizer, loss_fn, [sample] if sample is not None else [], None,
                         epochs=epochs or 1, callbacks=callbacks, log_dir=log_dir, engine=engine)
        self.sample = sample
        self.epochs_known = epochs is not None
        self.driver = driver
        self.steps_in_epoch = 0
        self.epoch_steps: int | None = None        # steps of the last finished epoch
        self.keys: list[str] = []                  # metric names in the order the loop gave them
        self.before_update: dict[str, np.ndarray] = {}

    # ------------------------------------------------------------------ what the callbacks read
    @property
    def first_batch(self) -> Any:
        """The loop's ``sample_batch`` (None without one: the checks that need data are skipped)."""
        return self.sample

    @property
    def num_classes(self) -> int | None:
        if self.sample is None and self._classification_kind not in ("binary_logits", "binary_probs"):
            return None
        return super().num_classes

    @property
    def lr(self) -> float:
        """Param group 0's learning rate; NaN without an optimizer."""
        groups = getattr(self.optimizer, "param_groups", None)
        return float(groups[0]["lr"]) if groups else float("nan")

    @property
    def batches_per_epoch(self) -> int | None:
        return self.epoch_steps

    @property
    def metric_names(self) -> list[str]:
        return ["epoch", *self.keys, "lr", "seconds"]

    def require_key(self, key: str, who: str) -> None:
        """Any key: a hand-written loop's metric names are known only once ``epoch_end`` gives them."""

    def weights_before_update(self, layers: list[tuple[str, Any]]) -> list[tuple[str, Any, np.ndarray]]:
        """The weights copied when the sampled step began (``step()`` comes after the update)."""
        return [(name, module, self.before_update[name]) for name, module in layers if name in self.before_update]

    # ------------------------------------------------------------------ the end
    def _diagnose(self) -> None:
        if not any(r.get("val_loss") is not None for r in self.history.records):
            self.history.diagnosis_note = "no diagnosis: the loop reported no val_loss (pass val_loss= to epoch_end())"
            return
        if self.val_loader is None:
            self.val_loader = ()   # there was validation: Trainer._diagnose reads the curves
        super()._diagnose()

    def _write_summary(self) -> None:
        super()._write_summary()
        if self.log_dir is None or not (self.log_dir / "run.json").is_file():
            return
        path = self.log_dir / "run.json"
        summary = json.loads(path.read_text(encoding="utf-8"))
        summary.update(driver=self.driver, max_epochs=self.epochs if self.epochs_known else None,
                       loss=callable_name(self.loss_fn) if self.loss_fn is not None else None,
                       optimizer=type(self.optimizer).__name__ if self.optimizer is not None else None)
        text = json.dumps(summary, indent=2, default=json_default)
        atomic_write(path, lambda f: f.write(text.encode("utf-8")))


class _StepStart:
    """The forward pre-hook that tells a :class:`Watch` a training step begins.

    A deep copy or a pickle of the model (the babysitter's tiny-batch probe, ``torch.save(model)``)
    gets an inert hook, so copies neither drive the watch nor drag it along.
    """

    def __init__(self, watch: "Watch | None") -> None:
        self.watch = watch

    def __call__(self, module: Any, args: Any) -> None:
        if self.watch is not None:
            self.watch._forward_seen(module)

    def __deepcopy__(self, memo: dict) -> "_StepStart":
        return _StepStart(None)

    def __reduce__(self) -> tuple:
        return (_StepStart, (None,))


class Watch:
    """A babysat hand-written loop; made by :func:`watch` (see there and the module docstring).

    Attributes: ``history`` (:class:`~gradwise.train.History`), ``stop_training`` (a check failed with
    ``stop_on_fail``, a callback asked to stop, or the loss became NaN/inf), ``epoch``, ``global_step``,
    ``log_dir``.
    """

    def __init__(self, model: Any, optimizer: Any = None, *, log_dir: str | Path | None = None, loss_fn: Any = None,
                 sample_batch: Any = None, babysit: bool = True, thresholds: Any = None, progress: bool = True,
                 epochs: int | None = None, callbacks: Iterable[Callback] = (), stop_on_fail: bool = False,
                 pre_training: bool = True, device: Any = None, step_hook: bool = True,
                 driver: str = "watch") -> None:
        engine = engine_for(model)
        if engine.name == "torch" and device is None:   # batches go where the model lives
            device = next((p.device for p in model.parameters()), None)
        if device is not None:
            engine = engine_for(model, device)
        if isinstance(loss_fn, str):
            from gradwise.train.fit import resolve_loss

            loss_fn = resolve_loss(loss_fn, engine)
        check_same_engine(engine, "watch", optimizer=optimizer, loss=loss_fn)
        if epochs is not None and (not isinstance(epochs, int) or epochs < 1):
            raise ValueError(f"watch: epochs must be a positive integer or None, got {epochs!r}")
        cbs = list(callbacks)
        if log_dir is not None:
            for logger in (CSVLogger, JSONLinesLogger):
                if not any(isinstance(cb, logger) for cb in cbs):
                    cbs.append(logger())
        if progress and not any(isinstance(cb, ProgressBar) for cb in cbs):
            cbs.append(ProgressBar())
        if babysit and not any(getattr(cb, "is_babysitter", False) for cb in cbs):
            from gradwise.train.babysit import Babysitter

            cbs.append(Babysitter(thresholds, pre_training=pre_training, stop_on_fail=stop_on_fail))
        self.model = model
        self._trainer = _LoopTrainer(model, optimizer, loss_fn, _as_sample(sample_batch, engine, model),
                                     epochs=epochs, callbacks=cbs, log_dir=log_dir, engine=engine, driver=driver)
        self._step_hook = step_hook
        self._hook: Any = None
        self._started = self._finished = False
        self._in_step = self._forward_done = self._backward_done = False
        self._epoch_losses: list[float] = []
        self._pending: list[tuple[int, dict[str, Any]]] = []   # steps whose numbers are still on the device
        self._epoch_start = 0.0

    # ================================================================== public
    @property
    def history(self) -> History:
        return self._trainer.history

    @property
    def stop_training(self) -> bool:
        return self._trainer.stop_training

    @property
    def epoch(self) -> int:
        return self._trainer.epoch

    @property
    def global_step(self) -> int:
        return self._trainer.global_step

    @property
    def log_dir(self) -> Path | None:
        return self._trainer.log_dir

    def __enter__(self) -> "Watch":
        self.start()
        return self

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> bool:
        self.finish(exc)
        return False   # an exception in the block propagates

    def start(self) -> "Watch":
        """Make the checks before training and start watching (``with watch(...)`` calls it)."""
        if self._started:
            raise RuntimeError("watch: already started (one watch per training run)")
        t = self._trainer
        self._started = True
        t._t0 = time.perf_counter()
        t._rewrite_checks_file()
        t._call("on_train_begin")       # epoch 0: the checks before training
        t.epoch = 1
        self._epoch_start = time.perf_counter()
        if self._step_hook:
            self._hook = self.model.register_forward_pre_hook(_StepStart(self))
        return self

    def step(self, loss: Any, **metrics: Any) -> None:
        """Record one training step: call after ``optimizer.step()`` (the gradients are still there).

        ``loss`` is the batch's loss (a tensor or a number); ``metrics`` are optional per-batch numbers
        (``accuracy=...``) written to ``steps.csv``.  On an accelerator the numbers of unsampled steps
        stay on the device and are read back ``sync_every`` steps at a time, as ``fit`` does, so a
        NaN loss is seen (and ``stop_training`` set) up to that many steps late.
        """
        self._require("step")
        t = self._trainer
        if not self._in_step:
            self._begin_batch()   # no training forward pass was seen (the model not called as model(x))
        deferred = t.sync_every > 1 and not t.sync_requested

        def number(value: Any, name: str) -> Any:
            return value.detach() if deferred and t.engine.is_tensor(value) else _number(value, name, t.engine)

        logs: dict[str, Any] = {"epoch": t.epoch, "step": t.global_step + 1, "batch": t.batch_index + 1,
                                "loss": number(loss, "loss")}
        if not self._forward_done:
            t._call("on_after_forward", t.batch_index, None, loss)
        if not self._backward_done:
            t._call("on_after_backward", t.batch_index)
        t.global_step += 1
        logs.update({k: number(v, k) for k, v in canonical_metrics(metrics).items() if k not in ("loss", *_RECORD_ONLY)})
        lr = t.lr
        logs["lr"] = lr if math.isfinite(lr) else None
        self._pending.append((t.batch_index, logs))
        t.steps_in_epoch += 1
        if not deferred or len(self._pending) >= t.sync_every:
            self._flush()
        t.before_update = {}
        self._in_step = self._forward_done = self._backward_done = False

    def _flush(self) -> None:
        """Finish the pending steps: read their numbers back (one host synchronisation for all of them) and
        run ``on_batch_end`` for each, in order."""
        t = self._trainer
        pending, self._pending = self._pending, []
        lazy = [(logs, key) for _, logs in pending for key, value in logs.items() if t.engine.is_tensor(value)]
        if lazy:
            for (logs, key), number in zip(lazy, t.engine.read_scalars([logs[key] for logs, key in lazy])):
                logs[key] = number
        for batch_index, logs in pending:
            value = logs["loss"]
            self._epoch_losses.append(value)
            if not math.isfinite(value) and not t.stop_training:
                n = t.batches_per_epoch
                t.stop(f"non-finite training loss ({value}) at epoch {logs['epoch']}, batch {batch_index + 1}"
                       f"{f'/{n}' if n else ''} (step {logs['step']}) - lower the learning rate, normalize the inputs, "
                       "or check what the loss is given")
                t.echo(f"stop: {t.history.stop_reason}")
            t._call("on_batch_end", batch_index, logs)

    def epoch_end(self, **metrics: Any) -> dict[str, Any]:
        """Close the epoch with its metrics: ``loss`` (default: the mean of this epoch's step losses),
        ``val_loss`` with validation, and any other (``accuracy``, ``val_accuracy``, ...; common spellings
        such as ``train_loss`` or ``val_acc`` are renamed, see :func:`canonical_metrics`).  Returns the record."""
        self._require("epoch_end")
        t = self._trainer
        self._flush()
        values = {k: _number(v, k, t.engine) for k, v in canonical_metrics(metrics).items() if k not in _RECORD_ONLY}
        if "loss" not in values:
            if not self._epoch_losses:
                raise ValueError("epoch_end: pass loss= (the epoch's mean training loss); no step() was recorded "
                                 "in this epoch to take it from")
            values["loss"] = float(np.mean(self._epoch_losses))
        record: dict[str, Any] = {"epoch": t.epoch}
        metrics_first = sorted((k for k in values if k not in ("lr", "seconds")),
                               key=lambda k: (k.startswith("val_"), k.removeprefix("val_") not in ("loss", "accuracy"),
                                              k.removeprefix("val_") != "loss"))
        record.update((k, values[k]) for k in metrics_first)   # loss, accuracy, others, then val_ the same way
        lr = values.get("lr", t.lr)
        if math.isfinite(lr):
            record["lr"] = lr
        record["seconds"] = values.get("seconds", time.perf_counter() - self._epoch_start)
        for key in record:
            if key not in ("epoch", "lr", "seconds") and key not in t.keys:
                t.keys.append(key)
        if not t.epochs_known:
            t.epochs = max(t.epochs, t.epoch)
        bad = {k: v for k, v in record.items() if isinstance(v, float) and not math.isfinite(v)}
        if bad:   # as fit: an epoch with a non-finite result is not recorded, and the run should stop
            if not t.stop_training:
                t.stop(f"non-finite result at epoch {t.epoch} ({', '.join(f'{k}={v}' for k, v in bad.items())}) - "
                       "lower the learning rate, normalize the inputs, or check what the loss is given")
                t.echo(f"stop: {t.history.stop_reason}")
        else:
            val = {k: v for k, v in record.items() if k.startswith("val_")}
            if val:
                t._call("on_validation_end", t.epoch, val)
            t.history.records.append(record)
            t._call("on_epoch_end", t.epoch, record)
        t.epoch_steps, t.steps_in_epoch = t.steps_in_epoch or t.epoch_steps, 0
        t.epoch += 1
        self._epoch_losses = []
        self._epoch_start = time.perf_counter()
        return record

    def finish(self, exception: BaseException | None = None) -> History:
        """Finish the checks, diagnose the curves and write the run directory (leaving ``with`` calls it).

        With ``exception`` (the block raised) the files are written as they are and the loggers closed.
        """
        if self._finished or not self._started:
            return self.history
        self._finished = True
        t = self._trainer
        try:
            self._flush()
        except Exception:   # noqa: BLE001 - with an exception in flight, that one matters
            if exception is None:
                raise
        if self._hook is not None:
            self._hook.remove()
            self._hook = None
        if t.steps_in_epoch == 0:
            t.epoch -= 1   # the epoch after the last epoch_end never began
        if exception is not None:
            if t.history.stop_reason is None:
                t.stop(f"the loop raised {type(exception).__name__}: {exception}")
            for cb in t.callbacks:
                try:
                    cb.on_exception(t, exception)
                except Exception:   # noqa: BLE001 - the user's exception is the one that matters
                    pass
            try:
                t._diagnose()
                t._write_summary()
                self._render()
            except Exception as err:   # noqa: BLE001
                warnings.warn(f"watch: the run directory is incomplete ({type(err).__name__}: {err})", RuntimeWarning,
                              stacklevel=3)
            return self.history
        if t.history.stop_reason is None:
            done = len(t.history.records)
            t.history.stop_reason = f"the loop ended after {done} epoch(s)" + (
                f" of the {t.epochs} planned" if t.epochs_known and done < t.epochs else "")
            t.history.stopped_epoch = t.epoch
        t._diagnose()
        t._call("on_train_end")
        t._write_summary()
        self._render()
        return self.history

    def __repr__(self) -> str:
        state = "finished" if self._finished else "watching" if self._started else "not started"
        return f"Watch({type(self.model).__name__}, {state}, epoch {self.epoch}, step {self.global_step})"

    # ================================================================== the steps (also driven by integrations)
    def _forward_seen(self, module: Any) -> None:
        """The model's forward pre-hook: the first training-mode forward pass with gradients after a step."""
        if not self._in_step and not self._finished and module.training and _grad_enabled(self._trainer.engine):
            self._begin_batch()

    def _begin_batch(self) -> None:
        """A step begins: the callbacks' ``on_batch_begin`` (the babysitter attaches its hooks on a sampled
        step) and, when the babysitter samples it, a copy of the weights before the update."""
        t = self._trainer
        if t.steps_in_epoch == 0 and not self._in_step:
            t._call("on_epoch_begin", t.epoch)
        self._in_step, self._forward_done, self._backward_done = True, False, False
        t.batch_index = t.steps_in_epoch
        t.sync_requested = False   # the babysitter asks for a sampled step's numbers at once
        t._call("on_batch_begin", t.batch_index, None)
        t.before_update = {}
        if any(getattr(cb, "sampling", False) for cb in t.callbacks):
            from gradwise.train.babysit.probes import weighted_layers

            t.before_update = {name: np.array(t.engine.to_numpy(module.weight), copy=True)
                               for name, module in weighted_layers(self.model)}

    def _after_forward(self, loss: Any) -> None:
        """The loss of this step is known, before backward (Lightning's ``on_before_backward``)."""
        self._require("step")
        if not self._in_step:
            self._begin_batch()
        self._forward_done = True
        self._trainer._call("on_after_forward", self._trainer.batch_index, None, loss)

    def _after_backward(self) -> None:
        """The gradients of this step are known, before the update (Lightning's ``on_after_backward``)."""
        self._require("step")
        if not self._in_step:
            self._begin_batch()
        self._backward_done = True
        self._trainer._call("on_after_backward", self._trainer.batch_index)

    def _require(self, what: str) -> None:
        if not self._started:
            raise RuntimeError(f"watch: {what}() before the watch started - use `with watch(model, optimizer) as w:`")
        if self._finished:
            raise RuntimeError(f"watch: {what}() after the watch finished (the `with` block has ended)")

    def _render(self) -> None:
        """``report.html`` in the run directory (a report that cannot be drawn costs a warning, not the run)."""
        if self._trainer.log_dir is None:
            return
        try:
            from gradwise.report import render

            render(self._trainer.log_dir)
        except Exception as err:   # noqa: BLE001
            warnings.warn(f"watch: report.html was not written ({type(err).__name__}: {err})", RuntimeWarning,
                          stacklevel=3)


# ============================================================================= helpers
def _number(value: Any, name: str, engine: Any) -> float:
    """A metric as a Python float (a tensor of either framework, a NumPy scalar or a number)."""
    try:
        return float(engine.item(value)) if hasattr(value, "item") else float(value)
    except (TypeError, ValueError):
        raise TypeError(f"watch: {name} must be a number or a one-element tensor, got {type(value).__name__}") from None


def _as_sample(batch: Any, engine: Any, model: Any) -> tuple | None:
    """``sample_batch`` as the model's tensors on its device, floating arrays in the model's dtype."""
    if batch is None:
        return None
    if not isinstance(batch, (tuple, list)) or len(batch) < 2:
        raise TypeError("watch: sample_batch must be (inputs..., target), e.g. (x[:512], y[:512]); got "
                        f"{type(batch).__name__}")
    dtype = engine.float_dtype(model)
    fields = []
    for b in batch:
        if isinstance(b, (list, tuple)) or (isinstance(b, np.ndarray) and b.dtype.kind == "f"):
            b = np.asarray(b)
            b = b.astype(dtype) if b.dtype.kind == "f" else b
        fields.append(engine.as_input(b))
    return tuple(fields)


def _grad_enabled(engine: Any) -> bool:
    """Whether the model's framework records gradients now (validation under ``no_grad`` is no step)."""
    if engine.name == "torch":
        import torch

        return torch.is_grad_enabled()
    from gradwise.tensor.grad_mode import is_grad_enabled

    return is_grad_enabled()
