"""The business policy's one schema: what `upmarket.yaml` may say, with bounds and a
description per key (the comments `upmarket config init` writes).

Every default is read from the settings the engine runs on (`pipeline.Settings` and the
dataclasses it holds: `tiers.TierPolicy`, `nba.NbaSettings`, `value.ValueSettings`), so a file
written by `config init` and an absent file run the same engine; `Policy.settings()` turns a
checked policy back into those settings.
"""

from __future__ import annotations

import dataclasses
from typing import Annotated, Literal

from pydantic import (AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field,
                      create_model, model_validator)

from upmarket.activation.holdout import HoldoutSettings
from upmarket.membership.benefit_cost import BenefitCost
from upmarket.membership.programme import (BENEFITS, EVALUATIONS, EXPIRIES, RULES, Level,
                                          Programme)
from upmarket.pipeline import Settings
from upmarket.strategy.nba import Offer
from upmarket.strategy.tiers import TIER_ORDER
from upmarket.warehouse.schema import PROMOTION_TYPES

_DEFAULT = Settings()
_TIERS = _DEFAULT.tiers
_NBA = _DEFAULT.nba
_VALUE = _DEFAULT.value
_MEMBERS = _DEFAULT.membership
#: Languages of the label tables (`upmarket.i18n`).
LANGUAGES = ("en", "zh-CN")


def _fraction(v: float) -> float:
    if not 0.0 <= v <= 1.0:
        raise ValueError("must be between 0 and 1")
    return v


def _positive(v: float) -> float:
    if not v > 0:
        raise ValueError("must be greater than 0")
    return v


def _not_negative(v: float) -> float:
    if v < 0:
        raise ValueError("must be 0 or more")
    return v


def _language(v):
    if isinstance(v, str) and v.strip().lower().replace("_", "-") in ("zh", "zh-cn", "cn"):
        return "zh-CN"
    return v


def _below_one(v: float) -> float:
    if not 0.0 <= v < 1.0:
        raise ValueError("must be at least 0 and below 1")
    return v


Fraction = Annotated[float, AfterValidator(_fraction)]
#: a control group's share: 1 would leave nobody to act on
HoldoutShare = Annotated[float, AfterValidator(_below_one)]
Positive = Annotated[float, AfterValidator(_positive)]
PositiveInt = Annotated[int, AfterValidator(_positive)]
Count = Annotated[int, AfterValidator(_not_negative)]
Amount = Annotated[float, AfterValidator(_not_negative)]


class Section(BaseModel):
    # unknown keys are refused, not ignored: a misspelt key would otherwise leave the default
    # silently in force
    model_config = ConfigDict(extra="forbid", frozen=True, strict=False)


class TierShares(Section):
    """Shares of the customer base per tier, best customers first; they add up to 1."""

    diamond: Fraction = Field(_TIERS.shares[0], description="share of customers in Diamond")
    core: Fraction = Field(_TIERS.shares[1], description="share of customers in Core")
    potential: Fraction = Field(_TIERS.shares[2], description="share of customers in Potential")
    basic: Fraction = Field(_TIERS.shares[3], description="share of customers in Basic")

    @model_validator(mode="after")
    def _adds_up(self):
        shares = [getattr(self, t) for t in TIER_ORDER]
        if any(s <= 0 for s in shares):
            raise ValueError("every tier needs a share above 0")
        if abs(sum(shares) - 1.0) > 1e-6:
            raise ValueError(f"the four shares must add up to 1; they add up to {sum(shares):g}")
        return self


class TierThresholds(Section):
    """Tier-value bars (12-month margin in the data's currency) instead of shares."""

    diamond: Amount = Field(description="tier value from which a customer is Diamond")
    core: Amount = Field(description="tier value from which a customer is Core")
    potential: Amount = Field(description="tier value from which a customer is Potential")

    @model_validator(mode="after")
    def _descending(self):
        if not self.diamond >= self.core >= self.potential:
            raise ValueError("the bars must not rise from Diamond to Core to Potential")
        return self


