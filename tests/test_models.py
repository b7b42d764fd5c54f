"""gradwise.models: torchvision layouts key for key, and the same outputs once weights are shared."""
from __future__ import annotations

import numpy as np
import pytest

import gradwise
from gradwise import models

torch = pytest.importorskip("torch")
import _torchvision_ref as tv  # noqa: E402 - beside this file (pytest puts tests/ on sys.path); needs torch


def layout(state) -> list[tuple[str, tuple[int, ...]]]:
    return [(k, tuple(v.shape)) for k, v in state.items()]


def torch_state_as_numpy(model) -> dict[str, np.ndarray]:
    return {k: v.detach().numpy() for k, v in model.state_dict().items()}


@pytest.mark.parametrize("name, build_ref", [
    ("resnet18", lambda: tv.resnet18(10)),
    ("resnet34", lambda: tv.resnet34(10)),
    ("resnet50", lambda: tv.resnet50(10)),
])
def test_resnet_state_dict_matches_torchvision_layout(name, build_ref):
    ours = getattr(models, name)(num_classes=10)
    assert layout(ours.state_dict()) == layout(build_ref().state_dict())


def test_vgg11_state_dict_matches_torchvision_layout():
    with torch.device("meta"):  # no memory for VGG's 500 MB of weights on the torch side
        reference = tv.vgg11(num_classes=7)
    ours = models.vgg11(num_classes=7)  # (~5 s: 132 M weights initialised twice, as torchvision does)
    assert layout(ours.state_dict()) == layout(reference.state_dict())
    assert ours.classifier[6].out_features == 7


def test_vgg11_bn_features_match_torchvision_layout():
    from gradwise.models.vgg import CONFIGS, make_layers

    cfg = CONFIGS["A"]
    with torch.device("meta"):
        reference = tv.make_layers(cfg, batch_norm=True)
    assert layout(make_layers(cfg, batch_norm=True).state_dict()) == layout(reference.state_dict())


def test_alexnet_state_dict_matches_torchvision_layout():
    with torch.device("meta"):
        reference = tv.AlexNet(num_classes=3)
    assert layout(models.alexnet(num_classes=3).state_dict()) == layout(reference.state_dict())


