"""nn layers against torch.nn (same weights, float64): outputs, gradients, buffers, reprs."""
import numpy as np
import pytest
import torch

import gradwise
import gradwise.nn as nn
from gradwise.tensor.sparse import SparseRowGrad

rng = np.random.default_rng(3)


def copy_params(g_module, t_module):
    """Give the torch module gradwise's parameters and buffers (same names as torch's)."""
    t_module.load_state_dict({k: torch.tensor(np.array(v.numpy())) for k, v in g_module.state_dict().items()})


def compare(g_module, t_module, x, atol=1e-10, backward=True):
    gx, tx = gradwise.tensor(x, requires_grad=backward), torch.tensor(x, requires_grad=backward)
    gy, ty = g_module(gx), t_module(tx)
    np.testing.assert_allclose(gy.detach().numpy(), ty.detach().numpy(), atol=atol)
    if backward:
        upstream = rng.standard_normal(tuple(ty.shape))
        (gy * gradwise.tensor(upstream)).sum().backward()
        (ty * torch.tensor(upstream)).sum().backward()
        np.testing.assert_allclose(gx.grad.numpy(), tx.grad.numpy(), atol=atol)
        for (name, gp), (_, tp) in zip(g_module.named_parameters(), t_module.named_parameters()):
            np.testing.assert_allclose(gp.grad.numpy(), tp.grad.numpy(), atol=atol, err_msg=name)
    return gy, ty


# ---------------------------------------------------------------------------- Linear, Identity
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("shape", [(4, 5), (2, 3, 5), (5,)])
def test_linear_matches_torch(bias, shape):
    g, t = nn.Linear(5, 3, bias=bias).double(), torch.nn.Linear(5, 3, bias=bias).double()
    copy_params(g, t)
    assert repr(g) == repr(t)
    compare(g, t, rng.standard_normal(shape))


def test_linear_dtype_argument_and_error():
    assert nn.Linear(3, 2, dtype=gradwise.float64).weight.dtype == gradwise.float64
    assert nn.Linear(3, 2).weight.dtype == gradwise.float32
    with pytest.raises(RuntimeError, match=r"expected input of shape \(\*, 400\), got \(2, 16, 5, 5\).*flatten"):
        nn.Linear(400, 120)(gradwise.randn(2, 16, 5, 5))


def test_linear_default_init_like_torch():
    gradwise.manual_seed(0)
    layer = nn.Linear(200, 300)
    w, b = layer.weight.detach().numpy(), layer.bias.detach().numpy()
    bound = 1 / np.sqrt(200)  # kaiming_uniform_(a=sqrt(5)) == U[-1/sqrt(fan_in), 1/sqrt(fan_in)]
    assert np.abs(w).max() <= bound and np.abs(b).max() <= bound
    assert abs(w.std() - bound / np.sqrt(3)) < 0.01 * bound
    assert abs(w.mean()) < 0.01 * bound


def test_identity():
    x = gradwise.randn(3, 4)
    assert nn.Identity(54, unused="x")(x) is x
    assert repr(nn.Identity()) == repr(torch.nn.Identity())


# ---------------------------------------------------------------------------- activations
ACTIVATIONS = [("Sigmoid", (), {}), ("Tanh", (), {}), ("ReLU", (), {}), ("ReLU", (), {"inplace": True}),
               ("LeakyReLU", (), {}), ("LeakyReLU", (0.2,), {"inplace": True}), ("ELU", (), {}),
               ("ELU", (0.5,), {}), ("Softmax", (1,), {}), ("LogSoftmax", (-1,), {}), ("Softmax", (0,), {})]


@pytest.mark.parametrize("name,args,kwargs", ACTIVATIONS)
def test_activation_modules_match_torch(name, args, kwargs):
    g, t = getattr(nn, name)(*args, **kwargs), getattr(torch.nn, name)(*args, **kwargs)
    assert repr(g) == repr(t)
    x = rng.standard_normal((4, 6)) * 2
    if kwargs.get("inplace"):
        gy, ty = g(gradwise.tensor(x)), t(torch.tensor(x))
        np.testing.assert_allclose(gy.numpy(), ty.numpy())
    else:
        compare(g, t, x)


