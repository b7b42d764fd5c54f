"""``input_normalization`` and ``data_order``: does the data reach the model as the lecture prepares it?

``input_normalization`` - are the inputs (and, for regression, the targets) zero-centred and of unit scale?

The lecture's first babysitting step is "Preprocess (normalize) the input data", for "the same reason
why sigmoid's not-zero-centered output was a problem": when every input of a unit has the same sign,
all its weight gradients have the same sign too and the weights can only move in zig-zags; and
features of very different scales ("dimensional differences") make one feature dominate and leave
He/Xavier initialization - which assumes inputs of unit variance - wrong by that scale.

Statistics are per feature for ``(N, F)`` inputs and per channel for images ``(N, C, H, W)``
(and any ``(N, C, ...)``), over a sample of the training data.  Regression targets are held to the
same scale: He and Xavier give outputs of unit scale, so targets in the hundreds leave the last layer
to grow a hundredfold before the loss can fall (Karpathy: "init well").

``data_order`` - are the training batches random draws of the data?  Stochastic gradient descent
assumes each mini-batch is a sample of the whole set; data sorted by class and not shuffled gives
batches of one class, and the model chases the latest class instead of learning them all.
"""
from __future__ import annotations

import math

import numpy as np

from gradwise.train.babysit.check import Check, make
from gradwise.train.babysit.thresholds import Thresholds

__all__ = ["check_input_normalization", "feature_statistics", "check_data_order"]

NAME = "input_normalization"
_ADVICE = ("standardize the inputs with statistics of the training data only "
           "(gradwise.data.preprocessing.Standardize: zero mean and unit variance per feature or channel)")


