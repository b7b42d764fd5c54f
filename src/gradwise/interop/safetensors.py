"""The safetensors format, read and written with NumPy alone (no pickle, no code execution).

Layout (https://github.com/huggingface/safetensors): 8 bytes little-endian unsigned header
length N, then N bytes of UTF-8 JSON ``{name: {"dtype": "F32", "shape": [...],
"data_offsets": [begin, end]}, "__metadata__": {str: str}}`` (padded with spaces to a
multiple of 8), then the raw little-endian tensor bytes; offsets are relative to the end of
the header and the tensors tile that byte buffer exactly.  Files written here are read by
the ``safetensors`` package and vice versa.  Every inconsistency (truncated data, offsets
that overlap or leave holes, unknown dtypes) is reported with the tensor's name.

When the ``safetensors`` package is installed (``pip install "gradwise[weights]"``) it does the
heavy lifting: its reader memory-maps the file and copies out one tensor at a time, its writer
lays the tensors out as every other safetensors file is (aligned, sorted by dtype).  gradwise
still checks the header itself first, so both paths accept the same files, reject the same
files with the same messages and return the same arrays; ``backend="numpy"`` forces the
pure-NumPy path, which is also what runs without the package (and for BF16 tensors, which
NumPy cannot hold: they are widened to float32 exactly).
"""
from __future__ import annotations

import json
import math
import os
import struct
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from gradwise.interop._files import WeightsFormatError, atomic_write

# safetensors dtype tag -> NumPy dtype (little-endian). BF16 has no NumPy dtype: see _bf16_to_float32.
DTYPES: dict[str, np.dtype] = {
    "F64": np.dtype("<f8"), "F32": np.dtype("<f4"), "F16": np.dtype("<f2"),
    "I64": np.dtype("<i8"), "I32": np.dtype("<i4"), "I16": np.dtype("<i2"), "I8": np.dtype("i1"),
    "U64": np.dtype("<u8"), "U32": np.dtype("<u4"), "U16": np.dtype("<u2"), "U8": np.dtype("u1"),
    "BOOL": np.dtype("?"),
}
_TAGS = {dt.newbyteorder("="): tag for tag, dt in DTYPES.items()}
_ITEMSIZE = {**{tag: dt.itemsize for tag, dt in DTYPES.items()}, "BF16": 2}
MAX_HEADER = 100_000_000  # as the reference implementation: larger is a corrupt length
BACKENDS = ("auto", "safetensors", "numpy")


def _package(backend: str):
    """The ``safetensors`` package's ``(safe_open, numpy.save, SafetensorError)`` for ``backend``, or None."""
    if backend not in BACKENDS:
        raise ValueError(f"safetensors: backend must be one of {', '.join(map(repr, BACKENDS))}, got {backend!r}")
    if backend == "numpy":
        return None
    try:
        from safetensors import SafetensorError, safe_open
        from safetensors.numpy import save
    except ImportError:
        if backend == "safetensors":
            raise ImportError("backend='safetensors' needs the safetensors package: pip install 'gradwise[weights]' "
                              "(or pip install safetensors); backend='auto' falls back to NumPy") from None
        return None
    return safe_open, save, SafetensorError


def save_safetensors(tensors: Mapping[str, np.ndarray], path: str | os.PathLike,
                     metadata: Mapping[str, str] | None = None, *, backend: str = "auto") -> None:
    """Write NumPy arrays by name to a safetensors file (atomically).

    ``backend``: ``"auto"`` and ``"numpy"`` write with NumPy, keeping the tensors in the order given
    (a state dict reads back in its own order); ``"safetensors"`` uses the package, which lays the
    tensors out in its own order.  Both write files that both read back to the same arrays; the
    package's gain, memory-mapping, is on the reading side.
    """
    package = _package(backend) if backend == "safetensors" else None
    header: dict[str, object] = {}
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    arrays, offset = [], 0
    for name, value in tensors.items():
        array = np.asarray(value)
        tag = _TAGS.get(array.dtype.newbyteorder("="))
        if tag is None:
            raise TypeError(f"safetensors: tensor {name!r} has dtype {array.dtype}, which the format cannot hold "
                            f"(supported: {', '.join(str(d) for d in _TAGS)})")
        array = np.asarray(array, dtype=DTYPES[tag], order="C")  # (ascontiguousarray would make 0-d 1-d)
        header[str(name)] = {"dtype": tag, "shape": list(array.shape),
                             "data_offsets": [offset, offset + array.nbytes]}
        arrays.append(array)
        offset += array.nbytes
    if package is not None:
        data = package[1]({str(name): a for name, a in zip(tensors, arrays)},
                          metadata=header.get("__metadata__"))   # type: ignore[arg-type]
        with atomic_write(path) as f:
            f.write(data)
        return
    blob = json.dumps(header, separators=(",", ":")).encode("utf-8")
    blob += b" " * (-len(blob) % 8)
    with atomic_write(path) as f:
        f.write(struct.pack("<Q", len(blob)))
        f.write(blob)
        for array in arrays:
            f.write(array.reshape(-1).view(np.uint8).data)


