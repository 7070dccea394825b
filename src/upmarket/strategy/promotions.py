"""Did a promotion pay, and who buys only on promotion? (DESIGN §4: offers with a cost model;
"promotion lift, cannibalisation and discount dependency are measured, because the back-to-basics marketing course warns
against over-reliance on promotions" — 过度依赖促销和折扣，降低品牌价值.)

Per promotion (from the daily aggregates of `features.promotions`):

* **Lift** — sales of the promoted scope (its categories when its `rules` name them, else the
  whole store) during the promotion against a *baseline*: what the same days would have sold
  at the rate of comparable non-promotion days. Comparable days are the `baseline_days` before
  the start on which no promotion ran; the baseline is their mean per weekday (weekends sell
  differently), summed over the promotion's weekdays. Lift = actual − expected,
  lift rate = actual ÷ expected − 1. This is the pre-period baseline of retail promotion
  analysis (Blattberg & Neslin 1990, *Sales Promotion*, ch. 7: baseline sales from non-promoted
  periods); it ignores trend and pull-forward, so read a short flash sale's lift with care.
* **Cannibalisation** — the same comparison on *full-price* sales of the scope: how far
  full-price sales fell while the promotion ran (`cannibalisation_rate` = 1 − actual ÷
  expected; positive = customers who would have paid full price took the discount).
* **Cost and ROI** — cost is the promotion's cost model (`cost_per_use` × orders that used it)
  when given, else the discount its lines carry, else unknown. ROI = (incremental margin −
  cost) ÷ cost, incremental margin = lift × the scope's margin rate (from product costs); when
  products carry no cost the lift in sales stands in and `roi_basis` says `revenue`. Amounts
  are net of discounts, so the discount is already out of the lift; a cost model that
  includes the discount therefore makes this ROI conservative.

Overlapping promotions share their days: each is measured on its own window, and `overlaps`
lists the others so a reader knows the lifts are not additive.

Per customer, **discount dependency** is the share of their spend bought on promotion or
discount; per segment it is the revenue-weighted share, the customers' mean, and the share of
customers above the dependency threshold (default one half).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from upmarket.errors import UpmarketError

EFFECT_COLUMNS = [
    "promotion_id", "name", "type", "start", "end", "days", "scope", "status",
    "baseline_days", "sales", "expected_sales", "lift", "lift_rate", "full_price_sales",
    "expected_full_price_sales", "cannibalised_sales", "cannibalisation_rate", "uses",
    "customers", "promotion_sales", "discount", "cost", "cost_basis", "margin_rate",
    "incremental_margin", "roi", "roi_basis", "overlaps",
]


class BadPromotions(UpmarketError, ValueError):
    """Promotion input is unusable: a column is missing or dates are inverted."""


@dataclass(frozen=True)
class PromotionSettings:
    #: Days before a promotion's start searched for comparable non-promotion days.
    baseline_days: int = 56
    #: Fewer comparable days than this and no baseline is claimed.
    min_baseline_days: int = 7
    #: Below this share of sales with a product cost, margin is not trusted (ROI on revenue).
    min_costed_share: float = 0.5
    #: A customer whose promoted share of spend reaches this is "promotion dependent".
    dependent_share: float = 0.5


def promotion_scope(rules: str | None) -> tuple[str, ...] | None:
    """The categories a promotion's `rules` JSON limits it to (`category`: one, `categories`:
    several), or None for a store-wide promotion or unreadable rules."""
    if rules is None or (isinstance(rules, float) and math.isnan(rules)):
        return None
    try:
        r = json.loads(rules)
    except (TypeError, json.JSONDecodeError):
        return None
    if not isinstance(r, dict):
        return None
    cats: list[str] = []
    if isinstance(r.get("category"), str):
        cats.append(r["category"])
    if isinstance(r.get("categories"), list):
        cats += [c for c in r["categories"] if isinstance(c, str)]
    return tuple(dict.fromkeys(cats)) or None


def _days(ts) -> np.datetime64:
    return np.datetime64(pd.Timestamp(ts).normalize().date(), "D")


def _expected(series: np.ndarray, weekday: np.ndarray, base: np.ndarray,
              window: np.ndarray) -> float:
    """Σ over the window's days of the baseline mean of that weekday (overall baseline mean for
    a weekday the baseline lacks)."""
    overall = series[base].mean()
    means = np.full(7, overall)
    for w in range(7):
        m = base & (weekday == w)
        if m.any():
            means[w] = series[m].mean()
    return float(means[weekday[window]].sum())


def promotion_effects(promotions: pd.DataFrame, daily: pd.DataFrame, usage: pd.DataFrame,
                      as_of: datetime, settings: PromotionSettings = PromotionSettings()
                      ) -> pd.DataFrame:
    """One row per promotion (columns `EFFECT_COLUMNS`); `status` is `measured`,
    `no_baseline` (too few comparable days before it), `not_started` (starts at or after
    `as_of`) or `outside_data` (ran before the first sale held). `promotions` has the
    warehouse's promotions columns, `daily` and `usage` are `features.promotions.daily_sales`
    and `promotion_usage` as frames."""
    need = {"promotion_id", "start", "end"}
    if not need <= set(promotions.columns):
        raise BadPromotions(f"promotions need columns {', '.join(sorted(need))}; got "
                            f"{', '.join(promotions.columns)}")
    if promotions.empty:
        return pd.DataFrame(columns=EFFECT_COLUMNS)
    bad = promotions[pd.to_datetime(promotions["end"]) < pd.to_datetime(promotions["start"])]
    if len(bad):
        raise BadPromotions(f"promotion {bad.promotion_id.iloc[0]}: end is before start; fix "
                            f"the promotions file and ingest it again")
    last_day = _days(as_of - timedelta(microseconds=1))
    if len(daily):
        first_day = _days(pd.to_datetime(daily["day"]).min())
        calendar = np.arange(first_day, last_day + 1)
    else:
        calendar = np.array([], dtype="datetime64[D]")
    weekday = ((calendar.astype("int64") - 4) % 7)  # 0 = Monday (1970-01-01 was a Thursday)
    d = daily.copy()
    d["day"] = pd.to_datetime(d["day"]).dt.normalize().to_numpy().astype("datetime64[D]")
    pos = pd.Index(calendar)

    def series(frame: pd.DataFrame, col: str) -> np.ndarray:
        out = np.zeros(len(calendar))
        if len(frame):
            per = frame.groupby("day")[col].sum()
            idx = pos.get_indexer(per.index.to_numpy().astype("datetime64[D]"))
            ok = idx >= 0
            np.add.at(out, idx[ok], per.to_numpy()[ok])
        return out

    windows = {}
    any_promo = np.zeros(len(calendar), bool)
    for p in promotions.itertuples(index=False):
        w = (calendar >= _days(p.start)) & (calendar <= _days(p.end))
        windows[p.promotion_id] = w
        any_promo |= w
    use = usage.set_index("promotion_id") if len(usage) else pd.DataFrame()
    spans = {p.promotion_id: (_days(p.start), _days(p.end))
             for p in promotions.itertuples(index=False)}
    rows = []
    for p in promotions.itertuples(index=False):
        pid = p.promotion_id
        scope = promotion_scope(getattr(p, "rules", None))
        sub = d[d["category"].isin(scope)] if scope else d
        s0, e0 = spans[pid]
        overlaps = [o for o, (s1, e1) in spans.items() if o != pid and s1 <= e0 and s0 <= e1]
        row = {"promotion_id": pid, "name": getattr(p, "name", None),
               "type": getattr(p, "type", None), "start": p.start, "end": p.end,
               "scope": ", ".join(scope) if scope else "all",
               "overlaps": ", ".join(sorted(overlaps))}
        u = use.loc[pid] if pid in use.index else None
        uses = int(u["uses"]) if u is not None else 0
        discount = float(u["discount"]) if u is not None else 0.0
        row.update(uses=uses, customers=int(u["customers"]) if u is not None else 0,
                   promotion_sales=float(u["sales"]) if u is not None else 0.0,
                   discount=discount)
        cpu = getattr(p, "cost_per_use", None)
        if cpu is not None and np.isfinite(cpu):
            row.update(cost=float(cpu) * uses, cost_basis="cost_per_use")
        elif discount > 0:
            row.update(cost=discount, cost_basis="discount")
        else:
            row.update(cost=np.nan, cost_basis=None)
        window = windows[pid]
        row["days"] = int(window.sum())
        if pd.Timestamp(p.start) >= pd.Timestamp(as_of):
            rows.append({**row, "status": "not_started"})
            continue
        if not window.any():
            rows.append({**row, "status": "outside_data"})
            continue
        base = ((calendar >= s0 - np.timedelta64(int(settings.baseline_days), "D"))
                & (calendar < s0) & ~any_promo)
        row["baseline_days"] = int(base.sum())
        sales, full = series(sub, "sales"), series(sub, "full_price_sales")
        row.update(sales=float(sales[window].sum()),
                   full_price_sales=float(full[window].sum()))
        if base.sum() < settings.min_baseline_days:
            rows.append({**row, "status": "no_baseline"})
            continue
        exp_sales = _expected(sales, weekday, base, window)
        exp_full = _expected(full, weekday, base, window)
        lift = row["sales"] - exp_sales
        row.update(status="measured", expected_sales=exp_sales, lift=lift,
                   lift_rate=row["sales"] / exp_sales - 1 if exp_sales > 0 else np.nan,
                   expected_full_price_sales=exp_full,
                   cannibalised_sales=exp_full - row["full_price_sales"],
                   cannibalisation_rate=(1 - row["full_price_sales"] / exp_full
                                         if exp_full > 0 else np.nan))
        both = base | window
        costed = series(sub, "costed_sales")[both].sum()
        total = sales[both].sum()
        if total > 0 and costed / total >= settings.min_costed_share:
            rate = series(sub, "margin")[both].sum() / costed
            row.update(margin_rate=float(rate), incremental_margin=lift * float(rate),
                       roi_basis="margin")
        else:
            row.update(margin_rate=np.nan, incremental_margin=lift, roi_basis="revenue")
        if np.isfinite(row["cost"]) and row["cost"] > 0:
            row["roi"] = (row["incremental_margin"] - row["cost"]) / row["cost"]
        rows.append(row)
    return pd.DataFrame(rows, columns=EFFECT_COLUMNS)


def discount_dependency(spend: pd.DataFrame, settings: PromotionSettings = PromotionSettings()
                        ) -> pd.DataFrame:
    """Per customer (from `features.promotions.discount_spend`): `dependency` = promoted spend
    ÷ spend (NaN when nothing was spent), `discount_rate` = discount ÷ list value,
    `promo_order_share` = promoted orders ÷ orders, and `dependent` (dependency ≥ the
    settings' threshold)."""
    out = spend.copy()
    with np.errstate(divide="ignore", invalid="ignore"):
        out["dependency"] = np.where(out["spend"] > 0, out["promo_spend"] / out["spend"], np.nan)
        out["discount_rate"] = np.where(out["list_value"] > 0,
                                        out["discount"] / out["list_value"], np.nan)
        out["promo_order_share"] = np.where(out["orders"] > 0,
                                            out["promo_orders"] / out["orders"], np.nan)
    out["dependent"] = out["dependency"].fillna(0.0) >= settings.dependent_share
    return out


def dependency_by_segment(dependency: pd.DataFrame, segments: pd.Series | pd.DataFrame
                          ) -> pd.DataFrame:
    """Discount dependency per segment. `segments` maps customer_id (its index) to a segment;
    a DataFrame holds several segmentations (one per column, e.g. tier and RFM segment), each
    reported under `segmentation`. Customers the map does not know go to segment `(none)`.
    Columns: segmentation, segment, customers, spend, promo_spend, dependency
    (revenue-weighted), mean_dependency (mean over customers), dependent_share, discount_rate."""
    frame = segments.to_frame() if isinstance(segments, pd.Series) else segments
    out = []
    for col in frame.columns:
        seg = dependency["customer_id"].map(frame[col]).fillna("(none)").astype(str)
        g = dependency.assign(segment=seg).groupby("segment")
        agg = g.agg(customers=("customer_id", "size"), spend=("spend", "sum"),
                    promo_spend=("promo_spend", "sum"), discount=("discount", "sum"),
                    list_value=("list_value", "sum"), mean_dependency=("dependency", "mean"),
                    dependent_share=("dependent", "mean"))
        agg["dependency"] = agg["promo_spend"] / agg["spend"].where(agg["spend"] > 0)
        agg["discount_rate"] = agg["discount"] / agg["list_value"].where(agg["list_value"] > 0)
        agg.insert(0, "segmentation", str(col))
        out.append(agg.reset_index())
    cols = ["segmentation", "segment", "customers", "spend", "promo_spend", "dependency",
            "mean_dependency", "dependent_share", "discount_rate"]
    return pd.concat(out, ignore_index=True)[cols] if out else pd.DataFrame(columns=cols)