def feature_statistics(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation per feature (axis 1; per channel for ``(N, C, ...)`` inputs), in float64."""
    a = np.asarray(x, dtype=np.float64)
    a = a.reshape(a.shape[0], a.shape[1], -1) if a.ndim >= 2 else a.reshape(-1, 1, 1)
    return a.mean(axis=(0, 2)), a.std(axis=(0, 2))


def check_input_normalization(x: np.ndarray, th: Thresholds, what: str = "inputs",
                              targets: np.ndarray | None = None) -> Check:
    """Warn when features are far from zero mean (``input_mean_max``), too spread (``input_std_max``) or,
    typically, tiny (median spread below ``input_std_min``); fail on NaN/inf inputs.  ``targets`` (regression
    only): warn when they are not of unit scale either (mean beyond ``input_mean_max``, std beyond
    ``input_std_max``)."""
    inputs = _check_inputs(np.asarray(x), th, what)
    if targets is None or inputs.status != "pass":
        return inputs
    t = np.asarray(targets)
    if t.dtype.kind != "f" or t.size == 0 or not np.isfinite(t).all():
        return inputs
    t = t.reshape(t.shape[0], -1).astype(np.float64)
    mean, std = t.mean(axis=0), t.std(axis=0)
    bad = np.flatnonzero((np.abs(mean) > th.input_mean_max) | (std > th.input_std_max))
    if not bad.size:
        return make(NAME, "pass", inputs.message + f"; regression targets scaled (mean within +-{np.abs(mean).max():.2g}, "
                                                   f"std up to {std.max():.2g})",
                    **inputs.evidence, target_mean=mean, target_std=std)
    i = int(bad[0])
    return make(NAME, "warn", f"the regression targets are not scaled: mean {mean[i]:.4g}, std {std[i]:.4g} (limits "
                              f"+-{th.input_mean_max:g} and {th.input_std_max:g}) while an initialized network's "
                              "outputs are of unit scale - the last layer must grow that much before the loss can "
                              "fall; standardize the targets with statistics of the training data (and invert the "
                              "scaling for predictions)", **inputs.evidence, target_mean=mean, target_std=std,
                symptom="targets_not_scaled")


def _check_inputs(x: np.ndarray, th: Thresholds, what: str) -> Check:
    if x.dtype.kind not in "f":
        return make(NAME, "pass", f"{what} are {x.dtype} (token ids or categories): scale not applicable",
                    dtype=str(x.dtype), shape=list(x.shape))
    if not np.isfinite(x).all():
        bad = int(np.size(x) - np.count_nonzero(np.isfinite(x)))
        return make(NAME, "fail", f"{what} contain {bad} NaN/infinite value(s): clean or impute them before training",
                    nonfinite_values=bad, samples=int(x.shape[0]))
    unit = "channel" if x.ndim > 2 else "feature"
    mean, std = feature_statistics(x)
    scale = np.maximum(1.0, np.abs(mean))
    varying = std > 1e-12 * scale
    off_centre = np.flatnonzero(np.abs(mean) > th.input_mean_max)
    too_wide = np.flatnonzero(std > th.input_std_max)
    median_std = float(np.median(std[varying])) if varying.any() else 0.0
    evidence = dict(samples=int(x.shape[0]), unit=unit, count=int(mean.size), max_abs_mean=float(np.abs(mean).max()),
                    max_std=float(std.max()), median_std=median_std, constant=int((~varying).sum()),
                    limits={"mean": th.input_mean_max, "std_max": th.input_std_max, "std_min": th.input_std_min})
    problems = []
    if off_centre.size:
        problems.append(f"{off_centre.size} of {mean.size} {unit}s have a mean far from 0 (up to "
                        f"{np.abs(mean).max():.3g}; limit {th.input_mean_max:g})")
    if too_wide.size:
        problems.append(f"{too_wide.size} of {mean.size} {unit}s spread too wide (std up to {std.max():.3g}; "
                        f"limit {th.input_std_max:g})")
    if varying.any() and median_std < th.input_std_min:
        problems.append(f"the {unit}s are tiny (median std {median_std:.3g} < {th.input_std_min:g})")
    if not problems:
        return make(NAME, "pass", f"{what} look normalized: {unit} means within +-{np.abs(mean).max():.2g}, "
                                  f"median std {median_std:.2g}", **evidence)
    worst = np.argsort(-np.maximum(np.abs(mean) / th.input_mean_max, std / th.input_std_max))[:5]
    evidence["worst"] = [{unit: int(i), "mean": float(mean[i]), "std": float(std[i])} for i in worst]
    return make(NAME, "warn", f"{what} are not normalized: {'; '.join(problems)} - {_ADVICE}", **evidence)


# ============================================================================= data_order
def check_data_order(batch_targets: list[np.ndarray], th: Thresholds, classification: bool) -> Check:
    """Warn when the first training batches are not random draws of the data.

    Classification: a chi-square test of homogeneity of the class counts across the batches - with
    shuffled data every batch is a draw of the same class mixture; sorted data gives batches of one
    class (Cramer's V near 1).  Regression: the targets rise or fall with their position (rank
    correlation).  Needs at least two batches.
    """
    name = "data_order"
    batches = [np.asarray(b) for b in batch_targets if np.asarray(b).size]
    n = int(sum(len(b) for b in batches))
    if len(batches) < 2:
        return make(name, "skip", "skipped: fewer than two training batches seen (nothing to compare)",
                    batches=len(batches), samples=n)
    if not classification:
        flat = np.concatenate([b.reshape(len(b), -1)[:, 0] for b in batches]).astype(np.float64)
        if flat.size < 8 or np.ptp(flat) == 0:
            return make(name, "pass", "targets constant: order not tested", samples=int(flat.size))
        ranks = np.argsort(np.argsort(flat, kind="stable"), kind="stable").astype(np.float64)
        rho = float(np.corrcoef(ranks, np.arange(flat.size))[0, 1])
        evidence = dict(batches=len(batches), samples=int(flat.size), rank_correlation=rho,
                        limit=th.order_max_rank_correlation)
        if abs(rho) > th.order_max_rank_correlation:
            return make(name, "warn", f"the training data is sorted by its target: over the first {flat.size} samples "
                                      f"the targets {'rise' if rho > 0 else 'fall'} with their position (rank "
                                      f"correlation {rho:+.2f}) - shuffle the training data every epoch "
                                      "(shuffle=True)", symptom="sorted", **evidence)
        return make(name, "pass", f"batches look shuffled (target/position rank correlation {rho:+.2f})", **evidence)
    labels = [_labels(b) for b in batches]
    classes = np.unique(np.concatenate(labels))
    if classes.size < 2:
        return make(name, "pass", f"the first {n} samples are all of one class: order not testable", samples=n)
    # the class counts of every batch (a row each): each label's position among the classes, counted
    table = np.stack([np.bincount(np.searchsorted(classes, lab), minlength=classes.size) for lab in labels]
                     ).astype(np.float64)
    expected = table.sum(axis=1, keepdims=True) * table.sum(axis=0, keepdims=True) / table.sum()
    chi2 = float(np.sum((table - expected) ** 2 / np.where(expected > 0, expected, 1.0)))
    df = (table.shape[0] - 1) * (table.shape[1] - 1)
    v = math.sqrt(chi2 / (n * (min(table.shape) - 1)))
    z = (chi2 - df) / math.sqrt(2 * df)
    per_batch = float(np.mean(np.count_nonzero(table, axis=1)))   # classes present in a batch, on average
    evidence = dict(batches=len(batches), samples=n, classes=int(classes.size), cramers_v=v, chi2=chi2, df=df, z=z,
                    classes_per_batch=per_batch, limits={"cramers_v": th.order_max_association, "z": th.order_z})
    if v > th.order_max_association and z > th.order_z:
        return make(name, "warn", f"the training batches are not shuffled: the first {len(batches)} batches hold "
                                  f"{per_batch:.1f} of the {classes.size} classes seen on average and their class "
                                  f"mix differs far beyond chance (Cramer's V {v:.2f}, chi-square {z:.0f} standard "
                                  "deviations above its mean) - data sorted by class makes each step chase the "
                                  "current class; shuffle the training data every epoch (shuffle=True)",
                    symptom="sorted", **evidence)
    return make(name, "pass", f"batches look shuffled ({per_batch:.1f} classes per batch; Cramer's V {v:.2f})",
                **evidence)


def _labels(target: np.ndarray) -> np.ndarray:
    """Class labels of a target batch: indices as they are, one-hot or probability rows by argmax, a binary
    target by thresholding at 0.5."""
    t = np.asarray(target)
    if t.ndim > 1 and t.shape[1] > 1:
        return t.argmax(axis=1)
    t = t.reshape(len(t))
    if t.dtype.kind == "f" and not np.all(t == np.round(t)):
        return (t > 0.5).astype(np.int64)
    return t.astype(np.int64)
