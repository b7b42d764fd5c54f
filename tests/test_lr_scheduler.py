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


def damped(x):
    """A custom CyclicLR amplitude scale, of the iteration."""
    return 1.0 / (1.0 + 0.05 * x)


class HalvingScale:
    """A callable object as CyclicLR's scale_fn: its attributes go into the scheduler's state_dict."""

    def __init__(self, base=0.5):
        self.base = base

    def __call__(self, cycle):
        return self.base ** (cycle - 1)


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
    "CyclicLR-triangular-SGD": ("SGD", 1, lambda m, o: m.CyclicLR(o, base_lr=0.01, max_lr=0.1, step_size_up=4)),
    "CyclicLR-triangular2-groups": ("SGD", 2, lambda m, o: m.CyclicLR(
        o, base_lr=[0.01, 0.02], max_lr=[0.1, 0.3], step_size_up=3, step_size_down=5, mode="triangular2",
        base_momentum=[0.8, 0.85], max_momentum=[0.9, 0.99])),
    "CyclicLR-exp_range-Adam": ("Adam", 1, lambda m, o: m.CyclicLR(
        o, base_lr=0.001, max_lr=0.01, step_size_up=5, mode="exp_range", gamma=0.95, base_momentum=0.85,
        max_momentum=0.95)),
    "CyclicLR-no-momentum": ("Adam", 2, lambda m, o: m.CyclicLR(o, base_lr=0.001, max_lr=0.004, step_size_up=2,
                                                                 step_size_down=7, cycle_momentum=False)),
    "CyclicLR-scale_fn-iterations": ("SGD", 1, lambda m, o: m.CyclicLR(
        o, base_lr=0.05, max_lr=0.5, step_size_up=6, scale_fn=damped, scale_mode="iterations")),
    "CyclicLR-scale_fn-object": ("SGD", 1, lambda m, o: m.CyclicLR(
        o, base_lr=0.05, max_lr=0.5, step_size_up=2, step_size_down=3, scale_fn=HalvingScale(0.7))),
    "CosineAnnealingWarmRestarts": ("SGD", 1, lambda m, o: m.CosineAnnealingWarmRestarts(o, T_0=7)),
    "CosineAnnealingWarmRestarts-T_mult": ("SGD", 2, lambda m, o: m.CosineAnnealingWarmRestarts(
        o, T_0=3, T_mult=2, eta_min=0.001)),
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
                                  "LambdaLR", "CyclicLR-triangular2-groups", "CyclicLR-exp_range-Adam",
                                  "CyclicLR-scale_fn-object", "CosineAnnealingWarmRestarts-T_mult"])
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


# ---------------------------------------------------------------------------- CyclicLR, warm restarts
def test_cyclic_lr_state_dict_is_picklable_and_keeps_a_callable_object_s_attributes():
    import pickle

    g_opt, _ = make_optimizers("SGD")
    sched = glrs.CyclicLR(g_opt, base_lr=0.01, max_lr=0.1, step_size_up=3, mode="exp_range", gamma=0.9)
    state = pickle.loads(pickle.dumps(sched.state_dict()))
    assert "_scale_fn_ref" not in state and state["_scale_fn_custom"] is None
    obj = HalvingScale(0.3)
    g_opt, _ = make_optimizers("SGD")
    sched = glrs.CyclicLR(g_opt, base_lr=0.01, max_lr=0.1, scale_fn=obj)
    assert sched.state_dict()["_scale_fn_custom"] == {"base": 0.3}
    g_opt, _ = make_optimizers("SGD")
    other = glrs.CyclicLR(g_opt, base_lr=0.01, max_lr=0.1, scale_fn=HalvingScale(0.9))
    other.load_state_dict(sched.state_dict())
    assert other._scale_fn_custom.base == 0.3
    g_opt, _ = make_optimizers("SGD")
    lam = glrs.CyclicLR(g_opt, base_lr=0.01, max_lr=0.1, scale_fn=lambda x: 1.0)
    assert pickle.loads(pickle.dumps(lam.state_dict()))["_scale_fn_custom"] is None


@pytest.mark.parametrize("T_0,T_mult,eta_min", [(4, 1, 0.0), (3, 2, 0.01), (2, 3, 0.0)])
def test_warm_restarts_fractional_epochs_match_torch(T_0, T_mult, eta_min):
    """``step(epoch + i / iters)`` after every batch, then plain ``step()`` calls, then a jump."""
    g_opt, t_opt = make_optimizers("SGD", 2)
    g_sched = glrs.CosineAnnealingWarmRestarts(g_opt, T_0, T_mult, eta_min)
    t_sched = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(t_opt, T_0, T_mult, eta_min)
    iters = 4
    for epoch in range(12):
        for i in range(iters):
            g_opt.step()
            t_opt.step()
            g_sched.step(epoch + i / iters)
            t_sched.step(epoch + i / iters)
            assert g_sched.get_last_lr() == t_sched.get_last_lr(), (epoch, i)
            assert (g_sched.T_cur, g_sched.T_i, g_sched.last_epoch) == (t_sched.T_cur, t_sched.T_i, t_sched.last_epoch)
    for call in [None, None, 26, None, 5.5, None, 0, None]:
        g_sched.step(call)
        t_sched.step(call)
        assert g_sched.get_last_lr() == t_sched.get_last_lr(), call
        assert (g_sched.T_cur, g_sched.T_i) == (t_sched.T_cur, t_sched.T_i)


def test_cyclic_and_warm_restart_errors():
    g_opt, _ = make_optimizers("SGD")
    with pytest.raises(ValueError, match="momentum or beta1.*Adagrad"):
        glrs.CyclicLR(goptim.Adagrad([Parameter(gradwise.zeros(2))]), base_lr=0.01, max_lr=0.1)
    glrs.CyclicLR(goptim.Adagrad([Parameter(gradwise.zeros(2))]), base_lr=0.01, max_lr=0.1, cycle_momentum=False)
    with pytest.raises(ValueError, match="mode 'sawtooth' is invalid"):
        glrs.CyclicLR(g_opt, base_lr=0.01, max_lr=0.1, mode="sawtooth")
    with pytest.raises(ValueError, match="step_size_up must be > 0.*step_size_up=0"):
        glrs.CyclicLR(g_opt, base_lr=0.01, max_lr=0.1, step_size_up=0)
    with pytest.raises(ValueError, match="max_lr must have the same length"):
        glrs.CyclicLR(g_opt, base_lr=0.01, max_lr=[0.1, 0.2])
    with pytest.raises(ValueError, match="positive integer T_0, but got 0"):
        glrs.CosineAnnealingWarmRestarts(g_opt, T_0=0)
    with pytest.raises(ValueError, match="T_mult >= 1, but got 1.5"):
        glrs.CosineAnnealingWarmRestarts(g_opt, T_0=3, T_mult=1.5)
    sched = glrs.CosineAnnealingWarmRestarts(g_opt, T_0=3)
    with pytest.raises(ValueError, match="non-negative epoch, but got -1"):
        sched.step(-1)
