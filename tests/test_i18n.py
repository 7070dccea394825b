from __future__ import annotations

from upmarket.i18n import LABELS, LANGS, current_lang, value_label


def test_every_label_in_both_languages():
    for key, texts in LABELS.items():
        assert set(texts) == set(LANGS), key
        assert all(t.strip() for t in texts.values()), key


def test_language_names_and_numbered_values():
    assert current_lang("zh") == current_lang("zh_CN") == "zh-CN"
    assert current_lang("fr") == "en"
    assert value_label("cluster", "explorers_2", "en") == "Category explorers 2"
    assert value_label("tier", "diamond", "zh") == "钻石客户"
    assert value_label("tier", "unknown-code", "en") == "unknown-code"
