"""gradwise.nn.init: PyTorch's functions (gains, fans, distributions) and the lecture's schemes."""
import math

import numpy as np
import pytest
import torch

import gradwise
import gradwise.nn as nn
import gradwise.nn.functional as F
from gradwise.nn import init

TI = torch.nn.init
SHAPES = [(30, 20), (20, 30), (16, 6, 5, 5), (8, 4, 3), (6, 2, 3, 3, 3)]


@pytest.fixture(autouse=True)
def _seed():
    gradwise.manual_seed(1234)  # the statistical checks below are then deterministic


def sample_std(tensor):
    return float(tensor.detach().numpy().std())


def within(value, expected, n, rel=4.0):
    """|value - expected| below `rel` standard errors of a sample std from n draws (~ std / sqrt(2n))."""
    return abs(value - expected) <= rel * expected / math.sqrt(2 * n)


# ---------------------------------------------------------------------------- gains and fans
@pytest.mark.parametrize("name,param", [("linear", None), ("conv2d", None), ("conv_transpose3d", None),
                                        ("sigmoid", None), ("tanh", None), ("relu", None), ("leaky_relu", None),
                                        ("leaky_relu", 0.2), ("leaky_relu", 1), ("selu", None)])
def test_calculate_gain_matches_torch(name, param):
    assert init.calculate_gain(name, param) == pytest.approx(TI.calculate_gain(name, param), rel=1e-15)


def test_calculate_gain_errors():
    with pytest.raises(ValueError, match="Unsupported nonlinearity"):
        init.calculate_gain("mish")  # (softplus, gelu, ... are gradwise's own entries: tests/test_nn_new_layers.py)
    with pytest.raises(ValueError, match="not a valid number"):
        init.calculate_gain("leaky_relu", True)


@pytest.mark.parametrize("shape", SHAPES)
def test_fans_match_torch(shape):
    assert init._calculate_fan_in_and_fan_out(gradwise.empty(shape)) == TI._calculate_fan_in_and_fan_out(
        torch.empty(shape))


def test_fans_need_two_dims():
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        init._calculate_fan_in_and_fan_out(gradwise.empty(5))
    with pytest.raises(ValueError, match="Mode fan_avg not supported"):
        init.kaiming_normal_(gradwise.empty(3, 4), mode="fan_avg")


# ---------------------------------------------------------------------------- distributions
@pytest.mark.parametrize("shape", [(400, 300), (64, 32, 3, 3)])
def test_xavier_and_kaiming_distributions_follow_the_formulas(shape):
    t = gradwise.empty(shape)
    n = t.numel()
    fan_in, fan_out = init._calculate_fan_in_and_fan_out(t)
    cases = [
        (lambda: init.xavier_uniform_(t), math.sqrt(2 / (fan_in + fan_out)), math.sqrt(6 / (fan_in + fan_out))),
        (lambda: init.xavier_uniform_(t, gain=5 / 3), 5 / 3 * math.sqrt(2 / (fan_in + fan_out)), None),
        (lambda: init.xavier_normal_(t), math.sqrt(2 / (fan_in + fan_out)), None),
        (lambda: init.kaiming_normal_(t, nonlinearity="relu"), math.sqrt(2 / fan_in), None),
        (lambda: init.kaiming_normal_(t, mode="fan_out", nonlinearity="relu"), math.sqrt(2 / fan_out), None),
        (lambda: init.kaiming_uniform_(t, nonlinearity="relu"), math.sqrt(2 / fan_in), math.sqrt(6 / fan_in)),
        (lambda: init.kaiming_uniform_(t, a=math.sqrt(5)), 1 / math.sqrt(3 * fan_in), 1 / math.sqrt(fan_in)),
        (lambda: init.kaiming_normal_(t, a=0.2), math.sqrt(2 / (1 + 0.04) / fan_in), None),
    ]
    for fill, std, bound in cases:
        out = fill()
        assert out is t and not t.requires_grad
        assert within(sample_std(t), std, n)
        assert abs(t.numpy().mean()) < 5 * std / math.sqrt(n)
        if bound is not None:
            assert np.abs(t.numpy()).max() <= bound * (1 + 1e-6)


def test_basic_fills_and_moments():
    t = gradwise.empty(300, 300)
    init.uniform_(t, -2, 3)
    assert t.numpy().min() >= -2 and t.numpy().max() < 3 and abs(t.numpy().mean() - 0.5) < 0.02
    init.normal_(t, 1.5, 0.2)
    assert abs(t.numpy().mean() - 1.5) < 0.002 and within(sample_std(t), 0.2, t.numel())
    init.constant_(t, 0.25)
    assert np.all(t.numpy() == 0.25)
    init.ones_(t)
    assert np.all(t.numpy() == 1)
    init.zeros_(t)
    assert np.all(t.numpy() == 0)


