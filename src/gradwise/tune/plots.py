"""The search's pictures, as PNG files and as ``data:`` URIs for the report.

* :func:`objective_vs_params` - the objective (validation loss) against each hyper-parameter, one panel
  per parameter, log axes for log-scale dimensions; pruned trials drawn hollow at their last reported
  value; the best trial starred.  (Optuna's ``plot_slice``, without Plotly.)
* :func:`top_curves` - learning curves of the best trials overlaid: validation solid, training dashed,
  pruned trials faint in the background, so one sees where the pruner cut them.
* :func:`importance` - the parameters' importance for the objective, from Optuna's importance
  evaluators (PED-ANOVA by default; fANOVA with scikit-learn installed).
* :func:`history` - the objective per trial and the best so far (Optuna's ``plot_optimization_history``).
* :func:`best_curve` - the crowned trial's validation curve: raw values, the smoothed curve its score is read
  from, the kept epoch with the score +- the curve's noise, training dashed, the runner-up's smoothed curve.
"""
from __future__ import annotations

import base64
import io
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib import colormaps
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from gradwise.report.plots import agg_figure
from gradwise.tune.results import TrialRow, format_value
from gradwise.tune.space import SearchSpace

__all__ = ["Picture", "objective_vs_params", "top_curves", "importance", "history", "best_curve", "COMPLETE", "PRUNED",
           "BEST"]

COMPLETE, PRUNED, FAILED, BEST = "#1f77b4", "#ff7f0e", "#9e9e9e", "#2ca02c"
DPI = 100


class Picture:
    """A rendered figure: PNG bytes, written with :meth:`save`, embedded with :attr:`data_uri`."""

    def __init__(self, fig: Any, name: str, title: str) -> None:
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=DPI)
        self.png = buf.getvalue()
        self.name = name
        self.title = title

    @property
    def data_uri(self) -> str:
        return "data:image/png;base64," + base64.b64encode(self.png).decode("ascii")

    def save(self, directory: str | Path) -> Path:
        path = Path(directory) / f"{self.name}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(self.png)
        return path


def _value(row: TrialRow) -> float | None:
    """The complete trial's objective, or the pruned trial's last reported value."""
    if row.state == "complete" and row.value is not None and math.isfinite(row.value):
        return row.value
    if row.state == "pruned" and row.intermediate:
        v = row.intermediate[max(row.intermediate)]
        return v if math.isfinite(v) else None
    return None


def objective_vs_params(rows: Sequence[TrialRow], space: SearchSpace, metric: str, best: int | None) -> Picture:
    """The objective against each hyper-parameter (one panel each)."""
    names = list(space) or sorted({k for r in rows for k in r.params})
    n = max(len(names), 1)
    cols = min(3, n)
    lines = math.ceil(n / cols)
    fig = agg_figure(figsize=(4.3 * cols, 3.1 * lines))
    axes = fig.subplots(lines, cols, squeeze=False)
    scored = [(r, _value(r)) for r in rows if _value(r) is not None]
    values = [v for _, v in scored]
    for i, ax in enumerate(axes.flat):
        if i >= len(names):
            ax.axis("off")
            continue
        name = names[i]
        dim = space.dims.get(name)
        pts = [(r, r.params[name], v) for r, v in scored if name in r.params]
        categorical = dim is not None and type(dim).__name__ == "Categorical" or \
            any(isinstance(p, (str, bool, list, tuple)) for _, p, _ in pts)
        if categorical:
            labels = [format_value(c) for c in (dim.choices if dim is not None and hasattr(dim, "choices")
                                                else sorted({format_value(p) for _, p, _ in pts}))]
            rng = np.random.default_rng(i)
            xs = [labels.index(format_value(p)) + rng.uniform(-0.15, 0.15) if format_value(p) in labels else 0
                  for _, p, _ in pts]
            ax.set_xticks(range(len(labels)), labels, rotation=20 if max(map(len, labels)) > 6 else 0)
            ax.set_xlim(-0.6, len(labels) - 0.4)
        else:
            xs = [float(p) for _, p, _ in pts]
            if space.log_scale(name):
                ax.set_xscale("log")
        for (r, _, v), x in zip(pts, xs):
            if r.state == "complete":
                ax.plot(x, v, "o", ms=5, color=COMPLETE, alpha=0.8)
            else:
                ax.plot(x, v, "o", ms=5, mfc="none", color=PRUNED, alpha=0.9)
            if r.number == best:
                ax.plot(x, v, "*", ms=15, color=BEST, zorder=5)
        ax.set_title(name, fontsize=10)
        ax.set_ylabel(metric, fontsize=9)
        ax.grid(alpha=0.3)
        if values:   # one y-range for every panel, so that the panels compare
            low, high = min(values), max(values)
            if metric.endswith("loss") and high / max(low, 1e-12) > 30:
                ax.set_yscale("log")
                ax.set_ylim(low / 1.3, high * 1.3)
            else:
                pad = 0.05 * (high - low) or 0.05 * abs(high) or 0.05
                ax.set_ylim(low - pad, high + pad)
    handles = [Line2D([], [], marker="o", ls="", color=COMPLETE, label="complete"),
               Line2D([], [], marker="o", ls="", mfc="none", color=PRUNED, label="pruned (last value)"),
               Line2D([], [], marker="*", ls="", ms=12, color=BEST, label="best trial")]
    fig.legend(handles=handles, loc="outside lower center", ncols=3, fontsize=9)
    fig.suptitle(f"{metric} against each hyper-parameter ({len(scored)} trials)", fontsize=12)
    return Picture(fig, "objective_vs_params", f"{metric} against each hyper-parameter")


