"""Losses (functional and modules) against PyTorch in float64: values and gradients of every input."""
import warnings

import numpy as np
import pytest
import torch

import gradwise
import gradwise.nn as nn
import gradwise.nn.functional as F
from conftest import run_both

TF = torch.nn.functional
rng = np.random.default_rng(2)


REDUCTIONS = ["mean", "sum", "none"]


def targets(shape, classes, ignore=None):
    t = rng.integers(0, classes, shape)
    if ignore is not None:
        t.flat[::3] = ignore
    return t


# ---------------------------------------------------------------------------- cross entropy / nll
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("in_shape", [(6, 5), (3, 4, 2, 3), (2, 3, 5)])
def test_cross_entropy_class_indices(in_shape, reduction):
    x = rng.standard_normal(in_shape) * 2
    t = targets((in_shape[0],) + in_shape[2:], in_shape[1])
    run_both(lambda x, t: F.cross_entropy(x, t, reduction=reduction),
             lambda x, t: TF.cross_entropy(x, t, reduction=reduction), x, t)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("smoothing", [0.0, 0.1, 0.35])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("ignore", [None, 2])
def test_cross_entropy_weights_ignore_index_label_smoothing(reduction, smoothing, weighted, ignore):
    x = rng.standard_normal((7, 4, 3))
    t = targets((7, 3), 4, ignore)
    w = rng.uniform(0.2, 2.0, 4)
    kwargs = {"reduction": reduction, "label_smoothing": smoothing}
    if ignore is not None:
        kwargs["ignore_index"] = ignore
    if weighted:
        run_both(lambda x, t, w: F.cross_entropy(x, t, w, **kwargs),
                 lambda x, t, w: TF.cross_entropy(x, t, w, **kwargs), x, t, w, constant=(2,))
    else:
        run_both(lambda x, t: F.cross_entropy(x, t, **kwargs), lambda x, t: TF.cross_entropy(x, t, **kwargs), x, t)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
@pytest.mark.parametrize("shape", [(5, 4), (3, 4, 2, 2), (6,)])
def test_cross_entropy_probability_targets(shape, reduction, smoothing):
    x = rng.standard_normal(shape)
    p = rng.uniform(size=shape)
    p /= p.sum(axis=1 if len(shape) > 1 else 0, keepdims=True)
    w = rng.uniform(0.5, 2.0, shape[1] if len(shape) > 1 else shape[0])
    kwargs = {"reduction": reduction, "label_smoothing": smoothing}
    run_both(lambda x, p: F.cross_entropy(x, p, **kwargs), lambda x, p: TF.cross_entropy(x, p, **kwargs), x, p)
    run_both(lambda x, p, w: F.cross_entropy(x, p, w, **kwargs), lambda x, p, w: TF.cross_entropy(x, p, w, **kwargs),
             x, p, w, constant=(2,))


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_unbatched(reduction):
    x, t = rng.standard_normal(5), np.array(3)
    run_both(lambda x, t: F.cross_entropy(x, t, reduction=reduction),
             lambda x, t: TF.cross_entropy(x, t, reduction=reduction), x, t)
    run_both(lambda x, t: F.cross_entropy(x, t, reduction=reduction, label_smoothing=0.1),
             lambda x, t: TF.cross_entropy(x, t, reduction=reduction, label_smoothing=0.1), x, t)


def test_cross_entropy_all_ignored_is_nan_like_torch():
    x, t = rng.standard_normal((3, 4)), np.full(3, -100)
    g = F.cross_entropy(gradwise.tensor(x, requires_grad=True), gradwise.tensor(t))
    assert np.isnan(g.item()) and np.isnan(TF.cross_entropy(torch.tensor(x), torch.tensor(t)).item())


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
def test_nll_loss(reduction, weighted):
    x = np.log(rng.dirichlet(np.ones(5), size=6))
    t = targets(6, 5, ignore=-100)
    w = rng.uniform(0.5, 2, 5)
    if weighted:
        run_both(lambda x, t, w: F.nll_loss(x, t, w, reduction=reduction),
                 lambda x, t, w: TF.nll_loss(x, t, w, reduction=reduction), x, t, w, constant=(2,))
    else:
        run_both(lambda x, t: F.nll_loss(x, t, reduction=reduction),
                 lambda x, t: TF.nll_loss(x, t, reduction=reduction), x, t)


