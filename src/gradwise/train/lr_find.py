"""The learning-rate range test (Smith, 2017; fastai's ``lr_find``): which learning rate to start from.

The lecture lists the learning rate first among the hyper-parameters to "play with" once training runs
(babysitting, stage two).  Rather than guessing, train for ``num_steps`` mini-batches while the rate
grows exponentially from ``start_lr`` to ``end_lr``, and record the loss: it stays flat while the rate
is too small to matter, falls fastest where the rate is useful, and explodes where it is too large.
The sweep stops early once the smoothed loss exceeds ``diverge_factor`` times its best value.

Two suggestions, as fastai gives them (computed after dropping the first tenth of the steps and the
last five, where the curve is dominated by start-up and by divergence):

* ``suggestion`` / ``lr_steep`` - where the smoothed loss falls fastest per unit of ``log(lr)``;
* ``lr_min`` - the rate of the lowest smoothed loss divided by 10 (one order of magnitude below the
  point where the loss starts to climb).

The model, the optimizer and every random stream are restored afterwards: the sweep leaves no trace.
"""
from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gradwise.train import checkpoint as ckpt
from gradwise.train.fit import resolve_loss, resolve_optimizer

__all__ = ["lr_find", "LRFinderResult"]


@dataclass
class LRFinderResult:
    """The sweep: ``lrs`` and smoothed ``losses`` (bias-corrected running mean), ``raw_losses``, and the suggestions."""

    lrs: list[float]
    losses: list[float]
    raw_losses: list[float]
    suggestion: float | None
    lr_min: float | None
    stop_reason: str
    lr_steep: float | None = field(init=False)

    def __post_init__(self) -> None:
        self.lr_steep = self.suggestion

    def plot(self, path: str | os.PathLike | None = None, ax: Any = None) -> Any:
        """Loss against learning rate (log x-axis) with both suggestions marked; saved as PNG when ``path`` is given.

        Returns the path written, or the matplotlib Axes when drawing into ``ax``.
        """
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure   # no pyplot: the user's backend and pyplot's figures stay as they are

        fig = None
        if ax is None:
            fig = Figure(figsize=(7, 4.5), dpi=110)
            FigureCanvasAgg(fig)
            ax = fig.subplots()
        lrs, losses = np.asarray(self.lrs), np.asarray(self.losses)
        ax.plot(lrs, np.asarray(self.raw_losses), color="0.8", lw=0.8, label="loss per batch")
        ax.plot(lrs, losses, color="C0", lw=2, label="smoothed loss")
        ax.set_xscale("log")
        if self.suggestion is not None:
            y = np.interp(math.log(self.suggestion), np.log(lrs), losses)
            ax.plot([self.suggestion], [y], "o", color="C3", ms=9, zorder=5,
                    label=f"suggestion (steepest descent): {self.suggestion:.2e}")
        if self.lr_min is not None:
            ax.axvline(self.lr_min, color="C2", ls="--", lw=1.2, label=f"minimum / 10: {self.lr_min:.2e}")
        if len(losses):
            low, first = float(losses.min()), float(losses[0])
            top = max(first, low) + 0.6 * max(first - low, 0.05 * abs(first) + 1e-12)
            ax.set_ylim(low - 0.05 * (top - low), min(top, float(losses.max()) + 0.05 * (top - low)))
        ax.set_xlabel("learning rate (log scale)")
        ax.set_ylabel("training loss")
        ax.set_title("learning-rate range test")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(loc="upper left", fontsize=8)
        if fig is None or path is None:
            return ax
        fig.tight_layout()
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path)
        return path

    def __str__(self) -> str:
        fmt = lambda v: f"{v:.2e}" if v is not None else "-"   # noqa: E731
        return (f"lr_find: {len(self.lrs)} steps from {fmt(self.lrs[0] if self.lrs else None)} to "
                f"{fmt(self.lrs[-1] if self.lrs else None)} ({self.stop_reason}); suggested lr {fmt(self.suggestion)} "
                f"(steepest descent), minimum/10 {fmt(self.lr_min)}")


def _cycle(loader: Any) -> Iterator[Any]:
    while True:
        empty = True
        for batch in loader:
            empty = False
            yield batch
        if empty:
            raise ValueError("lr_find: the training data is empty")


