"""gradwise.data: Dataset/TensorDataset/Subset/ConcatDataset, samplers, DataLoader, splits."""
from __future__ import annotations

import gc
import threading
import time
import traceback
from collections import namedtuple
from typing import Any

import numpy as np
import pytest
import torch
import torch.utils.data as tud

import gradwise
from gradwise.data import (BatchSampler, ConcatDataset, DataLoader, Dataset, IterableDataset, RandomSampler,
                           SequentialSampler, Subset, SubsetRandomSampler, TensorDataset, WeightedRandomSampler,
                           default_collate, random_split, train_val_split)


def make_arrays(n: int = 10, d: int = 3) -> tuple[np.ndarray, np.ndarray]:
    x = np.arange(n * d, dtype=np.float32).reshape(n, d)
    return x, np.arange(n, dtype=np.int64) % 3


def labels_of(loader: DataLoader) -> list[list[int]]:
    return [batch[1].tolist() for batch in loader]


class ListDataset(Dataset):
    """A plain (not array-backed) dataset, to exercise the per-sample path."""

    def __init__(self, samples):
        self.samples = samples

    def __len__(self):
        return len(self.samples)

    def __getitem__(self, i):
        return self.samples[i]


# ----------------------------------------------------------------------------- datasets
def test_tensor_dataset_items_lengths_and_mismatch_error():
    x, y = make_arrays()
    ds = TensorDataset(gradwise.from_numpy(x), y)
    assert len(ds) == 10
    xi, yi = ds[4]
    assert isinstance(xi, gradwise.Tensor) and isinstance(yi, gradwise.Tensor)
    np.testing.assert_array_equal(xi.numpy(), x[4])
    assert yi.item() == y[4]
    with pytest.raises(ValueError, match=r"same first dimension.*\[10, 9\]"):
        TensorDataset(x, y[:9])


def test_concat_and_subset():
    x, y = make_arrays()
    a, b = TensorDataset(x[:4], y[:4]), TensorDataset(x[4:], y[4:])
    both = a + b
    assert isinstance(both, ConcatDataset) and len(both) == 10
    np.testing.assert_array_equal(both[5][0].numpy(), x[5])
    np.testing.assert_array_equal(both[-1][0].numpy(), x[9])
    with pytest.raises(IndexError):
        both[10]
    sub = Subset(both, [9, 0, 3])
    assert len(sub) == 3 and sub[0][1].item() == y[9]


# ----------------------------------------------------------------------------- loader basics
@pytest.mark.parametrize("drop_last,expected", [(False, [4, 4, 2]), (True, [4, 4])])
def test_batching_len_and_drop_last(drop_last, expected):
    x, y = make_arrays()
    loader = DataLoader(TensorDataset(x, y), batch_size=4, drop_last=drop_last)
    batches = list(loader)
    assert len(loader) == len(expected) == len(batches)
    assert [len(b[1]) for b in batches] == expected
    assert batches[0][0].dtype == np.float32 and batches[0][1].dtype == np.int64
    np.testing.assert_array_equal(batches[1][0].numpy(), x[4:8])


def test_matches_torch_dataloader_without_shuffle():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(23, 2, 3)).astype(np.float32), rng.integers(0, 5, size=23)
    ours = DataLoader(TensorDataset(x, y), batch_size=5)
    theirs = tud.DataLoader(tud.TensorDataset(torch.from_numpy(x), torch.from_numpy(y)), batch_size=5)
    assert len(ours) == len(theirs)
    for (gx, gy), (tx, ty) in zip(ours, theirs, strict=True):
        np.testing.assert_array_equal(gx.numpy(), tx.numpy())
        np.testing.assert_array_equal(gy.numpy(), ty.numpy())
        assert str(gx.dtype) == str(tx.dtype).removeprefix("torch.")
        assert str(gy.dtype) == str(ty.dtype).removeprefix("torch.")


