"""Input preprocessing fitted on the training set: standardization, PCA, ZCA whitening.

Why (lecture, "Preprocessing"):

* **Normalize** for "the same reason why sigmoid's not-zero-centered output was a
  problem": if every input of a neuron has the same sign, the gradients of all its
  weights share a sign too and gradient descent zig-zags.  Features on very different
  scales ("dimensional differences") also make one learning rate wrong for most of
  them.  :class:`Standardize` removes both problems.
* "Correlation within the dimensions can make optimization difficult", hence the
  **PCA** and **whitening** of the data: :class:`PCA` rotates the data onto
  uncorrelated axes (and optionally rescales them to unit variance, ``whiten=True``);
  :class:`ZCAWhitening` whitens while staying as close as possible to the original
  space, so whitened images still look like images.

All three follow scikit-learn's convention: ``fit(X)`` on the *training* data only,
then ``transform(X)`` for train, validation and test data alike (statistics computed
on the test set would leak it into training).  ``fit_transform``, ``inverse_transform``,
``state_dict``/``load_state_dict`` and ``save``/``load`` (a pickle-free ``.npz``) let a
fitted preprocessor be stored next to the model it was trained with.
"""

from __future__ import annotations

import os
from typing import Any, ClassVar, Self

import numpy as np

__all__ = [
    "NotFittedError",
    "Preprocessor",
    "Standardize",
    "PCA",
    "ZCAWhitening",
    "load",
    "svd_flip",
]


class NotFittedError(ValueError, AttributeError):
    """``transform`` (or a fitted attribute) was used before ``fit`` (as in scikit-learn)."""


def svd_flip(vt: np.ndarray) -> np.ndarray:
    """Return ``vt`` with each row's sign flipped so its largest-magnitude entry is positive.

    An SVD / eigendecomposition is only defined up to the sign of each singular vector;
    this is scikit-learn's ``svd_flip(..., u_based_decision=False)`` rule, which makes
    ``components_`` deterministic across LAPACK builds and identical to scikit-learn's.
    """
    rows = np.arange(vt.shape[0])
    signs = np.sign(vt[rows, np.argmax(np.abs(vt), axis=1)])
    signs[signs == 0] = 1.0
    return vt * signs[:, None]


def _float_array(X: Any) -> np.ndarray:
    X = np.asarray(X)
    if not np.issubdtype(X.dtype, np.floating):
        X = X.astype(np.float64)
    return X


