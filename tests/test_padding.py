"""F.pad, the padding layers and Conv2d(padding_mode=...) against PyTorch in float64: values and gradients."""
import numpy as np
import pytest
import torch

import gradwise
import gradwise.nn as nn
import gradwise.nn.functional as F
from conftest import run_both

TF = torch.nn.functional
rng = np.random.default_rng(7)


# (input shape, pad): every combination of dims that torch's non-constant modes support,
# wide borders (up to size - 1), asymmetric and negative (cropping) widths
NON_CONSTANT_CASES = [
    ((3, 5), (2, 4)),
    ((2, 3, 6), (5, 1)),
    ((2, 3, 6), (-2, 3)),
    ((2, 3, 4), (4, 3)),  # circular: a full wrap (reflect needs less than the size)
    ((3, 4, 5), (1, 2, 3, 0)),
    ((2, 3, 4, 5), (4, 4, 3, 3)),
    ((2, 2, 5, 4), (0, 3, -1, 2)),
    ((1, 2, 4, 5), (2, 2, 0, 0)),
    ((2, 3, 4, 5), (1, 2, 2, 1, 2, 1)),
    ((1, 2, 3, 4, 5), (2, 1, 0, 3, 2, 2)),
    ((2, 1, 3, 3, 4), (-1, 3, 1, -1, 2, 0)),
]


