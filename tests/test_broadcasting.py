"""Broadcasting exactly as NumPy/PyTorch, with gradients summed back to each input's shape.

Hypothesis draws pairs of broadcastable shapes (including 0-d, size-1 dims, and different
ranks); every elementwise binary op is compared against PyTorch in value and in the gradient
of both inputs.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp

import gradwise as gw

OPS = {
    "add": lambda m, a, b: a + b,
    "sub": lambda m, a, b: a - b,
    "mul": lambda m, a, b: a * b,
    "div": lambda m, a, b: a / b,
    "maximum": lambda m, a, b: m.maximum(a, b),
    "minimum": lambda m, a, b: m.minimum(a, b),
    "pow": lambda m, a, b: a ** b,
    "where": lambda m, a, b: m.where(a > b, a, b * 2),
}


@st.composite
def operands(draw):
    shape_a, shape_b = draw(hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=4,
                                                               max_side=4)).input_shapes
    elements = st.floats(-3, 3, allow_nan=False, allow_infinity=False)
    a = draw(hnp.arrays(np.float64, shape_a, elements=elements))
    b = draw(hnp.arrays(np.float64, shape_b, elements=elements))
    return a, b


def _prepare(name, a, b):
    if name == "div":
        b = np.where(np.abs(b) < 0.25, 0.25, b)
    if name == "pow":
        a = np.abs(a) + 0.5
    if name in ("maximum", "minimum", "where"):
        b = b + 1e-3  # no exact ties (their split is covered in test_tensor_ops)
    return a, b


@pytest.mark.parametrize("name", sorted(OPS))
@settings(max_examples=25, deadline=None)
@given(data=operands())
def test_broadcast_binary_op_values_and_gradients(name, data):
    a, b = _prepare(name, *data)
    fn = OPS[name]
    ta, tb = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    ga, gb = gw.tensor(a, requires_grad=True), gw.tensor(b, requires_grad=True)
    tout, gout = fn(torch, ta, tb), fn(gw, ga, gb)
    assert tuple(gout.shape) == tuple(tout.shape) == np.broadcast_shapes(a.shape, b.shape)
    np.testing.assert_allclose(gout.detach().numpy(), tout.detach().numpy(), rtol=1e-10, atol=1e-12)
    w = np.cos(np.arange(max(tout.numel(), 1))).reshape(tuple(tout.shape))
    (tout * torch.tensor(w)).sum().backward()
    (gout * gw.tensor(w)).sum().backward()
    for t, g in ((ta, ga), (tb, gb)):
        assert g.grad.shape == g.shape  # summed back to the input's own shape
        np.testing.assert_allclose(g.grad.numpy(), t.grad.numpy(), rtol=1e-10, atol=1e-12)


@settings(max_examples=30, deadline=None)
@given(data=operands())
def test_broadcast_gradients_with_one_constant_side(data):
    a, b = data
    ta, ga = torch.tensor(a, requires_grad=True), gw.tensor(a, requires_grad=True)
    ((ta * torch.tensor(b)).exp() + torch.tensor(b)).sum().backward()
    ((ga * gw.tensor(b)).exp() + gw.tensor(b)).sum().backward()
    np.testing.assert_allclose(ga.grad.numpy(), ta.grad.numpy(), rtol=1e-10, atol=1e-12)


@settings(max_examples=30, deadline=None)
@given(data=operands())
def test_broadcast_with_scalars_and_second_order(data):
    a, b = data
    ta, tb = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    ga, gb = gw.tensor(a, requires_grad=True), gw.tensor(b, requires_grad=True)

    def f(m, x, y):
        return ((2.0 * x - 1) * (y * y + 0.5) / 3).tanh().sum()

    tgx, tgy = torch.autograd.grad(f(torch, ta, tb), (ta, tb), create_graph=True)
    ggx, ggy = gw.autograd.grad(f(gw, ga, gb), (ga, gb), create_graph=True)
    np.testing.assert_allclose(ggx.detach().numpy(), tgx.detach().numpy(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(ggy.detach().numpy(), tgy.detach().numpy(), rtol=1e-9, atol=1e-12)
    th = torch.autograd.grad((tgx.sum() + (tgy * tgy).sum()), (ta, tb), allow_unused=True)
    gh = gw.autograd.grad((ggx.sum() + (ggy * ggy).sum()), (ga, gb), allow_unused=True)
    for t, g in zip(th, gh):
        if t is None:
            assert g is None or np.allclose(g.numpy(), 0)
        else:
            np.testing.assert_allclose(g.numpy(), t.numpy(), rtol=1e-8, atol=1e-11)


@pytest.mark.parametrize("sa,sb", [((2, 3), (4,)), ((2, 3), (3, 2)), ((5, 1, 3), (4, 2)), ((3,), (2,))])
@pytest.mark.parametrize("name", ["add", "sub", "mul", "div", "maximum", "minimum", "pow"])
def test_incompatible_shapes_raise_clear_error(name, sa, sb):
    a = gw.ones(*sa, requires_grad=True)
    b = gw.ones(*sb)
    with pytest.raises(RuntimeError) as info:
        OPS[name](gw, a, b)
    message = str(info.value)
    assert name in message and str(sa) in message and str(sb) in message
    with pytest.raises(RuntimeError):
        OPS[name](torch, torch.ones(*sa), torch.ones(*sb))


def test_expand_gradient_sums_back():
    def run(m):
        x = m.tensor(np.arange(3.0).reshape(3, 1), requires_grad=True)
        y = x.expand(2, 3, 4) * m.tensor(np.arange(24.0).reshape(2, 3, 4))
        y.sum().backward()
        return x.grad

    np.testing.assert_allclose(run(gw).numpy(), run(torch).numpy())
