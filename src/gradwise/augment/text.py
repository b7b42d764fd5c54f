"""Text augmentation: EDA, "Easy Data Augmentation" (Wei & Zou, EMNLP 2019).

For NLP the "slightly modified copies" are sentences with a few words replaced by
synonyms, inserted, swapped or deleted; the meaning (and so the label) survives small
edits, and on small text-classification datasets the four operations give a
regularization effect comparable to doubling the data.  The paper's advice: change
about ``alpha = 0.1`` of the words (``n = max(1, int(alpha * len(words)))``).

Sentences are split on whitespace and joined with single spaces; a word's punctuation
and capitalization are kept when it is replaced by a synonym (``"Quick,"`` ->
``"Fast,"``).  Synonyms come from gradwise's built-in table of common English words
(:mod:`gradwise.augment._synonyms`), keyed by part of speech and sense and read in context:
"please close the door" gives *shut* or *seal* for "close", never *end* or *near*, and a word
whose sense the sentence does not settle is left alone.  Or from ``synonyms=``: a ``dict``
word -> list of synonyms, a callable ``word -> list[str]``, or ``"wordnet"`` (NLTK's WordNet,
imported only when asked for); these are looked up without context.  Stopwords are never
replaced or used as insertion anchors.

Parameters: a number x means exactly x (``n=2``: two edits); a ``(low, high)`` pair means
a value drawn uniformly from [low, high] on every call.  Draws come from gradwise's
global generator (``gradwise.manual_seed``) unless the transform has its own ``seed=``.
"""

from __future__ import annotations

import functools
import string
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

import numpy as np

from ._synonyms import SENSES, STOPWORDS, SYNONYMS, in_context, resolve
from .compose import Param, Seed, Transform

__all__ = [
    "TextTransform",
    "SynonymReplacement",
    "RandomInsertion",
    "RandomSwap",
    "RandomDeletion",
    "synonym_source",
    "wordnet_synonyms",
    "SYNONYMS",
    "SENSES",
    "STOPWORDS",
    "in_context",
]

SynonymSource = Mapping[str, Sequence[str]] | Callable[[str], Sequence[str]] | str | None


@functools.lru_cache(maxsize=1)
def wordnet_synonyms() -> Callable[[str], list[str]]:
    """A ``word -> synonyms`` lookup backed by NLTK's WordNet (clear errors if missing)."""
    try:
        from nltk.corpus import wordnet
    except ImportError as exc:
        raise ImportError(
            "synonyms='wordnet' needs NLTK: pip install nltk, then python -m nltk.downloader wordnet"
        ) from exc
    try:
        wordnet.ensure_loaded()
    except LookupError as exc:
        raise LookupError(
            "NLTK is installed but its WordNet corpus is not: run python -m nltk.downloader wordnet"
        ) from exc

    @functools.lru_cache(maxsize=65536)
    def lookup(word: str) -> list[str]:
        names = {lemma.name().replace("_", " ").lower()
                 for synset in wordnet.synsets(word) for lemma in synset.lemmas()}
        names.discard(word)
        return sorted(names)

    return lookup


class BuiltinSynonyms:
    """The built-in table: ``lookup(word)`` gives every sense's synonyms (context-free);
    :meth:`in_context` only those of the sense the word has in the sentence."""

    def __call__(self, word: str) -> Sequence[str]:
        return SYNONYMS.get(word, ())

    @staticmethod
    def in_context(words: Sequence[str], i: int) -> Sequence[str]:
        return in_context(words, i)

    @staticmethod
    def sense_key(words: Sequence[str], i: int) -> tuple[str, str]:
        """``(part_of_speech, sense)`` of the word at ``i`` (``("", "")`` when unsure)."""
        sense = resolve(words, i)
        return (sense.pos, sense.sense) if sense is not None else ("", "")


