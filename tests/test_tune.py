"""Tests of `gradwise.tune` and `gradwise tune`: search space, TOML, reproducibility, pruning, resume,
parallel workers, the diagnosed results table, pictures and report.

Trials train tiny MLPs (16 units) on 300 digits for 5-6 epochs (about 0.1-0.4 s each), so the whole
file stays well under a minute on 2 cores.
"""
from __future__ import annotations

import json
import math
import os
import socket

import numpy as np
import pytest

optuna = pytest.importorskip("optuna")

from gradwise.cli.main import main  # noqa: E402
from gradwise.train.config import ConfigError  # noqa: E402
from gradwise.tune import (Categorical, Float, Int, SearchSpace, load_tune_config, parse_tune_config,  # noqa: E402
                           trial_config, trial_notes, tune)
from gradwise.tune.diagnosis import check_note, verdict_note  # noqa: E402
from gradwise.tune.study import make_storage, open_study, reclaim_interrupted  # noqa: E402

BASE = {"data": {"limit": 300}, "model": {"hidden": [16]}, "optim": {"lr": 0.01},
        "train": {"epochs": 6, "batch_size": 64, "seed": 0}}
SPACE = {"optim.lr": Float(1e-3, 1e-1, log=True), "model.width": Int(8, 32, log=True),
         "optim.name": Categorical(["adam", "sgd"])}

SMALL_TOML = """
[data]
limit = 300
[model]
hidden = [16]
[train]
epochs = 5
[tune]
n_trials = 3
sampler = "random"
seed = 1
[tune.space]
optim.lr = { low = 1e-3, high = 1e-1, log = true }
"model.width" = { low = 8, high = 32 }
optim.name = ["adam", "sgd"]
optim.momentum = { low = 0.5, high = 0.9, when = { "optim.name" = "sgd" } }
"""


def small(tmp_path, **kw):
    """A tiny search; keyword arguments override tune()'s."""
    args = dict(base=BASE, space=SearchSpace(SPACE), run_dir=tmp_path, n_trials=4, n_jobs=1, sampler="random",
                pruner="none", seed=0, progress=False, report=False, confirm_top=0, baseline=False)
    args.update(kw)
    return tune(None, **args)


def signature(result):
    """What a search decided, trial by trial: parameters and objective value (interrupted trials left out)."""
    return [(r.params, r.value if r.state == "complete" else ("pruned", r.epochs_run))
            for r in sorted(result.rows, key=lambda r: r.number) if r.state != "fail"]


# ============================================================================= space and config
def test_space_sampling_respects_ranges_logs_and_conditions():
    space = SearchSpace({"optim.name": ["adam", "sgd"], "optim.lr": Float(1e-4, 1e-1, log=True),
                         "model.depth": Int(1, 3), "optim.momentum": Float(0.5, 0.99, when={"optim.name": "sgd"}),
                         "model.hidden": Categorical([[16], [32, 16]])})
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    drawn = []
    for _ in range(40):
        trial = study.ask()
        params = space.sample(trial)
        study.tell(trial, 0.0)
        drawn.append(params)
        assert 1e-4 <= params["optim.lr"] <= 1e-1 and params["model.depth"] in (1, 2, 3)
        assert ("optim.momentum" in params) == (params["optim.name"] == "sgd")
        assert params["model.hidden"] in ([16], [32, 16])          # list choices come back as lists
    lrs = np.log10([p["optim.lr"] for p in drawn])
    assert lrs.min() < -3 and lrs.max() > -2                      # log scale: all decades visited
    assert space.grid()["model.depth"] == [1, 2, 3]
    assert len(Float(1e-4, 1e-1, log=True, grid_points=4).grid_values()) == 4


def test_toml_space_parses_dotted_and_quoted_keys():
    cfg = parse_tune_config(__import__("tomllib").loads(SMALL_TOML))
    assert list(cfg.space) == ["optim.lr", "optim.name", "model.width", "optim.momentum"]
    assert cfg.space["optim.lr"].log and isinstance(cfg.space["model.width"], Int)
    assert cfg.space["optim.name"].choices == ("adam", "sgd")
    assert cfg.space["optim.momentum"].when == {"optim.name": "sgd"}
    assert cfg.settings.n_trials == 3 and cfg.settings.sampler == "random"
    default = load_tune_config(None)
    assert default.settings.n_jobs == 2 and "optim.lr" in default.space


