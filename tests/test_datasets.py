"""gradwise.data.datasets: readers round-trip small files written here in the real formats."""
from __future__ import annotations

import gzip
import pickle
import struct
import wave

import numpy as np
import pytest
from PIL import Image
from scipy.io import wavfile

from gradwise.data import DataLoader, train_val_split
from gradwise.data.datasets import (CIFAR10, CIFAR100, MNIST, AudioFolder, CSVDataset, DatasetFormatError, Digits,
                                    FashionMNIST, ImageFolder, NPZDataset, TextLines, Vocabulary, load_digits,
                                    read_idx, read_wav, tokenize)


# ----------------------------------------------------------------------------- embedded digits
def test_load_digits_shapes_dtypes_and_scaling():
    images, labels = load_digits()
    assert images.shape == (1797, 1, 8, 8) and images.dtype == np.float32 and images.max() == 16
    assert labels.shape == (1797,) and labels.dtype == np.int64 and set(labels.tolist()) == set(range(10))
    flat, _ = load_digits(flatten=True, normalize=True)
    assert flat.shape == (1797, 64) and flat.max() == 1.0
    np.testing.assert_allclose(flat, images.reshape(1797, 64) / 16)


def test_digits_train_and_test_are_complementary_and_stratified():
    train, test = Digits(train=True), Digits(train=False)
    assert len(train) + len(test) == 1797 and len(test) == round(0.2 * 1797)
    images, _ = load_digits()
    rows = {r.tobytes() for r in train.data} & {r.tobytes() for r in test.data}
    assert len(rows) < 5  # only the few duplicate images of the original set may appear in both
    counts = np.bincount(test.targets)
    assert counts.min() >= 34 and counts.max() <= 37
    x, y = next(iter(DataLoader(test, batch_size=16)))
    assert x.shape == (16, 1, 8, 8) and y.dtype == np.int64


# ----------------------------------------------------------------------------- IDX (MNIST)
def idx_bytes(array: np.ndarray, code: int = 0x08) -> bytes:
    """An IDX file per the spec: 0, 0, type code, ndim, big-endian uint32 dims, big-endian data."""
    dtype = {0x08: ">u1", 0x0B: ">i2", 0x0D: ">f4"}[code]
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(dtype).tobytes()


def write_mnist(folder, n, rng, gz):
    folder.mkdir(parents=True, exist_ok=True)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, size=n, dtype=np.uint8)
    for name, array in [("train-images-idx3-ubyte", images), ("train-labels-idx1-ubyte", labels)]:
        data = idx_bytes(array)
        if gz:
            (folder / (name + ".gz")).write_bytes(gzip.compress(data))
        else:
            (folder / name).write_bytes(data)
    return images, labels


@pytest.mark.parametrize("gz", [False, True])
def test_mnist_reads_raw_and_gzipped_idx(tmp_path, gz):
    rng = np.random.default_rng(0)
    images, labels = write_mnist(tmp_path / "MNIST" / "raw", 12, rng, gz)
    ds = MNIST(tmp_path, train=True)
    assert len(ds) == 12 and ds.data.shape == (12, 1, 28, 28) and ds.data.dtype == np.float32
    np.testing.assert_allclose(ds.data[:, 0] * 255, images, atol=1e-4)
    np.testing.assert_array_equal(ds.targets, labels)
    x, y = ds[3]
    assert x.shape == (1, 28, 28) and y == labels[3]
    assert MNIST(tmp_path, flatten=True).data.shape == (12, 784)


def test_fashion_mnist_files_directly_in_root(tmp_path):
    images, labels = write_mnist(tmp_path, 5, np.random.default_rng(1), gz=True)
    ds = FashionMNIST(tmp_path)
    np.testing.assert_array_equal(ds.targets, labels)
    assert ds.classes[9] == "Ankle boot"


def test_read_idx_other_types_and_errors(tmp_path):
    values = np.arange(-6, 6, dtype=np.int16).reshape(3, 4)
    (tmp_path / "a.idx").write_bytes(idx_bytes(values, 0x0B))
    out = read_idx(tmp_path / "a.idx")
    assert out.dtype == np.int16 and out.dtype.isnative
    np.testing.assert_array_equal(out, values)
    floats = np.linspace(0, 1, 5, dtype=np.float32)
    (tmp_path / "f.idx.gz").write_bytes(gzip.compress(idx_bytes(floats, 0x0D)))
    np.testing.assert_array_equal(read_idx(tmp_path / "f.idx.gz"), floats)

    (tmp_path / "bad").write_bytes(b"\x12\x34\x08\x03" + bytes(20))
    with pytest.raises(DatasetFormatError, match="bad IDX magic number 0x12340803"):
        read_idx(tmp_path / "bad")
    (tmp_path / "code").write_bytes(b"\x00\x00\x07\x01" + struct.pack(">I", 1) + b"\x00")
    with pytest.raises(DatasetFormatError, match="magic number 0x00000701"):
        read_idx(tmp_path / "code")
    (tmp_path / "short").write_bytes(idx_bytes(np.zeros((4, 2, 2), np.uint8))[:-3])
    with pytest.raises(DatasetFormatError, match="truncated or corrupt"):
        read_idx(tmp_path / "short")


