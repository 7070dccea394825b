"""Control groups on every action: a stable, random share of the customers each action is
decided for is held out, gets nothing, and is recorded beside the treated, so the next runs can
measure what the action changed (`strategy.action_impact`).

Assignment is a hash, not a draw: ``u = SHA-256(salt ‖ customer id ‖ action type)`` read as a
number in [0, 1), held out when ``u < share`` of the customer's tier. The same customer stays in
the same group for the same action in every run (a control group that changed run to run would
slowly receive the treatment), yet is independent across action types, since the type is part
of the hashed text. The salt is drawn once per warehouse (`secrets`, 128 bits) and kept in
``holdout_salt``, so nobody can pick who lands in a control group by choosing ids. This is the
hashing scheme online experimentation platforms use for stable bucketing (Kohavi, Tang & Xu,
*Trustworthy Online Controlled Experiments*, 2020, ch. 14).

Every decision, treated or held out, is a row of ``action_assignments``: which run decided it,
the data time it was decided for (the run's as-of), the customer, their tier, the action type,
where the decision came from (``nba``: the next best action; ``rule``: an automation rule,
whose action type is ``rule:<name>``), the group, the share in force, and what the
next-best-action expected of it (its response probability and margin if it converts), which is
the prior the measurements update (`strategy.action_feedback`).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import pandas as pd

from upmarket.i18n import label, value_label
from upmarket.strategy import action_impact
from upmarket.strategy.tiers import TIER_ORDER
from upmarket.warehouse.connection import Warehouse

SALT_TABLE = "holdout_salt"
TABLE = "action_assignments"
SOURCES = ("nba", "rule")
COLUMNS = ["run_id", "decided", "customer_id", "tier", "action", "source", "held_out",
           "holdout_share", "probability", "conversion_gain", "contact_cost", "offer_cost",
           "recorded"]
#: what the next best action priced per decision, kept so the feedback can say at which
#: effect the action pays (`strategy.action_feedback.worthwhile`); NaN where not priced
COSTS = ("contact_cost", "offer_cost")


@dataclass(frozen=True)
class HoldoutSettings:
    """`share` held out of every action type in every tier, unless `per_tier` names another
    share for the tier (0 allowed: e.g. ``{"diamond": 0.0}`` when every Diamond customer must
    be served, at the price of never measuring what their actions do)."""

    share: float = 0.10
    per_tier: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self):
        for where, s in (("share", self.share), *((f"per_tier.{t}", v)
                                                  for t, v in self.per_tier.items())):
            if not 0 <= float(s) < 1:
                raise ValueError(f"holdout {where} must be at least 0 and below 1 (got {s})")
        unknown = set(self.per_tier) - set(TIER_ORDER)
        if unknown:
            raise ValueError(f"holdout per_tier names unknown tiers {', '.join(sorted(unknown))}; "
                             f"the tiers are {', '.join(TIER_ORDER)}")

    def share_for(self, tier) -> float:
        return float(self.per_tier.get(str(tier), self.share))


def _now() -> pd.Timestamp:
    return pd.Timestamp.now("UTC").tz_localize(None)


def salt(wh: Warehouse) -> str:
    """The warehouse's holdout salt, drawn on first use and kept: changing it would reshuffle
    every control group."""
    t = wh.table(SALT_TABLE)
    found = t.select("salt").limit(1).to_pandas()
    if len(found):
        return str(found["salt"].iloc[0])
    value = secrets.token_hex(16)
    wh.insert(SALT_TABLE, pd.DataFrame({"salt": [value], "created": [_now()]}))
    return value


def uniform(salt_value: str, customer_ids, actions) -> np.ndarray:
    """Each (customer, action type)'s stable number in [0, 1): the first 8 bytes of
    SHA-256(salt, id, action) over 2⁶⁴ (unit separators keep ``("a1", "b")`` and ``("a",
    "1b")`` apart)."""
    # the leading 8 bytes of every digest, read at once as big-endian integers; their
    # conversion to float rounds as int.from_bytes(…) / 2⁶⁴ does
    heads = b"".join(hashlib.sha256(f"{salt_value}\x1f{c}\x1f{a}".encode()).digest()[:8]
                     for c, a in zip(customer_ids, actions))
    return np.frombuffer(heads, dtype=">u8").astype(float) / 2.0 ** 64


def assign(decisions: pd.DataFrame, salt_value: str,
           settings: HoldoutSettings = HoldoutSettings()) -> pd.DataFrame:
    """`decisions` (customer_id, tier, action) with `holdout_share` and `held_out` added."""
    share = decisions["tier"].map(settings.share_for).astype(float)
    u = uniform(salt_value, decisions["customer_id"].astype(str), decisions["action"].astype(str))
    return decisions.assign(holdout_share=share.to_numpy(), held_out=u < share.to_numpy())


def hold_out_actions(actions: pd.DataFrame, salt_value: str,
                     settings: HoldoutSettings = HoldoutSettings()) -> tuple[pd.DataFrame,
                                                                             pd.DataFrame]:
    """Apply the control groups to the next best actions (`strategy.nba` columns).

    Returns (actions, decisions): in `actions` a held-out customer's action becomes
    ``no_contact`` (no route, channel or offer, so nothing is sent, tasked or exported for
    them) with `decided_action` keeping what was decided and `held_out` True; `decisions` holds
    one row per contact decided, treated or held out, for `record`."""
    contact = (actions["action"] != "no_contact").to_numpy()
    share = actions.loc[contact, "tier"].map(settings.share_for).to_numpy(float)
    return _hold_out(actions, contact, share, salt_value)


#: contact decisions hashed at a time (their ids as Python strings only while hashed)
_HASHED_AT_ONCE = 50_000
#: what a held-out customer is not sent: no channel, offer or product, nothing priced
_WITHHELD_TEXT = ("channel", "offer_type", "sku", "product_name")
_WITHHELD_NUMBERS = ("offer_value", "send_hour", "due_hours", "probability",
                     "conversion_margin", "offer_cost", "contact_cost")


def _hold_out(actions: pd.DataFrame, contact: np.ndarray, share: np.ndarray,
              salt_value: str, copy: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
    """`hold_out_actions` with the share of each contact row (`contact`) given.

    The actions are changed column by column where held out, never copied whole: at a
    million customers each copy of the frame, with its two reasons, is hundreds of MB; with
    `copy` False the columns are replaced in `actions` itself, so each old one can go as its
    new one is made. The decisions come in the order of their shares, then of the actions
    (stable)."""
    rows = np.flatnonzero(contact)
    # the ids and actions stay in their columns' own arrays; only a slice at a time becomes
    # Python strings, to be hashed
    ids = actions["customer_id"].iloc[rows].astype(str).reset_index(drop=True)
    decided_as = actions["action"].iloc[rows].reset_index(drop=True)
    held_c = np.concatenate([np.empty(0)] + [
        uniform(salt_value, ids.iloc[i:i + _HASHED_AT_ONCE].to_numpy(object),
                decided_as.iloc[i:i + _HASHED_AT_ONCE].astype(str).to_numpy(object))
        for i in range(0, len(rows), _HASHED_AT_ONCE)]) < share
    held = np.zeros(len(actions), bool)
    held[rows[held_c]] = True

    # the defaults' probability and margin (before any learned factor): the prior the
    # measurements update
    def contact_col(name) -> np.ndarray:
        return actions[name].to_numpy(float, na_value=np.nan)[rows]

    prob = contact_col("prior_probability" if "prior_probability" in actions else
                       "probability")
    gain = contact_col("prior_gain") if "prior_gain" in actions else \
        contact_col("conversion_margin") - contact_col("offer_cost")
    order = np.argsort(share, kind="stable")
    decisions = pd.DataFrame({
        "customer_id": ids.array.take(order),
        "tier": actions["tier"].iloc[rows].array.take(order),
        "action": decided_as.array.take(order), "holdout_share": share[order],
        "held_out": held_c[order], "probability": prob[order],
        "conversion_gain": gain[order], "source": "nba",
        **{k: (contact_col(k)[order] if k in actions else np.nan) for k in COSTS}})
    out = actions.copy(deep=False) if copy else actions
    out["decided_action"], out["held_out"] = actions["action"], held
    if not held.any():
        return out, decisions
    # masked in place of their type: a column of texts turned into Python strings would
    # hold a string object per customer
    out["action"] = out["action"].mask(held, "no_contact")
    out["route"] = out["route"].mask(held, "none")
    for col in (*_WITHHELD_TEXT, *_WITHHELD_NUMBERS):
        if col in out:
            out[col] = out[col].mask(held)
    out["expected_value"] = out["expected_value"].mask(held, 0.0)
    # one text per (action, share) held out, not one per customer
    codes, pairs = pd.MultiIndex.from_arrays([decided_as[held_c].to_numpy(object),
                                              share[held_c]]).factorize()
    for lang, col in (("en", "reason_en"), ("zh-CN", "reason_zh")):
        text = np.full(len(out), None, object)
        text[held] = np.array([label("reason.held_out", lang,
                                     action=value_label("action", a, lang),
                                     share=f"{100 * s:.0f}") for a, s in pairs], object)[codes]
        out[col] = out[col].where(~held, text)
    return out, decisions


def hold_out_exploring(actions: pd.DataFrame, salt_value: str, settings: HoldoutSettings,
                       learned: pd.DataFrame, past: pd.DataFrame, *, min_held_out: int = 100,
                       explore_share: float = 0.5, copy: bool = True
                       ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """`hold_out_actions` with exploring and measuring until decided: an action never
    measured holds out of its new customers the share that brings its control group to
    `min_held_out` (at most `explore_share`); one that `learned` (from
    `strategy.action_feedback.learn`) gives a `holdout_share` (still exploring, or measuring
    short of its `target_held_out`) holds out the share that brings it to that target
    (`min_held_out` where none is given), at most that share; every other action holds out the
    tier's share. The share is never below the tier's, and a tier whose share is 0 stays at 0.
    A customer already decided for an action (`past`: recorded decisions) keeps the share of
    their first decision of it, so nobody's group changes when the exploring or measuring ends
    or the policy's share is edited (the measurement takes the shares as strata,
    `strategy.action_impact`). With `copy` False the held-out customers' actions are changed
    in `actions` itself (as `_hold_out` says), for a caller done with the frame as decided."""
    caps, targets = {}, {}
    if len(learned) and "holdout_share" in learned:
        more = learned[np.isfinite(learned["holdout_share"].to_numpy(float))]
        caps = dict(zip(more["action"], more["holdout_share"].astype(float)))
        if "target_held_out" in more:
            targets = {a: t for a, t in zip(more["action"], more["target_held_out"].astype(float))
                       if not np.isnan(t)}
    known = set(learned["action"]) if len(learned) else set()
    contact = (actions["action"] != "no_contact").to_numpy()
    # the columns needed as codes, not the contact rows copied whole, nor a string each
    codes, names = pd.factorize(actions["action"][contact], use_na_sentinel=False)
    tiers, tier_names = pd.factorize(actions["tier"][contact], use_na_sentinel=False)
    base = np.array([settings.share_for(t) for t in tier_names], float)[tiers] \
        if len(tier_names) else np.zeros(0)
    share = base.copy()
    if len(past):
        key = pd.MultiIndex.from_arrays([actions["action"].to_numpy(object)[contact],
                                         actions["customer_id"].to_numpy(object)[contact]
                                         .astype(str)])
        first = past.sort_values("decided", kind="stable").drop_duplicates(
            ["action", "customer_id"]).set_index(["action", "customer_id"])
        seen = key.isin(first.index)
        held = first[first["held_out"].astype(bool)].groupby(level="action").size()
        # a tier the policy now serves in full (share 0) is served in full, whatever before
        before = first["holdout_share"].reindex(key).to_numpy(float)
        share = np.where(seen & (base > 0) & np.isfinite(before), before, share)
    else:
        seen, held = np.zeros(len(codes), bool), pd.Series(dtype=int)
    for j, action in enumerate(names):
        cap = caps.get(action, explore_share if action not in known else 0.0)
        if cap <= 0:
            continue
        new = (codes == j) & ~seen & (share > 0)
        goal = targets.get(action, min_held_out)
        # an unreachable target (infinite) holds out as many as the cap allows
        need = (goal - int(held.get(action, 0))) / max(int(new.sum()), 1)
        share[new] = np.clip(need, share[new], cap)
    return _hold_out(actions, contact, share, salt_value, copy=copy)


def record(wh: Warehouse, decisions: pd.DataFrame, *, run_id: str, decided: datetime,
           source: str | None = None) -> int:
    """Append `decisions` (customer_id, tier, action, held_out, holdout_share; optionally
    probability, conversion_gain, contact_cost, offer_cost, source) to ``action_assignments`` for `run_id`, skipping
    rows already recorded for the same run, source, action and customer (evaluating a run's
    rules twice records nothing new). Returns the rows added."""
    if decisions.empty:
        return 0
    frame = decisions.copy()
    frame["run_id"], frame["decided"] = run_id, pd.Timestamp(decided)
    if source is not None or "source" not in frame:
        frame["source"] = source or "nba"
    for col in ("probability", "conversion_gain", *COSTS):
        if col not in frame:
            frame[col] = np.nan
    frame["recorded"] = _now()
    frame["customer_id"] = frame["customer_id"].astype(str)
    t = wh.table(TABLE)
    have = t.filter(t.run_id == run_id).select("source", "action", "customer_id").to_pandas()
    if len(have):
        key = pd.MultiIndex.from_frame(frame[["source", "action", "customer_id"]])
        frame = frame[~key.isin(pd.MultiIndex.from_frame(have))]
    if frame.empty:
        return 0
    wh.insert(TABLE, frame[COLUMNS])
    return len(frame)


def assignments(wh: Warehouse) -> pd.DataFrame:
    """Every decision of a published run (a failed or killed run's rows never count)."""
    return action_impact.decisions(wh)