def test_resnet18_same_outputs_as_torch_after_import():
    torch.manual_seed(0)
    reference = tv.randomise_bn(tv.resnet18(10)).double().eval()
    ours = models.resnet18(num_classes=10).double().eval()
    ours.load_state_dict(torch_state_as_numpy(reference))
    x = np.random.default_rng(0).standard_normal((1, 3, 32, 32))
    with torch.no_grad():
        expected = reference(torch.from_numpy(x)).numpy()
    with gradwise.no_grad():
        got = ours(gradwise.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_resnet50_same_outputs_and_gradients_as_torch_after_import():
    torch.manual_seed(0)
    reference = tv.randomise_bn(tv.resnet50(10)).double().eval()
    ours = models.resnet50(num_classes=10).double().eval()
    ours.load_state_dict(torch_state_as_numpy(reference))
    x = np.random.default_rng(0).standard_normal((2, 3, 32, 32))
    upstream = np.random.default_rng(1).standard_normal((2, 10))
    expected = reference(torch.from_numpy(x))
    (expected * torch.from_numpy(upstream)).sum().backward()
    got = ours(gradwise.from_numpy(x))
    (got * gradwise.from_numpy(upstream)).sum().backward()
    np.testing.assert_allclose(got.detach().numpy(), expected.detach().numpy(), rtol=1e-9, atol=1e-10)
    for name in ("conv1.weight", "layer1.0.conv3.weight", "layer3.5.bn2.weight", "layer4.0.downsample.0.weight",
                 "fc.bias"):
        np.testing.assert_allclose(ours.get_parameter(name).grad.numpy(),
                                   reference.get_parameter(name).grad.numpy(), rtol=1e-8, atol=1e-10, err_msg=name)


def test_resnet50_pretrained_reads_torchvision_s_file_from_the_pytorch_cache(tmp_path, monkeypatch):
    """``resnet50(pretrained=True)`` looks for torchvision's ``resnet50-0676ba61.pth`` (never downloads);
    a float32 file written by torch loads key for key and gives torch's outputs."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(FileNotFoundError, match=r"resnet50\(pretrained=True\).*resnet50-0676ba61\.pth.*checkpoints"):
        models.resnet50(pretrained=True)
    torch.manual_seed(2)
    reference = tv.randomise_bn(tv.resnet50(), seed=3).eval()
    checkpoints = tmp_path / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    torch.save(reference.state_dict(), checkpoints / "resnet50-0676ba61.pth")
    model = models.resnet50(pretrained=True).double().eval()
    assert model.fc.weight.shape == (1000, 2048)
    x = np.random.default_rng(2).standard_normal((1, 3, 32, 32))
    with torch.no_grad():
        expected = reference.double()(torch.from_numpy(x)).numpy()
    with gradwise.no_grad():
        got = model(gradwise.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-10)


def test_alexnet_same_outputs_as_torch_after_import():
    torch.manual_seed(0)
    reference = tv.AlexNet(num_classes=5).double().eval()
    ours = models.alexnet(num_classes=5).double().eval()
    ours.load_state_dict(torch_state_as_numpy(reference))
    x = np.random.default_rng(1).standard_normal((1, 3, 64, 64))
    with torch.no_grad():
        expected = reference(torch.from_numpy(x)).numpy()
    with gradwise.no_grad():
        got = ours(gradwise.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_resnet_init_is_torchvision_s():
    model = models.resnet18(num_classes=4, zero_init_residual=True)
    std = model.layer3[0].conv1.weight.detach().numpy().std()
    assert std == pytest.approx(np.sqrt(2.0 / (256 * 9)), rel=0.05)  # Kaiming normal, fan_out, ReLU
    assert np.all(model.layer1[0].bn2.weight.detach().numpy() == 0)
    assert np.all(model.bn1.weight.detach().numpy() == 1) and np.all(model.bn1.bias.detach().numpy() == 0)


def test_resnet50_bottleneck_shapes_and_zero_init_residual():
    model = models.resnet50(num_classes=3, zero_init_residual=True)
    block = model.layer2[0]
    assert isinstance(block, models.Bottleneck) and block.expansion == 4
    assert block.conv1.weight.shape == (128, 256, 1, 1) and block.conv2.stride == (2, 2)
    assert block.conv3.weight.shape == (512, 128, 1, 1) and block.downsample[0].stride == (2, 2)
    assert np.all(block.bn3.weight.detach().numpy() == 0) and np.all(block.bn2.weight.detach().numpy() == 1)
    # torchvision's resnet50() has 25,557,032 parameters; this one has 3 classes instead of 1000
    assert sum(p.numel() for p in model.parameters()) == 25_557_032 - 997 * (2048 + 1)
    with gradwise.no_grad():
        assert model.eval()(gradwise.randn(1, 3, 32, 32)).shape == (1, 3)


def test_mlp_and_lenet5_layouts_and_shapes():
    net = models.mlp([64, 32, 16, 10], activation="tanh")
    reference = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.Tanh(), torch.nn.Linear(32, 16),
                                    torch.nn.Tanh(), torch.nn.Linear(16, 10))
    assert layout(net.state_dict()) == layout(reference.state_dict())
    assert net(gradwise.randn(2, 64)).shape == (2, 10)
    with pytest.raises(ValueError, match="activation"):
        models.mlp([3, 2], activation="swish2")
    lenet = models.lenet5(num_classes=10)
    assert [k for k in lenet.state_dict()] == ["features.0.weight", "features.0.bias", "features.3.weight",
                                               "features.3.bias", "classifier.0.weight", "classifier.0.bias",
                                               "classifier.2.weight", "classifier.2.bias", "classifier.4.weight",
                                               "classifier.4.bias"]
    assert lenet(gradwise.randn(2, 1, 28, 28)).shape == (2, 10)
    assert models.lenet5(3, in_channels=3, activation="relu", pool="max")(gradwise.randn(1, 3, 32, 32)).shape == (1, 3)