def _reflect_fits(shape, pad) -> bool:
    """Reflect padding needs every width smaller than the dim it pads."""
    return all(p < shape[-1 - i // 2] for i, p in enumerate(pad))


@pytest.mark.parametrize("shape,pad,mode", [(shape, pad, mode) for shape, pad in NON_CONSTANT_CASES
                                            for mode in ("reflect", "replicate", "circular")
                                            if mode != "reflect" or _reflect_fits(shape, pad)])
def test_non_constant_modes_match_torch(shape, pad, mode):
    run_both(lambda x: F.pad(x, pad, mode=mode), lambda x: TF.pad(x, pad, mode=mode),
                        rng.standard_normal(shape))


@pytest.mark.parametrize("shape,pad,value", [
    ((4,), (2, 3), None),
    ((3, 4), (1, 0, 0, 2), 1.5),
    ((2, 3, 4), (1, 1, 2, 2, 3, 3), -2.0),
    ((2, 3, 4, 5), (1, 2, 0, 1, 1, 0, 2, 1), 0.25),  # all four dims, batch included
    ((2, 3, 5, 5), (-1, 2, -2, -1), 3.0),  # crop and pad at once
    ((2, 3, 4), (-2, -2), None),  # crop the whole dim away
    ((2, 3), (), None),  # nothing to pad: a copy
])
def test_constant_mode_matches_torch(shape, pad, value):
    run_both(lambda x: F.pad(x, pad, value=value), lambda x: TF.pad(x, pad, value=value),
                        rng.standard_normal(shape))


def test_replicate_gradient_sums_into_the_edge_and_is_exact():
    """Each border position adds its gradient to the element it copies (PyTorch's accumulation)."""
    x = gradwise.zeros(1, 1, 2, 3, dtype=gradwise.float64, requires_grad=True)
    F.pad(x, (2, 1, 1, 0), mode="replicate").sum().backward()
    # corners: (1 + 2 left) columns x (1 + 1 top) rows; right column (1 + 1) x ...
    np.testing.assert_array_equal(x.grad.numpy()[0, 0], [[6.0, 2.0, 4.0], [3.0, 1.0, 2.0]])


@pytest.mark.parametrize("mode", ["constant", "reflect", "replicate", "circular"])
def test_second_derivative_matches_torch(mode):
    """The backward is itself made of differentiable ops (Hessian-vector products work)."""
    x_np, v_np = rng.standard_normal((2, 2, 4, 5)), rng.standard_normal((2, 2, 4, 5))
    pad = (2, 1, 1, 3)
    w_np = rng.standard_normal(TF.pad(torch.tensor(x_np), pad, mode=mode).shape)
    results = []
    for lib, make in ((gradwise, gradwise.tensor), (torch, torch.tensor)):
        fn = F.pad if lib is gradwise else TF.pad
        x, w, v = make(x_np, requires_grad=True), make(w_np), make(v_np)
        y = (fn(x, pad, mode=mode) ** 2 * w).sum()
        (g,) = lib.autograd.grad(y, x, create_graph=True)
        (h,) = lib.autograd.grad((g * v).sum(), x)
        results.append((g.detach().numpy(), h.numpy()))
    for got, expected in zip(*results):
        np.testing.assert_allclose(got, expected, atol=1e-12)


def test_dtype_is_kept_and_integers_pad():
    x = gradwise.randn(2, 3, 4, requires_grad=True)
    y = F.pad(x, (1, 2), mode="reflect")
    assert y.dtype == gradwise.float32
    y.sum().backward()
    assert x.grad.dtype == gradwise.float32
    ints = F.pad(gradwise.arange(5).reshape(1, 5), (1, 1), mode="constant", value=7)
    assert ints.dtype == gradwise.int64 and ints.tolist() == [[7, 0, 1, 2, 3, 4, 7]]
    np.testing.assert_array_equal(F.pad(gradwise.arange(5).reshape(1, 5), (2, 1), mode="reflect").numpy(),
                                  TF.pad(torch.arange(5).reshape(1, 5), (2, 1), mode="reflect").numpy())


def test_zero_padding_is_a_new_tensor():
    x = gradwise.randn(2, 3, 4)
    for mode in ("constant", "reflect"):
        y = F.pad(x, (0, 0), mode=mode)
        y[0, 0, 0] = 100.0
        assert x[0, 0, 0].item() != 100.0


def test_backward_is_vectorised_on_a_large_input():
    """A 1x16x128x128 reflect pad and its gradient: well under a second with no per-element loops."""
    import time

    x = gradwise.randn(1, 16, 128, 128, requires_grad=True)
    start = time.perf_counter()
    F.pad(x, (3, 3, 3, 3), mode="reflect").sum().backward()
    assert time.perf_counter() - start < 2.0
    assert x.grad.shape == (1, 16, 128, 128)


@pytest.mark.parametrize("call,error,match", [
    (lambda x: F.pad(x, (1, 2, 3)), RuntimeError, r"divisible by 2.*\(1, 2, 3\)"),
    (lambda x: F.pad(x, (1,) * 10), RuntimeError, r"at most twice.*length 10.*\(2, 3, 4, 5\)"),
    (lambda x: F.pad(x, (1, 1), mode="mirror"), NotImplementedError, r"unrecognised padding mode 'mirror'"),
    (lambda x: F.pad(x, (1, 1, 1, 1), mode="reflect", value=2.0), RuntimeError, r"'reflect' doesn't take a value"),
    (lambda x: F.pad(x, (0, 0, 4, 0), mode="reflect"), RuntimeError,
     r"reflect padding must be smaller.*\(4, 0\).*dim 2 of size 4"),
    (lambda x: F.pad(x, (6, 0, 0, 0), mode="circular"), RuntimeError, r"\(6, 0\).*dim 3 of size 5.*more than once"),
    (lambda x: F.pad(x, (1, 1), mode="replicate"), NotImplementedError, r"length 2.*4-D input.*\(2, 3, 4, 5\)"),
    (lambda x: F.pad(x, (1.5, 1), mode="constant"), TypeError, r"element 0.*float 1\.5"),
    (lambda x: F.pad(x, (-3, -3)), RuntimeError, r"dim 3.*size 5.*\(-3, -3\).*-1"),
    (lambda x: F.pad(x, (-3, -2, 0, 0), mode="replicate"), RuntimeError, r"output size of 0"),
])
def test_errors_name_the_values(call, error, match):
    with pytest.raises(error, match=match):
        call(gradwise.randn(2, 3, 4, 5))


# ---------------------------------------------------------------------------- layers
LAYERS = [
    ("ZeroPad2d", ((1, 2, 0, 3),)),
    ("ZeroPad2d", (2,)),
    ("ConstantPad2d", ((3, 0, 1, 1), -1.5)),
    ("ConstantPad1d", (2, 4.0)),
    ("ReflectionPad2d", ((2, 1, 3, 0),)),
    ("ReflectionPad2d", (1,)),
    ("ReflectionPad1d", ((3, 1),)),
    ("ReplicationPad2d", ((4, 0, 2, 5),)),
    ("ReplicationPad1d", (2,)),
    ("CircularPad2d", ((1, 2, 3, 1),)),
    ("ReplicationPad3d", ((1, 0, 2, 1, 0, 1),)),
]


@pytest.mark.parametrize("name,args", LAYERS)
def test_padding_layers_match_torch_and_repr(name, args):
    ours, theirs = getattr(nn, name)(*args), getattr(torch.nn, name)(*args)
    assert repr(ours) == repr(theirs)
    shape = {"1d": (2, 3, 6), "2d": (2, 3, 5, 6), "3d": (1, 2, 3, 4, 5)}[name[-2:]]
    run_both(ours, theirs, rng.standard_normal(shape))
    if name.endswith("2d"):  # unbatched (C, H, W)
        run_both(ours, theirs, rng.standard_normal(shape[1:]))


def test_padding_layer_errors():
    with pytest.raises(ValueError, match=r"ReflectionPad2d: padding must be an int or a tuple of 4 ints.*\(1, 2\)"):
        nn.ReflectionPad2d((1, 2))
    with pytest.raises(ValueError, match=r"CircularPad2d: expected 3D or 4D input \(got 2D input of shape \(4, 5\)\)"):
        nn.CircularPad2d(1)(gradwise.randn(4, 5))
    with pytest.raises(RuntimeError, match="reflect padding must be smaller"):
        nn.ReflectionPad2d(3)(gradwise.randn(1, 1, 3, 3))


# ---------------------------------------------------------------------------- Conv2d(padding_mode=...)
CONV_PADDING_CASES = [
    # (input shape, Conv2d kwargs beyond (in, out, kernel))
    ((2, 3, 7, 6), {"kernel_size": 3, "padding": 1}),
    ((2, 3, 7, 6), {"kernel_size": (3, 5), "padding": (1, 2), "stride": 2}),
    ((1, 3, 8, 7), {"kernel_size": 3, "padding": (2, 0), "dilation": (2, 1), "bias": False}),
    ((2, 4, 6, 6), {"kernel_size": 3, "padding": 2, "groups": 2}),
    ((2, 3, 7, 6), {"kernel_size": 3, "padding": "same"}),
    ((2, 3, 7, 6), {"kernel_size": (4, 2), "padding": "same"}),  # even kernels: the extra row/column at the end
    ((2, 3, 9, 8), {"kernel_size": (2, 3), "padding": "same", "dilation": 2}),
    ((2, 3, 7, 6), {"kernel_size": 3, "padding": "valid"}),
    ((3, 7, 6), {"kernel_size": 3, "padding": 1}),  # unbatched
]


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")  # torch's own note
@pytest.mark.parametrize("padding_mode", ["reflect", "replicate", "circular"])
@pytest.mark.parametrize("shape,kwargs", CONV_PADDING_CASES)
def test_conv2d_padding_modes_match_torch(shape, kwargs, padding_mode):
    in_channels = shape[-3]
    ours = nn.Conv2d(in_channels, 4, padding_mode=padding_mode, **kwargs).double()
    theirs = torch.nn.Conv2d(in_channels, 4, padding_mode=padding_mode, **kwargs).double()
    assert repr(ours) == repr(theirs)
    with torch.no_grad():
        theirs.weight.copy_(torch.tensor(ours.weight.detach().numpy()))
        if theirs.bias is not None:
            theirs.bias.copy_(torch.tensor(ours.bias.detach().numpy()))
    x = rng.standard_normal(shape)
    gx, tx = gradwise.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    gy, ty = ours(gx), theirs(tx)
    np.testing.assert_allclose(gy.detach().numpy(), ty.detach().numpy(), atol=1e-10)
    upstream = rng.standard_normal(tuple(ty.shape))
    (gy * gradwise.tensor(upstream)).sum().backward()
    (ty * torch.tensor(upstream)).sum().backward()
    np.testing.assert_allclose(gx.grad.numpy(), tx.grad.numpy(), atol=1e-10)
    np.testing.assert_allclose(ours.weight.grad.numpy(), theirs.weight.grad.numpy(), atol=1e-10)
    if theirs.bias is not None:
        np.testing.assert_allclose(ours.bias.grad.numpy(), theirs.bias.grad.numpy(), atol=1e-10)


def test_conv2d_reflect_padding_too_large_for_the_input():
    layer = nn.Conv2d(1, 1, 5, padding=3, padding_mode="reflect")
    with pytest.raises(RuntimeError, match=r"reflect padding must be smaller.*\(3, 3\).*size 3"):
        layer(gradwise.randn(1, 1, 3, 8))
    with pytest.raises(ValueError, match="padding_mode must be one of"):
        nn.Conv2d(1, 1, 3, padding_mode="mirror")
