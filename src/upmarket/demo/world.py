"""A seeded synthetic store ("the demo world") with ground truth, for `upmarket demo`, tests and
benchmarks.

`generate_world(config)` yields `(table_name, DataFrame)` pairs whose columns are those of
`upmarket.warehouse.schema.TABLES[table_name]`. Global tables (products, promotions, campaigns,
marketing_spend, brand_survey) come first, then each chunk of customers yields its customers,
orders, events, payments, service_tickets, feedback, consents and truth_customers, and
truth_channels comes last. Only one chunk is in memory at a time, so a million customers (tens of
millions of order lines) can be generated in bounded memory.

The generative story
--------------------
* Acquisition: customers register over the history (growing over time, with bumps during big
  promotions) through one of `CHANNELS`; the first purchase follows the registration within
  minutes.
* Purchasing is BG/NBD (Fader, Hardie & Lee 2005): while alive a customer buys as a Poisson
  process with rate ``lambda ~ Gamma(r, alpha)``; after every repeat purchase she drops out with
  probability ``p ~ Beta(a, b)``. Calendar time is warped by promotion windows (双11, 618, …):
  promotion-dependent customers concentrate their purchases in them.
* Order value is heterogeneous (Gamma-distributed basket size per customer, quantity, and the
  price tier of each line), as in the Gamma-Gamma spend model.
* Price-tier ladder: every customer has a main category and a tier state (basic → mid →
  premium). After each purchase the state may step up, with a per-purchase probability that rises
  with income, purchase rate and (for B2B) company size; lines are mostly bought at the current
  state. Upgrades are therefore predictable from history: recent mid-tier buyers with higher
  income and frequency move up most.
* Marketing: every conversion has a path of touchpoints (impressions, clicks, page views, add to
  cart, purchase) whose touches have roles (see `_events`). The *initiating* touch (the
  acquisition channel for a first order, a retention channel for half of the repeat orders)
  comes hours to days before the purchase, and the conversion is *incremental* to its channel
  only with that channel's true effect probability; a *closing* touch (branded search, the
  WeChat mini-program, the store's QR code) comes minutes before and only harvests demand;
  *ambient* impressions reach everyone at a constant rate, buyer or not. Touches made before a
  customer registers carry only the device's anonymous id (her register event links the two).
  So last-touch attribution over-credits the closing channels, and presence-based models
  (Markov removal effects, Shapley) the frequent ambient ones, in known ways.
* Campaigns run A/B tests: a touch in a campaign's channel during its dates is an exposure, and
  each person exposed is in one arm per campaign ("A" control, "B" treatment, in the split its
  ``arms`` plans), carried by all her exposures. Arm B converts within
  `EXPERIMENT_WINDOW_DAYS` of the first exposure (1 + uplift)× as often as arm A (see `_arms`
  for how, without touching the orders).

Ground truth
------------
``truth_customers`` (one row per customer; the simulation is run on to
``horizon = as_of + future_days``):

* ``upgrades_to_premium`` — the customer's first *paid premium-tier product line* (any category,
  status paid, gifts excluded) has a timestamp in ``(as_of, horizon]``; i.e. she never bought
  premium up to ``as_of`` and does within the window. ``upgrade_ts`` is that timestamp (NaT
  otherwise).
* ``churned`` — the latent BG/NBD dropout has happened by ``horizon`` (dropout happens right after
  a repeat purchase, so ``churn_ts`` — the dropout moment, NaT if alive — equals the time of the
  customer's last purchase). ``churn_ts <= as_of`` means already dead at the as-of date (what
  P(alive) estimates); ``as_of < churn_ts <= horizon`` means she dies within the window.

``truth_channels``: for each channel, the number of conversions (orders with ``ts <= as_of``,
first purchases included) that would not have happened without that channel's touch: those whose
initiating touch was incremental. Closing and ambient touches never are.

``campaign_uplifts(config)`` (not stored in the warehouse): each campaign's planned treatment
share and true relative uplift of the conversion rate, for an A/B analysis to recover.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Iterator

import numpy as np
import pandas as pd

from upmarket.errors import UpmarketError
from upmarket.warehouse.schema import PROMOTION_TYPES, TABLES

__all__ = ["WorldConfig", "generate_world", "campaign_uplifts", "BadWorldConfig", "CHANNELS",
           "EXPERIMENT_WINDOW_DAYS", "WORLDS"]


#: The worlds `WorldConfig.world` can select: "btyd", whose processes are the models' own
#: assumptions, and "realistic", whose are not (see `upmarket.demo.realistic`).
WORLDS = ("btyd", "realistic")


class BadWorldConfig(UpmarketError, ValueError):
    """The demo world was asked for something impossible (no customers, no history …)."""


@dataclass(frozen=True)
class WorldConfig:
    customers: int = 20_000
    seed: int = 0
    start: datetime = datetime(2024, 1, 1)  # first day of history
    years: float = 2.0  # history length; as_of = start + years
    future_days: int = 180  # ground-truth horizon after as_of
    chunk_customers: int = 50_000  # customers generated per chunk
    world: str = "btyd"  # purchasing, dropout and upgrade process: one of `WORLDS`

    def __post_init__(self) -> None:
        if self.world not in WORLDS:
            raise BadWorldConfig(
                f"world must be one of {', '.join(WORLDS)} (got {self.world!r})."
            )
        if int(self.customers) < 1:
            raise BadWorldConfig(f"customers must be at least 1 (got {self.customers}).")
        if not self.years > 0:
            raise BadWorldConfig(f"years of history must be positive (got {self.years}).")
        if int(self.future_days) < 1:
            raise BadWorldConfig(f"future_days must be at least 1 (got {self.future_days}).")
        if int(self.chunk_customers) < 1:
            raise BadWorldConfig(
                f"chunk_customers must be at least 1 (got {self.chunk_customers})."
            )

    @property
    def as_of(self) -> datetime:
        """End of history: `start` plus `years` (whole years on the calendar, the rest in days)."""
        whole = int(math.floor(self.years))
        frac = self.years - whole
        year = self.start.year + whole
        try:
            d = self.start.replace(year=year)
        except ValueError:  # 29 February
            d = self.start.replace(year=year, day=28)
        return d + timedelta(seconds=round(frac * 365.25 * 86400))

    @property
    def horizon(self) -> datetime:
        """End of the ground-truth window: `as_of + future_days`."""
        return self.as_of + timedelta(days=int(self.future_days))


# --------------------------------------------------------------------------------------------
# The world's fixed vocabulary
# --------------------------------------------------------------------------------------------

CHANNELS = ("search", "social", "email", "wechat", "douyin", "xiaohongshu", "offline", "referral")
#: Share of new customers acquired through each channel.
_ACQ_SHARE = np.array([0.22, 0.12, 0.05, 0.18, 0.15, 0.12, 0.08, 0.08])
#: True effect: probability that a conversion touched by the channel is incremental to it.
_EFFECT = np.array([0.45, 0.12, 0.35, 0.50, 0.28, 0.40, 0.25, 0.70])
#: Which channel touches a repeat purchase (retention channels dominate).
_RETENTION_W = np.array([0.20, 0.05, 0.25, 0.30, 0.08, 0.07, 0.03, 0.02])
#: Exposure of non-causal touches (impressions that rarely matter).
_EXPOSURE_W = np.array([0.16, 0.28, 0.10, 0.10, 0.20, 0.12, 0.02, 0.02])
#: Mean days from a journey's initiating touch to the purchase, by channel: awareness and
#: consideration channels (social, douyin, xiaohongshu) start journeys days ahead, a referral a
#: few days, a search or a message (email, WeChat) within the day, the store's QR code at the
#: visit itself.
_LEAD_DAYS = np.array([1.0, 6.0, 0.5, 0.5, 5.0, 7.0, 0.1, 3.0])
#: Closing touch by the order's channel (online, app, wechat, offline; -1: none recorded) and how
#: often it is recorded: the route a decided buyer takes to the checkout — a branded search
#: before a web order, the WeChat mini-program before a WeChat order, the store's QR code at an
#: offline one. It harvests demand, it does not create it (Blake, Nosko & Tadelis 2015).
_CLOSER_CH = np.array([0, -1, 3, 6])
_CLOSER_P = np.array([0.5, 0.0, 0.6, 0.5])
#: Ambient exposure: always-on impressions (and some clicks) per day of a person's life, from
#: 30 days before she registers to the end of history, whatever she intends to buy. About one
#: recorded exposure every 4-5 months: the volume of the first version's "noise touches" (0.5 per
#: order), spread over people's lives instead of placed just before their purchases.
_AMBIENT_RATE = 1.0 / 140.0
#: The conversion window of the campaigns' A/B tests (days after a person's first exposure): the
#: window over which a campaign's true uplift holds; the default of
#: `strategy.measurement.MeasurementSettings.experiment_window_days`.
EXPERIMENT_WINDOW_DAYS = 30
_UTM_SOURCE = ("baidu", "weibo", "newsletter", "wechat", "douyin", "xiaohongshu", "store_qr",
               "friend")
_UTM_MEDIUM = ("cpc", "social", "email", "social", "video", "social", "qr", "referral")
#: Media cost per expected new customer (CNY) and sales-team share of media cost.
_CAC_MEDIA = np.array([120.0, 90.0, 30.0, 80.0, 110.0, 100.0, 150.0, 50.0])
_SALES_SHARE = np.array([0.08, 0.08, 0.05, 0.30, 0.10, 0.10, 0.60, 0.15])
_COST_TYPES = ("media", "sales_team", "technical_support", "overhead")

ORDER_CHANNELS = ("online", "app", "wechat", "offline")

# key, English, Chinese, basic base price, consumable, popularity, subcategories, SKU code
_CATEGORIES = (
    ("coffee_machines", "Coffee machine", "咖啡机", 499.0, False, 0.08,
     ("espresso", "drip", "capsule"), "CM"),
    ("coffee_beans", "Coffee beans", "咖啡豆", 59.0, True, 0.14, ("single_origin", "blend"), "CB"),
    ("grinders", "Grinder", "磨豆机", 199.0, False, 0.05, ("burr", "blade"), "GR"),
    ("cookware", "Cookware", "厨具", 129.0, False, 0.11, ("pan", "pot", "knife"), "CW"),
    ("skincare", "Skincare", "护肤品", 89.0, True, 0.16, ("serum", "cream", "cleanser"), "SK"),
    ("headphones", "Headphones", "耳机", 199.0, False, 0.10, ("in_ear", "over_ear"), "HP"),
    ("tea", "Tea", "茶叶", 69.0, True, 0.12, ("green", "oolong", "puer"), "TE"),
    ("smartwatches", "Smartwatch", "智能手表", 599.0, False, 0.07, ("sport", "classic"), "SW"),
    ("bedding", "Bedding", "床品", 259.0, False, 0.08, ("duvet", "pillow", "sheet"), "BD"),
    ("luggage", "Luggage", "箱包", 299.0, False, 0.09, ("carry_on", "backpack"), "LG"),
)
_RELATED = {
    0: (1, 2), 1: (0, 2), 2: (1, 0), 3: (6, 8), 4: (8, 9),
    5: (7, 9), 6: (3, 1), 7: (5,), 8: (3, 4), 9: (5, 4),
}
_TIER_NAMES = ("basic", "mid", "premium")
_TIER_EN = ("Essential", "Plus", "Signature")
_TIER_ZH = ("基础款", "进阶款", "旗舰款")

_COUNTRIES = ("CN", "HK", "TW", "SG", "US", "JP", "GB")
_COUNTRY_P = np.array([0.93, 0.02, 0.01, 0.015, 0.01, 0.005, 0.01])
_GENDERS = np.array(["F", "M", None], dtype=object)
_OCCUPATIONS = ("office_worker", "manager", "professional", "self_employed", "civil_servant",
                "freelancer", "worker", "student", "retired")
_OCC_P = np.array([0.34, 0.10, 0.16, 0.10, 0.08, 0.10, 0.12])  # the working ones
_INCOME_BANDS = ("<5k", "5k-10k", "10k-20k", "20k-50k", "50k+")  # monthly CNY
_INDUSTRIES = ("manufacturing", "retail", "hospitality", "it_services", "education",
               "healthcare", "finance")
_CONSENT_CHANNELS = ("email", "sms", "wechat", "phone", "app_push")
_CONSENT_OPTOUT = np.array([0.12, 0.20, 0.07, 0.28, 0.15])

#: Hour-of-day profile of activity (Chinese e-commerce: lunch and late evening peaks).
_HOUR_W = np.array([1.5, 0.8, 0.4, 0.2, 0.2, 0.3, 0.8, 1.8, 3.0, 4.0, 4.5, 5.0,
                    6.0, 5.5, 4.5, 4.2, 4.0, 4.2, 4.8, 5.8, 7.0, 7.5, 6.5, 3.5])

_TICKET_KINDS = ("complaint", "request", "delivery_delay", "question", "return")
_TICKET_TEXT = {
    "complaint": ("商品有划痕，包装也破了，非常失望", "客服一直没解决我的问题", "质量和描述不符",
                  "The product arrived scratched and the box was damaged.",
                  "Support still has not solved my problem.",
                  "Quality does not match the description."),
    "request": ("请帮我开具增值税发票", "能否修改收货地址？", "想预约上门安装",
                "Please issue a VAT invoice.", "Can I change the delivery address?",
                "I would like to book an installation."),
    "delivery_delay": ("快递超时好几天了还没到", "物流太慢，承诺的送达时间没做到",
                       "My parcel is several days late.",
                       "Delivery missed the promised date."),
    "question": ("请问这款咖啡机怎么除垢？", "会员积分怎么使用？", "这个型号和旗舰款有什么区别？",
                 "How do I descale the coffee machine?", "How can I use my points?",
                 "What is the difference between this model and the Signature one?"),
    "return": ("尺寸不合适，申请退货", "七天无理由退货", "Wrong size, I would like to return it.",
               "Requesting a return within 7 days."),
}
_TICKET_CHANNELS = ("phone", "online_chat", "wechat", "email")
_FEEDBACK_TEXT = {
    "positive": ("非常满意，会推荐给朋友", "质量很好，物流也快", "服务很贴心，下次还来", "旗舰款真的值",
                 "Love it, will recommend it to friends.", "Great quality and fast delivery.",
                 "Excellent service, will buy again.", "The premium line is worth every yuan."),
    "neutral": ("还可以，价格有点贵", "整体不错，包装一般", "It's okay, a bit pricey.",
                "Decent overall, the packaging could be better."),
    "negative": ("太失望了，不会再买了", "物流太慢，客服也不回复", "质量差，和描述不符",
                 "Very disappointed, I won't buy again.",
                 "Slow delivery and no reply from support.", "Poor quality, not as described."),
}
_FEEDBACK_CHANNELS = ("email", "sms", "wechat", "app")

_EVENTS = ("ad_impression", "click", "page_view", "register", "add_to_cart", "purchase")
_EVENT_TYPE = np.array(["track", "track", "page", "identify", "track", "track"], dtype=object)
_IMP, _CLICK, _PAGE, _REGISTER, _CART, _PURCHASE = range(6)

_LUNAR_NEW_YEAR = {
    2018: (2, 16), 2019: (2, 5), 2020: (1, 25), 2021: (2, 12), 2022: (2, 1), 2023: (1, 22),
    2024: (2, 10), 2025: (1, 29), 2026: (2, 17), 2027: (2, 6), 2028: (1, 26), 2029: (2, 13),
    2030: (2, 3), 2031: (1, 23), 2032: (2, 11), 2033: (1, 31), 2034: (2, 19), 2035: (2, 8),
}

# BG/NBD and spend parameters (per day); chosen so that 20k customers over two years give
# roughly 200k order lines.
_R, _ALPHA = 0.85, 0.85 / (9.5 / 365.0)  # lambda ~ Gamma(r, scale=1/alpha): mean 9.5/year
_A, _B = 1.3, 7.0  # p ~ Beta(a, b)
_PT = {name: i for i, name in enumerate(PROMOTION_TYPES)}


# --------------------------------------------------------------------------------------------
# Global context: catalogue, calendar, promotions, campaigns
# --------------------------------------------------------------------------------------------


@dataclass
class _Promo:
    name: str
    type: str
    start: float  # days since start
    end: float
    threshold: float
    value: float
    lift: float
    category: int = -1
    categories: tuple[int, ...] = ()
    channel: str | None = None
    gift_sku: int = -1


class _Context:
    """Everything shared by the chunks, built once from the global random stream."""

    def __init__(self, cfg: WorldConfig):
        self.cfg = cfg
        rng = np.random.default_rng([int(cfg.seed), 0])
        self.start = cfg.start
        self.start64 = np.datetime64(cfg.start.replace(tzinfo=None), "ns")
        self.T = (cfg.as_of - cfg.start).total_seconds() / 86400.0
        self.E = self.T + int(cfg.future_days)
        self.D = int(math.ceil(self.E)) + 1  # days on the grid
        self.id_width = max(6, len(str(int(cfg.customers))))
        self.hour_cdf = np.cumsum(_HOUR_W) / _HOUR_W.sum()
        self.days64 = np.datetime64(cfg.start.date(), "D") + np.arange(self.D)
        self._catalogue(rng)
        self._promotions(rng)
        self._calendar()
        self._campaigns(rng)
        self.spend_noise_seed = int(rng.integers(2**31))
        self.survey_seed = int(rng.integers(2**31))

    # ---- catalogue
    def _catalogue(self, rng: np.random.Generator) -> None:
        k = int(np.clip(round(10 * math.sqrt(self.cfg.customers / 20_000)), 3, 160))
        self.k = k
        ncat = len(_CATEGORIES)
        rows = []
        price = np.empty(ncat * 3 * k)
        cost = np.empty_like(price)
        for c, (key, en, zh, base, consumable, _pop, subs, code) in enumerate(_CATEGORIES):
            mults = (1.0, rng.uniform(1.8, 2.4), rng.uniform(3.8, 6.5))
            margins = ((0.22, 0.32), (0.32, 0.42), (0.48, 0.60))
            for tier in range(3):
                raw = base * mults[tier] * rng.uniform(0.8, 1.2, size=k)
                p = np.maximum(np.round(raw / 10.0) * 10.0 - 1.0, 9.0)
                m = rng.uniform(*margins[tier], size=k)
                for j in range(k):
                    i = (c * 3 + tier) * k + j
                    price[i] = p[j]
                    cost[i] = round(p[j] * (1.0 - m[j]), 2)
                    rows.append((
                        f"{code}-{'BMP'[tier]}{j + 1:03d}",
                        f"{zh} {_TIER_ZH[tier]} · {en} {_TIER_EN[tier]} {j + 1:02d}",
                        key, subs[j % len(subs)], tier, consumable,
                    ))
        self.sku = np.array([r[0] for r in rows], dtype=object)
        self.price, self.cost = price, cost
        self.sku_cat = np.repeat(np.arange(ncat), 3 * k)
        self.sku_tier = np.tile(np.repeat(np.arange(3), k), ncat)
        self.consumable = np.array([c[4] for c in _CATEGORIES])
        self.products = _frame("products", {
            "sku": self.sku,
            "name": np.array([r[1] for r in rows], dtype=object),
            "category": np.array([r[2] for r in rows], dtype=object),
            "subcategory": np.array([r[3] for r in rows], dtype=object),
            "price": price.copy(),
            "cost": cost.copy(),
            "price_tier": np.array(_TIER_NAMES, dtype=object)[self.sku_tier],
            "consumable": np.array([r[5] for r in rows], dtype=bool),
        })
        pop = np.array([c[5] for c in _CATEGORIES])
        self.pop = pop / pop.sum()
        cross = np.tile(self.pop, (ncat, 1))
        for m, rel in _RELATED.items():
            cross[m, list(rel)] += 0.25
            cross[m, m] = 0.0
        cross /= cross.sum(axis=1, keepdims=True)
        self.cross_cdf = np.cumsum(cross, axis=1)
        self.cross_cdf[:, -1] = 1.0

    def sku_in(self, cat: int, tier: int, j: int = 0) -> int:
        return (cat * 3 + tier) * self.k + j

    # ---- promotions
    def _day(self, d: date) -> float:
        return (datetime(d.year, d.month, d.day) - self.start).total_seconds() / 86400.0

    def _promotions(self, rng: np.random.Generator) -> None:
        promos: list[_Promo] = []
        end_year = (self.start + timedelta(days=self.E)).year
        skincare, beans, tea = 4, 1, 6
        for y in range(self.start.year, end_year + 1):
            lm, ld = _LUNAR_NEW_YEAR.get(y, (2, 1))
            lny = date(y, lm, ld)
            fest = [
                _Promo(f"{y} 年货节 New Year goods fair", "percent_discount",
                       self._day(lny - timedelta(days=21)), self._day(lny - timedelta(days=7)),
                       0.0, 0.10, 1.5),
                _Promo(f"{y} 38女王节 Queen's day skincare flash sale", "time_limited",
                       self._day(date(y, 3, 1)), self._day(date(y, 3, 8)) + 1, 0.0, 0.20, 1.6,
                       category=skincare),
                _Promo(f"{y} 520 礼遇 gift with purchase", "gift",
                       self._day(date(y, 5, 14)), self._day(date(y, 5, 20)) + 1, 299.0, 0.0,
                       1.3, gift_sku=self.sku_in(beans, 0)),
                _Promo(f"{y} 618 年中大促 每满300减50", "threshold_discount",
                       self._day(date(y, 6, 1)), self._day(date(y, 6, 18)) + 1, 300.0, 50.0,
                       2.2),
                _Promo(f"{y} 99 会员日 double points", "points",
                       self._day(date(y, 9, 7)), self._day(date(y, 9, 9)) + 1, 0.0, 0.05, 1.3),
                _Promo(f"{y} 双11 狂欢节 每满300减50", "threshold_discount",
                       self._day(date(y, 10, 24)), self._day(date(y, 11, 11)) + 1, 300.0, 50.0,
                       3.0),
                _Promo(f"{y} 双12 coupon 满199减30", "coupon",
                       self._day(date(y, 12, 10)), self._day(date(y, 12, 12)) + 1, 199.0, 30.0,
                       1.6, channel="app"),
            ]
            promos += fest
        n_rand = int(round(6 * self.E / 365.25))
        kinds = ("coupon", "bundle", "time_limited", "percent_discount", "points")
        for i in range(n_rand):
            kind = kinds[i % len(kinds)]
            s = float(rng.uniform(0, max(self.E - 3, 1)))
            if kind == "coupon":
                thr = float(rng.choice([99.0, 199.0, 299.0]))
                val = float(rng.choice([10.0, 20.0, 30.0])) * thr / 99.0 // 10 * 10
                p = _Promo(f"Coupon 满{thr:.0f}减{val:.0f} #{i + 1}", kind, s,
                           s + float(rng.integers(14, 31)), thr, val, 1.15,
                           channel="wechat" if rng.random() < 1 / 3 else None)
            elif kind == "bundle":
                cats = ((0, 1, 2), (4, 8), (5, 7), (3, 6))[int(rng.integers(4))]
                p = _Promo(f"Bundle 搭配购 {'+'.join(_CATEGORIES[c][2] for c in cats)} #{i + 1}",
                           kind, s, s + float(rng.integers(7, 15)), 2.0,
                           float(rng.choice([0.10, 0.15])), 1.2, categories=cats)
            elif kind == "time_limited":
                cat = int(rng.integers(len(_CATEGORIES)))
                p = _Promo(f"Flash sale 限时抢购 {_CATEGORIES[cat][2]} #{i + 1}", kind, s,
                           s + float(rng.integers(2, 4)), 0.0, float(rng.choice([0.2, 0.3])),
                           1.4, category=cat)
            elif kind == "percent_discount":
                zhe = int(rng.integers(85, 95))  # 8.5折 … 9.4折
                p = _Promo(f"Member week 会员周 {zhe / 10:g}折 #{i + 1}", kind, s,
                           s + float(rng.integers(3, 6)), 0.0, round(1 - zhe / 100, 2), 1.3)
            else:
                p = _Promo(f"Points boost 积分加倍 #{i + 1}", kind, s, s + float(rng.integers(3, 8)),
                           0.0, 0.03, 1.15)
            promos.append(p)
        promos = [p for p in promos if p.end > 0 and p.start < self.E]
        promos.sort(key=lambda p: (p.start, p.name))
        self.promos = promos
        n = len(promos)
        self.p_type = np.array([_PT[p.type] for p in promos], dtype=np.int64)
        self.p_thr = np.array([p.threshold for p in promos])
        self.p_val = np.array([p.value for p in promos])
        self.p_cat = np.array([p.category for p in promos], dtype=np.int64)
        self.p_mask = np.array([sum(1 << c for c in p.categories) for p in promos],
                               dtype=np.int64)
        self.p_chan = np.array([ORDER_CHANNELS.index(p.channel) if p.channel else -1
                                for p in promos], dtype=np.int64)
        self.p_gift = np.array([p.gift_sku for p in promos], dtype=np.int64)
        self.p_ids = np.array([f"P{i + 1:03d}" for i in range(n)], dtype=object)
        rows = {k: [] for k in ("promotion_id", "name", "type", "start", "end", "rules",
                                "threshold", "value", "cost_per_use", "channel")}
        for i, p in enumerate(promos):
            if p.type == "threshold_discount":
                rules = (f'{{"per_each": true, "threshold": {p.threshold:.0f}, '
                         f'"off": {p.value:.0f}}}')
                cpu = p.value * 1.4
            elif p.type == "coupon":
                rules = f'{{"min_spend": {p.threshold:.0f}, "off": {p.value:.0f}}}'
                cpu = p.value + 1.0
            elif p.type == "gift":
                g = self.sku[p.gift_sku]
                rules = f'{{"min_spend": {p.threshold:.0f}, "gift_sku": "{g}"}}'
                cpu = float(self.cost[p.gift_sku]) + 3.0
            elif p.type == "bundle":
                cats = ", ".join(f'"{_CATEGORIES[c][0]}"' for c in p.categories)
                rules = (f'{{"min_items": 2, "categories": [{cats}], '
                         f'"percent_off": {p.value * 100:.0f}}}')
                cpu = p.value * 500.0
            elif p.type == "time_limited":
                rules = (f'{{"category": "{_CATEGORIES[p.category][0]}", '
                         f'"percent_off": {p.value * 100:.0f}}}')
                cpu = p.value * 300.0
            elif p.type == "points":
                rules = f'{{"points_per_yuan": 2, "redeem_share": {p.value:.2f}}}'
                cpu = p.value * 350.0
            else:  # percent_discount
                rules = f'{{"percent_off": {p.value * 100:.0f}}}'
                cpu = p.value * 300.0
            rows["promotion_id"].append(self.p_ids[i])
            rows["name"].append(p.name)
            rows["type"].append(p.type)
            rows["start"].append(p.start)
            rows["end"].append(p.end - 1.0 / 86400)
            rows["rules"].append(rules)
            rows["threshold"].append(p.threshold)
            rows["value"].append(p.value)
            rows["cost_per_use"].append(round(cpu, 2))
            rows["channel"].append(p.channel)
        self.promotions = _frame("promotions", {
            "promotion_id": np.array(rows["promotion_id"], dtype=object),
            "name": np.array(rows["name"], dtype=object),
            "type": np.array(rows["type"], dtype=object),
            "start": self.ts(np.array(rows["start"])),
            "end": self.ts(np.array(rows["end"])),
            "rules": np.array(rows["rules"], dtype=object),
            "threshold": np.array(rows["threshold"], dtype=float),
            "value": np.array(rows["value"], dtype=float),
            "cost_per_use": np.array(rows["cost_per_use"], dtype=float),
            "channel": np.array(rows["channel"], dtype=object),
        })

    # ---- calendar: intensity multipliers, active promotion per day, acquisition density
    def _calendar(self) -> None:
        D = self.D
        lift = np.ones(D)
        self.day_promo = np.full(D, -1, dtype=np.int64)
        best = np.zeros(D)
        for i, p in enumerate(self.promos):
            a, b = max(int(math.floor(p.start)), 0), min(int(math.ceil(p.end)), D)
            sl = slice(a, b)
            better = p.lift > best[sl]
            self.day_promo[sl] = np.where(better, i, self.day_promo[sl])
            best[sl] = np.maximum(best[sl], p.lift)
            lift[sl] = np.maximum(lift[sl], p.lift)
        self.lift = lift
        dow = (self.days64.view("int64") - 4) % 7  # 0 = Monday (1970-01-01 was a Thursday)
        weekly = np.where(dow >= 5, 1.12, 0.95)
        hist_days = max(int(math.ceil(self.T)), 1)
        grid = np.arange(D + 1, dtype=float)
        self.grid = grid
        for name, k in (("lam_n", 0.5), ("lam_d", 3.0)):
            m = weekly * (1.0 + k * (lift - 1.0))
            m = m / m[:hist_days].mean()
            setattr(self, name, np.concatenate([[0.0], np.cumsum(m)]))
        d = np.arange(hist_days, dtype=float)
        acq = (1.0 + d / hist_days) * (1.0 + 0.6 * (lift[:hist_days] - 1.0)) * weekly[:hist_days]
        self.acq_density = acq / acq.sum()
        self.acq_cdf = np.cumsum(self.acq_density)
        self.acq_cdf[-1] = 1.0

    # ---- campaigns
    def _campaigns(self, rng: np.random.Generator) -> None:
        n = int(np.clip(round(7 * self.cfg.years), 10, 20))
        themes = ("new_year", "spring_launch", "618_warmup", "summer_coffee", "back_to_school",
                  "double11", "premium_upgrade", "winback", "loyalty_points", "skincare_launch",
                  "tea_season", "gift_guide")
        cw = np.array([0.22, 0.14, 0.18, 0.20, 0.14, 0.12])  # the six addressable channels
        self.camp_day = np.full((len(CHANNELS), self.D), -1, dtype=np.int64)
        camps = []
        for i in range(n):
            for _ in range(100):
                ch = int(rng.choice(6, p=cw))
                dur = int(rng.integers(14, 57))
                hist = max(int(self.T) - dur, 1)
                s = int(rng.integers(0, hist))
                if (self.camp_day[ch, s:s + dur] < 0).all():
                    break
            else:  # pragma: no cover - extremely crowded calendar
                continue
            self.camp_day[ch, s:s + dur] = len(camps)
            year = (self.start + timedelta(days=s)).year
            name = f"{year}_{themes[i % len(themes)]}_{CHANNELS[ch]}_{i + 1:02d}"
            budget = round(float(rng.uniform(20_000, 300_000))
                           * max(self.cfg.customers / 20_000, 0.05), -2)
            uplift = float(rng.uniform(0.0, 0.4))
            camps.append((f"CMP{len(camps) + 1:02d}", name, ch, s, s + dur, budget, uplift))
        self.campaign_list = camps
        self.camp_ids = np.array([c[0] for c in camps], dtype=object)
        self.camp_names = np.array([c[1] for c in camps], dtype=object)
        self.camp_uplift = np.array([c[6] for c in camps])
        # the planned share of arm B: most tests split 50/50, a quarter are holdout tests that
        # keep a fifth as control. A stream of its own, so the rest of the context is unchanged.
        split = np.random.default_rng([int(self.cfg.seed), 5]).random(len(camps))
        self.camp_share_b = np.where(split < 0.25, 0.8, 0.5)
        if self.cfg.world == "realistic":
            from upmarket.demo.realistic import null_campaigns

            self.camp_uplift = np.where(null_campaigns(self.cfg, len(camps)), 0.0,
                                        self.camp_uplift)
        self.campaigns = _frame("campaigns", {
            "campaign_id": self.camp_ids.copy(),
            "name": self.camp_names.copy(),
            "channel": np.array([CHANNELS[c[2]] for c in camps], dtype=object),
            "start": self.ts(np.array([c[3] for c in camps], dtype=float)),
            "end": self.ts(np.array([c[4] for c in camps], dtype=float) - 1.0 / 86400),
            "budget": np.array([c[5] for c in camps], dtype=float),
            "arms": np.array([f'{{"A": {1.0 - b:g}, "B": {b:g}}}' for b in self.camp_share_b],
                             dtype=object),
        })

    # ---- helpers
    def ts(self, days: np.ndarray) -> np.ndarray:
        """Days since start → naive datetime64[ns] rounded to the second (NaN → NaT)."""
        days = np.asarray(days, dtype=float)
        out = np.full(days.shape, np.datetime64("NaT"), dtype="datetime64[ns]")
        ok = np.isfinite(days)
        secs = np.round(days[ok] * 86400.0).astype(np.int64)
        out[ok] = self.start64 + (secs * 1_000_000_000).astype("timedelta64[ns]")
        return out

    def hours(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """Fractions of a day drawn from the hour-of-day activity profile."""
        h = np.searchsorted(self.hour_cdf, rng.random(n), side="right")
        return (np.minimum(h, 23) + rng.random(n)) / 24.0

    # ---- global tables
    def marketing_spend(self) -> pd.DataFrame:
        rng = np.random.default_rng([int(self.cfg.seed), 2, self.spend_noise_seed])
        nd = len(self.acq_density)
        nc = len(CHANNELS)
        exp_acq = self.cfg.customers * self.acq_density[:, None] * _ACQ_SHARE[None, :]
        media = exp_acq * _CAC_MEDIA[None, :] * rng.lognormal(0.0, 0.25, size=(nd, nc))
        sales = media * _SALES_SHARE[None, :] * rng.lognormal(0.0, 0.1, size=(nd, nc))
        tech = media * 0.06 + 20.0 * rng.random((nd, nc))
        over = media * 0.12
        costs = np.stack([media, sales, tech, over], axis=2)  # day, channel, cost type
        day = np.repeat(np.arange(nd), nc * 4)
        chan = np.tile(np.repeat(np.arange(nc), 4), nd)
        ctype = np.tile(np.arange(4), nd * nc)
        cost = costs.reshape(-1)
        campaign = np.full(len(day), "always_on", dtype=object)
        # campaign media rows
        cd, cc, cn, cv = [], [], [], []
        for ci, (_cid, name, ch, s, e, budget, _u) in enumerate(self.campaign_list):
            days = np.arange(s, min(e, nd))
            if len(days) == 0:
                continue
            daily = budget / (e - s) * rng.lognormal(0.0, 0.15, size=len(days))
            cd.append(days)
            cc.append(np.full(len(days), ch))
            cn.append(np.full(len(days), name, dtype=object))
            cv.append(daily)
        if cd:
            day = np.concatenate([day] + cd)
            chan = np.concatenate([chan] + cc)
            ctype = np.concatenate([ctype] + [np.zeros(len(x), dtype=np.int64) for x in cd])
            cost = np.concatenate([cost] + cv)
            campaign = np.concatenate([campaign] + cn)
        dates = np.array([self.start.date() + timedelta(days=i) for i in range(nd)],
                         dtype=object)
        order = np.lexsort((ctype, chan, day))
        return _frame("marketing_spend", {
            "date": dates[day[order]],
            "channel": np.array(CHANNELS, dtype=object)[chan[order]],
            "campaign": campaign[order],
            "cost_type": np.array(_COST_TYPES, dtype=object)[ctype[order]],
            "cost": np.round(cost[order], 2),
            "currency": np.full(len(day), "CNY", dtype=object),
        })

    def brand_survey(self) -> pd.DataFrame:
        rng = np.random.default_rng([int(self.cfg.seed), 3, self.survey_seed])
        periods = []
        y, q = self.start.year, (self.start.month - 1) // 3 + 1
        as_of = self.cfg.as_of
        while datetime(y, 3 * q - 2, 1) < as_of:
            periods.append(f"{y}Q{q}")
            q += 1
            if q == 5:
                y, q = y + 1, 1
        n = len(periods)
        i = np.arange(n, dtype=float)
        values = {
            "awareness": 0.32 + 0.018 * i + rng.normal(0, 0.01, n),
            "association": 0.24 + 0.012 * i + rng.normal(0, 0.01, n),
            "loyalty": 0.18 + 0.010 * i + rng.normal(0, 0.008, n),
            "premium_coefficient": 1.12 + 0.025 * i + rng.normal(0, 0.015, n),
        }
        per, met, val = [], [], []
        for k, v in values.items():
            lo, hi = (1.0, 1.5) if k == "premium_coefficient" else (0.0, 1.0)
            per += periods
            met += [k] * n
            val += list(np.round(np.clip(v, lo, hi), 4))
        return _frame("brand_survey", {
            "period": np.array(per, dtype=object), "metric": np.array(met, dtype=object),
            "value": np.array(val, dtype=float),
        })


# --------------------------------------------------------------------------------------------
# Frames
# --------------------------------------------------------------------------------------------


def _frame(table: str, cols: dict[str, object]) -> pd.DataFrame:
    """A frame with the columns in schema order; fails loudly on a name the schema lacks."""
    names = TABLES[table].column_names
    unknown = set(cols) - set(names)
    if unknown:  # pragma: no cover - programming error
        raise KeyError(f"{table}: columns not in the schema: {sorted(unknown)}")
    return pd.DataFrame({c: cols[c] for c in names if c in cols})


def _ids(prefix: str, numbers: np.ndarray, width: int) -> np.ndarray:
    return np.array([f"{prefix}{int(x):0{width}d}" for x in numbers], dtype=object)


def _pick(rng: np.random.Generator, texts: tuple[str, ...], n: int) -> np.ndarray:
    return np.array(texts, dtype=object)[rng.integers(0, len(texts), n)]


def _starts(counts: np.ndarray) -> np.ndarray:
    return np.cumsum(counts) - counts


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


# --------------------------------------------------------------------------------------------
# One chunk of customers
# --------------------------------------------------------------------------------------------


class _Counters:
    def __init__(self) -> None:
        self.order = 0
        self.message = 0
        self.ticket = 0
        self.feedback = 0
        self.invoice = 0


@dataclass
class _People:
    """The observed customer attributes a purchasing process may depend on (chunk-local)."""

    n: int
    income: np.ndarray  # income band index 0..4
    b2b: np.ndarray
    acq: np.ndarray  # acquisition channel index
    created: np.ndarray  # registration, days since start
    tier_city: np.ndarray  # 0..3 (city tier 1..4)


@dataclass
class _Traits:
    """Per-customer habits every world shares: how promotion-driven, how big the baskets, which
    category, the starting price tier, the preferred hour and order channel, the first purchase."""

    promo_sens: np.ndarray
    dep: np.ndarray  # promotion-dependent: buys mostly inside promotion windows
    basket: np.ndarray
    main_cat: np.ndarray
    s0: np.ndarray
    pref_hour: np.ndarray
    pref_chan: np.ndarray
    t0: np.ndarray


@dataclass
class _History:
    """A process's simulated orders up to the horizon, sorted by (customer, time).

    ``o_k`` numbers each customer's orders from 0 (the first purchase), ``state`` is the price
    tier she buys at, ``death`` the dropout moment (NaN if alive at the horizon). A process that
    lets service experiences drive the dropout decides the orders' channel and lateness itself
    (``o_chan``, ``late``: one per order); otherwise they are None and drawn later."""

    o_cust: np.ndarray
    o_t: np.ndarray
    o_k: np.ndarray
    state: np.ndarray
    death: np.ndarray
    o_chan: np.ndarray | None = None
    late: np.ndarray | None = None


def _tastes(ctx: _Context, rng: np.random.Generator, income: np.ndarray
            ) -> tuple[np.ndarray, ...]:
    """Promotion sensitivity, basket size, main category and starting tier."""
    n = len(income)
    promo_sens = rng.beta(0.5, 2.5, n)
    basket = rng.gamma(2.0, 0.3, n)
    main_cat = rng.choice(len(_CATEGORIES), size=n, p=ctx.pop)
    s0_p = np.array([[0.85, 0.14, 0.01], [0.75, 0.22, 0.03], [0.62, 0.32, 0.06],
                     [0.45, 0.43, 0.12], [0.30, 0.48, 0.22]])
    s0 = (rng.random(n)[:, None] > np.cumsum(s0_p, axis=1)[income]).sum(axis=1)
    return promo_sens, basket, main_cat, np.minimum(s0, 2)


def _habits(ctx: _Context, rng: np.random.Generator, people: _People
            ) -> tuple[np.ndarray, ...]:
    """Preferred hour and order channel, and the first purchase (minutes after registering)."""
    n, acq = people.n, people.acq
    pref_hour = np.searchsorted(ctx.hour_cdf, rng.random(n), side="right").astype(float)
    pref_chan = np.where(acq == 6, 3, np.where(acq == 3, 2, rng.choice(
        4, size=n, p=[0.45, 0.40, 0.10, 0.05])))
    pref_chan = np.where((acq == 6) & (rng.random(n) < 0.3), 1, pref_chan)
    t0 = people.created + rng.exponential(0.02, n)
    return pref_hour, pref_chan, t0


def _ladder(s0: np.ndarray, o_cust: np.ndarray, o_k: np.ndarray, G1: np.ndarray,
            G2: np.ndarray) -> np.ndarray:
    """Price tier of every order: a basic buyer steps to mid at her G1-th repeat purchase and to
    premium G2 repeats later (a mid starter steps up at her G2-th)."""
    s0o = s0[o_cust]
    g1, g2 = G1[o_cust], G2[o_cust]
    return np.where(s0o == 2, 2, np.where(
        s0o == 1, 1 + (o_k >= g2), (o_k >= g1).astype(np.int64) + (o_k >= g1 + g2)))


def _order_hours(ctx: _Context, rng: np.random.Generator, pref_hour: np.ndarray,
                 t: np.ndarray) -> np.ndarray:
    """Moves each purchase day's time to the customer's own hour (60%) or the store's profile."""
    own = rng.random(len(t)) < 0.6
    frac = np.where(own, ((pref_hour + rng.normal(0.5, 1.5, len(t))) % 24.0) / 24.0,
                    ctx.hours(rng, len(t)))
    return np.floor(t) + frac


