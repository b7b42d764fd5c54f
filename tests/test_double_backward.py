"""Second and higher derivatives through conv2d, conv_transpose2d, max_pool2d and avg_pool2d,
against PyTorch in float64; and conv_transpose2d / nn.ConvTranspose2d themselves.

Double backward is checked three ways: Hessian-vector products of small CNN losses in their
parameters, the gradient of a gradient penalty (the squared norm of the input gradient), and
for single ops the full second-order map: the gradient of <grad(y; u), r> with respect to the
inputs and to the output gradient u itself (which exercises every adjoint op).
"""
import numpy as np
import pytest
import torch

import gradwise
import gradwise.nn as nn
import gradwise.nn.functional as F

TF = torch.nn.functional
rng = np.random.default_rng(7)


def _np(t):
    return None if t is None else t.detach().numpy()


def assert_close(ours, theirs, what, atol=1e-9, rtol=1e-9):
    """Compare lists of results; None (unused input) counts as zeros on either side."""
    for i, (a, b) in enumerate(zip(ours, theirs)):
        if a is None and b is None:
            continue
        if a is None or b is None:
            present = a if a is not None else b
            np.testing.assert_allclose(present, 0, atol=atol, err_msg=f"{what}: result {i} (other side None)")
            continue
        np.testing.assert_allclose(a, b, atol=atol, rtol=rtol, err_msg=f"{what}: result {i}")


# ------------------------------------------------------------------------------ small CNNs
# Each case: conv kwargs, weight shape, pool ("max"/"avg", kwargs), activation.
NET_CASES = {
    "plain-max": (dict(), (4, 3, 3, 3), ("max", dict(kernel_size=2)), "relu"),
    "stride2-pad1-avg": (dict(stride=2, padding=1), (4, 3, 3, 3), ("avg", dict(kernel_size=2)), "tanh"),
    "same-odd-max": (dict(padding="same"), (4, 3, 3, 3), ("max", dict(kernel_size=3, stride=2, padding=1)), "tanh"),
    "same-even-avg": (dict(padding="same"), (4, 3, 4, 2), ("avg", dict(kernel_size=3, stride=2, padding=1,
                                                                          count_include_pad=False)), "relu"),
    "dilation2-max": (dict(dilation=2, padding=1), (4, 3, 3, 3), ("max", dict(kernel_size=2, ceil_mode=True)),
                      "tanh"),
    "groups2-nobias-avg": (dict(groups=3, stride=(1, 2)), (6, 1, 3, 3), ("avg", dict(kernel_size=2, ceil_mode=True)),
                           "tanh"),
    "groups-dilation-stride": (dict(groups=3, dilation=(2, 1), stride=2, padding=(2, 1)), (6, 1, 3, 2),
                               ("max", dict(kernel_size=2, stride=1, dilation=(1, 2))), "tanh"),
}
NO_BIAS = {"groups2-nobias-avg"}


def _net(lib, fn, x, w, b, lw, lb, conv_kwargs, pool, act):
    """conv -> activation -> pool -> flatten -> linear -> a smooth scalar loss."""
    kind, pool_kwargs = pool
    y = fn.conv2d(x, w, b, **conv_kwargs)
    y = fn.relu(y) if act == "relu" else lib.tanh(y)
    y = fn.max_pool2d(y, **pool_kwargs) if kind == "max" else fn.avg_pool2d(y, **pool_kwargs)
    logits = fn.linear(y.flatten(1), lw, lb)
    return (lib.tanh(logits) ** 2).sum() + (logits ** 3).mean()


def _net_inputs(case):
    conv_kwargs, w_shape, pool, act = NET_CASES[case]
    x = rng.standard_normal((2, 3, 9, 10))
    w = rng.standard_normal(w_shape) * 0.4
    b = None if case in NO_BIAS else rng.standard_normal(w_shape[0]) * 0.1
    feats = TF.max_pool2d if pool[0] == "max" else TF.avg_pool2d
    with torch.no_grad():  # the pooled feature size, for the linear layer
        y = feats(TF.conv2d(torch.tensor(x), torch.tensor(w), None, **conv_kwargs), **pool[1])
    lw = rng.standard_normal((3, y[0].numel())) * 0.2
    lb = rng.standard_normal(3) * 0.1
    return (x, w, b, lw, lb), (conv_kwargs, pool, act)


