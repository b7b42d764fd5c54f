"""safetensors files through the ``safetensors`` package (memory-mapped) and through pure NumPy: same results.

The package is optional (the ``weights`` extra); gradwise checks the header itself either way, so the
two paths accept and reject the same files and return the same arrays.
"""
import struct

import numpy as np
import pytest

from gradwise.interop import WeightsFormatError, load_safetensors, read_safetensors, save_safetensors
from gradwise.interop import safetensors as st_module

safetensors = pytest.importorskip("safetensors")
BACKENDS = ("safetensors", "numpy")


def _tensors():
    rng = np.random.default_rng(0)
    return {
        "conv.weight": rng.normal(size=(4, 3, 3, 3)).astype(np.float32),
        "conv.bias": rng.normal(size=4).astype(np.float64),
        "half": rng.normal(size=(2, 5)).astype(np.float16),
        "steps": np.array(7, dtype=np.int64),              # 0-d
        "empty": np.zeros((0, 3), dtype=np.float32),
        "mask": np.array([True, False, True]),
        "bytes": np.arange(5, dtype=np.uint8),
        "big_endian": np.arange(6, dtype=">i4").reshape(2, 3),
        "strided": rng.normal(size=(6, 6)).astype(np.float32)[::2, ::3],
    }


def _same(a, b):
    assert set(a) == set(b)
    for name in a:
        assert a[name].dtype == b[name].dtype and a[name].dtype.isnative, name
        assert a[name].shape == b[name].shape, name
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)


@pytest.mark.parametrize("writer", BACKENDS)
@pytest.mark.parametrize("reader", BACKENDS)
def test_every_writer_and_reader_pair_round_trips(tmp_path, writer, reader):
    tensors = _tensors()
    path = tmp_path / "w.safetensors"
    save_safetensors(tensors, path, metadata={"format": "pt", "epoch": 3}, backend=writer)
    loaded, metadata = read_safetensors(path, backend=reader)
    _same(loaded, {k: np.asarray(v, dtype=v.dtype.newbyteorder("=")) for k, v in tensors.items()})
    assert metadata == {"format": "pt", "epoch": "3"}
    other = "numpy" if reader == "safetensors" else "safetensors"
    again = load_safetensors(path, backend=other)
    assert list(loaded) == list(again)                  # file order, whichever reader
    _same(loaded, again)
    loaded["conv.bias"][0] = 123.0                        # arrays are the caller's own
    assert load_safetensors(path, backend=reader)["conv.bias"][0] != 123.0


def test_the_package_writer_lays_the_file_out_as_safetensors_does(tmp_path):
    from safetensors.numpy import load_file, save_file

    tensors = {k: v for k, v in _tensors().items() if k != "big_endian"}
    ours, theirs = tmp_path / "ours.safetensors", tmp_path / "theirs.safetensors"
    save_safetensors(tensors, ours, backend="safetensors")
    save_file({k: np.asarray(v, order="C") for k, v in tensors.items()}, theirs)   # (ascontiguousarray: 0-d -> 1-d)
    assert ours.read_bytes() == theirs.read_bytes()
    _same(load_file(str(ours)), load_safetensors(ours, backend="numpy"))


def test_bf16_from_torch_is_read_the_same_way(tmp_path):
    torch = pytest.importorskip("torch")
    from safetensors.torch import save_file

    values = torch.tensor([[1.5, -2.25, 3.0e38], [0.0, -0.0, 1e-3]], dtype=torch.bfloat16)
    path = tmp_path / "bf16.safetensors"
    save_file({"w": values, "b": torch.ones(3)}, str(path))
    a, b = load_safetensors(path, backend="safetensors"), load_safetensors(path, backend="numpy")
    _same(a, b)
    assert a["w"].dtype == np.float32
    np.testing.assert_array_equal(a["w"], values.float().numpy())


def _corrupt_files(tmp_path):
    good = tmp_path / "good.safetensors"
    save_safetensors({"a": np.arange(4, dtype=np.float32), "b": np.ones(2, dtype=np.float64)}, good, backend="numpy")
    raw = good.read_bytes()
    (length,) = struct.unpack("<Q", raw[:8])
    cases = {"truncated": raw[:-3], "short": raw[:5], "huge_header": struct.pack("<Q", 10**9) + raw[8:],
             "not_json": raw[:8] + b"[" * length + raw[8 + length:],
             "extra_bytes": raw + b"\0" * 8}
    paths = {}
    for name, data in cases.items():
        paths[name] = tmp_path / f"{name}.safetensors"
        paths[name].write_bytes(data)
    return paths


def test_both_readers_reject_the_same_files_with_the_same_message(tmp_path):
    for name, path in _corrupt_files(tmp_path).items():
        messages = []
        for backend in BACKENDS:
            with pytest.raises(WeightsFormatError) as info:
                load_safetensors(path, backend=backend)
            messages.append(str(info.value))
        assert messages[0] == messages[1], name


def test_auto_uses_the_package_when_installed_and_numpy_without_it(tmp_path, monkeypatch):
    path = tmp_path / "w.safetensors"
    tensors = {"w": np.arange(6, dtype=np.float32).reshape(2, 3)}
    used = []
    real = st_module._read_with_package
    monkeypatch.setattr(st_module, "_read_with_package", lambda *a: used.append(1) or real(*a))
    save_safetensors(tensors, path)
    _same(load_safetensors(path), tensors)
    assert used == [1]
    monkeypatch.setitem(__import__("sys").modules, "safetensors", None)   # as if not installed
    save_safetensors(tensors, path)
    _same(load_safetensors(path), tensors)
    assert used == [1]
    with pytest.raises(ImportError, match="pip install 'gradwise\\[weights\\]'"):
        load_safetensors(path, backend="safetensors")
    with pytest.raises(ValueError, match="backend must be one of"):
        load_safetensors(path, backend="rust")
