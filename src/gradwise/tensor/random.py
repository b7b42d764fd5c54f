"""Random numbers: one global NumPy generator seeded by `manual_seed`, and `Generator` objects.

gradwise cannot reproduce PyTorch's random streams (different algorithms), but a given seed
always gives the same numbers in gradwise, which is what reproducible runs need.

A background thread (a data loader's prefetch) can be given its own stream in place of the global
one (:func:`thread_stream`), as PyTorch seeds each worker process from a base seed: its draws then
no longer interleave with the training thread's in an order that depends on timing.
"""
from __future__ import annotations

import contextlib
import hashlib
import threading
from collections.abc import Iterator

import numpy as np

_global = np.random.default_rng(0)
_local = threading.local()   # .rng: this thread's stream in place of the global one (thread_stream)


class Generator:
    """An independent random stream, as `torch.Generator` (for DataLoader shuffling, dropout...)."""

    def __init__(self, device: str = "cpu") -> None:
        self._rng = np.random.default_rng()
        self._seed = None

    def manual_seed(self, seed: int) -> "Generator":
        self._seed = int(seed)
        self._rng = np.random.default_rng(int(seed))
        return self

    def initial_seed(self) -> int | None:
        return self._seed

    def get_state(self) -> dict:
        return self._rng.bit_generator.state

    def set_state(self, state: dict) -> None:
        self._rng.bit_generator.state = state


def manual_seed(seed: int) -> Generator:
    """Seed gradwise's global generator (weight init, dropout, rand*, shuffling)."""
    global _global
    _global = np.random.default_rng(int(seed))
    g = Generator()
    g._rng, g._seed = _global, int(seed)
    return g


seed = manual_seed


def get_rng_state() -> dict:
    return _global.bit_generator.state


def set_rng_state(state: dict) -> None:
    _global.bit_generator.state = state


def _rng(generator: Generator | None = None) -> np.random.Generator:
    if generator is not None:
        return generator._rng
    own = getattr(_local, "rng", None)
    return own if own is not None else _global


@contextlib.contextmanager
def thread_stream(rng: np.random.Generator) -> Iterator[np.random.Generator]:
    """Within the block, draws of this thread from gradwise's global generator come from ``rng``."""
    previous = getattr(_local, "rng", None)
    _local.rng = rng
    try:
        yield rng
    finally:
        _local.rng = previous


def derived_seed(generator: Generator | None = None, salt: int = 0) -> int:
    """A seed (0 <= seed < 2**63) determined by the current state of ``generator`` (or of the global
    generator) and ``salt``, without drawing from it: another thread's stream that is reproducible
    under :func:`manual_seed` and leaves every other draw of the run unchanged."""
    state = repr(_rng(generator).bit_generator.state).encode() + b"/" + str(int(salt)).encode()
    return int.from_bytes(hashlib.blake2b(state, digest_size=8).digest(), "little") % 2 ** 63