def test_shuffle_covers_every_sample_reproducibly_and_changes_each_epoch():
    x, y = make_arrays(50)
    ds = TensorDataset(x, np.arange(50))
    loader = DataLoader(ds, batch_size=8, shuffle=True, seed=3)
    epoch1, epoch2 = sum(labels_of(loader), []), sum(labels_of(loader), [])
    assert sorted(epoch1) == sorted(epoch2) == list(range(50))
    assert epoch1 != epoch2 and epoch1 != list(range(50))
    again = DataLoader(ds, batch_size=8, shuffle=True, seed=3)
    assert sum(labels_of(again), []) == epoch1 and sum(labels_of(again), []) == epoch2
    g1, g2 = gradwise.Generator().manual_seed(7), gradwise.Generator().manual_seed(7)
    assert labels_of(DataLoader(ds, 8, shuffle=True, generator=g1)) == labels_of(DataLoader(ds, 8, shuffle=True,
                                                                                           generator=g2))
    gradwise.manual_seed(11)
    first = labels_of(DataLoader(ds, 8, shuffle=True))
    gradwise.manual_seed(11)
    assert labels_of(DataLoader(ds, 8, shuffle=True)) == first
    with pytest.raises(ValueError, match="seed= or generator="):
        DataLoader(ds, shuffle=True, seed=1, generator=g1)


def test_fast_path_gives_the_same_batches_as_the_per_sample_path():
    x, y = make_arrays(37)
    ds = TensorDataset(x, y)
    fast = DataLoader(ds, batch_size=6, shuffle=True, seed=5)
    slow = DataLoader(ds, batch_size=6, shuffle=True, seed=5, collate_fn=lambda b: default_collate(b))
    assert fast.fast_path and not slow.fast_path
    for (fx, fy), (sx, sy) in zip(fast, slow, strict=True):
        np.testing.assert_array_equal(fx.numpy(), sx.numpy())
        np.testing.assert_array_equal(fy.numpy(), sy.numpy())
        assert fx.dtype == sx.dtype and fy.dtype == sy.dtype
    sub = Subset(ds, [5, 1, 30, 2, 8])
    sub_loader = DataLoader(sub, batch_size=2)
    assert sub_loader.fast_path
    assert sum((b[0][:, 0].tolist() for b in sub_loader), []) == [x[i, 0] for i in [5, 1, 30, 2, 8]]


def test_collate_tuples_dicts_namedtuples_numbers_and_strings():
    Point = namedtuple("Point", "x label")
    samples = [{"image": np.full((2, 2), i, np.float32), "label": i, "weight": 0.5 * i, "name": f"s{i}",
                "pair": (np.int32(i), [i, i + 1]), "point": Point(np.ones(3), True)} for i in range(4)]
    batch = next(iter(DataLoader(ListDataset(samples), batch_size=4)))
    assert set(batch) == set(samples[0])
    assert batch["image"].shape == (4, 2, 2) and batch["image"].dtype == np.float32
    assert batch["label"].dtype == np.int64 and batch["label"].tolist() == [0, 1, 2, 3]
    assert batch["weight"].dtype == np.float64
    assert batch["name"] == ["s0", "s1", "s2", "s3"]
    assert isinstance(batch["pair"], list) and batch["pair"][0].dtype == np.int32
    assert [t.tolist() for t in batch["pair"][1]] == [[0, 1, 2, 3], [1, 2, 3, 4]]
    assert isinstance(batch["point"], Point) and batch["point"].x.shape == (4, 3)
    assert batch["point"].label.dtype == np.bool_
    with pytest.raises(RuntimeError, match="equal size"):
        default_collate([np.zeros(2), np.zeros(3)])


def test_transform_is_applied_per_sample_to_the_input_only():
    x, y = make_arrays(8)
    seen = []

    def transform(sample):
        assert isinstance(sample, np.ndarray) and sample.shape == (3,)
        seen.append(sample[0])
        return sample * 2

    loader = DataLoader(TensorDataset(x, y), batch_size=3, transform=transform)
    assert not loader.fast_path
    xs, ys = zip(*loader)
    np.testing.assert_array_equal(np.concatenate([b.numpy() for b in xs]), x * 2)
    np.testing.assert_array_equal(np.concatenate([b.numpy() for b in ys]), y)
    assert seen == list(x[:, 0])
    dict_loader = DataLoader(ListDataset([{"x": np.ones(2), "y": 1}] * 2), batch_size=2, transform=lambda s: s + 1)
    batch = next(iter(dict_loader))
    assert batch["x"].tolist() == [[2, 2], [2, 2]] and batch["y"].tolist() == [1, 1]