def _btyd(ctx: _Context, rng: np.random.Generator, ci: int, people: _People
          ) -> tuple[_Traits, _History]:
    """BG/NBD purchasing (Fader, Hardie & Lee 2005, "Counting your customers the easy way",
    Marketing Science 24(2)): Poisson purchases at rate ``lambda ~ Gamma(r, alpha)`` in
    promotion-warped time, dropout with probability ``p ~ Beta(a, b)`` after each repeat
    purchase; upgrades step up with income and purchase rate."""
    n, income, b2b, E = people.n, people.income, people.b2b, ctx.E
    lam = rng.gamma(_R, 1.0 / _ALPHA, n) * (0.8 + 0.1 * income) * np.where(b2b, 2.0, 1.0)
    p_drop = rng.beta(_A, _B, n)
    J = rng.geometric(p_drop)  # repeat purchase after which the customer drops out
    promo_sens, basket, main_cat, s0 = _tastes(ctx, rng, income)
    dep = promo_sens > 0.45
    loglam = np.log(lam * 365.0 / 9.5)
    h1 = _sigmoid(-2.3 + 0.45 * income + 0.35 * loglam + 0.3 * b2b)
    h2 = _sigmoid(-3.1 + 0.60 * income + 0.45 * loglam + 0.5 * b2b)
    G1 = rng.geometric(h1)
    G2 = rng.geometric(h2)
    pref_hour, pref_chan, t0 = _habits(ctx, rng, people)
    traits = _Traits(promo_sens, dep, basket, main_cat, s0, pref_hour, pref_chan, t0)

    L0 = np.where(dep, np.interp(t0, ctx.grid, ctx.lam_d), np.interp(t0, ctx.grid, ctx.lam_n))
    LE = np.where(dep, np.interp(E, ctx.grid, ctx.lam_d), np.interp(E, ctx.grid, ctx.lam_n))
    K = rng.poisson(lam * np.maximum(LE - L0, 0.0))
    cr = np.repeat(np.arange(n), K)
    u = L0[cr] + rng.random(len(cr)) * (LE - L0)[cr]
    dr = dep[cr]
    t = np.empty(len(cr))
    t[~dr] = np.interp(u[~dr], ctx.lam_n, ctx.grid)
    t[dr] = np.interp(u[dr], ctx.lam_d, ctx.grid)
    t = np.clip(_order_hours(ctx, rng, pref_hour[cr], t), t0[cr] + 1e-3, E)
    t = t[np.lexsort((t, cr))]
    rank = np.arange(len(cr)) - _starts(K)[cr]
    keep = rank < J[cr]
    dead = K >= J
    death = np.full(n, np.nan)
    death[dead] = t[_starts(K)[dead] + J[dead] - 1]

    o_cust = np.concatenate([np.arange(n), cr[keep]])
    o_t = np.concatenate([t0, t[keep]])
    o_k = np.concatenate([np.zeros(n, dtype=np.int64), rank[keep] + 1])
    srt = np.lexsort((o_k, o_cust))
    o_cust, o_t, o_k = o_cust[srt], o_t[srt], o_k[srt]
    return traits, _History(o_cust, o_t, o_k, _ladder(s0, o_cust, o_k, G1, G2), death)


