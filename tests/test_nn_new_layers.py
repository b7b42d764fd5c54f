"""LayerNorm, GroupNorm, GELU, SiLU, Softplus, Dropout2d, Hardtanh, ReLU6, PReLU against torch in
float64 (values, input and parameter gradients, second derivatives, reprs, state_dict keys, errors);
init gains for them; `gradwise.utils.data`; PyTorch's errors for mixed dtypes, string data and a
string learning rate."""
import math
import warnings

import numpy as np
import pytest
import torch

import gradwise
import gradwise.nn as nn
import gradwise.nn.functional as F
from gradwise.nn import init

TF = torch.nn.functional
rng = np.random.default_rng(13)


def copy_params(g_module, t_module):
    t_module.load_state_dict({k: torch.tensor(np.array(v.numpy())) for k, v in g_module.state_dict().items()})


def randomize(module):
    """Random weights instead of the ones/zeros a norm layer starts with (so the affine part is tested)."""
    for p in module.parameters():
        p.data.copy_(gradwise.tensor(rng.standard_normal(tuple(p.shape))))


def compare(g_module, t_module, x, atol=1e-10):
    """Same output and same gradients (input and every parameter) for one random upstream gradient."""
    gx, tx = gradwise.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    gy, ty = g_module(gx), t_module(tx)
    assert gy.dtype == gradwise.float64 and tuple(gy.shape) == tuple(ty.shape)
    np.testing.assert_allclose(gy.detach().numpy(), ty.detach().numpy(), atol=atol, rtol=1e-9)
    upstream = rng.standard_normal(tuple(ty.shape))
    (gy * gradwise.tensor(upstream)).sum().backward()
    (ty * torch.tensor(upstream)).sum().backward()
    np.testing.assert_allclose(gx.grad.numpy(), tx.grad.numpy(), atol=atol, rtol=1e-9)
    g_params, t_params = dict(g_module.named_parameters()), dict(t_module.named_parameters())
    assert list(g_params) == list(t_params)
    for name, gp in g_params.items():
        np.testing.assert_allclose(gp.grad.numpy(), t_params[name].grad.numpy(), atol=atol, rtol=1e-9, err_msg=name)


def same_error(g_call, t_call, prefix=False):
    """gradwise raises what torch raises: the same exception type and message (or torch's as a prefix)."""
    with pytest.raises(Exception) as t_info:
        t_call()
    with pytest.raises(type(t_info.value)) as g_info:
        g_call()
    g_msg, t_msg = str(g_info.value), str(t_info.value)
    assert g_msg.startswith(t_msg) if prefix else g_msg == t_msg, (g_msg, t_msg)


def with_edges(shape, scale=3.0, edges=(0.0, -1.0, 1.0, 6.0, 20.0, -20.0)):
    """Random values plus the points where the activations change formula."""
    x = rng.standard_normal(shape) * scale
    flat = x.reshape(-1)
    for i, v in enumerate(edges[:flat.size]):
        flat[i] = v
    return x


# ---------------------------------------------------------------------------- activations
ACTIVATIONS = [("GELU", (), {}), ("GELU", (), {"approximate": "tanh"}), ("GELU", ("none",), {}),
               ("SiLU", (), {}), ("Softplus", (), {}), ("Softplus", (2, 10), {}),
               ("Softplus", (), {"beta": 0.5, "threshold": 3.5}), ("Softplus", (), {"beta": 3.0, "threshold": 1.0}),
               ("Hardtanh", (), {}), ("Hardtanh", (-2, 3), {}), ("Hardtanh", (), {"min_val": -0.5, "max_val": 6.0}),
               ("ReLU6", (), {}), ("PReLU", (), {}), ("PReLU", (), {"init": -0.3})]
SHAPES = [(), (1,), (7,), (3, 5), (2, 3, 1, 5), (2, 1, 4, 3, 2)]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name,args,kwargs", ACTIVATIONS)
def test_activation_modules_match_torch(name, args, kwargs, shape):
    g, t = getattr(nn, name)(*args, **kwargs).double(), getattr(torch.nn, name)(*args, **kwargs).double()
    assert repr(g) == repr(t)
    assert list(g.state_dict()) == list(t.state_dict())
    compare(g, t, with_edges(shape))