def test_mnist_missing_files_say_where_and_what(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        MNIST(tmp_path / "data", train=False)
    message = str(info.value)
    assert "t10k-images-idx3-ubyte" in message and str(tmp_path / "data" / "MNIST" / "raw") in message
    assert "never downloads" in message and "train-labels-idx1-ubyte[.gz]" in message


def test_mnist_bad_magic_number_in_a_dataset_file(tmp_path):
    write_mnist(tmp_path, 3, np.random.default_rng(2), gz=False)
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(b"<html>not found</html>")
    with pytest.raises(DatasetFormatError, match="train-labels-idx1-ubyte: bad IDX magic number"):
        MNIST(tmp_path)


# ----------------------------------------------------------------------------- CIFAR
def write_cifar_batch(path, n, rng, label_key=b"labels"):
    images = rng.integers(0, 256, size=(n, 3, 32, 32), dtype=np.uint8)
    labels = rng.integers(0, 10, size=n).tolist()
    with open(path, "wb") as f:
        pickle.dump({b"batch_label": b"test", b"data": images.reshape(n, 3072), label_key: labels}, f, protocol=2)
    return images, labels


def test_cifar10_reads_python_batches(tmp_path):
    rng = np.random.default_rng(0)
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    parts = [write_cifar_batch(folder / f"data_batch_{i}", 4, rng) for i in range(1, 6)]
    test_images, test_labels = write_cifar_batch(folder / "test_batch", 3, rng)
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({b"label_names": [f"class{i}".encode() for i in range(10)]}, f)
    train = CIFAR10(tmp_path, train=True)
    assert len(train) == 20 and train.data.shape == (20, 3, 32, 32) and train.classes[3] == "class3"
    np.testing.assert_allclose(train.data[4:8] * 255, parts[1][0], atol=1e-4)
    np.testing.assert_array_equal(train.targets, sum((p[1] for p in parts), []))
    test = CIFAR10(folder, train=False)  # the batches folder itself works too
    np.testing.assert_allclose(test[1][0] * 255, test_images[1], atol=1e-4)
    assert test[1][1] == test_labels[1]


def test_cifar100_and_cifar_errors(tmp_path):
    rng = np.random.default_rng(1)
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    _, labels = write_cifar_batch(folder / "test", 2, rng, label_key=b"fine_labels")
    assert CIFAR100(tmp_path, train=False).targets.tolist() == labels
    with pytest.raises(FileNotFoundError, match="(?s)data_batch_1.*never downloads"):
        CIFAR10(tmp_path)
    (tmp_path / "cifar-10-batches-py").mkdir()
    (tmp_path / "cifar-10-batches-py" / "test_batch").write_bytes(b"garbage")
    with pytest.raises(DatasetFormatError, match="test_batch: not a CIFAR python batch"):
        CIFAR10(tmp_path, train=False)
    with open(tmp_path / "cifar-10-batches-py" / "test_batch", "wb") as f:
        pickle.dump({b"data": np.zeros((2, 3072), np.uint8)}, f)
    with pytest.raises(DatasetFormatError, match="lacks the key"):
        CIFAR10(tmp_path, train=False)


# ----------------------------------------------------------------------------- image folders
def test_image_folder_png_and_jpeg(tmp_path):
    rng = np.random.default_rng(0)
    red = np.zeros((6, 5, 3), np.uint8)
    red[..., 0] = 255
    for cls in ("cat", "dog"):
        (tmp_path / cls).mkdir()
    Image.fromarray(red).save(tmp_path / "cat" / "a.png")
    noise = rng.integers(0, 256, size=(6, 5, 3), dtype=np.uint8)
    Image.fromarray(noise).save(tmp_path / "cat" / "b.png")
    Image.fromarray(np.full((6, 5, 3), 128, np.uint8)).save(tmp_path / "dog" / "c.jpg", quality=95)
    (tmp_path / "dog" / "notes.txt").write_text("ignored")
    ds = ImageFolder(tmp_path)
    assert ds.classes == ["cat", "dog"] and ds.class_to_idx == {"cat": 0, "dog": 1}
    assert len(ds) == 3 and ds.targets.tolist() == [0, 0, 1]
    image, label = ds[0]
    assert image.shape == (3, 6, 5) and image.dtype == np.float32 and label == 0
    np.testing.assert_array_equal(image[0], 1.0)
    np.testing.assert_array_equal(image[1:], 0.0)
    np.testing.assert_allclose(ds[1][0], noise.transpose(2, 0, 1) / 255, atol=1e-6)  # PNG is lossless
    np.testing.assert_allclose(ds[2][0], 128 / 255, atol=3 / 255)  # JPEG nearly so
    grey = ImageFolder(tmp_path, mode="L", size=(4, 4))
    assert grey[0][0].shape == (1, 4, 4)
    x, y = next(iter(DataLoader(ds, batch_size=3)))
    assert x.shape == (3, 3, 6, 5) and y.tolist() == [0, 0, 1]


def test_image_folder_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="(?s)cannot find the folder 'pics'.*never downloads"):
        ImageFolder(tmp_path / "pics")
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.txt").write_text("no image")
    with pytest.raises(FileNotFoundError, match="no valid file for the classes a"):
        ImageFolder(tmp_path)
    (tmp_path / "a" / "broken.png").write_bytes(b"not a png")
    ds = ImageFolder(tmp_path)
    with pytest.raises(DatasetFormatError, match="broken.png: cannot decode"):
        ds[0]


