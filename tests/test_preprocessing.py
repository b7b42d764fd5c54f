"""Standardize / PCA / ZCAWhitening: measured against NumPy (and scikit-learn when present)."""

import numpy as np
import pytest

from gradwise.data.preprocessing import (
    PCA,
    NotFittedError,
    Preprocessor,
    Standardize,
    ZCAWhitening,
    load,
)


@pytest.fixture
def correlated():
    """400 samples of 6 strongly correlated features with different scales and offsets."""
    rng = np.random.default_rng(0)
    mixing = rng.normal(size=(6, 6)) * np.array([1, 10, 0.1, 3, 1, 50])
    return rng.normal(size=(400, 6)) @ mixing + np.arange(6) * 7.0


# ---- Standardize -------------------------------------------------------------------
def test_standardize_per_feature_zero_mean_unit_variance(correlated):
    z = Standardize().fit_transform(correlated)
    np.testing.assert_allclose(z.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(z.std(axis=0), 1, atol=1e-12)


def test_standardize_uses_training_statistics_only(correlated):
    train, test = correlated[:300], correlated[300:] + 5.0
    s = Standardize().fit(train)
    expected = (test - train.mean(axis=0)) / train.std(axis=0)
    np.testing.assert_allclose(s.transform(test), expected)
    np.testing.assert_allclose(s.inverse_transform(s.transform(test)), test)


def test_standardize_per_channel_images():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(16, 3, 5, 5)) * np.array([1, 2, 3])[:, None, None] + np.array([0, 5, -5])[:, None, None]
    s = Standardize(per_channel=True).fit(x)
    assert s.mean_.shape == (1, 3, 1, 1)
    z = s.transform(x)
    np.testing.assert_allclose(z.mean(axis=(0, 2, 3)), 0, atol=1e-12)
    np.testing.assert_allclose(z.std(axis=(0, 2, 3)), 1, atol=1e-12)
    # any number of images and any spatial size share the channel statistics
    assert s.transform(x[:2, :, :3, :4]).shape == (2, 3, 3, 4)


def test_standardize_constant_feature_only_centered():
    x = np.column_stack([np.arange(5.0), np.full(5, 3.0)])
    z = Standardize().fit_transform(x)
    np.testing.assert_array_equal(z[:, 1], 0.0)


def test_standardize_keeps_float32():
    x = np.random.default_rng(0).normal(size=(10, 4)).astype(np.float32)
    assert Standardize().fit_transform(x).dtype == np.float32


def test_standardize_errors_name_class_and_shapes():
    s = Standardize(per_channel=True)
    with pytest.raises(NotFittedError, match="Standardize.transform"):
        s.transform(np.zeros((2, 3, 4, 4)))
    s.fit(np.zeros((2, 3, 4, 4)))
    with pytest.raises(ValueError, match=r"Standardize\.transform.*\(\*, 3, \*, \*\).*\(2, 4, 4, 3\)"):
        s.transform(np.zeros((2, 4, 4, 3)))
    with pytest.raises(ValueError, match="out of range"):
        Standardize(axis=3).fit(np.zeros((2, 2)))


# ---- PCA ---------------------------------------------------------------------------
def test_pca_matches_numpy_svd(correlated):
    pca = PCA(n_components=4).fit(correlated)
    centered = correlated - correlated.mean(axis=0)
    u, s, vt = np.linalg.svd(centered, full_matrices=False)
    # same subspace and variances; signs: largest |entry| of each component positive
    signs = np.sign(vt[np.arange(6), np.abs(vt).argmax(axis=1)])
    np.testing.assert_allclose(pca.components_, (vt * signs[:, None])[:4], atol=1e-10)
    np.testing.assert_allclose(pca.explained_variance_, s[:4] ** 2 / (len(correlated) - 1))
    np.testing.assert_allclose(pca.explained_variance_ratio_, (s**2 / np.sum(s**2))[:4])
    np.testing.assert_allclose(pca.transform(correlated), (u * s * signs)[:, :4], atol=1e-8)
    assert np.all(np.diff(pca.explained_variance_) <= 0)
    assert np.all(pca.components_[np.arange(4), np.abs(pca.components_).argmax(axis=1)] > 0)


def test_pca_projection_is_uncorrelated_and_whitening_gives_identity(correlated):
    z = PCA().fit_transform(correlated)
    cov = np.cov(z, rowvar=False)
    np.testing.assert_allclose(cov - np.diag(np.diag(cov)), 0, atol=1e-8)
    zw = PCA(whiten=True).fit_transform(correlated)
    np.testing.assert_allclose(np.cov(zw, rowvar=False), np.eye(6), atol=1e-10)


def test_pca_matches_scikit_learn(correlated):
    sk = pytest.importorskip("sklearn.decomposition")
    for kwargs in ({"n_components": 3}, {"n_components": 3, "whiten": True}, {"n_components": 0.95}):
        ours = PCA(**kwargs).fit(correlated)
        theirs = sk.PCA(svd_solver="full", **kwargs).fit(correlated)
        assert int(ours.n_components_) == theirs.n_components_
        np.testing.assert_allclose(ours.components_, theirs.components_, atol=1e-10)
        np.testing.assert_allclose(ours.explained_variance_ratio_, theirs.explained_variance_ratio_)
        np.testing.assert_allclose(ours.singular_values_, theirs.singular_values_)
        np.testing.assert_allclose(ours.transform(correlated), theirs.transform(correlated), atol=1e-8)
        z = ours.transform(correlated[:5])
        np.testing.assert_allclose(ours.inverse_transform(z), theirs.inverse_transform(z), atol=1e-8)