@pytest.mark.parametrize("name,kwargs", [("SiLU", {"inplace": True}), ("Hardtanh", {"inplace": True}),
                                         ("ReLU6", {"inplace": True}), ("Hardtanh", {"min_value": -2.0}),
                                         ("Hardtanh", {"max_value": 2.5})])
def test_activation_keyword_variants(name, kwargs):
    with warnings.catch_warnings(record=True) as ours:
        warnings.simplefilter("always")
        g = getattr(nn, name)(**kwargs)
    with warnings.catch_warnings(record=True) as theirs:
        warnings.simplefilter("always")
        t = getattr(torch.nn, name)(**kwargs)
    assert [str(w.message) for w in ours] == [str(w.message) for w in theirs]
    assert [w.category for w in ours] == [w.category for w in theirs]
    assert repr(g) == repr(t)
    x = with_edges((4, 6))
    np.testing.assert_allclose(g(gradwise.tensor(x)).numpy(), t(torch.tensor(x)).numpy(), atol=1e-12)


@pytest.mark.parametrize("num_parameters,shape", [(3, (2, 3)), (3, (4, 3, 5)), (2, (1, 2, 3, 4)), (4, (2, 4, 1, 1, 3)),
                                                  (1, (2, 5, 3)), (1, ())])
def test_prelu_per_channel_matches_torch(num_parameters, shape):
    g, t = nn.PReLU(num_parameters).double(), torch.nn.PReLU(num_parameters).double()
    randomize(g)
    copy_params(g, t)
    assert repr(g) == repr(t) and list(g.state_dict()) == ["weight"]
    assert tuple(g.weight.shape) == (num_parameters,)
    compare(g, t, with_edges(shape))


def test_prelu_starts_at_init_and_keeps_dtype():
    layer = nn.PReLU(5, init=0.1)
    assert layer.weight.dtype == gradwise.float32 and np.allclose(layer.weight.detach().numpy(), 0.1)
    assert nn.PReLU(dtype=gradwise.float64).weight.dtype == gradwise.float64
    assert layer(gradwise.randn(2, 5)).dtype == gradwise.float32


@pytest.mark.parametrize("fn,args", [("gelu", ()), ("silu", ()), ("softplus", ()),
                                     ("softplus", (0.7, 2.0)), ("hardtanh", ()), ("hardtanh", (-3.0, 0.5)),
                                     ("relu6", ())])
def test_functional_matches_torch_far_into_the_tails(fn, args):
    x = np.concatenate([np.linspace(-40, 40, 161), rng.standard_normal(50) * 5, [0.0, 6.0, -1.0, 1.0, 1e-9]])
    gx, tx = gradwise.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    for kwargs in ([{}, {"approximate": "tanh"}] if fn == "gelu" else [{}]):
        gx.grad = tx.grad = None
        gy, ty = getattr(F, fn)(gx, *args, **kwargs), getattr(TF, fn)(tx, *args, **kwargs)
        np.testing.assert_allclose(gy.detach().numpy(), ty.detach().numpy(), atol=1e-12, rtol=1e-12)
        gy.sum().backward()
        ty.sum().backward()
        np.testing.assert_allclose(gx.grad.numpy(), tx.grad.numpy(), atol=1e-12, rtol=1e-12)


def test_float32_and_integer_inputs():
    x = gradwise.randn(3, 4)
    for fn in (F.gelu, F.silu, F.softplus, F.hardtanh, F.relu6):
        assert fn(x).dtype == gradwise.float32
    np.testing.assert_allclose(F.gelu(x).numpy(), TF.gelu(torch.tensor(x.numpy())).numpy(), rtol=1e-6, atol=1e-7)
    ints = gradwise.arange(-3, 8)
    np.testing.assert_array_equal(F.relu6(ints).numpy(), TF.relu6(torch.arange(-3, 8)).numpy())
    assert F.relu6(ints).dtype == gradwise.int64 and F.hardtanh(ints).dtype == gradwise.int64
    assert F.gelu(ints).dtype == gradwise.float32  # like elu/leaky_relu here: integers become the default float


def test_normal_cdf_matches_math_erfc():
    from gradwise.ops.activation import erfc, normal_cdf

    x = np.concatenate([np.linspace(-30, 30, 20001), rng.standard_normal(1000) * 6])
    expected = np.array([math.erfc(v) for v in x])
    np.testing.assert_allclose(erfc(x), expected, rtol=1e-14, atol=1e-300)
    # x / sqrt(2) is rounded before erfc sees it: about 2 x^2 ulps of relative error far in the tail
    np.testing.assert_allclose(normal_cdf(x), [0.5 * math.erfc(-v / math.sqrt(2)) for v in x], rtol=1e-12)
    assert erfc(x.astype(np.float32)).dtype == np.float32


