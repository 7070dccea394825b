"""The export policy: what every file of customer data that leaves the system obeys, whichever
command writes it (`actions export`, `segments export`, the run's results, scheduled alert
exports).

1. Consent (PIPL art. 13–14): only people whose consent for the purpose is in force when the
   file is written are in it — on the row's own channel when the rows name one (an action is
   sent on its channel), else on the channel asked for, else on any channel (a segment list is
   made to be contacted, as in the service's segment members). Erased people never are. How
   many were left out is reported.
2. Data minimisation (PIPL art. 51): customer ids are replaced by keyed pseudonyms
   (`privacy.pseudonymise`, the same key everywhere, so lists can be matched up) and contact
   details are dropped, unless personal data were asked for explicitly (`with_pii`), which
   gives the real ids plus name, email and phone where the warehouse holds them.
3. Audit (PIPL art. 55): every file is recorded in the audit log — who, what, how many rows,
   how many were left out, whether personal data were included — and a file whose audit
   record cannot be written is removed rather than left unrecorded.
4. Safe cells: CSV and Excel files are written by `activation.spreadsheet`, so no cell is a
   formula (OWASP CSV injection).

The command line has no caller identity (API keys and their scopes are the service's), so
there `--with-pii` is the explicit request, and the audit record says it was made.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pandas as pd

from upmarket.activation import privacy, spreadsheet
from upmarket.features.engagement import consents_in_force
from upmarket.warehouse.connection import Warehouse

#: Personal data beside the id: only in an export made with personal data.
PII_COLUMNS = ("name", "email", "phone")
#: What a pseudonymised export calls its customer column.
REF_COLUMN = "customer_ref"
FORMATS = ("csv", "xlsx")


@dataclass
class Gated:
    """The rows that may leave, as they may leave."""
    frame: pd.DataFrame
    #: per input row: True when the row is in `frame`
    kept: pd.Series
    dropped_no_consent: int
    pseudonymised: bool


def consenting(wh: Warehouse, ids: pd.Series, *, channel: str | None = None,
               purpose: str = "marketing", at: datetime | None = None,
               store=None) -> pd.Series:
    """True where the customer's consent for `purpose` is in force at `at` (default now) on
    `channel`, or on any channel when none is given; consents still pending in the
    operational store count, erased people never do (`privacy.consent_history`)."""
    c = consents_in_force(privacy.consent_history(wh, store), at or privacy.now_utc(),
                          purpose).to_pandas()
    c = c[c["granted"].astype(bool)]
    if channel is not None:
        c = c[c["channel"].astype(str) == channel]
    ok = set(c["customer_id"].astype(str))
    as_text = ids.astype(str)
    return pd.Series(as_text.isin(ok).to_numpy() & ~privacy.is_erased(as_text).to_numpy(),
                     index=ids.index)


def gate(wh: Warehouse, frame: pd.DataFrame, *, with_pii: bool,
         channel_col: str | None = None, channel: str | None = None,
         purpose: str = "marketing", at: datetime | None = None, store=None) -> Gated:
    """Apply consent and minimisation to `frame` (one row per customer reference in
    `customer_id`). Consent is checked on each row's `channel_col` when given, else on
    `channel`, else on any channel. The customer column comes first: `customer_id` plus the
    contact details with `with_pii`, else `customer_ref`."""
    if channel_col is not None:
        ok = privacy.consented(wh, frame, channel_col=channel_col, purpose=purpose, at=at,
                               store=store)
    else:
        ok = consenting(wh, frame["customer_id"], channel=channel, purpose=purpose, at=at,
                        store=store)
    kept = frame[ok.to_numpy()]
    rest = kept.drop(columns=["customer_id", *PII_COLUMNS], errors="ignore")
    ids = kept["customer_id"].astype(str)
    if with_pii:
        out = rest.copy()
        out.insert(0, "customer_id", ids.to_numpy())
        held = [c for c in PII_COLUMNS if c in wh.table("customers").columns]
        if held:
            people = wh.table("customers").select("customer_id", *held).to_pandas()
            people = people.astype({"customer_id": str}).drop_duplicates("customer_id")
            out = out.merge(people, on="customer_id", how="left")
    else:
        out = rest.copy()
        out.insert(0, REF_COLUMN, privacy.pseudonymise(ids, privacy.pseudonym_key(wh)).to_numpy())
    return Gated(out.reset_index(drop=True), ok, int((~ok).sum()), not with_pii)


def _write(frame: pd.DataFrame, path: Path, fmt: str) -> None:
    if fmt in spreadsheet.WRITERS:
        spreadsheet.write_table(frame, path, fmt)
    elif fmt == "parquet":  # read by programs, which evaluate no cell: written as it is
        tmp = path.with_name(path.name + ".part")
        try:
            frame.to_parquet(tmp, index=False)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
    else:
        raise ValueError(f"export format must be csv, xlsx or parquet, not {fmt!r}")


def audit_action(what: str, with_pii: bool) -> str:
    """The audit log's name for an export of `what`: `export_WHAT`, `_with_pii` appended when
    it held personal data."""
    return f"export_{what}_with_pii" if with_pii else f"export_{what}"


def write_export(wh: Warehouse | None, frame: pd.DataFrame, path: Path, fmt: str, *,
                 what: str, with_pii: bool, dropped_no_consent: int = 0, store=None,
                 **detail) -> Path:
    """Write `frame` (already through `gate`, or holding no personal data) to `path` in `fmt`
    and record it in the audit log as `audit_action(what, with_pii)` with the row count,
    the people left out, the format and `detail`. When the record cannot be written the file
    is removed and the error raised: no export without its audit record."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _write(frame, path, fmt)
    try:
        privacy.audit(wh, audit_action(what, with_pii), str(path), store=store,
                      rows=len(frame), dropped_no_consent=int(dropped_no_consent),
                      with_pii=bool(with_pii), format=fmt, **detail)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path