@pytest.mark.parametrize("section, text, expected", [
    ("[tune]", "samplr = 'tpe'", "config [tune] samplr: unknown key (did you mean 'sampler'?)"),
    ("[tune]", "sampler = 'bayes'", "config [tune] sampler: 'bayes' is not one of tpe, random, grid"),
    ("[tune]", "n_trials = 0", "config [tune] n_trials: 0 must be at least 1"),
    ("[tune.space]", "optim.lrr = { low = 0.001, high = 0.1 }", "config [tune.space] optim.lrr: unknown key"),
    ("[tune.space]", "optim.name = ['adam', 'adamm']", "config [tune.space] optim.name: choice 'adamm'"),
    ("[tune.space]", "optim.lr = { low = 0.0, high = 0.1, log = true }", "config [tune.space] optim.lr: "),
    ("[tune.space]", "optim.lr = { low = 0.1 }", "config [tune.space] optim.lr: a range needs both low and high"),
    ("[tune.space]", "optim.lr = { low = 0.001, high = 0.1, lg = true }", "config [tune.space] optim.lr: unknown key 'lg'"),
    ("[tune.space]", "model.activation = ['relu', 'swish']", "config [tune.space] model.activation: choice 'swish'"),
    ("[tune.space]", "optim.momentum = { low = 0.5, high = 0.9 }", "optim.momentum: bound 0.5: config [optim] momentum: adam has no momentum"),
    ("[tune.space]", "model.depth = { low = 0.5, high = 3.0 }", "config [tune.space] model.depth: expected integers"),
])
def test_config_errors_name_the_key(tmp_path, section, text, expected):
    path = tmp_path / "bad.toml"
    path.write_text(f"{section}\n{text}\n")
    with pytest.raises(ConfigError) as err:
        load_tune_config(path)
    assert expected in str(err.value)


