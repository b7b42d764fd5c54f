"""``input_normalization``: are the inputs zero-centred and of unit scale?

The lecture's first babysitting step is "Preprocess (normalize) the input data", for "the same reason
why sigmoid's not-zero-centered output was a problem": when every input of a unit has the same sign,
all its weight gradients have the same sign too and the weights can only move in zig-zags; and
features of very different scales ("dimensional differences") make one feature dominate and leave
He/Xavier initialization - which assumes inputs of unit variance - wrong by that scale.

Statistics are per feature for ``(N, F)`` inputs and per channel for images ``(N, C, H, W)``
(and any ``(N, C, ...)``), over a sample of the training data.
"""
from __future__ import annotations

import numpy as np

from gradwise.train.babysit.check import Check, make
from gradwise.train.babysit.thresholds import Thresholds

__all__ = ["check_input_normalization", "feature_statistics"]

NAME = "input_normalization"
_ADVICE = ("standardize the inputs with statistics of the training data only "
           "(gradwise.data.preprocessing.Standardize: zero mean and unit variance per feature or channel)")


def feature_statistics(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation per feature (axis 1; per channel for ``(N, C, ...)`` inputs), in float64."""
    a = np.asarray(x, dtype=np.float64)
    a = a.reshape(a.shape[0], a.shape[1], -1) if a.ndim >= 2 else a.reshape(-1, 1, 1)
    return a.mean(axis=(0, 2)), a.std(axis=(0, 2))


def check_input_normalization(x: np.ndarray, th: Thresholds, what: str = "inputs") -> Check:
    """Warn when features are far from zero mean (``input_mean_max``), too spread (``input_std_max``) or,
    typically, tiny (median spread below ``input_std_min``); fail on NaN/inf inputs."""
    x = np.asarray(x)
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
