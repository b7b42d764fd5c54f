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
* **Cohen et al. 2021** - J. Cohen et al., "Gradient Descent on Neural Networks Typically Occurs at the
  Edge of Stability" (ICLR 2021): gradient descent is stable along the sharpest direction only below
  ``lr = 2 / lambda_max``, and full-batch training drives the sharpness up to that edge and hovers there.
* **Lewkowycz et al. 2020** - A. Lewkowycz et al., "The large learning rate phase of deep learning: the
  catapult mechanism": a step somewhat above ``2 / lambda_max`` at initialization makes the loss rise
  briefly while the curvature falls, after which training converges.
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
    init_block_gain_max: float = _t(
        4.0, "The init is judged by what it does to the signal: the RMS of each weighted layer's input is measured on "
             "training samples before the first update (dropout off).  A hidden block (layer + activation) that "
             "multiplies the signal by more than 4 explodes it: unscaled N(0, 1) weights on 64 inputs give about 5.7 "
             "before ReLU; He keeps about 1, PyTorch's default about 0.4.",
        "Lecture (Weight Initialization: the activations through the depth); He et al. 2015; Glorot & Bengio 2010")
    init_depth_gain_max: float = _t(
        10.0, "... and the signal may grow by at most 10x from the first hidden layer's input to the last layer's "
              "input over the whole depth ...", "Lecture (Weight Initialization); Glorot & Bengio 2010")
    init_depth_gain_min: float = _t(
        1e-3, "... or shrink to no less than 1/1000 of it: the CS231n picture of a deep tanh net initialized with "
              "std 0.01, whose activations collapse to zero layer after layer.  PyTorch's default init shrinks a "
              "ReLU block by about 0.41 (0.41^5 = 0.012 for a five-block CNN, which trains well), so only deeper "
              "collapse is reported.", "Lecture (Weight Initialization); CS231n (activation statistics per layer)")

    # ------------------------------------------------------------------ initial_loss
    initial_loss_high: float = _t(
        2.0, "Regression (MSE): the first loss is suspicious above 2 times its expected value, the label variance "
             "plus the outputs' own variance: the outputs start far from the targets' mean (a relative deviation of "
             "100 %).  Classification uses initial_logit_spread instead.",
        "Lecture ('check the loss after the first forward pass for a reasonable value'); Karpathy (verify loss @ "
        "init); TheDeepChecker (relative deviation from -log(1/C))")
    initial_logit_spread: float = _t(
        3.0, "Classification: the first loss (measured at initialization with dropout off, over up to "
             "input_sample_size training samples) is suspicious above the loss of random logits with this standard "
             "deviation - ln(C) plus what confident random guesses cost, which depends on the number of classes C "
             "(two logits: 1.84 against ln 2 = 0.69; C=10: 5.09 against 2.30).  Logits this spread put e^3 = 20 times "
             "the probability on a random class: the 'hockey stick' whose first steps only squash the logits.",
        "Karpathy (verify loss @ init: -log(1/n_classes); 'init well' - a small last layer)")
    initial_loss_low: float = _t(
        0.5, "... and below half of ln(C) (or of the regression's expected loss): a model that already knows the "
             "answers before training suggests a label leak or a loss that is not what it seems.",
        "Karpathy (verify loss @ init); TheDeepChecker")

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
    overfit_still_falling: float = _t(
        0.5, "Regression: a probe that used up its steps with the loss below 50 % of its start and still falling is "
             "inconclusive, not a failure (small nets with Adam at 1e-3 reach 0.2-0.3x in 150 steps on the "
             "benchmark's regression sets; a bug or unscaled targets stay near 1x).",
        "gradwise (bench/babysit_precision.py)")
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
    loss_patience_steps: int = _t(
        200, "When the first loss_check_steps show neither a fall nor a rise beyond the mini-batch noise (a small, "
             "noisy regression set), the verdict waits until step 200 (or the end of a shorter run) and is made "
             "on all the steps so far.", "gradwise")
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
        0.5, "A sigmoid/tanh layer is reported when more than 50 % of its outputs (units x samples) are saturated "
             "before training, or on each of the last three sampled steps in the first epoch: a layer that starts "
             "saturated cannot learn its way out.",
        "SageMaker saturated_activation (threshold_layer 50 %)")
    saturated_layer_fraction_trained: float = _t(
        0.8, "... and after the first epoch when more than 80 % stay saturated: a tanh layer drifts towards its "
             "limits as the model grows confident (healthy runs on breast cancer sit at about half), which is no "
             "fault until almost nothing passes.", "gradwise (bench/babysit_precision.py)")

    # ------------------------------------------------------------------ gradient_flow
    vanishing_ratio: float = _t(
        1e-3, "Vanishing gradients: the first layer's weight-gradient norm is below 1e-3 of the last layer's ...",
        "AUTOTRAINER beta_1 = 1e-3")
    vanishing_first_norm: float = _t(
        1e-4, "... and below 1e-4 in absolute terms.", "AUTOTRAINER beta_2 = 1e-4")
    vanishing_mean_abs: float = _t(
        1e-7, "... or the mean absolute gradient of all weights is below 1e-7.",
        "SageMaker vanishing_gradient (threshold 1e-7)")
    vanishing_loss_fraction: float = _t(
        0.05, "... neither is reported once the training loss is below 5 % of where it started: the data is fitted "
              "and the gradients are small because there is little left to learn (a wine MLP with dropout at 100 % "
              "validation accuracy has a mean |gradient| near 1e-7).", "gradwise (bench/babysit_precision.py)")
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
    update_ratio_high_adaptive: float = _t(
        0.15, "... for adaptive solvers (Adam, AdamW, RMSprop, Adagrad, ...), whose step moves every weight by about "
              "the learning rate whatever its gradient, the ratio shows the learning rate directly and its limit is "
              "lower: Adam at 3e-3 peaks at 0.06 on the benchmark's healthy runs, Adam at 3e-2 at 0.4-0.6.",
        "CS231n; gradwise (bench/babysit_precision.py)")
    update_ratio_window: int = _t(
        3, "Update ratios are the median over the last 3 sampled steps of each layer.", "gradwise")
    divergence_factor: float = _t(
        3.0, "Divergence: the recent training loss (the median of the last divergence_window steps) is more than 3 "
             "times its best so far and above where it started ...", "Lecture (Babysitting: 'Play with ... Learning rate'); AUTOTRAINER (nan_loss / exploding loss)")
    divergence_patience: int = _t(
        20, "A run-away loss is reported once it has stayed diverged for 20 steps in a row: a learning rate above "
            "2/lambda_max at initialization makes the loss rise for ten or so steps while the curvature falls (the "
            "catapult), and training then goes on.", "Lewkowycz et al. 2020 (catapult); gradwise")
    divergence_runaway: float = _t(
        10.0, "... and at once when the mean of the last divergence_window losses is 10x the loss at initialization: "
              "the catapults of the benchmark's healthy classification runs peak below 6x, an exploding step (SGD "
              "at 10 on the digits MLP) passes 15x within five steps.  Not at once for SGD whose step at "
              "initialization was above the stability limit but within curvature_margin_alone of it: that is the "
              "catapult regime, where a regression loss may climb 50x before it falls back.",
        "gradwise (bench/babysit_precision.py); Lewkowycz et al. 2020")
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
    oscillation_min_swings: int = _t(
        2, "... and at least two such swings: one rise and fall is a bump, oscillation repeats (in a five-epoch "
           "run a single swing already makes 20 % of the epochs).", "gradwise")
    oscillation_noise_z: float = _t(
        3.0, "... and a swing must also exceed 3 standard errors of the difference between the two epoch means "
             "(each epoch's standard error from the spread of its step losses): on a small training set, or with "
             "dropout, the per-epoch loss wobbles by chance and that is no sign of a learning rate too high.",
        "gradwise (a z-test against mini-batch noise)")

    # ------------------------------------------------------------------ curvature
    curvature_samples: int = _t(
        128, "Training samples of the fixed probe on which the Hessian's largest eigenvalue (sharpness) is "
             "estimated, the same probe every time so that the curve over training is comparable.",
        "Cohen et al. 2021 (edge of stability: sharpness of the training loss)")
    curvature_iterations: int = _t(
        20, "Power iterations (Hessian-vector products) at most for the first estimate ...", "gradwise")
    curvature_warm_iterations: int = _t(
        3, "... and for later ones, which start from the previous eigenvector.", "gradwise")
    curvature_rtol: float = _t(
        0.02, "Power iteration stops when the Rayleigh quotient changes by less than 2 % between iterations.",
        "gradwise")
    curvature_first_step: int = _t(
        50, "Sharpness is measured before the first update for SGD (whose stable step it limits), then at the "
            "end of the first epoch that reaches step 50, then 100, 200, 400, ... (doubling): dense early, where "
            "it changes most.", "gradwise")
    curvature_budget: float = _t(
        0.005, "A later estimate is made only while the estimates after initialization stay within 0.5 % of the "
               "run's time so far (the power iteration stops when the allowance runs out): a run of a few seconds "
               "gets none, a run of minutes a curve - and the babysitter's whole overhead stays within its budget "
               "(bench/babysit_overhead.py).", "gradwise")
    curvature_margin: float = _t(
        1.0, "SGD: the learning rate at initialization above the stable limit 2/lambda_max (with momentum m: "
             "2(1+m)/lambda_max) - on the quadratic model every step then overshoots along the sharpest direction - "
             "is reported when the loss then does not fall (loss_decreasing warns): a step above the limit often "
             "recovers on its own, the sharpness dropping as training starts (the 'catapult'), and then it is no "
             "fault.", "Lecture (condition number of the Hessian); Cohen et al. 2021; Lewkowycz et al. 2020 (catapult)")
    curvature_margin_alone: float = _t(
        10.0, "... and above 10x the limit at initialization it is reported whatever the loss does: the benchmark's "
              "healthy SGD runs start at up to 5x the limit (a tanh MLP with batch normalization on iris: lambda_max "
              "100 at lr 0.1) and recover.", "gradwise (bench/babysit_precision.py); Lewkowycz et al. 2020")
    curvature_margin_later: float = _t(
        2.0, "Later in training a learning rate above 2x the limit at two sharpness estimates in a row is reported: "
             "gradient descent trains at the edge of stability (sharpness hovering at 2/lr) without harm, but not "
             "persistently far beyond it.", "Cohen et al. 2021 (edge of stability)")

    # ------------------------------------------------------------------ data_order
    order_max_association: float = _t(
        0.5, "The first training batches (those of input_sample_size samples) are tested for order: Cramer's V "
             "between batch and class above 0.5 (1 = every batch a single class; shuffled batches give about "
             "sqrt(df / n)) ...", "gradwise (a chi-square test of homogeneity)")
    order_z: float = _t(
        6.0, "... and a chi-square statistic more than 6 standard deviations above its degrees of freedom: the "
             "batches are not random draws of the data - shuffle it (shuffle=True).",
        "gradwise (the chi-square test of homogeneity)")
    order_max_rank_correlation: float = _t(
        0.9, "Regression: the targets of the first samples sorted (rank correlation with their position above 0.9).",
        "gradwise")

    # ------------------------------------------------------------------ gradient accumulation (zero_grad)
    accumulation_novelty: float = _t(
        0.25, "zero_grad() forgotten: at a sampled step the gradient after backward differs from the one left by "
              "the previous step by less than 25 % of its size ...", "gradwise")
    accumulation_growth: float = _t(
        3.0, "... while its norm has grown more than 3x since the first step: each backward adds to the sum of all "
             "the previous gradients.", "gradwise")

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            if not getattr(self, f.name) > 0:
                raise ValueError(f"Thresholds.{f.name} must be positive, got {getattr(self, f.name)!r}")
        if self.update_ratio_low >= self.update_ratio_high:
            raise ValueError("Thresholds.update_ratio_low must be below update_ratio_high")
        if self.init_depth_gain_min >= 1 or self.init_depth_gain_max <= 1 or self.init_block_gain_max <= 1:
            raise ValueError("Thresholds.init_depth_gain_min must be < 1 and init_depth_gain_max, "
                             "init_block_gain_max > 1 (factors of the signal's scale)")
        if self.initial_loss_low >= 1 or self.initial_loss_high <= 1:
            raise ValueError("Thresholds.initial_loss_low must be < 1 and initial_loss_high > 1 (factors of the "
                             "expected initial loss)")
        for name in ("dead_activity", "dead_layer_fraction", "saturation_margin", "saturated_layer_fraction",
                     "loss_window_fraction", "overfit_loss_fraction", "oscillation_rate", "curvature_budget",
                     "saturated_layer_fraction_trained", "overfit_still_falling", "vanishing_loss_fraction",
                     "order_max_association", "order_max_rank_correlation", "accumulation_novelty"):
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
