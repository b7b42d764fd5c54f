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


def _zip_with_pickle(path, payload: bytes, storages: dict[str, bytes] | None = None) -> None:
    """A torch.save-style archive around a hand-made data.pkl."""
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("archive/data.pkl", payload)
        zf.writestr("archive/byteorder", "little")
        for key, data in (storages or {}).items():
            zf.writestr(f"archive/data/{key}", data)
        zf.writestr("archive/version", "3\n")


class _Evil:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol 4")
@pytest.mark.parametrize("use_torch", [True, False])
def test_malicious_pickle_is_refused_and_not_run(tmp_path, use_torch):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    _zip_with_pickle(path, pickle.dumps({"weight": _Evil(str(marker))}, protocol=2))
    with pytest.raises(UnsafePickleError, match=r"evil\.pt.*Unsupported global: GLOBAL (posix|os|nt)\.system"):
        load_torch_state_dict(path, use_torch=use_torch)
    assert not marker.exists()
    _zip_with_pickle(path, pickle.dumps(eval, protocol=2))
    with pytest.raises(UnsafePickleError, match=r"Unsupported global: GLOBAL builtins\.eval"):
        load_torch_state_dict(path, use_torch=use_torch)
    # Protocol 4 framing is outside what torch.load(weights_only=True) accepts: refused before any global.
    _zip_with_pickle(path, pickle.dumps({"weight": _Evil(str(marker))}, protocol=4))
    with pytest.raises(WeightsFormatError, match=r"evil\.pt.*unsupported pickle opcode FRAME"):
        load_torch_state_dict(path, use_torch=use_torch)
    assert not marker.exists()


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


# ------------------------------------------------------------------ the pickle-free reader against torch's
from collections import Counter, OrderedDict  # noqa: E402
import io  # noqa: E402
import pickletools  # noqa: E402
import struct  # noqa: E402

from gradwise.interop import RestrictedUnpickler, read_torch_zip  # noqa: E402
from gradwise.interop.torch_weights import ALLOWED_GLOBALS, LAYOUTS  # noqa: E402

READERS = [pytest.param(True, id="torch.load"), pytest.param(False, id="pickle-free")]


def _s(text: str) -> bytes:
    data = text.encode()
    return b"X" + struct.pack("<I", len(data)) + data  # BINUNICODE


def _g(module: str, name: str) -> bytes:
    return b"c" + f"{module}\n{name}\n".encode()  # GLOBAL


def _same(a, b) -> None:
    """Equal values of equal types, arrays compared by dtype, shape and value."""
    assert type(a) is type(b), (type(a), type(b))
    if isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape, (a.dtype, b.dtype, a.shape, b.shape)
        np.testing.assert_array_equal(a, b)
    elif isinstance(a, dict):
        assert list(a) == list(b)
        for key in a:
            _same(a[key], b[key])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            _same(x, y)
    else:
        assert a == b


def _both(path):
    """What both readers give (they must agree)."""
    via_torch, pickle_free = read_torch_zip(path, use_torch=True), read_torch_zip(path, use_torch=False)
    _same(via_torch, pickle_free)
    return pickle_free


# BUILD sets torch.FloatStorage's dtype to int32; the result is passed as the (ignored) backward hooks of a
# genuine float32 tensor.  The old reader loaded this file without complaint and from then on read every
# float32 file in the process as int32.  torch.load(weights_only=True) refuses it, as it does the others.
_POISON = _g("torch", "FloatStorage") + b"}" + _s("name") + _s("IntStorage") + b"sb"
_HIDDEN_POISON = (b"\x80\x02" + _g("collections", "OrderedDict") + b")R(" + _s("w")
                  + _g("torch._utils", "_rebuild_tensor_v2") + b"((" + _s("storage") + _g("torch", "FloatStorage")
                  + _s("0") + _s("cpu") + b"K\x02tQ" + b"K\x00K\x02\x85K\x01\x85\x89" + _POISON + b"tRu.")
ATTACKS = {
    "hidden-build-on-storage-type": (_HIDDEN_POISON, r"BUILD on the global torch\.FloatStorage refused"),
    "build-storage-type": (b"\x80\x02}(" + _s("evil") + _g("torch", "FloatStorage") + b"}" + _s("name")
                           + _s("IntStorage") + b"sbu.", r"BUILD on the global torch\.FloatStorage refused"),
    "build-dtype": (b"\x80\x02}(" + _s("evil") + _g("torch", "float32") + b"}" + _s("arg") + _s("int32")
                    + b"sbu.", r"BUILD on the global torch\.float32 refused"),
    "build-plain-dict": (b"\x80\x02}}" + _s("x") + b"Kzsb.", r"BUILD on a dict refused"),
    "setitem-on-a-global": (b"\x80\x02" + _g("collections", "OrderedDict") + _s("k") + _s("v") + b"s.",
                            r"SETITEM on the global collections\.OrderedDict refused"),
    "append-on-a-global": (b"\x80\x02" + _g("torch", "Size") + b"K\x01a.", r"APPEND on the global torch\.Size refused"),
}


