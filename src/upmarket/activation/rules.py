"""Rules and alerts: the marketing-plan framework's dynamic tuning triggers (动态调优触发机制 — "set thresholds on key
indicators; when the data turn abnormal, raise an alert and trigger the adjustment"), as
declarative YAML evaluated after each run and on incoming events (DESIGN §2 activation, §4).

A rules file
------------
::

    rules:
      - name: premium_churn_risk
        on: run                 # run: after each pipeline run; event: also on each event batch
        when:
          customer:             # clauses on the run's per-customer results, all must hold
            - tier in [diamond, core]
            - churn_risk > 0.6
        actions:
          - task: {title: "Call {customer_id}: churn risk {churn_risk:.0%}"}
          - webhook: {url: "https://crm.example.com/hooks/upmarket", secret_env: CRM_SECRET}
          - export: {path: exports/alerts}
        cooldown: 7d            # the same rule and subject fire at most once per 7 days
        severity: high
      - name: channel_roi_drop
        when:
          kpi: channel_roi.roi  # an output of the run and its column …
          by: channel           # … one subject per channel: "channel_roi:wechat"
          change: "< -20%"      # against the previous published run
        actions: [{task: {title: "ROI of {group} fell {change:.0%}", assignee: marketing}}]
        cooldown: 7d

Conditions are data, never code (nothing is `eval`-ed):

* **customer** — a list of clauses ``field op value`` ANDed; ops ``in``, ``not in``, ``<``,
  ``<=``, ``>``, ``>=``, ``==``, ``!=``; values as in YAML (``0.6``, ``diamond``, ``[diamond,
  core]``). Fields are columns of the run's ``results`` (tier, churn_risk, churn_band, clv,
  p_alive, rfm_segment, lifecycle_stage, premium_propensity, tier_change; the membership
  programme's member_level, member_level_change, points_balance, points_expiring,
  points_expiring_days …). Tiers, churn bands, risk levels and the built-in programme's levels
  have an order, so ``tier >= core``, ``churn_band >= high`` and ``member_level >= gold`` mean
  what they say. A missing value matches no clause (not even ``!=``). Rules ``on: event`` read the
  customer from the profiles snapshot (`opstore.store.PROFILE_FIELDS`), and may also test the
  event itself: ``event.type``, ``event.event``, ``event.properties.KEY``. The subject is the
  customer.
* **segment** — ``segment: NAME``, a segment saved with ``upmarket segments create``
  (`strategy.saved_segments`): the rule holds for its members in the run, alone or together
  with ``customer`` clauses. Runs only: a saved segment is evaluated on a run's results.
* **kpi** — ``TABLE.COLUMN`` of one of the run's outputs, one subject per row named by
  ``by`` (``channel_roi.roi`` by ``channel``; ``risk_register.level`` by ``indicator``;
  ``campaign_roi.roi_long_term`` by ``campaign_id``), optionally filtered by ``where`` clauses
  on the same rows; or ``summary.PATH`` into the run summary (``summary.kpis.premium_retention``,
  ``summary.effect_index.index``, ``summary.risk.open_risks``; a mapping of numbers, such as
  ``summary.clv_to_cac``, gives one subject per key). ``value: "< 1.0"`` tests the level
  (``"== high"``, ``">= medium"`` on risk levels; ``"< 50%"`` reads as 0.5); ``change`` tests
  the change since the previous published run: ``"< -20%"`` relative, ``"< -0.5"`` absolute,
  ``"< -5pt"`` in percentage points. A subject the previous run lacks, or whose previous value
  is 0, has no relative change and does not fire on one.

Titles are `str.format` templates over the alert's values: ``{customer_id}``, ``{tier}``,
the clause fields (dots as underscores), ``{event}`` / ``{event_type}`` on events; for KPIs
``{group}``, ``{kpi}``, ``{value}``, ``{previous}``, ``{change}``; always ``{rule}``,
``{subject}``, ``{severity}``.

Firing
------
A rule fires once per subject and occasion (the run, or the event): evaluating the same run
twice fires nothing new. After firing, the same rule and subject stay quiet for the rule's
cooldown, whatever run or event comes (`opstore.automation.fire_alerts` enforces both in the
database). The rules file is ``--rules FILE``, else the file named by UPMARKET_RULES, else the
shipped defaults (``upmarket/rules/default.yaml``).
"""

from __future__ import annotations

import json
import logging
import math
import os
import queue
import re
import string
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from upmarket.activation import holdout
from upmarket.activation.holdout import HoldoutSettings
from upmarket.activation.actions import (EXPORT_FORMATS, Action, ExportAction, TaskAction,
                                         WebhookAction, deliver_due, perform_exports,
                                         plan_actions)
from upmarket.activation.assignment import Assigner, customer_places
from upmarket.errors import Msg, NoRun, UpmarketError
from upmarket.membership.outputs import MEMBER_FIELDS
from upmarket.membership.programme import Programme
from upmarket.models.churn import BANDS
from upmarket.opstore import automation as auto
from upmarket.opstore.automation import Alert, Candidate
from upmarket.opstore.store import (PROFILE_FIELDS, Store, now_utc, read_profile, resolve_user)
from upmarket.strategy.risk import LEVELS
from upmarket.strategy.tiers import TIER_ORDER, TierPolicy

log = logging.getLogger(__name__)

