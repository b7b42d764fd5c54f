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


class _Switch(contextlib.ContextDecorator):
    """Base of the switches: each `with` (and each call of a decorated function) saves and
    restores the flag on a fresh instance, so recursion and nesting restore it correctly."""

    mode: bool = False

    def __new__(cls, orig_func=None):
        if orig_func is None or not callable(orig_func):
            return super().__new__(cls)
        return cls()(orig_func)  # bare `@no_grad` / `@enable_grad`, as torch 2 allows

    def _recreate_cm(self):
        return type(self)()

    def __enter__(self) -> None:
        self.prev = _GradMode.enabled
        _GradMode.enabled = self.mode

    def __exit__(self, *exc) -> None:
        _GradMode.enabled = self.prev


class set_grad_enabled(contextlib.ContextDecorator):
    """Turn graph recording on or off: as a call, a context manager, or a decorator."""

    def __init__(self, mode: bool) -> None:
        self.prev = _GradMode.enabled
        self.mode = bool(mode)
        _GradMode.enabled = self.mode

    def __call__(self, func):
        _GradMode.enabled = self.prev  # used as a decorator: the call itself changes nothing
        return super().__call__(func)

    def _recreate_cm(self):
        clone = object.__new__(type(self))
        clone.mode, clone.prev = self.mode, None  # a decorated call: save the flag on entry
        return clone

    def __enter__(self) -> None:
        if self.prev is None:
            self.prev = _GradMode.enabled
        _GradMode.enabled = self.mode

    def __exit__(self, *exc) -> None:
        _GradMode.enabled = self.prev


class no_grad(_Switch):
    """Context manager and decorator that stops recording the graph (evaluation, updates)."""

    mode = False


class enable_grad(_Switch):
    """Context manager and decorator that records the graph even inside `no_grad`."""

    mode = True
