"""Next best action: one action per customer, chosen by expected value, sent through a channel
the customer consented to and responds on, at the hour they are active, and routed by tier.

The key-account strategy course asks for precision marketing: the right person, the right time, the right channel, the
right message; the upward-marketing guide puts upward marketing (moving customers to premium) first and gives each
value tier its service level. This module turns the models' per-customer outputs into that
decision. It is a policy, not a model: every probability it uses comes from a fitted model
(premium propensity, churn risk, BG/NBD purchase expectations, association-rule confidence) or
from a response rate in :class:`NbaSettings` that an A/B test should replace.

For each candidate action a with probability p_a that the customer converts on it:

    EV(a) = p_a × (order value × margin rate − cost of the offer if used) − cost of the contact

(the expected-profit rule of direct marketing, e.g. Bult & Wansbeek 1995, *Marketing Science*
14(4), eq. 1, with the offer's cost counted only when it is redeemed). The contact costs the
tier's service: ``cost_share × mean 12-month margin of the tier ÷ (12 × contacts per month)``,
so an account manager's call on a Diamond customer costs more than an automated push to a
Basic one. The action with the largest EV wins; "no contact" (EV = 0) wins when nothing is worth
its cost, when the customer has no consent on a channel the action could use, or when they were
already contacted as often as their tier's monthly cap allows.

Routing (the upward-marketing guide's tier policy): Diamond and Core customers' actions become tasks for their
account manager, due within the tier's response time; Potential and Basic customers get an
automated message.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Iterable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from upmarket.data_labels import DataLabels, file_labels
from upmarket.i18n import label, value_label
from upmarket.models.churn import signal_text
from upmarket.models.purchase_codes import PurchaseCodes, sorted_distinct
from upmarket.models.recommend import COLUMNS as RECOMMENDATION_COLUMNS
from upmarket.strategy.tiers import TIER_ORDER, TierPolicy
from upmarket.warehouse.schema import PROMOTION_TYPES

ACTIONS = ("upsell", "cross_sell", "bundle", "retention_offer", "win_back", "onboarding",
           "referral_ask", "level_nudge", "nurture", "no_contact")
#: Offer types whose value is a share of the order value; the others are money amounts.
_RELATIVE = {"time_limited", "percent_discount", "bundle", "points"}
PERSONAL_TIERS = ("diamond", "core")

COLUMNS = ["customer_id", "tier", "action", "offer_type", "offer_value", "sku", "product_name",
           "probability", "conversion_margin", "offer_cost", "contact_cost", "expected_value",
           "route", "channel", "send_hour", "due_hours", "reason_en", "reason_zh",
           "prior_probability", "prior_gain"]


#: Customers decided at a time: each holds ten candidate actions' numbers in a few matrices.
BATCH_SIZE = 20_000

#: The recommendations a run publishes: the recommender's columns and what the candidates add.
RECOMMENDATIONS_COLUMNS = [*RECOMMENDATION_COLUMNS, "kind", "category", "price_tier"]


@dataclass(frozen=True)
class Offer:
    """An offer type of the promotions table with its cost model.

    `value` is a share of the order value for time-limited, percent, bundle and points offers
    (0.10 = 10 % off, or points worth 10 % back), and a money amount for threshold discounts,
    coupons and gifts (the amount off, or what the gift costs). `redemption` is the share of
    converting customers who use it (points and coupons are often left unused)."""

    type: str
    value: float
    redemption: float = 1.0

    def __post_init__(self):
        if self.type not in PROMOTION_TYPES:
            raise ValueError(f"offer type {self.type!r} is not one of {', '.join(PROMOTION_TYPES)}")
        if self.value < 0 or not 0 <= self.redemption <= 1:
            raise ValueError(f"offer {self.type}: value must be ≥ 0 and redemption in [0, 1]")

    def cost(self, order_value: np.ndarray) -> np.ndarray:
        """Expected cost of the offer for a customer who converts on an order of this value."""
        order_value = np.asarray(order_value, float)
        if self.type in _RELATIVE:
            c = self.value * order_value
        else:
            c = np.minimum(self.value, order_value) if self.type != "gift" else \
                np.full_like(order_value, self.value)
        return self.redemption * c


@dataclass(frozen=True)
class NbaSettings:
    offers: dict[str, Offer | None] = field(default_factory=lambda: {
        "upsell": Offer("time_limited", 0.10),
        "cross_sell": Offer("percent_discount", 0.05),
        "bundle": Offer("bundle", 0.08),
        "retention_offer": Offer("percent_discount", 0.15),
        "win_back": Offer("percent_discount", 0.10),
        "onboarding": Offer("points", 0.05, redemption=0.6),
        "referral_ask": Offer("points", 0.10, redemption=0.6),
        "level_nudge": None,
        "nurture": None,
    })
    #: Response rates where no model gives a probability; assumptions until an A/B test
    #: (`upmarket experiments`) measures them.
    cross_sell_share: float = 0.10   # of the customer's next purchases, share on the suggestion
    retention_save_rate: float = 0.25  # of would-be churners an offer keeps
    retention_min_risk: float = 0.5
    win_back_rate: float = 0.05
    onboarding_rate: float = 0.15
    onboarding_days: int = 60
    referral_rate: float = 0.08
    referral_min_nps: int = 9
    nurture_rate: float = 0.01
    #: a member whose next membership level is within this many of their typical orders is
    #: told how close it is (会员升级提醒), and this share of them places the order
    level_nudge_orders: float = 1.0
    level_nudge_rate: float = 0.10
    #: what one point costs when redeemed, from the membership programme (None: no programme
    #: prices points, and a points offer costs its `value` share of the order); with it, a
    #: points offer grants `points_bonus[action]` points, costed at this value when used
    point_value: float | None = None
    points_bonus: dict[str, int] = field(default_factory=lambda: {"onboarding": 500,
                                                                  "referral_ask": 1000})
    #: margin rate where neither the product's cost nor the customer's margin is known
    default_margin_rate: float = 0.30
    #: send hour when a customer's active hour is unknown, and the hours an account manager
    #: calls in (outside them the task is due in working hours at the default hour)
    default_send_hour: int = 10
    working_hours: tuple[int, int] = (9, 20)
    #: channels per route, in order of preference when responses tie (cheapest first)
    automated_channels: tuple[str, ...] = ("app_push", "email", "wechat", "sms")
    personal_channels: tuple[str, ...] = ("phone", "wechat", "email")
    #: what the control groups taught (`strategy.action_feedback`): per action, a factor on
    #: its response probabilities (0 switches it off) and on the margin of a conversion;
    #: an action not named keeps its defaults (factor 1)
    response_scale: dict[str, float] = field(default_factory=dict)
    value_scale: dict[str, float] = field(default_factory=dict)

    def __post_init__(self):
        unknown = set(self.offers) - set(ACTIONS)
        if unknown:
            raise ValueError(f"offers for unknown actions: {', '.join(sorted(unknown))}")


def _col(frame: pd.DataFrame, name: str, default=np.nan) -> pd.Series:
    if name in frame:
        return frame[name]
    return pd.Series(default, index=frame.index)


def _texts(values) -> pa.Array:
    """`values` (ids, names) as one Arrow array of texts, without a Python string each."""
    texts = values if isinstance(values, (pa.Array, pa.ChunkedArray)) else \
        pa.array(pd.Series(values, copy=False).astype(str))
    return texts.combine_chunks() if isinstance(texts, pa.ChunkedArray) else texts


def _positions(values, within: pa.Array) -> np.ndarray:
    """Where each of `values` first occurs in `within` (-1: nowhere). Arrow hashes the texts
    themselves: a pandas index of a million ids would make a Python string of each first."""
    values = _texts(values)
    found = pc.index_in(values, value_set=within.cast(values.type))
    return pc.fill_null(found, -1).to_numpy().astype(np.int64)


class _ByCustomer:
    """A frame's first row per customer, found once for all the customers `ids` (one hash
    of each) and read a batch of them, a slice, at a time."""

    def __init__(self, frame: pd.DataFrame | None, ids: pd.Series):
        self.rows = None if frame is None or frame.empty else frame
        self.pos = None if self.rows is None else \
            _positions(ids, _texts(frame["customer_id"]))

    def at(self, span: slice) -> np.ndarray:
        """The row of each customer of the batch `span` (-1: none)."""
        return self.pos[span]

    def get(self, span: slice, col: str, default=np.nan) -> pd.Series:
        index = pd.RangeIndex(span.stop - span.start)
        if self.rows is None:
            return pd.Series(default, index=index)
        pos = self.pos[span]
        found = pos >= 0
        values = self.rows[col].iloc[np.where(found, pos, 0)]
        return pd.Series(values.to_numpy(), index=index).where(found, default)


def contact_costs(customers: pd.DataFrame, policy: TierPolicy) -> pd.Series:
    """Cost of one contact per tier: the tier's share of its mean 12-month margin (`clv`),
    spread over the contacts it may receive in a year."""
    clv = _col(customers, "clv", 0.0).fillna(0.0).clip(lower=0)
    mean = clv.groupby(customers["tier"]).mean()
    return pd.Series({t: policy.level(t).cost_share * float(mean.get(t, 0.0))
                      / (12 * policy.level(t).contacts_per_month) for t in TIER_ORDER})


def choose_channel(customers: pd.DataFrame, consents: pd.DataFrame, responses: pd.DataFrame,
                   settings: NbaSettings = NbaSettings()) -> pd.Series:
    """Per customer, the consented channel of their route they responded on most (ties: the
    route's order of preference); None when no channel of the route has consent."""
    ids = customers["customer_id"].astype(str)
    personal = customers["tier"].isin(PERSONAL_TIERS).to_numpy()
    ok = consents[consents["granted"].astype(bool)][["customer_id", "channel"]]
    # customers and channels as integer codes, looked up by one hash each: sorting and
    # matching a million id strings per route is what this cost before
    code, known = pd.factorize(ids)
    ok_channels = _texts(ok["channel"])
    channels = pd.Index(pd.unique(np.concatenate([
        np.asarray(pc.unique(ok_channels).to_pylist(), object), settings.personal_channels,
        settings.automated_channels])))
    known_texts, channel_texts = _texts(known), _texts(channels)
    who = _positions(ok["customer_id"], known_texts)
    via = _positions(ok_channels, channel_texts)
    # responses per (customer, channel) as one integer key: the reindex on a unique index
    # raises on repeated pairs as the look-up by pairs of strings did
    resp = pd.Series(dtype=float)
    if len(responses):
        rw = _positions(responses["customer_id"], known_texts)
        rc = _positions(responses["channel"], channel_texts)
        resp = pd.Series(responses["responses"].to_numpy(float),
                         index=rw.astype(np.int64) * len(channels) + rc)[(rw >= 0) & (rc >= 0)]
    out = np.full(len(ids), None, dtype=object)
    for route_mask, prefs in ((personal, settings.personal_channels),
                              (~personal, settings.automated_channels)):
        if not route_mask.any():
            continue
        mine = np.zeros(len(known), bool)
        mine[code[route_mask]] = True
        pref = np.full(len(channels), -1)
        pref[channels.get_indexer(list(prefs))] = np.arange(len(prefs))
        cand = np.flatnonzero((who >= 0) & mine[np.maximum(who, 0)] & (pref[via] >= 0))
        if not len(cand):
            continue
        w, ch = who[cand], via[cand]
        responded = resp.reindex(w.astype(np.int64) * len(channels) + ch).fillna(0) \
            .to_numpy(float) if len(resp) else np.zeros(len(cand))
        # per customer the most responses, then the route's preference, then the first
        # consent row (lexsort is stable): what a stable sort of the rows chose
        order = np.lexsort((pref[ch], -responded, w))
        first = order[np.r_[True, w[order][1:] != w[order][:-1]]]
        best = np.full(len(known), None, dtype=object)
        best[w[first]] = channels.to_numpy(object)[ch[first]]
        out[route_mask] = best[code[route_mask]]
    return pd.Series(out, index=customers.index).where(lambda s: s.notna(), None)


def premium_bestsellers(tiered: pd.DataFrame, lines: pd.DataFrame | PurchaseCodes
                        ) -> pd.DataFrame:
    """Premium products (`tier_rank` 2 in `tiered`) by category, best-selling first (distinct
    buyers in `lines`, then sku): the `bestsellers` of `product_candidates`."""
    prem = tiered[tiered["tier_rank"] == 2]
    if isinstance(lines, PurchaseCodes):
        # distinct (customer, product) pairs as one integer each, counted per product
        mine = lines.lines_of(prem["sku"]) & (lines.customer >= 0)
        width = max(len(lines.skus), 1)
        pair = sorted_distinct(lines.customer[mine].astype(np.int64) * width + lines.sku[mine])
        counts = np.bincount(pair % width, minlength=len(lines.skus))
        buyers = pd.Series(counts, index=lines.skus)
        buyers = buyers[buyers > 0]
    else:
        buyers = lines[lines["sku"].isin(set(prem["sku"]))].groupby("sku")[
            "customer_id"].nunique()
    return prem.assign(buyers=prem["sku"].map(buyers).fillna(0)).sort_values(
        ["category", "buyers", "sku"], ascending=[True, False, True])[["category", "sku"]]


def main_categories(customers: pd.DataFrame) -> pd.DataFrame:
    """customer_id, main_category of `customers`, empty where the column is not there."""
    if "main_category" in customers:
        return customers[["customer_id", "main_category"]]
    return pd.DataFrame(columns=["customer_id", "main_category"])


def product_candidates(recommendations: pd.DataFrame, ladder: pd.DataFrame,
                       reached: pd.DataFrame, main_category: pd.DataFrame,
                       bestsellers: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split each customer's recommendations into the upsell target and the cross-sell pick.

    A recommended product is an *upsell* when it is premium and above the highest tier the
    customer reached in its category (`reached`: customer_id, category, highest_rank), else a
    *cross-sell*. Customers with no premium recommendation are offered the best-selling premium
    product of their main category (`main_category`: customer_id, main_category;
    `bestsellers`: category, sku), the content fallback. Returns (upsell, cross_sell) frames of
    customer_id, sku: the best-ranked of each kind per customer."""
    _, upsell, cross = candidates_by_batch([recommendations], ladder, reached, main_category,
                                           bestsellers, keep=0)
    return upsell, cross


def candidates_by_batch(batches: Iterable[pd.DataFrame], ladder: pd.DataFrame,
                        reached: pd.DataFrame, main_category: pd.DataFrame,
                        bestsellers: pd.DataFrame, *, keep: int | None = None
                        ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """`product_candidates` over recommendations that arrive a batch of customers at a time
    (`Recommender.recommend_batches`; a customer's rows all in one batch), keeping of each
    batch only the candidates and each customer's first `keep` recommendations (None: all).

    Returns (recommendations kept, with ``kind`` upsell/cross_sell, ``category`` and
    ``price_tier``; upsell; cross_sell). Only the best-ranked upsell of a customer is marked
    *upsell*: it is the one the next best action offers. Why batches: at a million customers the
    full lists are tens of millions of rows, and only the candidates and the few products a
    reader is shown are ever used. `CandidatePicker` does the same without holding the kept
    recommendations either."""
    picker = CandidatePicker(ladder, reached, main_category, bestsellers, keep=keep)
    kept = [k for k in map(picker.take, batches) if k is not None]
    recs = pd.concat(kept, ignore_index=True) if kept else pd.DataFrame(
        columns=RECOMMENDATIONS_COLUMNS)
    return recs, *picker.candidates()


class CandidatePicker:
    """`candidates_by_batch` one batch at a time: `take` each batch of recommendations and
    get back the ones kept (for the caller to write out as they come), then `candidates`."""

    def __init__(self, ladder: pd.DataFrame, reached: pd.DataFrame,
                 main_category: pd.DataFrame, bestsellers: pd.DataFrame, *,
                 keep: int | None = None):
        self.main_category, self.bestsellers, self.keep = main_category, bestsellers, keep
        lad = self.lad = ladder.drop_duplicates("sku").set_index("sku")
        self.lad_category = lad["category"].to_numpy(object) if "category" in lad \
            else np.full(len(lad), None, object)
        self.lad_tier = lad["tier_rank"].to_numpy(float) if "tier_rank" in lad \
            else np.full(len(lad), np.nan)
        self.lad_price_tier = lad["price_tier"].to_numpy(object) if "price_tier" in lad \
            else np.full(len(lad), None, object)
        # one hash index, built once, for the fallback below; the batches look the tier
        # reached up by integer (customer, category) keys, in a sorted array built once
        self.reach = reached.set_index(["customer_id", "category"])["highest_rank"]
        reach_who, self.reach_ids = pd.factorize(reached["customer_id"])
        reach_cat, reach_cats = pd.factorize(reached["category"])
        self.lad_reach_cat = np.asarray(reach_cats.get_indexer(self.lad_category), np.int64) \
            if len(reach_cats) else np.full(len(lad), -1, np.int64)
        self.width = max(len(reach_cats), 1)
        key = reach_who.astype(np.int64) * self.width + reach_cat
        valid = (reach_who >= 0) & (reach_cat >= 0)
        by_key = np.argsort(key[valid], kind="stable")
        self.reach_key = key[valid][by_key]
        self.reach_rank = reached["highest_rank"].to_numpy(float)[valid][by_key]
        self.ups, self.crosses = [], []

    def take(self, r: pd.DataFrame) -> pd.DataFrame | None:
        """Note the batch's upsell and cross-sell per customer; its kept recommendations
        (None when the batch is empty or none are kept)."""
        if r.empty:
            return None
        lad = self.lad
        r = r.reset_index(drop=True)  # positions, for marking the chosen upsell
        at = lad.index.get_indexer(r["sku"])
        found = at >= 0

        def take(values, fill, rows=slice(None)):
            """The ladder's `values` for the recommended products (`fill` where unknown)."""
            out = np.full(len(at[rows]), fill, values.dtype)
            out[found[rows]] = values[at[rows][found[rows]]]
            return out

        category = take(self.lad_category, None)
        premium = take(self.lad_tier, np.nan) == 2
        # customers as codes in the order of their ids: sorting codes then ranks orders the
        # rows as sorting the id strings then ranks did, at the cost of sorting the batch's
        # distinct ids only
        who, batch_ids = pd.factorize(r["customer_id"], sort=True, use_na_sentinel=False)
        # the tier reached only matters for premium products
        top = np.full(len(r), np.nan)
        reach_key = self.reach_key
        if premium.any() and len(reach_key):
            rows = np.flatnonzero(premium)
            key = np.asarray(self.reach_ids.get_indexer(batch_ids), np.int64)[who[rows]]
            cat = take(self.lad_reach_cat, -1)[rows]
            ok = (key >= 0) & (cat >= 0)
            key = key * self.width + cat
            pos = np.minimum(np.searchsorted(reach_key, key), len(reach_key) - 1)
            hit = ok & (reach_key[pos] == key)
            top[rows[hit]] = self.reach_rank[pos[hit]]
        up = premium & ~(top >= 2)
        rank = r["rank"].to_numpy(float)

        def firsts(mask):
            """Per customer, the position of their best-ranked row among `mask` (ties: the
            first), in the order of customer ids."""
            rows = np.flatnonzero(mask)
            rows = rows[np.lexsort((rank[rows], who[rows]))]
            return rows[np.r_[True, who[rows][1:] != who[rows][:-1]]] if len(rows) else rows

        first_up = firsts(up)
        self.ups.append(r.iloc[first_up][["customer_id", "sku"]])
        self.crosses.append(r.iloc[firsts(~up)][["customer_id", "sku"]])
        if self.keep == 0:
            return None
        chosen = np.zeros(len(r), bool)
        chosen[first_up] = True
        rows = np.arange(len(r)) if self.keep is None else \
            np.flatnonzero(r["rank"].to_numpy() <= self.keep)
        return r.iloc[rows].assign(
            kind=np.where(chosen[rows], "upsell", "cross_sell"), category=category[rows],
            price_tier=take(self.lad_price_tier, None, rows))

    def candidates(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """(upsell, cross_sell) of every customer taken so far, with the content fallback
        (`product_candidates`)."""
        ups, crosses, lad, reach = self.ups, self.crosses, self.lad, self.reach
        main_category, bestsellers = self.main_category, self.bestsellers
        pair = ["customer_id", "sku"]
        upsell = pd.concat(ups, ignore_index=True) if ups else pd.DataFrame(columns=pair)
        cross = pd.concat(crosses, ignore_index=True) if crosses else pd.DataFrame(columns=pair)
        if len(main_category) and len(bestsellers):
            m = main_category.dropna(subset=["main_category"])
            m = m[~m["customer_id"].isin(set(upsell["customer_id"]))]
            best = bestsellers.drop_duplicates("category").set_index("category")["sku"]
            fallback = pd.DataFrame({"customer_id": m["customer_id"],
                                     "sku": m["main_category"].map(best)}).dropna()
            key = pd.MultiIndex.from_arrays([fallback["customer_id"],
                                             fallback["sku"].map(lad["category"])])
            fallback = fallback[~(reach.reindex(key).to_numpy(float) >= 2)]
            upsell = pd.concat([upsell, fallback], ignore_index=True)
        return upsell.reset_index(drop=True), cross.reset_index(drop=True)


def next_best_actions(
    customers: pd.DataFrame,
    *,
    products: pd.DataFrame,
    upsell: pd.DataFrame | None = None,
    cross_sell: pd.DataFrame | None = None,
    bundles: pd.DataFrame | None = None,
    consents: pd.DataFrame | None = None,
    responses: pd.DataFrame | None = None,
    hours: pd.DataFrame | None = None,
    contacts: pd.DataFrame | None = None,
    policy: TierPolicy = TierPolicy(),
    settings: NbaSettings = NbaSettings(),
    premium_horizon_days: int = 180,
    batch_size: int = BATCH_SIZE,
) -> pd.DataFrame:
    """One row per customer of `customers` (the run's results: customer_id, tier, clv,
    churn_risk, p_alive, expected_purchases_90d, expected_order_value, margin_rate, orders,
    tenure_days, recency_days, lifecycle_stage, latest_nps, premium_propensity,
    peer_upgrade_rate, current_tier, main_category, months_since_last; missing ones are
    treated as unknown).

    - `products`: sku, name, category, price_tier, price, cost.
    - `upsell` / `cross_sell`: customer_id, sku — the premium product to move up to and the
      best other suggestion (from the recommender).
    - `bundles`: customer_id, antecedent, consequent, confidence, lift (`models.basket`).
    - `consents`: consents in force (customer_id, channel, granted); a customer without a
      granted row for a channel of their route gets no contact.
    - `responses`: customer_id, channel, responses; `hours`: customer_id, active_hour;
      `contacts`: customer_id, contacts (in the last 30 days).

    Returns the columns of `COLUMNS`; `reason_en` / `reason_zh` say why in one line. The
    customers are decided `batch_size` at a time, with the same answer as all at once.
    """
    c = customers.reset_index(drop=True)
    n = len(c)
    ids, tier = c["customer_id"].astype(str), c["tier"].astype(str)
    # what every batch shares: the tiers' contact costs and a referral's worth are means over
    # all customers, the channels are chosen once from all the consents, and each input's row
    # of every customer is found once
    shared = _Shared(
        prod=products.drop_duplicates("sku").set_index("sku"),
        contact_cost=contact_costs(c.assign(tier=tier), policy),
        referral_value=float(_col(c, "clv", 0.0).fillna(0.0).clip(lower=0).mean()) if n else 0.0,
        channel=choose_channel(c.assign(customer_id=ids, tier=tier),
                               consents if consents is not None else
                               pd.DataFrame(columns=["customer_id", "channel", "granted"]),
                               responses if responses is not None else
                               pd.DataFrame(columns=["customer_id", "channel", "responses"]),
                               settings).to_numpy(object),
        **{name: _ByCustomer(frame, ids) for name, frame in (
            ("upsell", upsell), ("cross_sell", cross_sell), ("bundles", bundles),
            ("hours", hours), ("contacts", contacts))})
    size = max(int(batch_size), 1)
    # the per-action matrices of a batch (probabilities, margins, costs, products) are ten
    # values per customer each: made a batch at a time, so only the chosen row is kept
    parts = [_batch(c.iloc[i:i + size].reset_index(drop=True), shared, policy, settings,
                    premium_horizon_days, at=i) for i in range(0, n, size)] or \
        [_batch(c, shared, policy, settings, premium_horizon_days, at=0)]
    if len(parts) == 1:
        return parts[0]
    out = pd.concat(parts, ignore_index=True)
    # a batch without a single product (or channel) has that column as objects: the whole
    # frame's texts are typed as one batch of everybody would have them
    texts = [k for k in out if out[k].dtype == object]
    out[texts] = out[texts].infer_objects()
    return out


@dataclass(frozen=True)
class _Shared:
    """What every batch of `next_best_actions` reads: the products by sku, the contact cost
    per tier, a referral's worth, every customer's channel (in the customers' order) and the
    per-customer inputs, indexed once."""

    prod: pd.DataFrame
    contact_cost: pd.Series
    referral_value: float
    channel: np.ndarray
    upsell: _ByCustomer
    cross_sell: _ByCustomer
    bundles: _ByCustomer
    hours: _ByCustomer
    contacts: _ByCustomer


def _batch(c: pd.DataFrame, shared: _Shared, policy: TierPolicy, settings: NbaSettings,
           premium_horizon_days: int, *, at: int) -> pd.DataFrame:
    """`next_best_actions` of the customers `c`, the rows from `at` on of all of them."""
    ids = c["customer_id"].astype(str)
    n = len(c)
    span = slice(at, at + n)
    tier = c["tier"].astype(str)
    prod = shared.prod

    margin_rate = _col(c, "margin_rate").fillna(settings.default_margin_rate).clip(0, 1)
    eov = _col(c, "expected_order_value").fillna(_col(c, "monetary")).fillna(0.0).clip(lower=0)
    p_buy90 = 1 - np.exp(-_col(c, "expected_purchases_90d", 0.0).fillna(0.0).clip(lower=0))
    clv = _col(c, "clv", 0.0).fillna(0.0).clip(lower=0)
    churn = _col(c, "churn_risk").fillna(0.0)
    stage = _col(c, "lifecycle_stage", "").fillna("")
    lapsed = (stage == "lapsed").to_numpy()
    cost_of_contact = tier.map(shared.contact_cost).fillna(0.0)

    def product_terms(frame: _ByCustomer, sku_col: str = "sku"):
        sku = frame.get(span, sku_col, None)
        at = prod.index.get_indexer(sku.to_numpy(object))  # one hash look-up for both

        def look(name):
            if name not in prod or not len(prod):
                return pd.Series(np.nan, index=ids.index)
            v = prod[name].to_numpy(float, na_value=np.nan)
            return pd.Series(np.where(at >= 0, v[np.maximum(at, 0)], np.nan), index=ids.index)

        price, cost = look("price"), look("cost")
        rate = ((price - cost) / price).where(price > 0).fillna(margin_rate).clip(0, 1)
        return sku, price.fillna(eov), rate

    def offer_cost(action: str, value) -> np.ndarray:
        offer = settings.offers.get(action)
        if offer is None:
            return np.zeros(n)
        if offer.type == "points" and settings.point_value is not None:
            # the programme's price of a point, not a share of the order
            return np.full(n, offer.redemption * settings.points_bonus.get(action, 0)
                           * settings.point_value)
        return offer.cost(np.asarray(value, float))

    def gain(action: str, value: pd.Series, rate: pd.Series) -> tuple[np.ndarray, np.ndarray]:
        oc = offer_cost(action, value)
        return value.to_numpy(float) * rate.to_numpy(float) - oc, oc

    prob = np.full((n, len(ACTIONS)), np.nan)
    gains = np.zeros((n, len(ACTIONS)))
    offer_costs = np.zeros((n, len(ACTIONS)))
    skus = np.full((n, len(ACTIONS)), None, dtype=object)
    col = {a: i for i, a in enumerate(ACTIONS)}

    def put(action, p, g_oc, sku=None, eligible=None):
        j = col[action]
        p = np.asarray(p, float)
        ok = np.isfinite(p) & ~lapsed if eligible is None else eligible & np.isfinite(p)
        prob[ok, j] = p[ok]
        gains[:, j], offer_costs[:, j] = g_oc
        if sku is not None:
            skus[:, j] = sku.to_numpy(object)

    sku, price, rate = product_terms(shared.upsell)
    p_up = _col(c, "premium_propensity").to_numpy(float)
    put("upsell", np.where(sku.notna(), p_up, np.nan), gain("upsell", price, rate), sku)
    sku, price, rate = product_terms(shared.cross_sell)
    put("cross_sell", np.where(sku.notna(), p_buy90 * settings.cross_sell_share, np.nan),
        gain("cross_sell", price, rate), sku)
    conf = shared.bundles.get(span, "confidence").to_numpy(float)
    sku, price, rate = product_terms(shared.bundles, "consequent")
    put("bundle", p_buy90 * conf, gain("bundle", price, rate), sku)
    at_risk = (churn >= settings.retention_min_risk).to_numpy() & ~lapsed
    ret_offer = settings.offers.get("retention_offer")
    ret_cost = ret_offer.cost(eov.to_numpy(float)) if ret_offer else np.zeros(n)
    put("retention_offer", churn * settings.retention_save_rate,
        (clv.to_numpy(float) - ret_cost, ret_cost), eligible=at_risk)
    put("win_back", np.full(n, settings.win_back_rate), gain("win_back", eov, margin_rate),
        eligible=lapsed)
    new = ((_col(c, "orders", 0).fillna(0) <= 1)
           & (_col(c, "tenure_days", np.inf).fillna(np.inf) <= settings.onboarding_days)
           ).to_numpy() & ~lapsed
    put("onboarding", np.full(n, settings.onboarding_rate), gain("onboarding", eov, margin_rate),
        eligible=new)
    nps = _col(c, "latest_nps")
    advocate = ((nps >= settings.referral_min_nps) | (stage == "advocacy")).to_numpy() & ~lapsed
    # a referred customer is worth what an average customer is: the mean 12-month margin
    referral_value = pd.Series(shared.referral_value, index=c.index)
    ref_cost = offer_cost("referral_ask", eov)
    put("referral_ask", np.full(n, settings.referral_rate),
        (referral_value.to_numpy(float) - ref_cost, ref_cost), eligible=advocate)
    put("level_nudge", np.full(n, settings.level_nudge_rate),
        gain("level_nudge", eov, margin_rate), eligible=close_to_next_level(c, eov, settings)
        & ~lapsed)
    put("nurture", np.full(n, settings.nurture_rate), gain("nurture", eov, margin_rate),
        eligible=np.ones(n, bool))

    # the defaults' view, kept for the control groups to be measured against
    # (`strategy.action_feedback`), then what past measurements taught
    prior_prob, prior_gains = prob.copy(), gains.copy()
    for a, j in col.items():
        prob[:, j] *= settings.response_scale.get(a, 1.0)
        gains[:, j] *= settings.value_scale.get(a, 1.0)
    contact = cost_of_contact.to_numpy(float)
    ev = prob * gains - contact[:, None]
    ev_filled = np.where(np.isnan(ev), -np.inf, ev)
    best = ev_filled[:, :-1].argmax(axis=1)
    best_ev = ev_filled[np.arange(n), best]

    channel = pd.Series(shared.channel[at:at + n], index=c.index)
    sent = shared.contacts.get(span, "contacts", 0).fillna(0).astype(int)
    cap = tier.map({t: policy.level(t).contacts_per_month for t in TIER_ORDER})
    capped = (sent >= cap).to_numpy()
    no_channel = channel.isna().to_numpy()
    worth = best_ev > 0
    chosen = np.where(worth & ~capped & ~no_channel, best, col["no_contact"])
    act = np.array(ACTIONS, dtype=object)[chosen]

    rows = np.arange(n)
    is_contact = act != "no_contact"
    hour = shared.hours.get(span, "active_hour").to_numpy(float)
    hour = np.where(np.isfinite(hour), hour, settings.default_send_hour)
    personal = tier.isin(PERSONAL_TIERS).to_numpy()
    lo, hi = settings.working_hours
    hour = np.where(personal & ((hour < lo) | (hour > hi)), settings.default_send_hour, hour)
    offers = [settings.offers.get(a) if a != "no_contact" else None for a in ACTIONS]
    offer_type = np.array([o.type if o else None for o in offers], object)[chosen]
    offer_value = np.array([_offer_value(a, settings) if o else np.nan
                            for a, o in zip(ACTIONS, offers)], float)[chosen]
    out = pd.DataFrame({
        "customer_id": ids,
        "tier": tier,
        "action": act,
        "offer_type": offer_type,
        "offer_value": offer_value,
        "sku": np.where(is_contact, skus[rows, chosen], None),
        "probability": np.where(is_contact, prob[rows, chosen], np.nan),
        "conversion_margin": np.where(is_contact, gains[rows, chosen] + offer_costs[rows, chosen],
                                      np.nan),
        "offer_cost": np.where(is_contact, offer_costs[rows, chosen], np.nan),
        "contact_cost": np.where(is_contact, contact, np.nan),
        "expected_value": np.where(is_contact, ev[rows, chosen], 0.0),
        "prior_probability": np.where(is_contact, prior_prob[rows, chosen], np.nan),
        "prior_gain": np.where(is_contact, prior_gains[rows, chosen], np.nan),
        "route": np.where(is_contact, np.where(personal, "account_manager", "automated"), "none"),
        "channel": np.where(is_contact, channel.to_numpy(object), None),
        "send_hour": np.where(is_contact, hour, np.nan),
        "due_hours": np.where(is_contact & personal,
                              tier.map({t: policy.level(t).response_hours for t in TIER_ORDER})
                              .to_numpy(float), np.nan),
    })
    out["product_name"] = out["sku"].map(prod["name"]) if "name" in prod else None
    why = {"capped": capped, "no_channel": no_channel, "best": best, "best_ev": best_ev,
           "sent": sent.to_numpy(), "cap": cap.to_numpy()}
    for lang, col in (("en", "reason_en"), ("zh-CN", "reason_zh")):
        out[col] = _reasons(c, out, why, prod, shared.bundles, span, premium_horizon_days,
                            lang)
    return out[COLUMNS]


def _offer_value(action: str, settings: NbaSettings) -> float:
    """The offer's value as the actions table shows it: the bonus points of a points offer
    the programme prices, else the offer's own value."""
    offer = settings.offers[action]
    if offer.type == "points" and settings.point_value is not None:
        return float(settings.points_bonus.get(action, 0))
    return offer.value


def close_to_next_level(c: pd.DataFrame, order_value: pd.Series,
                        settings: NbaSettings) -> np.ndarray:
    """Members whose next membership level is within `level_nudge_orders` typical orders:
    the spend still needed is at most that many orders of `order_value`, or the orders
    still needed are at most that many (both, when the level asks for both: `all`)."""
    if "next_member_level" not in c:
        return np.zeros(len(c), bool)
    k = settings.level_nudge_orders
    spend = _col(c, "spend_to_next_level").to_numpy(float)
    orders = _col(c, "orders_to_next_level").to_numpy(float)
    by_spend = spend <= k * order_value.to_numpy(float)
    by_orders = orders <= k
    both = (_col(c, "next_level_rule", "any") == "all").to_numpy()
    near = np.where(both, by_spend & by_orders, by_spend | by_orders)
    return c["next_member_level"].notna().to_numpy() & near


def _pcts(x) -> np.ndarray:
    """Every share as a whole percentage ("?" where unknown), rounded first as the format
    would round it, so only the hundred or so distinct ones are formatted."""
    return _each(np.rint(100 * np.asarray(x, float)),
                 lambda v: f"{v:.0f}" if math.isfinite(v) else "?")


def _wholes(x) -> np.ndarray:
    """f"{x:.0f}" of every value, formatted once per distinct whole number."""
    return _each(np.rint(np.asarray(x, float)), lambda v: f"{v:.0f}")


def _category(code, names, lang: str) -> str:
    if not isinstance(code, str) or not code:
        return "?"
    return names.category(code, lang)


def months_ago(months, lang: str) -> str:
    """"this month", "1 month ago", "3 months ago" (本月, 1个月前 …)."""
    n = int(round(float(months))) if np.isfinite(months) else 0
    if n <= 0:
        return label("when.this_month", lang)
    return label("when.month_ago" if n == 1 else "when.months_ago", lang, n=n)


def _category_names(prod: pd.DataFrame) -> dict[tuple[str, str], str]:
    """Chinese category names: the products' `category_zh` column, then the labels file."""
    names: dict[tuple[str, str], str] = {}
    if "category_zh" in prod and "category" in prod:
        known = prod.dropna(subset=["category", "category_zh"]).drop_duplicates("category")
        names.update({("category", str(k)): str(v)
                      for k, v in zip(known["category"], known["category_zh"])})
    names.update(file_labels().names)
    return names


def _each(values, func) -> np.ndarray:
    """`func` of every value, called once per distinct value: a column of a million customers
    holds a few thousand distinct numbers, so the reasons are formatted per value, not per
    customer."""
    return _each_of(func, values)


def _each_of(func, *columns) -> np.ndarray:
    """`func(a, b, …)` for every row of the columns, called once per distinct row."""
    columns = [np.asarray(col, object) for col in columns]
    n = len(columns[0])
    key = np.zeros(n, np.int64)
    for col in columns:
        codes, distinct = pd.factorize(pd.Series(col, dtype=object), use_na_sentinel=False)
        # renumbered after each column, so the key stays below the rows' count, whatever
        # the number of columns and of their distinct values
        key = pd.factorize(key * max(len(distinct), 1) + codes)[0]
    codes, distinct = pd.factorize(key)
    first = np.empty(len(distinct), np.int64)
    first[codes[::-1]] = np.arange(n)[::-1]  # where each distinct row first occurs
    done = np.empty(len(distinct), object)
    done[:] = [func(*(col[i] for col in columns)) for i in first]
    return done[codes]


def _fill(key: str, lang: str, size: int, /, **fields) -> np.ndarray:
    """The label `key` for `n` customers at once, each field a column of texts (or one text);
    each distinct text is made once and shared by the customers it says, so a million
    reasons hold only the few thousand distinct strings."""
    pieces = label(key, lang, **{f: f"\0{f}\0" for f in fields}).split("\0")
    if len(pieces) == 1:
        return np.full(size, pieces[0], object)
    names, tails = pieces[1::2], pieces[2::2]

    def text(*values) -> str:
        return pieces[0] + "".join(v + t for v, t in zip(values, tails))

    return _each_of(text, *(np.broadcast_to(np.asarray(fields[f], object), (size,))
                            for f in names))


def _reasons(c: pd.DataFrame, out: pd.DataFrame, why: dict, prod: pd.DataFrame,
             bundles: _ByCustomer, span: slice, horizon_days: int, lang: str) -> np.ndarray:
    """The one-line reason for each chosen action, from the facts that chose it; written per
    action for all its customers at once."""
    names = prod["name"] if "name" in prod else pd.Series(dtype=object)
    if lang == "zh-CN" and "name_zh" in prod:
        names = prod["name_zh"].where(prod["name_zh"].notna(), names)
    shown = DataLabels(_category_names(prod))
    bund = bundles.rows
    action = out["action"].to_numpy(object)
    reasons = np.full(len(c), label("reason.nurture", lang), object)

    def fact(name, rows, default=np.nan) -> np.ndarray:
        """The customers' `name` at `rows`, `default` where missing or unknown."""
        if name not in c:
            return np.full(len(rows), default, object)
        v = c[name].to_numpy(object)[rows]
        return np.where(pd.isna(v), default, v).astype(object)

    def product_name(sku) -> np.ndarray:
        return _each(sku, lambda s: names.get(s, s))

    def put(mask, key, /, **fields):
        if mask.any():
            reasons[mask] = _fill(key, lang, int(mask.sum()), **fields)

    def number(fmt):
        return lambda v: format(v, fmt)

    quiet = action == "no_contact"
    no_channel = quiet & why["no_channel"]
    put(no_channel, "reason.no_consent")
    capped = quiet & ~why["no_channel"] & why["capped"]
    rows = np.flatnonzero(capped)
    put(capped, "reason.contact_cap", n=_each(why["sent"][rows], lambda v: str(int(v))),
        cap=_each(why["cap"][rows], lambda v: str(int(v))),
        tier=_each(out["tier"].to_numpy(object)[rows],
                   lambda t: value_label("tier", t, lang)))
    rest = quiet & ~why["no_channel"] & ~why["capped"]
    rows = np.flatnonzero(rest)
    put(rest, "reason.not_worth",
        action=_each(why["best"][rows], lambda b: label(f"action.{ACTIONS[b]}", lang)),
        ev=_each(why["best_ev"][rows],
                 lambda v: f"{v:,.2f}" if math.isfinite(v) else "?"))

    mask = action == "upsell"
    rows = np.flatnonzero(mask)
    peer = fact("peer_upgrade_rate", rows).astype(float)
    rate = np.where(np.isfinite(peer), peer, fact("premium_propensity", rows).astype(float))
    put(mask, "reason.upsell",
        tier=_each(fact("current_tier", rows, "mid"),
                   lambda t: value_label("price", str(t), lang)),
        category=_each(fact("main_category", rows, None),
                       lambda code: _category(code, shown, lang)),
        when=_each(fact("months_since_last", rows, 0), lambda m: months_ago(m, lang)),
        rate=_pcts(rate), horizon=f"{horizon_days / 30.4375:.0f}")

    mask = action == "cross_sell"
    rows = np.flatnonzero(mask)
    p = 1 - np.exp(-np.maximum(fact("expected_purchases_90d", rows, 0.0).astype(float), 0.0))
    put(mask, "reason.cross_sell", product=product_name(out["sku"].to_numpy(object)[rows]),
        p=_pcts(p))

    mask = action == "bundle"
    if mask.any():
        b = bund.iloc[bundles.at(span)[mask]]
        put(mask, "reason.bundle", conf=_pcts(b["confidence"].to_numpy(float)),
            a=product_name(b["antecedent"].to_numpy(object)),
            b=product_name(b["consequent"].to_numpy(object)),
            lift=_each(b["lift"].to_numpy(float), number(".1f")))

    mask = action == "retention_offer"
    rows = np.flatnonzero(mask)
    signals = _each_of(lambda en, zh: signal_text(en, zh, lang) or "—",
                       fact("churn_signals", rows, ""), fact("churn_signals_zh", rows, ""))
    put(mask, "reason.retention_offer", risk=_pcts(fact("churn_risk", rows)),
        signals=signals,
        clv=_each(fact("clv", rows, 0.0), number(",.0f")))

    mask = action == "win_back"
    rows = np.flatnonzero(mask)
    put(mask, "reason.win_back", days=_wholes(fact("recency_days", rows, 0)),
        p=_pcts(fact("p_alive", rows)))

    mask = action == "onboarding"
    rows = np.flatnonzero(mask)
    put(mask, "reason.onboarding", days=_wholes(fact("tenure_days", rows, 0)))

    mask = action == "level_nudge"
    rows = np.flatnonzero(mask)
    put(mask, "reason.level_nudge", distance=fact(
        "level_distance_zh" if lang == "zh-CN" else "level_distance_en", rows, "?"))

    mask = action == "referral_ask"
    rows = np.flatnonzero(mask)
    nps = fact("latest_nps", rows).astype(float)
    orders = _wholes(fact("orders", rows, 0))
    known = np.isfinite(nps)
    sub = np.zeros(len(c), bool)
    sub[rows[known]] = True
    put(sub, "reason.referral_ask", nps=_wholes(nps[known]),
        orders=orders[known])
    sub[:] = False
    sub[rows[~known]] = True
    put(sub, "reason.referral_ask_stage", orders=orders[~known])
    return reasons
