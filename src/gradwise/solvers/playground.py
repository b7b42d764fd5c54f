"""The solver playground: run optimizers from the same start on a 2-D landscape and draw their paths.

    from gradwise.solvers import playground
    table = playground(["GD", "SGD+Momentum", "Adam"], landscape="saddle")

Each solver is a real ``gradwise.optim`` optimizer updating a 2-vector parameter; the
gradient comes from gradwise's autograd. ``noise`` adds Gaussian noise to the gradient of the
"SGD" solver (and of any solver given as a dict), which is what a minibatch's estimate of the
full gradient looks like: "GD" is the exact full-batch gradient, "SGD" the noisy one. The
picture (contours of the landscape, one path per solver, the start and the minima marked) is
saved as a PNG and, optionally, as an animated GIF; the returned table holds, per solver, the
number of steps until ``f - f_min <= tol`` and the final loss.
"""
from __future__ import annotations

import math
import os
from typing import Any, Mapping, Sequence

import numpy as np

import gradwise
from gradwise import optim
from gradwise.nn import Parameter
from gradwise.solvers.landscapes import Landscape, get_landscape

# name -> (optimizer class, keyword arguments besides lr, whether its gradient is noisy)
SOLVERS: dict[str, tuple[type, dict[str, Any], bool]] = {
    "GD": (optim.SGD, {}, False),
    "SGD": (optim.SGD, {}, True),
    "SGD+Momentum": (optim.SGD, {"momentum": 0.9}, False),
    "Nesterov": (optim.SGD, {"momentum": 0.9, "nesterov": True}, False),
    "Adagrad": (optim.Adagrad, {}, False),
    "RMSprop": (optim.RMSprop, {}, False),
    "Adadelta": (optim.Adadelta, {}, False),
    "Adam": (optim.Adam, {}, False),
    "AdamW": (optim.AdamW, {}, False),
    "Adamax": (optim.Adamax, {}, False),
    "NAdam": (optim.NAdam, {}, False),
    "RAdam": (optim.RAdam, {}, False),
    "ASGD": (optim.ASGD, {}, False),
    "Rprop": (optim.Rprop, {}, False),
    # one L-BFGS iteration per step; max_eval bounds the line search's evaluations (the default,
    # max_iter * 5 // 4 = 1, would leave it none)
    "LBFGS": (optim.LBFGS, {"max_iter": 1, "max_eval": 20, "history_size": 10, "line_search_fn": "strong_wolfe"},
              False),
}

# learning rates for solvers a landscape does not list
DEFAULT_LRS = {"GD": 0.01, "SGD": 0.01, "SGD+Momentum": 0.005, "Nesterov": 0.005, "Adagrad": 0.5, "RMSprop": 0.01,
               "Adadelta": 1.0, "Adam": 0.05, "AdamW": 0.05, "Adamax": 0.1, "NAdam": 0.05, "RAdam": 0.05,
               "ASGD": 0.01, "Rprop": 0.01, "LBFGS": 1.0}

SolverSpec = Sequence[str] | Mapping[str, tuple]


def _resolve_solvers(solvers: SolverSpec | None, land: Landscape) -> list[tuple[str, type, dict[str, Any], bool]]:
    """(name, class, kwargs with lr, noisy) for each requested solver."""
    if solvers is None:
        solvers = land.solvers
    if isinstance(solvers, str):
        solvers = [s.strip() for s in solvers.split(",") if s.strip()]
    resolved = []
    if isinstance(solvers, Mapping):
        for name, spec in solvers.items():
            cls, kwargs = spec[0], dict(spec[1]) if len(spec) > 1 else {}
            noisy = bool(spec[2]) if len(spec) > 2 else True
            kwargs.setdefault("lr", land.lrs.get(name, DEFAULT_LRS.get(name, 0.01)))
            resolved.append((name, cls, kwargs, noisy))
        return resolved
    lookup = {key.lower(): key for key in SOLVERS}
    for name in solvers:
        key = lookup.get(name.lower())
        if key is None:
            raise ValueError(f"unknown solver {name!r}; choose from {', '.join(SOLVERS)} or pass a dict "
                             "name -> (optimizer class, kwargs)")
        cls, kwargs, noisy = SOLVERS[key]
        lr = land.lrs.get(key, DEFAULT_LRS[key])
        resolved.append((key, cls, {"lr": lr, **kwargs}, noisy))
    return resolved


