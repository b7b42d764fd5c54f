"""Saving and loading weights: ``gradwise.save``, ``gradwise.load`` and ``load_into``, in safe formats only.

Formats, picked by the file suffix on saving and by the file's first bytes on loading:

==================  =====================================================================
``.safetensors``    safetensors (Hugging Face): JSON header + raw bytes; read by any framework
``.npz``            NumPy's zip of ``.npy`` arrays, loaded with ``allow_pickle=False``
``.pt``, ``.pth``   PyTorch's zip format, written and read without torch and without
                    unpickling anything but tensors (:mod:`gradwise.interop.torch_weights`)
==================  =====================================================================

No loader here ever unpickles an arbitrary object, so opening a downloaded weight file
cannot run code.  Every write is atomic (a temporary file in the same folder, then
``os.replace``): an interrupted save leaves the previous file intact.

:func:`load_into` is the checked way into a model: each key's shape and dtype are compared
with the model's, and every mismatch, missing key and unexpected key is listed by name in
one error before anything is copied.
"""
from __future__ import annotations

import os
import zipfile
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Union

import numpy as np

from gradwise.engines import to_numpy
from gradwise.engines.native import as_tensor
from gradwise.interop._files import ZIP_ERRORS, WeightsFormatError, atomic_write, sniff_format
from gradwise.interop.safetensors import load_safetensors, save_safetensors
from gradwise.interop.torch_weights import export_torch_state_dict, load_torch_state_dict
from gradwise.nn.module import IncompatibleKeys, Module
from gradwise.tensor.tensor import Tensor

PathLike = Union[str, os.PathLike]
SUFFIXES = {".safetensors": "safetensors", ".npz": "npz", ".pt": "torch", ".pth": "torch", ".bin": "torch"}

__all__ = ["save", "load", "load_arrays", "load_into", "to_arrays", "WeightsFormatError", "WeightsMismatchError"]


class WeightsMismatchError(RuntimeError):
    """Weights that do not fit a model: each mismatching, missing or unexpected key is named."""


def to_arrays(model_or_state: Module | Mapping[str, Any]) -> "OrderedDict[str, np.ndarray]":
    """A model's state dict, or any name -> Tensor/array mapping, as NumPy arrays by name."""
    state = model_or_state.state_dict() if isinstance(model_or_state, Module) else model_or_state
    if not isinstance(state, Mapping):
        raise TypeError(f"expected a Module or a mapping of names to tensors, got {type(model_or_state).__name__}")
    out: OrderedDict[str, np.ndarray] = OrderedDict()
    for name, value in state.items():
        if not isinstance(name, str):
            raise TypeError(f"state-dict keys must be strings, got {name!r}")
        out[name] = to_numpy(value)   # gradwise and PyTorch tensors alike
        if out[name].dtype == object:
            raise TypeError(f"{name!r} is not numeric (dtype object); only tensors can be saved")
    return out


def save(model_or_state: Module | Mapping[str, Any], path: PathLike, metadata: Mapping[str, str] | None = None) -> None:
    """Save a model's state dict (or a name -> tensor mapping) to ``path``; the suffix picks the format.

    ``.safetensors`` (recommended: portable, and ``metadata`` strings are stored with it),
    ``.npz``, or ``.pt``/``.pth`` (PyTorch's format; ``torch.load(path, weights_only=True)``
    reads it).  Writes atomically.
    """
    path = Path(path)
    kind = SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise ValueError(f"cannot tell the weight format from {path.name!r}: use a {', '.join(SUFFIXES)} suffix")
    arrays = to_arrays(model_or_state)
    if kind == "safetensors":
        save_safetensors(arrays, path, metadata)
    elif kind == "npz":
        _save_npz(arrays, path)
    else:
        export_torch_state_dict(arrays, path)