# ---------------------------------------------------------------------------- Maxout
def test_maxout_forward_is_max_of_the_pieces():
    layer = nn.Maxout(4, 3, pieces=2).double()
    x = rng.standard_normal((5, 4))
    w = layer.weight.detach().numpy().reshape(3, 2, 4)  # documented layout: row j*pieces + k
    b = layer.bias.detach().numpy().reshape(3, 2)
    expected = np.maximum(x @ w[:, 0].T + b[:, 0], x @ w[:, 1].T + b[:, 1])  # max(w1^T x + b1, w2^T x + b2)
    np.testing.assert_allclose(layer(gradwise.tensor(x)).detach().numpy(), expected, atol=1e-12)
    assert repr(layer) == "Maxout(in_features=4, out_features=3, pieces=2)"
    assert tuple(layer.weight.shape) == (6, 4) and tuple(layer.bias.shape) == (6,)


@pytest.mark.parametrize("pieces,shape", [(2, (3, 4)), (3, (2, 3, 4)), (1, (4,))])
def test_maxout_gradients_against_central_differences(pieces, shape):
    """PyTorch has no Maxout: every gradient is checked against (f(p + h) - f(p - h)) / 2h."""
    layer = nn.Maxout(4, 3, pieces=pieces).double()
    x = gradwise.tensor(rng.standard_normal(shape), requires_grad=True)
    upstream = rng.standard_normal(shape[:-1] + (3,))

    def value():
        return float((layer(x).detach().numpy() * upstream).sum())

    (layer(x) * gradwise.tensor(upstream)).sum().backward()
    for tensor in (x, layer.weight, layer.bias):
        data, numeric = tensor._data, np.zeros(tensor.shape)
        for i in np.ndindex(*data.shape):
            old = data[i]
            data[i] = old + 1e-6
            up = value()
            data[i] = old - 1e-6
            down = value()
            data[i] = old
            numeric[i] = (up - down) / 2e-6
        np.testing.assert_allclose(tensor.grad.numpy(), numeric, atol=1e-7)


def test_maxout_validation():
    with pytest.raises(ValueError, match="pieces"):
        nn.Maxout(3, 2, pieces=0)
    with pytest.raises(RuntimeError, match=r"\(\*, 3\)"):
        nn.Maxout(3, 2)(gradwise.randn(2, 4))


# ---------------------------------------------------------------------------- Dropout
def test_dropout_module_train_eval_and_reproducibility():
    layer = nn.Dropout(0.25)
    assert repr(layer) == repr(torch.nn.Dropout(0.25))
    x = gradwise.ones(100, 400)
    gradwise.manual_seed(7)
    a = layer(x).numpy()
    gradwise.manual_seed(7)
    b = layer(x).numpy()
    np.testing.assert_array_equal(a, b)
    assert abs((a != 0).mean() - 0.75) < 0.01
    np.testing.assert_allclose(a[a != 0], 1 / 0.75, rtol=1e-6)
    layer.eval()
    np.testing.assert_array_equal(layer(x).numpy(), x.numpy())
    with pytest.raises(ValueError, match="between 0 and 1"):
        nn.Dropout(1.2)


# ---------------------------------------------------------------------------- BatchNorm
@pytest.mark.parametrize("cls,shape", [("BatchNorm1d", (8, 4)), ("BatchNorm1d", (6, 4, 5)),
                                       ("BatchNorm2d", (5, 4, 3, 6))])
@pytest.mark.parametrize("kwargs", [{}, {"momentum": None}, {"momentum": 0.3, "eps": 1e-3}, {"affine": False},
                                    {"track_running_stats": False}])
def test_batchnorm_training_steps_then_eval(cls, shape, kwargs):
    g, t = getattr(nn, cls)(4, **kwargs).double(), getattr(torch.nn, cls)(4, **kwargs).double()
    assert repr(g) == repr(t)
    assert list(g.state_dict()) == list(t.state_dict())
    if g.weight is not None:
        with gradwise.no_grad():
            g.weight.copy_(gradwise.tensor(rng.uniform(0.5, 2, 4)))
            g.bias.copy_(gradwise.tensor(rng.standard_normal(4)))
    copy_params(g, t)
    for step in range(4):
        compare(g, t, rng.standard_normal(shape) * (step + 1) + step)
        for name, buf in t.state_dict().items():
            np.testing.assert_allclose(g.state_dict()[name].numpy(), buf.numpy(), atol=1e-12, err_msg=name)
    g.eval()
    t.eval()
    compare(g, t, rng.standard_normal(shape))
    if kwargs.get("track_running_stats", True):
        assert int(g.num_batches_tracked.item()) == 4


def test_batchnorm_float32_and_dim_errors():
    bn = nn.BatchNorm2d(3)
    y = bn(gradwise.randn(4, 3, 5, 5))
    assert y.dtype == gradwise.float32 and bn.running_mean.dtype == gradwise.float32
    with pytest.raises(ValueError, match="expected 4D input"):
        bn(gradwise.randn(4, 3))
    with pytest.raises(ValueError, match="expected 2D or 3D input"):
        nn.BatchNorm1d(3)(gradwise.randn(4, 3, 2, 2))
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        nn.BatchNorm1d(3)(gradwise.randn(1, 3))