# ---------------------------------------------------------------------------- LayerNorm
LAYER_NORM = [(5, (4, 5)), ((5,), (2, 3, 5)), ([3, 5], (2, 3, 5)), ((4, 5), (4, 5)), (7, (7,)),
              ((2, 1, 3), (3, 2, 1, 3)), (1, (3, 1))]


@pytest.mark.parametrize("normalized_shape,shape", LAYER_NORM)
@pytest.mark.parametrize("kwargs", [{}, {"eps": 1e-2}, {"elementwise_affine": False}, {"bias": False}])
def test_layer_norm_matches_torch(normalized_shape, shape, kwargs):
    g = nn.LayerNorm(normalized_shape, **kwargs).double()
    t = torch.nn.LayerNorm(normalized_shape, **kwargs).double()
    assert repr(g) == repr(t)
    assert list(g.state_dict()) == list(t.state_dict())
    if g.weight is not None:
        np.testing.assert_array_equal(g.weight.detach().numpy(), 1)
        randomize(g)
        copy_params(g, t)
    compare(g, t, rng.standard_normal(shape) * 3 + 1)


def test_layer_norm_float32_eval_and_no_state():
    layer = nn.LayerNorm(6)
    x = gradwise.randn(4, 6)
    y = layer(x)
    assert y.dtype == gradwise.float32 and layer.weight.dtype == gradwise.float32
    values = y.detach().numpy()
    np.testing.assert_allclose(values.mean(-1), 0, atol=1e-6)
    np.testing.assert_allclose(values.var(-1), 1, rtol=1e-3)
    np.testing.assert_array_equal(layer.eval()(x).detach().numpy(), values)  # no batch statistics: eval is the same
    assert list(layer.state_dict()) == ["weight", "bias"]


# ---------------------------------------------------------------------------- GroupNorm
GROUP_NORM = [(2, 4, (3, 4)), (1, 4, (2, 4, 5)), (4, 4, (2, 4, 3, 2)), (3, 6, (2, 6, 3, 5)), (2, 6, (1, 6, 2, 1, 3)),
              (1, 3, (1, 3, 7)), (5, 5, (2, 5, 1))]


@pytest.mark.parametrize("groups,channels,shape", GROUP_NORM)
@pytest.mark.parametrize("kwargs", [{}, {"eps": 1e-1}, {"affine": False}, {"bias": False}])
def test_group_norm_matches_torch(groups, channels, shape, kwargs):
    g = nn.GroupNorm(groups, channels, **kwargs).double()
    t = torch.nn.GroupNorm(groups, channels, **kwargs).double()
    assert repr(g) == repr(t)
    assert list(g.state_dict()) == list(t.state_dict())
    if g.weight is not None:
        randomize(g)
        copy_params(g, t)
    compare(g, t, rng.standard_normal(shape) * 2 - 1)


# ---------------------------------------------------------------------------- second derivatives
def double_backward(lib, fn, arrays):
    """d/d(inputs) of <grad(fn(inputs); u), r>, and of it with respect to u itself."""
    tensors = [lib.tensor(a, requires_grad=True) for a in arrays]
    out = fn(*tensors)
    u = lib.tensor(np.linspace(-1, 1, out.numel()).reshape(tuple(out.shape)), requires_grad=True)
    grads = lib.autograd.grad(out, tensors, u, create_graph=True)
    total = sum((g * lib.tensor(np.cos(np.arange(g.numel())).reshape(tuple(g.shape)))).sum() for g in grads)
    second = lib.autograd.grad(total, tensors + [u], allow_unused=True)
    return [None if s is None else s.detach().numpy() for s in second]


