"""Vision augmentation side by side with torchvision.transforms.v2.

torchvision cannot be installed beside torch 2.13 here, so the reference is
``tests/_torchvision_ref.py``: torchvision's float kernels written independently with torch
ops (PyTorch's own ``grid_sample`` and ``interpolate``, matrices inverted with
``torch.linalg.inv``, Pillow's ``equalize``) and its parameter samplers drawing from torch's
generator.  Three kinds of check:

1. the arguments mean what they mean in torchvision (a number is a range around the
   identity) and bad ones fail with torchvision's exception type and message;
2. the drawn factors have torchvision's distributions (Kolmogorov-Smirnov tests, means,
   extremes, two-sample tests against the torch-driven sampler);
3. for equal drawn factors the pixels equal the reference's.
"""

import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
stats = pytest.importorskip("scipy.stats")

import gradwise  # noqa: E402
from gradwise.augment import (  # noqa: E402
    CenterCrop,
    ColorJitter,
    CutMix,
    MixUp,
    RandAugment,
    RandomAffine,
    RandomCrop,
    RandomErasing,
    RandomResizedCrop,
    RandomRotation,
    Resize,
)
from gradwise.augment import functional as F  # noqa: E402
from gradwise.augment.vision import apply_op  # noqa: E402

import _torchvision_ref as ref  # noqa: E402 - beside this file (pytest puts tests/ on sys.path)

P_MIN = 1e-3  # KS p-values below this fail; all draws are seeded, so the tests are deterministic


@pytest.fixture
def rgb():
    return np.random.default_rng(0).random((3, 13, 17))


@pytest.fixture
def batch():
    return np.random.default_rng(1).random((6, 3, 11, 14))


def draws(fn, n=4000, seed=0):
    rng = np.random.default_rng(seed)
    return np.array([fn(rng) for _ in range(n)])


# ---- 1. argument meanings and errors ---------------------------------------------------------
@pytest.mark.parametrize("kwargs, attr, expected", [
    ({"brightness": 0.4}, "brightness", (0.6, 1.4)),
    ({"brightness": 1.5}, "brightness", (0.0, 2.5)),  # the low end is clipped at 0
    ({"contrast": (0.2, 0.9)}, "contrast", (0.2, 0.9)),
    ({"saturation": 0}, "saturation", None),  # the identity range means "skip"
    ({"brightness": (1, 1)}, "brightness", None),
    ({"hue": 0.1}, "hue", (-0.1, 0.1)),
    ({"hue": (-0.5, 0.2)}, "hue", (-0.5, 0.2)),
])
def test_color_jitter_ranges(kwargs, attr, expected):
    got = getattr(ColorJitter(**kwargs), attr)
    assert got == (pytest.approx(expected) if expected is not None else None)


