"""``MLflowLogger``: keep a gradwise run in MLflow - parameters, per-epoch metrics, checks, diagnosis, report.

Many teams keep every training run in an MLflow tracking server (or a local store); this callback puts
what gradwise knows about a run where they look for it:

* parameters (once, at the start): the model's class and parameter count, the optimizer, its learning
  rate and other hyper-parameters (``optimizer.<name>``), epochs, batch size, loss, framework, and any
  ``params=`` given;
* metrics (every epoch, ``step`` = the epoch): what the history records - ``loss``, ``val_loss``,
  accuracy, ``lr``, ...;
* the babysitter's checks: ``checks.json`` as an artifact and, for every check that warned or failed, a
  tag ``gradwise.check.<name>`` = ``warn``/``fail`` (with ``...message``), searchable in the MLflow UI
  (``tags."gradwise.check.dead_relu" = "warn"``);
* the learning-curve diagnosis: tags ``gradwise.diagnosis.verdict`` / ``.best_epoch`` and
  ``diagnosis.json``; the stop reason as ``gradwise.stop_reason``;
* ``report.html`` (rendered from the run directory when ``fit`` has a ``log_dir``).

MLflow is optional (``pip install "gradwise[mlflow]"``) and imported only when training starts.  The
run is MLflow's active run when there is one (``with mlflow.start_run(): fit(...)``), the run named by
``run_id``, or a new run in ``experiment_name`` (ended FINISHED, or FAILED/KILLED when training raises).
The run id is saved in checkpoints, so ``fit(..., resume=...)`` goes on logging into the same run.
Only rank 0 logs under ``torchrun``.
"""
from __future__ import annotations

import json
import tempfile
import time
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gradwise.train.callbacks import Callback
from gradwise.train.jsonable import json_default

if TYPE_CHECKING:
    from gradwise.train.trainer import Trainer

__all__ = ["MLflowLogger"]

_SEVERITY = {"fail": 2, "warn": 1}
_MAX_TAG = 5000        # MLflow's limit on a tag value (characters)
_MAX_PARAM = 6000      # ... and on a parameter value


def _import_mlflow() -> Any:
    try:
        import mlflow
    except ImportError:
        raise ImportError("MLflowLogger needs MLflow: pip install 'gradwise[mlflow]' (or pip install mlflow)") \
            from None
    return mlflow


