"""What the membership programme costs and owes on a run's date (会员经济性).

- **Points liability**: the points members hold, at what a point is worth when redeemed
  (`Programme.redemption_value`). Not every point will be redeemed: the expected cost is the
  liability net of **breakage**, the share of points earned that lapse rather than being
  spent. IFRS 15 (B44–B47, customers' unexercised rights) has breakage recognised "in
  proportion to the pattern of rights exercised by the customer" when it can be expected
  from history, so it is estimated from the earning years whose expiry has already passed
  (every point of such a year was either spent or lapsed), as lapsed ÷ earned over those
  years, with a 90 % interval from a bootstrap over members (points of one member move
  together, so members are resampled, not entries). With no year old enough there is no estimate and the liability is shown gross.
- **Benefit cost per level**: each level's benefits (`Level.benefits`) costed by their driver
  (`benefit_cost`) over the qualification window's members, orders and spend.
- **Redemption rate** (points redeemed ÷ points earned over the statement's period, and the
  share of members who redeemed), **active-member rate** (members with an order counted in
  the qualification window), the **level distribution**, and **level migration**: how many
  moved from each level on the previous evaluation (or the previous run) to each level now.
- **Incremental margin**: what joining changes in a member's spend, against comparable
  non-members (`incremental`), where an existing programme's members were ingested with their
  joining dates and some customers never joined; not estimated otherwise (every customer with
  an order counts as a member, so there is no comparison).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from upmarket.membership import incremental
from upmarket.membership.benefit_cost import BenefitCost
from upmarket.membership.programme import Programme

#: Coverage of the intervals, and bootstrap replicates (the ratio is smooth; 400 keep the
#: interval's ends steady to about a percentage point).
LEVEL = 0.90
REPLICATES = 400


@dataclass
class Lapsed:
    """What breakage is estimated from: per member with points earned in years whose expiry
    has passed (in member order), those points and the points of them that lapsed; the
    earning years; and whether any entry of such a year was found at all."""

    earned: np.ndarray
    expired: np.ndarray
    years: set
    found: bool

    @classmethod
    def of(cls, ledger: pd.DataFrame, as_of: datetime) -> "Lapsed":
        due = pd.to_datetime(ledger["expires_at"])
        years = ledger[due.notna() & (due <= pd.Timestamp(as_of))]
        if years.empty:
            return cls(np.zeros(0), np.zeros(0), set(), False)
        lapsed = years["kind"] == "expire"
        by = years.assign(earned=years["points"].where(~lapsed, 0),
                          expired=-years["points"].where(lapsed, 0))
        per = by.groupby("customer_id")[["earned", "expired"]].sum()
        per = per[per["earned"] > 0]
        return cls(per["earned"].to_numpy(float), per["expired"].to_numpy(float),
                   {int(y) for y in years["earned_year"].dropna().unique()}, True)

    @classmethod
    def joined(cls, parts: list["Lapsed"]) -> "Lapsed":
        """The `Lapsed` of a ledger from those of its parts, each a run of members in order:
        the same members in the same order, so the estimate is the same to the last bit."""
        if not parts:
            return cls(np.zeros(0), np.zeros(0), set(), False)
        return cls(np.concatenate([p.earned for p in parts]),
                   np.concatenate([p.expired for p in parts]),
                   set().union(*(p.years for p in parts)), any(p.found for p in parts))


def breakage(ledger: pd.DataFrame | None, as_of: datetime, *,
             rng: np.random.Generator | None = None, lapsed: Lapsed | None = None) -> dict:
    """Share of the points earned in years whose expiry has passed by `as_of` that lapsed,
    with its interval, the years it is estimated from, and the points behind it. `lapsed`:
    what the ledger holds of those years, when the ledger itself is not at hand."""
    lapsed = Lapsed.of(ledger, as_of) if lapsed is None else lapsed
    if not lapsed.found:
        return {"rate": None, "low": None, "high": None, "years": [], "earned": 0, "expired": 0}
    earned, expired = lapsed.earned, lapsed.expired
    if earned.sum() <= 0:
        return {"rate": None, "low": None, "high": None, "years": [], "earned": 0, "expired": 0}
    rate = expired.sum() / earned.sum()
    rng = rng or np.random.default_rng(0)
    # Poisson weights: the bootstrap without building a resampled copy per replicate
    ratios = np.empty(REPLICATES)
    # one BLAS thread: products this small gain nothing from a second one, which on a busy
    # machine spins waiting for the first
    with threadpool_limits(limits=1, user_api="blas"):
        for b in range(REPLICATES):
            w = rng.poisson(1.0, len(earned))
            ratios[b] = (w @ expired) / max(w @ earned, 1e-9)
    low, high = np.quantile(ratios, [(1 - LEVEL) / 2, (1 + LEVEL) / 2])
    return {"rate": float(rate), "low": float(low), "high": float(high),
            "years": sorted(lapsed.years),
            "earned": int(earned.sum()), "expired": int(expired.sum())}


def liability(balances: pd.DataFrame, broken: dict, programme: Programme) -> dict:
    """Points held on the run's date, their redemption value, and the value expected to be
    redeemed after breakage (with the interval breakage's interval gives)."""
    held = int(balances["closing"].clip(lower=0).sum())
    value = held * programme.redemption_value
    out = {"points": held, "value": round(value, 2), "redemption_value":
           programme.redemption_value, "expected": None, "expected_low": None,
           "expected_high": None}
    if broken["rate"] is not None:
        out["expected"] = round(value * (1 - broken["rate"]), 2)
        # more breakage, less owed: the interval's high end of breakage is the low end here
        out["expected_low"] = round(value * (1 - broken["high"]), 2)
        out["expected_high"] = round(value * (1 - broken["low"]), 2)
    return out


def benefit_cost(members: pd.DataFrame, programme: Programme,
                 costs: dict[str, BenefitCost] | None = None) -> dict:
    """Per level: members, the cost of its benefits over the qualification window, and that
    cost per member; `costs` defaults to the programme's own."""
    costs = programme.benefit_costs if costs is None else costs
    years = programme.window_months / 12
    out = {}
    for lv in programme.levels:
        at = members[members["level"] == lv.code]
        n = len(at)
        spend = float(at["spend_window"].clip(lower=0).sum())
        orders = float(at["orders_window"].sum())
        total = sum(costs[b].cost(n, orders, spend, years) for b in lv.benefits if b in costs)
        out[lv.code] = {"members": n, "cost": round(total, 2),
                        "per_member": round(total / n, 2) if n else None}
    return out


def migration(members: pd.DataFrame, programme: Programme) -> dict:
    """From each previous level to each level now (members new since have none before)."""
    known = members[members["previous_level"].notna()]
    counts = pd.crosstab(known["previous_level"], known["level"])
    return {a: {b: int(counts.at[a, b]) for b in programme.codes if b in counts.columns
                and counts.at[a, b]}
            for a in programme.codes if a in counts.index}


def economics(members: pd.DataFrame, ledger: pd.DataFrame | Lapsed, balances: pd.DataFrame,
              programme: Programme, as_of: datetime, *,
              costs: dict[str, BenefitCost] | None = None, lines: pd.DataFrame | None = None,
              enrolled: pd.DataFrame | None = None, margin_rate: float | None = None,
              joining: dict | None = None) -> dict:
    """The programme's economics on `as_of` from the run's member levels, ledger and points
    statements (`outputs.evaluate_programme`; of the ledger, what breakage reads, `Lapsed`,
    is enough); with the order `lines` and the `enrolled` members of an ingested programme
    (customer_id, joined_at), the incremental spend and margin of joining, unless `joining`
    gives it already (`incremental.membership_effect_of`, estimated from the engine)."""
    n = len(members)
    broken = breakage(None, as_of, lapsed=ledger) if isinstance(ledger, Lapsed) \
        else breakage(ledger, as_of)
    earned = int(balances["earned"].sum())
    redeemed = int(balances["redeemed"].sum())
    counts = members["level"].value_counts()
    return {
        "liability": liability(balances, broken, programme),
        "breakage": broken,
        "benefit_cost": benefit_cost(members, programme, costs),
        "redemption_rate": round(redeemed / earned, 4) if earned > 0 else None,
        "redeemers_rate": round(float((balances["redeemed"] > 0).mean()), 4) if n else None,
        "active_rate": round(float((members["orders_window"] > 0).mean()), 4) if n else None,
        "levels": {c: {"members": int(counts.get(c, 0)),
                       "share": round(int(counts.get(c, 0)) / n, 4) if n else 0.0}
                   for c in programme.codes},
        "migration": migration(members, programme),
        "incremental": joining if joining is not None else incremental.membership_effect(
            pd.DataFrame() if lines is None else lines,
            pd.DataFrame() if enrolled is None else enrolled, as_of,
            margin_rate=margin_rate),
        "period_start": f"{pd.Timestamp(balances['period_start'].iloc[0]):%Y-%m-%d}"
        if len(balances) else None,
    }


# -- in words, for the run summary, `upmarket members summary` and the report ---------------
def _pct(x) -> str:
    return "—" if x is None else f"{x:.1%}"


def lines(found: dict, programme: Programme, lang: str, symbol: str | None = None,
          months: int | None = None) -> list[str]:
    """The economics (`economics`) as sentences: liability, breakage, rates, the incremental
    margin of joining and the effect of moving up a level (or why they are not given)."""
    from upmarket.currency import money
    from upmarket.i18n import label

    li, br = found["liability"], found["breakage"]
    out = [label("members.econ.liability", lang, points=li["points"],
                 value=money(li["value"], lang, policy=symbol),
                 each=money(li["redemption_value"], lang, decimals=2, policy=symbol))]
    if br["rate"] is None:
        out.append(label("members.econ.no_breakage", lang))
    else:
        out.append(label("members.econ.expected", lang,
                         expected=money(li["expected"], lang, policy=symbol),
                         low=money(li["expected_low"], lang, policy=symbol),
                         high=money(li["expected_high"], lang, policy=symbol)))
        years = br["years"]
        span = str(years[0]) if len(years) == 1 else f"{years[0]}–{years[-1]}"
        out.append(label("members.econ.breakage", lang, years=span, rate=_pct(br["rate"]),
                         low=_pct(br["low"]), high=_pct(br["high"])))
    out.append(label("members.econ.rates", lang, start=found.get("period_start") or "—",
                     redemption=_pct(found["redemption_rate"]),
                     redeemers=_pct(found["redeemers_rate"]), active=_pct(found["active_rate"]),
                     months=months or programme.window_months))
    out.append(incremental_words(found.get("incremental"), lang, symbol))
    if found.get("level_up") is not None:  # runs from before it was measured have none
        out.append(level_up_words(found["level_up"], lang, symbol))
    return out


def level_up_words(found: dict, lang: str, symbol: str | None = None) -> str:
    """The effect of moving up a level (`level_up`) in a sentence, or why it is not given."""
    from upmarket.currency import money
    from upmarket.i18n import label

    if found.get("spend") is None:
        return label(f"members.econ.level_up.{found.get('reason') or 'too_few_near_bar'}",
                     lang, above=found.get("above", 0), below=found.get("below", 0),
                     band=found.get("bandwidth", 0.3), months=found.get("months", 6),
                     n=found.get("min_side", 30))
    margin = found.get("margin")
    return label("members.econ.level_up", lang, months=found["months"],
                 spend=money(found["spend"], lang, policy=symbol),
                 low=money(found["low"], lang, policy=symbol),
                 high=money(found["high"], lang, policy=symbol),
                 margin=money(margin, lang, policy=symbol) if margin is not None else "—",
                 above=found["above"], below=found["below"])


def incremental_words(found: dict | None, lang: str, symbol: str | None = None) -> str:
    from upmarket.currency import money
    from upmarket.i18n import label

    if not found or found.get("spend") is None:
        reason = (found or {}).get("reason") or "no_members"
        return label(f"members.econ.incremental.{reason}", lang,
                     n=incremental.MIN_MEMBERS, months=(found or {}).get("months", 6))
    margin = found.get("margin")
    return label("members.econ.incremental", lang, months=found["months"],
                 spend=money(found["spend"], lang, policy=symbol),
                 low=money(found["low"], lang, policy=symbol),
                 high=money(found["high"], lang, policy=symbol),
                 margin=money(margin, lang, policy=symbol) if margin is not None else "—",
                 n=found["members"], controls=found["controls"])


def run_line(found: dict, lang: str, symbol: str | None = None) -> str:
    """One line of the run summary."""
    from upmarket.currency import money
    from upmarket.i18n import label

    li = found["liability"]
    expected = li["expected"] if li["expected"] is not None else li["value"]
    return label("members.run_economics", lang, value=money(li["value"], lang, policy=symbol),
                 points=li["points"], expected=money(expected, lang, policy=symbol),
                 redemption=_pct(found["redemption_rate"]), active=_pct(found["active_rate"]))