def test_cli_config_error_exits_2_with_one_line(tmp_path, capsys):
    path = tmp_path / "bad.toml"
    path.write_text("[tune.space]\noptim.name = ['adam', 'adamm']\n")
    assert main(["tune", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("gradwise tune: error: config [tune.space] optim.name") and "\n" not in err


def test_trial_config_maps_architecture_keys():
    cfg, arch = trial_config(BASE, {"model.width": 24, "model.depth": 3, "optim.lr": 0.05})
    assert cfg["model"]["hidden"] == [24, 24, 24] and cfg["optim"]["lr"] == 0.05
    cfg, arch = trial_config(BASE, {"model.kind": "cnn", "model.filters": 6, "model.depth": 1})
    assert (arch.kind, arch.filters, arch.depth) == ("cnn", 6, 1)
    from gradwise.tune.config import build_tune_data
    from gradwise.tune.models import build_trial_model

    data, _ = build_tune_data(cfg)
    model, _ = build_trial_model(cfg, arch, data)
    assert type(model[0]).__name__ == "Conv2d" and model[0].out_channels == 6


# ============================================================================= diagnosis notes
def test_notes_read_like_the_issue():
    assert verdict_note("overfit", 14, 30) == "overfit from epoch 14"
    dead = {"name": "dead_relu", "status": "warn", "evidence": {"dead_fraction": {"1": 0.1, "3": 0.62}, "layers": ["3"]}}
    assert check_note(dead) == "dead ReLUs 62% in layer 2"
    diverged = {"name": "learning_rate", "status": "fail", "evidence": {"symptom": "divergence"}}
    assert check_note(diverged) == "diverged: lr too high"
    notes = trial_notes({"verdict": "overfit", "diagnosis_best_epoch": 14, "epochs_run": 30, "checks": [dead, diverged]})
    assert notes == ["overfit from epoch 14", "dead ReLUs 62% in layer 2", "diverged: lr too high"]


# ============================================================================= a search and its outputs
@pytest.fixture(scope="module")
def searched(tmp_path_factory):
    """One search with a hopeless and a too-high learning rate among the choices, pictures and report on."""
    run_dir = tmp_path_factory.mktemp("tune-report")
    space = SearchSpace({"optim.name": ["sgd"], "optim.lr": [3.0, 0.3, 0.03], "model.width": [16, 32]})
    result = tune(None, base=BASE, space=space, run_dir=run_dir, n_trials=6, sampler="grid", pruner="none",
                  seed=0, test_fraction=0.2, progress=False, report=True)
    return result


def test_results_table_has_a_diagnosis_per_trial(searched):
    rows = searched.rows
    assert len(rows) == 6 and all(r.state == "complete" for r in rows)
    assert all(r.notes for r in rows)                               # every trial says something
    assert all(r.verdict is not None for r in rows)                 # 6 epochs: the curves are diagnosed
    wild = [r for r in rows if r.params["optim.lr"] == 3.0]
    assert any("lr too high" in n or "diverged" in n for r in wild for n in r.notes), [r.notes for r in wild]
    table = searched.table()
    for r in rows:
        assert r.diagnosis.split(";")[0] in table
    assert searched.best is not None and searched.best.params["optim.lr"] != 3.0
    saved = json.loads((searched.run_dir / "results.json").read_text())
    assert {t["number"] for t in saved["trials"]} == set(range(6)) and all(t["diagnosis"] for t in saved["trials"])
    header = (searched.run_dir / "results.csv").read_text().splitlines()[0]
    assert "optim.lr" in header and "diagnosis" in header and "verdict" in header


def test_pictures_and_report_are_written(searched):
    run_dir = searched.run_dir
    for name in ("best_trial_curve", "objective_vs_params", "top_trials_curves", "param_importance",
                 "optimization_history"):
        png = (run_dir / f"{name}.png").read_bytes()
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000, name
    page = (run_dir / "report.html").read_text()
    assert page.count("data:image/png;base64,") == 5
    assert "How sure:" in page and "kept epoch" in page
    assert "Best trial" in page and "dead" in page.lower() or "lr too high" in page
    assert searched.importance and abs(sum(searched.importance.values()) - 1) < 1e-6


def test_test_split_is_scored_once_for_the_best_trial(searched):
    test = searched.test
    assert test["trial"] == searched.best.number and 0 <= test["test_accuracy"] <= 1 and test["samples"] == 60
    assert json.loads((searched.run_dir / "test.json").read_text()) == test


# ============================================================================= reproducibility, pruning, resume, parallel
def test_same_seed_same_search_other_seed_other_search(tmp_path):
    a = small(tmp_path / "a", sampler="tpe")
    b = small(tmp_path / "b", sampler="tpe")
    c = small(tmp_path / "c", sampler="tpe", seed=1)
    assert signature(a) == signature(b)
    assert [p for p, _ in signature(a)] != [p for p, _ in signature(c)]


def test_grid_sampler_visits_each_point_once():
    """A seeded grid search runs every grid point once (the per-trial reseeding once reshuffled the grid)."""
    space = SearchSpace({"optim.name": ["sgd"], "optim.lr": Categorical([0.1, 1e-5, 0.01])})
    for seed in (0, 1):
        result = tune(None, base={**BASE, "train": {**BASE["train"], "epochs": 2}}, space=space, run_dir=None,
                      n_trials=5, n_jobs=1, sampler="grid", pruner="none", seed=seed, progress=False, report=False)
        assert sorted(r.params["optim.lr"] for r in result.rows) == [1e-5, 0.01, 0.1]


def test_median_pruner_prunes_hopeless_trials(tmp_path):
    space = SearchSpace({"optim.name": ["sgd"], "optim.lr": Float(1e-5, 1e-1, log=True)})
    result = small(tmp_path, space=space, n_trials=10, pruner="median")
    pruned = [r for r in result.rows if r.state == "pruned"]
    assert pruned, result.table()
    for r in pruned:
        assert r.epochs_run < BASE["train"]["epochs"] and r.pruned_at == r.epochs_run
        assert any(n.startswith("pruned at epoch") for n in r.notes)
    assert result.epochs() < 10 * BASE["train"]["epochs"]


def test_resume_after_interrupt_finishes_the_same_trials(tmp_path, monkeypatch):
    straight = small(tmp_path / "straight", n_trials=5, sampler="tpe")

    import gradwise.train as train_module
    calls = {"n": 0}
    original = train_module.fit

    def interrupting_fit(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt   # Ctrl-C in the middle of the third trial
        return original(*args, **kwargs)

    monkeypatch.setattr(train_module, "fit", interrupting_fit)
    with pytest.raises(KeyboardInterrupt):
        small(tmp_path / "resumed", n_trials=5, sampler="tpe")
    monkeypatch.setattr(train_module, "fit", original)
    resumed = small(tmp_path / "resumed", n_trials=5, sampler="tpe")
    assert signature(resumed) == signature(straight)
    failed = [r for r in resumed.rows if r.state == "fail"]
    assert len(failed) == 1 and failed[0].number == 2 and "interrupted" in failed[0].notes[0]


def test_trial_of_a_killed_process_is_requeued_with_its_parameters(tmp_path):
    cfg = load_tune_config(None, {"tune": {"seed": 0}})
    storage = make_storage(f"sqlite:///{tmp_path / 'study.db'}")
    study = open_study(cfg, storage)
    trial = study.ask()
    lr = trial.suggest_float("optim.lr", 1e-4, 3e-2, log=True)
    trial.set_user_attr("worker", f"{socket.gethostname()}:{2**22 + 12345}")   # a pid that does not exist
    other = study.ask()
    other.set_user_attr("worker", "another-machine:1")                          # not ours: left alone
    assert reclaim_interrupted(study) == [0]
    states = {t.number: t.state.name for t in study.get_trials()}
    assert states == {0: "FAIL", 1: "RUNNING", 2: "WAITING"}
    assert study.get_trials()[2].params == {"optim.lr": lr}


def test_a_trial_started_after_the_budget_is_filled_is_discarded_untrained(tmp_path, monkeypatch):
    """Two workers that read the trial count at the same moment both start a trial: the later-numbered one
    must not train, count or appear in the table (the race once gave 5 trials for n_trials=4)."""
    from gradwise.tune import runner
    from gradwise.tune.results import collect_rows

    cfg = load_tune_config(None, {"tune": {"seed": 0}})
    storage = make_storage(f"sqlite:///{tmp_path / 'study.db'}")
    study = open_study(cfg, storage)
    study.ask().set_user_attr("worker", "another-machine:1")          # the other worker's trial, still running
    real_count = runner.trials_counted
    reads = []

    def stale_first_read(study_):                                     # this worker read the count too early
        reads.append(study_)
        return 0 if len(reads) == 1 else real_count(study_)

    monkeypatch.setattr(runner, "trials_counted", stale_first_read)
    assert runner.run_worker(cfg, tmp_path, storage, n_trials=1) == 1
    late = study.get_trials()[1]
    assert late.state.name == "FAIL" and late.user_attrs.get("surplus") and late.params == {}
    assert real_count(study) == 1 and [r.number for r in collect_rows(study)] == [0]


def test_parallel_workers_share_a_sqlite_study(tmp_path):
    result = small(tmp_path, n_trials=4, n_jobs=2)
    assert (tmp_path / "study.db").is_file()
    assert len(result.rows) == 4 and all(r.state == "complete" for r in result.rows)
    workers = {r.worker for r in result.rows}
    assert all(w and not w.endswith(f":{os.getpid()}") for w in workers)     # run by worker processes
    # the same trials as one process would run: each trial's draw depends only on (seed, trial index) and,
    # for the random sampler, on nothing else
    alone = small(tmp_path / "alone", n_trials=4, n_jobs=1)
    assert sorted(map(repr, signature(result))) == sorted(map(repr, signature(alone)))


def test_cli_runs_a_search_and_prints_the_table(tmp_path, capsys):
    path = tmp_path / "search.toml"
    path.write_text(SMALL_TOML)
    assert main(["tune", str(path), "--out", str(tmp_path / "run"), "--no-report"]) == 0
    out = capsys.readouterr().out
    assert "trials 3/3" in out and "best trial" in out and "diagnosis" in out
    assert (tmp_path / "run" / "results.csv").is_file()


# ============================================================================= one study, one set of settings
def test_a_study_refuses_trials_run_with_other_settings(tmp_path):
    """Re-running a search on an existing study with another seed, sampler, epochs or space is refused, naming
    the differences and what to do; more trials or workers are fine; --force mixes them and records it."""
    from gradwise.tune.study import SettingsMismatch

    first = small(tmp_path, n_trials=2)
    assert first.study.user_attrs["gradwise.settings"]["tune.seed"] == 0
    cases = [(dict(seed=1), "tune.seed 0 in the study, 1 now"),
             (dict(sampler="tpe"), "tune.sampler 'random' in the study, 'tpe' now"),
             (dict(base={**BASE, "train": {**BASE["train"], "epochs": 4}}), "train.epochs 6 in the study, 4 now"),
             (dict(space=SearchSpace({**SPACE, "optim.lr": Float(1e-4, 1e-1, log=True)})), "space.optim.lr"),
             (dict(metric="val_accuracy"), "created to minimize")]
    for change, expected in cases:
        with pytest.raises((SettingsMismatch, ValueError)) as err:
            small(tmp_path, n_trials=3, **change)
        assert expected in str(err.value), str(err.value)
        if isinstance(err.value, SettingsMismatch):
            assert "--force" in str(err.value) and "--study-name" in str(err.value)
    assert len(first.study.get_trials()) == 2                       # a refused search added nothing
    # the same settings written out in full (the default patience stated) and more trials: the same study
    patience = trial_config(BASE, {})[0]["train"]["patience"]
    more = small(tmp_path, n_trials=3, base={**BASE, "train": {**BASE["train"], "patience": patience}})
    assert len(more.rows) == 3 and not more.settings_changes
    forced = small(tmp_path, n_trials=4, seed=1, force=True)
    assert len(forced.rows) == 4
    assert forced.settings_changes == [{"from_trial": 3, "changed": {"tune.seed": [0, 1]}}]
    small(tmp_path, n_trials=4, seed=1)                              # the forced settings are now the study's


def test_cli_refuses_other_settings_with_one_line(tmp_path, capsys):
    path = tmp_path / "search.toml"
    path.write_text(SMALL_TOML.replace("n_trials = 3", "n_trials = 1"))
    run = str(tmp_path / "run")
    assert main(["tune", str(path), "--out", run, "--no-report", "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["tune", str(path), "--out", run, "--no-report", "--no-progress", "--epochs", "3", "--seed", "4"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("gradwise tune: error: study 'gradwise-tune' in ") and "\n" not in err
    assert "train.epochs 5 in the study, 3 now" in err and "tune.seed 1 in the study, 4 now" in err and "--force" in err


def test_storage_spellings():
    """journal:PATH or a *.journal/*.log path is Optuna's JournalStorage file; postgresql:// gets the installed
    driver; messages never show a password."""
    from gradwise.tune.study import describe_storage, journal_path, make_storage, with_installed_driver

    assert journal_path("journal:/nfs/studies/a.log") == "/nfs/studies/a.log"
    assert journal_path("runs/study.journal") == "runs/study.journal" and journal_path("sqlite:///x.log") is None
    assert journal_path("postgresql://u:pw@db/x") is None
    assert describe_storage("postgresql://user:secret@db:5432/tune") == "postgresql://user:***@db:5432/tune"
    assert with_installed_driver("sqlite:///a.db") == "sqlite:///a.db"
    assert with_installed_driver("postgresql+psycopg2://db/x") == "postgresql+psycopg2://db/x"
    url = with_installed_driver("postgres://db/x")
    assert url.startswith(("postgresql+psycopg://", "postgresql+psycopg2://")) or url == "postgres://db/x"
    assert type(make_storage("journal:/tmp/never-written.journal")).__name__ == "JournalStorage"


def test_journal_file_storage_shared_by_two_worker_processes(tmp_path):
    result = small(tmp_path / "run", n_trials=4, n_jobs=2, storage=str(tmp_path / "shared" / "study.journal"))
    assert (tmp_path / "shared" / "study.journal").is_file() and not (tmp_path / "run" / "study.db").exists()
    assert len(result.rows) == 4 and all(r.state == "complete" for r in result.rows)
    assert all(r.worker and not r.worker.endswith(f":{os.getpid()}") for r in result.rows)
    alone = small(tmp_path / "alone", n_trials=4, n_jobs=1)
    assert sorted(map(repr, signature(result))) == sorted(map(repr, signature(alone)))


# ============================================================================= scores that noise cannot fool
def _records(values, train=None):
    return [{"epoch": i + 1, "val_loss": v, "loss": (train or values)[i]} for i, v in enumerate(values)]


def test_score_is_the_smoothed_curve_at_the_kept_epoch_not_a_lucky_dip():
    from gradwise.tune.scoring import trial_score

    rng = np.random.default_rng(0)
    trend = 0.3 + 0.5 * np.exp(-np.arange(20) / 4)
    noisy = trend + rng.normal(0, 0.02, 20)
    noisy[5] = 0.15                                   # one lucky evaluation: the lowest single value
    s = trial_score(_records(list(noisy)))
    assert s.epoch == 6 and s.raw == pytest.approx(0.15)     # the kept weights: lowest raw value (the diagnosis's)
    assert s.value > 0.15 + 0.1 and abs(s.value - trend[5]) < 0.1   # the trend there, not the dip
    assert 0.005 < s.noise < 0.06 and 0 < s.se <= s.noise
    clean = trial_score(_records(list(trend)))
    assert clean.epoch == 20 and clean.value == pytest.approx(trend[-1], abs=0.01) and clean.noise < 0.005
    short = trial_score(_records([0.9, 0.7, 0.8]))
    assert (short.value, short.epoch, short.noise) == (0.7, 2, None)
    acc = trial_score([{"epoch": i + 1, "val_accuracy": a} for i, a in enumerate([0.5, 0.7, 0.8, 0.85, 0.84, 0.86])],
                      "val_accuracy", "max")
    assert acc.epoch == 6 and acc.value <= 0.87


def test_a_flagged_trial_is_crowned_only_when_better_beyond_its_noise():
    from types import SimpleNamespace as Row

    from gradwise.tune.scoring import choose_best, ranking

    def row(n, value, flags=(), noise=0.02, se=0.01):
        return Row(number=n, state="complete", value=value, flags=list(flags), noise=noise, score_se=se,
                   curve_se=se, val_examples=None)

    wild = row(0, 0.10, ["loss oscillates (lr too high?)"], noise=0.05)
    steady = row(1, 0.12)
    choice = choose_best([wild, steady, row(2, 0.2)])
    assert choice.best is steady and choice.passed_over is wild and "within its noise" in choice.reason
    clearly = row(3, 0.05, ["diverged"], noise=0.05)
    choice = choose_best([clearly, steady])
    assert choice.best is clearly and choice.passed_over is None and "crowned although flagged" in choice.reason
    assert choose_best([wild]).best is wild                          # nothing sound to prefer
    assert choose_best([row(0, 0.8), row(1, 0.9)], "maximize").best.number == 1
    # how sure: the gap to the runner-up against the standard error of the gap
    assert ranking([row(0, 0.10), row(1, 0.15)], choose_best([row(0, 0.10), row(1, 0.15)])).verdict == "clear"
    assert ranking([row(0, 0.10), row(1, 0.115)], choose_best([row(0, 0.10), row(1, 0.115)])).verdict == "likely"
    r = ranking([row(0, 0.10), row(1, 0.105)], choose_best([row(0, 0.10), row(1, 0.105)]))
    assert r.verdict.startswith("a toss-up") and "0.4 x the noise" in r.sentence("val_loss")
    # the runner-up is not the passed-over trial
    choice = choose_best([wild, steady, row(2, 0.2)])
    assert ranking([wild, steady, row(2, 0.2)], choice).runner_up == 2


def test_paired_comparison_on_the_same_validation_examples():
    from types import SimpleNamespace as Row

    from gradwise.tune.scoring import gap_se, per_example

    logits = np.array([[2.0, 0.0, -1.0], [0.1, 0.2, 0.3], [-1.0, 3.0, 0.0]])
    labels = np.array([0, 2, 0])
    loss, hit = per_example(logits, labels)
    shifted = logits - logits.max(axis=1, keepdims=True)
    expected = -(shifted[np.arange(3), labels] - np.log(np.exp(shifted).sum(axis=1)))
    assert np.allclose(loss, expected) and hit.tolist() == [1.0, 1.0, 0.0]
    rng = np.random.default_rng(1)
    hard = rng.exponential(0.3, 300)                      # both configurations find the same examples hard
    a = Row(val_examples=list(hard), curve_se=0.001, score_se=0.02)
    b = Row(val_examples=list(hard * 1.05 + 0.002), curve_se=0.001, score_se=0.02)
    assert gap_se(a, b) < 0.01 < math.hypot(0.02, 0.02)
    assert gap_se(Row(val_examples=None, score_se=0.02), b) == pytest.approx(math.hypot(0.02, 0.02))


def test_search_reports_noise_and_ranking(searched):
    best = searched.best
    assert best.noise is not None and best.score_se is not None and best.val_se is not None and best.val_n == 60
    assert best.curve_se is not None and best.score_se >= best.val_se
    assert searched.ranking is not None and searched.ranking.best == best.number
    complete = [r for r in searched.rows if r.state == "complete"]
    assert all(r.value is not None and r.raw_value is not None for r in complete)
    saved = json.loads((searched.run_dir / "results.json").read_text())
    assert saved["ranking"]["best"] == best.number and "val_examples" not in saved["trials"][0]


def test_confirmation_runs_crown_the_best_mean_over_seeds():
    from types import SimpleNamespace as Row

    from gradwise.tune.scoring import choose_best, ranking

    def row(n, value, confirmed=(), flags=()):
        return Row(number=n, state="complete", value=value, flags=list(flags), noise=0.01, score_se=0.01,
                   curve_se=0.01, val_examples=None, confirmed=list(confirmed))

    lucky = row(0, 0.05, [0.09, 0.10])            # the best single run, then worse with other seeds
    steady = row(1, 0.06, [0.061, 0.059])
    choice = choose_best([lucky, steady, row(2, 0.2)])
    assert choice.best is steady and choice.single is lucky and "mean over 3 runs" in choice.reason
    r = ranking([lucky, steady, row(2, 0.2)], choice)
    assert r.runner_up == 0 and r.seeds == 3 and r.verdict in ("clear", "likely") and "means over 3 seeds" in \
        r.sentence("val_loss")
    diverging = row(3, 0.01, [float("inf"), 0.02])          # one confirmation run diverged: never crowned
    assert choose_best([diverging, steady]).best is steady


def test_search_confirms_its_best_trials_once(searched, monkeypatch):
    from gradwise.tune import search as search_module

    confirmed = [r for r in searched.rows if r.confirmed]
    assert 2 <= len(confirmed) <= 3 and searched.best in confirmed
    assert all(r.confirmed_seeds == [10_000, 10_001] and len(r.confirmed) == 2 for r in confirmed)
    assert searched.best.notes[0].startswith("re-trained with 2 more seeds: mean")
    stored = searched.study.user_attrs["gradwise.confirmations"]
    assert set(stored) == {str(r.number) for r in confirmed}

    def no_training(*args, **kwargs):
        raise AssertionError("a second summary must reuse the stored confirmation runs")

    monkeypatch.setattr(search_module, "retrain", no_training)
    again = search_module.summarize(searched.study, searched.config, None, report=False)
    assert again.best.number == searched.best.number and again.best.confirmed == searched.best.confirmed


def test_the_best_is_judged_against_the_default_and_the_winners_curse():
    from types import SimpleNamespace as Row

    from gradwise.tune.scoring import versus_default

    def row(n, runs_, se=0.002):
        return Row(number=n, state="complete", value=runs_[0], confirmed=list(runs_[1:]), val_examples=None,
                   score_se=se, curve_se=se)

    default = row(-1, [0.100, 0.102, 0.098])
    clear = versus_default(row(5, [0.050, 0.051, 0.049]), default, 30)
    assert clear.verdict == "clearly better than the default" and clear.gain == pytest.approx(0.05)
    lucky = versus_default(row(5, [0.0965, 0.0985, 0.0945]), default, 30)   # 2.1 SE: less than sqrt(2 ln 30) = 2.6
    assert lucky.verdict.startswith("better than the default, but by less than the best of 30 noisy trials")
    worse = versus_default(row(5, [0.11, 0.10, 0.12]), default, 30)
    assert worse.verdict.startswith("not better than the default") and worse.gain < 0
    assert "the default configuration scores 0.1" in worse.sentence("val_loss")


def test_search_trains_the_default_with_the_same_seeds(searched):
    base = searched.baseline
    assert base is not None and base.number == -1 and base.confirmed_seeds == [10_000, 10_001]
    assert base.val_examples and len(base.val_examples) == 60
    v = searched.versus_default
    assert v is not None and v.best == searched.best.number and v.seeds == 3 and v.se is not None
    page = (searched.run_dir / "report.html").read_text()
    assert "Against the default:" in page