def _level_field(tier: str):
    lvl = _TIERS.level(tier)
    return Field(default_factory=lambda: ServiceLevelPolicy(
        response_hours=lvl.response_hours, contacts_per_month=lvl.contacts_per_month,
        cost_share=lvl.cost_share), description=f"the {tier.capitalize()} tier's service level")


class ServiceLevelPolicy(Section):
    response_hours: Positive = Field(description="hours within which a task about such a "
                                                 "customer is due")
    contacts_per_month: Count = Field(description="contact cap: most marketing contacts per "
                                                  "30 days")
    cost_share: Fraction = Field(description="cost to serve, as a share of the tier's mean "
                                             "yearly predicted margin per customer")


class ServiceLevels(Section):
    diamond: ServiceLevelPolicy = _level_field("diamond")
    core: ServiceLevelPolicy = _level_field("core")
    potential: ServiceLevelPolicy = _level_field("potential")
    basic: ServiceLevelPolicy = _level_field("basic")


class Tiers(Section):
    shares: TierShares = Field(default_factory=TierShares,
                               description="customers are ranked by value and cut at these "
                                           "shares")
    thresholds: TierThresholds | None = Field(
        None if _TIERS.thresholds is None else TierThresholds(
            **dict(zip(TIER_ORDER, _TIERS.thresholds))),
        description="null: cut at the shares above; or fixed tier-value bars, e.g. {diamond: "
        "5000, core: 1000, potential: 200}, and the shares are not used")
    current_weight: Fraction = Field(
        _TIERS.current_weight, description="value basis: weight of the last 12 months' margin "
        "against the predicted next 12 months' (0: forecast only, 1: past year only)")
    diamond_revenue_claim: Fraction = Field(
        _TIERS.diamond_revenue_claim, description="share of revenue Diamond is expected to "
        "bring (checked and reported by every run)")
    service_levels: ServiceLevels = Field(default_factory=ServiceLevels,
                                          description="per tier: response time, contact cap, "
                                                      "cost to serve")


class OfferPolicy(Section):
    type: Literal[PROMOTION_TYPES] = Field(description=f"one of {', '.join(PROMOTION_TYPES)}")
    value: Amount = Field(description="share of the order value (time_limited, "
                                      "percent_discount, bundle, points) or an amount of money "
                                      "(threshold_discount, coupon, gift)")
    redemption: Fraction = Field(1.0, description="share of converting customers who use it")


def _offer_field(action: str):
    offer = _NBA.offers[action]
    if offer is None:
        return (OfferPolicy | None, Field(None, description=f"the {action} action's offer "
                                                            "(none: a plain message)"))
    return (OfferPolicy | None, Field(
        default_factory=lambda: OfferPolicy(type=offer.type, value=offer.value,
                                            redemption=offer.redemption),
        description=f"the {action} action's offer and its cost"))


#: One key per next-best action that carries an offer, from `NbaSettings.offers`.
Offers = create_model("Offers", __base__=Section,
                      **{a: _offer_field(a) for a in _NBA.offers})
Offers.__doc__ = "The offer each action makes; its cost counts in the action's expected value."

_RATES = {
    "cross_sell_share": "share of the customer's next purchases made on a cross-sell suggestion",
    "retention_save_rate": "share of would-be churners a retention offer keeps",
    "retention_min_risk": "churn risk from which a retention offer is considered",
    "win_back_rate": "share of lapsed customers a win-back brings back",
    "onboarding_rate": "share of new customers who buy again after onboarding",
    "referral_rate": "share of promoters who refer someone when asked",
    "nurture_rate": "share of customers a nurture message converts",
}
ResponseRates = create_model(
    "ResponseRates", __base__=Section,
    **{k: (Fraction, Field(getattr(_NBA, k), description=d)) for k, d in _RATES.items()})
