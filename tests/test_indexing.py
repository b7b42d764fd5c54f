"""Indexing, slicing and assignment against PyTorch: values and gradients (repeated indices add)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import gradwise as gw

X = np.random.default_rng(11).standard_normal((4, 5, 3))


def check(key_fn, x=X):
    """Index with ``key_fn(m)`` in both libraries; compare values, views, and the gradient."""
    tx, gx = torch.tensor(x, requires_grad=True), gw.tensor(x, requires_grad=True)
    tout, gout = tx[key_fn(torch)], gx[key_fn(gw)]
    assert tuple(gout.shape) == tuple(tout.shape)
    np.testing.assert_array_equal(gout.detach().numpy(), tout.detach().numpy())
    w = np.sin(np.arange(tout.numel()) + 1.0).reshape(tuple(tout.shape))
    (tout * torch.tensor(w)).sum().backward()
    (gout * gw.tensor(w)).sum().backward()
    np.testing.assert_allclose(gx.grad.numpy(), tx.grad.numpy(), rtol=1e-12, atol=1e-14)


KEYS = {
    "int": lambda m: 1,
    "neg_int": lambda m: -1,
    "int_int": lambda m: (2, 3),
    "int_int_int": lambda m: (2, 3, 1),
    "slice": lambda m: slice(1, 3),
    "col_slice": lambda m: (slice(None), slice(1, 3)),
    "step": lambda m: (slice(None, None, 2), slice(None), slice(0, 3, 2)),
    "ellipsis": lambda m: (Ellipsis, 1),
    "ellipsis_middle": lambda m: (0, Ellipsis, slice(0, 2)),
    "none": lambda m: (None, slice(1, 3)),
    "none_middle": lambda m: (slice(None), None, 0),
    "idx_tensor": lambda m: m.tensor([0, 2, 3]),
    "idx_tensor_repeated": lambda m: m.tensor([0, 0, 2, 0, 3, 2]),
    "idx_tensor_negative": lambda m: m.tensor([-1, 0, -1]),
    "idx_tensor_2d": lambda m: m.tensor([[0, 1], [1, 1]]),
    "idx_list": lambda m: [1, 1, 3],
    "idx_on_dim1": lambda m: (slice(None), m.tensor([4, 0, 4])),
    "two_idx_tensors": lambda m: (m.tensor([0, 1, 1]), m.tensor([2, 2, 2])),
    "two_idx_broadcast": lambda m: (m.tensor([[0], [3]]), m.tensor([1, 1, 4])),
    "three_idx_repeated": lambda m: (m.tensor([0, 0]), m.tensor([1, 1]), m.tensor([2, 2])),
    "mixed_adv_basic": lambda m: (m.tensor([3, 1, 3]), slice(1, 4)),
    "mixed_basic_adv": lambda m: (slice(1, 3), m.tensor([0, 4, 0]), 2),
    "mixed_split_adv": lambda m: (m.tensor([0, 2]), slice(None), m.tensor([1, 1])),
    "int_and_idx": lambda m: (1, m.tensor([2, 2, 0])),
    "bool_mask_full": lambda m: m.tensor(X > 0.3),
    "bool_mask_rows": lambda m: m.tensor([True, False, True, True]),
    "bool_mask_2d": lambda m: m.tensor(X[:, :, 0] > 0),
    "bool_mask_and_slice": lambda m: (m.tensor([False, True, True, False]), slice(0, 2)),
    "bool_mask_dim1": lambda m: (slice(None), m.tensor([True, False, False, True, True])),
    "empty_mask": lambda m: m.tensor(np.zeros(4, dtype=bool)),
    "zero_dim_idx_tensor": lambda m: m.tensor(2),
}


@pytest.mark.parametrize("name", sorted(KEYS))
def test_getitem(name):
    check(KEYS[name])


def test_getitem_on_1d_and_0d():
    v = np.arange(6.0)
    check(lambda m: m.tensor([5, 5, 0]), v)
    check(lambda m: v > 2, v)  # a NumPy boolean mask
    check(lambda m: Ellipsis, np.array(3.0))
    check(lambda m: None, np.array(3.0))


NEG_STEPS = [  # (gradwise key, the same selection as torch index tensors; torch has no negative steps)
    (lambda: slice(None, None, -1), lambda m: m.tensor([3, 2, 1, 0])),
    (lambda: (slice(3, 0, -2), slice(None, None, -1)), lambda m: (m.tensor([[3], [1]]), m.tensor([4, 3, 2, 1, 0]))),
    (lambda: (slice(None), slice(None, None, -2), 1), lambda m: (slice(None), m.tensor([4, 2, 0]), 1)),
    (lambda: (Ellipsis, slice(-1, None, -1)), lambda m: (Ellipsis, m.tensor([2, 1, 0]))),
]


@pytest.mark.parametrize("case", range(len(NEG_STEPS)))
def test_negative_steps_like_numpy(case):
    g_key, t_key = NEG_STEPS[case]
    np.testing.assert_array_equal(gw.tensor(X)[g_key()].numpy(), X[g_key()])
    tx, gx = torch.tensor(X, requires_grad=True), gw.tensor(X, requires_grad=True)
    tout, gout = tx[t_key(torch)], gx[g_key()]
    np.testing.assert_array_equal(gout.detach().numpy(), tout.detach().numpy())
    w = np.cos(np.arange(tout.numel())).reshape(tuple(tout.shape))
    (tout * torch.tensor(w)).sum().backward()
    (gout * gw.tensor(w)).sum().backward()
    np.testing.assert_allclose(gx.grad.numpy(), tx.grad.numpy(), rtol=1e-12)


def test_setitem_with_negative_step():
    x = gw.tensor(X[:, 0, 0], requires_grad=True)
    v = gw.tensor([10.0, 20.0], requires_grad=True)
    y = x * 2
    y[::-2] = v * v
    expected = X[:, 0, 0] * 2
    expected[::-2] = [100.0, 400.0]
    np.testing.assert_allclose(y.detach().numpy(), expected)
    (y * gw.tensor([1.0, 2.0, 3.0, 4.0])).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 0.0, 6.0, 0.0])
    np.testing.assert_allclose(v.grad.numpy(), [4.0 * 2 * 10.0, 2.0 * 2 * 20.0])


def test_basic_indexing_is_a_view_and_advanced_is_a_copy():
    x = gw.zeros(3, 4)
    x[1][2] = 5.0
    assert x[1, 2].item() == 5.0
    x[:, 1:3][0] = 7.0
    assert x[0].tolist() == [0.0, 7.0, 7.0, 0.0]
    x[gw.tensor([0])][0, 0] = 99.0  # a copy: x is unchanged
    assert x[0, 0].item() == 0.0


def test_index_errors_name_the_shape():
    x = gw.ones(3, 4)
    with pytest.raises(IndexError, match=r"\(3, 4\)"):
        x[5]
    with pytest.raises(IndexError, match=r"\(3, 4\)"):
        x[gw.tensor([0, 7])]


def test_gather_rows_second_order():
    """Indexing's backward (a scatter) is itself differentiable."""
    def run(m):
        x = m.tensor(X[:, :, 0], requires_grad=True)
        idx = m.tensor([3, 3, 1, 0, 3])
        (g,) = m.autograd.grad((x[idx] ** 3).sum(), x, create_graph=True)
        (h,) = m.autograd.grad((g * g).sum(), x)
        return g, h

    for a, b in zip(run(gw), run(torch)):
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-10)


