"""The BTYD summary (frequency, recency, T, monetary value) as an Ibis expression.

Conventions follow Fader, Hardie & Lee (2005) as used with CDNOW:
- purchases on the same day are one transaction (spend summed);
- `frequency` counts repeat transactions (transaction days after the first);
- `recency` is the time from the first to the last transaction, `T` from the first transaction
  to the end of observation, both in `unit`s;
- `monetary` is the mean spend of the repeat transactions (0 for one-time buyers), the input of
  the Gamma-Gamma model;
- observation ends on the day before `as_of` (as_of is exclusive: the world as it stood when
  that day began), so a customer first seen on 1997-01-01 has T = 38.86 weeks at as_of
  1997-10-01, the published figure.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import ibis
import pandas as pd

from upmarket.features.orders import days_between, purchases_until

UNIT_DAYS = {"D": 1.0, "W": 7.0, "M": 365.25 / 12}


def transactions(orders: ibis.Table, as_of: datetime) -> ibis.Table:
    """One row per customer and purchase day, with the day's spend."""
    lines = purchases_until(orders, as_of)
    return lines.group_by(["customer_id", lines.ts.truncate("D").name("day")]).aggregate(
        spend=lines.amount.sum()
    )


def btyd_summary(
    orders: ibis.Table,
    as_of: datetime,
    *,
    unit: str = "W",
    holdout_end: datetime | None = None,
) -> ibis.Table:
    """Per-customer `frequency, recency, T, monetary` at `as_of`.

    With `holdout_end`, as_of is the end of calibration and the result also carries
    `frequency_holdout` (transactions in [as_of, holdout_end)) and `holdout_length` (in units),
    for calibration-vs-holdout checks; only customers first seen before as_of are included.
    """
    out = btyd_of_transactions(transactions(orders, as_of), as_of, unit=unit)
    if holdout_end is None:
        return out
    per = UNIT_DAYS[unit]
    later = transactions(orders, holdout_end)
    later = later.filter(later.day >= ibis.literal(as_of))
    hold = later.group_by("customer_id").aggregate(frequency_holdout=later.count())
    joined = out.left_join(hold, "customer_id").drop("customer_id_right")
    return joined.mutate(
        frequency_holdout=joined.frequency_holdout.fill_null(0).cast("float64"),
        holdout_length=ibis.literal((holdout_end - as_of).days / per),
    )


def btyd_of_transactions(tx: ibis.Table, as_of: datetime, *, unit: str = "W") -> ibis.Table:
    """:func:`btyd_summary` (without a holdout) of the purchase days `tx` before `as_of`, one
    row per customer and day with its spend, as :func:`transactions` makes them."""
    if unit not in UNIT_DAYS:
        raise ValueError(f"unit must be one of {sorted(UNIT_DAYS)}, not {unit!r}")
    per = UNIT_DAYS[unit]
    # the first day's spend is an arg-min in the same aggregation (days are unique per
    # customer), not a join of the transactions back onto their first day: one pass, not two
    s = tx.group_by("customer_id").aggregate(
        first_day=tx.day.min(), last_day=tx.day.max(), n=tx.count(), total=tx.spend.sum(),
        first_spend=tx.spend.argmin(tx.day),
    )
    end = ibis.literal(as_of - timedelta(days=1)).cast("timestamp")
    out = s.select(
        customer_id=s.customer_id,
        frequency=(s.n - 1).cast("float64"),
        recency=days_between(s.last_day, s.first_day) / per,
        T=days_between(end, s.first_day) / per,
        monetary=ibis.ifelse(s.n > 1, (s.total - s.first_spend) / (s.n - 1).cast("float64"), 0.0),
        first_purchase=s.first_day,
        last_purchase=s.last_day,
        total_spend=s.total,
    )
    return out


def summary_from_transactions(
    transactions: pd.DataFrame,
    customer_id_col: str = "customer_id",
    datetime_col: str = "date",
    monetary_value_col: str | None = None,
    *,
    observation_period_end=None,
    calibration_period_end=None,
    unit: str = "W",
) -> pd.DataFrame:
    """The BTYD summary of a pandas frame of transactions, one row per customer, indexed by
    customer id: `frequency`, `recency`, `T` (in `unit`s: "D", "W" or "M") and, with
    `monetary_value_col`, `monetary_value` (mean spend of the repeat transactions).

    `observation_period_end` is the last day observed (inclusive; default: the last
    transaction's day). With `calibration_period_end` (the last day of calibration, inclusive)
    the summary describes the calibration period and adds `frequency_holdout` (transactions
    after it, up to the observation end) and `duration_holdout`, for a calibration-vs-holdout
    check; only customers first seen in calibration are kept.

    The figures are those of :func:`btyd_summary`, the summary every run uses, computed by the
    same expression on an in-memory database, so a notebook and a run cannot disagree.
    """
    for col in (customer_id_col, datetime_col, monetary_value_col):
        if col is not None and col not in transactions.columns:
            raise KeyError(f"no column {col!r} in the transactions "
                           f"(columns: {', '.join(map(str, transactions.columns))})")
    ts = pd.to_datetime(transactions[datetime_col])
    frame = pd.DataFrame({
        "customer_id": transactions[customer_id_col].astype(str).to_numpy(),
        "ts": ts.dt.tz_localize(None).to_numpy() if ts.dt.tz is not None else ts.to_numpy(),
        "amount": (transactions[monetary_value_col].astype(float).to_numpy()
                   if monetary_value_col else 0.0),
        "status": "paid",
        "line_kind": "product",
    })
    last_day = pd.Timestamp(observation_period_end or frame["ts"].max()).normalize()
    end = (last_day + pd.Timedelta(days=1)).to_pydatetime()
    con = ibis.duckdb.connect()
    orders = con.create_table("orders", frame)
    if calibration_period_end is None:
        expr = btyd_summary(orders, end, unit=unit)
    else:
        cal_end = (pd.Timestamp(calibration_period_end).normalize()
                   + pd.Timedelta(days=1)).to_pydatetime()
        if cal_end >= end:
            raise ValueError("calibration_period_end must fall before observation_period_end")
        expr = btyd_summary(orders, cal_end, unit=unit, holdout_end=end)
    out = expr.to_pandas().set_index("customer_id").sort_index()
    con.disconnect()
    out.index.name = customer_id_col
    keep = ["frequency", "recency", "T"]
    if monetary_value_col:
        out = out.rename(columns={"monetary": "monetary_value"})
        keep.append("monetary_value")
    if calibration_period_end is not None:
        out = out.rename(columns={"holdout_length": "duration_holdout"})
        keep += ["frequency_holdout", "duration_holdout"]
    return out[keep]
