"""PyTorch state dicts (``torch.save``'s zip format) read and written safely, with or without torch.

``torch.save`` (PyTorch >= 1.6) writes a zip archive::

    <archive>/data.pkl        the saved object as a protocol-2 pickle; each tensor is a call
                              torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...)
                              (_rebuild_tensor_v3(..., dtype) for uint16/32/64, float8, complex32)
                              whose storage is a persistent id ("storage", torch.FloatStorage,
                              "<key>", "cpu", numel)
    <archive>/data/<key>      the raw bytes of each storage
    <archive>/byteorder       "little" or "big"

Reading (:func:`read_torch_zip`, :func:`load_torch_state_dict`): when PyTorch is importable,
``torch.load(path, weights_only=True, map_location="cpu")`` reads the file and its tensors are
converted to NumPy; otherwise (or with ``use_torch=False``) :class:`RestrictedUnpickler`, a
pickle-free reader, does.  It is a port of torch's weights-only unpickler: the same opcodes and
the same allow-list of globals, each resolved to a fresh immutable stand-in owned by one load;
BUILD, SETITEM(S) and APPEND(S) act only on containers that load created; any other global is
refused by name (:class:`UnsafePickleError`) before anything is called.  Nothing a file holds can
change how a later file is read.  Both readers give the same result on every genuine file.

:func:`export_torch_state_dict` writes the same format (the pickle opcodes are emitted
directly, so torch is not needed either); ``torch.load(path, weights_only=True)`` reads it.
"""
from __future__ import annotations

import _compat_pickle
import inspect
import io
import os
import pickle
import pickletools
import struct
import zipfile
from collections import Counter, OrderedDict
from collections.abc import Callable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

from gradwise.interop._files import ZIP_ERRORS, WeightsFormatError, atomic_write, sniff_format
from gradwise.interop.safetensors import _bf16_to_float32, load_safetensors

# Where a training checkpoint keeps its weights (Lightning, common training scripts).
CHECKPOINT_KEYS = ("state_dict", "model_state_dict", "model")
MAX_DEPTH = 100  # nesting of the saved object (deeper, or self-referring, is refused)
MAX_EXPANDED_BYTES = 1 << 30  # an expanded (stride-0) view may not grow past this when copied


class UnsafePickleError(WeightsFormatError, pickle.UnpicklingError):
    """The file asks for something a weights file never needs (a global off the allow-list, or
    BUILD/SETITEM on an object it did not create): refused, nothing executed."""


# ------------------------------------------------------------------------------------------ dtypes
# torch dtype name -> (bytes per element, how NumPy holds it): a NumPy type code, "bf16" (widened to
# float32), "c32" (complex32, widened to complex64), "ml" (float8: needs the ml_dtypes package), or
# "" (NumPy has no such type).
DTYPES: dict[str, tuple[int, str]] = {
    "float64": (8, "f8"), "float32": (4, "f4"), "float16": (2, "f2"), "bfloat16": (2, "bf16"),
    "complex128": (16, "c16"), "complex64": (8, "c8"), "complex32": (4, "c32"),
    "int64": (8, "i8"), "int32": (4, "i4"), "int16": (2, "i2"), "int8": (1, "i1"),
    "uint64": (8, "u8"), "uint32": (4, "u4"), "uint16": (2, "u2"), "uint8": (1, "u1"), "bool": (1, "b1"),
    **{name: (1, "ml") for name in ("float8_e4m3fn", "float8_e5m2", "float8_e4m3fnuz", "float8_e5m2fnuz",
                                    "float8_e8m0fnu")},
    **{name: (size, "") for name, size in (("qint8", 1), ("qint32", 4), ("quint8", 1), ("quint4x2", 1),
                                           ("quint2x4", 1), ("float4_e2m1fn_x2", 1), ("bits8", 1),
                                           ("bits16", 2), ("bits1x8", 1), ("bits2x4", 1), ("bits4x2", 1))},
    **{f"{sign}int{bits}": (1, "") for sign in ("", "u") for bits in range(1, 8)},
}
_GRAD_KINDS = ("f", "c")  # only floating and complex tensors can require gradients
# The legacy typed-storage classes and their dtypes.
STORAGES: dict[str, str] = {
    "DoubleStorage": "float64", "FloatStorage": "float32", "HalfStorage": "float16", "BFloat16Storage": "bfloat16",
    "ComplexDoubleStorage": "complex128", "ComplexFloatStorage": "complex64", "LongStorage": "int64",
    "IntStorage": "int32", "ShortStorage": "int16", "CharStorage": "int8", "ByteStorage": "uint8",
    "BoolStorage": "bool", "QInt8Storage": "qint8", "QInt32Storage": "qint32", "QUInt8Storage": "quint8",
    "QUInt4x2Storage": "quint4x2", "QUInt2x4Storage": "quint2x4",
}
_CUDA_STORAGES = ("BFloat16", "Bool", "Byte", "Char", "ComplexDouble", "ComplexFloat", "Double", "Float", "Half", "Int",
                  "Long", "Short")
_TENSOR_TYPES = ("BFloat16", "Bool", "Byte", "Char", "Double", "Float", "Half", "Int", "Long", "Short")
LAYOUTS = ("torch.strided", "torch.sparse_coo", "torch.sparse_csr", "torch.sparse_csc", "torch.sparse_bsr",
           "torch.sparse_bsc", "torch._mkldnn", "torch.jagged")
DEVICE_TYPES = ("cpu", "cuda", "ipu", "xpu", "mkldnn", "opengl", "opencl", "ideep", "hip", "ve", "fpga", "maia", "xla",
                "lazy", "vulkan", "mps", "meta", "hpu", "mtia", "privateuseone")
_TEXT_CODECS = ("latin1", "latin-1", "latin_1", "iso-8859-1", "iso8859-1", "utf-8", "utf8", "utf_8", "ascii")
_UNSUPPORTED_REBUILDS = {
    "_rebuild_qtensor": "quantized", "_rebuild_sparse_tensor": "sparse", "_rebuild_nested_tensor": "nested",
    "_rebuild_meta_tensor_no_storage": "meta (data-less)", "_rebuild_wrapper_subclass": "tensor-subclass",
    "_rebuild_device_tensor_from_numpy": "device (from NumPy)",
    "_rebuild_device_tensor_from_cpu_tensor": "device (from a CPU tensor)",
}