SECOND_ORDER = {
    "gelu": ((lambda lib, fn: lambda x: fn.gelu(x)), [(3, 4)]),
    "gelu_tanh": ((lambda lib, fn: lambda x: fn.gelu(x, approximate="tanh")), [(3, 4)]),
    "silu": ((lambda lib, fn: lambda x: fn.silu(x)), [(3, 4)]),
    "softplus": ((lambda lib, fn: lambda x: fn.softplus(x, 1.5, 2.0)), [(3, 4)]),
    "prelu": ((lambda lib, fn: lambda x, w: fn.prelu(x, w)), [(2, 3, 4), (3,)]),
    "hardtanh": ((lambda lib, fn: lambda x: fn.hardtanh(x, -0.5, 0.5) * x), [(3, 4)]),
    "layer_norm": ((lambda lib, fn: lambda x, w, b: fn.layer_norm(x, (3, 4), w, b)), [(2, 3, 4), (3, 4), (3, 4)]),
    "group_norm": ((lambda lib, fn: lambda x, w, b: fn.group_norm(x, 2, w, b)), [(2, 4, 3), (4,), (4,)]),
}


@pytest.mark.parametrize("name", list(SECOND_ORDER))
def test_second_derivatives_match_torch(name):
    make, shapes = SECOND_ORDER[name]
    arrays = [rng.standard_normal(s) for s in shapes]
    ours = double_backward(gradwise, make(gradwise, F), arrays)
    theirs = double_backward(torch, make(torch, TF), arrays)
    for i, (a, b) in enumerate(zip(ours, theirs)):
        if a is None and b is None:  # e.g. the bias: the gradient does not depend on it
            continue
        if a is None or b is None:
            np.testing.assert_allclose(a if a is not None else b, 0, atol=1e-12, err_msg=f"{name}: result {i}")
        else:
            np.testing.assert_allclose(a, b, atol=1e-9, rtol=1e-8, err_msg=f"{name}: result {i}")


# ---------------------------------------------------------------------------- Dropout2d
def test_dropout2d_drops_whole_channels():
    layer = nn.Dropout2d(0.3)
    assert repr(layer) == repr(torch.nn.Dropout2d(0.3)) and repr(nn.Dropout2d()) == repr(torch.nn.Dropout2d())
    assert not isinstance(layer, nn.Dropout)  # siblings, as in PyTorch
    x = gradwise.tensor(rng.standard_normal((200, 30, 3, 4)) + 5, requires_grad=True)
    gradwise.manual_seed(3)
    y = layer(x)
    planes = y.detach().numpy().reshape(200, 30, -1)
    dropped = np.all(planes == 0, axis=2)
    kept = np.allclose(planes, x.detach().numpy().reshape(200, 30, -1) / 0.7)
    assert abs(dropped.mean() - 0.3) < 0.02
    assert np.all(dropped | np.all(planes != 0, axis=2))  # every plane is either all zero or all kept
    np.testing.assert_allclose(planes[~dropped], (x.detach().numpy().reshape(200, 30, -1) / 0.7)[~dropped])
    assert not kept  # something was dropped
    y.sum().backward()
    grad = x.grad.numpy().reshape(200, 30, -1)
    np.testing.assert_allclose(grad, np.broadcast_to(np.where(dropped[..., None], 0.0, 1 / 0.7), grad.shape))
    gradwise.manual_seed(3)
    np.testing.assert_array_equal(layer(x).detach().numpy(), y.detach().numpy())  # reproducible with manual_seed
    layer.eval()
    assert layer(x) is x


def test_dropout2d_edge_probabilities_and_shapes():
    x = gradwise.randn(4, 3, 5, 5)
    assert F.dropout2d(x, 0.0) is x and F.dropout2d(x, 0.7, training=False) is x
    np.testing.assert_array_equal(F.dropout2d(x, 1.0).numpy(), 0)
    with pytest.warns(UserWarning, match=r"Received a 3D input to dropout2d .* \(N, C, L\)"):
        out = F.dropout2d(gradwise.ones(50, 40, 6), 0.5).numpy()  # (N, C, L): one draw per (n, c)
    assert np.all((out == 0).all(axis=2) | (out == 2).all(axis=2))
    with pytest.warns(UserWarning, match="Received a 2-D input to dropout2d"):
        F.dropout2d(gradwise.ones(4, 3), 0.5)
    with pytest.warns(UserWarning, match="Received a 5-D input"):
        out = F.dropout2d(gradwise.ones(20, 30, 2, 2, 2), 0.5).numpy()
    assert np.all((out.reshape(20, 30, -1) == 0).all(axis=2) | (out.reshape(20, 30, -1) == 2).all(axis=2))


