"""Checkpoints: everything a run needs to continue exactly where it stopped, written so that it survives a crash.

The lecture's loop (BACKPROPAGATION: initialize, then *repeat* forward, loss, backward, update *until a
stopping condition*) can be long; a run killed at any point should continue from its last checkpoint
and end exactly as if it had never stopped.  That needs more than the weights: the solver's state
(Adam's moments, the step count), the learning-rate schedule, the callbacks' counters (early
stopping's patience), the history so far, and every random stream that decides what comes next
(gradwise's global generator for dropout and shuffling, the data loader's own generator, NumPy's and
Python's global generators).  :func:`save_checkpoint` stores all of it; ``fit(..., resume=path)``
loads it (:meth:`gradwise.train.Trainer.load_checkpoint`).

**Format.** A ``.npz`` file (a zip of ``.npy`` arrays): every array and tensor is a member ``a0``,
``a1``, ...; the structure around them (dicts, lists, numbers, strings) is one JSON document, the
member ``__meta__`` (UTF-8 bytes), in which arrays appear as ``{"__ndarray__": "a3"}`` and tensors as
``{"__tensor__": "a4"}``.  Loading uses ``np.load(..., allow_pickle=False)`` and ``json``: a checkpoint
from an untrusted source cannot run code, unlike a pickle (``torch.load``'s historical problem).

**Atomic writes.** The file is written to a temporary file in the same folder, flushed and
``fsync``-ed, then renamed over the old one with ``os.replace`` (atomic on POSIX and Windows): at
every instant the path holds either the complete old checkpoint or the complete new one, never a
half-written file.  A truncated or corrupt file (copied badly, disk full before this scheme) raises
:class:`CheckpointError` naming the file.
"""
from __future__ import annotations

import contextlib
import copy
import io
import json
import os
import random
import signal
import stat
import sys
import tempfile
import threading
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from gradwise.engines import Engine
from gradwise.engines.native import NativeEngine, as_tensor, to_numpy
from gradwise.tensor import random as gw_random
from gradwise.tensor.random import Generator
from gradwise.tensor.tensor import Tensor

__all__ = ["CheckpointError", "save_checkpoint", "load_checkpoint", "atomic_write", "encode_state",
           "decode_state", "capture_rng", "restore_rng", "loader_generators", "snapshot", "restore_snapshot",
           "preserved", "FORMAT", "VERSION"]

FORMAT = "gradwise-checkpoint"
VERSION = 1
_META = "__meta__"


class CheckpointError(ValueError):
    """A checkpoint file that cannot be read back (truncated, corrupt, or not a gradwise checkpoint)."""


