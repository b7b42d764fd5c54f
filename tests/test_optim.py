"""gradwise.optim against torch.optim, step by step.

Every optimizer and each of its option variants starts from identical float64 parameters
(a small tanh MLP on fixed data, and the Rosenbrock function), takes 30 steps in gradwise
and in PyTorch (``foreach=False``), and the parameters are compared after every step.
"""
from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest
import torch

import gradwise
import gradwise.optim as goptim
from gradwise.nn import Parameter

STEPS = 30
RTOL, ATOL = 1e-6, 1e-10

# ----------------------------------------------------------------------------- problems
_rng = np.random.default_rng(0)
MLP_INIT = [_rng.normal(0, 0.5, (8, 5)), _rng.normal(0, 0.1, 8), _rng.normal(0, 0.5, (3, 8)), _rng.normal(0, 0.1, 3)]
MLP_X = _rng.normal(size=(16, 5))
MLP_Y = _rng.normal(size=(16, 3))
ROSEN_INIT = [np.array([-1.2, 1.0])]


def mlp_loss(params, lib):
    w1, b1, w2, b2 = params
    x, y = lib.tensor(MLP_X), lib.tensor(MLP_Y)
    hidden = (x @ w1.t() + b1).tanh()
    return ((hidden @ w2.t() + b2 - y) ** 2).mean()


def rosenbrock_loss(params, lib):
    (xy,) = params
    return (1 - xy[0]) ** 2 + 100 * (xy[1] - xy[0] ** 2) ** 2


PROBLEMS = {"mlp": (MLP_INIT, mlp_loss), "rosenbrock": (ROSEN_INIT, rosenbrock_loss)}

# learning rates that keep each optimizer stable on each problem over 30 steps
LR = {
    "mlp": dict(SGD=0.1, Adam=0.01, AdamW=0.01, Adamax=0.02, Adadelta=1.0, Adagrad=0.1, ASGD=0.1, NAdam=0.01,
                RAdam=0.01, RMSprop=0.01, Rprop=0.01, LBFGS=1.0),
    "rosenbrock": dict(SGD=2e-4, Adam=0.05, AdamW=0.05, Adamax=0.05, Adadelta=1.0, Adagrad=0.1, ASGD=2e-4,
                       NAdam=0.05, RAdam=1e-3, RMSprop=0.01, Rprop=0.01, LBFGS=0.1),
}