def _process(world: str):
    """The purchasing, dropout and upgrade process of a world (see `WORLDS`)."""
    if world == "realistic":
        from upmarket.demo.realistic import simulate

        return simulate
    return _btyd


def _chunk(ctx: _Context, ci: int, lo: int, hi: int, cnt: _Counters,
           incremental: np.ndarray) -> Iterator[tuple[str, pd.DataFrame]]:
    cfg = ctx.cfg
    rng = np.random.default_rng([int(cfg.seed), 1, ci])
    n = hi - lo
    T, E = ctx.T, ctx.E
    ncat = len(_CATEGORIES)

    # ---------------------------------------------------------------- customers
    cid = _ids("C", np.arange(lo, hi) + 1, ctx.id_width)
    day = np.searchsorted(ctx.acq_cdf, rng.random(n), side="right")
    created = np.minimum(day + ctx.hours(rng, n), T - 1.0 / 86400)
    country = rng.choice(len(_COUNTRIES), size=n, p=_COUNTRY_P)
    tier_city = rng.choice(4, size=n, p=[0.30, 0.30, 0.25, 0.15])
    cn = country == 0
    gender = _GENDERS[rng.choice(3, size=n, p=[0.56, 0.42, 0.02])]
    age = np.clip(np.round(rng.normal(33, 9, n)), 18, 72).astype(np.int64)
    occ = rng.choice(7, size=n, p=_OCC_P)
    occ = np.where((age < 24) & (rng.random(n) < 0.55), 7, occ)
    occ = np.where((age >= 58) & (rng.random(n) < 0.6), 8, occ)
    z = (rng.normal(0, 1, n) + np.array([0.5, 0.2, -0.1, -0.4])[tier_city]
         + 0.35 * np.isin(occ, [1, 2]) - 0.9 * (occ == 7) - 0.3 * (occ == 8)
         + 0.4 * ~cn + 0.01 * np.clip(age - 25, 0, 20))
    income = np.digitize(z, [-1.0, -0.2, 0.6, 1.4])
    b2b = rng.random(n) < 0.06
    industry = np.where(b2b, np.array(_INDUSTRIES, dtype=object)[
        rng.integers(0, len(_INDUSTRIES), n)], None)
    acq = rng.choice(len(CHANNELS), size=n, p=_ACQ_SHARE)

    customers = _frame("customers", {
        "customer_id": cid,
        "created_at": ctx.ts(created),
        "country": np.array(_COUNTRIES, dtype=object)[country],
        "city_tier": np.where(cn, np.array(["1", "2", "3", "4"], dtype=object)[tier_city], None),
        "gender": gender,
        "birth_year": (cfg.start.year - age).astype(np.int64),
        "occupation": np.array(_OCCUPATIONS, dtype=object)[occ],
        "income_band": np.array(_INCOME_BANDS, dtype=object)[income],
        "industry": industry,
        "acquisition_channel": np.array(CHANNELS, dtype=object)[acq],
    })
    yield "customers", customers

    # ---------------------------------------------------------------- purchasing and dropout
    people = _People(n=n, income=income, b2b=b2b, acq=acq, created=created, tier_city=tier_city)
    traits, hist = _process(cfg.world)(ctx, rng, ci, people)
    promo_sens, basket, main_cat, s0 = traits.promo_sens, traits.basket, traits.main_cat, traits.s0
    pref_chan, t0 = traits.pref_chan, traits.t0
    o_cust, o_t, o_k, state, death = hist.o_cust, hist.o_t, hist.o_k, hist.state, hist.death
    dead = np.isfinite(death)

    # ---------------------------------------------------------------- order lines (all time)
    no = len(o_cust)
    nl = 1 + np.minimum(rng.poisson(basket[o_cust] + 0.8 * b2b[o_cust]), 5)
    l_ord = np.repeat(np.arange(no), nl)
    L = len(l_ord)
    l_pos = np.arange(L) - _starts(nl)[l_ord]
    l_cust = o_cust[l_ord]
    m = main_cat[l_cust]
    other = (rng.random(L)[:, None] > ctx.cross_cdf[m]).sum(axis=1)
    other = np.minimum(other, ncat - 1)
    cat = np.where(rng.random(L) < np.where(l_pos == 0, 0.75, 0.45), m, other)
    st = state[l_ord]
    r = rng.random(L)
    tier = np.where(r < 0.72, st, np.where(r < 0.95, np.maximum(st - 1, 0),
                                           np.minimum(st + 1, 2)))
    sku = (cat * 3 + tier) * ctx.k + (rng.random(L) * ctx.k).astype(np.int64)
    lb2b = b2b[l_cust]
    qty = np.where(ctx.consumable[cat], 1 + rng.poisson(0.35 + 2.5 * lb2b),
                   1 + (rng.random(L) < 0.03) + rng.poisson(1.2 * lb2b)).astype(float)

    # ---------------------------------------------------------------- truth: premium upgrade
    prem_t = np.where(tier == 2, o_t[l_ord], np.inf)
    first_prem = np.full(n, np.inf)
    np.minimum.at(first_prem, l_cust, prem_t)
    upgrades = (first_prem > T) & (first_prem <= E)
    yield "truth_customers", _frame("truth_customers", {
        "customer_id": cid,
        "upgrades_to_premium": upgrades,
        "upgrade_ts": ctx.ts(np.where(upgrades, first_prem, np.nan)),
        "churned": dead,
        "churn_ts": ctx.ts(death),
    })

    # ---------------------------------------------------------------- history only from here
    hist_o = o_t <= T
    new_idx = np.cumsum(hist_o) - 1
    lkeep = hist_o[l_ord]
    o_cust, o_t, state = o_cust[hist_o], o_t[hist_o], state[hist_o]
    o_first = o_k[hist_o] == 0
    no = len(o_cust)
    l_ord = new_idx[l_ord[lkeep]]
    cat, tier, sku, qty = cat[lkeep], tier[lkeep], sku[lkeep], qty[lkeep]
    L = len(l_ord)
    price = ctx.price[sku]
    gross = qty * price

    # order ids: chronological within the chunk
    o_num = np.empty(no, dtype=np.int64)
    o_num[np.argsort(o_t, kind="stable")] = np.arange(no)
    oid = _ids("O", cnt.order + 1 + o_num, 8)
    cnt.order += no

    # channel of the order
    o_chan = np.where(rng.random(no) < 0.75, pref_chan[o_cust], rng.integers(0, 4, no))
    if hist.o_chan is not None:
        o_chan = hist.o_chan[hist_o]

    # ---------------------------------------------------------------- promotions
    dayi = np.clip(np.floor(o_t).astype(np.int64), 0, ctx.D - 1)
    pidx = ctx.day_promo[dayi] if len(ctx.promos) else np.full(no, -1)
    pc = np.maximum(pidx, 0)
    has = pidx >= 0
    if len(ctx.promos):
        lp = pc[l_ord]
        ltype = ctx.p_type[lp]
        cat_ok = np.where(ltype == _PT["time_limited"], cat == ctx.p_cat[lp],
                          np.where(ltype == _PT["bundle"], (ctx.p_mask[lp] >> cat) & 1 == 1,
                                   True))
        elig = has[l_ord] & cat_ok
        egross = np.where(elig, gross, 0.0)
        base = np.bincount(l_ord, egross, minlength=no)
        nel = np.bincount(l_ord, elig, minlength=no)
        otype, thr, val = ctx.p_type[pc], ctx.p_thr[pc], ctx.p_val[pc]
        by_thr = np.isin(otype, [_PT["threshold_discount"], _PT["coupon"], _PT["gift"]])
        cond = np.where(by_thr, base >= np.maximum(thr, 0.01),
                        np.where(otype == _PT["bundle"], nel >= 2, base > 0))
        chan_ok = (ctx.p_chan[pc] < 0) | (ctx.p_chan[pc] == o_chan)
        use = has & cond & chan_ok & (rng.random(no) < 0.10 + 0.85 * promo_sens[o_cust])
        D_ = np.where(otype == _PT["threshold_discount"],
                      val * np.floor(base / np.maximum(thr, 0.01)),
                      np.where(otype == _PT["coupon"], np.minimum(val, base),
                               np.where(otype == _PT["gift"], 0.0, val * base)))
        D_ = np.where(use, D_, 0.0)
        share = np.divide(egross, base[l_ord], out=np.zeros(L), where=base[l_ord] > 0)
        disc = np.round(D_[l_ord] * share, 2)
        l_promo = np.where(use[l_ord] & (disc > 0), pidx[l_ord], -1)
        gift_o = np.nonzero(use & (otype == _PT["gift"]))[0]
    else:
        disc = np.zeros(L)
        l_promo = np.full(L, -1)
        use = np.zeros(no, dtype=bool)
        gift_o = np.zeros(0, dtype=np.int64)
    amount = np.round(gross - disc, 2)

    # gift lines (price shown, fully discounted)
    g_sku = ctx.p_gift[pidx[gift_o]]
    g_price = ctx.price[g_sku]
    # postage on small orders
    net = np.bincount(l_ord, amount, minlength=no)
    post_o = np.nonzero((net < 99.0) & (o_chan != 3) & (rng.random(no) < 0.85))[0]
    post_price = np.where(cn[o_cust[post_o]], 8.0, 25.0)

    a_ord = np.concatenate([l_ord, gift_o, post_o])
    a_kind = np.concatenate([np.zeros(L, np.int64), np.zeros(len(gift_o), np.int64),
                             np.ones(len(post_o), np.int64)])
    a_sub = np.concatenate([np.zeros(L, np.int64), np.ones(len(gift_o), np.int64),
                            np.full(len(post_o), 2)])
    a_sku = np.concatenate([sku, g_sku, np.full(len(post_o), -1)])
    a_qty = np.concatenate([qty, np.ones(len(gift_o)), np.ones(len(post_o))])
    a_price = np.concatenate([price, g_price, post_price])
    a_disc = np.concatenate([disc, g_price, np.zeros(len(post_o))])
    a_amt = np.concatenate([amount, np.zeros(len(gift_o)), post_price])
    a_promo = np.concatenate([l_promo, pidx[gift_o], np.full(len(post_o), -1)])
    srt = np.lexsort((np.arange(len(a_ord)), a_sub, a_ord))
    a_ord, a_kind, a_sku, a_qty = a_ord[srt], a_kind[srt], a_sku[srt], a_qty[srt]
    a_price, a_disc, a_amt, a_promo, a_sub = (a_price[srt], a_disc[srt], a_amt[srt],
                                              a_promo[srt], a_sub[srt])
    NA = len(a_ord)
    a_line = np.arange(NA) - _starts(np.bincount(a_ord, minlength=no))[a_ord]

    # delivery
    offline = o_chan == 3
    promised = o_t + np.where(offline, 0.0, 2.0 + rng.integers(0, 4, no)
                              + np.where(b2b[o_cust], 3.0, 0.0))
    p_late = 0.04 + 0.025 * tier_city[o_cust] + 0.08 * (ctx.lift[dayi] >= 2.0)
    late = ~offline & (rng.random(no) < p_late)
    if hist.late is not None:
        late = ~offline & hist.late[hist_o]
    delivered = np.where(offline, o_t, np.where(
        late, promised + 0.2 + rng.exponential(2.0, no),
        np.maximum(promised - rng.uniform(0, 1.5, no), o_t + 0.3)))
    delivered = np.where(delivered <= T, delivered, np.nan)
    late = late & np.isfinite(delivered)

    # cancellations and returns of product lines
    prod = (a_kind == 0) & (a_amt > 0)
    cancel_ts = o_t + rng.exponential(0.25, no)
    return_ts = delivered + rng.uniform(1.0, 14.0, no)
    rl = rng.random(NA)
    canc = prod & (rl < 0.02) & (cancel_ts[a_ord] <= T)
    ret = prod & ~canc & (rl > 0.985) & (rl <= 0.995) & (return_ts[a_ord] <= T)
    ret &= np.isfinite(delivered[a_ord])

    chan_names = np.array(ORDER_CHANNELS, dtype=object)
    sku_names = np.concatenate([ctx.sku, np.array([None], dtype=object)])  # -1 → None
    promo_names = np.concatenate([ctx.p_ids, np.array([None], dtype=object)])
    kind_names = np.array(["product", "postage"], dtype=object)
    ts_o, prom_o, deliv_o = ctx.ts(o_t), ctx.ts(promised), ctx.ts(delivered)
    parts = [{
        "order_id": oid[a_ord],
        "line_no": a_line.astype(np.int64),
        "customer_id": cid[o_cust[a_ord]],
        "ts": ts_o[a_ord],
        "sku": sku_names[a_sku],
        "quantity": a_qty,
        "unit_price": a_price,
        "amount": a_amt,
        "discount": a_disc,
        "promotion_id": promo_names[a_promo],
        "currency": np.full(NA, "CNY", dtype=object),
        "channel": chan_names[o_chan[a_ord]],
        "status": np.full(NA, "paid", dtype=object),
        "line_kind": kind_names[a_kind],
        "original_order_id": np.full(NA, None, dtype=object),
        "promised_delivery": prom_o[a_ord],
        "delivered_at": deliv_o[a_ord],
    }]
    for mask, suffix, status, when in ((canc, "-C", "cancelled", cancel_ts),
                                      (ret, "-R", "returned", return_ts)):
        ix = np.nonzero(mask)[0]
        if not len(ix):
            continue
        ords = a_ord[ix]
        q = a_qty[ix]
        unit = np.round(a_amt[ix] / q, 2)
        line = np.arange(len(ix)) - _starts(np.bincount(ords, minlength=no))[ords]
        parts.append({
            "order_id": oid[ords] + suffix,
            "line_no": line.astype(np.int64),
            "customer_id": cid[o_cust[ords]],
            "ts": ctx.ts(when[ords]),
            "sku": sku_names[a_sku[ix]],
            "quantity": -q,
            "unit_price": unit,
            "amount": np.round(-q * unit, 2),
            "discount": np.zeros(len(ix)),
            "promotion_id": np.full(len(ix), None, dtype=object),
            "currency": np.full(len(ix), "CNY", dtype=object),
            "channel": chan_names[o_chan[ords]],
            "status": np.full(len(ix), status, dtype=object),
            "line_kind": np.full(len(ix), "product", dtype=object),
            "original_order_id": oid[ords],
            "promised_delivery": np.full(len(ix), np.datetime64("NaT"), "datetime64[ns]"),
            "delivered_at": np.full(len(ix), np.datetime64("NaT"), "datetime64[ns]"),
        })
    orders = _frame("orders", {k: np.concatenate([p[k] for p in parts]) for k in parts[0]})
    yield "orders", orders
    del orders, parts

    # ---------------------------------------------------------------- events
    o_rev = np.bincount(a_ord, a_amt, minlength=no)
    first_sku = a_sku[_starts(np.bincount(a_ord, minlength=no))]
    # its own random stream: the touchpoint story can change without moving the tables after it
    ev_rng = np.random.default_rng([int(cfg.seed), 4, ci])
    yield "events", _events(ctx, ev_rng, cnt, incremental, n, cid, created, death, acq,
                            o_cust, o_t, o_first, oid, o_rev, first_sku, o_chan)

    # ---------------------------------------------------------------- payments (B2B invoices)
    inv_o = np.nonzero(b2b[o_cust] & (o_rev > 0))[0]
    if len(inv_o):
        credit = rng.choice(3, size=n, p=[0.75, 0.20, 0.05])[o_cust[inv_o]]
        issued = o_t[inv_o]
        due = issued + 30.0
        ni = len(inv_o)
        paid = np.where(credit == 0, issued + rng.uniform(2.0, 29.0, ni),
                        np.where(credit == 1, due + rng.exponential(15.0, ni),
                                 np.where(rng.random(ni) < 0.6, np.nan,
                                          due + rng.exponential(60.0, ni))))
        paid = np.where(paid <= T, paid, np.nan)
        yield "payments", _frame("payments", {
            "invoice_id": _ids("INV", cnt.invoice + 1 + np.arange(ni), 7),
            "customer_id": cid[o_cust[inv_o]],
            "amount": np.round(o_rev[inv_o], 2),
            "issued": ctx.ts(issued),
            "due": ctx.ts(due),
            "paid_at": ctx.ts(paid),
            "currency": np.full(ni, "CNY", dtype=object),
        })
        cnt.invoice += ni

    # ---------------------------------------------------------------- service tickets
    k_o, k_kind, k_open = [], [], []
    lo_ = np.nonzero(late & (rng.random(no) < 0.4))[0]
    k_o.append(lo_)
    k_kind.append(np.where(rng.random(len(lo_)) < 0.6, 2, 0))
    k_open.append(promised[lo_] + rng.uniform(0.1, 2.0, len(lo_)))
    rx = np.nonzero(ret)[0]
    rx = rx[rng.random(len(rx)) < 0.7]
    ro = np.unique(a_ord[rx])
    k_o.append(ro)
    k_kind.append(np.full(len(ro), 4))
    k_open.append(return_ts[ro] - rng.uniform(0.0, 1.0, len(ro)))
    qo = np.nonzero(rng.random(no) < 0.025)[0]
    k_o.append(qo)
    k_kind.append(rng.choice([3, 1, 0], size=len(qo), p=[0.45, 0.35, 0.20]))
    k_open.append(o_t[qo] + rng.uniform(0.0, 20.0, len(qo)))
    k_o, k_kind, k_open = (np.concatenate(k_o), np.concatenate(k_kind),
                           np.concatenate(k_open))
    ok = k_open <= T
    k_o, k_kind, k_open = k_o[ok], k_kind[ok], k_open[ok]
    nk = len(k_o)
    if nk:
        slow = np.where(k_kind == 0, 5.0, 3.0)
        first_resp = k_open + rng.lognormal(np.log(slow), 0.9, nk) / 24.0
        resolved = first_resp + rng.lognormal(np.log(0.8), 1.0, nk)
        resolved = np.where(rng.random(nk) < 0.03, np.nan, resolved)
        first_resp = np.where(first_resp <= T, first_resp, np.nan)
        resolved = np.where(resolved <= T, resolved, np.nan)
        sat_base = np.array([2.3, 4.1, 3.0, 4.3, 3.6])[k_kind]
        sat = np.clip(np.round(sat_base + rng.normal(0, 0.8, nk)
                               - 0.15 * np.nan_to_num(resolved - first_resp, nan=3.0)), 1, 5)
        sat = np.where(rng.random(nk) < 0.3, np.nan, sat)
        text = np.empty(nk, dtype=object)
        for kk, name in enumerate(_TICKET_KINDS):
            sel = k_kind == kk
            text[sel] = _pick(rng, _TICKET_TEXT[name], int(sel.sum()))
        tid = _ids("T", cnt.ticket + 1 + np.arange(nk), 7)
        cnt.ticket += nk
        yield "service_tickets", _frame("service_tickets", {
            "ticket_id": tid,
            "customer_id": cid[o_cust[k_o]],
            "opened": ctx.ts(k_open),
            "first_response": ctx.ts(first_resp),
            "resolved": ctx.ts(resolved),
            "kind": np.array(_TICKET_KINDS, dtype=object)[k_kind],
            "satisfaction": sat.astype(float),
            "channel": _pick(rng, _TICKET_CHANNELS, nk),
            "text": text,
        })

    # ---------------------------------------------------------------- feedback (NPS, CSAT)
    late_n = np.bincount(o_cust[late], minlength=n)
    n_ord = np.bincount(o_cust, minlength=n)
    comp_n = np.bincount(o_cust[k_o[k_kind == 0]], minlength=n) if nk else np.zeros(n)
    resp = (n_ord > 0) & (rng.random(n) < 0.15)
    fc = np.nonzero(resp)[0]
    fc = np.concatenate([fc, fc[rng.random(len(fc)) < 0.2]])
    first_t = t0[fc]
    f_ts = first_t + rng.random(len(fc)) * np.maximum(T - first_t, 0.0)
    score = (8.2 + rng.normal(0, 1.7, len(fc)) - 1.5 * np.minimum(late_n[fc], 2)
             - 2.0 * np.minimum(comp_n[fc], 1) + 0.15 * np.minimum(n_ord[fc], 5)
             + 0.3 * s0[fc])
    nps = np.clip(np.round(score), 0, 10).astype(np.int64)
    f_cust = cid[fc]
    csat = np.full(len(fc), np.nan)
    f_chan = _pick(rng, _FEEDBACK_CHANNELS, len(fc))
    # CSAT after resolved tickets
    if nk:
        cs = np.nonzero(np.isfinite(resolved) & (rng.random(nk) < 0.5))[0]
        c_score = np.clip(np.round(np.nan_to_num(sat[cs], nan=3.5)
                                   + rng.normal(0, 0.6, len(cs))), 1, 5)
        f_ts = np.concatenate([f_ts, np.minimum(resolved[cs] + rng.uniform(0, 1, len(cs)), T)])
        f_cust = np.concatenate([f_cust, cid[o_cust[k_o[cs]]]])
        nps_all = np.concatenate([nps, np.zeros(len(cs), np.int64)])
        nps_mask = np.concatenate([np.zeros(len(fc), bool), np.ones(len(cs), bool)])
        csat = np.concatenate([csat, c_score])
        f_chan = np.concatenate([f_chan, _pick(rng, ("online_chat", "sms", "wechat"), len(cs))])
        mood_score = np.concatenate([nps.astype(float), (c_score - 1) * 2.5])
    else:
        nps_all, nps_mask, mood_score = nps, np.zeros(len(fc), bool), nps.astype(float)
    nf = len(f_ts)
    if nf:
        text = np.empty(nf, dtype=object)
        for sel, key in ((mood_score >= 9, "positive"),
                         ((mood_score >= 7) & (mood_score < 9), "neutral"),
                         (mood_score < 7, "negative")):
            text[sel] = _pick(rng, _FEEDBACK_TEXT[key], int(sel.sum()))
        text = np.where(rng.random(nf) < 0.15, None, text)
        yield "feedback", _frame("feedback", {
            "id": _ids("F", cnt.feedback + 1 + np.arange(nf), 7),
            "customer_id": f_cust,
            "ts": ctx.ts(f_ts),
            "nps_score": pd.arrays.IntegerArray(nps_all.astype(np.int64), nps_mask),
            "csat": csat,
            "text": text,
            "channel": f_chan,
        })
        cnt.feedback += nf

    # ---------------------------------------------------------------- consents
    nch = len(_CONSENT_CHANNELS)
    private = rng.random(n) < 0.05
    granted = (rng.random((n, nch)) > _CONSENT_OPTOUT[None, :]) & ~private[:, None]
    c_cust = np.repeat(np.arange(n), nch)
    c_chan = np.tile(np.arange(nch), n)
    c_grant = granted.reshape(-1)
    c_ts = created[c_cust]
    c_src = np.full(n * nch, "signup", dtype=object)
    wd = np.nonzero(c_grant & (rng.random(n * nch) < 0.04) & (c_ts < T - 1.0))[0]
    w_ts = c_ts[wd] + (T - c_ts[wd]) * rng.uniform(0.05, 1.0, len(wd))
    srt = np.lexsort((np.concatenate([c_ts, w_ts]),
                      np.concatenate([c_chan, c_chan[wd]]),
                      np.concatenate([c_cust, c_cust[wd]])))
    yield "consents", _frame("consents", {
        "customer_id": cid[np.concatenate([c_cust, c_cust[wd]])[srt]],
        "purpose": np.full(n * nch + len(wd), "marketing", dtype=object),
        "channel": np.array(_CONSENT_CHANNELS, dtype=object)[
            np.concatenate([c_chan, c_chan[wd]])[srt]],
        "granted": np.concatenate([c_grant, np.zeros(len(wd), bool)])[srt],
        "ts": ctx.ts(np.concatenate([c_ts, w_ts])[srt]),
        "source": np.concatenate([c_src, np.where(rng.random(len(wd)) < 0.5,
                                                  "unsubscribe_link",
                                                  "preference_center").astype(object)])[srt],
    })