def top_curves(rows: Sequence[TrialRow], direction: str, k: int = 5, metric: str = "val_loss") -> Picture:
    """Learning curves of the ``k`` best complete trials overlaid (validation solid, training dashed)."""
    fig = agg_figure(figsize=(12, 4.2))
    axes = fig.subplots(1, 2)
    complete = [r for r in rows if r.state == "complete" and r.value is not None and math.isfinite(r.value)
                and r.curves.get("epoch")]
    complete.sort(key=lambda r: r.value if direction == "minimize" else -r.value)
    top = complete[:k]
    pruned = [r for r in rows if r.state == "pruned" and r.curves.get("epoch")]
    colours = colormaps["viridis"](np.linspace(0, 0.85, max(len(top), 1)))
    for ax, key, label in ((axes[0], "loss", "loss"), (axes[1], "accuracy", "accuracy")):
        for r in pruned:
            if r.curves.get(f"val_{key}"):
                ax.plot(r.curves["epoch"], _nan(r.curves[f"val_{key}"]), "-", color="#bbbbbb", lw=0.9, alpha=0.7)
        for r, c in zip(top, colours):
            ep = r.curves["epoch"]
            if r.curves.get(f"val_{key}"):
                ax.plot(ep, _nan(r.curves[f"val_{key}"]), "-", color=c, lw=2,
                        label=f"trial {r.number}: val (best {format_value(r.value)})")
            if r.curves.get(key):
                ax.plot(ep, _nan(r.curves[key]), "--", color=c, lw=1, alpha=0.8)
            if r.best_epoch and r.curves.get(f"val_{key}"):
                y = r.curves[f"val_{key}"][r.best_epoch - 1]
                if y is not None:
                    ax.plot([r.best_epoch], [y], "*", ms=10, color=c)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        if key == "loss":
            ax.set_yscale("log")
    axes[0].plot([], [], "-", color="#bbbbbb", label="pruned trials (val)")
    axes[0].plot([], [], "--", color="black", lw=1, label="training (dashed)")
    axes[0].legend(fontsize=8)
    axes[0].set_title(f"top {len(top)} trials: loss (log scale)", fontsize=11)
    axes[1].set_title(f"top {len(top)} trials: accuracy", fontsize=11)
    return Picture(fig, "top_trials_curves", f"learning curves of the top {len(top)} trials")


def _nan(values: Sequence[Any]) -> list[float]:
    return [float(v) if isinstance(v, (int, float)) else float("nan") for v in values]


