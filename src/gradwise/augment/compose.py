"""The machinery every augmentation shares: parameters, randomness, ``p=``, composition.

Data augmentation is "adding slightly modified copies of already existing data"
(lecture, "Data Augmentation"); because the network never sees exactly the same
example twice it "acts as a regularizer and helps reduce overfitting".  For the copies
to be *slightly* modified, every random choice must be controllable, hence three rules
implemented once, here, and used by all vision, audio and text transforms:

1. **Parameters.**  Each docstring says what a number means, always in the words
   "a number x means ...".  Vision transforms use torchvision's meanings: a number is a
   range around the identity (``RandomRotation(30)``: uniform in [-30, 30] degrees,
   ``ColorJitter(brightness=0.4)``: a factor uniform in [0.6, 1.4]) and ``(min, max)``
   is the range itself.  Audio and text transforms use :class:`Param`: a number x means
   exactly x, ``(low, high)`` a uniform draw from [low, high] on every call.
2. **Randomness.**  A transform draws from gradwise's global generator, the one
   :func:`gradwise.manual_seed` seeds (as torchvision's transforms draw from torch's), so
   ``gradwise.manual_seed(0)`` makes a whole pipeline reproducible and checkpoints that
   save the global generator's state resume augmentation exactly.  A transform given its
   own ``seed=`` (or ``transform.seed(s)``, or ``Compose([...], seed=s)``) owns a
   ``numpy.random.Generator`` instead and ignores ``manual_seed``; children of a
   composition get independent streams spawned from its seed
   (``numpy.random.SeedSequence.spawn``), so adding a transform does not change the
   draws of the others.  :func:`rng_state` / :func:`set_rng_state` capture and restore
   the owned generators of a whole pipeline (for checkpoints).
3. **p=**: the probability that the transform is applied at all (``p=0``: identity,
   ``p=1``: always).  The coin is flipped with the transform's generator.

The global generator is shared with dropout and shuffling: draws made in a background
thread would interleave with the training thread's in an order that depends on timing.
gradwise's DataLoader therefore gives its prefetch thread a stream of its own, seeded
reproducibly (:func:`gradwise.tensor.random.thread_stream`); in threads of your own, give
transforms their own ``seed=``.

A transform is applied with ``t(sample)`` (one sample) or ``t.apply_batch(batch)`` (a
stacked batch; every sample gets its own coin flip and parameters).  Transforms never
modify their input in place.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from numbers import Real
from typing import Any, Self

import numpy as np

from gradwise.tensor import random as _random

__all__ = ["Param", "Transform", "Compose", "RandomApply", "Seed", "rng_state", "set_rng_state"]

Seed = int | np.random.SeedSequence | None


class Param:
    """An audio/text parameter: a number x means exactly x; ``(low, high)`` means uniform in [low, high].

    (Vision transforms follow torchvision instead, see :mod:`gradwise.augment.vision`.)
    ``bounds`` (inclusive) is checked at construction so a bad value fails where it is
    written, not deep inside a data loader.  ``log=True`` samples uniformly in log space
    (for ratios such as ``RandomResizedCrop``'s aspect ratio, where 1/2 and 2 should be
    equally likely); ``integer=True`` samples integers in ``[low, high]`` inclusive.
    """

    def __init__(
        self,
        value: float | tuple[float, float],
        name: str,
        *,
        bounds: tuple[float | None, float | None] = (None, None),
        log: bool = False,
        integer: bool = False,
    ) -> None:
        self.name, self.log, self.integer = name, log, integer
        if isinstance(value, Real) and not isinstance(value, bool):
            low = high = value
        elif isinstance(value, Sequence) and len(value) == 2 and all(
            isinstance(v, Real) and not isinstance(v, bool) for v in value
        ):
            low, high = value
        else:
            raise ValueError(
                f"{name} must be a number (fixed value) or a (low, high) pair (uniform range), "
                f"got {value!r}"
            )
        if low > high:
            raise ValueError(f"{name}: low must be <= high, got ({low}, {high})")
        lo, hi = bounds
        if (lo is not None and low < lo) or (hi is not None and high > hi):
            allowed = f">= {lo}" if hi is None else f"<= {hi}" if lo is None else f"in [{lo}, {hi}]"
            raise ValueError(f"{name} must be {allowed}, got {value!r}")
        if log and low <= 0:
            raise ValueError(f"{name} must be > 0, got {value!r}")
        if integer and (int(low) != low or int(high) != high):
            raise ValueError(f"{name} must be an integer or a pair of integers, got {value!r}")
        self.low, self.high = (int(low), int(high)) if integer else (float(low), float(high))

    @property
    def fixed(self) -> bool:
        """True when the parameter is a single value (no randomness)."""
        return self.low == self.high

    def sample(self, rng: np.random.Generator, size: int | None = None) -> Any:
        """One value (``size=None``) or an array of ``size`` values."""
        if self.fixed:
            return self.low if size is None else np.full(size, self.low)
        if self.integer:
            return rng.integers(self.low, self.high + 1, size=size)
        if self.log:
            return np.exp(rng.uniform(np.log(self.low), np.log(self.high), size=size))
        return rng.uniform(self.low, self.high, size=size)

    def __repr__(self) -> str:
        return repr(self.low) if self.fixed else repr((self.low, self.high))


def _check_p(p: float) -> float:
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"p must be a probability in [0, 1], got {p}")
    return float(p)


class Transform:
    """Base class of all augmentations (see the module docstring for the shared rules).

    Subclasses implement ``apply(x, rng)`` (one sample, transform certainly applied) and
    may override ``_apply_batch(x, rng)`` with a vectorized version, and ``_check`` /
    ``_check_batch`` to validate the input layout.  ``seed=`` gives the transform its own
    generator (see :meth:`seed`); without it every draw comes from gradwise's global one.
    """

    def __init__(self, p: float = 1.0, *, seed: Seed = None) -> None:
        self.p = _check_p(p)
        self._generator: np.random.Generator | None = None
        if seed is not None:
            self.seed(seed)

    # ---- seeding --------------------------------------------------------------------
    @property
    def rng(self) -> np.random.Generator:
        """The generator draws come from: the transform's own, or gradwise's global one (looked up now)."""
        return self._generator if self._generator is not None else _random._rng()

    @rng.setter
    def rng(self, generator: np.random.Generator | None) -> None:
        self._generator = generator

    @property
    def owns_generator(self) -> bool:
        """True when the transform was seeded itself (``seed=``) and so ignores ``manual_seed``."""
        return self._generator is not None

    def children(self) -> list["Transform"]:
        """Transforms nested inside this one (seeded together with it)."""
        return []

    def seed(self, seed: Seed = None) -> Self:
        """Give this transform (and its children) their own streams from ``seed``; returns ``self``.

        ``seed(None)`` hands them back to gradwise's global generator (``manual_seed``).
        """
        kids = self.children()
        if seed is None:
            self._generator = None
            for child in kids:
                child.seed(None)
            return self
        if isinstance(seed, np.random.SeedSequence):  # copy: spawn() mutates its SeedSequence
            seq = np.random.SeedSequence(seed.entropy, spawn_key=seed.spawn_key, pool_size=seed.pool_size)
        else:
            seq = np.random.SeedSequence(seed)
        streams = seq.spawn(len(kids) + 1)
        self._generator = np.random.default_rng(streams[0])
        for child, stream in zip(kids, streams[1:]):
            child.seed(stream)
        return self

    # ---- application ----------------------------------------------------------------
    def _check(self, x: Any) -> Any:
        return x

    def _check_batch(self, x: Any) -> Any:
        return np.asarray(x)

    def apply(self, x: Any, rng: np.random.Generator) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def _apply_batch(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return np.stack([self.apply(xi, rng) for xi in x])

    def __call__(self, x: Any) -> Any:
        """Augment one sample (returned unchanged when the ``p`` coin says no)."""
        x = self._check(x)
        rng = self.rng
        if self.p < 1.0 and not rng.random() < self.p:
            return x
        return self.apply(x, rng)

    def apply_batch(self, x: Any) -> Any:
        """Augment a stacked batch (axis 0 = samples), each sample independently.

        Lists (e.g. of sentences or variable-length clips) are augmented one by one.
        """
        if isinstance(x, list):
            return [self(xi) for xi in x]
        x = self._check_batch(x)
        rng = self.rng
        if self.p >= 1.0:
            return self._apply_batch(x, rng)
        mask = rng.random(len(x)) < self.p
        out = x.copy()
        if mask.any():
            out[mask] = self._apply_batch(x[mask], rng)
        return out

    def __repr__(self) -> str:
        args = {k: v for k, v in vars(self).items()
                if k != "rng" and not k.startswith("_") and _short(v)}
        if args.get("p") == 1.0:
            args.pop("p")
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in args.items())})"


def _short(value: Any) -> bool:
    """Whether a value is small enough to show in a repr (not a big array or word list)."""
    if isinstance(value, np.ndarray):
        return value.size <= 8
    return not isinstance(value, (set, frozenset, dict)) or len(value) <= 8


class Compose(Transform):
    """Apply ``transforms`` in order; ``seed=`` gives the whole pipeline its own generators.

    >>> aug = Compose([RandomCrop(32, padding=4), RandomHorizontalFlip()], seed=0)
    """

    def __init__(self, transforms: Iterable[Callable[[Any], Any]], seed: Seed = None) -> None:
        self.transforms = list(transforms)
        super().__init__(p=1.0, seed=seed)

    def children(self) -> list[Transform]:
        return [t for t in self.transforms if isinstance(t, Transform)]

    def apply(self, x: Any, rng: np.random.Generator) -> Any:
        for t in self.transforms:
            x = t(x)
        return x

    def apply_batch(self, x: Any) -> Any:
        for t in self.transforms:
            if not hasattr(t, "apply_batch"):
                raise TypeError(f"{t!r} has no apply_batch(); apply it per sample instead")
            x = t.apply_batch(x)
        return x

    def __repr__(self) -> str:
        inner = "".join(f"\n    {t!r}," for t in self.transforms)
        return f"{type(self).__name__}([{inner}\n])"


class RandomApply(Compose):
    """Apply the list ``transforms`` (in order) with probability ``p``, else nothing.

    The same as torchvision's ``RandomApply``; useful for transforms that have no ``p=``
    of their own (e.g. ``RandomApply([ColorJitter(...)], p=0.8)``).
    """

    def __init__(self, transforms: Iterable[Callable[[Any], Any]], p: float = 0.5,
                 seed: Seed = None) -> None:
        super().__init__(transforms, seed=seed)
        self.p = _check_p(p)

    def apply_batch(self, x: Any) -> Any:
        return Transform.apply_batch(self, x)

    def _apply_batch(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return Compose.apply_batch(self, x)

    def __repr__(self) -> str:
        return super().__repr__()[:-1] + f", p={self.p})"


# ---- capturing and restoring the generators of a pipeline ------------------------------
_STATE_FORMAT = "gradwise.augment.rng_state"
_NESTED = ("transform", "transforms", "target_transform", "dataset")


def _transforms_in(obj: Any) -> Iterator[tuple[str, Transform]]:
    """(path, transform) for every transform reachable from ``obj``, depth first, each once.

    Follows a transform's children, lists/tuples/dicts, and the ``transform``/``transforms``/
    ``dataset`` attributes of other objects (a DataLoader, a dataset, a torchvision-style Compose).
    """
    seen: set[int] = set()

    def walk(node: Any, path: str) -> Iterator[tuple[str, Transform]]:
        if node is None or isinstance(node, (str, bytes, np.ndarray, Real)) or id(node) in seen:
            return
        seen.add(id(node))
        if isinstance(node, Transform):
            yield path, node
            for i, child in enumerate(node.children()):
                yield from walk(child, f"{path}/{i}:{type(child).__name__}")
        elif isinstance(node, Mapping):
            for key, value in node.items():
                yield from walk(value, f"{path}/{key}")
        elif isinstance(node, (list, tuple)):
            for i, value in enumerate(node):
                yield from walk(value, f"{path}/{i}")
        else:
            for name in _NESTED:
                value = getattr(node, name, None)
                if value is not None:
                    yield from walk(value, f"{path}.{name}")

    root = obj if isinstance(obj, Transform) else None
    yield from walk(obj, type(root).__name__ if root is not None else "")


def rng_state(obj: Any) -> dict[str, Any]:
    """The random state of every transform in ``obj`` (a transform, a Compose tree, a loader...).

    A JSON-serialisable dict (plain ints and strings, as ``gradwise.get_rng_state()``): for
    each transform in depth-first order its path, its class and its own generator's
    ``bit_generator.state``, or ``None`` when it draws from the global generator (whose
    state ``gradwise.get_rng_state()`` holds).  :func:`set_rng_state` puts it back, so the
    next draws repeat exactly; a checkpoint stores it to resume augmentation exactly.
    """
    entries = []
    for path, t in _transforms_in(obj):
        state = None if t._generator is None else json.loads(json.dumps(t._generator.bit_generator.state))
        entries.append({"path": path, "type": type(t).__name__, "state": state})
    return {"format": _STATE_FORMAT, "version": 1, "transforms": entries}


def set_rng_state(obj: Any, state: Mapping[str, Any]) -> None:
    """Restore what :func:`rng_state` captured into ``obj``, a pipeline built the same way.

    Raises ``ValueError`` naming the difference when the pipeline does not match (other
    transforms, another order), before changing anything.
    """
    if not isinstance(state, Mapping) or state.get("format") != _STATE_FORMAT:
        raise ValueError("set_rng_state: not an augmentation RNG state (made by gradwise.augment.rng_state)")
    saved = list(state.get("transforms", []))
    found = list(_transforms_in(obj))
    have = [type(t).__name__ for _, t in found]
    want = [entry.get("type") for entry in saved]
    if have != want:
        raise ValueError(f"set_rng_state: the saved state is for {len(want)} transform(s) {want} but this "
                         f"pipeline has {len(have)} {have}; restore into a pipeline built the same way")
    generators = []
    for entry in saved:
        st = entry.get("state")
        if st is None:
            generators.append(None)
            continue
        name = st.get("bit_generator") if isinstance(st, Mapping) else None
        bit_generator = getattr(np.random, str(name), None)
        if not (isinstance(bit_generator, type) and issubclass(bit_generator, np.random.BitGenerator)):
            raise ValueError(f"set_rng_state: unknown bit generator {name!r} at {entry.get('path')!r}")
        g = np.random.Generator(bit_generator())
        g.bit_generator.state = dict(st)
        generators.append(g)
    for (_, t), g in zip(found, generators):
        t._generator = g
