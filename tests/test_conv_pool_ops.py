"""conv2d and 2-D pooling (functional and layers) against PyTorch in float64: values and gradients."""
import numpy as np
import pytest
import torch

import gradwise
import gradwise.nn as nn
import gradwise.nn.functional as F
from conftest import run_both

TF = torch.nn.functional
rng = np.random.default_rng(1)


CONV_CASES = [
    # (input shape, weight shape, kwargs)
    ((2, 3, 9, 8), (4, 3, 3, 3), {}),
    ((2, 3, 9, 8), (4, 3, 3, 2), {"stride": 2, "padding": 1}),
    ((1, 2, 11, 10), (3, 2, 3, 3), {"stride": (2, 3), "padding": (2, 1), "dilation": (2, 1)}),
    ((2, 4, 7, 7), (6, 2, 3, 3), {"groups": 2, "padding": 1}),
    ((2, 4, 7, 7), (4, 1, 3, 3), {"groups": 4}),
    ((3, 1, 6, 5), (2, 1, 1, 1), {}),
    ((2, 3, 8, 8), (5, 3, 3, 3), {"padding": "same"}),
    ((2, 3, 8, 7), (5, 3, 4, 2), {"padding": "same"}),  # even kernels: the extra pad goes bottom/right
    ((2, 3, 9, 9), (5, 3, 2, 3), {"padding": "same", "dilation": 3}),
    ((2, 3, 8, 8), (5, 3, 3, 3), {"padding": "valid"}),
    ((3, 8, 8), (5, 3, 3, 3), {"padding": 1}),  # unbatched
]


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")  # torch's own note
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("x_shape,w_shape,kwargs", CONV_CASES)
def test_conv2d_matches_torch(x_shape, w_shape, kwargs, bias):
    x, w = rng.standard_normal(x_shape), rng.standard_normal(w_shape)
    b = rng.standard_normal(w_shape[0]) if bias else None
    run_both(lambda x, w, b: F.conv2d(x, w, b, **kwargs), lambda x, w, b: TF.conv2d(x, w, b, **kwargs), x, w, b)


def test_conv2d_float32_stays_float32():
    x, w = gradwise.randn(2, 3, 6, 6), gradwise.randn(4, 3, 3, 3, requires_grad=True)
    y = F.conv2d(x, w)
    assert y.dtype == gradwise.float32
    y.sum().backward()
    assert w.grad.dtype == gradwise.float32


def test_conv2d_channel_mismatch_error():
    with pytest.raises(RuntimeError) as info:
        F.conv2d(gradwise.randn(64, 1, 32, 32), gradwise.randn(6, 3, 5, 5))
    assert str(info.value) == ("conv2d: expected input with 3 channels (weight shape (6, 3, 5, 5)), "
                               "got input of shape (64, 1, 32, 32)")


def test_conv2d_other_errors():
    with pytest.raises(RuntimeError, match="3-D .* or 4-D"):
        F.conv2d(gradwise.randn(3, 32), gradwise.randn(6, 3, 5, 5))
    with pytest.raises(RuntimeError, match="smaller than the kernel"):
        F.conv2d(gradwise.randn(1, 3, 4, 4), gradwise.randn(6, 3, 5, 5))
    with pytest.raises(RuntimeError, match="bias of shape"):
        F.conv2d(gradwise.randn(1, 3, 8, 8), gradwise.randn(6, 3, 5, 5), gradwise.randn(5))
    with pytest.raises(RuntimeError, match="dtype"):
        F.conv2d(gradwise.randn(1, 3, 8, 8), gradwise.randn(6, 3, 5, 5, dtype=gradwise.float64))
    with pytest.raises(ValueError, match="strided"):
        F.conv2d(gradwise.randn(1, 3, 8, 8), gradwise.randn(6, 3, 3, 3), stride=2, padding="same")
    with pytest.raises(ValueError, match="Invalid padding string"):
        F.conv2d(gradwise.randn(1, 3, 8, 8), gradwise.randn(6, 3, 3, 3), padding="full")


def test_conv2d_inplace_change_before_backward_is_reported():
    w = gradwise.randn(2, 1, 3, 3, requires_grad=True)
    x = gradwise.randn(1, 1, 5, 5, requires_grad=True)
    y = F.conv2d(x, w)
    with gradwise.no_grad():
        w.add_(1.0)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()


