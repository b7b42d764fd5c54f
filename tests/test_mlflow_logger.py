"""MLflowLogger against a local MLflow file store (no server): params, metrics, checks, diagnosis, report."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

import gradwise
import gradwise.nn as nn
from gradwise.data.datasets import load_digits
from gradwise.data.preprocessing import Standardize
from gradwise.train import Callback, Check, fit

mlflow = pytest.importorskip("mlflow")
from mlflow.tracking import MlflowClient  # noqa: E402

from gradwise.train import MLflowLogger  # noqa: E402

X, Y = load_digits(flatten=True)
X = Standardize().fit(X[:300]).transform(X)
TRAIN, VAL = (X[:256], Y[:256]), (X[300:400], Y[300:400])


@pytest.fixture
def store(tmp_path, monkeypatch):
    # MLflow 3 keeps the file store only on request (it recommends a database); a test store is what it is for
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    return f"file:{tmp_path}/mlruns"


class Warns(Callback):
    def on_train_begin(self, trainer):
        trainer.warn(Check("dead_relu", "warn", "layer '0': 61% of the ReLU units dead"))
        trainer.warn(Check("loss_decreasing", "pass", "fine"))


def train(logger, tmp_path, epochs=4, **kw):
    gradwise.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
    return fit(model, TRAIN, VAL, loss="cross_entropy", optimizer=("sgd", {"lr": 0.05, "momentum": 0.9}),
               epochs=epochs, batch_size=32, progress=False, seed=0, callbacks=[Warns(), logger],
               log_dir=tmp_path / "run", **kw)


def test_params_metrics_checks_diagnosis_and_report(tmp_path, store):
    logger = MLflowLogger(experiment_name="digits", run_name="mlp", tracking_uri=store, tags={"team": "vision"},
                          params={"data": "digits-256"})
    history = train(logger, tmp_path, epochs=6)
    client = MlflowClient(tracking_uri=store)
    run = client.get_run(logger.run_id)
    assert run.info.status == "FINISHED" and run.info.run_name == "mlp"
    assert client.get_experiment(run.info.experiment_id).name == "digits"
    p = run.data.params
    assert (p["model"], p["optimizer"], p["lr"], p["epochs"], p["batch_size"]) == ("Sequential", "SGD", "0.05", "6",
                                                                                   "32")
    assert p["parameters"] == str(64 * 32 + 32 + 32 * 10 + 10) == p["trainable_parameters"]
    assert p["optimizer.momentum"] == "0.9" and p["loss"] and p["engine"] == "gradwise" and p["data"] == "digits-256"
    for key in ("loss", "val_loss", "accuracy", "val_accuracy"):
        steps = client.get_metric_history(logger.run_id, key)
        assert [m.step for m in steps] == [1, 2, 3, 4, 5, 6]
        np.testing.assert_allclose([m.value for m in steps], history.history[key], rtol=1e-6)
    tags = run.data.tags
    assert tags["team"] == "vision" and tags["gradwise.engine"] == "gradwise"
    assert tags["gradwise.check.dead_relu"] == "warn" and "61%" in tags["gradwise.check.dead_relu.message"]
    assert "gradwise.check.loss_decreasing" not in tags                 # a pass gets no tag
    assert tags["gradwise.diagnosis.verdict"] == history.diagnosis.verdict
    assert tags["gradwise.diagnosis.best_epoch"] == str(history.diagnosis.best_epoch)
    assert tags["gradwise.stop_reason"] == history.stop_reason
    artifacts = {a.path for a in client.list_artifacts(logger.run_id)}
    assert {"checks.json", "diagnosis.json", "report.html"} <= artifacts
    folder = client.download_artifacts(logger.run_id, "", str(tmp_path / "dl"))
    checks = json.loads(open(f"{folder}/checks.json").read())
    assert {c["name"] for c in checks} >= {"dead_relu", "loss_decreasing", "initial_loss"}
    assert json.loads(open(f"{folder}/diagnosis.json").read())["verdict"] == history.diagnosis.verdict
    assert "<html" in open(f"{folder}/report.html").read().lower()


def test_logs_into_the_active_run_and_resumes_into_the_saved_run(tmp_path, store):
    mlflow.set_tracking_uri(store)
    try:
        with mlflow.start_run() as active:
            logger = MLflowLogger(log_report=False)
            train(logger, tmp_path, epochs=2)
            assert logger.run_id == active.info.run_id
            assert MlflowClient(store).get_run(active.info.run_id).info.status == "RUNNING"   # the user's to end
    finally:
        mlflow.set_tracking_uri(None)
    first = MLflowLogger(tracking_uri=store, log_report=False)
    train(first, tmp_path / "b", epochs=2)
    again = MLflowLogger(tracking_uri=store, log_report=False)
    train(again, tmp_path / "b", epochs=4, resume=tmp_path / "b" / "run" / "checkpoints" / "last.npz")
    assert again.run_id == first.run_id
    client = MlflowClient(store)
    assert [m.step for m in client.get_metric_history(first.run_id, "loss")] == [1, 2, 3, 4]
    assert client.get_run(first.run_id).info.status == "FINISHED"
    assert client.get_run(first.run_id).data.tags["gradwise.changed.epochs"] == "4"


def test_a_failing_run_is_marked_failed(tmp_path, store):
    class Boom(Callback):
        def on_epoch_end(self, trainer, epoch, logs):
            raise RuntimeError("disk full")

    logger = MLflowLogger(tracking_uri=store, log_report=False)
    with pytest.raises(RuntimeError, match="disk full"):
        fit(
            nn.Sequential(nn.Linear(64, 10)), TRAIN, VAL, loss="cross_entropy", optimizer="adam", epochs=2,
            progress=False, babysit=False, callbacks=[Boom(), logger])
    run = MlflowClient(store).get_run(logger.run_id)
    assert run.info.status == "FAILED" and "disk full" in run.data.tags["gradwise.stop_reason"]


def test_missing_mlflow_is_a_clear_error_and_import_is_lazy(tmp_path):
    code = ("import sys; sys.modules['mlflow'] = None\n"
            "import gradwise.train as t\n"
            "assert 'gradwise.train.mlflow_logger' not in sys.modules\n"
            "logger = t.MLflowLogger()\n"
            "import gradwise, numpy as np\n"
            "try:\n"
            "    t.fit(gradwise.nn.Linear(3, 2), (np.ones((8, 3), 'float32'), np.zeros(8, 'int64')), loss='cross_entropy',"
            " optimizer='sgd', epochs=1, progress=False, babysit=False, callbacks=[logger])\n"
            "except ImportError as e:\n"
            "    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert "MLflowLogger needs MLflow: pip install 'gradwise[mlflow]'" in out.stdout, out.stderr[-2000:]
