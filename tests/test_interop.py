"""gradwise.interop: PyTorch .pt/.pth files both ways, safely, with and without torch."""
from __future__ import annotations

import os
import pickle
import subprocess
import sys
import zipfile

import numpy as np
import pytest

import gradwise
from gradwise import models
from gradwise.interop import (UnsafePickleError, WeightsFormatError, export_torch_state_dict,
                              load_torch_state_dict)

torch = pytest.importorskip("torch")
import _torchvision_ref as tv  # noqa: E402 - beside this file


def test_reads_torch_save_of_a_state_dict(tmp_path):
    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Conv2d(2, 3, 3), torch.nn.BatchNorm2d(3), torch.nn.Linear(4, 2))
    with torch.no_grad():
        module[1].running_mean.add_(0.5)
    torch.save(module.state_dict(), tmp_path / "m.pt")
    state = load_torch_state_dict(tmp_path / "m.pt")
    reference = module.state_dict()
    assert list(state) == list(reference)
    for key, value in reference.items():
        assert state[key].dtype == value.numpy().dtype and state[key].shape == tuple(value.shape)
        np.testing.assert_array_equal(state[key], value.numpy())


def test_views_offsets_strides_and_dtypes(tmp_path):
    base = torch.arange(24, dtype=torch.float64).reshape(4, 6)
    state = {"base": base, "transposed": base.t(), "column": base[:, 2], "tail": base[2:],
             "half": torch.linspace(-1, 1, 5).half(), "bf16": torch.tensor([1.0, -2.5, 0.15625]).bfloat16(),
             "long": torch.tensor([1, 2**40]), "flag": torch.tensor([True, False]), "scalar": torch.tensor(7)}
    torch.save(state, tmp_path / "views.pth")
    got = load_torch_state_dict(tmp_path / "views.pth")
    for key, value in state.items():
        expected = value.float().numpy() if value.dtype == torch.bfloat16 else value.numpy()
        np.testing.assert_array_equal(got[key], expected, err_msg=key)
        assert got[key].dtype == expected.dtype, key


def test_checkpoint_dict_gives_its_state_dict(tmp_path):
    module = torch.nn.Linear(3, 2)
    torch.save({"epoch": 4, "state_dict": module.state_dict(), "best": 0.5}, tmp_path / "ckpt.pt")
    state = load_torch_state_dict(tmp_path / "ckpt.pt")
    assert list(state) == ["weight", "bias"]
    torch.save({"epoch": 4, "note": "no weights"}, tmp_path / "none.pt")
    with pytest.raises(WeightsFormatError, match="no state dict"):
        load_torch_state_dict(tmp_path / "none.pt")


