"""The :class:`Babysitter` callback: the lecture's "Babysitting the Training", done automatically.

Before the first update (``on_train_begin``) it makes the first-stage checks the lecture lists in
order - the inputs are normalized (``input_normalization``), each layer is initialized for its
activation (``init_scheme``), the loss after the first forward pass is reasonable and not NaN
(``initial_loss``), and the model can overfit a handful of training samples (``overfit_tiny_batch``,
on deep copies).  While training it watches the loss on every step (``nan_inf``, ``loss_decreasing``,
divergence and oscillation for ``learning_rate``) and, on sampled batches only - the first of every
epoch and every ``sample_every``-th step, when forward hooks are attached for that one batch - the
activations (``dead_relu``, ``saturation``), the gradients (``gradient_flow``) and the updates
(``learning_rate``'s update-to-weight ratio).

A check that finds a problem is shown at once through ``trainer.warn`` (once per check and status,
so a lasting problem is not repeated every step); every check's result lands in
``trainer.history.checks``.  With ``log_dir`` set, the per-layer statistics behind the checks (what
``gradwise.report`` draws) go to ``babysit.json`` and all the checks to ``checks.json``.
"""
from __future__ import annotations

import functools
import json
import math
import warnings
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from gradwise.engines import activation_kind
from gradwise.train.babysit.activation_checks import check_dead_relu, check_nan_inf, check_saturation
from gradwise.train.babysit.check import DURING_TRAINING, Check, make, severity
from gradwise.train.babysit.data_checks import check_input_normalization
from gradwise.train.babysit.gradient_checks import (DivergenceTracker, check_divergence, check_gradient_flow,
                                                    check_oscillation, check_update_ratio)
from gradwise.train.babysit.init_checks import check_init_scheme, describe_layers
from gradwise.train.babysit.loss_checks import (check_initial_loss, check_loss_decreasing, check_overfit_tiny_batch,
                                                expected_initial_loss, pick_tiny_batch)
from gradwise.train.babysit.probes import (ActivationRecorder, LayerSample, activation_layers, as_array,
                                           collect_samples, trace_forward, weighted_layers)
from gradwise.train.babysit.thresholds import Thresholds
from gradwise.train.callbacks import Callback
from gradwise.train.checkpoint import atomic_write
from gradwise.train.jsonable import json_default
from gradwise.train.trainer import accuracy_for, callable_name, classification_kind

if TYPE_CHECKING:
    from gradwise.train.trainer import Trainer

__all__ = ["Babysitter", "STATS_FILE", "CHECKS_FILE"]

#: Per-layer statistics for the report, written to ``log_dir`` at the end of training.
STATS_FILE = "babysit.json"
#: Every check of the run as a JSON list, written to ``log_dir`` at the end of training.
CHECKS_FILE = "checks.json"


def _guarded(hook: Callable) -> Callable:
    """Run a hook so that an internal error of the babysitter never costs the user the training run: it is
    reported once as a ``RuntimeWarning`` and the babysitter stops watching."""
    @functools.wraps(hook)
    def wrapper(self: "Babysitter", trainer: "Trainer", *args: Any) -> None:
        if self._broken:
            return None
        try:
            return hook(self, trainer, *args)
        except Exception as err:   # noqa: BLE001 - reported, training goes on
            self._broken = True
            if self._recorder is not None:
                self._recorder.detach()
            warnings.warn(f"babysitter: stopped watching after an internal error in {hook.__name__} "
                          f"({type(err).__name__}: {err})", RuntimeWarning, stacklevel=2)
            return None
    return wrapper