def run_solver(land: Landscape, cls: type, kwargs: dict[str, Any], start: tuple[float, float], steps: int,
               noise: float = 0.0, seed: int = 0) -> np.ndarray:
    """The path (``steps + 1`` points, the start first) of one optimizer on a landscape.

    The path stops early (and is shorter) if the solver diverges to non-finite values.
    """
    point = Parameter(gradwise.tensor(np.asarray(start, dtype=np.float64)))
    optimizer = cls([point], **kwargs)
    rng = np.random.default_rng(seed)

    def closure():
        optimizer.zero_grad()
        loss = land(point[0], point[1])
        loss.backward()
        if noise:
            with gradwise.no_grad():   # noisy gradients (SGD's view of the landscape), in place
                point.grad.add_(gradwise.from_numpy(noise * rng.standard_normal(2)))
        return loss

    path = [point.detach().numpy().copy()]
    for _ in range(steps):
        if isinstance(optimizer, optim.LBFGS):
            optimizer.step(closure)
        else:
            closure()
            optimizer.step()
        current = point.detach().numpy().copy()
        if not np.all(np.isfinite(current)):
            break
        path.append(current)
    return np.array(path)


def _steps_to_tolerance(land: Landscape, path: np.ndarray, tol: float) -> int | None:
    gaps = np.asarray(land(path[:, 0], path[:, 1])) - land.min_value
    hits = np.flatnonzero(gaps <= tol)
    return int(hits[0]) if hits.size else None


def playground(solvers: SolverSpec | None = None, landscape: str | Landscape = "rosenbrock",
               start: tuple[float, float] | None = None, steps: int | None = None, noise: float | None = None,
               seed: int = 0, path: str | os.PathLike | None = "solvers.png", gif: str | os.PathLike | None = None,
               tol: float | None = None, show_table: bool = True) -> list[dict[str, Any]]:
    """Run solvers from the same start on a landscape, draw their paths, and tabulate them.

    Args:
        solvers: solver names from ``SOLVERS`` (``"GD"``, ``"SGD"``, ``"SGD+Momentum"``,
            ``"Nesterov"``, ``"Adam"``, ``"RMSprop"``, ``"LBFGS"``, ...), a comma-separated
            string of them, or a dict ``name -> (optimizer class, kwargs[, noisy])``;
            default: the landscape's own selection. Learning rates default to values tuned
            for each landscape.
        landscape: a name from ``LANDSCAPES`` (``"ill_conditioned"``, ``"saddle"``,
            ``"local_minima"``, ``"bumpy"``, ``"rosenbrock"``) or a ``Landscape``.
        start: the common start point (default: the landscape's).
        steps: number of optimizer steps (default: the landscape's).
        noise: standard deviation of the Gaussian noise added to the gradient of the noisy
            solvers ("SGD" and dict entries); default: the landscape's. "GD" is never noisy.
        seed: seed of the noise (every noisy solver sees the same noise sequence).
        path: where to save the PNG (None: no picture).
        gif: where to save an animated GIF of the paths (None: no animation).
        tol: tolerance on ``f - f_min`` for the steps-to-tolerance column.
        show_table: print the table.

    Returns:
        One dict per solver: ``solver``, ``optimizer``, ``lr``, ``steps_to_tol`` (None if the
        tolerance was never reached), ``final_loss``, ``final_x``, ``final_y``,
        ``distance_to_min`` (to the nearest global minimum) and ``diverged``.
    """
    land = get_landscape(landscape)
    start = tuple(float(v) for v in (land.start if start is None else start))
    steps = land.steps if steps is None else int(steps)
    noise = land.noise if noise is None else float(noise)
    tol = land.tol if tol is None else float(tol)

    runs = []
    with np.errstate(over="ignore", invalid="ignore"):  # a diverging solver is one of the outcomes shown
        for name, cls, kwargs, noisy in _resolve_solvers(solvers, land):
            trajectory = run_solver(land, cls, kwargs, start, steps, noise if noisy else 0.0, seed)
            runs.append((name, cls, kwargs, noisy, trajectory))
        table = _table(land, runs, steps, noise, tol)
    if show_table:
        print(format_table(table, land, steps, tol))
    if path is not None:
        draw(land, runs, table, start, tol, noise, path)
    if gif is not None:
        animate(land, runs, table, start, noise, gif)
    return table