@pytest.mark.parametrize("make, exc, message", [
    (lambda: ColorJitter(brightness=-0.1), ValueError, "If brightness is a single number, it must be non negative."),
    (lambda: ColorJitter(contrast=(1, 2, 3)), TypeError, "contrast=(1, 2, 3) should be a single number or a sequence with length 2."),
    (lambda: ColorJitter(saturation=(-1, 2)), ValueError, "saturation values should be between (0, inf), but got [-1.0, 2.0]."),
    (lambda: ColorJitter(hue=0.6), ValueError, "hue values should be between (-0.5, 0.5), but got [-0.6, 0.6]."),
    (lambda: RandomRotation(-5), ValueError, "If degrees is a single number, it must be positive."),
    (lambda: RandomRotation((1, 2, 3)), ValueError, "degrees should be a sequence of length 2."),
    (lambda: RandomRotation(None), TypeError, "degrees should be a sequence of length 2."),
    (lambda: RandomRotation(10, center=(1,)), ValueError, "center should be a sequence of length 2."),
    (lambda: RandomAffine(10, translate=(0.1, 1.5)), ValueError, "translation values should be between 0 and 1"),
    (lambda: RandomAffine(10, translate=0.1), TypeError, "translate should be a sequence of length 2."),
    (lambda: RandomAffine(10, scale=(0.0, 1.0)), ValueError, "scale values should be positive"),
    (lambda: RandomAffine(10, scale=2.0), TypeError, "scale should be a sequence of length 2."),
    (lambda: RandomAffine(10, shear=(1, 2, 3)), ValueError, "shear should be a sequence of length 2 or 4."),
    (lambda: RandomAffine(10, shear=-3), ValueError, "If shear is a single number, it must be positive."),
    (lambda: RandomAffine(10, fill="red"), TypeError, "Got inappropriate fill arg"),
    (lambda: RandomResizedCrop(8, scale=0.5), TypeError, "Scale should be a sequence"),
    (lambda: RandomResizedCrop(8, ratio=1.0), TypeError, "Ratio should be a sequence"),
    (lambda: RandomResizedCrop((8, 8, 8)), ValueError, "Please provide only two dimensions (h, w) for size."),
    (lambda: CenterCrop((1, 2, 3)), ValueError, "Please provide only two dimensions (h, w) for size."),
    (lambda: Resize((1, 2, 3)), ValueError, "size can be an integer, a sequence of one or two integers, or None"),
    (lambda: Resize(None), ValueError, "max_size must be an integer when size is None, but got None instead."),
    (lambda: Resize(8, interpolation="cubic"), ValueError, "Argument interpolation should be an `InterpolationMode`"),
    (lambda: RandomCrop(8, padding=(1, 2, 3)), ValueError, "Padding must be an int or a 1, 2, or 4 element of tuple or list"),
    (lambda: RandomCrop(8, padding=1, padding_mode="wrap"), ValueError, "Padding mode should be either constant, edge, reflect or symmetric"),
    (lambda: RandomErasing(scale=(0.5, 1.5)), ValueError, "Scale should be between 0 and 1"),
    (lambda: RandomErasing(value="noise"), ValueError, "If value is str, it should be 'random'"),
    (lambda: RandAugment(num_ops=-1), ValueError, "num_ops should be a non-negative integer, but got -1 instead."),
    (lambda: MixUp(alpha=0.0, num_classes=3), ValueError, "alpha must be > 0"),
])
def test_torchvision_validation_errors(make, exc, message):
    with pytest.raises(exc) as info:
        make()
    assert message in str(info.value)


def test_inverted_ranges_warn_as_torchvision():
    with pytest.warns(UserWarning, match=r"Scale and ratio should be of kind \(min, max\)"):
        RandomResizedCrop(8, scale=(1.0, 0.5))
    with pytest.warns(UserWarning, match=r"Scale and ratio should be of kind \(min, max\)"):
        RandomErasing(ratio=(3.0, 0.3))


def test_call_time_errors(rgb):
    with pytest.raises(ValueError, match=r"Required crop size \(20, 20\) is larger than input image size \(13, 17\)"):
        RandomCrop(20)(rgb)
    with pytest.raises(ValueError, match="max_size = 5 must be strictly greater than the requested size"):
        Resize(8, max_size=5)(rgb)
    with pytest.raises(ValueError, match="fill' cannot broadcast to match the number of channels"):
        RandomRotation(10, fill=(0.1, 0.2))(rgb)
    with pytest.raises(ValueError, match="If value is a sequence, it should have either a single value or 3"):
        RandomErasing(p=1.0, value=(0.1, 0.2))(rgb)
    with pytest.raises(ValueError, match="num_classes must be passed if the labels are index-based"):
        MixUp()(rgb[None], np.array([0]))
    with pytest.raises(ValueError, match="Expected a batched input with 4 dims, but got 3 dimensions instead."):
        MixUp(num_classes=3)(rgb, np.array([0, 1, 2]))
    with pytest.raises(ValueError, match="does not match the batch size of the labels: 1 != 2."):
        CutMix(num_classes=3)(rgb[None], np.array([0, 1]))
    with pytest.raises(ValueError, match="must match num_classes: 4 != 3"):
        CutMix(num_classes=3)(rgb[None], np.ones((1, 4)))


