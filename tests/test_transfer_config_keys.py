"""The [transfer] config is strict like [train]'s: a misspelt key is named, never silently ignored."""
from __future__ import annotations

import pytest

from gradwise.train.config import ConfigError
from gradwise.transfer.config import KEYS, check_config, run_config


def test_a_typo_is_named_with_the_closest_key(tmp_path):
    path = tmp_path / "transfer.toml"
    path.write_text('[source]\narch = "small_cnn"\nweights = "w.npz"\n[train]\nfine_tune_rate = 1e-4\n')
    with pytest.raises(ConfigError, match=r"\[train\] fine_tune_rate: unknown key \(did you mean 'fine_tune_lr'\?\)"):
        run_config(path)


def test_unknown_section_and_known_keys():
    with pytest.raises(ConfigError, match=r"\[trian\]: unknown section \(did you mean 'train'\?\)"):
        check_config({"trian": {}})
    check_config({section: {key: None for key in keys} for section, keys in KEYS.items()})
