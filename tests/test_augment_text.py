"""EDA text augmentation (Wei & Zou 2019): each operation does what it says, and no more."""

import sys
from collections import Counter

import numpy as np
import pytest

from gradwise.augment import Compose, RandomApply, RandomDeletion, RandomInsertion, RandomSwap, SynonymReplacement, preview
from gradwise.augment.text import STOPWORDS, SYNONYMS, wordnet_synonyms

SENTENCE = "The quick brown fox jumps over the lazy dog and the happy child laughs loudly"
SENTENCES = [
    SENTENCE,
    "She said the big house was very old but beautiful",
    "We need to fix the broken car before the long trip",
    "A smart student can learn hard ideas fast",
]


def is_synonym(old, new, table=SYNONYMS):
    return new.lower() in table.get(old.lower(), ())


def test_builtin_table_is_a_few_hundred_common_words():
    assert len(SYNONYMS) >= 300
    assert "quick" in SYNONYMS and "fast" in SYNONYMS["quick"]
    assert all(w not in syns for w, syns in SYNONYMS.items())
    assert "the" in STOPWORDS


def test_synonym_replacement_changes_n_words_to_synonyms():
    aug = SynonymReplacement(n=2).seed(0)
    for _ in range(20):
        words, out = SENTENCE.split(), aug(SENTENCE).split()
        assert len(out) == len(words)
        changed = [(a, b) for a, b in zip(words, out) if a != b]
        assert len({a.lower() for a, _ in changed}) == 2
        assert all(is_synonym(a, b) for a, b in changed)
        assert all(a.lower() not in STOPWORDS for a, _ in changed)


def test_synonym_replacement_keeps_case_punctuation_and_replaces_all_occurrences():
    aug = SynonymReplacement(n=1, synonyms={"quick": ["fast"]})
    assert aug("Quick, quick! QUICK.") == "Fast, fast! FAST."


def test_alpha_sets_the_number_of_edits():
    words = SENTENCE.split()  # 15 words
    out = SynonymReplacement(alpha=0.2, synonyms={w: [w + "x"] for w in words}, stopwords=()).seed(0)(SENTENCE)
    assert len({a.lower() for a, b in zip(words, out.split()) if a != b}) == 3  # max(1, int(0.2 * 15)) distinct words
    assert len(RandomInsertion(alpha=0.2).seed(0)(SENTENCE).split()) == len(words) + 3  # max(1, int(0.2 * 15))
    assert len(RandomInsertion(alpha=0.01).seed(0)(SENTENCE).split()) == len(words) + 1  # at least one


def test_random_insertion_inserts_synonyms_of_sentence_words():
    words = SENTENCE.split()
    aug = RandomInsertion(n=(1, 3)).seed(1)
    lengths = set()
    for _ in range(20):
        out = aug(SENTENCE).split()
        extra = Counter(out) - Counter(words)
        assert sum(extra.values()) == len(out) - len(words)
        assert all(any(is_synonym(w, new) for w in words) for new in extra)
        lengths.add(len(out) - len(words))
    assert lengths == {1, 2, 3}  # (low, high) integer range, inclusive


def test_random_swap_permutes_words():
    words = SENTENCE.split()
    for seed in range(10):
        out = RandomSwap(n=1).seed(seed)(SENTENCE).split()
        assert Counter(out) == Counter(words)
        assert sum(a != b for a, b in zip(words, out)) in (0, 2)  # 0 only when two equal words swap


def test_random_deletion():
    words = SENTENCE.split()
    assert RandomDeletion(0.0)(SENTENCE) == SENTENCE
    assert len(RandomDeletion(1.0)(SENTENCE).split()) == 1
    assert RandomDeletion(1.0)("alone") == "alone"
    rates = []
    aug = RandomDeletion(0.3).seed(0)
    for _ in range(200):
        out = aug(SENTENCE).split()
        it = iter(words)
        assert all(w in it for w in out)  # a subsequence: order kept
        rates.append(1 - len(out) / len(words))
    assert abs(np.mean(rates) - 0.3) < 0.03