# ---- 2. distributions of the drawn factors ----------------------------------------------------
def test_color_jitter_factors_are_uniform_on_torchvision_ranges():
    jitter = ColorJitter(brightness=0.4, contrast=2.0, saturation=(0.3, 0.8), hue=0.2)
    params = [ColorJitter.get_params(jitter.brightness, jitter.contrast, jitter.saturation, jitter.hue, rng)
              for rng in [np.random.default_rng(0)] for _ in range(4000)]
    for k, (lo, hi) in zip(range(1, 5), [(0.6, 1.4), (0.0, 3.0), (0.3, 0.8), (-0.2, 0.2)]):
        values = np.array([p[k] for p in params])
        assert stats.kstest(values, stats.uniform(lo, hi - lo).cdf).pvalue > P_MIN
    orders = np.array([p[0] for p in params])
    firsts = np.bincount(orders[:, 0], minlength=4) / len(orders)  # every operation first a quarter of the time
    np.testing.assert_allclose(firsts, 0.25, atol=0.03)


def test_color_jitter_measured_through_the_pixels():
    # brightness and contrast factors read back from the output of the transform itself
    n = 3000
    grey = np.full((n, 1, 1, 2), 0.5)
    b = ColorJitter(brightness=0.3).seed(1).apply_batch(grey)[:, 0, 0, 0] / 0.5
    assert stats.kstest(b, stats.uniform(0.7, 0.6).cdf).pvalue > P_MIN
    two = np.tile(np.array([0.25, 0.75]).reshape(1, 1, 1, 2), (n, 1, 1, 1))
    out = ColorJitter(contrast=0.4).seed(2).apply_batch(two)
    c = (out[:, 0, 0, 1] - out[:, 0, 0, 0]) / 0.5
    assert stats.kstest(c, stats.uniform(0.6, 0.8).cdf).pvalue > P_MIN
    # hue: the shift of the HSV hue of a saturated colour
    rgb = np.zeros((n, 3, 1, 1))
    rgb[:, 0] = 1.0
    shifted = F.rgb_to_hsv(ColorJitter(hue=0.25).seed(3).apply_batch(rgb))[:, 0, 0, 0]
    shift = (shifted + 0.5) % 1.0 - 0.5
    assert stats.kstest(shift, stats.uniform(-0.25, 0.5).cdf).pvalue > P_MIN


def test_rotation_and_affine_parameter_distributions():
    angles = draws(lambda r: RandomRotation.get_params(RandomRotation(30).degrees, r))
    assert stats.kstest(angles, stats.uniform(-30, 60).cdf).pvalue > P_MIN
    aff = RandomAffine(15, translate=(0.2, 0.1), scale=(0.8, 1.2), shear=(-5, 5, -10, 10))
    params = [RandomAffine.get_params(aff.degrees, aff.translate, aff.scale, aff.shear, [20, 30], r)
              for r in [np.random.default_rng(5)] for _ in range(4000)]
    angle, shift, scale, shear = (np.array(v) for v in zip(*params))
    (tx, ty), (sx, sy) = shift.T, shear.T
    assert stats.kstest(angle, stats.uniform(-15, 30).cdf).pvalue > P_MIN
    assert stats.kstest(scale, stats.uniform(0.8, 0.4).cdf).pvalue > P_MIN
    assert stats.kstest(sx, stats.uniform(-5, 10).cdf).pvalue > P_MIN
    assert stats.kstest(sy, stats.uniform(-10, 20).cdf).pvalue > P_MIN
    # translations: round(U(-0.2 * 20, 0.2 * 20)) and round(U(-3, 3)) whole pixels
    assert set(np.unique(tx)) == set(range(-4, 5)) and set(np.unique(ty)) == set(range(-3, 4))
    expected = np.diff(np.clip(np.arange(-4.5, 5.5), -4, 4)) / 8  # the mass each integer gets
    np.testing.assert_allclose(np.bincount(tx + 4) / len(tx), expected, atol=0.02)
    no_shear = RandomAffine.get_params([0, 0], None, None, None, [5, 5], np.random.default_rng(0))
    assert no_shear == (0.0, (0, 0), 1.0, (0.0, 0.0))