@pytest.mark.parametrize("use_torch", READERS)
@pytest.mark.parametrize("attack", list(ATTACKS))
def test_poisoning_file_is_refused_and_later_loads_are_unchanged(tmp_path, attack, use_torch):
    genuine = tmp_path / "genuine.pt"
    weights = {"w": torch.tensor([1.5, -2.0, 3.25]), "steps": torch.tensor(7)}
    torch.save(weights, genuine)
    payload, message = ATTACKS[attack]
    pickletools.dis(payload, out=io.StringIO())  # a well-formed pickle: refused for what it does
    evil = tmp_path / "evil.pt"
    _zip_with_pickle(evil, payload, {"0": np.array([1.5, 2.0], np.float32).tobytes()})
    with pytest.raises(pickle.UnpicklingError):
        torch.load(evil, weights_only=True)
    for _ in range(2):
        with pytest.raises(UnsafePickleError, match=message) as info:
            load_torch_state_dict(evil, use_torch=use_torch)
        assert str(evil) in str(info.value) and isinstance(info.value, ValueError)
        for reader in (True, False):
            state = load_torch_state_dict(genuine, use_torch=reader)
            assert state["w"].dtype == np.float32 and state["w"].tolist() == [1.5, -2.0, 3.25]
            assert state["steps"].dtype == np.int64 and state["steps"] == 7


def test_each_load_gets_its_own_immutable_globals():
    payload = b"\x80\x02" + _g("torch", "FloatStorage") + b"."
    first, second = RestrictedUnpickler(payload).load(), RestrictedUnpickler(payload).load()
    assert first is not second and repr(first) == "torch.FloatStorage"
    with pytest.raises(AttributeError, match="immutable"):
        first.arg = "int32"
    with pytest.raises(AttributeError, match="immutable"):
        del first.kind


@pytest.mark.parametrize("use_torch", READERS)
@pytest.mark.parametrize("module, name", [("os", "system"), ("builtins", "exec"), ("torch.nn.modules.linear", "Linear"),
                                          ("numpy.core.multiarray", "_reconstruct"), ("torch", "load")])
def test_any_global_off_the_allow_list_is_refused_by_name(tmp_path, use_torch, module, name):
    path = tmp_path / "g.pt"
    _zip_with_pickle(path, b"\x80\x02" + _g(module, name) + b")R.")
    with pytest.raises(UnsafePickleError, match=rf"Unsupported global: GLOBAL {module}\.{name} "):
        load_torch_state_dict(path, use_torch=use_torch)


def test_allow_list_is_torchs_weights_only_allow_list():
    from torch import _weights_only_unpickler as weights_only

    assert set(ALLOWED_GLOBALS) == set(weights_only._get_allowed_globals())
    assert set(LAYOUTS) == {str(v) for v in vars(torch).values() if isinstance(v, torch.layout)}
    with pytest.raises(TypeError):
        ALLOWED_GLOBALS["os.system"] = ("rebuild", "_rebuild_tensor")  # the table itself is read-only


@pytest.mark.filterwarnings("ignore:ComplexHalf support is experimental")
def test_rebuild_tensor_v3_dtypes_and_views(tmp_path):
    big = 2**63 + 5
    state = {"u16": torch.tensor([0, 1, 65535]).to(torch.uint16), "u32": torch.tensor([2**32 - 1]).to(torch.uint32),
             "u64": torch.tensor([big], dtype=torch.uint64), "c32": torch.tensor([1 + 2j, -0.5j]).to(torch.complex32),
             "u16_view": torch.tensor([[1, 2, 3], [4, 5, 6]]).to(torch.uint16).t()[1:],
             "bf16": torch.tensor([[1.0, -2.5], [0.15625, 3.0]]).bfloat16().t(),
             "i8": torch.tensor([-128, 127], dtype=torch.int8), "flag": torch.tensor([[True], [False]])}
    torch.save(state, tmp_path / "v3.pt")
    got = _both(tmp_path / "v3.pt")
    assert got["u64"].dtype == np.uint64 and int(got["u64"][0]) == big
    for key, value in state.items():
        wide = value.float() if value.dtype == torch.bfloat16 else value.to(torch.complex64) \
            if value.dtype == torch.complex32 else value
        np.testing.assert_array_equal(got[key], wide.numpy(), err_msg=key)
        assert got[key].dtype == wide.numpy().dtype and got[key].shape == tuple(value.shape), key


