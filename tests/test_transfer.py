"""gradwise.transfer: freezing, heads, stage features, linear probes, learning-rate groups, the table's advice."""
from __future__ import annotations

import numpy as np
import pytest

import gradwise
from gradwise import models, nn, optim
from gradwise.transfer import (advise, feature_extractor, find_head, freeze, is_frozen, layer_groups, linear_probe,
                               param_groups, replace_head, strategy_table, trainable_parameters, unfreeze)
from gradwise.transfer.example import small_cnn
from gradwise.transfer.heads import penultimate_layer


def snapshot(model: nn.Module) -> dict[str, np.ndarray]:
    return {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}


def train_a_few_steps(model: nn.Module, optimizer, steps: int = 3, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    model.train()
    for _ in range(steps):
        x = gradwise.from_numpy(rng.standard_normal((8, 1, 8, 8)).astype(np.float32))
        y = gradwise.from_numpy(rng.integers(0, 5, 8))
        loss = nn.CrossEntropyLoss()(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()


@pytest.mark.parametrize("make_optimizer", [
    lambda params: optim.SGD(params, lr=0.1, momentum=0.9, weight_decay=1e-2),
    lambda params: optim.Adam(params, lr=1e-2, weight_decay=1e-2),
])
def test_frozen_parameters_and_bn_statistics_do_not_change(make_optimizer):
    gradwise.manual_seed(0)
    model = small_cnn(5)
    frozen = freeze(model, "features")
    assert frozen and all(name.startswith("features.") for name in frozen)
    before = snapshot(model)
    # All parameters go to the optimizer: frozen ones must be skipped because they get no gradient.
    train_a_few_steps(model, make_optimizer(model.parameters()))
    after = snapshot(model)
    for key in before:
        if key.startswith("features."):  # weights, biases, running_mean/var, num_batches_tracked
            assert np.array_equal(before[key], after[key]), key
        elif key.endswith("weight"):
            assert not np.array_equal(before[key], after[key]), key
    assert all(p.grad is None for p in model.features.parameters())
    assert all(p.grad is not None for p in model.classifier.parameters())


def test_unfrozen_bn_statistics_move_and_unfreeze_restores_training():
    gradwise.manual_seed(0)
    model = small_cnn(5)
    freeze(model.features)                      # by module
    assert is_frozen(model.features) and not is_frozen(model.classifier)
    bn = model.features[1]
    model.train()
    assert unfreeze(model, "features.1") == ["features.1.weight", "features.1.bias"]
    before = bn.running_mean.numpy().copy()
    train_a_few_steps(model, optim.SGD(trainable_parameters(model), lr=0.01))
    assert not np.array_equal(before, bn.running_mean.numpy())   # an unfrozen BN follows train() again
    frozen_bn = model.features[4]
    assert frozen_bn.training is False                          # kept in eval by its pre-hook


def test_freeze_by_glob_and_errors():
    model = models.resnet18(num_classes=3)
    names = freeze(model, ["layer[12].*", "*.bn1.*", "conv1"])
    assert "layer1.0.conv1.weight" in names and "layer3.0.bn1.weight" in names and "conv1.weight" in names
    assert "layer3.0.conv1.weight" not in names and "fc.weight" not in names
    with pytest.raises(ValueError, match="no parameter of ResNet matches 'layr4'.*'layer4'"):
        freeze(model, "layr4")
    unfreeze(model)
    assert all(p.requires_grad for p in model.parameters())


def test_replace_head_resnet_alexnet_mlp():
    resnet = models.resnet18(num_classes=1000)
    head = replace_head(resnet, 3)
    assert resnet.fc is head and (head.in_features, head.out_features) == (512, 3)
    assert list(resnet.state_dict())[-2:] == ["fc.weight", "fc.bias"]
    assert resnet.eval()(gradwise.randn(1, 3, 32, 32)).shape == (1, 3)
    alexnet = models.alexnet()                  # the lecture's example: 1000 classes -> cat, dog, elephant
    assert find_head(alexnet)[0] == "classifier.6"
    replace_head(alexnet, 3)
    assert alexnet.classifier[-1].out_features == 3 and len(alexnet.classifier) == 7
    net = models.mlp([4, 8, 6]).double()
    new = replace_head(net, 2)
    assert net[2] is new and new.weight.dtype == gradwise.float64


def test_feature_extractor_outputs_and_early_stop():
    gradwise.manual_seed(0)
    model = models.resnet18(num_classes=4).eval()
    calls = []
    model.fc.register_forward_hook(lambda m, i, o: calls.append(1))
    x = gradwise.randn(2, 3, 32, 32)
    features = feature_extractor(model, ["layer2", "layer4"])(x)
    assert list(features) == ["layer2", "layer4"]
    assert features["layer2"].shape == (2, 128, 4, 4) and features["layer4"].shape == (2, 512, 1, 1)
    assert calls == []                          # the head never ran
    with gradwise.no_grad():
        stem = model.maxpool(model.relu(model.bn1(model.conv1(x))))
        expected = model.layer2(model.layer1(stem))
        single = feature_extractor(model, "layer2")(x)
    np.testing.assert_allclose(single.detach().numpy(), expected.numpy(), rtol=1e-6)
    assert penultimate_layer(model) == "avgpool"
    with pytest.raises(ValueError, match="no sub-module"):
        feature_extractor(model, "layer9")


def test_linear_probe_on_several_stages():
    from gradwise.data.datasets import load_digits

    images, labels = load_digits(normalize=True)
    rng = np.random.default_rng(0)
    idx = rng.permutation(len(labels))[:400]
    train, val = (images[idx[:200]], labels[idx[:200]]), (images[idx[200:]], labels[idx[200:]])
    gradwise.manual_seed(0)
    model = small_cnn(10)                        # even random conv features are linearly useful
    before = snapshot(model)
    result = linear_probe(model, ["features.6", "features.10"], train, val, epochs=60)
    assert result.accuracy > 0.6 and set(result.layer_accuracy) == {"features.6", "features.10"}
    assert result.feature_dim == 32 * 4 * 4 + 64 * 2 * 2
    for key, value in snapshot(model).items():  # the model itself was not touched
        assert np.array_equal(value, before[key]), key
    with gradwise.no_grad():
        predicted = result.model(gradwise.from_numpy(val[0])).numpy().argmax(1)
    assert np.mean(predicted == val[1]) == pytest.approx(result.accuracy)


def test_param_groups_discriminative_rates():
    resnet = models.resnet18(num_classes=3)
    assert layer_groups(resnet) == ["conv1+bn1", "layer1", "layer2", "layer3", "layer4", "fc"]
    groups = param_groups(resnet, base_lr=1e-3, decay=0.5, head_lr=1e-2)
    assert [g["name"] for g in groups] == layer_groups(resnet)
    assert [g["lr"] for g in groups] == pytest.approx([1e-3 * 0.5 ** k for k in (5, 4, 3, 2, 1)] + [1e-2])
    assert sum(len(g["params"]) for g in groups) == len(list(resnet.parameters()))
    freeze(resnet, ["conv1", "bn1", "layer1"])
    groups = param_groups(resnet, base_lr=1e-3)
    assert [g["name"] for g in groups] == ["layer2", "layer3", "layer4", "fc"]
    optim.Adam(groups)                            # accepted as torch-style parameter groups
    cnn = small_cnn(5)                            # features/classifier get split, BN joins its conv
    assert layer_groups(cnn) == ["features.0+features.1", "features.3+features.4", "features.7+features.8",
                                 "classifier.0", "classifier.3"]


def test_advise_covers_the_four_cells():
    cells = {(a.data, a.similarity): a for a in strategy_table()}
    assert cells[("very little data", "very similar dataset")].strategy == "Use Linear Classifier on top layer"
    assert cells[("very little data", "very different dataset")].strategy.endswith(
        "Try linear classifier from different stages")
    assert cells[("quite a lot of data", "very similar dataset")].strategy == "Finetune a few layers"
    assert cells[("quite a lot of data", "very different dataset")].strategy == "Finetune a larger number of layers"
    for advice in cells.values():
        assert advice.reasons and advice.freeze and advice.transfer and advice.learning_rate
        assert advice.strategy in str(advice)
    assert advise(1000, "similar").lr_factor == pytest.approx(0.1)
    assert advise(20, 0.9).strategy == "Use Linear Classifier on top layer"
    assert advise(99, "different").data == "very little data" and advise(100, "different").data != "very little data"
    assert advise(50, "similar", threshold=20).strategy == "Finetune a few layers"
    with pytest.raises(ValueError):
        advise(10, "somewhat")
    with pytest.raises(ValueError):
        advise(0, "similar")


def test_example_runs_and_writes_its_outputs(tmp_path):
    from gradwise.transfer.example import Settings, run_example

    result = run_example(sizes=[5], seeds=[0], out=tmp_path, settings=Settings(steps=3, probe_epochs=5),
                         methods=["scratch", "linear probe (top)", "fine-tune few"], pretrain_epochs=1, log=None)
    assert set(result.accuracies) == {"scratch", "linear probe (top)", "fine-tune few"}
    assert all(0 <= v[5][0] <= 1 for v in result.accuracies.values())
    assert "| scratch |" in result.table()
    assert "| fine-tune few | " in result.difference_table() and "| scratch |" not in result.difference_table()
    names = {p.name for p in tmp_path.iterdir()}
    assert {"transfer_results.csv", "transfer_results.md", "source_cnn.safetensors"} <= names
    assert "Paired difference" in (tmp_path / "transfer_results.md").read_text()
    with pytest.raises(ValueError, match="unknown methods"):
        run_example(sizes=[5], seeds=[0], methods=["fine-tune everything"], log=None)


def test_example_split_is_fair_and_nested():
    from gradwise.transfer.example import make_split

    split = make_split(3, 20)
    assert len(split.pool_y) == 100 and len(split.val_y) + 100 + len(split.source_y) == 1797
    assert set(np.unique(split.pool_y)) == set(np.unique(split.val_y)) == set(range(5))
    pool = {x.tobytes() for x in split.pool_x}
    assert not pool & {x.tobytes() for x in split.val_x}          # labelled images never validate
    x5, y5 = split.labelled(5)
    x10, _ = split.labelled(10)
    assert np.array_equal(np.bincount(y5), [5] * 5)
    assert {x.tobytes() for x in x5} <= {x.tobytes() for x in x10}  # smaller sets nest in larger ones
    assert np.array_equal(make_split(3, 20).val_y, split.val_y)     # reproducible


def test_example_methods_on_a_small_fixed_configuration():
    """Pre-trained on 0-4, the probe and fine-tuning learn 5-9 from 5 images per class; frozen parts stay put."""
    from gradwise.transfer.example import STAGES, Settings, make_split, pretrain, run_method

    split = make_split(0, 5)
    source, source_acc = pretrain(split, epochs=4, seed=0)
    assert source_acc > 0.9                                         # the encoder learnt the source task
    before = snapshot(source)
    x, y = split.labelled(5)
    settings = Settings(steps=30, probe_epochs=60, cv_folds=3)
    info: dict = {}
    probe = run_method("linear probe (CV stage)", source, x, y, split, 0, settings, info)
    assert probe > 0.6 and info["stage"] in STAGES                  # chance is 0.2
    scores = info["cv_scores"]                                       # from the labelled images only
    assert set(scores) == set(STAGES) and scores[info["stage"]] == max(scores.values())
    info = {}
    few = run_method("fine-tune few", source, x, y, split, 0, settings, info)
    assert few > 0.4
    tuned = snapshot(info["model"])
    for key, value in before.items():
        if key.startswith("features."):                              # frozen: weights and BN statistics
            assert np.array_equal(tuned[key], value), key
        elif key.startswith("classifier.0."):                        # fine-tuned
            assert not np.array_equal(tuned[key], value), key
    assert info["model"].classifier[3].weight.shape == (5, 64)
    run_method("fine-tune all", source, x, y, split, 0, settings, info)
    for key, value in snapshot(source).items():                     # the source model itself never changes
        assert np.array_equal(value, before[key]), key


def test_cli_advice_and_config(tmp_path, capsys):
    from gradwise.cli.main import main

    assert main(["transfer", "--advise", "5", "--similarity", "different"]) == 0
    assert "Try linear classifier from different stages" in capsys.readouterr().out
    gradwise.manual_seed(0)
    models.save(small_cnn(5), tmp_path / "source.safetensors")
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "target.npz", x=rng.standard_normal((40, 1, 8, 8)).astype(np.float32),
             y=np.repeat(np.arange(4), 10))
    (tmp_path / "t.toml").write_text(
        f'[source]\narch = "small_cnn"\nweights = "{tmp_path / "source.safetensors"}"\nnum_classes = 5\n'
        f'[target]\ndata = "{tmp_path / "target.npz"}"\nsimilarity = "similar"\nval_fraction = 0.5\n'
        f'[train]\nstrategy = "fine_tune_few"\nsteps = 2\nout = "{tmp_path / "out"}"\n')
    assert main(["transfer", "--config", str(tmp_path / "t.toml")]) == 0
    assert (tmp_path / "out" / "model.safetensors").exists() and (tmp_path / "out" / "result.json").exists()
    out = capsys.readouterr().out
    assert "fine_tune_few: validation accuracy" in out and "Use Linear Classifier on top layer" in out