def _both(arrays):
    ours = [None if a is None else gradwise.tensor(a, requires_grad=True) for a in arrays]
    theirs = [None if a is None else torch.tensor(a, requires_grad=True) for a in arrays]
    return ours, theirs


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")
@pytest.mark.parametrize("case", list(NET_CASES))
def test_cnn_hessian_vector_product(case):
    arrays, options = _net_inputs(case)
    vectors = [None if a is None else rng.standard_normal(a.shape) for a in arrays[1:]]
    results = []
    for lib, fn, tensors in zip((gradwise, torch), (F, TF), _both(arrays)):
        x, *params = tensors
        params = [p for p in params if p is not None]
        loss = _net(lib, fn, x, *tensors[1:], *options)
        grads = lib.autograd.grad(loss, params, create_graph=True)
        dot = sum((g * lib.tensor(v)).sum() for g, v in zip(grads, [v for v in vectors if v is not None]))
        hvp = lib.autograd.grad(dot, params)
        results.append([_np(h) for h in hvp] + [_np(g) for g in grads])
    assert_close(results[0], results[1], f"HVP {case}")


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")
@pytest.mark.parametrize("case", list(NET_CASES))
def test_cnn_gradient_penalty(case):
    """d/d(params, x) of ||d loss / d x||^2 (WGAN-GP style): differentiates conv's input
    gradient (a transposed convolution) in the weight and in the input."""
    arrays, options = _net_inputs(case)
    results = []
    for lib, fn, tensors in zip((gradwise, torch), (F, TF), _both(arrays)):
        x = tensors[0]
        params = [p for p in tensors[1:] if p is not None]
        loss = _net(lib, fn, x, *tensors[1:], *options)
        (gx,) = lib.autograd.grad(loss, x, create_graph=True)
        penalty = ((gx ** 2).sum() - 1.0) ** 2
        second = lib.autograd.grad(penalty, [x] + params, allow_unused=True)
        results.append([_np(gx)] + [_np(s) for s in second])
    assert_close(results[0], results[1], f"gradient penalty {case}", atol=1e-8)


@pytest.mark.filterwarnings(r"ignore:Using backward\(\) with create_graph=True")  # torch's own note
def test_cnn_hvp_with_backward_and_accumulated_grad():
    """The usual training-loop form: loss.backward(create_graph=True), then backward of a
    function of the .grad fields accumulates second derivatives into the leaves."""
    arrays, options = _net_inputs("stride2-pad1-avg")
    grads = []
    for lib, fn, tensors in zip((gradwise, torch), (F, TF), _both(arrays)):
        x, w, b, lw, lb = tensors
        _net(lib, fn, x, w, b, lw, lb, *options).backward(create_graph=True)
        gw = w.grad
        w.grad = None
        (gw ** 2).sum().backward()
        grads.append([_np(w.grad), _np(b.grad), _np(lw.grad)])
    assert_close(grads[0], grads[1], "backward(create_graph) then backward")


# ------------------------------------------------------------------------------ single ops
def _second_order(lib, op, tensors, u, r):
    """All second-order derivatives of op: grad of <d<y,u>/d inputs, r> w.r.t. inputs and u."""
    y = op(*tensors)
    wrt = [t for t in tensors if t is not None]
    firsts = lib.autograd.grad(y, wrt, grad_outputs=u, create_graph=True)
    inner = sum((g * lib.tensor(ri)).sum() for g, ri in zip(firsts, r))
    seconds = lib.autograd.grad(inner, wrt + [u], allow_unused=True)
    return [_np(y)] + [_np(g) for g in firsts] + [_np(s) for s in seconds]


def check_second_order(ours_op, torch_op, *arrays, atol=1e-9):
    ours, theirs = _both(arrays)
    with torch.no_grad():
        out_shape = torch_op(*[None if t is None else t.detach() for t in theirs]).shape
    u = rng.standard_normal(tuple(out_shape))
    r = [rng.standard_normal(a.shape) for a in arrays if a is not None]
    got = _second_order(gradwise, ours_op, ours, gradwise.tensor(u, requires_grad=True), r)
    want = _second_order(torch, torch_op, theirs, torch.tensor(u, requires_grad=True), r)
    assert_close(got, want, "second-order", atol=atol)


