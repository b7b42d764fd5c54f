"""The autograd machinery against PyTorch: graph recording, backward options, hooks, higher-order
gradients, the legacy Variable, in-place safety (version counters), and deep graphs."""
from __future__ import annotations

import sys
import warnings

import numpy as np
import pytest
import torch

import gradwise as gw
from gradwise.autograd import Variable


def both(fn):
    """Run ``fn(m)`` for m = torch and m = gradwise; return (torch_result, gradwise_result)."""
    return fn(torch), fn(gw)


def assert_close(g, t, rtol=1e-9, atol=1e-11):
    g = g.detach().numpy() if hasattr(g, "detach") else np.asarray(g)
    t = t.detach().numpy() if hasattr(t, "detach") else np.asarray(t)
    np.testing.assert_allclose(g, t, rtol=rtol, atol=atol)


R = np.random.default_rng(7)
X = R.standard_normal((3, 4))
W = R.standard_normal((4, 2))


# ---------------------------------------------------------------------------------- recording
def test_requires_grad_propagation_and_leaves():
    x = gw.tensor(X, requires_grad=True)
    c = gw.tensor(X)
    y = x * c
    assert y.requires_grad and not y.is_leaf and y.grad_fn is not None
    z = c * 2
    assert not z.requires_grad and z.is_leaf and z.grad_fn is None
    assert x.is_leaf and x.grad_fn is None
    assert (x.detach() * 2).requires_grad is False
    assert y.grad_fn.name() == "MulBackward"


def test_requires_grad_flag_is_settable():
    x = gw.ones(3)
    x.requires_grad = True
    assert (x * 2).requires_grad
    x.requires_grad_(False)
    assert not (x * 2).requires_grad
    with pytest.raises(RuntimeError, match="leaf"):
        (gw.ones(2, requires_grad=True) * 2).requires_grad_(False)


def test_no_grad_context_and_decorator():
    x = gw.ones(2, requires_grad=True)
    with gw.no_grad():
        y = x * 2
        assert not gw.is_grad_enabled()
    assert gw.is_grad_enabled()
    assert not y.requires_grad and y.grad_fn is None

    @gw.no_grad()
    def f(t):
        return t * 2

    assert not f(x).requires_grad
    assert gw.is_grad_enabled()

    @gw.no_grad
    def bare(t):  # torch 2 accepts the decorator without parentheses
        return t * 2

    assert not bare(x).requires_grad and gw.is_grad_enabled()


def test_no_grad_decorator_is_reentrant():
    @gw.no_grad()
    def recurse(n):
        assert not gw.is_grad_enabled()
        if n:
            recurse(n - 1)
        assert not gw.is_grad_enabled()

    recurse(3)
    assert gw.is_grad_enabled()


def test_enable_grad_inside_no_grad():
    x = gw.ones(2, requires_grad=True)
    with gw.no_grad():
        with gw.enable_grad():
            assert gw.is_grad_enabled()
            y = x * 2
        z = x * 2
        assert not gw.is_grad_enabled()

        @gw.enable_grad()
        def f(t):
            return t * 3

        assert f(x).requires_grad
        assert not gw.is_grad_enabled()
    assert y.requires_grad and not z.requires_grad and gw.is_grad_enabled()


def test_set_grad_enabled():
    x = gw.ones(2, requires_grad=True)
    with gw.set_grad_enabled(False):
        assert not (x * 2).requires_grad
    assert gw.is_grad_enabled()
    gw.set_grad_enabled(False)
    try:
        assert not (x * 2).requires_grad
    finally:
        gw.set_grad_enabled(True)
    assert (x * 2).requires_grad

    @gw.set_grad_enabled(False)
    def f(t):
        return t * 2

    assert gw.is_grad_enabled()
    assert not f(x).requires_grad and gw.is_grad_enabled()


def test_no_grad_restores_after_exception():
    with pytest.raises(ValueError):
        with gw.no_grad():
            raise ValueError
    assert gw.is_grad_enabled()


