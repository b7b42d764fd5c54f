"""Generate REAL training runs whose learning-curve cause is known, for testing `gradwise.diagnose`.

Every run below trains an actual PyTorch model (CPU) on real or synthetic data and records the
per-epoch training and validation losses the way training libraries log them (training loss =
mean of the mini-batch losses over the epoch, with dropout active; validation loss = eval mode at
the end of the epoch).  Each run is *built* to have one of the causes of the lecture's
"Training Graphs" part, and labelled with that cause:

* ``underfit``        - a model without the capacity for the task (linear or 1-2 hidden units on
                        spirals / a four-period sine wave), a learning rate far too small or far too
                        large, or a sound model stopped while its loss is still falling;
* ``overfit``         - a big MLP trained for many epochs on few noisy samples (digits with 15-20 %
                        training labels flipped, blobs/spirals with label noise, noisy Friedman #1);
* ``unrepresentative_train`` - a handful of training samples, or training inputs covering only part
                        of the input space, evaluated on a large, complete validation set, with weight
                        decay so that validation still improves rather than rising;
* ``unrepresentative_validation`` - a validation set of 6-16 samples (fixed, or a fresh small batch
                        each epoch as with Lightning's ``limit_val_batches``), or a validation set
                        easier than the training set (training-only label noise, input noise or heavy
                        dropout);
* ``good_fit``        - a properly sized model with enough data (1000-2000 samples).

Datasets: the embedded 8x8 digits and synthetic sets made with NumPy (noisy sine, four-period
"wave", two spirals, Gaussian blobs with label noise, Friedman #1 regression).  Models, optimisers
(Adam, AdamW, RMSprop, SGD with and without momentum), learning rates, seeds and epochs (15-200)
vary from run to run.

Every epoch each run is also evaluated on a large test set (3000 fresh samples; the unused digits
for the digits runs) that is not written to the history: the run's *true* generalisation curve.
For overfit runs the label's ``best_epoch_range`` comes from it (see :func:`_best_epoch_range`).
``labels.json`` records, per run, the file, the verdict, that range, the cause in words and the full
recipe.  The labels were checked by eye on a plot of all runs (``bench/diagnose_accuracy.py --plot``)
against the lecture's pictures; recipes whose curves did not show their cause were changed.

The histories are written in several of the formats ``gradwise.diagnose.read_history`` reads:
gradwise ``history.csv`` / ``history.jsonl`` (epochs from 1), Keras ``CSVLogger`` CSV (epochs from
0, alphabetical columns) and PyTorch Lightning ``CSVLogger`` ``metrics.csv`` (separate rows for
step, train-epoch and validation metrics, empty cells elsewhere).

Four sets are committed (see :data:`SETS`): ``curve_runs`` (the tuning set, seeds as written
below), ``curve_runs_heldout``, ``curve_runs_final`` and ``curve_runs_fresh`` (the same recipes with other seeds, plus the
extra variety of :func:`_variety_recipes`: a CNN, moons, checkerboard and linear-regression data,
tanh units, lr schedules, batch sizes 4 to full-batch).  Each holds ``labels.json`` and, for the
overfit runs, ``true_loss.json`` (the hidden true curve, to re-score stop epochs).
``--seed-offset N`` trains the recipes with yet other seeds.

Run:  python tests/data/make_curve_runs.py [--set tuning|heldout|final|fresh] [--out DIR] [--jobs 2]
      [--only NAME_SUBSTRING]
Takes about 4-5 minutes (tuning) or 6-8 minutes (heldout, final, fresh) on 2 CPU cores.
"""
from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import math
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
DIGITS = ROOT / "src" / "gradwise" / "data" / "datasets" / "digits.npz"


# ----------------------------------------------------------------------------- run recipes
@dataclass
class Spec:
    """One training run: the cause built in (``verdict``) and everything needed to reproduce it."""

    name: str
    verdict: str
    data: str                      # sine | wave | spirals | blobs | digits | friedman | moons | checker | linreg
    n_train: int
    n_val: int
    hidden: list[int]
    epochs: int
    opt: str = "adam"              # adam | adamw | rmsprop | sgd (momentum 0.9) | sgd0 (plain)
    lr: float = 1e-3
    wd: float = 0.0
    batch: int = 32
    dropout: float = 0.0
    act: str = "relu"
    seed: int = 0
    fmt: str = "gradwise_csv"      # gradwise_csv | gradwise_jsonl | keras_csv | lightning_csv
    noise: float | None = None     # target noise (regression) / class spread or label noise
    train_label_noise: float = 0.0  # extra label noise on the training set only
    train_input_noise: float = 0.0  # Gaussian noise added to training inputs each batch (not to val)
    train_covers: float = 1.0      # < 1: training inputs cover only this part of the domain (friedman)
    val_resample: bool = False     # draw a fresh small validation batch every epoch
    arch: str = "mlp"              # mlp | cnn (digits only: two 3x3 conv + max-pool blocks, then ``hidden``)
    sched: str = ""                # "" (constant lr) | cosine (to 0 over the run) | step (x0.1 at half-time)
    why: str = ""


