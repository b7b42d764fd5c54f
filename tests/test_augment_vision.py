"""Image augmentations: known pixels to known places, seeding, p, errors.

torchvision cannot be installed beside torch here, so parity with torchvision.transforms.v2
is checked against ``tests/_torchvision_ref.py`` (its kernels written with torch ops,
PyTorch's grid_sample/interpolate, Pillow) in ``test_augment_torchvision_parity.py``.
"""

import time

import numpy as np
import pytest

from gradwise.augment import (
    ColorJitter,
    Compose,
    GaussianNoise,
    Normalize,
    Param,
    RandAugment,
    RandomAffine,
    RandomApply,
    RandomCrop,
    RandomErasing,
    RandomHorizontalFlip,
    RandomResizedCrop,
    RandomRotation,
    RandomVerticalFlip,
    preview,
)
from gradwise.augment.vision import hsv_to_rgb, rgb_to_hsv


@pytest.fixture
def img():
    """A (3, 8, 8) image whose pixels are all distinct, values in (0, 1)."""
    return (np.arange(3 * 8 * 8, dtype=np.float64).reshape(3, 8, 8) + 1) / 200


@pytest.fixture
def batch():
    return np.random.default_rng(0).random((16, 3, 12, 12)).astype(np.float32)


def random_transforms():
    """One instance of every random image transform, set to always apply."""
    return [
        RandomHorizontalFlip(p=0.5), RandomVerticalFlip(p=0.5), RandomCrop(6, padding=2),
        RandomResizedCrop(6), RandomRotation(40), RandomAffine(20, (0.2, 0), (0.8, 1.2), 10),
        ColorJitter(0.5, 0.5, 0.5, 0.2), GaussianNoise(sigma=0.1), RandomErasing(p=1.0), RandAugment(),
    ]


# ---- flips and crops ----------------------------------------------------------------
def test_flips_move_known_pixels(img):
    h = RandomHorizontalFlip(p=1.0)(img)
    v = RandomVerticalFlip(p=1.0)(img)
    for c, i, j in [(0, 0, 0), (1, 2, 5), (2, 7, 3)]:
        assert h[c, i, 7 - j] == img[c, i, j]
        assert v[c, 7 - i, j] == img[c, i, j]
    assert not np.shares_memory(h, img)


def _locate(out, img):
    """(dy, dx) such that out[:, y, x] == img[:, y + dy, x + dx] wherever the window is inside."""
    hits = np.argwhere(img[0] == out[0][out[0] > 0][0])
    (yi, xi), (yo, xo) = hits[0], np.argwhere(out[0] == out[0][out[0] > 0][0])[0]
    return yi - yo, xi - xo


def test_random_crop_with_padding_is_a_shift_with_fill(img):
    crop = RandomCrop(8, padding=3, fill=0.0).seed(0)
    shifts = set()
    for _ in range(30):
        out = crop(img)
        dy, dx = _locate(out, img)
        assert abs(dy) <= 3 and abs(dx) <= 3
        padded = np.pad(img, ((0, 0), (3, 3), (3, 3)))
        np.testing.assert_array_equal(out, padded[:, 3 + dy:3 + dy + 8, 3 + dx:3 + dx + 8])
        shifts.add((dy, dx))
    assert len(shifts) > 10


@pytest.mark.parametrize("mode", ["edge", "reflect", "symmetric"])
def test_random_crop_padding_modes_match_numpy_pad(img, mode):
    out = RandomCrop(12, padding=2, padding_mode=mode)(img)  # the whole padded image
    np.testing.assert_array_equal(out, np.pad(img, ((0, 0), (2, 2), (2, 2)), mode=mode))


def test_random_crop_padding_forms_and_per_channel_fill(img):
    out = RandomCrop((9, 12), padding=(2, 1), fill=(0.1, 0.2, 0.3))(img)  # left/right 2, top/bottom 1
    assert out.shape == (3, 10 - 1, 12)
    whole = RandomCrop((10, 12), padding=(2, 1), fill=(0.1, 0.2, 0.3))(img)
    np.testing.assert_allclose(whole[:, 0, 0], [0.1, 0.2, 0.3])
    np.testing.assert_array_equal(whole[:, 1:9, 2:10], img)
    out = RandomCrop(10, padding=(1, 0, 1, 2), fill=0)(img)  # left, top, right, bottom
    np.testing.assert_array_equal(out[:, :8, 1:9], img)


