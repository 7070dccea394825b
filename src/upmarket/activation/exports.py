"""Exports of next best actions for campaign tools and account managers.

Every export passes the privacy gate (`activation.privacy`): actions whose customer has no
consent in force for the action's channel are dropped (and counted), customer ids are
pseudonymised unless personal data were asked for, and the export is audited.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from upmarket.activation import privacy
from upmarket.errors import UpmarketError
from upmarket.warehouse.connection import Warehouse

FORMATS = ("csv", "xlsx")
#: What an export carries besides the customer reference.
ACTION_COLUMNS = ["tier", "action", "offer_type", "offer_value", "sku", "product_name",
                  "route", "channel", "send_hour", "due_hours", "probability", "expected_value",
                  "reason_en", "reason_zh"]
PII_COLUMNS = ["name", "email", "phone"]


class BadExport(UpmarketError):
    pass


@dataclass
class ExportReport:
    path: Path
    rows: int
    dropped_no_consent: int
    pseudonymised: bool
    run_id: str


def select_actions(actions: pd.DataFrame, *, tiers=(), kinds=()) -> pd.DataFrame:
    """The actions to send: contacts only (never `no_contact`), filtered by tier and action."""
    out = actions[actions["action"] != "no_contact"]
    if tiers:
        out = out[out["tier"].isin(tiers)]
    if kinds:
        out = out[out["action"].isin(kinds)]
    return out


def export_actions(wh: Warehouse, actions: pd.DataFrame, path: Path, *, fmt: str, run_id: str,
                   with_pii: bool = False) -> ExportReport:
    """Write `actions` to `path` after the consent gate. Ids are pseudonymised unless
    `with_pii`, which also adds name, email and phone where the warehouse holds them."""
    if fmt not in FORMATS:
        raise BadExport(f"--format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    ok = privacy.consented(wh, actions)
    kept = actions[ok]
    out = kept[ACTION_COLUMNS].copy()
    if with_pii:
        people = wh.table("customers").select("customer_id", *PII_COLUMNS).to_pandas()
        out.insert(0, "customer_id", kept["customer_id"].astype(str).to_numpy())
        out = out.merge(people.astype({"customer_id": str}), on="customer_id", how="left")
    else:
        out.insert(0, "customer_ref",
                   privacy.pseudonymise(kept["customer_id"], privacy.pseudonym_key(wh)).to_numpy())
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "csv":
        out.to_csv(path, index=False, encoding="utf-8-sig")  # Excel reads BOM-marked UTF-8
    else:
        out.to_excel(path, index=False)
    report = ExportReport(path, len(out), int((~ok).sum()), not with_pii, run_id)
    privacy.audit(wh, "export_actions_with_pii" if with_pii else "export_actions",
                  str(path), rows=report.rows, dropped_no_consent=report.dropped_no_consent,
                  run_id=run_id)
    return report
