"""The report's pictures, drawn with matplotlib and returned as PNG ``data:`` URIs (no files, no assets).

Each picture is a ``matplotlib.figure.Figure`` on its own Agg canvas: no pyplot, so importing or
rendering a report never switches the user's backend (Jupyter's inline one, a GUI) and leaves no
figure open in pyplot's list.

Each function takes plain lists (what ``history.csv`` and ``babysit.json`` hold) and returns one
embeddable image:

* :func:`learning_curves` - training vs validation loss (or accuracy) per epoch with the best epoch
  marked: the lecture's "Training Graphs";
* :func:`activation_heatmap` - one layer's activation histogram over time (a heatmap: x = training
  step, y = activation value, colour = share of the outputs) next to its fraction of dead (ReLU) or
  saturated (sigmoid/tanh) units: a dead layer is a bright line at 0, a saturated one bright lines at
  its limits;
* :func:`layer_series` - one line per layer over time on a log axis (gradient norms by layer,
  update-to-weight ratios with CS231n's 1e-3 guide line);
* :func:`learning_rate` - the learning rate over steps or epochs;
* :func:`sharpness` - the largest Hessian eigenvalue of the training loss over training, with the
  edge of stability ``2 (1 + momentum) / lr`` for SGD (the lecture's condition-number slide).
"""
from __future__ import annotations

import base64
import io
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

__all__ = ["learning_curves", "activation_heatmap", "layer_series", "learning_rate", "sharpness", "to_data_uri"]

TRAIN_COLOUR, VAL_COLOUR, BEST_COLOUR = "#1f77b4", "#d62728", "#2ca02c"
DPI = 100


def agg_figure(**kwargs: Any) -> Figure:
    """A Figure drawn by Agg into memory, outside pyplot's state."""
    fig = Figure(layout="constrained", **kwargs)
    FigureCanvasAgg(fig)
    return fig


def to_data_uri(fig: Any) -> str:
    """Render a figure as a ``data:image/png;base64,...`` URI."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _clean(values: Sequence[Any]) -> np.ndarray:
    """Floats with None/non-numbers as NaN (matplotlib leaves gaps there)."""
    return np.array([float(v) if isinstance(v, (int, float)) and v is not None else np.nan for v in values],
                    dtype=float)


def learning_curves(epochs: Sequence[float], train: Sequence[float], val: Sequence[float] | None,
                    metric: str, best_epoch: float | None = None, verdict: str | None = None) -> str:
    """Training and validation ``metric`` per epoch; the best epoch (lowest validation loss) marked."""
    fig = agg_figure(figsize=(6.2, 3.6))
    ax = fig.subplots()
    x = np.asarray(epochs, dtype=float)
    ax.plot(x, _clean(train), "-o", ms=3, color=TRAIN_COLOUR, label=f"training {metric}")
    if val is not None:
        ax.plot(x, _clean(val), "-o", ms=3, color=VAL_COLOUR, label=f"validation {metric}")
    if best_epoch is not None:
        ax.axvline(best_epoch, color=BEST_COLOUR, ls="--", lw=1.2, label=f"best epoch {best_epoch:g}")
        if val is not None and best_epoch in list(x):
            i = list(x).index(best_epoch)
            ax.plot([best_epoch], [_clean(val)[i]], "*", ms=14, color=BEST_COLOUR)
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel(metric)
    title = f"{metric}: training vs validation"
    ax.set_title(title + (f"  ({verdict})" if verdict else ""), fontsize=11)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return to_data_uri(fig)


def activation_heatmap(name: str, entry: Mapping[str, Any], steps: Sequence[int]) -> str:
    """One layer's activation histograms over time, with its dead/saturated fraction beside them."""
    edges = np.asarray(entry["edges"], dtype=float)
    bins = len(edges) - 1
    columns = [h if h is not None else [np.nan] * bins for h in entry["histograms"]]
    counts = np.array(columns, dtype=float).T                       # (bins, samples)
    share = counts / np.nansum(counts, axis=0, keepdims=True).clip(min=1)
    kind = entry.get("kind", "")
    fraction_key = "dead_fraction" if kind == "relu" else "saturated_fraction" if kind in ("sigmoid", "tanh") else None
    fig = agg_figure(figsize=(10, 3.0))
    axes = fig.subplots(1, 2, gridspec_kw={"width_ratios": [2.2, 1]})
    ax = axes[0]
    masked = np.ma.masked_where(~(share > 0), share)
    image = ax.imshow(masked, aspect="auto", origin="lower", cmap="magma", norm=LogNorm(vmin=1e-4, vmax=1.0),
                      extent=(-0.5, len(steps) - 0.5, edges[0], edges[-1]), interpolation="nearest")
    ax.set_facecolor("black")
    ax.set_ylabel("activation value")
    ax.set_xlabel("training step (sampled)")
    _step_ticks(ax, steps)
    fig.colorbar(image, ax=ax, label="share of outputs", pad=0.01)
    label = entry.get("label") or kind
    ax.set_title(f"{name!r} {label}: activations over time", fontsize=10)
    ax2 = axes[1]
    if fraction_key:
        values = _clean(entry.get(fraction_key, []))
        what = "dead units" if fraction_key == "dead_fraction" else "saturated outputs"
        ax2.plot(range(len(values)), values, "-o", ms=3, color=VAL_COLOUR)
        ax2.set_ylim(-0.03, 1.03)
        ax2.axhline(0.5, color="grey", ls=":", lw=1)
        ax2.set_title(f"fraction of {what}", fontsize=10)
        _step_ticks(ax2, steps)
        ax2.grid(alpha=0.3)
    else:
        ax2.axis("off")
        ax2.text(0.5, 0.5, f"{kind or 'this layer'}: does not die or saturate\n(histogram only)",
                 ha="center", va="center", fontsize=9, color="grey", transform=ax2.transAxes)
    return to_data_uri(fig)


