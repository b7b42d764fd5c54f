"""The command line's error boundary: every anticipated failure ends in one short message and an exit status.

A user of ``gradwise`` should never have to read a Python traceback to learn that a config value is
wrong, a checkpoint is truncated or the disk is full.  :func:`run_command` calls a sub-command and turns
what it raises into ``gradwise COMMAND: error: <what went wrong and what to do>`` on stderr and an exit
status a script can act on:

====  =======================================================================================
0     success
1     the run failed: it diverged, a write failed (disk full, read-only, permission), an unexpected error
2     usage or config: a bad value or option, a missing or unreadable input file, a checkpoint that does
      not fit the run, an output path that cannot be a directory - fix the command and run it again
130   interrupted by Ctrl-C (SIGINT)
143   terminated by SIGTERM
====  =======================================================================================

``--debug`` (anywhere on the command line) or ``GRADWISE_DEBUG=1`` prints the traceback as well.
"""
from __future__ import annotations

import contextlib
import errno
import os
import signal
import sys
import traceback
from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["EXIT_OK", "EXIT_FAILED", "EXIT_USAGE", "EXIT_SIGINT", "EXIT_SIGTERM", "CLIError", "UsageError",
           "debug_enabled", "pop_debug_flag", "run_command", "terminate_as_interrupt", "interrupt_status",
           "describe_os_error"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
EXIT_SIGINT, EXIT_SIGTERM = 128 + signal.SIGINT, 128 + signal.SIGTERM
DEBUG_ENV = "GRADWISE_DEBUG"

#: The signal that raised the last KeyboardInterrupt through :func:`terminate_as_interrupt` (None: Ctrl-C).
_received: list[int | None] = [None]


class CLIError(Exception):
    """A failure the command explains itself: the message says what went wrong and what to do."""

    status = EXIT_FAILED

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        if status is not None:
            self.status = status


class UsageError(CLIError):
    """A bad option, config value or input file: exit status 2 (fix the command and run it again)."""

    status = EXIT_USAGE


def debug_enabled(flag: bool = False) -> bool:
    """True when ``--debug`` was given or ``GRADWISE_DEBUG`` is set to something other than 0/false/no/off."""
    value = os.environ.get(DEBUG_ENV, "").strip().lower()
    return flag or value not in ("", "0", "false", "no", "off")


def pop_debug_flag(argv: list[str]) -> bool:
    """Remove every ``--debug`` before a ``--`` from ``argv`` (in place); True when there was one.

    The flag is accepted anywhere (``gradwise --debug train`` and ``gradwise train cfg.toml --debug``)
    without every sub-command having to declare it.
    """
    end = argv.index("--") if "--" in argv else len(argv)
    found = "--debug" in argv[:end]
    argv[:end] = [a for a in argv[:end] if a != "--debug"]
    return found


@contextlib.contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """While inside: SIGTERM raises ``KeyboardInterrupt`` as Ctrl-C does, so one clean-up path serves both.

    Which signal it was is remembered for :func:`interrupt_status` (143 rather than 130).  The previous
    handler is put back on exit.  Outside the main thread (where handlers cannot be set) it does nothing.
    """
    def handler(signum: int, frame: Any) -> None:
        _received[0] = signum
        raise KeyboardInterrupt(f"received {signal.Signals(signum).name}")

    _received[0] = None
    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:   # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def interrupt_status() -> int:
    """The exit status for the last interruption: 143 after SIGTERM, 130 after Ctrl-C (SIGINT)."""
    return EXIT_SIGTERM if _received[0] == signal.SIGTERM else EXIT_SIGINT


def interrupt_name() -> str:
    """``"SIGTERM"`` or ``"Ctrl-C"``, for messages."""
    return "SIGTERM" if _received[0] == signal.SIGTERM else "Ctrl-C"


def describe_os_error(err: OSError) -> tuple[str, int]:
    """A one-line explanation of a file-system error, with what to do, and its exit status.

    A full or read-only disk and a refused permission are run failures (1); a path that does not exist
    or cannot be a directory is a usage error (2).
    """
    where = f" ({err.filename})" if err.filename else ""
    code = err.errno
    if code == errno.ENOSPC or code == errno.EDQUOT:
        return (f"no space left on the device{where}: free some space or write elsewhere (e.g. --out DIR on "
                "another disk)", EXIT_FAILED)
    if code == errno.EROFS:
        return f"read-only file system{where}: write elsewhere (e.g. --out DIR)", EXIT_FAILED
    if code in (errno.EACCES, errno.EPERM):
        return (f"permission denied{where}: make it writable for this user or write elsewhere (e.g. --out DIR)",
                EXIT_FAILED)
    if code == errno.ENOTDIR:
        return (f"not a directory{where}: a part of this path is a regular file; choose another path",
                EXIT_USAGE)
    if code == errno.EEXIST:
        return (f"a file is in the way{where}: a folder is needed there; choose another path", EXIT_USAGE)
    if code == errno.EISDIR:
        return f"is a directory{where}: expected a file", EXIT_USAGE
    if code == errno.ENOENT:
        text = str(err) if not err.filename else f"no such file or directory{where}"
        return text, EXIT_USAGE
    if code == errno.EIO:
        return f"input/output error{where}: the disk or network file system failed; check it and resume", EXIT_FAILED
    return f"{err.strerror or err}{where}", EXIT_FAILED


def _message(err: BaseException) -> tuple[str, int, bool]:
    """The one-line message, the exit status, and whether to suggest ``--debug``, for an exception that
    reached the boundary."""
    from gradwise.train.checkpoint import CheckpointError
    from gradwise.train.config import ConfigError

    if isinstance(err, CLIError):
        return str(err), err.status, False
    if isinstance(err, (ConfigError, CheckpointError)):
        return str(err), EXIT_USAGE, False
    if isinstance(err, OSError):
        if err.errno is None and err.args:   # raised with a message of our own: FileNotFoundError("x: no such ...")
            return str(err), EXIT_USAGE if isinstance(err, FileNotFoundError) else EXIT_FAILED, False
        return (*describe_os_error(err), False)
    if isinstance(err, MemoryError):
        return "out of memory: use a smaller batch_size, a smaller model or less data ([data] limit)", EXIT_FAILED, False
    if isinstance(err, (ValueError, TypeError, RuntimeError, ImportError)):
        return str(err) or type(err).__name__, EXIT_FAILED, True   # gradwise's own errors read like PyTorch's
    return (f"unexpected {type(err).__name__}: {err} (this may be a bug in gradwise: rerun with --debug to see "
            "where, and report it)", EXIT_FAILED, False)


def run_command(func: Callable[[Any], int | None], args: Any, prog: str, debug: bool = False) -> int:
    """Run a sub-command and return its exit status; whatever it raises becomes one message on stderr.

    ``KeyboardInterrupt`` (Ctrl-C, or SIGTERM under :func:`terminate_as_interrupt`) exits 130/143 with
    no traceback.  With ``debug`` (or ``GRADWISE_DEBUG=1``) the traceback is printed before the message.
    ``SystemExit`` passes through (argparse's own usage errors).
    """
    debug = debug_enabled(debug)
    try:
        return int(func(args) or 0)
    except KeyboardInterrupt:
        if debug:
            traceback.print_exc()
        print(f"{prog}: interrupted ({interrupt_name()})", file=sys.stderr)
        return interrupt_status()
    except Exception as err:   # noqa: BLE001 - the boundary: every error ends in one message
        if debug:
            traceback.print_exc()
        message, status, suggest_debug = _message(err)
        hint = " (--debug shows the traceback)" if suggest_debug and not debug else ""
        print(f"{prog}: error: {message}{hint}", file=sys.stderr)
        return status