def test_pluggable_synonym_sources():
    table = {"fox": ["wolf"], "dog": ["hound"]}
    assert SynonymReplacement(n=2, synonyms=table)(SENTENCE) == SENTENCE.replace("fox", "wolf").replace("dog", "hound")
    upper = SynonymReplacement(n=1, synonyms=lambda w: [w.upper() + "!"] if w == "lazy" else [])
    assert "LAZY!" in upper(SENTENCE)
    with pytest.raises(ValueError, match="wordnet"):
        SynonymReplacement(synonyms="thesaurus")


def test_wordnet_without_nltk_gives_a_clear_error(monkeypatch):
    wordnet_synonyms.cache_clear()
    monkeypatch.setitem(sys.modules, "nltk", None)
    monkeypatch.setitem(sys.modules, "nltk.corpus", None)
    with pytest.raises(ImportError, match="pip install nltk"):
        SynonymReplacement(synonyms="wordnet")
    wordnet_synonyms.cache_clear()


OPS = [SynonymReplacement(n=(1, 3)), RandomInsertion(n=(1, 3)), RandomSwap(n=(1, 3)), RandomDeletion((0.1, 0.4))]


@pytest.mark.parametrize("op", OPS, ids=lambda t: type(t).__name__)
def test_reproducible_under_seed_and_different_across_seeds(op):
    def run(seed):
        op.seed(seed)
        return [op(s) for s in SENTENCES for _ in range(3)]

    assert run(0) == run(0)
    assert run(0) != run(1)


@pytest.mark.parametrize("op", OPS[:3], ids=lambda t: type(t).__name__)
def test_p_zero_identity_p_one_applies(op):
    op.p = 0.0
    assert all(op(s) == s for s in SENTENCES)
    op.p = 1.0
    assert all(op(s) != s for s in SENTENCES)


def test_random_apply_and_batches():
    aug = RandomApply([RandomDeletion(1.0)], p=0.5).seed(0)
    outs = aug.apply_batch(SENTENCES * 10)
    kept = sum(o == s for o, s in zip(outs, SENTENCES * 10))
    assert 10 < kept < 30 and all(o == s or len(o.split()) == 1 for o, s in zip(outs, SENTENCES * 10))
    pipeline = Compose([SynonymReplacement(n=1), RandomSwap(n=1)], seed=3)
    assert pipeline.apply_batch(SENTENCES) == Compose([SynonymReplacement(n=1), RandomSwap(n=1)], seed=3).apply_batch(SENTENCES)


def test_input_errors_and_edge_cases():
    with pytest.raises(TypeError, match="sentence"):
        RandomSwap(n=1)(SENTENCE.split())
    assert RandomSwap(n=2)("") == ""
    assert RandomSwap(n=2)("one") == "one"
    assert RandomInsertion(n=2)("the of and") == "the of and"  # nothing to anchor on
    with pytest.raises(ValueError, match="integer"):
        RandomSwap(n=1.5)


def test_preview_text_png(tmp_path):
    pytest.importorskip("matplotlib")
    path = preview(Compose([SynonymReplacement(n=1), RandomSwap(n=1)]), SENTENCE, n=3, path=tmp_path / "t.png", seed=0)
    with open(path, "rb") as f:
        assert f.read(4) == b"\x89PNG"


# ---------------------------------------------------------------------- synonyms by part of speech and sense
from gradwise.augment._synonyms import SENSES, guess_pos, in_context  # noqa: E402