def _allowed_globals() -> dict[str, tuple[str, str]]:
    """Every global ``torch.load(weights_only=True)`` accepts by default: path -> (kind, argument)."""
    table = {
        "collections.OrderedDict": ("ordered_dict", ""), "collections.Counter": ("counter", ""),
        "builtins.set": ("set", ""), "builtins.bytearray": ("bytearray", ""), "builtins.complex": ("complex", ""),
        "_codecs.encode": ("encode", ""), "torch.Size": ("size", ""), "torch.device": ("device", ""),
        "torch.serialization._get_layout": ("layout", ""), "torch.Tensor": ("tensor_class", "Tensor"),
        "torch.nn.parameter.Parameter": ("parameter", ""),
        "torch.storage.UntypedStorage": ("storage", "uint8"), "torch.storage.TypedStorage": ("class", ""),
        "torch._tensor._rebuild_from_type_v2": ("rebuild", "_rebuild_from_type_v2"),
    }
    table.update({f"torch.{name}": ("dtype", name) for name in DTYPES})
    table.update({f"torch.{name}": ("storage", dtype) for name, dtype in STORAGES.items()})
    table.update({f"torch.cuda.{name}Storage": ("storage", STORAGES[f"{name}Storage"]) for name in _CUDA_STORAGES})
    for module in ("torch", "torch.cuda", "torch.sparse", "torch.cuda.sparse"):
        for name in _TENSOR_TYPES:
            if not (module.endswith("sparse") and name == "Bool"):
                table[f"{module}.{name}Tensor"] = ("tensor_class", f"{module}.{name}Tensor")
    for scheme in ("per_tensor_affine", "per_tensor_symmetric", "per_channel_affine", "per_channel_symmetric",
                   "per_channel_affine_float_qparams"):
        table[f"torch.{scheme}"] = ("qscheme", scheme)
    for name in ("_rebuild_tensor", "_rebuild_tensor_v2", "_rebuild_tensor_v3", "_rebuild_parameter",
                 "_rebuild_parameter_with_state", *_UNSUPPORTED_REBUILDS):
        table[f"torch._utils.{name}"] = ("rebuild", name)
    return table


ALLOWED_GLOBALS: Mapping[str, tuple[str, str]] = MappingProxyType(_allowed_globals())  # (read-only)


# --------------------------------------------------------------------------- what the pickle builds
class _Global:
    """A fresh, immutable stand-in for one allowed global, made by (and valid in) one load only."""

    __slots__ = ("path", "kind", "arg", "owner")

    def __init__(self, path: str, kind: str, arg: str, owner: object) -> None:
        for field, value in (("path", path), ("kind", kind), ("arg", arg), ("owner", owner)):
            object.__setattr__(self, field, value)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{self.path} (a weights-file global) is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{self.path} (a weights-file global) is immutable")

    def __reduce__(self):
        raise TypeError(f"{self.path} stand-ins cannot be pickled")

    def __repr__(self) -> str:
        return self.path


class _StorageRef:
    """A persistent id ("storage", type, key, location, numel): ``data/<key>``, of ``nbytes`` bytes."""

    __slots__ = ("key", "dtype", "nbytes")

    def __init__(self, key: str, dtype: str, nbytes: int) -> None:
        self.key, self.dtype, self.nbytes = key, dtype, nbytes

    def __repr__(self) -> str:
        return f"a bare storage ({self.key!r})"


class _LazyTensor:
    """A tensor as the pickle describes it: a view (offset, size, stride) of a storage's bytes."""

    __slots__ = ("storage", "offset", "size", "stride", "dtype", "conj", "neg")

    def __init__(self, storage: _StorageRef, offset: int, size: tuple[int, ...], stride: tuple[int, ...],
                 dtype: str) -> None:
        self.storage, self.offset, self.size, self.stride, self.dtype = storage, offset, size, stride, dtype
        self.conj = self.neg = False


def _kind_of(dtype: str) -> str:
    return "f" if DTYPES[dtype][1] in ("bf16", "ml") or DTYPES[dtype][1].startswith("f") else \
        "c" if DTYPES[dtype][1].startswith("c") else "i"


def _int(value: Any, what: str) -> int:
    if not isinstance(value, int):
        raise WeightsFormatError(f"{what} must be an int, got {type(value).__name__}")
    return int(value)


def _ints(value: Any, what: str) -> tuple[int, ...]:
    if not isinstance(value, (tuple, list)):
        raise WeightsFormatError(f"{what} must be a tuple of ints, got {type(value).__name__}")
    out = tuple(_int(v, what) for v in value)
    if any(v < 0 for v in out):
        raise WeightsFormatError(f"{what} {out} has a negative entry")
    return out


def _bool(value: Any, what: str) -> bool:
    if not isinstance(value, bool):
        raise WeightsFormatError(f"{what} must be a bool, got {type(value).__name__}")
    return value


def _check_state(state: Any) -> None:
    """An object state as BUILD or _set_obj_state take it: a dict, None, or (dict, slots dict)."""
    parts = state if isinstance(state, tuple) and len(state) == 2 else (state,)
    if not all(part is None or type(part) in (dict, OrderedDict, Counter) for part in parts):
        raise WeightsFormatError(f"an object state must be a dict, got {type(state).__name__}")


