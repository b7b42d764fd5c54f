"""Accuracy of `gradwise.diagnose.curves` on the real training runs of tests/data/curve_runs*.

Each run there was trained (tests/data/make_curve_runs.py) with a known cause built in; this script
diagnoses every history file, compares the verdict with the label and, for overfitting runs, checks
that the reported best (stop) epoch lies in the labelled range where the true generalisation loss
is minimal.  Prints a confusion table and the two accuracies per set; ``--plot FILE.png`` also draws
every run's curves with its label and the diagnosis (to check by eye that the labels match the
lecture's pictures).

Four sets (see ``SETS`` in make_curve_runs.py), in the order they were used:

* ``tuning``  - tests/data/curve_runs: the thresholds were first chosen on these runs;
* ``heldout`` - tests/data/curve_runs_heldout: new seeds and new recipes (CNN, other datasets,
  schedules, batch sizes); its failures were studied and the stop-epoch method changed because of
  them, so it is no longer untouched either;
* ``final``   - tests/data/curve_runs_final: other new seeds, made after that first freeze and measured
  once (89.7 % of verdicts, 90.0 % of stop epochs); its failures (and the held-out set's) were then
  studied in a second round of changes, so it is seen too;
* ``fresh``   - tests/data/curve_runs_fresh: yet other seeds, made after the second round and measured
  once with the method unchanged: the honest figure now.

Two more sets come from bench/diagnose_corpus (generate.py): ``corpus_dev`` - the development families the
method was chosen on by leave-one-family-out cross-validation - and ``corpus_fresh`` - families never used in
development, generated once after the method was frozen.  Their runs carry ``verified`` (the built-in cause
showed in statistics of the recorded and hidden curves); "cause showed" rows score the verified runs.

Two epochs are scored for overfit runs.  The *stop epoch* (``Diagnosis.stop_epoch``, where the smoothed
validation trend bottoms out) against the band below; the *kept weights* (``Diagnosis.best_epoch``, the lowest
raw validation loss) by the true loss of that very epoch's weights - unsmoothed, since the weights one keeps
are those of one epoch - against the same band on the raw true curve.

How a stop epoch is scored ("right" = inside ``best_epoch_range`` of labels.json): the true
generalisation curve of the run (a large hidden test set, averaged over 3 epochs) is at most
``min(5 % of its minimum, 25 % of its later rise)`` above its minimum there - stopping at that epoch
costs little compared with the best possible stop and with not stopping at all.  ``regret`` (from
true_loss.json) is the same thing as a number: how much higher the true loss is at the reported epoch
than at the best one, relative to the best.  As a reference the bench also scores two stop rules
that read the validation curve naively: its raw minimum and the minimum of its 3-epoch mean.

    python bench/diagnose_accuracy.py [--set all|tuning|heldout|final|fresh|corpus_dev|corpus_fresh|...|corpus_fresh6] [--runs DIR]
                                      [--plot grid.png]
                                      [--verbose]
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import numpy as np  # noqa: E402

from gradwise.diagnose import VERDICTS, Diagnosis, curves, read_history  # noqa: E402
from gradwise.diagnose.smoothing import mean3  # noqa: E402 (the 3-epoch mean the true curves' bands use)

sys.path.insert(0, str(ROOT / "bench" / "diagnose_corpus"))
from corpus import CORPUS_SETS, OLD_SETS, cause_showed  # noqa: E402 (the sets and the verification of their labels)

RUNS = OLD_SETS["tuning"]
#: the older sets (tests/data/curve_runs*: tuning, heldout, final, fresh) and the generated corpus
#: (bench/diagnose_corpus: corpus_dev, corpus_fresh, ... - development families and the fresh families of each
#: round, every one measured once with its round's method and then joined development)
SETS = {**{("fresh" if k == "fresh_old" else k): v for k, v in OLD_SETS.items()},
        **{f"corpus_{k}": v for k, v in CORPUS_SETS.items()}}
SHORT = {"underfit": "under", "overfit": "over", "good_fit": "good",
         "unrepresentative_train": "unrep_tr", "unrepresentative_validation": "unrep_val"}


@dataclass
class Result:
    name: str
    label: str
    best_range: list[int] | None
    diagnosis: Diagnosis | None
    error: str | None = None
    true_loss: list[float] | None = None     # hidden test-set curve (overfit runs), file-indexed from first_epoch
    first_epoch: int = 0
    val_loss: list[float] | None = None
    epochs: list[int] | None = None
    true_rise: float | None = None           # how far the hidden true loss ends above its best (labels.json)
    verified: bool | None = None             # the corpus's own verification of the built-in cause (labels.json)
    family: str | None = None

    @property
    def cause_showed(self) -> bool:
        """Did the cause built into the run show in its hidden true generalisation curve?

        A recipe is a cause, not a guarantee: with some seeds an "overfit" recipe never turns its true
        loss up (it ends within ``OVERFIT_SHOWED`` of its best), and a "good fit" or "unrepresentative
        training set" recipe overfits (its true loss ends ``NOT_OVERFIT_BROKEN`` or more above its best).
        Such runs are scored against a label their own curves contradict; the bench reports accuracy
        with and without them.  Underfit and unrepresentative-validation causes live in the training
        curve and the validation set, which the true curve says nothing about, so they always count."""
        return self.verified if self.verified is not None else cause_showed(self.label, self.true_rise)

    @property
    def verdict_ok(self) -> bool:
        return self.diagnosis is not None and self.diagnosis.verdict == self.label

    @property
    def best_ok(self) -> bool | None:
        """Is the diagnosis's stop epoch (where the smoothed validation trend bottoms out) in the true curve's band?"""
        if self.best_range is None:
            return None
        stop = self.diagnosis.stop_epoch if self.diagnosis else None
        return stop is not None and self._stop_ok(int(stop))

    @property
    def weights_ok(self) -> bool | None:
        """Are the kept weights (``best_epoch``) good: is the true loss *of that epoch's weights* (not smoothed)
        within min(5 %, 25 % of the later rise) of the lowest true loss of any epoch's weights?"""
        if self.best_range is None or self.true_loss is None:
            return None
        best = self.diagnosis.best_epoch if self.diagnosis else None
        if best is None:
            return False
        t = np.asarray(self.true_loss, dtype=float)
        i = int(np.argmin(t))
        band = min(0.25 * float(t[i:].max() - t[i]), 0.05 * float(t[i]))
        return bool(t[int(best) - self.first_epoch] <= t[i] + band * (1 + 1e-9) + 1e-12)

    def _stop_ok(self, epoch: int) -> bool:
        """Inside the labelled range and, where the true curve is stored, inside the band itself: the range
        runs from the first to the last epoch of the band, and a curve that dips twice leaves epochs in
        between that are well above it (stopping there is not "close to the best")."""
        if not self.best_range[0] <= epoch <= self.best_range[1]:
            return False
        if self.true_loss is None:
            return True
        t = mean3(self.true_loss)
        i = int(np.argmin(t))
        band = min(0.25 * float(t[i:].max() - t[i]), 0.05 * float(t[i]))
        return bool(t[epoch - self.first_epoch] <= t[i] + band * (1 + 1e-9) + 5e-4 * t[i])

    def regret(self, epoch: int | None = None) -> float | None:
        """(true loss at ``epoch`` - its minimum) / minimum, on the 3-epoch-averaged true curve;
        ``epoch`` defaults to the reported stop epoch.  None without a stored true curve."""
        if self.true_loss is None:
            return None
        if epoch is None:
            if self.diagnosis is None or self.diagnosis.stop_epoch is None:
                return None
            epoch = int(self.diagnosis.stop_epoch)
        t = mean3(self.true_loss)
        return float((t[epoch - self.first_epoch] - t.min()) / t.min())

    def naive_ok(self, how: str) -> bool | None:
        """Would a naive stop rule on the validation curve (``raw`` minimum / ``mean3`` minimum) be right?"""
        if self.best_range is None or self.val_loss is None:
            return None
        v = np.asarray(self.val_loss) if how == "raw" else mean3(self.val_loss)
        return self._stop_ok(int(self.epochs[int(np.argmin(v))]))