def test_random_crop_pad_if_needed(img):
    with pytest.raises(ValueError, match="pad_if_needed"):
        RandomCrop(10)(img)
    assert RandomCrop(10, pad_if_needed=True)(img).shape == (3, 10, 10)


def test_batched_crop_crops_each_sample_independently(batch):
    out = RandomCrop(12, padding=4).seed(1).apply_batch(batch)
    assert out.shape == batch.shape
    padded = np.pad(batch, ((0, 0), (0, 0), (4, 4), (4, 4)))
    offsets = set()
    for k in range(len(batch)):
        matches = [(i, j) for i in range(9) for j in range(9)
                   if np.array_equal(padded[k, :, i:i + 12, j:j + 12], out[k])]
        assert matches, f"sample {k} is not a window of its padded input"
        offsets.add(matches[0])
    assert len(offsets) > 4


def test_random_resized_crop_full_scale_is_identity_and_shapes(img):
    same = RandomResizedCrop(8, scale=(1.0, 1.0), ratio=(1.0, 1.0))(img)
    np.testing.assert_allclose(same, img)
    out = RandomResizedCrop((5, 7)).apply_batch(np.stack([img, img]))
    assert out.shape == (2, 3, 5, 7)
    flat = RandomResizedCrop(20)(np.full((1, 8, 8), 0.25))
    np.testing.assert_allclose(flat, 0.25)


# ---- rotations and affine -----------------------------------------------------------
@pytest.mark.parametrize("interpolation", ["nearest", "bilinear", "bicubic"])
def test_rotation_by_90_matches_rot90(img, interpolation):
    # square images turn by multiples of 90 degrees exactly (torchvision's fast path, any interpolation)
    np.testing.assert_array_equal(RandomRotation((90, 90), interpolation=interpolation)(img), np.rot90(img, 1, axes=(1, 2)))
    np.testing.assert_array_equal(RandomRotation((-90, -90), interpolation=interpolation)(img), np.rot90(img, -1, axes=(1, 2)))
    np.testing.assert_array_equal(RandomRotation((180, 180), interpolation=interpolation)(img), np.rot90(img, 2, axes=(1, 2)))


def test_rotation_expand_holds_the_whole_image():
    x = np.random.default_rng(0).random((1, 4, 6))
    out = RandomRotation((90, 90), expand=True)(x)
    np.testing.assert_array_equal(out, np.rot90(x, 1, axes=(1, 2)))
    with pytest.raises(ValueError, match="unsupported"):  # torchvision: only the fast path takes bicubic
        RandomRotation((30, 30), interpolation="bicubic")(x)


def test_affine_translation_and_rotation(img):
    shifted = RandomAffine(translate=(0.25, 0.0))  # a shift uniform in [-2, 2] pixels, whole pixels
    seen = set()
    for _ in range(40):
        out = shifted(img)
        dx = next(d for d in range(-2, 3) if np.array_equal(out[:, :, max(d, 0):8 + min(d, 0)],
                                                             img[:, :, max(-d, 0):8 - max(d, 0)]))
        seen.add(dx)
    assert seen == {-2, -1, 0, 1, 2}
    rot = RandomAffine(degrees=(90, 90))(img)  # RandomAffine turns clockwise, as torchvision's affine
    np.testing.assert_array_equal(rot, np.rot90(img, -1, axes=(1, 2)))