ResponseRates.__doc__ = ("Response rates where no model gives a probability: assumptions until "
                         "an experiment measures them.")


class Horizons(Section):
    value_months: PositiveInt = Field(_VALUE.horizon_months,
                                      description="months of future margin a lifetime value counts")
    churn_days: PositiveInt = Field(_DEFAULT.churn_horizon_days,
                                    description="days without a purchase that count as churn")
    premium_days: PositiveInt = Field(_DEFAULT.premium_horizon_days,
                                      description="days in which a premium purchase is predicted")


class TierHoldouts(Section):
    diamond: HoldoutShare | None = Field(None, description="Diamond's own share (0: every "
                                         "Diamond customer is served, and what their actions "
                                         "do is never measured)")
    core: HoldoutShare | None = Field(None, description="Core's own share")
    potential: HoldoutShare | None = Field(None, description="Potential's own share")
    basic: HoldoutShare | None = Field(None, description="Basic's own share")


class Holdout(Section):
    share: HoldoutShare = Field(_DEFAULT.holdout.share,
                                description="share of each action type's customers held out as "
                                            "its control group, in every tier")
    per_tier: TierHoldouts = Field(default_factory=TierHoldouts,
                                   description="another share for a tier; unset: the share above")


class Economics(Section):
    monthly_discount: Fraction = Field(_VALUE.monthly_discount,
                                       description="monthly discount rate of future margin")
    default_margin_rate: Fraction = Field(
        _VALUE.default_margin_rate, description="margin rate where product costs are unknown")


class Currency(Section):
    # no default currency: a file of dollars must not be shown in yuan because nobody said so
    code: str | None = Field(None, pattern=r"^[A-Z]{3}$",
                             description="ISO 4217 code of the amounts in the data")
    symbol: str | None = Field(None, min_length=1, max_length=4,
                               description="shown before amounts of money; unset: ¥ in Chinese "
                                           "output, none in English (UPMARKET_CURRENCY overrides "
                                           "this file)")


class LevelPolicy(Section):
    code: str = Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=40,
                      description="the level's code in data and exports, e.g. gold")
    name: str = Field(min_length=1, max_length=40, description="its name in English")
    name_zh: str = Field(min_length=1, max_length=20, description="its name in Chinese")
    min_spend: Amount = Field(0.0, description="net spend in the window that qualifies (0: not "
                                               "a condition)")
    min_orders: Count = Field(0, description="orders in the window that qualify (0: not a "
                                             "condition)")
    rule: Literal[RULES] = Field("any", description="any: either bar qualifies; all: both are "
                                                    "needed")
    multiplier: Positive = Field(1.0, description="points earned per point a base member earns")
    benefits: list[Literal[BENEFITS]] = Field(
        default_factory=list, description="what the level grants: " + ", ".join(BENEFITS))


def _level_policies() -> list[LevelPolicy]:
    return [LevelPolicy(**dataclasses.asdict(lv)) for lv in _MEMBERS.levels]


def _benefit_cost_section(benefit: str) -> type[Section]:
    """The cost model of one benefit, its defaults the engine's planning figures, so a file
    that changes one figure of a benefit keeps the others."""
    d = _MEMBERS.benefit_costs.get(benefit, BenefitCost())
    return create_model(
        f"BenefitCost_{benefit}", __base__=Section,
        spend_share=(Fraction, Field(d.spend_share, description="share of members' net spend "
                                     "it gives away (0.03: prices 3 % below list)")),
        per_order=(Amount, Field(d.per_order, description="currency units per order (postage "
                                                          "the shop pays)")),
        per_member_year=(Amount, Field(d.per_member_year, description="currency units per "
                                       "member and year (a gift, a manager's time)")))