def evaluate(runs: Path = RUNS) -> list[Result]:
    """Diagnose every labelled run of ``runs`` (a directory holding ``labels.json``)."""
    labels = json.loads((runs / "labels.json").read_text())
    true_path = runs / "true_loss.json"
    true = json.loads(true_path.read_text()) if true_path.exists() else {}
    results = []
    for name, lab in labels.items():
        try:
            d, err = curves(runs / lab["file"]), None
        except ValueError as e:
            d, err = None, str(e)
        r = Result(name, lab["verdict"], lab.get("best_epoch_range"), d, err, true_rise=lab.get("true_rise"),
                   verified=lab.get("verified"), family=lab.get("family"))
        if name in true:
            r.true_loss, r.first_epoch = true[name]["true_loss"], int(true[name]["first_epoch"])
        if r.best_range is not None:
            h = read_history(runs / lab["file"])
            r.val_loss, r.epochs = list(h["val_loss"]), [int(e) for e in h["epoch"]]
            if name not in true:
                r.first_epoch = r.epochs[0]
        results.append(r)
    return results


def summary(results: list[Result]) -> dict[str, float]:
    """Verdict accuracy, overfit best-epoch accuracy (fractions), recall per class and stop-epoch regret."""
    best = [r.best_ok for r in results if r.best_ok is not None]
    weights = [r.weights_ok for r in results if r.weights_ok is not None]
    regrets = [x for x in (r.regret() for r in results if r.best_range is not None) if x is not None]
    out: dict[str, Any] = {
        "verdict_accuracy": sum(r.verdict_ok for r in results) / len(results),
        "best_epoch_accuracy": sum(best) / len(best) if best else float("nan"),
        "weights_accuracy": sum(weights) / len(weights) if weights else float("nan"), "weights_runs": len(weights),
        "runs": len(results), "overfit_runs": len(best),
        "recall": {v: (sum(r.verdict_ok for r in results if r.label == v), sum(r.label == v for r in results))
                   for v in VERDICTS},
        "regret_median": float(np.median(regrets)) if regrets else float("nan"),
        "regret_max": float(np.max(regrets)) if regrets else float("nan"),
    }
    shown = [r for r in results if r.cause_showed]
    best_shown = [r.best_ok for r in shown if r.best_ok is not None]
    out.update({
        "shown_runs": len(shown), "shown_overfit_runs": len(best_shown),
        "shown_verdict_accuracy": sum(r.verdict_ok for r in shown) / len(shown) if shown else float("nan"),
        "shown_best_epoch_accuracy": sum(best_shown) / len(best_shown) if best_shown else float("nan"),
        "shown_recall": {v: (sum(r.verdict_ok for r in shown if r.label == v), sum(r.label == v for r in shown))
                         for v in VERDICTS},
        "not_shown": [r.name for r in results if not r.cause_showed],
    })
    for how in ("raw", "mean3"):
        ok = [r.naive_ok(how) for r in results if r.naive_ok(how) is not None]
        out[f"naive_{how}_accuracy"] = sum(ok) / len(ok) if ok else float("nan")
    return out


