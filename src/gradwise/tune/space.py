"""The search space: which hyper-parameters a study varies, over which values, declared in Python or TOML.

A parameter is named by the config key it sets, ``"section.key"`` - ``"optim.lr"``, ``"model.dropout"``,
``"schedule.kind"`` - so that a trial's parameters are simply overrides of the run's TOML config (see
:mod:`gradwise.train.config`), plus three architecture keys that only a search needs:
``model.width`` and ``model.depth`` (``model.hidden = [width] * depth``) and ``model.filters`` (the
channels of each convolution of ``model.kind = "cnn"``).  The lecture's second babysitting stage asks to
"play with network architecture (# filters etc.), learning rate, decay rate, regularization"; each of
those is one of these keys.

Three kinds of dimension, with Optuna's meaning (``trial.suggest_float/int/categorical``)::

    Float(1e-4, 1e-1, log=True)            # learning rate: log scale
    Int(32, 256, log=True)                 # layer width
    Categorical(["adam", "sgd"])           # solver
    Float(0.5, 0.99, when={"optim.name": "sgd"})   # momentum, only sampled for SGD trials

``when`` makes a dimension conditional on the values already drawn for earlier dimensions (the order
of declaration), which is how a space avoids asking Adam for a momentum.  The samplers and pruners
themselves are Optuna's; this module only turns declarations into ``trial.suggest_*`` calls and into
the value lists Optuna's ``GridSampler`` needs.
"""
from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Float", "Int", "Categorical", "Dimension", "SearchSpace", "TUNE_ONLY_KEYS"]

#: Keys a search may set that the training config itself does not have: they shape the architecture.
TUNE_ONLY_KEYS = {"model.width": "units of every hidden layer (model.hidden = [width] * depth)",
                  "model.depth": "number of hidden layers (convolutions for kind = 'cnn')",
                  "model.filters": "channels of every convolution of kind = 'cnn'"}

Condition = Mapping[str, Any]


def _normalise_when(when: Condition | None) -> dict[str, tuple[Any, ...]]:
    """``{"optim.name": "sgd"}`` or ``{"optim.name": ["sgd", "rmsprop"]}`` as ``{key: (allowed values)}``."""
    out: dict[str, tuple[Any, ...]] = {}
    for key, allowed in (when or {}).items():
        out[str(key)] = tuple(allowed) if isinstance(allowed, (list, tuple)) else (allowed,)
    return out


@dataclass(frozen=True)
class Float:
    """A real-valued dimension in ``[low, high]``; ``log=True`` samples ``log(value)`` uniformly (for learning
    rates and weight decays, whose useful values span decades).  ``step`` discretises it (not with ``log``).
    ``grid_points`` is how many values the grid sampler tries (evenly spaced, on the log scale if ``log``)."""

    low: float
    high: float
    log: bool = False
    step: float | None = None
    when: Condition | None = None
    grid_points: int = 3

    def __post_init__(self) -> None:
        _check_range(self.low, self.high, self.log, self.step, "Float")

    def suggest(self, trial: Any, name: str) -> float:
        return trial.suggest_float(name, float(self.low), float(self.high), log=self.log, step=self.step)

    def grid_values(self) -> list[float]:
        if self.step is not None:
            values = np.arange(self.low, self.high + self.step / 2, self.step)
            if len(values) <= max(self.grid_points, 2) * 3:
                return [float(v) for v in values]
        points = max(int(self.grid_points), 2)
        if self.log:
            return [float(v) for v in np.geomspace(self.low, self.high, points)]
        return [float(v) for v in np.linspace(self.low, self.high, points)]

    def describe(self) -> str:
        return f"float in [{self.low:g}, {self.high:g}]{' (log)' if self.log else ''}"


@dataclass(frozen=True)
class Int:
    """An integer dimension in ``[low, high]`` (both included); ``log=True`` for sizes such as widths."""

    low: int
    high: int
    log: bool = False
    step: int = 1
    when: Condition | None = None
    grid_points: int = 3

    def __post_init__(self) -> None:
        if not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in (self.low, self.high, self.step)):
            raise ValueError(f"Int: low, high and step must be integers, got {self.low!r}, {self.high!r}, {self.step!r}")
        _check_range(self.low, self.high, self.log, None if self.step == 1 else self.step, "Int")

    def suggest(self, trial: Any, name: str) -> int:
        return trial.suggest_int(name, int(self.low), int(self.high), log=self.log, step=int(self.step))

    def grid_values(self) -> list[int]:
        values = list(range(int(self.low), int(self.high) + 1, int(self.step)))
        if len(values) <= max(self.grid_points, 2) * 2:
            return values
        points = max(int(self.grid_points), 2)
        raw = np.geomspace(self.low, self.high, points) if self.log else np.linspace(self.low, self.high, points)
        return sorted({int(round(v)) for v in raw})

    def describe(self) -> str:
        return f"int in [{self.low}, {self.high}]{' (log)' if self.log else ''}"


