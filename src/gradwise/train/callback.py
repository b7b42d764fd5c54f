"""The :class:`Callback` base class, and :class:`MonitorCallback` for callbacks that track one metric's best.

Kept apart from the concrete callbacks (:mod:`gradwise.train.callbacks`) so that the trainer imports
the interface and nothing else.  ``MonitorCallback`` is Keras 3's idea: one place decides whether a
logged value is an improvement (``min``/``max``/``auto`` mode, ``min_delta``), so that early stopping,
checkpoints, tuning's pruning and a plateau scheduler all agree on what "better" means.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gradwise.train.trainer import Trainer

__all__ = ["Callback", "MonitorCallback", "metric_mode", "resolve_mode"]


class Callback:
    """Base class: override the hooks you need (every hook does nothing by default).

    ``order`` decides when a callback runs relative to the others (ascending, default 0).  A
    callback that keeps state returns it from :meth:`state_dict`; the checkpoint stores it under
    the callback's class name and gives it back through :meth:`load_state_dict` on resume.
    """

    order: int = 0

    def on_train_begin(self, trainer: "Trainer") -> None: ...
    def on_epoch_begin(self, trainer: "Trainer", epoch: int) -> None: ...
    def on_batch_begin(self, trainer: "Trainer", batch_index: int, batch: Any) -> None: ...
    def on_after_forward(self, trainer: "Trainer", batch_index: int, outputs: Any, loss: Any) -> None: ...
    def on_after_backward(self, trainer: "Trainer", batch_index: int) -> None: ...
    def on_batch_end(self, trainer: "Trainer", batch_index: int, logs: dict[str, Any]) -> None: ...
    def on_validation_end(self, trainer: "Trainer", epoch: int, logs: dict[str, Any]) -> None: ...
    def on_epoch_end(self, trainer: "Trainer", epoch: int, logs: dict[str, Any]) -> None: ...
    def on_train_end(self, trainer: "Trainer") -> None: ...
    def on_exception(self, trainer: "Trainer", exception: BaseException) -> None: ...

    def state_dict(self) -> dict[str, Any]:
        """The state to checkpoint (empty for stateless callbacks)."""
        return {}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Take back what :meth:`state_dict` returned."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def metric_mode(name: str) -> str:
    """``"max"`` for metrics that should grow (accuracy, AUC, F1, precision, recall, score), else ``"min"``."""
    n = name.lower()
    return "max" if any(s in n for s in ("acc", "auc", "f1", "precision", "recall", "score")) else "min"


def resolve_mode(mode: str, monitor: str, who: str) -> str:
    """``"min"`` or ``"max"`` from ``"auto"`` (by :func:`metric_mode`) or as given; anything else is an error."""
    if mode == "auto":
        return metric_mode(monitor)
    if mode not in ("min", "max"):
        raise ValueError(f"{who}: mode {mode!r} is not one of auto, min, max")
    return mode


class MonitorCallback(Callback):
    """A callback that watches one logged metric and keeps its best value and epoch.

    An epoch improves when ``monitor`` beats the best so far (or ``baseline`` before any) by more than
    ``min_delta``: below it in ``"min"`` mode, above in ``"max"``; ``"auto"`` picks ``"max"`` for
    accuracies and scores.  Subclasses call :meth:`track` at each epoch's end.
    """

    def __init__(self, monitor: str = "val_loss", mode: str = "auto", min_delta: float = 0.0,
                 baseline: float | None = None) -> None:
        self.monitor = monitor
        self.mode = resolve_mode(mode, monitor, type(self).__name__)
        self.min_delta = abs(float(min_delta))
        self.baseline = baseline
        self.best: float | None = None
        self.best_epoch: int | None = None

    def is_improvement(self, value: float, reference: float | None) -> bool:
        """Whether ``value`` beats ``reference`` (None: anything does) by more than ``min_delta``."""
        if reference is None:
            return True
        return value < reference - self.min_delta if self.mode == "min" else value > reference + self.min_delta

    def monitored(self, logs: Mapping[str, Any]) -> float | None:
        """The finite value of ``monitor`` in ``logs``, else None."""
        value = logs.get(self.monitor)
        return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None

    def track(self, epoch: int, logs: Mapping[str, Any]) -> bool | None:
        """Update the best with this epoch: True when it improved, False when not, None without a value."""
        value = self.monitored(logs)
        if value is None:
            return None
        if self.is_improvement(value, self.best if self.best is not None else self.baseline):
            self.best, self.best_epoch = value, epoch
            return True
        return False

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "best_epoch": self.best_epoch}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.best, self.best_epoch = state.get("best"), state.get("best_epoch")