# -------------------------------------------------------------------------------- the pickle machine
class RestrictedUnpickler:
    """Reads a weights-file pickle (``data.pkl``) without Python's pickle machinery.

    Supports exactly the opcodes of ``torch.load(weights_only=True)`` (protocol 2) and its
    allow-list of globals (:data:`ALLOWED_GLOBALS`); tensors come back as lazy views of their
    storages.  Raises :class:`UnsafePickleError` for any other global and for BUILD, SETITEM(S) or
    APPEND(S) on anything but a container this load created, and :class:`WeightsFormatError` for a
    malformed pickle.  Each instance reads one pickle and shares nothing with any other.
    """

    def __init__(self, data: bytes | io.BufferedIOBase) -> None:
        self._data = bytes(data) if isinstance(data, (bytes, bytearray, memoryview)) else data.read()
        self._pos = 0
        self._globals: dict[str, _Global] = {}
        self._mine: dict[int, object] = {}  # containers this load made (id -> object, kept alive)
        self.storages: dict[str, _StorageRef] = {}

    # ---- reading
    def _read(self, n: int) -> bytes:
        if n < 0 or self._pos + n > len(self._data):
            raise WeightsFormatError("the pickle is truncated")
        chunk = self._data[self._pos:self._pos + n]
        self._pos += n
        return chunk

    def _readline(self) -> bytes:
        end = self._data.find(b"\n", self._pos)
        if end < 0:
            raise WeightsFormatError("the pickle is truncated")
        line = self._data[self._pos:end]
        self._pos = end + 1
        return line

    def _own(self, obj: Any) -> Any:
        self._mine[id(obj)] = obj
        return obj

    def _is_mine(self, obj: Any) -> bool:
        return self._mine.get(id(obj)) is obj

    # ---- the opcode loop
    def load(self) -> Any:
        """The object the pickle describes (tensors as lazy views, globals as stand-ins)."""
        stack: list[Any] = []
        metastack: list[list[Any]] = []
        memo: dict[int, Any] = {}

        def pop() -> Any:
            if not stack:
                raise WeightsFormatError("malformed pickle: the stack is empty")
            return stack.pop()

        def top() -> Any:
            if not stack:
                raise WeightsFormatError("malformed pickle: the stack is empty")
            return stack[-1]

        def pop_mark() -> list[Any]:
            nonlocal stack
            if not metastack:
                raise WeightsFormatError("malformed pickle: no MARK")
            items, stack = stack, metastack.pop()
            return items

        while True:
            at = self._pos
            op = self._read(1)
            if op == b"c":  # GLOBAL
                stack.append(self._global(self._readline(), self._readline()))
            elif op == b"\x81":  # NEWOBJ
                args, cls = pop(), pop()
                stack.append(self._call(cls, args, new=True))
            elif op == b"R":  # REDUCE
                args = pop()
                stack[-1] = self._call(top(), args, new=False)
            elif op == b"b":  # BUILD
                state = pop()
                self._build(top(), state)
            elif op == b"a":  # APPEND
                item = pop()
                self._container(top(), list, "APPEND").append(item)
            elif op == b"e":  # APPENDS
                items = pop_mark()
                self._container(top(), list, "APPENDS").extend(items)
            elif op == b"s":  # SETITEM
                value, key = pop(), pop()
                self._setitems(top(), [key, value], "SETITEM")
            elif op == b"u":  # SETITEMS
                items = pop_mark()
                self._setitems(top(), items, "SETITEMS")
            elif op == b"(":  # MARK
                metastack.append(stack)
                stack = []
            elif op == b"t":  # TUPLE
                items = pop_mark()  # (before naming `stack`: pop_mark rebinds it)
                stack.append(tuple(items))
            elif op in (b"\x85", b"\x86", b"\x87"):  # TUPLE1, TUPLE2, TUPLE3
                n = op[0] - 0x84
                if len(stack) < n:
                    raise WeightsFormatError("malformed pickle: the stack is empty")
                stack[-n:] = [tuple(stack[-n:])]
            elif op == b"N":
                stack.append(None)
            elif op == b"\x89":
                stack.append(False)
            elif op == b"\x88":
                stack.append(True)
            elif op == b")":
                stack.append(())
            elif op == b"]":
                stack.append(self._own([]))
            elif op == b"}":
                stack.append(self._own({}))
            elif op == b"\x8f":  # EMPTY_SET
                stack.append(set())
            elif op == b"J":  # BININT
                stack.append(struct.unpack("<i", self._read(4))[0])
            elif op == b"K":  # BININT1
                stack.append(self._read(1)[0])
            elif op == b"M":  # BININT2
                stack.append(struct.unpack("<H", self._read(2))[0])
            elif op == b"G":  # BINFLOAT
                stack.append(struct.unpack(">d", self._read(8))[0])
            elif op == b"X":  # BINUNICODE
                (n,) = struct.unpack("<I", self._read(4))
                stack.append(self._decode(self._read(n), "surrogatepass"))
            elif op == b"U":  # SHORT_BINSTRING
                stack.append(self._decode(self._read(self._read(1)[0]), "strict"))
            elif op == b"Q":  # BINPERSID
                stack.append(self._persistent_load(pop()))
            elif op in (b"h", b"j"):  # BINGET, LONG_BINGET
                index = self._read(1)[0] if op == b"h" else struct.unpack("<I", self._read(4))[0]
                if index not in memo:
                    raise WeightsFormatError(f"malformed pickle: memo entry {index} is not set")
                stack.append(memo[index])
            elif op in (b"q", b"r"):  # BINPUT, LONG_BINPUT
                index = self._read(1)[0] if op == b"q" else struct.unpack("<I", self._read(4))[0]
                memo[index] = top()
            elif op == b"\x8a":  # LONG1
                stack.append(int.from_bytes(self._read(self._read(1)[0]), "little", signed=True))
            elif op == b"\x80":  # PROTO
                self._read(1)
            elif op == b".":  # STOP
                return pop()
            else:
                name = pickletools.code2op[op.decode("latin-1")].name if op.decode("latin-1") in \
                    pickletools.code2op else "unknown"
                raise WeightsFormatError(f"unsupported pickle opcode {name} (0x{op[0]:02x}) at byte {at}; "
                                         "torch.load(weights_only=True) does not accept it either")

    @staticmethod
    def _decode(raw: bytes, errors: str) -> str:
        try:
            return raw.decode("utf-8", errors)
        except UnicodeDecodeError as exc:
            raise WeightsFormatError(f"malformed pickle: a string is not UTF-8 ({exc})") from None

    def _global(self, module_line: bytes, name_line: bytes) -> _Global:
        module, name = self._decode(module_line, "strict"), self._decode(name_line, "strict")
        if (module, name) in _compat_pickle.NAME_MAPPING:  # Python 2 names, as pickle and torch map them
            module, name = _compat_pickle.NAME_MAPPING[(module, name)]
        elif module in _compat_pickle.IMPORT_MAPPING:
            module = _compat_pickle.IMPORT_MAPPING[module]
        path = f"{module}.{name}"
        if path not in ALLOWED_GLOBALS:
            raise UnsafePickleError(
                f"Unsupported global: GLOBAL {path} - refusing to load it: a weights file only needs tensors "
                "and plain containers, and loading anything else could run arbitrary code (torch.load(..., "
                "weights_only=True) refuses it too). If this is a full pickled model, re-save it in PyTorch with "
                "torch.save(model.state_dict(), path)")
        if path not in self._globals:
            self._globals[path] = _Global(path, *ALLOWED_GLOBALS[path], owner=self)
        return self._globals[path]

    def _container(self, obj: Any, kind: type, opcode: str) -> Any:
        if type(obj) is not kind or not self._is_mine(obj):
            raise UnsafePickleError(f"{opcode} on {self._describe(obj)} refused: a weights file may only fill "
                                    f"the {kind.__name__}s it creates")
        return obj

    def _setitems(self, target: Any, items: list[Any], opcode: str) -> None:
        if type(target) not in (dict, OrderedDict, Counter) or not self._is_mine(target):
            raise UnsafePickleError(f"{opcode} on {self._describe(target)} refused: a weights file may only fill "
                                    "the dicts it creates")
        if len(items) % 2:
            raise WeightsFormatError(f"malformed pickle: {opcode} with an odd number of items")
        for key, value in zip(items[::2], items[1::2]):
            try:
                target[key] = value
            except TypeError:
                raise WeightsFormatError(f"malformed pickle: a dict key of type {type(key).__name__} "
                                         "is not hashable") from None

    def _build(self, inst: Any, state: Any) -> None:
        """BUILD sets an object's state: allowed only on the OrderedDicts and Counters this load made
        (torch.save stores a state dict's ``_metadata`` that way); the state is checked, then dropped."""
        if type(inst) not in (OrderedDict, Counter) or not self._is_mine(inst):
            raise UnsafePickleError(
                f"BUILD on {self._describe(inst)} refused: a weights file may only set the state of the "
                "OrderedDicts it creates (this one tries to modify something else - a crafted file)")
        if type(inst) is OrderedDict and type(state) not in (dict, OrderedDict, Counter):
            raise WeightsFormatError(f"an OrderedDict's state must be a dict, got {type(state).__name__}")
        _check_state(state)

    @staticmethod
    def _describe(obj: Any) -> str:
        return f"the global {obj.path}" if isinstance(obj, _Global) else f"a {type(obj).__name__}"

    def _persistent_load(self, pid: Any) -> _StorageRef:
        if not (type(pid) is tuple and len(pid) == 5 and pid[0] in ("storage", b"storage")):
            raise WeightsFormatError(f"persistent id {repr(pid)[:200]} is not a storage reference ('storage', "
                                     "type, key, location, numel)")
        _, storage_type, key, location, numel = pid
        if not (isinstance(storage_type, _Global) and storage_type.owner is self and storage_type.kind == "storage"):
            raise WeightsFormatError(f"persistent id names {self._describe(storage_type)}, not a storage type")
        key = key.decode("ascii", "replace") if isinstance(key, bytes) else key
        if not isinstance(key, str):  # (the location is ignored: everything is read to the CPU)
            raise WeightsFormatError(f"persistent id {repr(pid)[:200]}: its key must be a string")
        numel = _int(numel, "a storage's numel")
        if numel < 0:
            raise WeightsFormatError(f"storage {key!r} has a negative size {numel}")
        if key not in self.storages:  # as torch: the first reference to a key fixes its type
            self.storages[key] = _StorageRef(key, storage_type.arg, numel * DTYPES[storage_type.arg][0])
        return self.storages[key]

    # ---- calling the allowed globals
    def _call(self, func: Any, args: Any, new: bool) -> Any:
        what = "NEWOBJ" if new else "REDUCE"
        if not (isinstance(func, _Global) and func.owner is self):
            raise UnsafePickleError(f"{what} on {self._describe(func)} refused: only the allowed globals can be "
                                    "called")
        if type(args) not in (tuple, list, dict):  # (torch calls func(*args), so a list or dict works too)
            raise WeightsFormatError(f"malformed pickle: {what} arguments must be a tuple, got "
                                     f"{type(args).__name__}")
        args = tuple(args)
        if new and func.kind in ("ordered_dict", "counter", "set", "bytearray"):
            args = ()  # cls.__new__(cls, *args) ignores the arguments of these
        elif new and func.kind not in ("complex", "size", "device", "parameter"):
            raise WeightsFormatError(f"NEWOBJ of {func.path} is not supported")
        handler = self._handler(func)
        if handler is None:
            raise WeightsFormatError(f"{func.path} cannot be called in a weights file gradwise reads")
        try:
            inspect.signature(handler).bind(*args)
        except TypeError:
            raise WeightsFormatError(f"{func.path} called with {len(args)} arguments") from None
        return handler(*args)

    def _handler(self, func: _Global) -> Callable[..., Any] | None:
        kind = func.kind
        if kind == "rebuild":
            if func.arg in _UNSUPPORTED_REBUILDS:
                def unsupported(*args: Any) -> Any:
                    raise WeightsFormatError(f"{_UNSUPPORTED_REBUILDS[func.arg]} tensors (torch._utils.{func.arg}) "
                                             "are not supported: save dense CPU tensors")
                return unsupported
            return getattr(self, func.arg)
        return {"ordered_dict": self._ordered_dict, "counter": self._counter, "set": self._set,
                "bytearray": self._bytearray, "complex": self._complex, "encode": self._encode, "size": self._size,
                "device": self._device, "layout": self._layout, "parameter": self._parameter}.get(kind)

    def _ordered_dict(self, items: Any = ()) -> OrderedDict:
        return self._own(OrderedDict(self._pairs(items)))

    def _counter(self, items: Any = ()) -> Counter:
        if isinstance(items, (list, tuple)):
            counter = Counter()
            for item in items:
                self._hashable(item)
                counter[item] += 1
            return self._own(counter)
        return self._own(Counter(dict(self._pairs(items))))

    def _pairs(self, items: Any) -> list[tuple[Any, Any]]:
        if isinstance(items, dict):
            return list(items.items())
        if isinstance(items, (list, tuple)) and all(isinstance(p, (list, tuple)) and len(p) == 2 for p in items):
            return [(self._hashable(k), v) for k, v in items]
        raise WeightsFormatError(f"a dict needs a mapping or (key, value) pairs, got {type(items).__name__}")

    @staticmethod
    def _hashable(key: Any) -> Any:
        try:
            hash(key)
        except TypeError:
            raise WeightsFormatError(f"malformed pickle: a {type(key).__name__} is not hashable") from None
        return key

    def _set(self, items: Any = ()) -> set:
        if not isinstance(items, (list, tuple, set)):
            raise WeightsFormatError(f"set() of a {type(items).__name__}")
        return {self._hashable(item) for item in items}

    @staticmethod
    def _bytearray(data: Any = b"") -> bytearray:
        if not isinstance(data, (bytes, bytearray)):
            raise WeightsFormatError(f"bytearray() of a {type(data).__name__} (only bytes) is not supported")
        return bytearray(data)

    @staticmethod
    def _complex(real: Any = 0, imag: Any = 0) -> complex:
        if not (isinstance(real, (int, float, complex)) and isinstance(imag, (int, float, complex))):
            raise WeightsFormatError("complex() of non-numbers")
        try:
            return complex(real, imag)
        except OverflowError as exc:
            raise WeightsFormatError(f"bad complex number ({exc})") from None

    @staticmethod
    def _encode(text: Any, encoding: Any = "utf-8", errors: Any = "strict") -> bytes:
        if not (isinstance(text, str) and encoding in _TEXT_CODECS and errors in ("strict", "surrogatepass")):
            raise WeightsFormatError(f"_codecs.encode is only supported for text with one of {_TEXT_CODECS}")
        try:
            return text.encode(encoding, errors)
        except UnicodeEncodeError as exc:
            raise WeightsFormatError(f"bad bytes literal ({exc})") from None

    @staticmethod
    def _size(dims: Any = ()) -> tuple[int, ...]:
        return _ints(dims, "torch.Size")

    @staticmethod
    def _device(spec: Any, index: Any = None) -> str:
        text = spec if isinstance(spec, str) else None
        base, _, number = (text or "").partition(":")
        if base not in DEVICE_TYPES or (number and not number.isdigit()) or (number and index is not None) or \
                not (index is None or (type(index) is int and index >= 0)):
            raise WeightsFormatError(f"torch.device({spec!r}, {index!r}) is not a device")
        return text if index is None else f"{text}:{index}"

    @staticmethod
    def _layout(name: Any) -> str:
        if name not in LAYOUTS:
            raise WeightsFormatError(f"{name!r} is not a torch layout")
        return name

    def _tensor_arg(self, data: Any, what: str) -> _LazyTensor:
        if not isinstance(data, _LazyTensor):
            raise WeightsFormatError(f"{what} expects a tensor, got {self._describe(data)}")
        return data

    def _storage_arg(self, storage: Any, what: str) -> _StorageRef:
        if not isinstance(storage, _StorageRef):
            raise WeightsFormatError(f"{what} expects a storage, got {self._describe(storage)}")
        return storage

    @staticmethod
    def _requires_grad(tensor: _LazyTensor, requires_grad: Any) -> None:
        if _bool(requires_grad, "requires_grad") and _kind_of(tensor.dtype) not in _GRAD_KINDS:
            raise WeightsFormatError(f"a torch.{tensor.dtype} tensor cannot require gradients (only floating "
                                     "point and complex tensors can)")

    @staticmethod
    def _metadata(tensor: _LazyTensor, metadata: Any) -> None:
        if not metadata:
            return
        if type(metadata) not in (dict, OrderedDict) or not all(
                isinstance(k, str) and isinstance(v, (bool, int)) for k, v in metadata.items()):
            raise WeightsFormatError("tensor metadata must map names to bools")
        if metadata.get("conj"):
            if _kind_of(tensor.dtype) != "c":
                raise WeightsFormatError(f"a torch.{tensor.dtype} tensor cannot be conjugated")
            tensor.conj = True
        if metadata.get("neg"):
            if tensor.dtype == "bool":
                raise WeightsFormatError("a torch.bool tensor cannot be negated")
            tensor.neg = True

    def _rebuild_tensor(self, storage: Any, storage_offset: Any, size: Any, stride: Any) -> _LazyTensor:
        ref = self._storage_arg(storage, "_rebuild_tensor")
        return self._view(ref, storage_offset, size, stride, ref.dtype)

    @staticmethod
    def _view(ref: _StorageRef, offset: Any, size: Any, stride: Any, dtype: str) -> _LazyTensor:
        offset, size = _int(offset, "storage offset"), _ints(size, "size")
        if stride is None:  # (torch.Tensor.set_ takes that as contiguous)
            stride = tuple(int(np.prod(size[i + 1:], dtype=object)) for i in range(len(size)))
        stride = _ints(stride, "stride")
        if offset < 0 or len(size) != len(stride):
            raise WeightsFormatError(f"inconsistent view: size {size}, stride {stride}, offset {offset}")
        if all(size) and (offset + 1 + sum((n - 1) * s for n, s in zip(size, stride))) * DTYPES[dtype][0] > ref.nbytes:
            raise WeightsFormatError(f"a view of size {size}, stride {stride} at offset {offset} reaches past its "
                                     f"storage {ref.key!r} of {ref.nbytes} bytes")
        return _LazyTensor(ref, offset, size, stride, dtype)

    def _rebuild_tensor_v2(self, storage: Any, storage_offset: Any, size: Any, stride: Any, requires_grad: Any,
                           backward_hooks: Any, metadata: Any = None) -> _LazyTensor:
        tensor = self._rebuild_tensor(storage, storage_offset, size, stride)
        self._requires_grad(tensor, requires_grad)
        self._metadata(tensor, metadata)
        return tensor

    def _rebuild_tensor_v3(self, storage: Any, storage_offset: Any, size: Any, stride: Any, requires_grad: Any,
                           backward_hooks: Any, dtype: Any, metadata: Any = None) -> _LazyTensor:
        ref = self._storage_arg(storage, "_rebuild_tensor_v3")
        if not (isinstance(dtype, _Global) and dtype.kind == "dtype"):
            raise WeightsFormatError(f"_rebuild_tensor_v3 expects a dtype, got {self._describe(dtype)}")
        tensor = self._view(ref, storage_offset, size, stride, dtype.arg)
        self._requires_grad(tensor, requires_grad)
        self._metadata(tensor, metadata)
        return tensor

    def _parameter(self, data: Any = None, requires_grad: Any = True) -> _LazyTensor:
        tensor = self._tensor_arg(data, "torch.nn.Parameter")
        self._requires_grad(tensor, requires_grad)
        return tensor  # a Parameter is its tensor, as far as the weights are concerned

    def _rebuild_parameter(self, data: Any, requires_grad: Any, backward_hooks: Any) -> _LazyTensor:
        return self._parameter(data, requires_grad)

    def _rebuild_parameter_with_state(self, data: Any, requires_grad: Any, backward_hooks: Any,
                                      state: Any) -> _LazyTensor:
        _check_state(state)  # Python attributes of the Parameter: checked, not kept
        return self._parameter(data, requires_grad)

    def _rebuild_from_type_v2(self, func: Any, new_type: Any, args: Any, state: Any) -> _LazyTensor:
        if not (isinstance(new_type, _Global) and new_type.path in ("torch.Tensor", "torch.nn.parameter.Parameter")):
            raise WeightsFormatError(f"_rebuild_from_type_v2 of {self._describe(new_type)}: only plain tensors and "
                                     "Parameters are supported")
        if not (isinstance(func, _Global) and func.kind == "rebuild"):
            raise WeightsFormatError(f"_rebuild_from_type_v2 calls {self._describe(func)}, not a tensor rebuild")
        _check_state(state)
        return self._tensor_arg(self._call(func, args, new=False), "_rebuild_from_type_v2")