def _events(ctx: _Context, rng: np.random.Generator, cnt: _Counters, incremental: np.ndarray,
            n: int, cid: np.ndarray, created: np.ndarray, death: np.ndarray, acq: np.ndarray,
            o_cust: np.ndarray, o_t: np.ndarray, o_first: np.ndarray, oid: np.ndarray,
            o_rev: np.ndarray, first_sku: np.ndarray, o_chan: np.ndarray) -> pd.DataFrame:
    """Touchpoints and site events around every historical order, ambient exposure, and
    journeys that do not convert; counts each conversion's true incremental channel into
    `incremental`.

    A purchase journey's touches play one of three roles, as in real multichannel data (Li &
    Kannan 2014, "Attributing conversions in a multichannel online marketing environment", JMR
    51(1); Blake, Nosko & Tadelis 2015, "Consumer heterogeneity and paid search effectiveness",
    Econometrica 83(1)):

    * the *initiating* touch — for a first order the customer's acquisition channel, for half of
      the repeat orders a retention channel — comes days ahead for awareness channels, hours for
      messages (`_LEAD_DAYS`); it caused the conversion (would-not-have-happened-without) with
      the channel's true effect probability, which is what ``truth_channels`` counts;
    * the *closing* touch — branded search, the WeChat mini-program, the store's QR code, by the
      order's channel (`_CLOSER_CH`) — comes minutes before the purchase and never causes it;
    * *ambient* exposure reaches everyone at a constant rate (`_AMBIENT_RATE`), buyer or not.
    """
    T = ctx.T
    no = len(o_cust)
    nch = len(CHANNELS)
    seg_kind, seg_cust, seg_vis, seg_ts, seg_ch, seg_props = [], [], [], [], [], []

    def add(kind, cust, ts, ch=None, props=None, vis=None):
        m = len(ts)
        seg_kind.append(np.full(m, kind, dtype=np.int64) if np.isscalar(kind) else kind)
        seg_cust.append(cust)
        seg_vis.append(np.full(m, -1, dtype=np.int64) if vis is None else vis)
        seg_ts.append(ts)
        seg_ch.append(np.full(m, -1, dtype=np.int64) if ch is None else ch)
        seg_props.append(np.full(m, "{}", dtype=object) if props is None else props)

    # the initiating touch of each order: causal with the channel's effect, or a customer who
    # would have come anyway
    rep_touch = rng.random(no) < 0.5
    touch_ch = np.where(o_first, acq[o_cust], rng.choice(nch, size=no, p=_RETENTION_W))
    has_touch = o_first | rep_touch
    eff = _EFFECT[touch_ch] * np.where(o_first, 1.0, 0.6)
    inc = has_touch & (rng.random(no) < eff)
    incremental += np.bincount(touch_ch[inc], minlength=nch)
    ti = np.nonzero(has_touch)[0]
    click_t = o_t[ti] - 0.005 - rng.exponential(_LEAD_DAYS[touch_ch[ti]])
    add(_CLICK, o_cust[ti], click_t, touch_ch[ti])
    paid = np.isin(touch_ch[ti], [0, 1, 4, 5]) & (rng.random(len(ti)) < 0.5)
    add(_IMP, o_cust[ti[paid]], click_t[paid] - rng.exponential(0.2, int(paid.sum())),
        touch_ch[ti[paid]])
    # the closing touch: how a decided buyer reaches the checkout, minutes before buying
    co = np.nonzero(rng.random(no) < _CLOSER_P[o_chan])[0]
    add(_CLICK, o_cust[co], o_t[co] - 0.002 - rng.exponential(1.0 / 24.0, len(co)),
        _CLOSER_CH[o_chan[co]])
    # ambient exposure over each person's life, independent of her purchases
    a_start = np.maximum(created - 30.0, 0.0)
    a_span = np.maximum(T - a_start, 0.0)
    na = rng.poisson(a_span * _AMBIENT_RATE)
    ac = np.repeat(np.arange(n), na)
    add(np.where(rng.random(len(ac)) < 0.75, _IMP, _CLICK), ac,
        a_start[ac] + rng.random(len(ac)) * a_span[ac],
        rng.choice(nch, size=len(ac), p=_EXPOSURE_W / _EXPOSURE_W.sum()))
    # site events
    sku_obj = np.concatenate([ctx.sku, np.array([""], dtype=object)])[first_sku]
    pv_props = '{"path": "/product/' + sku_obj + '", "sku": "' + sku_obj + '"}'
    npv = 1 + rng.poisson(0.5, no)
    pv = np.repeat(np.arange(no), npv)
    add(_PAGE, o_cust[pv], o_t[pv] - rng.uniform(0.003, 0.03, len(pv)), props=pv_props[pv])
    add(_CART, o_cust, o_t - rng.uniform(0.0005, 0.003, no), props='{"sku": "' + sku_obj + '"}')
    add(_PURCHASE, o_cust, o_t, props=np.array(
        [f'{{"order_id": "{o}", "revenue": {r:.2f}, "currency": "CNY"}}'
         for o, r in zip(oid, o_rev)], dtype=object))
    # registration (identify)
    reg = np.nonzero(created <= T)[0]
    add(_REGISTER, reg, created[reg],
        props='{"source": "' + np.array(CHANNELS, dtype=object)[acq[reg]] + '"}')
    # journeys that do not convert: known customers while alive, and anonymous visitors
    w_nc = _EXPOSURE_W * (1.2 - _EFFECT)
    w_nc = w_nc / w_nc.sum()
    nk = rng.poisson(0.25 * no)
    kc = rng.integers(0, n, nk)
    kc = kc[created[kc] <= T]
    end = np.minimum(np.nan_to_num(death[kc], nan=T), T)
    k_ts = created[kc] + rng.random(len(kc)) * np.maximum(end - created[kc], 0.0)
    nv = int(0.5 * n)
    v_ts = rng.random(nv) * T
    j_cust = np.concatenate([kc, np.full(nv, -1)])
    j_vis = np.concatenate([np.full(len(kc), -1), np.arange(nv)])
    j_ts = np.concatenate([k_ts, v_ts])
    nj = len(j_ts)
    j_ch = rng.choice(nch, size=nj, p=w_nc)
    clicked = rng.random(nj) < 0.4
    add(np.where(clicked, _CLICK, _IMP), j_cust, j_ts, j_ch, vis=j_vis)
    ci = np.nonzero(clicked)[0]
    jp = np.repeat(ci, 1 + rng.poisson(0.3, len(ci)))
    rsku = ctx.sku[rng.integers(0, len(ctx.sku), nj)]
    jprops = '{"path": "/product/' + rsku + '", "sku": "' + rsku + '"}'
    add(_PAGE, j_cust[jp], j_ts[jp] + rng.uniform(0.001, 0.02, len(jp)), vis=j_vis[jp],
        props=jprops[jp])
    jc = ci[rng.random(len(ci)) < 0.25]
    add(_CART, j_cust[jc], j_ts[jc] + 0.025, vis=j_vis[jc], props='{"sku": "' + rsku[jc] + '"}')

    kind = np.concatenate(seg_kind)
    cust = np.concatenate(seg_cust)
    vis = np.concatenate(seg_vis)
    ts = np.minimum(np.concatenate(seg_ts), T)
    ch = np.concatenate(seg_ch)
    props = np.concatenate(seg_props)
    order = np.lexsort((kind, ts))
    order = order[ts[order] >= 0.0]  # touches before the history starts are not recorded
    kind, cust, vis, ts, ch, props = (kind[order], cust[order], vis[order], ts[order],
                                      ch[order], props[order])
    N = len(ts)
    known = cust >= 0
    cu = np.maximum(cust, 0)
    # anonymous device ids: one per customer and per visitor
    anon_c = np.array([f"{x:016x}" for x in rng.integers(0, 2**62, n)], dtype=object)
    anon_v = np.array([f"{x:016x}" for x in rng.integers(0, 2**62, max(nv, 1))], dtype=object)
    anon = np.where(known, anon_c[cu], anon_v[np.maximum(vis, 0)])
    c_id = np.where(known & (ts >= created[cu] - 1e-9), cid[cu], None)
    # campaigns and arms
    touch = ch >= 0
    chc = np.maximum(ch, 0)
    camp = np.where(touch, ctx.camp_day[chc, np.clip(ts.astype(np.int64), 0, ctx.D - 1)], -1)
    inc_c = camp >= 0
    arm = _arms(ctx, rng, n, camp, np.where(known, cust, n + vis), ts, o_cust, o_t)
    props = np.where(inc_c, '{"arm": "' + arm + '"}', props)
    camp_ids = np.concatenate([ctx.camp_ids, np.array([None], dtype=object)])
    camp_names = np.concatenate([ctx.camp_names, np.array([None], dtype=object)])
    always_on = np.array([f"always_on_{c}" for c in CHANNELS], dtype=object)
    none = np.array([None], dtype=object)
    src = np.concatenate([np.array(_UTM_SOURCE, dtype=object), none])
    med = np.concatenate([np.array(_UTM_MEDIUM, dtype=object), none])
    chn = np.concatenate([np.array(CHANNELS, dtype=object), none])
    chx = np.where(touch, ch, -1)
    mid = _ids("M", cnt.message + 1 + np.arange(N), 10)
    cnt.message += N
    return _frame("events", {
        "message_id": mid,
        "type": _EVENT_TYPE[kind],
        "event": np.array(_EVENTS, dtype=object)[kind],
        "customer_id": c_id,
        "anonymous_id": anon,
        "ts": ctx.ts(ts),
        "properties": props,
        "utm_source": src[chx],
        "utm_medium": med[chx],
        "utm_campaign": np.where(touch, np.where(inc_c, camp_names[camp], always_on[chc]), None),
        "channel": chn[chx],
        "campaign_id": camp_ids[camp],
    })