@pytest.mark.parametrize("size, scale, ratio", [
    ((32, 32), (0.08, 1.0), (3 / 4, 4 / 3)),
    ((24, 40), (0.3, 0.9), (0.5, 2.0)),
    ((30, 30), (0.9, 1.0), (3.0, 4.0)),  # often no box fits: the fallback centre crop
])
def test_resized_crop_boxes_match_the_torch_driven_sampler(size, scale, ratio):
    h, w = size
    ours = draws(lambda r: RandomResizedCrop.get_params(np.zeros((1, h, w)), scale, ratio, r), n=3000)
    g = torch.Generator().manual_seed(0)
    theirs = np.array([ref.sample_resized_crop(h, w, scale, ratio, g) for _ in range(3000)])
    for k in range(4):  # top, left, height, width: same distributions (two-sample KS)
        assert stats.ks_2samp(ours[:, k], theirs[:, k]).pvalue > P_MIN, k
    assert np.all(ours[:, 0] + ours[:, 2] <= h) and np.all(ours[:, 1] + ours[:, 3] <= w)


def test_randaugment_op_and_sign_frequencies():
    aug = RandAugment(num_ops=1, magnitude=9)
    picks = [aug.get_params(32, 32, r)[0] for r in [np.random.default_rng(0)] for _ in range(7000)]
    counts = np.array([sum(op == name for op, _ in picks) for name in aug.ops])
    assert len(aug.ops) == 14
    assert stats.chisquare(counts).pvalue > P_MIN
    rot = np.array([m for op, m in picks if op == "Rotate"])
    assert set(np.round(np.abs(rot), 5)) == {9.0} and 0.4 < np.mean(rot > 0) < 0.6  # 30 * 9 / 30, either sign
    assert all(m == 0.0 for op, m in picks if op in ("Identity", "AutoContrast", "Equalize"))


def test_randaugment_magnitude_tables_match_torch():
    aug = RandAugment(num_magnitude_bins=31)
    table = aug.magnitudes(height=40, width=60)
    lin = lambda a, b: torch.linspace(a, b, 31).numpy()  # noqa: E731
    expected = {"ShearX": lin(0.0, 0.3), "TranslateX": lin(0.0, 150.0 / 331.0 * 60), "TranslateY": lin(0.0, 150.0 / 331.0 * 40),
                "Rotate": lin(0.0, 30.0), "Brightness": lin(0.0, 0.9), "Solarize": lin(1.0, 0.0),
                "Posterize": (8 - (torch.arange(31) / ((31 - 1) / 4))).round().int().numpy()}
    for op, values in expected.items():
        np.testing.assert_array_equal(table[op], values, err_msg=op)
    assert table["Identity"] is None and table["Equalize"] is None


def test_mixup_and_cutmix_lambda_distributions():
    lam = draws(lambda r: MixUp(alpha=0.4, num_classes=2).get_params(r))
    assert stats.kstest(lam, stats.beta(0.4, 0.4).cdf).pvalue > P_MIN
    cut = CutMix(alpha=1.0, num_classes=2)
    ours = draws(lambda r: cut.get_params(24, 36, r)[1], n=3000)
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    theirs = np.array([ref.sample_cutmix(24, 36, 1.0, g)[1] for _ in range(3000)])
    assert stats.ks_2samp(ours, theirs).pvalue > P_MIN


def test_random_erasing_boxes_area_and_ratio():
    er = RandomErasing(scale=(0.05, 0.2), ratio=(0.5, 2.0))
    boxes = draws(lambda r: RandomErasing.get_params(np.zeros((3, 40, 40)), er.scale, er.ratio, 0.0, r)[:4], n=3000)
    area = boxes[:, 2] * boxes[:, 3] / 1600
    assert 0.04 < area.min() and area.max() < 0.22 and abs(np.median(boxes[:, 2] / boxes[:, 3]) - 1) < 0.1