# ---------------------------------------------------------------------------- pooling
MAX_CASES = [
    ((2, 3, 8, 8), {"kernel_size": 2}),
    ((2, 3, 8, 8), {"kernel_size": 2, "stride": 2}),
    ((2, 3, 9, 7), {"kernel_size": 3, "stride": 2}),
    ((2, 3, 9, 7), {"kernel_size": 3, "stride": 2, "padding": 1}),
    ((1, 2, 10, 9), {"kernel_size": (3, 2), "stride": (2, 1), "padding": (1, 1), "dilation": (2, 1)}),
    ((2, 2, 7, 7), {"kernel_size": 2, "ceil_mode": True}),
    ((2, 2, 8, 9), {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True}),
    ((3, 7, 6), {"kernel_size": 2}),  # unbatched
]


@pytest.mark.parametrize("shape,kwargs", MAX_CASES)
def test_max_pool2d_matches_torch(shape, kwargs):
    x = rng.standard_normal(shape)
    run_both(lambda x: F.max_pool2d(x, **kwargs), lambda x: TF.max_pool2d(x, **kwargs), x)


@pytest.mark.parametrize("shape,kwargs", MAX_CASES)
def test_max_pool2d_return_indices(shape, kwargs):
    x = rng.standard_normal(shape)
    g_out, g_idx = F.max_pool2d(gradwise.tensor(x), return_indices=True, **kwargs)
    t_out, t_idx = TF.max_pool2d(torch.tensor(x), return_indices=True, **kwargs)
    np.testing.assert_allclose(g_out.numpy(), t_out.numpy())
    np.testing.assert_array_equal(g_idx.numpy(), t_idx.numpy())
    assert g_idx.dtype == gradwise.int64


def test_max_pool2d_ties_go_to_the_first_max():
    x = np.zeros((1, 1, 4, 4))
    run_both(lambda x: F.max_pool2d(x, 2), lambda x: TF.max_pool2d(x, 2), x)


AVG_CASES = [
    ((2, 3, 8, 8), {"kernel_size": 2}),
    ((2, 3, 9, 7), {"kernel_size": 3, "stride": 2, "padding": 1}),
    ((2, 3, 9, 7), {"kernel_size": 3, "stride": 2, "padding": 1, "count_include_pad": False}),
    ((2, 2, 7, 8), {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True}),
    ((2, 2, 7, 8), {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True, "count_include_pad": False}),
    ((2, 2, 6, 6), {"kernel_size": 2, "divisor_override": 3}),
    ((3, 6, 6), {"kernel_size": (2, 3), "stride": (1, 2)}),
]


@pytest.mark.parametrize("shape,kwargs", AVG_CASES)
def test_avg_pool2d_matches_torch(shape, kwargs):
    x = rng.standard_normal(shape)
    run_both(lambda x: F.avg_pool2d(x, **kwargs), lambda x: TF.avg_pool2d(x, **kwargs), x)


@pytest.mark.parametrize("shape,size", [((2, 3, 8, 8), (1, 1)), ((2, 3, 8, 8), 4), ((2, 3, 13, 11), (6, 6)),
                                         ((2, 3, 5, 7), (3, None)), ((3, 10, 9), (4, 5)), ((1, 2, 3, 3), 6)])
def test_adaptive_avg_pool2d_matches_torch(shape, size):
    x = rng.standard_normal(shape)
    run_both(lambda x: F.adaptive_avg_pool2d(x, size), lambda x: TF.adaptive_avg_pool2d(x, size), x)


def test_pool_errors():
    with pytest.raises(RuntimeError, match="at most half of kernel size"):
        F.max_pool2d(gradwise.randn(1, 1, 8, 8), 2, padding=2)
    with pytest.raises(RuntimeError, match="too small"):
        F.max_pool2d(gradwise.randn(1, 1, 2, 2), 3)
    with pytest.raises(RuntimeError, match="3-D .* or 4-D"):
        F.avg_pool2d(gradwise.randn(8, 8), 2)


# ---------------------------------------------------------------------------- layers
def test_conv2d_layer_matches_torch_module_and_repr():
    for kwargs in ({}, {"stride": 2, "padding": 1, "bias": False}, {"padding": "same", "dilation": 2},
                   {"groups": 3, "padding": (1, 2)}):
        g = nn.Conv2d(3, 6, 3, **kwargs).double()
        t = torch.nn.Conv2d(3, 6, 3, **kwargs).double()
        assert repr(g) == repr(t)
        with torch.no_grad():
            t.weight.copy_(torch.tensor(g.weight.detach().numpy()))
            if t.bias is not None:
                t.bias.copy_(torch.tensor(g.bias.detach().numpy()))
        x = rng.standard_normal((2, 3, 9, 8))
        gx, tx = gradwise.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        gy, ty = g(gx), t(tx)
        np.testing.assert_allclose(gy.detach().numpy(), ty.detach().numpy(), atol=1e-10)
        gy.sum().backward()
        ty.sum().backward()
        np.testing.assert_allclose(gx.grad.numpy(), tx.grad.numpy(), atol=1e-10)
        np.testing.assert_allclose(g.weight.grad.numpy(), t.weight.grad.numpy(), atol=1e-10)
        if t.bias is not None:
            np.testing.assert_allclose(g.bias.grad.numpy(), t.bias.grad.numpy(), atol=1e-10)