@dataclass(frozen=True)
class Categorical:
    """One of a few values (strings, numbers, booleans, or lists such as ``[128, 64]`` for ``model.hidden``)."""

    choices: Sequence[Any]
    when: Condition | None = None

    def __post_init__(self) -> None:
        if isinstance(self.choices, (str, bytes)) or len(self.choices) == 0:
            raise ValueError(f"Categorical: choices must be a non-empty list, got {self.choices!r}")
        object.__setattr__(self, "choices", tuple(self.choices))

    def suggest(self, trial: Any, name: str) -> Any:
        # Optuna stores only None/bool/int/float/str choices; lists are drawn by their index and mapped back.
        if all(c is None or isinstance(c, (bool, int, float, str)) for c in self.choices):
            return trial.suggest_categorical(name, list(self.choices))
        labels = [_label(c) for c in self.choices]
        return self.choices[labels.index(trial.suggest_categorical(name, labels))]

    def grid_values(self) -> list[Any]:
        if all(c is None or isinstance(c, (bool, int, float, str)) for c in self.choices):
            return list(self.choices)
        return [_label(c) for c in self.choices]

    def decode(self, stored: Any) -> Any:
        """The choice a stored Optuna value stands for (the label of a list choice, or the value itself)."""
        for c in self.choices:
            if c == stored or _label(c) == stored:
                return c
        return stored

    def describe(self) -> str:
        return "one of " + ", ".join(_label(c) for c in self.choices)


Dimension = Float | Int | Categorical


def _label(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(str(v) for v in value) + "]"
    return str(value)


def _check_range(low: float, high: float, log: bool, step: float | None, kind: str) -> None:
    if not (isinstance(low, (int, float)) and isinstance(high, (int, float))) or isinstance(low, bool):
        raise ValueError(f"{kind}: low and high must be numbers, got {low!r} and {high!r}")
    if not (math.isfinite(low) and math.isfinite(high)) or low > high:
        raise ValueError(f"{kind}: needs finite low <= high, got low={low!r}, high={high!r}")
    if log and low <= 0:
        raise ValueError(f"{kind}: log=True needs low > 0 (the log of {low!r} does not exist)")
    if log and step is not None:
        raise ValueError(f"{kind}: step cannot be combined with log=True (Optuna's rule)")
    if step is not None and step <= 0:
        raise ValueError(f"{kind}: step must be positive, got {step!r}")


class SearchSpace:
    """An ordered mapping ``"section.key" -> dimension``: what each trial draws, in declaration order.

    ``SearchSpace({"optim.lr": Float(1e-4, 1e-1, log=True), "model.width": Int(32, 256, log=True)})``.
    A plain list is accepted as ``Categorical(list)``.  Keys are checked against the training config
    by :func:`gradwise.tune.config.check_space` (unknown key or impossible value: an error naming it).
    """

    def __init__(self, dims: Mapping[str, Any] | None = None) -> None:
        self.dims: dict[str, Dimension] = {}
        for name, dim in (dims or {}).items():
            self.add(name, dim)

    def add(self, name: str, dim: Any) -> "SearchSpace":
        """Add one dimension (a list becomes a :class:`Categorical`); returns the space for chaining."""
        if "." not in name:
            raise ValueError(f"search space key {name!r}: name the config key as 'section.key', e.g. 'optim.lr'")
        if isinstance(dim, (list, tuple)):
            dim = Categorical(list(dim))
        if not isinstance(dim, (Float, Int, Categorical)):
            raise TypeError(f"search space key {name!r}: expected Float, Int, Categorical or a list of choices, "
                            f"got {type(dim).__name__}")
        for key in _normalise_when(dim.when):
            if key not in self.dims:
                raise ValueError(f"search space key {name!r}: its condition refers to {key!r}, which must be declared "
                                 "before it")
        self.dims[name] = dim
        return self

    def __iter__(self) -> Iterator[str]:
        return iter(self.dims)

    def __len__(self) -> int:
        return len(self.dims)

    def __repr__(self) -> str:
        return f"SearchSpace({self.dims!r})"

    def __getitem__(self, name: str) -> Dimension:
        return self.dims[name]

    def items(self) -> Iterator[tuple[str, Dimension]]:
        return iter(self.dims.items())

    def sample(self, trial: Any) -> dict[str, Any]:
        """Draw one configuration through ``trial.suggest_*`` (Optuna's sampler decides the values).

        A conditional dimension is drawn only when the values already drawn satisfy its ``when``.
        """
        params: dict[str, Any] = {}
        for name, dim in self.dims.items():
            if self.active(name, params):
                params[name] = dim.suggest(trial, name)
        return params

    def active(self, name: str, params: Mapping[str, Any]) -> bool:
        """Whether ``name``'s condition holds for the values drawn so far (always, without a condition)."""
        return all(params.get(key) in allowed for key, allowed in _normalise_when(self.dims[name].when).items())

    def decode(self, stored: Mapping[str, Any]) -> dict[str, Any]:
        """A trial's parameters as Optuna stored them, with list choices (e.g. ``model.hidden``) mapped back."""
        out = {}
        for name, value in stored.items():
            dim = self.dims.get(name)
            out[name] = dim.decode(value) if isinstance(dim, Categorical) else value
        return out

    def grid(self) -> dict[str, list[Any]]:
        """The value lists for ``optuna.samplers.GridSampler`` (every dimension, conditional ones included)."""
        return {name: dim.grid_values() for name, dim in self.dims.items()}

    def log_scale(self, name: str) -> bool:
        dim = self.dims.get(name)
        return bool(getattr(dim, "log", False))

    def describe(self) -> list[str]:
        """One line per dimension: ``optim.lr: float in [0.0001, 0.1] (log)``."""
        lines = []
        for name, dim in self.dims.items():
            cond = _normalise_when(dim.when)
            when = "" if not cond else " when " + ", ".join(f"{k} in {list(v)}" for k, v in cond.items())
            lines.append(f"{name}: {dim.describe()}{when}")
        return lines
