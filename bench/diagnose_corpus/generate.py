"""Generate the learning-curve corpus: real PyTorch training runs whose cause is known by construction.

Every run trains a small PyTorch model on the CPU (one thread) and records per-epoch training loss (mean of
the mini-batch losses, train mode, augmentation and dropout active) and validation loss (eval mode, end of
the epoch), the way Keras, Lightning and gradwise log them.  Each epoch the model is also evaluated on a
large held-out *test* set drawn like the validation set should be: the run's true generalisation curve,
never written to the history (``true_loss.json``).

A run belongs to a **family** (a data world and a model type, e.g. ``digits_cnn``) and is built to show one
**condition** of the lecture's "Training Graphs":

* ``underfit``  - a model without capacity (linear / 1-2 units), a learning rate far too low or far too high,
  or a sound model stopped after a few epochs while still learning;
* ``overfit``   - a big model, little (often noisy-label) data, no regularisation, many epochs; its true best
  epoch is the argmin of the held-out test loss (``best_epoch_range``: the band within min(5 %, 25 % of the
  later rise) of that minimum, as in tests/data/make_curve_runs.py);
* ``unrepresentative_train`` - a training set that is tiny (with weight decay, so validation still improves)
  or drawn from a narrow / shifted / class-imbalanced part of the data, against a large representative
  validation set;
* ``unrepresentative_validation`` - a tiny validation set (fixed, or drawn afresh each epoch) or one easier
  than training (an easy subset, or training-only label noise / heavy augmentation / dropout);
* ``good_fit``  - a right-sized, regularised model with enough data and epochs.

Everything else is drawn at random per run: MLP or CNN, BatchNorm, dropout, augmentation, SGD / momentum /
Adam / AdamW / RMSprop, schedules (step, cosine, one-cycle, plateau), batch sizes 8-512, label noise, class
imbalance, epochs 5-300, the file format (Keras CSVLogger, Lightning metrics.csv with step rows and empty or
NaN padding, gradwise history.csv/.jsonl - some runs trained through ``gradwise.train.fit`` itself -, plain CSVs
with other column spellings, TensorBoard event dirs in PyTorch's and Keras' layouts), epochs numbered from 0 or
1, with or without accuracy columns, and with missing epochs.

**Verification.**  A recipe is a cause, not a guarantee, so each run is checked by statistics of its recorded
and hidden curves (:func:`verify`): an overfit run's true loss must end >= 5 % above its best; a good fit's
must not (< 10 %), must have levelled off and be near the family's best; an underfit run's true loss must stay
well above the family's best or still be falling; an unrepresentative training set must leave the true loss far
above the training loss without overfitting; an unrepresentative validation set must deviate from the true
curve visibly (noisy, or below the training loss).  ``labels.json`` keeps every run with ``verified`` and the
statistics; the bench scores verified runs (and reports all).

Run (one process, one thread; about 4 s per run on average):

    python bench/diagnose_corpus/generate.py --set dev   [--out DIR] [--only FAMILY] [--per-family N]
    python bench/diagnose_corpus/generate.py --set fresh
"""
from __future__ import annotations

import argparse
import csv
import json
import math
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT / "src"))
from gradwise.diagnose.smoothing import mean3  # noqa: E402 (the one 3-epoch mean: verification and bands)

#: development families (grouped cross-validation leaves one out at a time) and the fresh families, made
#: only after the method was frozen
DEV_FAMILIES = ("digits_mlp", "digits_cnn", "cancer_mlp", "synth_cls", "circles_mlp", "quantiles_mlp",
                "friedman3_reg", "imbalanced_cls")
FRESH_FAMILIES = ("hastie_mlp", "shapes_cnn", "wave_conv1d", "swissroll_reg")
#: second round (2026-12-07): the first fresh set was measured once and then joined development; six more
#: development families, and four new fresh families made only after the revised method was frozen
DEV2_FAMILIES = ("friedman1_reg", "blobs8_mlp", "scurve_reg", "parity_mlp", "bars_cnn", "pulses_conv1d")
FRESH2_FAMILIES = ("sparse_reg", "manyclass_mlp", "rings_cnn", "events_conv1d")
#: third round: the second fresh set joins development; four new fresh families made after round 3 was frozen
FRESH3_FAMILIES = ("hypersphere_reg", "gaussmix_cls", "count_cnn", "chirp_conv1d")
#: fourth round: the third fresh set joins development; four new fresh families made after round 4 was frozen
FRESH4_FAMILIES = ("madelon_cls", "peaks_reg", "glyphs_cnn", "rhythm_conv1d")
#: fifth round: the fourth fresh set joins development; four new fresh families made after round 5 was frozen,
#: with twice the runs per family (``--per-family-scale 2``: the fourth set verified only 1 good fit)
FRESH5_FAMILIES = ("credit_mlp", "sinc_reg", "corner_cnn", "amfm_conv1d")
#: sixth round: the fifth fresh set joins development; four new fresh families (twice the runs per family)
FRESH6_FAMILIES = ("boxes_cls", "season_reg", "texture_cnn", "ar_conv1d")
#: seventh round: the sixth fresh set joins development; four new fresh families (twice the runs per family)
FRESH7_FAMILIES = ("ordinal_cls", "pendulum_reg", "gap_cnn", "decay_conv1d")
#: eighth round: the seventh fresh set joins development; four new fresh families (twice the runs per family)
FRESH8_FAMILIES = ("spiral3_cls", "cooling_reg", "arrow_cnn", "sawtooth_conv1d")
#: ninth round: the eighth fresh set joins development; four new fresh families (twice the runs per family)
FRESH9_FAMILIES = ("moons4_cls", "damped_reg", "scale_cnn", "skew_conv1d")
#: tenth round: the ninth fresh set joins development; four new fresh families (twice the runs per family)
FRESH10_FAMILIES = ("maxabs_cls", "projectile_reg", "blur_cnn", "glitch_conv1d")
#: eleventh round: the tenth fresh set joins development; four new fresh families (twice the runs per family)
FRESH11_FAMILIES = ("dartboard_cls", "enzyme_reg", "aspect_cnn", "change_conv1d")
#: twelfth round: the eleventh fresh set joins development; four new fresh families (twice the runs per family)
FRESH12_FAMILIES = ("triangle_cls", "annuity_reg", "align_cnn", "rectify_conv1d")
#: thirteenth round: the twelfth fresh set joins development; four new fresh families (twice the runs per family)
FRESH13_FAMILIES = ("interval_cls", "dose_reg", "dash_cnn", "duty_conv1d")
#: fourteenth round: the thirteenth fresh set joins development; four new fresh families (twice the runs per family)
FRESH14_FAMILIES = ("reynolds_cls", "turbine_reg", "shading_cnn", "polarity_conv1d")
#: fifteenth round: the fourteenth fresh set joins development; four new fresh families (twice the runs per family)
FRESH15_FAMILIES = ("phase_cls", "colony_reg", "bend_cnn", "edges_conv1d")
ALL_FAMILIES = (DEV_FAMILIES + FRESH_FAMILIES + DEV2_FAMILIES + FRESH2_FAMILIES + FRESH3_FAMILIES + FRESH4_FAMILIES
                + FRESH5_FAMILIES + FRESH6_FAMILIES + FRESH7_FAMILIES + FRESH8_FAMILIES + FRESH9_FAMILIES
                + FRESH10_FAMILIES + FRESH11_FAMILIES + FRESH12_FAMILIES + FRESH13_FAMILIES
                + FRESH14_FAMILIES + FRESH15_FAMILIES)
SET_FAMILIES = {"dev": DEV_FAMILIES, "fresh": FRESH_FAMILIES, "dev2": DEV2_FAMILIES, "fresh2": FRESH2_FAMILIES,
                "fresh3": FRESH3_FAMILIES, "fresh4": FRESH4_FAMILIES, "fresh5": FRESH5_FAMILIES,
                "fresh6": FRESH6_FAMILIES, "fresh7": FRESH7_FAMILIES, "fresh8": FRESH8_FAMILIES,
                "fresh9": FRESH9_FAMILIES, "fresh10": FRESH10_FAMILIES, "fresh11": FRESH11_FAMILIES,
                "fresh12": FRESH12_FAMILIES, "fresh13": FRESH13_FAMILIES, "fresh14": FRESH14_FAMILIES,
                "fresh15": FRESH15_FAMILIES}
SET_SEEDS = {"dev": 50_000, "fresh": 90_000, "dev2": 60_000, "fresh2": 95_000, "fresh3": 97_000, "fresh4": 99_000,
             "fresh5": 101_000, "fresh6": 103_000, "fresh7": 105_000, "fresh8": 107_000,
             "fresh9": 109_000, "fresh10": 111_000, "fresh11": 113_000, "fresh12": 115_000,
             "fresh13": 117_000, "fresh14": 119_000, "fresh15": 121_000}
CONDITIONS = ("underfit", "overfit", "good_fit", "unrepresentative_train", "unrepresentative_validation")
#: how many runs of each condition per family (27 in all)
PER_CONDITION = {"overfit": 6, "underfit": 6, "good_fit": 5, "unrepresentative_train": 5,
                 "unrepresentative_validation": 5}


# ----------------------------------------------------------------------------- data worlds
@dataclass
class Data:
    x: np.ndarray
    y: np.ndarray
    classification: bool
    n_classes: int
    shape: tuple[int, ...]          # per-sample input shape (flattened for MLPs)


def _standardise(x: np.ndarray) -> np.ndarray:
    return ((x - x.mean(0)) / (x.std(0) + 1e-8)).astype(np.float32)


def _flip_labels(r: np.random.Generator, y: np.ndarray, share: float, n_classes: int) -> None:
    """Label noise in place: about ``share`` of the labels redrawn uniformly from the ``n_classes`` classes."""
    flip = r.random(len(y)) < share
    y[flip] = r.integers(0, n_classes, int(flip.sum()))


def _regression(x: np.ndarray, y: np.ndarray) -> Data:
    """A regression task with prepared float32 inputs ``x`` and the target ``y`` standardised to one column."""
    return Data(x, ((y - y.mean()) / y.std())[:, None].astype(np.float32), False, 1, x.shape[1:])


def _classification(x: np.ndarray, y: np.ndarray, n_classes: int) -> Data:
    """A ``n_classes``-class task with prepared float32 inputs ``x`` (one row a sample) and integer labels ``y``."""
    return Data(x, y.astype(np.int64), True, n_classes, x.shape[1:])