def test_affine_scale_and_shear():
    x = np.zeros((1, 9, 9))
    x[0, 4, 4] = 1.0  # centre pixel stays put under scale and shear
    x[0, 4, 6] = 0.5  # 2 right of centre
    zoomed = RandomAffine(scale=(2.0, 2.0))(x)
    assert zoomed[0, 4, 4] == 1.0 and zoomed[0, 4, 8] == 0.5
    sheared = RandomAffine(shear=(45, 45))(x)  # torchvision: x' = x - tan(45) * (y - cy)
    assert sheared[0, 4, 4] == 1.0
    y = np.zeros((1, 9, 9))
    y[0, 6, 4] = 1.0  # 2 below centre moves 2 to the left
    assert RandomAffine(shear=(45, 45))(y)[0, 6, 2] == 1.0
    assert RandomAffine(shear=(0, 0, 45, 45))(x)[0, 2, 6] == 0.5  # y shear: y' = y - tan(45) * (x - cx)


# ---- colour and noise ----------------------------------------------------------------
def test_hsv_roundtrip_matches_matplotlib(batch):
    colors = pytest.importorskip("matplotlib.colors")
    hsv = rgb_to_hsv(batch.astype(np.float64))
    np.testing.assert_allclose(hsv, np.moveaxis(colors.rgb_to_hsv(np.moveaxis(batch, 1, -1)), -1, 1), atol=1e-6)
    np.testing.assert_allclose(hsv_to_rgb(hsv), batch, atol=1e-6)


def test_color_jitter_degenerate_ranges_are_fixed_factors(img):
    np.testing.assert_allclose(ColorJitter(brightness=(0.5, 0.5))(img), img * 0.5)
    np.testing.assert_array_equal(ColorJitter(brightness=0, contrast=(1, 1), saturation=0, hue=0)(img), img)
    gray = ColorJitter(saturation=(0.0, 0.0))(img)
    np.testing.assert_allclose(gray[0], gray[1])
    np.testing.assert_allclose(gray[0], 0.2989 * img[0] + 0.587 * img[1] + 0.114 * img[2])
    flat = ColorJitter(contrast=(0.0, 0.0))(img)
    np.testing.assert_allclose(flat, (0.2989 * img[0] + 0.587 * img[1] + 0.114 * img[2]).mean())
    red = np.zeros((3, 2, 2))
    red[0] = 1.0
    np.testing.assert_allclose(ColorJitter(hue=(1 / 3, 1 / 3))(red)[1], 1.0, atol=1e-6)  # red -> green
    assert ColorJitter(brightness=(3.0, 3.0))(img).max() <= 1.0


def test_color_jitter_number_is_a_range_around_the_identity():
    grey = np.full((4000, 1, 1, 1), 0.5)
    factors = ColorJitter(brightness=0.4).apply_batch(grey)[:, 0, 0, 0] / 0.5  # torchvision: [0.6, 1.4]
    assert 0.6 <= factors.min() < 0.61 and 1.39 < factors.max() <= 1.4
    assert abs(factors.mean() - 1.0) < 0.01 and abs(factors.var() - 0.8 ** 2 / 12) < 0.004


def test_batched_jitter_draws_per_image_factors(batch):
    out = ColorJitter(brightness=(0.5, 0.9)).seed(0).apply_batch(batch)
    factors = (out / batch).reshape(len(batch), -1)
    np.testing.assert_allclose(factors, factors[:, :1] * np.ones_like(factors), rtol=1e-5)
    assert np.all((factors[:, 0] >= 0.5) & (factors[:, 0] <= 0.9))
    assert np.unique(np.round(factors[:, 0], 5)).size == len(batch)
    assert out.dtype == np.float32


def test_gaussian_noise_sigma_is_measured():
    x = np.full((1, 64, 64), 0.5)
    out = GaussianNoise(sigma=0.05, clip=False).seed(0)(x)
    assert abs((out - x).std() - 0.05) < 0.003 and abs((out - x).mean()) < 0.003
    outs = GaussianNoise(sigma=(0.01, 0.1), clip=False).seed(0).apply_batch(np.full((8, 1, 64, 64), 0.5))
    stds = (outs - 0.5).std(axis=(1, 2, 3))
    assert np.all((stds > 0.008) & (stds < 0.105)) and stds.std() > 0.005
    assert GaussianNoise(sigma=1.0).seed(0)(x).min() >= 0.0