# one class per benefit, made once: a default built from another class would not compare
# equal to the same figures read from a file
_BENEFIT_COST_SECTIONS = {b: _benefit_cost_section(b) for b in BENEFITS}
#: One key per benefit of the matrix (`programme.BENEFITS`), each with its cost model.
BenefitCosts = create_model(
    "BenefitCosts", __base__=Section,
    **{b: (model, Field(default_factory=model, description=f"what {b} costs"))
       for b, model in _BENEFIT_COST_SECTIONS.items()})
BenefitCosts.__doc__ = "What each benefit costs the business, counted per level in the economics."


BonusPoints = create_model(
    "BonusPoints", __base__=Section,
    **{a: (Count, Field(_NBA.points_bonus.get(a, 0),
                        description=f"points the {a} action's points offer grants"))
       for a in _NBA.offers})
BonusPoints.__doc__ = ("Points a points offer grants, per action; each is costed at the "
                       "programme's redemption value when used.")


class MembershipNudge(Section):
    """The next best action's use of the programme: the "N to 金卡" nudge and points offers."""

    orders: Amount = Field(_NBA.level_nudge_orders, description="a member whose next level is "
                           "within this many of their typical orders is told how close it is")
    rate: Fraction = Field(_NBA.level_nudge_rate, description="share of nudged members who "
                           "place the order that reaches the next level")
    bonus_points: BonusPoints = Field(default_factory=BonusPoints,
                                      description="points a points offer grants, per action")


class Membership(Section):
    """The membership programme: public levels earned by rules, points and their expiry."""

    enabled: bool = Field(_MEMBERS.enabled, description="evaluate levels and points in every run")
    levels: list[LevelPolicy] = Field(
        default_factory=_level_policies, description="levels from the lowest (every member's, "
        "no bars) up; a member holds the highest level whose bars they reach")
    window_months: PositiveInt = Field(_MEMBERS.window_months,
                                       description="months of spend and orders a level counts")
    evaluation: Literal[EVALUATIONS] = Field(
        _MEMBERS.evaluation, description="levels are evaluated at the start of every month or "
        "quarter, and on each run's date")
    grace_days: Count = Field(_MEMBERS.grace_days, description="days a member may stay below "
                                                               "their level before moving down")
    points_per_unit: Amount = Field(_MEMBERS.points_per_unit,
                                    description="points per currency unit of product spend, "
                                                "before the level's multiplier")
    expiry: Literal[EXPIRIES] = Field(
        _MEMBERS.expiry, description="end_of_following_year: points lapse when the year after "
        "the one they were earned in ends; never")

    @model_validator(mode="after")
    def _ladder(self):
        levels = self.levels
        if not levels:
            raise ValueError("levels: at least one level is needed")
        codes = [lv.code for lv in levels]
        twice = sorted({c for c in codes if codes.count(c) > 1})
        if twice:
            raise ValueError(f"levels: each code once; {', '.join(twice)} is given twice")
        first = levels[0]
        if first.min_spend > 0 or first.min_orders > 0:
            raise ValueError(f"levels[0] ({first.code}): the first level is every member's, its "
                             "min_spend and min_orders must be 0")
        for i, (low, high) in enumerate(zip(levels, levels[1:]), start=1):
            if high.min_spend == 0 and high.min_orders == 0:
                raise ValueError(f"levels[{i}] ({high.code}): needs min_spend or min_orders "
                                 "above 0, or every member would reach it")
            for bar in ("min_spend", "min_orders"):
                if 0 < getattr(high, bar) < getattr(low, bar):
                    raise ValueError(
                        f"levels[{i}] ({high.code}): {bar} {getattr(high, bar):g} is below "
                        f"{low.code}'s {getattr(low, bar):g}; levels go from the lowest up")
        return self

    redemption_value: Amount = Field(_MEMBERS.redemption_value,
                                     description="what one point is worth when redeemed, in "
                                                 "currency units (0.01: 100 points = 1)")
    benefit_costs: BenefitCosts = Field(
        default_factory=BenefitCosts, description="what each benefit of the levels costs the "
        "business, by what drives it: planning figures until the shop's own replace them")
    nudge: MembershipNudge = Field(default_factory=MembershipNudge,
                                   description="level nudges and the points offers' bonus points")

    def programme(self) -> Programme:
        return Programme(levels=tuple(Level(**{**lv.model_dump(),
                                               "benefits": tuple(lv.benefits)})
                                      for lv in self.levels),
                         enabled=self.enabled, window_months=self.window_months,
                         evaluation=self.evaluation, grace_days=self.grace_days,
                         points_per_unit=self.points_per_unit, expiry=self.expiry,
                         redemption_value=self.redemption_value,
                         benefit_costs={b: BenefitCost(**getattr(self.benefit_costs, b)
                                                       .model_dump()) for b in BENEFITS})