def _table(land: Landscape, runs: list, steps: int, noise: float, tol: float) -> list[dict[str, Any]]:
    table = []
    for name, cls, kwargs, noisy, trajectory in runs:
        final = trajectory[-1]
        nearest = land.nearest_minimum(tuple(final))
        table.append({
            "solver": name,
            "optimizer": cls.__name__,
            "lr": kwargs.get("lr"),
            "noise": noise if noisy else 0.0,
            "steps_to_tol": _steps_to_tolerance(land, trajectory, tol),
            "final_loss": float(land(final[0], final[1])),
            "final_x": float(final[0]),
            "final_y": float(final[1]),
            "distance_to_min": float(math.dist(final, nearest)),
            "diverged": len(trajectory) < steps + 1,
        })
    return table


def format_table(table: list[dict[str, Any]], land: Landscape, steps: int, tol: float) -> str:
    """The table as aligned text."""
    lines = [f"{land.name}: {steps} steps, tolerance f - f_min <= {tol:g} (f_min = {land.min_value:.6g})",
             f"{'solver':14s} {'lr':>8s} {'noise':>6s} {'steps to tol':>12s} {'final loss':>12s} "
             f"{'final point':>20s}"]
    for row in table:
        reached = "diverged" if row["diverged"] else ("—" if row["steps_to_tol"] is None else str(row["steps_to_tol"]))
        point = f"({row['final_x']:.3f}, {row['final_y']:.3f})"
        lines.append(f"{row['solver']:14s} {row['lr']:8.4g} {row['noise']:6.3g} {reached:>12s} "
                     f"{row['final_loss']:12.5g} {point:>20s}")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- drawing