def read_safetensors_header(path: str | os.PathLike) -> tuple[dict, dict[str, str], int]:
    """``(entries by name, metadata, start of the data)`` after checking the header against the file."""
    path = Path(path)
    size = path.stat().st_size
    with open(path, "rb") as f:
        raw = f.read(8)
        if len(raw) < 8:
            raise WeightsFormatError(f"{path}: {size} bytes is too short for a safetensors file (8-byte header "
                                     "length missing)")
        (length,) = struct.unpack("<Q", raw)
        if length > min(MAX_HEADER, size - 8):
            raise WeightsFormatError(f"{path}: safetensors header length {length} is larger than the file "
                                     f"({size} bytes): the file is truncated or not safetensors")
        try:
            header = json.loads(f.read(length).decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
            raise WeightsFormatError(f"{path}: the safetensors header is not valid JSON ({exc})") from exc
    if not isinstance(header, dict):
        raise WeightsFormatError(f"{path}: the safetensors header is not a JSON object")
    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise WeightsFormatError(f"{path}: __metadata__ must map strings to strings")
    data_size = size - 8 - length
    spans = []
    for name, entry in header.items():
        spans.append((*_check_entry(path, name, entry, data_size), name))
    position = 0
    for begin, end, name in sorted(spans):
        if begin != position:
            what = "overlaps the previous tensor" if begin < position else f"leaves a hole at byte {position}"
            raise WeightsFormatError(f"{path}: tensor {name!r}: data_offsets start at {begin}, which {what}")
        position = end
    if position != data_size:
        raise WeightsFormatError(f"{path}: the tensors cover {position} bytes but the file holds {data_size} "
                                 "bytes of data after the header")
    return header, metadata, 8 + length


def _check_entry(path: Path, name: str, entry: object, data_size: int) -> tuple[int, int]:
    """(begin, end) of one header entry after validating its dtype, shape and offsets."""
    if not isinstance(entry, dict) or not {"dtype", "shape", "data_offsets"} <= entry.keys():
        raise WeightsFormatError(f"{path}: tensor {name!r}: header entry needs dtype, shape and data_offsets, "
                                 f"got {entry!r}")
    tag, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
    if tag not in _ITEMSIZE:
        raise WeightsFormatError(f"{path}: tensor {name!r}: dtype {tag!r} is not supported "
                                 f"(supported: {', '.join(_ITEMSIZE)})")
    if not (isinstance(shape, list) and all(type(d) is int and d >= 0 for d in shape)):
        raise WeightsFormatError(f"{path}: tensor {name!r}: shape must be a list of non-negative ints, got {shape!r}")
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(type(o) is int for o in offsets)
            and 0 <= offsets[0] <= offsets[1]):
        raise WeightsFormatError(f"{path}: tensor {name!r}: bad data_offsets {offsets!r}")
    expected = math.prod(shape) * _ITEMSIZE[tag]  # (Python ints: a huge shape cannot wrap around)
    begin, end = offsets
    if end - begin != expected:
        raise WeightsFormatError(f"{path}: tensor {name!r}: data_offsets {offsets} span {end - begin} bytes but "
                                 f"dtype {tag} and shape {shape} need {expected}")
    if end > data_size:
        raise WeightsFormatError(f"{path}: tensor {name!r}: its data (bytes {begin}..{end}) runs past the end of "
                                 f"the file ({data_size} bytes of data): the file is truncated")
    return begin, end


def load_safetensors(path: str | os.PathLike, *, backend: str = "auto") -> "OrderedDict[str, np.ndarray]":
    """All tensors of a safetensors file as NumPy arrays, in file order (BF16 becomes float32)."""
    return read_safetensors(path, backend=backend)[0]


def read_safetensors(path: str | os.PathLike, *, backend: str = "auto"
                     ) -> tuple["OrderedDict[str, np.ndarray]", dict[str, str]]:
    """``(tensors, metadata)`` of a safetensors file (``backend`` as in :func:`save_safetensors`)."""
    package = _package(backend)
    header, metadata, start = read_safetensors_header(path)
    if package is not None:
        return _read_with_package(path, header, start, package), metadata
    out: OrderedDict[str, np.ndarray] = OrderedDict()
    with open(path, "rb") as f:
        for name, entry in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0]):
            begin, end = entry["data_offsets"]
            f.seek(start + begin)
            buf = bytearray(end - begin)
            if f.readinto(buf) != len(buf):
                raise WeightsFormatError(f"{path}: tensor {name!r}: the file ended inside its data (truncated)")
            out[name] = decode_bytes(buf, entry["dtype"], entry["shape"])
    return out, metadata


def _read_with_package(path: str | os.PathLike, header: dict, start: int, package: tuple
                       ) -> "OrderedDict[str, np.ndarray]":
    """The tensors through ``safetensors.safe_open`` (memory-mapped); BF16 ones through NumPy."""
    safe_open, _, error = package
    out: OrderedDict[str, np.ndarray] = OrderedDict()
    order = sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0])
    try:
        with safe_open(str(path), framework="np") as f, open(path, "rb") as raw:
            for name, entry in order:
                if entry["dtype"] == "BF16":
                    begin, end = entry["data_offsets"]
                    raw.seek(start + begin)
                    out[name] = decode_bytes(bytearray(raw.read(end - begin)), "BF16", entry["shape"])
                else:
                    array = f.get_tensor(name)
                    out[name] = array if array.dtype.isnative else array.astype(array.dtype.newbyteorder("="))
    except error as exc:
        raise WeightsFormatError(f"{path}: the safetensors package cannot read this file ({exc})") from exc
    return out


def decode_bytes(buf: bytearray, tag: str, shape: list[int]) -> np.ndarray:
    """Little-endian bytes of one tensor as a native NumPy array of ``shape``."""
    if tag == "BF16":
        return _bf16_to_float32(np.frombuffer(buf, dtype="<u2")).reshape(tuple(shape))
    array = np.frombuffer(buf, dtype=DTYPES[tag]).reshape(tuple(shape))
    return array if array.dtype.isnative else array.astype(array.dtype.newbyteorder("="))


def _bf16_to_float32(bits: np.ndarray) -> np.ndarray:
    """bfloat16 is the top half of a float32, so widening is a 16-bit shift (exact)."""
    return (bits.astype(np.uint32) << 16).view(np.float32)
