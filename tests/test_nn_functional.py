"""gradwise.nn.functional against torch.nn.functional in float64: values and every gradient."""
import warnings

import numpy as np
import pytest
import torch

import gradwise
import gradwise.nn.functional as F
from conftest import run_both

TF = torch.nn.functional
rng = np.random.default_rng(0)


def randn(*shape):
    return rng.standard_normal(shape)


# ---------------------------------------------------------------------------- activations
@pytest.mark.parametrize("shape", [(7,), (3, 5), (2, 3, 4, 5)])
@pytest.mark.parametrize("name", ["relu", "sigmoid", "tanh"])
def test_elementwise_activations(name, shape):
    x = randn(*shape) * 3
    run_both(getattr(F, name), getattr(TF, name), x)


@pytest.mark.parametrize("slope", [0.01, 0.1, 0.3])
def test_leaky_relu(slope):
    x = randn(4, 6)
    x[0, 0] = 0.0
    run_both(lambda t: F.leaky_relu(t, slope), lambda t: TF.leaky_relu(t, slope), x)
    run_both(F.leaky_relu, TF.leaky_relu, x)


@pytest.mark.parametrize("alpha", [1.0, 0.5, 2.0])
def test_elu(alpha):
    x = randn(5, 3) * 2
    x[1, 1] = 0.0
    run_both(lambda t: F.elu(t, alpha), lambda t: TF.elu(t, alpha), x)


def test_inplace_flag_is_accepted():
    x = randn(3, 4)
    run_both(lambda t: F.relu(t, inplace=True), lambda t: TF.relu(t.clone(), inplace=True), x)
    run_both(lambda t: F.elu(t, inplace=True), lambda t: TF.elu(t.clone(), inplace=True), x)


@pytest.mark.parametrize("dim", [0, 1, -1, 2])
@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_family(name, dim):
    x = randn(3, 4, 5) * 4
    run_both(lambda t: getattr(F, name)(t, dim), lambda t: getattr(TF, name)(t, dim), x)


def test_softmax_large_values_and_dtype():
    x = np.array([[1000.0, 0.0, -1000.0]])
    run_both(lambda t: F.softmax(t, 1), lambda t: TF.softmax(t, 1), x)
    run_both(lambda t: F.log_softmax(t, 1), lambda t: TF.log_softmax(t, 1), x)
    y = F.softmax(gradwise.randn(2, 3), dim=1, dtype=gradwise.float64)
    assert y.dtype == gradwise.float64


def test_softmax_implicit_dim_warns_like_torch():
    x = randn(2, 3)
    with pytest.warns(UserWarning, match="Implicit dimension"):
        g = F.softmax(gradwise.tensor(x))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t = TF.softmax(torch.tensor(x))
    np.testing.assert_allclose(g.numpy(), t.numpy())


# ---------------------------------------------------------------------------- linear
@pytest.mark.parametrize("shape", [(5,), (4, 5), (2, 3, 5)])
@pytest.mark.parametrize("bias", [True, False])
def test_linear(shape, bias):
    x, w, b = randn(*shape), randn(3, 5), randn(3)
    if bias:
        run_both(F.linear, TF.linear, x, w, b)
    else:
        run_both(F.linear, TF.linear, x, w)


def test_linear_shape_error_names_shapes():
    with pytest.raises(RuntimeError, match=r"input of shape \(4, 6\).*weight of shape \(3, 5\)"):
        F.linear(gradwise.randn(4, 6), gradwise.randn(3, 5))


# ---------------------------------------------------------------------------- dropout
def test_dropout_statistics_and_scaling():
    gradwise.manual_seed(0)
    x = gradwise.ones(200, 500)
    y = F.dropout(x, p=0.3).numpy()
    kept = y != 0
    assert abs(kept.mean() - 0.7) < 0.005  # 100,000 draws: std of the mean ~ 0.0015
    np.testing.assert_allclose(y[kept], 1 / 0.7, rtol=1e-6)
    assert abs(y.mean() - 1.0) < 0.01  # inverted dropout keeps the expectation


def test_dropout_reproducible_under_seed():
    gradwise.manual_seed(123)
    a = F.dropout(gradwise.ones(50, 50)).numpy()
    gradwise.manual_seed(123)
    b = F.dropout(gradwise.ones(50, 50)).numpy()
    c = F.dropout(gradwise.ones(50, 50)).numpy()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(b, c)


def test_dropout_gradient_is_the_mask():
    x = gradwise.tensor(randn(30, 40), requires_grad=True)
    y = F.dropout(x, p=0.4)
    y.sum().backward()
    expected = (y.detach().numpy() != 0) / 0.6
    np.testing.assert_allclose(x.grad.numpy(), expected)


def test_dropout_eval_edge_cases_and_validation():
    x = gradwise.randn(4, 5)
    assert F.dropout(x, 0.5, training=False) is x
    assert F.dropout(x, 0.0) is x
    assert np.all(F.dropout(x, 1.0).numpy() == 0)
    for p in (-0.1, 1.5):
        with pytest.raises(ValueError, match="between 0 and 1"):
            F.dropout(x, p)


