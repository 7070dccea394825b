"""Profiles by demographic and region (the source documents' multi-dimensional customer
profiles: age, gender, income; geography from first-tier cities down to third and fourth-tier
ones): for each value of city tier, age band, region, gender and income band, how many
customers, their tier mix, mean CLV, mean churn risk and share of revenue, from the current
run's results and the customers' own attributes (`segment_conditions.base_table`)."""

from __future__ import annotations

import pandas as pd

from upmarket.strategy import segment_conditions as sc
from upmarket.strategy.tiers import TIER_ORDER
from upmarket.warehouse.runs import current_run, output

#: The dimensions profiled, in display order (names of `segment_conditions.FIELDS`).
DIMENSIONS = ("city_tier", "age_band", "region", "gender", "income_band")
#: How a missing value is shown: customers without the attribute are still counted.
MISSING = "—"


def profiles(wh, *, run: dict | None = None, dimensions=DIMENSIONS) -> dict[str, pd.DataFrame]:
    """One frame per dimension the data hold: value, customers, share, one column per tier
    (its share of the value's customers), mean_clv, mean_churn_risk, revenue_share; ordered
    by value (age bands youngest first). Dimensions nobody has a value for are left out."""
    run = run or current_run(wh)
    res = output(wh, "results", run["run_id"])
    base = sc.base_table(wh, res, pd.Timestamp(run["as_of"]).to_pydatetime())
    extra = [c for c in ("net_revenue", "clv", "churn_risk") if c in base.columns]
    out = {}
    for dim in dimensions:
        col = sc.FIELDS[dim].column
        if col not in base.columns:
            continue
        g = base.group_by([col, "tier"]).aggregate(
            customers=base.count(),
            **{f"sum_{c}": base[c].sum() for c in extra}).to_pandas()
        if g[col].notna().sum() == 0:
            continue
        g[col] = g[col].astype(object).where(g[col].notna(), MISSING).astype(str)
        by = g.groupby(col)
        frame = pd.DataFrame({"customers": by["customers"].sum()})
        total = frame["customers"].sum()
        frame["share"] = frame["customers"] / total if total else 0.0
        mix = g.pivot_table(index=col, columns="tier", values="customers", aggfunc="sum",
                            fill_value=0)
        for tier in TIER_ORDER:
            n = mix[tier] if tier in mix.columns else 0
            frame[tier] = (n / frame["customers"]).fillna(0.0) if tier in mix.columns else 0.0
        if "sum_clv" in g:
            frame["mean_clv"] = by["sum_clv"].sum() / frame["customers"]
        if "sum_churn_risk" in g:
            frame["mean_churn_risk"] = by["sum_churn_risk"].sum() / frame["customers"]
        if "sum_net_revenue" in g:
            rev = by["sum_net_revenue"].sum()
            frame["revenue_share"] = rev / rev.sum() if rev.sum() else 0.0
        frame = frame.reset_index().rename(columns={col: "value"})
        order = sc.FIELDS[dim].values
        if order:
            rank = {v: i for i, v in enumerate(order)}
            frame["_o"] = frame["value"].map(lambda v: rank.get(v, len(rank)))
        else:
            frame["_o"] = _natural(frame["value"])
        out[dim] = frame.sort_values("_o").drop(columns="_o").reset_index(drop=True)
    return out


def _natural(values: pd.Series) -> pd.Series:
    """Sort keys putting bands in their numeric order when every value names a number
    (`<5k` < `5k-10k` < `10k-20k` < `50k+`), else in text order; missing values last."""
    import re

    def number(v: str) -> float | None:
        m = re.search(r"\d+(?:\.\d+)?", v)
        if m is None:
            return None
        return float(m.group()) - (0.5 if v.lstrip().startswith("<") else 0.0)

    nums = {v: number(v) for v in values if v != MISSING}
    numeric = all(n is not None for n in nums.values())
    return values.map(lambda v: (v == MISSING, nums.get(v) if numeric else 0.0, v))


def display(frames: dict[str, pd.DataFrame], lang: str | None = None,
            names=None) -> list[dict]:
    """The profiles as the report and the dashboard show them: one table per dimension, the
    figures formatted, the tier mix as shares in tier order (Diamond / Core / Potential /
    Basic), a missing value as "—", a region by its name in the reader's language when
    `names` (`data_labels.DataLabels`) has one."""
    from upmarket.i18n import label, value_label

    mix_title = " / ".join(value_label("tier", t, lang) for t in TIER_ORDER)
    out = []
    for dim, f in frames.items():
        rows = []
        for r in f.to_dict("records"):
            value = r["value"]
            if dim == "age_band" and value == "under_18":
                value = "<18"
            elif dim == "region" and names is not None and value != MISSING:
                value = names.name("region", value, lang)
            rows.append({
                "value": value, "customers": f"{int(r['customers']):,}",
                "share": f"{r['share']:.0%}",
                "tier_mix": " / ".join(f"{r[t]:.0%}" for t in TIER_ORDER),
                "mean_clv": f"{r['mean_clv']:,.0f}" if "mean_clv" in r else "—",
                "mean_churn": f"{r['mean_churn_risk']:.0%}" if "mean_churn_risk" in r else "—",
                "revenue_share": f"{r['revenue_share']:.0%}" if "revenue_share" in r else "—"})
        out.append({"dimension": dim, "title": label(f"profile.by.{dim}", lang),
                    "tier_mix_title": f"{label('profile.tier_mix', lang)} ({mix_title})",
                    "rows": rows})
    return out