def _recipes() -> list[Spec]:
    runs: list[Spec] = []
    add = runs.append
    fmts = ["gradwise_csv", "keras_csv", "lightning_csv", "gradwise_jsonl"]

    def fmt(i: int) -> str:
        return fmts[i % len(fmts)]

    # ---- overfit: big networks, few noisy samples, many epochs --------------------------------
    k = 0
    for seed, (data, n, h, opt, lr, ep, bs, noise, label_noise) in enumerate([
        ("digits", 120, [512, 512], "adam", 1e-3, 60, 16, None, 0.15),
        ("digits", 150, [256, 256], "adam", 2e-3, 50, 32, None, 0.15),
        ("digits", 100, [512], "sgd", 0.05, 120, 16, None, 0.15),
        ("digits", 200, [512, 256], "rmsprop", 3e-4, 80, 32, None, 0.15),
        ("digits", 80, [1024], "adam", 1e-3, 70, 16, None, 0.15),
        ("digits", 150, [256, 256], "sgd0", 0.05, 120, 16, None, 0.2),
        ("blobs", 80, [256, 256], "adam", 3e-3, 120, 16, 0.25, 0.0),
        ("blobs", 60, [512, 512], "adam", 1e-3, 150, 16, 0.3, 0.0),
        ("blobs", 100, [256, 256, 256], "rmsprop", 1e-3, 100, 16, 0.2, 0.0),
        ("blobs", 120, [256], "sgd", 0.01, 150, 16, 0.25, 0.0),
        ("blobs", 150, [256, 256], "adam", 3e-4, 100, 16, 0.25, 0.0),
        ("spirals", 60, [256, 256], "adam", 3e-3, 200, 16, 0.35, 0.0),
        ("spirals", 80, [512, 512], "adam", 2e-3, 150, 16, 0.35, 0.0),
        ("spirals", 150, [256, 256], "adam", 1e-3, 200, 16, 0.35, 0.0),
        ("friedman", 60, [512, 256], "adam", 1e-3, 120, 16, 0.5, 0.0),
        ("friedman", 40, [256, 256], "adam", 1e-3, 200, 4, 0.3, 0.0),
    ]):
        add(Spec(f"overfit_{data}_{k}", "overfit", data, n, 400, h, ep, opt, lr, batch=bs, seed=100 + seed,
                 noise=noise, train_label_noise=label_noise, fmt=fmt(k),
                 why=f"{h} MLP on {n} noisy {data} samples for {ep} epochs"))
        k += 1

    # ---- underfit ---------------------------------------------------------------------------------
    k = 0
    # (a) no capacity for the task: flat line at a high loss
    for seed, (data, h, opt, lr, ep) in enumerate([
        ("spirals", [], "adam", 1e-2, 60),
        ("spirals", [2], "adam", 1e-2, 80),
        ("wave", [1], "sgd", 0.05, 60),
        ("spirals", [], "sgd", 0.1, 40),
    ]):
        add(Spec(f"underfit_capacity_{k}", "underfit", data, 1000, 400, h, ep, opt, lr, batch=64, seed=500 + seed,
                 noise=0.2 if data == "spirals" else 0.1, fmt=fmt(k),
                 why=f"{'linear model' if not h else f'{h} hidden units'} on {data}: no capacity"))
        k += 1
    # (b) learning rate far too small: the loss barely moves
    for seed, (data, h, lr, ep) in enumerate([
        ("digits", [64], 1e-4, 40), ("blobs", [32], 1e-4, 60), ("sine", [64, 64], 1e-4, 30),
    ]):
        add(Spec(f"underfit_tinylr_{k}", "underfit", data, 1000, 400, h, ep, "sgd", lr, batch=64, seed=550 + seed,
                 noise=0.1 if data != "sine" else 0.2, fmt=fmt(k), why=f"SGD with lr={lr}: barely learns"))
        k += 1
    # (c) learning rate far too large: noisy values at a high loss
    for seed, (data, h, lr, ep) in enumerate([("digits", [128], 3.0, 30), ("spirals", [64, 64], 3.0, 40)]):
        add(Spec(f"underfit_hugelr_{k}", "underfit", data, 1000, 400, h, ep, "sgd0", lr, batch=32, seed=572 + seed,
                 noise=0.1, fmt=fmt(k), why=f"SGD with lr={lr}: bounces at a high loss"))
        k += 1
    # (d) stopped while still learning: a sound model, slow optimiser, too few epochs
    for seed, (data, h, opt, lr, ep, bs) in enumerate([
        ("digits", [64], "sgd", 2e-3, 25, 32),
        ("sine", [64, 64], "sgd", 1e-3, 30, 32),
        ("spirals", [64, 64], "adam", 1e-3, 40, 64),
        ("blobs", [32, 32], "sgd", 3e-4, 20, 32),
        ("friedman", [64, 64], "sgd", 2e-4, 20, 32),
        ("digits", [128, 64], "rmsprop", 1e-5, 30, 64),
        ("wave", [128, 128], "adam", 1e-3, 15, 64),
    ]):
        add(Spec(f"underfit_early_{k}", "underfit", data, 1000, 400, h, ep, opt, lr, batch=bs, seed=600 + seed,
                 noise={"sine": 0.2, "spirals": 0.15, "blobs": 0.05, "friedman": 0.3, "wave": 0.1}.get(data),
                 fmt=fmt(k), why=f"{h} MLP, {opt} lr={lr}, stopped after {ep} epochs while still improving"))
        k += 1

    # ---- unrepresentative training set ----------------------------------------------------------------
    k = 0
    for seed, (data, n, h, lr, wd, ep, noise) in enumerate([
        ("digits", 30, [64], 1e-3, 1e-2, 80, None),
        ("digits", 50, [32], 3e-3, 3e-2, 60, None),
        ("digits", 40, [128], 1e-3, 5e-2, 100, None),
        ("digits", 25, [256], 5e-4, 1e-1, 60, None),
        ("blobs", 24, [16], 1e-3, 1e-1, 60, 0.1),
        ("blobs", 32, [8], 3e-3, 1e-1, 40, 0.1),
        ("friedman", 30, [32], 3e-3, 3e-2, 100, 0.3),
        ("friedman", 20, [64], 1e-3, 1e-1, 120, 0.3),
        ("digits", 35, [64], 2e-3, 3e-2, 50, None),
        ("friedman", 25, [32, 32], 1e-3, 2e-1, 50, 0.3),
        ("digits", 45, [128], 1e-3, 5e-2, 60, None),
        ("friedman", 20, [64], 2e-3, 1e-1, 60, 0.3),
    ]):
        add(Spec(f"unrep_train_small_{k}", "unrepresentative_train", data, n, 800, h, ep, "adamw", lr, wd=wd,
                 batch=8, seed=700 + seed, noise=noise, fmt=fmt(k),
                 why=f"only {n} training samples (weight decay {wd}) against 800 validation samples"))
        k += 1
    for seed, (h, lr, wd, ep, covers) in enumerate([
        ([32, 32], 1e-3, 1e-1, 30, 0.4),
        ([16], 3e-3, 1e-1, 25, 0.4),
        ([32], 2e-3, 1e-1, 30, 0.5),
    ]):
        add(Spec(f"unrep_train_region_{k}", "unrepresentative_train", "friedman", 500, 800, h, ep, "adamw", lr, wd=wd,
                 batch=32, seed=750 + seed, noise=0.3, train_covers=covers, fmt=fmt(k + 1),
                 why=f"training inputs x0, x3 cover only the first {covers:.0%} of their range (validation: all)"))
        k += 1

    # ---- unrepresentative validation set ---------------------------------------------------------------
    k = 0
    # (a) tiny validation set: noisy validation curve
    for seed, (data, nv, h, opt, lr, ep, resample) in enumerate([
        ("digits", 12, [128], "sgd", 0.05, 40, True),
        ("blobs", 10, [32, 32], "adam", 3e-3, 60, True),
        ("sine", 8, [64, 64], "adam", 3e-3, 80, True),
        ("friedman", 10, [64, 64], "sgd", 0.01, 60, True),
        ("spirals", 12, [64, 64], "adam", 5e-3, 80, True),
        ("digits", 6, [64], "sgd", 0.05, 40, True),
        ("sine", 6, [64], "sgd", 0.01, 60, True),
        ("friedman", 8, [64], "sgd", 0.01, 50, False),
    ]):
        add(Spec(f"unrep_val_tiny_{k}", "unrepresentative_validation", data, 1000, nv, h, ep, opt, lr, batch=32,
                 seed=800 + seed, noise={"sine": 0.3, "friedman": 0.5, "spirals": 0.2, "blobs": 0.0}.get(data),
                 val_resample=resample, fmt=fmt(k),
                 why=f"validation loss measured on {nv} samples" + (" drawn afresh each epoch" if resample else "")))
        k += 1
    # (b) validation easier than training: training-only label noise, input noise or heavy dropout
    for seed, (data, h, lr, ep, label_noise, input_noise, drop) in enumerate([
        ("digits", [128], 1e-3, 40, 0.4, 0.0, 0.0),
        ("blobs", [32], 3e-3, 20, 0.35, 0.0, 0.0),
        ("digits", [256], 1e-3, 40, 0.0, 0.0, 0.85),
        ("sine", [128, 128], 3e-3, 60, 0.0, 0.0, 0.5),
        ("spirals", [128, 128], 3e-3, 80, 0.3, 0.0, 0.0),
        ("friedman", [128, 128], 3e-3, 60, 0.0, 0.0, 0.5),
        ("digits", [128], 1e-3, 30, 0.0, 0.5, 0.0),
    ]):
        add(Spec(f"unrep_val_easy_{k}", "unrepresentative_validation", data, 1000, 400, h, ep, "adam", lr, batch=32,
                 seed=850 + seed, noise={"sine": 0.2, "friedman": 0.3, "spirals": 0.15, "blobs": 0.05}.get(data),
                 train_label_noise=label_noise, train_input_noise=input_noise, dropout=drop, fmt=fmt(k + 2),
                 why="validation easier than training: "
                     + (f"{label_noise:.0%} label noise on training only" if label_noise else
                        f"input noise {input_noise} on training only" if input_noise else f"dropout {drop}")))
        k += 1

    # ---- good fit: right-sized model, enough data ---------------------------------------------------------
    k = 0
    for seed, (data, n, h, opt, lr, wd, ep, bs) in enumerate([
        ("digits", 1000, [64], "adam", 1e-3, 1e-3, 40, 32),
        ("digits", 1000, [128], "sgd", 0.05, 1e-3, 50, 32),
        ("sine", 1500, [64, 64], "adam", 3e-3, 0.0, 80, 64),
        ("sine", 2000, [32, 32], "rmsprop", 1e-3, 0.0, 60, 64),
        ("blobs", 1500, [32], "adam", 3e-3, 1e-4, 40, 64),
        ("blobs", 2000, [32], "sgd", 0.01, 1e-3, 30, 64),
        ("spirals", 2000, [64, 64], "adam", 3e-3, 0.0, 150, 64),
        ("spirals", 2000, [128, 128], "adamw", 2e-3, 1e-2, 120, 64),
        ("friedman", 2000, [64, 64], "adam", 2e-3, 0.0, 80, 64),
        ("friedman", 1500, [64], "rmsprop", 1e-3, 0.0, 100, 64),
        ("wave", 2000, [128, 128], "adam", 2e-3, 0.0, 120, 64),
        ("digits", 1000, [128, 64], "adamw", 1e-3, 5e-2, 30, 32),
        ("sine", 1500, [64, 64], "sgd", 0.05, 0.0, 150, 32),
        ("blobs", 1500, [32], "rmsprop", 1e-3, 1e-3, 25, 32),
        ("digits", 1000, [256], "adam", 5e-4, 1e-2, 25, 32),
        ("friedman", 2000, [128], "sgd", 0.01, 0.0, 60, 64),
    ]):
        add(Spec(f"good_fit_{k}", "good_fit", data, n, 500 if data != "digits" else 400, h, ep, opt, lr, wd=wd,
                 batch=bs, seed=900 + seed,
                 noise={"sine": 0.2, "friedman": 0.3, "spirals": 0.15, "blobs": 0.0, "wave": 0.1}.get(data),
                 fmt=fmt(k), why=f"{h} MLP with {n} training samples"))
        k += 1
    return runs


