"""The bridge from ``fit`` to Optuna's pruners: report each epoch's validation metric, stop when told to.

Optuna's integration callbacks (``optuna_integration.KerasPruningCallback``,
``PyTorchLightningPruningCallback``) do the same for other libraries: after every epoch the monitored
value goes to ``trial.report(value, step=epoch)``; when ``trial.should_prune()`` - the pruner (median,
successive halving, Hyperband) judging it hopeless against the other trials at the same epoch - the
run is stopped.  Here the stop goes through ``trainer.stop`` so that ``fit`` ends normally and the
trial's History, checks and diagnosis are kept for the results table; the objective then raises
``optuna.TrialPruned``.  The callback also keeps a copy of the weights of the best epoch, so that the
model saved for a trial is the one its objective value describes.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gradwise.train.callback import MonitorCallback

if TYPE_CHECKING:
    from gradwise.train.trainer import Trainer

__all__ = ["PruningCallback"]


class PruningCallback(MonitorCallback):
    """Report ``monitor`` (``val_loss`` or ``val_accuracy``) to an Optuna trial each epoch; stop pruned runs.

    After training, ``pruned_at`` is the epoch at which the pruner stopped the run (None if it did not),
    ``best_value``/``best_epoch`` the best monitored value and its epoch, and ``best_state`` a copy of the
    model's weights at that epoch.
    """

    order = 20   # after the babysitter and early stopping (0), before the loggers (50)

    def __init__(self, trial: Any, monitor: str = "val_loss", keep_best_state: bool = True) -> None:
        super().__init__(monitor)   # "better" by the same rule as early stopping and checkpoints
        self.trial = trial
        self.keep_best_state = keep_best_state
        self.pruned_at: int | None = None
        self.best_state: dict[str, Any] | None = None

    @property
    def maximize(self) -> bool:
        return self.mode == "max"

    @property
    def best_value(self) -> float | None:
        return self.best

    def on_train_begin(self, trainer: "Trainer") -> None:
        trainer.require_key(self.monitor, "tune pruning")

    def on_epoch_end(self, trainer: "Trainer", epoch: int, logs: dict[str, Any]) -> None:
        improved = self.track(epoch, logs)
        if improved is None:
            return
        value = self.monitored(logs)
        if improved and self.keep_best_state:
            self.best_state = trainer.engine.snapshot_weights(trainer.model)
        self.trial.report(float(value), step=epoch)
        if self.pruned_at is None and not trainer.stop_training and self.trial.should_prune():
            self.pruned_at = epoch
            trainer.stop(f"pruned by Optuna at epoch {epoch}: {self.monitor} {value:.4g} is not promising next to "
                         "the other trials at this epoch")