# ---------------------------------------------------------------------------- Embedding
def test_embedding_dense_matches_torch():
    for kwargs in ({}, {"padding_idx": 1}, {"scale_grad_by_freq": True}):
        g, t = nn.Embedding(10, 4, **kwargs).double(), torch.nn.Embedding(10, 4, **kwargs).double()
        assert repr(g) == repr(t)
        copy_params(g, t)
        ids = np.array([[1, 2, 1], [9, 1, 0]])
        gy, ty = g(gradwise.tensor(ids)), t(torch.tensor(ids))
        np.testing.assert_allclose(gy.detach().numpy(), ty.detach().numpy())
        upstream = rng.standard_normal(tuple(ty.shape))
        (gy * gradwise.tensor(upstream)).sum().backward()
        (ty * torch.tensor(upstream)).sum().backward()
        np.testing.assert_allclose(g.weight.grad.numpy(), t.weight.grad.numpy(), atol=1e-12)


def test_embedding_padding_row_starts_at_zero_and_init_is_normal():
    gradwise.manual_seed(0)
    layer = nn.Embedding(5000, 20, padding_idx=3)
    w = layer.weight.detach().numpy()
    assert np.all(w[3] == 0)
    assert abs(w.mean()) < 0.01 and abs(w.std() - 1) < 0.01


def sparse_pair(padding_idx=None):
    g = nn.Embedding(12, 3, sparse=True, padding_idx=padding_idx).double()
    t = torch.nn.Embedding(12, 3, sparse=True, padding_idx=padding_idx).double()
    copy_params(g, t)
    return g, t


def run_sparse(g, t, ids, upstream):
    (g(gradwise.tensor(ids)) * gradwise.tensor(upstream)).sum().backward()
    (t(torch.tensor(ids)) * torch.tensor(upstream)).sum().backward()


def assert_sparse_equal(g_grad, t_grad):
    assert g_grad.is_sparse and t_grad.is_sparse
    gc, tc = g_grad.coalesce(), t_grad.coalesce()
    np.testing.assert_array_equal(gc._indices().numpy(), tc._indices().numpy())
    np.testing.assert_allclose(gc._values().numpy(), tc._values().numpy(), atol=1e-12)
    np.testing.assert_allclose(g_grad.to_dense().numpy(), t_grad.to_dense().numpy(), atol=1e-12)


@pytest.mark.parametrize("padding_idx", [None, 4])
def test_embedding_sparse_gradient_matches_torch_coalesced(padding_idx):
    g, t = sparse_pair(padding_idx)
    ids = np.array([[4, 7, 4], [0, 7, 7]])
    upstream = rng.standard_normal((2, 3, 3))
    run_sparse(g, t, ids, upstream)
    grad = g.weight.grad
    assert isinstance(grad, SparseRowGrad) and grad.shape == (12, 3) and grad.dtype == gradwise.float64
    assert grad._indices().shape == (1, grad._nnz())
    assert_sparse_equal(grad, t.weight.grad)
    assert grad.coalesce().is_coalesced() and grad.coalesce()._nnz() == (2 if padding_idx == 4 else 3)


def test_sparse_gradients_accumulate_by_concatenation():
    g, t = sparse_pair()
    first, second = np.array([1, 5, 1]), np.array([5, 9])
    run_sparse(g, t, first, rng.standard_normal((3, 3)))
    run_sparse(g, t, second, rng.standard_normal((2, 3)))
    grad = g.weight.grad
    assert grad.is_sparse and grad._nnz() == 5  # indices and values concatenated, not yet summed
    np.testing.assert_array_equal(grad._indices().numpy()[0], [1, 5, 1, 5, 9])
    assert_sparse_equal(grad, t.weight.grad)


def test_sparse_plus_dense_gradient_is_dense():
    g, t = sparse_pair()
    ids = np.array([2, 3, 2])
    for weight, emb, lib in ((g.weight, g, gradwise), (t.weight, t, torch)):
        (emb(lib.tensor(ids)).sum() + (weight * weight).sum()).backward()
    assert not g.weight.grad.is_sparse
    np.testing.assert_allclose(g.weight.grad.numpy(), t.weight.grad.to_dense().numpy(), atol=1e-12)
    # a dense .grad receiving a sparse gradient stays dense
    before = g.weight.grad.numpy().copy()
    g(gradwise.tensor(ids)).sum().backward()
    expected = before.copy()
    for i in ids:
        expected[i] += 1
    np.testing.assert_allclose(g.weight.grad.numpy(), expected)


