"""Checks on the training loss: ``initial_loss``, ``overfit_tiny_batch`` and ``loss_decreasing``.

The lecture's babysitting recipe, in order: "Check the loss after the first forward pass for a
reasonable value (i.e. not NaN)"; "Your first goal is to overfit the training data" (Karpathy's
recipe: overfit one small batch first - if the model cannot memorise a handful of examples, there is
a bug or too little capacity); "Observe the training loss ... Is it decreasing?".
"""
from __future__ import annotations

import copy
import functools
import math
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from gradwise.train.babysit.check import Check, make
from gradwise.train.babysit.thresholds import Thresholds

__all__ = ["expected_initial_loss", "random_logit_loss", "output_form", "check_initial_loss", "pick_tiny_batch", "check_overfit_tiny_batch",
           "check_loss_decreasing", "check_validation_learns", "uninformed_loss", "window_means"]


# ============================================================================= initial_loss
def expected_initial_loss(loss_name: str, kind: str | None, target: np.ndarray, num_classes: int | None,
                          outputs: np.ndarray | None = None) -> tuple[float, str] | None:
    """``(value, formula)`` of the loss an untrained model should start near, or None when unknown.

    A model that knows nothing predicts every class with probability 1/C, which costs ln(C) per
    sample whatever the labels are (Karpathy: "-log(1/n_classes)"); binary outputs cost ln(2).  Under
    MSE a model whose outputs start centred on the targets' mean costs the label variance plus the
    spread of its own outputs (``outputs``, when given); the rest of the first loss is the distance
    between the outputs' and the targets' means (Karpathy: "init well" - the last bias at the mean).
    """
    if kind == "multiclass" and num_classes and num_classes > 1:
        return math.log(num_classes), f"ln({num_classes})"
    if kind in ("binary_logits", "binary_probs"):
        return math.log(2.0), "ln(2)"
    if loss_name in ("MSELoss", "mse_loss"):
        var = float(np.var(np.asarray(target, dtype=np.float64)))
        spread = float(np.var(np.asarray(outputs, dtype=np.float64))) if outputs is not None else 0.0
        if var + spread > 0:
            return var + spread, "the label variance" + (" + the outputs' variance" if outputs is not None else "")
    return None