# ---------------------------------------------------------------------------- PyTorch's errors
LAYER_ERRORS = {
    "ln_last_dims": lambda lib: lib.nn.LayerNorm(5)(lib.ones(3, 4)),
    "ln_two_dims": lambda lib: lib.nn.LayerNorm([3, 4])(lib.ones(2, 4, 3)),
    "ln_too_few_dims": lambda lib: lib.nn.LayerNorm([3, 4])(lib.ones(4)),
    "ln_weight": lambda lib: lib.nn.functional.layer_norm(lib.ones(3, 4), (4,), lib.ones(3)),
    "ln_bias": lambda lib: lib.nn.functional.layer_norm(lib.ones(3, 4), (4,), None, lib.ones(3)),
    "ln_int_shape": lambda lib: lib.nn.functional.layer_norm(lib.ones(3, 4), 4),
    "ln_empty_shape": lambda lib: lib.nn.functional.layer_norm(lib.ones(3, 4), []),
    "ln_mixed_dtype": lambda lib: lib.nn.LayerNorm(3)(lib.ones(2, 3, dtype=lib.float64)),
    "gn_divisible": lambda lib: lib.nn.GroupNorm(3, 4),
    "gn_channels": lambda lib: lib.nn.GroupNorm(2, 4)(lib.ones(3, 6)),
    "gn_one_dim": lambda lib: lib.nn.GroupNorm(2, 4)(lib.ones(4)),
    "gn_not_divisible": lambda lib: lib.nn.functional.group_norm(lib.ones(3, 6), 4),
    "gn_weight": lambda lib: lib.nn.functional.group_norm(lib.ones(3, 6), 2, lib.ones(4)),
    "gn_one_value": lambda lib: lib.nn.functional.group_norm(lib.ones(1, 6), 6),
    "gn_one_value_3d": lambda lib: lib.nn.functional.group_norm(lib.ones(1, 6, 1), 6),
    "gn_mixed_dtype": lambda lib: lib.nn.GroupNorm(2, 4)(lib.ones(2, 4, dtype=lib.float64)),
    "gelu_approximate": lambda lib: lib.nn.GELU("exact")(lib.ones(3)),
    "hardtanh_bounds": lambda lib: lib.nn.Hardtanh(2, 1),
    "hardtanh_equal_bounds": lambda lib: lib.nn.Hardtanh(1, 1),
    "hardtanh_functional": lambda lib: lib.nn.functional.hardtanh(lib.ones(3), 2.0, 1.0),
    "prelu_channels": lambda lib: lib.nn.PReLU(3)(lib.ones(2, 4)),
    "prelu_1d": lambda lib: lib.nn.PReLU(3)(lib.ones(3)),
    "prelu_0d": lambda lib: lib.nn.PReLU(3)(lib.tensor(1.0)),
    "prelu_weight_2d": lambda lib: lib.nn.functional.prelu(lib.ones(2, 3), lib.ones(1, 3)),
    "prelu_dtype": lambda lib: lib.nn.PReLU()(lib.ones(2, 3, dtype=lib.float64)),
    "dropout2d_p": lambda lib: lib.nn.Dropout2d(1.5),
    "dropout2d_p_functional": lambda lib: lib.nn.functional.dropout2d(lib.ones(2, 3, 4, 4), -0.1),
}


@pytest.mark.parametrize("case", list(LAYER_ERRORS))
def test_errors_match_torch(case):
    make = LAYER_ERRORS[case]
    same_error(lambda: make(gradwise), lambda: make(torch))


def test_dropout2d_needs_two_dims_like_torch():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        same_error(lambda: F.dropout2d(gradwise.ones(3)), lambda: TF.dropout2d(torch.ones(3)))


# ---------------------------------------------------------------------------- init
@pytest.mark.parametrize("name,param,expected", [("gelu", None, math.sqrt(2)), ("silu", None, math.sqrt(2)),
                                                 ("softplus", None, math.sqrt(2)), ("relu6", None, math.sqrt(2)),
                                                 ("hardtanh", None, 1.0), ("prelu", None, math.sqrt(2 / 1.0625)),
                                                 ("prelu", 0.1, math.sqrt(2 / 1.01))])
def test_calculate_gain_knows_the_new_activations(name, param, expected):
    assert init.calculate_gain(name, param) == pytest.approx(expected, rel=1e-15)
    with pytest.raises(ValueError, match="Unsupported nonlinearity"):  # PyTorch has no entry for them
        torch.nn.init.calculate_gain(name, param)