class Policy(Section):
    """The business policy (`upmarket.yaml`)."""

    tiers: Tiers = Field(default_factory=Tiers, description="value tiers and their service")
    offers: Offers = Field(default_factory=Offers, description="offers with their costs")
    response_rates: ResponseRates = Field(default_factory=ResponseRates,
                                          description="assumed response rates")
    horizons: Horizons = Field(default_factory=Horizons, description="prediction horizons")
    holdout: Holdout = Field(default_factory=Holdout,
                             description="control groups kept out of every action, to measure "
                                         "what the actions change")
    economics: Economics = Field(default_factory=Economics,
                                 description="discounting and margins")
    currency: Currency = Field(default_factory=Currency, description="money")
    membership: Membership = Field(default_factory=Membership,
                                   description="membership programme: levels, points, expiry")
    language: Annotated[Literal[LANGUAGES], BeforeValidator(_language)] = Field(
        "en", description="language of labels, reports and reasons: en or zh-CN")

    def settings(self, base: Settings = _DEFAULT) -> Settings:
        """The engine's settings under this policy (those it does not cover from `base`)."""
        t, h, e = self.tiers, self.horizons, self.economics
        levels = tuple(dataclasses.replace(
            old, response_hours=new.response_hours, contacts_per_month=new.contacts_per_month,
            cost_share=new.cost_share)
            for old, new in zip(base.tiers.levels,
                                (getattr(t.service_levels, x) for x in TIER_ORDER)))
        tiers = dataclasses.replace(
            base.tiers, shares=tuple(getattr(t.shares, x) for x in TIER_ORDER), levels=levels,
            thresholds=None if t.thresholds is None else tuple(
                getattr(t.thresholds, x) for x in TIER_ORDER[:3]),
            current_weight=t.current_weight, diamond_revenue_claim=t.diamond_revenue_claim)
        offers = {a: None if o is None else Offer(o.type, o.value, o.redemption)
                  for a, o in ((a, getattr(self.offers, a)) for a in base.nba.offers)}
        nudge = self.membership.nudge
        nba = dataclasses.replace(base.nba, offers=offers, default_margin_rate=e.default_margin_rate,
                                  level_nudge_orders=nudge.orders, level_nudge_rate=nudge.rate,
                                  points_bonus={a: n for a, n in nudge.bonus_points.model_dump()
                                                .items() if n},
                                  **self.response_rates.model_dump())
        value = dataclasses.replace(base.value, horizon_months=h.value_months,
                                    monthly_discount=e.monthly_discount,
                                    default_margin_rate=e.default_margin_rate)
        holdout = HoldoutSettings(share=self.holdout.share, per_tier={
            tier: share for tier in TIER_ORDER
            if (share := getattr(self.holdout.per_tier, tier)) is not None})
        return dataclasses.replace(base, tiers=tiers, nba=nba, value=value, holdout=holdout,
                                   churn_horizon_days=h.churn_days,
                                   premium_horizon_days=h.premium_days,
                                   membership=self.membership.programme())