CONV_CASES = [
    ((2, 3, 9, 8), (4, 3, 3, 3), {}),
    ((2, 3, 9, 8), (4, 3, 3, 2), {"stride": 2, "padding": 1}),
    ((1, 2, 11, 10), (3, 2, 3, 3), {"stride": (2, 3), "padding": (2, 1), "dilation": (2, 1)}),
    ((2, 4, 7, 7), (6, 2, 3, 3), {"groups": 2, "padding": 1}),
    ((2, 4, 8, 7), (4, 1, 3, 3), {"groups": 4, "dilation": 2}),
    ((2, 3, 8, 7), (5, 3, 4, 2), {"padding": "same"}),
    ((2, 3, 9, 9), (5, 3, 2, 3), {"padding": "same", "dilation": 3}),
    ((3, 8, 8), (5, 3, 3, 3), {"padding": 1, "stride": 3}),  # unbatched
    ((2, 3, 5, 40), (4, 3, 3, 3), {"stride": 2}),  # long rows: the batch-outer kernel layout
]


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("x_shape,w_shape,kwargs", CONV_CASES)
def test_conv2d_second_order(x_shape, w_shape, kwargs, bias):
    x, w = rng.standard_normal(x_shape), rng.standard_normal(w_shape)
    b = rng.standard_normal(w_shape[0]) if bias else None
    check_second_order(lambda x, w, b: F.conv2d(x, w, b, **kwargs), lambda x, w, b: TF.conv2d(x, w, b, **kwargs),
                       x, w, b)


def test_conv2d_third_derivative():
    """Higher orders compose: d^3/dw^3 of sum(conv(x, w)^3) contracted with directions."""
    x, w = rng.standard_normal((2, 2, 7, 6)), rng.standard_normal((3, 2, 3, 3))
    v1, v2 = rng.standard_normal(w.shape), rng.standard_normal(w.shape)
    results = []
    for lib, fn in ((gradwise, F), (torch, TF)):
        xt, wt = lib.tensor(x, requires_grad=True), lib.tensor(w, requires_grad=True)
        y = fn.conv2d(xt, wt, stride=2, padding=1)
        (g1,) = lib.autograd.grad((y ** 3).sum(), wt, create_graph=True)
        (g2,) = lib.autograd.grad((g1 * lib.tensor(v1)).sum(), wt, create_graph=True)
        g3 = lib.autograd.grad((g2 * lib.tensor(v2)).sum(), [wt, xt])
        results.append([_np(g) for g in g3])
    assert_close(results[0], results[1], "third derivative", atol=1e-8)


POOL_CASES = [
    ("max", dict(kernel_size=2)),
    ("max", dict(kernel_size=3, stride=2, padding=1)),
    ("max", dict(kernel_size=(2, 3), stride=(1, 2), dilation=(2, 1), ceil_mode=True)),
    ("avg", dict(kernel_size=2)),
    ("avg", dict(kernel_size=3, stride=2, padding=1, count_include_pad=False)),
    ("avg", dict(kernel_size=(3, 2), stride=2, padding=(1, 0), ceil_mode=True)),
    ("avg", dict(kernel_size=2, stride=1, divisor_override=3)),
]


@pytest.mark.parametrize("kind,kwargs", POOL_CASES)
def test_pool_second_order(kind, kwargs):
    """The pools' backward is linear in the output gradient: its derivative in u is the
    adjoint (gather / window mean); the derivative in x is zero (None in torch)."""
    x = rng.standard_normal((2, 3, 9, 8))
    ours = (lambda x: F.max_pool2d(x, **kwargs)) if kind == "max" else (lambda x: F.avg_pool2d(x, **kwargs))
    theirs = (lambda x: TF.max_pool2d(x, **kwargs)) if kind == "max" else (lambda x: TF.avg_pool2d(x, **kwargs))
    check_second_order(ours, theirs, x)


@pytest.mark.parametrize("output_size", [(3, 2), (4, 3)])  # tiled (9x8 input -> 3x2) and overlapping windows
def test_adaptive_avg_pool_second_order(output_size):
    x = rng.standard_normal((2, 3, 9, 8))
    check_second_order(lambda x: F.adaptive_avg_pool2d(x, output_size),
                       lambda x: TF.adaptive_avg_pool2d(x, output_size), x)


def test_pool_third_order_round_trip():
    """scatter -> gather -> scatter: a third derivative through max and average pooling."""
    x = rng.standard_normal((2, 2, 8, 8))
    u0 = rng.standard_normal((2, 2, 4, 4))
    r0 = rng.standard_normal((2, 2, 8, 8))
    s0 = rng.standard_normal((2, 2, 4, 4))
    out = []
    for lib, fn in ((gradwise, F), (torch, TF)):
        xt = lib.tensor(x, requires_grad=True)
        u = lib.tensor(u0, requires_grad=True)
        y = fn.max_pool2d(xt, 3, 2, 1) + fn.avg_pool2d(xt, 3, 2, 1)
        (gx,) = lib.autograd.grad(y, xt, grad_outputs=u, create_graph=True)
        (gu,) = lib.autograd.grad((gx * lib.tensor(r0)).sum(), u, create_graph=True)
        (gr,) = lib.autograd.grad((gu * lib.tensor(s0)).sum() * (u ** 2).sum(), u)
        out.append([_np(gx), _np(gu), _np(gr)])
    assert_close(out[0], out[1], "pool third order")