ENV_VAR = "UPMARKET_RULES"
RULES_PACKAGE_DIR = "rules"
DEFAULT_RULES = "default.yaml"
TRIGGERS = ("run", "event")
SEVERITIES = ("info", "low", "medium", "high", "critical")
DEFAULT_COOLDOWN = "24h"
OPS = ("in", "not in", "<", "<=", ">", ">=", "==", "!=")
ORDERED = ("<", "<=", ">", ">=")
#: Values with an order of their own, by the field (or KPI column) that holds them, lowest
#: first: so `tier >= core` and `level >= medium` compare ranks, not spellings.
SCALES: dict[str, tuple[str, ...]] = {
    "tier": tuple(reversed(TIER_ORDER)),
    "current_tier": tuple(reversed(TIER_ORDER)),
    "churn_band": tuple(name for _, name in BANDS),
    "level": LEVELS,
    # the built-in programme's ladder, so `member_level >= gold` means Gold or above
    "member_level": tuple(Programme().codes),
}
EVENT_PREFIX = "event."
EVENT_FIELDS = ("event.type", "event.event")
#: KPI rules' template values; customer rules' are the clause fields and these
KPI_TEMPLATE = ("rule", "subject", "severity", "kpi", "group", "value", "previous", "change")
CUSTOMER_TEMPLATE = ("rule", "subject", "severity", "customer_id", "tier")
EVENT_TEMPLATE = ("event", "event_type", "message_id")


#: Fields the membership stage adds to the results (`membership.outputs.member_fields`):
#: absent when a run's policy switches the programme off.
PROGRAMME_FIELDS = frozenset({*MEMBER_FIELDS.values(), "points_expiring_days",
                              "next_level_rule", "marketing_consent"})


class BadRules(UpmarketError):
    """A rules file is malformed; the message names the file, the rule and the field."""


# -- durations ----------------------------------------------------------------------------------
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|d|w)\s*$", re.I)
_UNIT = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(raw, where: str) -> timedelta:
    """``90s``, ``30m``, ``24h``, ``7d``, ``2w`` (or 0)."""
    if raw == 0 or raw == "0":
        return timedelta(0)
    m = _DURATION.match(str(raw)) if not isinstance(raw, bool) else None
    if not m:
        raise BadRules("err.rules.duration", where=where, value=raw)
    return timedelta(seconds=float(m.group(1)) * _UNIT[m.group(2).lower()])


# -- clauses -------------------------------------------------------------------------------------
_CLAUSE = re.compile(
    r"^\s*(?P<field>[A-Za-z_][\w.]*)"
    r"(?:\s+(?P<word>not\s+in|in)\s+|\s*(?P<sym><=|>=|==|!=|<|>|=)\s*)"
    r"(?P<value>.+?)\s*$")
_NUMBER = re.compile(r"^\s*([+-]?(?:\d+(?:\.\d*)?|\.\d+))\s*%\s*$")


def _is_number(v) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _scalar(text: str):
    """A clause value as YAML reads it, with `50%` as 0.5 and YAML 1.1's yes/no/on/off kept
    as words (only true/false are booleans)."""
    m = _NUMBER.match(text)
    if m:
        return float(m.group(1)) / 100.0
    try:
        v = yaml.safe_load(text)
    except yaml.YAMLError:
        return text.strip()
    if isinstance(v, bool) and text.strip().lower() not in ("true", "false"):
        return text.strip()
    if isinstance(v, list):
        return tuple(_scalar(str(x)) if isinstance(x, str) else x for x in v)
    return v


@dataclass(frozen=True)
class Clause:
    """``field op value``: `mask` tests it on a column."""

    field: str
    op: str
    value: Any
    text: str

    @property
    def scale(self) -> tuple[str, ...] | None:
        return SCALES.get(self.field.rsplit(".", 1)[-1])

    def mask(self, s: pd.Series) -> pd.Series:
        """True where the value satisfies the clause; a missing value never does."""
        present = s.notna().to_numpy()
        v, op = self.value, self.op
        if op in ("in", "not in"):
            if all(_is_number(x) for x in v):
                hit = pd.to_numeric(s, errors="coerce").isin(list(v)).to_numpy()
            else:
                hit = s.astype(str).isin([str(x) for x in v]).to_numpy()
            out = hit if op == "in" else ~hit
        elif op in ORDERED:
            if isinstance(v, str):
                rank = {name: i for i, name in enumerate(self.scale or ())}
                x = s.map(rank).astype(float).to_numpy()
                y = float(rank[v])
            else:
                x = pd.to_numeric(s, errors="coerce").astype(float).to_numpy()
                y = float(v)
            with np.errstate(invalid="ignore"):
                out = {"<": x < y, "<=": x <= y, ">": x > y, ">=": x >= y}[op]
        else:
            if isinstance(v, bool):
                hit = s.map(lambda a: isinstance(a, bool | np.bool_) and bool(a) == v
                            ).to_numpy(bool)
            elif _is_number(v):
                hit = (pd.to_numeric(s, errors="coerce") == float(v)).to_numpy()
            else:
                hit = (s.astype(str) == str(v)).to_numpy()
            out = hit if op == "==" else ~hit
        return pd.Series(np.asarray(out, bool) & present, index=s.index)


def parse_clause(text, where: str, *, field: str | None = None) -> Clause:
    """Read ``field op value`` (or ``op value`` for the given `field`)."""
    if not isinstance(text, str) or not text.strip():
        raise BadRules("err.rules.condition_text", where=where, value=text)
    m = _CLAUSE.match(f"{field} {text}" if field else text)
    if not m:
        raise BadRules("err.rules.condition", where=where, value=text, ops=", ".join(OPS))
    name = m.group("field")
    op = re.sub(r"\s+", " ", m.group("word") or m.group("sym"))
    op = "==" if op == "=" else op
    value = _scalar(m.group("value"))
    if op in ("in", "not in"):
        if not isinstance(value, tuple):
            value = (value,)
        if not value or any(isinstance(x, list | tuple | dict) or x is None for x in value):
            raise BadRules(f"{where}: {text!r}: {op} takes a list of values, e.g. "
                           "[diamond, core]")
    elif isinstance(value, tuple | list | dict) or value is None:
        raise BadRules(f"{where}: {text!r}: {op} takes one value; use 'in [a, b]' for a list")
    clause = Clause(name, op, value, text.strip())
    if op in ORDERED and not _is_number(value):
        scale = clause.scale
        if scale is None or value not in scale:
            hint = (f"{name} is ordered as {' < '.join(scale)}" if scale else
                    f"only numbers, and the ordered values of {', '.join(sorted(SCALES))}, "
                    "compare with < <= > >=")
            raise BadRules(f"{where}: {text!r}: {value!r} cannot be compared with {op}; {hint}")
    return clause