def _variety_recipes() -> list[Spec]:
    """Recipes added for the held-out and final sets only (never seen while the thresholds were set).

    They vary what the original recipes keep fixed: a small CNN on the digit images, three more
    datasets (two moons, a 4x4 checkerboard, a sparse 30-input linear regression), tanh units,
    learning-rate schedules (cosine, step decay), and batch sizes from 4 to the whole training set."""
    runs: list[Spec] = []
    add = runs.append
    fmts = ["keras_csv", "gradwise_csv", "lightning_csv", "gradwise_csv", "gradwise_jsonl"]

    def fmt(i: int) -> str:
        return fmts[i % len(fmts)]

    def spec(name: str, verdict: str, i: int, why: str, **kw: object) -> Spec:
        return Spec(name=f"{name}_{i}", verdict=verdict, seed=1000 + i, fmt=fmt(i), why=why,
                    **kw)  # type: ignore[arg-type]

    # ---- overfit --------------------------------------------------------------------------------------
    for i, (kw, why) in enumerate([
        (dict(data="digits", arch="cnn", n_train=60, hidden=[16, 128], epochs=150, opt="adam", lr=2e-3, batch=16,
              train_label_noise=0.2), "CNN on 60 digits, 20 % labels flipped"),
        (dict(data="digits", arch="cnn", n_train=150, hidden=[32, 256], epochs=100, opt="sgd", lr=0.03, batch=8,
              train_label_noise=0.15), "CNN on 150 digits, 15 % labels flipped, SGD batch 8"),
        (dict(data="moons", n_train=60, hidden=[256, 256], epochs=150, opt="adam", lr=3e-3, batch=16, noise=0.35,
              act="tanh"), "tanh MLP on 60 noisy moons"),
        (dict(data="checker", n_train=150, hidden=[512, 512], epochs=150, opt="adam", lr=1e-3, batch=8,
              noise=0.15), "big MLP on 150 checkerboard points, 15 % label noise"),
        (dict(data="linreg", n_train=40, hidden=[256, 256], epochs=150, opt="adam", lr=1e-3, batch=8, noise=1.0),
         "big MLP on 40 samples of a noisy 30-input linear regression"),
        (dict(data="linreg", n_train=60, hidden=[512], epochs=200, opt="sgd0", lr=0.01, batch=4, noise=1.0,
              act="tanh"), "tanh MLP, plain SGD batch 4, 60 linear-regression samples"),
        (dict(data="digits", n_train=120, hidden=[256], epochs=80, opt="rmsprop", lr=1e-3, batch=120, act="tanh",
              train_label_noise=0.2), "tanh MLP, full-batch RMSprop on 120 digits, 20 % labels flipped"),
        (dict(data="blobs", n_train=80, hidden=[256, 256], epochs=120, opt="adam", lr=3e-3, batch=16, noise=0.3,
              sched="cosine"), "MLP on 80 noisy blobs, cosine learning-rate schedule"),
        (dict(data="spirals", n_train=100, hidden=[256, 256], epochs=150, opt="adam", lr=3e-3, batch=16, noise=0.35,
              sched="step"), "MLP on 100 noisy spirals, lr x0.1 at half-time"),
        (dict(data="friedman", n_train=50, hidden=[256, 256], epochs=300, opt="adam", lr=3e-3, batch=50, noise=0.5),
         "full-batch Adam on 50 noisy Friedman samples"),
        (dict(data="digits", n_train=200, hidden=[512], epochs=100, opt="adamw", lr=3e-3, wd=1e-4, batch=64,
              train_label_noise=0.25), "MLP, AdamW batch 64 on 200 digits, 25 % labels flipped"),
        (dict(data="moons", n_train=80, hidden=[128, 128], epochs=120, opt="sgd0", lr=0.1, batch=4, noise=0.4),
         "MLP with plain SGD batch 4 on 80 noisy moons"),
        (dict(data="checker", n_train=100, hidden=[256, 256, 256], epochs=120, opt="rmsprop", lr=2e-3, batch=16,
              noise=0.2, sched="cosine"), "deep MLP on 100 noisy checkerboard points, cosine schedule"),
        (dict(data="digits", arch="cnn", n_train=80, hidden=[32, 256], epochs=120, opt="adam", lr=3e-3, batch=80,
              train_label_noise=0.2), "full-batch CNN on 80 digits, 20 % labels flipped"),
    ]):
        add(spec("var_overfit", "overfit", i, why, n_val=400, **kw))

    # ---- underfit -------------------------------------------------------------------------------------
    for i, (kw, why) in enumerate([
        (dict(data="checker", hidden=[], epochs=40, opt="adam", lr=1e-2, batch=64, noise=0.0),
         "linear model on a checkerboard: no capacity"),
        (dict(data="checker", hidden=[2], epochs=60, opt="adam", lr=1e-2, batch=32, noise=0.0, act="tanh"),
         "2 tanh units on a checkerboard: no capacity"),
        (dict(data="digits", arch="cnn", hidden=[16, 64], epochs=30, opt="sgd", lr=1e-5, batch=64),
         "CNN with SGD lr=1e-5: barely learns"),
        (dict(data="moons", hidden=[64, 64], epochs=30, opt="sgd0", lr=8.0, batch=16, noise=0.2, act="tanh"),
         "tanh MLP with SGD lr=8: bounces at a high loss"),
        (dict(data="digits", arch="cnn", hidden=[16, 64], epochs=12, opt="sgd", lr=1e-3, batch=32),
         "CNN, SGD lr=1e-3, stopped after 12 epochs while still improving"),
        (dict(data="linreg", hidden=[64], epochs=25, opt="sgd", lr=1e-4, batch=32, noise=0.5),
         "MLP on linear regression, SGD lr=1e-4, stopped after 25 epochs"),
        (dict(data="moons", hidden=[32, 32], epochs=30, opt="rmsprop", lr=3e-5, batch=128, noise=0.2),
         "MLP on moons, RMSprop lr=3e-5 batch 128, stopped after 30 epochs"),
    ]):
        add(spec("var_underfit", "underfit", 20 + i, why, n_train=1000, n_val=400, **kw))

    # ---- unrepresentative training set ------------------------------------------------------------------
    for i, (kw, why) in enumerate([
        (dict(data="digits", arch="cnn", n_train=30, hidden=[16, 64], epochs=60, lr=2e-3, wd=2e-1, batch=8),
         "CNN on 30 training digits (weight decay) against 800 validation digits"),
        (dict(data="linreg", n_train=20, hidden=[64], epochs=80, lr=2e-3, wd=1e-1, batch=4, noise=0.5),
         "20 training samples of a 30-input regression (weight decay) against 800"),
        (dict(data="moons", n_train=16, hidden=[32], epochs=40, lr=3e-3, wd=3e-1, batch=4, noise=0.25, act="tanh"),
         "16 training moons (weight decay) against 800"),
        (dict(data="digits", n_train=40, hidden=[64], epochs=60, lr=2e-3, wd=1e-1, batch=8, act="tanh"),
         "tanh MLP on 40 training digits (weight decay) against 800"),
        (dict(data="friedman", n_train=400, hidden=[32], epochs=40, lr=3e-3, wd=1e-1, batch=16, noise=0.3,
              train_covers=0.45, sched="cosine"),
         "Friedman inputs x0, x3 cover only the first 45 % of their range in training, cosine schedule"),
    ]):
        add(spec("var_unrep_train", "unrepresentative_train", 40 + i, why, n_val=800, opt="adamw", **kw))

    # ---- unrepresentative validation set ----------------------------------------------------------------
    for i, (kw, why) in enumerate([
        (dict(data="digits", arch="cnn", n_val=8, hidden=[16, 64], epochs=40, opt="adam", lr=1e-3, batch=32,
              val_resample=True), "CNN, validation loss on 8 digits drawn afresh each epoch"),
        (dict(data="moons", n_val=8, hidden=[64, 64], epochs=60, opt="sgd", lr=0.02, batch=16, noise=0.3,
              val_resample=True), "moons, validation loss on 8 samples drawn afresh each epoch"),
        (dict(data="linreg", n_val=10, hidden=[64], epochs=60, opt="adam", lr=1e-3, batch=32, noise=1.0,
              val_resample=True), "linear regression, validation loss on 10 fresh samples each epoch"),
        (dict(data="checker", n_val=400, hidden=[128, 128], epochs=60, opt="adam", lr=3e-3, batch=32, noise=0.0,
              train_label_noise=0.35), "checkerboard, 35 % label noise on training only"),
        (dict(data="digits", arch="cnn", n_val=400, hidden=[32, 128], epochs=40, opt="adam", lr=1e-3, batch=32,
              dropout=0.7), "CNN with dropout 0.7 (training only)"),
        (dict(data="moons", n_val=400, hidden=[64, 64], epochs=40, opt="adam", lr=3e-3, batch=32, noise=0.15,
              train_input_noise=0.6), "moons, input noise 0.6 on training only"),
    ]):
        add(spec("var_unrep_val", "unrepresentative_validation", 60 + i, why, n_train=1000, **kw))

    # ---- good fit ---------------------------------------------------------------------------------------
    for i, (kw, why) in enumerate([
        (dict(data="digits", arch="cnn", n_train=1000, hidden=[16, 64], epochs=40, opt="adam", lr=1e-3, batch=32,
              wd=1e-3), "CNN with 1000 training digits"),
        (dict(data="moons", n_train=1500, hidden=[32, 32], epochs=60, opt="adam", lr=3e-3, batch=64, noise=0.2,
              act="tanh"), "tanh MLP on 1500 moons"),
        (dict(data="checker", n_train=3000, hidden=[128, 128], epochs=100, opt="adam", lr=3e-3, batch=64,
              noise=0.0), "MLP on 3000 checkerboard points"),
        (dict(data="linreg", n_train=3000, hidden=[32], epochs=40, opt="sgd", lr=3e-3, wd=1e-2, batch=32, noise=0.5),
         "MLP on 3000 samples of a linear regression"),
        (dict(data="digits", n_train=1000, hidden=[128], epochs=40, opt="sgd", lr=0.1, wd=1e-3, batch=128,
              sched="cosine"), "MLP, SGD batch 128 with a cosine schedule, 1000 digits"),
        (dict(data="friedman", n_train=2000, hidden=[64, 64], epochs=60, opt="adam", lr=3e-3, batch=256,
              noise=0.3, sched="step"), "MLP, Adam batch 256 with step decay, 2000 Friedman samples"),
    ]):
        add(spec("var_good_fit", "good_fit", 80 + i, why, n_val=500 if kw["data"] != "digits" else 400, **kw))
    return runs


