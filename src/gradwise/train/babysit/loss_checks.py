"""Checks on the training loss: ``initial_loss``, ``overfit_tiny_batch`` and ``loss_decreasing``.

The lecture's babysitting recipe, in order: "Check the loss after the first forward pass for a
reasonable value (i.e. not NaN)"; "Your first goal is to overfit the training data" (Karpathy's
recipe: overfit one small batch first - if the model cannot memorise a handful of examples, there is
a bug or too little capacity); "Observe the training loss ... Is it decreasing?".
"""
from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from gradwise.train.babysit.check import Check, make
from gradwise.train.babysit.thresholds import Thresholds

__all__ = ["expected_initial_loss", "check_initial_loss", "pick_tiny_batch", "check_overfit_tiny_batch",
           "check_loss_decreasing", "window_means"]


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


def check_initial_loss(loss: float, expected: tuple[float, str] | None, th: Thresholds) -> Check:
    """Fail on a NaN/infinite first loss; warn when it lies outside [``initial_loss_low``, ``initial_loss_high``]
    times its expected value."""
    name = "initial_loss"
    if not math.isfinite(loss):
        return make(name, "fail", f"the first loss is {loss} - the forward pass or the loss produces NaN/inf before "
                                  "any update (look at the nan_inf check for the first layer where it appears)",
                    loss=loss)
    if expected is None:
        return make(name, "pass", f"first loss {loss:.4g} is finite (no reference value for this loss)", loss=loss)
    value, formula = expected
    ratio = loss / value
    evidence = dict(loss=loss, expected=value, formula=formula, ratio=ratio,
                    band=[th.initial_loss_low, th.initial_loss_high])
    if ratio > th.initial_loss_high:
        hint = ("the outputs are over-confident at initialization: unscaled inputs or too large an init (Karpathy: "
                "'init well' - a small last layer)") if not formula.startswith("the label variance") else \
               ("the targets are far from the outputs' start: standardize the targets or set the output bias to "
                "their mean (Karpathy: 'init well')")
        return make(name, "warn", f"first loss {loss:.4g} is {ratio:.3g}x the expected {formula} = {value:.4g}: {hint}",
                    **evidence)
    if ratio < th.initial_loss_low:
        return make(name, "warn", f"first loss {loss:.4g} is only {ratio:.3g}x the expected {formula} = {value:.4g} "
                                  "before any training: a label leak into the inputs, or a loss that is not what it "
                                  "seems", **evidence)
    return make(name, "pass", f"first loss {loss:.4g} is close to the expected {formula} = {value:.4g}", **evidence)


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
    """Train deep copies of ``model`` and ``optimizer`` on the tiny batch ``(inputs, target)``.

    Success: 100 % ``accuracy`` for classification (TheDeepChecker: no mislabeled sample left), or the
    loss below ``overfit_loss_fraction`` of its start otherwise - within ``overfit_max_steps`` steps
    and ``overfit_max_seconds``.  The real model and optimizer are never touched; the caller restores
    the random streams the copies drew from.
    """
    name = "overfit_tiny_batch"
    if engine is None:
        from gradwise.engines import engine_for

        engine = engine_for(model)
    model_c, opt_c = copy.deepcopy((model, optimizer))
    model_c.train()
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


def check_loss_decreasing(losses: Sequence[float], th: Thresholds) -> Check:
    """Warn when the training loss over the first steps did not fall by at least ``loss_min_decrease`` and by
    ``loss_noise_z`` standard errors (or rose by more than ``loss_max_increase``), comparing the means of the
    first and last ``loss_window_fraction`` of the steps."""
    name = "loss_decreasing"
    start, end, spread, w = window_means(losses, th.loss_window_fraction)
    change = (start - end) / start if start > 0 else 0.0
    z = (start - end) / spread if spread > 0 else (float("inf") if start > end else 0.0)
    evidence = dict(steps=len(losses), window=w, start=start, end=end, relative_decrease=change, z=z,
                    min_decrease=th.loss_min_decrease, min_z=th.loss_noise_z)
    if change < -th.loss_max_increase and -z >= th.loss_noise_z:
        return make(name, "warn", f"the training loss rose over the first {len(losses)} steps ({start:.4g} -> "
                                  f"{end:.4g}, {_rise(start, end)}): the learning rate is probably too high",
                    **evidence)
    if change < th.loss_min_decrease or z < th.loss_noise_z:
        return make(name, "warn", f"the training loss is not decreasing over the first {len(losses)} steps "
                                  f"({start:.4g} -> {end:.4g}, {'down' if change >= 0 else 'up'} {abs(change):.2%}, "
                                  f"{z:+.1f} standard errors - within mini-batch noise): the learning rate may be too "
                                  "low, the gradients may not flow (dead or saturated units), or the model does not "
                                  "see its inputs", **evidence)
    return make(name, "pass", f"the training loss fell by {change:.0%} over the first {len(losses)} steps "
                              f"({start:.4g} -> {end:.4g})", **evidence)


def _rise(start: float, end: float) -> str:
    """A rise in words: ``up 12%`` or, for large ones, ``up 3.4e+05x``."""
    return f"up {end / start - 1:.1%}" if end < 2 * start else f"up {end / start:.3g}x"
