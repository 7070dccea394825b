"""The membership programme (会员体系): the public levels a member can be told and the rules
that earn them, how points are earned, and when they expire.

Membership levels are not value tiers (`strategy.tiers`). Tiers are internal percentiles of
predicted and current margin, recomputed against the whole base and never shown to the
customer; levels are public, earned by rules a member can read ("spend ¥8,000 or place 10
orders in 12 months"), and kept through a grace period when a member falls below them.

The built-in programme is the four-card ladder Chinese retail members know from 有赞 and 微盟
(普通会员 / 银卡 / 金卡 / 黑金), qualified on trailing 12-month spend or orders, with a
points multiplier per level and points that expire at the end of the year after they were
earned. Everything is configurable in the policy file's `membership:` section
(`policy.schema.Membership`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import pandas as pd

from upmarket.membership.benefit_cost import DEFAULT_COSTS, BenefitCost

#: How a level's two bars combine: `any` — either one qualifies; `all` — both are needed.
RULES = ("any", "all")
#: How often levels are evaluated (besides each run's own date): the start of every month or
#: of every quarter.
EVALUATIONS = ("monthly", "quarterly")
#: When points expire: at the end of the calendar year after the one they were earned in
#: (points of 2024 lapse when 2025 ends), or never.
EXPIRIES = ("end_of_following_year", "never")
#: The benefits a level may grant (会员权益), from the matrix Chinese retail programmes show:
#: member prices, free shipping, a birthday gift, priority service, exclusive events, a
#: dedicated manager. Each has an English and a Chinese name (`members.benefit.<code>`).
BENEFITS = ("member_price", "free_shipping", "birthday_gift", "priority_service",
            "exclusive_events", "dedicated_manager")


@dataclass(frozen=True)
class Level:
    code: str
    name: str
    name_zh: str
    #: trailing-window net spend (after cancellations and returns) that qualifies
    min_spend: float = 0.0
    #: trailing-window orders that qualify
    min_orders: int = 0
    rule: str = "any"
    #: points earned per point a base member earns
    multiplier: float = 1.0
    #: what the level grants, codes of `BENEFITS`, in the order a member is told them
    benefits: tuple[str, ...] = ()

    def display(self, lang: str | None = None) -> str:
        from upmarket.i18n import current_lang

        return self.name_zh if current_lang(lang) == "zh-CN" else self.name

    def qualifies(self, spend, orders):
        """Whether trailing `spend` and `orders` (arrays) reach this level's bars; a bar of 0
        is not a condition (a Silver card "by orders only" sets its spend bar to 0)."""
        spend = np.asarray(spend, float)
        orders = np.asarray(orders, float)
        used = [x >= bar for x, bar in ((spend, self.min_spend), (orders, self.min_orders))
                if bar > 0]
        if not used:
            return np.ones(len(spend), dtype=bool)
        return np.logical_or.reduce(used) if self.rule == "any" else np.logical_and.reduce(used)


@dataclass(frozen=True)
class Programme:
    levels: tuple[Level, ...] = (
        Level("member", "Member", "普通会员", 0.0, 0, "any", 1.0, ("member_price",)),
        Level("silver", "Silver", "银卡", 2_000.0, 4, "any", 1.2,
              ("member_price", "birthday_gift")),
        Level("gold", "Gold", "金卡", 8_000.0, 10, "any", 1.5,
              ("member_price", "birthday_gift", "free_shipping", "priority_service")),
        # the top card asks for both, so one large purchase does not buy it
        Level("black_gold", "Black Gold", "黑金", 30_000.0, 12, "all", 2.0,
              ("member_price", "birthday_gift", "free_shipping", "priority_service",
               "exclusive_events", "dedicated_manager")),
    )
    enabled: bool = True
    #: months of history the qualification counts (trailing window)
    window_months: int = 12
    evaluation: str = "monthly"
    #: days a member may stay below their level's bars before being moved down
    grace_days: int = 90
    #: points per currency unit of net spend, before the level's multiplier
    points_per_unit: float = 1.0
    expiry: str = "end_of_following_year"
    #: what one point is worth when redeemed, in currency units (100 points = ¥1, the common
    #: rate of 有赞 and 微盟 shops): the cost of a points offer and of an adjustment
    redemption_value: float = 0.01
    #: what each benefit costs (`benefit_cost`); the policy file's `membership.benefit_costs`
    #: replaces the planning figures. Left out of the hash: a dict cannot be hashed.
    benefit_costs: dict[str, BenefitCost] = field(default_factory=lambda: dict(DEFAULT_COSTS),
                                                  hash=False)

    def __post_init__(self):
        if not self.levels:
            raise ValueError("a programme needs at least one level")
        first = self.levels[0]
        if first.min_spend > 0 or first.min_orders > 0:
            raise ValueError("the first level is every member's: its bars must be 0")
        if self.evaluation not in EVALUATIONS or self.expiry not in EXPIRIES:
            raise ValueError("unknown evaluation period or expiry rule")
        unknown = sorted({b for lv in self.levels for b in lv.benefits} - set(BENEFITS))
        if unknown:
            raise ValueError(f"unknown benefit(s) {', '.join(unknown)}; known: "
                             f"{', '.join(BENEFITS)}")
        if not self.redemption_value >= 0:
            raise ValueError("redemption_value must be 0 or more")

    @property
    def codes(self) -> list[str]:
        return [lv.code for lv in self.levels]

    def level(self, code: str) -> Level:
        return self.levels[self.codes.index(code)]

    def window(self) -> pd.DateOffset:
        return pd.DateOffset(months=self.window_months)

    def evaluation_dates(self, first: datetime, as_of: datetime) -> list[pd.Timestamp]:
        """The dates levels are evaluated on: the start of every evaluation period from the one
        holding `first` (the earliest order) up to `as_of`, and `as_of` itself."""
        freq = "MS" if self.evaluation == "monthly" else "QS"
        start = pd.Timestamp(first).to_period("M" if freq == "MS" else "Q").start_time
        dates = list(pd.date_range(start, pd.Timestamp(as_of), freq=freq))
        if not dates or dates[-1] != pd.Timestamp(as_of):
            dates.append(pd.Timestamp(as_of))
        return dates

    def expires_at(self, earned: pd.Series) -> pd.Series:
        """When points earned at `earned` lapse: 1 January two years on (the end of the
        following year); NaT under `never`."""
        years = pd.to_datetime(earned).dt.year
        if self.expiry == "never":
            return pd.Series(pd.NaT, index=earned.index, dtype="datetime64[ns]")
        return pd.to_datetime((years + 2).astype(str) + "-01-01")