class MLflowLogger(Callback):
    """Log a run's parameters, per-epoch metrics, checks, diagnosis and ``report.html`` to MLflow.

    ``tracking_uri``: where (``"file:./mlruns"``, ``"sqlite:///mlflow.db"``, ``"http://server:5000"``;
    None: MLflow's default, ``MLFLOW_TRACKING_URI``).  ``experiment_name`` (created when missing),
    ``run_name`` and ``tags`` for a new run; ``run_id`` to log into an existing run; ``params`` extra
    parameters to record; ``log_report=False`` skips rendering and uploading ``report.html``.
    After training, :attr:`run_id` names the run.
    """

    order = 95   # after the babysitter and the file loggers (their files exist), before ModelCheckpoint

    def __init__(self, experiment_name: str = "gradwise", run_name: str | None = None,
                 tracking_uri: str | None = None, tags: Mapping[str, Any] | None = None, run_id: str | None = None,
                 params: Mapping[str, Any] | None = None, log_report: bool = True) -> None:
        self.experiment_name, self.run_name, self.tracking_uri = experiment_name, run_name, tracking_uri
        self.tags = {str(k): str(v) for k, v in (tags or {}).items()}
        self.run_id, self._given_run_id = run_id, run_id
        self.params = dict(params or {})
        self.log_report = log_report
        self._client: Any = None
        self._owns_run = False
        self._active = False

    # ------------------------------------------------------------------ the run
    def on_train_begin(self, trainer: "Trainer") -> None:
        self._active = trainer.distributed is None or trainer.distributed.is_main
        if not self._active:
            return
        mlflow = _import_mlflow()
        from mlflow.tracking import MlflowClient

        self._client = MlflowClient(tracking_uri=self.tracking_uri)
        active = mlflow.active_run()
        if self.run_id is not None:                       # given, or saved in the checkpoint we resume from
            self._client.update_run(self.run_id, status="RUNNING")
            self._owns_run = self._given_run_id is None
        elif active is not None and self.tracking_uri is None:
            self.run_id, self._owns_run = active.info.run_id, False
        else:
            experiment = self._client.get_experiment_by_name(self.experiment_name)
            experiment_id = experiment.experiment_id if experiment is not None else \
                self._client.create_experiment(self.experiment_name)
            tags = {"gradwise.engine": trainer.engine.name, **self.tags}
            run = self._client.create_run(experiment_id, run_name=self.run_name, tags=tags)
            self.run_id, self._owns_run = run.info.run_id, True
        self._log_params(trainer)

    def _log_params(self, trainer: "Trainer") -> None:
        from mlflow.entities import Param

        params = _run_params(trainer)
        params.update({str(k): v for k, v in self.params.items()})
        logged = self._client.get_run(self.run_id).data.params
        fresh, changed = [], {}
        for key, value in params.items():
            text = str(value)[:_MAX_PARAM]
            if key not in logged:
                fresh.append(Param(key, text))
            elif logged[key] != text:   # MLflow parameters are immutable: keep the new value as a tag
                changed[key] = text
        for i in range(0, len(fresh), 100):   # MLflow takes at most 100 parameters per batch
            self._client.log_batch(self.run_id, params=fresh[i:i + 100])
        for key, text in changed.items():
            self._client.set_tag(self.run_id, f"gradwise.changed.{key}", _clip(text))
            if trainer.resumed_from is None:     # a resumed run may well train for more epochs; anything else is news
                warnings.warn(f"MLflowLogger: parameter {key!r} is already {logged[key]!r} in run {self.run_id}; "
                              f"the new value {text!r} is kept as the tag 'gradwise.changed.{key}'", RuntimeWarning,
                              stacklevel=3)

    def on_epoch_end(self, trainer: "Trainer", epoch: int, logs: dict[str, Any]) -> None:
        if not self._active or self._client is None:
            return
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        metrics = [Metric(_key(k), float(v), now, int(epoch)) for k, v in logs.items()
                   if k != "epoch" and isinstance(v, (int, float)) and not isinstance(v, bool)]
        for i in range(0, len(metrics), 1000):
            self._client.log_batch(self.run_id, metrics=metrics[i:i + 1000])

    def on_train_end(self, trainer: "Trainer") -> None:
        if not self._active or self._client is None:
            return
        self._log_outcome(trainer)
        if self._owns_run:
            self._client.set_terminated(self.run_id, "FINISHED")

    def on_exception(self, trainer: "Trainer", exception: BaseException) -> None:
        if not self._active or self._client is None:
            return
        try:
            self._client.set_tag(self.run_id, "gradwise.stop_reason",
                                 _clip(trainer.history.stop_reason or f"{type(exception).__name__}: {exception}"))
        finally:
            if self._owns_run:
                self._client.set_terminated(self.run_id, "KILLED" if isinstance(exception, KeyboardInterrupt)
                                            else "FAILED")

    # ------------------------------------------------------------------ what the run found
    def _log_outcome(self, trainer: "Trainer") -> None:
        from mlflow.entities import RunTag

        h = trainer.history
        tags = {"gradwise.stop_reason": h.stop_reason or "", "gradwise.epochs_run": str(len(h.records))}
        worst: dict[str, Any] = {}
        for check in h.checks:
            severity = _SEVERITY.get(check.status, 0)
            if severity and severity >= _SEVERITY.get(getattr(worst.get(check.name), "status", ""), 0):
                worst[check.name] = check
        for name, check in worst.items():
            tags[f"gradwise.check.{_key(name)}"] = check.status
            tags[f"gradwise.check.{_key(name)}.message"] = check.message
        tags["gradwise.checks"] = ", ".join(f"{n}={c.status}" for n, c in worst.items()) or "all passed"
        diagnosis = h.diagnosis
        if diagnosis is not None:
            tags["gradwise.diagnosis.verdict"] = str(diagnosis.verdict)
            tags["gradwise.diagnosis.best_epoch"] = str(diagnosis.best_epoch)
        elif getattr(h, "diagnosis_note", None):
            tags["gradwise.diagnosis.note"] = str(h.diagnosis_note)
        self._client.log_batch(self.run_id, tags=[RunTag(k, _clip(v)) for k, v in tags.items()])
        self._client.log_dict(self.run_id, json.loads(json.dumps([c.to_dict() for c in h.checks],
                                                                 default=json_default)), "checks.json")
        if diagnosis is not None:
            self._client.log_dict(self.run_id, json.loads(json.dumps(diagnosis.to_dict(), default=json_default)),
                                  "diagnosis.json")
        if self.log_report:
            self._log_report(trainer)

    def _log_report(self, trainer: "Trainer") -> None:
        """Render ``report.html`` from the run directory (with ``run.json`` up to date) and upload it."""
        if trainer.log_dir is None:
            return
        try:
            from gradwise.report import render

            trainer._write_summary()          # run.json, as the trainer writes it after on_train_end
            with tempfile.TemporaryDirectory() as tmp:
                path = render(trainer.log_dir, Path(tmp) / "report.html")
                self._client.log_artifact(self.run_id, str(path))
        except Exception as err:   # noqa: BLE001 - a report that cannot be drawn must not cost the run
            warnings.warn(f"MLflowLogger: report.html was not logged ({type(err).__name__}: {err})", RuntimeWarning,
                          stacklevel=2)

    # ------------------------------------------------------------------ resume
    def state_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        if self._given_run_id is None and state.get("run_id"):
            self.run_id = str(state["run_id"])


def _run_params(trainer: "Trainer") -> dict[str, Any]:
    """What a run is: model, size, optimizer and its hyper-parameters, epochs, batch size, loss, framework."""
    from gradwise.train.trainer import callable_name

    model, optimizer = trainer.model, trainer.optimizer
    total = trainable = 0
    for p in model.parameters():
        n = p.numel() if callable(getattr(p, "numel", None)) else int(getattr(p, "size", 0))
        total += n
        trainable += n if getattr(p, "requires_grad", True) else 0
    params: dict[str, Any] = {
        "model": type(model).__name__, "parameters": total, "trainable_parameters": trainable,
        "optimizer": type(optimizer).__name__, "lr": trainer.lr, "epochs": trainer.epochs,
        "batch_size": getattr(trainer.train_loader, "batch_size", None), "loss": callable_name(trainer.loss_fn),
        "engine": trainer.engine.name,
    }
    groups = getattr(optimizer, "param_groups", None) or [{}]
    for key, value in groups[0].items():
        if key != "params" and (value is None or isinstance(value, (bool, int, float, str, tuple, list))):
            params[f"optimizer.{key}"] = value
    return params


def _key(name: str) -> str:
    """An MLflow-safe key: letters, digits, ``_ - . /`` and spaces are kept, anything else becomes ``_``."""
    return "".join(c if c.isalnum() or c in "_-./ " else "_" for c in str(name))


def _clip(text: Any) -> str:
    text = str(text)
    return text if len(text) <= _MAX_TAG else text[:_MAX_TAG - 3] + "..."