VARIANTS = [
    ("SGD", {}),
    ("SGD", {"momentum": 0.9}),
    ("SGD", {"momentum": 0.9, "dampening": 0.3}),
    ("SGD", {"momentum": 0.9, "nesterov": True}),
    ("SGD", {"weight_decay": 0.1}),
    ("SGD", {"momentum": 0.5, "weight_decay": 0.1}),
    ("SGD", {"momentum": 0.9, "maximize": True}),
    ("Adam", {}),
    ("Adam", {"amsgrad": True}),
    ("Adam", {"weight_decay": 0.1}),
    ("Adam", {"weight_decay": 0.1, "decoupled_weight_decay": True}),
    ("Adam", {"maximize": True}),
    ("Adam", {"amsgrad": True, "weight_decay": 0.05, "maximize": True, "betas": (0.8, 0.99)}),
    ("AdamW", {}),
    ("AdamW", {"amsgrad": True, "weight_decay": 0.1}),
    ("AdamW", {"maximize": True}),
    ("Adamax", {}),
    ("Adamax", {"weight_decay": 0.1}),
    ("Adamax", {"maximize": True}),
    ("Adadelta", {}),
    ("Adadelta", {"rho": 0.5, "weight_decay": 0.1}),
    ("Adadelta", {"maximize": True}),
    ("Adagrad", {}),
    ("Adagrad", {"lr_decay": 0.1}),
    ("Adagrad", {"initial_accumulator_value": 0.5}),
    ("Adagrad", {"weight_decay": 0.1, "eps": 1e-6}),
    ("Adagrad", {"maximize": True}),
    ("ASGD", {}),
    ("ASGD", {"t0": 5, "lambd": 0.01}),
    ("ASGD", {"t0": 0, "alpha": 0.5, "weight_decay": 0.1}),
    ("ASGD", {"maximize": True}),
    ("NAdam", {}),
    ("NAdam", {"momentum_decay": 0.01}),
    ("NAdam", {"weight_decay": 0.1}),
    ("NAdam", {"weight_decay": 0.1, "decoupled_weight_decay": True}),
    ("NAdam", {"maximize": True}),
    ("RAdam", {}),
    ("RAdam", {"weight_decay": 0.1}),
    ("RAdam", {"weight_decay": 0.1, "decoupled_weight_decay": True}),
    ("RAdam", {"maximize": True, "betas": (0.9, 0.9)}),
    ("RMSprop", {}),
    ("RMSprop", {"centered": True}),
    ("RMSprop", {"momentum": 0.9}),
    ("RMSprop", {"momentum": 0.5, "centered": True, "alpha": 0.9}),
    ("RMSprop", {"weight_decay": 0.1}),
    ("RMSprop", {"maximize": True}),
    ("Rprop", {}),
    ("Rprop", {"etas": (0.3, 1.5), "step_sizes": (1e-3, 0.05)}),
    ("Rprop", {"maximize": True}),
    # L-BFGS amplifies last-bit differences of the gradients (differences of nearly equal
    # gradients set its curvature pairs), so 2 iterations per step keep 30 steps comparable
    ("LBFGS", {"max_iter": 2}),
    ("LBFGS", {"max_iter": 2, "history_size": 3}),
    ("LBFGS", {"max_iter": 2, "line_search_fn": "strong_wolfe"}),
    ("LBFGS", {"max_iter": 2, "line_search_fn": "strong_wolfe", "history_size": 2, "tolerance_change": 1e-12}),
]

NO_FOREACH = {"LBFGS", "SparseAdam"}


def assert_close(actual, expected, err_msg=""):
    """assert_allclose at RTOL/ATOL, with the cheap np.allclose check first (it runs thousands of times)."""
    if not np.allclose(actual, expected, rtol=RTOL, atol=ATOL):
        np.testing.assert_allclose(actual, expected, rtol=RTOL, atol=ATOL, err_msg=err_msg)


def _variant_id(variant) -> str:
    name, kwargs = variant
    return name + ("(" + ",".join(f"{k}={v}" for k, v in kwargs.items()) + ")" if kwargs else "")


def make_pair(name, kwargs, problem, lr=None):
    """The same parameters and optimizer in gradwise and in torch."""
    init, _ = PROBLEMS[problem]
    kwargs = {"lr": LR[problem][name] if lr is None else lr, **kwargs}
    g_params = [Parameter(gradwise.tensor(a.copy())) for a in init]
    t_params = [torch.nn.Parameter(torch.tensor(a.copy())) for a in init]
    g_opt = getattr(goptim, name)(g_params, **kwargs)
    t_kwargs = dict(kwargs) if name in NO_FOREACH else {**kwargs, "foreach": False}
    t_opt = getattr(torch.optim, name)(t_params, **t_kwargs)
    return g_params, g_opt, t_params, t_opt


def take_step(params, opt, lib, loss_fn, sign):
    def closure():
        opt.zero_grad()
        loss = sign * loss_fn(params, lib)
        loss.backward()
        return loss

    if isinstance(opt, (goptim.LBFGS, torch.optim.LBFGS)):
        return opt.step(closure)
    closure()
    return opt.step()


@pytest.mark.parametrize("problem", ["mlp", "rosenbrock"])
@pytest.mark.parametrize("variant", VARIANTS, ids=_variant_id)
def test_matches_torch_every_step(variant, problem):
    name, kwargs = variant
    _, loss_fn = PROBLEMS[problem]
    sign = -1.0 if kwargs.get("maximize") else 1.0  # maximize -loss: a well-behaved run
    g_params, g_opt, t_params, t_opt = make_pair(name, kwargs, problem)
    for step in range(STEPS):
        take_step(g_params, g_opt, gradwise, loss_fn, sign)
        take_step(t_params, t_opt, torch, loss_fn, sign)
        for i, (g, t) in enumerate(zip(g_params, t_params)):
            assert_close(g.detach().numpy(), t.detach().numpy(),
                         err_msg=f"{name} {kwargs} on {problem}: parameter {i} after step {step + 1}")
    assert all(np.isfinite(g.detach().numpy()).all() for g in g_params)


