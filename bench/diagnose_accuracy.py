"""Accuracy of `gradwise.diagnose.curves` on the real training runs of tests/data/curve_runs.

Each run there was trained (tests/data/make_curve_runs.py) with a known cause built in; this script
diagnoses every history file, compares the verdict with the label and, for overfitting runs, checks
that the reported best (stop) epoch lies in the labelled range where the true generalisation loss
is minimal.  Prints a confusion table and the two accuracies; ``--plot FILE.png`` also draws every
run's curves with its label and the diagnosis (to check by eye that the labels match the lecture's
pictures).

    python bench/diagnose_accuracy.py [--runs DIR] [--plot grid.png] [--verbose]
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from gradwise.diagnose import VERDICTS, Diagnosis, curves, read_history  # noqa: E402

RUNS = ROOT / "tests" / "data" / "curve_runs"
SHORT = {"underfit": "under", "overfit": "over", "good_fit": "good",
         "unrepresentative_train": "unrep_tr", "unrepresentative_validation": "unrep_val"}


@dataclass
class Result:
    name: str
    label: str
    best_range: list[int] | None
    diagnosis: Diagnosis | None
    error: str | None = None

    @property
    def verdict_ok(self) -> bool:
        return self.diagnosis is not None and self.diagnosis.verdict == self.label

    @property
    def best_ok(self) -> bool | None:
        if self.best_range is None:
            return None
        best = self.diagnosis.best_epoch if self.diagnosis else None
        return best is not None and self.best_range[0] <= best <= self.best_range[1]


def evaluate(runs: Path = RUNS) -> list[Result]:
    """Diagnose every labelled run of ``runs`` (a directory holding ``labels.json``)."""
    labels = json.loads((runs / "labels.json").read_text())
    results = []
    for name, lab in labels.items():
        try:
            d, err = curves(runs / lab["file"]), None
        except ValueError as e:
            d, err = None, str(e)
        results.append(Result(name, lab["verdict"], lab.get("best_epoch_range"), d, err))
    return results


def summary(results: list[Result]) -> dict[str, float]:
    """Verdict accuracy and overfit best-epoch accuracy (fractions)."""
    best = [r.best_ok for r in results if r.best_ok is not None]
    return {"verdict_accuracy": sum(r.verdict_ok for r in results) / len(results),
            "best_epoch_accuracy": sum(best) / len(best) if best else float("nan"),
            "runs": len(results), "overfit_runs": len(best)}


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
        if r.diagnosis and r.diagnosis.best_epoch is not None:
            ax.axvline(r.diagnosis.best_epoch, color="k", lw=0.6, ls=":")
        got = SHORT[r.diagnosis.verdict] if r.diagnosis else "error"
        ax.set_title(f"{r.name}\n{SHORT[r.label]} -> {got}", fontsize=7, color="k" if r.verdict_ok else "r")
        ax.tick_params(labelsize=5)
    for ax in axs.flat[len(results):]:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(out, dpi=70)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=Path, default=RUNS)
    ap.add_argument("--plot", type=Path, default=None, help="draw all runs into this PNG")
    ap.add_argument("--verbose", action="store_true", help="list every wrong verdict or stop epoch")
    args = ap.parse_args(argv)
    results = evaluate(args.runs)
    s = summary(results)
    print(confusion_table(results))
    print(f"\nverdicts right:    {s['verdict_accuracy']:.1%} of {s['runs']} runs")
    print(f"best epoch right:  {s['best_epoch_accuracy']:.1%} of {s['overfit_runs']} overfit runs "
          "(inside the labelled range of minimal true validation loss)")
    if args.verbose:
        for r in results:
            if not r.verdict_ok or r.best_ok is False:
                got = r.diagnosis.verdict if r.diagnosis else f"error: {r.error}"
                best = r.diagnosis.best_epoch if r.diagnosis else None
                print(f"  {r.name:28s} label {r.label:28s} got {got:28s} best {best} range {r.best_range}")
    if args.plot:
        plot(results, args.runs, args.plot)
        print(f"plot: {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