def _arms(ctx: _Context, rng: np.random.Generator, n: int, camp: np.ndarray, user: np.ndarray,
          ts: np.ndarray, o_cust: np.ndarray, o_t: np.ndarray) -> np.ndarray:
    """The A/B arm of every event ("A" control, "B" treatment; "" off campaign): one arm per
    person and campaign, carried by all her exposures to it.

    `camp` is each event's campaign index (-1: none), `user` the person (customer index in the
    chunk of `n`, or n + visitor index for anonymous visitors), events in time order. The
    campaign's effect is relative: among the people exposed to campaign k, the chance of a paid
    order within `EXPERIMENT_WINDOW_DAYS` of the first exposure is p_B = (1 + u_k)·p_A in arm
    B, with ``u_k = ctx.camp_uplift[k]`` and the arms in the planned split π_k = P(B).

    The orders are simulated before the touchpoints (every touch is placed around them), and
    they drive the premium ladder, the churn truth and the attribution truth; so instead of
    adding or removing orders for an arm, the arm is drawn *given* each person's already
    simulated outcome y, by Bayes' rule. With c_k the share of exposed people who converted,
    the rates that keep the plan and the uplift, π·p_B + (1−π)·p_A = c and p_B = (1+u)·p_A,
    are p_A = c / (1 + u·π) and p_B = (1 + u)·p_A, so

        P(B | y = 1) = π·p_B / c = π(1 + u) / (1 + u·π),
        P(B | y = 0) = π(1 − p_B) / (1 − c).

    The draws are independent across people, so (arm, outcome) has the law of a randomised
    test whose treatment multiplies the conversion rate by 1 + u (rate ratio p_B/p_A = 1 + u
    in expectation; P(B) = π). What it cannot give is balance on everything else: arm B holds
    slightly more of the frequent buyers, as outcome-correlated traits follow the outcome.
    Visitors never identified cannot convert (y = 0).
    """
    arm = np.full(len(ts), "", dtype=object)
    ex = np.nonzero(camp >= 0)[0]
    if not len(ex):
        return arm
    width = int(user.max()) + 1
    pair, first, inv = np.unique(camp[ex] * width + user[ex], return_index=True,
                                 return_inverse=True)
    p_camp, p_user, t0 = pair // width, pair % width, ts[ex][first]
    # converted: a paid order in [first exposure, first exposure + window), cut at as_of; the
    # orders are sorted by (customer, time), searched on the key customer·span + time
    span = ctx.E + 2.0
    key = np.sort(o_cust * span + o_t)
    cust_ok = p_user < n
    lo = np.searchsorted(key, p_user * span + t0, side="left")
    hi = np.searchsorted(key, p_user * span + np.minimum(t0 + EXPERIMENT_WINDOW_DAYS, ctx.T),
                         side="left")
    y = cust_ok & (hi > lo)
    k = len(ctx.camp_ids)
    c = np.bincount(p_camp, y, minlength=k) / np.maximum(np.bincount(p_camp, minlength=k), 1)
    u, pi = ctx.camp_uplift, ctx.camp_share_b
    p_b = np.minimum((1.0 + u) * c / (1.0 + u * pi), 1.0)
    q1 = pi * (1.0 + u) / (1.0 + u * pi)
    q0 = np.clip(np.divide(pi * (1.0 - p_b), 1.0 - c, out=pi.copy(), where=c < 1.0), 0.0, 1.0)
    is_b = rng.random(len(pair)) < np.where(y, q1[p_camp], q0[p_camp])
    arm[ex] = np.where(is_b, "B", "A").astype(object)[inv]
    return arm


