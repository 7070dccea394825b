"""`--format csv|xlsx` on commands that print tables (cohorts, attribution, budget): the same
tables as files, written by `activation.spreadsheet` so no cell is a formula.

These tables are aggregates (no row is a person), so they are not gated by the export policy.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from upmarket.errors import UpmarketError
from upmarket.i18n import LABELS, label

if TYPE_CHECKING:  # help must start without the data libraries
    import pandas as pd

FORMATS = ("csv", "xlsx")

FileFormat = Annotated[str | None, typer.Option(
    "--format", help="Also write the tables to a file: csv (one file per table) or xlsx (one "
    "Excel workbook, a sheet per table).")]
OutFile = Annotated[Path | None, typer.Option(
    "--out", help="The file --format writes (default: the command's name, e.g. cohorts.xlsx; "
    "with several tables as CSV, one file per table: cohorts-NAME.csv).", dir_okay=False)]


def headers(frame: pd.DataFrame, prefix: str, lang: str) -> list[str]:
    """Column labels: the command's own (`PREFIX.column`) where it has one, else the field
    label (`spreadsheet.header_text`)."""
    from upmarket.activation.spreadsheet import header_text

    return [label(f"{prefix}.{c}", lang) if f"{prefix}.{c}" in LABELS else header_text(c, lang)
            for c in frame.columns]


def write_tables(tables: dict, fmt: str, out: Path | None, default: str) -> list[Path]:
    """Write `tables` (key → `spreadsheet.Sheet`) as `fmt`; returns the files written."""
    from upmarket.activation.spreadsheet import write_csv, write_workbook

    if fmt not in FORMATS:
        raise UpmarketError("err.option_either", option="--format", first="csv",
                            second="xlsx", value=fmt)
    path = Path(out) if out is not None else Path(f"{default}.{fmt}")
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "xlsx":
        return [write_workbook(list(tables.values()), path)]
    if len(tables) == 1:
        return [write_csv(next(iter(tables.values())).frame, path)]
    return [write_csv(sheet.frame, path.with_name(f"{path.stem}-{key}{path.suffix or '.csv'}"))
            for key, sheet in tables.items()]


def written(paths: list[Path], lang: str) -> str:
    return label("files.written", lang, paths=", ".join(str(p) for p in paths))