def _save_npz(arrays: Mapping[str, np.ndarray], path: Path) -> None:
    """``np.savez`` written member by member (so no key can collide with savez's own arguments)."""
    with atomic_write(path) as f, zipfile.ZipFile(f, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
        for name, array in arrays.items():
            with zf.open(name + ".npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.asarray(array), allow_pickle=False)


# What NumPy raises on a damaged .npy member besides zipfile's errors: an unknown dtype (TypeError), a
# shape too large to allocate.
_NPY_ERRORS = (*ZIP_ERRORS, TypeError, MemoryError, OverflowError, SyntaxError)


def _load_npz(path: Path) -> "OrderedDict[str, np.ndarray]":
    try:
        archive = np.load(path, allow_pickle=False)
    except _NPY_ERRORS as exc:
        raise WeightsFormatError(f"{path}: not a readable .npz archive - truncated or corrupt ({exc})") from exc
    out: OrderedDict[str, np.ndarray] = OrderedDict()
    with archive:
        for name in archive.files:
            try:
                out[name] = archive[name]
            except _NPY_ERRORS as exc:
                raise WeightsFormatError(f"{path}: array {name!r} cannot be read - corrupt, truncated, or an "
                                         f"object array that would need pickle ({type(exc).__name__}: {exc})") \
                    from exc
            if not isinstance(out[name], np.ndarray):  # NumPy hands out a member without the .npy magic as bytes
                raise WeightsFormatError(f"{path}: member {name!r} is not a .npy array (corrupt archive)")
            if out[name].dtype.kind not in "biufc":  # bool, int, uint, float, complex: what a weight can be
                raise WeightsFormatError(f"{path}: array {name!r} has dtype {out[name].dtype}, not a numeric type "
                                         "(corrupt, or not a weight file)")
    return out


def load_arrays(path: PathLike) -> "OrderedDict[str, np.ndarray]":
    """The weights in a file (any supported format, recognised by content) as NumPy arrays by name."""
    path = Path(path)
    kind = sniff_format(path)
    if kind == "npz":
        return _load_npz(path)
    if kind == "safetensors":
        return load_safetensors(path)
    return load_torch_state_dict(path)


def load(path: PathLike) -> "OrderedDict[str, Tensor]":
    """The state dict in a weight file as gradwise Tensors by name (as ``torch.load`` of a state dict).

    The format is recognised from the file's content; nothing but arrays is ever decoded.
    Use :func:`load_into` to check the weights against a model and copy them in.
    """
    return OrderedDict((name, as_tensor(array)) for name, array in load_arrays(path).items())


def load_into(model: Module, source: PathLike | Mapping[str, Any], strict: bool = True,
              cast: bool = False) -> IncompatibleKeys:
    """Load weights from a file (or a mapping) into ``model`` after checking every key.

    Shapes must match exactly; dtypes too, unless ``cast=True`` converts between floating
    types (e.g. float32 PyTorch weights into a float64 model) - integers and booleans (such
    as BatchNorm's ``num_batches_tracked``) are never cast.  With ``strict=True`` missing and
    unexpected keys are errors too; with ``strict=False`` they are returned, like
    ``Module.load_state_dict``.  All problems are collected into one
    :class:`WeightsMismatchError` naming each key (expected vs found), and the model is left
    untouched when there is any.
    """
    where = f"'{source}'" if isinstance(source, (str, os.PathLike)) else "the given state dict"
    found = load_arrays(source) if isinstance(source, (str, os.PathLike)) else to_arrays(source)
    own = to_arrays(model)
    problems = []
    for name, expected in own.items():
        if name not in found:
            continue
        got = found[name]
        if got.shape != expected.shape:
            problems.append(f"{name}: shape mismatch, expected {tuple(expected.shape)}, found {tuple(got.shape)}")
        elif got.dtype != expected.dtype and not (cast and got.dtype.kind == expected.dtype.kind == "f"):
            hint = " (pass cast=True to convert)" if got.dtype.kind == expected.dtype.kind == "f" else ""
            problems.append(f"{name}: dtype mismatch, expected {expected.dtype}, found {got.dtype}{hint}")
    missing = [k for k in own if k not in found]
    unexpected = [k for k in found if k not in own]
    if strict:
        problems += [f"{k}: missing (in the model, not in the weights)" for k in missing]
        problems += [f"{k}: unexpected (in the weights, not in the model)" for k in unexpected]
    if problems:
        raise WeightsMismatchError(f"cannot load {where} into {type(model).__name__}: {len(problems)} problem(s)\n  "
                                   + "\n  ".join(problems))
    model.load_state_dict({k: v for k, v in found.items() if k in own}, strict=False)
    return IncompatibleKeys(missing, unexpected)
