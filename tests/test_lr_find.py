"""Tests of gradwise.train.lr_find: fastai's exponential learning-rate sweep.

The sweep's schedule and early stop, its suggestions on a curve with a known answer, that it
leaves the model, the optimizer and the random streams as they were, and the plot.
"""
from __future__ import annotations

import numpy as np
import pytest

import gradwise
import gradwise.nn as nn
from gradwise.data.datasets import load_digits
from gradwise.data.preprocessing import Standardize
from gradwise.train import lr_find
from gradwise.train.lr_find import _suggestions
from conftest import digits_mlp

X, Y = load_digits(flatten=True)
X = Standardize().fit(X).transform(X)
TRAIN = (X[:512], Y[:512])


def mlp() -> nn.Module:
    return digits_mlp(32, init=True)


def test_sweep_suggests_a_useful_rate_and_leaves_no_trace():
    model = mlp()
    before = [p.detach().numpy().copy() for p in model.parameters()]
    rng_before = gradwise.get_rng_state()
    result = lr_find(model, TRAIN, "cross_entropy", num_steps=60, batch_size=64, seed=0)
    lrs = np.array(result.lrs)
    assert lrs[0] == pytest.approx(1e-7)
    ratios = lrs[1:] / lrs[:-1]
    np.testing.assert_allclose(ratios, (10 / 1e-7) ** (1 / 59), rtol=1e-9)   # exponential schedule
    assert "diverged" in result.stop_reason and len(lrs) < 60                 # Adam at lr ~ 1 blows up
    assert len(result.losses) == len(result.raw_losses) == len(lrs)
    assert 1e-4 < result.suggestion < 1 and result.lr_steep == result.suggestion
    assert result.lr_min == pytest.approx(lrs[int(np.argmin(result.losses[6:len(lrs) - 5])) + 6] / 10)
    assert all(np.array_equal(b, p.detach().numpy()) for b, p in zip(before, model.parameters()))
    assert gradwise.get_rng_state() == rng_before
    assert "suggested lr" in str(result)


def test_an_optimizer_instance_is_restored_too():
    model = mlp()
    opt = gradwise.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    result = lr_find(model, TRAIN, "cross_entropy", optimizer_cls=opt, num_steps=20, end_lr=1.0, seed=0)
    assert len(result.lrs) <= 20 and opt.param_groups[0]["lr"] == 0.05 and opt.state_dict()["state"] == {}


def test_suggestions_on_a_known_curve():
    lrs = np.logspace(-6, 0, 61)
    x = np.log10(lrs)
    # flat at 2, falls fastest at lr = 1e-3 (a tanh step), lowest at 1e-1, then climbs
    losses = 2 - np.tanh((x + 3) * 1.5) - 0.5 * np.exp(-((x + 1) ** 2) / 0.1) + np.where(x > -1, (x + 1) * 8, 0)
    steep, lr_min = _suggestions(lrs, losses, num_steps=61)
    assert steep == pytest.approx(1e-3, rel=0.3)
    assert lr_min == pytest.approx(lrs[np.argmin(losses)] / 10)
    assert _suggestions(lrs[:1], losses[:1], 61) == (None, None)
    assert _suggestions(lrs[:8], np.linspace(1, 2, 8), 61)[0] is None   # only rising: nothing to suggest


def test_bad_arguments():
    with pytest.raises(ValueError, match="start_lr < end_lr"):
        lr_find(mlp(), TRAIN, "cross_entropy", start_lr=1.0, end_lr=0.1)
    with pytest.raises(ValueError, match="num_steps"):
        lr_find(mlp(), TRAIN, "cross_entropy", num_steps=1)


def test_plot_marks_the_suggestions(tmp_path):
    pytest.importorskip("matplotlib")
    result = lr_find(mlp(), TRAIN, "cross_entropy", num_steps=40, batch_size=64, seed=0)
    path = result.plot(tmp_path / "lr.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 10_000
    from matplotlib.figure import Figure

    ax = result.plot(ax=Figure().subplots())
    assert ax.get_xscale() == "log"
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any(label.startswith("suggestion (steepest descent)") for label in labels)
    assert any(label.startswith("minimum / 10") for label in labels)
