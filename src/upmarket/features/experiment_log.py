"""An experiment run elsewhere, brought as a per-user file: one row per user with
`experiment, arm, user_id, ts, converted, revenue` and optionally `pre_revenue` (spend in a
period before the test, for CUPED). `ts` is when the user entered the test; reading the file
`until` a date keeps the users who had entered by then, which is what the test looked like on
that day.

The result is the per-arm table :class:`upmarket.models.experiments.ABTest` reads
(`campaign_id, arm, users, converters, revenue, revenue_sq`), the same as for campaigns found
in the warehouse, so both are judged by one estimator.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd

from upmarket.errors import Msg, UpmarketError
from upmarket.models.sequential import cuped

REQUIRED = ("experiment", "arm", "user_id", "ts", "converted", "revenue")
TRUE = {"1", "true", "yes", "y", "t"}
FALSE = {"0", "false", "no", "n", "f", ""}


class BadExperimentLog(UpmarketError):
    """The per-user experiment file cannot be analysed; the message names the row and field."""


def _fail(source: str, rows: pd.Index, first_line: int, field: str, why: str, value) -> None:
    line = int(rows[0]) + first_line
    more = Msg("err.log.more", n=len(rows) - 1) if len(rows) > 1 else ""
    raise BadExperimentLog("err.log.value", source=source, line=line, field=field,
                           why=Msg(f"err.log.{why}"), value=value, more=more)


def parse_log(frame: pd.DataFrame, source: str = "<frame>", first_line: int = 2) -> pd.DataFrame:
    """Typed per-user rows from text columns (a file read as strings). Refuses the file at the
    first bad value, naming the line and the field: an analysis that silently drops users can
    show an effect that is not there."""
    cols = {str(c).strip().lower(): c for c in frame.columns}
    missing = [c for c in REQUIRED if c not in cols]
    if missing:
        raise BadExperimentLog("err.log.columns", source=source, missing=", ".join(missing),
                               required=", ".join(REQUIRED))
    out = pd.DataFrame({c: frame[cols[c]] for c in (*REQUIRED, "pre_revenue") if c in cols})
    out.index = pd.RangeIndex(len(out))
    for col in ("experiment", "arm", "user_id"):
        text = out[col].astype(str).str.strip()
        bad = out.index[out[col].isna() | (text == "")]
        if len(bad):
            _fail(source, bad, first_line, col, "empty", out.at[bad[0], col])
        out[col] = text
    ts = pd.to_datetime(out["ts"], errors="coerce", format="mixed")
    bad = out.index[ts.isna()]
    if len(bad):
        _fail(source, bad, first_line, "ts", "not_date", out.at[bad[0], "ts"])
    out["ts"] = ts.dt.tz_localize(None) if ts.dt.tz is not None else ts
    flag = out["converted"].astype(str).str.strip().str.lower()
    bad = out.index[~flag.isin(TRUE | FALSE)]
    if len(bad):
        _fail(source, bad, first_line, "converted", "not_flag",
              out.at[bad[0], "converted"])
    out["converted"] = flag.isin(TRUE)
    for col in ("revenue", "pre_revenue"):
        if col not in out:
            continue
        blank = out[col].astype(str).str.strip() == ""
        num = pd.to_numeric(out[col].where(~blank, "0"), errors="coerce")
        bad = out.index[~np.isfinite(num.to_numpy(float))]
        if len(bad):
            _fail(source, bad, first_line, col, "not_number", out.at[bad[0], col])
        out[col] = num.astype(float)
    dup = out.index[out.duplicated(["experiment", "user_id"], keep="first")]
    if len(dup):
        _fail(source, dup, first_line, "user_id", "twice",
              out.at[dup[0], "user_id"])
    return out


def arms_table(log: pd.DataFrame, until: datetime | None = None) -> tuple[pd.DataFrame, dict]:
    """(per-arm table, CUPED θ per experiment). With `pre_revenue`, revenue is CUPED-adjusted
    within each experiment before it is summed (the difference in means is unchanged, its
    variance shrinks by the squared correlation of pre- and in-test spend)."""
    if until is not None:
        log = log[log["ts"] <= pd.Timestamp(until)]
    thetas: dict[str, float] = {}
    parts = []
    for name, g in log.groupby("experiment", sort=True):
        revenue = g["revenue"].to_numpy(float)
        if "pre_revenue" in g:
            revenue, thetas[str(name)] = cuped(revenue, g["pre_revenue"].to_numpy(float))
        parts.append(pd.DataFrame({"campaign_id": str(name), "arm": g["arm"].to_numpy(),
                                   "converted": g["converted"].to_numpy(), "revenue": revenue}))
    if not parts:
        return pd.DataFrame(columns=["campaign_id", "arm", "users", "converters", "revenue",
                                     "revenue_sq"]), thetas
    users = pd.concat(parts, ignore_index=True)
    users["revenue_sq"] = users["revenue"] ** 2
    arms = users.groupby(["campaign_id", "arm"], sort=True).agg(
        users=("converted", "size"), converters=("converted", "sum"),
        revenue=("revenue", "sum"), revenue_sq=("revenue_sq", "sum")).reset_index()
    return arms, thetas