def campaign_uplifts(config: WorldConfig | None = None) -> pd.DataFrame:
    """The demo world's true A/B effects, one row per campaign of `config`: `campaign_id`,
    `treatment_share` (the planned share of arm B, as in the campaign's `arms`) and `uplift`,
    the true relative uplift of the conversion rate, arm B over control arm A, within
    `EXPERIMENT_WINDOW_DAYS` of a person's first exposure (see `_arms`). Not stored in the
    warehouse: it is what an A/B analysis of the world should recover."""
    ctx = _Context(config or WorldConfig())
    return pd.DataFrame({"campaign_id": ctx.camp_ids.copy(),
                         "treatment_share": ctx.camp_share_b.copy(),
                         "uplift": ctx.camp_uplift.copy()})


# --------------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------------


def generate_world(config: WorldConfig | None = None) -> Iterator[tuple[str, pd.DataFrame]]:
    """Yields (table_name, frame) pairs; a table can be yielded many times (one frame per chunk).

    Frames use exactly the column names of `upmarket.warehouse.schema.TABLES[table_name]`
    (all required ones, a subset of the optional ones) with dtypes: timestamps naive UTC
    datetime64[ns], floats, int64, bool, JSON columns as JSON text, `marketing_spend.date` as
    `datetime.date` objects, `feedback.nps_score` as nullable Int64 (CSAT-only rows are null).

    Order: products, promotions, campaigns, marketing_spend, brand_survey; then per chunk of
    `chunk_customers` customers: customers, truth_customers, orders, events, payments,
    service_tickets, feedback, consents; finally truth_channels. The same config always gives
    the same frames (each chunk draws from its own generator seeded by (seed, chunk index)).
    See the module docstring for the generative story and the truth definitions.
    """
    cfg = config or WorldConfig()
    ctx = _Context(cfg)
    yield "products", ctx.products
    yield "promotions", ctx.promotions
    yield "campaigns", ctx.campaigns
    yield "marketing_spend", ctx.marketing_spend()
    yield "brand_survey", ctx.brand_survey()
    cnt = _Counters()
    incremental = np.zeros(len(CHANNELS))
    N, step = int(cfg.customers), int(cfg.chunk_customers)
    for ci, lo in enumerate(range(0, N, step)):
        yield from _chunk(ctx, ci, lo, min(lo + step, N), cnt, incremental)
    yield "truth_channels", _frame("truth_channels", {
        "channel": np.array(CHANNELS, dtype=object),
        "incremental_conversions": incremental.astype(float),
    })