def test_random_erasing_blanks_one_rectangle(img):
    erased = RandomErasing(p=1.0, value=0.0).seed(3)(img)
    zero = np.all(erased == 0, axis=0)
    rows, cols = np.where(zero.any(axis=1))[0], np.where(zero.any(axis=0))[0]
    assert zero.sum() == len(rows) * len(cols) > 0  # a filled rectangle
    assert 0.02 * 64 * 0.5 <= zero.sum() <= 0.33 * 64 * 1.5
    np.testing.assert_array_equal(erased[:, ~zero], img[:, ~zero])
    noisy = RandomErasing(p=1.0, value="random").seed(3)(img)  # the noise is drawn before the position
    changed = np.any(noisy != img, axis=0)
    rows, cols = np.where(changed.any(axis=1))[0], np.where(changed.any(axis=0))[0]
    assert changed.sum() == len(rows) * len(cols) > 0 and noisy.min() < 0  # a rectangle of N(0, 1) values


def test_normalize(batch):
    out = Normalize([0.5, 0.4, 0.3], [0.2, 0.25, 0.5]).apply_batch(batch)
    np.testing.assert_allclose(out[:, 1], (batch[:, 1] - 0.4) / 0.25, rtol=1e-6)
    with pytest.raises(ValueError, match="channels"):
        Normalize([0.5, 0.5], [1, 1])(batch[0])


# ---- the shared rules: seeds, p, parameters ----------------------------------------
@pytest.mark.parametrize("transform", random_transforms(), ids=lambda t: type(t).__name__)
def test_reproducible_under_seed_and_different_across_seeds(transform, batch):
    x = batch[0]

    def run(seed):
        transform.seed(seed)
        return [transform(x) for _ in range(10)]

    first, again, other = run(0), run(0), run(1)
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert any(not np.array_equal(a, b) for a, b in zip(first, other))
    b0, b1 = transform.seed(5).apply_batch(batch), transform.seed(5).apply_batch(batch)
    np.testing.assert_array_equal(b0, b1)


def test_compose_seed_makes_pipeline_deterministic(batch):
    def make(seed):
        return Compose([RandomCrop(12, padding=4), RandomHorizontalFlip(), ColorJitter((0.6, 1.4), (0.6, 1.4))], seed=seed)

    np.testing.assert_array_equal(make(7).apply_batch(batch), make(7).apply_batch(batch))
    np.testing.assert_array_equal(make(7)(batch[0]), make(7)(batch[0]))
    assert not np.array_equal(make(7).apply_batch(batch), make(8).apply_batch(batch))


@pytest.mark.parametrize("transform", [
    RandomHorizontalFlip(), RandomVerticalFlip(), RandomRotation((30, 60)), RandomAffine(degrees=(20, 40)),
    ColorJitter(brightness=(0.2, 0.5)), GaussianNoise(sigma=0.1), RandomErasing(scale=(0.1, 0.3)),
], ids=lambda t: type(t).__name__)
def test_p_zero_is_identity_and_p_one_always_applies(transform, batch):
    transform.p = 0.0
    assert all(transform(x) is x for x in batch)
    np.testing.assert_array_equal(transform.apply_batch(batch), batch)
    transform.p = 1.0
    assert all(not np.array_equal(transform(x), x) for x in batch)
    assert all(not np.array_equal(o, x) for o, x in zip(transform.apply_batch(batch), batch))


def test_flip_with_probability_half_applies_about_half(batch):
    flip = RandomHorizontalFlip(p=0.5).seed(0)
    flipped = [np.array_equal(flip(batch[0]), batch[0][..., ::-1]) for _ in range(400)]
    assert 0.4 < np.mean(flipped) < 0.6
    out = flip.apply_batch(batch)
    kinds = [np.array_equal(o, x[..., ::-1]) - np.array_equal(o, x) for o, x in zip(out, batch)]
    assert set(kinds) == {1, -1}  # every sample either flipped or untouched, both occur