def test_detach_shares_storage_and_version():
    x = gw.tensor([1.0, 2.0], requires_grad=True)
    d = x.detach()
    assert not d.requires_grad and d.is_leaf
    d[0] = 5.0
    assert x[0].item() == 5.0
    x = gw.tensor([1.0, 2.0], requires_grad=True)
    t = torch.tensor([1.0, 2.0], requires_grad=True)
    y, ty = x * 1, t * 1
    yd, tyd = y.detach(), ty.detach()
    yd.add_(1)  # detached views of a non-leaf share data
    tyd.add_(1)
    assert y.tolist() == ty.tolist()


def test_detach_change_is_seen_by_saved_tensor_check():
    x = gw.tensor([1.0, 2.0], requires_grad=True)
    y = x * 1
    z = y * y
    y.detach().mul_(2)  # detach shares the version counter (as in torch)
    with pytest.raises(RuntimeError, match="inplace"):
        z.sum().backward()


def test_data_shares_storage_untracked():
    for m in (torch, gw):
        w = m.tensor([1.0, 2.0], requires_grad=True)
        d = w.data
        assert not d.requires_grad
        d.mul_(3)  # in-place through .data: allowed even on a leaf, not recorded
        assert w.tolist() == [3.0, 6.0]
        w.data = m.tensor([7.0, 8.0])
        assert w.tolist() == [7.0, 8.0] and w.requires_grad


def test_data_change_after_use_is_not_tracked_like_torch():
    def run(m):
        x = m.tensor([1.0, 2.0, 3.0], requires_grad=True)
        w = m.tensor([2.0, 2.0, 2.0], requires_grad=True)
        a = x * w
        w.data.mul_(2)  # untracked: the backward silently uses the new values (as torch)
        a.sum().backward()
        return x.grad, w.grad

    (tx, tw), (gx, gw_) = both(run)
    assert_close(gx, tx)
    assert_close(gw_, tw)


# ---------------------------------------------------------------------------------- backward
def test_backward_scalar_and_gradient_argument():
    def run(m):
        x = m.tensor(X, requires_grad=True)
        y = (x * x).sin()
        y.backward(m.tensor(W[:3, :1] * np.ones((3, 4))))
        return x.grad

    t, g = both(run)
    assert_close(g, t)


def test_backward_non_scalar_without_gradient_raises():
    y = gw.ones(3, requires_grad=True) * 2
    with pytest.raises(RuntimeError, match="scalar"):
        y.backward()
    with pytest.raises(RuntimeError, match="shape"):
        y.backward(gw.ones(4))


def test_backward_on_tensor_not_requiring_grad_raises():
    with pytest.raises(RuntimeError, match="does not require grad"):
        gw.ones(2).sum().backward()


def test_retain_graph():
    def run(m, retain):
        x = m.tensor(X, requires_grad=True)
        y = (x.exp() * x).sum()
        y.backward(retain_graph=retain)
        first = x.grad.clone()
        y.backward()
        return first, x.grad

    (t1, t2), (g1, g2) = run(torch, True), run(gw, True)
    assert_close(g1, t1)
    assert_close(g2, t2)
    assert_close(g2, 2 * g1.numpy())
    with pytest.raises(RuntimeError, match="second time") as info:
        run(gw, False)
    assert "retain_graph=True" in str(info.value)


def test_grad_accumulates_across_backward_calls():
    def run(m):
        x = m.tensor(X, requires_grad=True)
        (x * 2).sum().backward()
        held = x.grad
        (x * x).sum().backward()
        return held, x.grad

    (t_held, t_grad), (g_held, g_grad) = both(run)
    assert_close(g_grad, t_grad)
    assert g_held is g_grad  # .grad is updated in place, like torch's AccumulateGrad
    assert_close(g_held, t_held)


def test_zero_grad_then_backward():
    x = gw.tensor(X, requires_grad=True)
    (x * 3).sum().backward()
    x.grad.zero_()
    (x * 2).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 2.0)
    x.grad = None
    (x * 5).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 5.0)


def test_grad_assignment():
    x = gw.zeros(3, requires_grad=True)
    x.grad = gw.ones(3)
    (x * 2).sum().backward()
    assert x.grad.tolist() == [3.0, 3.0, 3.0]
    with pytest.raises(RuntimeError, match="shape"):
        x.grad = gw.ones(4)


@pytest.mark.parametrize("expr", ["a + b", "a - b", "(a + b).exp()", "a * 1 + b * 1", "(a + b) * 2",
                                  "gw.cat([a, b])", "a + b + a"])
