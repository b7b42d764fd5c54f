"""Audio augmentations and spectrogram features on float waveforms.

The lecture lists four types of audio data augmentation: (1) time stretching, (2) pitch
shifting, (3) dynamic range compression and (4) background noise.  Each one yields a
"slightly modified copy" of a recording that a listener would still label the same
(same word, same bird, same genre), which is what makes it a regularizer.  Gain and
time shift are the two cheap extras every audio pipeline also uses, and
:class:`Spectrogram` / :class:`MelSpectrogram` turn a waveform into the 2-D image a
CNN consumes.

Conventions
-----------
* A sample is a float waveform of shape (samples,) or (channels, samples); a batch is
  (N, samples) or (N, channels, samples) (``apply_batch`` loops over the samples).
* Transforms that reason in seconds take ``sample_rate`` (Hz).
* Parameters (audio keeps its own meanings, unlike vision's torchvision ranges): a
  number x means exactly x; a ``(low, high)`` pair means a value drawn uniformly from
  [low, high] on every call (:class:`~gradwise.augment.compose.Param`).
  ``Gain(3)`` always adds 3 dB; ``Gain((-6, 6))`` draws the gain.
* Draws come from gradwise's global generator (``gradwise.manual_seed``) unless the
  transform is given its own ``seed=``.
* STFTs for the phase vocoder use ``scipy.signal.stft``/``istft`` (Hann window);
  features use a centred, reflect-padded STFT with a periodic Hann window, the
  convention of ``torch.stft(center=True)`` / torchaudio / librosa.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
try:
    from scipy import ndimage, signal
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError("gradwise.augment.audio needs SciPy: pip install 'gradwise[signal]'") from exc

from .compose import Param, Seed, Transform

__all__ = [
    "AudioTransform",
    "TimeStretch",
    "PitchShift",
    "DynamicRangeCompression",
    "BackgroundNoise",
    "Gain",
    "TimeShift",
    "Spectrogram",
    "MelSpectrogram",
    "time_stretch",
    "colored_noise",
    "mel_filterbank",
    "hz_to_mel",
    "mel_to_hz",
    "amplitude_to_db",
    "crest_factor",
    "snr_db",
]


# ---- input checks and measurements ------------------------------------------------
def check_waveform(x: Any, who: str = "transform") -> np.ndarray:
    """Validate a (samples,) or (channels, samples) float waveform."""
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.floating):
        raise TypeError(f"{who} expects a float waveform, got dtype {x.dtype}; "
                        "convert integer PCM with x.astype(np.float32) / 32768")
    if x.ndim not in (1, 2):
        raise ValueError(f"{who} expects a (samples,) or (channels, samples) waveform, got shape {x.shape}")
    if x.ndim == 2 and x.shape[0] > x.shape[1]:
        raise ValueError(f"{who} expects (channels, samples), got shape {x.shape}, which looks like "
                         "(samples, channels); use x.T")
    return x


def crest_factor(x: np.ndarray) -> float:
    """Peak over RMS (>= 1); dynamic range compression lowers it."""
    x = np.asarray(x, dtype=np.float64)
    return float(np.max(np.abs(x)) / np.sqrt(np.mean(x**2)))


def snr_db(signal_: np.ndarray, noise: np.ndarray) -> float:
    """Signal-to-noise ratio ``10 log10(P_signal / P_noise)`` of two waveforms, in dB."""
    return float(10 * np.log10(np.mean(np.square(signal_, dtype=np.float64))
                               / np.mean(np.square(noise, dtype=np.float64))))


def _fit_length(x: np.ndarray, length: int) -> np.ndarray:
    """Trim or zero-pad the last axis to ``length`` samples."""
    if x.shape[-1] >= length:
        return x[..., :length]
    return np.pad(x, [(0, 0)] * (x.ndim - 1) + [(0, length - x.shape[-1])])


class AudioTransform(Transform):
    """Base of waveform transforms: (samples,) / (channels, samples) samples."""

    def _check(self, x: Any) -> np.ndarray:
        return check_waveform(x, type(self).__name__)

    def _check_batch(self, x: Any) -> np.ndarray:
        x = np.asarray(x)
        if x.ndim not in (2, 3):
            raise ValueError(f"{type(self).__name__}.apply_batch expects (N, samples) or "
                             f"(N, channels, samples), got shape {x.shape}")
        return x


# ---- (1) time stretching and (2) pitch shifting -----------------------------------
def time_stretch(x: np.ndarray, rate: float, n_fft: int = 1024, hop_length: int | None = None) -> np.ndarray:
    """Phase-vocoder time stretch: duration divided by ``rate``, frequencies kept.

    The STFT is resampled at frame positions ``0, rate, 2 rate, ...``: magnitudes are
    interpolated between neighbouring frames and each bin's phase is advanced by its
    measured instantaneous frequency (expected advance plus the wrapped deviation), so
    the partials stay coherent (Flanagan & Golden 1966; librosa's ``phase_vocoder``).
    Output length is ``round(len / rate)``.
    """
    if rate <= 0:
        raise ValueError(f"rate must be > 0, got {rate}")
    length = int(round(x.shape[-1] / rate))
    if rate == 1.0:
        return x.copy()
    if x.shape[-1] < n_fft:
        raise ValueError(f"time_stretch: clip of {x.shape[-1]} samples is shorter than n_fft={n_fft}; "
                         "pass a smaller n_fft")
    hop = hop_length or n_fft // 4
    _, _, spec = signal.stft(x, nperseg=n_fft, noverlap=n_fft - hop, window="hann")
    steps = np.arange(0, spec.shape[-1], rate)
    padded = np.concatenate([spec, np.zeros_like(spec[..., :2])], axis=-1)
    idx = steps.astype(np.int64)
    alpha = steps - idx
    left, right = padded[..., idx], padded[..., idx + 1]
    magnitude = (1 - alpha) * np.abs(left) + alpha * np.abs(right)
    expected = 2 * np.pi * hop * np.arange(spec.shape[-2]) / n_fft
    deviation = np.angle(right) - np.angle(left) - expected[:, None]
    deviation -= 2 * np.pi * np.round(deviation / (2 * np.pi))
    advance = np.cumsum(expected[:, None] + deviation, axis=-1)
    phase = np.angle(spec[..., :1]) + np.concatenate([np.zeros_like(advance[..., :1]), advance[..., :-1]], axis=-1)
    _, y = signal.istft(magnitude * np.exp(1j * phase), nperseg=n_fft, noverlap=n_fft - hop, window="hann")
    return _fit_length(y, length).astype(x.dtype, copy=False)


class TimeStretch(AudioTransform):
    """Play faster (``rate > 1``, shorter) or slower (``rate < 1``) without changing pitch.

    ``rate``: a number x means exactly rate x; ``(low, high)`` such as ``(0.8, 1.25)``
    means uniform in [low, high].  The output has ``round(len / rate)`` samples (crop or
    pad afterwards if the model needs fixed length).
    """

    def __init__(self, rate: float | tuple[float, float], n_fft: int = 1024,
                 hop_length: int | None = None, p: float = 1.0, *, seed: Seed = None) -> None:
        super().__init__(p, seed=seed)
        self.rate = Param(rate, "rate", bounds=(1e-3, None))
        self.n_fft, self.hop_length = n_fft, hop_length

    def apply(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return time_stretch(x, self.rate.sample(rng), self.n_fft, self.hop_length)


class PitchShift(AudioTransform):
    """Shift every frequency by ``semitones`` (x 2^(semitones/12)), duration unchanged.

    ``semitones``: a number x means exactly x semitones; ``(low, high)`` uniform in [low, high].

    Time-stretch by the frequency ratio (longer for an upward shift), then resample back
    to the original length with ``scipy.signal.resample_poly``; the ratio is rounded to a
    fraction with denominator <= 100 (an error below 0.2 cent) so the polyphase
    resampler can do it exactly.
    """

    def __init__(self, semitones: float | tuple[float, float], n_fft: int = 1024,
                 hop_length: int | None = None, p: float = 1.0, *, seed: Seed = None) -> None:
        super().__init__(p, seed=seed)
        self.semitones = Param(semitones, "semitones", bounds=(-48, 48))
        self.n_fft, self.hop_length = n_fft, hop_length

    def apply(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        steps = self.semitones.sample(rng)
        ratio = Fraction(2.0 ** (steps / 12.0)).limit_denominator(100)
        if ratio == 1:
            return x.copy()
        longer = time_stretch(x, float(1 / ratio), self.n_fft, self.hop_length)
        y = signal.resample_poly(longer, ratio.denominator, ratio.numerator, axis=-1)
        return _fit_length(y, x.shape[-1]).astype(x.dtype, copy=False)


# ---- (3) dynamic range compression -----------------------------------------------
class DynamicRangeCompression(AudioTransform):
    """A feed-forward compressor: loud passages are turned down, quiet ones left alone.

    Per sample, the level (peak over channels, in dBFS) above ``threshold_db`` is reduced
    by ``ratio`` (4 means 4 dB over becomes 1 dB over).  The gain reduction is smoothed by
    an envelope follower with separate ``attack`` and ``release`` time constants in
    seconds (one-pole filters, the "smooth, log-domain" design of Giannoulis, Massberg &
    Reiss 2012), so the gain follows the envelope rather than the waveform.

    A causal compressor lets the first ``attack`` seconds of every onset through
    unreduced ("overshoot"), which can *raise* the crest factor of percussive sounds.
    Working offline we can look ahead for free: the level at each sample is the peak
    over the next ``lookahead`` seconds (default ``3 * attack``, so the gain has settled
    by the time the transient arrives; 0 gives the classic causal behaviour).  Peaks
    then fall relative to the average level: the crest factor (peak / RMS) decreases.
    ``makeup_gain_db`` is added afterwards.

    ``threshold_db``, ``ratio``, ``attack``, ``release``, ``makeup_gain_db``: a number x
    means exactly x; ``(low, high)`` means uniform in [low, high] on every call.
    """

    def __init__(
        self,
        threshold_db: float | tuple[float, float] = -20.0,
        ratio: float | tuple[float, float] = 4.0,
        attack: float | tuple[float, float] = 0.005,
        release: float | tuple[float, float] = 0.05,
        sample_rate: int = 16000,
        makeup_gain_db: float | tuple[float, float] = 0.0,
        lookahead: float | None = None,
        p: float = 1.0,
        *,
        seed: Seed = None,
    ) -> None:
        super().__init__(p, seed=seed)
        self.threshold_db = Param(threshold_db, "threshold_db", bounds=(None, 0.0))
        self.ratio = Param(ratio, "ratio", bounds=(1.0, None))
        self.attack = Param(attack, "attack", bounds=(0.0, None))
        self.release = Param(release, "release", bounds=(0.0, None))
        self.makeup_gain_db = Param(makeup_gain_db, "makeup_gain_db")
        self.sample_rate = sample_rate
        self.lookahead = lookahead

    def gain_reduction_db(self, x: np.ndarray, threshold_db: float, ratio: float,
                          attack: float, release: float) -> np.ndarray:
        """The smoothed gain reduction (>= 0 dB) for each sample of ``x``."""
        level = np.abs(x) if x.ndim == 1 else np.abs(x).max(axis=0)
        ahead = int(round((3 * attack if self.lookahead is None else self.lookahead) * self.sample_rate / 2))
        if ahead > 0:  # peak over [n, n + 2 * ahead]
            level = ndimage.maximum_filter1d(level, 2 * ahead + 1, origin=-ahead, mode="nearest")
        level_db = 20 * np.log10(np.maximum(level, 1e-10))
        target = np.maximum(level_db - threshold_db, 0.0) * (1 - 1 / ratio)
        a_att = np.exp(-1 / (attack * self.sample_rate)) if attack > 0 else 0.0
        a_rel = np.exp(-1 / (release * self.sample_rate)) if release > 0 else 0.0
        smoothed, g = [], float(target[0])
        for t in target.tolist():  # sequential by nature: the branch depends on the state
            a = a_att if t > g else a_rel
            g = a * g + (1 - a) * t
            smoothed.append(g)
        return np.asarray(smoothed)

    def apply(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        reduction = self.gain_reduction_db(
            x, self.threshold_db.sample(rng), self.ratio.sample(rng),
            self.attack.sample(rng), self.release.sample(rng))
        gain = 10 ** ((self.makeup_gain_db.sample(rng) - reduction) / 20)
        return (x * gain).astype(x.dtype, copy=False)


# ---- (4) background noise ---------------------------------------------------------
def colored_noise(shape: tuple[int, ...], exponent: float, rng: np.random.Generator) -> np.ndarray:
    """Gaussian noise with power spectral density ~ 1 / f**exponent along the last axis.

    ``exponent`` 0: white, 1: pink (equal power per octave), 2: brown.  Made by shaping
    the spectrum of white noise (amplitude ~ f**(-exponent/2)).
    """
    white = rng.standard_normal(shape)
    if exponent == 0:
        return white
    n = shape[-1]
    f = np.fft.rfftfreq(n)
    f[0] = f[1] if n > 1 else 1.0
    return np.fft.irfft(np.fft.rfft(white, axis=-1) * f ** (-exponent / 2), n=n, axis=-1)


_COLORS = {"white": 0.0, "pink": 1.0, "brown": 2.0}


class BackgroundNoise(AudioTransform):
    """Mix in noise at a signal-to-noise ratio of ``snr_db`` dB.

    ``snr_db``: a number x means exactly x dB; ``(low, high)`` uniform in [low, high].

    ``noise``: ``"white"``, ``"pink"`` or ``"brown"`` (generated), a waveform (e.g. cafe
    or street recordings; tiled if too short, a random excerpt if longer), or a list of
    waveforms to pick from.  The noise is scaled so that ``10 log10(P_signal / P_noise)``
    equals ``snr_db`` exactly over the clip.  Silent clips are returned unchanged.
    """

    def __init__(self, noise: str | np.ndarray | Sequence[np.ndarray] = "white",
                 snr_db: float | tuple[float, float] = (5.0, 30.0), p: float = 1.0, *, seed: Seed = None) -> None:
        super().__init__(p, seed=seed)
        if isinstance(noise, str):
            if noise not in _COLORS:
                raise ValueError(f"noise must be one of {sorted(_COLORS)} or a waveform, got {noise!r}")
            self.noise: Any = noise
        else:
            clips = [noise] if isinstance(noise, np.ndarray) else list(noise)
            self.noise = [check_waveform(c, "BackgroundNoise(noise=...)") for c in clips]
        self.snr_db = Param(snr_db, "snr_db")

    def _draw_noise(self, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
        if isinstance(self.noise, str):
            return colored_noise(shape, _COLORS[self.noise], rng)
        clip = self.noise[int(rng.integers(len(self.noise)))]
        n = shape[-1]
        if clip.shape[-1] < n:
            clip = np.tile(clip, int(np.ceil(n / clip.shape[-1])))
        start = int(rng.integers(0, clip.shape[-1] - n + 1))
        return np.broadcast_to(clip[..., start:start + n], shape)

    def apply(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        noise = self._draw_noise(x.shape, rng).astype(np.float64)
        p_signal = np.mean(np.square(x, dtype=np.float64))
        p_noise = np.mean(noise**2)
        if p_signal == 0:
            return x.copy()
        if p_noise == 0:
            raise ValueError("BackgroundNoise: the noise clip is silent")
        scale = np.sqrt(p_signal / (p_noise * 10 ** (self.snr_db.sample(rng) / 10)))
        return (x + scale * noise).astype(x.dtype)


# ---- cheap extras ------------------------------------------------------------------
class Gain(AudioTransform):
    """Multiply by ``10 ** (gain_db / 20)`` (loudness invariance).

    ``gain_db``: a number x means exactly x dB; ``(low, high)`` uniform in [low, high].
    """

    def __init__(self, gain_db: float | tuple[float, float] = (-6.0, 6.0), p: float = 1.0,
                 *, seed: Seed = None) -> None:
        super().__init__(p, seed=seed)
        self.gain_db = Param(gain_db, "gain_db")

    def apply(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return (x * 10 ** (self.gain_db.sample(rng) / 20)).astype(x.dtype, copy=False)


class TimeShift(AudioTransform):
    """Delay (positive ``shift``) or advance (negative) the clip, keeping its length.

    ``shift``: a number x means exactly x; ``(low, high)`` uniform in [low, high].

    ``unit``: ``"fraction"`` of the clip length (default), ``"seconds"`` (needs
    ``sample_rate``) or ``"samples"``.  ``rollover=True`` wraps the shifted-out part
    around (``np.roll``); otherwise the gap is filled with silence.
    """

    def __init__(self, shift: float | tuple[float, float] = (-0.1, 0.1), unit: str = "fraction",
                 rollover: bool = True, sample_rate: int | None = None, p: float = 1.0,
                 *, seed: Seed = None) -> None:
        super().__init__(p, seed=seed)
        if unit not in ("fraction", "seconds", "samples"):
            raise ValueError(f"unit must be 'fraction', 'seconds' or 'samples', got {unit!r}")
        if unit == "seconds" and sample_rate is None:
            raise ValueError("TimeShift(unit='seconds') needs sample_rate")
        self.shift = Param(shift, "shift")
        self.unit, self.rollover, self.sample_rate = unit, rollover, sample_rate

    def apply(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        n = x.shape[-1]
        scale = {"fraction": n, "seconds": self.sample_rate, "samples": 1}[self.unit]
        k = int(round(self.shift.sample(rng) * scale))
        if self.rollover:
            return np.roll(x, k, axis=-1)
        out = np.zeros_like(x)
        if abs(k) < n:
            if k >= 0:
                out[..., k:] = x[..., :n - k]
            else:
                out[..., :n + k] = x[..., -k:]
        return out


# ---- features: spectrograms --------------------------------------------------------
def hz_to_mel(f: Any, mel_scale: str = "htk") -> np.ndarray:
    """Hertz -> mels.  ``"htk"``: 2595 log10(1 + f/700).  ``"slaney"``: linear below
    1 kHz (3 mels per 200 Hz), logarithmic above (the Auditory Toolbox / librosa default)."""
    f = np.asarray(f, dtype=np.float64)
    if mel_scale == "htk":
        return 2595.0 * np.log10(1.0 + f / 700.0)
    if mel_scale != "slaney":
        raise ValueError(f"mel_scale must be 'htk' or 'slaney', got {mel_scale!r}")
    logstep = np.log(6.4) / 27.0
    return np.where(f >= 1000.0, 15.0 + np.log(np.maximum(f, 1e-10) / 1000.0) / logstep, 3.0 * f / 200.0)


def mel_to_hz(m: Any, mel_scale: str = "htk") -> np.ndarray:
    """Inverse of :func:`hz_to_mel`."""
    m = np.asarray(m, dtype=np.float64)
    if mel_scale == "htk":
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)
    if mel_scale != "slaney":
        raise ValueError(f"mel_scale must be 'htk' or 'slaney', got {mel_scale!r}")
    logstep = np.log(6.4) / 27.0
    return np.where(m >= 15.0, 1000.0 * np.exp(logstep * (m - 15.0)), 200.0 * m / 3.0)


def mel_filterbank(sample_rate: int, n_fft: int, n_mels: int = 128, f_min: float = 0.0,
                   f_max: float | None = None, mel_scale: str = "htk", norm: str | None = None) -> np.ndarray:
    """Triangular mel filters, shape (n_fft // 2 + 1, n_mels).

    Same construction as ``torchaudio.functional.melscale_fbanks`` and
    ``librosa.filters.mel`` (transposed): ``n_mels + 2`` points equally spaced in mels
    between ``f_min`` and ``f_max`` (default Nyquist), triangles over the FFT bin
    frequencies.  torchaudio's default is ``mel_scale="htk", norm=None``; librosa's is
    ``mel_scale="slaney", norm="slaney"`` (each triangle scaled to unit area, so bands
    have equal energy).
    """
    f_max = sample_rate / 2 if f_max is None else f_max
    if not 0 <= f_min < f_max <= sample_rate / 2:
        raise ValueError(f"need 0 <= f_min < f_max <= sample_rate/2, got f_min={f_min}, f_max={f_max}")
    if norm not in (None, "slaney"):
        raise ValueError(f"norm must be None or 'slaney', got {norm!r}")
    freqs = np.linspace(0, sample_rate / 2, n_fft // 2 + 1)
    edges = mel_to_hz(np.linspace(hz_to_mel(f_min, mel_scale), hz_to_mel(f_max, mel_scale), n_mels + 2), mel_scale)
    widths = np.diff(edges)
    slopes = edges[None, :] - freqs[:, None]  # (n_freqs, n_mels + 2)
    rising = -slopes[:, :-2] / widths[:-1]
    falling = slopes[:, 2:] / widths[1:]
    fb = np.maximum(0.0, np.minimum(rising, falling))
    if norm == "slaney":
        fb *= 2.0 / (edges[2:] - edges[:-2])
    return fb


def amplitude_to_db(S: np.ndarray, ref: float = 1.0, amin: float = 1e-10,
                    top_db: float | None = 80.0, power: bool = True) -> np.ndarray:
    """Decibels of a (power or magnitude) spectrogram, floored ``top_db`` below its peak."""
    factor = 10.0 if power else 20.0
    db = factor * np.log10(np.maximum(S, amin) / ref)
    if top_db is not None:
        db = np.maximum(db, db.max() - top_db)
    return db


class Spectrogram(AudioTransform):
    """|STFT|**power, shape (..., n_fft // 2 + 1, frames): a waveform made into an image.

    Centred, reflect-padded frames and a periodic Hann window (torchaudio's defaults:
    ``n_fft=400``, ``hop_length=n_fft // 2``); ``power=None`` returns the complex STFT.
    Deterministic (no ``p``).
    """

    def __init__(self, n_fft: int = 400, hop_length: int | None = None, power: float | None = 2.0,
                 center: bool = True, pad_mode: str = "reflect") -> None:
        super().__init__(p=1.0)
        self.n_fft, self.hop_length, self.power = n_fft, hop_length or n_fft // 2, power
        self.center, self.pad_mode = center, pad_mode
        self._window = signal.get_window("hann", n_fft)  # periodic, like torch.hann_window

    def stft(self, x: np.ndarray) -> np.ndarray:
        """Complex STFT, shape (..., n_fft // 2 + 1, frames)."""
        if self.center:
            half = self.n_fft // 2
            x = np.pad(x, [(0, 0)] * (x.ndim - 1) + [(half, half)], mode=self.pad_mode)
        if x.shape[-1] < self.n_fft:
            raise ValueError(f"{type(self).__name__}: clip of {x.shape[-1]} samples is shorter than n_fft={self.n_fft}")
        frames = sliding_window_view(x, self.n_fft, axis=-1)[..., ::self.hop_length, :]
        return np.swapaxes(np.fft.rfft(frames * self._window, axis=-1), -1, -2)

    def apply(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        spec = self.stft(x)
        if self.power is None:
            return spec
        return (np.abs(spec) ** self.power).astype(x.dtype, copy=False)


class MelSpectrogram(Spectrogram):
    """Power spectrogram on the mel scale, shape (..., n_mels, frames).

    Defaults follow torchaudio (HTK mel scale, no filter normalization); pass
    ``mel_scale="slaney", norm="slaney"`` for librosa's.  Take ``amplitude_to_db`` of it
    for a log-mel spectrogram, the usual CNN input.
    """

    def __init__(self, sample_rate: int, n_fft: int = 400, hop_length: int | None = None,
                 n_mels: int = 128, f_min: float = 0.0, f_max: float | None = None,
                 mel_scale: str = "htk", norm: str | None = None, power: float = 2.0) -> None:
        super().__init__(n_fft, hop_length, power)
        self.sample_rate, self.n_mels = sample_rate, n_mels
        self.filterbank = mel_filterbank(sample_rate, n_fft, n_mels, f_min, f_max, mel_scale, norm)

    def apply(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        spec = super().apply(x, rng)
        return np.einsum("fm,...ft->...mt", self.filterbank, spec).astype(x.dtype, copy=False)
