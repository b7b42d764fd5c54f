"""The result of one babysitting check: ``Check(name, status, message, evidence)``.

The dataclass itself lives in :mod:`gradwise.train.history` (the training loop records checks in
``History.checks`` and in its checkpoints, so it owns the type); this module re-exports it for the
babysitter and adds the small vocabulary every check function shares: the check names, the status
order (``pass``/``skip`` < ``warn`` < ``fail``) and constructors that keep the evidence JSON-serialisable.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from gradwise.train.history import CHECK_STATUSES, Check

__all__ = ["Check", "CHECK_NAMES", "PRE_TRAINING", "DURING_TRAINING", "CHECK_STATUSES", "make", "worst",
           "severity", "jsonable"]

#: Checks made once, before the first update (the lecture's first babysitting steps).
PRE_TRAINING = ("input_normalization", "init_scheme", "initial_loss", "overfit_tiny_batch")
#: Checks made while training, on every step (loss) or on sampled steps (activations, gradients, updates,
#: sharpness), on the batches the loop draws and on the validation passes.  ``data_order`` and ``curvature``
#: are first judged before the first update when the run's data allows; like every check of this group,
#: they report "not measured" (a pass that says why) when the loop gives nothing to measure.
DURING_TRAINING = ("nan_inf", "loss_decreasing", "data_order", "dead_relu", "saturation", "gradient_flow",
                   "learning_rate", "curvature", "validation")
#: Every check the babysitter makes, in the order a report lists them.
CHECK_NAMES = PRE_TRAINING + DURING_TRAINING


_SEVERITY = {"pass": 0, "skip": 0, "warn": 1, "fail": 2}


def severity(status: str) -> int:
    """0 for ``pass`` and ``skip`` (a check that could not run found nothing wrong), 1 for ``warn``, 2 for ``fail``."""
    if status not in _SEVERITY:
        raise ValueError(f"check status {status!r} is not one of {', '.join(CHECK_STATUSES)}")
    return _SEVERITY[status]


def worst(*statuses: str) -> str:
    """The most severe of some statuses (``pass`` when none is given)."""
    return max(statuses, key=severity, default="pass")


def make(name: str, status: str, message: str, **evidence: Any) -> Check:
    """A :class:`Check` whose evidence holds only JSON values (NumPy scalars/arrays converted, NaN kept as
    a string so that ``checks.json`` stays valid JSON)."""
    return Check(name=name, status=status, message=message, evidence={k: jsonable(v) for k, v in evidence.items()})


def jsonable(value: Any) -> Any:
    """``value`` as plain JSON: NumPy scalars and arrays as Python values, non-finite floats as strings."""
    kind = type(value)   # the plain Python types first: sampled steps make several checks, each converted
    if kind is float:
        return value if math.isfinite(value) else str(value)
    if kind is str or kind is int or kind is bool or value is None:
        return value
    if kind is dict:
        return {str(k): jsonable(v) for k, v in value.items()}
    if kind is list:
        return [jsonable(v) for v in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, np.floating):
        return jsonable(float(value))
    if isinstance(value, np.ndarray):
        return [jsonable(v) for v in value.tolist()]
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if value is None or isinstance(value, str):
        return value
    return str(value)