# ---- 3. equal drawn factors, equal pixels ----------------------------------------------------
@pytest.mark.parametrize("name, factor", [
    ("adjust_brightness", 0.0), ("adjust_brightness", 1.37), ("adjust_contrast", 0.3), ("adjust_contrast", 1.8),
    ("adjust_saturation", 0.0), ("adjust_saturation", 1.6), ("adjust_sharpness", 0.2), ("adjust_sharpness", 1.9),
    ("adjust_hue", -0.5), ("adjust_hue", 0.13), ("adjust_hue", 0.41),
    ("posterize", 1), ("posterize", 4), ("posterize", 8), ("solarize", 0.0), ("solarize", 0.55), ("solarize", 1.0),
])
def test_color_kernels_match_the_reference(name, factor, batch):
    ours = getattr(F, name)(batch, factor)
    theirs = getattr(ref, name)(batch, factor)
    atol = 2e-6 if name == "adjust_hue" else 1e-12  # torchvision computes hue in float32
    np.testing.assert_allclose(ours, theirs, atol=atol)
    assert ours.dtype == batch.dtype
    gray = batch[:, :1]
    if name != "adjust_hue":
        np.testing.assert_allclose(getattr(F, name)(gray, factor), getattr(ref, name)(gray, factor), atol=1e-12)


def test_autocontrast_equalize_invert_match_the_reference(batch):
    low = batch * 0.5 + 0.2
    low[0, 1] = 0.3  # a flat channel stays as it is
    np.testing.assert_allclose(F.autocontrast(low), ref.autocontrast(low), atol=1e-12)
    np.testing.assert_allclose(F.equalize(low), ref.equalize(low), atol=1e-12)
    np.testing.assert_array_equal(F.invert(batch), 1 - batch)
    np.testing.assert_allclose(F.adjust_hue(batch.astype(np.float32), 0.2), ref.adjust_hue(batch.astype(np.float32), 0.2),
                               atol=2e-6)


@pytest.mark.parametrize("interpolation", ["nearest", "bilinear"])
@pytest.mark.parametrize("fill", [None, 0.0, (0.2, 0.5, 0.9)])
def test_affine_and_rotate_kernels_match_grid_sample(rgb, interpolation, fill):
    rng = np.random.default_rng(0)
    for trial in range(12):
        angle = float(rng.uniform(-180, 180))
        translate = [int(rng.integers(-4, 5)), int(rng.integers(-4, 5))]
        scale, shear = float(rng.uniform(0.6, 1.4)), [float(rng.uniform(-30, 30)), float(rng.uniform(-30, 30))]
        center = None if trial % 2 else [float(rng.uniform(0, 17)), float(rng.uniform(0, 13))]
        ours = F.affine(rgb, angle, translate, scale, shear, interpolation, fill, center)
        theirs = ref.warp(rgb, angle, translate, scale, shear, interpolation, fill, center)
        np.testing.assert_allclose(ours, theirs, atol=1e-9)
        for expand in (False, True):
            ours = F.rotate(rgb, angle, interpolation, expand=expand, center=None, fill=fill)
            theirs = ref.rotate(rgb, angle, interpolation, expand=expand, fill=fill)
            assert ours.shape == theirs.shape
            np.testing.assert_allclose(ours, theirs, atol=1e-9)


@pytest.mark.parametrize("interpolation, antialias", [
    ("nearest", False), ("nearest-exact", False), ("bilinear", False), ("bilinear", True), ("bicubic", False),
    ("bicubic", True),
])
@pytest.mark.parametrize("size", [(5, 7), (26, 40), (13, 30), (9, 17), (40, 11), (1, 1)])
def test_resize_matches_torch_interpolate(rgb, interpolation, antialias, size):
    ours = F.resize(rgb, list(size), interpolation, antialias=antialias)
    theirs = ref.resize(rgb, size, interpolation, antialias)
    np.testing.assert_allclose(ours, theirs, atol=1e-12)
    np.testing.assert_allclose(F.resize(rgb.astype(np.float32), list(size), interpolation, antialias=antialias),
                               theirs, atol=2e-6)


@pytest.mark.parametrize("size, max_size, expected", [
    (8, None, (8, 10)), ([8], None, (8, 10)), ((5, 9), None, (5, 9)), (8, 9, (7, 9)), (None, 10, (7, 10)),
    (13, None, (13, 17)),
])
def test_resize_output_size_as_torchvision(rgb, size, max_size, expected):
    assert Resize(size, max_size=max_size)(rgb).shape[-2:] == expected  # 13 x 17: the short edge is the height