@pytest.mark.parametrize("variant", [v for v in VARIANTS if v[0] != "LBFGS"], ids=_variant_id)
def test_block_by_block_updates_match_torch(variant, monkeypatch):
    """Large parameters are updated in blocks of rows; tiny blocks must give the same steps."""
    from gradwise.optim import optimizer as base

    monkeypatch.setattr(base, "BLOCK_SIZE", 7)
    base._block_slices.cache_clear()
    try:
        name, kwargs = variant
        sign = -1.0 if kwargs.get("maximize") else 1.0
        g_params, g_opt, t_params, t_opt = make_pair(name, kwargs, "mlp")
        assert len(base._block_slices((8, 5))) == 8
        for step in range(5):
            take_step(g_params, g_opt, gradwise, mlp_loss, sign)
            take_step(t_params, t_opt, torch, mlp_loss, sign)
            for g, t in zip(g_params, t_params):
                assert_close(g.detach().numpy(), t.detach().numpy())
    finally:
        base._block_slices.cache_clear()


@pytest.mark.parametrize("variant", VARIANTS[::3] + [VARIANTS[-1]], ids=_variant_id)
def test_state_dict_layout_matches_torch(variant):
    """Same state keys, param-group keys and (numerically) the same state as torch."""
    name, kwargs = variant
    g_params, g_opt, t_params, t_opt = make_pair(name, kwargs, "mlp")
    for _ in range(3):
        take_step(g_params, g_opt, gradwise, mlp_loss, 1.0)
        take_step(t_params, t_opt, torch, mlp_loss, 1.0)
    g_sd, t_sd = g_opt.state_dict(), t_opt.state_dict()
    assert set(g_sd) == {"state", "param_groups"}
    assert [set(g) for g in g_sd["param_groups"]] == [set(g) for g in t_sd["param_groups"]]
    assert [g["params"] for g in g_sd["param_groups"]] == [g["params"] for g in t_sd["param_groups"]]
    assert set(g_sd["state"]) == set(t_sd["state"])
    for key, t_state in t_sd["state"].items():
        g_state = g_sd["state"][key]
        assert set(g_state) == set(t_state)
        for field, t_value in t_state.items():
            if isinstance(t_value, torch.Tensor):
                g_value = g_state[field]
                g_value = g_value._data if isinstance(g_value, gradwise.Tensor) else g_value
                np.testing.assert_allclose(np.asarray(g_value), t_value.numpy(), rtol=1e-6, atol=1e-10)


ROUND_TRIP = [("SGD", {"momentum": 0.9, "nesterov": True}), ("Adam", {"amsgrad": True}), ("AdamW", {}),
              ("Adamax", {}), ("Adadelta", {}), ("Adagrad", {"lr_decay": 0.01}), ("ASGD", {"t0": 3}),
              ("NAdam", {}), ("RAdam", {}), ("RMSprop", {"centered": True, "momentum": 0.5}), ("Rprop", {}),
              ("LBFGS", {"max_iter": 3, "history_size": 4}), ("LBFGS", {"max_iter": 3, "line_search_fn": "strong_wolfe"})]