def _figure(land: Landscape, dpi: int = 110):
    """A matplotlib Figure (no pyplot state) with the landscape's contours."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8.0, 6.2), dpi=dpi)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    xs = np.linspace(*land.xlim, 400)
    ys = np.linspace(*land.ylim, 400)
    grid_x, grid_y = np.meshgrid(xs, ys)
    values = np.asarray(land(grid_x, grid_y), dtype=np.float64)
    height = values - land.min_value
    if land.log_levels:
        top = float(height.max())
        levels = np.geomspace(max(top * 1e-6, 1e-4), top, 25)
        ax.contourf(grid_x, grid_y, np.maximum(height, levels[0] * 0.5), levels=np.concatenate([[0], levels]),
                    cmap="Blues_r", alpha=0.35)
        ax.contour(grid_x, grid_y, height, levels=levels, cmap="viridis", linewidths=0.6, alpha=0.55)
    else:  # evenly spaced levels over the lower 95% of the view, where the paths run
        levels = np.linspace(0.0, float(np.quantile(height, 0.95)), 30)
        ax.contourf(grid_x, grid_y, height, levels=40, cmap="Blues_r", alpha=0.35)
        ax.contour(grid_x, grid_y, height, levels=levels, cmap="viridis", linewidths=0.6, alpha=0.55)
    ax.set_xlim(*land.xlim)
    ax.set_ylim(*land.ylim)
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.set_title(land.title, fontsize=10)
    return fig, ax


def _label(row: dict[str, Any]) -> str:
    if row["diverged"]:
        outcome = "diverged"
    elif row["steps_to_tol"] is None:
        outcome = f"not within tol, f = {row['final_loss']:.3g}"
    else:
        outcome = f"{row['steps_to_tol']} steps"
    noise = f", noise {row['noise']:g}" if row["noise"] else ""
    return f"{row['solver']} (lr {row['lr']:g}{noise}): {outcome}"


def _mark_points(ax, land: Landscape, start: tuple[float, float]) -> None:
    ax.plot(*start, marker="*", markersize=16, color="black", linestyle="none", label="start", zorder=5)
    minima = np.array(land.minima)
    ax.plot(minima[:, 0], minima[:, 1], marker="X", markersize=12, color="crimson", markeredgecolor="white",
            linestyle="none", label="global minimum", zorder=5)
    for label, point in land.landmarks:
        ax.plot(*point, marker="D", markersize=8, color="white", markeredgecolor="black", linestyle="none",
                label=label, zorder=5)


def _outlined():
    """A white outline that keeps a path readable over dark contour lines."""
    from matplotlib import patheffects

    return [patheffects.withStroke(linewidth=3.4, foreground="white", alpha=0.8)]


COLORS = ["tab:red", "tab:orange", "tab:green", "tab:purple", "tab:brown", "tab:pink", "tab:gray", "tab:olive",
          "tab:cyan", "tab:blue"]


def draw(land: Landscape, runs: list, table: list[dict[str, Any]], start: tuple[float, float], tol: float,
         noise: float, path: str | os.PathLike) -> None:
    """Save the contour plot with every solver's path."""
    fig, ax = _figure(land)
    for index, ((name, _, _, _, trajectory), row) in enumerate(zip(runs, table)):
        color = COLORS[index % len(COLORS)]
        every = max(1, len(trajectory) // 60)
        width = 1.0 if row["noise"] else 1.7  # a noisy path is busy enough thin
        ax.plot(trajectory[:, 0], trajectory[:, 1], color=color, linewidth=width, label=_label(row), zorder=3,
                path_effects=_outlined())
        ax.plot(trajectory[::every, 0], trajectory[::every, 1], color=color, marker="o", markersize=2.5,
                linestyle="none", zorder=3)  # dots every few steps show the step length
        ax.plot(*trajectory[-1], marker="o", markersize=6, color=color, markeredgecolor="black", zorder=4)
    _mark_points(ax, land, start)
    ax.legend(loc=land.legend_loc, fontsize=8, framealpha=0.85)
    steps = max(len(r[4]) for r in runs) - 1
    fig.text(0.01, 0.005, f"{steps} steps from {start}; steps to f − f_min ≤ {tol:g}. {land.story}", fontsize=7,
             wrap=True)
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    fig.savefig(path)


def animate(land: Landscape, runs: list, table: list[dict[str, Any]], start: tuple[float, float], noise: float,
            gif: str | os.PathLike, frames: int = 50, frame_ms: int = 100) -> None:
    """Save an animated GIF in which the paths grow step by step (at most ``frames`` frames).

    The contours, markers and legend are drawn once; each frame restores that background and
    draws only the paths (blitting), which keeps a 50-frame GIF to a few seconds of work.
    """
    from PIL import Image

    fig, ax = _figure(land, dpi=80)
    lines, heads = [], []
    for index, ((name, _, _, _, trajectory), row) in enumerate(zip(runs, table)):
        color = COLORS[index % len(COLORS)]
        (line,) = ax.plot([], [], color=color, linewidth=1.7, label=_label(row), zorder=3, path_effects=_outlined())
        (head,) = ax.plot([], [], marker="o", markersize=6, color=color, markeredgecolor="black", zorder=4)
        lines.append(line)
        heads.append(head)
    _mark_points(ax, land, start)
    ax.legend(loc=land.legend_loc, fontsize=8, framealpha=0.85)
    counter = ax.text(0.0, -0.09, "", transform=ax.transAxes, fontsize=10, clip_on=False,
                      bbox={"facecolor": "white", "edgecolor": "none"})
    fig.tight_layout()
    canvas = fig.canvas
    canvas.draw()
    background = canvas.copy_from_bbox(fig.bbox)

    longest = max(len(r[4]) for r in runs)
    frames_rgb = []
    for count in np.unique(np.linspace(1, longest, min(frames, longest)).astype(int)):
        canvas.restore_region(background)
        for (_, _, _, _, trajectory), line, head in zip(runs, lines, heads):
            part = trajectory[:count]
            line.set_data(part[:, 0], part[:, 1])
            head.set_data([part[-1, 0]], [part[-1, 1]])
            ax.draw_artist(line)
            ax.draw_artist(head)
        counter.set_text(f"step {count - 1}")
        ax.draw_artist(counter)
        frames_rgb.append(Image.fromarray(np.asarray(canvas.buffer_rgba())[..., :3].copy()))
    # one palette for all frames, taken from the last (every path at full length): the paths keep
    # their colours, which a palette per frame would give away to the background's shades
    palette = frames_rgb[-1].quantize(colors=255, method=Image.Quantize.MEDIANCUT)
    images = [frame.quantize(palette=palette, dither=Image.Dither.NONE) for frame in frames_rgb]
    durations = [frame_ms] * (len(images) - 1) + [frame_ms * 15]  # hold the last frame
    images[0].save(gif, save_all=True, append_images=images[1:], duration=durations, loop=0, optimize=True)