def test_legacy_size_average_and_reduce_flags():
    x, t = rng.standard_normal((4, 3)), targets(4, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for size_average, reduce in ((False, None), (None, False), (True, True)):
            run_both(lambda x, t: F.cross_entropy(x, t, size_average=size_average, reduce=reduce),
                     lambda x, t: TF.cross_entropy(x, t, size_average=size_average, reduce=reduce), x, t)
    with pytest.raises(ValueError, match="not a valid value for reduction"):
        F.cross_entropy(gradwise.tensor(x), gradwise.tensor(t), reduction="avg")


def test_cross_entropy_out_of_range_class_error():
    x, t = gradwise.randn(4, 10), gradwise.tensor([1, 12, 3, 0])
    with pytest.raises(IndexError) as info:
        F.cross_entropy(x, t)
    message = str(info.value)
    for part in ("12", "10 classes", "(4, 10)", "(4,)"):
        assert part in message
    with pytest.raises(IndexError, match="-1"):
        F.cross_entropy(x, gradwise.tensor([1, -1, 3, 0]))


def test_cross_entropy_float_targets_where_indices_expected():
    with pytest.raises(RuntimeError) as info:
        F.cross_entropy(gradwise.randn(4, 10), gradwise.tensor([1.0, 2.0, 3.0, 0.0]))
    message = str(info.value)
    assert "int64 class indices" in message and "probabilities with the input's shape (4, 10)" in message


def test_cross_entropy_target_shape_and_weight_errors():
    with pytest.raises(RuntimeError, match=r"target of shape \(3,\) does not fit input of shape \(4, 10\)"):
        F.cross_entropy(gradwise.randn(4, 10), gradwise.tensor([1, 2, 3]))
    with pytest.raises(RuntimeError, match="must be floating point"):
        F.cross_entropy(gradwise.randn(4, 3), gradwise.zeros(4, 3, dtype=gradwise.int64))
    with pytest.raises(RuntimeError, match="weight tensor should be defined"):
        F.cross_entropy(gradwise.randn(4, 3), gradwise.tensor([0, 1, 2, 0]), weight=gradwise.ones(4))
    with pytest.raises(ValueError, match="label_smoothing"):
        F.cross_entropy(gradwise.randn(4, 3), gradwise.tensor([0, 1, 2, 0]), label_smoothing=1.5)


def test_cross_entropy_double_backward():
    x, t = rng.standard_normal((5, 4)), targets(5, 4)
    results = []
    for lib, fn in ((gradwise, F), (torch, TF)):
        xt = lib.tensor(x, requires_grad=True)
        loss = fn.cross_entropy(xt * xt, lib.tensor(t), label_smoothing=0.1)
        (g,) = (gradwise.autograd.grad if lib is gradwise else torch.autograd.grad)(loss, [xt], create_graph=True)
        (g * g).sum().backward()
        results.append(xt.grad.numpy())
    np.testing.assert_allclose(results[0], results[1], atol=1e-10)


# ---------------------------------------------------------------------------- regression losses
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name", ["mse_loss", "l1_loss"])
def test_mse_l1(name, reduction):
    x, y, w = rng.standard_normal((4, 3, 2)), rng.standard_normal((4, 3, 2)), rng.uniform(0.1, 1, (4, 3, 2))
    y[0, 0, 0] = x[0, 0, 0]  # |x - y| at 0: both use gradient 0
    run_both(lambda x, y: getattr(F, name)(x, y, reduction=reduction),
             lambda x, y: getattr(TF, name)(x, y, reduction=reduction), x, y)
    run_both(lambda x, y, w: getattr(F, name)(x, y, reduction=reduction, weight=w),
             lambda x, y, w: getattr(TF, name)(x, y, reduction=reduction, weight=w), x, y, w)


def test_mse_shape_mismatch_warns_or_raises():
    x, y = rng.standard_normal((5, 1)), rng.standard_normal(5)
    with pytest.warns(UserWarning, match="different to the input size"):
        g = F.mse_loss(gradwise.tensor(x), gradwise.tensor(y))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t = TF.mse_loss(torch.tensor(x), torch.tensor(y))
    np.testing.assert_allclose(g.item(), t.item())  # broadcasting as torch, after warning
    with pytest.raises(RuntimeError, match=r"\(5, 2\) and target of shape \(3,\)"):
        F.mse_loss(gradwise.randn(5, 2), gradwise.randn(3))
    with pytest.raises(ValueError, match="same size"):
        F.mse_loss(gradwise.randn(5), gradwise.randn(5), weight=gradwise.ones(4))


# ---------------------------------------------------------------------------- binary cross entropy
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_binary_cross_entropy(reduction):
    x, y = rng.uniform(0.01, 0.99, (6, 3)), rng.uniform(size=(6, 3))
    w = rng.uniform(0.5, 2, 3)
    run_both(lambda x, y: F.binary_cross_entropy(x, y, reduction=reduction),
             lambda x, y: TF.binary_cross_entropy(x, y, reduction=reduction), x, y)
    run_both(lambda x, y, w: F.binary_cross_entropy(x, y, w, reduction=reduction),
             lambda x, y, w: TF.binary_cross_entropy(x, y, w, reduction=reduction), x, y, w, constant=(2,))


def test_binary_cross_entropy_at_0_and_1_is_finite_like_torch():
    x, y = np.array([0.0, 1.0, 0.0, 1.0, 0.5]), np.array([0.0, 1.0, 1.0, 0.0, 1.0])
    gx, tx = gradwise.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    gl, tl = F.binary_cross_entropy(gx, gradwise.tensor(y)), TF.binary_cross_entropy(tx, torch.tensor(y))
    np.testing.assert_allclose(gl.item(), tl.item())
    gl.backward()
    tl.backward()
    np.testing.assert_allclose(gx.grad.numpy(), tx.grad.numpy(), rtol=1e-8)  # torch's 1e-12 guard is a float32 constant


def test_binary_cross_entropy_errors():
    with pytest.raises(ValueError, match=r"target size \(\(4,\)\) that is different to the input size \(\(4, 1\)\)"):
        F.binary_cross_entropy(gradwise.rand(4, 1), gradwise.rand(4))
    with pytest.raises(RuntimeError, match="between 0 and 1"):
        F.binary_cross_entropy(gradwise.tensor([0.5, 1.5]), gradwise.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match="must be the same as input size"):
        F.binary_cross_entropy_with_logits(gradwise.randn(4, 1), gradwise.rand(4))


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_binary_cross_entropy_with_logits(reduction):
    x, y = rng.standard_normal((5, 3)) * 4, rng.uniform(size=(5, 3))
    x[0, 0], x[0, 1], x[0, 2] = 0.0, 60.0, -60.0
    w, pw = rng.uniform(0.5, 2, 3), rng.uniform(0.5, 3, 3)
    run_both(lambda x, y: F.binary_cross_entropy_with_logits(x, y, reduction=reduction),
             lambda x, y: TF.binary_cross_entropy_with_logits(x, y, reduction=reduction), x, y)
    run_both(lambda x, y, w, pw: F.binary_cross_entropy_with_logits(x, y, w, reduction=reduction, pos_weight=pw),
             lambda x, y, w, pw: TF.binary_cross_entropy_with_logits(x, y, w, reduction=reduction, pos_weight=pw),
             x, y, w, pw, constant=(2, 3))


def test_pos_weight_gradient_against_finite_differences():
    """PyTorch gives no gradient for pos_weight; gradwise's is checked numerically."""
    x, y, pw = rng.standard_normal((4, 3)), rng.uniform(size=(4, 3)), rng.uniform(0.5, 2, 3)
    p = gradwise.tensor(pw, requires_grad=True)
    F.binary_cross_entropy_with_logits(gradwise.tensor(x), gradwise.tensor(y), pos_weight=p).backward()
    loss = lambda q: F.binary_cross_entropy_with_logits(gradwise.tensor(x), gradwise.tensor(y),  # noqa: E731
                                                        pos_weight=gradwise.tensor(q)).item()
    eye = np.eye(3) * 1e-6
    numeric = [(loss(pw + e) - loss(pw - e)) / 2e-6 for e in eye]
    np.testing.assert_allclose(p.grad.numpy(), numeric, atol=1e-8)


# ---------------------------------------------------------------------------- modules
def test_loss_modules_match_torch():
    x, t = rng.standard_normal((6, 4)), targets(6, 4, ignore=1)
    w = rng.uniform(0.5, 2, 4)
    p, y = rng.uniform(0.05, 0.95, (6, 4)), rng.uniform(size=(6, 4))
    cases = [
        ("CrossEntropyLoss", {"weight": w, "ignore_index": 1, "label_smoothing": 0.1}, x, t),
        ("CrossEntropyLoss", {"reduction": "sum"}, x, t),
        ("NLLLoss", {"weight": w, "reduction": "none"}, x, t),
        ("MSELoss", {"reduction": "sum"}, x, y),
        ("L1Loss", {}, x, y),
        ("BCELoss", {"weight": w}, p, y),
        ("BCEWithLogitsLoss", {"pos_weight": w, "weight": w}, x, y),
    ]
    for name, kwargs, a, b in cases:
        g_kwargs = {k: gradwise.tensor(v) if isinstance(v, np.ndarray) else v for k, v in kwargs.items()}
        t_kwargs = {k: torch.tensor(v) if isinstance(v, np.ndarray) else v for k, v in kwargs.items()}
        g_loss, t_loss = getattr(nn, name)(**g_kwargs), getattr(torch.nn, name)(**t_kwargs)
        assert repr(g_loss) == repr(t_loss)
        assert list(g_loss.state_dict()) == list(t_loss.state_dict())
        run_both(g_loss, t_loss, a, b)