# -- KPI conditions ------------------------------------------------------------------------------
_CHANGE = re.compile(r"^\s*(<=|>=|<|>)\s*([+-]?(?:\d+(?:\.\d*)?|\.\d+))\s*(%|pt|pts|pp)?\s*$",
                     re.I)


@dataclass(frozen=True)
class Change:
    """A test on the change since the previous run: relative (``%``), in points (``pt``: an
    absolute difference in percentage points) or absolute."""

    op: str
    amount: float
    relative: bool
    text: str

    def delta(self, current: np.ndarray, previous: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            if self.relative:
                d = (current - previous) / np.abs(previous)
                return np.where(previous == 0, np.nan, d)
            return current - previous

    def holds(self, delta: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore"):
            return {"<": delta < self.amount, "<=": delta <= self.amount,
                    ">": delta > self.amount, ">=": delta >= self.amount}[self.op]


def parse_change(raw, where: str) -> Change:
    m = _CHANGE.match(str(raw)) if isinstance(raw, str) else None
    if not m:
        raise BadRules(f"{where}: cannot read the change {raw!r}; write e.g. '< -20%' "
                       "(relative to the previous run), '< -5pt' (percentage points) or "
                       "'< -0.5' (absolute)")
    unit = (m.group(3) or "").lower()
    amount = float(m.group(2))
    return Change(m.group(1), amount / 100.0 if unit else amount, unit == "%", str(raw))


@dataclass(frozen=True)
class KpiCondition:
    kpi: str
    table: str | None = None
    column: str | None = None
    path: tuple[str, ...] | None = None
    by: str | None = None
    value: Clause | None = None
    change: Change | None = None
    where: tuple[Clause, ...] = ()


@dataclass(frozen=True)
class CustomerCondition:
    clauses: tuple[Clause, ...]
    #: a saved segment the customer must be a member of (`strategy.saved_segments`)
    segment: str | None = None

    @property
    def fields(self) -> list[str]:
        return list(dict.fromkeys(c.field for c in self.clauses))

    @property
    def uses_event(self) -> bool:
        return any(f.startswith(EVENT_PREFIX) for f in self.fields)


@dataclass(frozen=True)
class Rule:
    name: str
    on: str
    condition: KpiCondition | CustomerCondition
    actions: tuple[Action, ...]
    cooldown: timedelta
    severity: str
    description: str = ""
    #: the description a Chinese reader sees (`description_zh`), as `title_zh` is the title's
    description_zh: str = ""

    @property
    def kind(self) -> str:
        return "kpi" if isinstance(self.condition, KpiCondition) else "customer"


@dataclass(frozen=True)
class RuleSet:
    rules: tuple[Rule, ...]
    origin: str = ""

    def __iter__(self) -> Iterator[Rule]:
        return iter(self.rules)

    def __len__(self) -> int:
        return len(self.rules)

    def by_name(self, name: str) -> Rule:
        for r in self.rules:
            if r.name == name:
                return r
        raise KeyError(name)


# -- parsing -------------------------------------------------------------------------------------
_NAME = re.compile(r"^[A-Za-z0-9][\w.-]{0,199}$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_RULE_KEYS = {"name", "description", "description_zh", "on", "when", "actions", "cooldown", "severity"}
_KPI_KEYS = {"kpi", "by", "value", "change", "where"}


def _mapping(raw, where: str, what: str) -> dict:
    if not isinstance(raw, dict):
        raise BadRules(f"{where}: {what} must be a mapping (key: value lines), not "
                       f"{type(raw).__name__}")
    # YAML 1.1 reads a bare `on:` key as the boolean true (the GitHub Actions trap)
    return {("on" if k is True else k): v for k, v in raw.items()}


def _unknown(d: dict, allowed: set[str], where: str) -> None:
    extra = sorted(str(k) for k in set(d) - allowed)
    if extra:
        raise BadRules("err.rules.unknown_keys", where=where, keys=", ".join(extra),
                       allowed=", ".join(sorted(allowed)))


def _template_fields(template: str, where: str) -> list[str]:
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise BadRules(f"{where}: the title {template!r} is not a valid template ({exc}); "
                       "write values in braces, e.g. 'Call {customer_id}'") from None
    out = []
    for _, name, _, _ in parsed:
        if name is None:
            continue
        root = re.split(r"[.\[]", name, maxsplit=1)[0]
        if not root or root.isdigit():
            raise BadRules(f"{where}: the title {template!r} has an empty or positional "
                           "placeholder; name the value, e.g. {customer_id}")
        out.append(root)
    return out


def _actions(raw, where: str, template: set[str]) -> tuple[Action, ...]:
    if not isinstance(raw, list) or not raw:
        raise BadRules("err.rules.actions", where=where)
    out: list[Action] = []
    for i, item in enumerate(raw, start=1):
        at = f"{where}, action {i}"
        if not isinstance(item, dict) or len(item) != 1:
            raise BadRules(f"{at}: each action is one of task, webhook, export with its "
                           "settings, e.g. '- task: {title: ...}'")
        (kind, spec), = item.items()
        if spec is None:
            spec = {}
        spec = _mapping(spec, f"{at} ({kind})", "the settings")
        if kind == "task":
            _unknown(spec, {"title", "title_zh", "assignee", "due"}, f"{at} (task)")
            title = spec.get("title")
            if not isinstance(title, str) or not title.strip():
                raise BadRules("err.rules.title", at=at)
            title_zh = spec.get("title_zh")
            if title_zh is not None and (not isinstance(title_zh, str) or not title_zh.strip()):
                raise BadRules(f"{at} (task): title_zh, when given, is the Chinese title (text)")
            bad = [f for f in _template_fields(title, f"{at} (task)")
                   + (_template_fields(title_zh, f"{at} (task)") if title_zh else [])
                   if f not in template]
            if bad:
                raise BadRules(f"{at} (task): title uses {', '.join('{' + b + '}' for b in bad)}"
                               f", which this rule does not provide; available: "
                               f"{', '.join(sorted(template))}")
            assignee = spec.get("assignee")
            due = parse_duration(spec["due"], f"{at} (task): due") if spec.get("due") \
                is not None else None
            out.append(TaskAction(title.strip(), None if assignee is None else str(assignee),
                                  due, title_zh=title_zh.strip() if title_zh else None))
        elif kind == "webhook":
            _unknown(spec, {"url", "secret_env", "max_attempts"}, f"{at} (webhook)")
            url = spec.get("url")
            if not isinstance(url, str) or not re.match(r"^https?://[^\s/]+", url):
                raise BadRules(f"{at} (webhook): url must be an http(s) URL, e.g. "
                               "https://crm.example.com/hooks/upmarket, not {url!r}")
            env = spec.get("secret_env")
            if not isinstance(env, str) or not _ENV_NAME.match(env):
                raise BadRules(f"{at} (webhook): secret_env must name the environment "
                               "variable holding the HMAC secret, e.g. secret_env: "
                               f"CRM_WEBHOOK_SECRET (got {env!r}); the secret itself never "
                               "goes in the file")
            attempts = spec.get("max_attempts", WebhookAction.max_attempts)
            if not isinstance(attempts, int) or isinstance(attempts, bool) or \
                    not 1 <= attempts <= 50:
                raise BadRules(f"{at} (webhook): max_attempts must be a whole number from 1 "
                               f"to 50, not {attempts!r}")
            out.append(WebhookAction(url, env, attempts))
        elif kind == "export":
            _unknown(spec, {"path", "format", "channel", "pii"}, f"{at} (export)")
            path = spec.get("path")
            if not isinstance(path, str) or not path.strip():
                raise BadRules(f"{at} (export): path (the folder to write into) is required, "
                               "e.g. path: exports/alerts")
            fmt = spec.get("format", "csv")
            if fmt not in EXPORT_FORMATS:
                raise BadRules(f"{at} (export): format must be one of "
                               f"{', '.join(EXPORT_FORMATS)}, not {fmt!r}")
            pii = spec.get("pii", False)
            if not isinstance(pii, bool):
                raise BadRules(f"{at} (export): pii must be true or false, not {pii!r}")
            channel = spec.get("channel")
            out.append(ExportAction(path.strip(), fmt, None if channel is None else str(channel),
                                    pii))
        else:
            raise BadRules("err.rules.action_kind", at=at, kind=kind)
    return tuple(out)


def _customer_condition(raw, where: str, on: str) -> CustomerCondition:
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list) or not raw:
        raise BadRules(f"{where}: customer takes a list of conditions, all of which must "
                       "hold, e.g. ['tier in [diamond]', 'churn_risk > 0.6']")
    clauses = tuple(parse_clause(t, f"{where}, condition {i}")
                    for i, t in enumerate(raw, start=1))
    for c in clauses:
        if c.field.startswith(EVENT_PREFIX):
            if on != "event":
                raise BadRules(f"{where}: {c.text!r} tests the event, which only rules with "
                               "'on: event' see")
            if c.field not in EVENT_FIELDS and not c.field.startswith("event.properties."):
                raise BadRules(f"{where}: {c.field!r} is not part of an event; use "
                               f"{', '.join(EVENT_FIELDS)} or event.properties.KEY")
        elif on == "event" and c.field not in (*PROFILE_FIELDS, "customer_id"):
            raise BadRules(f"{where}: {c.field!r} is not in the profiles snapshot that event "
                           f"rules read; they may test {', '.join(PROFILE_FIELDS)} and the "
                           "event (event.type, event.event, event.properties.KEY); or make "
                           "the rule 'on: run'")
    return CustomerCondition(clauses)


def _segment_name(raw, where: str, on: str) -> str:
    from upmarket.strategy.saved_segments import NAME

    if not isinstance(raw, str) or not NAME.match(raw):
        raise BadRules(f"{where}: when.segment takes the name of a segment saved with "
                       f"upmarket segments create (e.g. segment: tier1_top), not {raw!r}")
    if on != "run":
        raise BadRules(f"{where}: segment {raw!r} is evaluated on a run's results; make the "
                       "rule 'on: run'")
    return raw


def _segment_members(wh, run: Mapping, rule: Rule) -> set[str]:
    """The customer ids of the rule's saved segment in `run`; a segment missing from the
    warehouse is the rules file's error, named with the rule."""
    from upmarket.errors import UnknownSegment
    from upmarket.strategy import saved_segments

    name = rule.condition.segment  # type: ignore[union-attr]
    try:
        found = saved_segments.members(wh, name, run=dict(run))
    except UnknownSegment as exc:
        raise BadRules(f"rule {rule.name!r}: {exc}") from None
    ids = found.members.select("customer_id").to_pandas()["customer_id"]
    return set(ids.astype(str))


def _kpi_condition(when: dict, where: str) -> KpiCondition:
    _unknown(when, _KPI_KEYS, where)
    kpi = when.get("kpi")
    if not isinstance(kpi, str) or not re.match(r"^[A-Za-z_]\w*(\.[\w-]+)+$", kpi):
        raise BadRules(f"{where}: kpi must be TABLE.COLUMN of a run output (channel_roi.roi) "
                       f"or summary.PATH (summary.kpis.premium_retention), not {kpi!r}")
    if "value" not in when and "change" not in when:
        raise BadRules(f"{where}: say when {kpi} fires: value: '< 1.0' (its level) and/or "
                       "change: '< -20%' (since the previous run)")
    head, rest = kpi.split(".", 1)
    by = when.get("by")
    wheres = when.get("where") or []
    if isinstance(wheres, str):
        wheres = [wheres]
    if head == "summary":
        if by is not None or wheres:
            raise BadRules(f"{where}: by and where apply to run outputs, not to summary "
                           "values; a summary mapping gives one subject per key by itself")
        column, path, table = "value", tuple(rest.split(".")), None
    else:
        if not isinstance(by, str) or not by:
            raise BadRules(f"{where}: by is required for {kpi}: the column that names each "
                           "row (e.g. by: channel for channel_roi, by: indicator for "
                           "risk_register)")
        table, column, path = head, rest, None
    value = None
    if "value" in when:
        raw = when["value"]
        if _is_number(raw):
            raise BadRules(f"{where}: value needs a comparison, e.g. value: '< {raw}'")
        value = parse_clause(raw, f"{where}, value", field=column)
    change = parse_change(when["change"], f"{where}, change") if "change" in when else None
    if not isinstance(wheres, list):
        raise BadRules(f"{where}: where takes a list of conditions on the same rows, e.g. "
                       "['cost > 1000']")
    clauses = tuple(parse_clause(t, f"{where}, where {i}") for i, t in enumerate(wheres, 1))
    return KpiCondition(kpi, table, column, path, by, value, change, clauses)


def parse_rule(raw, origin: str, index: int) -> Rule:
    where = f"{origin}: rule {index}"
    raw = _mapping(raw, where, "a rule")
    name = raw.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise BadRules("err.rules.name", where=where, name=name)
    where = Msg("err.rules.where", origin=origin, name=name)
    _unknown(raw, _RULE_KEYS, where)
    on = raw.get("on", "run")
    if on not in TRIGGERS:
        raise BadRules("err.rules.on", where=where, value=on)
    severity = raw.get("severity", "medium")
    if severity not in SEVERITIES:
        raise BadRules("err.rules.severity", where=where, choices=", ".join(SEVERITIES),
                       value=severity)
    cooldown = parse_duration(raw.get("cooldown", DEFAULT_COOLDOWN), f"{where}: cooldown")
    when = _mapping(raw.get("when"), f"{where}: when", "when")
    people = "customer" in when or "segment" in when
    if people == ("kpi" in when):
        raise BadRules("err.rules.when", where=where)
    if people:
        _unknown(when, {"customer", "segment"}, f"{where}: when")
        cond: KpiCondition | CustomerCondition = (
            _customer_condition(when["customer"], f"{where}: when.customer", on)
            if "customer" in when else CustomerCondition(()))
        if "segment" in when:
            cond = CustomerCondition(cond.clauses, _segment_name(when["segment"], where, on))
        template = {*CUSTOMER_TEMPLATE, *(f.replace(".", "_") for f in cond.fields)}
        if on == "event":
            template |= set(EVENT_TEMPLATE)
    else:
        if on == "event":
            raise BadRules(f"{where}: KPI rules are evaluated on runs; use 'on: run'")
        cond = _kpi_condition(when, f"{where}: when")
        template = set(KPI_TEMPLATE)
    actions = _actions(raw.get("actions"), f"{where}: actions", template)
    return Rule(name, on, cond, actions, cooldown, severity, str(raw.get("description") or ""),
                str(raw.get("description_zh") or ""))


def parse_rules(data, origin: str = "<rules>") -> RuleSet:
    """A rule set from parsed YAML: ``{rules: [...]}`` or a bare list of rules."""
    if isinstance(data, dict):
        _unknown(data, {"rules"}, origin)
        data = data.get("rules")
    if data is None:
        data = []
    if not isinstance(data, list):
        raise BadRules("err.rules.not_list", origin=origin)
    rules = tuple(parse_rule(r, origin, i) for i, r in enumerate(data, start=1))
    seen: set[str] = set()
    for r in rules:
        if r.name in seen:
            raise BadRules("err.rules.twice", origin=origin, name=r.name)
        seen.add(r.name)
    return RuleSet(rules, origin)


def default_rules_text() -> str:
    return resources.files("upmarket").joinpath(RULES_PACKAGE_DIR, DEFAULT_RULES) \
        .read_text(encoding="utf-8")


def load_rules(path: str | Path | None = None) -> RuleSet:
    """The rules in `path`, else in the file UPMARKET_RULES names, else the shipped defaults."""
    path = path or os.environ.get(ENV_VAR) or None
    if path is None:
        text, origin = default_rules_text(), f"upmarket/{RULES_PACKAGE_DIR}/{DEFAULT_RULES}"
    else:
        p = Path(path).expanduser()
        if not p.is_file():
            raise BadRules("err.rules.not_found", path=p, env=ENV_VAR)
        text, origin = p.read_text(encoding="utf-8-sig"), str(p)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise BadRules("err.rules.yaml", origin=origin, reason=exc) from None
    return parse_rules(data, origin)


# -- evaluation: values ----------------------------------------------------------------------------
def _plain(v):
    """A JSON-ready value from a pandas/numpy cell (NaN and NaT become None)."""
    if v is None or v is pd.NaT:
        return None
    if hasattr(v, "item") and not isinstance(v, str | bytes):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, pd.Timestamp | datetime):
        return v.isoformat()
    return v


def _published(wh, run_id: str | None) -> dict:
    import ibis

    from upmarket.warehouse.runs import current_run
    from upmarket.warehouse.schema import RUNS

    if run_id is None:
        return current_run(wh)
    t = wh.table(RUNS.name)
    found = t.filter(t.run_id == run_id, t.status == "published") \
        .order_by(ibis.desc("finished")).limit(1).to_pandas()
    if found.empty:
        raise NoRun("err.rules.no_such_run", run_id=run_id)
    row = found.iloc[0].to_dict()
    row["counts"] = _counts(row.get("counts"))
    return row


def _counts(raw) -> dict:
    if isinstance(raw, dict):
        return raw
    try:
        return json.loads(raw or "{}")
    except (TypeError, ValueError):
        return {}


def _kpi_rows(wh, run: Mapping, rule: Rule) -> pd.DataFrame:
    """The KPI's rows in `run`: group (text), value, and the `where` fields."""
    from upmarket.warehouse.runs import output, output_table

    c: KpiCondition = rule.condition  # type: ignore[assignment]
    if c.path is not None:
        node: Any = run.get("counts") or {}
        for part in c.path:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict):
            items = [(str(k), v) for k, v in node.items() if _is_number(v)]
        elif _is_number(node):
            items = [("", node)]
        else:
            items = []
        return pd.DataFrame({"group": [k for k, _ in items],
                             "value": [float(v) for _, v in items]})
    if not wh.has_table(output_table(c.table, run["run_id"])):
        return pd.DataFrame(columns=["group", "value"])
    t = output(wh, c.table, run["run_id"])
    need = list(dict.fromkeys([c.by, c.column, *(w.field for w in c.where)]))
    missing = [f for f in need if f not in t.columns]
    if missing:
        raise BadRules(f"rule {rule.name!r}: {c.table} has no column(s) "
                       f"{', '.join(missing)}; its columns: {', '.join(t.columns)}")
    frame = t.select(*need).to_pandas()
    frame.insert(0, "group", frame[c.by].astype(str))
    frame["value"] = frame[c.column]
    return frame.drop_duplicates("group")


