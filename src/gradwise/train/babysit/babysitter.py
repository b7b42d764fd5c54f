"""The :class:`Babysitter` callback: the lecture's "Babysitting the Training", done automatically.

Before the first update (``on_train_begin``) it makes the first-stage checks the lecture lists in
order - the inputs (and regression targets) are normalized (``input_normalization``) and the batches
shuffled (``data_order``), each layer's init keeps the signal in scale through the depth
(``init_scheme``), the loss at initialization - dropout off, over a few batches - is what the number
of classes predicts and not NaN (``initial_loss``), the model can overfit a handful of training
samples (``overfit_tiny_batch``, on deep copies), and the sharpness of the loss allows the learning
rate (``curvature``).  While training it watches the loss on every step (``nan_inf``,
``loss_decreasing``, divergence and oscillation beyond mini-batch noise for ``learning_rate``), on
sampled batches only - the first of every epoch and every ``sample_every``-th step, when forward hooks
are attached for that one batch - the activations (``dead_relu``, ``saturation``), the gradients
(``gradient_flow``: vanishing, exploding, piling up without ``zero_grad``, frozen layers) and the
updates (``learning_rate``'s update-to-weight ratio), the sharpness at a few epoch ends
(``curvature``), and how validation is run (``validation``: a forward pass without gradients in
training mode).

A check that finds a problem is shown at once through ``trainer.warn`` (once per check and status,
so a lasting problem is not repeated every step); every check's result lands in
``trainer.history.checks``.  With ``log_dir`` set, the per-layer statistics behind the checks (what
``gradwise.report`` draws, sharpness over training included) go to ``babysit.json`` and all the checks
to ``checks.json``.
"""
from __future__ import annotations

import contextlib
import functools
import json
import math
import time
import warnings
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from gradwise.engines import activation_kind
from gradwise.train.babysit.activation_checks import check_dead_relu, check_nan_inf, check_saturation
from gradwise.train.babysit.check import DURING_TRAINING, Check, make, severity
from gradwise.train.babysit.curvature import (check_curvature, dropout_off, first_gradients, measure_sharpness,
                                              stability_limit, twice_differentiable)
from gradwise.train.babysit.data_checks import check_data_order, check_input_normalization
from gradwise.train.babysit.gradient_checks import (DivergenceTracker, check_divergence, check_frozen_layers,
                                                    check_gradient_accumulation, check_gradient_flow,
                                                    check_oscillation, check_units_died, check_update_ratio)
from gradwise.train.babysit.init_checks import check_init_scheme, describe_layers
from gradwise.train.babysit.loss_checks import (check_initial_loss, check_loss_decreasing, check_overfit_tiny_batch,
                                                check_validation_learns, expected_initial_loss, pick_tiny_batch,
                                                uninformed_loss)
from gradwise.train.babysit.probes import (ActivationRecorder, LayerSample, activation_layers, as_array,
                                           collect_samples, probe_initialization, trace_forward, weighted_layers)