def test_augment_transform_keeps_the_fast_path_through_apply_batch():
    from gradwise.augment import RandomHorizontalFlip

    images = np.arange(2 * 1 * 2 * 3, dtype=np.float32).reshape(2, 1, 2, 3)
    ds = TensorDataset(images, np.array([0, 1]))
    fast = DataLoader(ds, batch_size=2, transform=RandomHorizontalFlip(p=1.0))
    slow = DataLoader(ds, batch_size=2, transform=RandomHorizontalFlip(p=1.0), collate_fn=lambda b: default_collate(b))
    assert fast.fast_path and not slow.fast_path
    (fx, _), (sx, _) = next(iter(fast)), next(iter(slow))
    np.testing.assert_array_equal(fx.numpy(), images[..., ::-1])
    np.testing.assert_array_equal(sx.numpy(), images[..., ::-1])


# ----------------------------------------------------------------------------- prefetch
class NoisyTransform:
    """A random per-sample transform: reproducible only if samples are transformed in order."""

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)

    def __call__(self, sample: np.ndarray) -> np.ndarray:
        return sample + self.rng.normal(size=sample.shape).astype(np.float32)


@pytest.mark.parametrize("transform", [None, "noise"])
def test_prefetch_gives_exactly_the_batches_of_no_prefetch(transform):
    x, y = make_arrays(41)
    ds = TensorDataset(x, y)

    def run(**kwargs):
        t = NoisyTransform(0) if transform else None
        loader = DataLoader(ds, batch_size=4, shuffle=True, seed=9, transform=t, **kwargs)
        return [[b[0].numpy(), b[1].numpy()] for epoch in range(2) for b in loader]

    plain, prefetched, workers = run(), run(prefetch=3), run(num_workers=2)
    for a, b, c in zip(plain, prefetched, workers, strict=True):
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[1], b[1])
        np.testing.assert_array_equal(a[0], c[0])
    assert DataLoader(ds, num_workers=2).prefetch == 4


def failing_transform(sample):
    if sample[0] >= 30:
        raise ValueError("bad sample for the test")
    return sample


def test_worker_exception_reaches_the_caller_with_its_traceback():
    x, y = make_arrays(20)
    loader = DataLoader(TensorDataset(x, y), batch_size=2, transform=failing_transform, prefetch=2)
    got = []
    with pytest.raises(ValueError, match="bad sample for the test") as info:
        for batch in loader:
            got.append(batch)
    assert len(got) == 5  # samples 0..9 are fine (x[10, 0] == 30)
    frames = [f.name for f in traceback.extract_tb(info.value.__traceback__)]
    assert "failing_transform" in frames
    assert any("prefetch thread" in note for note in getattr(info.value, "__notes__", []))


def _prefetch_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "gradwise-prefetch"]


def test_dropping_or_closing_a_prefetching_iterator_stops_its_thread():
    x, y = make_arrays(400)
    loader = DataLoader(TensorDataset(x, y), batch_size=2, prefetch=2)
    before = len(_prefetch_threads())
    it = iter(loader)
    next(it)
    assert len(_prefetch_threads()) == before + 1
    del it
    gc.collect()
    deadline = time.monotonic() + 5
    while len(_prefetch_threads()) > before and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(_prefetch_threads()) == before
    it = iter(loader)
    next(it)
    it.close()
    assert len(_prefetch_threads()) == before
    with pytest.raises(StopIteration):
        next(it)


# ----------------------------------------------------------------------------- other inputs
def test_iterable_dataset_and_no_auto_batching():
    class Stream(IterableDataset):
        def __iter__(self):
            return iter([(np.float32(i), i) for i in range(7)])

        def __len__(self):
            return 7

    loader = DataLoader(Stream(), batch_size=3)
    assert len(loader) == 3 and [b[1].tolist() for b in loader] == [[0, 1, 2], [3, 4, 5], [6]]
    single = list(DataLoader(TensorDataset(*make_arrays(3)), batch_size=None))
    assert len(single) == 3 and single[0][0].shape == (3,)