# ---------------------------------------------------------------------------- batch norm
@pytest.mark.parametrize("shape", [(6, 3), (5, 3, 7), (4, 3, 5, 6)])
def test_batch_norm_training_matches_torch(shape):
    x, w, b = randn(*shape) * 2 + 1, randn(3), randn(3)
    g_rm, g_rv = gradwise.zeros(3, dtype=gradwise.float64), gradwise.ones(3, dtype=gradwise.float64)
    t_rm, t_rv = torch.zeros(3, dtype=torch.float64), torch.ones(3, dtype=torch.float64)
    run_both(lambda x, w, b: F.batch_norm(x, g_rm, g_rv, w, b, training=True, momentum=0.2),
             lambda x, w, b: TF.batch_norm(x, t_rm, t_rv, w, b, training=True, momentum=0.2), x, w, b)
    np.testing.assert_allclose(g_rm.numpy(), t_rm.numpy(), atol=1e-12)
    np.testing.assert_allclose(g_rv.numpy(), t_rv.numpy(), atol=1e-12)


def test_batch_norm_eval_and_no_affine():
    x, rm, rv = randn(5, 4, 3), randn(4), rng.uniform(0.5, 2, 4)
    w, b = randn(4), randn(4)
    run_both(lambda x, w, b: F.batch_norm(x, gradwise.tensor(rm), gradwise.tensor(rv), w, b, False, 0.1, 1e-3),
             lambda x, w, b: TF.batch_norm(x, torch.tensor(rm), torch.tensor(rv), w, b, False, 0.1, 1e-3), x, w, b)
    run_both(lambda x: F.batch_norm(x, None, None, training=True),
             lambda x: TF.batch_norm(x, None, None, training=True), x)


def test_batch_norm_errors():
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        F.batch_norm(gradwise.randn(1, 3), None, None, training=True)
    with pytest.raises(RuntimeError, match="3 channels"):
        F.batch_norm(gradwise.randn(4, 3), gradwise.zeros(5), gradwise.ones(5))


# ---------------------------------------------------------------------------- embedding
def test_embedding_dense_with_repeats():
    w = randn(10, 4)
    ids = np.array([[1, 3, 1], [9, 0, 1]])
    run_both(lambda w: F.embedding(gradwise.tensor(ids), w), lambda w: TF.embedding(torch.tensor(ids), w), w)


def test_embedding_padding_idx_and_scale_grad_by_freq():
    w, ids = randn(8, 3), np.array([2, 2, 5, 0, 2, 7])
    for kwargs in ({"padding_idx": 2}, {"padding_idx": -1}, {"scale_grad_by_freq": True},
                   {"padding_idx": 0, "scale_grad_by_freq": True}):
        run_both(lambda w: F.embedding(gradwise.tensor(ids), w, **kwargs),
                 lambda w: TF.embedding(torch.tensor(ids), w, **kwargs), w)


def test_embedding_max_norm_renormalises_rows_in_place():
    w = randn(6, 4) * 3
    ids = np.array([0, 2, 2, 5])
    gw, tw = gradwise.tensor(w.copy()), torch.tensor(w.copy())
    g = F.embedding(gradwise.tensor(ids), gw, max_norm=1.0)
    t = TF.embedding(torch.tensor(ids), tw, max_norm=1.0)
    np.testing.assert_allclose(g.numpy(), t.numpy(), atol=1e-12)
    np.testing.assert_allclose(gw.numpy(), tw.numpy(), atol=1e-12)


def test_embedding_errors():
    w = gradwise.randn(5, 2)
    with pytest.raises(IndexError, match=r"index 7 is out of range .* 5 rows"):
        F.embedding(gradwise.tensor([1, 7]), w)
    with pytest.raises(RuntimeError, match="integer ids"):
        F.embedding(gradwise.tensor([1.0, 2.0]), w)


# ---------------------------------------------------------------------------- one_hot, flatten
def test_one_hot_and_flatten():
    ids = np.array([[0, 3], [2, 1]])
    np.testing.assert_array_equal(F.one_hot(gradwise.tensor(ids)).numpy(), TF.one_hot(torch.tensor(ids)).numpy())
    np.testing.assert_array_equal(F.one_hot(gradwise.tensor(ids), 6).numpy(),
                                  TF.one_hot(torch.tensor(ids), 6).numpy())
    assert F.one_hot(gradwise.tensor([1])).dtype == gradwise.int64
    with pytest.raises(RuntimeError, match="smaller than num_classes"):
        F.one_hot(gradwise.tensor([4]), 3)
    x = randn(2, 3, 4, 5)
    run_both(lambda t: F.flatten(t, 1), lambda t: torch.flatten(t, 1), x)
    run_both(lambda t: F.flatten(t, 1, 2), lambda t: torch.flatten(t, 1, 2), x)


# ---------------------------------------------------------------------------- second order
def test_double_backward_through_activations_and_linear():
    """Gradient penalties need d/dx of a gradient: the backward rules are tensor expressions."""
    x, w, b = randn(4, 5), randn(3, 5), randn(3)
    results = []
    for lib, fn in ((gradwise, F), (torch, TF)):
        xt, wt, bt = (lib.tensor(a, requires_grad=True) for a in (x, w, b))
        y = fn.log_softmax(fn.elu(fn.linear(xt, wt, bt)), 1)
        loss = (y * lib.tensor(np.arange(3.0))).sum() + fn.tanh(fn.leaky_relu(xt, 0.2)).sum()
        (gx,) = (gradwise.autograd.grad if lib is gradwise else torch.autograd.grad)(loss, [xt], create_graph=True)
        (gx * gx).sum().backward()
        results.append((wt.grad.numpy(), xt.grad.numpy()))
    for g, t in zip(*results):
        np.testing.assert_allclose(g, t, atol=1e-10)