from gradwise.train.babysit.validation_checks import (ValidationModeHook, check_validation, mode_sensitive_layers,
                                                      regularization)
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
            self._remove_validation_hook()
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
        self.epoch_errors: list[float | None] = []     # standard error of each epoch's mean step loss
        self._epoch_steps: list[float] = []           # this epoch's step losses (their spread: at the epoch's end)
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
            "curvature": {"steps": [], "epochs": [], "sharpness": [], "lr": [], "lr_max": [], "iterations": [],
                          "samples": None, "solver": None},
            "context": {},
        }
        self.curvature_next = th.curvature_first_step
        self.curvature_seconds = 0.0                   # spent on the estimates after initialization
        self._curvature_seconds_before = 0.0           # ... of it in the run's parts before a resume
        self.first_grad_norm: float | None = None
        self.initial_loss: float | None = None          # the loss at initialization (dropout off, a few batches)
        self.baseline: tuple[float, str] | None = None   # the loss of guessing without the inputs
        self.early_loss: str | None = None              # loss_decreasing's verdict, for the curvature check
        self._divergence_streak = 0
        self._loss_judge_at = th.loss_check_steps
        self._floors: dict[str, float] = {}
        self._alive_at_start: set[str] = set()
        self._unmeasured: dict[str, str] = {}           # check -> why it could not be measured in this run
        self.val_epochs = self.val_below = 0
        self.val_train_mode: list[str] | None = None
        self.val_best: float | None = None
        self._val_judged = False
        self._curvature_vector: np.ndarray | None = None
        self._curvature_probe: tuple[tuple, Any] | None = None
        self._curvature_cost = 0.0
        self._curvature_params: list[Any] = []
        self._grads_before: dict[str, np.ndarray] = {}
        self._validation_hook: ValidationModeHook | None = None
        self._validation_handle: Any = None
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
                "epoch_errors": list(self.epoch_errors), "divergence": self.divergence.state_dict(),
                "emitted": dict(self.emitted), "initial_lr": self.initial_lr, "sampled_steps": self.sampled_steps,
                "curvature_next": self.curvature_next, "curvature_seconds": self.curvature_seconds,
                "first_grad_norm": self.first_grad_norm, "initial_loss": self.initial_loss,
                "baseline": list(self.baseline) if self.baseline else None, "early_loss": self.early_loss,
                "divergence_streak": self._divergence_streak, "loss_judge_at": self._loss_judge_at,
                "val_epochs": self.val_epochs, "val_below": self.val_below,
                "val_train_mode": self.val_train_mode, "val_best": self.val_best, "val_judged": self._val_judged,
                "stats": json.loads(json.dumps(self.stats, default=json_default))}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.step_losses = None if state.get("step_losses") is None else list(state["step_losses"])
        self.epoch_losses = list(state.get("epoch_losses", []))
        self.divergence.load_state_dict(state["divergence"])
        self.emitted = dict(state.get("emitted", {}))
        self.initial_lr = state.get("initial_lr")
        self.sampled_steps = int(state.get("sampled_steps", 0))
        self.epoch_errors = list(state.get("epoch_errors", [None] * len(self.epoch_losses)))
        self.curvature_next = int(state.get("curvature_next", self.thresholds.curvature_first_step))
        self.curvature_seconds = float(state.get("curvature_seconds", 0.0))
        self._curvature_seconds_before = self.curvature_seconds   # trainer.elapsed counts from this part's start
        self.first_grad_norm = state.get("first_grad_norm")
        self.initial_loss = state.get("initial_loss")
        self.baseline = tuple(state["baseline"]) if state.get("baseline") else None
        self.early_loss = state.get("early_loss")
        self._divergence_streak = int(state.get("divergence_streak", 0))
        self._loss_judge_at = int(state.get("loss_judge_at", self.thresholds.loss_check_steps))
        self.val_epochs, self.val_below = int(state.get("val_epochs", 0)), int(state.get("val_below", 0))
        self.val_train_mode = state.get("val_train_mode")
        self.val_best, self._val_judged = state.get("val_best"), bool(state.get("val_judged", False))
        self.stats = json.loads(json.dumps(state["stats"]))
        self.stats.setdefault("curvature", {"steps": [], "epochs": [], "sharpness": [], "lr": [], "lr_max": [],
                                            "iterations": [], "samples": None, "solver": None})
        self.stats.setdefault("context", {})
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
        self.stats["context"] = {"regularization": regularization(model, trainer.train_loader),
                                 "engine": engine.name, "solver": type(trainer.optimizer).__name__
                                 if trainer.optimizer is not None else None}
        batch = trainer.first_batch
        if batch is None:   # a hand-written loop that gave no sample of its data (gradwise.train.watch)
            self._weights = weighted_layers(model)
            self.stats["labels"] = {name: self._labels.get(name, "") for name, _ in self._weights}
            self._floors = _weight_floors(self._weights, engine)
            if self.pre_training and not resumed:
                self._pre_training_checks(trainer, None, None, None, None)
            self._add_validation_hook(trainer)
            return
        inputs, target = trainer.split_batch(batch)
        with trainer.preserve_state(optimizer=False):   # forward passes only: the optimizer is never touched
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
        self._floors = _weight_floors(self._weights, engine)
        if resumed:
            self._resume_curvature(trainer)
            self._add_validation_hook(trainer)
            return
        if self.pre_training:
            self._pre_training_checks(trainer, inputs, target, trace.output, loss)
        if (loss is not None and not math.isfinite(loss)) or trace.first_nonfinite is not None:
            self._locate_nonfinite(trainer, loss, inputs, trace.first_nonfinite)
        self._record_activations(trainer, first_samples, step=0)
        self._add_validation_hook(trainer)

    def _pre_training_checks(self, trainer: "Trainer", inputs: tuple | None, target: Any, outputs: Any,
                             loss: float | None) -> None:
        """The first-stage checks; those that need what the run does not have (``inputs`` None: no sample of
        the data; ``loss`` None: no loss function; no optimizer) are recorded as ``skip`` with the reason."""
        th, model = self.thresholds, trainer.model
        self._emit(trainer, self._safely("gradient_flow", lambda: self._frozen_layers(trainer)))
        if inputs is None:
            reason = "skipped: the training loop gave no sample of its data (pass sample_batch=(x, y))"
            self._emit(trainer, make("input_normalization", "skip", reason), True)
            self._unmeasured["data_order"] = self._unmeasured["curvature"] = "the loop gave no sample of its data"
            self._emit(trainer, self._safely("init_scheme", lambda: check_init_scheme(
                describe_layers(model, None, trainer.engine), th)), True)   # from the weights, registration order
            self._emit(trainer, make("initial_loss", "skip", reason), True)
            self._emit(trainer, make("overfit_tiny_batch", "skip", reason), True)
            return
        sizes: list[int] = []
        with trainer.preserve_state(model=False, optimizer=False):
            xs, ys = collect_samples(trainer.train_loader, trainer.split_batch, th.input_sample_size, trainer.engine,
                                     sizes)
        regression = not trainer.is_classification and ys.dtype.kind == "f"
        self._emit(trainer, self._safely("input_normalization", lambda: check_input_normalization(
            xs[0], th, targets=ys if regression and trainer.loss_fn is not None else None)), True)
        bounds = np.cumsum([0, *sizes])
        batches = [ys[a:b] for a, b in zip(bounds[:-1], bounds[1:]) if b > a]
        if len(batches) >= 2:
            self._emit(trainer, self._safely("data_order", lambda: check_data_order(
                batches, th, trainer.is_classification)), True)
        else:
            self._unmeasured["data_order"] = "the loop gave one sample batch, not the batches it draws"
        chunk = max(len(as_array(target, trainer.engine)), 128)

        def probe() -> Any:
            with trainer.preserve_state(optimizer=False):
                model.train()
                with dropout_off(model):
                    return probe_initialization(model, trainer.loss_fn, [x[:256] for x in xs], ys[:256],
                                                trainer.engine, self._weights, chunk,
                                                lambda loss, params: first_gradients(trainer.engine, loss, params))

        found = self._safely("initial_loss", probe)

        def init_scheme() -> Check:
            with trainer.preserve_state(optimizer=False):
                described = describe_layers(model, inputs, trainer.engine)
            return check_init_scheme(described, th, found.signal if found else None,
                                     found.gradients if found else None, found.output_signal if found else None)

        self._emit(trainer, self._safely("init_scheme", init_scheme), True)
        if loss is None:
            reason = "skipped: the training loop gave no loss function (pass loss_fn=...)"
            self._emit(trainer, make("initial_loss", "skip", reason), True)
            self._emit(trainer, make("overfit_tiny_batch", "skip", reason), True)
            self._unmeasured["curvature"] = "the loop gave no loss function"
            return
        kind = classification_kind(trainer.loss_fn)
        loss_name = callable_name(trainer.loss_fn)
        self.baseline = uninformed_loss(loss_name, kind, ys)
        if found is not None and found.loss is not None:
            first, probed, samples = found.loss, found.outputs, found.samples
            mode = "at initialization, dropout off"
            self.initial_loss = first if math.isfinite(first) else None
        else:
            first, probed, samples, mode = loss, as_array(outputs, trainer.engine), None, ""
        self._emit(trainer, self._safely("initial_loss", lambda: check_initial_loss(
            first, expected_initial_loss(loss_name, kind, ys[:samples] if samples else as_array(target, trainer.engine),
                                         trainer.num_classes, probed), th, kind=kind, loss_name=loss_name,
            num_classes=trainer.num_classes, outputs=probed, samples=samples, mode=mode)), True)

        def overfit() -> Check:
            pick = pick_tiny_batch(ys, trainer.is_classification, th)
            accuracy = accuracy_for(kind) if trainer.is_classification else None
            with trainer.preserve_state(model=False, optimizer=False):
                return check_overfit_tiny_batch(model, trainer.optimizer, trainer.loss_fn, [x[pick] for x in xs],
                                                ys[pick], th, accuracy, trainer.engine)

        if trainer.optimizer is None:
            reason = "skipped: no optimizer to train a copy of the model with (pass optimizer=...)"
            self._emit(trainer, make("overfit_tiny_batch", "skip", reason), True)
            self._unmeasured["curvature"] = "no optimizer, so no learning rate to judge against the sharpness"
            return
        self._emit(trainer, self._safely("overfit_tiny_batch", overfit), True)
        n = th.curvature_samples
        self._prepare_curvature(trainer, (tuple(x[:n] for x in xs), ys[:n]))
        if self._curvature_probe is not None and type(trainer.optimizer).__name__ == "SGD":
            self._measure_curvature(trainer, 0)   # the stability rule needs the sharpness before the first step

    def _frozen_layers(self, trainer: "Trainer") -> Check | None:
        """``gradient_flow``'s test for layers that never get an update (frozen, or not in the optimizer)."""
        groups = getattr(trainer.optimizer, "param_groups", None)
        if not groups or not self._weights:
            return None
        in_optimizer = {id(p) for g in groups for p in g["params"]}
        layers = [(name, bool(getattr(m.weight, "requires_grad", True)), id(m.weight) in in_optimizer)
                  for name, m in self._weights]
        return check_frozen_layers(layers, self._labels)

    # ================================================================== curvature
    def _prepare_curvature(self, trainer: "Trainer", probe: tuple[tuple, Any]) -> None:
        """Keep the probe samples and the trained parameters for the sharpness estimates (or record why not)."""
        why = None
        if trainer.optimizer is None or trainer.loss_fn is None:
            why = "no optimizer or loss function"
        else:
            why = twice_differentiable(trainer.model, trainer.engine)
        in_optimizer = {id(p) for g in trainer.optimizer.param_groups for p in g["params"]} if not why else set()
        params = [p for p in trainer.model.parameters() if getattr(p, "requires_grad", False) and id(p) in in_optimizer]
        if not why and not params:
            why = "no trained parameter"
        if why:
            self._unmeasured["curvature"] = why
            return
        engine = trainer.engine
        self._curvature_probe = (tuple(engine.as_input(np.ascontiguousarray(x)) for x in probe[0]),
                                 engine.as_input(np.ascontiguousarray(probe[1])))
        self._curvature_params = params
        self.stats["curvature"].update(samples=int(len(probe[1])), solver=type(trainer.optimizer).__name__)

    @_guarded
    def _resume_curvature(self, trainer: "Trainer") -> None:
        """A resumed run goes on with the sharpness series its first part began: a fresh probe of as many
        training samples (drawn with every random stream restored, so the run is unchanged) - the estimate
        is of the same loss surface at the current weights; its first power iteration starts cold."""
        c = self.stats["curvature"]
        if not c.get("steps") or not c.get("samples") or trainer.optimizer is None or trainer.loss_fn is None:
            return
        n = int(c["samples"])
        with trainer.preserve_state(model=False, optimizer=False):
            xs, ys = collect_samples(trainer.train_loader, trainer.split_batch, n, trainer.engine)
        if len(ys):
            self._prepare_curvature(trainer, (tuple(x[:n] for x in xs), ys[:n]))

    @_guarded
    def _measure_curvature(self, trainer: "Trainer", step: int, allowed: float | None = None) -> None:
        """One sharpness estimate (power iteration, warm-started after the first), recorded and judged;
        ``allowed``: the seconds it may take (the power iteration stops when they run out)."""
        th = self.thresholds
        inputs, target = self._curvature_probe
        warm = self._curvature_vector is not None
        t0 = time.perf_counter()
        deadline = None if allowed is None else t0 + allowed
        with _modes_kept(trainer):
            found = measure_sharpness(trainer.model, trainer.loss_fn, inputs, target, trainer.engine,
                                      self._curvature_params, self._curvature_vector,
                                      th.curvature_warm_iterations if warm else th.curvature_iterations,
                                      th.curvature_rtol, deadline)
        seconds = time.perf_counter() - t0
        if step > 0:
            self.curvature_seconds += seconds
        self._curvature_cost = seconds / (found.iterations + 1)   # per Hessian-vector product
        if not math.isfinite(found.value):
            return
        self._curvature_vector = found.vector
        group = trainer.optimizer.param_groups[0]
        limit = stability_limit(group, found.value)
        c = self.stats["curvature"]
        c["steps"].append(step)
        c["epochs"].append(trainer.epoch)
        c["sharpness"].append(float(f"{found.value:.6g}"))
        c["lr"].append(trainer.lr)
        c["lr_max"].append(None if limit is None else float(f"{limit[0]:.6g}"))
        c["iterations"].append(found.iterations)
        self._judge_curvature(trainer)

    def _judge_curvature(self, trainer: "Trainer") -> None:
        c = self.stats["curvature"]
        series = [{"step": st, "sharpness": v, "lr": lr} for st, v, lr in zip(c["steps"], c["sharpness"], c["lr"])]
        early = None if self.early_loss is None else self.early_loss == "pass"
        self._emit(trainer, check_curvature(series, self.thresholds, type(trainer.optimizer).__name__,
                                            trainer.optimizer.param_groups[0], early))

    # ================================================================== validation
    def _add_validation_hook(self, trainer: "Trainer") -> None:
        """A forward pre-hook on the model that notices a validation run in training mode."""
        layers = mode_sensitive_layers(trainer.model)
        if not layers or self._validation_handle is not None:
            return
        self._validation_hook = ValidationModeHook(functools.partial(self._train_mode_validation, trainer),
                                                   trainer.engine, layers)
        self._validation_handle = trainer.model.register_forward_pre_hook(self._validation_hook)

    def _remove_validation_hook(self) -> None:
        if self._validation_handle is not None:
            self._validation_handle.remove()
        self._validation_handle = self._validation_hook = None

    def _train_mode_validation(self, trainer: "Trainer", layers: list[str]) -> None:
        if self.val_train_mode is None:
            self.val_train_mode = list(layers)
            self._emit(trainer, check_validation(layers, self.stats["context"].get("regularization", []),
                                                 self.val_below, self.val_epochs))

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
            self._keep_gradients(trainer)

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
        self._epoch_steps.append(loss)
        recent = self.divergence.update(loss)
        losses = self.step_losses
        if losses is not None:
            losses.append(loss)
            if len(losses) >= self._loss_judge_at:
                self._judge_loss(trainer, len(losses) >= self.thresholds.loss_patience_steps)
        if recent > self.thresholds.divergence_factor * self.divergence.best:   # cheap pre-test of the rule
            self._divergence(trainer, recent)
        elif self._divergence_streak:
            self._divergence_streak = 0
        if self._sampled:
            self._record_updates(trainer)

    @_guarded
    def _attach(self, trainer: "Trainer") -> None:
        if self._recorder is not None:
            self._recorder.attach()

    @_guarded
    def _keep_gradients(self, trainer: "Trainer") -> None:
        """The gradients the previous step left (before this step's backward), for ``zero_grad`` forgotten."""
        engine = trainer.engine
        self._grads_before = {name: np.array(engine.to_numpy(m.weight.grad), copy=True)
                              for name, m in self._weights if m.weight.grad is not None}

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
        before, self._grads_before = self._grads_before, {}
        change = previous = 0.0   # against the gradients the previous step left: zero_grad forgotten?
        for name, module in self._weights:
            grad = module.weight.grad
            if grad is None:
                continue
            g = engine.to_numpy(grad)
            norm = _norm(g)
            if not math.isfinite(norm):
                first_bad = first_bad or name
            norms[name] = norm
            total_abs += float(np.abs(g).sum())
            count += g.size
            old = before.get(name)
            if old is not None and old.shape == g.shape:
                difference = g - old
                change += float(np.square(difference, out=difference).sum())
                previous += norm * norm
        self._append_series(self.stats["gradients"], "norms", norms, trainer, trainer.global_step + 1)
        if first_bad is not None:
            self._emit(trainer, check_nan_inf(self._when(trainer), first_gradient=first_bad, labels=self._labels))
        elif norms:
            start = self.initial_loss if self.initial_loss is not None else self.divergence.initial
            level = self.divergence.total / len(self.divergence.recent) if self.divergence.recent else None
            fraction = level / start if level is not None and start and start > 0 else None
            self._emit(trainer, check_gradient_flow(norms, total_abs / max(count, 1), self.thresholds, self._labels,
                                                    fraction))
            now = math.sqrt(sum(v * v for v in norms.values()))
            if self.first_grad_norm is None:
                self.first_grad_norm = now
            elif previous > 0:
                self._emit(trainer, check_gradient_accumulation(math.sqrt(change), math.sqrt(previous),
                                                                self.first_grad_norm, self.thresholds))
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
        """A run-away loss, not one bad batch nor the catapult of a step just above the stability limit: the
        mean of the recent losses ``divergence_runaway`` x where training started (at once), or their median
        above the start and ``divergence_factor`` x the best for ``divergence_patience`` steps in a row."""
        d, th = self.divergence, self.thresholds
        start = self.initial_loss if self.initial_loss is not None else d.initial
        median = d.median()
        if median > start and median > th.divergence_factor * d.best:
            self._divergence_streak += 1
        else:
            self._divergence_streak = 0
        if recent > th.divergence_runaway * start and not self._catapult(trainer):
            self._emit(trainer, check_divergence(start, d.best, recent, d.steps, th, trainer.lr))
        elif self._divergence_streak >= th.divergence_patience:
            self._emit(trainer, check_divergence(start, d.best, median, d.steps, th, trainer.lr))

    def _catapult(self, trainer: "Trainer") -> bool:
        """SGD started with a step above its stability limit, but within ``curvature_margin_alone`` of it: the loss
        is expected to climb at first while the sharpness falls (Lewkowycz et al.'s catapult)."""
        c = self.stats["curvature"]
        if not c["steps"] or c["steps"][0] != 0 or not c["lr_max"] or not c["lr_max"][0]:
            return False
        ratio = c["lr"][0] / c["lr_max"][0]
        return 1.0 < ratio <= self.thresholds.curvature_margin_alone

    @_guarded
    def on_epoch_end(self, trainer: "Trainer", epoch: int, logs: dict[str, Any]) -> None:
        th = self.thresholds
        total, squares, n = _sums(self._epoch_steps)
        self._epoch_steps = []
        error = math.sqrt(max(squares / n - (total / n) ** 2, 0.0) / (n - 1)) if n > 1 else None
        self.epoch_losses.append(float(logs["loss"]))
        self.epoch_errors.append(error if error is None or math.isfinite(error) else None)
        if len(self.epoch_losses) >= th.oscillation_min_epochs:
            self._emit(trainer, check_oscillation(self.epoch_losses, th, trainer.lr, self.epoch_errors))
        val = logs.get("val_loss")
        if isinstance(val, (int, float)) and math.isfinite(val):
            self.val_epochs += 1
            self.val_below += int(val < float(logs["loss"]))
            self.val_best = val if self.val_best is None else min(self.val_best, val)
            if (self.baseline is not None and not self._val_judged
                    and trainer.global_step >= th.loss_check_steps):
                self._val_judged = True
                self._emit(trainer, check_validation_learns([self.val_best], self.baseline, trainer.global_step, th))
        if self._curvature_probe is not None and trainer.global_step >= self.curvature_next:
            # a Hessian-vector product costs about three training steps until one has been timed
            per_product = self._curvature_cost or 3 * trainer.elapsed / max(trainer.global_step, 1)
            allowed = th.curvature_budget * trainer.elapsed - (self.curvature_seconds - self._curvature_seconds_before)
            if allowed >= 3 * per_product:   # the gradient's graph and two products at least
                while self.curvature_next <= trainer.global_step:
                    self.curvature_next *= 2
                self._measure_curvature(trainer, trainer.global_step, allowed)

    # ================================================================== the end
    @_guarded
    def on_train_end(self, trainer: "Trainer") -> None:
        if self._recorder is not None:
            self._recorder.detach()   # a step that began but never finished (a hand-written loop's last batch)
        self._remove_validation_hook()
        if self.step_losses is not None and len(self.step_losses) >= self.thresholds.loss_min_steps:
            self._judge_loss(trainer, True)   # a run shorter than the judged steps: judge what there is
        for name in DURING_TRAINING:
            if name in self.emitted:
                continue
            check = _merge(name, self.last_pass.get(name)) or _not_measured(name, self._unmeasured.get(name))
            if name == "nan_inf":
                check = make(name, "pass", f"loss finite at every step; activations and gradients finite on "
                                           f"{self.sampled_steps} sampled step(s)", sampled_steps=self.sampled_steps)
            elif name == "validation":
                check = check_validation(self.val_train_mode, self.stats["context"].get("regularization", []),
                                         self.val_below, self.val_epochs)
            self._emit(trainer, check, always=True)
        self._write(trainer)

    @_guarded
    def on_exception(self, trainer: "Trainer", exception: BaseException) -> None:
        if self._recorder is not None:
            self._recorder.detach()   # no forward hook left on the user's model
        self._remove_validation_hook()
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
    def _judge_loss(self, trainer: "Trainer", final: bool) -> None:
        check = check_loss_decreasing(self.step_losses, self.thresholds, self.initial_loss, self.baseline, final)
        if check is None:   # neither a fall nor a rise out of the noise yet: look again with more steps
            self._loss_judge_at = self.thresholds.loss_patience_steps
            return
        self.step_losses = None
        self.early_loss = check.status
        self._emit(trainer, check, always=True)
        if self._curvature_probe is not None and self.stats["curvature"]["steps"]:
            self._judge_curvature(trainer)

    def _locate_nonfinite(self, trainer: "Trainer", loss: float, inputs: tuple, first_activation: str | None = None
                          ) -> None:
        """Find where a NaN/inf comes from: the inputs, a layer's weights, or the first layer whose output breaks."""
        engine = trainer.engine
        inputs_bad = any(_nonfinite(as_array(x, engine)) for x in inputs)
        first_weight = next((name for name, m in self._weights if _nonfinite(engine.to_numpy(m.weight))), None)
        if first_activation is None and not inputs_bad and first_weight is None and inputs:
            hook = self._validation_hook
            if hook is not None:
                hook.paused = True   # this probe runs without gradients in training mode: not a validation
            try:
                with trainer.preserve_state():
                    first_activation = trace_forward(trainer.model, inputs, engine).first_nonfinite
            finally:
                if hook is not None:
                    hook.paused = False
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
            entry = acts["layers"].get(name)
            if entry is None:
                entry = acts["layers"][name] = {"kind": kind, "label": self._labels.get(name, ""), "edges": None,
                                                "histograms": [], "dead_fraction": [], "saturated_fraction": []}
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
            dead = check_dead_relu(samples, self.thresholds, self._labels)
            self._emit(trainer, dead)
            if step == 0:
                self._alive_at_start = {k for k, s in samples.items()
                                        if s.dead_fraction is not None and s.dead_fraction <= self.thresholds.dead_layer_fraction}
            elif dead.status != "pass":
                died = [k for k in dead.evidence.get("layers", []) if k in self._alive_at_start]
                if died:
                    self._emit(trainer, check_units_died(died, trainer.lr, self._labels, whole=dead.status == "fail"))
        if kinds & {"sigmoid", "tanh", "hardtanh"}:
            recent = {}   # a layer is saturated when it stays so: the least of its last three samples
            for name, s in samples.items():
                if s.saturated_fraction is not None:
                    series = [v for v in acts["layers"][name]["saturated_fraction"][-3:] if v is not None]
                    recent[name] = float(min(series)) if series else s.saturated_fraction
            self._emit(trainer, check_saturation(samples, self.thresholds, self._labels, recent, trainer.epoch > 1))

    @_guarded
    def _record_updates(self, trainer: "Trainer") -> None:
        th = self.thresholds
        before, self._before = self._before, []
        if not before:
            return
        ratios = {}
        for name, module, old in before:
            size = max(_norm(old), self._floors.get(name, 0.0))
            if size > 0:
                ratios[name] = _norm(trainer.engine.to_numpy(module.weight) - old) / size
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
        self._emit(trainer, check_update_ratio(recent, th, trainer.lr, self.initial_lr or trainer.lr, self._labels,
                                               adaptive=_adaptive(trainer.optimizer)))

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
@contextlib.contextmanager
def _modes_kept(trainer: "Trainer") -> Any:
    """Around a probe that changes no weight (the sharpness estimate): the modules' modes put back, and the
    buffers too when the model has any (a training-mode forward pass moves batch normalization's running
    statistics) - the whole of ``trainer.preserve_state`` only then, as it costs a copy of the model."""
    model = trainer.model
    if next(iter(model.buffers()), None) is not None:
        with trainer.preserve_state(optimizer=False):
            yield
        return
    modes = trainer.engine.modes(model)
    try:
        yield
    finally:
        trainer.engine.set_modes(modes)


