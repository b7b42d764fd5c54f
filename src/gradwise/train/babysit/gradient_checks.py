"""Checks on gradients and updates: ``gradient_flow`` and ``learning_rate``.

* ``gradient_flow`` - vanishing or exploding gradients, told by comparing the weight-gradient norm of
  the first layer (in forward order) with the last one's, as AUTOTRAINER does, plus SageMaker
  Debugger's absolute floor for vanishing gradients.  Saturated sigmoids and dead ReLUs show up here
  too: no gradient reaches the layers before them.  Two loop bugs stop the gradient from doing its
  job and are reported here as well: a layer that gets no update (frozen by mistake, or left out of
  the optimizer: :func:`check_frozen_layers`) and gradients that pile up because ``zero_grad()`` is
  never called (:func:`check_gradient_accumulation`).
* ``learning_rate`` - three symptoms of a learning rate far from right:
  the ratio of each update's norm to its weight's norm, which CS231n says "should be somewhere around
  1e-3" (far below: too low; far above: too high); divergence (the training loss rising by a large
  factor); oscillation (the per-epoch training loss going up and down beyond its own mini-batch noise,
  AUTOTRAINER's "unstable" loss).
"""
from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping, Sequence

import numpy as np

from gradwise.train.babysit.activation_checks import label
from gradwise.train.babysit.check import Check, make
from gradwise.train.babysit.thresholds import Thresholds

__all__ = ["check_gradient_flow", "check_update_ratio", "DivergenceTracker", "check_divergence", "check_oscillation",
           "check_frozen_layers", "check_gradient_accumulation", "check_units_died"]


def check_gradient_flow(norms: Mapping[str, float], mean_abs: float, th: Thresholds,
                        labels: Mapping[str, str] | None = None, loss_fraction: float | None = None) -> Check:
    """``norms``: weight-gradient norm per layer in forward order; ``mean_abs``: mean |gradient| of all weights.

    Vanishing: first/last < ``vanishing_ratio`` and first < ``vanishing_first_norm`` (AUTOTRAINER), or
    ``mean_abs`` < ``vanishing_mean_abs`` (SageMaker) - unless the training loss is already below
    ``vanishing_loss_fraction`` of its start (``loss_fraction``): a model that fits its data has nothing
    left to learn and small gradients are its due.  Exploding: first/last > ``exploding_ratio``.
    """
    name = "gradient_flow"
    layers = list(norms)
    evidence = dict(norms=dict(norms), mean_abs=mean_abs, loss_fraction=loss_fraction)
    if not layers:
        return make(name, "pass", "no weight gradient to compare", **evidence)
    first, last = norms[layers[0]], norms[layers[-1]]
    ratio = first / last if last > 0 else (float("inf") if first > 0 else 0.0)
    evidence.update(first=layers[0], last=layers[-1], ratio=ratio)
    if loss_fraction is not None and loss_fraction < th.vanishing_loss_fraction:
        return make(name, "pass", f"gradients small as the loss is {loss_fraction:.2g}x its start: the data is fitted "
                                  f"(first/last layer norm ratio {ratio:.3g})", **evidence)
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
                       labels: Mapping[str, str] | None = None, adaptive: bool = False) -> Check:
    """``ratios``: each layer's ||update|| / ||weight|| (median of recent samples).

    Too high: some layer above ``update_ratio_high`` (``update_ratio_high_adaptive`` for ``adaptive`` solvers
    such as Adam, whose step is about the learning rate on every weight).  Too low: every layer below
    ``update_ratio_low`` while the learning rate is still at least half its initial value (a schedule's
    decay is deliberate).
    """
    name = "learning_rate"
    high = th.update_ratio_high_adaptive if adaptive else th.update_ratio_high
    evidence = dict(test="update_ratio", update_ratio=dict(ratios), lr=lr, target=th.update_ratio_target,
                    band=[th.update_ratio_low, high], adaptive=adaptive)
    if not ratios:
        return make(name, "pass", "no update ratio measured", **evidence)
    top_layer = max(ratios, key=lambda k: ratios[k])
    top = ratios[top_layer]
    if top > high:
        return make(name, "warn", f"learning rate {lr:.3g} is too high: the updates of {label(top_layer, labels)} are "
                                  f"{top:.3g}x its weights (CS231n: about {th.update_ratio_target:g}; limit "
                                  f"{high:g}{' for an adaptive solver' if adaptive else ''}) - lower it",
                    symptom="update_ratio_high", **evidence)
    if top < th.update_ratio_low and lr >= 0.5 * initial_lr:
        return make(name, "warn", f"learning rate {lr:.3g} is too low: the largest update-to-weight ratio is {top:.3g} "
                                  f"(CS231n: about {th.update_ratio_target:g}; limit {th.update_ratio_low:g}) - the "
                                  "weights barely move; raise it (try gradwise lr-find)", symptom="update_ratio_low",
                    **evidence)
    return make(name, "pass", f"update-to-weight ratios {min(ratios.values()):.2g}..{top:.2g} "
                              f"(CS231n: about {th.update_ratio_target:g})", **evidence)