def test_grad_is_not_aliased_between_leaves(expr):
    a = gw.tensor([1.0, 2.0, 3.0], requires_grad=True)
    b = gw.tensor([1.0, 2.0, 3.0], requires_grad=True)
    eval(expr).sum().backward()
    before = b.grad.numpy().copy()
    a.grad.mul_(2)
    np.testing.assert_array_equal(b.grad.numpy(), before)
    a_before = a.grad.numpy().copy()
    b.grad.add_(10)
    np.testing.assert_array_equal(a.grad.numpy(), a_before)


def test_grad_is_not_aliased_with_the_root_gradient():
    x = gw.tensor([1.0, 2.0], requires_grad=True)
    g = gw.tensor([1.0, 1.0])
    (x * 1).backward(g)  # Mul makes a fresh array, but `x + 0` would pass g straight through
    (x + 0).backward(g)
    x.grad.mul_(5)
    assert g.tolist() == [1.0, 1.0]


def test_leaf_used_twice():
    def run(m):
        x = m.tensor(X, requires_grad=True)
        (x * x + x.exp() * x - x).sum().backward()
        return x.grad

    t, g = both(run)
    assert_close(g, t)


def test_multiple_roots_and_autograd_backward():
    def run(m):
        x = m.tensor(X, requires_grad=True)
        a, b = (x * 2).sum(), (x ** 2).mean()
        m.autograd.backward([a, b])
        return x.grad

    t, g = both(run)
    assert_close(g, t)


def test_backward_inputs_argument():
    def run(m):
        x = m.tensor(X, requires_grad=True)
        w = m.tensor(W, requires_grad=True)
        (x @ w).sum().backward(inputs=[w])
        return x.grad, w.grad

    (tx, tw), (gx, gw_) = both(run)
    assert tx is None and gx is None
    assert_close(gw_, tw)


def test_diamond_graph_and_shared_subexpressions():
    def run(m):
        x = m.tensor(X, requires_grad=True)
        h = x.tanh()
        a = h * 2
        b = h.exp()
        c = (a * b + h).sum(1)
        c.backward(m.ones(3, dtype=m.float64))
        return x.grad

    t, g = both(run)
    assert_close(g, t)


def test_unused_split_output_gets_zero_gradient():
    def run(m):
        x = m.tensor(X, requires_grad=True)
        a, b, c = x.split([1, 2, 1], dim=1)
        (b * 3).sum().backward()
        return x.grad

    t, g = both(run)
    assert_close(g, t)


def test_nonleaf_grad_is_none_with_warning():
    y = gw.ones(2, requires_grad=True) * 2
    y.sum().backward()
    with pytest.warns(UserWarning, match="retain_grad"):
        assert y.grad is None


# ---------------------------------------------------------------------------------- hooks
def test_hooks_on_leaf_and_nonleaf():
    def run(m):
        seen = []
        x = m.tensor(X, requires_grad=True)
        x.register_hook(lambda g: seen.append(("leaf", g.clone())))
        y = x * 2
        y.register_hook(lambda g: seen.append(("y", g.clone())))
        y.register_hook(lambda g: g * 10)  # replaces the gradient
        (y * y).sum().backward()
        return x.grad, seen

    (tx, tseen), (gx, gseen) = both(run)
    assert_close(gx, tx)
    assert [k for k, _ in gseen] == [k for k, _ in tseen] == ["y", "leaf"]
    for (_, g), (_, t) in zip(gseen, tseen):
        assert_close(g, t)


def test_leaf_hook_changes_accumulated_grad_and_remove():
    x = gw.ones(3, requires_grad=True)
    handle = x.register_hook(lambda g: g * 3)
    (x * 2).sum().backward()
    assert x.grad.tolist() == [6.0, 6.0, 6.0]
    handle.remove()
    x.grad = None
    (x * 2).sum().backward()
    assert x.grad.tolist() == [2.0, 2.0, 2.0]


def test_hook_on_tensor_without_grad_raises():
    with pytest.raises(RuntimeError, match="doesn't require"):
        gw.ones(2).register_hook(lambda g: g)