@functools.lru_cache(maxsize=64)
def random_logit_loss(classes: int, spread: float, single_logit: bool = False) -> float:
    """The mean cross-entropy of logits drawn i.i.d. from N(0, spread^2): what an untrained model whose outputs
    have that spread costs (``ln(C)`` at spread 0).  ``single_logit``: one logit against two classes
    (``BCEWithLogitsLoss``).  Monte Carlo over a fixed private generator (about 0.01 of standard error): the
    value is deterministic, cached, and no global random stream moves."""
    rng = np.random.default_rng(12345)
    if single_logit:
        z = rng.normal(0.0, spread, size=50_000)
        return float(np.mean(np.logaddexp(0.0, z)))
    n = max(1_000, 100_000 // classes)
    z = rng.normal(0.0, spread, size=(n, classes))
    top = z.max(axis=1)
    lse = top + np.log(np.exp(z - top[:, None]).sum(axis=1))
    return float(np.mean(lse - z[:, 0]))


def output_form(outputs: np.ndarray | None) -> str | None:
    """``"probabilities"`` when every row of the outputs is non-negative and sums to 1 (a softmax ran),
    ``"log_probabilities"`` when the rows' exponentials sum to 1 (a log-softmax ran), ``"unit_interval"``
    for one output per sample that lies in [0, 1] everywhere (a sigmoid ran), else None (raw scores)."""
    if outputs is None:
        return None
    out = np.asarray(outputs, dtype=np.float64)
    if out.size == 0 or not np.isfinite(out).all():
        return None
    if out.ndim == 2 and out.shape[1] > 1:
        if out.min() >= 0 and np.allclose(out.sum(axis=1), 1.0, atol=1e-3):
            return "probabilities"
        if out.max() <= 1e-6 and np.allclose(np.exp(out).sum(axis=1), 1.0, atol=1e-3):
            return "log_probabilities"
        return None
    flat = out.ravel()
    if flat.size >= 8 and flat.min() >= 0 and flat.max() <= 1 and np.ptp(flat) > 0:
        return "unit_interval"
    return None


def check_initial_loss(loss: float, expected: tuple[float, str] | None, th: Thresholds, *, kind: str | None = None,
                       loss_name: str = "", num_classes: int | None = None, outputs: np.ndarray | None = None,
                       samples: int | None = None, mode: str = "") -> Check:
    """The loss before any update, as Karpathy's "verify loss @ init" means it.

    ``loss`` is measured at initialization with dropout off over up to ``input_sample_size`` samples
    (``samples``; ``mode`` says how).  Fail on NaN/inf.  Warn when the outputs are already probabilities
    for a loss that applies its own softmax/sigmoid (``CrossEntropyLoss``, ``BCEWithLogitsLoss``) or are not
    log-probabilities for ``NLLLoss``; when a classification loss is above what random logits with spread
    ``initial_logit_spread`` cost for this number of classes, or below ``initial_loss_low`` ln(C); for
    regression outside [``initial_loss_low``, ``initial_loss_high``] times the expected value.
    """
    name = "initial_loss"
    where = dict(samples=samples, mode=mode) if samples else {}
    if not math.isfinite(loss):
        return make(name, "fail", f"the first loss is {loss} - the forward pass or the loss produces NaN/inf before "
                                  "any update (look at the nan_inf check for the first layer where it appears)",
                    loss=loss, **where)
    form = output_form(outputs)
    if form == "probabilities" and loss_name in ("CrossEntropyLoss", "cross_entropy"):
        return make(name, "warn", f"the model's outputs are probabilities (each row sums to 1: a softmax ends the "
                                  f"model) but {loss_name} applies log-softmax itself: the softmax is applied twice, "
                                  "the loss cannot fall much below its start and its gradients are squashed - remove "
                                  "the final Softmax (or use NLLLoss after LogSoftmax)", loss=loss,
                    output_form=form, symptom="softmax_before_loss", **where)
    if loss_name in ("NLLLoss", "nll_loss") and form != "log_probabilities" and outputs is not None:
        what = "probabilities (a Softmax)" if form == "probabilities" else "raw scores"
        return make(name, "warn", f"NLLLoss expects log-probabilities but the model's outputs are {what}: end the "
                                  "model with LogSoftmax, or use CrossEntropyLoss on raw scores", loss=loss,
                    output_form=form or "raw", symptom="softmax_before_loss", **where)
    if form == "unit_interval" and loss_name in ("BCEWithLogitsLoss", "binary_cross_entropy_with_logits"):
        return make(name, "warn", f"the model's outputs all lie in [0, 1] (a sigmoid ends the model) but {loss_name} "
                                  "applies the sigmoid itself: remove the final Sigmoid (or use BCELoss)", loss=loss,
                    output_form=form, symptom="softmax_before_loss", **where)
    if expected is None:
        return make(name, "pass", f"first loss {loss:.4g} is finite (no reference value for this loss)", loss=loss,
                    **where)
    value, formula = expected
    ratio = loss / value
    evidence = dict(loss=loss, expected=value, formula=formula, ratio=ratio, **where)
    classification = kind in ("multiclass", "binary_logits", "binary_probs")
    if classification:
        classes = num_classes if kind == "multiclass" and num_classes else 2
        high = random_logit_loss(classes, th.initial_logit_spread, single_logit=kind != "multiclass")
        evidence.update(band=[th.initial_loss_low * value, high], logit_spread=th.initial_logit_spread)
        if loss > high:
            return make(name, "warn", f"first loss {loss:.4g} is above {high:.3g}, what random logits with spread "
                                      f"{th.initial_logit_spread:g} cost against the expected {formula} = {value:.4g}: "
                                      "the outputs are over-confident at initialization - scale the last layer down "
                                      "(Karpathy: 'init well'; nn.init.by_activation does it) and normalize the "
                                      "inputs", symptom="too_high", **evidence)
    else:
        evidence.update(band=[th.initial_loss_low * value, th.initial_loss_high * value])
        if ratio > th.initial_loss_high:
            return make(name, "warn", f"first loss {loss:.4g} is {ratio:.3g}x the expected {formula} = {value:.4g}: the "
                                      "targets are far from the outputs' start - standardize the targets or set the "
                                      "output bias to their mean (Karpathy: 'init well')", symptom="too_high",
                        **evidence)
    if ratio < th.initial_loss_low:
        return make(name, "warn", f"first loss {loss:.4g} is only {ratio:.3g}x the expected {formula} = {value:.4g} "
                                  "before any training: a label leak into the inputs, or a loss that is not what it "
                                  "seems", symptom="too_low", **evidence)
    return make(name, "pass", f"first loss {loss:.4g} is close to the expected {formula} = {value:.4g}"
                              + (f" ({mode}, {samples} samples)" if samples else ""), **evidence)


# ============================================================================= overfit_tiny_batch
def pick_tiny_batch(target: np.ndarray, classification: bool, th: Thresholds) -> np.ndarray:
    """Indices of the tiny batch: ``overfit_per_class`` samples of each class (one of every class first)
    for classification, at most ``overfit_max_samples``; the first samples for regression."""
    n = min(len(target), th.overfit_max_samples)
    if not classification:
        return np.arange(n)
    labels = np.asarray(target)
    labels = labels.argmax(axis=1) if labels.ndim > 1 else labels.reshape(len(labels), -1)[:, 0]
    by_class = [np.flatnonzero(labels == c)[: th.overfit_per_class] for c in np.unique(labels)]
    rounds = [idx[k] for k in range(th.overfit_per_class) for idx in by_class if k < len(idx)]
    return np.array(rounds[:n], dtype=np.int64)


def check_overfit_tiny_batch(model: Any, optimizer: Any, loss_fn: Callable, inputs: Sequence[np.ndarray],
                             target: np.ndarray, th: Thresholds,
                             accuracy: Callable[[np.ndarray, np.ndarray], float] | None = None,
                             engine: Any = None) -> Check:
    """Train deep copies of ``model`` and ``optimizer`` on the tiny batch ``(inputs, target)``, dropout off.

    Success: 100 % ``accuracy`` for classification (TheDeepChecker: no mislabeled sample left), or the
    loss below ``overfit_loss_fraction`` of its start otherwise - within ``overfit_max_steps`` steps
    and ``overfit_max_seconds``.  The real model and optimizer are never touched; the caller restores
    the random streams the copies drew from.  Regression: a probe whose steps run out with the loss below
    ``overfit_still_falling`` of its start and still falling is inconclusive, a pass.
    """
    if engine is None:
        from gradwise.engines import engine_for

        engine = engine_for(model)
    model_c, opt_c = copy.deepcopy((model, optimizer))
    model_c.train()
    for m in model_c.modules():   # memorising a handful of samples is a test of capacity, not of regularization
        if "Dropout" in type(m).__name__:
            m.training = False
    xs = [engine.as_input(np.asarray(x)) for x in inputs]
    y = engine.as_input(np.asarray(target))
    samples = int(len(target))
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):   # a probe of a bad setup may overflow
        return _overfit(model_c, opt_c, loss_fn, xs, y, th, accuracy, samples, engine)