def check_units_died(layers: Sequence[str], lr: float, labels: Mapping[str, str] | None = None,
                     whole: bool = False) -> Check:
    """ReLU layers that were alive before training and died during it: the lecture's dying ReLU, whose usual
    cause is an update large enough to push every unit's bias and weights into the negative region.  A fail
    when a whole layer died (``whole``): nothing reaches the layers before it any more."""
    names = ", ".join(label(n, labels) for n in layers)
    return make("learning_rate", "fail" if whole else "warn",
                f"the ReLU layer(s) {names} fired before training and {'died entirely' if whole else 'mostly died'} "
                f"during it: updates too large for them - the learning rate {lr:.3g} is likely too high; lower it (or "
                "warm it up)", test="units_died", symptom="units_died", layers=list(layers), lr=lr)


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
        """Add one step's loss; returns the latest running mean (called every step: locals, not attributes)."""
        recent, total = self.recent, self.total
        if len(recent) == self.window:
            total -= recent[0]
        recent.append(loss)
        total += loss
        self.total = total
        self.steps = steps = self.steps + 1
        mean = total / len(recent)
        if steps == self.window or self.initial is None:
            self.initial = mean   # the first loss, then the mean of the first ``window`` steps once they exist
        if mean < self.best:
            self.best = mean
        return mean

    def median(self) -> float:
        """The median of the last ``window`` losses: one outlying batch does not make a divergence."""
        return float(np.median(self.recent)) if self.recent else float("nan")

    def state_dict(self) -> dict:
        return {"recent": list(self.recent), "steps": self.steps, "initial": self.initial, "best": self.best}

    def load_state_dict(self, state: Mapping) -> None:
        self.recent = deque(state["recent"], maxlen=self.window)
        self.total = float(sum(self.recent))
        self.steps = int(state["steps"])
        self.initial, self.best = state["initial"], float(state["best"])


def check_divergence(initial: float, best: float, recent: float, steps: int, th: Thresholds, lr: float) -> Check:
    """Fail when the recent training loss (the babysitter passes the median of the last ``divergence_window``
    steps, once that has held for ``divergence_window`` steps in a row) is above where it started and more than
    ``divergence_factor`` times its best so far - the loss is running away, not spiking once."""
    name = "learning_rate"
    evidence = dict(test="divergence", steps=steps, initial=initial, best=best, recent=recent,
                    factor=th.divergence_factor, lr=lr)
    if recent > initial and recent > th.divergence_factor * best:
        return make(name, "fail", f"the training loss diverges: {recent:.4g} now against {best:.4g} at best "
                                  f"(> {th.divergence_factor:g}x) and {initial:.4g} at the start - the learning rate "
                                  f"{lr:.3g} is too high", symptom="divergence", **evidence)
    return make(name, "pass", f"no divergence (loss {recent:.3g}, best {best:.3g})", **evidence)


def check_oscillation(epoch_losses: Sequence[float], th: Thresholds, lr: float,
                      errors: Sequence[float | None] | None = None) -> Check:
    """Warn when the per-epoch training loss swings up and down: swings (a local extreme and its neighbours)
    larger than ``oscillation_amplitude`` of the curve's range in at least ``oscillation_rate`` of the epochs,
    ``oscillation_min_swings`` of them at least.

    ``errors``: the standard error of each epoch's mean loss (from the spread of its step losses).  With
    them a swing must also exceed ``oscillation_noise_z`` standard errors of both differences - a small
    training set, or dropout, makes the per-epoch loss wobble by chance, which no learning rate cures.
    """
    name = "learning_rate"
    arr = np.asarray(epoch_losses, dtype=np.float64)
    n = len(arr)
    if n < th.oscillation_min_epochs:
        return make(name, "pass", f"{n} epoch(s): too few to judge oscillation", test="oscillation", epochs=n)
    se = None
    if errors is not None and len(errors) == n:
        se = [math.nan if e is None else float(e) for e in errors]
    span = float(arr.max() - arr.min())
    values = arr.tolist()   # Python floats: the same arithmetic as NumPy's float64, without a scalar object a step
    swings = noise = 0
    for i in range(1, n - 1):
        left, right = values[i] - values[i - 1], values[i + 1] - values[i]
        if left * right < 0 and min(abs(left), abs(right)) > th.oscillation_amplitude * span:
            if se is not None:
                a, b = math.hypot(se[i], se[i - 1]), math.hypot(se[i], se[i + 1])
                if (math.isfinite(a) and abs(left) <= th.oscillation_noise_z * a) or \
                        (math.isfinite(b) and abs(right) <= th.oscillation_noise_z * b):
                    noise += 1
                    continue
            swings += 1
    rate = swings / n
    evidence = dict(test="oscillation", epochs=n, swings=swings, within_noise=noise, rate=rate, range=span, lr=lr,
                    limits={"amplitude": th.oscillation_amplitude, "rate": th.oscillation_rate,
                            "noise_z": th.oscillation_noise_z})
    if span > 0 and rate >= th.oscillation_rate and swings >= th.oscillation_min_swings:
        return make(name, "warn", f"the training loss oscillates: {swings} swings in {n} epochs, each over "
                                  f"{th.oscillation_amplitude:.0%} of the loss range"
                                  + (f" and {th.oscillation_noise_z:g} standard errors of the epochs' mini-batch "
                                     "noise" if se is not None else "")
                                  + f" - the learning rate {lr:.3g} is likely too high (or the batches too small)",
                    symptom="oscillation", **evidence)
    extra = f"; {noise} more within the mini-batch noise" if noise else ""
    return make(name, "pass", f"no oscillation ({swings} swings in {n} epochs{extra})", **evidence)