@pytest.mark.parametrize("variant", ROUND_TRIP, ids=_variant_id)
def test_state_dict_round_trip_is_bit_identical(variant):
    """Save after 10 steps, load into a fresh optimizer, continue: same bits as never stopping."""
    name, kwargs = variant
    g_params, g_opt, _, _ = make_pair(name, kwargs, "mlp")
    for _ in range(10):
        take_step(g_params, g_opt, gradwise, mlp_loss, 1.0)
    checkpoint = pickle.loads(pickle.dumps((g_opt.state_dict(), [p.detach().numpy().copy() for p in g_params])))

    for _ in range(10):  # the uninterrupted run
        take_step(g_params, g_opt, gradwise, mlp_loss, 1.0)

    saved_state, saved_params = checkpoint
    resumed = [Parameter(gradwise.tensor(a)) for a in saved_params]
    opt = getattr(goptim, name)(resumed, lr=LR["mlp"][name], **kwargs)
    opt.load_state_dict(saved_state)
    for _ in range(10):
        take_step(resumed, opt, gradwise, mlp_loss, 1.0)
    for a, b in zip(g_params, resumed):
        assert np.array_equal(a.detach().numpy(), b.detach().numpy())


def test_load_state_dict_copies_and_leaves_the_checkpoint_alone():
    g_params, g_opt, _, _ = make_pair("Adam", {}, "mlp")
    take_step(g_params, g_opt, gradwise, mlp_loss, 1.0)
    saved = g_opt.state_dict()
    before = saved["state"][0]["exp_avg"].detach().numpy().copy()
    take_step(g_params, g_opt, gradwise, mlp_loss, 1.0)
    assert np.array_equal(saved["state"][0]["exp_avg"].detach().numpy(), before)
    fresh = goptim.Adam([Parameter(gradwise.tensor(a.copy())) for a in MLP_INIT], lr=0.01)
    fresh.load_state_dict(saved)
    assert fresh.state[fresh.param_groups[0]["params"][0]]["exp_avg"]._data is not saved["state"][0]["exp_avg"]._data


def test_param_groups_with_different_lrs_match_torch():
    init, loss_fn = PROBLEMS["mlp"]
    g_params = [Parameter(gradwise.tensor(a.copy())) for a in init]
    t_params = [torch.nn.Parameter(torch.tensor(a.copy())) for a in init]
    g_opt = goptim.SGD([{"params": g_params[:2]}, {"params": g_params[2:], "lr": 0.01, "momentum": 0.5}],
                       lr=0.1, momentum=0.9)
    t_opt = torch.optim.SGD([{"params": t_params[:2]}, {"params": t_params[2:], "lr": 0.01, "momentum": 0.5}],
                            lr=0.1, momentum=0.9, foreach=False)
    assert g_opt.param_groups[1]["lr"] == 0.01 and g_opt.param_groups[0]["lr"] == 0.1
    for _ in range(STEPS):
        take_step(g_params, g_opt, gradwise, loss_fn, 1.0)
        take_step(t_params, t_opt, torch, loss_fn, 1.0)
        for g, t in zip(g_params, t_params):
            assert_close(g.detach().numpy(), t.detach().numpy())


def test_add_param_group_and_duplicates():
    a, b, c = (Parameter(gradwise.randn(3)) for _ in range(3))
    opt = goptim.Adam([a], lr=0.1)
    opt.add_param_group({"params": [b], "lr": 0.5})
    assert opt.param_groups[1]["lr"] == 0.5 and opt.param_groups[1]["betas"] == (0.9, 0.999)
    with pytest.raises(ValueError, match="more than one parameter group"):
        opt.add_param_group({"params": [a, c]})
    with pytest.warns(UserWarning, match="duplicate"):
        goptim.SGD([c, c], lr=0.1)
    with pytest.raises(TypeError, match="ordered collections"):
        goptim.SGD([{"params": {a}}], lr=0.1)
    with pytest.raises(ValueError, match="empty parameter list"):
        goptim.SGD([], lr=0.1)


def test_zero_grad():
    p = Parameter(gradwise.randn(3))
    opt = goptim.SGD([p], lr=0.1)
    (p * p).sum().backward()
    opt.zero_grad(set_to_none=False)
    assert p.grad is not None and np.all(p.grad.numpy() == 0)
    opt.zero_grad()
    assert p.grad is None
    opt.step()  # a parameter without a gradient is skipped
    assert opt.state == {} or all(not s for s in opt.state.values())


