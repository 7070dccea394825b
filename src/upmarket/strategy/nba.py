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

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from upmarket.data_labels import DataLabels, file_labels
from upmarket.i18n import label, value_label
from upmarket.models.churn import signal_text
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


def _per_customer(ids: pd.Series, frame: pd.DataFrame | None, col: str, default=np.nan):
    if frame is None or frame.empty:
        return pd.Series(default, index=ids.index)
    s = frame.drop_duplicates("customer_id").set_index("customer_id")[col]
    # a hash look-up of the ids: `isin` on Arrow strings walks the values in Python
    return ids.map(s).where(s.index.get_indexer(ids) >= 0, default)


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
    resp = responses.set_index(["customer_id", "channel"])["responses"] if len(responses) \
        else pd.Series(dtype=float)
    out = np.full(len(ids), None, dtype=object)
    for route_mask, prefs in ((personal, settings.personal_channels),
                              (~personal, settings.automated_channels)):
        if not route_mask.any():
            continue
        sub = ids[route_mask]
        cand = ok[ok["channel"].isin(prefs) & ok["customer_id"].isin(set(sub))]
        if cand.empty:
            continue
        key = pd.MultiIndex.from_frame(cand[["customer_id", "channel"]])
        cand = cand.assign(
            responses=resp.reindex(key).fillna(0).to_numpy() if len(resp) else 0.0,
            pref=cand["channel"].map({c: i for i, c in enumerate(prefs)}))
        best = cand.sort_values(["customer_id", "responses", "pref"],
                                ascending=[True, False, True], kind="stable") \
            .drop_duplicates("customer_id").set_index("customer_id")["channel"]
        out[route_mask] = sub.map(best).to_numpy(object)
    return pd.Series(out, index=customers.index).where(lambda s: s.notna(), None)