def world(family: str, rng: np.random.Generator, n: int) -> Data:
    """Draw ``n`` samples of the family's task (fixed-size real sets are returned whole, shuffled)."""
    from sklearn import datasets as skd

    seed = int(rng.integers(2**31))
    if family.startswith("digits"):
        d = np.load(ROOT / "src" / "gradwise" / "data" / "datasets" / "digits.npz")
        x = d["images"].reshape(len(d["images"]), -1).astype(np.float32) / 16.0
        y = d["labels"].astype(np.int64)
        p = rng.permutation(len(x))
        shape = (1, 8, 8) if family == "digits_cnn" else (64,)
        return Data(x[p], y[p], True, 10, shape)
    if family == "cancer_mlp":
        x, y = skd.load_breast_cancer(return_X_y=True)
        p = rng.permutation(len(x))
        return Data(_standardise(x)[p], y[p].astype(np.int64), True, 2, (30,))
    if family == "synth_cls":
        x, y = skd.make_classification(n, n_features=20, n_informative=8, n_redundant=4, n_classes=4,
                                       n_clusters_per_class=2, class_sep=1.2, flip_y=0.02, random_state=seed)
        return _classification(_standardise(x), y, 4)
    if family == "imbalanced_cls":
        x, y = skd.make_classification(n, n_features=12, n_informative=6, n_redundant=2, n_classes=3,
                                       weights=[0.7, 0.2, 0.1], class_sep=1.0, flip_y=0.03, random_state=seed)
        return _classification(_standardise(x), y, 3)
    if family == "circles_mlp":
        x, y = skd.make_circles(n, noise=0.12, factor=0.55, random_state=seed)
        return _classification(x.astype(np.float32) * 1.5, y, 2)
    if family == "quantiles_mlp":
        x, y = skd.make_gaussian_quantiles(n_samples=n, n_features=6, n_classes=3, random_state=seed)
        return _classification(x.astype(np.float32), y, 3)
    if family == "friedman3_reg":
        x, y = skd.make_friedman3(n, noise=0.1, random_state=seed)
        y = (y - 1.3) / 0.35
        return Data(_standardise(x), y[:, None].astype(np.float32), False, 1, (4,))
    if family == "hastie_mlp":
        x, y = skd.make_hastie_10_2(n, random_state=seed)
        return Data(x.astype(np.float32), (y > 0).astype(np.int64), True, 2, (10,))
    if family == "swissroll_reg":   # predict the roll's position t from the noisy 3-D point
        x, t = skd.make_swiss_roll(n, noise=0.6, random_state=seed)
        return Data(_standardise(x), ((t - 9.4) / 2.8)[:, None].astype(np.float32), False, 1, (3,))
    if family == "shapes_cnn":      # 12x12 images of four shape classes at random places, with pixel noise
        r = np.random.default_rng(seed)
        imgs = np.zeros((n, 12, 12), np.float32)
        cls = r.integers(0, 4, n)
        for i, c in enumerate(cls):
            s = int(r.integers(3, 6))
            a, b = r.integers(0, 12 - s, 2)
            if c == 0:
                imgs[i, a:a + s, b:b + s] = 1                       # filled square
            elif c == 1:
                imgs[i, a:a + s, b + s // 2] = 1                    # vertical bar
                imgs[i, a + s // 2, b:b + s] = 1                    # + horizontal: cross
            elif c == 2:
                imgs[i, a:a + s, b:b + s] = 1
                imgs[i, a + 1:a + s - 1, b + 1:b + s - 1] = 0       # hollow square
            else:
                for k in range(s):
                    imgs[i, a + k, b + k] = 1                       # diagonal
        imgs += 0.35 * r.standard_normal(imgs.shape).astype(np.float32)
        return Data(imgs.reshape(n, -1), cls.astype(np.int64), True, 4, (1, 12, 12))
    if family == "wave_conv1d":     # 32-step signals: which of 3 frequencies, with phase, amplitude and noise
        r = np.random.default_rng(seed)
        cls = r.integers(0, 3, n)
        tt = np.arange(32)
        freq = np.array([1.5, 2.5, 3.5])[cls][:, None] + 0.35 * r.standard_normal((n, 1))
        sig = r.uniform(0.5, 1.5, (n, 1)) * np.sin(2 * np.pi * freq * tt / 32 + r.uniform(0, 2 * np.pi, (n, 1)))
        sig += 0.8 * r.standard_normal(sig.shape)
        return Data(sig.astype(np.float32), cls.astype(np.int64), True, 3, (1, 32))
    if family == "friedman1_reg":
        x, y = skd.make_friedman1(n, n_features=10, noise=1.0, random_state=seed)
        return Data(_standardise(x), ((y - 14.4) / 5.0)[:, None].astype(np.float32), False, 1, (10,))
    if family == "blobs8_mlp":      # 8 overlapping Gaussian blobs in 5-D
        x, y = skd.make_blobs(n, n_features=5, centers=8, cluster_std=2.2, center_box=(-6, 6), random_state=seed % 1000)
        return _classification(_standardise(x), y, 8)
    if family == "scurve_reg":      # the S-curve's position from the noisy 3-D point
        x, t = skd.make_s_curve(n, noise=0.25, random_state=seed)
        return Data(_standardise(x), (t / 2.7)[:, None].astype(np.float32), False, 1, (3,))
    if family == "parity_mlp":      # sign of x1*x2*x3 among 8 inputs, 5 % of labels flipped
        r = np.random.default_rng(seed)
        x = r.standard_normal((n, 8)).astype(np.float32)
        y = (x[:, 0] * x[:, 1] * x[:, 2] > 0).astype(np.int64)
        flip = r.random(n) < 0.05
        y[flip] = 1 - y[flip]
        return Data(x, y, True, 2, (8,))
    if family == "sparse_reg":
        x, y = skd.make_sparse_uncorrelated(n, n_features=12, random_state=seed)
        y = y + 0.5 * np.sin(2 * x[:, 4]) * x[:, 5]
        return _regression(_standardise(x), y)
    if family == "manyclass_mlp":
        x, y = skd.make_classification(n, n_features=24, n_informative=12, n_redundant=6, n_classes=10,
                                       n_clusters_per_class=1, class_sep=1.5, flip_y=0.03, random_state=seed)
        return _classification(_standardise(x), y, 10)
    if family == "hypersphere_reg":   # the distance of a noisy 6-D point from the origin, plus noise
        r = np.random.default_rng(seed)
        x = r.standard_normal((n, 6))
        y = np.linalg.norm(x, axis=1) + 0.3 * r.standard_normal(n)
        return Data(x.astype(np.float32), ((y - 2.4) / 0.7)[:, None].astype(np.float32), False, 1, (6,))
    if family == "gaussmix_cls":
        x, y = skd.make_classification(n, n_features=40, n_informative=10, n_redundant=10, n_classes=6,
                                       n_clusters_per_class=2, class_sep=0.9, flip_y=0.02, random_state=seed)
        return _classification(_standardise(x), y, 6)
    if family == "madelon_cls":      # 5 informative inputs on a hypercube's vertices among 45 noise inputs
        x, y = skd.make_classification(n, n_features=50, n_informative=5, n_redundant=0, n_repeated=0, n_classes=2,
                                       n_clusters_per_class=4, class_sep=1.5, hypercube=True, flip_y=0.05,
                                       random_state=seed)
        return _classification(_standardise(x), y, 2)
    if family == "peaks_reg":        # a sum of four Gaussian bumps over the plane, plus noise
        r = np.random.default_rng(seed)
        x = r.uniform(-3, 3, (n, 2))
        centres, signs = np.array([[-1.5, -1.0], [1.0, 1.5], [1.5, -1.5], [-1.0, 1.8]]), np.array([1.0, -1.0, 0.8, -0.6])
        y = (signs * np.exp(-((x[:, None, :] - centres) ** 2).sum(-1) / 0.8)).sum(1) + 0.15 * r.standard_normal(n)
        return _regression((x / 1.73).astype(np.float32), y)
    if family == "credit_mlp":       # tabular: 8 numeric inputs, two one-hot categories, a logistic rule, 8 % noise
        r = np.random.default_rng(seed)
        num = r.standard_normal((n, 8))
        cat_a, cat_b = r.integers(0, 4, n), r.integers(0, 3, n)
        logit = (1.2 * num[:, 0] - 0.8 * num[:, 1] * num[:, 2] + 0.6 * np.abs(num[:, 3])
                 + np.array([-1.0, 0.0, 0.5, 1.2])[cat_a] + np.array([0.8, -0.4, 0.0])[cat_b] - 0.5)
        y = (r.random(n) < 1 / (1 + np.exp(-2.5 * logit))).astype(np.int64)
        flip = r.random(n) < 0.08
        y[flip] = 1 - y[flip]
        x = np.hstack([num, np.eye(4)[cat_a], np.eye(3)[cat_b]])
        return Data(x.astype(np.float32), y, True, 2, (15,))
    if family == "sinc_reg":         # sin(r) / r of the distance in 3-D, plus noise
        r = np.random.default_rng(seed)
        x = r.uniform(-6, 6, (n, 3))
        rad = np.linalg.norm(x, axis=1)
        y = np.sinc(rad / np.pi) + 0.08 * r.standard_normal(n)
        return _regression((x / 3.46).astype(np.float32), y)
    if family == "boxes_cls":        # 5 classes set by axis-aligned thresholds on 4 of 10 inputs (a small tree), 5 % noise
        r = np.random.default_rng(seed)
        x = r.uniform(-1, 1, (n, 10))
        y = np.where(x[:, 0] < -0.3, 0, np.where(x[:, 1] > 0.4, 1, np.where(x[:, 2] * x[:, 3] > 0, 2,
                                                                                np.where(x[:, 3] < 0.2, 3, 4))))
        _flip_labels(r, y, 0.05, 5)
        return _classification((x * 1.73).astype(np.float32), y, 5)
    if family == "season_reg":       # a seasonal demand: day of year (as sin/cos), temperature, weekday, noise growing with level
        r = np.random.default_rng(seed)
        day, temp, weekday = r.uniform(0, 2 * np.pi, n), r.normal(0, 1, n), r.integers(0, 7, n)
        level = 2 + np.sin(day) + 0.6 * temp * np.cos(day) + 0.5 * (weekday >= 5) + 0.3 * temp ** 2
        y = level + 0.25 * np.abs(level) * r.standard_normal(n)
        x = np.column_stack([np.sin(day), np.cos(day), temp, np.eye(7)[weekday]])
        return _regression(x.astype(np.float32), y)
    if family == "ordinal_cls":      # 6 ordered grades cut from a smooth score of 8 inputs: neighbours blur, 4 % noise
        r = np.random.default_rng(seed)
        x = r.standard_normal((n, 8))
        score = np.tanh(x[:, 0]) + 0.7 * x[:, 1] * x[:, 2] + 0.5 * np.sin(2 * x[:, 3]) + 0.3 * r.standard_normal(n)
        y = np.digitize(score, np.quantile(score, [1 / 6, 2 / 6, 3 / 6, 4 / 6, 5 / 6]))
        _flip_labels(r, y, 0.04, 6)
        return _classification(x.astype(np.float32), y, 6)
    if family == "pendulum_reg":     # a pendulum's period from length, gravity and amplitude (3 distractors), 5 % noise
        r = np.random.default_rng(seed)
        length, g, theta = r.uniform(0.2, 2.0, n), r.uniform(1.6, 25.0, n), r.uniform(0.0, 1.4, n)
        y = 2 * np.pi * np.sqrt(length / g) * (1 + theta ** 2 / 16 + 11 * theta ** 4 / 3072)
        y *= 1 + 0.05 * r.standard_normal(n)
        x = np.column_stack([length, g, theta, r.standard_normal((n, 3))])
        return _regression(_standardise(x), y)
    if family == "spiral3_cls":      # 3 interleaved spiral arms (one turn) in 2 of 6 inputs (4 distractors), 4 % noise
        r = np.random.default_rng(seed)
        y = r.integers(0, 3, n)
        t = np.sqrt(r.uniform(0.04, 1.0, n))
        ang = 2 * np.pi * (y / 3 + t)
        xy = 2.0 * t[:, None] * np.column_stack([np.cos(ang), np.sin(ang)]) + 0.12 * r.standard_normal((n, 2))
        _flip_labels(r, y, 0.04, 3)
        x = np.hstack([xy, r.standard_normal((n, 4))])
        return _classification(x.astype(np.float32), y, 3)
    if family == "cooling_reg":      # Newton's cooling: a body's temperature from start, ambient, rate and time (2 distractors), 6 % noise
        r = np.random.default_rng(seed)
        t0, amb, k, t = r.uniform(40, 100, n), r.uniform(0, 30, n), r.uniform(0.02, 0.25, n), r.uniform(0, 30, n)
        y = amb + (t0 - amb) * np.exp(-k * t)
        y *= 1 + 0.06 * r.standard_normal(n)
        x = np.column_stack([t0, amb, k, t, r.standard_normal((n, 2))])
        return _regression(_standardise(x), y)
    if family == "moons4_cls":       # two pairs of interleaved half-moons, one turned a quarter across the other, in 2 of 5 inputs, 4 % noise
        r = np.random.default_rng(seed)
        y = r.integers(0, 4, n)
        th = r.uniform(0, np.pi, n)
        pair, lower = y // 2, y % 2
        px = np.where(lower == 0, np.cos(th), 1 - np.cos(th))
        py = np.where(lower == 0, np.sin(th), 0.5 - np.sin(th))
        xy = np.column_stack([np.where(pair == 1, 2.1 - py, px), np.where(pair == 1, 0.1 + px, py)])
        xy += 0.14 * r.standard_normal((n, 2))
        _flip_labels(r, y, 0.04, 4)
        x = np.hstack([(xy - [1.0, 0.6]) / 0.9, r.standard_normal((n, 3))])
        return _classification(x.astype(np.float32), y, 4)
    if family == "damped_reg":       # a damped spring's displacement (time, damping, frequency, amplitude; 2 distractors), envelope-sized noise
        r = np.random.default_rng(seed)
        t, zeta, w0, amp = r.uniform(0, 6, n), r.uniform(0.05, 0.5, n), r.uniform(0.8, 1.4, n), r.uniform(0.5, 2.0, n)
        env = amp * np.exp(-zeta * w0 * t)
        y = env * np.cos(w0 * np.sqrt(1 - zeta ** 2) * t) + (0.03 + 0.12 * env) * r.standard_normal(n)
        x = np.column_stack([t, zeta, w0, amp, r.standard_normal((n, 2))])
        return _regression(_standardise(x), y)
    if family == "maxabs_cls":       # which of 4 inputs is largest in size, read with noise (4 distractors), 5 % noise
        r = np.random.default_rng(seed)
        z = r.standard_normal((n, 4))
        y = np.abs(z).argmax(1)
        _flip_labels(r, y, 0.05, 4)
        x = np.hstack([z + 0.15 * r.standard_normal((n, 4)), r.standard_normal((n, 4))])
        return _classification(x.astype(np.float32), y, 4)
    if family == "projectile_reg":   # a projectile's range from speed, launch angle and height (3 distractors), 5 % noise
        r = np.random.default_rng(seed)
        v, th, h = r.uniform(8, 20, n), r.uniform(0.1, 1.45, n), r.uniform(0, 15, n)
        vy = v * np.sin(th)
        y = v * np.cos(th) * (vy + np.sqrt(vy ** 2 + 2 * 9.81 * h)) / 9.81
        y *= 1 + 0.05 * r.standard_normal(n)
        x = np.column_stack([v, th, h, r.standard_normal((n, 3))])
        return _regression(_standardise(x), y)
    if family == "dartboard_cls":    # a dartboard in 2 of 6 inputs (4 distractors): the bull (radius < 0.6) or one of 4 quarter sectors, 5 % noise
        r = np.random.default_rng(seed)
        xy = r.uniform(-1.5, 1.5, (n, 2))
        rad, ang = np.hypot(xy[:, 0], xy[:, 1]), np.arctan2(xy[:, 1], xy[:, 0])
        y = np.where(rad < 0.6, 0, 1 + np.floor((ang + np.pi) / (np.pi / 2)).astype(np.int64) % 4)
        _flip_labels(r, y, 0.05, 5)
        x = np.hstack([xy / 0.866, r.standard_normal((n, 4))])
        return _classification(x.astype(np.float32), y, 5)
    if family == "enzyme_reg":       # Michaelis-Menten rate with a competitive inhibitor (substrate, inhibitor, Vmax, Km; 2 distractors), 15 % noise
        r = np.random.default_rng(seed)
        sub, inh, vmax, km = r.uniform(0, 10, n), r.uniform(0, 4, n), r.uniform(1, 3, n), r.uniform(0.5, 2.5, n)
        y = vmax * sub / (km * (1 + inh / 0.8) + sub)
        y *= 1 + 0.15 * r.standard_normal(n)
        x = np.column_stack([sub, inh, vmax, km, r.standard_normal((n, 2))])
        return _regression(_standardise(x), y)
    if family == "triangle_cls":     # three lengths, shortest first (3 distractors): no triangle, an obtuse or an acute one, 5 % noise
        r = np.random.default_rng(seed)
        sides = r.uniform(0.1, 1.0, (n, 3))
        a, b, c = np.sort(sides, 1).T
        y = np.where(c >= a + b, 0, np.where(c ** 2 > a ** 2 + b ** 2, 1, 2))
        _flip_labels(r, y, 0.05, 3)
        x = np.column_stack([a, b, c, r.standard_normal((n, 3))])
        return _classification(_standardise(x), y, 3)
    if family == "annuity_reg":      # a loan's monthly payment from principal, yearly rate and term in years (3 distractors), 15 % noise
        r = np.random.default_rng(seed)
        prin, rate, years = r.uniform(5, 50, n), r.uniform(0.01, 0.12, n), r.uniform(2, 30, n)
        mo = rate / 12
        y = prin * mo / (1 - (1 + mo) ** (-12 * years))
        y *= 1 + 0.15 * r.standard_normal(n)
        x = np.column_stack([prin, rate, years, r.standard_normal((n, 3))])
        return _regression(_standardise(x), y)
    if family == "interval_cls":     # two time intervals (start and length each; 3 distractors): apart, overlapping or one inside, 5 % noise
        r = np.random.default_rng(seed)
        s1, s2 = r.uniform(0, 0.5, (2, n))
        l1, l2 = np.exp(r.uniform(np.log(0.05), 0, (2, n)))
        e1, e2 = s1 + l1, s2 + l2
        y = np.where((e1 < s2) | (e2 < s1), 0, np.where((s1 <= s2) & (e2 <= e1) | (s2 <= s1) & (e1 <= e2), 2, 1))
        _flip_labels(r, y, 0.05, 3)
        x = np.column_stack([s1, l1, s2, l2, r.standard_normal((n, 3))])
        return _classification(_standardise(x), y, 3)
    if family == "dose_reg":         # drug level after an oral dose (dose, uptake and clearance rates, volume, hours; 2 distractors), 25 % noise
        r = np.random.default_rng(seed)
        dose, ka, ke = r.uniform(100, 500, n), r.uniform(0.5, 2.5, n), r.uniform(0.05, 0.25, n)
        vol, t = r.uniform(20, 60, n), r.uniform(0.5, 12, n)
        y = dose * ka / (vol * (ka - ke)) * (np.exp(-ke * t) - np.exp(-ka * t))
        y *= 1 + 0.25 * r.standard_normal(n)
        x = np.column_stack([dose, ka, ke, vol, t, r.standard_normal((n, 2))])
        return _regression(_standardise(x), y)
    if family == "reynolds_cls":     # pipe flow (density, speed, diameter, viscosity; 3 distractors): laminar, transitional or turbulent, 5 % noise
        r = np.random.default_rng(seed)
        rho, v, dia = r.uniform(700, 1300, n), r.uniform(0.05, 1.5, n), r.uniform(0.01, 0.05, n)
        mu = np.exp(r.uniform(np.log(0.002), np.log(0.02), n))
        y = np.digitize(rho * v * dia / mu, [2300, 4000])
        _flip_labels(r, y, 0.05, 3)
        x = np.column_stack([rho, v, dia, mu, r.standard_normal((n, 3))])
        return _classification(_standardise(x), y, 3)
    if family == "turbine_reg":      # a wind turbine's power (wind speed, rotor, air density, power coefficient, rating; 2 distractors), 20 % noise
        r = np.random.default_rng(seed)
        v, dia, rho = r.uniform(0, 22, n), r.uniform(40, 120, n), r.uniform(1.0, 1.3, n)
        cp, rated = r.uniform(0.35, 0.48, n), r.uniform(1.5, 5.0, n)
        y = np.where((v >= 3) & (v <= 20), np.minimum(0.5 * rho * np.pi * dia ** 2 / 4 * cp * v ** 3 / 1e6, rated), 0.0)
        y *= 1 + 0.2 * r.standard_normal(n)
        x = np.column_stack([v, dia, rho, cp, rated, r.standard_normal((n, 2))])
        return _regression(_standardise(x), y)
    if family == "phase_cls":        # water with antifreeze (temperature read to +-5 degrees, pressure, antifreeze share; 3 distractors): ice, liquid or vapour, 5 % noise
        r = np.random.default_rng(seed)
        temp, pres, anti = r.uniform(-60, 200, n), r.uniform(0.1, 8, n), r.uniform(0, 0.5, n)
        boil = 1 / (1 / 373.15 - np.log(pres) / 4890) - 273.15 + 10 * anti     # Clausius-Clapeyron, plus elevation
        y = np.where(temp < -75 * anti, 0, np.where(temp < boil, 1, 2))
        _flip_labels(r, y, 0.05, 3)
        x = np.column_stack([temp + 5 * r.standard_normal(n), pres, anti, r.standard_normal((n, 3))])
        return _classification(_standardise(x), y, 3)
    if family == "colony_reg":       # logistic growth of a colony (hours, starting size, carrying capacity, growth rate; 2 distractors), 20 % noise
        r = np.random.default_rng(seed)
        t, n0, cap, rate = r.uniform(0, 24, n), r.uniform(2, 20, n), r.uniform(100, 1000, n), r.uniform(0.15, 0.6, n)
        y = cap / (1 + (cap / n0 - 1) * np.exp(-rate * t))
        y *= 1 + 0.2 * r.standard_normal(n)
        x = np.column_stack([t, n0, cap, rate, r.standard_normal((n, 2))])
        return _regression(_standardise(x), y)
    if family in ("bars_cnn", "rings_cnn", "count_cnn", "glyphs_cnn", "corner_cnn", "texture_cnn", "gap_cnn",
                  "arrow_cnn", "scale_cnn", "blur_cnn", "aspect_cnn", "align_cnn", "dash_cnn",
                  "shading_cnn", "bend_cnn"):
        return _images(family, np.random.default_rng(seed), n)
    if family in ("pulses_conv1d", "events_conv1d", "chirp_conv1d", "rhythm_conv1d", "amfm_conv1d", "ar_conv1d",
                  "decay_conv1d", "sawtooth_conv1d", "skew_conv1d", "glitch_conv1d", "change_conv1d",
                  "rectify_conv1d", "duty_conv1d", "polarity_conv1d", "edges_conv1d"):
        return _signals(family, np.random.default_rng(seed), n)
    raise ValueError(family)


def _images(family: str, r: np.random.Generator, n: int) -> Data:
    """10x10 noisy images: bars at one of 4 orientations (``bars_cnn``), or ring / disc / dot / empty (``rings_cnn``)."""
    yy, xx = np.mgrid[0:10, 0:10]
    cls = r.integers(0, {"count_cnn": 3, "glyphs_cnn": 5, "texture_cnn": 3, "scale_cnn": 3, "blur_cnn": 3,
                         "aspect_cnn": 3, "align_cnn": 3, "dash_cnn": 3, "shading_cnn": 3,
                         "bend_cnn": 3}.get(family, 4), n)
    imgs = np.zeros((n, 10, 10), np.float32)
    for i, c in enumerate(cls):
        if family == "bend_cnn":      # a soft line across or down at a random height and tilt: straight, bowed (by 2-3 pixels) or zigzag
            u = xx - 4.5
            bow = [0.0 * u, r.uniform(0.11, 0.16) * (u ** 2 - 8.25) * (1 if r.random() < 0.5 else -1),
                   r.uniform(1.2, 1.6) * (4 * np.abs((u / 5 + r.uniform(0, 1)) % 1 - 0.5) - 1)][c]
            path = r.uniform(3, 6) + r.uniform(-0.3, 0.3) * u + bow
            line = np.exp(-0.5 * ((yy - path) / 0.5) ** 2) * r.uniform(1.4, 1.9)
            imgs[i] = line if r.random() < 0.5 else line.T
            continue
        if family == "shading_cnn":   # a filled disc (radius 2.5-4) at a random place, lit from the left or right (tilted <= 30 degrees) or evenly
            rad, (cy, cx) = r.uniform(2.5, 4.0), r.uniform(3, 6, 2)
            ang = r.uniform(-np.pi / 6, np.pi / 6) + (np.pi if c == 1 else 0.0)
            slope = r.uniform(0.45, 0.7) if c < 2 else 0.0
            lit = r.uniform(0.9, 1.2) - slope * ((xx - cx) * np.cos(ang) + (yy - cy) * np.sin(ang)) / rad
            imgs[i] = (np.hypot(yy - cy, xx - cx) <= rad) * lit
            continue
        if family == "dash_cnn":      # a line 2 wide, 6-10 long, across or down at a random place: solid, dashed (2 on, 2 off) or dotted
            length = int(r.integers(6, 11))
            seg = (np.arange(length) % [1, 4, 2][c] < [1, 2, 1][c]) * r.uniform(1.2, 1.6)
            a, b = int(r.integers(0, 9)), int(r.integers(0, 11 - length))
            if r.random() < 0.5:
                imgs[i, a:a + 2, b:b + length] = seg
            else:
                imgs[i, b:b + length, a:a + 2] = seg[:, None]
            continue
        if family == "align_cnn":     # three small plus marks (2-3 apart) lined up across, down, or along a diagonal (either way)
            along = np.array([(1, 4, 7), (1, 4, 8), (1, 5, 8), (2, 5, 8)][int(r.integers(0, 4))])
            if c < 2:
                other = np.full(3, int(r.integers(1, 9)))
                rows, cols = (other, along) if c == 0 else (along, other)
            else:
                rows = along + int(r.integers(1 - along[0], 9 - along[-1]))
                cols = along if r.random() < 0.5 else 9 - along
            for py, px in zip(rows, cols):
                imgs[i, py - 1:py + 2, px] = imgs[i, py, px - 1:px + 2] = r.uniform(0.8, 1.3)
            continue
        if family == "aspect_cnn":    # one filled ellipse: wide (about 2:1), tall (1:2) or round, of random size, place and brightness
            major = r.uniform(2.4, 4.0)
            semi = [(major / r.uniform(1.8, 2.4), major), (major, major / r.uniform(1.8, 2.4))][c] if c < 2 else \
                (r.uniform(1.6, 3.0),) * 2
            cy, cx = r.uniform(3, 6, 2)
            imgs[i] = ((yy - cy) / semi[0]) ** 2 + ((xx - cx) / semi[1]) ** 2 <= 1
            imgs[i] *= r.uniform(0.7, 1.3)
            continue
        if family == "blur_cnn":      # two or three bright rectangles (2-5 a side) at random places: sharp, softly or heavily blurred
            for _ in range(int(r.integers(2, 4))):
                hgt, wid = r.integers(2, 6, 2)
                a, b = r.integers(0, 11 - hgt), r.integers(0, 11 - wid)
                imgs[i, a:a + hgt, b:b + wid] = 1
            sigma = [0.0, 1.0, 2.0][c] * r.uniform(0.85, 1.15)
            if sigma:
                k = np.exp(-0.5 * (np.arange(-9, 10) / sigma) ** 2)
                blur = np.exp(-0.5 * ((yy[:, :1] - xx[:1, :]) / sigma) ** 2) / k.sum()   # zero padding at the border
                imgs[i] = blur @ imgs[i] @ blur.T
            imgs[i] *= r.uniform(1.0, 1.6)
            continue
        if family == "scale_cnn":     # one filled square or disc, small (2-3 across), medium (4-5) or large (6-7), of random brightness
            s = int(r.integers(2 + 2 * c, 4 + 2 * c))
            a, b = r.integers(0, 11 - s, 2)
            if r.random() < 0.5:
                imgs[i, a:a + s, b:b + s] = 1
            else:
                imgs[i] = np.hypot(yy - a - (s - 1) / 2, xx - b - (s - 1) / 2) <= s / 2
            imgs[i] *= r.uniform(0.5, 1.3)
            continue
        if family == "arrow_cnn":     # an arrow (head 5 or 7 wide, shaft 2-4 long) pointing up, right, down or left, at a random place
            hh = int(r.integers(3, 5))
            shaft = int(r.integers(2, 5))
            g = np.zeros((hh + shaft, 2 * hh - 1), np.float32)
            for k in range(hh):
                g[k, hh - 1 - k:hh + k] = 1
            g[hh:, hh - 1] = 1
            g = np.rot90(g, -int(c))
            a, b = r.integers(0, 11 - g.shape[0]), r.integers(0, 11 - g.shape[1])
            imgs[i, a:a + g.shape[0], b:b + g.shape[1]] = g
            continue
        if family == "texture_cnn":   # checkerboard, stripes at a random angle, or smooth blobs, at random scale and phase
            period = r.uniform(2.5, 5.0)
            ph = r.uniform(0, 2 * np.pi, 2)
            if c == 0:
                imgs[i] = np.sign(np.sin(2 * np.pi * xx / period + ph[0]) * np.sin(2 * np.pi * yy / period + ph[1]))
            elif c == 1:
                ang = r.uniform(0, np.pi)
                imgs[i] = np.sign(np.sin(2 * np.pi * (xx * np.cos(ang) + yy * np.sin(ang)) / period + ph[0]))
            else:
                imgs[i] = np.sin(xx / period + ph[0]) * np.cos(yy / period + ph[1])
            imgs[i] *= 0.6
            continue
        if family == "gap_cnn":       # a square outline 5-8 pixels wide with a 2-pixel gap in its top, right, bottom or left side
            s = int(r.integers(5, 9))
            a, b = r.integers(0, 11 - s, 2)
            box = np.zeros((s, s), np.float32)
            box[0, :], box[-1, :], box[:, 0], box[:, -1] = 1, 1, 1, 1
            g = int(r.integers(1, s - 2))
            if c == 0:
                box[0, g:g + 2] = 0
            elif c == 1:
                box[g:g + 2, -1] = 0
            elif c == 2:
                box[-1, g:g + 2] = 0
            else:
                box[g:g + 2, 0] = 0
            imgs[i, a:a + s, b:b + s] = box
            continue
        if family == "corner_cnn":    # which quadrant holds the bright 3x3 blob, among two dim distractors
            for _ in range(2):
                a, b = r.integers(0, 8, 2)
                imgs[i, a:a + 3, b:b + 3] += 0.45
            a, b = 5 * (c // 2) + int(r.integers(0, 3)), 5 * (c % 2) + int(r.integers(0, 3))
            imgs[i, a:a + 3, b:b + 3] += 1.0
            continue
        if family == "glyphs_cnn":    # the letters L, T, X, O and Z, 5 or 6 pixels tall, at random places
            s = int(r.integers(5, 7))
            g = np.zeros((s, s), np.float32)
            if c == 0:
                g[:, 0], g[-1, :] = 1, 1
            elif c == 1:
                g[0, :], g[:, s // 2] = 1, 1
            elif c == 2:
                g[np.arange(s), np.arange(s)], g[np.arange(s), s - 1 - np.arange(s)] = 1, 1
            elif c == 3:
                g[0, :], g[-1, :], g[:, 0], g[:, -1] = 1, 1, 1, 1
            else:
                g[0, :], g[-1, :], g[np.arange(s), s - 1 - np.arange(s)] = 1, 1, 1
            a, b = r.integers(0, 11 - s, 2)
            imgs[i, a:a + s, b:b + s] = g
            continue
        if family == "count_cnn":     # one, two or three bright 2x2 dots at random places
            for _ in range(c + 1):
                a, b = r.integers(0, 9, 2)
                imgs[i, a:a + 2, b:b + 2] = 1
            continue
        cy, cx = r.uniform(3, 7, 2)
        if family == "bars_cnn":
            ang = c * np.pi / 4 + r.normal(0, 0.15)
            dist = np.abs((xx - cx) * np.sin(ang) - (yy - cy) * np.cos(ang))
            imgs[i] = (dist < 0.8) * ((xx - cx) ** 2 + (yy - cy) ** 2 < r.uniform(9, 20))
        else:
            rad = np.hypot(xx - cx, yy - cy)
            size = r.uniform(2.0, 3.5)
            imgs[i] = [(np.abs(rad - size) < 0.7), rad < size, rad < 1.0, np.zeros_like(rad, bool)][c]
    imgs += 0.45 * r.standard_normal(imgs.shape).astype(np.float32)
    return Data(imgs.reshape(n, -1), cls.astype(np.int64), True, int(cls.max()) + 1, (1, 10, 10))


def _signals(family: str, r: np.random.Generator, n: int) -> Data:
    """40-step noisy signals: one or two pulses or a step (``pulses_conv1d``); spike / ramp / burst (``events_conv1d``)."""
    t = np.arange(40)
    cls = r.integers(0, 3, n)
    sig = np.zeros((n, 40), np.float32)
    for i, c in enumerate(cls):
        a = int(r.integers(4, 30))
        h = r.uniform(0.8, 1.6)
        if family == "edges_conv1d":   # a square wave (period 10-16, random phase) with sharp edges, linear ramps (6-8 steps) or RC-like (time constant 2.5-3.5) edges
            sq = np.sign(np.sin(2 * np.pi * (np.arange(-12, 40) / r.uniform(10, 16) + r.uniform(0, 1))))
            ker = [np.ones(1), np.ones(int(r.integers(6, 9))), np.exp(-np.arange(12) / r.uniform(2.5, 3.5))][c]
            sig[i] = 1.7 * h * np.convolve(sq, ker / ker.sum())[12:52] + r.uniform(-0.5, 0.5)
            continue
        if family == "polarity_conv1d":  # 3-5 narrow pulses (5-8 steps apart) on a random offset: all upward, all downward, or alternating in sign
            k = int(r.integers(3, 6))
            gaps = r.integers(5, 9, k - 1)
            at = int(r.integers(2, 38 - int(gaps.sum()))) + np.r_[0, np.cumsum(gaps)]
            sign = [np.ones(k), -np.ones(k), (-1.0) ** (np.arange(k) + int(r.integers(0, 2)))][c]
            bumps = np.exp(-0.5 * ((t[:, None] - at[None, :]) / 0.9) ** 2)
            sig[i] = 1.5 * h * (bumps * sign).sum(1) + r.uniform(-0.5, 0.5)
            continue
        if family == "duty_conv1d":    # a pulse train (period 8-13, random phase) high a quarter, half or 3/4 of each period, random offset
            ph = (t / r.uniform(8, 13) + r.uniform(0, 1)) % 1
            sig[i] = 1.8 * h * (ph < [0.25, 0.5, 0.75][c]) + r.uniform(-0.6, 0.6)
            continue
        if family == "rectify_conv1d":  # a sine (2-5 cycles) as it is, half-wave or full-wave rectified, on a random offset
            s = 1.4 * h * np.sin(2 * np.pi * (r.uniform(0.05, 0.125) * t + r.uniform(0, 1)))
            sig[i] = [s, np.maximum(s, 0), np.abs(s)][c] + r.uniform(-1.0, 1.0)
            continue
        if family == "change_conv1d":  # a change from a point 10-30 on: a level shift (up or down), a burst of extra noise, or a trend
            g0 = int(r.integers(10, 31))
            sgn = 1.0 if r.random() < 0.5 else -1.0
            after = t >= g0
            sig[i] = after * [sgn * 1.2 * h * np.ones(40), 1.1 * h * r.standard_normal(40),
                              sgn * 0.12 * h * (t - g0)][c]
            continue
        if family == "glitch_conv1d":  # a sine (2-4 cycles, random phase): intact, with a 6-9 step dropout to zero, or sign-flipped from a point on
            s = 1.4 * h * np.sin(2 * np.pi * (r.uniform(0.05, 0.1) * t + r.uniform(0, 1)))
            g0 = int(r.integers(8, 30))
            if c == 1:
                s[g0:g0 + int(r.integers(6, 10))] = 0
            elif c == 2:
                s[g0:] *= -1
            sig[i] = s
            continue
        if family == "skew_conv1d":    # one bump: a fast rise and slow fall, a slow rise and fast fall, or symmetric
            a = int(r.integers(8, 32))
            fast, slow, mid = r.uniform(0.8, 1.6), r.uniform(6.0, 9.0), r.uniform(2.8, 4.2)
            up, down = [(fast, slow), (slow, fast), (mid, mid)][c]
            sig[i] = 2.0 * h * np.exp(-0.5 * ((t - a) / np.where(t < a, up, down)) ** 2)
            continue
        if family == "sawtooth_conv1d":  # a sine, square or sawtooth wave at a random frequency (2-5 cycles) and phase
            ph = r.uniform(0.05, 0.125) * t + r.uniform(0, 1)
            sig[i] = h * [np.sin(2 * np.pi * ph), 0.8 * np.sign(np.sin(2 * np.pi * ph)), 1.6 * (ph % 1) - 0.8][c]
            continue
        if family == "decay_conv1d":   # a damped oscillation: slow, medium or fast decay, at a random frequency and onset
            rate = [0.02, 0.07, 0.18][c] * r.uniform(0.8, 1.25)
            on = int(r.integers(0, 10))
            tt = np.clip(t - on, 0, None)
            sig[i] = 1.6 * h * (t >= on) * np.exp(-rate * tt) * np.sin(2 * np.pi * r.uniform(0.08, 0.2) * tt
                                                                        + r.uniform(0, 2 * np.pi))
            continue
        if family == "ar_conv1d":      # which autoregressive process made it: x_t = phi x_(t-1) + e, phi 0.85, -0.6 or 0
            phi = [0.85, -0.6, 0.0][c]
            e = r.standard_normal(40) * np.sqrt(1 - phi ** 2)
            x = np.zeros(40)
            x[0] = r.standard_normal()
            for k in range(1, 40):
                x[k] = phi * x[k - 1] + e[k]
            sig[i] = 1.4 * x
            continue
        if family == "amfm_conv1d":    # a carrier alone, amplitude-modulated or frequency-modulated
            fc, fm = r.uniform(0.18, 0.26), r.uniform(0.02, 0.05)
            ph = r.uniform(0, 2 * np.pi, 2)
            env = 1 + 0.7 * np.sin(2 * np.pi * fm * t + ph[1]) if c == 1 else np.ones(40)
            inst = fc + (0.08 * np.sin(2 * np.pi * fm * t + ph[1]) if c == 2 else 0)
            sig[i] = h * env * np.sin(2 * np.pi * np.cumsum(inst) + ph[0])
            continue
        if family == "rhythm_conv1d":  # beats at a regular period, at jittered times, or with one dropped
            period = int(r.integers(6, 10))
            beats = np.arange(int(r.integers(0, period)), 40, period).astype(float)
            if c == 1:
                beats = beats + r.normal(0, 1.6, len(beats))
            elif c == 2 and len(beats) > 2:
                beats = np.delete(beats, int(r.integers(1, len(beats) - 1)))
            sig[i] = h * np.exp(-0.5 * ((t[:, None] - beats[None, :]) / 0.8) ** 2).sum(1)
        elif family == "chirp_conv1d":  # rising, falling or steady frequency
            f0 = r.uniform(0.08, 0.14)
            f = [f0 + 0.004 * t, f0 + 0.16 - 0.004 * t, np.full(40, f0 + 0.08)][c]
            sig[i] = h * np.sin(2 * np.pi * np.cumsum(f) + r.uniform(0, 2 * np.pi))
        elif family == "pulses_conv1d":
            sig[i] = h * [np.exp(-0.5 * ((t - a) / 1.5) ** 2),
                          np.exp(-0.5 * ((t - a) / 1.5) ** 2) + np.exp(-0.5 * ((t - a - 6) / 1.5) ** 2),
                          (t >= a).astype(float)][c]
        else:
            sig[i] = h * [(t == a).astype(float) * 2.5, np.clip((t - a) / 8.0, 0, 1),
                          np.sin(t * 1.4) * (np.abs(t - a) < 5)][c]
    sig += 0.7 * r.standard_normal(sig.shape).astype(np.float32)
    return Data(sig, cls.astype(np.int64), True, 3, (1, 40))


FIXED_SIZE = {"digits_mlp": 1797, "digits_cnn": 1797, "cancer_mlp": 569}
ARCH = {"digits_cnn": "cnn", "shapes_cnn": "cnn", "wave_conv1d": "conv1d", "bars_cnn": "cnn", "rings_cnn": "cnn",
        "pulses_conv1d": "conv1d", "events_conv1d": "conv1d", "glyphs_cnn": "cnn", "rhythm_conv1d": "conv1d",
        "corner_cnn": "cnn", "amfm_conv1d": "conv1d", "texture_cnn": "cnn", "ar_conv1d": "conv1d",
        "gap_cnn": "cnn", "decay_conv1d": "conv1d", "arrow_cnn": "cnn", "sawtooth_conv1d": "conv1d",
        "scale_cnn": "cnn", "skew_conv1d": "conv1d", "blur_cnn": "cnn", "glitch_conv1d": "conv1d",
        "aspect_cnn": "cnn", "change_conv1d": "conv1d", "align_cnn": "cnn", "rectify_conv1d": "conv1d",
        "dash_cnn": "cnn", "duty_conv1d": "conv1d", "shading_cnn": "cnn", "polarity_conv1d": "conv1d",
        "bend_cnn": "cnn", "edges_conv1d": "conv1d"}
#: (hypersphere_reg was left out when fresh3 was made: its "imbalanced" training sets keep mostly targets <= 1,
#: a shifted training set; kept so that fresh3 regenerates identically)
REGRESSION = ("friedman3_reg", "swissroll_reg", "friedman1_reg", "scurve_reg", "sparse_reg", "peaks_reg", "sinc_reg",
              "season_reg", "pendulum_reg", "cooling_reg", "damped_reg", "projectile_reg",
              "enzyme_reg", "annuity_reg", "dose_reg", "turbine_reg", "colony_reg")


# ----------------------------------------------------------------------------- recipes
@dataclass
class Spec:
    """One run: its family, intended condition and every knob needed to reproduce it."""

    name: str
    family: str
    condition: str
    variant: str
    seed: int
    n_train: int
    n_val: int
    width: int                       # hidden width (MLP) / channels (CNN)
    depth: int                       # hidden layers (0 = linear)
    epochs: int
    opt: str
    lr: float
    batch: int
    wd: float = 0.0
    bn: bool = False
    dropout: float = 0.0
    augment: float = 0.0             # strength of training-only augmentation (shift/noise), 0 = off
    sched: str = ""                  # "" | step | cosine | onecycle | plateau
    label_noise: float = 0.0         # training labels flipped (classification)
    val_resample: bool = False       # tiny validation set drawn afresh each epoch
    train_region: float = 1.0        # < 1: training drawn from this lower quantile of a feature (shift)
    train_imbalance: float = 0.0     # > 0: training keeps only this share of the classes but the first two
    val_easy: float = 0.0            # > 0: validation drawn from the easiest share (by a reference model)
    fmt: str = "keras_csv"
    first_epoch: int = 0
    accuracy: bool = True
    missing: float = 0.0             # share of epochs missing from the file
    use_fit: bool = False            # trained through gradwise.train.fit
    why: str = ""


def _loguniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


GOOD_LR = {"sgd": (0.03, 0.15), "sgdm": (0.005, 0.03), "adam": (5e-4, 3e-3), "adamw": (5e-4, 3e-3),
           "rmsprop": (2e-4, 1e-3)}
FORMATS = ("keras_csv", "keras_csv", "lightning_csv", "lightning_csv", "gradwise_csv", "gradwise_jsonl",
           "plain_csv", "plain_csv", "tensorboard", "keras_tensorboard")


def recipes(family: str, set_name: str, per_family_scale: float = 1.0) -> list[Spec]:
    """The family's runs: ``PER_CONDITION`` of each condition, knobs drawn from a family-and-set seed."""
    base = SET_SEEDS[set_name] + 1000 * ALL_FAMILIES.index(family)
    arch = ARCH.get(family, "mlp")
    fixed = FIXED_SIZE.get(family)
    big_n = min(1200, int(fixed * 0.55)) if fixed else 1200 if family in ARCH else 2000
    out: list[Spec] = []
    k = 0
    for cond, count in PER_CONDITION.items():
        for j in range(max(1, round(count * per_family_scale))):
            r = np.random.default_rng(base + 7 * k + 3)
            opt = str(r.choice(["sgd", "sgdm", "adam", "adamw", "rmsprop"], p=[0.1, 0.25, 0.35, 0.15, 0.15]))
            lr = _loguniform(r, *GOOD_LR[opt])
            sched = str(r.choice(["", "", "step", "cosine", "onecycle", "plateau"]))
            fmt = str(r.choice(FORMATS))
            kw: dict[str, Any] = dict(
                name=f"{family}_{cond.split('_')[0][:5]}{'_tr' if cond.endswith('train') else '_va' if cond.endswith('validation') else ''}_{j}",
                family=family, condition=cond, seed=base + 7 * k, opt=opt, lr=lr, sched=sched, fmt=fmt,
                first_epoch=0 if fmt in ("keras_csv", "lightning_csv", "keras_tensorboard") else
                int(r.integers(0, 2)) if fmt in ("plain_csv", "tensorboard") else 1,
                accuracy=bool(r.random() < 0.6), missing=float(r.choice([0, 0, 0, 0, 0.08, 0.15])),
                n_val=int(r.choice([300, 400, 500])) if not fixed else min(400, int(fixed * 0.25)),
                bn=bool(r.random() < 0.3), width=int(r.choice([32, 64, 128])) if arch == "mlp" else int(r.choice([8, 16])),
                depth=int(r.choice([1, 2])), batch=int(r.choice([16, 32, 64, 128])))
            if cond == "good_fit":
                kw.update(variant="right_size", n_train=big_n, epochs=int(r.choice([20, 30, 40, 60])),
                          wd=float(r.choice([0, 1e-4, 1e-3])), dropout=float(r.choice([0, 0, 0.1, 0.2])),
                          augment=float(r.choice([0, 0, 0.5])) if arch != "mlp" else 0.0,
                          batch=int(r.choice([16, 32, 64, 128, 256])))
                kw["why"] = f"right-sized {arch} on {big_n} samples, {opt} lr={lr:.2g}"
            elif cond == "overfit":
                n_small = int(r.choice([40, 60, 80, 120, 160])) if not fixed else int(r.choice([60, 90, 120, 160]))
                kw.update(variant="big_model_little_data", n_train=n_small, width=int(r.choice([256, 512])) if arch == "mlp"
                          else int(r.choice([24, 32])), depth=int(r.choice([2, 3])), bn=bool(r.random() < 0.2),
                          dropout=0.0, wd=0.0, epochs=int(r.choice([60, 100, 150, 200, 300] if arch == "mlp"
                                                                   else [50, 70, 90, 120])),
                          batch=int(r.choice([8, 16, 32])), sched=str(r.choice(["", "", "", "cosine", "step"])),
                          label_noise=float(r.choice([0.0, 0.1, 0.2, 0.3])) if family not in REGRESSION else 0.0)
                if kw["opt"] == "sgd":
                    kw["lr"] = _loguniform(r, 0.05, 0.2)
                kw["why"] = (f"big {arch} ({kw['width']}x{kw['depth']}) on {n_small} samples"
                             + (f", {kw['label_noise']:.0%} labels flipped" if kw["label_noise"] else "")
                             + f", {kw['epochs']} epochs, no regularisation")
            elif cond == "underfit":
                variant = ["capacity", "low_lr", "few_epochs", "high_lr", "capacity", "few_epochs", "low_lr"][j % 7]
                kw.update(variant=variant, n_train=big_n, sched="" if variant != "few_epochs" else kw["sched"])
                if variant == "capacity":
                    kw.update(width=1 if arch == "mlp" else 1, depth=int(r.choice([0, 1])) if arch == "mlp" else 1,
                              epochs=int(r.choice([20, 40, 60])), bn=False)
                    kw["why"] = "no capacity: " + ("a linear model" if kw["depth"] == 0 else "1 hidden unit/channel")
                elif variant == "low_lr":
                    low = {"sgd": 1e-4, "sgdm": 1e-5, "adam": 3e-6, "adamw": 3e-6, "rmsprop": 2e-6}[opt]
                    kw.update(lr=low * float(r.uniform(0.5, 2)), epochs=int(r.choice([15, 25, 40])), bn=False)
                    kw["why"] = f"{opt} with lr={kw['lr']:.2g}: far too small"
                elif variant == "few_epochs":
                    kw.update(epochs=int(r.choice([5, 6, 8, 10, 12])), lr=kw["lr"] * 0.3, batch=int(r.choice([64, 128, 256, 512])),
                              bn=False, sched=str(r.choice(["", "", "step", "plateau"])))
                    kw["why"] = f"stopped after {kw['epochs']} epochs while still learning ({opt}, lr={kw['lr']:.2g})"
                else:
                    opt = "sgd"
                    kw.update(opt=opt, lr=float(r.uniform(2, 6)), epochs=int(r.choice([20, 30])), bn=False,
                              batch=int(r.choice([16, 32])), sched="")
                    kw["why"] = f"plain SGD with lr={kw['lr']:.2g}: bounces at a high loss"
            elif cond == "unrepresentative_train":
                variant = ["tiny_train", "narrow_train", "imbalanced_train", "tiny_train", "narrow_train"][j % 5]
                if variant == "imbalanced_train" and family in REGRESSION:
                    variant = "narrow_train"
                kw.update(variant=variant, n_val=max(kw["n_val"], 400) if not fixed else kw["n_val"], dropout=0.0,
                          wd=float(r.choice([3e-2, 1e-1])), opt=str(r.choice(["adamw", "adam"])), sched="",
                          epochs=int(r.choice([30, 40, 60])))
                kw["lr"] = _loguniform(r, 1e-3, 3e-3)
                if kw["opt"] == "adam":
                    kw["wd"] = kw["wd"] / 10
                if variant == "tiny_train":
                    kw.update(n_train=int(r.choice([16, 24, 32, 48])), batch=int(r.choice([8, 16])), opt="adamw",
                              wd=float(r.choice([0.1, 0.3])), dropout=0.2, epochs=int(r.choice([25, 40])))
                    kw["why"] = f"only {kw['n_train']} training samples (weight decay {kw['wd']:.2g}) against {kw['n_val']}"
                elif variant == "narrow_train":
                    kw.update(n_train=int(big_n * 0.6), train_region=float(r.choice([0.25, 0.35])))
                    kw["why"] = f"training drawn from the lowest {kw['train_region']:.0%} of one input direction only"
                else:
                    kw.update(n_train=int(big_n * 0.6), train_imbalance=float(r.choice([0.02, 0.05])))
                    kw["why"] = (f"training keeps only {kw['train_imbalance']:.0%} of the examples of all classes "
                                 "but the first two; validation is balanced as the data")
            else:   # unrepresentative_validation
                variant = ["tiny_val", "tiny_val_resampled", "easy_val", "train_label_noise", "heavy_train_noise"][j % 5]
                kw.update(variant=variant, n_train=big_n, epochs=int(r.choice([20, 30, 50])), dropout=0.0)
                if variant.startswith("tiny_val"):
                    kw.update(n_val=int(r.choice([5, 8, 12, 16])), val_resample=variant.endswith("resampled"))
                    kw["why"] = f"validation loss on {kw['n_val']} samples" + (" drawn afresh each epoch" if kw["val_resample"] else "")
                elif variant == "easy_val":
                    kw.update(val_easy=float(r.choice([0.2, 0.3])))
                    kw["why"] = f"validation drawn from the easiest {kw['val_easy']:.0%} of the data"
                elif variant == "train_label_noise" and family not in REGRESSION:
                    kw.update(label_noise=float(r.choice([0.3, 0.4])), width=max(kw["width"], 32), wd=1e-3)
                    kw["why"] = f"{kw['label_noise']:.0%} of the training labels flipped (validation clean)"
                else:
                    if arch == "mlp":
                        kw.update(variant="heavy_train_noise", dropout=0.6, width=max(kw["width"], 64), augment=0.6)
                    else:
                        kw.update(variant="heavy_train_noise", dropout=0.5, augment=1.0)
                    kw["why"] = "heavy training-only dropout and input noise (the validation pass has neither)"
            kw["batch"] = min(kw["batch"], kw["n_train"])
            if kw["fmt"] in ("gradwise_csv", "gradwise_jsonl") and not (kw.get("val_resample") or kw.get("augment")
                                                                     or kw["sched"] in ("onecycle", "plateau")):
                kw["use_fit"] = bool(r.random() < 0.7)
            out.append(Spec(**kw))
            k += 1
    return out


# ----------------------------------------------------------------------------- models
def build_model(s: Spec, d: Data):
    from torch import nn

    act = nn.ReLU
    layers: list[Any] = []
    arch = ARCH.get(s.family, "mlp")
    if arch in ("cnn", "conv1d"):
        conv, bn, pool = ((nn.Conv2d, nn.BatchNorm2d, nn.MaxPool2d) if arch == "cnn" else
                          (nn.Conv1d, nn.BatchNorm1d, nn.MaxPool1d))
        c = s.width
        layers += [nn.Unflatten(1, d.shape), conv(d.shape[0], c, 3, padding=1)]
        layers += ([bn(c)] if s.bn else []) + [act(), pool(2)]
        if s.depth >= 2 or c > 1:
            layers += [conv(c, 2 * c, 3, padding=1)] + ([bn(2 * c)] if s.bn else []) + [act(), pool(2)]
            c *= 2
        layers.append(nn.Flatten())
        pools = len([m for m in layers if isinstance(m, pool)])
        size = int(np.prod([dim // 2 ** pools for dim in d.shape[1:]]))
        width = c * size
        hidden = [] if s.width == 1 else [64 if s.condition != "overfit" else 256] * max(1, s.depth - 1)
    else:
        width = int(np.prod(d.shape))
        hidden = [s.width] * s.depth
    for h in hidden:
        layers.append(nn.Linear(width, h))
        if s.bn:
            layers.append(nn.BatchNorm1d(h))
        layers.append(act())
        if s.dropout:
            layers.append(nn.Dropout(s.dropout))
        width = h
    layers.append(nn.Linear(width, d.n_classes if d.classification else 1))
    return nn.Sequential(*layers)


def make_optimizer(s: Spec, model):
    import torch

    p = model.parameters()
    return {"sgd": lambda: torch.optim.SGD(p, lr=s.lr, weight_decay=s.wd),
            "sgdm": lambda: torch.optim.SGD(p, lr=s.lr, momentum=0.9, nesterov=bool(s.seed % 2), weight_decay=s.wd),
            "adam": lambda: torch.optim.Adam(p, lr=s.lr, weight_decay=s.wd),
            "adamw": lambda: torch.optim.AdamW(p, lr=s.lr, weight_decay=s.wd or 1e-2),
            "rmsprop": lambda: torch.optim.RMSprop(p, lr=s.lr, weight_decay=s.wd)}[s.opt]()


def make_scheduler(s: Spec, opt, steps_per_epoch: int):
    """(scheduler, when): when is "epoch", "step" or "plateau" (step with the validation loss)."""
    import torch

    sch = torch.optim.lr_scheduler
    if s.sched == "step":
        return sch.StepLR(opt, step_size=max(1, s.epochs // 3), gamma=0.3), "epoch"
    if s.sched == "cosine":
        return sch.CosineAnnealingLR(opt, T_max=s.epochs), "epoch"
    if s.sched == "onecycle":
        return sch.OneCycleLR(opt, max_lr=s.lr * 3, total_steps=s.epochs * steps_per_epoch), "step"
    if s.sched == "plateau":
        return sch.ReduceLROnPlateau(opt, factor=0.3, patience=4), "plateau"
    return None, ""


# ----------------------------------------------------------------------------- splits
def splits(s: Spec) -> tuple[Data, dict[str, np.ndarray]]:
    """Draw the data and the train / val / test indices the recipe asks for."""
    rng = np.random.default_rng(s.seed)
    fixed = FIXED_SIZE.get(s.family)
    pool_n = fixed or (max(s.n_train, 1) * (8 if s.train_region < 1 or s.train_imbalance else 1)
                       + max(s.n_val, 1) * (6 if s.val_easy else 1) + 4000 + (3000 if s.val_resample else 0))
    d = world(s.family, rng, pool_n)
    n = len(d.x)
    idx = np.arange(n)
    # the test set (true curve) first: a representative share of the data
    cap = 1500 if s.family in ARCH else 4000      # convolutional families: a smaller test set keeps runs short
    n_test = min(cap, n - s.n_train - (s.n_val if not s.val_resample else 0)) if not fixed else \
        max(250, n - s.n_train - s.n_val * (6 if s.val_easy else 1))
    if fixed and s.train_region < 1 or fixed and s.train_imbalance:
        n_test = min(n_test, n // 3)
    test, rest = idx[:n_test], idx[n_test:]
    if s.val_resample:
        val = rest[:min(3000, len(rest) // 3)]
        rest = rest[len(val):]
    elif s.val_easy:
        cand = rest[:min(len(rest) - s.n_train, s.n_val * 5)]
        score = _easiness(d, cand)
        val = cand[np.argsort(score)[: max(s.n_val // 2, int(len(cand) * s.val_easy))]][: s.n_val]
        rest = np.setdiff1d(rest, cand)
    else:
        val, rest = rest[: s.n_val], rest[s.n_val:]
    if s.train_region < 1:
        feat = d.x[rest][:, 0] if d.x.shape[1] < 64 else d.x[rest].reshape(len(rest), -1)[:, :32].mean(1)
        cut = np.quantile(feat, s.train_region)
        rest = rest[feat <= cut]
    if s.train_imbalance:
        keep = (d.y[rest].ravel() <= 1) | (rng.random(len(rest)) < s.train_imbalance)
        rest = rest[keep]
    train = rest[: s.n_train]
    return d, {"train": train, "val": val, "test": test}


def _easiness(d: Data, idx: np.ndarray) -> np.ndarray:
    """How typical each sample is: distance to its class mean (classification) or to the target's mean
    in a nearest-neighbour sense (regression) - small = easy."""
    x = d.x[idx].reshape(len(idx), -1)
    if d.classification:
        y = d.y[idx]
        out = np.zeros(len(idx))
        for c in np.unique(y):
            m = x[y == c].mean(0)
            others = [x[y == o].mean(0) for o in np.unique(y) if o != c]
            own = np.linalg.norm(x[y == c] - m, axis=1)
            other = np.min([np.linalg.norm(x[y == c] - o, axis=1) for o in others], axis=0) if others else 1.0
            out[y == c] = own / (other + 1e-9)
        return out
    return np.abs(d.y[idx].ravel() - np.median(d.y[idx]))


# ----------------------------------------------------------------------------- training
def train(s: Spec) -> dict[str, Any]:
    import torch

    torch.set_num_threads(1)
    torch.manual_seed(s.seed)
    rng = np.random.default_rng(s.seed + 1)
    d, ix = splits(s)
    tx = {k: torch.from_numpy(d.x[v]) for k, v in ix.items()}
    ty = {k: torch.from_numpy(d.y[v]) for k, v in ix.items()}
    if s.label_noise and d.classification:
        y = ty["train"].clone()
        flip = torch.from_numpy(rng.random(len(y)) < s.label_noise)
        y[flip] = torch.from_numpy(rng.integers(0, d.n_classes, int(flip.sum())))
        ty["train"] = y
    model = build_model(s, d)
    loss_fn = torch.nn.CrossEntropyLoss() if d.classification else torch.nn.MSELoss()
    if s.use_fit:
        h = _train_with_fit(s, d, model, tx, ty, loss_fn)
        if len(h["loss"]) == s.epochs:
            return h
        # fit stops a diverging run at its first non-finite loss (possibly before any epoch is recorded): such a
        # run is trained by the hand-written loop instead, which records the divergence as a loss of 1000
        return dict(train(replace(s, use_fit=False)), fell_back_from_fit=True)
    opt = make_optimizer(s, model)
    n = len(tx["train"])
    steps = math.ceil(n / s.batch)
    sched, when = make_scheduler(s, opt, steps)

    def evaluate(x, y):
        model.eval()
        with torch.no_grad():
            out = model(x)
            loss = float(loss_fn(out, y))
            acc = float((out.argmax(1) == y).float().mean()) if d.classification else None
        model.train()
        return loss, acc

    h: dict[str, list] = {k: [] for k in ("loss", "val_loss", "accuracy", "val_accuracy", "lr", "true_loss",
                                          "step_losses")}
    for _ in range(s.epochs):
        model.train()
        perm = torch.from_numpy(rng.permutation(n))
        total, correct, step_losses = 0.0, 0, []
        for i in range(0, n, s.batch):
            b = perm[i: i + s.batch]
            if len(b) < 2 and s.bn:
                continue
            xb, yb = tx["train"][b], ty["train"][b]
            if s.augment:
                xb = _augment(xb, d, s.augment)
            out = model(xb)
            loss = loss_fn(out, yb)
            if not torch.isfinite(loss):
                loss = torch.nan_to_num(loss, nan=1e3, posinf=1e3)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0 if s.variant == "high_lr" else 1e3)
            opt.step()
            if when == "step":
                sched.step()
            total += loss.item() * len(b)
            step_losses.append(loss.item())
            if d.classification:
                correct += int((out.argmax(1) == yb).sum())
        xv, yv = tx["val"], ty["val"]
        if s.val_resample:
            pick = torch.from_numpy(rng.choice(len(xv), s.n_val, replace=False))
            xv, yv = xv[pick], yv[pick]
        vl, va = evaluate(xv, yv)
        tl, _ = evaluate(tx["test"], ty["test"])
        h["loss"].append(_finite(total / n))
        h["accuracy"].append(correct / n if d.classification else None)
        h["val_loss"].append(_finite(vl))
        h["val_accuracy"].append(va)
        h["lr"].append(opt.param_groups[0]["lr"])
        h["true_loss"].append(_finite(tl))
        h["step_losses"].append(step_losses)
        if when == "epoch":
            sched.step()
        elif when == "plateau":
            sched.step(vl)
    h["classification"] = d.classification
    h["sizes"] = {k: int(len(v)) for k, v in ix.items()}
    return h


def _finite(v: float) -> float:
    """A diverged value as 1000 (the run is then left unverified: see :func:`verify`)."""
    return float(v) if math.isfinite(v) and v < 1e3 else 1e3


def _augment(xb, d: Data, strength: float):
    """Training-only augmentation: a random shift of images/signals by up to 1 (or 2) steps, plus input noise."""
    import torch

    if len(d.shape) > 1:
        x = xb.reshape(len(xb), *d.shape)
        shift = int(round(strength * 2))
        if shift:
            dims = tuple(range(2, x.dim()))
            sh = tuple(int(v) for v in torch.randint(-shift, shift + 1, (len(dims),)))
            x = torch.roll(x, shifts=sh, dims=dims)
        xb = x.reshape(len(xb), -1)
    return xb + 0.3 * strength * torch.randn_like(xb)


def _train_with_fit(s: Spec, d: Data, model, tx, ty, loss_fn) -> dict[str, Any]:
    """The same run through ``gradwise.train.fit`` (its own history records), the true loss from a callback."""
    import torch

    from gradwise.train import fit
    from gradwise.train.callbacks import Callback

    true: list[float] = []

    class TrueLoss(Callback):
        def on_epoch_end(self, trainer, epoch, logs):   # noqa: ANN001
            m = trainer.model
            m.eval()
            with torch.no_grad():
                true.append(float(loss_fn(m(tx["test"]), ty["test"])))
            m.train()

    sched = None
    if s.sched == "step":
        sched = lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=max(1, s.epochs // 3), gamma=0.3)  # noqa: E731
    elif s.sched == "cosine":
        sched = lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=s.epochs)  # noqa: E731
    name = {"sgd": "sgd", "sgdm": "sgd", "adam": "adam", "adamw": "adamw", "rmsprop": "rmsprop"}[s.opt]
    opt_kw: dict[str, Any] = {"lr": s.lr, "weight_decay": s.wd if s.opt != "adamw" else (s.wd or 1e-2)}
    if s.opt == "sgdm":
        opt_kw["momentum"] = 0.9
    hist = fit(model, (tx["train"], ty["train"]), (tx["val"], ty["val"]),
               loss="cross_entropy" if d.classification else "mse", optimizer=(name, opt_kw), epochs=s.epochs,
               batch_size=s.batch, seed=s.seed % 2**31, babysit=False, progress=False, scheduler=sched,
               callbacks=[TrueLoss()], metrics=None if d.classification else ())
    recs = hist.records
    return {"loss": [r["loss"] for r in recs], "val_loss": [r["val_loss"] for r in recs],
            "accuracy": [r.get("accuracy") for r in recs], "val_accuracy": [r.get("val_accuracy") for r in recs],
            "lr": [r.get("lr") for r in recs], "true_loss": true, "step_losses": [[] for _ in recs],
            "classification": d.classification, "records": recs,
            "sizes": {k: int(len(v)) for k, v in tx.items()}}


# ----------------------------------------------------------------------------- verification
def true_rise(t: np.ndarray) -> float:
    """How far the true loss ends above its best: mean of the last tenth (>= 3 epochs) / min of the 3-epoch mean - 1."""
    end = float(np.mean(t[-max(3, len(t) // 10):]))
    return end / float(mean3(t).min()) - 1


def best_epoch_range(t: np.ndarray, first: int) -> list[int]:
    """File-numbered epochs where the 3-epoch-mean true loss is within min(25 % of the later rise, 5 %) of its minimum."""
    m = mean3(t)
    i = int(np.argmin(m))
    ok = np.flatnonzero(m <= m[i] + min(0.25 * float(m[i:].max() - m[i]), 0.05 * m[i]))
    return [int(ok[0]) + first, int(ok[-1]) + first]


def stats(h: dict[str, Any]) -> dict[str, float]:
    """Statistics of the recorded and hidden curves used to verify the label."""
    t = np.asarray(h["true_loss"], float)
    tr = np.asarray(h["loss"], float)
    v = np.asarray(h["val_loss"], float)
    n = len(t)
    q = max(2, n // 4)
    skip = max(1, n // 10)
    tm = mean3(t)
    t_end = float(np.mean(t[-max(2, n // 10):]))
    tr_end = float(np.mean(tr[-max(2, n // 10):]))

    def jitter(x: np.ndarray) -> float:
        """RMS of the second half of the curve around its 5-epoch running median, / its median level."""
        half = x[n // 2:]
        if len(half) < 3:
            return 0.0
        med = np.array([np.median(half[max(0, i - 2): i + 3]) for i in range(len(half))])
        return float(np.sqrt(np.mean((half - med) ** 2)) / max(float(np.median(half)), 1e-9))
    return {
        "true_rise": round(true_rise(t), 4),
        "true_min": float(tm.min()), "true_end": t_end, "train_end": tr_end, "true_start": float(t[0]),
        "true_tail_fall": round(float(tm[-q] - tm[-1]) / max(float(tm[-1]), 1e-9), 4),
        "true_tail_share": round(float(tm[-q] - tm[-1]) / max(float(tm[0] - tm[-1]), 1e-9), 4),
        "diverged": bool(np.max(np.r_[t, tr, v]) >= 1e3),
        "gap_true_train": round((t_end - tr_end) / max(t_end, 1e-9), 4),
        "val_dev": round(float(np.sqrt(np.mean((v - t)[skip:] ** 2)) / max(np.median(t[skip:]), 1e-9)), 4),
        "val_jitter": round(jitter(v), 4), "true_jitter": round(jitter(t), 4),
        "val_below_train": round(float(np.median(((tr - v) / np.maximum(tr, 1e-9))[skip:])), 4),
        "train_improvement": round(1 - tr_end / max(float(np.median(tr[:3])), 1e-9), 4),
    }


#: the true loss's gap above the training loss (as a share of the true loss) an unrepresentative training set
#: must leave (a good fit is not held to a gap: a right-sized model's cross-entropy often ends 1.5x the training
#: loss, and practitioners still call that a good fit)
GAP_LARGE = 0.3


def verify(cond: str, st: dict[str, float], ref: float) -> tuple[bool, str]:
    """Did the built-in cause show?  ``ref`` is the family's best true loss (lowest over its runs).

    ``progress`` is how far the true loss came from its first epoch towards ``ref`` (1 = all the way): a ratio
    to ``ref`` itself would call a good fit at cross-entropy 0.1 "10x the best" when the best is 0.01."""
    progress = (st["true_start"] - st["true_end"]) / max(st["true_start"] - ref, 1e-9)
    falling = st["true_tail_fall"] >= 0.05 and st["true_tail_share"] >= 0.03
    if st.get("diverged"):
        return False, "the run diverged (a loss of 1000 or more)"
    if cond == "overfit":
        ok = st["true_rise"] >= 0.05
        return ok, "" if ok else f"true loss ended only {st['true_rise']:.1%} above its best"
    if cond == "good_fit":
        problems = []
        if st["true_rise"] >= 0.10:
            problems.append(f"true loss rose {st['true_rise']:.0%} (overfitting)")
        if falling:
            problems.append(f"true loss still fell {st['true_tail_fall']:.0%} in the last quarter")
        if progress < 0.85:
            problems.append(f"true loss came only {progress:.0%} of the way to the family's best")
        if st["val_below_train"] >= 0.1:
            problems.append(f"validation loss lies {st['val_below_train']:.0%} below the training loss (the picture of an "
                            "unrepresentative validation set, not of a good fit's small gap)")
        return not problems, "; ".join(problems)
    if cond == "underfit":
        if st["true_rise"] >= 0.10:
            return False, f"true loss rose {st['true_rise']:.0%} (overfitting)"
        ok = progress < 0.8 or falling
        return ok, "" if ok else f"true loss came {progress:.0%} of the way to the family's best and levelled off"
    if cond == "unrepresentative_train":
        problems = []
        if st["true_rise"] >= 0.10:
            problems.append(f"true loss rose {st['true_rise']:.0%} (overfitting)")
        if st["gap_true_train"] < GAP_LARGE:
            problems.append(f"true loss only {st['gap_true_train']:.0%} above the training loss")
        if st["true_start"] - st["true_end"] < 0.1 * st["true_start"]:
            problems.append("true loss did not improve by 10 % (the training set taught nothing that carries over: "
                            "the picture is of no learning, not of a gap between two improving curves)")
        if progress > 0.9:
            problems.append(f"true loss came {progress:.0%} of the way to the family's best: training set informative enough")
        return not problems, "; ".join(problems)
    # unrepresentative validation: it must differ visibly from the true curve (noisy or easier)
    noisy = st["val_dev"] >= 0.1 and st["val_jitter"] >= 3 * st["true_jitter"] and st["val_jitter"] >= 0.05
    easier = st["val_below_train"] >= 0.1
    ok = noisy or easier
    return ok, "" if ok else (f"validation curve follows the true curve (deviation {st['val_dev']:.0%}, "
                              f"jitter {st['val_jitter']:.2f} vs {st['true_jitter']:.2f}) and is not below training")


# ----------------------------------------------------------------------------- writers
def _g(v: Any) -> str:
    return "" if v is None else f"{v:.5g}"


def write(s: Spec, h: dict[str, Any], out: Path) -> tuple[str, list[int]]:
    """Write the run's history in its format; returns (relative path, the epochs written, file-numbered)."""
    n = len(h["loss"])
    rng = np.random.default_rng(s.seed + 2)
    keep = np.ones(n, bool)
    if s.missing and n >= 12:
        drop = rng.choice(np.arange(2, n - 2), max(1, int(s.missing * n)), replace=False)
        keep[drop] = False
    epochs = [e for e in range(n) if keep[e]]
    first = s.first_epoch
    acc = s.accuracy and h["classification"]
    if s.fmt == "keras_csv":
        path = out / f"{s.name}.keras.csv"
        keys = sorted(["loss", "val_loss", "learning_rate"] + (["accuracy", "val_accuracy"] if acc else []))
        with path.open("w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["epoch", *keys])
            for e in epochs:
                w.writerow([e + first] + [_g(h["lr" if k == "learning_rate" else k][e]) for k in keys])
        return path.name, [e + first for e in epochs]
    if s.fmt == "lightning_csv":   # lightning.pytorch.loggers.CSVLogger: step rows, val rows, epoch rows
        path = out / s.name / "version_0" / "metrics.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        pad = "nan" if s.seed % 3 == 0 else ""
        keys = ["epoch", "step", "train_loss_epoch", "train_loss_step", "val_loss"] + (["val_acc", "train_acc_epoch"] if acc else [])
        every_val = 2 if s.missing else 1
        rows, step = [], 0
        written = []
        for e in range(n):
            for sl in h["step_losses"][e]:
                step += 1
                if step % 50 == 0:
                    rows.append({"epoch": e, "step": step - 1, "train_loss_step": _g(sl)})
            if e % every_val == every_val - 1 or e == n - 1:
                val = {"epoch": e, "step": step - 1, "val_loss": _g(h["val_loss"][e])}
                if acc:
                    val["val_acc"] = _g(h["val_accuracy"][e])
                rows.append(val)
                written.append(e)
            row = {"epoch": e, "step": step - 1, "train_loss_epoch": _g(h["loss"][e])}
            if acc:
                row["train_acc_epoch"] = _g(h["accuracy"][e])
            rows.append(row)
        cols = sorted(keys, key=lambda c: (c not in ("epoch", "step"), c))
        with path.open("w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=cols, restval=pad)
            w.writeheader()
            w.writerows(rows)
        return f"{s.name}/version_0/metrics.csv", written
    if s.fmt in ("gradwise_csv", "gradwise_jsonl"):
        from gradwise.train.history import History

        recs = h.get("records") or [
            {"epoch": e + 1, "loss": h["loss"][e], "val_loss": h["val_loss"][e], "lr": h["lr"][e],
             **({"accuracy": h["accuracy"][e], "val_accuracy": h["val_accuracy"][e]} if acc else {})}
            for e in range(n)]
        recs = [dict(r) for i, r in enumerate(recs) if keep[i]]
        for r in recs:
            for k in ("loss", "val_loss", "accuracy", "val_accuracy"):
                if isinstance(r.get(k), float):
                    r[k] = float(_g(r[k]))
            if not acc:
                r.pop("accuracy", None)
                r.pop("val_accuracy", None)
            if "seconds" in r:
                r["seconds"] = round(r["seconds"], 3)
        hist = History(recs)
        path = out / f"{s.name}.history.{'csv' if s.fmt == 'gradwise_csv' else 'jsonl'}"
        hist.to_csv(path) if s.fmt == "gradwise_csv" else hist.to_jsonl(path)
        return path.name, [e + 1 for e in epochs]
    if s.fmt == "plain_csv":
        spellings = [("train_loss", "val_loss"), ("loss", "valid_loss"), ("train_loss", "validation_loss"),
                     ("Loss/train", "Loss/val"), ("loss/train", "loss/val"), ("training_loss", "valid_loss"),
                     ("train_loss", "val_loss"), ("trn_loss", "val_loss")]
        tn, vn = spellings[s.seed % len(spellings)]
        path = out / f"{s.name}.csv"
        with path.open("w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["epoch", tn, vn] + (["val_acc"] if acc else []))
            for e in epochs:
                w.writerow([e + first, _g(h["loss"][e]), _g(h["val_loss"][e])] + ([_g(h["val_accuracy"][e])] if acc else []))
        return path.name, [e + first for e in epochs]
    if s.fmt == "tensorboard":     # torch.utils.tensorboard.SummaryWriter, add_scalar or add_scalars
        from torch.utils.tensorboard import SummaryWriter

        d = out / s.name
        w = SummaryWriter(str(d))
        for e in epochs:
            if s.seed % 2:
                w.add_scalar("Loss/train", h["loss"][e], e + first)
                w.add_scalar("Loss/val", h["val_loss"][e], e + first)
            else:
                w.add_scalars("loss", {"train": h["loss"][e], "val": h["val_loss"][e]}, e + first)
            if acc:
                w.add_scalar("Accuracy/val", h["val_accuracy"][e], e + first)
        w.close()
        return s.name, [e + first for e in epochs]
    if s.fmt == "keras_tensorboard":   # keras.callbacks.TensorBoard: train/ and validation/ runs, epoch_loss
        from tensorboard.compat.proto.event_pb2 import Event
        from tensorboard.compat.proto.summary_pb2 import Summary, SummaryMetadata
        from tensorboard.summary.writer.event_file_writer import EventFileWriter
        from tensorboard.util import tensor_util

        meta = SummaryMetadata(plugin_data=SummaryMetadata.PluginData(plugin_name="scalars"))
        for run, key in (("train", "loss"), ("validation", "val_loss")):
            w = EventFileWriter(str(out / s.name / run))
            for e in epochs:
                vals = [("epoch_loss", h[key][e])] + ([("epoch_accuracy", h["accuracy" if run == "train" else "val_accuracy"][e])] if acc else [])
                summ = Summary(value=[Summary.Value(tag=t, metadata=meta, tensor=tensor_util.make_tensor_proto(np.float32(v)))
                                      for t, v in vals])
                w.add_event(Event(wall_time=time.time(), step=e, summary=summ))
            w.close()
        return s.name, list(epochs)
    raise ValueError(s.fmt)


# ----------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--set", choices=sorted(SET_SEEDS), required=True)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--only", default=None, help="only this family")
    ap.add_argument("--per-family-scale", type=float, default=1.0)
    ap.add_argument("--names", default=None, help="comma-separated run names to (re)make")
    args = ap.parse_args(argv)
    out = args.out or HERE / args.set
    out.mkdir(parents=True, exist_ok=True)
    families = SET_FAMILIES[args.set]
    specs = [s for f in families if args.only in (None, f) for s in recipes(f, args.set, args.per_family_scale)]
    if args.names:
        specs = [s for s in specs if s.name in args.names.split(",")]
    progress = out / "progress.jsonl"     # one line per finished run, so an interrupted generation resumes
    done = {}
    if progress.exists():
        for line in progress.read_text().splitlines():
            rec = json.loads(line)
            done[rec["name"]] = rec
    t0 = time.perf_counter()
    for s in specs:
        if s.name in done and not args.names:
            continue
        t1 = time.perf_counter()
        h = train(s)
        if h.get("fell_back_from_fit"):
            s = replace(s, use_fit=False)
        rel, written = write(s, h, out)
        rec = {"name": s.name, "file": rel, "family": s.family, "verdict": s.condition, "variant": s.variant,
               "why": s.why, "format": s.fmt, "first_epoch": s.first_epoch, "epochs_written": written,
               "true_loss": [float(f"{v:.4g}") for v in h["true_loss"]], "stats": stats(h), "sizes": h["sizes"],
               "spec": {k: v for k, v in asdict(s).items() if k not in ("name", "why")},
               "seconds": round(time.perf_counter() - t1, 2)}
        with progress.open("a") as f:
            f.write(json.dumps(rec) + "\n")
        done[s.name] = rec
        print(f"{s.name:34s} {s.condition:28s} {s.variant:22s} {len(h['loss']):4d} ep {rec['seconds']:6.1f}s "
              f"rise {rec['stats']['true_rise']:+.2f} -> {rel}", flush=True)
    finish(out, [done[s.name] for s in specs if s.name in done])
    print(f"{len(specs)} runs, {time.perf_counter() - t0:.0f}s -> {out}")
    return 0


def finish(out: Path, recs: list[dict[str, Any]]) -> None:
    """Verify every run against its family's best true loss and write labels.json and true_loss.json."""
    ref: dict[str, float] = {}
    for r in recs:
        ref[r["family"]] = min(ref.get(r["family"], math.inf), r["stats"]["true_min"])
    labels, true = {}, {}
    for r in sorted(recs, key=lambda r: r["name"]):
        r["stats"].setdefault("true_start", float(r["true_loss"][0]))
        ok, why_not = verify(r["verdict"], r["stats"], ref[r["family"]])
        t = np.asarray(r["true_loss"])
        labels[r["name"]] = {
            "file": r["file"], "verdict": r["verdict"], "family": r["family"], "variant": r["variant"],
            "verified": ok, "not_verified_because": why_not or None,
            "best_epoch_range": best_epoch_range(t, r["first_epoch"]) if r["verdict"] == "overfit" else None,
            "true_best_epoch": int(np.argmin(mean3(t))) + r["first_epoch"],
            "true_rise": r["stats"]["true_rise"], "why": r["why"], "format": r["format"],
            "family_best_true_loss": round(ref[r["family"]], 5), "stats": r["stats"], "sizes": r["sizes"],
            "spec": r["spec"]}
        true[r["name"]] = {"first_epoch": r["first_epoch"], "true_loss": r["true_loss"]}
    (out / "labels.json").write_text("{\n" + ",\n".join(f"{json.dumps(k)}: {json.dumps(v)}" for k, v in labels.items())
                                     + "\n}\n")
    (out / "true_loss.json").write_text("{\n" + ",\n".join(
        f"{json.dumps(k)}: {json.dumps(v, separators=(',', ':'))}" for k, v in true.items()) + "\n}\n")


if __name__ == "__main__":
    sys.exit(main())