@pytest.mark.parametrize("order", ["retain_first", "hook_first"])
def test_retain_grad_sees_hooked_gradient(order):
    def run(m):
        x = m.tensor([1.0, 2.0, 3.0], requires_grad=True)
        y = x * 2
        if order == "retain_first":
            y.retain_grad()
            y.register_hook(lambda g: g * 10)
        else:
            y.register_hook(lambda g: g * 10)
            y.retain_grad()
        (y * y).sum().backward()
        return x.grad, y.grad

    (tx, ty), (gx, gy) = both(run)
    assert_close(gx, tx)
    assert_close(gy, ty)


def test_retain_grad_accumulates_and_is_not_aliased():
    x = gw.tensor([1.0, 2.0], requires_grad=True)
    y = x + 0
    y.retain_grad()
    (y * 1).sum().backward(retain_graph=True)
    x.grad.mul_(100)  # must not change y.grad
    assert y.grad.tolist() == [1.0, 1.0]
    (y * 3).sum().backward()
    assert y.grad.tolist() == [4.0, 4.0]
    x.retain_grad()  # no-op on a leaf


# ---------------------------------------------------------------------------------- autograd.grad
HIGHER = {
    "cube": lambda m, x: (x ** 3).sum(),
    "exp_sin": lambda m, x: (x.exp() * x.sin()).sum(),
    "tanh_mlp": lambda m, x: ((x @ m.tensor(W)).tanh() ** 2).sum(),
    "sigmoid_log": lambda m, x: (x.sigmoid() + 1).log().sum(),
    "softmax": lambda m, x: (x.softmax(1) * m.tensor(X)).sum(),
    "log_softmax": lambda m, x: (x.log_softmax(-1) ** 2).sum(),
    "logsumexp": lambda m, x: x.logsumexp(1).sum(),
    "var_std": lambda m, x: x.var(1).sum() + x.std(0).sum(),
    "div_sqrt": lambda m, x: (x / (x * x + 1).sqrt()).sum(),
    "rsqrt_cos": lambda m, x: ((x * x + 1).rsqrt() * x.cos()).sum(),
    "pow_tensor": lambda m, x: ((x * x + 1) ** (x * 0.5)).sum(),
    "matmul_self": lambda m, x: (x @ x.t()).pow(2).sum(),
    "index_mean": lambda m, x: (x[:, 1:] * x[:, :-1]).mean() + x[m.tensor([0, 0, 2])].pow(3).sum(),
    "max_relu": lambda m, x: (x.relu() ** 3).sum() + x.amax(1).pow(2).sum(),
    "where_abs": lambda m, x: (m.where(x > 0, x ** 2, x.abs() ** 3)).sum(),
    "cat_stack": lambda m, x: (m.cat([x, x ** 2], 1).sum(0) * m.stack([x, x.exp()]).sum((0, 1))[0]).sum(),
}


@pytest.mark.parametrize("name", sorted(HIGHER))
def test_second_derivatives_match_torch(name):
    fn = HIGHER[name]

    def run(m):
        x = m.tensor(X, requires_grad=True)
        (g,) = m.autograd.grad(fn(m, x), x, create_graph=True)
        assert g.requires_grad
        v = m.tensor(np.cos(X))
        (h,) = m.autograd.grad((g * v).sum(), x)
        return g, h

    (tg, th), (gg, gh) = both(run)
    assert_close(gg, tg, rtol=1e-8)
    assert_close(gh, th, rtol=1e-8)


@pytest.mark.parametrize("name", ["cube", "exp_sin", "tanh_mlp", "softmax", "var_std"])
def test_hvp_matches_torch_functional(name):
    fn = HIGHER[name]
    v = np.sin(X)
    t_out, t_hv = torch.autograd.functional.hvp(lambda x: fn(torch, x), torch.tensor(X), torch.tensor(v))
    g_out, g_hv = gw.autograd.functional.hvp(lambda x: fn(gw, x), gw.tensor(X), gw.tensor(v))
    assert_close(g_out, t_out)
    assert_close(g_hv, t_hv, rtol=1e-8)