def test_resnet18_trained_in_torch_gives_same_outputs_in_gradwise(tmp_path):
    torch.manual_seed(0)
    reference = tv.resnet18(num_classes=5).double()
    optimizer = torch.optim.SGD(reference.parameters(), lr=0.05, momentum=0.9)
    x_train = torch.randn(4, 3, 32, 32, dtype=torch.float64)
    for _ in range(2):  # a couple of real training steps: weights and BatchNorm statistics move
        loss = torch.nn.functional.cross_entropy(reference(x_train), torch.tensor([0, 1, 2, 3]))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    reference.eval()
    torch.save(reference.state_dict(), tmp_path / "resnet18.pth")
    ours = models.resnet18(num_classes=5).double().eval()
    models.load_into(ours, tmp_path / "resnet18.pth")
    assert int(ours.bn1.num_batches_tracked.item()) == 2
    x = np.random.default_rng(0).standard_normal((1, 3, 32, 32))
    with torch.no_grad():
        expected = reference(torch.from_numpy(x)).numpy()
    with gradwise.no_grad():
        got = ours(gradwise.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_export_is_read_by_torch_load_weights_only(tmp_path):
    ours = models.resnet18(num_classes=3)
    ours.bn1.num_batches_tracked._data[...] = 9
    export_torch_state_dict(ours.state_dict(), tmp_path / "gw.pt")
    loaded = torch.load(tmp_path / "gw.pt", weights_only=True)
    reference = tv.resnet18(num_classes=3)
    reference.load_state_dict(loaded)  # strict: every key and shape fits torchvision's layout
    for key, value in ours.state_dict().items():
        np.testing.assert_array_equal(loaded[key].numpy(), value.numpy())
    assert loaded["bn1.num_batches_tracked"].item() == 9 and loaded["bn1.num_batches_tracked"].shape == ()


def test_works_without_torch(tmp_path):
    torch.save({"w": torch.arange(6.0).reshape(2, 3)}, tmp_path / "t.pt")
    script = (
        "import sys, numpy as np\n"
        "sys.modules['torch'] = None  # any import of torch now fails\n"
        "from gradwise.interop import load_torch_state_dict, export_torch_state_dict\n"
        f"state = load_torch_state_dict({str(tmp_path / 't.pt')!r})\n"
        "assert state['w'].tolist() == [[0, 1, 2], [3, 4, 5]]\n"
        f"export_torch_state_dict({{'v': np.ones(3)}}, {str(tmp_path / 'out.pt')!r})\n"
        "print('ok')\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "ok", done.stderr
    assert torch.load(tmp_path / "out.pt", weights_only=True)["v"].tolist() == [1.0, 1.0, 1.0]


def _zip_with_pickle(path, payload: bytes) -> None:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("archive/data.pkl", payload)
        zf.writestr("archive/version", "3\n")


class _Evil:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("protocol", [2, 4])
def test_malicious_pickle_is_refused_and_not_run(tmp_path, protocol):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    _zip_with_pickle(path, pickle.dumps({"weight": _Evil(str(marker))}, protocol=protocol))
    with pytest.raises(UnsafePickleError, match=r"refusing to load global '(posix|os|nt)\.system'"):
        load_torch_state_dict(path)
    assert not marker.exists()
    _zip_with_pickle(path, pickle.dumps(eval, protocol=protocol))
    with pytest.raises(UnsafePickleError, match=r"(builtins|__builtin__)\.eval"):
        load_torch_state_dict(path)


def test_legacy_and_truncated_and_corrupt_torch_files(tmp_path):
    (tmp_path / "legacy.pt").write_bytes(pickle.dumps({"a": 1}, protocol=2))
    with pytest.raises(WeightsFormatError, match="legacy"):
        load_torch_state_dict(tmp_path / "legacy.pt")
    torch.save({"fc.weight": torch.ones(4, 4), "fc.bias": torch.zeros(4)}, tmp_path / "ok.pt")
    data = (tmp_path / "ok.pt").read_bytes()
    (tmp_path / "cut.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(WeightsFormatError, match="truncated or corrupt"):
        load_torch_state_dict(tmp_path / "cut.pt")
    # Rewrite the archive with the storage of fc.bias cut short: the error names the key.
    with zipfile.ZipFile(tmp_path / "ok.pt") as src, zipfile.ZipFile(tmp_path / "short.pt", "w") as dst:
        for info in src.infolist():
            blob = src.read(info)
            dst.writestr(info.filename, blob[:3] if info.filename.endswith("data/1") else blob)
    with pytest.raises(WeightsFormatError, match=r"'fc\.bias'.*holds 3 bytes"):
        load_torch_state_dict(tmp_path / "short.pt")


def test_export_refuses_dtypes_torch_cannot_hold(tmp_path):
    with pytest.raises(TypeError, match="'names'"):
        export_torch_state_dict({"names": np.array(["a", "b"])}, tmp_path / "x.pt")
    assert not (tmp_path / "x.pt").exists()


def test_safetensors_through_load_torch_state_dict(tmp_path):
    models.save({"w": np.eye(2, dtype=np.float32)}, tmp_path / "w.safetensors")
    np.testing.assert_array_equal(load_torch_state_dict(tmp_path / "w.safetensors")["w"], np.eye(2))


def test_pretrained_true_reads_torchvision_weights_from_pytorch_cache_as_in_the_lecture(tmp_path, monkeypatch):
    """The lecture's ``torchvision.models.resnet18(pretrained=True)`` after the import swap: the
    ImageNet file is read from PyTorch's cache (here a stand-in written by torch), never downloaded."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    torchvision = gradwise  # `import torch, torchvision` becomes `import gradwise as torch, gradwise as torchvision`
    with pytest.raises(FileNotFoundError, match=r"resnet18-f37072fd\.pth.*hub/checkpoints"):
        torchvision.models.resnet18(pretrained=True)
    torch.manual_seed(1)
    reference = tv.resnet18().eval()
    checkpoints = tmp_path / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    torch.save(reference.state_dict(), checkpoints / "resnet18-f37072fd.pth")

    model = torchvision.models.resnet18(pretrained=True).eval()
    data = gradwise.rand(1, 3, 64, 64)
    labels = gradwise.rand(1, 1000)
    prediction = model(data)
    loss = (prediction - labels).sum()
    loss.backward()
    assert model.conv1.weight.grad.shape == (64, 3, 7, 7)
    with torch.no_grad():
        expected = reference(torch.from_numpy(data.numpy())).numpy()
    np.testing.assert_allclose(prediction.detach().numpy(), expected, rtol=1e-4, atol=1e-4)


def test_weights_argument_loads_a_file_and_names_mismatching_keys(tmp_path):
    models.save(models.alexnet(num_classes=3), tmp_path / "alex.npz")
    assert models.alexnet(num_classes=3, weights=tmp_path / "alex.npz").classifier[6].out_features == 3
    with pytest.raises(Exception, match=r"classifier\.6\.weight"):
        models.alexnet(num_classes=10, weights=tmp_path / "alex.npz")
