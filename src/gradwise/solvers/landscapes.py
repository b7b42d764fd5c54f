"""The lecture's loss landscapes, as functions of a 2-D point with known minima.

Each landscape is written once, with the maths module as a parameter, so the same formula
runs on NumPy arrays (a whole grid at once, for the contour plot) and on gradwise Tensors
(the gradient the solvers follow comes from gradwise's autograd). Each also carries the start
point, view, learning rates and step budget under which it tells its story in the playground:

- ``ill_conditioned``: a long narrow valley (condition number 50): plain GD zig-zags across it
  and crawls along it, momentum overshoots then settles, Adam's per-coordinate scaling walks
  straight down.
- ``saddle``: a saddle point (``x^2/2 - y^2/2`` near the origin, bounded by ``y^4/4`` so that
  solvers can leave it for the two minima): plain GD stalls at the saddle, noise (SGD),
  momentum and Adam escape.
- ``local_minima``: a tilted double well: GD stops in the nearer, shallower well; momentum
  rolls over the bump into the deeper one.
- ``bumpy``: a quadratic bowl "full of small pits" (plus small sinusoids): GD stops in the
  first pit, gradient noise (SGD) and momentum carry on towards the bottom.
- ``rosenbrock``: the classic curved valley, minimum at (1, 1).
"""
from __future__ import annotations

import types
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

import gradwise

# condition number of the ill-conditioned quadratic: the ratio of its Hessian's eigenvalues
KAPPA = 50.0


@dataclass(frozen=True)
class Landscape:
    """A 2-D loss surface with its known minima and the playground's defaults for it.

    Attributes:
        name: identifier used by the playground and the command line.
        title: the plot's title.
        formula: ``fn(x, y, m)`` with ``m`` the maths module (``numpy`` or ``gradwise``).
        minima: the global minima (all with value ``min_value``).
        min_value: the lowest value of the function.
        start: the default start point.
        xlim, ylim: the default view.
        log_levels: draw contour levels spaced logarithmically above the minimum.
        solvers: the default solvers to compare.
        lrs: default learning rate for each solver name on this landscape.
        steps: default number of steps.
        tol: default tolerance on ``f - min_value`` for "steps to tolerance".
        noise: default standard deviation of the gradient noise of the "SGD" solver.
        story: one sentence saying what the picture shows.
        legend_loc: where the plot's legend goes (a matplotlib location).
        landmarks: other critical points worth marking, as (label, point) pairs.
    """

    name: str
    title: str
    formula: Callable[[Any, Any, types.ModuleType], Any]
    minima: tuple[tuple[float, float], ...]
    min_value: float
    start: tuple[float, float]
    xlim: tuple[float, float]
    ylim: tuple[float, float]
    log_levels: bool
    solvers: tuple[str, ...]
    lrs: dict[str, float] = field(default_factory=dict)
    steps: int = 100
    tol: float = 1e-3
    noise: float = 0.0
    story: str = ""
    legend_loc: str = "best"
    landmarks: tuple[tuple[str, tuple[float, float]], ...] = ()

    def __call__(self, x: Any, y: Any) -> Any:
        """The value at ``(x, y)``: NumPy arrays (or floats) in, NumPy out; Tensors in, Tensor out."""
        module = gradwise if isinstance(x, gradwise.Tensor) else np
        return self.formula(x, y, module)

    def value_and_grad(self, point: tuple[float, float]) -> tuple[float, np.ndarray]:
        """The value and gradient at ``point``, the gradient from gradwise's autograd."""
        xy = gradwise.tensor(np.asarray(point, dtype=np.float64), requires_grad=True)
        value = self(xy[0], xy[1])
        value.backward()
        return float(value.item()), xy.grad.numpy().copy()

    def nearest_minimum(self, point: tuple[float, float]) -> tuple[float, float]:
        return min(self.minima, key=lambda m: (m[0] - point[0]) ** 2 + (m[1] - point[1]) ** 2)


# ----------------------------------------------------------------------------- the formulas
def _ill_conditioned(x, y, m):
    """Half of ``x^2 + KAPPA y^2``: Hessian eigenvalues 1 and KAPPA."""
    return 0.5 * (x ** 2 + KAPPA * y ** 2)


def _saddle(x, y, m):
    """``x^2/2 - y^2/2 + y^4/4``: a saddle at the origin, minima at (0, +-1) with value -1/4."""
    return 0.5 * x ** 2 - 0.5 * y ** 2 + 0.25 * y ** 4


def _local_minima(x, y, m):
    """A tilted double well in x: the global minimum near x = -1.04, a shallower one near 0.96."""
    return (x ** 2 - 1) ** 2 + 0.3 * x + 0.5 * y ** 2


def _bumpy(x, y, m):
    """A wide bowl plus small ripples: a pit about every 1.26 units, the global minimum at 0."""
    return 0.08 * (x ** 2 + y ** 2) + 0.15 * (2 - m.cos(5 * x) - m.cos(5 * y))


def _rosenbrock(x, y, m):
    """``(1 - x)^2 + 100 (y - x^2)^2``: a curved, flat-bottomed valley; minimum (1, 1)."""
    return (1 - x) ** 2 + 100 * (y - x ** 2) ** 2


def _tilted_well_critical_points() -> np.ndarray:
    """The x of the critical points of ``(x^2-1)^2 + 0.3 x`` (roots of 4x^3 - 4x + 0.3), sorted:
    the deeper well, the bump between the wells, the shallower well."""
    return np.sort(np.roots([4.0, 0.0, -4.0, 0.3]).real)


_LEFT_WELL, _BUMP, _RIGHT_WELL = (float(v) for v in _tilted_well_critical_points())