def synonym_source(synonyms: SynonymSource = None) -> Callable[[str], Sequence[str]]:
    """Normalize ``synonyms=`` into a function ``lowercase word -> candidate list``
    (the built-in table's also answers ``in_context(words, i)``)."""
    if synonyms is None:
        return BuiltinSynonyms()
    if isinstance(synonyms, str):
        if synonyms != "wordnet":
            raise ValueError(f"synonyms must be a dict, a callable, 'wordnet' or None, got {synonyms!r}")
        return wordnet_synonyms()
    if isinstance(synonyms, Mapping):
        table = {k.lower(): tuple(v) for k, v in synonyms.items()}
        return lambda w: table.get(w, ())
    if callable(synonyms):
        return synonyms
    raise TypeError(f"synonyms must be a dict, a callable, 'wordnet' or None, got {type(synonyms).__name__}")


def _core(token: str) -> tuple[str, str, str]:
    """Split a token into (leading punctuation, word, trailing punctuation)."""
    word = token.strip(string.punctuation)
    if not word:
        return token, "", ""
    start = token.index(word)
    return token[:start], word, token[start + len(word):]


def _recase(new: str, like: str) -> str:
    if like.isupper() and len(like) > 1:
        return new.upper()
    if like[:1].isupper():
        return new[:1].upper() + new[1:]
    return new


class TextTransform(Transform):
    """Base of EDA operations: one sentence (``str``) in, one sentence out."""

    def _check(self, x: Any) -> str:
        if not isinstance(x, str):
            raise TypeError(f"{type(self).__name__} expects a sentence (str), got {type(x).__name__}; "
                            "use apply_batch() for a list of sentences")
        return x

    def apply(self, x: str, rng: np.random.Generator) -> str:
        words = x.split()
        if not words:
            return x
        return " ".join(self.edit(words, rng))

    def edit(self, words: list[str], rng: np.random.Generator) -> list[str]:  # pragma: no cover
        raise NotImplementedError


class _CountedEdit(TextTransform):
    """Shared by the three operations that make ``n`` edits (``n`` or ``alpha`` of the words)."""

    def __init__(self, n: int | tuple[int, int] | None, alpha: float | tuple[float, float],
                 synonyms: SynonymSource, stopwords: Collection[str] | None, p: float, seed: Seed = None) -> None:
        super().__init__(p, seed=seed)
        self.n = None if n is None else Param(n, "n", bounds=(0, None), integer=True)
        self.alpha = Param(alpha, "alpha", bounds=(0.0, 1.0))
        self.synonyms = synonyms
        self._lookup = synonym_source(synonyms)
        self.stopwords = frozenset(STOPWORDS if stopwords is None else stopwords)

    def count(self, n_words: int, rng: np.random.Generator) -> int:
        """How many edits to make in a sentence of ``n_words`` words."""
        if self.n is not None:
            return int(self.n.sample(rng))
        return max(1, int(self.alpha.sample(rng) * n_words))

    def candidates(self, token: str) -> list[str]:
        """Synonyms of a token's word in every sense (lowercase, without the word itself); [] for stopwords."""
        word = _core(token)[1].lower()
        if not word or word in self.stopwords:
            return []
        return [s for s in self._lookup(word) if s.lower() != word]

    def candidates_at(self, words: Sequence[str], i: int) -> list[str]:
        """Synonyms of ``words[i]`` in the sense it has there (the built-in table), else as :meth:`candidates`."""
        word = _core(words[i])[1].lower()
        if not word or word in self.stopwords:
            return []
        lookup = getattr(self._lookup, "in_context", None)
        options = lookup(words, i) if lookup is not None else self._lookup(word)
        return [s for s in options if s.lower() != word]

    def _unit(self, words: Sequence[str], i: int) -> tuple[str, str, str] | None:
        """What one replacement covers: a word in one sense (every occurrence of it in that sense)."""
        word = _core(words[i])[1].lower()
        if not word:
            return None
        sense_key = getattr(self._lookup, "sense_key", None)
        return (word, *sense_key(words, i)) if sense_key is not None else (word, "", "")


