"""Seeding: ``gradwise.manual_seed`` controls every augmentation draw unless a transform has its own ``seed=``.

And :func:`gradwise.augment.rng_state` / :func:`set_rng_state` capture and restore the
generators that transforms own, as a JSON-serialisable dict (for checkpoints).
"""

import json

import numpy as np
import pytest

import gradwise
from gradwise.augment import (
    ColorJitter,
    Compose,
    CutMix,
    Gain,
    MixUp,
    RandAugment,
    RandomAffine,
    RandomApply,
    RandomCrop,
    RandomErasing,
    RandomHorizontalFlip,
    RandomResizedCrop,
    RandomRotation,
    RandomSwap,
    SynonymReplacement,
    TimeShift,
    rng_state,
    set_rng_state,
)
from gradwise.data import DataLoader, TensorDataset

IMG = np.random.default_rng(0).random((3, 12, 12))
BATCH = np.random.default_rng(1).random((8, 3, 12, 12))
SENTENCE = "the quick brown fox jumps over the lazy dog near the big house"


def vision_pipeline(**kwargs):
    return Compose([RandomResizedCrop(10), RandomHorizontalFlip(), RandomApply([ColorJitter(0.4, 0.4, 0.4, 0.1)], p=0.8),
                    RandomRotation(20), RandomAffine(10, translate=(0.1, 0.1)), RandAugment(), RandomErasing()], **kwargs)


def run_all(seed):
    """Everything random in the augment package, after gradwise.manual_seed(seed)."""
    gradwise.manual_seed(seed)
    pipe = vision_pipeline()
    images, targets = MixUp(num_classes=3)(BATCH, np.arange(8) % 3)
    cut, _ = CutMix(num_classes=3)(BATCH, np.arange(8) % 3)
    return {
        "one": [pipe(IMG) for _ in range(4)],
        "batch": pipe.apply_batch(BATCH),
        "mixup": (images, targets),
        "cutmix": cut,
        "audio": Compose([Gain((-6, 6)), TimeShift()]).apply_batch(np.random.default_rng(2).standard_normal((3, 800))),
        "text": [Compose([SynonymReplacement(n=2), RandomSwap(n=1)])(SENTENCE) for _ in range(3)],
    }


def same(a, b):
    if isinstance(a, dict):
        return all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, str):
        return a == b
    return np.array_equal(a, b)


def test_manual_seed_controls_every_transform():
    first, again, other = run_all(0), run_all(0), run_all(1)
    for key in first:
        assert same(first[key], again[key]), key
        assert not same(first[key], other[key]), key


def test_transforms_without_a_seed_follow_the_global_generator_at_call_time():
    t = RandomRotation(30)  # built before manual_seed: still follows it
    gradwise.manual_seed(5)
    a = [t(IMG) for _ in range(3)]
    gradwise.manual_seed(5)
    b = [t(IMG) for _ in range(3)]
    assert same(a, b) and not t.owns_generator
    state = gradwise.get_rng_state()  # what a checkpoint already saves restores them too
    c = [t(IMG) for _ in range(3)]
    gradwise.set_rng_state(state)
    assert same(c, [t(IMG) for _ in range(3)])


def test_a_transform_with_its_own_seed_ignores_manual_seed():
    def draw(global_seed):
        gradwise.manual_seed(global_seed)
        t = ColorJitter(0.5, hue=0.2, seed=7)
        return [t(IMG) for _ in range(3)]

    assert t_owns(ColorJitter(0.5, seed=7))
    assert same(draw(0), draw(1))
    # a seeded pipeline ignores it as well, and its children get their own streams
    gradwise.manual_seed(0)
    a = vision_pipeline(seed=3).apply_batch(BATCH)
    gradwise.manual_seed(99)
    assert np.array_equal(a, vision_pipeline(seed=3).apply_batch(BATCH))
    pipe = vision_pipeline(seed=3)
    assert all(t.owns_generator for t in pipe.transforms)
    states = {json.dumps(t.rng.bit_generator.state) for t in pipe.transforms}
    assert len(states) == len(pipe.transforms)  # independent streams


def t_owns(t):
    return t.owns_generator


def test_seed_none_hands_a_pipeline_back_to_the_global_generator():
    pipe = vision_pipeline(seed=3).seed(None)
    assert not pipe.owns_generator and not any(t.owns_generator for t in pipe.transforms)
    gradwise.manual_seed(4)
    a = pipe.apply_batch(BATCH)
    gradwise.manual_seed(4)
    assert np.array_equal(a, pipe.apply_batch(BATCH))


