"""Exports of next best actions for campaign tools and account managers.

Every export follows the export policy (`activation.export_policy`): actions whose customer
has no consent in force for the action's channel are dropped (and counted), customer ids are
pseudonymised unless personal data were asked for, no cell is a formula, and the export is
audited.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from upmarket.activation import export_policy
from upmarket.errors import UpmarketError
from upmarket.warehouse.connection import Warehouse

FORMATS = export_policy.FORMATS
#: What an export carries besides the customer reference.
ACTION_COLUMNS = ["tier", "action", "offer_type", "offer_value", "sku", "product_name",
                  "route", "channel", "send_hour", "due_hours", "probability", "expected_value",
                  "reason_en", "reason_zh"]


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
    """Write `actions` to `path` under the export policy (`activation.export_policy`): only
    actions whose customer consents to the action's channel now, ids pseudonymised unless
    `with_pii` (which also adds name, email and phone where the warehouse holds them), cells
    that no spreadsheet evaluates, audited."""
    if fmt not in FORMATS:
        raise BadExport("err.option_choice", option="--format",
                        choices=", ".join(FORMATS), value=fmt)
    gated = export_policy.gate(wh, actions[["customer_id", *ACTION_COLUMNS]],
                               with_pii=with_pii, channel_col="channel")
    export_policy.write_export(wh, gated.frame, path, fmt, what="actions", with_pii=with_pii,
                               dropped_no_consent=gated.dropped_no_consent, run_id=run_id)
    return ExportReport(path, len(gated.frame), gated.dropped_no_consent,
                        gated.pseudonymised, run_id)
