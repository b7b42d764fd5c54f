"""PyTorch state dicts (``torch.save``'s zip format) read and written without torch and without pickle's risks.

``torch.save`` (PyTorch >= 1.6) writes a zip archive::

    <archive>/data.pkl        the state dict as a pickle; each tensor is a call
                              torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...)
                              whose storage is a persistent id ("storage", torch.FloatStorage,
                              "<key>", "cpu", numel)
    <archive>/data/<key>      the raw bytes of each storage
    <archive>/byteorder       "little" or "big"
    <archive>/version         "3"

A plain ``pickle.load`` of ``data.pkl`` may run any code the file names (``os.system``...).
:class:`RestrictedUnpickler` resolves only the handful of globals this format uses
(``collections.OrderedDict``, ``torch._utils._rebuild_tensor_v2``, ``torch._utils._rebuild_parameter``,
the ``torch.*Storage`` types) to harmless stand-ins, and refuses everything else - the
same idea as ``torch.load(weights_only=True)``, which needs torch.  Tensors are rebuilt from
the storage members as NumPy arrays (views by offset and strides, then copied).

:func:`export_torch_state_dict` writes the same format (the pickle opcodes are emitted
directly, so torch is not needed either); ``torch.load(path, weights_only=True)`` reads it.
"""
from __future__ import annotations

import collections
import io
import os
import pickle
import struct
import zipfile
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gradwise.interop._files import WeightsFormatError, atomic_write, sniff_format
from gradwise.interop.safetensors import _bf16_to_float32, load_safetensors

# torch storage type name -> little-endian NumPy dtype ("BFloat16" is widened to float32 on reading).
STORAGE_DTYPES: dict[str, np.dtype] = {
    "FloatStorage": np.dtype("<f4"), "DoubleStorage": np.dtype("<f8"), "HalfStorage": np.dtype("<f2"),
    "BFloat16Storage": np.dtype("<u2"), "LongStorage": np.dtype("<i8"), "IntStorage": np.dtype("<i4"),
    "ShortStorage": np.dtype("<i2"), "CharStorage": np.dtype("i1"), "ByteStorage": np.dtype("u1"),
    "BoolStorage": np.dtype("?"), "ComplexFloatStorage": np.dtype("<c8"), "ComplexDoubleStorage": np.dtype("<c16"),
}
_STORAGE_NAMES = {dt.newbyteorder("="): name for name, dt in STORAGE_DTYPES.items() if name != "BFloat16Storage"}
# Where a training checkpoint keeps its weights (Lightning, common training scripts).
CHECKPOINT_KEYS = ("state_dict", "model_state_dict", "model")


class UnsafePickleError(pickle.UnpicklingError):
    """The pickle asked for a global outside the PyTorch state-dict format: refused, nothing executed."""


@dataclass(frozen=True)
class _StorageType:
    """Stand-in for ``torch.FloatStorage`` etc.: only its element dtype matters."""

    name: str

    @property
    def dtype(self) -> np.dtype:
        return STORAGE_DTYPES[self.name]


@dataclass
class _StorageRef:
    """A persistent id ("storage", type, key, location, numel): the bytes of ``data/<key>``."""

    dtype_name: str
    key: str
    numel: int


@dataclass
class _LazyTensor:
    """What ``_rebuild_tensor_v2`` returns here: materialised once the state-dict key is known."""

    storage: _StorageRef
    offset: int
    size: tuple[int, ...]
    stride: tuple[int, ...]


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None,
                       metadata=None) -> _LazyTensor:
    if not isinstance(storage, _StorageRef):
        raise UnsafePickleError(f"_rebuild_tensor_v2 expects a storage reference, got {type(storage).__name__}")
    return _LazyTensor(storage, int(storage_offset), tuple(int(s) for s in size), tuple(int(s) for s in stride))


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None, state=None):
    return data  # a Parameter is its tensor, as far as the weights are concerned


