"""gradwise.save / load / load_into: every format round-trips, and bad files fail naming the key."""
from __future__ import annotations

import json
import os
import struct
import zipfile

import numpy as np
import pytest

import gradwise
from gradwise import nn
from gradwise.interop import WeightsFormatError, load_safetensors, save_safetensors
from gradwise.models import load, load_into, mlp, save
from gradwise.models.weights import WeightsMismatchError

FORMATS = ["npz", "safetensors", "pt"]


def small_model() -> nn.Module:
    gradwise.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 3))


def arrays_of(model: nn.Module) -> dict[str, np.ndarray]:
    return {k: v._data.copy() for k, v in model.state_dict().items()}


@pytest.mark.parametrize("fmt", FORMATS)
def test_round_trip_is_exact(tmp_path, fmt):
    model = small_model()
    model[1].running_mean._data[:] = [0.1, 0.2, 0.3, 0.4]
    model[1].num_batches_tracked._data[...] = 5
    path = tmp_path / f"weights.{fmt}"
    save(model, path)
    state = load(path)
    expected = arrays_of(model)
    assert list(state) == list(expected)
    for key, value in expected.items():
        assert state[key].dtype == gradwise.from_numpy(value).dtype and state[key].shape == value.shape
        np.testing.assert_array_equal(state[key].numpy(), value)
    other = small_model()
    for p in other.parameters():
        p._data[...] = 0
    load_into(other, path)
    for key, value in arrays_of(other).items():
        np.testing.assert_array_equal(value, expected[key])


@pytest.mark.parametrize("fmt", FORMATS)
def test_dtypes_survive(tmp_path, fmt):
    state = {"f64": np.arange(6, dtype=np.float64).reshape(2, 3), "f16": np.ones(3, np.float16),
             "i32": np.array([1, -2], np.int32), "u8": np.array([255], np.uint8), "b": np.array([True, False]),
             "scalar": np.array(3, np.int64), "empty": np.zeros((0, 4), np.float32)}
    path = tmp_path / f"mixed.{fmt}"
    save(state, path)
    back = load(path)
    for key, value in state.items():
        assert back[key].numpy().dtype == value.dtype, key
        np.testing.assert_array_equal(back[key].numpy(), value)


def test_safetensors_interoperates_with_reference_package(tmp_path):
    st = pytest.importorskip("safetensors.numpy")
    state = {"a.weight": np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32),
             "a.steps": np.array(4, np.int64)}
    save_safetensors(state, tmp_path / "ours.safetensors", metadata={"format": "np"})
    theirs = st.load_file(str(tmp_path / "ours.safetensors"))
    for key in state:
        np.testing.assert_array_equal(theirs[key], state[key])
    st.save_file(state, str(tmp_path / "theirs.safetensors"))
    for key, value in load_safetensors(tmp_path / "theirs.safetensors").items():
        np.testing.assert_array_equal(value, state[key])


def test_bfloat16_is_widened_to_float32(tmp_path):
    values = np.array([1.0, -2.5, 3.140625], np.float32)
    bits = (values.view(np.uint32) >> 16).astype("<u2")
    header = json.dumps({"x": {"dtype": "BF16", "shape": [3], "data_offsets": [0, 6]}}).encode()
    (tmp_path / "bf16.safetensors").write_bytes(struct.pack("<Q", len(header)) + header + bits.tobytes())
    np.testing.assert_array_equal(load(tmp_path / "bf16.safetensors")["x"].numpy(), values)


def test_truncated_safetensors_names_the_tensor(tmp_path):
    path = tmp_path / "w.safetensors"
    save(small_model(), path)
    data = path.read_bytes()
    path.write_bytes(data[:-10])
    with pytest.raises(WeightsFormatError, match=r"'4\.bias'.*truncated"):
        load(path)
    path.write_bytes(data[:5])
    with pytest.raises(WeightsFormatError, match="too short"):
        load(path)


def test_inconsistent_safetensors_header_names_the_tensor(tmp_path):
    header = json.dumps({"w": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 12]}}).encode()
    path = tmp_path / "bad.safetensors"
    path.write_bytes(struct.pack("<Q", len(header)) + header + bytes(16))
    with pytest.raises(WeightsFormatError, match=r"'w'.*need 16"):
        load(path)
    header = json.dumps({"w": {"dtype": "F99", "shape": [1], "data_offsets": [0, 4]}}).encode()
    path.write_bytes(struct.pack("<Q", len(header)) + header + bytes(4))
    with pytest.raises(WeightsFormatError, match=r"'w'.*F99"):
        load(path)