def confusion_table(results: list[Result]) -> str:
    cols = list(VERDICTS) + ["error"]
    counts = {(a, b): 0 for a in VERDICTS for b in cols}
    for r in results:
        counts[(r.label, r.diagnosis.verdict if r.diagnosis else "error")] += 1
    head = f"{'label / verdict':>16s} " + " ".join(f"{SHORT.get(c, c):>9s}" for c in cols) + f" {'recall':>7s}"
    lines = [head]
    for a in VERDICTS:
        row = [counts[(a, b)] for b in cols]
        total = sum(row)
        lines.append(f"{SHORT[a]:>16s} " + " ".join(f"{c:9d}" for c in row)
                     + f" {counts[(a, a)] / total if total else float('nan'):7.0%}")
    return "\n".join(lines)


def plot(results: list[Result], runs: Path, out: Path) -> None:
    import math

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = json.loads((runs / "labels.json").read_text())
    cols = 6
    rows = math.ceil(len(results) / cols)
    fig, axs = plt.subplots(rows, cols, figsize=(cols * 3.0, rows * 2.3), squeeze=False)
    for ax, r in zip(axs.flat, results):
        h = read_history(runs / labels[r.name]["file"])
        ax.plot(h["epoch"], h["loss"], lw=1, label="train")
        if "val_loss" in h:
            ax.plot(h["epoch"], h["val_loss"], lw=1, label="val")
            top = max(max(h["loss"][:3]), max(h["val_loss"][:3])) * 1.3
            ax.set_ylim(0, min(top, max(max(h["val_loss"]), max(h["loss"])) * 1.05))
        if r.best_range:
            ax.axvspan(r.best_range[0], r.best_range[1], color="g", alpha=0.2)
        if r.diagnosis and r.diagnosis.stop_epoch is not None:
            ax.axvline(r.diagnosis.stop_epoch, color="k", lw=0.6, ls=":")
        got = SHORT[r.diagnosis.verdict] if r.diagnosis else "error"
        ax.set_title(f"{r.name}\n{SHORT[r.label]} -> {got}", fontsize=7, color="k" if r.verdict_ok else "r")
        ax.tick_params(labelsize=5)
    for ax in axs.flat[len(results):]:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(out, dpi=70)