# ============================================================================= loop bugs seen in the gradients
def check_frozen_layers(layers: Sequence[tuple[str, bool, bool]], labels: Mapping[str, str] | None = None) -> Check:
    """``layers``: ``(name, requires_grad, in_optimizer)`` of each weighted layer in forward order.

    Warn when a layer's weights get gradients but are not in the optimizer (never updated: left out by
    mistake), when a frozen layer (``requires_grad=False``) comes after a trainable one (transfer learning
    freezes the early layers, the backbone - never a layer between or after trained ones), or when
    nothing is trained at all.  A frozen prefix passes, named.
    """
    name = "gradient_flow"
    rows = [{"layer": n, "requires_grad": rg, "in_optimizer": opt} for n, rg, opt in layers]
    evidence = dict(test="frozen", layers=rows)
    left_out = [n for n, rg, opt in layers if rg and not opt]
    if left_out:
        return make(name, "warn", f"layer(s) {', '.join(label(n, labels) for n in left_out)} get gradients but are not "
                                  "in the optimizer: they never change - pass all the model's parameters to the "
                                  "optimizer (optimizer = ...(model.parameters(), ...))", symptom="not_in_optimizer",
                    **evidence)
    trainable = [rg and opt for _, rg, opt in layers]
    if layers and not any(trainable):
        return make(name, "warn", "no weighted layer is trained: every layer is frozen (requires_grad=False) - "
                                  "unfreeze at least the head", symptom="all_frozen", **evidence)
    first = trainable.index(True) if any(trainable) else len(layers)
    late = [n for (n, rg, _), t in zip(layers[first:], trainable[first:]) if not t]
    if late:
        return make(name, "warn", f"layer(s) {', '.join(label(n, labels) for n in late)} are frozen (requires_grad=False) "
                                  "after layers that train: no update ever reaches them - a frozen layer belongs "
                                  "to the pretrained start of a network, not after trained ones; unfreeze it "
                                  "(requires_grad_(True)) if this was not meant", symptom="frozen_after_trained",
                    **evidence)
    if first:
        return make(name, "pass", f"the first {first} weighted layer(s) are frozen (a pretrained backbone); the rest "
                                  "train", **evidence)
    return make(name, "pass", f"all {len(layers)} weighted layer(s) train", **evidence)


def check_gradient_accumulation(change: float, now: float, first_norm: float, th: Thresholds) -> Check | None:
    """``zero_grad()`` forgotten: gradients pile up from step to step.

    ``change``: the norm of (the weight gradients after this step's backward - those the previous step left,
    read before this step's forward pass); ``now``: the norm of this step's gradients (over the same layers);
    ``first_norm``: the gradient norm at the first sampled step.  When the gradients are zeroed, they are this
    batch's gradient alone and differ from the previous batch's by about their own size; when they are not,
    they are the previous ones plus this batch's, so they differ by little (less than ``accumulation_novelty``
    of their size) while their norm has grown far above the first step's (more than ``accumulation_growth``).
    None when there is nothing to compare.
    """
    if not (now > 0 and first_norm > 0 and math.isfinite(now) and math.isfinite(change)):
        return None
    novelty, growth = change / now, now / first_norm
    evidence = dict(test="accumulation", novelty=novelty, growth=growth, limits={
        "novelty": th.accumulation_novelty, "growth": th.accumulation_growth})
    if novelty < th.accumulation_novelty and growth > th.accumulation_growth:
        return make("gradient_flow", "warn", f"the gradients accumulate from step to step: after backward they differ "
                                             f"from the previous step's by only {novelty:.1%} while their norm has "
                                             f"grown {growth:.3g}x since the first step - optimizer.zero_grad() is "
                                             "not called before loss.backward(), so every update adds up all the "
                                             "previous gradients", symptom="accumulation", **evidence)
    return make("gradient_flow", "pass", f"gradients renewed each step (they differ {novelty:.0%} from the previous "
                                         "step's)", **evidence)