def test_hessian_and_vjp_match_torch():
    fn = HIGHER["exp_sin"]
    x = X[:2, :2]
    assert_close(gw.autograd.functional.hessian(lambda t: fn(gw, t), gw.tensor(x)),
                 torch.autograd.functional.hessian(lambda t: fn(torch, t), torch.tensor(x)))
    v = np.ones((3, 2))
    t_out, t_v = torch.autograd.functional.vjp(lambda t: (t @ torch.tensor(W)).tanh(), torch.tensor(X), torch.tensor(v))
    g_out, g_v = gw.autograd.functional.vjp(lambda t: (t @ gw.tensor(W)).tanh(), gw.tensor(X), gw.tensor(v))
    assert_close(g_out, t_out)
    assert_close(g_v, t_v)


def test_third_derivative():
    def run(m):
        x = m.tensor([0.3, -1.2, 2.0], dtype=m.float64, requires_grad=True)
        y = (x.sin() * x ** 3).sum()
        (g,) = m.autograd.grad(y, x, create_graph=True)
        (h,) = m.autograd.grad(g.sum(), x, create_graph=True)
        (k,) = m.autograd.grad(h.sum(), x)
        return k

    t, g = both(run)
    assert_close(g, t, rtol=1e-8)


def test_grad_does_not_touch_dot_grad_and_handles_several_inputs():
    def run(m):
        x = m.tensor(X, requires_grad=True)
        w = m.tensor(W, requires_grad=True)
        y = (x @ w).tanh().sum()
        gx, gw_ = m.autograd.grad(y, [x, w])
        assert x.grad is None and w.grad is None
        return gx, gw_

    (tx, tw), (gx, gw_) = both(run)
    assert_close(gx, tx)
    assert_close(gw_, tw)
    assert not gx.requires_grad


def test_grad_with_grad_outputs_and_nonleaf_input():
    def run(m):
        x = m.tensor(X, requires_grad=True)
        h = x * 3
        y = h.exp()
        return m.autograd.grad(y, [h, x], grad_outputs=m.tensor(np.cos(X)))

    (th, tx), (gh, gx) = both(run)
    assert_close(gh, th)
    assert_close(gx, tx)


def test_grad_allow_unused():
    x = gw.ones(3, requires_grad=True)
    y = gw.ones(3, requires_grad=True)
    gx, gy = gw.autograd.grad((x * 2).sum(), [x, y], allow_unused=True)
    assert gx.tolist() == [2.0, 2.0, 2.0] and gy is None
    with pytest.raises(RuntimeError, match="allow_unused"):
        gw.autograd.grad((x * 2).sum(), [x, y])
    gx, gy = gw.autograd.grad((x * 2).sum(), [x, y], materialize_grads=True)
    assert gy.tolist() == [0.0, 0.0, 0.0]


def test_grad_frees_graph_unless_retained():
    x = gw.ones(3, requires_grad=True)
    y = (x * x).sum()
    gw.autograd.grad(y, x, retain_graph=True)
    gw.autograd.grad(y, x)
    with pytest.raises(RuntimeError, match="second time"):
        gw.autograd.grad(y, x)


def test_grad_errors():
    x = gw.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="does not require grad"):
        gw.autograd.grad((x * 2).sum(), gw.ones(3))
    with pytest.raises(RuntimeError, match="scalar"):
        gw.autograd.grad(x * 2, x)


def test_create_graph_backward_gives_differentiable_grad():
    def run(m):
        x = m.tensor([0.5, 1.5], dtype=m.float64, requires_grad=True)
        (x ** 3).sum().backward(create_graph=True)
        g = x.grad
        assert g.requires_grad
        (g2,) = m.autograd.grad(g.sum(), x)
        return g2

    t, g = both(run)
    assert_close(g, t)


# ---------------------------------------------------------------------------------- Variable
def test_variable_lecture_code_runs():
    import gradwise as torch_like  # the lecture's `import torch`, changed only in the import

    torch_like.manual_seed(0)
    x = Variable(torch_like.randn(1, 10))
    prev_h = Variable(torch_like.randn(1, 20))
    W_h = Variable(torch_like.randn(20, 20))
    W_x = Variable(torch_like.randn(20, 10))
    i2h = torch_like.mm(W_x, x.t())
    h2h = torch_like.mm(W_h, prev_h.t())
    next_h = (i2h + h2h).tanh()
    assert next_h.shape == (20, 1)
    expected = np.tanh(W_x.numpy() @ x.numpy().T + W_h.numpy() @ prev_h.numpy().T)
    np.testing.assert_allclose(next_h.numpy(), expected, rtol=1e-5)
    # Variable(t) does not require grad by default, exactly as in PyTorch, where this backward
    # raises the same error; with requires_grad=True the lecture's backward runs.
    with pytest.raises(RuntimeError, match="does not require grad"):
        next_h.backward(torch_like.ones(20, 1))