def report(name: str, runs: Path, verbose: bool) -> tuple[list[Result], dict[str, Any]]:
    """Print one set's confusion table and figures."""
    results = evaluate(runs)
    s = summary(results)
    print(f"=== {name}: {runs.relative_to(ROOT) if runs.is_relative_to(ROOT) else runs}")
    print(confusion_table(results))
    print(f"verdicts right:    {s['verdict_accuracy']:.1%} of {s['runs']} runs")
    print(f"stop epoch right:  {s['best_epoch_accuracy']:.1%} of {s['overfit_runs']} overfit runs "
          "(inside the band of the hidden true curve: <= min(5 %, 25 % of the later rise) above its best)")
    print(f"kept weights right: {s['weights_accuracy']:.1%} of {s['weights_runs']} overfit runs (best_epoch's own true "
          "loss within that band of the best weights')")
    if s["not_shown"]:
        print(f"runs whose built-in cause showed in the hidden true curve: {s['shown_runs']} "
              f"(left out: {', '.join(s['not_shown'])})")
        print(f"  verdicts right:   {s['shown_verdict_accuracy']:.1%} of {s['shown_runs']};  stop epoch right: "
              f"{s['shown_best_epoch_accuracy']:.1%} of {s['shown_overfit_runs']}")
    print(f"  stop-epoch regret (true loss above its best): median {s['regret_median']:.1%}, "
          f"worst {s['regret_max']:.1%};  naive stop rules: raw val minimum {s['naive_raw_accuracy']:.0%}, "
          f"3-epoch-mean minimum {s['naive_mean3_accuracy']:.0%}")
    if verbose:
        for r in results:
            if not r.verdict_ok or r.best_ok is False:
                got = r.diagnosis.verdict if r.diagnosis else f"error: {r.error}"
                best = r.diagnosis.stop_epoch if r.diagnosis else None
                reg = r.regret()
                print(f"  {r.name:28s} label {r.label:28s} got {got:28s} best {best} range {r.best_range}"
                      + (f" regret {reg:.1%}" if reg is not None else ""))
    print()
    return results, s


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--set", choices=["all"] + list(SETS), default="all")
    ap.add_argument("--runs", type=Path, default=None, help="a directory with labels.json instead of the sets")
    ap.add_argument("--plot", type=Path, default=None, help="draw all runs into this PNG (one set or --runs)")
    ap.add_argument("--verbose", action="store_true", help="list every wrong verdict or stop epoch")
    args = ap.parse_args(argv)
    chosen = ({"runs": args.runs} if args.runs else
              {k: v for k, v in SETS.items() if args.set in ("all", k) and (v / "labels.json").exists()})
    rows = []
    for name, runs in chosen.items():
        results, s = report(name, runs, args.verbose)
        rows.append((name, s))
        if args.plot and len(chosen) == 1:
            plot(results, runs, args.plot)
            print(f"plot: {args.plot}")
    if len(rows) > 1:
        print("runs: all labelled runs / those whose built-in cause showed in the hidden true curve")
        print(f"{'set':15s} {'runs':>4s} {'verdicts':>9s} " + " ".join(f"{SHORT[v]:>9s}" for v in VERDICTS)
              + f"  {'stop epochs':>11s}")
        for name, s in rows:
            for tag, p in (("all", ""), ("cause showed", "shown_")):
                rec = " ".join(f"{s[p + 'recall'][v][0]:>4d}/{s[p + 'recall'][v][1]:<4d}" for v in VERDICTS)
                runs = s[p + "runs"] if p else s["runs"]
                print(f"{name + ' ' + tag:15s} {runs:4d} {s[p + 'verdict_accuracy']:9.1%} {rec}  "
                      f"{s[p + 'best_epoch_accuracy']:5.1%} of {s[p + 'overfit_runs']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