# ----------------------------------------------------------------------------- atomic files
def atomic_write(path: str | os.PathLike, write: Callable[[io.BufferedWriter], None]) -> Path:
    """Write a file through ``write(f)`` so that ``path`` is replaced all at once or not at all.

    The data goes to a temporary file in the same folder (a rename across file systems would not be
    atomic), which is flushed, ``fsync``-ed and renamed over ``path`` with ``os.replace``.  If
    ``write`` raises, the temporary file is removed and ``path`` is left exactly as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with _interrupts_held():
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            os.chmod(tmp, _file_mode(path))   # mkstemp makes 0600 files; give the usual permissions
            with os.fdopen(fd, "wb") as f:
                write(f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        _fsync_directory(path.parent)
    return path


_holding = [False]


@contextlib.contextmanager
def _interrupts_held() -> Iterator[None]:
    """While inside: Ctrl-C and SIGTERM wait until the block is done, then arrive as usual.

    A file write takes milliseconds; an interrupt in the middle of it would break it off (the file is then left
    as it was, by the temporary-file dance) and, inside NumPy's zip writer, surface as zipfile's "Can't close the
    ZIP file while there is an open writing handle" instead of the interrupt - the run would end with exit status
    1 and a confusing message rather than 130/143 and the command that resumes it.  Only in the main thread
    (where handlers live); nested blocks hold once."""
    if _holding[0] or threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    previous: dict[int, Any] = {}
    _holding[0] = True
    try:
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, lambda signum, frame: received.append(signum))
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
        _holding[0] = False
        for sig in dict.fromkeys(received):   # now, to the handlers put back (KeyboardInterrupt, or the default)
            signal.raise_signal(sig)


def _file_mode(path: Path) -> int:
    """The replaced file's permissions, or those a new file gets under the current umask."""
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def _fsync_directory(folder: Path) -> None:
    """Make the rename itself durable (POSIX); a no-op where directories cannot be opened (Windows)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# ----------------------------------------------------------------------------- encoding
def encode_state(obj: Any, arrays: dict[str, np.ndarray]) -> Any:
    """Turn a nested state (dicts, lists, tuples, numbers, strings, arrays, Tensors) into JSON.

    Arrays and Tensors are moved into ``arrays`` (members of the ``.npz``) and replaced by a
    reference.  Dicts whose keys are not all strings (an optimizer's state is keyed by parameter
    index) and tuples are tagged so that :func:`decode_state` rebuilds them exactly.  Anything else
    (a function, an open file) is an error naming its type: a checkpoint must not silently drop state.
    """
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, (int, float)):
        return obj
    if isinstance(obj, Tensor):
        return {"__tensor__": _add_array(arrays, to_numpy(obj)), "requires_grad": bool(obj.requires_grad)}
    if _is_torch_tensor(obj):   # a PyTorch model's or optimizer's state: back as a CPU torch tensor
        dtype = str(obj.dtype).replace("torch.", "")
        return {"__torch__": _add_array(arrays, _torch_numpy(obj)), "dtype": dtype}
    if isinstance(obj, np.ndarray):
        if obj.dtype.kind == "O":
            raise TypeError("cannot checkpoint an object array (it would need pickle)")
        return {"__ndarray__": _add_array(arrays, obj)}
    if isinstance(obj, np.generic):
        return {"__npscalar__": _add_array(arrays, np.asarray(obj))}
    if isinstance(obj, tuple):
        return {"__tuple__": [encode_state(v, arrays) for v in obj]}
    if isinstance(obj, list):
        return [encode_state(v, arrays) for v in obj]
    if isinstance(obj, Mapping):
        if all(isinstance(k, str) and not k.startswith("__") for k in obj):
            return {k: encode_state(v, arrays) for k, v in obj.items()}
        return {"__items__": [[encode_state(k, arrays), encode_state(v, arrays)] for k, v in obj.items()]}
    raise TypeError(f"cannot checkpoint a value of type {type(obj).__name__}: {obj!r:.80}")


def _add_array(arrays: dict[str, np.ndarray], value: np.ndarray) -> str:
    key = f"a{len(arrays)}"
    arrays[key] = np.asarray(value)   # (np.ascontiguousarray would turn a 0-d array into 1-d)
    return key


def decode_state(obj: Any, arrays: Mapping[str, np.ndarray]) -> Any:
    """Inverse of :func:`encode_state`: arrays come back as copies, Tensors as new Tensors."""
    if isinstance(obj, list):
        return [decode_state(v, arrays) for v in obj]
    if not isinstance(obj, dict):
        return obj
    if "__tensor__" in obj:
        t = as_tensor(np.array(arrays[obj["__tensor__"]]))
        t.requires_grad = bool(obj.get("requires_grad", False))
        return t
    if "__torch__" in obj:
        import torch

        return torch.from_numpy(np.array(arrays[obj["__torch__"]])).to(getattr(torch, obj.get("dtype", "float32")))
    if "__ndarray__" in obj:
        return np.array(arrays[obj["__ndarray__"]])
    if "__npscalar__" in obj:
        return arrays[obj["__npscalar__"]][()]
    if "__tuple__" in obj:
        return tuple(decode_state(v, arrays) for v in obj["__tuple__"])
    if "__items__" in obj:
        return {_hashable(decode_state(k, arrays)): decode_state(v, arrays) for k, v in obj["__items__"]}
    return {k: decode_state(v, arrays) for k, v in obj.items()}


def _is_torch_tensor(obj: Any) -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(obj, torch.Tensor)


def _torch_numpy(t: Any) -> np.ndarray:
    import torch

    t = t.detach()
    if t.dtype == torch.bfloat16:
        t = t.to(torch.float32)
    return t.cpu().numpy().copy()


def _hashable(key: Any) -> Any:
    return tuple(_hashable(k) for k in key) if isinstance(key, (list, tuple)) else key


def _write_npz(f: io.BufferedWriter, arrays: Mapping[str, np.ndarray]) -> None:
    """Serialise the members (a separate function so tests can simulate a failure midway)."""
    np.savez(f, **arrays)


def save_checkpoint(path: str | os.PathLike, state: Mapping[str, Any]) -> Path:
    """Write ``state`` (a nested dict, see :func:`encode_state`) to ``path`` atomically as ``.npz``.

    ``format`` and ``version`` keys are added so that :func:`load_checkpoint` can tell a gradwise
    checkpoint from any other ``.npz``.
    """
    arrays: dict[str, np.ndarray] = {}
    meta = encode_state({"format": FORMAT, "version": VERSION, **state}, arrays)
    arrays[_META] = np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)
    return atomic_write(path, lambda f: _write_npz(f, arrays))


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint` (no pickle involved).

    Raises ``FileNotFoundError`` for a missing file and :class:`CheckpointError`, naming the file,
    for one that is truncated, corrupt or not a gradwise checkpoint.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such checkpoint file")
    hint = "the file is truncated or corrupt; resume from another checkpoint (e.g. best.npz or an older copy)"
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}   # read every member now: CRC errors surface here
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError, RuntimeError) as err:
        raise CheckpointError(f"{path}: cannot read checkpoint ({type(err).__name__}: {err}); {hint}") from None
    if _META not in arrays:
        raise CheckpointError(f"{path}: not a gradwise checkpoint (no {_META} member); {hint}")
    try:
        meta = json.loads(arrays.pop(_META).tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise CheckpointError(f"{path}: the checkpoint's metadata is not valid JSON ({err}); {hint}") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a gradwise checkpoint (format {meta.get('format') if isinstance(meta, dict) else None!r})")
    if meta.get("version", 0) > VERSION:
        raise CheckpointError(f"{path}: checkpoint version {meta['version']} is newer than this gradwise "
                              f"understands ({VERSION}); upgrade gradwise")
    try:
        return decode_state(meta, arrays)
    except KeyError as err:
        raise CheckpointError(f"{path}: the checkpoint refers to a missing array {err}; {hint}") from None


# ----------------------------------------------------------------------------- what a checkpoint holds
def scheduler_states(state: Mapping[str, Any]) -> list[Any]:
    """The learning-rate schedulers' states in a loaded checkpoint, in the run's callback order.

    Each scheduler is owned by its ``LearningRateScheduler`` callback, whose state holds it under
    ``"scheduler"``; checkpoints written before that kept a top-level ``"schedulers"`` list.
    """
    if state.get("schedulers") is not None:
        return list(state["schedulers"])
    return [s["scheduler"] for s in state.get("callbacks", {}).values() if isinstance(s, Mapping) and "scheduler" in s]


#: Param-group keys that learning-rate schedulers add (they say nothing about the solver).
SCHEDULER_KEYS = frozenset({"params", "initial_lr", "max_lr", "min_lr", "base_lr", "base_momentum", "max_momentum"})


def optimizer_signature(optimizer_state: Mapping[str, Any]) -> list[list[str]]:
    """The hyper-parameter names of each param group: what tells one solver's state from another's."""
    return [sorted(k for k in group if k not in SCHEDULER_KEYS) for group in optimizer_state.get("param_groups", [])]


# ----------------------------------------------------------------------------- random streams
def loader_generators(loaders: Iterable[Any]) -> list[Any]:
    """The distinct generators (gradwise's or PyTorch's) that decide the loaders' orders.

    A loader's own ``generator``, its sampler's and its batch sampler's sampler's; loaders without
    one shuffle from the global generator, which :func:`capture_rng` saves anyway.
    """
    torch = sys.modules.get("torch")
    kinds = (Generator,) if torch is None else (Generator, torch.Generator)
    found: list[Any] = []
    for loader in loaders:
        if loader is None:
            continue
        batch_sampler = getattr(loader, "batch_sampler", None)
        for owner in (loader, getattr(loader, "sampler", None), getattr(batch_sampler, "sampler", None)):
            g = getattr(owner, "generator", None)
            if isinstance(g, kinds) and all(g is not other for other in found):
                found.append(g)
    return found


def _generator_state(g: Any) -> Any:
    return g.get_state() if isinstance(g, Generator) else g.get_state().numpy().copy()


def _set_generator_state(g: Any, state: Any) -> None:
    if isinstance(g, Generator):
        g.set_state(state)
    else:
        import torch

        g.set_state(torch.from_numpy(np.asarray(state, dtype=np.uint8).copy()))


def capture_rng(generators: Iterable[Any] = (), engine: Engine | None = None, loaders: Iterable[Any] = ()
                ) -> dict[str, Any]:
    """Every random stream a training run draws from: gradwise's, the loaders', NumPy's, Python's, the
    engine's own (PyTorch's CPU and CUDA generators for a PyTorch model) and those of the loaders'
    augmentation transforms that were given their own ``seed=`` (the others draw from gradwise's)."""
    states = {
        "gradwise": gw_random.get_rng_state(),
        "generators": [_generator_state(g) for g in generators],
        "numpy": np.random.get_state(),
        "python": random.getstate(),
    }
    if engine is not None and not isinstance(engine, NativeEngine):
        states["engine"] = engine.rng_state()
    augment = [_augment_state(loader) for loader in loaders]
    if any(augment):
        states["augment"] = augment
    return states


def _augment_state(loader: Any) -> dict[str, Any] | None:
    """The augmentation transforms' own generators in a loader (None when it has no transform)."""
    if loader is None:
        return None
    from gradwise.augment.compose import rng_state

    state = rng_state(loader)
    return state if state["transforms"] else None


def restore_rng(states: Mapping[str, Any], generators: Iterable[Any] = (), engine: Engine | None = None,
                loaders: Iterable[Any] = ()) -> None:
    """Put back the streams saved by :func:`capture_rng` (generators and loaders matched by position)."""
    if states.get("augment"):
        from gradwise.augment.compose import set_rng_state

        for loader, state in zip(list(loaders), states["augment"]):
            if loader is not None and state is not None:
                try:
                    set_rng_state(loader, state)
                except ValueError as err:
                    raise CheckpointError(f"the checkpoint's augmentation state does not fit this run's transforms "
                                          f"({err}); resume with the same augmentation pipeline") from None
    gw_random.set_rng_state(states["gradwise"])
    if engine is not None and "engine" in states:
        engine.set_rng_state(states["engine"])
    generators = list(generators)
    saved = list(states.get("generators", []))
    if len(saved) != len(generators):
        raise CheckpointError(f"the checkpoint holds {len(saved)} data-loader generator state(s) but this run has "
                              f"{len(generators)}: resume with data loaders built the same way")
    for g, s in zip(generators, saved):
        _set_generator_state(g, s)
    np.random.set_state(tuple(states["numpy"]))
    py = states["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))


# ----------------------------------------------------------------------------- in-memory snapshots
def snapshot(model: Any = None, optimizer: Any = None, generators: Iterable[Any] = (),
             engine: Engine | None = None, loaders: Iterable[Any] = ()) -> dict[str, Any]:
    """A copy of the model's parameters, buffers and train/eval modes, the optimizer's state and the RNGs.

    Used to probe or sweep a model without leaving a trace: :func:`gradwise.train.lr_find` and the
    babysitter's probes (through :meth:`gradwise.train.Trainer.preserve_state`) restore it afterwards.
    ``engine`` is the model's (default: found from the model; gradwise's without one).
    """
    if engine is None:
        from gradwise.engines import engine_for

        engine = engine_for(model) if model is not None else NativeEngine()
    generators, loaders = list(generators), list(loaders)
    snap: dict[str, Any] = {"rng": capture_rng(generators, engine, loaders), "generators": generators,
                            "engine": engine, "loaders": loaders}
    if model is not None:
        snap["model"] = engine.snapshot_weights(model)
        snap["modes"] = engine.modes(model)
    if optimizer is not None:
        snap["optimizer"] = copy.deepcopy(optimizer.state_dict())   # PyTorch's holds the live state tensors
    return snap


def restore_snapshot(snap: Mapping[str, Any], model: Any = None, optimizer: Any = None) -> None:
    """Return the model, the optimizer and the random streams to a :func:`snapshot`."""
    engine = snap["engine"]
    if model is not None and "model" in snap:
        engine.restore_weights(model, snap["model"])
        engine.set_modes(snap["modes"])
    if optimizer is not None and "optimizer" in snap:
        optimizer.load_state_dict(snap["optimizer"])
    restore_rng(snap["rng"], snap["generators"], engine, snap["loaders"])


@contextlib.contextmanager
def preserved(model: Any = None, optimizer: Any = None, generators: Iterable[Any] = (),
              engine: Engine | None = None, loaders: Iterable[Any] = ()) -> Iterator[None]:
    """``with preserved(model, optimizer):`` - whatever happens inside is undone on exit."""
    snap = snapshot(model, optimizer, generators, engine, loaders)
    try:
        yield
    finally:
        restore_snapshot(snap, model, optimizer)