def importance(scores: Mapping[str, float] | None, evaluator: str, note: str | None = None) -> Picture:
    """Horizontal bars: each parameter's share of the objective's variation (Optuna's importance)."""
    fig = agg_figure(figsize=(6.5, 0.45 * max(len(scores or {}), 3) + 1.2))
    ax = fig.subplots()
    if scores:
        items = sorted(scores.items(), key=lambda kv: kv[1])
        ax.barh([k for k, _ in items], [v for _, v in items], color=COMPLETE)
        for y, (_, v) in enumerate(items):
            ax.text(v, y, f" {v:.2f}", va="center", fontsize=9)
        ax.set_xlim(0, max(v for _, v in items) * 1.2 + 1e-9)
        ax.set_xlabel("importance (normalised, sums to 1)")
    else:
        ax.text(0.5, 0.5, note or "not enough complete trials", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
    names = {"ped_anova": "PED-ANOVA", "fanova": "fANOVA", "mean_decrease_impurity": "mean decrease impurity"}
    ax.set_title(f"hyper-parameter importance for the objective (Optuna {names.get(evaluator, evaluator)}, "
                 "complete trials)", fontsize=10)
    return Picture(fig, "param_importance", "hyper-parameter importance")


def history(rows: Sequence[TrialRow], direction: str, metric: str) -> Picture:
    """The objective of every trial in order, and the best so far (pruned trials at their last value)."""
    fig = agg_figure(figsize=(6.5, 3.6))
    ax = fig.subplots()
    pts = [(r.number, _value(r), r.state) for r in sorted(rows, key=lambda r: r.number)]
    comp = [(n, v) for n, v, s in pts if v is not None and s == "complete"]
    prun = [(n, v) for n, v, s in pts if v is not None and s == "pruned"]
    if comp:
        ax.plot(*zip(*comp), "o", color=COMPLETE, label="complete")
    if prun:
        ax.plot(*zip(*prun), "o", mfc="none", color=PRUNED, label="pruned (last value)")
    best, xs, ys = None, [], []
    for n, v in comp:
        if best is None or (v < best if direction == "minimize" else v > best):
            best = v
        xs.append(n)
        ys.append(best)
    if xs:
        last = max(n for n, _, _ in pts)
        ax.step(xs + [last], ys + [ys[-1]], where="post", color=BEST, label="best so far")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    values = [v for _, v in comp + prun]
    if values and metric.endswith("loss") and max(values) / max(min(values), 1e-12) > 30:
        ax.set_yscale("log")
    ax.set_xlabel("trial")
    ax.set_ylabel(metric)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(f"{metric} per trial", fontsize=11)
    return Picture(fig, "optimization_history", f"{metric} per trial and best so far")


def best_curve(best: TrialRow, metric: str, runner_up: TrialRow | None = None, caption: str | None = None) -> Picture:
    """The crowned trial's ``metric`` curve: raw points, the smoothed curve its score is read from, the kept
    epoch with score +- noise, the training curve dashed, and the runner-up's smoothed curve for comparison."""
    fig = agg_figure(figsize=(7.5, 4.2))
    ax = fig.subplots()
    train_key = metric[4:] if metric.startswith("val_") else None
    ep = best.curves.get("epoch") or []
    if best.curves.get(metric):
        ax.plot(ep, _nan(best.curves[metric]), "o", ms=4, color=COMPLETE, alpha=0.75, label=f"{metric} (raw)")
    if train_key and best.curves.get(train_key):
        ax.plot(ep, _nan(best.curves[train_key]), "--", color="#555555", lw=1, label=f"{train_key} (training)")
    smooth = best.smoothed or {}
    if smooth.get(metric):
        ax.plot(smooth["epoch"], _nan(smooth[metric]), "-", color=COMPLETE, lw=2.2, label=f"{metric} (smoothed)")
    if best.best_epoch is not None and best.value is not None and math.isfinite(best.value):
        band = best.noise or 0.0
        ax.errorbar([best.best_epoch], [best.value], yerr=[[band], [band]], fmt="*", ms=14, color=BEST, capsize=5,
                    zorder=5, label=f"score {format_value(best.value)} at kept epoch {best.best_epoch}"
                                    + (f" (± noise {band:.2g})" if band else ""))
    if runner_up is not None and (runner_up.smoothed or {}).get(metric):
        ax.plot(runner_up.smoothed["epoch"], _nan(runner_up.smoothed[metric]), "-", color=PRUNED, lw=1.4, alpha=0.8,
                label=f"runner-up trial {runner_up.number} (smoothed)")
    shown = [v for v in _nan(best.curves.get(metric) or []) if math.isfinite(v)]
    if metric.endswith("loss") and shown and min(shown) > 0 and max(shown) / min(shown) > 5:
        ax.set_yscale("log")     # the bottom of the curve, where the score is read, stays readable
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel(metric + (" (log scale)" if ax.get_yscale() == "log" else ""))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(f"best trial {best.number}: {metric} curve and the score read off it", fontsize=11)
    if caption:
        fig.text(0.01, 0.005, caption, fontsize=8, color="#444444", va="bottom")
    return Picture(fig, "best_trial_curve", f"best trial {best.number}: validation curve, smoothed, kept epoch")