def test_first_order_backward_records_nothing():
    """Without create_graph the fast kernels run and the gradients carry no graph."""
    x = gradwise.randn(2, 3, 8, 8, requires_grad=True)
    w = gradwise.randn(4, 3, 3, 3, requires_grad=True)
    y = F.avg_pool2d(F.max_pool2d(F.conv2d(x, w, padding=1), 2), 2)
    gx, gw = gradwise.autograd.grad(y.sum(), (x, w))
    assert gx.grad_fn is None and gw.grad_fn is None and not gx.requires_grad


def test_float32_double_backward_stays_float32():
    x = gradwise.randn(2, 3, 8, 8, requires_grad=True)
    w = gradwise.randn(4, 3, 3, 3, requires_grad=True)
    y = F.max_pool2d(F.conv2d(x, w, padding=1), 2)
    (gx,) = gradwise.autograd.grad((y ** 2).sum(), x, create_graph=True)
    (gw,) = gradwise.autograd.grad((gx ** 2).sum(), w)
    assert gx.dtype == gradwise.float32 and gw.dtype == gradwise.float32


# ------------------------------------------------------------------------------ conv_transpose2d
CONVT_CASES = [
    ((2, 4, 5, 6), (4, 3, 3, 3), {}),
    ((2, 4, 5, 6), (4, 3, 3, 3), {"stride": 2, "padding": 1, "output_padding": 1}),
    ((1, 3, 4, 7), (3, 2, 2, 3), {"stride": (2, 3), "padding": (0, 2), "output_padding": (1, 2)}),
    ((2, 4, 6, 5), (4, 2, 3, 3), {"groups": 2, "dilation": 2, "padding": 1}),
    ((2, 6, 4, 4), (6, 1, 3, 2), {"groups": 3, "stride": 2, "dilation": (1, 3), "output_padding": (0, 2)}),
    ((2, 2, 3, 20), (2, 3, 1, 1), {"stride": 2}),
    ((3, 5, 4), (3, 2, 3, 3), {"stride": 2, "padding": 1}),  # unbatched
]


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("x_shape,w_shape,kwargs", CONVT_CASES)
def test_conv_transpose2d_matches_torch(x_shape, w_shape, kwargs, bias):
    x, w = rng.standard_normal(x_shape), rng.standard_normal(w_shape)
    b = rng.standard_normal(w_shape[1] * kwargs.get("groups", 1)) if bias else None
    ours, theirs = _both([x, w, b])
    g_out, t_out = F.conv_transpose2d(*ours, **kwargs), TF.conv_transpose2d(*theirs, **kwargs)
    assert tuple(g_out.shape) == tuple(t_out.shape)
    np.testing.assert_allclose(_np(g_out), _np(t_out), atol=1e-10)
    upstream = rng.standard_normal(tuple(t_out.shape))
    (g_out * gradwise.tensor(upstream)).sum().backward()
    (t_out * torch.tensor(upstream)).sum().backward()
    assert_close([_np(t.grad) for t in ours if t is not None], [_np(t.grad) for t in theirs if t is not None],
                 "conv_transpose2d gradients")


@pytest.mark.parametrize("x_shape,w_shape,kwargs", CONVT_CASES[1:5])
def test_conv_transpose2d_second_order(x_shape, w_shape, kwargs):
    x, w = rng.standard_normal(x_shape), rng.standard_normal(w_shape)
    b = rng.standard_normal(w_shape[1] * kwargs.get("groups", 1))
    check_second_order(lambda x, w, b: F.conv_transpose2d(x, w, b, **kwargs),
                       lambda x, w, b: TF.conv_transpose2d(x, w, b, **kwargs), x, w, b)


def test_conv_transpose2d_is_adjoint_of_conv2d():
    """<conv2d(x, w), y> == <x, conv_transpose2d(y, w)> (same stride/padding/dilation/groups)."""
    x, w = rng.standard_normal((2, 4, 9, 8)), rng.standard_normal((6, 2, 3, 3))
    kwargs = dict(stride=2, padding=1, dilation=(1, 2), groups=2)
    y = F.conv2d(gradwise.tensor(x), gradwise.tensor(w), **kwargs)
    v = rng.standard_normal(tuple(y.shape))
    back = F.conv_transpose2d(gradwise.tensor(v), gradwise.tensor(w), output_padding=(0, 1), **kwargs)
    assert tuple(back.shape) == x.shape
    np.testing.assert_allclose((_np(y) * v).sum(), (x * _np(back)).sum(), rtol=1e-10)