def test_calculate_gain_keeps_torchs_entries_and_errors():
    for name in ("linear", "sigmoid", "tanh", "relu", "leaky_relu", "selu", "conv2d"):
        assert init.calculate_gain(name) == torch.nn.init.calculate_gain(name)
    with pytest.raises(ValueError, match="Unsupported nonlinearity mish"):
        init.calculate_gain("mish")
    with pytest.raises(ValueError, match="not a valid number"):
        init.calculate_gain("prelu", "0.25")


def _mlp():
    return nn.Sequential(nn.Linear(40, 30), nn.GELU(), nn.Linear(30, 30), nn.SiLU(), nn.Linear(30, 20),
                         nn.LayerNorm(20), nn.Softplus(), nn.Linear(20, 20), nn.ReLU6(), nn.Linear(20, 16),
                         nn.PReLU(16, init=0.1), nn.Linear(16, 12), nn.Dropout(0.1), nn.Hardtanh(),
                         nn.Linear(12, 5))


EXPECTED_INIT = [("0", "GELU", "kaiming_normal_(fan_in, relu)", math.sqrt(2 / 40)),
                 ("2", "SiLU", "kaiming_normal_(fan_in, relu)", math.sqrt(2 / 30)),
                 ("4", "Softplus", "kaiming_normal_(fan_in, relu)", math.sqrt(2 / 30)),
                 ("7", "ReLU6", "kaiming_normal_(fan_in, relu)", math.sqrt(2 / 20)),
                 ("9", "PReLU", "kaiming_normal_(fan_in, leaky_relu, a=0.1)", math.sqrt(2 / 1.01 / 20)),
                 ("11", "Hardtanh", "xavier_uniform_(gain=1)", math.sqrt(2 / (16 + 12))),
                 ("14", "none", "xavier_uniform_(gain=0.1)", 0.1 * math.sqrt(2 / 17))]


@pytest.mark.parametrize("graph", [False, True])
def test_by_activation_knows_the_new_activations(graph):
    gradwise.manual_seed(0)
    model = _mlp()
    choices = init.by_activation(model, example_input=gradwise.randn(4, 40) if graph else None)
    got = [(c.name, c.activation, c.scheme, c.std) for c in choices]
    assert [g[:3] for g in got] == [e[:3] for e in EXPECTED_INIT]
    for (*_, std), (*_, expected) in zip(got, EXPECTED_INIT):
        assert std == pytest.approx(expected, rel=1e-6)
    assert "ReLU-like" in choices[0].reason and "PReLU" in choices[4].reason and "Hardtanh" in choices[5].reason
    big = nn.Sequential(nn.Linear(400, 300), nn.GELU())
    init.by_activation(big)
    assert abs(big[0].weight.detach().numpy().std() - math.sqrt(2 / 400)) < 0.02 * math.sqrt(2 / 400)


def test_by_activation_sees_functional_gelu_in_the_graph():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1, self.fc2 = nn.Linear(8, 8), nn.Linear(8, 2)

        def forward(self, x):
            return self.fc2(F.silu(F.layer_norm(self.fc1(x), (8,))))

    choices = init.by_activation(Net(), example_input=gradwise.randn(3, 8))
    assert [(c.name, c.activation) for c in choices] == [("fc1", "SiLU"), ("fc2", "none")]


# ---------------------------------------------------------------------------- gradwise.utils.data
def test_utils_data_mirrors_torch_utils_data():
    import gradwise.utils.data as d
    import gradwise.data as gd

    for name in ("Dataset", "IterableDataset", "TensorDataset", "ConcatDataset", "Subset", "random_split",
                 "DataLoader", "default_collate", "default_convert", "get_worker_info", "Sampler",
                 "SequentialSampler", "RandomSampler", "SubsetRandomSampler", "WeightedRandomSampler",
                 "BatchSampler"):
        assert hasattr(torch.utils.data, name), name
        assert getattr(d, name) is getattr(gd, name), name
    assert gradwise.utils.data is d
    from gradwise.utils.data.dataloader import DataLoader, default_collate  # noqa: F401 - torch's module paths
    from gradwise.utils.data.dataset import Dataset, TensorDataset  # noqa: F401
    from gradwise.utils.data.sampler import RandomSampler, Sampler  # noqa: F401
    assert DataLoader is d.DataLoader and Sampler is d.Sampler and Dataset is d.Dataset


