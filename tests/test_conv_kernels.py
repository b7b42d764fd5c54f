"""Conv and pool NumPy kernels against PyTorch (float64), plus dtype/error checks."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gradwise.ops.conv_kernels import conv2d_backward, conv2d_forward
from gradwise.ops.pool_kernels import (
    avg_pool2d_backward,
    avg_pool2d_forward,
    max_pool2d_backward,
    max_pool2d_forward,
)

TOL64 = dict(rtol=1e-10, atol=1e-10)
HYPOTHESIS = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)


def in_layout(a: np.ndarray, layout: str) -> np.ndarray:
    """Same values as ``a`` (NCHW logical) with a different memory layout."""
    if layout == "nchw":
        return np.ascontiguousarray(a)
    if layout == "chwn":  # batch innermost, what the conv kernels produce for short rows
        return np.ascontiguousarray(a.transpose(1, 2, 3, 0)).transpose(3, 0, 1, 2)
    if layout == "cnhw":  # channel major, what the conv kernels produce for long rows
        return np.ascontiguousarray(a.transpose(1, 0, 2, 3)).transpose(1, 0, 2, 3)
    if layout == "strided":  # a non-contiguous slice of a bigger array
        big = np.zeros((a.shape[0], a.shape[1], a.shape[2] * 2, a.shape[3] + 3), dtype=a.dtype)
        view = big[:, :, ::2, 1 : 1 + a.shape[3]]
        view[...] = a
        return view
    raise AssertionError(layout)


# --------------------------------------------------------------------------
# conv2d
# --------------------------------------------------------------------------


def check_conv(
    n, c_in, h, w, c_out, kh, kw, stride, padding, dilation, groups,
    bias=True, layout="nchw", grad_layout="nchw", seed=0,
):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c_in, h, w))
    wt = rng.standard_normal((c_out, c_in // groups, kh, kw))
    b = rng.standard_normal(c_out) if bias else None

    out, ctx = conv2d_forward(in_layout(x, layout), wt, b, stride, padding, dilation, groups)

    x_t = torch.tensor(x, requires_grad=True)
    w_t = torch.tensor(wt, requires_grad=True)
    b_t = torch.tensor(b, requires_grad=True) if bias else None
    out_t = F.conv2d(x_t, w_t, b_t, stride, padding, dilation, groups)
    np.testing.assert_allclose(out, out_t.detach().numpy(), **TOL64)

    g = rng.standard_normal(out.shape)
    out_t.backward(torch.tensor(g))
    dx, dw, db = conv2d_backward(in_layout(g, grad_layout), ctx)
    np.testing.assert_allclose(dx, x_t.grad.numpy(), **TOL64)
    np.testing.assert_allclose(dw, w_t.grad.numpy(), **TOL64)
    if bias:
        np.testing.assert_allclose(db, b_t.grad.numpy(), **TOL64)
    assert dx.shape == x.shape and dw.shape == wt.shape


CONV_CASES = [
    # n, c_in, h, w, c_out, kh, kw, stride, padding, dilation, groups
    (2, 3, 32, 32, 6, 5, 5, (1, 1), (0, 0), (1, 1), 1),  # the CIFAR net's conv1
    (2, 6, 14, 14, 16, 5, 5, (1, 1), (0, 0), (1, 1), 1),  # ... and conv2
    (1, 1, 7, 9, 1, 3, 3, (1, 1), (1, 1), (1, 1), 1),  # batch 1, odd sizes
    (3, 2, 11, 13, 4, 3, 2, (2, 3), (2, 1), (1, 2), 1),  # mixed everything
    (2, 4, 9, 9, 6, 1, 1, (1, 1), (0, 0), (1, 1), 1),  # 1x1
    (2, 4, 9, 8, 6, 1, 1, (2, 2), (1, 0), (1, 1), 2),  # strided 1x1, pad, groups
    (2, 6, 10, 10, 6, 3, 3, (1, 1), (1, 1), (1, 1), 3),  # groups 3
    (2, 6, 10, 10, 6, 3, 3, (1, 1), (1, 1), (1, 1), 6),  # depthwise
    (2, 4, 12, 12, 8, 3, 3, (3, 3), (2, 2), (2, 2), 2),  # stride 3, dilation 2, groups 2
    (1, 3, 5, 5, 2, 5, 5, (1, 1), (0, 0), (1, 1), 1),  # kernel == input: 1x1 output
    (2, 2, 6, 20, 3, 2, 4, (1, 1), (0, 2), (2, 1), 1),  # wide rows (batch-outer order)
    (2, 3, 8, 30, 3, 3, 3, (2, 1), (1, 1), (1, 1), 3),  # wide rows with padding + groups
    (2, 2, 7, 7, 3, 3, 3, (3, 3), (0, 0), (1, 1), 1),  # stride leaves unused trailing rows
]


@pytest.mark.parametrize("case", CONV_CASES)
def test_conv2d_matches_torch(case):
    check_conv(*case)


@pytest.mark.parametrize("layout", ["chwn", "cnhw", "strided"])
@pytest.mark.parametrize("grad_layout", ["nchw", "chwn", "strided"])
def test_conv2d_any_memory_layout(layout, grad_layout):
    check_conv(2, 4, 9, 9, 6, 3, 3, (1, 1), (1, 1), (1, 1), 2, layout=layout, grad_layout=grad_layout)
    check_conv(2, 3, 6, 21, 4, 3, 3, (1, 2), (0, 0), (1, 1), 1, layout=layout, grad_layout=grad_layout)


@pytest.mark.parametrize("layout", ["nchw", "chwn"])
def test_conv2d_unfold_in_many_pieces(monkeypatch, layout):
    """Tiny unfold pieces: every chunk boundary must still give exact results."""
    import gradwise.ops.conv_kernels as kernels

    monkeypatch.setattr(kernels, "_CHUNK_BYTES", 1)  # one output row / image per piece
    check_conv(3, 4, 9, 20, 6, 3, 3, (1, 1), (1, 1), (1, 1), 2, layout=layout)
    check_conv(3, 2, 9, 9, 4, 3, 2, (2, 1), (0, 1), (1, 2), 1, layout=layout)


def test_conv2d_without_bias():
    check_conv(2, 3, 8, 8, 4, 3, 3, (1, 1), (1, 1), (1, 1), 1, bias=False)


@HYPOTHESIS
@given(
    n=st.integers(1, 3),
    c_g=st.integers(1, 3),
    co_g=st.integers(1, 3),
    groups=st.sampled_from([1, 2, 3]),
    h=st.integers(1, 12),
    w=st.integers(1, 24),
    kh=st.integers(1, 4),
    kw=st.integers(1, 4),
    sh=st.integers(1, 3),
    sw=st.integers(1, 3),
    ph=st.integers(0, 2),
    pw=st.integers(0, 2),
    dh=st.integers(1, 2),
    dw=st.integers(1, 2),
    layout=st.sampled_from(["nchw", "chwn", "strided"]),
)
def test_conv2d_random_shapes(n, c_g, co_g, groups, h, w, kh, kw, sh, sw, ph, pw, dh, dw, layout):
    fits = h + 2 * ph >= dh * (kh - 1) + 1 and w + 2 * pw >= dw * (kw - 1) + 1
    if not fits:
        x = np.zeros((n, c_g * groups, h, w))
        wt = np.zeros((co_g * groups, c_g, kh, kw))
        with pytest.raises(ValueError, match="conv2d"):
            conv2d_forward(x, wt, None, (sh, sw), (ph, pw), (dh, dw), groups)
        return
    check_conv(
        n, c_g * groups, h, w, co_g * groups, kh, kw, (sh, sw), (ph, pw), (dh, dw), groups,
        layout=layout, grad_layout=layout,
    )


def test_conv2d_chained_layers():
    """Outputs (non-contiguous views) fed to the next conv, gradients back through both."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((3, 3, 20, 20))
    w1, b1 = rng.standard_normal((4, 3, 3, 3)), rng.standard_normal(4)
    w2, b2 = rng.standard_normal((5, 4, 3, 3)), rng.standard_normal(5)
    y1, ctx1 = conv2d_forward(x, w1, b1, (1, 1), (0, 0), (1, 1), 1)  # 18-wide rows
    a1 = np.tanh(y1)
    y2, ctx2 = conv2d_forward(a1, w2, b2, (2, 2), (1, 1), (1, 1), 1)  # 9-wide rows
    g2 = rng.standard_normal(y2.shape)
    da1, dw2, _ = conv2d_backward(g2, ctx2)
    dx, dw1, _ = conv2d_backward(da1 * (1 - a1**2), ctx1)

    xt = torch.tensor(x, requires_grad=True)
    w1t, w2t = torch.tensor(w1, requires_grad=True), torch.tensor(w2, requires_grad=True)
    y2t = F.conv2d(torch.tanh(F.conv2d(xt, w1t, torch.tensor(b1))), w2t, torch.tensor(b2), 2, 1)
    y2t.backward(torch.tensor(g2))
    np.testing.assert_allclose(y2, y2t.detach().numpy(), **TOL64)
    np.testing.assert_allclose(dx, xt.grad.numpy(), **TOL64)
    np.testing.assert_allclose(dw1, w1t.grad.numpy(), **TOL64)
    np.testing.assert_allclose(dw2, w2t.grad.numpy(), **TOL64)