@pytest.mark.parametrize("kwargs", [
    dict(),
    dict(stride=2, padding=1, output_padding=1, bias=False),
    dict(stride=(2, 1), padding=(1, 0), groups=2, dilation=(1, 2)),
])
def test_nn_conv_transpose2d_matches_torch(kwargs):
    torch.manual_seed(0)
    ref = torch.nn.ConvTranspose2d(4, 6, 3, **kwargs).double()
    layer = nn.ConvTranspose2d(4, 6, 3, **kwargs).double()
    assert tuple(layer.weight.shape) == tuple(ref.weight.shape)
    assert (layer.bias is None) == (ref.bias is None)
    layer.weight.data = gradwise.tensor(ref.weight.detach().numpy().copy())
    if layer.bias is not None:
        layer.bias.data = gradwise.tensor(ref.bias.detach().numpy().copy())
    x = rng.standard_normal((2, 4, 5, 6))
    xg, xt = gradwise.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    yg, yt = layer(xg), ref(xt)
    np.testing.assert_allclose(_np(yg), _np(yt), atol=1e-10)
    yg.square().sum().backward()
    yt.square().sum().backward()
    assert_close([_np(xg.grad), _np(layer.weight.grad)], [_np(xt.grad), _np(ref.weight.grad)], "nn.ConvTranspose2d")
    # output_size picks the output_padding (PyTorch's forward(input, output_size)).
    # The largest valid size per dim: output_padding stride - 1.
    size = [n - op + s - 1 for n, op, s in zip(yt.shape[2:], ref.output_padding, ref.stride)]
    assert tuple(layer(xg, output_size=size).shape) == tuple(ref(xt, output_size=size).shape)


def test_nn_conv_transpose2d_init_and_repr():
    layer = nn.ConvTranspose2d(4, 6, (3, 2), stride=2, groups=2, bias=True)
    assert tuple(layer.weight.shape) == (4, 3, 3, 2)
    bound = 1 / np.sqrt(3 * 3 * 2)  # fan_in = weight.shape[1] * kH * kW, as PyTorch
    assert np.abs(layer.weight.detach().numpy()).max() <= bound + 1e-6
    assert np.abs(layer.bias.detach().numpy()).max() <= bound + 1e-6
    assert repr(layer) == repr(torch.nn.ConvTranspose2d(4, 6, (3, 2), stride=2, groups=2))


def test_conv_transpose2d_errors():
    w = gradwise.randn(4, 2, 3, 3)
    with pytest.raises(RuntimeError, match=r"conv_transpose2d: expected input with 4 channels .*\(4, 2, 3, 3\).*"
                                           r"got input of shape \(1, 3, 5, 5\)"):
        F.conv_transpose2d(gradwise.randn(1, 3, 5, 5), w)
    with pytest.raises(RuntimeError, match=r"conv_transpose2d: expected a 3-D \(C, H, W\) or 4-D .*got input of "
                                           r"shape \(5, 5\)"):
        F.conv_transpose2d(gradwise.randn(5, 5), w)
    with pytest.raises(RuntimeError, match=r"output_padding \(2, 2\) must be smaller than either the stride"):
        F.conv_transpose2d(gradwise.randn(1, 4, 5, 5), w, stride=2, output_padding=2)
    with pytest.raises(RuntimeError, match=r"bias of shape \(3,\) does not fit"):
        F.conv_transpose2d(gradwise.randn(1, 4, 5, 5), w, gradwise.randn(3))
    with pytest.raises(RuntimeError, match=r"groups=3 must be >= 1 and divide the 4 input channels"):
        F.conv_transpose2d(gradwise.randn(1, 4, 5, 5), w, groups=3)
    with pytest.raises(RuntimeError, match=r"output size \(-1, -1\) would not be positive"):
        F.conv_transpose2d(gradwise.randn(1, 4, 1, 1), w, padding=2)
    with pytest.raises(ValueError, match=r"valid sizes along dim 0 range from 9 to 10"):
        nn.ConvTranspose2d(4, 2, 3, stride=2)(gradwise.randn(1, 4, 4, 4), output_size=(12, 9))