def premium_bestsellers(tiered: pd.DataFrame, lines: pd.DataFrame) -> pd.DataFrame:
    """Premium products (`tier_rank` 2 in `tiered`) by category, best-selling first (distinct
    buyers in `lines`, then sku): the `bestsellers` of `product_candidates`."""
    prem = tiered[tiered["tier_rank"] == 2]
    buyers = lines[lines["sku"].isin(set(prem["sku"]))].groupby("sku")["customer_id"].nunique()
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
    lad = ladder.drop_duplicates("sku").set_index("sku")
    r = recommendations.assign(category=recommendations["sku"].map(lad["category"]),
                               rank_tier=recommendations["sku"].map(lad["tier_rank"]))
    reach = reached.set_index(["customer_id", "category"])["highest_rank"]
    key = pd.MultiIndex.from_arrays([r["customer_id"], r["category"]])
    top = reach.reindex(key).to_numpy(float)
    up = (r["rank_tier"].to_numpy(float) == 2) & ~(top >= 2)
    order = ["customer_id", "rank"]
    upsell = r[up].sort_values(order).drop_duplicates("customer_id")[["customer_id", "sku"]]
    cross = r[~up].sort_values(order).drop_duplicates("customer_id")[["customer_id", "sku"]]
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

    Returns the columns of `COLUMNS`; `reason_en` / `reason_zh` say why in one line.
    """
    c = customers.reset_index(drop=True)
    ids = c["customer_id"].astype(str)
    n = len(c)
    tier = c["tier"].astype(str)
    prod = products.drop_duplicates("sku").set_index("sku")
    margin_rate = _col(c, "margin_rate").fillna(settings.default_margin_rate).clip(0, 1)
    eov = _col(c, "expected_order_value").fillna(_col(c, "monetary")).fillna(0.0).clip(lower=0)
    p_buy90 = 1 - np.exp(-_col(c, "expected_purchases_90d", 0.0).fillna(0.0).clip(lower=0))
    clv = _col(c, "clv", 0.0).fillna(0.0).clip(lower=0)
    churn = _col(c, "churn_risk").fillna(0.0)
    stage = _col(c, "lifecycle_stage", "").fillna("")
    lapsed = (stage == "lapsed").to_numpy()
    cost_of_contact = tier.map(contact_costs(c.assign(tier=tier), policy)).fillna(0.0)

    def product_terms(frame: pd.DataFrame | None, sku_col: str = "sku"):
        sku = _per_customer(ids, frame, sku_col, None)
        price = sku.map(prod["price"]) if "price" in prod else pd.Series(np.nan, index=ids.index)
        cost = sku.map(prod["cost"]) if "cost" in prod else pd.Series(np.nan, index=ids.index)
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

    sku, price, rate = product_terms(upsell)
    p_up = _col(c, "premium_propensity").to_numpy(float)
    put("upsell", np.where(sku.notna(), p_up, np.nan), gain("upsell", price, rate), sku)
    sku, price, rate = product_terms(cross_sell)
    put("cross_sell", np.where(sku.notna(), p_buy90 * settings.cross_sell_share, np.nan),
        gain("cross_sell", price, rate), sku)
    conf = _per_customer(ids, bundles, "confidence").to_numpy(float)
    sku, price, rate = product_terms(bundles, "consequent")
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
    referral_value = pd.Series(float(clv.mean()) if n else 0.0, index=c.index)
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

    channel = choose_channel(c.assign(customer_id=ids, tier=tier),
                             consents if consents is not None else
                             pd.DataFrame(columns=["customer_id", "channel", "granted"]),
                             responses if responses is not None else
                             pd.DataFrame(columns=["customer_id", "channel", "responses"]),
                             settings)
    sent = _per_customer(ids, contacts, "contacts", 0).fillna(0).astype(int)
    cap = tier.map({t: policy.level(t).contacts_per_month for t in TIER_ORDER})
    capped = (sent >= cap).to_numpy()
    no_channel = channel.isna().to_numpy()
    worth = best_ev > 0
    act = np.where(worth & ~capped & ~no_channel, np.array(ACTIONS[:-1], dtype=object)[best],
                   "no_contact")

    rows = np.arange(n)
    chosen = np.array([col[a] for a in act])
    is_contact = act != "no_contact"
    hour = _per_customer(ids, hours, "active_hour").to_numpy(float)
    hour = np.where(np.isfinite(hour), hour, settings.default_send_hour)
    personal = tier.isin(PERSONAL_TIERS).to_numpy()
    lo, hi = settings.working_hours
    hour = np.where(personal & ((hour < lo) | (hour > hi)), settings.default_send_hour, hour)
    offer_type = [(settings.offers.get(a).type if settings.offers.get(a) else None)
                  if a != "no_contact" else None for a in act]
    offer_value = [(_offer_value(a, settings) if settings.offers.get(a) else np.nan)
                   if a != "no_contact" else np.nan for a in act]
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
    out["reason_en"] = _reasons(c, out, why, prod, bundles, premium_horizon_days, "en")
    out["reason_zh"] = _reasons(c, out, why, prod, bundles, premium_horizon_days, "zh-CN")
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


def _pct(x) -> str:
    return f"{100 * float(x):.0f}" if np.isfinite(x) else "?"


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


def _reasons(c: pd.DataFrame, out: pd.DataFrame, why: dict, prod: pd.DataFrame,
             bundles: pd.DataFrame | None, horizon_days: int, lang: str) -> list[str]:
    """The one-line reason for each chosen action, from the facts that chose it."""
    names = prod["name"] if "name" in prod else pd.Series(dtype=object)
    if lang == "zh-CN" and "name_zh" in prod:
        names = prod["name_zh"].where(prod["name_zh"].notna(), names)
    shown = DataLabels(_category_names(prod))
    bund = bundles.drop_duplicates("customer_id").set_index("customer_id") \
        if bundles is not None and len(bundles) else None
    get = lambda r, k, d=np.nan: r[k] if k in r and pd.notna(r[k]) else d  # noqa: E731
    facts = ["churn_signals", "churn_signals_zh", "churn_risk", "clv", "current_tier", "main_category",
             "months_since_last", "peer_upgrade_rate", "premium_propensity", "recency_days",
             "p_alive", "tenure_days", "latest_nps", "orders", "expected_purchases_90d",
             "level_distance_en", "level_distance_zh"]
    # plain object arrays: iterating Arrow-backed columns row by row is 10× slower
    cols = {k: c[k].to_numpy(object) for k in facts if k in c}
    records = ({k: v[i] for k, v in cols.items()} for i in range(len(c)))
    brief = out[["customer_id", "tier", "action", "sku"]].astype(object)
    reasons = []
    for i, (r, o) in enumerate(zip(records, brief.itertuples(index=False))):
        a = o.action
        if a == "no_contact":
            if why["no_channel"][i]:
                text = label("reason.no_consent", lang)
            elif why["capped"][i]:
                text = label("reason.contact_cap", lang, n=int(why["sent"][i]),
                             cap=int(why["cap"][i]), tier=value_label("tier", o.tier, lang))
            else:
                best_ev = why["best_ev"][i]
                text = label("reason.not_worth", lang,
                             action=label(f"action.{ACTIONS[why['best'][i]]}", lang),
                             ev=f"{best_ev:,.2f}" if np.isfinite(best_ev) else "?")
        elif a == "upsell":
            rate = get(r, "peer_upgrade_rate")
            text = label("reason.upsell", lang,
                         tier=value_label("price", str(get(r, "current_tier", "mid")), lang),
                         category=_category(get(r, "main_category", None), shown, lang),
                         when=months_ago(get(r, "months_since_last", 0), lang),
                         rate=_pct(rate if np.isfinite(rate) else get(r, "premium_propensity")),
                         horizon=f"{horizon_days / 30.4375:.0f}")
        elif a == "cross_sell":
            p = 1 - np.exp(-max(float(get(r, "expected_purchases_90d", 0.0)), 0.0))
            text = label("reason.cross_sell", lang, product=names.get(o.sku, o.sku), p=_pct(p))
        elif a == "bundle":
            b = bund.loc[o.customer_id]
            text = label("reason.bundle", lang, conf=_pct(b["confidence"]),
                         a=names.get(b["antecedent"], b["antecedent"]),
                         b=names.get(b["consequent"], b["consequent"]), lift=f"{b['lift']:.1f}")
        elif a == "retention_offer":
            signals = signal_text(get(r, "churn_signals", ""), get(r, "churn_signals_zh", ""),
                                  lang)
            text = label("reason.retention_offer", lang, risk=_pct(get(r, "churn_risk")),
                         signals=signals or "—",
                         clv=f"{get(r, 'clv', 0.0):,.0f}")
        elif a == "win_back":
            text = label("reason.win_back", lang, days=f"{get(r, 'recency_days', 0):.0f}",
                         p=_pct(get(r, "p_alive")))
        elif a == "onboarding":
            text = label("reason.onboarding", lang, days=f"{get(r, 'tenure_days', 0):.0f}")
        elif a == "level_nudge":
            text = label("reason.level_nudge", lang, distance=get(
                r, "level_distance_zh" if lang == "zh-CN" else "level_distance_en", "?"))
        elif a == "referral_ask":
            nps = get(r, "latest_nps")
            orders = f"{get(r, 'orders', 0):.0f}"
            text = label("reason.referral_ask", lang, nps=f"{nps:.0f}", orders=orders) \
                if np.isfinite(nps) else label("reason.referral_ask_stage", lang, orders=orders)
        else:
            text = label("reason.nurture", lang)
        reasons.append(text)
    return reasons