def test_named_parameters_are_accepted():
    w = Parameter(gradwise.randn(2))
    opt = goptim.SGD([("w", w)], lr=0.1)
    assert opt.param_groups[0]["param_names"] == ["w"]
    assert opt.state_dict()["param_groups"][0]["param_names"] == ["w"]


@pytest.mark.parametrize("make, message", [
    (lambda p: goptim.SGD(p, lr=-0.1), "Invalid learning rate"),
    (lambda p: goptim.Adam(p, lr=-1e-3), "Invalid learning rate"),
    (lambda p: goptim.Adam(p, betas=(1.0, 0.999)), "beta parameter at index 0"),
    (lambda p: goptim.Adam(p, betas=(0.9, -0.1)), "beta parameter at index 1"),
    (lambda p: goptim.AdamW(p, eps=-1e-8), "Invalid epsilon"),
    (lambda p: goptim.NAdam(p, betas=(0.9, 1.5)), "beta parameter at index 1"),
    (lambda p: goptim.RAdam(p, eps=-1.0), "Invalid epsilon"),
    (lambda p: goptim.Adamax(p, betas=(-0.1, 0.9)), "beta parameter at index 0"),
    (lambda p: goptim.SGD(p, lr=0.1, momentum=-0.9), "Invalid momentum"),
    (lambda p: goptim.SGD(p, lr=0.1, weight_decay=-1), "Invalid weight_decay"),
    (lambda p: goptim.SGD(p, lr=0.1, nesterov=True), "Nesterov momentum requires"),
    (lambda p: goptim.RMSprop(p, alpha=-0.5), "Invalid alpha"),
    (lambda p: goptim.Adadelta(p, rho=1.5), "Invalid rho"),
    (lambda p: goptim.Adagrad(p, lr_decay=-1), "Invalid lr_decay"),
    (lambda p: goptim.Rprop(p, etas=(1.5, 1.2)), "Invalid eta values"),
    (lambda p: goptim.SparseAdam(p, lr=0.0), "Invalid learning rate"),
    (lambda p: goptim.SparseAdam(p, eps=0.0), "Invalid epsilon"),
    (lambda p: goptim.LBFGS(p, line_search_fn="armijo"), "strong_wolfe"),
])
def test_hyper_parameter_validation(make, message):
    with pytest.raises(ValueError, match=message):
        make([Parameter(gradwise.randn(2))])


NAN, INF = float("nan"), float("inf")


def _build(lib, name, kwargs):
    param = Parameter(gradwise.zeros(1)) if lib is gradwise else torch.zeros(1, requires_grad=True)
    return getattr(lib.optim, name)([param], **kwargs)


def _error(lib, name, kwargs):
    """The ValueError message ``lib.optim.name([param], **kwargs)`` raises, or None when it is accepted."""
    try:
        _build(lib, name, kwargs)
    except ValueError as err:
        return str(err)
    return None


@pytest.mark.parametrize("name, kwargs", [
    ("SGD", {"lr": -0.1}), ("SGD", {"momentum": -0.5}), ("SGD", {"weight_decay": -1}),
    ("Adam", {"lr": -1}), ("Adam", {"lr": NAN}), ("Adam", {"eps": -1e-8}), ("Adam", {"betas": (1.0, 0.999)}),
    ("Adam", {"betas": (0.9, NAN)}), ("Adam", {"weight_decay": -0.1}), ("AdamW", {"lr": -1e-3}),
    ("AdamW", {"betas": (0.9, 1.0)}), ("NAdam", {"momentum_decay": -1}), ("RAdam", {"eps": -1.0}),
    ("Adamax", {"betas": (-0.1, 0.9)}), ("RMSprop", {"momentum": -0.1}), ("RMSprop", {"alpha": -0.5}),
    ("RMSprop", {"eps": -1.0}), ("Adagrad", {"lr_decay": -1}), ("Adagrad", {"initial_accumulator_value": -1}),
    ("Adagrad", {"eps": -1.0}), ("Adadelta", {"rho": 1.5}), ("Adadelta", {"lr": -1.0}), ("ASGD", {"weight_decay": -1}),
    ("Rprop", {"etas": (1.5, 1.2)}), ("LBFGS", {"lr": -1}), ("SparseAdam", {"lr": 0.0}), ("SparseAdam", {"eps": 0.0}),
])
def test_invalid_hyper_parameters_get_torchs_message_and_the_valid_range(name, kwargs):
    """Every value torch.optim refuses is refused with its message, followed by the range that is valid."""
    theirs, ours = _error(torch, name, kwargs), _error(gradwise, name, kwargs)
    assert theirs is not None
    assert ours is not None and ours.startswith(theirs), (ours, theirs)
    assert "(" in ours[len(theirs):], ours          # ... then the valid range in parentheses