@pytest.mark.parametrize("size", [(5, 5), (6, 9), (13, 17), (16, 20), (14, 17), (20, 30), 7])
def test_center_crop_matches_the_reference(rgb, size):
    pair = (size, size) if isinstance(size, int) else size
    np.testing.assert_array_equal(CenterCrop(size)(rgb), ref.center_crop(rgb, pair))


def _seeded(seed):
    gradwise.manual_seed(seed)
    from gradwise.tensor import random as gw_random
    return gw_random._rng()


def test_transforms_apply_the_kernels_to_their_drawn_factors(rgb):
    """With the same global seed, transform(x) == reference kernel(x, params drawn by get_params)."""
    for seed in range(5):
        t = ColorJitter(0.5, 0.5, 0.5, 0.3)
        gradwise.manual_seed(seed)
        out = t(rgb)
        order, b, c, s, h = ColorJitter.get_params(t.brightness, t.contrast, t.saturation, t.hue, _seeded(seed), 1)
        expected = rgb
        for op in order:
            fn, factor = [(ref.adjust_brightness, b), (ref.adjust_contrast, c), (ref.adjust_saturation, s),
                          (ref.adjust_hue, h)][op]
            expected = fn(expected, float(factor[0]))
        np.testing.assert_allclose(out, expected, atol=2e-6)

        t = RandomRotation(45, interpolation="bilinear", fill=0.5)
        gradwise.manual_seed(seed)
        out = t(rgb)
        angle = RandomRotation.get_params(t.degrees, _seeded(seed))
        np.testing.assert_allclose(out, ref.rotate(rgb, angle, "bilinear", fill=0.5), atol=1e-9)

        t = RandomAffine(30, translate=(0.2, 0.2), scale=(0.7, 1.3), shear=(-10, 10, -5, 5))
        gradwise.manual_seed(seed)
        out = t(rgb)
        angle, tr, sc, sh = RandomAffine.get_params(t.degrees, t.translate, t.scale, t.shear, [17, 13], _seeded(seed))
        np.testing.assert_allclose(out, ref.warp(rgb, angle, tr, sc, sh, "nearest", 0), atol=1e-9)

        t = RandomResizedCrop((9, 11))
        gradwise.manual_seed(seed)
        out = t(rgb)
        i, j, hh, ww = RandomResizedCrop.get_params(rgb, t.scale, t.ratio, _seeded(seed))
        np.testing.assert_allclose(out, ref.resize(rgb[:, i:i + hh, j:j + ww], (9, 11), "bilinear", True), atol=1e-12)


@pytest.mark.parametrize("op", list(RandAugment.ops) + ["Invert"])
def test_randaugment_operations_match_the_reference(rgb, op):
    aug = RandAugment(magnitude=20)
    table = aug.magnitudes(13, 17)
    values = table.get(op)
    for magnitude in ([0.0] if values is None else [float(values[20]), -float(values[20])]):
        if op == "Posterize" or op == "Solarize":
            magnitude = abs(magnitude)
        ours = apply_op(rgb, op, magnitude, "nearest", None)
        theirs = {
            "Identity": lambda: rgb,
            "ShearX": lambda: ref.warp(rgb, 0.0, (0, 0), 1.0, (np.degrees(np.arctan(magnitude)), 0.0), center=(0, 0)),
            "ShearY": lambda: ref.warp(rgb, 0.0, (0, 0), 1.0, (0.0, np.degrees(np.arctan(magnitude))), center=(0, 0)),
            "TranslateX": lambda: ref.warp(rgb, 0.0, (int(magnitude), 0), 1.0, (0, 0)),
            "TranslateY": lambda: ref.warp(rgb, 0.0, (0, int(magnitude)), 1.0, (0, 0)),
            "Rotate": lambda: ref.rotate(rgb, magnitude),
            "Brightness": lambda: ref.adjust_brightness(rgb, 1 + magnitude),
            "Color": lambda: ref.adjust_saturation(rgb, 1 + magnitude),
            "Contrast": lambda: ref.adjust_contrast(rgb, 1 + magnitude),
            "Sharpness": lambda: ref.adjust_sharpness(rgb, 1 + magnitude),
            "Posterize": lambda: ref.posterize(rgb, int(magnitude)),
            "Solarize": lambda: ref.solarize(rgb, magnitude),
            "AutoContrast": lambda: ref.autocontrast(rgb),
            "Equalize": lambda: ref.equalize(rgb),
            "Invert": lambda: 1 - rgb,
        }[op]()
        np.testing.assert_allclose(ours, theirs, atol=1e-9, err_msg=f"{op} {magnitude}")