def _shape_str(shape: tuple) -> str:
    return "(" + ", ".join(str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"


class Preprocessor:
    """Base class: the fit/transform protocol, shape checks and (de)serialization.

    Subclasses declare ``_params`` (constructor arguments) and ``_fitted`` (attributes set
    by ``fit``, ending in ``_``); ``state_dict`` is exactly these, as numbers and arrays.
    """

    _params: ClassVar[tuple[str, ...]] = ()
    _fitted: ClassVar[tuple[str, ...]] = ()
    _registry: ClassVar[dict[str, type["Preprocessor"]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        Preprocessor._registry[cls.__name__] = cls

    # ---- protocol -------------------------------------------------------------------
    def fit(self, X: Any) -> Self:  # pragma: no cover - abstract
        raise NotImplementedError

    def transform(self, X: Any) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def inverse_transform(self, X: Any) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def fit_transform(self, X: Any) -> np.ndarray:
        """``fit(X)`` then ``transform(X)``; use on the training set only."""
        return self.fit(X).transform(X)

    @property
    def is_fitted(self) -> bool:
        return all(hasattr(self, name) for name in self._fitted)

    def _check_is_fitted(self, method: str) -> None:
        if not self.is_fitted:
            raise NotFittedError(
                f"{type(self).__name__}.{method}() called before fit(): fit it on the "
                f"training data first (e.g. {type(self).__name__}(...).fit(X_train))."
            )

    def _shape_error(self, method: str, expected: str, got: tuple) -> ValueError:
        return ValueError(
            f"{type(self).__name__}.{method}(): expected X of shape {expected} "
            f"(the shape it was fitted on), got {_shape_str(got)}."
        )

    # ---- serialization --------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Constructor arguments and fitted statistics as a plain dict (numbers, arrays).

        ``None``-valued arguments are left out, so the dict can go to ``np.savez``.
        """
        state: dict[str, Any] = {}
        for name in self._params:
            value = getattr(self, name)
            if value is not None:
                state[name] = value
        for name in self._fitted:
            if hasattr(self, name):
                state[name] = getattr(self, name)
        return state

    def load_state_dict(self, state: dict[str, Any]) -> Self:
        """Restore what :meth:`state_dict` returned (also accepts the arrays of an ``.npz``)."""
        for name in self._params:
            if name in state:
                setattr(self, name, self._param_from_state(name, state[name]))
        for name in self._fitted:
            if name in state:
                setattr(self, name, np.asarray(state[name]))
        return self

    def _param_from_state(self, name: str, value: Any) -> Any:
        arr = np.asarray(value)
        if arr.ndim == 0:
            return arr.item()
        return tuple(arr.tolist())

    def save(self, path: str | os.PathLike) -> None:
        """Write :meth:`state_dict` (plus the class name) to a pickle-free ``.npz`` file."""
        arrays = {k: np.asarray(v) for k, v in self.state_dict().items()}
        np.savez(path, __class__=np.array(type(self).__name__), **arrays)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Preprocessor":
        """Read a file written by :meth:`save` (``allow_pickle=False``).

        ``Preprocessor.load`` returns whichever class was saved; ``PCA.load`` additionally
        checks that the file holds a PCA.
        """
        with np.load(path, allow_pickle=False) as data:
            state = {k: data[k] for k in data.files}
        saved = str(state.pop("__class__", ""))
        if saved not in Preprocessor._registry:
            raise ValueError(f"{os.fspath(path)!r} does not hold a gradwise preprocessor")
        target = Preprocessor._registry[saved]
        if cls is not Preprocessor and not issubclass(target, cls):
            raise ValueError(f"{os.fspath(path)!r} holds a {saved}, not a {cls.__name__}")
        obj = target.__new__(target)
        target.__init__(obj)
        return obj.load_state_dict(state)

    def __repr__(self) -> str:
        args = ", ".join(f"{n}={getattr(self, n)!r}" for n in self._params)
        return f"{type(self).__name__}({args})"


def load(path: str | os.PathLike) -> Preprocessor:
    """Load any preprocessor saved with ``.save(path)``."""
    return Preprocessor.load(path)


class Standardize(Preprocessor):
    """Zero mean, unit variance: ``(X - mean_) / scale_`` with statistics from the training set.

    ``axis`` names the axes that are *averaged over* (default 0: the samples, so every
    feature, i.e. every remaining position, gets its own mean and std, like
    scikit-learn's ``StandardScaler``).  ``per_channel=True`` is the image convention for
    (N, C, H, W) data: one mean/std per channel, averaged over samples and pixels
    (``axis=(0, 2, 3)``), as in ``torchvision.transforms.Normalize``'s usual statistics.

    Features with zero variance get ``scale_ = 1`` (they are only centered).  The std is
    the population std (``ddof=0``), as in scikit-learn.
    """

    _params = ("axis", "per_channel")
    _fitted = ("axes_", "mean_", "scale_")

    def __init__(self, axis: int | tuple[int, ...] = 0, per_channel: bool = False) -> None:
        self.axis = axis
        self.per_channel = per_channel

    def _resolve_axes(self, ndim: int) -> tuple[int, ...]:
        if self.per_channel:
            if ndim < 2:
                raise ValueError(
                    "Standardize(per_channel=True) needs data of shape (N, C, ...), got "
                    f"{ndim}-D data"
                )
            return tuple(a for a in range(ndim) if a != 1)
        axes = (self.axis,) if np.isscalar(self.axis) else tuple(self.axis)
        for a in axes:
            if not -ndim <= int(a) < ndim:
                raise ValueError(f"Standardize: axis {a} is out of range for {ndim}-D data")
        return tuple(sorted({int(a) % ndim for a in axes}))

    def fit(self, X: Any) -> Self:
        """Compute the mean and std of the training data ``X`` over ``axis``."""
        X = _float_array(X)
        axes = self._resolve_axes(X.ndim)
        if X.size == 0:
            raise ValueError("Standardize.fit(): X is empty")
        mean = X.mean(axis=axes, keepdims=True, dtype=np.float64)
        std = X.std(axis=axes, keepdims=True, dtype=np.float64)
        std[std == 0] = 1.0
        self.axes_, self.mean_, self.scale_ = np.array(axes, dtype=np.int64), mean, std
        return self

    def _check(self, X: Any, method: str) -> np.ndarray:
        self._check_is_fitted(method)
        X = _float_array(X)
        axes = set(int(a) for a in self.axes_)
        expected = tuple("*" if a in axes else n for a, n in enumerate(self.mean_.shape))
        ok = X.ndim == self.mean_.ndim and all(
            a in axes or X.shape[a] == n for a, n in enumerate(self.mean_.shape)
        )
        if not ok:
            raise self._shape_error(method, _shape_str(expected), X.shape)
        return X

    def transform(self, X: Any) -> np.ndarray:
        """``(X - mean_) / scale_``, in X's float dtype."""
        X = self._check(X, "transform")
        return ((X - self.mean_) / self.scale_).astype(X.dtype, copy=False)

    def inverse_transform(self, X: Any) -> np.ndarray:
        """``X * scale_ + mean_``: back to the original units."""
        X = self._check(X, "inverse_transform")
        return (X * self.scale_ + self.mean_).astype(X.dtype, copy=False)


class _FlatFeatures(Preprocessor):
    """Shared by PCA and ZCA: samples along axis 0, every other axis flattened to features.

    So (N, D) tables and (N, C, H, W) images are both accepted; ``feature_shape_``
    remembers the per-sample shape seen by ``fit`` and is checked by ``transform``.
    """

    def _flatten_fit(self, X: Any) -> np.ndarray:
        X = _float_array(X)
        if X.ndim < 2:
            raise ValueError(
                f"{type(self).__name__}.fit(): expected X of shape (n_samples, n_features, ...), "
                f"got {_shape_str(X.shape)}; reshape a single feature with X.reshape(-1, 1)"
            )
        if X.shape[0] < 2:
            raise ValueError(f"{type(self).__name__}.fit(): need at least 2 samples, got {X.shape[0]}")
        self.feature_shape_ = np.array(X.shape[1:], dtype=np.int64)
        return X.reshape(X.shape[0], -1)

    def _flatten(self, X: Any, method: str) -> np.ndarray:
        self._check_is_fitted(method)
        X = _float_array(X)
        fshape = tuple(int(s) for s in self.feature_shape_)
        if X.shape[1:] != fshape or X.ndim < 2:
            raise self._shape_error(method, _shape_str(("N",) + fshape), X.shape)
        return X.reshape(X.shape[0], -1)


class PCA(_FlatFeatures):
    """Principal component analysis by SVD of the centered training data.

    ``X - mean_ = U S Vt``; ``components_ = Vt[:n_components]`` (rows are the principal
    axes, sorted by decreasing variance, signs fixed by :func:`svd_flip`),
    ``explained_variance_ = S**2 / (n_samples - 1)`` and ``explained_variance_ratio_`` its
    share of the *total* variance -- the same attributes and values as scikit-learn's
    ``PCA(svd_solver="full")``.

    ``n_components``: an int, a float in (0, 1) (keep the fewest components whose
    cumulative explained variance ratio exceeds it) or ``None`` (all
    ``min(n_samples, n_features)``).  ``whiten=True`` divides each projected coordinate by
    its std, so the output is uncorrelated *and* unit-variance (PCA whitening); components
    with zero variance are left unscaled.
    """

    _params = ("n_components", "whiten")
    _fitted = ("feature_shape_", "mean_", "components_", "explained_variance_",
               "explained_variance_ratio_", "singular_values_", "n_components_")

    def __init__(self, n_components: int | float | None = None, whiten: bool = False) -> None:
        self.n_components = n_components
        self.whiten = whiten

    def _resolve_n_components(self, n_samples: int, n_features: int, ratio: np.ndarray) -> int:
        k, limit = self.n_components, min(n_samples, n_features)
        if k is None:
            return limit
        if isinstance(k, float) and 0.0 < k < 1.0:
            return int(np.searchsorted(np.cumsum(ratio), k, side="right") + 1)
        if isinstance(k, (int, np.integer)) and not isinstance(k, bool):
            if not 1 <= k <= limit:
                raise ValueError(
                    f"PCA: n_components={k} is invalid: must be between 1 and "
                    f"min(n_samples, n_features) = min({n_samples}, {n_features}) = {limit}"
                )
            return int(k)
        raise ValueError(f"PCA: n_components must be an int, a float in (0, 1) or None, got {k!r}")

    def fit(self, X: Any) -> Self:
        """Compute the mean and principal axes of the training data ``X``."""
        X2 = self._flatten_fit(X).astype(np.float64)
        n, d = X2.shape
        mean = X2.mean(axis=0)
        _, S, Vt = np.linalg.svd(X2 - mean, full_matrices=False)
        Vt = svd_flip(Vt)
        variance = S**2 / (n - 1)
        total = variance.sum()
        ratio = variance / total if total > 0 else np.zeros_like(variance)
        k = self._resolve_n_components(n, d, ratio)
        self.mean_ = mean
        self.components_ = Vt[:k]
        self.explained_variance_ = variance[:k]
        self.explained_variance_ratio_ = ratio[:k]
        self.singular_values_ = S[:k]
        self.n_components_ = np.array(k)
        return self

    def _whiten_scale(self) -> np.ndarray:
        std = np.sqrt(self.explained_variance_)
        return np.where(std > 0, std, 1.0)

    def transform(self, X: Any) -> np.ndarray:
        """Project onto the principal axes: (N, ...) -> (N, n_components_)."""
        X2 = self._flatten(X, "transform")
        Z = (X2 - self.mean_) @ self.components_.T
        if self.whiten:
            Z /= self._whiten_scale()
        return Z.astype(X2.dtype, copy=False)

    def inverse_transform(self, Z: Any) -> np.ndarray:
        """Map projected data back to the input space (exact when no component was dropped)."""
        self._check_is_fitted("inverse_transform")
        Z = _float_array(Z)
        k = int(self.n_components_)
        if Z.ndim != 2 or Z.shape[1] != k:
            raise self._shape_error("inverse_transform", f"(N, {k})", Z.shape)
        if self.whiten:
            Z = Z * self._whiten_scale()
        X = Z @ self.components_ + self.mean_
        shape = (Z.shape[0],) + tuple(int(s) for s in self.feature_shape_)
        return X.reshape(shape).astype(Z.dtype, copy=False)


class ZCAWhitening(_FlatFeatures):
    """ZCA ("Mahalanobis") whitening: decorrelate and scale to unit variance, no rotation.

    With the training covariance ``C = V diag(lam) V^T`` (``ddof=1``), the whitening
    matrix is ``W = V diag(1 / sqrt(lam + eps)) V^T``, so ``cov((X - mean_) W) = V
    diag(lam / (lam + eps)) V^T``: the identity up to ``eps`` relative to each
    eigenvalue.  Of all whitening matrices, ZCA's output is closest to the input (in
    squared error), which is why whitened images still look like (edge-enhanced) images.
    ``eps`` keeps near-zero-variance directions (e.g. pixel correlations in natural
    images) from being amplified into noise.
    """

    _params = ("eps",)
    _fitted = ("feature_shape_", "mean_", "components_", "explained_variance_",
               "whitening_", "dewhitening_")

    def __init__(self, eps: float = 1e-5) -> None:
        if eps < 0:
            raise ValueError(f"ZCAWhitening: eps must be >= 0, got {eps}")
        self.eps = eps

    def fit(self, X: Any) -> Self:
        """Compute the mean and whitening matrix of the training data ``X``."""
        X2 = self._flatten_fit(X).astype(np.float64)
        n = X2.shape[0]
        mean = X2.mean(axis=0)
        Xc = X2 - mean
        lam, V = np.linalg.eigh(Xc.T @ Xc / (n - 1))
        lam, V = np.clip(lam[::-1], 0.0, None), V[:, ::-1]
        if self.eps == 0 and np.any(lam <= 0):
            raise ValueError(
                "ZCAWhitening.fit(): the covariance is singular (fewer samples than features "
                "or constant/duplicated features); use eps > 0"
            )
        Vt = svd_flip(V.T)
        self.mean_ = mean
        self.components_ = Vt
        self.explained_variance_ = lam
        self.whitening_ = (Vt.T / np.sqrt(lam + self.eps)) @ Vt
        self.dewhitening_ = (Vt.T * np.sqrt(lam + self.eps)) @ Vt
        return self

    def transform(self, X: Any) -> np.ndarray:
        """Whiten ``X``; the output has the same shape as the input."""
        X2 = self._flatten(X, "transform")
        out = (X2 - self.mean_) @ self.whitening_
        return out.reshape(np.shape(X)).astype(X2.dtype, copy=False)

    def inverse_transform(self, X: Any) -> np.ndarray:
        """Undo the whitening (exact for any eps)."""
        X2 = self._flatten(X, "inverse_transform")
        out = X2 @ self.dewhitening_ + self.mean_
        return out.reshape(np.shape(X)).astype(X2.dtype, copy=False)