class SynonymReplacement(_CountedEdit):
    """Replace ``n`` distinct non-stopwords by a random synonym (all their occurrences in that sense).

    ``n``: a number x means exactly x words; ``(low, high)`` integers uniform in
    [low, high].  ``n`` wins over ``alpha`` (a number x means exactly a fraction x of the
    words; ``(low, high)`` uniform in [low, high]).
    """

    def __init__(self, n: int | tuple[int, int] | None = None, alpha: float | tuple[float, float] = 0.1,
                 synonyms: SynonymSource = None, stopwords: Collection[str] | None = None,
                 p: float = 1.0, *, seed: Seed = None) -> None:
        super().__init__(n, alpha, synonyms, stopwords, p, seed)

    def edit(self, words: list[str], rng: np.random.Generator) -> list[str]:
        budget = self.count(len(words), rng)
        units = [self._unit(words, i) for i in range(len(words))]
        unique = sorted({u for u in units if u is not None})
        out = list(words)
        for k in rng.permutation(len(unique)).tolist():
            if budget <= 0:
                break
            positions = [i for i, u in enumerate(units) if u == unique[k]]
            options = self.candidates_at(words, positions[0])
            if not options:
                continue
            new = options[int(rng.integers(len(options)))]
            for i in positions:
                pre, core, post = _core(out[i])
                out[i] = pre + _recase(new, core) + post
            budget -= 1
        return out


class RandomInsertion(_CountedEdit):
    """``n`` times: insert a synonym of a random word at a random position.

    ``n`` and ``alpha`` as in :class:`SynonymReplacement` (a number x means exactly x).
    """

    def __init__(self, n: int | tuple[int, int] | None = None, alpha: float | tuple[float, float] = 0.1,
                 synonyms: SynonymSource = None, stopwords: Collection[str] | None = None,
                 p: float = 1.0, *, seed: Seed = None) -> None:
        super().__init__(n, alpha, synonyms, stopwords, p, seed)

    def edit(self, words: list[str], rng: np.random.Generator) -> list[str]:
        out = list(words)
        anchors = [options for options in (self.candidates_at(words, i) for i in range(len(words))) if options]
        if not anchors:
            return out
        for _ in range(self.count(len(words), rng)):
            options = anchors[int(rng.integers(len(anchors)))]
            out.insert(int(rng.integers(len(out) + 1)), options[int(rng.integers(len(options)))])
        return out


class RandomSwap(_CountedEdit):
    """``n`` times: swap the words at two random (distinct) positions.

    ``n`` and ``alpha`` as in :class:`SynonymReplacement` (a number x means exactly x).
    """

    def __init__(self, n: int | tuple[int, int] | None = None, alpha: float | tuple[float, float] = 0.1,
                 p: float = 1.0, *, seed: Seed = None) -> None:
        super().__init__(n, alpha, None, (), p, seed)

    def edit(self, words: list[str], rng: np.random.Generator) -> list[str]:
        out = list(words)
        if len(out) < 2:
            return out
        for _ in range(self.count(len(words), rng)):
            i, j = rng.choice(len(out), size=2, replace=False)
            out[i], out[j] = out[j], out[i]
        return out


class RandomDeletion(TextTransform):
    """Delete each word independently with probability ``p`` (EDA's p).

    ``p``: a number x means exactly probability x; ``(low, high)`` uniform in [low, high].

    Here ``p`` is the per-word deletion probability, as in the paper, so this transform
    is always applied; wrap it in ``RandomApply([...], p=...)`` to apply it sometimes.
    At least one word is always kept.
    """

    def __init__(self, p: float | tuple[float, float] = 0.1, *, seed: Seed = None) -> None:
        super().__init__(p=1.0, seed=seed)
        self.word_p = Param(p, "p", bounds=(0.0, 1.0))

    def edit(self, words: list[str], rng: np.random.Generator) -> list[str]:
        if len(words) == 1:
            return list(words)
        keep = rng.random(len(words)) >= self.word_p.sample(rng)
        if not keep.any():
            return [words[int(rng.integers(len(words)))]]
        return [w for w, k in zip(words, keep) if k]

    def __repr__(self) -> str:
        return f"RandomDeletion(p={self.word_p!r})"
