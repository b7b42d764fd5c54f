"""gradwise.transfer on PyTorch models laid out like torchvision's: freezing (BatchNorm statistics
included), new heads, stage features, linear probes, per-stage learning rates, fine-tuning through
``fit`` (babysat) and the table's advice with the model's own stage names.

torchvision cannot be installed here, so the models are written by hand with torchvision's module
names: a tiny ResNet (``conv1 bn1 relu maxpool layer1 layer2 avgpool fc``) and a tiny VGG
(``features avgpool classifier``) for 8x8 digits, plus ``tests/_torchvision_ref.py``'s full-size
ResNet-18 and AlexNet for the layout checks.
"""
from __future__ import annotations

from collections import OrderedDict

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

import _torchvision_ref as tv  # noqa: E402 - beside this file (pytest puts tests/ on sys.path)

import gradwise  # noqa: E402
from gradwise import models  # noqa: E402
from gradwise.data.datasets import load_digits  # noqa: E402
from gradwise.models.weights import load_arrays  # noqa: E402
from gradwise.train.babysit import CHECK_NAMES  # noqa: E402
from gradwise.transfer import (advise, extract_features, feature_extractor, find_head, fine_tune, freeze,  # noqa: E402
                               is_frozen, layer_groups, linear_probe, param_groups, replace_head, strategy_table,
                               trainable_parameters, unfreeze)
from gradwise.transfer._data import as_arrays, evaluate  # noqa: E402
from gradwise.transfer.heads import penultimate_layer  # noqa: E402