def test_conv2d_need_flags_skip_work():
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((2, 3, 8, 8)), rng.standard_normal((4, 3, 3, 3))
    out, ctx = conv2d_forward(x, w, None, (1, 1), (0, 0), (1, 1), 1)
    g = np.ones(out.shape)
    assert conv2d_backward(g, ctx, False, False, False) == (None, None, None)
    dx, dw, db = conv2d_backward(g, ctx, need_input_grad=False)
    assert dx is None and dw is not None and db is not None
    dx, dw, db = conv2d_backward(g, ctx, need_weight_grad=False, need_bias_grad=False)
    assert dx is not None and dw is None and db is None


def test_conv2d_float32_preserved_and_close_to_torch():
    rng = np.random.default_rng(0)
    for n, c, h, co, k, pad, groups in [(4, 3, 32, 6, 5, 0, 1), (4, 6, 14, 16, 5, 1, 2)]:
        x = rng.standard_normal((n, c, h, h), dtype=np.float32)
        w = rng.standard_normal((co, c // groups, k, k), dtype=np.float32)
        b = rng.standard_normal(co, dtype=np.float32)
        out, ctx = conv2d_forward(x, w, b, (1, 1), (pad, pad), (1, 1), groups)
        g = rng.standard_normal(out.shape, dtype=np.float32)
        dx, dw, db = conv2d_backward(g, ctx)
        assert {a.dtype for a in (out, dx, dw, db)} == {np.dtype(np.float32)}
        xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
        out_t = F.conv2d(xt, wt, bt, 1, pad, 1, groups)
        out_t.backward(torch.tensor(g))
        np.testing.assert_allclose(out, out_t.detach().numpy(), rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(dw, wt.grad.numpy(), rtol=1e-4, atol=1e-3)
        np.testing.assert_allclose(db, bt.grad.numpy(), rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize(
    "x_shape, w_shape, kwargs, fragment",
    [
        ((1, 3, 4, 4), (2, 3, 5, 5), {}, "larger than the padded input"),
        ((1, 3, 4, 4), (2, 3, 3, 3), dict(dilation=(2, 2)), "larger than the padded input"),
        ((1, 4, 8, 8), (2, 3, 3, 3), {}, "channels"),
        ((1, 4, 8, 8), (3, 2, 3, 3), dict(groups=2), "groups"),
        ((3, 8, 8), (2, 3, 3, 3), {}, "4-D"),
    ],
)
def test_conv2d_shape_errors(x_shape, w_shape, kwargs, fragment):
    with pytest.raises(ValueError, match="conv2d") as err:
        conv2d_forward(np.zeros(x_shape), np.zeros(w_shape), None, **kwargs)
    assert fragment in str(err.value)


def test_conv2d_dtype_mismatch_is_an_error():
    with pytest.raises(ValueError, match="conv2d"):
        conv2d_forward(np.zeros((1, 1, 4, 4), np.float32), np.zeros((1, 1, 3, 3)), None)


# --------------------------------------------------------------------------
# pooling
# --------------------------------------------------------------------------


def check_max_pool(x, kernel, stride, padding, dilation, ceil_mode, layout="nchw", seed=0):
    out, ctx = max_pool2d_forward(in_layout(x, layout), kernel, stride, padding, dilation, ceil_mode)
    x_t = torch.tensor(x, requires_grad=True)
    out_t = F.max_pool2d(x_t, kernel, stride, padding, dilation, ceil_mode)
    np.testing.assert_allclose(out, out_t.detach().numpy(), **TOL64)
    g = np.random.default_rng(seed).standard_normal(out.shape)
    out_t.backward(torch.tensor(g))
    dx = max_pool2d_backward(g, ctx)
    np.testing.assert_allclose(dx, x_t.grad.numpy(), **TOL64)
    assert dx.shape == x.shape


def check_avg_pool(x, kernel, stride, padding, ceil_mode, count_include_pad, divisor_override=None, layout="nchw"):
    out, ctx = avg_pool2d_forward(
        in_layout(x, layout), kernel, stride, padding, ceil_mode, count_include_pad, divisor_override
    )
    x_t = torch.tensor(x, requires_grad=True)
    out_t = F.avg_pool2d(x_t, kernel, stride, padding, ceil_mode, count_include_pad, divisor_override)
    np.testing.assert_allclose(out, out_t.detach().numpy(), **TOL64)
    g = np.random.default_rng(1).standard_normal(out.shape)
    out_t.backward(torch.tensor(g))
    dx = avg_pool2d_backward(g, ctx)
    np.testing.assert_allclose(dx, x_t.grad.numpy(), **TOL64)


POOL_CASES = [
    # shape, kernel, stride, padding, dilation, ceil_mode
    ((2, 3, 28, 28), (2, 2), (2, 2), (0, 0), (1, 1), False),  # fast path (CIFAR net)
    ((1, 2, 8, 12), (2, 3), (2, 3), (0, 0), (1, 1), True),  # fast path, rectangular
    ((2, 2, 7, 7), (2, 2), (2, 2), (0, 0), (1, 1), False),  # odd size: last row dropped
    ((2, 2, 7, 7), (2, 2), (2, 2), (0, 0), (1, 1), True),  # odd size + ceil: partial windows
    ((2, 3, 9, 11), (3, 3), (2, 2), (1, 1), (1, 1), False),  # overlapping with padding
    ((2, 3, 9, 11), (3, 3), (2, 2), (1, 1), (1, 1), True),
    ((1, 2, 10, 9), (3, 2), (1, 2), (1, 0), (2, 1), False),  # dilation
    ((1, 2, 10, 9), (3, 3), (3, 3), (1, 1), (2, 2), True),  # dilation + ceil
    ((2, 1, 5, 5), (1, 1), (2, 2), (0, 0), (1, 1), False),  # 1x1 subsampling
    ((1, 1, 6, 6), (4, 4), (1, 1), (2, 2), (1, 1), True),  # maximal padding
]


@pytest.mark.parametrize("case", POOL_CASES)
@pytest.mark.parametrize("layout", ["nchw", "chwn"])
def test_max_pool2d_matches_torch(case, layout):
    shape, kernel, stride, padding, dilation, ceil_mode = case
    x = np.random.default_rng(0).standard_normal(shape)
    check_max_pool(x, kernel, stride, padding, dilation, ceil_mode, layout)


@pytest.mark.parametrize("case", [c for c in POOL_CASES if c[4] == (1, 1)])  # no dilation
@pytest.mark.parametrize("count_include_pad", [True, False])
def test_avg_pool2d_matches_torch(case, count_include_pad):
    shape, kernel, stride, padding, _, ceil_mode = case
    x = np.random.default_rng(0).standard_normal(shape)
    check_avg_pool(x, kernel, stride, padding, ceil_mode, count_include_pad, layout="cnhw")


@pytest.mark.parametrize("divisor", [1, 3, 7])
def test_avg_pool2d_divisor_override(divisor):
    x = np.random.default_rng(0).standard_normal((2, 2, 9, 9))
    check_avg_pool(x, (3, 3), (2, 2), (1, 1), True, False, divisor_override=divisor)


@HYPOTHESIS
@given(
    n=st.integers(1, 2),
    c=st.integers(1, 3),
    h=st.integers(1, 12),
    w=st.integers(1, 12),
    kh=st.integers(1, 4),
    kw=st.integers(1, 4),
    sh=st.integers(1, 3),
    sw=st.integers(1, 3),
    ph=st.integers(0, 2),
    pw=st.integers(0, 2),
    dh=st.integers(1, 2),
    dw=st.integers(1, 2),
    ceil_mode=st.booleans(),
    count_include_pad=st.booleans(),
    ties=st.booleans(),
    layout=st.sampled_from(["nchw", "chwn", "strided"]),
)
def test_pools_random_shapes(n, c, h, w, kh, kw, sh, sw, ph, pw, dh, dw, ceil_mode, count_include_pad, ties, layout):
    x = np.random.default_rng(h * 100 + w).standard_normal((n, c, h, w))
    if ties:
        x = np.round(x)  # many equal values in a window
    args = ((kh, kw), (sh, sw), (ph, pw))
    try:
        F.max_pool2d(torch.tensor(x), *args, (dh, dw), ceil_mode)
    except RuntimeError:  # PyTorch rejects it: so must we
        with pytest.raises(ValueError, match="max_pool2d"):
            max_pool2d_forward(x, *args, (dh, dw), ceil_mode)
    else:
        check_max_pool(x, *args, (dh, dw), ceil_mode, layout)
    try:
        F.avg_pool2d(torch.tensor(x), *args, ceil_mode, count_include_pad)
    except RuntimeError:
        with pytest.raises(ValueError, match="avg_pool2d"):
            avg_pool2d_forward(x, *args, ceil_mode, count_include_pad)
    else:
        check_avg_pool(x, *args, ceil_mode, count_include_pad, layout=layout)


@pytest.mark.parametrize("kernel, stride, padding", [(2, 2, 0), (3, 2, 1), (3, 1, 1)])
def test_max_pool2d_ties_route_gradient_to_first_max(kernel, stride, padding):
    """All-equal windows: PyTorch sends each output's gradient to the window's first element."""
    x = np.ones((1, 2, 6, 6))
    x[0, 1, ::2, ::2] = 2.0  # a second channel with several tied maxima per window
    check_max_pool(x, kernel, stride, padding, 1, False)
    out, ctx = max_pool2d_forward(x, kernel, stride, padding, 1, False)
    dx = max_pool2d_backward(np.ones(out.shape), ctx)
    if (kernel, stride, padding) == (2, 2, 0):
        expected = np.zeros((6, 6))
        expected[::2, ::2] = 1.0  # top-left of each 2x2 window
        np.testing.assert_array_equal(dx[0, 0], expected)


def test_max_pool2d_nan_propagates_like_torch():
    x = np.random.default_rng(0).standard_normal((1, 1, 4, 4))
    x[0, 0, 0, 1] = np.nan
    x[0, 0, 3, 2] = np.nan
    x[0, 0, 2, 3] = np.nan
    check_max_pool(x, 2, 2, 0, 1, False)


def test_pool_fast_path_preserves_layout_and_float32():
    rng = np.random.default_rng(0)
    x = in_layout(rng.standard_normal((4, 3, 8, 8)).astype(np.float32), "chwn")
    for forward, backward in [(max_pool2d_forward, max_pool2d_backward), (avg_pool2d_forward, avg_pool2d_backward)]:
        out, ctx = forward(x, 2, 2)
        assert out.dtype == np.float32
        assert out.transpose(1, 2, 3, 0).flags.c_contiguous  # same memory order as x
        dx = backward(np.ones_like(out), ctx)
        assert dx.dtype == np.float32 and dx.transpose(1, 2, 3, 0).flags.c_contiguous
    out, ctx = max_pool2d_forward(x, 3, 2, 1, 1, True)  # general path too
    assert out.dtype == np.float32 and max_pool2d_backward(np.ones_like(out), ctx).dtype == np.float32
    out, ctx = avg_pool2d_forward(x, 3, 2, 1, True, False)
    assert out.dtype == np.float32 and avg_pool2d_backward(np.ones_like(out), ctx).dtype == np.float32


@pytest.mark.parametrize(
    "shape, kwargs",
    [
        ((1, 1, 4, 4), dict(kernel_size=2, padding=2)),  # padding > kernel/2
        ((1, 1, 2, 2), dict(kernel_size=3)),  # window larger than input
        ((1, 4, 4), dict(kernel_size=2)),  # not 4-D
    ],
)
def test_pool_errors(shape, kwargs):
    with pytest.raises(ValueError, match="max_pool2d"):
        max_pool2d_forward(np.zeros(shape), **kwargs)
    with pytest.raises(ValueError, match="avg_pool2d"):
        avg_pool2d_forward(np.zeros(shape), **kwargs)