class Babysitter(Callback):
    """Run the babysitting checks before and during training (see the module docstring).

    Args:
        thresholds: a :class:`Thresholds` or a dict of overrides (``{"dead_layer_fraction": 0.3}``).
        pre_training: make the checks that run before the first update (off: only the watching).
        stop_on_fail: stop the run when a check fails (a diverging loss, a dead layer, ...); by default
            failures are reported and training goes on (a NaN loss stops the run anyway).
    """

    order = 0
    is_babysitter = True   # fit() adds no second one

    def __init__(self, thresholds: Thresholds | Mapping[str, Any] | None = None, *, pre_training: bool = True,
                 stop_on_fail: bool = False) -> None:
        self.thresholds = Thresholds.coerce(thresholds)
        self.pre_training = pre_training
        self.stop_on_fail = stop_on_fail
        self._resumed = False
        self._reset()

    # ================================================================== state
    def _reset(self) -> None:
        th = self.thresholds
        self.step_losses: list[float] | None = []     # kept until loss_decreasing is judged, then dropped
        self.epoch_losses: list[float] = []
        self.divergence = DivergenceTracker(th.divergence_window)
        self.emitted: dict[str, str] = {}              # check name -> most severe status shown so far
        self.last_pass: dict[str, dict[str, Check]] = {}   # name -> test -> latest pass
        self.initial_lr: float | None = None
        self.sampled_steps = 0
        self.stats: dict[str, Any] = {
            "version": 1, "thresholds": th.to_dict(),
            "activations": {"steps": [], "epochs": [], "layers": {}},
            "gradients": {"steps": [], "epochs": [], "norms": {}},
            "updates": {"steps": [], "epochs": [], "ratios": {}, "lr": []},
        }
        self._recorder: ActivationRecorder | None = None
        self._weights: list[tuple[str, Any]] = []
        self._labels: dict[str, str] = {}
        self._broken = False
        self._sampled = False
        self._last_sampled = 0
        self._batch: Any = None
        self._before: list[tuple[str, Any, np.ndarray]] = []

    def state_dict(self) -> dict[str, Any]:
        return {"step_losses": self.step_losses, "epoch_losses": list(self.epoch_losses),
                "divergence": self.divergence.state_dict(), "emitted": dict(self.emitted),
                "initial_lr": self.initial_lr, "sampled_steps": self.sampled_steps,
                "stats": json.loads(json.dumps(self.stats))}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.step_losses = None if state.get("step_losses") is None else list(state["step_losses"])
        self.epoch_losses = list(state.get("epoch_losses", []))
        self.divergence.load_state_dict(state["divergence"])
        self.emitted = dict(state.get("emitted", {}))
        self.initial_lr = state.get("initial_lr")
        self.sampled_steps = int(state.get("sampled_steps", 0))
        self.stats = json.loads(json.dumps(state["stats"]))
        self._resumed = True

    # ================================================================== reporting
    def _emit(self, trainer: "Trainer", check: Check | None, always: bool = False) -> None:
        """Record a check: problems are shown the first time (and when they get worse); passes of the
        during-training checks are kept for the end-of-run summary; ``always`` records passes now."""
        if check is None:
            return
        if check.status == "pass" and not always:
            self.last_pass.setdefault(check.name, {})[check.evidence.get("test", "")] = check
            return
        previous = self.emitted.get(check.name)
        if previous is not None and severity(check.status) <= severity(previous):
            return
        self.emitted[check.name] = check.status
        trainer.warn(check)
        if check.status == "fail" and self.stop_on_fail:
            trainer.stop(f"babysitter: {check.name} failed - {check.message}")

    def _safely(self, what: str, fn: Callable[[], Check | None]) -> Check | None:
        """Run one check; a check that breaks must never cost the user the training run."""
        try:
            return fn()
        except Exception as err:   # noqa: BLE001 - reported as a warning, training goes on
            warnings.warn(f"babysitter: the {what} check could not run ({type(err).__name__}: {err})", RuntimeWarning,
                          stacklevel=3)
            return None

    @staticmethod
    def _when(trainer: "Trainer") -> str:
        return "before training" if trainer.epoch == 0 else f"epoch {trainer.epoch}, step {trainer.global_step + 1}"

    # ================================================================== before training
    def on_train_begin(self, trainer: "Trainer") -> None:
        resumed = self._resumed or trainer.epoch > 0
        if not resumed:
            self._reset()
        self._resumed = self._broken = False
        self._begin(trainer, resumed)

    @_guarded
    def _begin(self, trainer: "Trainer", resumed: bool) -> None:
        th, model = self.thresholds, trainer.model
        engine = trainer.engine
        self._labels = _layer_labels(model)
        layers = activation_layers(model)
        self._recorder = ActivationRecorder(layers, th.histogram_bins, th.dead_activity, th.saturation_margin, engine)
        for name, _, _ in layers:
            edges = self.stats["activations"]["layers"].get(name, {}).get("edges")
            if edges:
                self._recorder.edges[name] = np.asarray(edges)
        if self.initial_lr is None:
            self.initial_lr = trainer.lr
        batch = trainer.first_batch
        if batch is None:   # a hand-written loop that gave no sample of its data (gradwise.train.watch)
            self._weights = weighted_layers(model)
            self.stats["labels"] = {name: self._labels.get(name, "") for name, _ in self._weights}
            if self.pre_training and not resumed:
                self._pre_training_checks(trainer, None, None, None, None)
            return
        inputs, target = trainer.split_batch(batch)
        with trainer.preserve_state():
            model.train()
            self._recorder.attach()
            try:
                trace = trace_forward(model, inputs, engine)
            finally:
                first_samples = self._recorder.detach()
            loss = None   # a loop that gave no loss function: only the forward pass is probed
            if trainer.loss_fn is not None:
                with engine.no_grad(), np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                    loss = float(as_array(trainer.loss_fn(trace.output, target), engine))
        self._weights = _in_forward_order(weighted_layers(model), trace.order)
        self.stats["labels"] = {name: self._labels.get(name, "") for name, _ in self._weights}
        if resumed:
            return
        if self.pre_training:
            self._pre_training_checks(trainer, inputs, target, trace.output, loss)
        if (loss is not None and not math.isfinite(loss)) or trace.first_nonfinite is not None:
            self._locate_nonfinite(trainer, loss, inputs, trace.first_nonfinite)
        self._record_activations(trainer, first_samples, step=0)

    def _pre_training_checks(self, trainer: "Trainer", inputs: tuple | None, target: Any, outputs: Any,
                             loss: float | None) -> None:
        """The first-stage checks; those that need what the run does not have (``inputs`` None: no sample of
        the data; ``loss`` None: no loss function; no optimizer) are recorded as ``skip`` with the reason."""
        th, model = self.thresholds, trainer.model
        if inputs is None:
            reason = "skipped: the training loop gave no sample of its data (pass sample_batch=(x, y))"
            self._emit(trainer, make("input_normalization", "skip", reason), True)
            self._emit(trainer, self._safely("init_scheme", lambda: check_init_scheme(
                describe_layers(model, None, trainer.engine), th)), True)   # from the weights, registration order
            self._emit(trainer, make("initial_loss", "skip", reason), True)
            self._emit(trainer, make("overfit_tiny_batch", "skip", reason), True)
            return
        with trainer.preserve_state(model=False, optimizer=False):
            xs, ys = collect_samples(trainer.train_loader, trainer.split_batch, th.input_sample_size, trainer.engine)
        self._emit(trainer, self._safely("input_normalization", lambda: check_input_normalization(xs[0], th)), True)

        def init_scheme() -> Check:
            with trainer.preserve_state():
                described = describe_layers(model, inputs, trainer.engine)
            return check_init_scheme(described, th)

        self._emit(trainer, self._safely("init_scheme", init_scheme), True)
        if loss is None:
            reason = "skipped: the training loop gave no loss function (pass loss_fn=...)"
            self._emit(trainer, make("initial_loss", "skip", reason), True)
            self._emit(trainer, make("overfit_tiny_batch", "skip", reason), True)
            return
        kind = classification_kind(trainer.loss_fn)
        self._emit(trainer, self._safely("initial_loss", lambda: check_initial_loss(
            loss, expected_initial_loss(callable_name(trainer.loss_fn), kind, as_array(target, trainer.engine),
                                        trainer.num_classes, as_array(outputs, trainer.engine)), th)), True)

        def overfit() -> Check:
            pick = pick_tiny_batch(ys, trainer.is_classification, th)
            accuracy = accuracy_for(kind) if trainer.is_classification else None
            with trainer.preserve_state(model=False, optimizer=False):
                return check_overfit_tiny_batch(model, trainer.optimizer, trainer.loss_fn, [x[pick] for x in xs],
                                                ys[pick], th, accuracy, trainer.engine)

        if trainer.optimizer is None:
            self._emit(trainer, make("overfit_tiny_batch", "skip", "skipped: no optimizer to train a copy of the "
                                                                   "model with (pass optimizer=...)"), True)
            return
        self._emit(trainer, self._safely("overfit_tiny_batch", overfit), True)

    # ================================================================== every batch
    # The per-step path is a few attribute reads and float comparisons; everything costly (hooks,
    # statistics, the checks) runs on sampled steps or when something is wrong, in guarded methods.
    def on_batch_begin(self, trainer: "Trainer", batch_index: int, batch: Any) -> None:
        self._batch = batch
        step = trainer.global_step + 1
        since, every = step - self._last_sampled, self.thresholds.sample_every
        self._sampled = since >= every or step == 1 or (batch_index == 0 and 2 * since >= every)
        if self._sampled:
            self._last_sampled = step
            trainer.sync_requested = True   # this step's numbers are read now, also on an accelerator
            self._attach(trainer)

    @property
    def sampling(self) -> bool:
        """True from ``on_batch_begin`` of a sampled step on: its activations, gradients and update are read."""
        return self._sampled and not self._broken

    def on_after_forward(self, trainer: "Trainer", batch_index: int, outputs: Any, loss: Any) -> None:
        if not self._sampled and getattr(trainer, "sync_every", 1) > 1:
            return   # an unsampled step on an accelerator: the loss is read back later, with others
        value = trainer.engine.item(loss)
        if self._sampled or not math.isfinite(value):
            self._after_forward(trainer, value)

    def on_after_backward(self, trainer: "Trainer", batch_index: int) -> None:
        if self._sampled:
            self._record_gradients(trainer)

    def on_batch_end(self, trainer: "Trainer", batch_index: int, logs: dict[str, Any]) -> None:
        loss = float(logs["loss"])
        recent = self.divergence.update(loss)
        losses = self.step_losses
        if losses is not None:
            losses.append(loss)
            if len(losses) >= self.thresholds.loss_check_steps:
                self._judge_loss(trainer)
        if recent > self.thresholds.divergence_factor * self.divergence.best:   # cheap pre-test of the rule
            self._divergence(trainer, recent)
        if self._sampled:
            self._record_updates(trainer)

    @_guarded
    def _attach(self, trainer: "Trainer") -> None:
        if self._recorder is not None:
            self._recorder.attach()

    @_guarded
    def _after_forward(self, trainer: "Trainer", value: float) -> None:
        samples = self._recorder.detach() if self._sampled and self._recorder is not None else None
        if not math.isfinite(value):
            inputs = trainer.split_batch(self._batch)[0] if self._batch is not None else ()   # watch(): no batch
            self._locate_nonfinite(trainer, value, inputs)
        elif samples is not None:
            self._record_activations(trainer, samples, step=trainer.global_step + 1)

    @_guarded
    def _record_gradients(self, trainer: "Trainer") -> None:
        engine = trainer.engine
        norms: dict[str, float] = {}
        first_bad, total_abs, count = None, 0.0, 0
        for name, module in self._weights:
            grad = module.weight.grad
            if grad is None:
                continue
            g = engine.to_numpy(grad)
            norm = float(np.linalg.norm(g))
            if not math.isfinite(norm):
                first_bad = first_bad or name
            norms[name] = norm
            total_abs += float(np.abs(g).sum())
            count += g.size
        self._append_series(self.stats["gradients"], "norms", norms, trainer, trainer.global_step + 1)
        if first_bad is not None:
            self._emit(trainer, check_nan_inf(self._when(trainer), first_gradient=first_bad, labels=self._labels))
        elif norms:
            self._emit(trainer, check_gradient_flow(norms, total_abs / max(count, 1), self.thresholds, self._labels))
        self._before = self._weights_before_update(trainer)

    def _weights_before_update(self, trainer: "Trainer") -> list[tuple[str, Any, np.ndarray]]:
        """Copies of the watched weights before this step's update, for the update-to-weight ratio: read now
        (between backward and the update), or the copies a driver that reports a step only after its update
        made before it (``trainer.weights_before_update``, as :func:`gradwise.train.watch` gives)."""
        supplied = getattr(trainer, "weights_before_update", None)
        if supplied is not None:
            return supplied(self._weights)
        return [(name, module, np.array(trainer.engine.to_numpy(module.weight), copy=True))
                for name, module in self._weights]

    @_guarded
    def _divergence(self, trainer: "Trainer", recent: float) -> None:
        d = self.divergence
        self._emit(trainer, check_divergence(d.initial, d.best, recent, d.steps, self.thresholds, trainer.lr))

    @_guarded
    def on_epoch_end(self, trainer: "Trainer", epoch: int, logs: dict[str, Any]) -> None:
        th = self.thresholds
        self.epoch_losses.append(float(logs["loss"]))
        if len(self.epoch_losses) >= th.oscillation_min_epochs:
            self._emit(trainer, check_oscillation(self.epoch_losses, th, trainer.lr))

    # ================================================================== the end
    @_guarded
    def on_train_end(self, trainer: "Trainer") -> None:
        if self._recorder is not None:
            self._recorder.detach()   # a step that began but never finished (a hand-written loop's last batch)
        if self.step_losses is not None and len(self.step_losses) >= self.thresholds.loss_min_steps:
            self._judge_loss(trainer)   # a run shorter than loss_check_steps: judge what there is
        for name in DURING_TRAINING:
            if name in self.emitted:
                continue
            check = _merge(name, self.last_pass.get(name)) or _not_measured(name)
            if name == "nan_inf":
                check = make(name, "pass", f"loss finite at every step; activations and gradients finite on "
                                           f"{self.sampled_steps} sampled step(s)", sampled_steps=self.sampled_steps)
            self._emit(trainer, check, always=True)
        self._write(trainer)

    @_guarded
    def on_exception(self, trainer: "Trainer", exception: BaseException) -> None:
        if self._recorder is not None:
            self._recorder.detach()   # no forward hook left on the user's model
        self._write(trainer)

    def _write(self, trainer: "Trainer") -> None:
        if trainer.log_dir is None:
            return
        stats = json.dumps(self.stats, separators=(",", ":"), default=json_default)
        atomic_write(trainer.log_dir / STATS_FILE, lambda f: f.write(stats.encode("utf-8")))
        checks = json.dumps([c.to_dict() for c in trainer.history.checks], indent=1, default=json_default)
        atomic_write(trainer.log_dir / CHECKS_FILE, lambda f: f.write(checks.encode("utf-8")))

    # ================================================================== helpers
    @_guarded
    def _judge_loss(self, trainer: "Trainer") -> None:
        losses, self.step_losses = self.step_losses, None
        self._emit(trainer, check_loss_decreasing(losses, self.thresholds), always=True)

    def _locate_nonfinite(self, trainer: "Trainer", loss: float, inputs: tuple, first_activation: str | None = None
                          ) -> None:
        """Find where a NaN/inf comes from: the inputs, a layer's weights, or the first layer whose output breaks."""
        engine = trainer.engine
        inputs_bad = any(_nonfinite(as_array(x, engine)) for x in inputs)
        first_weight = next((name for name, m in self._weights if _nonfinite(engine.to_numpy(m.weight))), None)
        if first_activation is None and not inputs_bad and first_weight is None and inputs:
            with trainer.preserve_state():
                first_activation = trace_forward(trainer.model, inputs, engine).first_nonfinite
        self._emit(trainer, check_nan_inf(self._when(trainer), loss=loss, inputs_nonfinite=inputs_bad,
                                          first_weight=first_weight, first_activation=first_activation,
                                          labels=self._labels))

    def _record_activations(self, trainer: "Trainer", samples: dict[str, LayerSample], step: int) -> None:
        self.sampled_steps += 1
        acts = self.stats["activations"]
        acts["steps"].append(step)
        acts["epochs"].append(trainer.epoch)
        n = len(acts["steps"])
        for name, _, kind in self._recorder.layers:
            entry = acts["layers"].setdefault(name, {"kind": kind, "label": self._labels.get(name, ""), "edges": None,
                                                      "histograms": [], "dead_fraction": [], "saturated_fraction": []})
            s = samples.get(name)
            if entry["edges"] is None and name in self._recorder.edges:
                entry["edges"] = [round(float(e), 6) for e in self._recorder.edges[name]]
            for key, value in (("histograms", s.histogram if s else None),
                               ("dead_fraction", s.dead_fraction if s else None),
                               ("saturated_fraction", s.saturated_fraction if s else None)):
                entry[key].extend([None] * (n - 1 - len(entry[key])))
                entry[key].append(value)
        broken = next((name for name, _, _ in self._recorder.layers if name in samples and not samples[name].finite),
                      None)
        if broken is not None:
            self._emit(trainer, check_nan_inf(self._when(trainer), first_activation=broken, labels=self._labels))
        kinds = {s.kind for s in samples.values()}
        if "relu" in kinds:
            self._emit(trainer, check_dead_relu(samples, self.thresholds, self._labels))
        if kinds & {"sigmoid", "tanh", "hardtanh"}:
            self._emit(trainer, check_saturation(samples, self.thresholds, self._labels))

    @_guarded
    def _record_updates(self, trainer: "Trainer") -> None:
        th = self.thresholds
        before, self._before = self._before, []
        if not before:
            return
        ratios = {}
        for name, module, old in before:
            size = float(np.linalg.norm(old))
            if size > 0:
                ratios[name] = float(np.linalg.norm(trainer.engine.to_numpy(module.weight) - old)) / size
        updates = self.stats["updates"]
        self._append_series(updates, "ratios", ratios, trainer, trainer.global_step)
        updates["lr"].append(trainer.lr)
        if len(updates["steps"]) < min(th.update_ratio_window, 2):
            return
        norms = self.stats["gradients"]["norms"]
        recent = {}
        for name, series in updates["ratios"].items():
            if not (norms.get(name) or [None])[-1]:
                continue   # no gradient reached this layer: a still weight says nothing about the learning rate
            values = sorted(v for v in series[-th.update_ratio_window:] if v is not None)
            if values:
                mid = len(values) // 2
                recent[name] = values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2
        self._emit(trainer, check_update_ratio(recent, th, trainer.lr, self.initial_lr or trainer.lr, self._labels))

    @staticmethod
    def _append_series(group: dict[str, Any], key: str, values: Mapping[str, float], trainer: "Trainer",
                       step: int) -> None:
        group["steps"].append(step)
        group["epochs"].append(trainer.epoch)
        n = len(group["steps"])
        for name in [*group[key], *(k for k in values if k not in group[key])]:
            series = group[key].setdefault(name, [])
            series.extend([None] * (n - 1 - len(series)))
            v = values.get(name)
            series.append(None if v is None or not math.isfinite(v) else float(f"{v:.6g}"))

    def __repr__(self) -> str:
        return f"Babysitter(pre_training={self.pre_training}, stop_on_fail={self.stop_on_fail})"