def _suggestions(lrs: np.ndarray, losses: np.ndarray, num_steps: int) -> tuple[float | None, float | None]:
    """fastai's ``steep`` and ``minimum`` on the sweep without its first tenth and last five points.

    Two refinements of ``steep`` keep batch-to-batch noise from deciding it (it otherwise tends to
    pick a wiggle at the tiny rates, where the bias-corrected mean averages few batches): the slope
    is measured across ``w = len / 20`` points on either side rather than between neighbours, and
    only up to the minimum of the loss - past it the loss climbs and nothing descends.
    """
    start, stop = num_steps // 10, len(lrs) - 5
    if stop - start < 3:          # a short sweep (early divergence): use all of it
        start, stop = 0, len(lrs)
    lrs, losses = lrs[start:stop], losses[start:stop]
    if len(lrs) < 2:
        return None, None
    lowest = int(np.argmin(losses))
    lr_min = float(lrs[lowest]) / 10
    if lowest == 0:
        return None, lr_min       # the loss only rose: no descent to point at
    w = max(1, len(lrs) // 20)
    idx = np.arange(lowest + 1)
    lo, hi = np.maximum(idx - w, 0), np.minimum(idx + w, lowest)
    log_lr = np.log(lrs)
    slopes = (losses[hi] - losses[lo]) / np.maximum(log_lr[hi] - log_lr[lo], 1e-12)
    return float(lrs[int(np.argmin(slopes))]), lr_min


def lr_find(model: Any, train: Any, loss: str | Callable, optimizer_cls: Any = None, start_lr: float = 1e-7,
            end_lr: float = 10.0, num_steps: int = 100, smooth: float = 0.98, diverge_factor: float = 4.0, *,
            batch_size: int = 32, optimizer_kwargs: Mapping[str, Any] | None = None,
            seed: int | None = None, device: Any = None) -> LRFinderResult:
    """Sweep the learning rate exponentially from ``start_lr`` to ``end_lr`` over ``num_steps`` batches.

    Args:
        model: the model (its weights, modes and the random streams are restored afterwards).
        train: a DataLoader, Dataset or ``(X, y)``; batches are drawn again from the start when it runs out.
        loss: a callable or a loss name (as :func:`gradwise.train.fit`).
        optimizer_cls: the solver to sweep with: a class, a name (``"sgd"``) or an Optimizer instance
            (whose state is restored afterwards); default Adam, as fastai.
        smooth: the running mean's weight of the past (loss_s = smooth * loss_s + (1 - smooth) * loss,
            bias-corrected as in Adam).
        diverge_factor: stop when the smoothed loss exceeds this multiple of its best value.
        batch_size, seed: for building the loader from a Dataset or arrays.
        device: for a PyTorch model, where to sweep (``"cpu"``, ``"cuda"``, ``"cuda:N"``).
        optimizer_kwargs: further arguments of the optimizer (momentum, weight_decay, ...).
    """
    from gradwise.engines import check_same_engine, engine_for
    from gradwise.train.evaluate import split_batch
    from gradwise.train.fit import make_loader

    if not 0 < start_lr < end_lr:
        raise ValueError(f"lr_find: need 0 < start_lr < end_lr, got {start_lr} and {end_lr}")
    if num_steps < 2:
        raise ValueError(f"lr_find: num_steps must be at least 2, got {num_steps}")
    if not 0 <= smooth < 1:
        raise ValueError(f"lr_find: smooth must lie in [0, 1), got {smooth}")
    engine = engine_for(model, device)
    check_same_engine(engine, "lr_find", optimizer=optimizer_cls, loss=loss)
    model = engine.to_device(model)
    loss_fn = resolve_loss(loss, engine)
    given = optimizer_cls if engine.owns_optimizer(optimizer_cls) else None
    loader = make_loader(train, engine, batch_size, True, seed, engine.float_dtype(model), "train")
    lrs: list[float] = []
    raw: list[float] = []
    smoothed: list[float] = []
    reason = f"completed {num_steps} steps"
    with ckpt.preserved(model, given, ckpt.loader_generators([loader]), engine):
        optimizer = given or resolve_optimizer((optimizer_cls or "adam", dict(optimizer_kwargs or {})), model, engine)
        model.train()
        avg, best = 0.0, math.inf
        batches = _cycle(loader)
        ratio = end_lr / start_lr
        for i in range(num_steps):
            lr = start_lr * ratio ** (i / (num_steps - 1))
            for group in optimizer.param_groups:
                group["lr"] = lr
            inputs, target = split_batch(next(batches), engine)
            value_t = loss_fn(model(*inputs), target)
            value = engine.item(value_t)
            if not math.isfinite(value):
                reason = f"the loss became {value} at lr {lr:.2e} (step {i + 1})"
                break
            optimizer.zero_grad()
            value_t.backward()
            optimizer.step()
            avg = smooth * avg + (1 - smooth) * value
            current = avg / (1 - smooth ** (i + 1))
            lrs.append(lr)
            raw.append(value)
            smoothed.append(current)
            best = min(best, current)
            if current > diverge_factor * best:
                reason = f"diverged at lr {lr:.2e} (smoothed loss {current:.3g} > {diverge_factor:g} x best {best:.3g})"
                break
    steep, lr_min = _suggestions(np.asarray(lrs), np.asarray(smoothed), num_steps)
    return LRFinderResult(lrs, smoothed, raw, steep, lr_min, reason)