def kpi_candidates(wh, run: Mapping, previous: Mapping | None, rule: Rule) -> list[Candidate]:
    """The subjects of KPI `rule` whose value and/or change since `previous` hold."""
    c: KpiCondition = rule.condition  # type: ignore[assignment]
    cur = _kpi_rows(wh, run, rule)
    if cur.empty:
        return []
    keep = np.ones(len(cur), bool)
    for w in c.where:
        keep &= w.mask(cur[w.field]).to_numpy()
    if c.value is not None:
        keep &= c.value.mask(cur["value"]).to_numpy()
    prev_values = pd.Series(np.nan, index=cur.index, dtype=float)
    if previous is not None:
        prev = _kpi_rows(wh, previous, rule)
        if not prev.empty:
            prev_values = cur["group"].map(prev.set_index("group")["value"])
    delta = pd.Series(np.nan, index=cur.index, dtype=float)
    if c.change is not None:
        x = pd.to_numeric(cur["value"], errors="coerce").to_numpy(float)
        y = pd.to_numeric(prev_values, errors="coerce").to_numpy(float)
        delta = pd.Series(c.change.delta(x, y), index=cur.index)
        keep &= c.change.holds(delta.to_numpy())
    name = c.table if c.table is not None else ".".join(c.path or ())
    out = []
    for i in np.flatnonzero(keep):
        group = cur["group"].iloc[i]
        subject = f"{name}:{group}" if group else name
        detail = {"kpi": c.kpi, "group": group, "value": _plain(cur["value"].iloc[i]),
                  "previous": _plain(prev_values.iloc[i]), "change": _plain(delta.iloc[i]),
                  "previous_run_id": None if previous is None else previous["run_id"]}
        out.append(Candidate(rule.name, subject, rule.severity, "run", run["run_id"],
                             rule.cooldown, detail, None, run["run_id"],
                             data_time=_moment(run.get("as_of")),
                             payload={"rule": rule, "tier": None}))
    return out