_ALLOWED: dict[tuple[str, str], Any] = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
    **{("torch", name): _StorageType(name) for name in STORAGE_DTYPES},
}


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickles a torch ``data.pkl`` resolving only the globals of the state-dict format.

    Any other global - ``os.system``, ``builtins.eval``, ``subprocess.Popen``, a model class -
    raises :class:`UnsafePickleError` before anything is called.
    """

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise UnsafePickleError(
                f"refusing to load global '{module}.{name}': a PyTorch state dict only needs tensors, and loading "
                "anything else could run arbitrary code (gradwise never unpickles untrusted objects). If this is "
                "a full pickled model, re-save it in PyTorch with torch.save(model.state_dict(), path)") from None

    def persistent_load(self, pid: Any) -> _StorageRef:
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage" and isinstance(pid[1], _StorageType)):
            raise UnsafePickleError(f"unexpected persistent id {pid!r} in a PyTorch state dict")
        return _StorageRef(pid[1].name, str(pid[2]), int(pid[4]))


def _archive_prefix(names: list[str], path: Path) -> str:
    pkl = [n for n in names if n == "data.pkl" or n.endswith("/data.pkl")]
    if len(pkl) != 1:
        raise WeightsFormatError(f"{path}: a PyTorch zip archive has exactly one data.pkl, found {len(pkl)}")
    return pkl[0][: -len("data.pkl")]


def _materialise(name: str, lazy: _LazyTensor, zf: zipfile.ZipFile, prefix: str, big_endian: bool,
                 cache: dict[str, np.ndarray], path: Path) -> np.ndarray:
    """The NumPy array of one tensor, checking its storage and view against each other."""
    ref = lazy.storage
    dtype = STORAGE_DTYPES[ref.dtype_name]
    if big_endian:
        dtype = dtype.newbyteorder(">")
    if ref.key not in cache:
        member = f"{prefix}data/{ref.key}"
        try:
            raw = zf.read(member)
        except KeyError:
            raise WeightsFormatError(f"{path}: tensor {name!r}: its storage {member} is missing from the archive") \
                from None
        except (zipfile.BadZipFile, OSError, EOFError) as exc:
            raise WeightsFormatError(f"{path}: tensor {name!r}: its storage {member} is corrupt ({exc})") from exc
        if len(raw) != ref.numel * dtype.itemsize:
            raise WeightsFormatError(f"{path}: tensor {name!r}: storage {member} holds {len(raw)} bytes, expected "
                                     f"{ref.numel} x {dtype.itemsize} (truncated or corrupt)")
        cache[ref.key] = np.frombuffer(raw, dtype=dtype)
    storage = cache[ref.key]
    size, stride = lazy.size, lazy.stride
    if len(size) != len(stride) or min(stride, default=0) < 0 or lazy.offset < 0:
        raise WeightsFormatError(f"{path}: tensor {name!r}: inconsistent size {size} and stride {stride}")
    last = lazy.offset + sum((n - 1) * s for n, s in zip(size, stride)) if all(size) else lazy.offset - 1
    if last >= storage.size:
        raise WeightsFormatError(f"{path}: tensor {name!r}: a view of size {size}, stride {stride} at offset "
                                 f"{lazy.offset} reaches past its storage of {storage.size} elements")
    view = np.lib.stride_tricks.as_strided(storage[lazy.offset:] if all(size) else storage[:0], shape=size,
                                           strides=[s * dtype.itemsize for s in stride])
    array = np.array(view, dtype=dtype.newbyteorder("="))
    return _bf16_to_float32(array).reshape(size) if ref.dtype_name == "BFloat16Storage" else array


def _resolve(obj: Any, name: str, materialise) -> Any:
    """Replace every lazy tensor in a nested dict/list structure by its array."""
    if isinstance(obj, _LazyTensor):
        return materialise(name, obj)
    if isinstance(obj, dict):
        resolved = type(obj)() if isinstance(obj, OrderedDict) else {}
        for key, value in obj.items():
            resolved[key] = _resolve(value, f"{name}.{key}" if name else str(key), materialise)
        return resolved
    if isinstance(obj, (list, tuple)):
        return type(obj)(_resolve(v, f"{name}[{i}]", materialise) for i, v in enumerate(obj))
    return obj


def read_torch_zip(path: str | os.PathLike) -> Any:
    """The object in a ``torch.save`` zip file with its tensors as NumPy arrays (restricted unpickling)."""
    path = Path(path)
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise WeightsFormatError(f"{path}: not a readable PyTorch zip archive - truncated or corrupt ({exc})") \
            from exc
    with zf:
        names = zf.namelist()
        prefix = _archive_prefix(names, path)
        big_endian = (prefix + "byteorder" in names and zf.read(prefix + "byteorder").strip() == b"big")
        try:
            payload = zf.read(prefix + "data.pkl")
        except (zipfile.BadZipFile, OSError, EOFError) as exc:
            raise WeightsFormatError(f"{path}: {prefix}data.pkl is corrupt ({exc})") from exc
        try:
            obj = RestrictedUnpickler(io.BytesIO(payload)).load()
        except UnsafePickleError as exc:
            raise UnsafePickleError(f"{path}: {exc}") from None
        except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError) as exc:
            raise WeightsFormatError(f"{path}: {prefix}data.pkl is not a valid state-dict pickle ({exc})") from exc
        cache: dict[str, np.ndarray] = {}
        return _resolve(obj, "", lambda name, lazy: _materialise(name, lazy, zf, prefix, big_endian, cache, path))


def _select_state_dict(obj: Any, path: Path) -> "OrderedDict[str, np.ndarray]":
    """The name -> array mapping in what a file holds: the dict itself, or a checkpoint's weights."""
    def is_state(d: Any) -> bool:
        return isinstance(d, dict) and bool(d) and all(isinstance(k, str) and isinstance(v, np.ndarray)
                                                       for k, v in d.items())
    if is_state(obj):
        return OrderedDict(obj)
    if isinstance(obj, dict):
        for key in CHECKPOINT_KEYS:
            if is_state(obj.get(key)):
                return OrderedDict(obj[key])
        raise WeightsFormatError(f"{path}: holds a dict with keys {sorted(map(str, obj))[:12]} but no state dict "
                                 f"(a mapping of names to tensors, directly or under one of {CHECKPOINT_KEYS})")
    raise WeightsFormatError(f"{path}: holds a {type(obj).__name__}, not a state dict")