def test_variable_backward_matches_torch():
    rng = np.random.default_rng(3)
    arrays = [rng.standard_normal(s) for s in [(1, 10), (1, 20), (20, 20), (20, 10)]]

    def run(m):
        V = m.autograd.Variable
        x, prev_h, W_h, W_x = (V(m.tensor(a), requires_grad=True) for a in arrays)
        i2h = m.mm(W_x, x.t())
        h2h = m.mm(W_h, prev_h.t())
        next_h = i2h + h2h
        next_h = next_h.tanh()
        next_h.backward(m.ones(20, 1, dtype=m.float64))
        return [t.grad for t in (x, prev_h, W_h, W_x)]

    for t, g in zip(*both(run)):
        assert_close(g, t)


def test_variable_semantics():
    t = gw.ones(2)
    v = Variable(t)
    assert isinstance(v, gw.Tensor) and not v.requires_grad
    v[0] = 3.0  # shares storage
    assert t[0].item() == 3.0
    assert Variable(t, requires_grad=True).requires_grad
    assert Variable([1.0, 2.0]).tolist() == [1.0, 2.0]


# ---------------------------------------------------------------------------------- in-place
def test_inplace_on_saved_output_raises_at_backward():
    x = gw.ones(3, requires_grad=True)
    y = x.exp()
    y.add_(1)
    with pytest.raises(RuntimeError) as info:
        y.sum().backward()
    message = str(info.value)
    assert "Exp" in message and "(3,)" in message and "version 1" in message and "inplace" in message


def test_inplace_on_saved_input_raises_and_names_op_shape_versions():
    x = gw.ones(2, 3, requires_grad=True)
    w = gw.ones(2, 3, requires_grad=True)
    w2 = w * 1
    a = x * w2
    w2.mul_(2)
    with pytest.raises(RuntimeError) as info:
        a.sum().backward()
    message = str(info.value)
    assert "MulBackward" in message and "(2, 3)" in message
    assert "version 1" in message and "expected version 0" in message


def test_inplace_on_leaf_requiring_grad_raises():
    for op in (lambda t: t.add_(1), lambda t: t.mul_(2), lambda t: t.zero_(), lambda t: t.__setitem__(0, 1.0),
               lambda t: t.clamp_(0, 1), lambda t: t.copy_(gw.zeros(3))):
        x = gw.ones(3, requires_grad=True)
        with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
            op(x)


def test_inplace_on_leaf_under_no_grad_is_allowed():
    x = gw.ones(3, requires_grad=True)
    with gw.no_grad():
        x.mul_(3)
        x -= 1
    assert x.tolist() == [2.0, 2.0, 2.0] and x.requires_grad and x.is_leaf


def test_inplace_on_unsaved_nonleaf_gives_torch_gradients():
    def run(m):
        x = m.tensor(X, requires_grad=True)
        y = x * 2          # MulBackward saves x and the constant, not y
        y.add_(1)
        y.mul_(3)
        y.clamp_(-2.0, 2.0)
        y.pow_(2)
        z = y.sigmoid()
        z.sum().backward()
        return x.grad, z

    (tx, tz), (gx, gz) = both(run)
    assert_close(gz, tz)
    assert_close(gx, tx)


def test_inplace_with_own_detached_value_raises_like_torch():
    for m in (torch, gw):
        x = m.tensor(X, requires_grad=True)
        y = x * 2
        y.mul_(y.detach())  # saves y.detach(), which shares y's version counter
        with pytest.raises(RuntimeError, match="inplace"):
            y.sum().backward()


def test_inplace_mul_records_graph_like_torch():
    def run(m):
        x = m.tensor(X, requires_grad=True)
        w = m.tensor(W[:, 0].copy(), requires_grad=True)
        y = x.tanh()
        y = y * 1
        y.mul_(w)          # in-place with an argument that requires grad
        y.add_(w, alpha=2)
        y.sub_(0.5)
        y.div_(3)
        y.sum().backward()
        return x.grad, w.grad

    (tx, tw), (gx, gw_) = both(run)
    assert_close(gx, tx)
    assert_close(gw_, tw)


