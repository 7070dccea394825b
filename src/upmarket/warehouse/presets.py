"""Column-mapping presets for well-known exports.

A preset knows how to read its file, how its columns map, and the few rules of its source that
no generic mapping can express (Online Retail's `C` invoices and postage codes; CDNOW's missing
order ids).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from upmarket.errors import BadFile
from upmarket.warehouse.mapping import Mapping
from upmarket.warehouse.readers import Sheet, read_file, read_text_table


@dataclass(frozen=True)
class Preset:
    name: str
    table: str
    description: str
    read: Callable[[str], Sheet]
    mapping: Mapping
    #: Called on the mapped frame (canonical names, still text) before validation.
    finish: Callable[[pd.DataFrame], pd.DataFrame]


# -- UCI Online Retail ---------------------------------------------------------------------
#: Stock codes that are not products (UCI Online Retail): postage, fees, discounts, manual
#: entries and accounting adjustments. They remain order lines, so revenue stays complete,
#: but product analyses skip them.
RETAIL_LINE_KINDS = {
    "POST": "postage", "DOT": "postage", "C2": "postage",
    "AMAZONFEE": "fee", "BANK CHARGES": "fee", "CRUK": "fee",
    "D": "discount",
    "M": "manual",
    "B": "adjustment", "S": "adjustment", "ADJUST": "adjustment", "ADJUST2": "adjustment",
    "TEST001": "manual", "TEST002": "manual",
}


def _retail_line_kind(sku: pd.Series) -> pd.Series:
    upper = sku.str.strip().str.upper()
    kind = upper.map(RETAIL_LINE_KINDS).fillna("product")
    kind[upper.str.startswith("GIFT_")] = "manual"
    return kind


def _finish_online_retail(df: pd.DataFrame) -> pd.DataFrame:
    df["order_id"] = df["order_id"].str.strip()
    # CustomerID was exported as a float column ("12923.0").
    df["customer_id"] = df["customer_id"].str.strip().str.replace(r"\.0$", "", regex=True)
    df["line_kind"] = _retail_line_kind(df["sku"])
    cancelled = df["order_id"].str.upper().str.startswith("C")
    df["status"] = np.where(cancelled, "cancelled", "paid")
    # The source has no line numbers: a line's position within its invoice is its number.
    df["line_no"] = df.groupby("order_id", sort=False).cumcount().astype(str)
    return df


ONLINE_RETAIL = Preset(
    name="online-retail",
    table="orders",
    description="UCI Online Retail (InvoiceNo, StockCode, Description, Quantity, InvoiceDate, "
    "UnitPrice, CustomerID, Country); invoices starting with C are cancellations",
    read=lambda path: read_file(path),
    mapping=Mapping(
        columns={
            "InvoiceNo": "order_id", "StockCode": "sku", "Description": "products.name",
            "Quantity": "quantity", "InvoiceDate": "ts", "UnitPrice": "unit_price",
            "CustomerID": "customer_id", "Country": "customers.country",
        },
        currency="GBP",
        dayfirst=False,
        source="preset online-retail",
    ),
    finish=_finish_online_retail,
)


# -- CDNOW ---------------------------------------------------------------------------------
def _read_cdnow(path: str) -> Sheet:
    try:
        sheet = read_text_table(path, header=False, whitespace=True)
    except BadFile as exc:
        if "no such file" in str(exc) or "empty" in str(exc):
            raise
        raise BadFile(f"{exc} — it does not look like a CDNOW file (whitespace-separated customer "
                      "id, date YYYYMMDD, number of CDs, dollar value); drop --preset cdnow for "
                      "an ordinary CSV") from None
    df = sheet.frame
    if df.shape[1] not in (4, 5):
        raise BadFile("err.file.cdnow_columns", path=path, n=df.shape[1])
    names = ["customer_id", "date", "quantity", "amount"]
    if df.shape[1] == 5:
        names.insert(1, "master_id")
    df.columns = names
    if len(df) and not str(df.iloc[0]["date"]).isdigit():  # the master file's header line
        df = df.iloc[1:].reset_index(drop=True)
        sheet.first_line = 2
    if len(df) and not df["date"].head(100).str.fullmatch(r"\d{8}").all():
        raise BadFile(
            f"{path}: does not look like a CDNOW file: the date column is not YYYYMMDD "
            f"(first value {df['date'].iloc[0]!r})"
        )
    sheet.frame = df
    return sheet


def _finish_cdnow(df: pd.DataFrame) -> pd.DataFrame:
    # CDNOW has no order ids; several purchases by one customer on one day are told apart by
    # their order in the file, so re-ingesting the same file gives the same ids.
    seq = df.groupby(["customer_id", "ts"], sort=False).cumcount().astype(str)
    df["order_id"] = df["customer_id"] + "-" + df["ts"] + "-" + seq
    df["line_no"] = "0"
    qty = pd.to_numeric(df["quantity"], errors="coerce")
    amount = pd.to_numeric(df["amount"], errors="coerce")
    with np.errstate(divide="ignore", invalid="ignore"):
        df["unit_price"] = (amount / qty).where(qty > 0).round(4).astype(str).replace("nan", "")
    df["status"] = "paid"
    df["line_kind"] = "product"
    return df


CDNOW = Preset(
    name="cdnow",
    table="orders",
    description="CDNOW purchases: whitespace-separated customer id, date YYYYMMDD, number of "
    "CDs, dollar value (the 5-column sample with its master id too)",
    read=_read_cdnow,
    mapping=Mapping(
        columns={"customer_id": "customer_id", "date": "ts", "quantity": "quantity",
                 "amount": "amount"},
        date_format="%Y%m%d",
        currency="USD",
        source="preset cdnow",
    ),
    finish=_finish_cdnow,
)

PRESETS: dict[str, Preset] = {p.name: p for p in (ONLINE_RETAIL, CDNOW)}


def get(name: str) -> Preset:
    try:
        return PRESETS[name.strip().lower().replace("_", "-")]
    except KeyError:
        from upmarket.errors import BadMapping

        raise BadMapping("err.map.preset", name=name, known=", ".join(PRESETS)) from None