def test_lecture_style_training_with_utils_data():
    from gradwise.utils.data import DataLoader, Dataset, TensorDataset, random_split

    class Squares(Dataset):
        def __init__(self, n):
            self.x = np.linspace(-1, 1, n, dtype=np.float32)[:, None]

        def __len__(self):
            return len(self.x)

        def __getitem__(self, i):
            return self.x[i], self.x[i] ** 2

    gradwise.manual_seed(0)
    train, val = random_split(Squares(100), [80, 20])
    assert len(train) == 80 and len(val) == 20
    loader = DataLoader(train, batch_size=16, shuffle=True)
    model = nn.Sequential(nn.Linear(1, 16), nn.GELU(), nn.LayerNorm(16), nn.Linear(16, 1))
    optimizer = gradwise.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    losses = []
    for epoch in range(15):
        total = 0.0
        for x, y in loader:
            optimizer.zero_grad()
            loss = F.mse_loss(model(x), y)
            loss.backward()
            optimizer.step()
            total += loss.item()
        losses.append(total / len(loader))
    assert losses[-1] < 0.3 * losses[0]
    batches = list(DataLoader(TensorDataset(gradwise.arange(10.0), gradwise.arange(10)), batch_size=4))
    assert [len(b[0]) for b in batches] == [4, 4, 2] and batches[0][1].dtype == gradwise.int64


def test_get_worker_info_like_torch():
    from gradwise.utils.data import DataLoader, IterableDataset, TensorDataset, get_worker_info

    assert get_worker_info() is None and torch.utils.data.get_worker_info() is None
    seen = []
    loader = DataLoader(TensorDataset(gradwise.arange(12.0)), batch_size=5, num_workers=2,
                        worker_init_fn=lambda worker_id: seen.append((worker_id, get_worker_info())))
    assert [b[0].numpy().tolist() for b in loader] == [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9], [10, 11]]
    (worker_id, info), = seen
    assert worker_id == 0 and info.id == 0 and info.num_workers == 1 and isinstance(info.seed, int)
    assert info.dataset is loader.dataset and repr(info).startswith("WorkerInfo(id=0, num_workers=1, seed=")

    class Sharded(IterableDataset):
        """PyTorch's documented pattern: each worker yields its share of the range."""

        def __iter__(self):
            info = get_worker_info()
            if info is None:
                return iter(range(10))
            return iter(range(info.id, 10, info.num_workers))

    for workers in (0, 3):
        items = [int(v) for batch in DataLoader(Sharded(), batch_size=4, num_workers=workers) for v in batch]
        assert items == list(range(10))  # one prefetch thread: every item, exactly once
    assert get_worker_info() is None


# ---------------------------------------------------------------------------- dtype, data and lr errors
@pytest.mark.parametrize("case", ["linear_module", "linear_3d", "linear_1d", "linear_no_bias", "linear_bias_dtype",
                                  "linear_int_input", "conv_module", "conv_unbatched", "conv_bias_dtype",
                                  "conv_transpose"])
def test_mixed_dtype_layers_raise_like_torch(case):
    def run(lib):
        f64 = lib.float64
        return {
            "linear_module": lambda: lib.nn.Linear(3, 2)(lib.ones(4, 3, dtype=f64)),
            "linear_3d": lambda: lib.nn.Linear(3, 2)(lib.ones(2, 4, 3, dtype=f64)),
            "linear_1d": lambda: lib.nn.Linear(3, 2).double()(lib.ones(3)),
            "linear_no_bias": lambda: lib.nn.Linear(3, 2, bias=False)(lib.ones(4, 3, dtype=f64)),
            "linear_bias_dtype": lambda: lib.nn.functional.linear(lib.ones(4, 3), lib.ones(2, 3),
                                                                   lib.ones(2, dtype=f64)),
            "linear_int_input": lambda: lib.nn.Linear(3, 2)(lib.ones(4, 3, dtype=lib.int64)),
            "conv_module": lambda: lib.nn.Conv2d(3, 2, 3)(lib.ones(1, 3, 5, 5, dtype=f64)),
            "conv_unbatched": lambda: lib.nn.Conv2d(3, 2, 3, bias=False)(lib.ones(3, 5, 5, dtype=f64)),
            "conv_bias_dtype": lambda: lib.nn.functional.conv2d(lib.ones(1, 3, 5, 5), lib.ones(2, 3, 3, 3),
                                                                 lib.ones(2, dtype=f64)),
            "conv_transpose": lambda: lib.nn.ConvTranspose2d(3, 2, 3)(lib.ones(1, 3, 5, 5, dtype=f64)),
        }[case]()

    same_error(lambda: run(gradwise), lambda: run(torch), prefix=True)  # gradwise adds what to do about it