# ----------------------------------------------------------------------------- samplers
def test_samplers():
    data = list(range(10))
    assert list(SequentialSampler(data)) == data
    order = list(RandomSampler(data, generator=gradwise.Generator().manual_seed(0)))
    assert sorted(order) == data
    assert len(list(RandomSampler(data, num_samples=25))) == 25
    assert all(0 <= i < 10 for i in RandomSampler(data, replacement=True, num_samples=30))
    assert sorted(SubsetRandomSampler([7, 3, 5])) == [3, 5, 7]
    assert list(BatchSampler(SequentialSampler(data), 4, False)) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert list(BatchSampler(range(10), 4, True)) == [[0, 1, 2, 3], [4, 5, 6, 7]]
    assert len(BatchSampler(data, 4, True)) == 2 and len(BatchSampler(data, 4, False)) == 3
    weights = np.array([0.0, 1.0, 3.0])
    draws = list(WeightedRandomSampler(weights, 4000, generator=gradwise.Generator().manual_seed(1)))
    counts = np.bincount(draws, minlength=3)
    assert counts[0] == 0 and abs(counts[2] / counts[1] - 3) < 0.4
    assert sorted(WeightedRandomSampler(weights, 2, replacement=False)) == [1, 2]


def test_loader_with_sampler_and_batch_sampler():
    x, y = make_arrays(10)
    ds = TensorDataset(x, np.arange(10))
    loader = DataLoader(ds, batch_size=2, sampler=SubsetRandomSampler([1, 3, 5, 7], gradwise.Generator().manual_seed(0)))
    assert sorted(sum(labels_of(loader), [])) == [1, 3, 5, 7]
    bs = DataLoader(ds, batch_sampler=[[0, 9], [4]])
    assert labels_of(bs) == [[0, 9], [4]] and len(bs) == 2
    with pytest.raises(ValueError, match="mutually exclusive"):
        DataLoader(ds, sampler=[0, 1], shuffle=True)


# ----------------------------------------------------------------------------- splits
def test_random_split_counts_fractions_and_disjointness():
    ds = TensorDataset(*make_arrays(10))
    parts = random_split(ds, [0.5, 0.3, 0.2], generator=gradwise.Generator().manual_seed(0))
    assert [len(p) for p in parts] == [5, 3, 2]
    indices = sum((list(p.indices) for p in parts), [])
    assert sorted(indices) == list(range(10))
    assert [len(p) for p in random_split(ds, [0.34, 0.33, 0.33])] == [4, 3, 3]  # torch's round-robin remainder
    assert [len(p) for p in random_split(ds, [7, 3])] == [7, 3]
    a = random_split(ds, [5, 5], generator=gradwise.Generator().manual_seed(4))
    b = random_split(ds, [5, 5], generator=gradwise.Generator().manual_seed(4))
    assert a[0].indices == b[0].indices
    with pytest.raises(ValueError, match="does not equal the length"):
        random_split(ds, [3, 3])


def test_stratified_train_val_split_keeps_class_proportions():
    labels = np.repeat([0, 1, 2], [600, 300, 100])
    x = np.arange(1000, dtype=np.float32)[:, None]
    (x_tr, y_tr), (x_val, y_val) = train_val_split((x, labels), val_fraction=0.2, stratify=labels, seed=0)
    assert len(x_val) == 200 and len(x_tr) == 800
    assert np.bincount(y_val).tolist() == [120, 60, 20]
    assert np.bincount(y_tr).tolist() == [480, 240, 80]
    assert sorted(np.concatenate([x_tr[:, 0], x_val[:, 0]]).tolist()) == list(range(1000))
    # the same seed gives the same split; another seed another
    again = train_val_split((x, labels), val_fraction=0.2, stratify=labels, seed=0)[1][0]
    other = train_val_split((x, labels), val_fraction=0.2, stratify=labels, seed=1)[1][0]
    np.testing.assert_array_equal(again, x_val)
    assert not np.array_equal(other, x_val)
    # odd sizes: total exact, every class within one of its share
    odd = np.repeat([0, 1, 2, 3], [7, 5, 3, 2])
    _, val = train_val_split(np.arange(17), 0.3, stratify=odd, seed=2)
    counts = np.bincount(odd[val], minlength=4)
    assert counts.sum() == round(0.3 * 17)
    assert np.all(np.abs(counts - np.bincount(odd) * 0.3) < 1)


