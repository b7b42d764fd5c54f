"""FLAC and Ogg through the optional soundfile package: read like WAV, or a clear error without it."""
import sys
import wave

import numpy as np
import pytest

from gradwise.data.datasets import AudioFolder, DatasetFormatError, read_audio, read_wav

soundfile = pytest.importorskip("soundfile")


def _tone(rate=8000, n=800):
    t = np.arange(n) / rate
    left = 0.5 * np.sin(2 * np.pi * 440 * t)
    return np.stack([left, -0.25 * left], axis=1)        # (frames, channels)


def _pcm16_wav(path, frames, rate):
    ints = np.round(frames * 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(frames.shape[1])
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(ints.tobytes())


def test_flac_reads_exactly_as_the_same_pcm_in_a_wav(tmp_path):
    frames = _tone()
    _pcm16_wav(tmp_path / "a.wav", frames, 8000)
    ints = np.round(frames * 32767).astype(np.int16)
    soundfile.write(tmp_path / "a.flac", ints, 8000, subtype="PCM_16")      # FLAC is lossless
    flac, rate = read_audio(tmp_path / "a.flac")
    wav, wav_rate = read_wav(tmp_path / "a.wav")
    assert rate == wav_rate == 8000 and flac.shape == (2, 800) and flac.dtype == np.float32
    np.testing.assert_array_equal(flac, wav)
    np.testing.assert_array_equal(read_audio(tmp_path / "a.wav")[0], wav)   # WAV needs no soundfile


def test_ogg_vorbis_is_read_approximately(tmp_path):
    frames = _tone(16000, 4000)
    soundfile.write(tmp_path / "a.ogg", frames, 16000, format="OGG", subtype="VORBIS")
    ogg, rate = read_audio(tmp_path / "a.ogg")
    assert rate == 16000 and ogg.shape[0] == 2 and abs(ogg.shape[1] - 4000) <= 64
    n = min(ogg.shape[1], 4000)
    corr = np.corrcoef(ogg[0, 500:n - 500], frames[500:n - 500, 0])[0, 1]
    assert corr > 0.99                                                          # lossy, but the same tone


def test_audio_folder_mixes_wav_and_flac(tmp_path):
    for cls in ("no", "yes"):
        (tmp_path / cls).mkdir()
    _pcm16_wav(tmp_path / "no" / "a.wav", _tone(), 8000)
    soundfile.write(tmp_path / "yes" / "b.flac", np.round(_tone() * 32767).astype(np.int16), 8000, subtype="PCM_16")
    ds = AudioFolder(tmp_path, mono=True)
    assert len(ds) == 2
    (w0, r0, y0), (w1, r1, y1) = ds[0], ds[1]
    assert (y0, y1) == (0, 1) and r0 == r1 == 8000 and w0.shape == w1.shape == (1, 800)
    np.testing.assert_array_equal(w0, w1)


def test_not_audio_and_missing_soundfile_give_clear_errors(tmp_path, monkeypatch):
    (tmp_path / "fake.flac").write_bytes(b"this is not audio at all")
    with pytest.raises(DatasetFormatError, match="fake.flac: not an audio file"):
        read_audio(tmp_path / "fake.flac")
    soundfile.write(tmp_path / "a.flac", _tone(), 8000, subtype="PCM_16")
    monkeypatch.setitem(sys.modules, "soundfile", None)
    with pytest.raises(ImportError, match=r"a.flac needs the soundfile package.*pip install 'gradwise\[audio\]'"):
        read_audio(tmp_path / "a.flac")
    with pytest.raises(FileNotFoundError, match="missing.flac"):
        read_audio(tmp_path / "missing.flac")
