"""The machinery every augmentation shares: parameters, randomness, ``p=``, composition.

Data augmentation is "adding slightly modified copies of already existing data"
(lecture, "Data Augmentation"); because the network never sees exactly the same
example twice it "acts as a regularizer and helps reduce overfitting".  For the copies
to be *slightly* modified, every random choice must be controllable, hence three rules
implemented once, here, and used by all vision, audio and text transforms:

1. **Parameter rule** (:class:`Param`): a plain number is a *fixed* value; a
   ``(low, high)`` pair is sampled *uniformly* from that range each time the transform
   runs.  ``RandomRotation(90)`` always rotates by 90 degrees,
   ``RandomRotation((-10, 10))`` by a random angle in [-10, 10].  (torchvision reads a
   bare number as the symmetric range ``(-x, x)``; write that range out explicitly here.)
2. **Randomness** comes only from the transform's own ``numpy.random.Generator``
   (``self.rng``).  ``transform.seed(s)`` or ``Compose([...], seed=s)`` makes a pipeline
   reproducible; children of a composition get independent streams spawned from the
   seed (``numpy.random.SeedSequence.spawn``), so adding a transform does not change
   the random draws of the others.
3. **p=**: the probability that the transform is applied at all (``p=0``: identity,
   ``p=1``: always).  The coin is flipped with the transform's own generator.

Worker processes forked by a data loader inherit identical generator states; reseed
each one (``pipeline.seed(base_seed + worker_id)``) or they all augment alike.

A transform is applied with ``t(sample)`` (one sample) or ``t.apply_batch(batch)`` (a
stacked batch; every sample gets its own coin flip and parameters).  Transforms never
modify their input in place.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from numbers import Real
from typing import Any, Self

import numpy as np

__all__ = ["Param", "Transform", "Compose", "RandomApply", "Seed"]

Seed = int | np.random.SeedSequence | None


class Param:
    """A transform parameter: a fixed number, or a ``(low, high)`` range sampled uniformly.

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
    ``_check_batch`` to validate the input layout.
    """

    def __init__(self, p: float = 1.0) -> None:
        self.p = _check_p(p)
        self.rng = np.random.default_rng()

    # ---- seeding --------------------------------------------------------------------
    def children(self) -> list["Transform"]:
        """Transforms nested inside this one (seeded together with it)."""
        return []

    def seed(self, seed: Seed = None) -> Self:
        """Reset this transform's (and its children's) random streams; returns ``self``."""
        if isinstance(seed, np.random.SeedSequence):  # copy: spawn() mutates its SeedSequence
            seq = np.random.SeedSequence(seed.entropy, spawn_key=seed.spawn_key, pool_size=seed.pool_size)
        else:
            seq = np.random.SeedSequence(seed)
        kids = self.children()
        streams = seq.spawn(len(kids) + 1)
        self.rng = np.random.default_rng(streams[0])
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
        if self.p < 1.0 and not self.rng.random() < self.p:
            return x
        return self.apply(x, self.rng)

    def apply_batch(self, x: Any) -> Any:
        """Augment a stacked batch (axis 0 = samples), each sample independently.

        Lists (e.g. of sentences or variable-length clips) are augmented one by one.
        """
        if isinstance(x, list):
            return [self(xi) for xi in x]
        x = self._check_batch(x)
        if self.p >= 1.0:
            return self._apply_batch(x, self.rng)
        mask = self.rng.random(len(x)) < self.p
        out = x.copy()
        if mask.any():
            out[mask] = self._apply_batch(x[mask], self.rng)
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
    """Apply ``transforms`` in order; ``seed=`` makes the whole pipeline reproducible.

    >>> aug = Compose([RandomCrop(32, padding=4), RandomHorizontalFlip()], seed=0)
    """

    def __init__(self, transforms: Iterable[Callable[[Any], Any]], seed: Seed = None) -> None:
        super().__init__(p=1.0)
        self.transforms = list(transforms)
        if seed is not None:
            self.seed(seed)

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
