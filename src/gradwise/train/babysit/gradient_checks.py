"""Checks on gradients and updates: ``gradient_flow`` and ``learning_rate``.

* ``gradient_flow`` - vanishing or exploding gradients, told by comparing the weight-gradient norm of
  the first layer (in forward order) with the last one's, as AUTOTRAINER does, plus SageMaker
  Debugger's absolute floor for vanishing gradients.  Saturated sigmoids and dead ReLUs show up here
  too: no gradient reaches the layers before them.
* ``learning_rate`` - three symptoms of a learning rate far from right:
  the ratio of each update's norm to its weight's norm, which CS231n says "should be somewhere around
  1e-3" (far below: too low; far above: too high); divergence (the training loss rising by a large
  factor); oscillation (the per-epoch training loss going up and down, AUTOTRAINER's "unstable" loss).
"""
from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence

import numpy as np

from gradwise.train.babysit.activation_checks import label
from gradwise.train.babysit.check import Check, make
from gradwise.train.babysit.thresholds import Thresholds

__all__ = ["check_gradient_flow", "check_update_ratio", "DivergenceTracker", "check_divergence", "check_oscillation"]


def check_gradient_flow(norms: Mapping[str, float], mean_abs: float, th: Thresholds,
                        labels: Mapping[str, str] | None = None) -> Check:
    """``norms``: weight-gradient norm per layer in forward order; ``mean_abs``: mean |gradient| of all weights.

    Vanishing: first/last < ``vanishing_ratio`` and first < ``vanishing_first_norm`` (AUTOTRAINER), or
    ``mean_abs`` < ``vanishing_mean_abs`` (SageMaker).  Exploding: first/last > ``exploding_ratio``.
    """
    name = "gradient_flow"
    layers = list(norms)
    evidence = dict(norms=dict(norms), mean_abs=mean_abs)
    if not layers:
        return make(name, "pass", "no weight gradient to compare", **evidence)
    first, last = norms[layers[0]], norms[layers[-1]]
    ratio = first / last if last > 0 else (float("inf") if first > 0 else 0.0)
    evidence.update(first=layers[0], last=layers[-1], ratio=ratio)
    if mean_abs < th.vanishing_mean_abs:
        return make(name, "warn", f"vanishing gradients: the mean |gradient| of all weights is {mean_abs:.3g} "
                                  f"(< {th.vanishing_mean_abs:g}); nothing is learning - look for dead or saturated "
                                  "units", **evidence)
    if len(layers) < 2:
        return make(name, "pass", f"gradient norm {first:.3g} in the only layer", **evidence)
    if ratio < th.vanishing_ratio and first < th.vanishing_first_norm:
        return make(name, "warn", f"vanishing gradients: the first layer {label(layers[0], labels)} gets a gradient "
                                  f"norm {first:.3g}, {ratio:.3g}x the last layer's {last:.3g} (limit "
                                  f"{th.vanishing_ratio:g}x): the early layers do not learn - use ReLU, He/Xavier "
                                  "init, batch normalization", **evidence)
    if ratio > th.exploding_ratio:
        return make(name, "warn", f"exploding gradients: the first layer {label(layers[0], labels)} gets a gradient "
                                  f"norm {first:.3g}, {ratio:.3g}x the last layer's {last:.3g} (limit "
                                  f"{th.exploding_ratio:g}x): lower the learning rate, clip the gradients "
                                  "(nn.utils.clip_grad_norm_), use batch normalization", **evidence)
    return make(name, "pass", f"gradients flow: first/last layer norm ratio {ratio:.3g}", **evidence)


def check_update_ratio(ratios: Mapping[str, float], th: Thresholds, lr: float, initial_lr: float,
                       labels: Mapping[str, str] | None = None) -> Check:
    """``ratios``: each layer's ||update|| / ||weight|| (median of recent samples).

    Too high: some layer above ``update_ratio_high``.  Too low: every layer below ``update_ratio_low``
    while the learning rate is still at least half its initial value (a schedule's decay is deliberate).
    """
    name = "learning_rate"
    evidence = dict(test="update_ratio", update_ratio=dict(ratios), lr=lr, target=th.update_ratio_target,
                    band=[th.update_ratio_low, th.update_ratio_high])
    if not ratios:
        return make(name, "pass", "no update ratio measured", **evidence)
    top_layer = max(ratios, key=lambda k: ratios[k])
    top = ratios[top_layer]
    if top > th.update_ratio_high:
        return make(name, "warn", f"learning rate {lr:.3g} is too high: the updates of {label(top_layer, labels)} are "
                                  f"{top:.3g}x its weights (CS231n: about {th.update_ratio_target:g}; limit "
                                  f"{th.update_ratio_high:g}) - lower it", symptom="update_ratio_high", **evidence)
    if top < th.update_ratio_low and lr >= 0.5 * initial_lr:
        return make(name, "warn", f"learning rate {lr:.3g} is too low: the largest update-to-weight ratio is {top:.3g} "
                                  f"(CS231n: about {th.update_ratio_target:g}; limit {th.update_ratio_low:g}) - the "
                                  "weights barely move; raise it (try gradwise lr-find)", symptom="update_ratio_low",
                    **evidence)
    return make(name, "pass", f"update-to-weight ratios {min(ratios.values()):.2g}..{top:.2g} "
                              f"(CS231n: about {th.update_ratio_target:g})", **evidence)