@pytest.mark.parametrize("name, kwargs, message", [
    ("SGD", {"momentum": 1.5}, "Invalid momentum value: 1.5 (momentum must be in [0, 1))"),
    ("SGD", {"momentum": 1.0}, "Invalid momentum value: 1.0 (momentum must be in [0, 1))"),
    ("SGD", {"lr": INF}, "Invalid learning rate: inf (the learning rate must be a finite number >= 0)"),
    ("SGD", {"lr": NAN}, "Invalid learning rate: nan"),
    ("SGD", {"dampening": -0.1}, "Invalid dampening value: -0.1 (dampening must be in [0, 1])"),
    ("SGD", {"weight_decay": INF}, "Invalid weight_decay value: inf (weight_decay must be a finite number >= 0)"),
    ("Adam", {"lr": INF}, "Invalid learning rate: inf"),
    ("Adam", {"eps": INF}, "Invalid epsilon value: inf (eps must be a finite number >= 0)"),
    ("RMSprop", {"momentum": 1.2}, "Invalid momentum value: 1.2 (momentum must be in [0, 1))"),
    ("RMSprop", {"alpha": 1.5}, "Invalid alpha value: 1.5 (alpha must be in [0, 1])"),
])
def test_impossible_values_torch_lets_through_are_refused(name, kwargs, message):
    """Values PyTorch accepts although no run can use them (the steps grow without bound or are NaN from the
    first update): refused here, worded as PyTorch words its own refusals."""
    assert _error(torch, name, kwargs) is None
    ours = _error(gradwise, name, kwargs)
    assert ours is not None and ours.startswith(message), ours


@pytest.mark.parametrize("name, kwargs", [
    ("SGD", {"lr": 0.0}), ("SGD", {"momentum": 0.0}), ("SGD", {"momentum": 0.99, "nesterov": True}),
    ("SGD", {"momentum": 0.9, "dampening": 1.0}), ("Adam", {"betas": (0.0, 0.0), "eps": 0.0}),
    ("RMSprop", {"alpha": 1.0, "momentum": 0.9}), ("RMSprop", {"alpha": 0.0}), ("Adadelta", {"rho": 1.0}),
    ("Adagrad", {"lr_decay": 0.0, "weight_decay": 0.0}),
])
def test_edge_values_both_accept(name, kwargs):
    assert _error(torch, name, kwargs) is None and _error(gradwise, name, kwargs) is None


@pytest.mark.parametrize("line_search_fn", [None, "strong_wolfe"])
def test_lbfgs_default_settings_solve_rosenbrock_like_torch(line_search_fn):
    """Full default steps (20 iterations each): same evaluations, same minimum as torch."""
    kwargs = {"line_search_fn": line_search_fn}
    g_params, g_opt, t_params, t_opt = make_pair("LBFGS", kwargs, "rosenbrock", lr=1.0 if line_search_fn else 0.1)
    for _ in range(5):
        take_step(g_params, g_opt, gradwise, rosenbrock_loss, 1.0)
        take_step(t_params, t_opt, torch, rosenbrock_loss, 1.0)
    g_state, t_state = g_opt.state[g_params[0]], t_opt.state[t_params[0]]
    assert (g_state["func_evals"], g_state["n_iter"]) == (t_state["func_evals"], t_state["n_iter"])
    np.testing.assert_allclose(g_params[0].detach().numpy(), t_params[0].detach().numpy(), rtol=1e-6)
    if line_search_fn:
        np.testing.assert_allclose(g_params[0].detach().numpy(), [1.0, 1.0], atol=1e-3)


