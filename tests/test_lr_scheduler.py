"""gradwise.optim.lr_scheduler against torch.optim.lr_scheduler: 30 epochs, same learning rates."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import gradwise
import gradwise.optim as goptim
from gradwise.nn import Parameter
from gradwise.optim import lr_scheduler as glrs

EPOCHS = 30


def inverse_epoch(epoch):
    return 1.0 / (1.0 + epoch)


def half_cosine(epoch):
    return 0.5 * (1 + np.cos(np.pi * min(epoch, 20) / 20))


def decay_095(epoch):
    return 0.95


def make_optimizers(opt_name="SGD", groups=1):
    """The same optimizer (one or two param groups) in gradwise and in torch."""
    kwargs = {"lr": 0.1, "momentum": 0.9} if opt_name == "SGD" else {"lr": 0.01}
    g_params = [Parameter(gradwise.zeros(2)) for _ in range(groups)]
    t_params = [torch.nn.Parameter(torch.zeros(2)) for _ in range(groups)]
    if groups == 1:
        g_spec, t_spec = [g_params[0]], [t_params[0]]
    else:
        g_spec = [{"params": [g_params[0]]}, {"params": [g_params[1]], "lr": 0.5}]
        t_spec = [{"params": [t_params[0]]}, {"params": [t_params[1]], "lr": 0.5}]
    return getattr(goptim, opt_name)(g_spec, **kwargs), getattr(torch.optim, opt_name)(t_spec, **kwargs)


SCHEDULES = {
    "StepLR": ("SGD", 1, lambda m, o: m.StepLR(o, step_size=7, gamma=0.5)),
    "MultiStepLR": ("SGD", 1, lambda m, o: m.MultiStepLR(o, milestones=[3, 8, 8, 20], gamma=0.3)),
    "ExponentialLR": ("SGD", 2, lambda m, o: m.ExponentialLR(o, gamma=0.9)),
    "CosineAnnealingLR": ("SGD", 1, lambda m, o: m.CosineAnnealingLR(o, T_max=30)),
    "CosineAnnealingLR-restarts": ("SGD", 2, lambda m, o: m.CosineAnnealingLR(o, T_max=7, eta_min=0.001)),
    "LambdaLR": ("SGD", 1, lambda m, o: m.LambdaLR(o, inverse_epoch)),
    "LambdaLR-per-group": ("SGD", 2, lambda m, o: m.LambdaLR(o, [inverse_epoch, half_cosine])),
    "MultiplicativeLR": ("SGD", 1, lambda m, o: m.MultiplicativeLR(o, decay_095)),
    "LinearLR-warmup": ("SGD", 1, lambda m, o: m.LinearLR(o, start_factor=0.1, total_iters=10)),
    "LinearLR-decay": ("Adam", 2, lambda m, o: m.LinearLR(o, start_factor=1.0, end_factor=0.2, total_iters=20)),
    "ConstantLR": ("SGD", 1, lambda m, o: m.ConstantLR(o, factor=0.5, total_iters=4)),
    "PolynomialLR": ("SGD", 1, lambda m, o: m.PolynomialLR(o, total_iters=20, power=2.0)),
    "OneCycleLR-cos-SGD": ("SGD", 1, lambda m, o: m.OneCycleLR(o, max_lr=0.5, total_steps=EPOCHS)),
    "OneCycleLR-linear-Adam": ("Adam", 2, lambda m, o: m.OneCycleLR(o, max_lr=[0.01, 0.05], epochs=3,
                                                                     steps_per_epoch=10, anneal_strategy="linear")),
    "OneCycleLR-three-phase": ("SGD", 1, lambda m, o: m.OneCycleLR(o, max_lr=1.0, total_steps=EPOCHS, pct_start=0.25,
                                                                    three_phase=True, div_factor=10.0)),
    "OneCycleLR-no-momentum": ("Adam", 1, lambda m, o: m.OneCycleLR(o, max_lr=0.1, total_steps=EPOCHS,
                                                                     cycle_momentum=False)),
    "SequentialLR": ("SGD", 1, lambda m, o: m.SequentialLR(
        o, [m.LinearLR(o, start_factor=0.1, total_iters=5), m.CosineAnnealingLR(o, T_max=25)], milestones=[5])),
    "SequentialLR-three": ("SGD", 2, lambda m, o: m.SequentialLR(
        o, [m.ConstantLR(o, factor=0.3, total_iters=3), m.ExponentialLR(o, gamma=0.9), m.StepLR(o, 5)],
        milestones=[4, 12])),
    "ChainedScheduler": ("SGD", 1, lambda m, o: m.ChainedScheduler(
        [m.ConstantLR(o, factor=0.5, total_iters=4), m.ExponentialLR(o, gamma=0.9)])),
}


def _momenta(optimizer):
    return [g["betas"][0] if "betas" in g else g["momentum"] for g in optimizer.param_groups]


@pytest.mark.parametrize("name", list(SCHEDULES))
def test_lr_sequence_matches_torch(name):
    opt_name, groups, build = SCHEDULES[name]
    g_opt, t_opt = make_optimizers(opt_name, groups)
    g_sched, t_sched = build(glrs, g_opt), build(torch.optim.lr_scheduler, t_opt)
    assert g_sched.get_last_lr() == t_sched.get_last_lr()
    for epoch in range(EPOCHS - 1 if "OneCycle" in name else EPOCHS):
        g_opt.step()
        t_opt.step()
        g_sched.step()
        t_sched.step()
        assert g_sched.get_last_lr() == t_sched.get_last_lr(), f"epoch {epoch + 1}"
        assert [g["lr"] for g in g_opt.param_groups] == [g["lr"] for g in t_opt.param_groups]
        assert _momenta(g_opt) == _momenta(t_opt)
        assert getattr(g_sched, "last_epoch", None) == getattr(t_sched, "last_epoch", None)
    assert [g["initial_lr"] for g in g_opt.param_groups] == [g["initial_lr"] for g in t_opt.param_groups]


def _plateau_metrics():
    """A loss that improves, plateaus, improves a little (below the threshold), then drops."""
    values = [1.0, 0.8, 0.7, 0.7, 0.7, 0.69999, 0.7, 0.71, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.4]
    values += [0.4 + 0.001 * (i % 3) for i in range(15)]
    return values


@pytest.mark.parametrize("kwargs", [
    {},
    {"patience": 2},
    {"patience": 1, "factor": 0.5, "cooldown": 2},
    {"patience": 0, "factor": 0.5, "min_lr": 0.02},
    {"patience": 1, "threshold_mode": "abs", "threshold": 0.05},
    {"mode": "max", "patience": 1, "factor": 0.3},
    {"mode": "max", "patience": 2, "threshold_mode": "abs", "threshold": 0.01, "eps": 1e-3},
])
def test_reduce_lr_on_plateau_matches_torch(kwargs):
    g_opt, t_opt = make_optimizers("SGD", 2)
    if "min_lr" in kwargs:
        kwargs = {**kwargs, "min_lr": [kwargs["min_lr"], 0.3]}
    g_sched = glrs.ReduceLROnPlateau(g_opt, **kwargs)
    t_sched = torch.optim.lr_scheduler.ReduceLROnPlateau(t_opt, **kwargs)
    for metric in _plateau_metrics():
        g_opt.step()
        t_opt.step()
        g_sched.step(metric)
        t_sched.step(metric)
        assert g_sched.get_last_lr() == t_sched.get_last_lr()
        assert (g_sched.num_bad_epochs, g_sched.cooldown_counter, g_sched.best) == \
            (t_sched.num_bad_epochs, t_sched.cooldown_counter, t_sched.best)


@pytest.mark.parametrize("name", ["StepLR", "CosineAnnealingLR-restarts", "OneCycleLR-cos-SGD", "SequentialLR",
                                  "LambdaLR"])
def test_scheduler_state_dict_round_trip(name):
    opt_name, groups, build = SCHEDULES[name]
    g_opt, _ = make_optimizers(opt_name, groups)
    sched = build(glrs, g_opt)
    for _ in range(10):
        g_opt.step()
        sched.step()
    saved_sched, saved_opt = sched.state_dict(), g_opt.state_dict()
    expected = []
    for _ in range(10):
        g_opt.step()
        sched.step()
        expected.append(sched.get_last_lr())

    fresh_opt, _ = make_optimizers(opt_name, groups)
    fresh = build(glrs, fresh_opt)
    fresh_opt.load_state_dict(saved_opt)
    fresh.load_state_dict(saved_sched)
    got = []
    for _ in range(10):
        fresh_opt.step()
        fresh.step()
        got.append(fresh.get_last_lr())
    assert got == expected


def test_closed_form_with_explicit_epoch_matches_torch():
    g_opt, t_opt = make_optimizers()
    g_sched, t_sched = glrs.StepLR(g_opt, 3, 0.5), torch.optim.lr_scheduler.StepLR(t_opt, 3, 0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        g_opt.step()
        t_opt.step()
        g_sched.step(7)
        t_sched.step(7)
    assert g_sched.get_last_lr() == t_sched.get_last_lr()


def test_warns_when_scheduler_steps_before_optimizer():
    g_opt, _ = make_optimizers()
    sched = glrs.ExponentialLR(g_opt, 0.9)
    with pytest.warns(UserWarning, match="before `optimizer.step\\(\\)`"):
        sched.step()


def test_no_warning_in_the_right_order():
    g_opt, _ = make_optimizers()
    sched = glrs.CosineAnnealingLR(g_opt, 10)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in range(3):
            g_opt.step()
            sched.step()


def test_errors():
    g_opt, _ = make_optimizers()
    with pytest.raises(TypeError, match="not an Optimizer"):
        glrs.StepLR(object(), 3)
    with pytest.raises(ValueError, match="Factor should be < 1.0"):
        glrs.ReduceLROnPlateau(g_opt, factor=1.5)
    with pytest.raises(ValueError, match="total_steps"):
        glrs.OneCycleLR(g_opt, max_lr=0.1)
    with pytest.raises(KeyError, match="initial_lr"):
        glrs.StepLR(g_opt, 3, last_epoch=5)
    with pytest.raises(ValueError, match="momentum or beta1"):
        glrs.OneCycleLR(goptim.Adagrad([Parameter(gradwise.zeros(2))]), max_lr=0.1, total_steps=5)
    sched = glrs.OneCycleLR(g_opt, max_lr=0.1, total_steps=2)
    with pytest.raises(ValueError, match="Tried to step"):
        for _ in range(3):
            g_opt.step()
            sched.step()