def test_sparse_gradient_behaves_densely_for_unaware_code():
    g, _ = sparse_pair()
    g(gradwise.tensor([3, 3, 0])).sum().backward()
    grad = g.weight.grad
    dense = np.zeros((12, 3))
    dense[3], dense[0] = 2, 1
    np.testing.assert_allclose(grad._data, dense)  # e.g. plain SGD reading p.grad._data
    np.testing.assert_allclose((grad * 2).numpy(), 2 * dense)
    np.testing.assert_allclose((grad + gradwise.ones(12, 3, dtype=gradwise.float64)).numpy(), dense + 1)
    grad.mul_(0.5)
    np.testing.assert_allclose(grad.to_dense().numpy(), dense / 2)
    g.zero_grad(set_to_none=False)
    assert g.weight.grad.is_sparse and g.weight.grad._nnz() == 0
    with pytest.raises(RuntimeError, match="sparse gradient"):
        g.weight.grad.add_(1.0)


def test_sparse_gradient_changed_through_its_dense_array_is_seen_by_sparse_readers():
    """Code that scales p.grad._data in place (gradient clipping) must not be lost for SparseAdam."""
    g, _ = sparse_pair()
    g(gradwise.tensor([3, 3, 0])).sum().backward()
    grad = g.weight.grad
    np.multiply(grad._data, 0.5, out=grad._data)
    c = grad.coalesce()
    np.testing.assert_array_equal(c._indices().numpy(), [[0, 3]])
    np.testing.assert_allclose(c._values().numpy(), [[0.5] * 3, [1.0] * 3])
    np.testing.assert_allclose(grad._values().numpy(), [[0.5] * 3, [1.0] * 3])


def test_coalesce_sums_repeated_rows():
    s = SparseRowGrad(np.array([4, 1, 4, 4, 0]), np.arange(10.0).reshape(5, 2), (6, 2))
    c = s.coalesce()
    np.testing.assert_array_equal(c._indices().numpy(), [[0, 1, 4]])
    np.testing.assert_allclose(c._values().numpy(), [[8, 9], [2, 3], [0 + 4 + 6, 1 + 5 + 7]])
    ref = torch.sparse_coo_tensor(torch.tensor([[4, 1, 4, 4, 0]]), torch.arange(10.0).reshape(5, 2), (6, 2),
                                  check_invariants=True)
    np.testing.assert_allclose(s.to_dense().numpy(), ref.to_dense().numpy())


def test_embedding_from_pretrained_and_errors():
    table = gradwise.randn(4, 2)
    layer = nn.Embedding.from_pretrained(table)
    assert not layer.weight.requires_grad
    np.testing.assert_array_equal(layer(gradwise.tensor([2])).numpy(), table.numpy()[[2]])
    with pytest.raises(AssertionError, match="Padding_idx"):
        nn.Embedding(4, 2, padding_idx=4)
    with pytest.raises(IndexError, match="out of range"):
        layer(gradwise.tensor([4]))


# ---------------------------------------------------------------------------- Flatten, Unflatten
def test_flatten_unflatten_match_torch():
    x = rng.standard_normal((2, 3, 4, 5))
    for g, t in ((nn.Flatten(), torch.nn.Flatten()), (nn.Flatten(0, 2), torch.nn.Flatten(0, 2)),
                 (nn.Unflatten(1, (3, 1)), torch.nn.Unflatten(1, (3, 1))),
                 (nn.Unflatten(-1, (5, -1)), torch.nn.Unflatten(-1, (5, -1)))):
        assert repr(g) == repr(t)
        compare(g, t, x)


# ---------------------------------------------------------------------------- a whole model
def test_print_model_like_torch():
    def build(lib):
        n = lib.nn
        return n.Sequential(n.Conv2d(3, 8, 3, padding=1, bias=False), n.BatchNorm2d(8), n.ReLU(inplace=True),
                            n.MaxPool2d(kernel_size=3, stride=2, padding=1), n.AvgPool2d(2),
                            n.AdaptiveAvgPool2d((1, 1)), n.Flatten(), n.Dropout(0.5), n.Linear(8, 6), n.Tanh(),
                            n.LeakyReLU(0.1), n.ELU(), n.Sigmoid(), n.Embedding(6, 2, padding_idx=0),
                            n.Identity(), n.LogSoftmax(dim=1), n.CrossEntropyLoss())

    assert repr(build(gradwise)) == repr(build(torch))