# ---------------------------------------------------------------------------------- to NumPy arrays
def _numpy_dtype(dtype: str, name: str, path: Path) -> np.dtype:
    """The NumPy type that holds a torch dtype's bytes (bfloat16/complex32 as raw bits, widened later)."""
    code = DTYPES[dtype][1]
    if code == "bf16":
        return np.dtype("<u2")
    if code == "c32":
        return np.dtype("<u4")
    if code == "ml":
        try:
            import ml_dtypes
        except ImportError:
            raise WeightsFormatError(f"{path}: tensor {name!r} has dtype torch.{dtype}, which NumPy does not have: "
                                     "install the ml_dtypes package (pip install ml_dtypes) to read it") from None
        return np.dtype(getattr(ml_dtypes, dtype))
    if not code:
        raise WeightsFormatError(f"{path}: tensor {name!r} has dtype torch.{dtype}, which gradwise cannot read "
                                 "(NumPy has no such type)")
    return np.dtype(code).newbyteorder("<")


def _widen(array: np.ndarray, dtype: str) -> np.ndarray:
    """Native-endian NumPy values of raw torch elements (bfloat16 -> float32, complex32 -> complex64)."""
    code = DTYPES[dtype][1]
    if code == "bf16":
        return _bf16_to_float32(array)
    if code == "c32":
        halves = array.reshape(-1).view(array.dtype.byteorder + "f2").reshape(*array.shape, 2)
        return (halves[..., 0].astype(np.float32) + 1j * halves[..., 1].astype(np.float32)).astype(np.complex64)
    return array.astype(array.dtype.newbyteorder("="), copy=False)