def test_trunc_normal():
    t = gradwise.empty(400, 250)
    init.trunc_normal_(t, mean=0.5, std=1.0, a=-1.0, b=1.5)
    x = t.numpy()
    assert x.min() >= -1.0 and x.max() <= 1.5
    from scipy.stats import truncnorm

    ref = truncnorm(-1.5, 1.0, loc=0.5, scale=1.0)
    assert abs(x.mean() - ref.mean()) < 0.01 and abs(x.std() - ref.std()) < 0.01
    init.trunc_normal_(t, std=0.02)  # the ViT default: practically a N(0, 0.02^2)
    assert within(sample_std(t), 0.02, t.numel()) and np.abs(t.numpy()).max() <= 2
    init.trunc_normal_(t, mean=0.0, std=1.0, a=4.0, b=4.5)  # far tail: inverse-CDF path
    assert t.numpy().min() >= 4.0 and t.numpy().max() <= 4.5


def test_eye_dirac_orthogonal_sparse():
    for shape in [(3, 5), (5, 3)]:
        np.testing.assert_array_equal(init.eye_(gradwise.empty(shape)).numpy(), TI.eye_(torch.empty(shape)).numpy())
    for shape, groups in [((4, 4, 3, 3), 1), ((6, 2, 3), 3), ((4, 3, 3, 3, 3), 2), ((2, 5, 5, 5), 1)]:
        np.testing.assert_array_equal(init.dirac_(gradwise.empty(shape), groups).numpy(),
                                      TI.dirac_(torch.empty(shape), groups).numpy())
    for shape in [(6, 4), (4, 6), (8, 2, 3, 3)]:
        q = init.orthogonal_(gradwise.empty(shape), gain=2.0).numpy().reshape(shape[0], -1)
        small = min(q.shape)
        gram = q @ q.T if q.shape[0] == small else q.T @ q
        np.testing.assert_allclose(gram, 4 * np.eye(small), atol=1e-5)
    s = init.sparse_(gradwise.empty(10, 40), sparsity=0.3).numpy()
    assert np.all((s == 0).sum(axis=0) >= 3)
    with pytest.raises(ValueError, match="2 dimensions"):
        init.eye_(gradwise.empty(2, 2, 2))


def test_init_is_reproducible_unrecorded_and_in_place():
    p = nn.Parameter(gradwise.empty(20, 10))
    gradwise.manual_seed(3)
    a = init.kaiming_normal_(p).detach().numpy().copy()
    gradwise.manual_seed(3)
    b = init.kaiming_normal_(p).detach().numpy().copy()
    np.testing.assert_array_equal(a, b)
    assert p.grad_fn is None and p.is_leaf and p.requires_grad
    g = gradwise.Generator().manual_seed(5)
    c = init.uniform_(gradwise.empty(4), generator=g).numpy().copy()
    d = init.uniform_(gradwise.empty(4), generator=gradwise.Generator().manual_seed(5)).numpy()
    np.testing.assert_array_equal(c, d)
    with pytest.warns(UserWarning, match="no-op"):
        init.kaiming_uniform_(gradwise.empty(0, 3))


def test_init_keeps_dtype():
    t = gradwise.empty(5, 5, dtype=gradwise.float64)
    assert init.xavier_normal_(t).dtype == gradwise.float64
    assert init.normal_(gradwise.empty(3, 3)).dtype == gradwise.float32


# ---------------------------------------------------------------------------- the lecture's schemes
def test_schemes_by_name():
    t = gradwise.empty(500, 200)
    n, fan_in, fan_out = t.numel(), 200, 500
    assert np.all(init.scheme_(t, "zeros").numpy() == 0)
    assert within(sample_std(init.scheme_(t, "small_random")), 0.01, n)
    init.scheme_(t, "xavier")
    assert np.abs(t.numpy()).max() <= 1 / math.sqrt(fan_in)
    assert within(sample_std(t), 1 / math.sqrt(3 * fan_in), n)
    init.scheme_(t, "xavier_normalized")
    bound = math.sqrt(6) / math.sqrt(fan_in + fan_out)
    assert np.abs(t.numpy()).max() <= bound and within(sample_std(t), bound / math.sqrt(3), n)
    assert within(sample_std(init.scheme_(t, "he")), math.sqrt(2 / fan_in), n)
    with pytest.raises(ValueError, match="unknown initialization scheme 'glorot'"):
        init.scheme_(t, "glorot")


def test_zeros_scheme_shows_the_symmetry_problem():
    """With all-zero weights every hidden unit gets the same gradient and stays the same."""
    model = nn.Sequential(nn.Linear(4, 3), nn.Tanh(), nn.Linear(3, 2))
    for layer in (model[0], model[2]):
        init.scheme_(layer.weight, "zeros")
        init.zeros_(layer.bias)
    F.cross_entropy(model(gradwise.randn(8, 4)), gradwise.tensor([0, 1] * 4)).backward()
    g = model[0].weight.grad.numpy()
    assert np.allclose(g, g[0])  # identical rows: the units cannot become different


# ---------------------------------------------------------------------------- by_activation
def _check(choice, name, activation, scheme_start, std):
    assert choice.name == name and choice.activation == activation
    assert choice.scheme.startswith(scheme_start)
    assert choice.std == pytest.approx(std)


