"""Every table the command line prints is readable at 80 columns: no line is longer, and no
number is broken across lines or cut short ("3,60" over "0", "1…"); progress in a log is one
line per stage with its time."""

from __future__ import annotations

import io
import random
import re
import shutil
import string
import sys
import tempfile
from pathlib import Path

import pytest
from rich.console import Console
from rich.table import Table
from typer.testing import CliRunner

from upmarket.cli import app
from upmarket.cli.stages import StageLines
from upmarket.cli.tables import FittingConsole, is_number, layout

sys.path.insert(0, str(Path(__file__).parents[1] / "reports"))
from report_world import build  # noqa: E402

runner = CliRunner()

#: every command that prints a table, with the arguments that make it print one
COMMANDS = [
    ["status"],
    ["segments", "list"],
    ["whatif", "--retention", "+5pt"],
    ["experiments"],
    ["cohorts", "--metric", "revenue", "--months", "24"],
    ["funnel"],
    ["promotions"],
    ["attribution", "--model", "all"],
    ["budget"],
    ["scorecard"],
    ["risk"],
    ["quarantine"],
]
# a number as printed: digits with their separators, sign, percent
NUMBER = re.compile(r"[-+]?\d[\d,.]*%?")


@pytest.fixture(scope="module")
def world():
    # a folder whose path holds no digit: `status` shows the warehouse URL, and a number in
    # it could be wrapped like any word of a title
    base = Path(tempfile.gettempdir())
    assert not re.search(r"\d", str(base)), base
    place = base / ("upmarket-fit-" + "".join(random.choices(string.ascii_lowercase, k=12)))
    place.mkdir()
    try:
        build(f"duckdb://{place}/w.duckdb")
        yield f"duckdb://{place}/w.duckdb"
    finally:
        shutil.rmtree(place, ignore_errors=True)


def invoke(args: list[str], url: str, columns: int, store: str) -> str:
    result = runner.invoke(app, [*args, "-w", url],
                           env={"COLUMNS": str(columns), "UPMARKET_DATABASE": store,
                                "UPMARKET_LANG": "en"})
    assert result.exit_code == 0, f"{args}: {result.output}"
    return result.output


@pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
def test_table_fits_80_columns(world, args, tmp_path):
    store = f"sqlite:///{tmp_path}/ops.sqlite"
    narrow = invoke(args, world, 80, store)
    wide = invoke(args, world, 250, store)
    long = [line for line in narrow.splitlines() if len(line) > 80]
    assert not long, f"{args}: {len(long)} lines over 80 columns, e.g. {long[0]!r}"
    assert "…" not in narrow, f"{args}: a cell is cut short:\n{narrow}"
    # the same numbers, whole, whatever the width: a split "3,600" would read as "3,60" + "0"
    # (a set: a folded table repeats its first column)
    narrow_numbers, wide_numbers = set(NUMBER.findall(narrow)), set(NUMBER.findall(wide))
    assert narrow_numbers == wide_numbers, (
        f"{args}: numbers differ at 80 columns: only narrow "
        f"{sorted(narrow_numbers - wide_numbers)[:5]}, only wide "
        f"{sorted(wide_numbers - narrow_numbers)[:5]}")


def render(table: Table, width: int) -> str:
    out = io.StringIO()
    FittingConsole(file=out, width=width, color_system=None).print(table)
    return out.getvalue()


def wide_table(columns: int, rows: int = 3) -> Table:
    t = Table("cohort", *(f"M{i}" for i in range(columns)), title="retention by month")
    for r in range(rows):
        t.add_row(f"2024-{r + 1:02d}", *(f"{(r * 7 + i) % 100 + 0.5:.1f}%" for i in range(columns)))
    return t


def test_a_wide_table_folds_into_groups_that_repeat_the_first_column():
    t = wide_table(20)
    parts = layout(t, Console(width=80), 80)
    assert len(parts) > 1
    assert all(p.columns[0].header == "cohort" for p in parts)
    shown = [c.header for p in parts for c in p.columns[1:]]
    assert shown == [f"M{i}" for i in range(20)]  # every column once, in order
    text = render(t, 80)
    assert max(map(len, text.splitlines())) <= 80
    assert text.count("2024-01") == len(parts)


def test_a_table_whose_columns_cannot_stand_side_by_side_becomes_records():
    t = Table("customer", "note")
    t.add_row("C" * 50, "a long remark " * 3 + "1,234,567.89")
    text = render(t, 60)
    assert max(map(len, text.splitlines())) <= 60
    assert "1,234,567.89" in text and "customer" in text and "note" in text


def test_numbers_wrap_whole_and_text_wraps_between_words():
    t = Table("promotion", "days", "lift", "cost")
    t.add_row("Spring sale with a long name that must wrap somewhere", "14", "+145.4%", "3,600")
    text = render(t, 40)
    assert max(map(len, text.splitlines())) <= 40
    assert "3,600" in text and "+145.4%" in text
    assert is_number("3,600") and is_number("<= 4.0 h") and not is_number("Spring sale")


def test_stage_lines_print_one_line_per_stage_with_its_time():
    out = io.StringIO()
    console = Console(file=out, width=200, color_system=None)
    # as the demo reports: tables once ingested (done), then pipeline stages as they start
    with StageLines(console) as bar:
        task = bar.add_task("generating the world", total=None)
        bar.update(task, description="ingested 300 customers", done=True)
        bar.update(task, description="ingested 90 products", done=True)
        for name in ("collected events", "features and lifetime value", "churn"):
            bar.update(task, completed=0, description=name)
    lines = out.getvalue().splitlines()
    assert [re.sub(r"  \d+\.\d s$", "", line) for line in lines] == [
        "ingested 300 customers", "ingested 90 products", "collected events",
        "features and lifetime value", "churn"]
    assert all(re.search(r"  \d+\.\d s$", line) for line in lines)


def test_piped_progress_shows_stage_lines(tmp_path):
    """Under a runner nothing is a terminal, as in a log: `ingest` reports its stages."""
    orders = tmp_path / "orders.csv"
    orders.write_text("order_id,customer_id,ts,quantity,amount\no1,c1,2025-01-02,1,10\n")
    result = runner.invoke(app, ["ingest", "orders", str(orders), "-w",
                                 f"duckdb://{tmp_path}/w.duckdb"],
                           env={"UPMARKET_DATABASE": f"sqlite:///{tmp_path}/ops.sqlite"})
    assert result.exit_code == 0, result.output
    stages = [line for line in result.output.splitlines() if re.search(r"  \d+\.\d s$", line)]
    assert len(stages) >= 2 and all(str(orders) in line for line in stages), result.output
