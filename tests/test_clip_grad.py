"""gradwise.nn.utils.clip_grad_norm_ / clip_grad_value_ against torch.nn.utils."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import gradwise
from gradwise.nn import Parameter
from gradwise.nn.utils import clip_grad_norm_, clip_grad_value_, get_total_norm

SHAPES = [(4, 3), (3,), (2, 2, 2)]


def _pair(scale=1.0, dtype=np.float64, seed=0):
    """The same parameters and gradients in gradwise and torch (last one without a gradient)."""
    rng = np.random.default_rng(seed)
    g_params, t_params = [], []
    for shape in SHAPES + [(2,)]:
        value = rng.normal(size=shape).astype(dtype)
        g_params.append(Parameter(gradwise.tensor(value.copy())))
        t_params.append(torch.nn.Parameter(torch.tensor(value.copy())))
    for g, t in zip(g_params[:-1], t_params[:-1]):
        grad = (scale * rng.normal(size=g.shape)).astype(dtype)
        g.grad = gradwise.tensor(grad.copy())
        t.grad = torch.tensor(grad.copy())
    return g_params, t_params


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, 0.5, float("inf")])
@pytest.mark.parametrize("max_norm", [0.5, 1e3])
def test_clip_grad_norm_matches_torch(norm_type, max_norm, dtype):
    g_params, t_params = _pair(scale=2.0, dtype=dtype)
    g_total = clip_grad_norm_(g_params, max_norm, norm_type=norm_type)
    t_total = torch.nn.utils.clip_grad_norm_(t_params, max_norm, norm_type=norm_type, foreach=False)
    assert isinstance(g_total, gradwise.Tensor) and g_total.dtype == dtype and g_total.shape == ()
    rtol = 1e-6 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(g_total.item(), t_total.item(), rtol=rtol)
    for g, t in zip(g_params, t_params):
        if t.grad is None:
            assert g.grad is None
        else:
            np.testing.assert_allclose(g.grad.numpy(), t.grad.numpy(), rtol=rtol)


def test_clipped_norm_is_max_norm_and_small_gradients_are_untouched():
    g_params, _ = _pair(scale=10.0)
    clip_grad_norm_(g_params, 1.0)
    assert abs(get_total_norm([p.grad for p in g_params if p.grad is not None]).item() - 1.0) < 1e-5
    g_params, _ = _pair(scale=1e-3)
    before = [p.grad.numpy().copy() for p in g_params if p.grad is not None]
    clip_grad_norm_(g_params, 1.0)
    for b, p in zip(before, g_params):
        assert np.array_equal(b, p.grad.numpy())


def test_single_tensor_and_generator_inputs():
    g_params, t_params = _pair(scale=3.0)
    g_total = clip_grad_norm_(g_params[0], 0.1)
    t_total = torch.nn.utils.clip_grad_norm_(t_params[0], 0.1)
    np.testing.assert_allclose(g_total.item(), t_total.item(), rtol=1e-12)
    g_total = clip_grad_norm_((p for p in g_params), 0.1)
    assert g_total.item() > 0
    with pytest.warns(UserWarning, match="empty generator"):
        assert clip_grad_norm_((p for p in []), 1.0).item() == 0.0


def test_error_if_nonfinite():
    g_params, _ = _pair()
    g_params[0].grad._data[0, 0] = np.inf
    with pytest.raises(RuntimeError, match="non-finite"):
        clip_grad_norm_(g_params, 1.0, error_if_nonfinite=True)
    total = clip_grad_norm_(g_params, 1.0)  # allowed when not asked to raise, as torch
    assert not np.isfinite(total.item())


@pytest.mark.parametrize("clip_value", [0.1, 0.5, 10.0])
def test_clip_grad_value_matches_torch(clip_value):
    g_params, t_params = _pair(scale=1.0)
    assert clip_grad_value_(g_params, clip_value) is None
    torch.nn.utils.clip_grad_value_(t_params, clip_value, foreach=False)
    for g, t in zip(g_params, t_params):
        if t.grad is not None:
            np.testing.assert_array_equal(g.grad.numpy(), t.grad.numpy())
            assert np.abs(g.grad.numpy()).max() <= clip_value


def test_clipping_in_a_training_step():
    w = Parameter(gradwise.tensor(np.array([3.0, 4.0])))
    (w * w).sum().backward()  # gradient (6, 8), norm 10
    total = clip_grad_norm_([w], max_norm=5.0)
    assert total.item() == pytest.approx(10.0)
    np.testing.assert_allclose(w.grad.numpy(), [3.0, 4.0], rtol=1e-6)