def _check_expanded(name: str, numel: int, itemsize: int, storage_bytes: int, path: Path) -> None:
    if numel * itemsize > max(storage_bytes, MAX_EXPANDED_BYTES):
        raise WeightsFormatError(f"{path}: tensor {name!r}: an expanded view of {numel} elements over a storage of "
                                 f"{storage_bytes} bytes - too large to copy")


def _materialise(name: str, lazy: _LazyTensor, members: dict[str, bytes], prefix: str, big_endian: bool,
                 path: Path) -> np.ndarray:
    """The NumPy array of one tensor, checking its storage and view against each other."""
    ref = lazy.storage
    dtype = _numpy_dtype(lazy.dtype, name, path)
    if big_endian and dtype.itemsize > 1:
        dtype = dtype.newbyteorder(">")
    member = f"{prefix}data/{ref.key}"
    if member not in members:
        raise WeightsFormatError(f"{path}: tensor {name!r}: its storage {member} is missing from the archive")
    raw = members[member]
    if len(raw) != ref.nbytes:
        raise WeightsFormatError(f"{path}: tensor {name!r}: storage {member} holds {len(raw)} bytes, expected "
                                 f"{ref.nbytes} (truncated or corrupt)")
    size, stride, offset = lazy.size, lazy.stride, lazy.offset
    numel = int(np.prod(size, dtype=object)) if size else 1
    if numel:
        end = (offset + 1 + sum((n - 1) * s for n, s in zip(size, stride))) * dtype.itemsize
        if end > len(raw):
            raise WeightsFormatError(f"{path}: tensor {name!r}: a view of size {size}, stride {stride} at offset "
                                     f"{offset} reaches past its storage of {len(raw)} bytes")
        _check_expanded(name, numel, dtype.itemsize, len(raw), path)
    try:
        if numel:
            plain = np.dtype("u1") if DTYPES[lazy.dtype][1] == "ml" else dtype  # (as_strided needs a NumPy type)
            storage = np.frombuffer(raw, dtype=plain, count=len(raw) // dtype.itemsize)
            array = np.array(np.lib.stride_tricks.as_strided(storage[offset:], shape=size,
                                                             strides=[s * dtype.itemsize for s in stride])).view(dtype)
        else:
            array = np.empty(size, dtype)
    except (ValueError, OverflowError, MemoryError) as exc:
        raise WeightsFormatError(f"{path}: tensor {name!r}: size {size} cannot be held ({exc})") from None
    array = _widen(array, lazy.dtype)
    if lazy.conj:
        array = np.conj(array)
    if lazy.neg:
        array = np.negative(array)
    return array


def _convert(obj: Any, name: str, leaf: Callable[[Any, str], Any], depth: int = 0) -> Any:
    """The saved object with containers rebuilt and every other value passed through ``leaf``."""
    if depth > MAX_DEPTH:
        raise WeightsFormatError(f"the saved object is nested more than {MAX_DEPTH} levels deep (or refers to itself)")
    kind = type(obj)
    if kind in (dict, OrderedDict, Counter):
        out = kind()
        for key, value in obj.items():
            key = _convert(key, name, leaf, depth + 1)
            value = _convert(value, f"{name}.{key}" if name else str(key), leaf, depth + 1)
            try:
                out[key] = value
            except TypeError:
                raise WeightsFormatError(f"{name or 'the saved dict'}: a key of type {type(key).__name__} is not "
                                         "hashable") from None
        return out
    if kind in (list, tuple, set):
        items = [_convert(v, f"{name}[{i}]", leaf, depth + 1) for i, v in enumerate(obj)]
        try:
            return kind(items)
        except TypeError:
            raise WeightsFormatError(f"{name or 'the saved object'}: a set of unhashable values (tensors)") from None
    if obj is None or kind in (bool, int, float, complex, str, bytes, bytearray):
        return obj
    return leaf(obj, name)


def _archive_prefix(names: list[str], path: Path) -> str:
    pkl = [n for n in names if n == "data.pkl" or n.endswith("/data.pkl")]
    if len(pkl) != 1:
        raise WeightsFormatError(f"{path}: a PyTorch zip archive has exactly one data.pkl, found {len(pkl)}")
    return pkl[0][: -len("data.pkl")]


def _read_members(zf: zipfile.ZipFile, path: Path, keep: bool) -> dict[str, bytes]:
    """Every member read (so its CRC is checked, which torch skips); their bytes if ``keep``."""
    members = {}
    for info in zf.infolist():
        try:
            with zf.open(info) as member:
                if keep:
                    members[info.filename] = member.read()
                else:
                    while member.read(1 << 20):
                        pass
        except ZIP_ERRORS as exc:
            raise WeightsFormatError(f"{path}: member {info.filename} is corrupt ({type(exc).__name__}: {exc})") \
                from None
    return members


def _open_zip(path: Path) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(path)
    except ZIP_ERRORS as exc:
        raise WeightsFormatError(f"{path}: not a readable PyTorch zip archive - truncated or corrupt ({exc})") \
            from None


def _read_pickle_free(path: Path) -> Any:
    """The pickle-free reader: :class:`RestrictedUnpickler` over the archive's members."""
    with _open_zip(path) as zf:
        members = _read_members(zf, path, keep=True)
    prefix = _archive_prefix(list(members), path)
    order = members.get(prefix + "byteorder", b"little")
    if order not in (b"little", b"big"):
        raise WeightsFormatError(f"{path}: unknown byte order {order[:20]!r} (expected little or big)")
    unpickler = RestrictedUnpickler(members[prefix + "data.pkl"])
    try:
        obj = unpickler.load()
    except WeightsFormatError as exc:
        raise type(exc)(f"{path}: {prefix}data.pkl: {exc}") from None
    except (RecursionError, MemoryError, OverflowError) as exc:
        raise WeightsFormatError(f"{path}: {prefix}data.pkl is not a valid weights pickle "
                                 f"({type(exc).__name__}: {exc})") from None

    def leaf(value: Any, name: str) -> Any:
        if isinstance(value, _LazyTensor):
            return _materialise(name, value, members, prefix, order == b"big", path)
        if isinstance(value, _Global) and value.kind in ("dtype", "qscheme"):
            return value.path
        raise WeightsFormatError(f"{path}: {name or 'the saved object'} is {value!r}, not data")
    result = _convert_naming(path, obj, leaf)
    for ref in unpickler.storages.values():  # every storage the pickle names, used or not, as torch.load checks
        member = f"{prefix}data/{ref.key}"
        if member not in members or len(members[member]) != ref.nbytes:
            found = f"holds {len(members[member])} bytes" if member in members else "is missing from the archive"
            raise WeightsFormatError(f"{path}: storage {member} {found}, expected {ref.nbytes} bytes (truncated or "
                                     "corrupt)")
    return result


def _convert_naming(path: Path, obj: Any, leaf: Callable[[Any, str], Any]) -> Any:
    """:func:`_convert`, with the file named in any error."""
    try:
        return _convert(obj, "", leaf)
    except WeightsFormatError as exc:
        raise type(exc)(exc if str(exc).startswith(str(path)) else f"{path}: {exc}") from None


def _torch_leaf(torch: Any, value: Any, name: str, path: Path) -> Any:
    """A value from ``torch.load`` as the pickle-free reader gives it (tensors as NumPy arrays)."""
    if isinstance(value, torch.Size):
        return tuple(int(v) for v in value)
    if isinstance(value, (torch.dtype, torch.device, torch.layout, torch.qscheme)):
        return str(value)
    if type(value) not in (torch.Tensor, torch.nn.Parameter):
        raise WeightsFormatError(f"{path}: {name or 'the saved object'} is {type(value).__name__}, not data")
    tensor = value.detach()
    if tensor.layout != torch.strided or tensor.is_quantized or tensor.is_nested or tensor.device.type != "cpu":
        raise WeightsFormatError(f"{path}: tensor {name!r} is a {tensor.layout}/{tensor.device.type} "
                                 f"{'quantized ' if tensor.is_quantized else ''}tensor: save dense CPU tensors")
    dtype = str(tensor.dtype).removeprefix("torch.")
    if dtype not in DTYPES:
        raise WeightsFormatError(f"{path}: tensor {name!r} has dtype {tensor.dtype}, which gradwise does not know")
    numpy_dtype = _numpy_dtype(dtype, name, path)
    _check_expanded(name, tensor.numel(), numpy_dtype.itemsize, tensor.untyped_storage().nbytes(), path)
    try:
        tensor = tensor.resolve_conj().resolve_neg()
        if DTYPES[dtype][1] == "bf16":
            return tensor.float().numpy().copy()
        if DTYPES[dtype][1] == "c32":
            return tensor.to(torch.complex64).numpy().copy()
        if DTYPES[dtype][1] == "ml":
            return tensor.contiguous().view(torch.uint8).numpy().view(numpy_dtype).copy()
        return tensor.numpy().copy()
    except (RuntimeError, NotImplementedError, TypeError, ValueError) as exc:  # (a neg bit on a bool tensor...)
        raise WeightsFormatError(f"{path}: tensor {name!r} cannot be converted ({type(exc).__name__}: {exc})") \
            from None


def _read_with_torch(torch: Any, path: Path) -> Any:
    """``torch.load(weights_only=True)``, after a CRC check of every member (which torch skips)."""
    with _open_zip(path) as zf:
        _read_members(zf, path, keep=False)
    try:
        obj = torch.load(path, weights_only=True, map_location="cpu")
    except Exception as exc:  # torch refused the file: the pickle-free reader names the problem
        try:
            _read_pickle_free(path)
        except WeightsFormatError as ours:
            raise ours from exc
        reason = " ".join(str(exc).split())[:400]
        raise WeightsFormatError(f"{path}: torch.load(weights_only=True) cannot read it ({type(exc).__name__}: "
                                 f"{reason})") from exc
    return _convert_naming(path, obj, lambda value, name: _torch_leaf(torch, value, name, path))


def _import_torch() -> Any:
    try:
        import torch
    except Exception:  # not installed, blocked (sys.modules["torch"] = None) or broken
        return None
    return torch


def read_torch_zip(path: str | os.PathLike, use_torch: bool | None = None) -> Any:
    """The object in a ``torch.save`` zip file with its tensors as NumPy arrays.

    ``use_torch=None`` reads with ``torch.load(weights_only=True)`` when PyTorch is importable and
    with the pickle-free :class:`RestrictedUnpickler` otherwise; ``True``/``False`` force one.
    Dicts, lists, tuples, sets and scalars keep their types; ``torch.Size`` becomes a tuple, dtypes
    and devices strings (``"torch.float32"``, ``"cpu"``); bfloat16 is widened to float32 and
    complex32 to complex64; float8 needs the ml_dtypes package.  Every problem is a
    :class:`WeightsFormatError` (:class:`UnsafePickleError` for a refused global or operation)
    naming the file.
    """
    path = Path(path)
    torch = _import_torch() if use_torch is not False else None
    if use_torch and torch is None:
        raise ImportError("read_torch_zip(use_torch=True) needs PyTorch, which cannot be imported")
    return _read_with_torch(torch, path) if torch is not None else _read_pickle_free(path)


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


def load_torch_state_dict(path: str | os.PathLike, use_torch: bool | None = None) -> "OrderedDict[str, np.ndarray]":
    """A PyTorch ``.pt``/``.pth`` state dict (or a safetensors file) as NumPy arrays by name.

    Read by ``torch.load(weights_only=True)`` when PyTorch is importable, else by the pickle-free
    reader (``use_torch`` forces one, see :func:`read_torch_zip`); neither runs code from the
    file.  A training checkpoint whose weights sit under ``"state_dict"``, ``"model_state_dict"``
    or ``"model"`` gives those weights.  Keys keep torch's names, so the result loads into a
    gradwise model of the same layout with :func:`gradwise.models.weights.load_into` or
    ``model.load_state_dict``.  Errors are :class:`WeightsFormatError`\\ s naming the file.
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
    return _select_state_dict(read_torch_zip(path, use_torch), path)


# ----------------------------------------------------------------------------------------------- writing
# NumPy dtype -> (legacy storage class, or None for a _rebuild_tensor_v3 tensor; torch dtype name).
_EXPORT: dict[np.dtype, tuple[str | None, str]] = {
    **{np.dtype(DTYPES[dtype][1]): (storage, dtype) for storage, dtype in STORAGES.items()
       if DTYPES[dtype][1] not in ("", "bf16", "c32", "ml")},
    **{np.dtype(code): (None, dtype) for dtype, code in (("uint16", "u2"), ("uint32", "u4"), ("uint64", "u8"))},
}


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

    def tensor(self, storage_name: str | None, dtype: str, key: str, array: np.ndarray) -> None:
        self.glob("torch._utils", "_rebuild_tensor_v2" if storage_name else "_rebuild_tensor_v3")
        self.out.write(b"(")
        self.out.write(b"(")
        self.string("storage")
        self.glob(*(("torch", storage_name) if storage_name else ("torch.storage", "UntypedStorage")))
        self.string(key)
        self.string("cpu")
        self.integer(array.size if storage_name else array.nbytes)
        self.out.write(b"tQ")  # TUPLE, BINPERSID
        self.integer(0)  # storage offset
        self.int_tuple(array.shape)
        self.int_tuple(tuple(s // array.itemsize for s in array.strides))
        self.out.write(b"\x89")  # NEWFALSE: requires_grad
        self.ordered_dict()  # backward hooks
        if not storage_name:
            self.glob("torch", dtype)
        self.out.write(b"tR")  # TUPLE, REDUCE

    def state_dict(self, arrays: list[tuple[str, str | None, str, np.ndarray]]) -> bytes:
        self.ordered_dict()
        self.out.write(b"(")  # MARK for SETITEMS
        for i, (name, storage_name, dtype, array) in enumerate(arrays):
            self.string(name)
            self.tensor(storage_name, dtype, str(i), array)
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
    from gradwise.engines.native import to_numpy   # a gradwise Tensor's array, or np.asarray

    path = Path(path)
    arrays = []
    for name, value in state.items():
        array = np.asarray(to_numpy(value), order="C")
        spec = _EXPORT.get(array.dtype.newbyteorder("="))
        if spec is None:
            raise TypeError(f"export_torch_state_dict: tensor {name!r} has dtype {array.dtype}, which has no torch "
                            "dtype")
        arrays.append((str(name), *spec, array.astype(array.dtype.newbyteorder("<"), copy=False)))
    archive = path.stem or "archive"
    payload = _PickleWriter().state_dict(arrays)
    with atomic_write(path) as f, zipfile.ZipFile(f, "w", zipfile.ZIP_STORED) as zf:
        _aligned_member(zf, f"{archive}/data.pkl", payload)
        _aligned_member(zf, f"{archive}/byteorder", b"little")
        for i, (*_, array) in enumerate(arrays):
            _aligned_member(zf, f"{archive}/data/{i}", array.reshape(-1).view(np.uint8).tobytes())
        _aligned_member(zf, f"{archive}/version", b"3\n")
