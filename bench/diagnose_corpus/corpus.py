"""Loading every labelled run (the older tests/data/curve_runs* sets and this corpus) with its features.

A run is a :class:`Run`: its set, generating family, label, whether its cause was verified, the history, the
hidden true curve (where stored), and - once :func:`featurise` ran - the features and the rule cascade's reading.
Families of the older sets are their data worlds (``old_digits``, ``old_digits_cnn``, ``old_blobs`` ...), so
that leaving one family out leaves out every seed and recipe of that world.
"""
from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT / "src"))

from gradwise.diagnose import read_history  # noqa: E402
from gradwise.diagnose.curves import check  # noqa: E402
from gradwise.diagnose.features import Features, measure  # noqa: E402
from gradwise.diagnose.rules import Reading, apply_rules  # noqa: E402
from gradwise.diagnose.thresholds import Thresholds  # noqa: E402

OLD_SETS = {"tuning": ROOT / "tests/data/curve_runs", "heldout": ROOT / "tests/data/curve_runs_heldout",
            "final": ROOT / "tests/data/curve_runs_final", "fresh_old": ROOT / "tests/data/curve_runs_fresh"}
#: the generated corpus's sets in the order they were made (generate.py --set NAME); bench/diagnose_accuracy.py
#: reads each as ``corpus_NAME``
CORPUS_SETS = {name: HERE / name for name in ("dev", "fresh", "dev2", "fresh2", "fresh3", "fresh4", "fresh5", "fresh6",
                                                 "fresh7", "fresh8", "fresh9", "fresh10", "fresh11", "fresh12",
                                                 "fresh13", "fresh14", "fresh15")}
#: the sets the method is developed on: the older sets, the development corpora and the fresh sets of earlier
#: rounds (each measured once with its round's frozen method, then joined development)
DEVELOPMENT_SETS = (*OLD_SETS, "dev", "fresh", "dev2", "fresh2", "fresh3", "fresh4", "fresh5", "fresh6",
                    "fresh7", "fresh8", "fresh9", "fresh10", "fresh11", "fresh12", "fresh13",
                    "fresh14")
OVERFIT_SHOWED = 0.05
"""An overfit run's true loss must end at least 5 % above its best - the diagnosis's own
``Thresholds.overfit_rise_relative`` ("a material loss of generalisation") and the 5 % of the stop band."""
NOT_OVERFIT_BROKEN = 0.10
"""A good-fit or unrepresentative-training run whose true loss ends 10 % or more above its best is
overfitting (twice the material-loss level, leaving a grey zone in which the built label stands)."""


def cause_showed(label: str, true_rise: float | None) -> bool:
    """Did the cause built into a run of the older sets show in its hidden true curve (``true_rise``: how far
    the true loss ends above its best)?  Overfitting must have turned the true loss up; a good fit or an
    unrepresentative training set must not have overfitted.  Underfit and unrepresentative-validation causes
    live in the training curve and the validation set, which the true curve says nothing about."""
    if true_rise is None:
        return True
    if label == "overfit":
        return true_rise >= OVERFIT_SHOWED
    if label in ("good_fit", "unrepresentative_train"):
        return true_rise < NOT_OVERFIT_BROKEN
    return True


@dataclass
class Run:
    set: str
    name: str
    family: str
    label: str
    verified: bool
    path: Path
    best_range: list[int] | None = None
    true_loss: list[float] | None = None
    first_epoch: int = 0
    history: Any = None
    features: Features | None = None
    reading: Reading | None = None
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def load_set(name: str) -> list[Run]:
    """The labelled runs of one set (``tuning``, ``heldout``, ``final``, ``fresh_old``, ``dev``, ``fresh``)."""
    d = OLD_SETS.get(name) or CORPUS_SETS[name]
    labels = json.loads((d / "labels.json").read_text())
    tp = d / "true_loss.json"
    true = json.loads(tp.read_text()) if tp.exists() else {}
    runs = []
    for k, lab in labels.items():
        if name in OLD_SETS:
            spec = lab.get("spec", {})
            family = "old_" + spec.get("data", "?") + ("_cnn" if spec.get("arch") == "cnn" else "")
            ok = cause_showed(lab["verdict"], lab.get("true_rise"))
        else:
            family, ok = lab["family"], bool(lab["verified"])
        r = Run(name, k, family, lab["verdict"], ok, d / lab["file"], lab.get("best_epoch_range"), extra=lab)
        if k in true:
            r.true_loss, r.first_epoch = true[k]["true_loss"], true[k]["first_epoch"]
        runs.append(r)
    return runs


def featurise(runs: list[Run], th: Thresholds | None = None) -> list[Run]:
    """Read every run's history and measure it (errors are kept on the run, not raised)."""
    th = th or Thresholds()
    for r in runs:
        try:
            h = read_history(r.path)
            check(h, th)
            r.history = h
            r.features = measure(h, th)
            r.reading = apply_rules(h, r.features, th)
        except (ValueError, OSError) as err:
            r.error = str(err)
    return runs