# ============================================================================= torchvision-layout models
class BasicBlock(nn.Module):
    def __init__(self, inplanes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = None
        if stride != 1 or inplanes != planes:
            self.downsample = nn.Sequential(nn.Conv2d(inplanes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(out)) + identity)


class TinyResNet(nn.Module):
    """torchvision's ResNet layout at digit size: 1x8x8 -> 8x8x8 -> layer1 8x8x8 -> layer2 16x4x4 -> fc."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.Identity()
        self.layer1 = nn.Sequential(BasicBlock(8, 8))
        self.layer2 = nn.Sequential(BasicBlock(8, 16, stride=2))
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(16, num_classes)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer2(self.layer1(x))
        return self.fc(torch.flatten(self.avgpool(x), 1))


class TinyVGG(nn.Module):
    """torchvision's VGG layout (``features``, ``avgpool``, ``classifier``) with BatchNorm, for 1x8x8 inputs."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(inplace=True), nn.MaxPool2d(2),
            nn.Conv2d(8, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(inplace=True), nn.MaxPool2d(2))
        self.avgpool = nn.AdaptiveAvgPool2d((2, 2))
        self.classifier = nn.Sequential(nn.Linear(16 * 2 * 2, 32), nn.ReLU(True), nn.Dropout(0.2),
                                        nn.Linear(32, num_classes))

    def forward(self, x):
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


def snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """Tiny models on a shared 2-core machine: one intra-op thread is faster (restored afterwards)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def digits():
    """Digits 5-9 relabelled 0-4, 8x8 images: 50 labelled training images (10 per class) and 300 validation."""
    images, labels = load_digits(normalize=True)
    images = ((images - images.mean()) / images.std()).astype(np.float32)
    rng = np.random.default_rng(0)
    train, val = [], []
    for c in range(5, 10):
        idx = rng.permutation(np.flatnonzero(labels == c))
        train.append(idx[:10])
        val.append(idx[10:70])
    tr, va = np.concatenate(train), np.concatenate(val)
    return (images[tr], labels[tr] - 5), (images[va], labels[va] - 5)


@pytest.fixture(scope="module")
def source_digits():
    """Digits 0-4 (the source task of the transfer)."""
    images, labels = load_digits(normalize=True)
    images = ((images - images.mean()) / images.std()).astype(np.float32)
    return images[labels < 5], labels[labels < 5]


def train_a_few_steps(model: nn.Module, optimizer, steps: int = 3) -> None:
    g = torch.Generator().manual_seed(0)
    model.train()
    for _ in range(steps):
        x, y = torch.randn(8, 1, 8, 8, generator=g), torch.randint(0, 5, (8,), generator=g)
        loss = nn.functional.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()


# ============================================================================= freezing
@pytest.mark.parametrize("make_optimizer", [
    lambda params: torch.optim.SGD(params, lr=0.1, momentum=0.9, weight_decay=1e-2),
    lambda params: torch.optim.Adam(params, lr=1e-2, weight_decay=1e-2),
])
def test_frozen_torch_parameters_and_bn_statistics_do_not_change(make_optimizer):
    torch.manual_seed(0)
    model = TinyResNet(5)
    frozen = freeze(model, ["conv1", "bn1", "layer1"])
    assert frozen and all(n.split(".")[0] in ("conv1", "bn1", "layer1") for n in frozen)
    assert is_frozen(model.layer1) and not is_frozen(model.layer2)
    before = snapshot(model)
    train_a_few_steps(model, make_optimizer(model.parameters()))   # every parameter given: frozen ones get no grad
    after = snapshot(model)
    for key in before:
        if key.split(".")[0] in ("conv1", "bn1", "layer1"):         # weights and running_mean/var/num_batches
            assert torch.equal(before[key], after[key]), key
        elif key.endswith("weight"):
            assert not torch.equal(before[key], after[key]), key
    assert all(p.grad is None for p in model.layer1.parameters())
    assert model.bn1.training is False and model.layer2[0].bn1.training is True   # frozen BN kept in eval


def test_unfreeze_and_globs_on_torch_models():
    model = TinyResNet(5)
    names = freeze(model, ["layer*.0.bn?.*", "conv1"])
    assert "layer1.0.bn1.weight" in names and "layer2.0.bn2.bias" in names and "conv1.weight" in names
    assert "layer2.0.conv1.weight" not in names and "fc.weight" not in names
    assert [p for p in trainable_parameters(model)] == [p for p in model.parameters() if p.requires_grad]
    with pytest.raises(ValueError, match="no parameter of TinyResNet matches 'layr2'.*'layer2'"):
        freeze(model, "layr2")
    model.train()
    unfreeze(model)
    assert all(p.requires_grad for p in model.parameters())
    bn = model.layer1[0].bn1
    stats = bn.running_mean.clone()
    model(torch.randn(4, 1, 8, 8))
    assert bn.training and not torch.equal(stats, bn.running_mean)   # follows train() again


# ============================================================================= heads
def test_replace_head_builds_a_torch_linear_in_place():
    resnet = tv.resnet18(num_classes=1000)
    assert find_head(resnet)[0] == "fc"
    head = replace_head(resnet, 3)
    assert isinstance(head, nn.Linear) and resnet.fc is head and (head.in_features, head.out_features) == (512, 3)
    assert list(resnet.state_dict())[-2:] == ["fc.weight", "fc.bias"]
    assert resnet.eval()(torch.randn(1, 3, 32, 32)).shape == (1, 3)
    alexnet = tv.AlexNet()                          # the lecture's example: 1000 classes -> cat, dog, elephant
    assert find_head(alexnet)[0] == "classifier.6"
    replace_head(alexnet, 3)
    assert alexnet.classifier[-1].out_features == 3 and len(alexnet.classifier) == 7
    vgg = TinyVGG(10).double()
    new = replace_head(vgg, 4, bias=False)
    assert vgg.classifier[3] is new and new.weight.dtype == torch.float64 and new.bias is None
    assert list(vgg.state_dict())[-1] == "classifier.3.weight"        # the order of the Sequential is kept
    assert penultimate_layer(vgg) == "classifier.2" and penultimate_layer(resnet) == "avgpool"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_replace_head_and_probe_on_cuda(digits):
    model = TinyVGG(10).cuda()
    head = replace_head(model, 5)
    assert head.weight.device.type == "cuda"
    result = linear_probe(model, "features.7", digits[0], digits[1], epochs=20, per_layer=False)
    assert result.model.classifier.weight.device.type == "cuda" and 0 <= result.accuracy <= 1


def test_layer_groups_match_gradwise_and_torchvision_layouts():
    assert layer_groups(tv.resnet18(num_classes=3)) == layer_groups(models.resnet18(num_classes=3)) == \
        ["conv1+bn1", "layer1", "layer2", "layer3", "layer4", "fc"]
    assert layer_groups(TinyVGG()) == ["features.0+features.1", "features.4+features.5", "classifier.0", "classifier.3"]


# ============================================================================= features and probes
def test_feature_extractor_is_a_torch_module_and_stops_early():
    torch.manual_seed(0)
    model = TinyResNet(4).eval()
    calls = []
    model.fc.register_forward_hook(lambda m, i, o: calls.append(1))
    x = torch.randn(2, 1, 8, 8)
    extractor = feature_extractor(model, ["layer1", "layer2"])
    assert isinstance(extractor, nn.Module) and len(list(extractor.parameters())) == len(list(model.parameters()))
    features = extractor(x)
    assert isinstance(features, OrderedDict) and list(features) == ["layer1", "layer2"]
    assert features["layer1"].shape == (2, 8, 8, 8) and features["layer2"].shape == (2, 16, 4, 4)
    assert calls == []                                                  # the head never ran
    with torch.no_grad():
        expected = model.layer1(model.maxpool(model.relu(model.bn1(model.conv1(x)))))
        single = feature_extractor(model, "layer1")(x)
    torch.testing.assert_close(single, expected)
    with pytest.raises(ValueError, match="no sub-module"):
        feature_extractor(model, "layer9")
    arrays = extract_features(model, ["layer2", "avgpool"], x.numpy().astype(np.float64), pool="avg")
    assert arrays["layer2"].shape == (2, 16) and arrays["avgpool"].dtype == np.float32   # cast to the model's dtype
    np.testing.assert_allclose(arrays["layer2"], arrays["avgpool"], rtol=1e-5, atol=1e-6)
    assert model.training is False


def test_linear_probe_on_a_torch_model_leaves_it_untouched(digits):
    torch.manual_seed(0)
    model = TinyVGG(10)                                   # even random conv features are linearly useful
    model.train()
    before = snapshot(model)
    result = linear_probe(model, ["features.3", "features.7"], digits[0], digits[1], epochs=60)
    assert result.accuracy > 0.5 and set(result.layer_accuracy) == {"features.3", "features.7"}
    assert result.feature_dim == 8 * 4 * 4 + 16 * 2 * 2
    for key, value in snapshot(model).items():          # weights and BatchNorm statistics
        assert torch.equal(value, before[key]), key
    assert model.training                               # its mode is put back
    probe = result.model
    assert isinstance(probe, nn.Module) and isinstance(probe.classifier, nn.Linear)
    with torch.no_grad():
        predicted = probe(torch.from_numpy(digits[1][0])).argmax(1).numpy()
    assert np.mean(predicted == digits[1][1]) == pytest.approx(result.accuracy)


def test_as_arrays_and_evaluate_take_torch_data():
    x, y = torch.randn(6, 1, 8, 8), torch.arange(6) % 3
    for data in ((x, y), torch.utils.data.TensorDataset(x, y)):
        xa, ya = as_arrays(data)
        assert isinstance(xa, np.ndarray) and xa.shape == (6, 1, 8, 8) and ya.dtype == np.int64
    model = TinyVGG(3).eval()
    with torch.no_grad():
        expected = float((model(x).argmax(1) == y).float().mean())
    assert evaluate(model, x.numpy().astype(np.float64), y.numpy(), batch_size=4) == pytest.approx(expected)


# ============================================================================= learning rates and fine-tuning
def test_param_groups_give_torch_optimizers_discriminative_rates():
    model = TinyResNet(3)
    groups = param_groups(model, base_lr=1e-3, decay=0.5, head_lr=1e-2)
    assert [g["name"] for g in groups] == layer_groups(model) == ["conv1+bn1", "layer1", "layer2", "fc"]
    optimizer = torch.optim.Adam(groups)
    assert [g["lr"] for g in optimizer.param_groups] == pytest.approx([1e-3 * 0.5 ** 3, 1e-3 * 0.25, 1e-3 * 0.5, 1e-2])
    assert [g["name"] for g in optimizer.param_groups] == layer_groups(model)
    assert sum(len(g["params"]) for g in optimizer.param_groups) == len(list(model.parameters()))
    freeze(model, ["conv1", "bn1", "layer1"])
    assert [g["name"] for g in param_groups(model, base_lr=1e-3)] == ["layer2", "fc"]


def test_fine_tune_a_torch_model_through_fit_babysat(digits, source_digits, tmp_path):
    torch.manual_seed(0)
    model = TinyVGG(5)
    fine_tune(model, source_digits, lr=1e-2, steps=60, seed=0)          # pre-trained on digits 0-4 (Adam)
    assert evaluate(model, *source_digits) > 0.9
    before = snapshot(model)
    seen = []

    def sgd(groups):
        seen.extend((g["name"], g["lr"]) for g in groups)
        return torch.optim.SGD(groups, momentum=0.9)

    history = fine_tune(model, digits[0], digits[1], num_classes=5, freeze="features", lr=0.05, base_lr=0.01,
                        decay=0.5, optimizer=sgd, steps=40, batch_size=16, seed=0, babysit=True,
                        log_dir=tmp_path / "run")
    assert isinstance(model.classifier[3], nn.Linear) and model.classifier[3].out_features == 5
    assert seen == [("classifier.0", 0.005), ("classifier.3", 0.05)]   # the frozen features get no group
    assert len(history.records) == 14                                 # 3 full batches of 16 per epoch
    assert "40 optimizer steps" in history.stop_reason
    assert {c.name for c in history.checks} == set(CHECK_NAMES)         # babysat like any torch run
    assert history.diagnosis is not None and "val_accuracy" in history.records[-1]
    after = snapshot(model)
    for key, value in before.items():
        if key.startswith("features."):                                # frozen: weights and BN statistics
            assert torch.equal(after[key], value), key
    assert not torch.equal(after["classifier.0.weight"], before["classifier.0.weight"])
    assert evaluate(model, *digits[1]) > 0.6                           # chance is 0.2
    assert (tmp_path / "run" / "history.csv").is_file() and (tmp_path / "run" / "run.json").is_file()


def test_fine_tune_names_a_torch_optimizer_and_rejects_unknown_ones(digits):
    torch.manual_seed(0)
    model = TinyResNet(5)
    history = fine_tune(model, digits[0], None, lr=1e-2, optimizer="adamw", steps=4, batch_size=25)
    assert len(history.records) == 2 and history.records[-1]["loss"] > 0
    with pytest.raises(ValueError, match="optimizer 'adamm' is not one of"):
        fine_tune(model, digits[0], optimizer="adamm", steps=1)


# ============================================================================= the table's advice
def test_advice_names_the_torch_model_stages():
    resnet = tv.resnet18(num_classes=3)
    cells = {a.strategy: a for a in strategy_table(model=resnet)}
    assert cells["Use Linear Classifier on top layer"].gradwise.startswith("linear_probe(model, ['avgpool']")
    assert "['layer2', 'layer3', 'layer4', 'avgpool']" in \
        cells["You're in trouble... Try linear classifier from different stages"].gradwise
    few = cells["Finetune a few layers"].gradwise
    assert "freeze(model, ['conv1', 'bn1', 'layer1', 'layer2', 'layer3'])" in few and "torch.optim.Adam" in few
    assert "torch.optim.Adam(param_groups" in advise(500, "different", model=resnet).gradwise
    assert "gradwise.optim.Adam" in advise(500, "different", model=models.resnet18(num_classes=3)).gradwise
    assert advise(5, "similar").gradwise == advise(5, "similar", model=None).gradwise   # no model: the generic text


def test_torch_state_dicts_save_as_weight_files(tmp_path):
    model = TinyVGG(5)
    gradwise.models.save(model.state_dict(), tmp_path / "tiny.safetensors")
    again = TinyVGG(5)
    again.load_state_dict({k: torch.from_numpy(v) for k, v in
                           load_arrays(tmp_path / "tiny.safetensors").items()})
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), again.state_dict().values()))
