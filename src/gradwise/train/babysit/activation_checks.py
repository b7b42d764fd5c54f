"""Checks on what the layers output: ``dead_relu``, ``saturation`` and ``nan_inf``.

The lecture's last first-stage step: "If training loss do not fall, check the activations? Dead
neurons maybe?".  A ReLU unit that outputs 0 for every input is dead - "the gradient flowing through
the unit will forever be zero from that point on" (the lecture's "Dying ReLU") - and sigmoid/tanh
units pinned near their limits are saturated - "saturated neurons 'kill' the gradients".  Both are
measured per layer on sampled batches (:class:`gradwise.train.babysit.probes.LayerSample`).
``nan_inf`` names the first layer, in forward order, where a NaN or infinity appears.
"""
from __future__ import annotations

import math
from collections.abc import Mapping

from gradwise.train.babysit.check import Check, make
from gradwise.train.babysit.probes import LayerSample
from gradwise.train.babysit.thresholds import Thresholds

__all__ = ["check_dead_relu", "check_saturation", "check_nan_inf", "label"]


def label(name: str, labels: Mapping[str, str] | None) -> str:
    """``'name' (description)`` when a description is known, else ``'name'``."""
    extra = (labels or {}).get(name)
    return f"{name!r} ({extra})" if extra else repr(name)


def check_dead_relu(samples: Mapping[str, LayerSample], th: Thresholds,
                    labels: Mapping[str, str] | None = None) -> Check:
    """Warn when a ReLU layer has more than ``dead_layer_fraction`` dead units; fail when all are dead."""
    name = "dead_relu"
    fractions = {k: s.dead_fraction for k, s in samples.items() if s.dead_fraction is not None}
    if not fractions:
        return make(name, "pass", "no ReLU layer was watched", dead_fraction={})
    bad = {k: f for k, f in fractions.items() if f > th.dead_layer_fraction}
    evidence = dict(dead_fraction=fractions, layers=list(bad), limit=th.dead_layer_fraction,
                    activity_threshold=th.dead_activity)
    if not bad:
        return make(name, "pass", f"ReLU layers alive (at most {max(fractions.values()):.0%} dead units per layer)",
                    **evidence)
    status = "fail" if any(f >= 1.0 for f in bad.values()) else "warn"
    parts = "; ".join(f"{label(k, labels)}: {f:.0%} of {samples[k].units} units never fire" for k, f in bad.items())
    return make(name, status, f"dying ReLU - {parts} (limit {th.dead_layer_fraction:.0%}); no gradient flows "
                              "through a dead unit: check the biases and the init of the layer before, lower the "
                              "learning rate, or use LeakyReLU/ELU", **evidence)


def check_saturation(samples: Mapping[str, LayerSample], th: Thresholds,
                     labels: Mapping[str, str] | None = None, recent: Mapping[str, float] | None = None,
                     trained: bool = False) -> Check:
    """Warn when more than ``saturated_layer_fraction`` of a sigmoid/tanh layer's outputs are saturated before
    training, or more than ``saturated_layer_fraction_trained`` once it has trained (``trained``).

    ``recent``: layer -> the saturated fraction it kept over the last few sampled steps (the least of them,
    this one included), judged instead of this batch's alone: a layer is saturated when it stays so.  A layer
    saturated from the start cannot learn its way out (its gradients are killed from the first step); one
    that drifts towards its limits as it grows confident is doing what tanh does, and only near-complete
    saturation is reported then."""
    name = "saturation"
    fractions = {k: s.saturated_fraction for k, s in samples.items() if s.saturated_fraction is not None}
    if recent:
        fractions = {k: recent.get(k, f) for k, f in fractions.items()}
    if not fractions:
        return make(name, "pass", "no sigmoid/tanh layer was watched", saturated_fraction={})
    limit = th.saturated_layer_fraction_trained if trained else th.saturated_layer_fraction
    bad = {k: f for k, f in fractions.items() if f > limit}
    evidence = dict(saturated_fraction=fractions, layers=list(bad), limit=limit, margin=th.saturation_margin,
                    trained=trained)
    if not bad:
        return make(name, "pass", f"sigmoid/tanh layers not saturated (at most {max(fractions.values()):.0%} of the "
                                  "outputs near a limit)", **evidence)
    parts = "; ".join(f"{label(k, labels)}: {f:.0%} of its outputs at a limit" for k, f in bad.items())
    return make(name, "warn", f"saturated units - {parts} (limit {limit:.0%}"
                              f"{' once trained' if trained else ' before training'}); saturated neurons kill the "
                              "gradients: initialize with Xavier (nn.init.by_activation), normalize the inputs, or "
                              "use ReLU", **evidence)


def check_nan_inf(when: str, loss: float | None = None, inputs_nonfinite: bool = False,
                  first_weight: str | None = None, first_activation: str | None = None,
                  first_gradient: str | None = None, labels: Mapping[str, str] | None = None) -> Check:
    """Fail when something is not finite, naming where it first appears; pass otherwise.

    The most upstream finding names the cause: the input data, then a layer whose weights are already
    non-finite, then the first layer (in forward order) whose output is not finite, then the loss itself
    (finite outputs, e.g. ``log(0)`` inside the loss), then the first layer with a non-finite gradient.
    """
    name = "nan_inf"
    evidence = dict(when=when, loss=loss, inputs_nonfinite=inputs_nonfinite, first_weight=first_weight,
                    first_activation=first_activation, first_gradient=first_gradient)
    advice = "lower the learning rate, normalize the inputs, check the init, or clip the gradients"
    if inputs_nonfinite:
        return make(name, "fail", f"the input data holds NaN/inf ({when}): clean it before training", **evidence)
    if first_weight is not None:
        return make(name, "fail", f"the weights of layer {label(first_weight, labels)} are NaN/inf ({when}) - an "
                                  f"earlier update exploded: {advice}", layer=first_weight, **evidence)
    if first_activation is not None:
        return make(name, "fail", f"NaN/inf first appears in the output of layer {label(first_activation, labels)} "
                                  f"({when}): {advice}", layer=first_activation, **evidence)
    if loss is not None and not math.isfinite(loss):
        return make(name, "fail", f"the loss is {loss} ({when}) although every layer's output is finite: the loss "
                                  "function itself overflows (e.g. log(0) - use the *WithLogits / CrossEntropy "
                                  "losses on raw scores)", layer="loss", **evidence)
    if first_gradient is not None:
        return make(name, "fail", f"the gradient of layer {label(first_gradient, labels)} is NaN/inf ({when}): "
                                  f"{advice}", layer=first_gradient, **evidence)
    return make(name, "pass", f"loss, activations and gradients finite ({when})", **evidence)