def customer_candidates(rule: Rule, frame: pd.DataFrame, *, source: str,
                        run_id: str | None = None,
                        data_time: datetime | None = None) -> list[Candidate]:
    """The customers (rows of `frame`: customer_id, tier, the clause fields; for events also
    message_id, the event fields and the event's `data_time`) for whom every clause of `rule`
    holds. `data_time` is the moment of the data a run's rows describe (its as-of)."""
    cond: CustomerCondition = rule.condition  # type: ignore[assignment]
    if frame.empty:
        return []
    keep = np.ones(len(frame), bool)
    for cl in cond.clauses:
        keep &= cl.mask(frame[cl.field]).to_numpy()
    fields = list(dict.fromkeys(["tier", *cond.fields]))
    out = []
    for row in frame[keep].to_dict("records"):
        cid = str(row["customer_id"])
        detail = {f: _plain(row.get(f)) for f in fields}
        tier = detail.get("tier")
        if source == "event":
            detail.update(event=_plain(row.get("event.event")),
                          event_type=_plain(row.get("event.type")),
                          message_id=str(row["message_id"]))
            occasion = str(row["message_id"])
            moment = _moment(row.get("data_time"))
        else:
            occasion = str(run_id)
            moment = data_time
        out.append(Candidate(rule.name, cid, rule.severity, source, occasion, rule.cooldown,
                             detail, cid, run_id, data_time=moment,
                             payload={"rule": rule, "tier": tier}))
    return out


