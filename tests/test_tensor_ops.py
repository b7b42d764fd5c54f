"""Every math op of the contract against PyTorch: forward values and the gradient of every input.

Each case is a function ``f(m, *xs)`` written once and run with ``m = torch`` and
``m = gradwise`` (same names); inputs are float64 so the comparison can be tight. The backward
pass uses a random upstream gradient (not just ones) so that every path of a rule is exercised.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

import gradwise as gw

RTOL, ATOL = 1e-9, 1e-11


def _to_torch(a, grad):
    t = torch.tensor(a)
    return t.requires_grad_(grad) if grad else t


def _to_gw(a, grad):
    t = gw.tensor(a)
    return t.requires_grad_(grad) if grad else t


def _outputs(out):
    if isinstance(out, (tuple, list)):
        return list(out)
    return [out]


def compare(fn, *arrays, seed=0, rtol=RTOL, atol=ATOL, check_grad=True):
    """Run ``fn`` in both libraries; compare outputs (values, dtypes, shapes) and input grads."""
    wants = [np.asarray(a).dtype.kind == "f" for a in arrays]
    tin = [_to_torch(np.array(a), w) for a, w in zip(arrays, wants)]
    gin = [_to_gw(np.array(a), w) for a, w in zip(arrays, wants)]
    tout, gout = _outputs(fn(torch, *tin)), _outputs(fn(gw, *gin))
    assert len(tout) == len(gout)
    rng = np.random.default_rng(seed)
    t_loss = g_loss = None
    for t, g in zip(tout, gout):
        assert tuple(g.shape) == tuple(t.shape), (g.shape, t.shape)
        assert str(g.dtype) == str(t.dtype).replace("torch.", ""), (g.dtype, t.dtype)
        np.testing.assert_allclose(g.detach().numpy(), t.detach().numpy(), rtol=rtol, atol=atol)
        if t.requires_grad:
            assert g.requires_grad and (g.grad_fn is None) == (t.grad_fn is None)
            w = rng.standard_normal(tuple(t.shape))
            t_term, g_term = (t * torch.tensor(w)).sum(), (g * gw.tensor(w)).sum()
            t_loss = t_term if t_loss is None else t_loss + t_term
            g_loss = g_term if g_loss is None else g_loss + g_term
        else:
            assert not g.requires_grad
    if not check_grad or t_loss is None:
        return
    t_loss.backward()
    g_loss.backward()
    for i, (t, g) in enumerate(zip(tin, gin)):
        if not t.requires_grad:
            continue
        t_grad = t.grad.numpy() if t.grad is not None else np.zeros(t.shape)
        g_grad = g.grad.numpy() if g.grad is not None else np.zeros(tuple(g.shape))
        assert g_grad.shape == t_grad.shape, f"input {i}: grad shape {g_grad.shape} vs {t_grad.shape}"
        np.testing.assert_allclose(g_grad, t_grad, rtol=rtol, atol=atol, err_msg=f"gradient of input {i}")


R = np.random.default_rng(1234)


def rnd(*shape):
    return R.standard_normal(shape)


def pos(*shape):
    return R.uniform(0.5, 2.0, shape)


# ---------------------------------------------------------------------------------- elementwise
UNARY = {
    "neg": (lambda m, x: -x, rnd(3, 4)),
    "abs": (lambda m, x: m.abs(x), rnd(3, 4)),
    "abs_method": (lambda m, x: x.abs(), rnd(5)),
    "exp": (lambda m, x: m.exp(x), rnd(3, 4)),
    "log": (lambda m, x: x.log(), pos(3, 4)),
    "sqrt": (lambda m, x: m.sqrt(x), pos(3, 4)),
    "rsqrt": (lambda m, x: m.rsqrt(x), pos(3, 4)),
    "sin": (lambda m, x: m.sin(x), rnd(3, 4)),
    "cos": (lambda m, x: x.cos(), rnd(3, 4)),
    "tanh": (lambda m, x: m.tanh(x), rnd(3, 4)),
    "sigmoid": (lambda m, x: x.sigmoid(), rnd(3, 4) * 5),
    "sigmoid_extreme": (lambda m, x: m.sigmoid(x), np.array([-800.0, -40.0, 0.0, 40.0, 800.0])),
    "relu": (lambda m, x: m.relu(x), rnd(3, 4)),
    "clamp": (lambda m, x: x.clamp(-0.5, 0.5), rnd(4, 5)),
    "clamp_min": (lambda m, x: m.clamp(x, min=0.1), rnd(4, 5)),
    "clamp_max": (lambda m, x: x.clamp(max=0.1), rnd(4, 5)),
    "clamp_at_bounds": (lambda m, x: x.clamp(-1.0, 1.0), np.array([-2.0, -1.0, 0.0, 1.0, 2.0])),
    "clip": (lambda m, x: m.clip(x, -0.3, 0.3), rnd(6)),
    "square": (lambda m, x: x.square(), rnd(6)),
    "pow2": (lambda m, x: x ** 2, rnd(3, 4)),
    "pow3": (lambda m, x: m.pow(x, 3), rnd(3, 4)),
    "pow_half": (lambda m, x: x ** 0.5, pos(3, 4)),
    "pow_neg": (lambda m, x: x ** -1.5, pos(3, 4)),
    "pow_zero": (lambda m, x: x ** 0, np.array([0.0, 1.0, -2.0])),
    "rpow": (lambda m, x: 2.0 ** x, rnd(3, 4)),
    "rpow_int": (lambda m, x: 3 ** x, rnd(3, 4)),
    "radd": (lambda m, x: 1.5 + x, rnd(3)),
    "rsub": (lambda m, x: 1.5 - x, rnd(3)),
    "rmul": (lambda m, x: 1.5 * x, rnd(3)),
    "rdiv": (lambda m, x: 1.5 / x, pos(3)),
    "add_scalar": (lambda m, x: x + 2, rnd(3)),
    "sub_scalar": (lambda m, x: x - 2.5, rnd(3)),
    "mul_scalar": (lambda m, x: x * -3, rnd(3)),
    "div_scalar": (lambda m, x: x / 4, rnd(3)),
    "add_alpha": (lambda m, x: x.add(x * 2, alpha=3), rnd(3)),
    "sub_alpha": (lambda m, x: m.sub(x, x.exp(), alpha=0.5), rnd(3)),
    "pos": (lambda m, x: +x, rnd(3)),
    "chain": (lambda m, x: ((x * 2 + 1).tanh() * x.sigmoid() - x.exp() / 3).relu(), rnd(4, 3)),
    "zero_dim": (lambda m, x: (x * 3).exp().sin(), np.array(0.7)),
}


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary(name):
    fn, x = UNARY[name]
    compare(fn, x)


BINARY = {
    "add": lambda m, a, b: a + b,
    "sub": lambda m, a, b: a - b,
    "mul": lambda m, a, b: a * b,
    "div": lambda m, a, b: a / b,
    "add_fn": lambda m, a, b: m.add(a, b),
    "mul_fn": lambda m, a, b: m.mul(a, b),
    "div_fn": lambda m, a, b: m.div(a, b),
    "sub_fn": lambda m, a, b: m.sub(a, b),
    "maximum": lambda m, a, b: m.maximum(a, b),
    "minimum": lambda m, a, b: a.minimum(b),
    "pow": lambda m, a, b: a.abs() ** b,
    "pow_fn": lambda m, a, b: m.pow(a.abs() + 0.5, b),
}


@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_same_shape(name):
    a, b = rnd(3, 4), rnd(3, 4)
    if name == "div":
        b = b + np.sign(b)
    compare(BINARY[name], a, b)


def test_pow_tensor_exponent_at_zero_base():
    # 0 ** b: torch gives no exponent gradient where base == 0 and b >= 0, none to the base at b == 0.
    compare(lambda m, a, b: a ** b, np.array([0.0, 0.0, 2.0, -1.0, 0.0]), np.array([0.0, 2.0, 0.0, 2.0, 1.0]))


def test_maximum_minimum_ties_split_gradient():
    a = np.array([1.0, 2.0, 3.0, 2.0])
    b = np.array([1.0, 1.0, 3.0, 5.0])
    compare(lambda m, x, y: m.maximum(x, y), a, b)
    compare(lambda m, x, y: m.minimum(x, y), a, b)


def test_where():
    cond = rnd(3, 4) > 0
    compare(lambda m, x, y: m.where(m.tensor(cond), x, y), rnd(3, 4), rnd(3, 4))
    compare(lambda m, x, y: m.where(m.tensor(cond), x, y), rnd(3, 1), rnd(4))  # broadcast
    compare(lambda m, x: m.where(m.tensor(cond), x, 0.0), rnd(3, 4))
    compare(lambda m, x: m.where(x > 0, x, x * 0.1), rnd(3, 4))
    compare(lambda m, x: x.where(x > 0, -x), rnd(5))
    compare(lambda m, x: m.where(x > 0, 1.0, x), rnd(5))


def test_where_single_argument_returns_indices():
    cond = np.array([[True, False], [False, True]])
    for g, t in zip(gw.where(gw.tensor(cond)), torch.where(torch.tensor(cond))):
        assert g.tolist() == t.tolist()


def test_clamp_with_tensor_bounds():
    compare(lambda m, x, lo, hi: x.clamp(lo, hi), rnd(6), np.full(6, -0.2), np.full(6, 0.3))


# ---------------------------------------------------------------------------------- matmul
MATMUL_SHAPES = [
    ((4,), (4,)),             # dot
    ((4,), (4, 3)),           # 1-D x 2-D
    ((4,), (2, 4, 3)),        # 1-D x batched
    ((3, 4), (4,)),           # 2-D x 1-D
    ((2, 3, 4), (4,)),        # batched x 1-D
    ((3, 4), (4, 5)),
    ((2, 3, 4), (2, 4, 5)),
    ((2, 1, 3, 4), (5, 4, 2)),  # broadcast batch dims
    ((3, 4), (2, 4, 5)),
    ((6, 2, 3, 4), (4, 5)),
]


@pytest.mark.parametrize("sa,sb", MATMUL_SHAPES, ids=[f"{a}@{b}" for a, b in MATMUL_SHAPES])
def test_matmul(sa, sb):
    compare(lambda m, a, b: a @ b, rnd(*sa), rnd(*sb))
    compare(lambda m, a, b: m.matmul(a, b), rnd(*sa), rnd(*sb))


def test_matmul_one_side_constant():
    w = rnd(4, 3)
    compare(lambda m, a: a @ m.tensor(w), rnd(2, 4))
    compare(lambda m, a: m.tensor(w).t() @ a, rnd(4, 2))


def test_mm_bmm():
    compare(lambda m, a, b: m.mm(a, b), rnd(3, 4), rnd(4, 2))
    compare(lambda m, a, b: a.mm(b), rnd(3, 4), rnd(4, 2))
    compare(lambda m, a, b: m.bmm(a, b), rnd(2, 3, 4), rnd(2, 4, 5))
    compare(lambda m, a, b: a.bmm(b), rnd(2, 3, 4), rnd(2, 4, 5))


@pytest.mark.parametrize("call,sa,sb", [
    ("matmul", (3, 4), (5, 2)),
    ("matmul", (4,), (3,)),
    ("matmul", (2, 3, 4), (3, 4, 5)),
    ("mm", (3, 4), (5, 2)),
    ("mm", (2, 3, 4), (4, 2)),
    ("bmm", (2, 3, 4), (3, 4, 5)),
    ("bmm", (3, 4), (4, 5)),
])
def test_matmul_errors_name_the_shapes(call, sa, sb):
    a, b = gw.ones(*sa), gw.ones(*sb)
    with pytest.raises(RuntimeError) as info:
        getattr(gw, call)(a, b)
    message = str(info.value)
    assert call in message
    assert str(tuple(sa)) in message and str(tuple(sb)) in message


# ---------------------------------------------------------------------------------- reductions
REDUCTIONS = {
    "sum": lambda m, x: x.sum(),
    "sum_fn": lambda m, x: m.sum(x),
    "sum_dim0": lambda m, x: x.sum(0),
    "sum_dim_neg": lambda m, x: x.sum(dim=-1),
    "sum_tuple": lambda m, x: x.sum((0, 2)),
    "sum_keepdim": lambda m, x: x.sum(1, keepdim=True),
    "sum_tuple_keepdim": lambda m, x: m.sum(x, (0, -1), keepdim=True),
    "mean": lambda m, x: x.mean(),
    "mean_dim": lambda m, x: m.mean(x, 1),
    "mean_tuple_keepdim": lambda m, x: x.mean((1, 2), keepdim=True),
    "var": lambda m, x: x.var(),
    "var_biased": lambda m, x: x.var(unbiased=False),
    "var_dim": lambda m, x: m.var(x, 1),
    "var_dim_keepdim": lambda m, x: x.var(0, keepdim=True),
    "var_tuple": lambda m, x: x.var((0, 2), unbiased=False),
    "var_correction0": lambda m, x: x.var(dim=1, correction=0),
    "var_correction2": lambda m, x: x.var(dim=2, correction=2),
    "std": lambda m, x: x.std(),
    "std_dim": lambda m, x: m.std(x, -1),
    "std_biased_keepdim": lambda m, x: x.std(1, unbiased=False, keepdim=True),
    "std_correction": lambda m, x: x.std(dim=(0, 1), correction=0),
    "amax": lambda m, x: x.amax(),
    "amax_dim": lambda m, x: m.amax(x, 1),
    "amax_tuple": lambda m, x: x.amax((0, 2), keepdim=True),
    "amin_dim": lambda m, x: x.amin(-1),
    "max_full": lambda m, x: x.max(),
    "min_full": lambda m, x: m.min(x),
    "max_dim": lambda m, x: tuple(x.max(1)),
    "max_dim_keepdim": lambda m, x: tuple(m.max(x, dim=2, keepdim=True)),
    "min_dim": lambda m, x: tuple(x.min(0)),
    "logsumexp": lambda m, x: x.logsumexp(1),
    "logsumexp_fn_keepdim": lambda m, x: m.logsumexp(x, -1, keepdim=True),
    "logsumexp_tuple": lambda m, x: x.logsumexp((0, 2)),
    "softmax": lambda m, x: x.softmax(1),
    "softmax_fn_last": lambda m, x: m.softmax(x, -1),
    "log_softmax": lambda m, x: x.log_softmax(0),
    "log_softmax_fn": lambda m, x: m.log_softmax(x, dim=-1),
    "prod": lambda m, x: x.prod(),
    "prod_dim": lambda m, x: x.prod(1),
}


@pytest.mark.parametrize("name", sorted(REDUCTIONS))
def test_reduction(name):
    compare(REDUCTIONS[name], rnd(3, 4, 5))


TIES = np.array([[[1.0, 3.0, 3.0], [2.0, 2.0, 0.0]], [[5.0, 5.0, 5.0], [-1.0, 4.0, 4.0]]])


@pytest.mark.parametrize("name", ["amax", "amax_dim", "amax_tuple", "amin_dim", "max_full", "min_full",
                                  "max_dim", "max_dim_keepdim", "min_dim", "logsumexp", "softmax"])
def test_reduction_with_ties(name):
    """amax/amin and full max/min split the gradient evenly among ties; max(dim) sends it to the index."""
    compare(REDUCTIONS[name], TIES)


def test_max_dim_tie_indices_match_torch():
    for dim in (0, 1, 2):
        g, t = gw.tensor(TIES).max(dim), torch.tensor(TIES).max(dim)
        assert g.indices.tolist() == t.indices.tolist()
        assert g.values.tolist() == t.values.tolist()
        g, t = gw.tensor(TIES).min(dim=dim), torch.tensor(TIES).min(dim=dim)
        assert g.indices.tolist() == t.indices.tolist()
    g = gw.tensor(TIES).max(1)
    assert g.indices.dtype == gw.int64
    values, indices = g
    assert values.tolist() == g[0].tolist() and indices.tolist() == g[1].tolist()


def test_argmax_argmin():
    for x in (TIES, rnd(3, 4, 5)):
        assert gw.tensor(x).argmax().item() == torch.tensor(x).argmax().item()
        for dim in (0, 1, -1):
            for keepdim in (False, True):
                g = gw.argmax(gw.tensor(x), dim=dim, keepdim=keepdim)
                t = torch.argmax(torch.tensor(x), dim=dim, keepdim=keepdim)
                assert g.tolist() == t.tolist() and g.dtype == gw.int64
                assert gw.tensor(x).argmin(dim).tolist() == torch.tensor(x).argmin(dim).tolist()


def test_argmax_is_not_differentiable():
    x = gw.tensor(rnd(3, 4), requires_grad=True)
    assert not x.argmax(1).requires_grad


def test_softmax_extreme_values_stay_finite():
    x = np.array([[1000.0, 0.0, -1000.0], [-1e4, -1e4, -1e4]])
    compare(lambda m, t: t.softmax(1), x)
    compare(lambda m, t: t.log_softmax(1), x)
    compare(lambda m, t: t.logsumexp(1), x)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_var_of_single_element_is_nan_like_torch():
    g = gw.tensor([1.5], dtype=gw.float64).var()
    with pytest.warns(UserWarning):
        t = torch.tensor([1.5], dtype=torch.float64).var()
    assert np.isnan(g.item()) and np.isnan(t.item())


# ---------------------------------------------------------------------------------- shapes
SHAPES = {
    "reshape": lambda m, x: x.reshape(4, 6),
    "reshape_tuple_neg": lambda m, x: x.reshape((-1, 3)),
    "reshape_fn": lambda m, x: m.reshape(x, (6, -1)),
    "view": lambda m, x: x.view(2, 12),
    "view_neg": lambda m, x: x.view(-1),
    "flatten": lambda m, x: x.flatten(),
    "flatten_1": lambda m, x: m.flatten(x, 1),
    "flatten_0_1": lambda m, x: x.flatten(0, 1),
    "transpose": lambda m, x: x.transpose(0, 2),
    "transpose_fn_neg": lambda m, x: m.transpose(x, -1, -2),
    "T_2d": lambda m, x: x[0].T,
    "t": lambda m, x: x[1].t(),
    "t_fn": lambda m, x: m.t(x[1]),
    "permute": lambda m, x: x.permute(2, 0, 1),
    "permute_tuple": lambda m, x: m.permute(x, (1, 2, 0)),
    "unsqueeze": lambda m, x: x.unsqueeze(1),
    "unsqueeze_neg": lambda m, x: m.unsqueeze(x, -1),
    "squeeze": lambda m, x: x.reshape(2, 1, 3, 1, 4).squeeze(),
    "squeeze_dim": lambda m, x: x.reshape(2, 1, 3, 1, 4).squeeze(1),
    "squeeze_dim_noop": lambda m, x: x.squeeze(0),
    "squeeze_fn": lambda m, x: m.squeeze(x.unsqueeze(0), 0),
    "expand": lambda m, x: x[:, :1, :].expand(2, 3, 4),
    "expand_neg_new_dim": lambda m, x: x[:, :1, :].expand(5, -1, 3, -1),
    "expand_as": lambda m, x: x[:1].expand_as(x),
    "chain": lambda m, x: x.permute(1, 0, 2).reshape(3, 8).t().unsqueeze(0).squeeze(0),
    "contiguous": lambda m, x: x.transpose(0, 1).contiguous().view(-1),
    "clone": lambda m, x: x.clone() * 2,
    "split_int": lambda m, x: x.split(2, dim=2),
    "split_list": lambda m, x: m.split(x, [1, 2], 1),
    "split_uneven": lambda m, x: x.split(3, -1),
    "chunk": lambda m, x: x.chunk(2, 2),
    "chunk_fn_uneven": lambda m, x: m.chunk(x, 2, 1),
    "unbind": lambda m, x: x.unbind(1),
    "split_part_used": lambda m, x: x.split(1, 0)[1] * 3,
    "flip": lambda m, x: x.flip(0),
    "narrow": lambda m, x: x.narrow(2, 1, 2),
    "repeat": lambda m, x: x[0].repeat(2, 1),
}


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_shape_op(name):
    compare(SHAPES[name], rnd(2, 3, 4))


def test_cat_stack():
    a, b, c = rnd(2, 3), rnd(2, 3), rnd(4, 3)
    compare(lambda m, x, y: m.cat([x, y]), a, b)
    compare(lambda m, x, y: m.cat([x, y], dim=1), a, b)
    compare(lambda m, x, y: m.cat((x, y), -1), a, b)
    compare(lambda m, x, y: m.cat([x, y.exp(), x]), a, c)
    compare(lambda m, x, y: m.stack([x, y]), a, b)
    compare(lambda m, x, y: m.stack((x, y), dim=1), a, b)
    compare(lambda m, x, y: m.stack([x, y, x * y], dim=-1), a, b)
    compare(lambda m, x: m.cat([x, m.tensor(np.ones((1, 3)))]), a)  # one input constant


def test_cat_stack_errors():
    with pytest.raises(RuntimeError, match="cat"):
        gw.cat([gw.ones(2, 3), gw.ones(2, 4)])
    with pytest.raises(RuntimeError, match="stack"):
        gw.stack([gw.ones(2, 3), gw.ones(3, 2)])


def test_shape_errors():
    with pytest.raises(RuntimeError, match="invalid"):
        gw.ones(2, 3).view(4, 2)
    with pytest.raises(RuntimeError, match="expand"):
        gw.ones(2, 3).expand(4, 3)
    with pytest.raises(RuntimeError, match="permute"):
        gw.ones(2, 3).permute(0, 0)
    with pytest.raises(RuntimeError, match="t()"):
        gw.ones(2, 3, 4).t()


def test_views_share_memory():
    x = gw.zeros(2, 3)
    v = x.view(6)
    v[0] = 1.0
    assert x[0, 0].item() == 1.0
    x.t()[2, 1] = 5.0
    assert x[1, 2].item() == 5.0
    assert gw.zeros(2, 3).T.shape == (3, 2)


# ---------------------------------------------------------------------------------- comparisons
@pytest.mark.parametrize("op", ["eq", "ne", "lt", "le", "gt", "ge"])
def test_comparisons_are_bool_and_not_differentiable(op):
    a = np.array([1.0, 2.0, 3.0, 2.0])
    b = np.array([2.0, 2.0, 1.0, 2.0])
    ga, ta = gw.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    for other_g, other_t in ((gw.tensor(b), torch.tensor(b)), (2.0, 2.0), (2, 2)):
        g, t = getattr(ga, op)(other_g), getattr(ta, op)(other_t)
        assert g.dtype == gw.bool and not g.requires_grad and g.grad_fn is None
        assert g.tolist() == t.tolist()
        assert getattr(gw, op)(ga, other_g).tolist() == t.tolist()
    symbols = {"eq": "__eq__", "ne": "__ne__", "lt": "__lt__", "le": "__le__", "gt": "__gt__", "ge": "__ge__"}
    assert getattr(ga, symbols[op])(gw.tensor(b)).tolist() == getattr(ta, symbols[op])(torch.tensor(b)).tolist()


def test_comparison_operators_and_logic():
    x = gw.tensor([1.0, 2.0, 3.0])
    assert ((x > 1) & (x < 3)).tolist() == [False, True, False]
    assert ((x < 2) | (x > 2)).tolist() == [True, False, True]
    assert (~(x > 1)).tolist() == [True, False, False]
    assert (x == x).all().item() and not (x != x).any().item()


# ---------------------------------------------------------------------------------- dtypes
PROMOTION = {
    "f32*f32": lambda m: m.ones(2) * m.ones(2),
    "f32*py_float": lambda m: m.ones(2) * 2.5,
    "f32*py_int": lambda m: m.ones(2) * 2,
    "f64*py_float": lambda m: m.ones(2, dtype=m.float64) * 2.5,
    "f32+f64": lambda m: m.ones(2) + m.ones(2, dtype=m.float64),
    "f32+f64_0d": lambda m: m.ones(2) + m.tensor(1.0, dtype=m.float64),
    "f64_0d+f32_0d": lambda m: m.tensor(1.0, dtype=m.float64) + m.tensor(1.0),
    "i64+f32": lambda m: m.tensor([1, 2]) + m.ones(2),
    "i64*py_float": lambda m: m.tensor([1, 2]) * 2.5,
    "py_float-i64": lambda m: 2.5 - m.tensor([1, 2]),
    "i64/py_int": lambda m: m.tensor([1, 2]) / 2,
    "i64/i64": lambda m: m.tensor([1, 2]) / m.tensor([2, 4]),
    "i64*py_int": lambda m: m.tensor([1, 2]) * 3,
    "i32+i64_0d": lambda m: m.tensor([1, 2], dtype=m.int32) + m.tensor(1),
    "i32+i64": lambda m: m.tensor([1, 2], dtype=m.int32) + m.tensor([1, 1]),
    "bool+py_int": lambda m: m.tensor([True, False]) + 1,
    "bool*f32": lambda m: m.tensor([True, False]) * m.ones(2),
    "i64**py_int": lambda m: m.tensor([1, 2]) ** 2,
    "i64**py_float": lambda m: m.tensor([1, 2]) ** 0.5,
    "maximum_i64_f32": lambda m: m.maximum(m.tensor([1, 2]), m.tensor([1.5, 1.0])),
    "where_f32_i64": lambda m: m.where(m.tensor([True, False]), m.tensor([1.5, 1.0]), m.tensor([1, 2])),
    "where_f32_scalar": lambda m: m.where(m.tensor([True, False]), m.tensor([1.5, 1.0]), 0.0),
    "clamp_i64_float": lambda m: m.tensor([-1, 2]).clamp(0.5),
    "exp_i64": lambda m: m.tensor([1, 2]).exp(),
    "sum_i32": lambda m: m.tensor([1, 2], dtype=m.int32).sum(),
    "sum_bool": lambda m: m.tensor([True, True]).sum(),
    "mean_f32": lambda m: m.ones(3).mean(),
    "softmax_f32": lambda m: m.ones(3).softmax(0),
    "neg_i64": lambda m: -m.tensor([1, 2]),
    "abs_i64": lambda m: m.tensor([-1, 2]).abs(),
    "relu_i64": lambda m: m.tensor([-1, 2]).relu(),
}


@pytest.mark.parametrize("name", sorted(PROMOTION))
def test_type_promotion_matches_torch(name):
    g, t = PROMOTION[name](gw), PROMOTION[name](torch)
    assert str(g.dtype) == str(t.dtype).replace("torch.", "")
    np.testing.assert_allclose(np.asarray(g.tolist(), dtype=float), np.asarray(t.tolist(), dtype=float), rtol=1e-6)


def test_mixed_dtype_gradients_keep_each_input_dtype():
    a = gw.ones(3, requires_grad=True)                     # float32
    b = gw.ones(3, dtype=gw.float64, requires_grad=True)
    (a * b * 2).sum().backward()
    assert a.grad.dtype == gw.float32 and b.grad.dtype == gw.float64
    np.testing.assert_allclose(a.grad.numpy(), 2.0)


@pytest.mark.parametrize("op", ["matmul", "mm", "bmm", "vector"])
def test_matmul_refuses_mixed_dtypes_as_torch_does(op):
    """PyTorch refuses float32 @ float64 (no promotion for matrix products); so does gradwise, naming both."""
    def run(lib):
        a, b = lib.ones(2, 3), lib.ones(3, 2, dtype=lib.float64)
        return {"matmul": lambda: a @ b, "mm": lambda: a.mm(b), "bmm": lambda: lib.bmm(a[None], b[None]),
                "vector": lambda: lib.matmul(a[0], b)}[op]()

    with pytest.raises(RuntimeError):
        run(torch)
    with pytest.raises(RuntimeError, match=r"same dtype, but got: float != double \(shapes"):
        run(gw)


def test_float32_stays_float32_through_ops():
    x = gw.randn(4, 3, requires_grad=True)
    w = gw.randn(3, 2, requires_grad=True)
    y = ((x @ w).tanh() * 0.5 + 1).log_softmax(1).mean()
    assert y.dtype == gw.float32
    y.backward()
    assert x.grad.dtype == gw.float32 and w.grad.dtype == gw.float32


def test_conversions():
    x = gw.tensor([1, 2, 3])
    assert x.dtype == gw.int64
    assert x.float().dtype == gw.float32 and x.double().dtype == gw.float64
    assert x.to(gw.float64).dtype == gw.float64
    assert x.to(dtype=gw.float32).dtype == gw.float32
    assert x.to("cpu") is x
    assert x.to(gw.zeros(1, dtype=gw.float64)).dtype == gw.float64
    assert x.long().dtype == gw.int64 and x.int().dtype == gw.int32 and x.bool().dtype == gw.bool
    y = gw.tensor([1.5, 2.5], requires_grad=True)
    z = y.double()
    assert z.requires_grad and z.grad_fn is not None
    (z * z).sum().backward()
    assert y.grad.dtype == gw.float32
    np.testing.assert_allclose(y.grad.numpy(), [3.0, 5.0])
    assert y.float() is y  # already float32: no copy, like torch
    with pytest.raises(RuntimeError, match="cuda"):
        x.to("cuda")


def test_dtype_names():
    assert gw.float32 == np.float32 and gw.float64 == np.float64
    assert gw.float is gw.float32 and gw.double is gw.float64 and gw.long is gw.int64
    assert gw.int32 == np.int32 and gw.bool == np.bool_


# ---------------------------------------------------------------------------------- creation
def test_tensor_dtype_inference():
    cases = [
        (1.5, "float32"), ([1.0, 2.0], "float32"), ([1, 2], "int64"), (3, "int64"),
        ([[1, 2.5]], "float32"), ([True, False], "bool"), (True, "bool"),
        (np.array([1.0, 2.0]), "float64"), (np.array([1, 2], dtype=np.int32), "int32"),
        (np.array([1.0], dtype=np.float32), "float32"), (np.float64(1.5), "float64"),
    ]
    for data, dtype in cases:
        assert str(gw.tensor(data).dtype) == dtype, data
        assert str(torch.tensor(data).dtype) == "torch." + dtype, data
    assert gw.tensor([1, 2], dtype=gw.float64).dtype == gw.float64
    assert gw.tensor([], dtype=gw.float32).shape == (0,)


def test_tensor_copies_but_from_numpy_shares():
    a = np.zeros(3)
    t = gw.tensor(a)
    f = gw.from_numpy(a)
    a[0] = 7.0
    assert t[0].item() == 0.0 and f[0].item() == 7.0
    assert f.dtype == gw.float64
    with pytest.raises(TypeError):
        gw.from_numpy([1, 2])


def test_tensor_requires_grad():
    t = gw.tensor([1.0, 2.0], requires_grad=True)
    assert t.requires_grad and t.is_leaf and t.grad is None and t.grad_fn is None
    with pytest.raises(RuntimeError, match="floating point"):
        gw.tensor([1, 2], requires_grad=True)


@pytest.mark.parametrize("name,args", [
    ("zeros", (2, 3)), ("ones", (2, 3)), ("empty", (2, 3)), ("zeros", ((2, 3),)), ("ones", ([4],)),
    ("rand", (2, 3)), ("randn", (3,)), ("eye", (3,)), ("eye", (2, 4)),
])
def test_factories_shape_and_default_dtype(name, args):
    g, t = getattr(gw, name)(*args), getattr(torch, name)(*args)
    assert tuple(g.shape) == tuple(t.shape) and g.dtype == gw.float32 and not g.requires_grad
    g = getattr(gw, name)(*args, dtype=gw.float64, requires_grad=True)
    assert g.dtype == gw.float64 and g.requires_grad and g.is_leaf


def test_factory_values():
    assert gw.zeros(2, 2).tolist() == [[0.0, 0.0], [0.0, 0.0]]
    assert gw.ones(3).tolist() == [1.0, 1.0, 1.0]
    assert gw.eye(2, 3).tolist() == torch.eye(2, 3).tolist()
    for args in [((2, 3), 7), ((2,), 2.5), ((1,), True)]:
        g, t = gw.full(*args), torch.full(*args)
        assert g.tolist() == t.tolist() and str(g.dtype) == str(t.dtype).replace("torch.", "")
    assert gw.full((2,), 3, dtype=gw.float64).dtype == gw.float64
    x = gw.tensor([[1, 2], [3, 4]])
    for name in ("zeros_like", "ones_like"):
        g, t = getattr(gw, name)(x), getattr(torch, name)(torch.tensor([[1, 2], [3, 4]]))
        assert g.tolist() == t.tolist() and g.dtype == gw.int64
    assert gw.zeros_like(x, dtype=gw.float32).dtype == gw.float32
    assert gw.empty_like(x).shape == (2, 2)
    r = gw.rand(1000)
    assert 0.0 <= r.min().item() and r.max().item() < 1.0
    n = gw.randn(20000)
    assert abs(n.mean().item()) < 0.05 and abs(n.std().item() - 1) < 0.05


@pytest.mark.parametrize("args,kwargs", [
    ((5,), {}), ((1, 7), {}), ((0, 10, 3), {}), ((0, 1, 0.25), {}), ((1.0, 4.0), {}), ((10, 0, -2), {}),
    ((5,), {"dtype": "float64"}),
])
def test_arange(args, kwargs):
    kw_g = {k: getattr(gw, v) for k, v in kwargs.items()}
    kw_t = {k: getattr(torch, v) for k, v in kwargs.items()}
    g, t = gw.arange(*args, **kw_g), torch.arange(*args, **kw_t)
    assert str(g.dtype) == str(t.dtype).replace("torch.", "")
    np.testing.assert_allclose(g.numpy(), t.numpy(), rtol=1e-6)


def test_linspace():
    for args in [(0, 1, 5), (-2.0, 3.0, 11), (0, 1, 1)]:
        g, t = gw.linspace(*args), torch.linspace(*args)
        assert g.dtype == gw.float32
        np.testing.assert_allclose(g.numpy(), t.numpy(), rtol=1e-6)


def test_randint():
    r = gw.randint(0, 5, (1000,))
    assert r.dtype == gw.int64 and r.shape == (1000,)
    assert r.min().item() == 0 and r.max().item() == 4
    r = gw.randint(3, (2, 2))
    assert r.shape == (2, 2) and r.max().item() < 3 and r.min().item() >= 0
    r = gw.randint(2, 4, size=(50,))
    assert set(r.tolist()) == {2, 3}


def test_manual_seed_reproducible():
    gw.manual_seed(123)
    a = (gw.rand(3), gw.randn(2, 2), gw.randint(0, 100, (5,)))
    gw.manual_seed(123)
    b = (gw.rand(3), gw.randn(2, 2), gw.randint(0, 100, (5,)))
    for x, y in zip(a, b):
        assert x.tolist() == y.tolist()
    gw.manual_seed(124)
    assert gw.rand(3).tolist() != a[0].tolist()
    g1 = gw.Generator().manual_seed(5)
    g2 = gw.Generator().manual_seed(5)
    assert gw.randn(4, generator=g1).tolist() == gw.randn(4, generator=g2).tolist()


# ---------------------------------------------------------------------------------- conversions
def test_item_tolist_numpy_size_dim_numel():
    x = gw.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    t = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    assert x.tolist() == t.tolist()
    assert x[1, 2].item() == t[1, 2].item() == 6.0 and isinstance(x[1, 2].item(), float)
    assert isinstance(gw.tensor([3]).item(), int)
    assert x.size() == (2, 3) and x.size(1) == 3 and x.size(-1) == 3 and x.shape == t.shape
    assert isinstance(x.size(), tuple) and x.size().numel() == 6
    assert x.dim() == 2 == x.ndim and x.numel() == 6 == gw.numel(x)
    a = x.numpy()
    assert isinstance(a, np.ndarray) and a.dtype == np.float32
    a[0, 0] = 9.0
    assert x[0, 0].item() == 9.0  # numpy() shares memory, like torch
    with pytest.raises(RuntimeError, match="detach"):
        gw.ones(2, requires_grad=True).numpy()
    with pytest.raises(RuntimeError):
        x.item()
    assert float(gw.tensor(2.5)) == 2.5 and int(gw.tensor(3)) == 3
    t[0, 0] = 9.0
    assert len(x) == 2 and [r.tolist() for r in x] == t.tolist()


def test_repr_mentions_grad_fn():
    x = gw.ones(2, requires_grad=True)
    assert "requires_grad=True" in repr(x)
    assert "grad_fn=<MulBackward" in repr(x * 2)
    assert repr(gw.tensor([1.0, 2.0])).startswith("tensor(")