LANDSCAPES: dict[str, Landscape] = {
    "ill_conditioned": Landscape(
        name="ill_conditioned",
        title=f"Ill-conditioned quadratic f = (x² + {KAPPA:g}·y²)/2 — condition number κ = {KAPPA:g}",
        formula=_ill_conditioned, minima=((0.0, 0.0),), min_value=0.0,
        start=(-9.0, 1.6), xlim=(-10.0, 3.0), ylim=(-2.2, 2.2), log_levels=True,
        solvers=("GD", "SGD+Momentum", "Adam"),
        lrs={"GD": 0.038, "SGD": 0.038, "SGD+Momentum": 0.008, "Nesterov": 0.008, "Adam": 0.2, "RMSprop": 0.1,
             "Adagrad": 1.5, "Adadelta": 1.0, "LBFGS": 1.0},
        steps=120, tol=1e-3,
        story="GD zig-zags across the steep direction and crawls along the flat one; momentum builds speed along "
              "the valley, overshoots the minimum, then settles; Adam rescales each coordinate, so the steep one no "
              "longer dictates the step."),
    "saddle": Landscape(
        name="saddle",
        title="Saddle point: f = x²/2 − y²/2 + y⁴/4 (≈ x²/2 − y²/2 near the origin)",
        formula=_saddle, minima=((0.0, 1.0), (0.0, -1.0)), min_value=-0.25,
        start=(-2.0, 1e-3), xlim=(-2.5, 2.5), ylim=(-1.6, 1.6), log_levels=True,
        solvers=("GD", "SGD", "SGD+Momentum", "Adam"),
        lrs={"GD": 0.05, "SGD": 0.05, "SGD+Momentum": 0.05, "Nesterov": 0.05, "Adam": 0.05, "RMSprop": 0.02,
             "Adagrad": 0.3, "LBFGS": 1.0},
        steps=80, tol=1e-2, noise=0.3, legend_loc="lower left", landmarks=(("saddle point", (0.0, 0.0)),),
        story="GD slides into the saddle and stalls there (the gradient across it is tiny); the noise of SGD, the "
              "velocity of momentum and Adam's normalized steps carry the others off it, down to a minimum."),
    "local_minima": Landscape(
        name="local_minima",
        title="Local minima: f = (x² − 1)² + 0.3x + y²/2",
        formula=_local_minima, minima=((_LEFT_WELL, 0.0),), min_value=float(_local_minima(_LEFT_WELL, 0.0, np)),
        start=(2.0, 1.5), xlim=(-2.0, 2.3), ylim=(-1.8, 1.8), log_levels=True,
        solvers=("GD", "SGD+Momentum", "Adam"),
        lrs={"GD": 0.02, "SGD": 0.02, "SGD+Momentum": 0.01, "Nesterov": 0.01, "Adam": 0.1, "RMSprop": 0.05,
             "Adagrad": 0.5, "LBFGS": 1.0},
        steps=150, tol=1e-3, landmarks=(("local minimum", (_RIGHT_WELL, 0.0)),),
        story="GD stops in the shallower well it starts above; momentum carries enough speed over the bump into "
              "the deeper one."),
    "bumpy": Landscape(
        name="bumpy",
        title="A valley full of small pits: f = 0.08(x² + y²) + 0.15(2 − cos 5x − cos 5y)",
        formula=_bumpy, minima=((0.0, 0.0),), min_value=0.0,
        start=(5.0, 4.2), xlim=(-2.5, 6.0), ylim=(-2.5, 5.5), log_levels=False,
        solvers=("GD", "SGD", "SGD+Momentum", "Adam"),
        lrs={"GD": 0.1, "SGD": 0.1, "SGD+Momentum": 0.02, "Nesterov": 0.02, "Adam": 0.3, "RMSprop": 0.1,
             "Adagrad": 1.0, "LBFGS": 1.0},
        steps=250, tol=0.1, noise=2.0,
        story="GD stops in the first pit; the noise of minibatch gradients (SGD) hops it from pit to pit down the "
              "valley (it keeps wandering: a decaying learning rate would let it settle); momentum rolls over several "
              "pits; Adam's normalized steps stride across the ripples."),
    "rosenbrock": Landscape(
        name="rosenbrock",
        title="Rosenbrock: f = (1 − x)² + 100(y − x²)², minimum at (1, 1)",
        formula=_rosenbrock, minima=((1.0, 1.0),), min_value=0.0,
        start=(-1.5, 2.0), xlim=(-2.0, 2.0), ylim=(-1.0, 3.0), log_levels=True,
        solvers=("GD", "SGD+Momentum", "Nesterov", "Adam", "LBFGS"),
        lrs={"GD": 1e-3, "SGD": 1e-3, "SGD+Momentum": 1e-3, "Nesterov": 1e-3, "Adam": 0.1, "AdamW": 0.1,
             "RMSprop": 0.01, "Adagrad": 0.5, "Adadelta": 1.0, "NAdam": 0.1, "RAdam": 0.1, "Adamax": 0.1,
             "LBFGS": 1.0},
        steps=500, tol=1e-2,
        story="Every first-order solver reaches the curved valley fast and then crawls along its flat floor; GD is "
              "still far after 500 steps, momentum, Nesterov and Adam get close, L-BFGS uses curvature and reaches "
              "(1, 1) in a few dozen steps."),
}


def get_landscape(name: str | Landscape) -> Landscape:
    """A landscape by name (or the landscape itself)."""
    if isinstance(name, Landscape):
        return name
    key = name.lower().replace("-", "_")
    if key not in LANDSCAPES:
        raise ValueError(f"unknown landscape {name!r}; choose from {', '.join(LANDSCAPES)}")
    return LANDSCAPES[key]
