"""Mutated weight files (.pth by torch.save, .safetensors, .npz): a clear error or a correct load, never a
crash of another kind, and never a change to how a genuine file loads afterwards."""
from __future__ import annotations

import io
import itertools
import zipfile
from collections import OrderedDict

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gradwise.interop import WeightsFormatError, load_torch_state_dict
from gradwise.models.weights import load_arrays, save

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.filterwarnings("ignore:Detected pickle protocol")  # torch.load on a damaged data.pkl

SETTINGS = settings(max_examples=50, deadline=None, database=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
_counter = itertools.count()


@pytest.fixture(scope="module")
def genuine(tmp_path_factory):
    """Small real files of each format, and what each loads as."""
    root = tmp_path_factory.mktemp("genuine")
    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.BatchNorm1d(2))
    torch.save(module.state_dict(), root / "m.pth")
    arrays = OrderedDict((k, v.numpy().copy()) for k, v in module.state_dict().items())
    arrays["half"] = np.linspace(-1, 1, 3).astype(np.float16)
    save(arrays, root / "m.safetensors")
    save(arrays, root / "m.npz")
    files = {"pth": root / "m.pth", "safetensors": root / "m.safetensors", "npz": root / "m.npz"}
    expected = {kind: load_arrays(path) for kind, path in files.items()}
    assert expected["pth"]["0.weight"].dtype == np.float32
    return files, expected


def _pth_paths(path):
    return [("torch", lambda: load_torch_state_dict(path, use_torch=True)),
            ("pickle-free", lambda: load_torch_state_dict(path, use_torch=False))]


def _same(a, b) -> bool:
    return list(a) == list(b) and all(a[k].dtype == b[k].dtype and a[k].shape == b[k].shape
                                      and np.array_equal(a[k], b[k], equal_nan=a[k].dtype.kind in "fc") for k in a)


def _check(path, kind: str, genuine) -> None:
    """Load a mutated file every way; then the genuine files must load exactly as before."""
    files, expected = genuine
    readers = _pth_paths(path) if kind in ("pth", "pkl") else [("load", lambda: load_arrays(path))]
    results = {}
    for label, read in readers:
        try:
            state = read()
        except WeightsFormatError as exc:
            assert str(path) in str(exc), f"{label}: the error does not name the file: {exc}"
            results[label] = None
            continue
        assert isinstance(state, OrderedDict) and state, label
        for name, value in state.items():
            assert isinstance(name, str) and isinstance(value, np.ndarray), (label, name, type(value))
            assert value.dtype.kind in "biufc", (label, name, value.dtype)
        results[label] = state
    loaded = [r for r in results.values() if r is not None]
    assert all(_same(loaded[0], other) for other in loaded[1:]), "the two .pth readers disagree"
    for genuine_kind, genuine_path in files.items():
        for label, read in (_pth_paths(genuine_path) if genuine_kind == "pth"
                            else [("load", lambda p=genuine_path: load_arrays(p))]):
            assert _same(read(), expected[genuine_kind]), f"{genuine_kind} ({label}) loads differently afterwards"


mutation = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, 1 << 20), st.integers(1, 255)),
    st.tuples(st.just("set"), st.integers(0, 1 << 20), st.integers(0, 255)),
    st.tuples(st.just("insert"), st.integers(0, 1 << 20), st.binary(min_size=1, max_size=8)),
    st.tuples(st.just("delete"), st.integers(0, 1 << 20), st.integers(1, 16)),
    st.tuples(st.just("truncate"), st.integers(0, 1 << 20), st.just(0)),
)


def _mutate(data: bytes, mutations) -> bytes:
    out = bytearray(data)
    for op, position, arg in mutations:
        at = position % (len(out) + 1)
        if op == "flip" and at < len(out):
            out[at] ^= arg
        elif op == "set" and at < len(out):
            out[at] = arg
        elif op == "insert":
            out[at:at] = arg
        elif op == "delete":
            del out[at:at + arg]
        elif op == "truncate":
            del out[at:]
    return bytes(out)


@pytest.mark.parametrize("kind", ["pth", "safetensors", "npz"])
@SETTINGS
@given(mutations=st.lists(mutation, min_size=1, max_size=4))
def test_mutated_file_gives_a_clear_error_or_a_correct_load(genuine, tmp_path_factory, kind, mutations):
    files, _ = genuine
    path = tmp_path_factory.getbasetemp() / f"mutated-{next(_counter)}{files[kind].suffix}"
    path.write_bytes(_mutate(files[kind].read_bytes(), mutations))
    _check(path, kind, genuine)
    path.unlink()


@SETTINGS
@given(mutations=st.lists(mutation, min_size=1, max_size=4))
def test_mutated_pickle_in_a_valid_archive(genuine, tmp_path_factory, mutations):
    """The same, with the archive rebuilt around the damaged data.pkl (so its CRC is right and both
    unpicklers, torch's and gradwise's, see the damage)."""
    files, _ = genuine
    path = tmp_path_factory.getbasetemp() / f"mutated-{next(_counter)}.pth"
    buffer = io.BytesIO()
    with zipfile.ZipFile(files["pth"]) as src, zipfile.ZipFile(buffer, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            dst.writestr(info.filename, _mutate(data, mutations) if info.filename.endswith("data.pkl") else data)
    path.write_bytes(buffer.getvalue())
    _check(path, "pkl", genuine)
    path.unlink()
