"""Weighted scorecards: one mechanism for every scorecard the source guides define.

A scorecard is a YAML file: dimensions with weights, each holding metrics with a weight within
the dimension, a target and a direction. The shipped cards (package data in
``upmarket/scorecards/``) are the upward-marketing guide's effect index (customer value 50 % + brand value 30 % +
operational efficiency 20 %, chapter 6), its platform-selection scorecard (maturity 40 / data
integration 30 / scalability 20 / vendor support 10, chapter 5), its sales-competency model
(product expertise 35 / customer insight 30 / value presentation 25 / relationships 10,
chapter 4) and the execution-process manual's execution KPIs (§2.2.2: task completion, resource utilisation, risk
control, budget execution rate, customer satisfaction).

How a metric scores
-------------------
The source guides give weights and targets but no scoring rule, so this module uses the two rules a
KPI scorecard usually has; each card says which one a metric uses.

* ``attainment`` — the target attainment rate (目标达成率): ``actual ÷ target`` when higher is
  better, ``target ÷ actual`` when lower is better, ``min ÷ max`` of the two when the target
  itself is best (``closest``: the execution-process manual's budget execution rate measures how closely spend
  matches the budget, so 90 % and 111 % of budget both fall short). This is the ratio the upward-marketing guide
  uses for its automation rate (done ÷ all × 100 %) and the execution-process manual for budget execution (actual
  spend ÷ budget). It needs a positive target.
* ``linear`` — 0 at a floor, 1 at the target, a straight line between:
  ``(actual − floor) ÷ (target − floor)`` (``closest``: ``1 − |actual − target| ÷ |target −
  floor|``). For a growth target the natural floor is the base period's own value
  (``floor: "+0%"``), which makes the score the growth achieved ÷ the growth targeted: CLTV up
  10 % against the upward-marketing guide's +35 % scores 10/35. This is the default for growth targets; plain
  ``attainment`` would give a flat CLTV 1/1.35 = 74 % for doing nothing.

Either way the attainment is clipped to ``[0, cap]`` (cap 1 by default: over-achieving one
metric does not buy off another), so every dimension score and the overall index lie in
``[0, 100 · cap]``. A metric's points are its attainment × its weight within the dimension ×
the dimension's weight × 100; the points add up to the overall index.

Targets are written as the source guides write them: ``"> 50"`` (absolute, NPS 突破50分), ``"+35%"``
(growth against the base period, CLTV 提升35%), ``"+5pt"`` (percentage points on a share),
``"<= 4"`` or a bare number.

Missing data
------------
A metric whose data are missing is reported as "no data" and the weights of the other metrics
of its dimension are scaled up to fill its place; a dimension with no data at all hands its
weight to the others the same way. Both are listed in the output, and the index states the
share of the card's weight it actually covers — never a silent zero.

Growth targets are measured against the scored period's *base period*, which the card fixes
(``base: previous``, the period just before, by default; ``base: year_before`` for the same
period a year earlier) and not against whichever period it is shown beside: the index of a
period is then the same number whatever it is compared with, and it always counts the same
metrics. A metric whose base period has no usable value is reported as "no target" (its note
names the base period), never dropped from the table.

Periods are months (``2025-07``), quarters (``2025-Q3``) or years (``2025``): the upward-marketing guide's
monthly quick review, quarterly assessment and annual retrospective. Metric values come from a
*metric provider*: `WarehouseMetrics` computes them for a period ``[start, end)`` from the
warehouse (Ibis expressions, materialised as scalars or small lookups such as the campaign
list), `InputMetrics` reads values the user supplies (a platform's scores per criterion, the
marketing-automation rate while the warehouse holds no tasks).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from importlib import resources
from pathlib import Path

import ibis
import numpy as np
import pandas as pd
import yaml

from upmarket.currency import money
from upmarket.i18n import label
from upmarket.errors import NoRun, UpmarketError
from upmarket.features.behaviour import latest_nps
from upmarket.features.orders import days_between, purchases_until
from upmarket.features.paths import touches_until
from upmarket.features.premium import penetration_overall, price_ladder
from upmarket.models import formulas
from upmarket.warehouse.runs import output


class BadScorecard(UpmarketError):
    """A scorecard file is malformed (weights that do not sum to 1, an unknown metric …)."""


class BadPeriod(UpmarketError):
    """A period is not a month, quarter or year this module can read."""


class BadInputs(UpmarketError):
    """A file of metric values supplied by the user cannot be read."""


# -- periods -------------------------------------------------------------------------------
PERIOD_KINDS = ("month", "quarter", "year")
_CN_DIGITS = {"一": 1, "二": 2, "三": 3, "四": 4}


@dataclass(frozen=True, order=True)
class Period:
    """A calendar month, quarter or year: the half-open interval ``[start, end)``; with
    `until`, the part of it up to `until` (the period *to date*, whose data end there)."""

    year: int
    kind: str
    index: int = 1  # month 1–12, quarter 1–4; 1 for a year
    until: datetime | None = None

    @property
    def label(self) -> str:
        if self.kind == "month":
            return f"{self.year}-{self.index:02d}"
        if self.kind == "quarter":
            return f"{self.year}-Q{self.index}"
        return f"{self.year}"

    @property
    def start(self) -> datetime:
        month = {"month": self.index, "quarter": 3 * self.index - 2, "year": 1}[self.kind]
        return datetime(self.year, month, 1)

    @property
    def end(self) -> datetime:
        full = self._shift(1).start
        return full if self.until is None else min(full, self.until)

    @property
    def to_date(self) -> bool:
        """Whether the period is read only up to `until`, before its calendar end."""
        return self.end < self._shift(1).start

    @property
    def days(self) -> float:
        return (self.end - self.start).total_seconds() / 86400.0

    def previous(self) -> Period:
        """The period of the same kind just before this one (to the same point of it, when
        this one is read to date, so both span the same days)."""
        return self._same_span(self._shift(-1))

    def year_before(self) -> Period:
        """The same month, quarter or year one year earlier (to the same point, when read to
        date)."""
        return self._same_span(self._shift(-{"month": 12, "quarter": 4, "year": 1}[self.kind]))

    def _same_span(self, other: Period) -> Period:
        if self.until is None:
            return other
        return replace(other, until=other.start + (self.end - self.start))

    def _shift(self, n: int) -> Period:
        per_year = {"month": 12, "quarter": 4, "year": 1}[self.kind]
        if self.kind == "year":
            return Period(self.year + n, "year")
        k = self.year * per_year + (self.index - 1) + n
        return Period(k // per_year, self.kind, k % per_year + 1)

    def __str__(self) -> str:
        return self.label


_PERIOD_PATTERNS: list[tuple[re.Pattern, str]] = [
    (re.compile(r"^(\d{4})年?$"), "year"),
    (re.compile(r"^(\d{4})\s*[-/ ]?\s*[Qq]([1-4])$"), "quarter"),
    (re.compile(r"^[Qq]([1-4])\s*[-/ ]?\s*(\d{4})$"), "quarter_rev"),
    (re.compile(r"^(\d{4})\s*年?\s*第?\s*([1-4一二三四])\s*季度?$"), "quarter"),
    (re.compile(r"^(\d{4})\s*[-/.]\s*(\d{1,2})$"), "month"),
    (re.compile(r"^(\d{4})(\d{2})$"), "month"),
    (re.compile(r"^(\d{4})\s*年\s*(\d{1,2})\s*月$"), "month"),
]


def parse_period(text: str | int | Period) -> Period:
    """Read ``2025-07`` / ``202507`` / ``2025年7月`` (month), ``2025-Q3`` / ``2025Q3`` /
    ``Q3 2025`` / ``2025年第3季度`` (quarter) or ``2025`` (year)."""
    if isinstance(text, Period):
        return text
    s = str(text).strip()
    for pattern, kind in _PERIOD_PATTERNS:
        m = pattern.match(s)
        if not m:
            continue
        groups = m.groups()
        if kind == "quarter_rev":
            groups, kind = (groups[1], groups[0]), "quarter"
        year = int(groups[0])
        index = 1
        if kind != "year":
            index = _CN_DIGITS.get(groups[1]) or int(groups[1])
        top = 12 if kind == "month" else 4 if kind == "quarter" else 1
        if 1900 <= year <= 2200 and 1 <= index <= top:
            return Period(year, kind, index)
    raise BadPeriod("err.card.period", value=s)


def try_period(text) -> Period | None:
    try:
        return parse_period(text)
    except BadPeriod:
        return None


def period_of(ts: datetime, kind: str = "quarter") -> Period:
    """The period of `kind` that contains `ts`."""
    if kind == "month":
        return Period(ts.year, "month", ts.month)
    if kind == "quarter":
        return Period(ts.year, "quarter", (ts.month - 1) // 3 + 1)
    return Period(ts.year, "year")


#: a period is scored to date once it holds this many days of data: fewer say too little
#: (a run on 3 October would otherwise score a quarter of two days)
MIN_TO_DATE_DAYS = 28


def default_period(as_of: datetime, kind: str = "quarter") -> Period:
    """The period a card is scored for by default: the one the data's as-of closes. With the
    as-of on a period's first day (the day after a quarter's last order), that is the last
    complete period, as `last_complete`; with the as-of inside a period that already holds
    `MIN_TO_DATE_DAYS` of data (the data moved on, e.g. after simulated cycles), it is that
    period *to date*, ``[start, as_of)``, against the same span of its base period: the tasks
    a run raised for its data (stamped with its as-of) are then in the period scored, so its
    automation rate and response time are scored too. Earlier in a period, the last complete
    one."""
    held = period_of(as_of - timedelta(seconds=1), kind)
    if held.end <= as_of:
        return held
    if as_of - held.start >= timedelta(days=MIN_TO_DATE_DAYS):
        return replace(held, until=as_of)
    return last_complete(as_of, kind)


def last_complete(as_of: datetime, kind: str = "quarter") -> Period:
    """The latest period of `kind` that ends on or before `as_of`: with `as_of` the day after
    the latest order (the pipeline's default), the last period the data cover to its end."""
    # the period holding `as_of` has not ended (or, when `as_of` is its first instant, has
    # not begun), so the answer is always the one before it
    return period_of(as_of, kind).previous()


def subject_label(subject: Period | str) -> str:
    return subject.label if isinstance(subject, Period) else str(subject)


# -- targets -------------------------------------------------------------------------------
_COMPARATORS = {">": ">", ">=": ">=", "≥": ">=", "<": "<", "<=": "<=", "≤": "<=", "=": "=",
                "==": "="}
_NUMBER = r"([0-9]+(?:\.[0-9]*)?|\.[0-9]+)"
_RELATIVE = re.compile(r"^([+\-−])\s*" + _NUMBER + r"\s*(%|pt|pts|pp)$", re.I)
_ABSOLUTE = re.compile(r"^(>=|<=|==|>|<|=|≥|≤)?\s*([+\-−]?)\s*" + _NUMBER + r"\s*(%?)$")


@dataclass(frozen=True)
class Target:
    """A target or floor as written in a card: absolute (``> 50``, ``0.8``, ``80%``), growth
    against the base period (``+35%``) or percentage points on it (``+5pt``)."""

    text: str
    kind: str  # absolute | growth | points
    value: float  # the level (absolute), the growth fraction, or the points as a fraction
    comparator: str | None = None

    @property
    def relative(self) -> bool:
        return self.kind != "absolute"

    def resolve(self, baseline: float | None) -> float | None:
        """The level this target asks for, given the base period's value."""
        if self.kind == "absolute":
            return self.value
        if baseline is None or not math.isfinite(baseline):
            return None
        if self.kind == "growth":
            return baseline * (1.0 + self.value) if baseline > 0 else None
        return baseline + self.value

    def implied_direction(self) -> str | None:
        if self.comparator in (">", ">="):
            return "higher"
        if self.comparator in ("<", "<="):
            return "lower"
        if self.relative and self.value != 0:
            return "higher" if self.value > 0 else "lower"
        return None


def parse_target(raw, where: str) -> Target:
    if isinstance(raw, bool) or raw is None:
        raise BadScorecard(f"{where}: a target must be a number or text like '> 50', '+35%', "
                           f"'+5pt', not {raw!r}")
    if isinstance(raw, int | float):
        return Target(str(raw), "absolute", float(raw))
    s = str(raw).strip().replace("−", "-").replace("＋", "+").replace("％", "%")
    m = _RELATIVE.match(s)
    if m:
        sign = -1.0 if m.group(1) == "-" else 1.0
        return Target(s, "growth" if m.group(3) == "%" else "points",
                      sign * float(m.group(2)) / 100.0)
    m = _ABSOLUTE.match(s)
    if m:
        value = float(m.group(3)) * (-1.0 if m.group(2) == "-" else 1.0)
        if m.group(4):
            value /= 100.0
        comp = _COMPARATORS.get(m.group(1)) if m.group(1) else None
        return Target(s, "absolute", value, None if comp == "=" else comp)
    raise BadScorecard("err.card.target", where=where, value=raw)


# -- scoring ------------------------------------------------------------------------------
DIRECTIONS = ("higher", "lower", "closest")
METHODS = ("attainment", "linear")


def attainment(actual: float, target: float, direction: str = "higher",
               method: str = "attainment", floor: float | None = None,
               cap: float = 1.0) -> float:
    """Score one metric in ``[0, cap]`` by the rules in the module docstring. Returns NaN when
    the rule cannot apply (attainment on a non-positive target, linear without a usable floor).
    """
    if not (math.isfinite(actual) and math.isfinite(target)):
        return math.nan
    if method == "linear":
        if floor is None or not math.isfinite(floor) or floor == target:
            return math.nan
        if direction == "closest":
            a = 1.0 - abs(actual - target) / abs(target - floor)
        else:
            a = (actual - floor) / (target - floor)
    else:
        if target <= 0:
            return math.nan
        if direction == "higher":
            a = actual / target
        elif direction == "lower":
            a = cap if actual <= 0 else target / actual
        else:
            a = 0.0 if actual <= 0 else min(actual, target) / max(actual, target)
    return float(min(max(a, 0.0), cap))


def target_met(actual: float, target: float, t: Target, direction: str,
               tolerance: float) -> bool:
    """Whether the target as written is reached (``> 50`` is strict; growth targets are met
    at the level they ask for; ``closest`` within `tolerance` of the target)."""
    if direction == "closest":
        return abs(actual - target) <= tolerance * abs(target)
    comp = t.comparator or (">=" if direction == "higher" else "<=")
    return {">": actual > target, ">=": actual >= target, "<": actual < target,
            "<=": actual <= target}[comp]


# -- the card -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Metric:
    key: str
    source: str
    weight: float
    direction: str
    target: Target
    method: str
    floor: Target | None = None
    cap: float = 1.0
    from_inputs: bool = False
    unit: str = "score"
    tolerance: float = 0.05
    title: Mapping[str, str] | None = None


@dataclass(frozen=True)
class Dimension:
    key: str
    weight: float
    metrics: tuple[Metric, ...]
    title: Mapping[str, str] | None = None


@dataclass(frozen=True)
class Scorecard:
    name: str
    dimensions: tuple[Dimension, ...]
    origin: str = ""
    title: Mapping[str, str] | None = None
    source: str = ""
    #: which period growth targets are measured against: `BASES`
    base: str = "previous"

    @property
    def metrics(self) -> list[tuple[Dimension, Metric]]:
        return [(d, m) for d in self.dimensions for m in d.metrics]

    def base_of(self, subject: Period | str) -> Period | None:
        """The period a subject's growth targets are measured against; None for a subject
        that is not a period (a platform, a salesperson)."""
        if not isinstance(subject, Period):
            return None
        return subject.year_before() if self.base == "year_before" else subject.previous()

    @property
    def needs_warehouse(self) -> bool:
        return any(not m.from_inputs for _, m in self.metrics)


_CARD_KEYS = {"name", "title", "source", "method", "cap", "dimensions", "description", "base"}
#: What a card's `base` may say: growth against the period before, or a year earlier.
BASES = ("previous", "year_before")
_DIM_KEYS = {"key", "title", "weight", "metrics", "description"}
_METRIC_KEYS = {"key", "title", "source", "from", "weight", "direction", "target", "floor",
                "method", "cap", "unit", "tolerance", "description"}
WEIGHT_TOLERANCE = 1e-6


def _weight(raw, where: str) -> float:
    try:
        if isinstance(raw, str) and raw.strip().endswith("%"):
            w = float(raw.strip()[:-1]) / 100.0
        elif isinstance(raw, bool):
            raise ValueError
        else:
            w = float(raw)
    except (TypeError, ValueError):
        raise BadScorecard(f"{where}: weight {raw!r} is not a number (write 0.3 or '30%')") \
            from None
    if not (math.isfinite(w) and w > 0):
        raise BadScorecard(f"{where}: weight must be positive, not {raw!r}")
    return w


def _weights(items: list[dict], where: str, what: str, names: list[str]) -> list[float]:
    """Weights as given (all or none; none means equal shares), checked to sum to 1."""
    given = ["weight" in it for it in items]
    if not any(given):
        return [1.0 / len(items)] * len(items)
    if not all(given):
        missing = ", ".join(n for n, g in zip(names, given) if not g)
        raise BadScorecard(f"{where}: give every {what} a weight or none (none means equal "
                           f"shares); missing for: {missing}")
    w = [_weight(it["weight"], f"{where}, {what} {n!r}") for it, n in zip(items, names)]
    if abs(sum(w) - 1.0) > WEIGHT_TOLERANCE:
        listed = ", ".join(f"{n} {x:g}" for n, x in zip(names, w))
        raise BadScorecard("err.card.weights", where=where, what=what, total=sum(w),
                           listed=listed)
    return w


def _title(raw, where: str) -> Mapping[str, str] | None:
    if raw is None:
        return None
    if isinstance(raw, str):
        return {"en": raw, "zh-CN": raw}
    if isinstance(raw, Mapping) and all(isinstance(v, str) for v in raw.values()):
        out = {("zh-CN" if str(k).lower() in ("zh", "zh-cn", "zh_cn", "cn") else "en"): v
               for k, v in raw.items()}
        return out
    raise BadScorecard(f"{where}: title must be text or {{en: ..., zh: ...}}")


def _unknown(d: Mapping, allowed: set[str], where: str) -> None:
    extra = sorted(set(map(str, d)) - allowed)
    if extra:
        raise BadScorecard("err.card.unknown_fields", where=where, names=", ".join(extra),
                           allowed=", ".join(sorted(allowed)))


def _items(raw, where: str, what: str) -> list[dict]:
    """A list of mappings with `key`, or a mapping key → spec (YAML keeps its order)."""
    if isinstance(raw, Mapping):
        out = []
        for k, v in raw.items():
            if v is None:
                v = {}
            if not isinstance(v, Mapping):
                raise BadScorecard(f"{where}, {what} {k!r}: expected a mapping of fields")
            out.append({"key": str(k), **v})
        raw = out
    if not isinstance(raw, list) or not raw:
        raise BadScorecard(f"{where}: needs a non-empty list of {what}s")
    for i, it in enumerate(raw):
        if not isinstance(it, Mapping) or not str(it.get("key") or "").strip():
            raise BadScorecard(f"{where}: {what} #{i + 1} needs a 'key'")
    return [dict(it) for it in raw]


def parse_scorecard(data, origin: str = "<scorecard>") -> Scorecard:
    """Build and validate a scorecard from its YAML data; errors name `origin` and the
    dimension or metric at fault."""
    if not isinstance(data, Mapping):
        raise BadScorecard(f"{origin}: a scorecard is a mapping with 'dimensions'")
    _unknown(data, _CARD_KEYS, origin)
    default_method = data.get("method")
    if default_method is not None and default_method not in METHODS:
        raise BadScorecard("err.card.method", where=origin, choices=", ".join(METHODS))
    default_cap = float(data.get("cap", 1.0))
    base = data.get("base", "previous")
    if base not in BASES:
        raise BadScorecard(f"{origin}: base: {base!r} — growth targets are measured against "
                           f"one of {', '.join(BASES)}")
    dims_raw = _items(data.get("dimensions"), origin, "dimension")
    dim_names = [str(d["key"]) for d in dims_raw]
    if len(set(dim_names)) != len(dim_names):
        raise BadScorecard(f"{origin}: dimension keys must be unique ({', '.join(dim_names)})")
    dim_w = _weights(dims_raw, origin, "dimension", dim_names)
    dims = []
    for d, dw in zip(dims_raw, dim_w):
        dwhere = f"{origin}, dimension {d['key']!r}"
        _unknown(d, _DIM_KEYS, dwhere)
        mets_raw = _items(d.get("metrics"), dwhere, "metric")
        names = [str(m["key"]) for m in mets_raw]
        if len(set(names)) != len(names):
            raise BadScorecard(f"{dwhere}: metric keys must be unique ({', '.join(names)})")
        mw = _weights(mets_raw, dwhere, "metric", names)
        metrics = tuple(_metric(m, w, f"{dwhere}, metric {m['key']!r}", default_method,
                                default_cap) for m, w in zip(mets_raw, mw))
        dims.append(Dimension(str(d["key"]), dw, metrics, _title(d.get("title"), dwhere)))
    name = str(data.get("name") or Path(origin).stem)
    return Scorecard(name, tuple(dims), origin, _title(data.get("title"), origin),
                     str(data.get("source") or ""), base)


def _metric(m: dict, weight: float, where: str, default_method, default_cap) -> Metric:
    _unknown(m, _METRIC_KEYS, where)
    key = str(m["key"])
    source = str(m.get("source") or key)
    origin = m.get("from")
    if origin not in (None, "warehouse", "inputs"):
        raise BadScorecard(f"{where}: 'from' must be warehouse or inputs, not {origin!r}")
    spec = WAREHOUSE_METRICS.get(source)
    from_inputs = origin == "inputs"
    if not from_inputs and spec is None:
        raise BadScorecard("err.card.source", where=where, source=source,
                           known=", ".join(WAREHOUSE_METRICS))
    if "target" not in m:
        raise BadScorecard(f"{where}: needs a 'target' (e.g. '> 50' or '+35%')")
    target = parse_target(m["target"], where)
    floor = parse_target(m["floor"], f"{where}, floor") if m.get("floor") is not None else None
    direction = m.get("direction") or target.implied_direction() or \
        (spec.direction if spec else "higher")
    if direction not in DIRECTIONS:
        raise BadScorecard(f"{where}: direction must be one of {', '.join(DIRECTIONS)}, "
                           f"not {direction!r}")
    implied = target.implied_direction()
    if implied and direction != "closest" and implied != direction:
        raise BadScorecard(f"{where}: target {target.text!r} asks for {implied} values but "
                           f"direction says {direction}")
    method = m.get("method") or default_method
    if method is None:
        # growth targets score as growth achieved ÷ growth targeted (see module docstring)
        method = "linear" if target.relative else "attainment"
        if target.relative and floor is None:
            floor = Target("+0%", "growth", 0.0)
    if method not in METHODS:
        raise BadScorecard("err.card.method", where=where, choices=", ".join(METHODS))
    if method == "linear":
        if floor is None:
            raise BadScorecard(f"{where}: method linear needs a 'floor' (the value that scores "
                               "0), e.g. floor: 0 or floor: '+0%'")
        if not target.relative and not floor.relative:
            if floor.value == target.value:
                raise BadScorecard(f"{where}: floor and target are both {floor.value:g}")
            if direction == "higher" and floor.value > target.value or \
                    direction == "lower" and floor.value < target.value:
                raise BadScorecard(f"{where}: with direction {direction} the floor "
                                   f"({floor.text}) must be on the far side of the target "
                                   f"({target.text})")
    elif not target.relative and target.value <= 0:
        raise BadScorecard(f"{where}: attainment (actual ÷ target) needs a positive target; "
                           "use method: linear with a floor")
    cap = float(m.get("cap", default_cap))
    if not (math.isfinite(cap) and cap > 0):
        raise BadScorecard(f"{where}: cap must be positive")
    unit = str(m.get("unit") or (spec.unit if spec else "score"))
    return Metric(key, source, weight, direction, target, method, floor, cap, from_inputs,
                  unit, float(m.get("tolerance", 0.05)), _title(m.get("title"), where))


#: The cards shipped with the package, found at run time through importlib.resources.
CARD_PACKAGE_DIR = "scorecards"


def _card_dir():
    return resources.files("upmarket").joinpath(CARD_PACKAGE_DIR)


def builtin_scorecards() -> list[str]:
    return sorted(p.name[:-5] for p in _card_dir().iterdir() if p.name.endswith(".yaml"))


def load_scorecard(name_or_path: str | Path = "effect_index") -> Scorecard:
    """A shipped card by name (``effect_index``, ``platform_selection``, ``sales_competency``,
    ``execution``) or a YAML file of your own."""
    text = str(name_or_path)
    path = Path(text)
    if text in builtin_scorecards():
        res = _card_dir().joinpath(f"{text}.yaml")
        return parse_scorecard(_yaml(res.read_text(encoding="utf-8"), text), text)
    if not path.exists():
        raise BadScorecard("err.card.not_found", path=text, cards=", ".join(builtin_scorecards()))
    return parse_scorecard(_yaml(path.read_text(encoding="utf-8-sig"), str(path)), str(path))


def _yaml(text: str, origin: str):
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise BadScorecard("err.card.yaml", origin=origin, reason=exc) from None


# -- metric values ------------------------------------------------------------------------
@dataclass(frozen=True)
class Measurement:
    """A metric's value for one subject (None: no data), with a note saying where it came
    from or why it is missing: an i18n key under ``scorecard.note.`` and its arguments."""

    value: float | None
    note: str | None = None
    args: Mapping[str, object] = field(default_factory=dict)
    method: str | None = None
    origin: str | None = None  # file the value was read from, for values the user supplied

    @property
    def ok(self) -> bool:
        return self.value is not None and math.isfinite(self.value)


NO_DATA = Measurement(None, "not_supplied")


class MetricProvider:
    """Gives metric values for subjects (periods, or names such as a platform)."""

    def measure(self, keys: Collection[str], subjects: Sequence[Period | str]
                ) -> dict[str, dict[str, Measurement]]:
        """{subject label: {metric source key: Measurement}}; all subjects are asked at once
        so a provider can keep them comparable (see `WarehouseMetrics` on CLTV)."""
        raise NotImplementedError


def format_value(value, unit: str, lang: str | None = None, symbol: str | None = None) -> str:
    """A metric value as the CLI and the report show it, by its unit (`MetricSpec.unit`), in
    `lang`'s words for units (小时 for hours) and with its currency (`currency.money`: ¥ in
    Chinese unless set otherwise; `symbol`: the policy's, `currency.run_symbol`); '—' when
    there is none."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    try:
        if pd.isna(value):
            return "—"
    except (TypeError, ValueError):
        pass
    value = float(value)
    if unit == "share":
        return f"{value:.1%}"
    if unit == "currency":
        return money(value, lang, policy=symbol)
    if unit == "count":
        return f"{value:,.0f}"
    if unit == "hours":
        return label("unit.hours", lang, n=f"{value:.1f}")
    if unit in ("nps", "score"):
        return f"{value:.1f}"
    return f"{value:.3g}"


@dataclass(frozen=True)
class MetricSpec:
    unit: str
    direction: str
    compute: Callable | None  # (WarehouseMetrics, Period) -> Measurement; None: not held


class WarehouseMetrics(MetricProvider):
    """Metric values for periods, computed from the warehouse.

    `results` / `results_as_of`: per-customer results of a run in progress (the pipeline's
    own), used for CLTV of a period that ends at that run's as_of. Without them the published
    runs are looked up by as_of.
    """

    def __init__(self, wh, *, results: pd.DataFrame | None = None,
                 results_as_of: datetime | None = None, lookback_days: int = 30):
        self.wh = wh
        self.results = results
        self.results_as_of = results_as_of
        self.lookback_days = lookback_days
        # measurements by (metric, period, method), plus a few lookups shared across periods
        self._cache: dict = {}

    def table(self, name: str) -> ibis.Table:
        return self.wh.table(name)

    def measure(self, keys, subjects):
        out: dict[str, dict[str, Measurement]] = {subject_label(s): {} for s in subjects}
        periods = [s for s in subjects if isinstance(s, Period)]
        cltv_method = self._cltv_method(periods) if "cltv" in keys else None
        for s in subjects:
            for key in keys:
                spec = WAREHOUSE_METRICS.get(key)
                if spec is None:
                    continue
                if not isinstance(s, Period):
                    out[subject_label(s)][key] = Measurement(None, "not_a_period",
                                                             {"subject": s})
                    continue
                method = cltv_method if key == "cltv" else None
                ck = (key, s, method)
                if ck not in self._cache:
                    if key == "cltv":
                        m = self._cltv(s, method, periods)
                    elif spec.compute is None:
                        m = Measurement(None, f"na_{key}")
                    else:
                        m = spec.compute(self, s)
                    self._cache[ck] = m
                out[subject_label(s)][key] = self._cache[ck]
        return out

    # CLTV: the model's when every period compared has it, else the guide's formula everywhere,
    # so a growth target never compares a 12-month margin forecast with a revenue formula
    def _model_clv(self, p: Period) -> tuple[float, str] | None:
        key = ("_model_clv", p)
        if key not in self._cache:
            self._cache[key] = self._find_model_clv(p)
        return self._cache[key]

    def _find_model_clv(self, p: Period) -> tuple[float, str] | None:
        if self.results is not None and self.results_as_of == p.end and "clv" in self.results:
            return float(self.results["clv"].mean()), "this run"
        runs = self.table("runs")
        row = runs.filter(runs.status == "published", runs.as_of == ibis.literal(p.end)) \
            .order_by(ibis.desc("finished")).limit(1).to_pandas()
        if row.empty:
            return None
        run_id = str(row["run_id"].iloc[0])
        try:
            res = output(self.wh, "results", run_id)
        except NoRun:
            return None
        if "clv" not in res.columns:
            return None
        value = res.clv.mean().execute()
        return (None if value is None or pd.isna(value) else (float(value), run_id))

    def _cltv_method(self, periods: list[Period]) -> str:
        if periods and all(self._model_clv(p) is not None for p in periods):
            return "model"
        return "seed"

    def _cltv(self, p: Period, method: str, periods: list[Period]) -> Measurement:
        if method == "model":
            value, run_id = self._model_clv(p)
            return Measurement(value, "cltv_model", {"run": run_id}, method="model")
        m = cltv_textbook(self, p)
        have = [q.label for q in periods if self._model_clv(q) is not None]
        if m.ok and have:
            return replace(m, note="cltv_textbook_like_for_like",
                           args={**m.args, "have": ", ".join(have)})
        return m


def _between(t: ibis.Table, col: str, start: datetime, end: datetime) -> ibis.Table:
    return t.filter(t[col] >= ibis.literal(start), t[col] < ibis.literal(end))


def _scalar(expr) -> float | None:
    v = expr.execute()
    return None if v is None or pd.isna(v) else float(v)


def cltv_textbook(src: WarehouseMetrics, p: Period) -> Measurement:
    """The upward-marketing guide's CLTV = average order value × purchase frequency × lifespan × retention
    coefficient. The order value is the period's own (net revenue ÷ paid orders); frequency
    and retention are yearly quantities in the formula, so they are measured over the year
    that ends with the period whatever its length (a month's buyers rarely buy again within
    the month, and raising that to a yearly rate would say nobody stays): frequency = paid
    orders per buyer in that year, retention = the share of the year before's buyers who
    bought in it (as `strategy.kpis` does), lifespan = 1/(1 − retention)
    (`formulas.expected_lifespan`)."""
    o = src.table("orders")
    lines = _between(o, "ts", p.start, p.end)
    row = lines.aggregate(orders=lines.order_id.nunique(where=lines.status == "paid"),
                          net=lines.amount.sum()).to_pandas().iloc[0]
    orders = float(row["orders"] or 0)
    if orders == 0:
        return Measurement(None, "no_orders", {"period": p.label})
    aov = float(row["net"] or 0.0) / orders
    year_start = datetime(p.end.year - 1, p.end.month, 1)  # period ends fall on the 1st
    before_start = datetime(p.end.year - 2, p.end.month, 1)
    paid = _between(o, "ts", before_start, p.end)
    paid = paid.filter(paid.status == "paid")
    in_year = paid.ts >= ibis.literal(year_start)
    # one row per customer: bought in the year before, in the year, and how many orders then
    per = paid.group_by("customer_id").aggregate(
        before=(~in_year).cast("int64").max(), now=in_year.cast("int64").max(),
        orders=paid.order_id.nunique(where=in_year))
    row = per.aggregate(n_before=per.before.sum(), buyers=per.now.sum(),
                        kept=(per.before * per.now).sum(), orders=per.orders.sum()
                        ).to_pandas().iloc[0]
    n_before = int(row["n_before"] or 0)
    if n_before == 0:
        return Measurement(None, "no_prev_buyers", {
            "previous": f"{before_start:%Y-%m-%d} – {year_start - timedelta(days=1):%Y-%m-%d}"})
    r = min(int(row["kept"] or 0) / n_before, 0.99)
    per_year = float(row["orders"]) / float(row["buyers"])
    lifespan = float(formulas.expected_lifespan(r))
    value = float(formulas.cltv_textbook(aov, per_year, lifespan, r))
    return Measurement(value, "cltv_textbook", {"aov": aov, "freq": per_year, "lifespan": lifespan,
                                            "r": r}, method="seed")


def premium_penetration(src: WarehouseMetrics, p: Period) -> Measurement:
    """The upward-marketing guide's 高客单价产品渗透率 for the period: buyers of a premium product in the period ÷
    buyers in the period (`features.premium.penetration_overall` on the period's lines; the
    price ladder from what was known by the period's end)."""
    products = src.table("products")
    if "_categories" not in src._cache:
        src._cache["_categories"] = int(
            products.filter(products.category.notnull()).count().execute())
    if src._cache["_categories"] == 0:
        return Measurement(None, "no_categories")
    o = src.table("orders")
    known = o.filter(o.ts < ibis.literal(p.end))
    ladder = price_ladder(products, known)
    row = penetration_overall(known.filter(known.ts >= ibis.literal(p.start)), ladder, p.end) \
        .to_pandas().iloc[0]
    buyers = float(row["buyers"] or 0)
    if buyers == 0 or pd.isna(row["penetration"]):
        return Measurement(None, "no_orders", {"period": p.label})
    return Measurement(float(row["penetration"]), "penetration",
                       {"premium": int(row["premium_buyers"]), "buyers": int(buyers)})


def nps(src: WarehouseMetrics, p: Period) -> Measurement:
    """Net promoter score on −100…100 from each customer's latest answer in the period
    (`features.behaviour.latest_nps`): % promoters (9–10) − % detractors (0–6)."""
    f = src.table("feedback")
    last = latest_nps(f.filter(f.ts >= ibis.literal(p.start)), p.end)
    row = last.aggregate(
        n=last.count(),
        promoters=(last.latest_nps >= 9).cast("int64").sum(),
        detractors=(last.latest_nps <= 6).cast("int64").sum(),
    ).to_pandas().iloc[0]
    n = float(row["n"] or 0)
    if n == 0:
        return Measurement(None, "no_nps", {"period": p.label})
    pro, det = float(row["promoters"] or 0) / n, float(row["detractors"] or 0) / n
    return Measurement(100.0 * (pro - det), "nps",
                       {"n": int(n), "promoters": pro, "detractors": det})


BRAND_METRICS = ("awareness", "association", "loyalty", "premium_coefficient")


def _survey(src: WarehouseMetrics) -> pd.DataFrame:
    if "_survey" not in src._cache:
        s = src.table("brand_survey").to_pandas()
        s["parsed"] = [try_period(x) for x in s["period"]]
        src._cache["_survey"] = s
    return src._cache["_survey"]


def brand_metric(metric: str) -> Callable[[WarehouseMetrics, Period], Measurement]:
    """A brand_survey metric for the period: the mean of the surveys that fall inside it (four
    quarterly waves for a year), else the survey whose period contains it (a quarterly wave
    for a month); survey periods are read like `parse_period` (2025Q3, 2025-Q3, 2025-07 …)."""

    def compute(src: WarehouseMetrics, p: Period) -> Measurement:
        s = _survey(src)
        s = s[(s["metric"] == metric) & s["parsed"].notna() & s["value"].notna()]
        # explicit boolean arrays: an empty list would select columns, not rows
        within = np.array([q.start >= p.start and q.end <= p.end for q in s["parsed"]], bool)
        inside = s[within]
        if inside.empty:
            covers = np.array([q.start <= p.start and q.end >= p.end for q in s["parsed"]], bool)
            inside = s[covers]
            if not inside.empty:  # the narrowest survey period that holds this one
                narrowest = min(inside["parsed"], key=lambda q: q.days)
                inside = inside[inside["parsed"] == narrowest]
        if inside.empty:
            return Measurement(None, "no_survey", {"metric": metric, "period": p.label})
        waves = ", ".join(q.label for q in sorted(inside["parsed"]))
        return Measurement(float(inside["value"].mean()), "survey", {"waves": waves})

    return compute


def bav(src: WarehouseMetrics, p: Period) -> Measurement:
    """The upward-marketing guide: BAV = awareness × association × loyalty × premium coefficient (溢价系数)."""
    parts = {m: brand_metric(m)(src, p) for m in BRAND_METRICS}
    if not all(parts[m].ok for m in BRAND_METRICS[:3]):
        return Measurement(None, "no_survey", {"metric": "awareness/association/loyalty",
                                               "period": p.label})
    coef = parts["premium_coefficient"]
    value = math.prod(parts[m].value for m in BRAND_METRICS[:3])
    if not coef.ok:
        return Measurement(value, "bav_no_coefficient")
    return Measurement(value * coef.value, "bav", {"coefficient": coef.value})


def _tasks(src: WarehouseMetrics) -> ibis.Table | None:
    """The warehouse copy of the automation tasks (`opstore.automation.copy_tasks_to_warehouse`),
    None while it holds none: the metrics read from it then say they are not available."""
    if "_tasks_held" not in src._cache:
        src._cache["_tasks_held"] = src.wh.has_table("tasks") and \
            int(src.table("tasks").count().execute()) > 0
    return src.table("tasks") if src._cache["_tasks_held"] else None


def _raised_in(t: ibis.Table, p: Period) -> ibis.Table:
    """The tasks raised in the period on the data's timeline: placed by their data time (the
    run's as-of, the weekly check's date or the event's time they are about), not by the wall
    clock they were written at, so tasks a run on last year's data raised today count for last
    year's periods. Tasks from before data times were kept fall back to their creation time."""
    t = t.mutate(_moment=_data_moment(t))
    return t.filter(t._moment >= ibis.literal(p.start), t._moment < ibis.literal(p.end))


def _data_moment(t: ibis.Table) -> ibis.Value:
    """The task's place on the data's timeline: its data time. A run's is its as-of, the
    exclusive end of its data, so the tasks a run as of 1 January raises count in the quarter
    that starts then, in which they are worked, and not in the one that ended: a period's rate
    is then the same read by the run that closes it (which scores the period before raising
    its own tasks) as read at any time after, and a closed period's does not move."""
    if "data_time" not in t.columns:
        return t.created
    return t.data_time.fill_null(t.created)


def _by_period_end(t: ibis.Table, when: str, p: Period) -> ibis.Value:
    """Whether `when` (completed, due) came before the period's end on the data's timeline:
    the wall-clock delay since the task was written, counted from its data time."""
    return days_between(t[when], t.created) < days_between(ibis.literal(p.end), t._moment)


def _task_responses(t: ibis.Table, p: Period) -> ibis.Table:
    """Hours from creation to completion of the people's tasks about a customer raised for
    the period and done (a webhook or an export answers in seconds: counting them would
    measure the machine, not the service)."""
    t = _raised_in(t, p)
    t = t.filter(t.kind == "task", t.status == "done", t.completed.notnull())
    return t.select(hours=days_between(t.completed, t.created) * 24.0,
                    customer=t.customer_id.notnull())


def response_time_hours(src: WarehouseMetrics, p: Period) -> Measurement:
    """Median hours to respond to a customer (the upward-marketing guide's 客户响应时间): a service ticket's
    opening to its first response, over tickets opened in the period that have one, pooled
    with an automation task's creation to its completion, over the tasks about a customer
    created in the period and done (`_task_responses`). The median, because a few tickets
    left for days would otherwise stand for all."""
    t = src.table("service_tickets")
    t = _between(t, "opened", p.start, p.end).filter(ibis._.first_response.notnull())
    hours = t.select(hours=days_between(t.first_response, t.opened) * 24.0)
    tasks = _tasks(src)
    n_tasks = 0
    if tasks is not None:
        k = _task_responses(tasks, p)
        k = k.filter(k.customer).select("hours")
        n_tasks = int(k.count().execute())
        if n_tasks:
            hours = hours.union(k, distinct=False)
    row = hours.aggregate(n=hours.count(), median=hours.hours.median()).to_pandas().iloc[0]
    if not row["n"]:
        return Measurement(None, "no_tickets", {"period": p.label})
    if not n_tasks:
        return Measurement(float(row["median"]), "tickets", {"n": int(row["n"])})
    return Measurement(float(row["median"]), "responses",
                       {"tickets": int(row["n"]) - n_tasks, "tasks": n_tasks})


def task_response_hours(src: WarehouseMetrics, p: Period) -> Measurement:
    """Median hours from a person's task being created (by an automation rule) to its being
    done, over the tasks created in the period and done; the part of the response time the
    rules' tasks account for, each due within its tier's response time (the key-account strategy course)."""
    tasks = _tasks(src)
    if tasks is None:
        return Measurement(None, "na_task_response_hours")
    k = _task_responses(tasks, p)
    row = k.aggregate(n=k.count(), median=k.hours.median()).to_pandas().iloc[0]
    if not row["n"]:
        return Measurement(None, "no_task_responses", {"period": p.label})
    return Measurement(float(row["median"]), "task_responses", {"n": int(row["n"])})


def marketing_automation_rate(src: WarehouseMetrics, p: Period) -> Measurement:
    """The upward-marketing guide (ch. 6): MAU = 营销自动化任务完成量 ÷ 总任务量 × 100 % — automated marketing
    tasks done ÷ all tasks. Read here over the actions the automation rules set off
    (`activation.actions`): of all tasks raised for the period's data (`_raised_in`) —
    webhooks and exports, which the system carries out, and tasks for people — the share that
    are automated and were done by the period's end. A task done after the period ends does
    not count for it, so the rate of a closed period does not move afterwards."""
    tasks = _tasks(src)
    if tasks is None:
        return Measurement(None, "na_marketing_automation_rate")
    t = _raised_in(tasks, p)
    done = t.automated.fill_null(False) & (t.status == "done") & t.completed.notnull() \
        & _by_period_end(t, "completed", p)
    row = t.aggregate(n=t.count(), done=done.cast("int64").sum()).to_pandas().iloc[0]
    n = int(row["n"] or 0)
    if n == 0:
        return Measurement(None, "no_tasks", {"period": p.label})
    d = int(row["done"] or 0)
    return Measurement(d / n, "automation", {"done": d, "n": n})


def task_completion_rate(src: WarehouseMetrics, p: Period) -> Measurement:
    """The task completion rate: of the automation tasks due in the period (on the
    data's timeline, as `_raised_in`), the share done by their due time (finished on time ÷
    due)."""
    tasks = _tasks(src)
    if tasks is None:
        return Measurement(None, "na_task_completion_rate")
    t = tasks.mutate(_moment=_data_moment(tasks))
    # due in the period on the data's timeline: data time + (due − created)
    due_delay = days_between(t.due, t.created)
    t = t.filter(due_delay >= days_between(ibis.literal(p.start), t._moment),
                 due_delay < days_between(ibis.literal(p.end), t._moment))
    on_time = (t.status == "done") & t.completed.notnull() & (t.completed <= t.due)
    row = t.aggregate(n=t.count(), on_time=on_time.cast("int64").sum()).to_pandas().iloc[0]
    n = int(row["n"] or 0)
    if n == 0:
        return Measurement(None, "no_tasks_due", {"period": p.label})
    k = int(row["on_time"] or 0)
    return Measurement(k / n, "task_completion", {"on_time": k, "n": n})


def _has_touches(events: ibis.Table, since, end: datetime) -> bool:
    """Whether a customer's own touch (a channel and a recorded customer id) falls in [since,
    end): enough to know `touches_until` has one there without stitching every device to
    its customer first; only when there is none must the stitched touches be counted."""
    e = events.filter(events.ts >= since, events.ts < ibis.literal(end),
                      events.customer_id.notnull(), events.channel.notnull(),
                      events.channel.strip() != "")
    return int(e.limit(1).count().execute()) > 0


def channel_collaboration(src: WarehouseMetrics, p: Period) -> Measurement:
    """The upward-marketing guide's 渠道协同效率, measured as the share of the period's converting customers whose
    touches before their last purchase in the period (from `lookback_days` before the period's
    start) came through two or more channels."""
    conv = purchases_until(src.table("orders"), p.end)
    conv = conv.filter(conv.ts >= ibis.literal(p.start))
    conv = conv.group_by("customer_id").aggregate(last_conv=conv.ts.max())
    since = ibis.literal(p.start - timedelta(days=src.lookback_days))
    t = touches_until(src.table("events"), p.end)
    t = t.filter(t.ts >= since)
    if not _has_touches(src.table("events"), since, p.end) and int(t.count().execute()) == 0:
        return Measurement(None, "no_touches", {"period": p.label})
    j = t.join(conv, "customer_id")
    j = j.filter(j.ts < j.last_conv)
    per = j.group_by("customer_id").aggregate(channels=j.channel.nunique())
    k = conv.left_join(per, "customer_id")
    row = k.aggregate(n=k.count(), multi=(k.channels >= 2).fill_null(False).cast("int64").sum()
                      ).to_pandas().iloc[0]
    n, multi = int(row["n"] or 0), int(row["multi"] or 0)
    if n == 0:
        return Measurement(None, "no_orders", {"period": p.label})
    return Measurement(multi / n, "collaboration", {"multi": multi, "n": n})


def csat(src: WarehouseMetrics, p: Period) -> Measurement:
    """Customer satisfaction (the execution-process manual): the share of answers of 4 or 5 on the 1–5 scale
    (the usual CSAT %), from feedback's csat in the period; from service tickets' satisfaction
    when no feedback carries one."""
    f = _between(src.table("feedback"), "ts", p.start, p.end)
    f = f.filter(f.csat.notnull()).select(score=f.csat)
    origin = "feedback"
    if int(f.count().execute()) == 0:
        t = _between(src.table("service_tickets"), "opened", p.start, p.end)
        f = t.filter(t.satisfaction.notnull()).select(score=t.satisfaction)
        origin = "service_tickets"
    row = f.aggregate(n=f.count(), top=(f.score >= 4).cast("int64").sum()).to_pandas().iloc[0]
    n = float(row["n"] or 0)
    if n == 0:
        return Measurement(None, "no_csat", {"period": p.label})
    return Measurement(float(row["top"] or 0) / n, "csat", {"n": int(n), "table": origin})


def budget_execution_rate(src: WarehouseMetrics, p: Period) -> Measurement:
    """The execution-process manual's 费用预算执行率: spend booked to campaigns in the period ÷ their budgets
    pro-rated to the part of each campaign that falls in the period. A spend row belongs to a
    campaign when its `campaign` is the campaign's name or id."""
    c = src.table("campaigns")
    c = c.filter(c.budget.notnull(), c.start.notnull(), c.end.notnull(), c.end > c.start,
                 c.start < ibis.literal(p.end), c.end > ibis.literal(p.start)).to_pandas()
    if c.empty:
        return Measurement(None, "no_budget", {"period": p.label})
    start = pd.to_datetime(c["start"])
    end = pd.to_datetime(c["end"])
    lo = start.clip(lower=pd.Timestamp(p.start))
    hi = end.clip(upper=pd.Timestamp(p.end))
    share = (hi - lo).dt.total_seconds() / (end - start).dt.total_seconds()
    planned = float((c["budget"].astype(float) * share.clip(0, 1)).sum())
    if planned <= 0:
        return Measurement(None, "no_budget", {"period": p.label})
    names = sorted(set(c["name"].dropna().astype(str)) | set(c["campaign_id"].astype(str)))
    s = src.table("marketing_spend")
    s = s.filter(s.date >= ibis.literal(p.start.date()), s.date < ibis.literal(p.end.date()),
                 s.campaign.isin(names))
    actual = _scalar(s.cost.sum()) or 0.0
    return Measurement(actual / planned, "budget",
                       {"actual": actual, "planned": planned, "n": len(c)})


def net_revenue(src: WarehouseMetrics, p: Period) -> Measurement:
    """Net revenue of the period: paid lines less the cancellations and returns booked in it
    (the execution-process manual's sales target)."""
    lines = _between(src.table("orders"), "ts", p.start, p.end)
    n = int(lines.count().execute())
    if n == 0:
        return Measurement(None, "no_orders", {"period": p.label})
    return Measurement(_scalar(lines.amount.sum()) or 0.0)


#: Metric source keys the warehouse provides; the ones with no computation are reported as
#: "not available" (the warehouse holds no resource plans or risk register yet; the
#: task-based ones say so too while the warehouse holds no tasks).
WAREHOUSE_METRICS: dict[str, MetricSpec] = {
    "cltv": MetricSpec("currency", "higher", cltv_textbook),
    "premium_penetration": MetricSpec("share", "higher", premium_penetration),
    "nps": MetricSpec("nps", "higher", nps),
    **{m: MetricSpec("ratio" if m == "premium_coefficient" else "share", "higher",
                     brand_metric(m)) for m in BRAND_METRICS},
    "bav": MetricSpec("ratio", "higher", bav),
    "marketing_automation_rate": MetricSpec("share", "higher", marketing_automation_rate),
    "response_time_hours": MetricSpec("hours", "lower", response_time_hours),
    "channel_collaboration": MetricSpec("share", "higher", channel_collaboration),
    "csat": MetricSpec("share", "higher", csat),
    "budget_execution_rate": MetricSpec("share", "closest", budget_execution_rate),
    "net_revenue": MetricSpec("currency", "higher", net_revenue),
    "task_completion_rate": MetricSpec("share", "higher", task_completion_rate),
    "task_response_hours": MetricSpec("hours", "lower", task_response_hours),
    "resource_utilisation": MetricSpec("share", "higher", None),
    "open_risks_over_threshold": MetricSpec("count", "lower", None),
}


class InputMetrics(MetricProvider):
    """Metric values the user supplies: ``{subject: {metric: value}}``, or flat
    ``{metric: value}`` for the subject being scored (subject ``None`` until `for_subject`)."""

    def __init__(self, values: Mapping[str | None, Mapping[str, float]], origin: str = ""):
        self.values = {k: dict(v) for k, v in values.items()}
        self.origin = origin

    @property
    def subjects(self) -> list[str]:
        return [k for k in self.values if k is not None]

    @property
    def keys(self) -> set[str]:
        return {k for v in self.values.values() for k in v}

    def for_subject(self, label: str) -> InputMetrics:
        """Flat values belong to `label` (the period or name being scored)."""
        if None not in self.values:
            return self
        vals = {k: v for k, v in self.values.items() if k is not None}
        vals[label] = {**vals.get(label, {}), **self.values[None]}
        return InputMetrics(vals, self.origin)

    def measure(self, keys, subjects):
        out = {}
        for s in subjects:
            have = self.values.get(subject_label(s), {})
            out[subject_label(s)] = {
                k: Measurement(have[k], "input", {"file": Path(self.origin).name},
                               origin=self.origin)
                for k in keys if k in have}
        return out


class CombinedMetrics(MetricProvider):
    """Supplied values first, the warehouse for the rest."""

    def __init__(self, inputs: InputMetrics | None, warehouse: WarehouseMetrics | None):
        self.inputs, self.warehouse = inputs, warehouse

    def measure(self, keys, subjects):
        labels = [subject_label(s) for s in subjects]
        out = {lab: {} for lab in labels}
        given = self.inputs.measure(keys, subjects) if self.inputs else {}
        rest = set(keys)
        if self.warehouse is not None:
            missing = {k for k in keys if any(k not in given.get(lab, {}) for lab in labels)}
            if missing:
                from_wh = self.warehouse.measure(missing, subjects)
                for lab in labels:
                    out[lab].update(from_wh.get(lab, {}))
            rest = set()
        for lab in labels:
            out[lab].update(given.get(lab, {}))
            for k in rest:
                out[lab].setdefault(k, NO_DATA)
        return out


def read_inputs(path: str | Path) -> InputMetrics:
    """Read supplied metric values from YAML (``{metric: value}`` or ``{subject: {metric:
    value}}``) or CSV/TSV (columns ``metric,value`` and optionally ``subject`` or ``period``).
    Values are numbers or percentages ('62%' → 0.62). Subjects that read as periods are
    normalised (2025Q3 → 2025-Q3)."""
    path = Path(path)
    if not path.exists():
        raise BadInputs("err.file.not_found", path=path)
    if path.suffix.lower() in (".yaml", ".yml"):
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8-sig"))
        except yaml.YAMLError as exc:
            raise BadInputs("err.card.yaml", origin=path, reason=exc) from None
        if isinstance(data, Mapping) and set(data) == {"inputs"}:
            data = data["inputs"]
        if not isinstance(data, Mapping) or not data:
            raise BadInputs("err.inputs.shape", path=path)
        nested = [isinstance(v, Mapping) for v in data.values()]
        if any(nested) and not all(nested):
            raise BadInputs("err.inputs.mixed", path=path)
        rows = ([(s, m, v) for s, d in data.items() for m, v in d.items()] if all(nested)
                else [(None, m, v) for m, v in data.items()])
    elif path.suffix.lower() in (".csv", ".tsv", ".txt"):
        sep = "," if path.suffix.lower() == ".csv" else "\t"
        try:
            frame = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False,
                                encoding="utf-8-sig")
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
            raise BadInputs(f"{path}: cannot read it as CSV ({exc})") from None
        frame.columns = [c.strip().lower() for c in frame.columns]
        missing = [c for c in ("metric", "value") if c not in frame]
        if missing:
            raise BadInputs("err.inputs.columns", path=path, missing=", ".join(missing))
        subj = "subject" if "subject" in frame else "period" if "period" in frame else None
        rows = [((r[subj] or None) if subj else None, r["metric"], r["value"])
                for _, r in frame.iterrows()]
    else:
        raise BadInputs("err.inputs.kind", path=path)
    values: dict[str | None, dict[str, float]] = {}
    for subject, metric, raw in rows:
        metric = str(metric).strip()
        where = f"{path}: {metric!r}" + (f" of {subject!r}" if subject is not None else "")
        if subject is not None:
            p = try_period(subject)
            subject = p.label if p else str(subject).strip()
        values.setdefault(subject, {})[metric] = _number(raw, where)
    return InputMetrics(values, str(path))


def _number(raw, where: str) -> float:
    try:
        if isinstance(raw, bool):
            raise ValueError
        if isinstance(raw, str):
            s = raw.strip().replace("％", "%")
            v = float(s[:-1]) / 100.0 if s.endswith("%") else float(s)
        else:
            v = float(raw)
    except (TypeError, ValueError):
        raise BadInputs("err.inputs.number", where=where, value=raw) from None
    if not math.isfinite(v):
        raise BadInputs("err.inputs.finite", where=where, value=raw)
    return v


# -- evaluation ---------------------------------------------------------------------------
@dataclass
class Evaluation:
    """A card scored for one subject against a baseline (its base period)."""

    card: Scorecard
    subject: str
    baseline: str | None
    metrics: pd.DataFrame
    dimensions: pd.DataFrame
    index: float | None
    coverage: float
    notes: list[tuple[str, dict]]  # (i18n key under scorecard.note., args)


METRIC_COLUMNS = ["subject", "baseline", "dimension", "metric", "source", "unit", "direction",
                  "method", "weight", "effective_weight", "actual", "baseline_value",
                  "target", "target_text", "attainment", "points", "met", "status", "note",
                  "note_args"]


def score_card(card: Scorecard, values: Mapping[str, Measurement],
               baseline_values: Mapping[str, Measurement] | None = None, *,
               subject: str = "", baseline: str | None = None) -> Evaluation:
    """Score `card` from metric values (by source key). Pure: the maths of the scorecard,
    separate from where the values come from."""
    baseline_values = baseline_values or {}
    rows = []
    for d, m in card.metrics:
        v = values.get(m.source, NO_DATA)
        if m.from_inputs and v.origin is None:
            v = NO_DATA  # the card asks for a supplied value, not the warehouse's
        b = baseline_values.get(m.source)
        base = b.value if b is not None and b.ok else None
        row = dict(subject=subject, baseline=baseline, dimension=d.key, metric=m.key,
                   source=m.source, unit=m.unit, direction=m.direction, method=m.method,
                   weight=m.weight, effective_weight=0.0,
                   actual=v.value if v.ok else np.nan,
                   baseline_value=base if base is not None else np.nan,
                   target=np.nan, target_text=m.target.text, attainment=np.nan, points=0.0,
                   met=None, status="ok", note=v.note, note_args=dict(v.args))
        target = m.target.resolve(base)
        floor = m.floor.resolve(base) if m.floor is not None else None
        if target is not None:
            row["target"] = target
        if not v.ok:
            row["status"] = "no_data"
            rows.append(row)
            continue
        if target is None or (m.method == "linear" and floor is None):
            row["status"] = "no_target"
            row["note"] = "no_baseline" if baseline is None else "baseline_unusable"
            row["note_args"] = {"baseline": baseline or ""}
            rows.append(row)
            continue
        a = attainment(v.value, target, m.direction, m.method, floor, m.cap)
        if not math.isfinite(a):
            row["status"] = "no_target"
            row["note"] = "unscorable_target"
            rows.append(row)
            continue
        row["attainment"] = a
        row["met"] = bool(target_met(v.value, target, m.target, m.direction, m.tolerance))
        rows.append(row)
    # plain Python from here: score_card runs once per period and per property-test example
    notes: list[tuple[str, dict]] = []
    dim_rows = []
    for d in card.dimensions:
        mine = [r for r in rows if r["dimension"] == d.key]
        ok = [r for r in mine if r["status"] == "ok"]
        score = math.nan
        if ok:
            total = sum(r["weight"] for r in ok)
            for r in ok:
                r["effective_weight"] = r["weight"] / total
            score = 100.0 * sum(r["attainment"] * r["effective_weight"] for r in ok)
            notes += [("renormalised", {"metric": r["metric"], "dimension": d.key,
                                        "status": r["status"]})
                      for r in mine if r["status"] != "ok"]
        else:
            notes.append(("dimension_missing", {"dimension": d.key}))
        dim_rows.append(dict(subject=subject, baseline=baseline, dimension=d.key,
                             weight=d.weight, effective_weight=0.0, score=score, points=0.0,
                             metrics_scored=len(ok), metrics_total=len(mine)))
    scored = [r for r in dim_rows if not math.isnan(r["score"])]
    index = None
    coverage = 0.0
    if scored:
        total = sum(r["weight"] for r in scored)
        for r in scored:
            r["effective_weight"] = r["weight"] / total
            r["points"] = r["score"] * r["effective_weight"]
        index = float(sum(r["points"] for r in scored))
        dim = {r["dimension"]: r for r in dim_rows}
        for r in rows:
            if r["status"] == "ok":
                r["points"] = (r["attainment"] * r["effective_weight"]
                               * dim[r["dimension"]]["effective_weight"] * 100.0)
                coverage += r["weight"] * dim[r["dimension"]]["weight"]
    frame = pd.DataFrame(rows, columns=METRIC_COLUMNS)
    dims = pd.DataFrame(dim_rows)
    return Evaluation(card, subject, baseline, frame, dims, index, coverage, notes)


def _check_inputs(card: Scorecard, values: Mapping[str, Measurement]) -> None:
    for _, m in card.metrics:
        v = values.get(m.source)
        if v is not None and v.origin and v.ok and m.unit == "share" and not 0 <= v.value <= 1:
            raise BadInputs(f"{v.origin}: {m.source} is a share: give {v.value:g} as "
                            f"{v.value / 100:g} or '{v.value:g}%'")


def _keys(card: Scorecard) -> list[str]:
    return list(dict.fromkeys(m.source for _, m in card.metrics))


def evaluate(card: Scorecard, provider: MetricProvider, subject: Period | str,
             baseline: Period | str | None = None) -> Evaluation:
    """Score `card` for `subject`; growth targets are measured against `baseline`."""
    subjects = [subject] + ([baseline] if baseline is not None else [])
    got = provider.measure(_keys(card), subjects)
    cur = got[subject_label(subject)]
    base = got.get(subject_label(baseline)) if baseline is not None else None
    _check_inputs(card, cur)
    if base:
        _check_inputs(card, base)
    return score_card(card, cur, base, subject=subject_label(subject),
                      baseline=None if baseline is None else subject_label(baseline))


@dataclass
class Comparison:
    """Two periods scored side by side: `current` against `previous` (growth targets measured
    against it), and `previous` against the period before it, with the deltas."""

    current: Evaluation
    previous: Evaluation
    metrics: pd.DataFrame  # per metric: both actuals, attainments, points and deltas
    dimensions: pd.DataFrame  # per dimension: both scores and the delta

    @property
    def delta(self) -> float | None:
        if self.current.index is None or self.previous.index is None:
            return None
        return self.current.index - self.previous.index


def compare(card: Scorecard, provider: MetricProvider, period: Period | str,
            other: Period | str) -> Comparison:
    """Score `card` for `period` and for `other`, side by side, with per-metric, per-dimension
    and overall deltas. Each period's growth targets are measured against its own base period
    (`Scorecard.base_of`), so neither score depends on what it is compared with; subjects that
    are not periods (candidates) measure growth against `other`, as before."""
    base = card.base_of(period) if isinstance(period, Period) else other
    other_base = card.base_of(other)
    subjects = list(dict.fromkeys(
        s for s in (period, other, base, other_base) if s is not None))
    got = provider.measure(_keys(card), subjects)
    for lab in got:
        _check_inputs(card, got[lab])

    def scored(subject, against):
        return score_card(card, got[subject_label(subject)],
                          got.get(subject_label(against)) if against is not None else None,
                          subject=subject_label(subject),
                          baseline=subject_label(against) if against is not None else None)

    cur = scored(period, base)
    prev = scored(other, other_base)
    keys = ["dimension", "metric"]
    a = cur.metrics.set_index(keys)
    b = prev.metrics.set_index(keys)
    m = pd.DataFrame({
        "actual": a["actual"], "compare_actual": b["actual"],
        "change": a["actual"] - b["actual"],
        "relative_change": (a["actual"] - b["actual"]) / b["actual"].abs().where(
            b["actual"].abs() > 0),
        "attainment": a["attainment"], "compare_attainment": b["attainment"],
        "points": a["points"], "compare_points": b["points"],
        "points_delta": a["points"] - b["points"],
    }).reset_index()
    da = cur.dimensions.set_index("dimension")
    db = prev.dimensions.set_index("dimension")
    dims = pd.DataFrame({"weight": da["weight"], "score": da["score"],
                         "compare_score": db["score"], "delta": da["score"] - db["score"]}
                        ).reset_index()
    return Comparison(cur, prev, m, dims)


def _clean(v):
    """A JSON-ready scalar: no NaN (null instead), no numpy types."""
    if isinstance(v, float | np.floating):
        return None if not math.isfinite(v) else round(float(v), 6)
    if isinstance(v, np.integer | np.bool_):
        return v.item()
    if isinstance(v, Mapping):
        return {k: _clean(x) for k, x in v.items()}
    return v


def _records(frame: pd.DataFrame) -> list[dict]:
    return [{k: _clean(v) for k, v in r.items()} for r in frame.to_dict(orient="records")]


def evaluation_json(e: Evaluation) -> dict:
    """A JSON-ready evaluation: index, coverage, dimensions, metrics and notes."""
    return {"card": e.card.name, "subject": e.subject, "baseline": e.baseline,
            "index": _clean(e.index), "coverage": _clean(e.coverage),
            "dimensions": _records(e.dimensions), "metrics": _records(e.metrics),
            "notes": [{"note": k, **_clean(args)} for k, args in e.notes]}


def comparison_json(c: Comparison) -> dict:
    """A JSON-ready comparison: both evaluations and the per-metric and per-dimension
    changes."""
    return {"card": c.current.card.name, "period": c.current.subject,
            "compare": c.previous.subject, "index": _clean(c.current.index),
            "compare_index": _clean(c.previous.index), "delta": _clean(c.delta),
            "current": evaluation_json(c.current), "previous": evaluation_json(c.previous),
            "changes": _records(c.metrics), "dimension_changes": _records(c.dimensions)}


# -- pipeline ---------------------------------------------------------------------------------
def since_run(run: dict, c: "Comparison") -> dict | None:
    """How a reading of the effect index differs from the one the published `run` made for
    the same period (its summary's ``effect_index``), or None when they agree or read
    different things. Data ingested after the run, or tasks of the period raised or done
    since (by a check or by hand on the data's timeline), move a later reading; the figure a
    user sees in the run's summary and the one she sees here must then be told apart, not left
    to contradict each other."""
    seen = (run.get("counts") or {}).get("effect_index") or {}
    if seen.get("card") != c.current.card.name or seen.get("period") != c.current.subject:
        return None
    then, now = seen.get("index"), c.current.index
    if then is None or now is None or not math.isfinite(now) or round(now, 1) == round(then, 1):
        return None
    return {"run_id": run["run_id"], "as_of": str(run.get("as_of", ""))[:10],
            "period": c.current.subject, "run_index": float(then), "index": float(now)}


def scorecard_tables(wh, as_of: datetime, results: pd.DataFrame | None = None
                     ) -> tuple[dict[str, pd.DataFrame], dict]:
    """The upward-marketing guide's effect index for the default quarter of `as_of`
    (`default_period`: the last complete one, or the current one to date), against the quarter
    before: the run's tables (``scorecard_metrics``, ``scorecard_dimensions``: one row per
    metric / dimension and period) and a summary. `results` are the run's per-customer
    results (their CLV serves the quarter that ends at `as_of`)."""
    card = load_scorecard("effect_index")
    period = default_period(as_of, "quarter")
    other = period.previous()
    provider = WarehouseMetrics(wh, results=results, results_as_of=as_of)
    c = compare(card, provider, period, other)
    metrics = pd.concat([c.current.metrics, c.previous.metrics], ignore_index=True)
    metrics["note_args"] = [json.dumps(dict(a), ensure_ascii=False, default=str)
                            for a in metrics["note_args"]]
    metrics["met"] = metrics["met"].astype("boolean")
    dims = pd.concat([c.current.dimensions, c.previous.dimensions], ignore_index=True)

    def r(v):
        return None if v is None or not math.isfinite(v) else round(float(v), 2)

    summary = {"effect_index": {
        "card": card.name, "period": period.label, "compare": other.label,
        "to_date": period.to_date,
        "index": r(c.current.index), "compare_index": r(c.previous.index), "delta": r(c.delta),
        "coverage": round(c.current.coverage, 4),
        "dimensions": {row.dimension: r(row.score) for row in c.current.dimensions.itertuples()},
        "no_data": [row.metric for row in c.current.metrics.itertuples()
                    if row.status != "ok"],
    }}
    return {"scorecard_metrics": metrics, "scorecard_dimensions": dims}, summary