# ----------------------------------------------------------------------------- data
def _digits() -> tuple[np.ndarray, np.ndarray]:
    d = np.load(DIGITS)
    return d["images"].reshape(len(d["images"]), -1).astype(np.float32) / 16.0, d["labels"].astype(np.int64)


def _sample(data: str, n: int, rng: np.random.Generator, noise: float | None, task_seed: int,
            covers: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``n`` samples of a synthetic task (the task itself, e.g. the blob centres, is fixed by
    ``task_seed``).  ``covers`` < 1 (Friedman only) draws the inputs x0 and x3 from the first
    ``covers`` of their range: a training set that shows only part of the problem."""
    if data in ("sine", "wave"):
        periods = 1.0 if data == "sine" else 4.0   # "wave": several periods, too wiggly for a line
        x = rng.uniform(-1, 1, n)
        y = np.sin(periods * math.pi * x) + (noise or 0.0) * rng.standard_normal(n)
        return x[:, None].astype(np.float32), y[:, None].astype(np.float32)
    if data == "friedman":   # Friedman #1 regression, 5 inputs
        x = rng.uniform(0, 1, (n, 5))
        x[:, [0, 3]] *= covers
        y = 10 * np.sin(math.pi * x[:, 0] * x[:, 1]) + 20 * (x[:, 2] - 0.5) ** 2 + 10 * x[:, 3] + 5 * x[:, 4]
        y = (y - 14.4) / 4.9 + (noise or 0.0) * rng.standard_normal(n)   # roughly standardised
        return x.astype(np.float32) * 2 - 1, y[:, None].astype(np.float32)
    if data == "spirals":    # two interleaved spirals, 1.5 turns
        c = rng.integers(0, 2, n)
        t = rng.uniform(0.05, 1, n)
        r = t * 3 * math.pi
        x = np.stack([t * np.cos(r + c * math.pi), t * np.sin(r + c * math.pi)], 1)
        x += (noise or 0.0) * 0.3 * rng.standard_normal(x.shape)
        return x.astype(np.float32) * 2, c.astype(np.int64)
    if data == "blobs":      # 6 Gaussian classes in 8 dimensions; `noise` = fraction of labels randomised
        k, d = 6, 8
        centers = np.random.default_rng(task_seed).standard_normal((k, d)) * 1.6
        c = rng.integers(0, k, n)
        x = centers[c] + rng.standard_normal((n, d))
        flip = rng.random(n) < (noise or 0.0)
        c = np.where(flip, rng.integers(0, k, n), c)
        return x.astype(np.float32), c.astype(np.int64)
    if data == "moons":      # two interleaved half circles; `noise` = Gaussian jitter of the points
        c = rng.integers(0, 2, n)
        a = rng.uniform(0, math.pi, n)
        x = np.where(c[:, None] == 0, np.stack([np.cos(a), np.sin(a)], 1),
                     np.stack([1 - np.cos(a), 0.5 - np.sin(a)], 1))
        x = x + (noise or 0.0) * rng.standard_normal(x.shape) - np.array([0.5, 0.25])
        return x.astype(np.float32), c.astype(np.int64)
    if data == "checker":    # 4x4 checkerboard on [-1, 1]^2; `noise` = fraction of labels randomised
        x = rng.uniform(-1, 1, (n, 2))
        c = ((np.floor((x[:, 0] + 1) * 2) + np.floor((x[:, 1] + 1) * 2)) % 2).astype(np.int64)
        flip = rng.random(n) < (noise or 0.0)
        c = np.where(flip, rng.integers(0, 2, n), c)
        return x.astype(np.float32), c
    if data == "linreg":     # y = w.x with 5 of 30 weights non-zero (fixed by task_seed), + `noise`
        w = np.zeros(30)
        w[np.random.default_rng(task_seed).choice(30, 5, replace=False)] = [1.0, -0.8, 0.6, 0.5, -0.4]
        x = rng.standard_normal((n, 30))
        y = x @ w + (noise or 0.0) * rng.standard_normal(n)
        return x.astype(np.float32), y[:, None].astype(np.float32)
    raise ValueError(data)


def _datasets(s: Spec) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(s.seed)
    n_test = 3000
    if s.data == "digits":
        x, y = _digits()
        perm = rng.permutation(len(x))
        tr, rest = perm[: s.n_train], perm[s.n_train:]
        n_val = min(s.n_val, len(rest) // 2) if not s.val_resample else 0
        va_idx = rest[:n_val] if n_val else rest[: len(rest) // 2]
        te_idx = rest[len(va_idx):]
        out = {"train": (x[tr], y[tr].copy()), "val": (x[va_idx], y[va_idx]), "test": (x[te_idx], y[te_idx])}
    else:
        out = {
            "train": _sample(s.data, s.n_train, rng, s.noise, s.seed * 7 + 1, s.train_covers),
            "val": _sample(s.data, s.n_val if not s.val_resample else 3000, rng, s.noise, s.seed * 7 + 1),
            "test": _sample(s.data, n_test, rng, s.noise, s.seed * 7 + 1),
        }
    if s.train_label_noise:
        xtr, ytr = out["train"]
        n_classes = int(max(ytr.max(), out["val"][1].max())) + 1
        flip = rng.random(len(ytr)) < s.train_label_noise
        out["train"] = (xtr, np.where(flip, rng.integers(0, n_classes, len(ytr)), ytr))
    return out


# ----------------------------------------------------------------------------- training
def _train(s: Spec) -> dict:
    import torch
    from torch import nn

    torch.set_num_threads(1)
    torch.manual_seed(s.seed)
    rng = np.random.default_rng(s.seed + 12345)
    sets = {k: (torch.from_numpy(x), torch.from_numpy(y)) for k, (x, y) in _datasets(s).items()}
    xtr, ytr = sets["train"]
    classification = ytr.dtype == torch.int64
    n_out = int(max(int(sets["val"][1].max()), int(ytr.max()))) + 1 if classification else 1
    if s.data == "digits":
        n_out = 10
    if s.data == "blobs":
        n_out = 6
    act = {"relu": nn.ReLU, "tanh": nn.Tanh}[s.act]
    layers: list[nn.Module] = []
    width = xtr.shape[1]
    hidden = list(s.hidden)
    if s.arch == "cnn":      # 8x8 digit images: conv(c) -> pool -> conv(2c) -> pool -> dense(hidden[1]) -> 10
        c = hidden.pop(0)
        layers += [nn.Unflatten(1, (1, 8, 8)), nn.Conv2d(1, c, 3, padding=1), act(), nn.MaxPool2d(2),
                   nn.Conv2d(c, 2 * c, 3, padding=1), act(), nn.MaxPool2d(2), nn.Flatten()]
        width = 2 * c * 2 * 2
    for h in hidden:
        layers += [nn.Linear(width, h), act()]
        if s.dropout:
            layers.append(nn.Dropout(s.dropout))
        width = h
    layers.append(nn.Linear(width, n_out))
    model = nn.Sequential(*layers)
    loss_fn = nn.CrossEntropyLoss() if classification else nn.MSELoss()
    opt = {
        "adam": lambda: torch.optim.Adam(model.parameters(), lr=s.lr, weight_decay=s.wd),
        "adamw": lambda: torch.optim.AdamW(model.parameters(), lr=s.lr, weight_decay=s.wd),
        "sgd": lambda: torch.optim.SGD(model.parameters(), lr=s.lr, momentum=0.9, weight_decay=s.wd),
        "sgd0": lambda: torch.optim.SGD(model.parameters(), lr=s.lr, weight_decay=s.wd),
        "rmsprop": lambda: torch.optim.RMSprop(model.parameters(), lr=s.lr, weight_decay=s.wd),
    }[s.opt]()
    sched = {"": None,
             "cosine": lambda: torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=s.epochs),
             "step": lambda: torch.optim.lr_scheduler.StepLR(opt, step_size=max(1, s.epochs // 2), gamma=0.1),
             }[s.sched]
    sched = sched() if sched else None

    def evaluate(x: torch.Tensor, y: torch.Tensor) -> tuple[float, float | None]:
        model.eval()
        with torch.no_grad():
            out = model(x)
            loss = float(loss_fn(out, y))
            acc = float((out.argmax(1) == y).float().mean()) if classification else None
        model.train()
        return loss, acc

    hist: dict[str, list] = {k: [] for k in ("loss", "val_loss", "accuracy", "val_accuracy", "lr", "seconds",
                                             "true_loss", "step_losses")}
    n = len(xtr)
    for _epoch in range(s.epochs):
        t0 = time.perf_counter()
        model.train()
        perm = torch.from_numpy(rng.permutation(n))
        total, correct, steps = 0.0, 0, []
        for i in range(0, n, s.batch):
            idx = perm[i: i + s.batch]
            xb, yb = xtr[idx], ytr[idx]
            if s.train_input_noise:
                xb = xb + s.train_input_noise * torch.randn_like(xb)
            out = model(xb)
            loss = loss_fn(out, yb)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"{s.name}: loss diverged")
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
            steps.append(loss.item())
            if classification:
                correct += int((out.argmax(1) == yb).sum())
        xv, yv = sets["val"]
        if s.val_resample:    # a fresh small batch of the validation pool each epoch
            pick = torch.from_numpy(rng.choice(len(xv), s.n_val, replace=False))
            xv, yv = xv[pick], yv[pick]
        vl, va = evaluate(xv, yv)
        tl, _ = evaluate(*sets["test"])
        hist["loss"].append(total / n)
        hist["accuracy"].append(correct / n if classification else None)
        hist["val_loss"].append(vl)
        hist["val_accuracy"].append(va)
        hist["lr"].append(opt.param_groups[0]["lr"])
        if sched is not None:
            sched.step()
        hist["seconds"].append(time.perf_counter() - t0)
        hist["true_loss"].append(tl)
        hist["step_losses"].append(steps)
    return hist


# ----------------------------------------------------------------------------- labels
def _best_epoch_range(true_loss: list[float], first_epoch: int) -> list[int]:
    """Epochs (file numbering) where stopping gives a true generalisation loss close to its minimum.

    "Close" is within ``min(25 % of the later rise, 5 % of the minimum)`` of the minimum: the range
    runs from the first to the last epoch inside that band (a flat bottom gives a wide range, a
    sharp V a narrow one).  The true curve is first averaged over 3 epochs: its epoch-to-epoch
    jitter (SGD noise in the weights) is luck that no stopping rule can foresee.  A curve that dips
    twice leaves epochs inside the span but above the band: bench/diagnose_accuracy.py therefore also
    checks the band itself against ``true_loss.json``.  Why this definition: what matters about a stop
    epoch is the generalisation loss one ends up with, so "right" means "costs at most 5 % of the best
    loss, or a quarter of what not stopping costs" - a flat bottom accepts a wide range of epochs, a
    sharp V only its tip - rather than a fixed number of epochs from an argmin that noise moves."""
    t = np.asarray(true_loss, dtype=float)
    t = np.convolve(np.pad(t, 1, mode="edge"), np.ones(3) / 3, mode="valid")
    i = int(np.argmin(t))
    rise = float(t[i:].max() - t[i])
    ok = np.flatnonzero(t <= t[i] + min(0.25 * rise, 0.05 * t[i]))
    return [int(ok[0]) + first_epoch, int(ok[-1]) + first_epoch]


def _true_rise(true_loss: list[float]) -> float:
    """How far the true generalisation loss ends above its best: (mean of the last tenth of the run, at
    least 3 epochs) / (minimum of the 3-epoch mean) - 1.  The bench uses it to check that a run's built-in
    cause actually showed (an "overfit" recipe whose true loss never turns up did not overfit; a "good
    fit" whose true loss climbs 10 % did)."""
    t = np.asarray(true_loss, dtype=float)
    t3 = np.convolve(np.pad(t, 1, mode="edge"), np.ones(3) / 3, mode="valid")
    end = float(np.mean(t[-max(3, len(t) // 10):]))
    return end / float(t3.min()) - 1


# ----------------------------------------------------------------------------- writers
def _g(v: float | None, digits: int = 5) -> str:
    return "" if v is None else f"{v:.{digits}g}"


def _write(s: Spec, h: dict, out: Path, compact: bool = False) -> tuple[str, int]:
    """Write the history in the run's format; returns (relative file name, number of the first epoch).

    ``compact`` (the held-out and final sets, to keep tests/data near 1 MB): 4 significant digits and
    only the columns the diagnosis reads - epoch, loss, val_loss - as a Keras model compiled without
    metrics or a gradwise history without accuracy would log them (Lightning keeps its step rows)."""
    n = len(h["loss"])
    classification = h["accuracy"][0] is not None and not compact
    d = 4 if compact else 5

    def g(v: float | None) -> str:
        return _g(v, d)

    if s.fmt == "gradwise_csv":
        path = out / f"{s.name}.history.csv"
        with path.open("w", newline="") as f:
            w = csv.writer(f)
            if compact:
                w.writerow(["epoch", "loss", "val_loss"])
                for e in range(n):
                    w.writerow([e + 1, g(h["loss"][e]), g(h["val_loss"][e])])
                return path.name, 1
            w.writerow(["epoch", "loss", "val_loss", "accuracy", "val_accuracy", "lr", "seconds"])
            for e in range(n):
                w.writerow([e + 1, g(h["loss"][e]), g(h["val_loss"][e]), g(h["accuracy"][e]),
                            g(h["val_accuracy"][e]), g(h["lr"][e]), f"{h['seconds'][e]:.3f}"])
        return path.name, 1
    if s.fmt == "gradwise_jsonl":
        path = out / f"{s.name}.history.jsonl"
        with path.open("w") as f:
            for e in range(n):
                rec = {"epoch": e + 1, "loss": float(g(h["loss"][e])), "val_loss": float(g(h["val_loss"][e]))}
                if not compact:
                    rec.update({"accuracy": h["accuracy"][e] and float(g(h["accuracy"][e])),
                                "val_accuracy": h["val_accuracy"][e] and float(g(h["val_accuracy"][e])),
                                "lr": h["lr"][e], "seconds": round(h["seconds"][e], 3)})
                f.write(json.dumps(rec, separators=(",", ":")) + "\n")
        return path.name, 1
    if s.fmt == "keras_csv":   # keras.callbacks.CSVLogger: "epoch" then the metric names sorted
        path = out / f"{s.name}.keras.csv"
        keys = sorted(["loss", "val_loss"] + ([] if compact else ["learning_rate"])
                      + (["accuracy", "val_accuracy"] if classification else []))
        src = {"learning_rate": "lr"}
        with path.open("w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["epoch"] + keys)
            for e in range(n):
                w.writerow([e] + [g(h[src.get(k, k)][e]) for k in keys])
        return path.name, 0
    if s.fmt == "lightning_csv":   # lightning.pytorch.loggers.CSVLogger metrics.csv
        path = out / f"{s.name}" / "metrics.csv"
        path.parent.mkdir(exist_ok=True)
        keys = ["epoch", "step", "train_loss_epoch", "train_loss_step", "val_loss"]
        if classification:
            keys += ["val_acc"]
        rows = []
        step = 0
        for e in range(n):
            for sl in h["step_losses"][e]:
                step += 1
                if step % 50 == 0:        # Trainer(log_every_n_steps=50)
                    rows.append({"epoch": e, "step": step - 1, "train_loss_step": g(sl)})
            val = {"epoch": e, "step": step - 1, "val_loss": g(h["val_loss"][e])}
            if classification:
                val["val_acc"] = g(h["val_accuracy"][e])
            rows.append(val)
            rows.append({"epoch": e, "step": step - 1, "train_loss_epoch": g(h["loss"][e])})
        with path.open("w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=sorted(keys, key=lambda k: (k not in ("epoch", "step"), k)))
            w.writeheader()
            for r in rows:
                w.writerow(r)
        return f"{s.name}/metrics.csv", 0
    raise ValueError(s.fmt)


def _recipe(s: Spec) -> dict:
    """The run's settings for labels.json: the fields that differ from Spec's defaults, plus the basics."""
    defaults = {f.name: f.default for f in dataclasses.fields(Spec)}
    basics = ("data", "n_train", "n_val", "hidden", "epochs", "opt", "lr", "seed")
    return {k: v for k, v in asdict(s).items()
            if k in basics or (k not in ("name", "verdict", "why", "fmt") and v != defaults[k])}


def _run(s: Spec) -> tuple[Spec, dict, float]:
    t0 = time.perf_counter()
    h = _train(s)
    return s, h, time.perf_counter() - t0


SETS = {
    # name: (seed offset, recipes, directory)
    "tuning": (0, "base", "curve_runs"),
    "heldout": (10_000, "base+variety+compact", "curve_runs_heldout"),
    "final": (20_000, "base+variety+compact", "curve_runs_final"),
    "fresh": (30_000, "base+variety+compact+csv", "curve_runs_fresh"),
}
"""The three committed sets.  ``tuning``: the runs the thresholds were first chosen on.
``heldout``: the same recipes with new seeds plus :func:`_variety_recipes` - used to find and fix the
method's failures, so it too has been looked at.  ``final``: other new seeds, generated only after
the method stopped changing and never used to change it (the honest accuracy figure)."""


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--set", choices=sorted(SETS), default="tuning",
                    help="which committed set to (re)make: its seed offset, recipes and directory")
    ap.add_argument("--out", type=Path, default=None, help="directory (default: the set's, under tests/data)")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--only", default=None, help="only runs whose name contains this")
    ap.add_argument("--seed-offset", type=int, default=None,
                    help="override the set's seed offset: a fresh set of runs of the same recipes (held-out check)")
    ap.add_argument("--raw", type=Path, default=None, help="also write every run's true test curve to this JSON file")
    args = ap.parse_args(argv)
    offset, recipes, folder = SETS[args.set]
    offset = offset if args.seed_offset is None else args.seed_offset
    out = args.out or HERE / folder
    all_specs = _recipes() + (_variety_recipes() if "variety" in recipes else [])
    csv_only = {"lightning_csv": "keras_csv", "gradwise_jsonl": "gradwise_csv"} if "csv" in recipes else {}
    specs = [dataclasses.replace(s, seed=s.seed + offset, fmt=csv_only.get(s.fmt, s.fmt))
             for s in all_specs if args.only is None or args.only in s.name]
    out.mkdir(parents=True, exist_ok=True)
    labels_path = out / "labels.json"
    true_path = out / "true_loss.json"
    labels = json.loads(labels_path.read_text()) if (args.only and labels_path.exists()) else {}
    true = json.loads(true_path.read_text()) if (args.only and true_path.exists()) else {}
    raw = {}
    t0 = time.perf_counter()
    with ProcessPoolExecutor(args.jobs) as pool:
        for s, h, secs in pool.map(_run, specs):
            rel, first = _write(s, h, out, compact="compact" in recipes)
            labels[s.name] = {
                "file": rel, "verdict": s.verdict,
                "best_epoch_range": _best_epoch_range(h["true_loss"], first) if s.verdict == "overfit" else None,
                "true_rise": round(_true_rise(h["true_loss"]), 4),
                "why": s.why, "format": s.fmt,
                "spec": _recipe(s),
            }
            if s.verdict == "overfit":   # kept so that the stop epochs can be re-scored (bench: regret)
                true[s.name] = {"first_epoch": first, "true_loss": [float(f"{v:.4g}") for v in h["true_loss"]]}
            raw[s.name] = {"true_loss": h["true_loss"], "first_epoch": first}
            print(f"{s.name:28s} {s.verdict:28s} {len(h['loss']):4d} ep  {secs:5.1f}s  -> {rel}", flush=True)
    labels = dict(sorted(labels.items()))
    labels_path.write_text("{\n" + ",\n".join(f"{json.dumps(k)}: {json.dumps(v)}" for k, v in labels.items())
                           + "\n}\n")   # one run per line: small and diff-friendly
    true_path.write_text("{\n" + ",\n".join(f"{json.dumps(k)}: {json.dumps(v, separators=(',', ':'))}"
                                             for k, v in sorted(true.items())) + "\n}\n")
    if args.raw:
        args.raw.write_text(json.dumps(raw))
    print(f"{len(specs)} runs in {time.perf_counter() - t0:.0f}s -> {out}")


if __name__ == "__main__":
    main()
