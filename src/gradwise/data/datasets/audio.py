"""Audio files: readers returning float waveforms, and :class:`AudioFolder` (one sub-folder per class).

:func:`read_audio` reads WAV with NumPy (below) and FLAC, Ogg (Vorbis, Opus) and whatever else
libsndfile reads through the optional ``soundfile`` package (``pip install "gradwise[audio]"``; its
wheels bundle libsndfile), with a clear error when it is missing.  soundfile scales integer
samples by the same full-scale rule, so a clip reads the same from WAV and from FLAC.

Integer PCM (8-bit unsigned, 16-, 24- and 32-bit signed) is read with the standard
library's :mod:`wave`; WAVs that ``wave`` does not handle - IEEE float samples, the
WAVE_FORMAT_EXTENSIBLE header - go to :func:`scipy.io.wavfile.read`.  Either way the
samples are scaled to float32 in [-1, 1) by the same rule (full scale of the integer
type maps to 1.0) and laid out as (channels, samples), torchaudio's convention, which
is what :mod:`gradwise.augment.audio` expects.
"""
from __future__ import annotations

import os
import wave
from collections.abc import Callable, Sequence
from math import gcd
from pathlib import Path

import numpy as np

from gradwise.data.datasets._files import DatasetFormatError, missing_file_error, require_scipy
from gradwise.data.datasets.folder import ClassFolder

__all__ = ["read_audio", "read_wav", "pcm_to_float", "resample", "AudioFolder", "AUDIO_EXTENSIONS"]

#: What :class:`AudioFolder` picks up by default: WAV, and FLAC/Ogg/Opus (those need soundfile).
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".oga", ".opus")


def pcm_to_float(samples: np.ndarray) -> np.ndarray:
    """Integer PCM samples as float32 in [-1, 1); float samples are returned as float32.

    Unsigned 8-bit audio is centred on 128; signed types are divided by their full scale
    (2**15 for int16, 2**31 for int32 - 24-bit audio is read into the top three bytes of
    an int32, so the same divisor applies).
    """
    if samples.dtype.kind == "f":
        return samples.astype(np.float32, copy=False)
    if samples.dtype == np.uint8:
        return (samples.astype(np.float32) - 128) / 128
    if samples.dtype.kind == "i":
        return (samples / float(2 ** (8 * samples.dtype.itemsize - 1))).astype(np.float32)
    raise DatasetFormatError(f"unsupported WAV sample type {samples.dtype}")


def _read_with_wave(path: Path) -> tuple[np.ndarray, int]:
    """(frames, channels) integer array and the rate, via the standard library."""
    with wave.open(str(path), "rb") as w:
        channels, width, rate = w.getnchannels(), w.getsampwidth(), w.getframerate()
        raw = w.readframes(w.getnframes())
    if width == 1:
        samples = np.frombuffer(raw, dtype=np.uint8)
    elif width == 2:
        samples = np.frombuffer(raw, dtype="<i2")
    elif width == 3:  # pad each 3-byte little-endian sample with a low zero byte -> int32
        triples = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3)
        padded = np.zeros((len(triples), 4), dtype=np.uint8)
        padded[:, 1:] = triples
        samples = padded.view("<i4").ravel()
    elif width == 4:
        samples = np.frombuffer(raw, dtype="<i4")
    else:
        raise DatasetFormatError(f"{path}: {8 * width}-bit PCM is not supported")
    return samples.reshape(-1, channels), rate


def read_wav(path: str | os.PathLike) -> tuple[np.ndarray, int]:
    """A WAV file as ``(waveform float32 (channels, samples) in [-1, 1], sample_rate)``."""
    path = Path(path)
    if not path.is_file():
        raise missing_file_error("read_wav", [path.name], [path.parent])
    with open(path, "rb") as f:
        head = f.read(12)
    if head[:4] not in (b"RIFF", b"RIFX") or head[8:12] != b"WAVE":
        raise DatasetFormatError(f"{path}: not a WAV file (no RIFF/WAVE header; starts with {head[:12]!r})")
    try:
        frames, rate = _read_with_wave(path)
    except (wave.Error, EOFError) as wave_error:  # float or extensible WAV: SciPy reads those
        scipy = require_scipy(f"reading {path.name} (not integer PCM that the wave module reads)")
        try:
            rate, frames = scipy.io.wavfile.read(path)
        except (ValueError, EOFError) as exc:
            raise DatasetFormatError(f"{path}: cannot read this WAV ({wave_error}; SciPy: {exc})") from exc
        frames = frames.reshape(len(frames), -1)
    return np.ascontiguousarray(pcm_to_float(frames).T), int(rate)