def _step_ticks(ax: Any, steps: Sequence[int]) -> None:
    n = len(steps)
    if n == 0:
        return
    idx = sorted(set(np.linspace(0, n - 1, min(n, 6)).round().astype(int).tolist()))
    ax.set_xticks(idx)
    ax.set_xticklabels([str(steps[i]) for i in idx], fontsize=8)


def layer_series(title: str, steps: Sequence[int], series: Mapping[str, Sequence[float | None]], ylabel: str,
                 guide: float | None = None, guide_label: str | None = None,
                 band: tuple[float, float] | None = None) -> str:
    """One line per layer over training steps on a log axis, with an optional guide line and band."""
    fig = agg_figure(figsize=(6.2, 3.6))
    ax = fig.subplots()
    x = np.asarray(steps, dtype=float)
    zeros = 0
    for name, values in series.items():
        y = _clean(values)
        zeros += int(np.sum(y == 0))
        y[~(y > 0)] = np.nan
        ax.plot(x[: len(y)], y, "-o", ms=2.5, lw=1.2, label=name)
    if zeros:   # a log axis cannot show 0: say so rather than leave a gap unexplained
        plotted = any(np.any(_clean(v) > 0) for v in series.values())
        ax.text(0.5, 0.5 if not plotted else 0.04, f"{zeros} value(s) of exactly 0 not drawn (log axis)"
                + ("" if plotted else ":\nnothing flows here"), transform=ax.transAxes, ha="center",
                va="center" if not plotted else "bottom", fontsize=9, color=VAL_COLOUR)
        if not plotted and x.size:
            ax.set_xlim(x.min() - 1, x.max() + 1)
            ax.set_ylim(1e-3, 1.0)
    if band is not None:
        ax.axhspan(band[0], band[1], color=BEST_COLOUR, alpha=0.07, label=f"accepted {band[0]:g}..{band[1]:g}")
    if guide is not None:
        ax.axhline(guide, color="black", ls="--", lw=1.2, label=guide_label or f"{guide:g}")
    ax.set_yscale("log")
    ax.set_xlabel("training step")
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=11)
    ax.grid(alpha=0.3)
    if len(series) <= 12:
        ax.legend(fontsize=7, ncol=2 if len(series) > 5 else 1)
    return to_data_uri(fig)


def learning_rate(x: Sequence[float], lr: Sequence[float], xlabel: str) -> str:
    """The learning rate over training (log axis when it spans more than a factor of 10)."""
    fig = agg_figure(figsize=(6.2, 3.6))
    ax = fig.subplots()
    y = _clean(lr)
    ax.plot(np.asarray(x, dtype=float), y, "-", color=TRAIN_COLOUR, lw=1.5)
    finite = y[np.isfinite(y) & (y > 0)]
    if finite.size and finite.max() / finite.min() > 10:
        ax.set_yscale("log")
    elif finite.size:
        ax.set_ylim(0.0, finite.max() * 1.25)   # from 0, so that a constant rate reads as one
    ax.set_xlabel(xlabel)
    ax.set_ylabel("learning rate")
    ax.set_title("learning rate", fontsize=11)
    ax.grid(alpha=0.3)
    return to_data_uri(fig)


def sharpness(steps: Sequence[float], values: Sequence[float | None], edge: Sequence[float | None] | None,
              solver: str | None) -> str:
    """lambda_max at the sampled steps; for SGD the sharpness above which its learning rate is unstable."""
    fig = agg_figure(figsize=(6.2, 3.6))
    ax = fig.subplots()
    x = np.asarray(steps, dtype=float)
    y = _clean(values)
    ax.plot(x, y, "-o", ms=4, color=TRAIN_COLOUR, label="sharpness lambda_max")
    if edge is not None and any(e is not None for e in edge):
        ax.plot(x, _clean(edge), "--", color=VAL_COLOUR, lw=1.3,
                label="edge of stability 2(1+m)/lr: above it SGD diverges along that direction")
    finite = y[np.isfinite(y) & (y > 0)]
    if finite.size and finite.max() / finite.min() > 20:
        ax.set_yscale("log")
    ax.set_xlabel("training step")
    ax.set_ylabel("largest Hessian eigenvalue")
    ax.set_title(f"sharpness of the training loss ({solver or 'solver unknown'})", fontsize=11)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return to_data_uri(fig)


def finite_or_none(v: Any) -> float | None:
    """A float when ``v`` is a finite number, else None."""
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) else None