def _overfit(model_c: Any, opt_c: Any, loss_fn: Callable, xs: list, y: Any, th: Thresholds,
             accuracy: Callable | None, samples: int, engine: Any) -> Check:
    name = "overfit_tiny_batch"
    closure_needed = engine.needs_closure(opt_c)
    start, first, losses = time.perf_counter(), None, []
    acc = None
    for step in range(th.overfit_max_steps + 1):
        out = model_c(*xs)
        loss = loss_fn(out, y)
        value = engine.item(loss)
        losses.append(value)
        first = value if first is None else first
        if not math.isfinite(value):
            return make(name, "warn", f"training on {samples} samples made the loss {value} after {step} step(s): the "
                                      "learning rate is too high or the model/loss produces NaN",
                        samples=samples, steps=step, initial_loss=first, final_loss=value)
        if accuracy is not None:
            acc = float(accuracy(engine.to_numpy(out), engine.to_numpy(y)))
            done = acc >= 1.0 and value < first
        else:
            done = value <= th.overfit_loss_fraction * first
        if done:
            return make(name, "pass", f"memorised {samples} samples in {step} step(s) (loss {first:.4g} -> {value:.4g}"
                                      + (", accuracy 100 %)" if accuracy is not None else ")"),
                        samples=samples, steps=step, initial_loss=first, final_loss=value, accuracy=acc)
        if step == th.overfit_max_steps:
            if accuracy is None and _still_falling(losses, th.overfit_still_falling):
                return make(name, "pass", f"inconclusive for regression: after {step} steps the loss is down to "
                                          f"{value / first:.2g}x its start ({first:.4g} -> {value:.4g}) and still "
                                          "falling - fitting continuous targets exactly takes longer than the probe",
                            samples=samples, steps=step, initial_loss=first, final_loss=value, accuracy=acc)
            break
        if time.perf_counter() - start > th.overfit_max_seconds:
            if value < 0.9 * first:
                return make(name, "pass", f"inconclusive: stopped after {step} step(s) ({th.overfit_max_seconds:g} s) "
                                          f"with the loss falling ({first:.4g} -> {value:.4g})",
                            samples=samples, steps=step, initial_loss=first, final_loss=value, accuracy=acc)
            break
        opt_c.zero_grad()
        if closure_needed:
            opt_c.step(lambda: _closure(model_c, opt_c, loss_fn, xs, y))
        else:
            loss.backward()
            opt_c.step()
    goal = "100 % accuracy" if accuracy is not None else f"a loss below {th.overfit_loss_fraction:g}x its start"
    return make(name, "warn", f"could not overfit {samples} samples in {len(losses) - 1} steps (loss {first:.4g} -> "
                              f"{losses[-1]:.4g}" + (f", accuracy {acc:.0%}" if acc is not None else "") +
                              f"; goal: {goal}): a bug (labels, loss, forward pass), too little capacity, or a "
                              "learning rate far from right",
                samples=samples, steps=len(losses) - 1, initial_loss=first, final_loss=losses[-1], accuracy=acc)