def test_truncated_and_corrupt_npz(tmp_path):
    path = tmp_path / "w.npz"
    save(small_model(), path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(WeightsFormatError, match="truncated or corrupt"):
        load(path)
    # Damage the data of one member: the zip CRC check names it.
    with zipfile.ZipFile(tmp_path / "w2.npz", "w") as zf:
        zf.writestr("0.weight.npy", b"\x93NUMPY" + bytes(200))
    with pytest.raises(WeightsFormatError, match=r"'0\.weight'"):
        load(tmp_path / "w2.npz")


def test_npz_with_object_array_is_refused_without_unpickling(tmp_path):
    path = tmp_path / "evil.npz"
    np.savez(path, payload=np.array([{"a": 1}], dtype=object))
    with pytest.raises(WeightsFormatError, match=r"'payload'.*pickle"):
        load(path)


def test_mismatched_weights_name_every_key(tmp_path):
    path = tmp_path / "mlp.safetensors"
    save(mlp([4, 8, 3]), path)
    target = mlp([4, 8, 5])
    before = arrays_of(target)
    with pytest.raises(WeightsMismatchError) as info:
        load_into(target, path)
    message = str(info.value)
    assert "2.weight: shape mismatch, expected (5, 8), found (3, 8)" in message
    assert "2.bias: shape mismatch, expected (5,), found (3,)" in message
    for key, value in arrays_of(target).items():  # nothing was copied
        np.testing.assert_array_equal(value, before[key])
    with pytest.raises(WeightsMismatchError, match=r"4\.weight: missing.*\n.*4\.bias: missing"):
        load_into(mlp([4, 8, 3, 2]), path)
    with pytest.raises(WeightsMismatchError, match=r"2\.weight: unexpected"):
        load_into(mlp([4, 8]), path)
    result = load_into(mlp([4, 8, 3, 2]), path, strict=False)
    assert result.missing_keys == ["4.weight", "4.bias"] and result.unexpected_keys == []


def test_dtype_mismatch_needs_cast(tmp_path):
    path = tmp_path / "w.pt"
    save(mlp([4, 3]), path)
    model = mlp([4, 3]).double()
    with pytest.raises(WeightsMismatchError, match=r"0\.weight: dtype mismatch, expected float64, found float32 "
                                                   r"\(pass cast=True"):
        load_into(model, path)
    load_into(model, path, cast=True)
    assert model[0].weight.dtype == gradwise.float64


def test_atomic_write_keeps_old_file_on_failure(tmp_path):
    path = tmp_path / "w.safetensors"
    save({"a": np.ones(2, np.float32)}, path)
    before = path.read_bytes()
    with pytest.raises(TypeError):
        save({"a": np.ones(2, np.float32), "b": np.array(["text"])}, path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["w.safetensors"]  # no temporary file left behind


def test_unknown_suffix_and_unknown_content(tmp_path):
    with pytest.raises(ValueError, match="suffix"):
        save(mlp([2, 2]), tmp_path / "w.pkl")
    (tmp_path / "junk.bin").write_bytes(b"hello world, not weights")
    with pytest.raises(WeightsFormatError, match="not a weight file"):
        load(tmp_path / "junk.bin")


def test_damaged_npz_members_fail_clearly(tmp_path):
    path = tmp_path / "w.npz"
    save({"a": np.ones(3, np.float32)}, path)
    data = bytearray(path.read_bytes())
    for magic, field in ((b"PK\x03\x04", 8), (b"PK\x01\x02", 10)):  # the compression method, local and central
        at = data.index(magic)
        data[at + field:at + field + 2] = struct.pack("<H", 99)
    path.write_bytes(bytes(data))
    with pytest.raises(WeightsFormatError, match=r"w\.npz: array 'a' cannot be read.*NotImplementedError"):
        load(path)
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("a.npy", b"not an array")
    with pytest.raises(WeightsFormatError, match=r"w\.npz: member 'a' is not a \.npy array"):
        load(path)
    np.savez(path, names=np.array(["x", "y"]))
    with pytest.raises(WeightsFormatError, match=r"w\.npz: array 'names' has dtype <U1, not a numeric type"):
        load(path)


def test_safetensors_shape_cannot_wrap_around(tmp_path):
    header = json.dumps({"w": {"dtype": "F32", "shape": [2**32, 2**32], "data_offsets": [0, 0]}}).encode()
    path = tmp_path / "wrap.safetensors"
    path.write_bytes(struct.pack("<Q", len(header)) + header)
    with pytest.raises(WeightsFormatError, match=r"'w'.*need 73786976294838206464"):
        load(path)
    path.write_bytes(struct.pack("<Q", 50_000) + b"[" * 50_000)
    with pytest.raises(WeightsFormatError, match="not valid JSON"):
        load(path)