# ----------------------------------------------------------------------------- audio
def write_pcm_wav(path, samples: np.ndarray, rate: int, width: int) -> None:
    """Integer PCM via the standard library; ``samples`` (frames, channels) already in the sample type."""
    with wave.open(str(path), "wb") as w:
        w.setnchannels(samples.shape[1])
        w.setsampwidth(width)
        w.setframerate(rate)
        if width == 3:
            raw = samples.astype("<i4").view(np.uint8).reshape(-1, 4)[:, :3].tobytes()
        else:
            raw = samples.astype({1: np.uint8, 2: "<i2", 4: "<i4"}[width]).tobytes()
        w.writeframes(raw)


def test_read_wav_pcm_widths_and_float(tmp_path):
    t = np.arange(400) / 8000
    tone = 0.5 * np.sin(2 * np.pi * 440 * t)
    stereo = np.stack([tone, -tone], axis=1)
    cases = {1: (np.round(stereo * 127) + 128, 1 / 128), 2: (np.round(stereo * 32767), 1 / 32768),
             3: (np.round(stereo * (2 ** 23 - 1)), 2 ** -23), 4: (np.round(stereo * (2 ** 31 - 1)), 2 ** -31)}
    for width, (ints, _) in cases.items():
        write_pcm_wav(tmp_path / f"w{width}.wav", ints, 8000, width)
        waveform, rate = read_wav(tmp_path / f"w{width}.wav")
        assert rate == 8000 and waveform.shape == (2, 400) and waveform.dtype == np.float32
        np.testing.assert_allclose(waveform, stereo.T, atol=2.0 / 2 ** (8 * width - 1) + 1e-6)
    wavfile.write(tmp_path / "float.wav", 16000, tone.astype(np.float32))
    waveform, rate = read_wav(tmp_path / "float.wav")
    assert rate == 16000 and waveform.shape == (1, 400)
    np.testing.assert_array_equal(waveform[0], tone.astype(np.float32))
    (tmp_path / "fake.wav").write_bytes(b"ID3\x03 mp3 data here")
    with pytest.raises(DatasetFormatError, match="fake.wav: not a WAV file"):
        read_wav(tmp_path / "fake.wav")
    with pytest.raises(FileNotFoundError, match="missing.wav"):
        read_wav(tmp_path / "missing.wav")


def test_audio_folder_resamples_mixes_and_pads(tmp_path):
    for cls in ("no", "yes"):
        (tmp_path / cls).mkdir()
    rng = np.random.default_rng(0)
    write_pcm_wav(tmp_path / "yes" / "a.wav", rng.integers(-3000, 3000, size=(800, 2)), 8000, 2)
    wavfile.write(tmp_path / "no" / "b.wav", 16000, (0.1 * rng.standard_normal(1000)).astype(np.float32))
    ds = AudioFolder(tmp_path)
    waveform, rate, label = ds[1]
    assert (waveform.shape, rate, label) == ((2, 800), 8000, 1)
    same = AudioFolder(tmp_path, sample_rate=16000, mono=True, num_samples=1200)
    assert same[1][0].shape == (1, 1200) and same[1][1] == 16000
    assert same[0][0].shape == (1, 1200) and np.all(same[0][0][0, 1000:] == 0)
    x, rates, y = next(iter(DataLoader(same, batch_size=2)))
    assert x.shape == (2, 1, 1200) and rates.tolist() == [16000, 16000] and y.tolist() == [0, 1]