class DivergenceTracker:
    """Running means of the last ``window`` step losses: the first full one, the best and the latest (O(1) a step)."""

    def __init__(self, window: int) -> None:
        self.window = window
        self.recent: deque[float] = deque(maxlen=window)
        self.total = 0.0
        self.steps = 0
        self.initial: float | None = None
        self.best = float("inf")

    def update(self, loss: float) -> float:
        """Add one step's loss; returns the latest running mean."""
        if len(self.recent) == self.window:
            self.total -= self.recent[0]
        self.recent.append(loss)
        self.total += loss
        self.steps += 1
        mean = self.total / len(self.recent)
        if self.steps == self.window or self.initial is None:
            self.initial = mean   # the first loss, then the mean of the first ``window`` steps once they exist
        if mean < self.best:
            self.best = mean
        return mean

    def state_dict(self) -> dict:
        return {"recent": list(self.recent), "steps": self.steps, "initial": self.initial, "best": self.best}

    def load_state_dict(self, state: Mapping) -> None:
        self.recent = deque(state["recent"], maxlen=self.window)
        self.total = float(sum(self.recent))
        self.steps = int(state["steps"])
        self.initial, self.best = state["initial"], float(state["best"])


def check_divergence(initial: float, best: float, recent: float, steps: int, th: Thresholds, lr: float) -> Check:
    """Fail when the recent mean training loss (over ``divergence_window`` steps) is above where it started and
    more than ``divergence_factor`` times its best so far - the loss is running away."""
    name = "learning_rate"
    evidence = dict(test="divergence", steps=steps, initial=initial, best=best, recent=recent,
                    factor=th.divergence_factor, lr=lr)
    if recent > initial and recent > th.divergence_factor * best:
        return make(name, "fail", f"the training loss diverges: {recent:.4g} now against {best:.4g} at best "
                                  f"(> {th.divergence_factor:g}x) and {initial:.4g} at the start - the learning rate "
                                  f"{lr:.3g} is too high", symptom="divergence", **evidence)
    return make(name, "pass", f"no divergence (loss {recent:.3g}, best {best:.3g})", **evidence)


def check_oscillation(epoch_losses: Sequence[float], th: Thresholds, lr: float) -> Check:
    """Warn when the per-epoch training loss swings up and down: swings (a local extreme and its neighbours)
    larger than ``oscillation_amplitude`` of the curve's range in at least ``oscillation_rate`` of the epochs."""
    name = "learning_rate"
    arr = np.asarray(epoch_losses, dtype=np.float64)
    n = len(arr)
    if n < th.oscillation_min_epochs:
        return make(name, "pass", f"{n} epoch(s): too few to judge oscillation", test="oscillation", epochs=n)
    span = float(arr.max() - arr.min())
    swings = 0
    for i in range(1, n - 1):
        left, right = arr[i] - arr[i - 1], arr[i + 1] - arr[i]
        if left * right < 0 and min(abs(left), abs(right)) > th.oscillation_amplitude * span:
            swings += 1
    rate = swings / n
    evidence = dict(test="oscillation", epochs=n, swings=swings, rate=rate, range=span, lr=lr,
                    limits={"amplitude": th.oscillation_amplitude, "rate": th.oscillation_rate})
    if span > 0 and rate >= th.oscillation_rate:
        return make(name, "warn", f"the training loss oscillates: {swings} swings in {n} epochs, each over "
                                  f"{th.oscillation_amplitude:.0%} of the loss range - the learning rate {lr:.3g} is "
                                  "likely too high (or the batches too small)", symptom="oscillation", **evidence)
    return make(name, "pass", f"no oscillation ({swings} swings in {n} epochs)", **evidence)