def test_randaugment_applies_its_drawn_ops_in_order(rgb):
    aug = RandAugment(num_ops=3, magnitude=12, interpolation="bilinear", fill=0.5)
    for seed in range(6):
        gradwise.manual_seed(seed)
        out = aug(rgb)
        expected = rgb
        for op, magnitude in aug.get_params(13, 17, _seeded(seed)):
            expected = apply_op(expected, op, magnitude, "bilinear", 0.5)
        np.testing.assert_array_equal(out, expected)
    assert RandAugment(num_ops=0)(rgb) is not rgb
    np.testing.assert_array_equal(RandAugment(num_ops=0)(rgb), rgb)


@pytest.mark.parametrize("labels", ["index", "soft"])
def test_mixup_and_cutmix_match_the_reference(batch, labels):
    y = np.array([0, 3, 1, 1, 2, 3]) if labels == "index" else np.random.default_rng(0).dirichlet(np.ones(4), 6)
    for seed in range(4):
        mix = MixUp(alpha=0.7, num_classes=4)
        gradwise.manual_seed(seed)
        images, targets = mix(batch, y)
        lam = mix.get_params(_seeded(seed))
        ref_images, ref_targets = ref.mixup(batch, torch.as_tensor(y), lam, 4)
        np.testing.assert_allclose(images, ref_images, atol=1e-12)
        np.testing.assert_allclose(targets, ref_targets, atol=1e-6)
        assert targets.shape == (6, 4) and np.allclose(targets.sum(1), 1)

        cut = CutMix(alpha=1.0, num_classes=4)
        gradwise.manual_seed(seed)
        images, targets = cut((batch, y))  # a single (images, labels) tuple works too
        box, lam = cut.get_params(11, 14, _seeded(seed))
        ref_images, ref_targets = ref.cutmix(batch, torch.as_tensor(y), box, 4)
        np.testing.assert_array_equal(images, ref_images)
        np.testing.assert_allclose(targets, ref_targets, atol=1e-6)


def test_mixup_keeps_the_container_type(batch):
    images, targets = MixUp(num_classes=4, seed=0)(torch.from_numpy(batch), torch.tensor([0, 1, 2, 3, 0, 1]))
    assert isinstance(images, torch.Tensor) and targets.dtype == torch.float32
    gw_images, gw_targets = CutMix(num_classes=4, seed=0)(gradwise.from_numpy(batch), gradwise.tensor([0, 1, 2, 3, 0, 1]))
    assert isinstance(gw_images, gradwise.Tensor) and gw_targets.shape == (6, 4)
    with pytest.raises(TypeError, match=r"mixup\(images, labels\)"):
        MixUp(num_classes=4).apply_batch(batch)


def test_batches_draw_per_image_parameters(batch):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for t in [RandomRotation(40), RandomAffine(20, (0.1, 0.1)), RandomResizedCrop(8), RandAugment(), ColorJitter(0.5)]:
            out = t.seed(0).apply_batch(np.repeat(batch[:1], 5, axis=0))
            assert len({o.tobytes() for o in out}) > 1, type(t).__name__
    assert Resize((6, 8)).apply_batch(batch).shape == (6, 3, 6, 8)
    np.testing.assert_allclose(Resize((6, 8)).apply_batch(batch)[2], F.resize(batch[2], [6, 8]))
    assert CenterCrop(5).apply_batch(batch).shape == (6, 3, 5, 5)