def test_conv2d_layer_default_init_bounds_like_torch():
    gradwise.manual_seed(0)
    layer = nn.Conv2d(16, 32, 3)
    fan_in = 16 * 9
    w, b = layer.weight.detach().numpy(), layer.bias.detach().numpy()
    # kaiming_uniform_(a=sqrt(5)) is U[-1/sqrt(fan_in), 1/sqrt(fan_in)]: std = bound / sqrt(3)
    bound = 1 / np.sqrt(fan_in)
    assert np.abs(w).max() <= bound and np.abs(b).max() <= bound
    assert abs(w.std() - bound / np.sqrt(3)) < 0.05 * bound


def test_conv2d_layer_validation():
    with pytest.raises(ValueError, match="divisible by groups"):
        nn.Conv2d(3, 6, 3, groups=2)
    with pytest.raises(ValueError, match="strided"):
        nn.Conv2d(3, 6, 3, stride=2, padding="same")
    with pytest.raises(ValueError, match="padding_mode must be one of"):
        nn.Conv2d(3, 6, 3, padding_mode="mirror")


def test_pool_layers_match_torch_and_repr():
    x = rng.standard_normal((2, 3, 13, 11))
    pairs = [(nn.MaxPool2d(2, 2), torch.nn.MaxPool2d(2, 2)),
             (nn.MaxPool2d(kernel_size=3, stride=2, padding=1), torch.nn.MaxPool2d(kernel_size=3, stride=2, padding=1)),
             (nn.MaxPool2d(3), torch.nn.MaxPool2d(3)),
             (nn.AvgPool2d(3, stride=2, padding=1), torch.nn.AvgPool2d(3, stride=2, padding=1)),
             (nn.AvgPool2d(2), torch.nn.AvgPool2d(2)),
             (nn.AdaptiveAvgPool2d((6, 6)), torch.nn.AdaptiveAvgPool2d((6, 6))),
             (nn.AdaptiveAvgPool2d(1), torch.nn.AdaptiveAvgPool2d(1))]
    for g, t in pairs:
        assert repr(g) == repr(t)
        run_both(g, t, x)
    g_out, g_idx = nn.MaxPool2d(2, return_indices=True)(gradwise.tensor(x))
    t_out, t_idx = torch.nn.MaxPool2d(2, return_indices=True)(torch.tensor(x))
    np.testing.assert_array_equal(g_idx.numpy(), t_idx.numpy())


def test_lecture_cnn_forward_backward_matches_torch():
    """The lecture's Net with the same weights gives torch's loss and gradients."""

    def build(lib):
        class Net(lib.nn.Module):
            def __init__(self):
                super().__init__()
                self.conv1 = lib.nn.Conv2d(3, 6, 5)
                self.pool = lib.nn.MaxPool2d(2, 2)
                self.conv2 = lib.nn.Conv2d(6, 16, 5)
                self.fc1 = lib.nn.Linear(16 * 5 * 5, 120)
                self.fc2 = lib.nn.Linear(120, 84)
                self.fc3 = lib.nn.Linear(84, 10)

            def forward(self, x):
                F_ = lib.nn.functional
                x = self.pool(F_.relu(self.conv1(x)))
                x = self.pool(F_.relu(self.conv2(x)))
                x = lib.flatten(x, 1)
                x = F_.relu(self.fc1(x))
                x = F_.relu(self.fc2(x))
                return self.fc3(x)

        return Net().double()

    g, t = build(gradwise), build(torch)
    assert repr(g) == repr(t)
    t.load_state_dict({k: torch.tensor(v.numpy()) for k, v in g.state_dict().items()})
    x, y = rng.standard_normal((4, 3, 32, 32)), np.array([1, 0, 9, 3])
    gl = F.cross_entropy(g(gradwise.tensor(x)), gradwise.tensor(y))
    tl = TF.cross_entropy(t(torch.tensor(x)), torch.tensor(y))
    np.testing.assert_allclose(gl.item(), tl.item(), rtol=1e-10)
    gl.backward()
    tl.backward()
    for (name, gp), (_, tp) in zip(g.named_parameters(), t.named_parameters()):
        np.testing.assert_allclose(gp.grad.numpy(), tp.grad.numpy(), atol=1e-10, err_msg=name)
