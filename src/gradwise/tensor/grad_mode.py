"""Switches for graph recording: `no_grad`, `enable_grad`, `set_grad_enabled`, `is_grad_enabled`.

Recording the graph costs memory (every saved activation) and time, so evaluation and
parameter updates run without it, exactly as in PyTorch. The flag is process-wide (PyTorch
keeps one per thread); gradwise's loader threads only move NumPy arrays, so one flag suffices
and reading it stays a plain attribute lookup on the hot path.
"""
from __future__ import annotations

import contextlib


class _GradMode:
    enabled: bool = True


def is_grad_enabled() -> bool:
    """True when operations are being recorded for backward."""
    return _GradMode.enabled


class set_grad_enabled(contextlib.ContextDecorator):
    """Turn graph recording on or off: as a call, a context manager, or a decorator."""

    def __init__(self, mode: bool) -> None:
        self.prev = _GradMode.enabled
        self.mode = bool(mode)
        _GradMode.enabled = self.mode

    def __enter__(self) -> None:
        _GradMode.enabled = self.mode

    def __exit__(self, *exc) -> None:
        _GradMode.enabled = self.prev


class no_grad(contextlib.ContextDecorator):
    """Context manager and decorator that stops recording the graph (evaluation, updates)."""

    def __enter__(self) -> None:
        self.prev = _GradMode.enabled
        _GradMode.enabled = False

    def __exit__(self, *exc) -> None:
        _GradMode.enabled = self.prev


class enable_grad(contextlib.ContextDecorator):
    """Context manager and decorator that records the graph even inside `no_grad`."""

    def __enter__(self) -> None:
        self.prev = _GradMode.enabled
        _GradMode.enabled = True

    def __exit__(self, *exc) -> None:
        _GradMode.enabled = self.prev
