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
from rich.cells import cell_len
from rich.console import Console
from rich.table import Table
from typer.testing import CliRunner

import upmarket.cli.automation  # noqa: F401  (attaches the commands to the app)
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
#: commands that read the operational store too (tasks, alerts, keys, saved segments) or a
#: customer's record; they share one store, filled once by `ops_store`
STORE_COMMANDS = [
    ["customers", "show", "C000001"],
    ["tasks", "list"],
    ["tasks", "workload"],
    ["alerts", "list"],
    ["keys", "list"],
    ["rules", "validate", str(Path(__file__).parents[2] / "src/upmarket/rules/default.yaml")],
    ["holdout", "--calibration-end", "2025-06-01"],
    ["segments", "list"],
    ["budget"],
    ["actions", "impact"],
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
    # the store's commands take no -w: the warehouse is named by its variable
    result = runner.invoke(app, args,
                           env={"COLUMNS": str(columns), "UPMARKET_DATABASE": store,
                                "UPMARKET_WAREHOUSE": url, "UPMARKET_LANG": "en"})
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


#: a rule on the fields of the synthetic run, with a long title, so tasks and alerts have rows
RULES = """
rules:
  - name: valuable_customers_drifting_away_from_us
    when:
      customer: ["tier in [diamond, core]", "churn_risk > 0.5"]
    actions:
      - task: {title: "Call {customer_id} about their order history and renewal", assignee: amy}
    severity: high
"""


@pytest.fixture(scope="module")
def ops_store(world):
    """One operational store for the world: the rules fired once (alerts and tasks), a key,
    and a saved segment with a long name and condition."""
    from upmarket.opstore import store as ops

    place = Path(world.removeprefix("duckdb://")).parent
    store = f"sqlite:///{place}/ops.sqlite"
    rules = place / "rules.yaml"
    rules.write_text(RULES, encoding="utf-8")
    for args in (["alerts", "check", "--rules", str(rules)],
                 ["segments", "create", "lapsing_high_value_customers_of_tier_one",
                  "--where", "churn_risk > 0.5 and clv > 100 and tier in ['diamond', 'core']"]):
        invoke(args, world, 250, store)
    ops.create_key(ops.open_store(store), "crm export", ["export", "read"])
    return store


@pytest.mark.parametrize("args", STORE_COMMANDS, ids=lambda a: " ".join(a[:2]))
def test_store_tables_fit_80_columns(world, ops_store, args):
    narrow = invoke(args, world, 80, ops_store)
    assert "─" in narrow or "━" in narrow or args[0] == "actions", f"{args}: no table\n{narrow}"
    long = [line for line in narrow.splitlines() if cell_len(line) > 80]
    assert not long, f"{args}: {len(long)} lines over 80 columns, e.g. {long[0]!r}"
    # a key's prefix is shown cut on purpose (the rest is the secret): no other cell is
    assert "…" not in narrow.replace("_…", ""), f"{args}: a cell is cut short:\n{narrow}"
    wide = invoke(args, world, 250, ops_store)
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
