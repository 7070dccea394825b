"""Data values by name: built-in channel names, ingested `*_zh` columns, a labels file that wins
over both, and a labels file with a mistake refused with the file and section named."""

from __future__ import annotations

import pandas as pd
import pytest

from upmarket.data_labels import BadLabelsFile, DataLabels, channel_name
from upmarket.strategy.nba import months_ago


def test_built_in_channel_names_and_plain_fallback(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("UPMARKET_LABELS", raising=False)
    assert channel_name("wechat", "zh") == "微信"
    assert channel_name("xiaohongshu", "zh") == "小红书"
    assert channel_name("app_push", "zh") == "App 推送"
    assert channel_name("app_push", "en") == "app push"
    assert channel_name("my_own_shop", "zh") == "my own shop"  # shown as stored, never hidden
    assert DataLabels().category(None, "zh") == "—"


def test_labels_file_wins_over_ingested_names(wh, monkeypatch, tmp_path):
    wh.insert("products", pd.DataFrame({
        "sku": ["A1", "B1"], "name": ["Kettle", "Mug"], "category": ["kitchen", "kitchen"],
        "category_zh": ["厨房", None], "name_zh": ["水壶", None]}))
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("UPMARKET_LABELS", raising=False)
    names = DataLabels.load(wh)
    assert names.category("kitchen", "zh") == "厨房"
    assert names.category("kitchen", "en") == "kitchen"
    assert names.name("product", "A1", "zh") == "水壶"
    assert names.name("product", "B1", "zh") == "B1"
    (tmp_path / "labels.yaml").write_text(
        "categories: {kitchen: 厨房用品}\nchannels:\n  wechat: 微信公众号\n  tmall: 天猫\n",
        encoding="utf-8")
    names = DataLabels.load(wh)
    assert names.category("kitchen", "zh") == "厨房用品"
    assert names.channel("wechat", "zh") == "微信公众号"
    assert channel_name("tmall", "zh") == "天猫"


@pytest.mark.parametrize("text, message", [
    ("channel: {wechat: 微信}\n", "unknown section 'channel'"),
    ("channels: [wechat]\n", "section 'channels' should map each code to its name"),
    ("channels: {wechat: 3}\n", "channels.wechat should be a name"),
    ("channels: {wechat: [\n", "cannot be read as YAML"),
])
def test_a_bad_labels_file_is_refused_with_its_place(tmp_path, monkeypatch, text, message):
    path = tmp_path / "mine.yaml"
    path.write_text(text, encoding="utf-8")
    monkeypatch.setenv("UPMARKET_LABELS", str(path))
    with pytest.raises(BadLabelsFile, match=message) as e:
        DataLabels.load()
    assert str(path) in str(e.value)


def test_months_read_as_words():
    assert months_ago(0, "en") == "this month"
    assert months_ago(0.4, "zh") == "本月"
    assert months_ago(1, "en") == "1 month ago"
    assert months_ago(3, "en") == "3 months ago"
    assert months_ago(3, "zh") == "3个月前"