def test_iadd_operators():
    def run(m):
        x = m.tensor(X, requires_grad=True)
        y = x * 1
        y += 2
        y *= x
        y -= x.exp()
        y /= 4
        y.sum().backward()
        return x.grad

    t, g = both(run)
    assert_close(g, t)


def test_setitem_gradients_match_torch():
    def run(m):
        x = m.tensor(X, requires_grad=True)
        v = m.tensor([7.0, 8.0], dtype=m.float64, requires_grad=True)
        y = x * 2
        y[0, :2] = v * v
        y[1] = 0.0
        y[y > 1.5] = -1.0
        y[:, 3] += v.sum()
        (y * m.tensor(np.cos(X))).sum().backward()
        return x.grad, v.grad, y

    (tx, tv, ty), (gx, gv, gy) = both(run)
    assert_close(gy, ty)
    assert_close(gx, tx)
    assert_close(gv, tv)


def test_setitem_into_buffer_that_does_not_require_grad():
    def run(m):
        x = m.tensor(X, requires_grad=True)
        out = m.zeros(3, 4, dtype=m.float64)
        for i in range(3):
            out[i] = x[i] * (i + 1)
        out[:, 0] += x[:, 1]
        assert out.requires_grad
        (out ** 2).sum().backward()
        return x.grad

    t, g = both(run)
    assert_close(g, t)


def test_inplace_through_a_view_updates_the_base_graph():
    def run(m):
        x = m.tensor(X, requires_grad=True)
        y = x * 2
        z = y[1:]
        z.mul_(3)
        y.view(-1)[:2].add_(x[0, :2] ** 2)
        (y * m.tensor(np.sin(X))).sum().backward()
        return x.grad, y

    (tx, ty), (gx, gy) = both(run)
    assert_close(gy, ty)
    assert_close(gx, tx)


def test_inplace_on_view_of_leaf_raises():
    x = gw.ones(3, 2, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf"):
        x[0].mul_(2)


def test_version_counter():
    x = gw.ones(3)
    v0 = x._version.value
    x.add_(1)
    x[0] = 2.0
    assert x._version.value == v0 + 2
    y = x[1:]
    y.mul_(2)
    assert x._version.value == v0 + 3  # views share the counter


# ---------------------------------------------------------------------------------- deep graphs
def test_chain_of_100k_ops_backpropagates_without_recursion():
    limit = sys.getrecursionlimit()
    x = gw.tensor([0.5], requires_grad=True)
    y = x
    for _ in range(100_000):
        y = y * 1.0
    y = y + 1
    y.sum().backward()
    assert x.grad.tolist() == [1.0]
    assert sys.getrecursionlimit() == limit
    del y  # freeing a deep graph must not overflow the stack either


def test_deep_graph_freed_without_recursion_error():
    def build():
        y = gw.ones(2, requires_grad=True)
        for _ in range(100_000):
            y = y.tanh()
        return y

    y = build()
    del y  # the chain of nodes is released; CPython must not hit its recursion limit


# ---------------------------------------------------------------------------------- errors
@pytest.mark.parametrize("op", ["+", "-", "*", "/"])
def test_broadcast_errors_name_op_and_shapes(op):
    a, b = gw.ones(2, 3), gw.ones(4)
    with pytest.raises(RuntimeError) as info:
        eval(f"a {op} b")
    message = str(info.value)
    assert "(2, 3)" in message and "(4,)" in message and "broadcast" in message
    assert {"+": "add", "-": "sub", "*": "mul", "/": "div"}[op] in message


def test_broadcast_errors_for_other_ops():
    for fn in (lambda: gw.maximum(gw.ones(2, 3), gw.ones(4)), lambda: gw.where(gw.ones(3) > 0, gw.ones(2), 0.0),
               lambda: gw.ones(3, requires_grad=True) ** gw.ones(2)):
        with pytest.raises(RuntimeError, match="broadcast"):
            fn()


def test_warnings_not_emitted_for_ordinary_backward():
    x = gw.tensor(X, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ((x @ gw.tensor(W)).relu().softmax(1).log() * 2).sum().backward()