def test_pca_inverse_roundtrip_on_images():
    x = np.random.default_rng(2).normal(size=(30, 2, 3, 3))
    pca = PCA().fit(x)
    z = pca.transform(x)
    assert z.shape == (30, 18)
    np.testing.assert_allclose(pca.inverse_transform(z), x, atol=1e-10)


def test_pca_errors(correlated):
    with pytest.raises(NotFittedError, match="PCA.transform"):
        PCA(2).transform(correlated)
    with pytest.raises(ValueError, match=r"n_components=10.*min\(400, 6\) = 6"):
        PCA(10).fit(correlated)
    pca = PCA(2).fit(correlated)
    with pytest.raises(ValueError, match=r"PCA\.transform.*\(N, 6\).*\(400, 5\)"):
        pca.transform(correlated[:, :5])
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        pca.inverse_transform(np.zeros((3, 4)))
    with pytest.raises(ValueError, match="reshape"):
        PCA().fit(np.arange(5.0))


# ---- ZCA ---------------------------------------------------------------------------
def test_zca_whitened_training_covariance_is_identity(correlated):
    zca = ZCAWhitening(eps=1e-10).fit(correlated)
    w = zca.transform(correlated)
    np.testing.assert_allclose(w.mean(axis=0), 0, atol=1e-8)
    np.testing.assert_allclose(np.cov(w, rowvar=False), np.eye(6), atol=1e-6)
    # ZCA: the whitening matrix is symmetric (no rotation away from the input axes)
    np.testing.assert_allclose(zca.whitening_, zca.whitening_.T, atol=1e-10)
    np.testing.assert_allclose(zca.inverse_transform(w), correlated, atol=1e-6)


def test_zca_stays_closer_to_input_than_pca_whitening(correlated):
    x = Standardize().fit_transform(correlated)
    zca = ZCAWhitening(eps=1e-10).fit_transform(x)
    pca = PCA(whiten=True).fit_transform(x)
    assert np.sum((zca - x) ** 2) < np.sum((pca - x) ** 2)


def test_zca_images_keep_shape_and_singular_covariance_needs_eps():
    x = np.random.default_rng(3).normal(size=(10, 1, 4, 4))  # 10 samples, 16 features
    assert ZCAWhitening(eps=0.1).fit_transform(x).shape == x.shape
    with pytest.raises(ValueError, match="singular"):
        ZCAWhitening(eps=0).fit(x)


# ---- serialization -----------------------------------------------------------------
@pytest.mark.parametrize("make", [lambda: Standardize(per_channel=True), lambda: Standardize(axis=(0, 2)),
                                  lambda: PCA(3, whiten=True), lambda: PCA(0.9), lambda: ZCAWhitening(1e-3)])
def test_save_load_roundtrip(tmp_path, make):
    x = np.random.default_rng(4).normal(size=(50, 3, 2, 2))
    fitted = make().fit(x)
    path = tmp_path / "pre.npz"
    fitted.save(path)
    with np.load(path, allow_pickle=False) as data:  # plain arrays, no pickle
        assert str(data["__class__"]) == type(fitted).__name__
    for restored in (load(path), type(fitted).load(path), Preprocessor.load(path)):
        assert type(restored) is type(fitted)
        assert repr(restored) == repr(fitted)
        np.testing.assert_allclose(restored.transform(x), fitted.transform(x))
    state = fitted.state_dict()
    assert all(isinstance(v, (np.ndarray, int, float, bool, tuple, np.integer)) for v in state.values())
    clone = make().load_state_dict(state)
    np.testing.assert_allclose(clone.transform(x), fitted.transform(x))


def test_load_checks_class(tmp_path):
    path = tmp_path / "s.npz"
    Standardize().fit(np.ones((3, 2))).save(path)
    with pytest.raises(ValueError, match="holds a Standardize, not a PCA"):
        PCA.load(path)


def test_roundtrips_on_random_shapes():
    hypothesis = pytest.importorskip("hypothesis")
    st = hypothesis.strategies

    @hypothesis.settings(max_examples=25, deadline=None)
    @hypothesis.given(n=st.integers(3, 30), d=st.integers(1, 8), seed=st.integers(0, 2**16))
    def check(n, d, seed):
        x = np.random.default_rng(seed).normal(size=(n, d)) * 3 + 1
        pca = PCA().fit(x)
        np.testing.assert_allclose(pca.inverse_transform(pca.transform(x)), x, atol=1e-8)
        assert pca.explained_variance_ratio_.sum() == pytest.approx(1.0)
        s = Standardize().fit(x)
        np.testing.assert_allclose(s.inverse_transform(s.transform(x)), x, atol=1e-10)

    check()