def load_torch_state_dict(path: str | os.PathLike) -> "OrderedDict[str, np.ndarray]":
    """A PyTorch ``.pt``/``.pth`` state dict (or a safetensors file) as NumPy arrays by name.

    Works without torch installed and never runs code from the file (see
    :class:`RestrictedUnpickler`).  A training checkpoint whose weights sit under
    ``"state_dict"``, ``"model_state_dict"`` or ``"model"`` gives those weights.  bfloat16
    tensors are widened to float32 (NumPy has no bfloat16).  Keys keep torch's names, so
    the result loads into a gradwise model of the same layout with
    :func:`gradwise.models.weights.load_into` or ``model.load_state_dict``.
    """
    path = Path(path)
    kind = sniff_format(path)
    if kind == "safetensors":
        return load_safetensors(path)
    if kind == "torch-legacy":
        raise WeightsFormatError(f"{path}: PyTorch's legacy (pre-1.6) serialization is not supported; re-save it "
                                 "with a current torch.save")
    if kind != "torch":
        raise WeightsFormatError(f"{path}: a {kind} file, not a PyTorch state dict (use gradwise.load)")
    return _select_state_dict(read_torch_zip(path), path)


# ----------------------------------------------------------------------------------------------- writing
class _PickleWriter:
    """Emits the protocol-2 pickle of a state dict exactly as torch.save lays it out."""

    def __init__(self) -> None:
        self.out = io.BytesIO()
        self.out.write(b"\x80\x02")  # PROTO 2

    def glob(self, module: str, name: str) -> None:
        self.out.write(b"c" + module.encode() + b"\n" + name.encode() + b"\n")  # GLOBAL

    def string(self, s: str) -> None:
        data = s.encode("utf-8")
        self.out.write(b"X" + struct.pack("<I", len(data)) + data)  # BINUNICODE

    def integer(self, n: int) -> None:
        if -2**31 <= n < 2**31:
            self.out.write(b"J" + struct.pack("<i", n))  # BININT
        else:
            data = n.to_bytes((n.bit_length() + 8) // 8, "little", signed=True)
            self.out.write(b"\x8a" + bytes([len(data)]) + data)  # LONG1

    def int_tuple(self, values: tuple[int, ...]) -> None:
        self.out.write(b"(")  # MARK
        for v in values:
            self.integer(int(v))
        self.out.write(b"t")  # TUPLE

    def ordered_dict(self) -> None:
        self.glob("collections", "OrderedDict")
        self.out.write(b")R")  # EMPTY_TUPLE, REDUCE

    def tensor(self, storage_name: str, key: str, array: np.ndarray) -> None:
        self.glob("torch._utils", "_rebuild_tensor_v2")
        self.out.write(b"(")
        self.out.write(b"(")
        self.string("storage")
        self.glob("torch", storage_name)
        self.string(key)
        self.string("cpu")
        self.integer(array.size)
        self.out.write(b"tQ")  # TUPLE, BINPERSID
        self.integer(0)  # storage offset
        self.int_tuple(array.shape)
        self.int_tuple(tuple(s // array.itemsize for s in array.strides))
        self.out.write(b"\x89")  # NEWFALSE: requires_grad
        self.ordered_dict()  # backward hooks
        self.out.write(b"tR")  # TUPLE, REDUCE

    def state_dict(self, arrays: list[tuple[str, str, np.ndarray]]) -> bytes:
        self.ordered_dict()
        self.out.write(b"(")  # MARK for SETITEMS
        for i, (name, storage_name, array) in enumerate(arrays):
            self.string(name)
            self.tensor(storage_name, str(i), array)
        self.out.write(b"u.")  # SETITEMS, STOP
        return self.out.getvalue()


def _aligned_member(zf: zipfile.ZipFile, name: str, data: bytes, align: int = 64) -> None:
    """Write an uncompressed member whose data starts at a multiple of ``align`` (as torch does, for mmap)."""
    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_STORED
    header_end = zf.fp.tell() + 30 + len(name.encode()) + 4  # local header + name + padding field header
    info.extra = b"FB" + struct.pack("<H", (-header_end) % align) + b"Z" * ((-header_end) % align)
    zf.writestr(info, data)


def export_torch_state_dict(state: Mapping[str, Any], path: str | os.PathLike) -> None:
    """Write a state dict (arrays or gradwise Tensors by name) as a file ``torch.load`` reads.

    The result is torch.save's zip format with the plain tensor-rebuilding pickle, so
    ``torch.load(path, weights_only=True)`` accepts it, as does :func:`load_torch_state_dict`.
    The write is atomic (temporary file, then ``os.replace``).
    """
    path = Path(path)
    arrays = []
    for name, value in state.items():
        array = np.asarray(value._data if hasattr(value, "_data") else value, order="C")
        storage_name = _STORAGE_NAMES.get(array.dtype.newbyteorder("="))
        if storage_name is None:
            raise TypeError(f"export_torch_state_dict: tensor {name!r} has dtype {array.dtype}, which has no torch "
                            "storage type")
        arrays.append((str(name), storage_name, array.astype(array.dtype.newbyteorder("<"), copy=False)))
    archive = path.stem or "archive"
    payload = _PickleWriter().state_dict(arrays)
    with atomic_write(path) as f, zipfile.ZipFile(f, "w", zipfile.ZIP_STORED) as zf:
        _aligned_member(zf, f"{archive}/data.pkl", payload)
        _aligned_member(zf, f"{archive}/byteorder", b"little")
        for i, (_, _, array) in enumerate(arrays):
            _aligned_member(zf, f"{archive}/data/{i}", array.reshape(-1).view(np.uint8).tobytes())
        _aligned_member(zf, f"{archive}/version", b"3\n")