# ----------------------------------------------------------------------------- text and tables
def test_text_lines_tsv_and_csv_and_vocabulary(tmp_path):
    (tmp_path / "reviews.tsv").write_text("label\ttext\npos\tGreat film, loved it!\n\nneg\tBoring.\tReally.\n"
                                          "pos\tLoved the music\n", encoding="utf-8")
    ds = TextLines(tmp_path / "reviews.tsv")
    assert ds.classes == ["neg", "pos"] and len(ds) == 3
    assert ds[0] == ("Great film, loved it!", 1) and ds[1] == ("Boring.\tReally.", 0)
    (tmp_path / "data.csv").write_text('id,label,text\n1,2,"hello, world"\n2,10,bye\n', encoding="utf-8")
    csv_ds = TextLines(tmp_path / "data.csv")
    assert csv_ds.classes == ["2", "10"] and csv_ds[0] == ("hello, world", 0)
    vocab = Vocabulary.build(ds.texts)
    assert vocab.itos[:4] == ["<pad>", "<unk>", ".", "loved"] and tokenize("Don't stop!") == ["don't", "stop", "!"]
    ids = vocab.encode("loved the zebra", max_len=5)
    assert ids.dtype == np.int64 and ids.tolist()[3:] == [0, 0] and ids[2] == vocab.unk_index
    assert vocab.decode(ids) == ["loved", "the", "<unk>"]
    x, y = next(iter(DataLoader(ds, batch_size=3, transform=lambda s: vocab.encode(s, max_len=6))))
    assert x.shape == (3, 6) and y.tolist() == [1, 0, 1]
    strings, _ = next(iter(DataLoader(ds, batch_size=2)))
    assert strings == ["Great film, loved it!", "Boring.\tReally."]
    (tmp_path / "bad.tsv").write_text("pos\tok\nno separator here\n")
    with pytest.raises(DatasetFormatError, match="bad.tsv, line 2"):
        TextLines(tmp_path / "bad.tsv")
    with pytest.raises(FileNotFoundError, match="(?s)nope.tsv.*never downloads"):
        TextLines(tmp_path / "nope.tsv")


def test_csv_dataset(tmp_path):
    (tmp_path / "iris.csv").write_text("a,b,species\n1.0,2,setosa\n3,4.5,virginica\n5,6,setosa\n")
    ds = CSVDataset(tmp_path / "iris.csv", target="species")
    assert ds.classes == ["setosa", "virginica"] and ds.feature_names == ["a", "b"]
    np.testing.assert_array_equal(ds.data, [[1, 2], [3, 4.5], [5, 6]])
    assert ds.data.dtype == np.float32 and ds.targets.tolist() == [0, 1, 0]
    (tmp_path / "reg.csv").write_text("x,y\n1,0.5\n2,1.5\n")
    assert CSVDataset(tmp_path / "reg.csv").targets.dtype == np.float32
    (tmp_path / "cls.csv").write_text("x,y\n1,0\n2,3\n")
    assert CSVDataset(tmp_path / "cls.csv", target="y").targets.tolist() == [0, 3]
    (tmp_path / "holes.csv").write_text("x,y\n1,0\n,1\n")
    with pytest.raises(DatasetFormatError, match="line 3: feature column 'x'"):
        CSVDataset(tmp_path / "holes.csv")
    with pytest.raises(KeyError, match="no column 'label'"):
        CSVDataset(tmp_path / "cls.csv", target="label")


def test_npz_dataset(tmp_path):
    x, y = np.random.default_rng(0).normal(size=(9, 4)), np.arange(9)
    np.savez(tmp_path / "t.npz", features=x, labels=y)
    ds = NPZDataset(tmp_path / "t.npz", "features", "labels")
    np.testing.assert_array_equal(ds.data, x)
    loader = DataLoader(ds, batch_size=4)
    assert loader.fast_path and next(iter(loader))[0].dtype == np.float64
    with pytest.raises(KeyError, match=r"no array named \['y'\].*'features', 'labels'"):
        NPZDataset(tmp_path / "t.npz", "features")
    with pytest.raises(FileNotFoundError, match="u.npz"):
        NPZDataset(tmp_path / "u.npz")
    (tmp_path / "junk.npz").write_bytes(b"junk")
    with pytest.raises(DatasetFormatError, match="junk.npz"):
        NPZDataset(tmp_path / "junk.npz")
    train, val = train_val_split(ds, 1 / 3, seed=0)
    assert len(val) == 3 and DataLoader(val, batch_size=3).fast_path