def test_by_activation_relu_mlp():
    model = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128), nn.LeakyReLU(0.1),
                          nn.Linear(128, 10))
    choices = init.by_activation(model)
    assert [c.name for c in choices] == ["0", "2", "4"]
    _check(choices[0], "0", "ReLU", "kaiming_normal_", math.sqrt(2 / 784))
    _check(choices[1], "2", "LeakyReLU", "kaiming_normal_", math.sqrt(2 / (1 + 0.01)) / math.sqrt(256))
    _check(choices[2], "4", "none", "xavier_uniform_", 0.1 * math.sqrt(2 / (128 + 10)))
    assert within(sample_std(model[0].weight), math.sqrt(2 / 784), 784 * 256)
    assert np.all(model[0].bias.detach().numpy() == 0)
    assert "He et al. 2015" in choices[0].reason and "Glorot & Bengio 2010" in choices[2].reason


def test_by_activation_tanh_and_sigmoid_mlp(capsys):
    model = nn.Sequential(nn.Linear(100, 200), nn.Tanh(), nn.Linear(200, 50), nn.Sigmoid(), nn.Linear(50, 3),
                          nn.Softmax(dim=1))
    choices = init.by_activation(model, verbose=True)
    _check(choices[0], "0", "Tanh", "xavier_uniform_", 5 / 3 * math.sqrt(2 / 300))
    _check(choices[1], "2", "Sigmoid", "xavier_uniform_", math.sqrt(2 / 250))
    _check(choices[2], "4", "Softmax", "xavier_uniform_", 0.1 * math.sqrt(2 / 53))
    w = model[0].weight.detach().numpy()
    assert np.abs(w).max() <= 5 / 3 * math.sqrt(6 / 300) and within(w.std(), 5 / 3 * math.sqrt(2 / 300), w.size)
    printed = capsys.readouterr().out
    assert printed.count("\n") == 4 and printed.startswith("layer")  # a header and one line per layer
    assert "Tanh" in printed and "xavier_uniform_" in printed


class LectureNet(nn.Module):
    """The lecture's CNN: its activations are functional (F.relu), not modules."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 6, 5)
        self.pool = nn.MaxPool2d(2, 2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x):
        x = self.pool(F.relu(self.conv1(x)))
        x = self.pool(F.relu(self.conv2(x)))
        x = gradwise.flatten(x, 1)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


def test_by_activation_lecture_cnn_with_example_input():
    net = LectureNet()
    choices = init.by_activation(net, example_input=gradwise.randn(2, 3, 32, 32))
    expected = [("conv1", (6, 3, 5, 5), "ReLU", 3 * 25), ("conv2", (16, 6, 5, 5), "ReLU", 6 * 25),
                ("fc1", (120, 400), "ReLU", 400), ("fc2", (84, 120), "ReLU", 120)]
    for choice, (name, shape, act, fan_in) in zip(choices, expected):
        assert choice.shape == shape
        _check(choice, name, act, "kaiming_normal_", math.sqrt(2 / fan_in))
    _check(choices[4], "fc3", "none", "xavier_uniform_", 0.1 * math.sqrt(2 / 94))
    assert within(sample_std(net.fc1.weight), math.sqrt(2 / 400), 120 * 400)
    assert all(np.all(m.bias.detach().numpy() == 0) for m in (net.conv1, net.conv2, net.fc1, net.fc2, net.fc3))
    assert net.conv1.weight.grad is None  # the probing forward pass leaves no gradients behind


def test_by_activation_without_example_input_warns_for_functional_activations():
    with pytest.warns(UserWarning, match="example_input"):
        choices = init.by_activation(LectureNet())
    assert all(c.activation == "none" for c in choices)
    assert "example_input" in choices[0].reason


def test_by_activation_graph_mode_sees_modules_maxout_and_elu():
    model = nn.Sequential(nn.Linear(6, 8), nn.BatchNorm1d(8), nn.ELU(), nn.Maxout(8, 4, pieces=3), nn.Dropout(0.1),
                          nn.Linear(4, 4), nn.LeakyReLU(0.3), nn.Linear(4, 2))
    by_order = init.by_activation(model)
    by_graph = init.by_activation(model, example_input=gradwise.randn(5, 6))
    # the probing pass runs in eval mode and leaves the model as it was
    assert model.training and model[1].training and int(model[1].num_batches_tracked.item()) == 0
    assert np.all(model[1].running_mean.numpy() == 0)
    for choices in (by_order, by_graph):
        assert [(c.name, c.activation) for c in choices] == [("0", "ELU"), ("3", "Maxout"), ("5", "LeakyReLU"),
                                                              ("7", "none")]
        _check(choices[1], "3", "Maxout", "kaiming_normal_", math.sqrt(2 / 8))
        _check(choices[2], "5", "LeakyReLU", "kaiming_normal_", math.sqrt(2 / (1 + 0.09)) / 2)
