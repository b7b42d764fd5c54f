"""Every number the babysitter compares against, with its default and where that default comes from.

Each field of :class:`Thresholds` carries, in its metadata, the reason for its default (``why``) and
the published rule or advice it follows (``source``).  The sources:

* **Lecture** - the course's "Babysitting the Training", "Activation Functions" (dying ReLU, saturated
  neurons "kill" the gradients), "Preprocessing" and "Weight Initialization" slides.
* **CS231n** - Stanford CS231n notes, "Neural Networks Part 3: Learning and Evaluation": the ratio of
  the update magnitudes to the weight magnitudes "should be somewhere around 1e-3".
* **Karpathy** - A. Karpathy, "A Recipe for Training Neural Networks" (2019): "verify loss @ init"
  (``-log(1/n_classes)``), "init well", "overfit one batch".
* **SageMaker** - Amazon SageMaker Debugger built-in rules and their default parameters:
  ``dead_relu`` (threshold_inactivity 1 %, threshold_layer 50 %), ``saturated_activation`` (same two),
  ``vanishing_gradient`` (threshold 1e-7), ``weight_update_ratio`` (small 1e-8, large 10),
  ``loss_not_decreasing`` (num_steps 10, increase_threshold_percent 5), ``exploding_tensor``.
* **AUTOTRAINER** - X. Zhang et al., "AUTOTRAINER: An Automatic DNN Training Problem Detection and
  Repair System", ICSE 2021; its default parameters beta_1 = 1e-3 and beta_2 = 1e-4 (vanishing
  gradient), beta_3 = 70 (exploding gradient), gamma = 0.7 (dying ReLU), zeta = 0.03 and
  eta = 0.2 (oscillating / unstable training).
* **TheDeepChecker** - H. Ben Braiek and F. Khomh, "Testing Feedforward Neural Networks Training
  Programs" (TOSEM 2023) and its tool: input features normalized (mean ~0 and std ~1, or min-max
  scaled), weights tested against the He / Glorot / LeCun standard deviations, the initial loss
  against ``-log(1/C)`` with a relative deviation, a single batch that must be fitted perfectly.

Change any of them: ``Babysitter(thresholds=Thresholds(dead_layer_fraction=0.3))`` or
``Babysitter(thresholds={"dead_layer_fraction": 0.3})``; :meth:`Thresholds.describe` lists them all.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Thresholds"]


def _t(default: float | int, why: str, source: str) -> Any:
    """A threshold field: its default, the reason for it and its source (kept in the field's metadata)."""
    return field(default=default, metadata={"why": why, "source": source})


@dataclass(frozen=True)
class Thresholds:
    """The babysitter's thresholds; every field documents its default in ``metadata`` (see :meth:`describe`)."""

    # ------------------------------------------------------------------ sampling (the checks' cost)
    sample_every: int = _t(
        50, "Activation, gradient and update statistics are taken on the first step, then every 50 optimizer "
            "steps - on the first batch of an epoch when one starts at least 25 steps after the last sample - with "
            "hooks attached only for those batches: enough points for the report's plots over time (about 20 on a "
            "20-epoch digits run) for under 2 % of the run's time (bench/babysit_overhead.py).",
        "SageMaker Debugger samples tensors every save_interval steps (its rules' examples use 100-500)")
    histogram_bins: int = _t(
        30, "Bins of the per-layer activation histograms kept for the report's heatmaps.", "gradwise")

    # ------------------------------------------------------------------ input_normalization
    input_sample_size: int = _t(
        512, "Training samples whose per-feature (per-channel) mean and spread are measured; 512 keeps the "
             "estimate of a standardized feature's std within about 10 %.", "gradwise")
    input_mean_max: float = _t(
        2.0, "A feature (channel) whose mean lies further than 2 from zero is not zero-centred: the lecture's "
             "'normalize the input' - the same problem as sigmoid's non-zero-centred outputs.  Min-max scaling "
             "to [0, 1] or [-1, 1], which TheDeepChecker accepts as normalized, can never exceed it.",
        "Lecture (Preprocessing); TheDeepChecker (normalized features: mean ~0/std ~1 or min-max scaled)")
    input_std_max: float = _t(
        4.0, "A feature whose standard deviation exceeds 4 has 16 times the unit variance that He and Xavier "
             "initialization assume, so the first layer's pre-activations start 4 times too large.",
        "Lecture (Preprocessing, Weight Initialization); TheDeepChecker (std ~1)")
    input_std_min: float = _t(
        0.1, "When the median spread of the (non-constant) features is below 0.1 the inputs are tiny: the first "
             "layer sees almost nothing (a factor of 10 below unit scale; [0, 1]-scaled pixels are about 0.3).",
        "Lecture (Preprocessing); TheDeepChecker (std ~1)")

    # ------------------------------------------------------------------ init_scheme
    init_std_tolerance: float = _t(
        2.0, "A layer's weight std more than 2 times away from what its activation needs (He sqrt(2/fan_in) "
             "before ReLU-family units, Xavier before tanh/sigmoid) changes the signal's scale by that factor at "
             "every such layer.  The lecture's Xavier U[-1/sqrt(n), 1/sqrt(n)] (PyTorch's default) is 2.45 times "
             "below He's std, the combination the lecture says 'was found to have problems' with ReLU.",
        "Lecture (Weight Initialization); He et al. 2015; Glorot & Bengio 2010; TheDeepChecker (weights tested "
        "against the He/Glorot/LeCun std)")
    init_symmetry_rtol: float = _t(
        1e-7, "Units of a hidden layer are symmetric when every row of its weight (and its bias) is equal to this "
              "relative tolerance: they get the same gradient and stay identical - 'we cannot initialize all "
              "weights to zeros'.", "Lecture (Weight Initialization); TheDeepChecker (zero-variance weights)")

    # ------------------------------------------------------------------ initial_loss
    initial_loss_high: float = _t(
        2.0, "The first loss is suspicious above 2 times its expected value (ln(C) for C-class cross-entropy, "
             "ln(2) for binary, the label variance plus the outputs' own variance for MSE): over-confident outputs "
             "from too large an init or unscaled inputs, or outputs starting far from the targets' mean (a relative "
             "deviation of 100 %).",
        "Lecture ('check the loss after the first forward pass for a reasonable value'); Karpathy (verify loss @ "
        "init); TheDeepChecker (relative deviation from -log(1/C))")
    initial_loss_low: float = _t(
        0.5, "... and below half of it: a model that already knows the answers before training suggests a label "
             "leak or a loss that is not what it seems.", "Karpathy (verify loss @ init); TheDeepChecker")

    # ------------------------------------------------------------------ overfit_tiny_batch
    overfit_per_class: int = _t(
        2, "Samples per class in the tiny batch.", "Karpathy ('overfit one batch' - as few as two examples)")
    overfit_max_samples: int = _t(
        16, "At most this many samples: any model worth training can memorise 16 examples.", "Karpathy")
    overfit_max_steps: int = _t(
        150, "Optimizer steps allowed to memorise the tiny batch (the run stops at the first step that succeeds; "
             "Adam 1e-3 needs 20-40 on the digits MLPs, SGD 0.01 without momentum about 120).",
        "Karpathy; TheDeepChecker (single-batch overfitting with the program's own optimizer)")
    overfit_loss_fraction: float = _t(
        0.1, "Success for regression: the loss falls below 10 % of its starting value.  Classification needs 100 % "
             "accuracy on the tiny batch.", "Karpathy ('verify that you can achieve zero loss'); TheDeepChecker "
                                            "(no mislabeled sample left)")
    overfit_max_seconds: float = _t(
        10.0, "Wall-clock cap of the probe; a probe cut short only warns if the loss did not fall at all.",
        "gradwise (keeps the check cheap on large models)")

    # ------------------------------------------------------------------ loss_decreasing
    loss_min_steps: int = _t(
        10, "Fewest steps whose trend is judged (a run shorter than loss_check_steps is judged at its end).",
        "SageMaker loss_not_decreasing (num_steps 10)")
    loss_check_steps: int = _t(
        50, "The trend of the training loss is judged over the first 50 steps: enough for windows of 10 steps "
            "at each end, early enough to warn in the first epoch or two.", "gradwise")
    loss_window_fraction: float = _t(
        0.2, "The loss at the start and at the end of the judged steps is the mean over their first and last "
             "20 % (at least 3 steps each), so that mini-batch noise does not decide.", "gradwise")
    loss_min_decrease: float = _t(
        0.01, "The training loss must fall by at least 1 % over the judged steps - 'Is it decreasing?'.",
        "Lecture ('Observe the training loss ... Is it decreasing?'); SageMaker loss_not_decreasing "
        "(diff_percent)")
    loss_noise_z: float = _t(
        2.0, "... and by at least 2 standard errors of the two window means, so that mini-batch noise cannot pass "
             "for progress (a flat loss passes this one-sided test about 2 % of the time).",
        "gradwise (a two-sample z-test)")
    loss_max_increase: float = _t(
        0.05, "A rise of more than 5 % over the judged steps is reported as a rising loss.",
        "SageMaker loss_not_decreasing (increase_threshold_percent 5)")

    # ------------------------------------------------------------------ dead_relu
    dead_activity: float = _t(
        0.01, "A ReLU unit (a channel, for convolutions) is dead when it is active for less than 1 % of the "
              "batch's samples (and positions) - on a batch of 32 it never fires.",
        "Lecture (Dying ReLU); SageMaker dead_relu (threshold_inactivity 1 %)")
    dead_layer_fraction: float = _t(
        0.5, "A ReLU layer with more than 50 % dead units is reported (a whole dead layer fails: no gradient "
             "reaches the layers before it).",
        "SageMaker dead_relu (threshold_layer 50 %); AUTOTRAINER gamma = 0.7 of zero gradients")

    # ------------------------------------------------------------------ saturation
    saturation_margin: float = _t(
        0.01, "An output within 1 % of the activation's range from a limit is saturated: sigmoid below 0.01 or "
              "above 0.99 (|x| > 4.6), tanh beyond +-0.98 (|x| > 2.3) - the local derivative is then below 4 % "
              "of its maximum, so 'saturated neurons kill the gradients'.",
        "Lecture (Sigmoid problem 1, tanh 'still kills gradients when saturated'); SageMaker "
        "saturated_activation")
    saturated_layer_fraction: float = _t(
        0.5, "A sigmoid/tanh layer is reported when more than 50 % of its outputs (units x samples) are saturated.",
        "SageMaker saturated_activation (threshold_layer 50 %)")

    # ------------------------------------------------------------------ gradient_flow
    vanishing_ratio: float = _t(
        1e-3, "Vanishing gradients: the first layer's weight-gradient norm is below 1e-3 of the last layer's ...",
        "AUTOTRAINER beta_1 = 1e-3")
    vanishing_first_norm: float = _t(
        1e-4, "... and below 1e-4 in absolute terms.", "AUTOTRAINER beta_2 = 1e-4")
    vanishing_mean_abs: float = _t(
        1e-7, "... or the mean absolute gradient of all weights is below 1e-7.",
        "SageMaker vanishing_gradient (threshold 1e-7)")
    exploding_ratio: float = _t(
        70.0, "Exploding gradients: the first layer's weight-gradient norm is more than 70 times the last layer's.",
        "AUTOTRAINER beta_3 = 70")

    # ------------------------------------------------------------------ learning_rate
    update_ratio_target: float = _t(
        1e-3, "The healthy ratio of an update's norm to its weight's norm (the report's guide line).",
        "CS231n ('ratio of the update magnitudes to the weight magnitudes ... somewhere around 1e-3')")
    update_ratio_low: float = _t(
        1e-5, "Learning rate too low: every layer's update-to-weight ratio is below 1e-5, two orders of magnitude "
              "under 1e-3 (checked while the learning rate is still at least half its initial value, so that a "
              "schedule's deliberate decay is not reported).",
        "CS231n ('if it is lower than this then the learning rate might be too low'); SageMaker "
        "weight_update_ratio (small_threshold 1e-8)")
    update_ratio_high: float = _t(
        1.0, "Learning rate too high: some layer's update is as large as its weights (3 orders of magnitude above "
             "1e-3).  SGD at 0.5 on the digits MLP, which trains well, peaks at about 0.2.",
        "CS231n ('if it is higher then the learning rate is likely too high'); SageMaker weight_update_ratio "
        "(large_threshold 10)")
    update_ratio_window: int = _t(
        3, "Update ratios are the median over the last 3 sampled steps of each layer.", "gradwise")
    divergence_factor: float = _t(
        3.0, "Divergence: the recent training loss is more than 3 times its best so far and above where it "
             "started.", "Lecture (Babysitting: 'Play with ... Learning rate'); AUTOTRAINER (nan_loss / exploding loss)")
    divergence_window: int = _t(
        5, "Steps averaged for the recent and the best training loss of the divergence test.", "gradwise")
    oscillation_min_epochs: int = _t(
        5, "Epochs needed before the per-epoch training loss is tested for oscillation.", "AUTOTRAINER")
    oscillation_amplitude: float = _t(
        0.05, "A swing counts when a local peak and the neighbouring trough of the per-epoch training loss differ "
              "by more than 5 % of the curve's range ...",
        "AUTOTRAINER zeta = 0.03 (accuracy swing), rescaled to the loss range")
    oscillation_rate: float = _t(
        0.2, "... and the loss oscillates when such swings occur in at least 20 % of the epochs.",
        "AUTOTRAINER eta = 0.2")

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            if not getattr(self, f.name) > 0:
                raise ValueError(f"Thresholds.{f.name} must be positive, got {getattr(self, f.name)!r}")
        if self.update_ratio_low >= self.update_ratio_high:
            raise ValueError("Thresholds.update_ratio_low must be below update_ratio_high")
        if self.initial_loss_low >= 1 or self.initial_loss_high <= 1:
            raise ValueError("Thresholds.initial_loss_low must be < 1 and initial_loss_high > 1 (factors of the "
                             "expected initial loss)")
        for name in ("dead_activity", "dead_layer_fraction", "saturation_margin", "saturated_layer_fraction",
                     "loss_window_fraction", "overfit_loss_fraction", "oscillation_rate"):
            if getattr(self, name) >= 1:
                raise ValueError(f"Thresholds.{name} is a fraction and must be below 1")

    @classmethod
    def coerce(cls, value: "Thresholds | Mapping[str, Any] | None") -> "Thresholds":
        """A :class:`Thresholds` from one, from a dict of overrides, or the defaults for None."""
        if value is None:
            return cls()
        if isinstance(value, cls):
            return value
        if isinstance(value, Mapping):
            known = {f.name for f in dataclasses.fields(cls)}
            unknown = sorted(set(value) - known)
            if unknown:
                raise ValueError(f"unknown babysitter threshold(s) {', '.join(unknown)}; "
                                 f"known: {', '.join(sorted(known))}")
            return cls(**value)
        raise TypeError(f"thresholds must be a Thresholds, a dict or None, got {type(value).__name__}")

    @classmethod
    def describe(cls) -> list[dict[str, Any]]:
        """One row per threshold: ``name``, ``default``, ``why`` and ``source``."""
        return [{"name": f.name, "default": f.default, "why": f.metadata["why"], "source": f.metadata["source"]}
                for f in dataclasses.fields(cls)]

    def to_dict(self) -> dict[str, float]:
        return dataclasses.asdict(self)
