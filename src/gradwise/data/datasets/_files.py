"""What every reader shares: finding the user's files, and the errors when they are missing or corrupt.

gradwise never downloads anything, so the most common failure is a file that is not
where the reader looks.  The error then names the file, every folder that was searched,
the complete list of files the dataset expects, and says that the user must put them
there - enough to fix the problem without reading the source.
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

__all__ = ["DatasetFormatError", "find_file", "missing_file_error", "require_pillow",
           "require_scipy"]

PathLike = str | os.PathLike


class DatasetFormatError(ValueError):
    """A dataset file exists but is not in the expected format (wrong file, truncated or corrupt)."""


def missing_file_error(dataset: str, names: Sequence[str], folders: Sequence[PathLike],
                       expected: Sequence[str] | None = None, kind: str = "file") -> FileNotFoundError:
    """The error for a file (any of ``names``; ``kind`` says what it is) that is in none of ``folders``."""
    wanted = " or ".join(repr(n) for n in names)
    where = "\n".join(f"  {Path(f).expanduser().resolve()}" for f in folders)
    lines = [f"{dataset}: cannot find the {kind} {wanted}; looked in:", where,
             "gradwise never downloads datasets: place the files there yourself."]
    if expected:
        lines.append(f"Expected files: {', '.join(expected)}.")
    return FileNotFoundError("\n".join(lines))


def find_file(dataset: str, names: Sequence[str], folders: Sequence[PathLike],
              expected: Sequence[str] | None = None) -> Path:
    """The first of ``folders``/``name`` (for each name in order) that is a file, else a clear error."""
    for folder in folders:
        for name in names:
            path = Path(folder).expanduser() / name
            if path.is_file():
                return path
    raise missing_file_error(dataset, names, folders, expected)


def require_pillow(what: str):
    """Import Pillow's ``Image`` module, or explain how to install it."""
    try:
        from PIL import Image
    except ImportError as exc:  # pragma: no cover - Pillow is installed in the test environment
        raise ImportError(f"{what} needs Pillow to decode images: pip install Pillow "
                          "(or pip install 'gradwise[image]')") from exc
    return Image


def require_scipy(what: str):
    """Import ``scipy``, or explain how to install it."""
    try:
        import scipy.io.wavfile
        import scipy.signal
    except ImportError as exc:  # pragma: no cover - SciPy is installed in the test environment
        raise ImportError(f"{what} needs SciPy: pip install scipy (or pip install 'gradwise[signal]')") from exc
    return scipy