def _weight_floors(layers: list[tuple[str, Any]], engine: Any) -> dict[str, float]:
    """Per layer, the norm its weight has at the smallest accepted init scale (PyTorch's default,
    std 1/sqrt(3 fan_in)): the update-to-weight ratio is taken against at least that, so that a layer
    started deliberately small (the output layer ``by_activation`` scales down) is not called over-driven
    while its weights grow to their working size."""
    floors = {}
    for name, module in layers:
        shape = tuple(module.weight.shape)
        fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else 1
        floors[name] = math.sqrt(float(np.prod(shape)) / (3.0 * max(fan_in, 1)))
    return floors


#: Solvers whose step scales each weight by its own gradient history: every weight moves by about the lr.
_ADAPTIVE = ("Adam", "AdamW", "Adamax", "NAdam", "RAdam", "RMSprop", "Adagrad", "Adadelta", "SparseAdam")


def _adaptive(optimizer: Any) -> bool:
    return optimizer is not None and any(cls.__name__ in _ADAPTIVE for cls in type(optimizer).__mro__)


def _sums(values: list[float]) -> tuple[float, float, int]:
    """``(sum, sum of squares, count)`` of some losses, added up in their order (the per-step hook only appends)."""
    total = squares = 0.0
    for v in values:
        total += v
        squares += v * v
    return total, squares, len(values)


def _norm(values: np.ndarray) -> float:
    """``np.linalg.norm(values)`` - the same number, computed as it does (the square root of the flattened array's
    dot product with itself) - without its argument handling, which costs more than the product itself on the
    small arrays of a sampled step."""
    if values.dtype.kind != "f":
        return float(np.linalg.norm(values))
    flat = values.ravel(order="K")
    return float(np.sqrt(flat.dot(flat)))


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


def _not_measured(name: str, why: str | None = None) -> Check:
    reasons = {"loss_decreasing": "too few steps to judge the trend of the loss",
               "learning_rate": "no update was sampled (and too few epochs to judge oscillation)",
               "dead_relu": "no ReLU layer was watched", "saturation": "no sigmoid/tanh layer was watched",
               "gradient_flow": "no weight gradient was sampled",
               "curvature": "no sharpness estimate was made",
               "data_order": "the training loop gave no batches to look at"}
    return make(name, "pass", f"not measured: {why or reasons.get(name, 'no data')}")