def test_random_apply(batch):
    apply = RandomApply([RandomHorizontalFlip(p=1.0), RandomVerticalFlip(p=1.0)], p=0.5).seed(0)
    x = batch[0]
    outs = [apply(x) for _ in range(50)]
    both = x[..., ::-1, ::-1]
    assert all(np.array_equal(o, both) or o is x for o in outs)
    assert 10 < sum(np.array_equal(o, both) for o in outs) < 40
    np.testing.assert_array_equal(RandomApply([RandomHorizontalFlip(1.0)], p=0.0).apply_batch(batch), batch)


def test_number_is_a_symmetric_range_for_rotation(img):
    angles = [RandomRotation.get_params(RandomRotation(30).degrees, np.random.default_rng(i)) for i in range(2000)]
    assert RandomRotation(30).degrees == [-30.0, 30.0] and min(angles) < -29 and max(angles) > 29
    assert abs(np.mean(angles)) < 1.0
    fixed = RandomRotation((30, 30)).seed(0)  # a degenerate range is a fixed angle
    assert all(np.array_equal(fixed(img), fixed(img)) for _ in range(3))
    ranged = RandomRotation(30).seed(0)
    assert len({ranged(img).tobytes() for _ in range(5)}) == 5


def test_audio_text_param_rule():
    p = Param((2.0, 5.0), "x")
    draws = p.sample(np.random.default_rng(0), 10_000)
    assert 2.0 <= draws.min() and draws.max() <= 5.0 and abs(draws.mean() - 3.5) < 0.05
    assert Param(3.0, "x").fixed and Param(3.0, "x").sample(np.random.default_rng()) == 3.0
    logs = Param((0.25, 4.0), "r", log=True).sample(np.random.default_rng(0), 10_000)
    assert abs(np.mean(logs < 1.0) - 0.5) < 0.03  # log-uniform: as many below 1 as above
    ints = Param((1, 3), "n", integer=True).sample(np.random.default_rng(0), 1000)
    assert set(ints.tolist()) == {1, 2, 3}


@pytest.mark.parametrize("bad, match", [((3, 1), "low must be <= high"), ("a", "number"), ((1, 2, 3), "pair")])
def test_param_errors(bad, match):
    with pytest.raises(ValueError, match=match):
        Param(bad, "degrees")
    with pytest.raises(ValueError, match="probability"):
        RandomHorizontalFlip(p=1.5)


# ---- input checks -------------------------------------------------------------------
def test_channel_last_and_other_layout_errors(img):
    flip = RandomHorizontalFlip()
    with pytest.raises(ValueError, match=r"\(H, W, C\).*transpose\(2, 0, 1\)"):
        flip(np.zeros((32, 32, 3)))
    with pytest.raises(ValueError, match="apply_batch"):
        flip(np.zeros((2, 3, 8, 8)))
    with pytest.raises(ValueError, match=r"x\[None\]"):
        flip(np.zeros((8, 8)))
    with pytest.raises(TypeError, match="float"):
        flip(np.zeros((3, 8, 8), dtype=np.uint8))
    with pytest.raises(ValueError, match=r"\(N, H, W, C\)"):
        flip.apply_batch(np.zeros((2, 8, 8, 3), dtype=np.float32))
    np.testing.assert_array_equal(ColorJitter(saturation=0.5, hue=0.1)(img[:1]), img[:1])  # as torchvision
    with pytest.raises(TypeError, match="permitted channel values are 1 or 3, but found 2"):
        ColorJitter(hue=0.1)(img[:2])


def test_batched_path_is_fast():
    x = np.random.default_rng(0).random((64, 3, 32, 32)).astype(np.float32)
    aug = Compose([RandomCrop(32, padding=4), RandomHorizontalFlip(), ColorJitter(0.4, 0.4, 0.4)], seed=0)
    aug.apply_batch(x)
    times = []
    for _ in range(5):
        start = time.perf_counter()
        aug.apply_batch(x)
        times.append(time.perf_counter() - start)
    assert np.median(times) < 0.05  # a few ms in practice; generous for slow CI


def test_preview_image_png(tmp_path, img):
    pytest.importorskip("matplotlib")
    path = preview(Compose([RandomRotation(20), ColorJitter(0.5)]), img, n=3, path=tmp_path / "v.png", seed=0)
    with open(path, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
