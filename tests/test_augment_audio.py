"""Audio augmentations, measured: durations, dominant frequencies, crest factor, SNR."""

import numpy as np
import pytest
from scipy.signal import hilbert

from gradwise.augment import (
    BackgroundNoise,
    Compose,
    DynamicRangeCompression,
    Gain,
    MelSpectrogram,
    PitchShift,
    Spectrogram,
    TimeShift,
    TimeStretch,
    mel_filterbank,
    preview,
)
from gradwise.augment.audio import colored_noise, crest_factor, hz_to_mel, mel_to_hz, snr_db

SR = 16000
T = np.arange(SR) / SR


def tone(freq=440.0, start=0.0, stop=1.0, amp=0.5):
    return np.where((T >= start) & (T < stop), amp * np.sin(2 * np.pi * freq * T), 0.0)


def dominant_hz(y, sr=SR):
    spectrum = np.abs(np.fft.rfft(y * np.hanning(len(y))))
    return np.argmax(spectrum) * sr / len(y)


def burst_seconds(y, sr=SR):
    """How long the envelope stays above half its maximum."""
    env = np.abs(hilbert(y))
    on = np.flatnonzero(env > 0.5 * env.max())
    return (on[-1] - on[0]) / sr


# ---- (1) time stretch ---------------------------------------------------------------
@pytest.mark.parametrize("rate", [0.8, 1.25, 1.5])
def test_time_stretch_divides_duration_and_keeps_frequency(rate):
    x = tone(440)
    y = TimeStretch(rate)(x)
    assert len(y) == round(len(x) / rate)
    assert abs(dominant_hz(y) - 440) <= 2 * SR / len(y)  # within two FFT bins
    burst = TimeStretch(rate)(tone(440, 0.2, 0.8))
    assert abs(burst_seconds(burst) - 0.6 / rate) < 0.04


