"""Names of the data's own values in the reader's language: channels, categories, products,
campaigns and regions are stored as codes (`wechat`, `coffee_machines`) and shown by name.

A Chinese name comes from, in order of precedence:

1. a labels file (YAML; `UPMARKET_LABELS`, else `labels.yaml` in the working folder)::

       channels:   {wechat: 微信, app_push: App 推送}
       categories: {coffee_machines: 咖啡机}
       products:   {CM-P001: 咖啡机 旗舰款}
       campaigns:  {CMP01: 新年搜索推广}
       regions:    {east: 华东}

2. an ingested column beside the code: `products.category_zh` (the category's name) and
   `products.name_zh`, `campaigns.name_zh`, `customers.region_zh` (the name of the customer's
   region, or of the country where no region is given: the value shown as the region);
3. the built-in names of common channels (`channel.*` in the label table).

Without any of them a value is shown as it is stored (underscores read as spaces), so
nothing a user loaded is ever hidden.
"""

from __future__ import annotations

import os
from pathlib import Path

from upmarket.errors import UpmarketError
from upmarket.i18n import LABELS, current_lang

ENV_VAR = "UPMARKET_LABELS"
DEFAULT_FILE = "labels.yaml"
#: section of the labels file → kind of value
SECTIONS = {"channels": "channel", "categories": "category", "products": "product",
            "campaigns": "campaign", "regions": "region"}


class BadLabelsFile(UpmarketError):
    """The labels file cannot be read as sections of code → name."""


def read_labels_file(path: Path) -> dict[tuple[str, str], str]:
    """The (kind, code) → Chinese name pairs of a labels file; a section not in `SECTIONS` or a
    value that is not text is refused with the file and section named."""
    import yaml

    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
        raise BadLabelsFile("err.labels.unreadable", path=path, reason=e) from e
    if not isinstance(raw, dict):
        raise BadLabelsFile("err.labels.no_sections", path=path)
    out: dict[tuple[str, str], str] = {}
    for section, names in raw.items():
        if section not in SECTIONS:
            raise BadLabelsFile("err.labels.section", path=path, section=section,
                                sections=", ".join(SECTIONS))
        if not isinstance(names, dict):
            raise BadLabelsFile("err.labels.section_map", path=path, section=section)
        for code, name in names.items():
            if not isinstance(name, str) or not name.strip():
                raise BadLabelsFile("err.labels.name", path=path, section=section, code=code,
                                    name=name)
            out[(SECTIONS[section], str(code))] = name.strip()
    return out


def labels_file() -> Path | None:
    path = os.environ.get(ENV_VAR)
    if path:
        if not Path(path).is_file():
            raise BadLabelsFile("err.labels.missing", env=ENV_VAR, path=path)
        return Path(path)
    default = Path(DEFAULT_FILE)
    return default if default.is_file() else None


class DataLabels:
    """Chinese names of data values; `name(kind, code, lang)` gives what to show."""

    def __init__(self, names: dict[tuple[str, str], str] | None = None):
        self.names = dict(names or {})

    @classmethod
    def load(cls, wh=None) -> DataLabels:
        """The names from the warehouse's `*_zh` columns (when `wh` is given), overridden by
        the labels file."""
        names: dict[tuple[str, str], str] = {}
        if wh is not None:
            names.update(_from_warehouse(wh))
        names.update(file_labels().names)
        return cls(names)

    def name(self, kind: str, code, lang: str | None = None) -> str:
        if code is None or (isinstance(code, float) and code != code):
            return "—"
        code = str(code)
        if current_lang(lang) == "zh-CN" and (kind, code) in self.names:
            return self.names[(kind, code)]
        if kind == "channel" and f"channel.{code}" in LABELS:
            return LABELS[f"channel.{code}"][current_lang(lang)]
        return code.replace("_", " ") if kind in ("channel", "category", "region") else code

    def channel(self, code, lang: str | None = None) -> str:
        return self.name("channel", code, lang)

    def category(self, code, lang: str | None = None) -> str:
        return self.name("category", code, lang)


def _from_warehouse(wh) -> dict[tuple[str, str], str]:
    """Chinese names ingested beside the codes (`products.category_zh`, `products.name_zh`,
    `campaigns.name_zh`, `customers.region_zh`)."""
    names: dict[tuple[str, str], str] = _regions_from_warehouse(wh)
    for table, key, pairs in (("products", "sku", (("category", "category_zh", "category"),
                                                    ("sku", "name_zh", "product"))),
                              ("campaigns", "campaign_id", (("campaign_id", "name_zh",
                                                             "campaign"),))):
        if not wh.has_table(table):
            continue
        t = wh.table(table)
        for code_col, zh_col, kind in pairs:
            if zh_col not in t.columns or code_col not in t.columns:
                continue
            frame = t.select(code_col, zh_col).filter(t[zh_col].notnull()).distinct().to_pandas()
            for code, zh in zip(frame[code_col], frame[zh_col]):
                if isinstance(zh, str) and zh.strip() and code is not None:
                    names.setdefault((kind, str(code)), zh.strip())
    return names


def _regions_from_warehouse(wh) -> dict[tuple[str, str], str]:
    """The customers' `region_zh`, by the value shown as their region: the region, or the
    country where the region is blank (as `strategy.segment_conditions` places them)."""
    if not wh.has_table("customers"):
        return {}
    t = wh.table("customers")
    if "region_zh" not in t.columns:
        return {}
    places = [t[c].cast("string") for c in ("region", "country") if c in t.columns]
    if not places:
        return {}
    code = places[0].coalesce(*places[1:]) if len(places) > 1 else places[0]
    frame = t.filter(t.region_zh.notnull()).select(code=code, zh=t.region_zh) \
        .filter(lambda r: r.code.notnull()).distinct().order_by("code", "zh").to_pandas()
    names: dict[tuple[str, str], str] = {}
    for code, zh in zip(frame["code"], frame["zh"]):
        if isinstance(zh, str) and zh.strip():
            names.setdefault(("region", str(code)), zh.strip())
    return names


_file_cache: dict[tuple[str, float], dict[tuple[str, str], str]] = {}


def file_labels() -> DataLabels:
    """The labels file's names, read once per version of the file (tables ask per row)."""
    path = labels_file()
    if path is None:
        return DataLabels()
    key = (str(path.resolve()), path.stat().st_mtime)
    if key not in _file_cache:
        _file_cache.clear()
        _file_cache[key] = read_labels_file(path)
    return DataLabels(_file_cache[key])


def channel_name(code, lang: str | None = None) -> str:
    """A channel's name without a warehouse at hand (built-in names and the labels file)."""
    return file_labels().channel(code, lang)