def test_linear_float32_on_float64_says_so():
    with pytest.raises(RuntimeError, match=r"^mat1 and mat2 must have the same dtype, but got Double and Float "
                                           r"\(input dtype float64, weight dtype float32"):
        nn.Linear(3, 2)(gradwise.randn(4, 3, dtype=gradwise.float64))
    assert nn.Linear(3, 2).double()(gradwise.randn(4, 3, dtype=gradwise.float64)).dtype == gradwise.float64


def test_conv_transpose_casts_a_bias_of_another_dtype_like_torch():
    x, w, b = rng.standard_normal((1, 3, 4, 4)), rng.standard_normal((3, 2, 3, 3)), rng.standard_normal(2)
    ours = F.conv_transpose2d(gradwise.tensor(x), gradwise.tensor(w), gradwise.tensor(b, dtype=gradwise.float32))
    theirs = TF.conv_transpose2d(torch.tensor(x), torch.tensor(w), torch.tensor(b, dtype=torch.float32))
    assert ours.dtype == gradwise.float64 and theirs.dtype == torch.float64
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-6)


@pytest.mark.parametrize("data", [["a", "b"], "a", [1, "a"], ["a", 1], [[1.0], ["b"]], b"ab", None, [1, None],
                                  {"a": 1}, np.array(["a", "b"]), np.array([object()])],
                         ids=lambda d: repr(d)[:20])
def test_tensor_of_non_numbers_raises_like_torch(data):
    same_error(lambda: gradwise.tensor(data), lambda: torch.tensor(data))


def test_tensor_of_numbers_still_works():
    assert gradwise.tensor([]).shape == (0,)
    assert gradwise.tensor([[1, 2], [3, 4]]).dtype == gradwise.int64
    assert gradwise.tensor([gradwise.tensor(1.0), gradwise.tensor(2.0)]).tolist() == [1.0, 2.0]
    assert gradwise.tensor(np.float64(2.5)).dtype == gradwise.float64
    assert gradwise.tensor([True, False]).dtype == gradwise.bool


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW", "Adagrad", "Adadelta", "Adamax", "ASGD", "NAdam", "RAdam",
                                  "RMSprop", "Rprop", "SparseAdam", "LBFGS"])
def test_string_learning_rate_raises_type_error_like_torch(name):
    params = [nn.Parameter(gradwise.randn(2))]
    with pytest.raises(TypeError) as theirs:
        getattr(torch.optim, name)([torch.nn.Parameter(torch.randn(2))], lr="0.1")
    with pytest.raises(TypeError, match=r"not supported between instances of 'str' and 'float' \(lr must be a number"):
        getattr(gradwise.optim, name)(params, lr="0.1")
    assert "not supported between instances of" in str(theirs.value)


def test_sgd_string_lr_message_and_other_hyper_parameters():
    params = [nn.Parameter(gradwise.randn(2))]
    same_error(lambda: gradwise.optim.SGD(params, lr="0.1"),
               lambda: torch.optim.SGD([torch.nn.Parameter(torch.randn(2))], lr="0.1"), prefix=True)
    with pytest.raises(TypeError, match="momentum must be a number"):
        gradwise.optim.SGD(params, lr=0.1, momentum="0.9")
    with pytest.raises(TypeError, match=r"betas\[0\] must be a number"):
        gradwise.optim.Adam(params, betas=("0.9", 0.999))
    with pytest.raises(TypeError, match="'NoneType' and 'float'"):
        gradwise.optim.Adam(params, lr=None)
    assert gradwise.optim.SGD(params, lr=np.float32(0.1)).param_groups[0]["lr"] == pytest.approx(0.1)
    assert gradwise.optim.Adam(params, lr=gradwise.tensor(0.01)).param_groups[0]["lr"] is not None