def test_lbfgs_needs_a_closure_and_one_group():
    p = Parameter(gradwise.randn(2))
    with pytest.raises(RuntimeError, match="requires a closure"):
        goptim.LBFGS([p]).step()
    with pytest.raises(ValueError, match="parameter groups"):
        goptim.LBFGS([{"params": [p]}, {"params": [Parameter(gradwise.randn(2))]}])


def test_scheduler_sees_lr_changes_and_non_leaf_is_refused():
    w = Parameter(gradwise.randn(2))
    with pytest.raises(ValueError, match="non-leaf"):
        goptim.SGD([w * 2], lr=0.1)


# ----------------------------------------------------------------------------- sparse gradients
class _SparseGrad:
    """A stand-in for a sparse COO gradient: the interface SparseAdam reads (rows + values)."""

    is_sparse = True

    def __init__(self, rows, values, shape):
        self.rows, self.values, self.shape = np.asarray(rows), np.asarray(values), shape

    def coalesce(self):
        unique, inverse = np.unique(self.rows, return_inverse=True)
        summed = np.zeros((len(unique),) + self.values.shape[1:], dtype=self.values.dtype)
        np.add.at(summed, inverse, self.values)
        return _SparseGrad(unique, summed, self.shape)

    def _indices(self):
        return gradwise.tensor(self.rows[None, :])

    def _values(self):
        return gradwise.tensor(self.values)


SPARSE_BATCHES = [[1, 3, 3, 7], [0, 1], [5, 7, 9, 9, 9], [2], [1, 3, 8]]


def _sparse_run(maximize: bool, steps: int = 15):
    rng = np.random.default_rng(3)
    table = rng.normal(size=(10, 4))
    target = rng.normal(size=(10, 4))
    g_weight = Parameter(gradwise.tensor(table.copy()))
    t_weight = torch.nn.Parameter(torch.tensor(table.copy()))
    g_opt = goptim.SparseAdam([g_weight], lr=0.05, maximize=maximize)
    t_opt = torch.optim.SparseAdam([t_weight], lr=0.05, maximize=maximize)
    for step in range(steps):
        rows = SPARSE_BATCHES[step % len(SPARSE_BATCHES)]
        t_opt.zero_grad()
        emb = torch.nn.functional.embedding(torch.tensor(rows), t_weight, sparse=True)
        ((emb - torch.tensor(target[rows])) ** 2).sum().backward()
        t_opt.step()
        # the same gradient, row by row, as a sparse stand-in for gradwise
        values = 2 * (g_weight.detach().numpy()[rows] - target[rows])
        g_weight._grad = _SparseGrad(rows, values, table.shape)
        g_opt.step()
        np.testing.assert_allclose(g_weight.detach().numpy(), t_weight.detach().numpy(), rtol=RTOL, atol=ATOL)
        untouched = sorted(set(range(10)) - set(x for b in SPARSE_BATCHES[: step + 1] for x in b))
        np.testing.assert_array_equal(g_weight.detach().numpy()[untouched], table[untouched])


@pytest.mark.parametrize("maximize", [False, True])
def test_sparse_adam_matches_torch_on_row_gradients(maximize):
    _sparse_run(maximize)


