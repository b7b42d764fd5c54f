"""Random numbers: one global NumPy generator seeded by `manual_seed`, and `Generator` objects.

gradwise cannot reproduce PyTorch's random streams (different algorithms), but a given seed
always gives the same numbers in gradwise, which is what reproducible runs need.
"""
from __future__ import annotations

import numpy as np

_global = np.random.default_rng(0)


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
    return generator._rng if generator is not None else _global