def test_time_stretch_rate_one_is_identity_and_multichannel():
    x = np.stack([tone(440), tone(660)])
    np.testing.assert_array_equal(TimeStretch(1.0)(x), x)
    y = TimeStretch(2.0)(x)
    assert y.shape == (2, SR // 2)
    assert abs(dominant_hz(y[1]) - 660) <= 4


# ---- (2) pitch shift ----------------------------------------------------------------
@pytest.mark.parametrize("semitones", [-5, 3, 7, 12])
def test_pitch_shift_moves_dominant_frequency_keeps_duration(semitones):
    x = tone(440)
    y = PitchShift(semitones)(x)
    assert y.shape == x.shape
    expected = 440 * 2 ** (semitones / 12)
    assert abs(dominant_hz(y) - expected) <= 2  # bins are 1 Hz wide for a 1 s clip
    measured = 12 * np.log2(dominant_hz(y) / dominant_hz(x))
    assert abs(measured - semitones) < 0.05
    assert abs(burst_seconds(PitchShift(semitones)(tone(440, 0.2, 0.8))) - 0.6) < 0.04


# ---- (3) dynamic range compression --------------------------------------------------
SIGNALS = {
    "bursts": np.where((T % 0.25) < 0.05, 1.0, 0.1) * np.sin(2 * np.pi * 200 * T),
    "swell": (0.05 + 0.95 * (0.5 + 0.5 * np.sin(2 * np.pi * 2 * T)) ** 4) * np.sin(2 * np.pi * 300 * T),
    "noise": np.random.default_rng(0).standard_normal(SR) * np.where((T % 0.5) < 0.1, 0.3, 0.015),
}


@pytest.mark.parametrize("name", sorted(SIGNALS))
def test_compression_lowers_crest_factor(name):
    x = SIGNALS[name]
    y = DynamicRangeCompression(threshold_db=-20, ratio=4, sample_rate=SR)(x)
    assert crest_factor(y) < 0.9 * crest_factor(x)
    stronger = DynamicRangeCompression(threshold_db=-20, ratio=10, sample_rate=SR)(x)
    assert crest_factor(stronger) < crest_factor(y)


def test_compression_leaves_quiet_signals_and_ratio_one_alone():
    quiet = tone(amp=0.05)  # -26 dBFS peak, below the threshold
    np.testing.assert_allclose(DynamicRangeCompression(threshold_db=-20, sample_rate=SR)(quiet), quiet)
    loud = SIGNALS["bursts"]
    np.testing.assert_allclose(DynamicRangeCompression(ratio=1.0, sample_rate=SR)(loud), loud)
    stereo = np.stack([loud, 0.5 * loud])
    out = DynamicRangeCompression(sample_rate=SR)(stereo)
    np.testing.assert_allclose(out[1], 0.5 * out[0])  # linked channels keep the stereo image


# ---- (4) background noise -----------------------------------------------------------
@pytest.mark.parametrize("noise", ["white", "pink", "brown", "array", "list"])
@pytest.mark.parametrize("snr", [0.0, 10.0, 25.0])
def test_background_noise_measured_snr_matches_request(noise, snr):
    x = tone(440)
    rng = np.random.default_rng(1)
    source = {"array": rng.standard_normal(SR // 3), "list": [rng.standard_normal(2 * SR), rng.uniform(-1, 1, SR)]}
    y = BackgroundNoise(source.get(noise, noise), snr_db=snr).seed(0)(x)
    assert abs(snr_db(x, y - x) - snr) < 0.5


def test_background_noise_range_and_pink_spectrum():
    x = tone(440)
    aug = BackgroundNoise("white", snr_db=(5, 15)).seed(0)
    measured = [snr_db(x, aug(x) - x) for _ in range(20)]
    assert min(measured) >= 5 - 0.5 and max(measured) <= 15 + 0.5 and np.std(measured) > 1
    pink = colored_noise((2**16,), 1.0, np.random.default_rng(0))
    psd = np.abs(np.fft.rfft(pink)) ** 2
    freqs = np.fft.rfftfreq(len(pink))
    band = (freqs > 1e-3) & (freqs < 0.4)
    slope = np.polyfit(np.log(freqs[band]), np.log(psd[band]), 1)[0]
    assert -1.2 < slope < -0.8


def test_silent_clip_gets_no_noise():
    silent = np.zeros(1000)
    np.testing.assert_array_equal(BackgroundNoise(snr_db=10)(silent), silent)


# ---- gain, shift ----------------------------------------------------------------------
def test_gain_and_time_shift():
    x = tone()
    np.testing.assert_allclose(Gain(20 * np.log10(2))(x), 2 * x)
    np.testing.assert_array_equal(TimeShift(100, unit="samples")(x), np.roll(x, 100))
    np.testing.assert_array_equal(TimeShift(0.25)(x), np.roll(x, SR // 4))
    cut = TimeShift(-0.01, unit="seconds", sample_rate=SR, rollover=False)(x)
    np.testing.assert_array_equal(cut[:-160], x[160:])
    np.testing.assert_array_equal(cut[-160:], 0)
    with pytest.raises(ValueError, match="sample_rate"):
        TimeShift(0.1, unit="seconds")


# ---- features ---------------------------------------------------------------------------
def test_spectrogram_matches_torch_stft():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(0).standard_normal(4000)
    ours = Spectrogram(n_fft=256, hop_length=64)(x)
    ref = torch.stft(torch.from_numpy(x), 256, 64, window=torch.hann_window(256, dtype=torch.float64),
                     center=True, pad_mode="reflect", return_complex=True).abs() ** 2
    np.testing.assert_allclose(ours, ref.numpy(), rtol=1e-8, atol=1e-8)
    assert Spectrogram(n_fft=256, power=None)(x).dtype.kind == "c"


def test_mel_scales_and_filterbank():
    assert abs(hz_to_mel(1000.0, "htk") - 1000.0) < 0.1
    assert hz_to_mel(1000.0, "slaney") == pytest.approx(15.0)
    f = np.array([0.0, 200.0, 999.0, 1000.0, 4000.0, 8000.0])
    for scale in ("htk", "slaney"):
        np.testing.assert_allclose(mel_to_hz(hz_to_mel(f, scale), scale), f, atol=1e-6)
    fb = mel_filterbank(SR, 512, n_mels=40)
    assert fb.shape == (257, 40) and fb.min() >= 0 and fb.max() <= 1 + 1e-12
    centers = np.argmax(fb, axis=0)
    assert np.all(np.diff(centers) >= 0)  # bands go up in frequency
    slaney = mel_filterbank(SR, 4096, n_mels=20, mel_scale="slaney", norm="slaney")
    df = SR / 4096
    areas = slaney.sum(axis=0) * df  # unit-area triangles (Hz * weight), times 2 / width
    np.testing.assert_allclose(areas, 1.0, rtol=0.05)


def test_mel_spectrogram_puts_a_tone_in_the_right_band():
    mel = MelSpectrogram(SR, n_fft=512, hop_length=128, n_mels=64)
    out = mel(tone(1000))
    assert out.shape == (64, SR // 128 + 1)
    band = np.argmax(out.mean(axis=1))
    assert np.argmax(mel.filterbank[round(1000 * 512 / SR)]) == band


# ---- shared rules and input checks --------------------------------------------------
RANDOM = [TimeStretch((0.8, 1.25)), PitchShift((-3, 3)), DynamicRangeCompression((-30, -10), (2, 8), sample_rate=SR),
          BackgroundNoise("pink", (5, 20)), Gain((-6, 6)), TimeShift((-0.2, 0.2))]


@pytest.mark.parametrize("transform", RANDOM, ids=lambda t: type(t).__name__)
def test_reproducible_under_seed_and_different_across_seeds(transform):
    x = tone()[:4000].astype(np.float32)

    def run(seed):
        transform.seed(seed)
        return [transform(x) for _ in range(2)]

    first, again, other = run(0), run(0), run(1)
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert not all(a.shape == b.shape and np.array_equal(a, b) for a, b in zip(first, other))
    assert first[0].dtype == np.float32


@pytest.mark.parametrize("transform", RANDOM, ids=lambda t: type(t).__name__)
def test_p_zero_identity_p_one_applies(transform):
    x = tone()[:4000]
    transform.p = 0.0
    assert transform(x) is x
    transform.p = 1.0
    out = transform(x)
    assert out.shape != x.shape or not np.array_equal(out, x)


def test_batch_and_compose():
    batch = np.stack([tone(f)[:4000] for f in (300, 400, 500)])
    aug = Compose([Gain((-6, 6)), BackgroundNoise(snr_db=20)], seed=0)
    out = aug.apply_batch(batch)
    assert out.shape == batch.shape
    np.testing.assert_array_equal(out, Compose([Gain((-6, 6)), BackgroundNoise(snr_db=20)], seed=0).apply_batch(batch))


def test_waveform_layout_errors():
    with pytest.raises(ValueError, match=r"\(samples, channels\).*x\.T"):
        Gain(3)(np.zeros((1000, 2)))
    with pytest.raises(TypeError, match="float"):
        Gain(3)(np.zeros(100, dtype=np.int16))
    with pytest.raises(ValueError, match="waveform"):
        Gain(3)(np.zeros((2, 2, 100)))
    with pytest.raises(ValueError, match="ratio must be >= 1.0"):
        DynamicRangeCompression(ratio=0.5)
    with pytest.raises(ValueError, match="shorter than n_fft"):
        TimeStretch(1.2)(np.zeros(500))


def test_preview_audio_png(tmp_path):
    pytest.importorskip("matplotlib")
    path = preview(PitchShift((-2, 2)), tone()[:8000], n=2, path=tmp_path / "a.png", seed=0, sample_rate=SR)
    with open(path, "rb") as f:
        assert f.read(4) == b"\x89PNG"