def test_sparse_adam_with_sparse_embedding_matches_torch():
    rng = np.random.default_rng(4)
    table = rng.normal(size=(12, 3))
    g_emb = gradwise.nn.Embedding(12, 3, sparse=True)
    t_emb = torch.nn.Embedding(12, 3, sparse=True).double()
    with torch.no_grad():
        t_emb.weight.copy_(torch.tensor(table))
    g_emb.weight = Parameter(gradwise.tensor(table.copy()))
    g_opt = goptim.SparseAdam(list(g_emb.parameters()), lr=0.05)
    t_opt = torch.optim.SparseAdam(list(t_emb.parameters()), lr=0.05)
    for step in range(STEPS):
        rows = SPARSE_BATCHES[step % len(SPARSE_BATCHES)]
        g_opt.zero_grad()
        t_opt.zero_grad()
        (g_emb(gradwise.tensor(np.array(rows))) ** 2).sum().backward()
        (t_emb(torch.tensor(rows)) ** 2).sum().backward()
        assert g_emb.weight.grad.is_sparse
        g_opt.step()
        t_opt.step()
        np.testing.assert_allclose(g_emb.weight.detach().numpy(), t_emb.weight.detach().numpy(),
                                   rtol=RTOL, atol=ATOL)


def test_sparse_and_dense_gradients_are_refused_where_unsupported():
    w = Parameter(gradwise.tensor(np.ones((4, 2))))
    w._grad = _SparseGrad([0, 2], np.ones((2, 2)), (4, 2))
    with pytest.raises(RuntimeError, match="Adam does not support sparse gradients, please consider SparseAdam"):
        goptim.Adam([w]).step()
    with pytest.raises(RuntimeError, match="RMSprop does not support sparse gradients"):
        goptim.RMSprop([w]).step()
    v = Parameter(gradwise.tensor(np.ones((4, 2))))
    (v * v).sum().backward()
    with pytest.raises(RuntimeError, match="SparseAdam does not support dense gradients"):
        goptim.SparseAdam([v]).step()


def test_sgd_and_adagrad_update_only_the_sparse_rows():
    for make in (lambda p: goptim.SGD(p, lr=0.5), lambda p: goptim.Adagrad(p, lr=0.5)):
        w = Parameter(gradwise.tensor(np.ones((4, 2))))
        w._grad = _SparseGrad([0, 2, 2], np.ones((3, 2)), (4, 2))
        make([w]).step()
        data = w.detach().numpy()
        assert np.all(data[[1, 3]] == 1) and np.all(data[[0, 2]] < 1)


# ----------------------------------------------------------------------------- in place, versions
def test_updates_are_in_place_and_bump_versions():
    w = Parameter(gradwise.tensor(np.ones((3, 2))))
    opt = goptim.Adam([w], lr=0.1)
    array = w._data
    (w * w).sum().backward()
    opt.step()
    exp_avg = opt.state[w]["exp_avg"]._data
    version = w._version.value
    (w * w).sum().backward()
    opt.step()
    assert w._data is array and opt.state[w]["exp_avg"]._data is exp_avg
    assert w._version.value == version + 1


def test_step_does_not_modify_the_gradient():
    for name in ["SGD", "Adam", "RMSprop", "Adagrad", "Rprop", "NAdam", "RAdam", "Adamax", "Adadelta", "ASGD"]:
        w = Parameter(gradwise.tensor(np.linspace(-1, 1, 6).reshape(3, 2)))
        (w ** 3).sum().backward()
        before = w.grad.numpy().copy()
        opt = getattr(goptim, name)([w], lr=0.1, maximize=True, **({} if name == "Rprop" else {"weight_decay": 0.1}))
        opt.step()
        opt.step()
        assert np.array_equal(w.grad.numpy(), before), name


def test_float32_parameters_stay_float32():
    w = Parameter(gradwise.randn(4, 3))
    for name in ["SGD", "Adam", "NAdam", "ASGD", "Rprop"]:
        opt = getattr(goptim, name)([w], lr=0.01)
        (w * w).sum().backward()
        opt.step()
        assert w.dtype == np.float32
        assert all(v._data.dtype == np.float32 for v in opt.state[w].values() if hasattr(v, "_data"))


def test_no_warning_in_a_plain_loop():
    w = Parameter(gradwise.randn(3))
    opt = goptim.SGD([w], lr=0.1, momentum=0.9)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in range(3):
            opt.zero_grad()
            (w * w).sum().backward()
            opt.step()