IN_CONTEXT = [
    # (sentence, word, the synonyms it may get there; () = left alone: the context does not settle the sense)
    ("please close the door", "close", {"shut", "seal"}),
    ("Close the window before you leave.", "Close", {"shut", "seal"}),
    ("The meeting will close at noon", "close", {"end", "conclude", "finish"}),
    ("The station is close to our house", "close", {"near", "nearby", "adjacent"}),
    ("The shop is not close to home", "close", {"near", "nearby", "adjacent"}),
    ("She is a close friend of mine", "close", {"intimate", "dear"}),
    ("It was a close game", "close", {"narrow", "tight"}),
    ("We stayed until the close of the season", "close", {"end", "conclusion", "finish"}),
    ("The bag is light", "light", {"lightweight"}),
    ("Please turn on the light", "light", {"lamp"}),
    ("Light the candle", "Light", {"ignite", "kindle"}),
    ("She wore a light blue dress", "light", {"pale"}),
    ("Light rain fell all day", "Light", {"gentle", "mild", "slight"}),
    ("The light of the sun was warm", "light", {"illumination", "brightness", "radiance"}),
    ("The judge gave him a fair trial", "fair", {"just", "equitable", "impartial"}),
    ("She has fair hair", "fair", {"blond", "pale"}),
    ("The weather is fair today", "fair", {"clear", "sunny"}),
    ("We went to the fair and rode the ferris wheel", "fair", {"carnival", "funfair", "fete"}),
    ("The job fair was crowded", "fair", {"exhibition", "expo"}),
    ("His work is fair", "fair", set()),
    ("She sat on the bank of the river", "bank", {"shore", "riverbank"}),
    ("He deposited cash at the bank", "bank", set()),
    ("That is the right answer", "right", {"correct", "accurate", "exact", "true"}),
    ("Everyone has the right to vote", "right", {"entitlement", "privilege", "prerogative"}),
    ("Turn right at the corner", "right", set()),
    ("Do it right now", "right", set()),
    ("They run a small business in town", "run", {"manage", "operate", "direct"}),
    ("Please run the tests again", "run", {"execute", "launch"}),
    ("We run fast every morning", "run", {"sprint", "dash", "race", "jog"}),
    ("They had a run of bad luck", "run", {"streak", "series", "sequence"}),
    ("I went for a run in the park", "run", {"jog", "sprint"}),
    ("The room was bright", "bright", {"luminous", "shining"}),
    ("She is a bright student", "bright", {"smart", "clever", "intelligent", "brilliant"}),
]


@pytest.mark.parametrize("sentence,word,expected", IN_CONTEXT, ids=[c[0] for c in IN_CONTEXT])
def test_synonyms_follow_the_sense_in_the_sentence(sentence, word, expected):
    words = sentence.split()
    assert set(in_context(words, words.index(word))) == expected


def test_please_close_the_door_gives_shut_or_seal_through_the_transforms():
    sentence = "please close the door"
    replaced = {SynonymReplacement(n=1).seed(seed)(sentence) for seed in range(40)}
    assert replaced == {"please shut the door", "please seal the door"}
    inserted = Counter()
    for seed in range(40):
        out = RandomInsertion(n=1).seed(seed)(sentence).split()
        inserted.update(Counter(out) - Counter(sentence.split()))
    assert set(inserted) == {"shut", "seal"}
    # with a custom table the lookup is context-free, as before
    assert SynonymReplacement(n=1, synonyms={"close": ["near"]})(sentence) == "please near the door"


def test_one_word_two_senses_in_one_sentence_are_replaced_separately():
    sentence = "Please close the door, the station is close to home"
    words = sentence.split()
    assert set(in_context(words, 1)) == {"shut", "seal"} and set(in_context(words, 7)) == {"near", "nearby", "adjacent"}
    for seed in range(20):
        out = SynonymReplacement(n=1).seed(seed)(sentence).split()
        if out[1] != "close":
            assert out[1] in ("shut", "seal") and out[7] == "close"
        if out[7] != "close":
            assert out[7] in ("near", "nearby", "adjacent") and out[1] == "close"


def test_table_is_keyed_by_word_part_of_speech_and_sense():
    assert SENSES[("close", "verb", "close.shut")] == ("shut", "seal")
    assert SENSES[("close", "noun", "close")] == ("end", "conclusion", "finish")
    assert ("end", "verb", "close.end") not in SENSES          # "close > end": end does not get close's sense
    assert {"shut", "near", "end"} <= set(SYNONYMS["close"])      # the context-free union, as before
    assert guess_pos("please close the door".split(), 1) == ["verb"]
    assert guess_pos("the close of the day".split(), 1) == ["noun"]
    assert guess_pos("a close friend".split(), 1) == ["adj", "noun"]
    assert guess_pos("it is close".split(), 2) == ["adj", "verb"]