# ============================================================================= helpers
def _nonfinite(values: np.ndarray) -> bool:
    return values.dtype.kind == "f" and not np.isfinite(values).all()


def _layer_labels(model: Any) -> dict[str, str]:
    """Module name -> a short description: the class, and for activations the weighted layer they follow."""
    labels, previous = {}, None
    weighted = {name for name, _ in weighted_layers(model)}
    for name, module in model.named_modules():
        if not name:
            continue
        kind = type(module).__name__
        if name in weighted:
            labels[name], previous = kind, f"{kind} {name!r}"
        elif activation_kind(module) is not None and previous:
            labels[name] = f"{kind} after {previous}"
        else:
            labels[name] = kind
    return labels


def _in_forward_order(layers: list[tuple[str, Any]], order: list[str]) -> list[tuple[str, Any]]:
    """Layers sorted by when they ran in the traced forward pass (layers that did not run are dropped,
    unless none ran at all: then the registration order is kept)."""
    position = {name: i for i, name in enumerate(order)}
    ran = [layer for layer in layers if layer[0] in position]
    return sorted(ran, key=lambda layer: position[layer[0]]) if ran else layers


def _merge(name: str, passes: Mapping[str, Check] | None) -> Check | None:
    """One pass summarising a check's latest passing results (``learning_rate`` has three tests)."""
    if not passes:
        return None
    if len(passes) == 1:
        return next(iter(passes.values()))
    return make(name, "pass", "; ".join(c.message for c in passes.values()),
                **{test or "result": c.evidence for test, c in passes.items()})


def _not_measured(name: str) -> Check:
    reasons = {"loss_decreasing": "too few steps to judge the trend of the loss",
               "learning_rate": "no update was sampled (and too few epochs to judge oscillation)",
               "dead_relu": "no ReLU layer was watched", "saturation": "no sigmoid/tanh layer was watched",
               "gradient_flow": "no weight gradient was sampled"}
    return make(name, "pass", f"not measured: {reasons.get(name, 'no data')}")