def test_capture_and_restore_reproduce_the_next_draws():
    pipe = Compose([RandomCrop(10, padding=2, seed=1), RandomRotation(30),  # one seeded, one global
                    Compose([ColorJitter(0.4), RandAugment()], seed=2)])
    for _ in range(3):
        pipe.apply_batch(BATCH)
    state = rng_state(pipe)
    text = json.dumps(state)  # JSON-serialisable as it is
    assert [e["type"] for e in state["transforms"]] == ["Compose", "RandomCrop", "RandomRotation", "Compose",
                                                         "ColorJitter", "RandAugment"]
    assert state["transforms"][2]["state"] is None  # RandomRotation draws from the global generator
    global_state = gradwise.get_rng_state()
    first = [pipe.apply_batch(BATCH) for _ in range(2)]

    fresh = Compose([RandomCrop(10, padding=2), RandomRotation(30), Compose([ColorJitter(0.4), RandAugment()])])
    set_rng_state(fresh, json.loads(text))
    gradwise.set_rng_state(global_state)
    assert same(first, [fresh.apply_batch(BATCH) for _ in range(2)])
    assert fresh.transforms[0].owns_generator and not fresh.transforms[1].owns_generator


def test_state_survives_a_checkpoint_round_trip(tmp_path):
    checkpoint = pytest.importorskip("gradwise.train.checkpoint")
    pipe = Compose([RandomResizedCrop(8), ColorJitter(0.3)], seed=11)
    pipe(IMG)
    arrays = {}
    encoded = json.dumps(checkpoint.encode_state(rng_state(pipe), arrays))
    restored = checkpoint.decode_state(json.loads(encoded), arrays)
    expected = [pipe(IMG) for _ in range(3)]
    other = Compose([RandomResizedCrop(8), ColorJitter(0.3)], seed=0)
    set_rng_state(other, restored)
    assert same(expected, [other(IMG) for _ in range(3)])


def test_set_rng_state_refuses_another_pipeline_and_changes_nothing():
    pipe = Compose([RandomCrop(10), ColorJitter(0.4)], seed=0)
    state = rng_state(pipe)
    other = Compose([ColorJitter(0.4), RandomCrop(10)], seed=5)
    before = rng_state(other)
    with pytest.raises(ValueError, match=r"saved state is for 3 transform\(s\).*RandomCrop.*this pipeline has 3"):
        set_rng_state(other, state)
    assert rng_state(other) == before
    with pytest.raises(ValueError, match="not an augmentation RNG state"):
        set_rng_state(other, {"transforms": []})


def test_rng_state_finds_the_transforms_of_a_data_loader():
    flip = RandomHorizontalFlip(seed=3)
    loader = DataLoader(TensorDataset(gradwise.from_numpy(BATCH), gradwise.tensor(np.arange(8))), batch_size=4,
                        transform=Compose([flip, ColorJitter(0.2)]))
    state = rng_state(loader)
    assert [e["type"] for e in state["transforms"]] == ["Compose", "RandomHorizontalFlip", "ColorJitter"]
    assert state["transforms"][1]["state"] is not None
    set_rng_state(loader, state)


def test_data_loader_epochs_repeat_under_manual_seed():
    ds = TensorDataset(gradwise.from_numpy(BATCH), gradwise.tensor(np.arange(8)))

    def epoch(seed):
        gradwise.manual_seed(seed)
        loader = DataLoader(ds, batch_size=4, shuffle=True, transform=vision_pipeline())
        return [(x.numpy(), y.numpy()) for x, y in loader]

    assert same(epoch(3), epoch(3))
    assert not same(epoch(3), epoch(4))


def test_preview_leaves_every_random_stream_as_it_was(tmp_path):
    pytest.importorskip("matplotlib")
    from gradwise.augment import preview

    pipe = Compose([RandomRotation(20), ColorJitter(0.3, seed=4)])
    start = rng_state(pipe)
    gradwise.manual_seed(8)
    expected = [pipe(IMG) for _ in range(2)]
    set_rng_state(pipe, start)
    gradwise.manual_seed(8)
    preview(pipe, IMG, n=2, path=tmp_path / "a.png")
    preview(pipe, IMG, n=2, path=tmp_path / "b.png", seed=1)
    assert same(expected, [pipe(IMG) for _ in range(2)]) and not pipe.transforms[0].owns_generator