def _still_falling(losses: Sequence[float], fraction: float) -> bool:
    """The loss ended below ``fraction`` of its start and its last tenth of steps is below the tenth before."""
    n = max(len(losses) // 10, 1)
    if len(losses) < 2 * n + 1 or not losses[-1] < fraction * losses[0]:
        return False
    return float(np.mean(losses[-n:])) < float(np.mean(losses[-2 * n:-n]))


def _closure(model: Any, optimizer: Any, loss_fn: Callable, xs: list, y: Any) -> Any:
    optimizer.zero_grad()
    loss = loss_fn(model(*xs), y)
    loss.backward()
    return loss


# ============================================================================= loss_decreasing
def window_means(losses: Sequence[float], fraction: float, minimum: int = 3) -> tuple[float, float, float, int]:
    """Means of the first and of the last ``fraction`` of ``losses`` (at least ``minimum`` values each), the
    standard error of their difference (from the windows' spread), and the window length."""
    w = max(minimum, int(round(fraction * len(losses))))
    w = min(w, max(1, len(losses) // 2))
    arr = np.asarray(losses, dtype=np.float64)
    first, last = arr[:w], arr[-w:]
    spread = float(np.sqrt((first.var() + last.var()) / w))
    return float(first.mean()), float(last.mean()), spread, w


def uninformed_loss(loss_name: str, kind: str | None, target: np.ndarray) -> tuple[float, str] | None:
    """``(value, what)``: the loss a model reaches without looking at its inputs, or None when unknown.

    Classification: the entropy of the class frequencies (predicting the priors; ln(C) for balanced
    classes).  A model that learns from its inputs goes below it within its first steps; one whose labels
    do not match its inputs never does.
    """
    t = np.asarray(target)
    if t.size == 0:
        return None
    if kind in ("multiclass", "binary_logits", "binary_probs"):
        if t.ndim > 1 and t.shape[1] > 1:
            labels = t.argmax(axis=1)
        else:
            flat = t.reshape(len(t))
            labels = (flat > 0.5).astype(np.int64) if flat.dtype.kind == "f" and kind != "multiclass" else flat
        _, counts = np.unique(labels, return_counts=True)
        p = counts / counts.sum()
        entropy = float(-(p * np.log(p)).sum())
        return (entropy, "the entropy of the class frequencies") if entropy > 0 else None
    return None   # regression: predicting the mean costs the targets' variance, but a weak regression (diabetes)
    #              needs more than the first steps to beat it - the fall from the start is judged instead


def check_loss_decreasing(losses: Sequence[float], th: Thresholds, initial: float | None = None,
                          baseline: tuple[float, str] | None = None, final: bool = True) -> Check | None:
    """Is the training loss falling over the first steps - and below what guessing costs?

    Warn when it rose by more than ``loss_max_increase`` (and ``loss_noise_z`` standard errors), comparing the
    means of the first and last ``loss_window_fraction`` of the steps.  With ``baseline`` (the
    :func:`uninformed_loss`) it must end below the baseline by ``loss_min_decrease`` and ``loss_noise_z``
    standard errors of its last window: a loss that only learned the class frequencies (labels shuffled
    against the inputs, a learning rate far too low, inputs the model cannot see) warns; one below it but
    within the noise waits for more steps unless this is the ``final`` look.  Without one, the
    last window must lie below the first window or the loss at initialization (``initial``: the babysitter's
    probe, dropout off) by the same two margins; when neither a fall nor a rise stands out of the mini-batch
    noise and this is not the ``final`` look, None: the verdict waits for more steps (``loss_patience_steps``).
    """
    name = "loss_decreasing"
    start, end, spread, w = window_means(losses, th.loss_window_fraction)
    change = (start - end) / start if start > 0 else 0.0
    z = (start - end) / spread if spread > 0 else (float("inf") if start > end else 0.0)
    last = np.asarray(losses[-w:], dtype=np.float64)
    error = float(last.std() / math.sqrt(len(last))) if len(last) > 1 else 0.0
    evidence = dict(steps=len(losses), window=w, start=start, end=end, relative_decrease=change, z=z,
                    min_decrease=th.loss_min_decrease, min_z=th.loss_noise_z, initial=initial)
    if change < -th.loss_max_increase and -z >= th.loss_noise_z:
        return make(name, "warn", f"the training loss rose over the first {len(losses)} steps ({start:.4g} -> "
                                  f"{end:.4g}, {_rise(start, end)}): the learning rate is probably too high",
                    symptom="rising", **evidence)
    advice = ("the labels may not match the inputs (shuffled apart?), the learning rate may be far too low, the "
              "gradients may not flow (dead or saturated units), or the model does not see its inputs")
    if baseline is not None and baseline[0] > 0:
        value, what = baseline
        margin = max(th.loss_min_decrease * value, th.loss_noise_z * error)
        evidence.update(baseline=value, baseline_is=what, margin=margin)
        if end < value - margin:
            return make(name, "pass", f"the training loss fell to {end:.4g} over the first {len(losses)} steps, below "
                                      f"the {value:.4g} of guessing without the inputs ({what})", **evidence)
        if end < value and not final:   # below, but not beyond the mini-batch noise yet: look again later
            return None
        return make(name, "warn", f"the training loss is not falling below what guessing costs: {end:.4g} over the "
                                  f"last of the first {len(losses)} steps against {value:.4g}, {what} - a model that "
                                  f"learns from its inputs gets below it within its first steps; {advice}",
                    symptom="not_below_baseline", **evidence)
    if change >= th.loss_min_decrease and z >= th.loss_noise_z:
        return make(name, "pass", f"the training loss fell by {change:.0%} over the first {len(losses)} steps "
                                  f"({start:.4g} -> {end:.4g})", **evidence)
    if initial is not None and math.isfinite(initial) and initial > 0:
        fall = (initial - end) / initial
        z_initial = (initial - end) / error if error > 0 else (float("inf") if initial > end else 0.0)
        evidence.update(relative_decrease_from_initial=fall, z_from_initial=z_initial)
        if fall >= th.loss_min_decrease and z_initial >= th.loss_noise_z:
            return make(name, "pass", f"the training loss fell by {fall:.0%} from its start ({initial:.4g} at "
                                      f"initialization -> {end:.4g} over the last steps), most of it in the first "
                                      "steps", **evidence)
    inconclusive = abs(z) < th.loss_noise_z
    if inconclusive and not final:
        return None
    return make(name, "warn", f"the training loss is not decreasing over the first {len(losses)} steps "
                              f"({start:.4g} -> {end:.4g}, {'down' if change >= 0 else 'up'} {abs(change):.2%}, "
                              f"{z:+.1f} standard errors - within mini-batch noise): {advice}",
                symptom="flat", **evidence)


def check_validation_learns(val_losses: Sequence[float], baseline: tuple[float, str], steps: int,
                            th: Thresholds) -> Check:
    """``loss_decreasing``'s test on the validation loss: after ``steps`` training steps (at least
    ``loss_check_steps``), the best validation loss must lie below the baseline (what guessing costs) by
    ``loss_min_decrease``.  A training loss that falls while the validation loss never beats guessing means
    the model memorises what does not carry over: labels shuffled against the inputs, most often."""
    name = "loss_decreasing"
    value, what = baseline
    best = min(val_losses)
    evidence = dict(test="validation", best_val_loss=best, epochs=len(val_losses), steps=steps, baseline=value,
                    baseline_is=what)
    if best >= value * (1 - th.loss_min_decrease):
        return make(name, "warn", f"the validation loss has never fallen below what guessing costs: at best {best:.4g} "
                                  f"in {len(val_losses)} epoch(s) ({steps} steps) against {value:.4g}, {what} - "
                                  "whatever the model learns does not carry over to new samples: the training labels "
                                  "may be shuffled against the inputs, or the validation data is of another kind",
                    symptom="validation_not_below_baseline", **evidence)
    return make(name, "pass", f"the validation loss fell to {best:.4g}, below the {value:.4g} of guessing", **evidence)


def _rise(start: float, end: float) -> str:
    """A rise in words: ``up 12%`` or, for large ones, ``up 3.4e+05x``."""
    return f"up {end / start - 1:.1%}" if end < 2 * start else f"up {end / start:.3g}x"