@pytest.mark.parametrize("use_torch", READERS)
def test_float8_needs_ml_dtypes(tmp_path, monkeypatch, use_torch):
    values = torch.tensor([1.0, -0.5, 448.0])
    torch.save({"f8": values.to(torch.float8_e4m3fn), "f8b": values.to(torch.float8_e5m2)}, tmp_path / "f8.pt")
    with monkeypatch.context() as patch:
        patch.setitem(sys.modules, "ml_dtypes", None)  # as where ml_dtypes is not installed
        with pytest.raises(WeightsFormatError, match=r"f8\.pt: tensor 'f8' has dtype torch\.float8_e4m3fn.*ml_dtypes"):
            load_torch_state_dict(tmp_path / "f8.pt", use_torch=use_torch)
    ml_dtypes = pytest.importorskip("ml_dtypes")
    got = load_torch_state_dict(tmp_path / "f8.pt", use_torch=use_torch)
    assert got["f8"].dtype == ml_dtypes.float8_e4m3fn and got["f8b"].dtype == ml_dtypes.float8_e5m2
    np.testing.assert_array_equal(got["f8"].astype(np.float32), values.numpy())


def test_every_value_weights_only_loading_accepts(tmp_path):
    param = torch.nn.Parameter(torch.tensor([1.0, 2.0]))
    param.note = "kept by torch, dropped here"  # -> _rebuild_parameter_with_state
    tagged = torch.tensor([3.0, 4.0])
    tagged.tag = 1  # -> torch._tensor._rebuild_from_type_v2
    saved = {"size": torch.Size([2, 3]), "dtype": torch.float16, "device": torch.device("cuda", 1),
             "cpu": torch.device("cpu"), "counts": Counter(a=2), "set": {1, 2}, "bytes": b"\x00\xff",
             "bytearray": bytearray(b"ab"), "complex": 1 - 2j, "float": 1.5, "none": None, "flags": [True, False],
             "parameter": param, "frozen": torch.nn.Parameter(torch.ones(1), requires_grad=False), "tagged": tagged,
             "conj": torch.tensor([1 + 2j]).conj(), "neg": torch._neg_view(torch.tensor([1.0, -3.0])),
             "expanded": torch.ones(1).expand(4), "nested": ({"deep": [torch.arange(3)]},),
             "ordered": OrderedDict(b=torch.zeros(2, dtype=torch.float64)), "empty": torch.zeros(0, 3)}
    torch.save(saved, tmp_path / "all.pt")
    got = _both(tmp_path / "all.pt")
    expected = {"size": (2, 3), "dtype": "torch.float16", "device": "cuda:1", "cpu": "cpu", "counts": Counter(a=2),
                "set": {1, 2}, "bytes": b"\x00\xff", "bytearray": bytearray(b"ab"), "complex": 1 - 2j, "float": 1.5,
                "none": None, "flags": [True, False], "parameter": np.array([1.0, 2.0], np.float32),
                "frozen": np.ones(1, np.float32), "tagged": np.array([3.0, 4.0], np.float32),
                "conj": np.array([1 - 2j], np.complex64), "neg": np.array([-1.0, 3.0], np.float32),
                "expanded": np.ones(4, np.float32), "nested": ({"deep": [np.arange(3)]},),
                "ordered": OrderedDict(b=np.zeros(2)), "empty": np.zeros((0, 3), np.float32)}
    _same(got, expected)


def test_big_endian_files_read_alike(tmp_path):
    state = {"w": np.arange(6, dtype=np.float32).reshape(2, 3) - 2.5, "n": np.array([1, -2**40], np.int64),
             "h": np.array([0.5, -1.0], np.float16)}
    export_torch_state_dict(state, tmp_path / "little.pt")
    with zipfile.ZipFile(tmp_path / "little.pt") as src, zipfile.ZipFile(tmp_path / "big.pt", "w") as dst:
        arrays = list(state.values())
        for info in src.infolist():
            data = src.read(info)
            if info.filename.endswith("byteorder"):
                data = b"big"
            elif "/data/" in info.filename:
                array = arrays[int(info.filename.rsplit("/", 1)[1])]
                data = array.astype(array.dtype.newbyteorder(">")).tobytes()
            dst.writestr(info, data)
    got = _both(tmp_path / "big.pt")
    for key, value in state.items():
        assert got[key].dtype == value.dtype and got[key].dtype.isnative
        np.testing.assert_array_equal(got[key], value)


