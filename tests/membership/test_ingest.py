"""An existing programme's members and points through `upmarket ingest members|points`: bad
rows quarantined with their row and field, what is accepted carried into the ledger (a
balance brought over, redemptions spent first in first out, corrections, ingested expiries),
every member's statement reconciling, a cancelled order's points reversed, and an ingested
level kept through the grace period."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pandas as pd
import pytest
from typer.testing import CliRunner

from upmarket.cli import app
from upmarket.membership.outputs import evaluate_programme
from upmarket.membership.programme import Programme
from upmarket.warehouse import connect
from upmarket.warehouse.ingest import ingest

runner = CliRunner()
AS_OF = pd.Timestamp("2026-06-01")
PROGRAMME = Programme()

ORDERS = pd.DataFrame([
    # A: 1,000 points of 2023 and 500 of 2024; redeems 1,200 in mid-2024
    ("O1", 0, "A", "2023-03-01", 1, 1000.0, "paid", None),
    ("O2", 0, "A", "2024-02-01", 1, 500.0, "paid", None),
    # B: an order cancelled whole four days later
    ("O3", 0, "B", "2025-09-01", 1, 300.0, "paid", None),
    ("O3C", 0, "B", "2025-09-05", -1, -300.0, "cancelled", "O3"),
    # E: an order beside points earned elsewhere
    ("O4", 0, "E", "2026-03-01", 1, 200.0, "paid", None),
], columns=["order_id", "line_no", "customer_id", "ts", "quantity", "amount", "status",
            "original_order_id"])

MEMBERS = """member_id,joined,level,opening_balance
B,2022-01-01,gold,800
C,2026-04-15,silver,0
F,2025-01-01,platinum,0
G,not a date,member,0
H,2025-02-01,member,-3
"""

POINTS = """customer_id,date,kind,points,reference
A,2024-06-01,redeemed,1200,R-1
B,2025-10-01,adjusted,50,FIX-7
D,2026-01-10,earned,100,SIGNUP
D,2026-02-01,redeemed,40,R-2
E,2026-03-05,adjusted,-80,FIX-8
E,2026-04-01,expired,30,OLD-1
A,2024-07-01,gifted,10,R-3
A,2024-07-02,redeemed,-5,R-4
A,2024-07-03,adjusted,0,R-5
A,,redeemed,10,R-6
A,2024-07-04,redeemed,abc,R-7
"""


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    where = tmp_path_factory.mktemp("carried")
    url = f"duckdb://{where}/w.duckdb"
    wh = connect(url)
    orders = ORDERS.assign(ts=pd.to_datetime(ORDERS["ts"]), sku="S1",
                           unit_price=ORDERS["amount"].abs())
    ingest("orders", orders, warehouse=wh)
    wh.close()
    (where / "members.csv").write_text(MEMBERS, encoding="utf-8")
    (where / "points.csv").write_text(POINTS, encoding="utf-8")
    ran = {kind: runner.invoke(app, ["ingest", kind, str(where / f"{kind}.csv"), "-w", url,
                                     "--json"]) for kind in ("members", "points")}
    zh = runner.invoke(app, ["ingest", "points", str(where / "points.csv"), "-w", url,
                             "--lang", "zh"])
    wh = connect(url, create=False)
    found = evaluate_programme(wh, AS_OF.to_pydatetime(), PROGRAMME,
                               period_start=pd.Timestamp("2020-01-01").to_pydatetime())
    yield SimpleNamespace(url=url, wh=wh, ran=ran, zh=zh, found=found,
                          ledger=found.tables["points_ledger"],
                          balance=found.tables["points_balances"].set_index("customer_id"),
                          levels=found.tables["member_levels"].set_index("customer_id"))
    wh.close()


def test_bad_rows_are_quarantined_with_their_row_and_field(store):
    members = json.loads(store.ran["members"].stdout)
    points = json.loads(store.ran["points"].stdout)
    assert members["rows_read"] == 5 and members["accepted"] == 3 and members["reconciles"]
    assert points["rows_read"] == 11 and points["accepted"] == 6 and points["reconciles"]
    assert members["quarantined_by_reason"] == {"unparseable date in joined_at": 1,
                                                "negative opening_balance": 1}
    assert points["quarantined_by_reason"] == {
        "invalid kind": 1, "points not above 0 for earned, redeemed or expired": 1,
        "points of 0 in an adjustment": 1, "missing ts": 1, "not a number in points": 1}
    # rows are numbered as in the file (header on line 1)
    rows = {e["reason"]: e["row_number"] for e in points["examples"]}
    assert rows["invalid kind"] == 8 and rows["missing ts"] == 11
    # the same file again adds nothing; in Chinese the reason names the field in Chinese
    assert store.zh.exit_code == 0, store.zh.output
    assert "获得、兑换或过期的积分须大于 0" in store.zh.output


def test_every_statement_reconciles(store):
    b = store.balance
    assert (b["opening"] + b["earned"] - b["redeemed"] - b["expired"] + b["adjusted"]
            == b["closing"]).all()
    assert (store.ledger.groupby("customer_id")["points"].sum().reindex(b.index, fill_value=0)
            == b["closing"]).all()
    # members of the file and of the points rows join the orders' customers
    assert set(b.index) == {"A", "B", "C", "D", "E", "F"}


def test_redemptions_spend_the_oldest_points_first(store):
    a = store.ledger[store.ledger["customer_id"] == "A"]
    # 1,200 redeemed: all 1,000 of 2023 and 200 of 2024; 2023 lapses with nothing left,
    # 2024's remaining 300 lapse when 2025 ends
    lapsed = a[a["kind"] == "expire"]
    assert lapsed["points"].tolist() == [-300] and lapsed["earned_year"].tolist() == [2024]
    assert store.balance.loc["A", "closing"] == 0
    assert a.loc[a["kind"] == "redeem", "reference"].tolist() == ["R-1"]


def test_carried_balances_corrections_and_reversals(store):
    b, book = store.balance, store.ledger
    mine = book[book["customer_id"] == "B"].set_index("kind")["points"]
    # 800 brought over in 2022 lapse when 2023 ends; the cancelled order nets to nothing
    assert mine["open"] == 800 and mine["expire"] == -800
    assert book[book["order_id"] == "O3"]["points"].sum() == 0
    assert b.loc["B", "adjusted"] == 50 and b.loc["B", "closing"] == 50
    assert b.loc["D", "closing"] == 60
    # E: 200 earned, 80 taken by hand and 30 lapsed in the old system
    assert (b.loc["E", ["earned", "adjusted", "expired", "closing"]].tolist()
            == [200, -80, 30, 90])


def test_an_ingested_level_is_kept_through_the_grace_period(store):
    lv = store.levels
    # C joined as Silver six weeks ago with no orders: still Silver, in the grace period
    assert lv.loc["C", "level"] == "silver" and pd.notna(lv.loc["C", "below_since"])
    # B brought Gold in 2022 and never qualified: moved down long since
    assert lv.loc["B", "level"] == "member"
    # a level the programme does not have is told, and the member starts from the orders
    assert lv.loc["F", "level"] == "member"
    assert store.found.summary["ingested"]["unknown_levels"] == {"platinum": 1}
    from upmarket.cli.members import unknown_levels

    told = unknown_levels(store.found.summary, PROGRAMME, "en")
    assert "1 ingested member(s)" in told and "platinum (1)" in told and "black_gold" in told
    assert "platinum" in unknown_levels(store.found.summary, PROGRAMME, "zh")