def test_train_val_split_of_a_dataset_and_of_tensors():
    x, y = make_arrays(30)
    ds = TensorDataset(x, y)
    train, val = train_val_split(ds, val_fraction=1 / 3, stratify=True, seed=0)
    assert isinstance(train, Subset) and len(val) == 10
    assert sorted(np.bincount([ds[i][1].item() for i in val.indices]).tolist()) == [3, 3, 4]
    assert set(train.indices).isdisjoint(val.indices)
    t_train, t_val = train_val_split(gradwise.from_numpy(x), 0.5, seed=0)
    assert isinstance(t_train, gradwise.Tensor) and t_val.shape == (15, 3)


def test_a_dataset_transform_set_after_the_loader_was_built_is_honoured():
    from gradwise.data.datasets import Digits

    ds = Digits(train=False)
    loader = DataLoader(ds, batch_size=4)
    assert loader.fast_path
    ds.transform = lambda image: image * 0
    assert not loader.fast_path
    x, y = next(iter(loader))
    assert x.shape == (4, 1, 8, 8) and x.numpy().sum() == 0 and y.dtype == np.int64


# ----------------------------------------------------------------------------- prefetch and random streams
def _noisy_images(n: int = 24) -> TensorDataset:
    rng = np.random.default_rng(3)
    return TensorDataset(rng.normal(size=(n, 1, 6, 6)).astype(np.float32), np.arange(n))


def _epochs_with_dropout_draws(prefetch: int, transform: Any) -> tuple[list[np.ndarray], list[float]]:
    """Two epochs of batches, drawing from the global generator between batches as dropout does."""
    gradwise.manual_seed(0)
    loader = DataLoader(_noisy_images(), batch_size=4, shuffle=True, transform=transform, prefetch=prefetch)
    batches, draws = [], []
    for _ in range(2):
        for x, _y in loader:
            batches.append(x.numpy())
            draws.append(float(gradwise.rand(1).item()))   # the training thread's own draws
    return batches, draws


def test_prefetch_gives_an_unseeded_augmentation_its_own_reproducible_stream():
    """An augmentation drawing from gradwise's global generator in the prefetch thread used to interleave with
    the training thread's draws in an order set by timing: two runs with the same seed could differ."""
    from gradwise.augment import GaussianNoise

    first, first_draws = _epochs_with_dropout_draws(3, GaussianNoise(0.5))
    for _ in range(3):
        again, again_draws = _epochs_with_dropout_draws(3, GaussianNoise(0.5))
        for a, b in zip(first, again, strict=True):
            np.testing.assert_array_equal(a, b)
        assert again_draws == first_draws
    # the training thread's stream is untouched by the thread's draws: the same as with no augmentation at all
    _, plain_draws = _epochs_with_dropout_draws(3, None)
    assert first_draws == plain_draws
    # ... and the augmentation still differs from batch to batch and from epoch to epoch
    clean, _ = _epochs_with_dropout_draws(3, None)
    noise = [a - c for a, c in zip(first, clean, strict=True)]
    assert not np.allclose(noise[0], noise[len(noise) // 2])
    assert all(np.std(n) > 0.3 for n in noise)


def test_prefetch_leaves_the_batch_order_and_a_seeded_transform_unchanged():
    from gradwise.augment import GaussianNoise

    plain, _ = _epochs_with_dropout_draws(0, GaussianNoise(0.5, seed=4))
    prefetched, _ = _epochs_with_dropout_draws(2, GaussianNoise(0.5, seed=4))
    for a, b in zip(plain, prefetched, strict=True):
        np.testing.assert_array_equal(a, b)


def test_prefetch_worker_seed_is_reproducible_and_differs_per_epoch():
    from gradwise.data import get_worker_info

    def seeds() -> list[int]:
        gradwise.manual_seed(5)
        seen: list[int] = []
        loader = DataLoader(TensorDataset(np.arange(8.0)), batch_size=4, num_workers=1,
                            worker_init_fn=lambda _id: seen.append(get_worker_info().seed))
        for _ in range(3):
            list(loader)
        return seen

    a, b = seeds(), seeds()
    assert a == b and len(set(a)) == 3