# ---------------------------------------------------------------------------------- setitem
SETS = {
    "int_scalar": (lambda m: 1, lambda m, v: 0.5),
    "slice_tensor": (lambda m: (slice(None), slice(1, 3)), lambda m, v: v[:, :2]),
    "broadcast_value": (lambda m: (slice(1, 3),), lambda m, v: v[0, :1]),
    "idx_tensor": (lambda m: m.tensor([0, 3]), lambda m, v: v[:2] * 2),
    "bool_mask_scalar": (lambda m: m.tensor(X[:, :, 0] > 0), lambda m, v: -1.0),
    "ellipsis": (lambda m: (Ellipsis, 0), lambda m, v: v[:, :, 1]),
}


@pytest.mark.parametrize("name", sorted(SETS))
def test_setitem_values_and_gradients(name):
    key_fn, value_fn = SETS[name]
    V = np.random.default_rng(5).standard_normal((4, 5, 3))

    def run(m):
        x = m.tensor(X, requires_grad=True)
        v = m.tensor(V, requires_grad=True)
        y = x * 1.5
        y[key_fn(m)] = value_fn(m, v)
        (y * m.tensor(np.cos(X))).sum().backward()
        return y, x.grad, v.grad

    for g, t in zip(run(gw), run(torch)):
        if t is None:
            assert g is None or np.allclose(g.numpy(), 0)
            continue
        np.testing.assert_allclose(g.detach().numpy(), t.detach().numpy(), rtol=1e-12, atol=1e-14)


def test_setitem_without_grad():
    for m in (gw, torch):
        x = m.zeros(2, 3)
        x[0] = m.tensor([1.0, 2.0, 3.0])
        x[1, x[0] > 1.5] = 9.0
        x[:, 0] += 1
        assert x.tolist() == [[2.0, 2.0, 3.0], [1.0, 9.0, 9.0]]


def test_masked_fill():
    mask = X[:, :, 0] > 0

    def run(m):
        x = m.tensor(X[:, :, 0], requires_grad=True)
        y = x.masked_fill(m.tensor(mask), -2.0)
        (y * y).sum().backward()
        return y, x.grad

    for g, t in zip(run(gw), run(torch)):
        np.testing.assert_allclose(g.detach().numpy(), t.detach().numpy())