def _moment(value) -> datetime | None:
    """A naive UTC datetime from what a run record or an event holds (text, Timestamp, None)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    ts = pd.Timestamp(value)
    if pd.isna(ts):
        return None
    if ts.tzinfo is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    return ts.to_pydatetime()


def _planner(policy: TierPolicy, assigner: Assigner | None = None):
    def plan(c: Candidate, alert: Alert):
        rule = c.payload["rule"]
        out = plan_actions(list(rule.actions), c, alert, tier=c.payload.get("tier"),
                           policy=policy)
        for a in out:
            if a.kind == "task" and rule.description:
                # the worklist says why a task exists in the words of the rule that raised it
                a.detail["why"] = rule.description
                if rule.description_zh:
                    a.detail["why_zh"] = rule.description_zh
        return [assigner.assign(a) for a in out] if assigner else out

    return plan


def _assigner(store: Store, candidates: list[Candidate], wh=None) -> Assigner | None:
    """Who gets the tasks of `candidates` (`activation.assignment`); None with no managers."""
    a = Assigner(store)
    if not a:
        return None
    ids = [c.customer_id for c in candidates if c.customer_id is not None]
    if wh is not None:
        a.places = customer_places(wh, ids)
    a.prefetch(ids)
    return a


def _rules(rules: RuleSet | Iterable[Rule] | None) -> list[Rule]:
    if rules is None:
        return list(load_rules())
    return list(rules)


# -- evaluation: entry points --------------------------------------------------------------------
def _run_holdout(run: dict) -> HoldoutSettings:
    """The control groups of the policy the run recorded, so `alerts check` after a run keeps
    the shares that run used."""
    from upmarket.policy.file import policy_of_run  # the policy reads the engine's settings

    return policy_of_run(run).settings().holdout


def evaluate_run(wh, store: Store, run_id: str | None, rules: RuleSet | Iterable[Rule] | None,
                 now: datetime | None = None, *,
                 policy: TierPolicy = TierPolicy(),
                 holdout_settings: HoldoutSettings | None = None) -> list[Alert]:
    """Evaluate `rules` on published run `run_id` (None: the current run) against the
    previous published run, fire what holds (deduplicated, cooled down) with its actions, and
    write the exports they ask for. Rules that test the event itself are left to events.
    A customer rule's customers keep their control group (`activation.holdout`, action type
    ``rule:<name>``): the held-out ones fire nothing and are recorded as such.
    Returns the alerts fired."""
    from upmarket.warehouse.runs import output, previous_run

    now = now or now_utc()
    rules = _rules(rules)
    run = _published(wh, run_id)
    prev = previous_run(wh, run["run_id"])
    if prev is not None:
        prev = {**prev, "counts": _counts(prev.get("counts"))}
    candidates: list[Candidate] = []
    people = [r for r in rules if r.kind == "customer"
              and not r.condition.uses_event]  # type: ignore[union-attr]
    on_results = {r.name for r in people}
    results = None
    if people:
        res = output(wh, "results", run["run_id"])
        need = list(dict.fromkeys(["customer_id", "tier",
                                   *(f for r in people for f in r.condition.fields)]))
        for r in people:
            missing = [f for f in r.condition.fields
                       if f not in res.columns and f not in PROGRAMME_FIELDS]
            if missing:
                raise BadRules(f"rule {r.name!r}: the run's results have no field(s) "
                               f"{', '.join(missing)}; they have: {', '.join(res.columns)}")
        results = res.select(*[f for f in need if f in res.columns]).to_pandas()
        # a run without the membership programme (switched off, or older) has no members:
        # its rules hold for nobody, as a missing value matches no clause
        for f in need:
            if f not in results.columns:
                results[f] = np.nan
    for r in rules:
        if r.kind == "kpi":
            candidates += kpi_candidates(wh, run, prev, r)
        elif r.name in on_results:
            rows = results
            if r.condition.segment:  # type: ignore[union-attr]
                rows = rows[rows["customer_id"].astype(str).isin(_segment_members(wh, run, r))]
            found = customer_candidates(r, rows, source="run", run_id=run["run_id"],
                                        data_time=_moment(run.get("as_of")))
            candidates += _treated(wh, found, run, holdout_settings or _run_holdout(run))
    fired = auto.fire_alerts(store, candidates, now,
                             _planner(policy, _assigner(store, candidates, wh)))
    if any(isinstance(a, ExportAction) for r in rules for a in r.actions):
        perform_exports(store, wh, now)
    return fired


def evaluate_customers(wh, store: Store, frame: pd.DataFrame,
                       rules: RuleSet | Iterable[Rule] | None, now: datetime, *,
                       occasion: str, policy: TierPolicy = TierPolicy()) -> list[Alert]:
    """Evaluate the customer rules of `rules` that read a run's results on `frame` (the
    customers as they stood at `now`: customer_id, tier and the fields the rules test), fire
    what holds with its actions and write the exports they ask for, as `evaluate_run` does
    for a published run, all stamped `now`, which is also the data time the alerts are about.
    `occasion` names the check (as a run id does). No control group is drawn: the caller
    checks the rules on data no run published (a simulation of the weeks between runs)."""
    rules = [r for r in _rules(rules) if r.kind == "customer"
             and not r.condition.uses_event]  # type: ignore[union-attr]
    candidates: list[Candidate] = []
    for r in rules:
        rows = frame.copy()
        for f in r.condition.fields:  # type: ignore[union-attr]
            if f not in rows.columns:  # as a run without the field: matches no clause
                rows[f] = np.nan
        candidates += [replace(c, occasion=occasion) for c in customer_candidates(
            r, rows, source="run", data_time=now)]
    fired = auto.fire_alerts(store, candidates, now,
                             _planner(policy, _assigner(store, candidates, wh)))
    if any(isinstance(a, ExportAction) for r in rules for a in r.actions):
        perform_exports(store, wh, now)
    return fired


def _treated(wh, found: list[Candidate], run: Mapping,
             settings: HoldoutSettings) -> list[Candidate]:
    """The candidates outside their rule's control group; every candidate is recorded in
    ``action_assignments`` with its group."""
    if not found:
        return found
    decisions = pd.DataFrame({"customer_id": [c.customer_id for c in found],
                              "tier": [c.payload.get("tier") for c in found],
                              "action": [f"rule:{c.rule}" for c in found]})
    decided = holdout.assign(decisions, holdout.salt(wh), settings)
    holdout.record(wh, decided, run_id=run["run_id"], decided=_moment(run.get("as_of")),
                   source="rule")
    return [c for c, held in zip(found, decided["held_out"]) if not held]


def event_frame(store: Store, rows: Iterable[Mapping], fields: Iterable[str] = ()) -> pd.DataFrame:
    """The events of `rows` (as the service inserts them) with their customer's state: one
    row per event whose customer is known (the userId, or the user its anonymousId was
    identified as), holding the profile fields, message_id, event.type, event.event and the
    requested event.properties.KEY fields."""
    props = [f for f in fields if f.startswith("event.properties.")]
    profiles: dict[str, dict] = {}
    records = []
    for r in rows:
        cid = r.get("user_id")
        if not cid and r.get("anonymous_id"):
            cid = resolve_user(store, str(r["anonymous_id"]))
        if not cid:
            continue
        cid = str(cid)
        if cid not in profiles:
            profiles[cid] = read_profile(store, cid) or {}
        doc = profiles[cid]
        rec = {"customer_id": cid, **{f: doc.get(f) for f in PROFILE_FIELDS},
               "message_id": r["message_id"], "event.type": r.get("type"),
               "event.event": r.get("event"), "data_time": r.get("ts")}
        p = r.get("properties") or {}
        if isinstance(p, str):
            try:
                p = json.loads(p)
            except ValueError:
                p = {}
        for f in props:
            rec[f] = p.get(f.removeprefix("event.properties.")) if isinstance(p, dict) else None
        records.append(rec)
    cols = ["customer_id", *PROFILE_FIELDS, "message_id", *EVENT_FIELDS, *props, "data_time"]
    return pd.DataFrame(records, columns=cols)


def evaluate_events(store: Store, rows: Iterable[Mapping],
                    rules: RuleSet | Iterable[Rule] | None, now: datetime | None = None, *,
                    policy: TierPolicy = TierPolicy()) -> list[Alert]:
    """Evaluate the `on: event` rules on a batch of collected events (dicts as the service
    inserts them: message_id, type, event, user_id, anonymous_id, properties …), each with its
    customer's state from the profiles snapshot. One alert per rule, customer and event at
    most, subject to cooldowns. Exports are left open for `perform_exports` (the warehouse
    the privacy gate needs is not at hand here). Returns the alerts fired."""
    now = now or now_utc()
    mine = [r for r in _rules(rules) if r.on == "event" and r.kind == "customer"]
    if not mine:
        return []
    fields = {f for r in mine for f in r.condition.fields}  # type: ignore[union-attr]
    frame = event_frame(store, rows, fields)
    candidates: list[Candidate] = []
    for r in mine:
        candidates += customer_candidates(r, frame, source="event")
    return auto.fire_alerts(store, candidates, now,
                            _planner(policy, _assigner(store, candidates)))


class EventRuleWorker:
    """Evaluates event rules beside the collection API, never in its way: `submit` only puts
    the batch on a bounded queue (microseconds, never raises) and one background thread
    evaluates, then sends the webhooks that became due. When the queue is full the batch is
    dropped and counted (`dropped`) rather than slowing collection down; an evaluation that
    fails is logged and counted (`errors`). With no event rules it starts no thread at all."""

    def __init__(self, store: Store, rules: RuleSet | Iterable[Rule] | None, *,
                 policy: TierPolicy = TierPolicy(), max_pending: int = 10_000,
                 deliver: bool = True, deliver_seconds: float = 10.0):
        self.store, self.policy = store, policy
        self.rules = [r for r in _rules(rules) if r.on == "event" and r.kind == "customer"]
        self.deliver, self.deliver_seconds = deliver, deliver_seconds
        self.fired = self.dropped = self.errors = 0
        self._q: queue.Queue = queue.Queue(maxsize=max_pending)
        self._thread = None
        if self.rules:
            self._thread = threading.Thread(target=self._loop, name="upmarket-rules",
                                            daemon=True)
            self._thread.start()

    @property
    def active(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def submit(self, rows: list[Mapping]) -> bool:
        """Queue a batch of inserted events; False when dropped (no event rules, or full)."""
        if not self.active or not rows:
            return False
        try:
            self._q.put_nowait(list(rows))
            return True
        except queue.Full:
            self.dropped += 1
            return False

    def join(self) -> None:
        """Wait until every queued batch is evaluated (for tests and orderly shutdowns)."""
        if self.active:
            self._q.join()

    def _loop(self) -> None:
        stop = False
        while not stop:
            taken = [self._q.get()]  # block for one batch, then take what else piled up
            while sum(len(b) for b in taken if b) < 5000:
                try:
                    taken.append(self._q.get_nowait())
                except queue.Empty:
                    break
            stop = any(b is None for b in taken)
            rows = [r for b in taken if b for r in b]
            try:
                if rows:
                    fired = evaluate_events(self.store, rows, self.rules, policy=self.policy)
                    self.fired += len(fired)
                    if fired and self.deliver:
                        deliver_due(self.store, deadline=time.time() + self.deliver_seconds)
            except Exception:  # noqa: BLE001 - never let one bad batch stop the worker
                self.errors += 1
                log.exception("evaluating event rules on %d events failed", len(rows))
            finally:
                for _ in taken:
                    self._q.task_done()

    def close(self) -> None:
        if self.active:
            self._q.put(None)
            self._thread.join(timeout=30)


# -- for the pipeline ----------------------------------------------------------------------------
@dataclass
class AutomationReport:
    alerts: list[Alert] = field(default_factory=list)
    tasks_copied: int = 0
    delivered: int = 0
    retrying: int = 0
    failed: int = 0

    def summary(self) -> dict:
        by_rule: dict[str, int] = {}
        for a in self.alerts:
            by_rule[a.rule] = by_rule.get(a.rule, 0) + 1
        return {"alerts": len(self.alerts), "by_rule": by_rule, "tasks": self.tasks_copied,
                "webhooks_delivered": self.delivered, "webhooks_retrying": self.retrying,
                "webhooks_failed": self.failed}


def run_automation(wh, run_id: str | None = None, *, url: str | None = None,
                   rules: RuleSet | Iterable[Rule] | None = None, now: datetime | None = None,
                   deliver_seconds: float = 20.0,
                   holdout_settings: HoldoutSettings | None = None) -> AutomationReport | None:
    """After a run is published: evaluate the rules on it, copy the tasks into the warehouse
    (for the scorecard), and send the webhooks due for up to `deliver_seconds` (the rest wait
    for `upmarket alerts deliver`). Does nothing, returning None, when no operational store
    is configured and no `url` is given — as `publish_run_profiles`."""
    from upmarket.opstore.store import open_store, store_configured

    if url is None and not store_configured():
        return None
    rules = _rules(rules)
    store = open_store(url)
    try:
        report = AutomationReport()
        report.alerts = evaluate_run(wh, store, run_id, rules, now,
                                     holdout_settings=holdout_settings)
        report.tasks_copied = auto.copy_tasks_to_warehouse(store, wh)
        if deliver_seconds > 0:
            d = deliver_due(store, now, deadline=time.time() + deliver_seconds)
            report.delivered, report.retrying, report.failed = d.delivered, d.retrying, d.failed
        return report
    finally:
        store.close()
