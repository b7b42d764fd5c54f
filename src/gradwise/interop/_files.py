"""What the weight-file formats share: the error type, atomic writes, and format sniffing."""
from __future__ import annotations

import contextlib
import os
import struct
import tempfile
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

ZIP_MAGIC = b"PK\x03\x04"
# What :mod:`zipfile` raises on a damaged archive: bad structure or CRC, an unknown compression
# method (NotImplementedError), the "encrypted" flag (RuntimeError), bad deflate data, a bad UTF-8 name.
ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError, NotImplementedError,
              RuntimeError, zlib.error, struct.error)


class WeightsFormatError(ValueError):
    """A weight file that is not in the format it claims, or is truncated or corrupt."""


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike) -> Iterator[BinaryIO]:
    """Open a temporary file beside ``path`` for writing; on success it replaces ``path`` at once.

    ``os.replace`` within one folder is atomic, so a reader (or a crash) never sees a half
    written weight file: ``path`` holds either the old file or the complete new one.  On an
    error the temporary file is removed and ``path`` is left untouched.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp's 0600 would make saved weights private
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def sniff_format(path: str | os.PathLike) -> str:
    """The weight format of a file from its first bytes: "safetensors", "npz", "torch" or "torch-legacy".

    A zip archive is "torch" when it holds a ``<archive>/data.pkl`` member (torch.save's
    format since PyTorch 1.6), else "npz"; safetensors starts with an 8-byte header length
    followed by ``{`` (a ``.safetensors`` file that does not is read as one, to report what is
    wrong with it); torch's pre-1.6 format is a bare pickle (first byte 0x80).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no weight file at {path}")
    with open(path, "rb") as f:
        head = f.read(9)
    if head[:4] == ZIP_MAGIC:
        try:
            with zipfile.ZipFile(path) as zf:
                names = zf.namelist()
        except ZIP_ERRORS as exc:
            raise WeightsFormatError(f"{path}: a zip archive (.npz or PyTorch .pt) that cannot be read - "
                                     f"truncated or corrupt ({exc})") from exc
        return "torch" if any(n.endswith("/data.pkl") or n == "data.pkl" for n in names) else "npz"
    if (len(head) == 9 and head[8:9] == b"{") or path.suffix.lower() == ".safetensors":
        return "safetensors"  # (by suffix: the reader then says what is wrong with the header)
    if head[:1] == b"\x80":
        return "torch-legacy"
    raise WeightsFormatError(f"{path}: not a weight file gradwise can read (expected safetensors, .npz, or a "
                             f"PyTorch zip .pt/.pth; first bytes {head[:8]!r})")