def _require_soundfile(path: Path):
    try:
        import soundfile
    except ImportError:
        raise ImportError(f"reading {path.name} needs the soundfile package (gradwise reads only WAV by itself): "
                          "pip install 'gradwise[audio]' (or pip install soundfile; its wheels bundle libsndfile)") \
            from None
    except OSError as exc:     # soundfile installed but libsndfile cannot be loaded
        raise ImportError(f"reading {path.name}: soundfile is installed but libsndfile cannot be loaded ({exc})") \
            from None
    return soundfile


def read_audio(path: str | os.PathLike) -> tuple[np.ndarray, int]:
    """An audio file as ``(waveform float32 (channels, samples) in [-1, 1], sample_rate)``.

    WAV is read by :func:`read_wav` (no dependency); FLAC, Ogg Vorbis/Opus and the other formats
    libsndfile knows need ``soundfile``.  The format is told from the file's first bytes.
    """
    path = Path(path)
    if not path.is_file():
        raise missing_file_error("read_audio", [path.name], [path.parent])
    with open(path, "rb") as f:
        head = f.read(12)
    if head[:4] in (b"RIFF", b"RIFX") and head[8:12] == b"WAVE":
        return read_wav(path)
    soundfile = _require_soundfile(path)
    try:
        frames, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    except RuntimeError as exc:    # soundfile's LibsndfileError is one
        raise DatasetFormatError(f"{path}: not an audio file soundfile can read (starts with {head!r}; {exc})") \
            from exc
    return np.ascontiguousarray(frames.T), int(rate)


def resample(waveform: np.ndarray, orig_rate: int, new_rate: int) -> np.ndarray:
    """``waveform`` (..., samples) at ``new_rate`` (polyphase filtering, ``scipy.signal.resample_poly``)."""
    if orig_rate == new_rate:
        return waveform
    scipy = require_scipy("resampling audio")
    g = gcd(orig_rate, new_rate)
    return scipy.signal.resample_poly(waveform, new_rate // g, orig_rate // g, axis=-1).astype(np.float32)


def _fit_length(waveform: np.ndarray, num_samples: int) -> np.ndarray:
    """Crop or zero-pad at the end to ``num_samples`` (so that clips can be batched)."""
    if waveform.shape[-1] >= num_samples:
        return waveform[..., :num_samples]
    return np.pad(waveform, [(0, 0)] * (waveform.ndim - 1) + [(0, num_samples - waveform.shape[-1])])


class AudioFolder(ClassFolder):
    """Recordings (WAV; FLAC and Ogg with soundfile) in one sub-folder per class.

    Samples are ``(waveform float32 (channels, samples), sample_rate, class index)`` - the
    order torchaudio's datasets use.  ``sample_rate=`` resamples every clip to that rate
    (otherwise each keeps its own); ``mono=True`` averages the channels (keeping a
    channel axis of 1); ``num_samples=`` crops or zero-pads every clip to that length so
    that the default collate can stack them.  ``transform`` receives the waveform.
    """

    kind = "recording"

    def __init__(self, root: str | os.PathLike, sample_rate: int | None = None, transform: Callable | None = None,
                 target_transform: Callable | None = None, extensions: Sequence[str] = AUDIO_EXTENSIONS,
                 mono: bool = False, num_samples: int | None = None,
                 is_valid_file: Callable[[str], bool] | None = None) -> None:
        super().__init__(root, extensions, transform, target_transform, is_valid_file)
        self.sample_rate, self.mono, self.num_samples = sample_rate, mono, num_samples

    def _fields(self, path: str) -> tuple:
        waveform, rate = read_audio(path)
        if self.sample_rate is not None:
            waveform, rate = resample(waveform, rate, self.sample_rate), self.sample_rate
        if self.mono:
            waveform = waveform.mean(axis=0, keepdims=True)
        if self.num_samples is not None:
            waveform = _fit_length(waveform, self.num_samples)
        return waveform, rate
