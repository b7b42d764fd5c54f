"""Textbook learning curves at many lengths: the same shape must get the same verdict however long the run.

Each of the lecture's pictures is drawn with its time scale proportional to the run's length (a 20-epoch and a
250-epoch overfitting run turn up at the same share of the run), with a little noise.  A method that reads them
differently by length has learned a cue of how the corpus's runs were made (e.g. that overfitting runs were
trained longer), not of the curves' shape - the guard round 3's method selection applies
(bench/diagnose_corpus/select_method.py).

    python bench/diagnose_corpus/textbook.py      # the shipped method's readings, per case and length
"""
from __future__ import annotations

import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1] / "src"))

LENGTHS = (15, 20, 30, 45, 60, 90, 150, 250)
SEEDS = range(5)
CASES = {"underfit_flat": "underfit", "underfit_early": "underfit", "overfit": "overfit",
         "unrepresentative_train": "unrepresentative_train",
         "unrepresentative_validation_noisy": "unrepresentative_validation",
         "unrepresentative_validation_lower": "unrepresentative_validation", "good_fit": "good_fit"}


def curve(case: str, n: int, seed: int) -> dict[str, list[float]]:
    """One textbook history of ``n`` epochs (numbered from 1)."""
    r = np.random.default_rng(1000 * n + seed)
    u = np.arange(n) / n                         # the share of the run
    decay = lambda start, end, tau: end + (start - end) * np.exp(-u / tau)  # noqa: E731
    noise = lambda level: level * r.standard_normal(n)  # noqa: E731
    if case == "underfit_flat":
        t, v = 0.69 + noise(0.004), 0.70 + noise(0.004)
    elif case == "underfit_early":
        t, v = decay(2.3, 0.1, 0.7) + noise(0.005), decay(2.3, 0.15, 0.7) + noise(0.005)
    elif case == "overfit":                      # validation bottoms out at 40 % of the run, ends 30 % above
        t = decay(2.0, 0.02, 0.12) + noise(0.005)
        v = decay(2.0, 0.5, 0.1) + 0.25 * np.clip(u - 0.4, 0, None) / 0.6 + noise(0.008)
    elif case == "unrepresentative_train":
        t, v = decay(2.0, 0.1, 0.12) + noise(0.005), decay(2.1, 0.9, 0.12) + noise(0.005)
    elif case == "unrepresentative_validation_noisy":
        t = decay(2.0, 0.3, 0.12) + noise(0.005)
        v = t + np.abs(noise(0.25)) - 0.1
    elif case == "unrepresentative_validation_lower":
        t = decay(2.0, 0.6, 0.12) + noise(0.005)
        v = 0.6 * t + noise(0.005)
    elif case == "good_fit":
        t, v = decay(2.0, 0.10, 0.1) + noise(0.004), decay(2.0, 0.13, 0.1) + noise(0.004)
    else:
        raise KeyError(case)
    return {"epoch": list(range(1, n + 1)), "loss": np.abs(t).tolist(), "val_loss": np.abs(v).tolist()}


def suite() -> list[tuple[str, int, int, str, dict[str, list[float]]]]:
    """(case, length, seed, expected verdict, history) for every case, length and seed."""
    return [(c, n, s, want, curve(c, n, s)) for c in CASES for n in LENGTHS for s in SEEDS for want in [CASES[c]]]


def main() -> int:
    from gradwise.diagnose import curves

    right: dict[tuple[str, int], int] = defaultdict(int)
    for case, n, _, want, h in suite():
        right[(case, n)] += curves(h).verdict == want
    total = sum(right.values())
    print(f"textbook suite: {total}/{len(CASES) * len(LENGTHS) * len(SEEDS)} right")
    print(f"{'case':36s}" + "".join(f"{n:>5d}" for n in LENGTHS))
    for case in CASES:
        print(f"{case:36s}" + "".join(f"{right[(case, n)]:>5d}" for n in LENGTHS))
    return 0


def read_all(reader: Any) -> float:
    """Share of the suite ``reader(history) -> verdict`` reads right."""
    items = suite()
    return sum(reader(h) == want for _, _, _, want, h in items) / len(items)


if __name__ == "__main__":
    sys.exit(main())
