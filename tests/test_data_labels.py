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


def test_regions_named_from_the_ingested_column_the_labels_file_and_shown_by_name(
        wh, monkeypatch, tmp_path):
    """A region's Chinese name comes from `customers.region_zh` (keyed by the region, or by the
    country where the region is blank, as the region dimension places a customer) or from the
    labels file's `regions:` section, which wins; the profiles by region show the name."""
    from upmarket.strategy.demographics import display

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("UPMARKET_LABELS", raising=False)
    wh.insert("customers", pd.DataFrame({
        "customer_id": ["A", "B", "C", "D"], "country": ["CN", "CN", "SG", "US"],
        "region": ["east", "east", None, None], "region_zh": ["华东", None, "新加坡", None]}))
    names = DataLabels.load(wh)
    assert names.name("region", "east", "zh") == "华东"
    assert names.name("region", "SG", "zh") == "新加坡"  # the country stands for the region
    assert names.name("region", "US", "zh") == "US"  # no name: shown as stored
    assert names.name("region", "east", "en") == "east"
    (tmp_path / "labels.yaml").write_text("regions: {east: 华东地区, US: 美国}\n", encoding="utf-8")
    names = DataLabels.load(wh)
    assert (names.name("region", "east", "zh"), names.name("region", "US", "zh")) == \
        ("华东地区", "美国")
    frame = pd.DataFrame({"value": ["east", "SG", "—"], "customers": [2, 1, 1],
                          "share": [0.5, 0.25, 0.25], "diamond": 0.0, "core": 0.0,
                          "potential": 0.0, "basic": 1.0})
    shown = display({"region": frame, "gender": frame}, "zh", names)
    assert [r["value"] for r in shown[0]["rows"]] == ["华东地区", "新加坡", "—"]
    assert [r["value"] for r in shown[1]["rows"]] == ["east", "SG", "—"]  # other dimensions
    assert [r["value"] for r in display({"region": frame}, "en", names)[0]["rows"]] == \
        ["east", "SG", "—"]