def test_export_of_unsigned_types_uses_rebuild_tensor_v3(tmp_path):
    state = {"u16": np.array([1, 65535], np.uint16), "u32": np.array([[2**32 - 1]], np.uint32),
             "u64": np.array(2**64 - 1, np.uint64), "f": np.ones(2, np.float32)}
    export_torch_state_dict(state, tmp_path / "u.pt")
    loaded = torch.load(tmp_path / "u.pt", weights_only=True)
    assert loaded["u16"].dtype == torch.uint16 and loaded["u64"].dtype == torch.uint64
    got = _both(tmp_path / "u.pt")
    for key, value in state.items():
        assert got[key].dtype == value.dtype and got[key].shape == value.shape
        np.testing.assert_array_equal(got[key], value)


@pytest.mark.filterwarnings("ignore:torch.quantize_per_tensor", "ignore:TypedStorage is deprecated")
@pytest.mark.parametrize("use_torch", READERS)
def test_unsupported_tensors_fail_clearly(tmp_path, use_torch):
    torch.save({"s": torch.eye(2).to_sparse()}, tmp_path / "sparse.pt")
    with pytest.raises(WeightsFormatError, match=r"sparse\.pt.*sparse"):
        read_torch_zip(tmp_path / "sparse.pt", use_torch=use_torch)
    torch.save({"q": torch.quantize_per_tensor(torch.ones(2), 0.1, 0, torch.qint8)}, tmp_path / "q.pt")
    with pytest.raises(WeightsFormatError, match=r"q\.pt.*quantized"):
        read_torch_zip(tmp_path / "q.pt", use_torch=use_torch)


@pytest.mark.parametrize("use_torch", READERS)
def test_damaged_storage_is_caught_by_its_crc(tmp_path, use_torch):
    torch.save({"w": torch.arange(16.0)}, tmp_path / "w.pt")
    data = bytearray((tmp_path / "w.pt").read_bytes())
    with zipfile.ZipFile(tmp_path / "w.pt") as zf:
        info = zf.getinfo("w/data/0")
    name_len, extra_len = struct.unpack("<HH", data[info.header_offset + 26:info.header_offset + 30])
    data[info.header_offset + 30 + name_len + extra_len + 5] ^= 0x40  # torch.load alone would not notice
    (tmp_path / "w.pt").write_bytes(bytes(data))
    with pytest.raises(WeightsFormatError, match=r"w\.pt: member w/data/0 is corrupt.*CRC"):
        load_torch_state_dict(tmp_path / "w.pt", use_torch=use_torch)


def test_torch_load_is_preferred_and_the_fallback_is_forced_by_use_torch(tmp_path, monkeypatch):
    torch.save({"w": torch.ones(2)}, tmp_path / "w.pt")
    calls = []
    real_load = torch.load
    monkeypatch.setattr(torch, "load", lambda *args, **kwargs: calls.append(kwargs) or real_load(*args, **kwargs))
    load_torch_state_dict(tmp_path / "w.pt")
    assert calls == [{"weights_only": True, "map_location": "cpu"}]
    load_torch_state_dict(tmp_path / "w.pt", use_torch=False)
    assert len(calls) == 1


def test_import_and_pickle_free_reading_never_import_torch(tmp_path):
    torch.save({"w": torch.arange(3.0)}, tmp_path / "t.pt")
    script = ("import sys, gradwise\n"
              "assert 'torch' not in sys.modules, 'import gradwise imported torch'\n"
              "from gradwise.interop import load_torch_state_dict\n"
              f"state = load_torch_state_dict({str(tmp_path / 't.pt')!r}, use_torch=False)\n"
              "assert state['w'].tolist() == [0.0, 1.0, 2.0] and 'torch' not in sys.modules\n"
              "print('ok')\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "ok", done.stderr


@pytest.mark.parametrize("use_torch", READERS)
def test_self_referring_object_is_refused(tmp_path, use_torch):
    _zip_with_pickle(tmp_path / "loop.pt", b"\x80\x02]q\x00h\x00a.")  # a list that holds itself
    with pytest.raises(WeightsFormatError, match=r"loop\.pt: .*nested more than 100 levels deep"):
        read_torch_zip(tmp_path / "loop.pt", use_torch=use_torch)


@pytest.mark.parametrize("use_torch", READERS)
def test_negated_bool_tensor_fails_clearly(tmp_path, use_torch):
    flags = torch.tensor([True, False])
    torch._C._set_tensor_metadata(flags, {"neg": True})  # a neg bit that torch itself cannot resolve
    torch.save({"flags": flags}, tmp_path / "neg.pt")
    with pytest.raises(WeightsFormatError, match=r"neg\.pt.*(cannot be negated|'flags' cannot be converted)"):
        read_torch_zip(tmp_path / "neg.pt", use_torch=use_torch)
