"""The membership programme on a small demo world, through `upmarket run`: levels against an
independent pandas computation of trailing spend and orders with the grace period, every
member's points statement reconciled and checked against points recomputed from the orders,
cancelled orders' points reversed, changes told against the previous run, and `upmarket
members show|summary` in English and Chinese."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from upmarket.cli import app
from upmarket.membership.outputs import evaluate_programme
from upmarket.membership.programme import Programme
from upmarket.warehouse import connect
from upmarket.warehouse.runs import current_run, output

runner = CliRunner()
PROGRAMME = Programme()


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from upmarket.demo.load import load_world
    from upmarket.demo.world import WorldConfig

    url = f"duckdb://{tmp_path_factory.mktemp('members')}/w.duckdb"
    wh = connect(url)
    load_world(wh, WorldConfig(customers=150, seed=5))
    wh.close()
    ran = runner.invoke(app, ["run", "-w", url, "--lang", "zh"])
    assert ran.exit_code == 0, ran.output
    wh = connect(url, create=False)
    run = current_run(wh)
    found = {n: output(wh, n, run["run_id"]).to_pandas().drop(columns="run_id")
             for n in ("member_levels", "points_ledger", "points_balances", "results")}
    orders = wh.table("orders").to_pandas()
    yield SimpleNamespace(url=url, wh=wh, run=run, out=ran.output, orders=orders, **found)
    wh.close()


def independent_levels(orders: pd.DataFrame, as_of: pd.Timestamp, prog: Programme):
    """Trailing spend and orders, qualification and the grace rule, written again in plain
    pandas and Python, member by member: (per-date frame, level index per member and date)."""
    orders = orders[orders["ts"] < as_of]
    paid = orders[orders["status"] == "paid"]
    dates = list(pd.date_range(paid["ts"].min().to_period("M").start_time, as_of, freq="MS"))
    if dates[-1] != as_of:
        dates.append(as_of)
    placed = paid.groupby("order_id").agg(customer_id=("customer_id", "first"),
                                          ts=("ts", "min"), amount=("amount", "sum"))
    back = orders[orders["status"] != "paid"]
    rows = []
    for d in dates:
        start = d - pd.DateOffset(months=prog.window_months)
        spend = orders[(orders["ts"] >= start) & (orders["ts"] < d)] \
            .groupby("customer_id")["amount"].sum()
        taken = back[back["ts"] < d].groupby("original_order_id")["amount"].sum()
        inside = placed[(placed["ts"] >= start) & (placed["ts"] < d)]
        net = inside["amount"] + taken.reindex(inside.index).fillna(0.0)
        count = inside[net > 0.005].groupby("customer_id").size()
        for c in sorted(paid["customer_id"].unique()):
            s, n = float(spend.get(c, 0.0)), int(count.get(c, 0))
            q = 0
            for k, lv in enumerate(prog.levels):
                bars = [x >= b for x, b in ((s, lv.min_spend), (n, lv.min_orders)) if b > 0]
                if not bars or (any(bars) if lv.rule == "any" else all(bars)):
                    q = k
            rows.append((c, d, s, n, q))
    frame = pd.DataFrame(rows, columns=["customer_id", "date", "spend", "orders", "qualified"])
    held = {}
    for c, g in frame.groupby("customer_id"):
        level, since, path = 0, None, []
        for d, q in zip(g["date"], g["qualified"]):
            if q >= level:
                level, since = q, None
            else:
                since = since or d
                if (d - since).days >= prog.grace_days:
                    level, since = q, None
            path.append((d, level, since))
        held[c] = path
    return frame, held


@pytest.fixture(scope="module")
def truth(world):
    return independent_levels(world.orders, pd.Timestamp(world.run["as_of"]), PROGRAMME)


def test_levels_match_an_independent_computation(world, truth):
    frame, held = truth
    last = frame[frame["date"] == frame["date"].max()].set_index("customer_id")
    got = world.member_levels.set_index("customer_id").sort_index()
    assert list(got.index) == sorted(held)
    np.testing.assert_allclose(got["spend_window"], last["spend"].reindex(got.index), atol=0.01)
    assert (got["orders_window"] == last["orders"].reindex(got.index)).all()
    codes = PROGRAMME.codes
    assert (got["qualified_level"] == last["qualified"].reindex(got.index).map(
        lambda k: codes[k])).all()
    assert (got["level"] == pd.Series({c: codes[p[-1][1]] for c, p in held.items()})).all()
    since = pd.Series({c: p[-1][2] for c, p in held.items()}, dtype="datetime64[ns]")
    assert got["below_since"].equals(since.reindex(got.index).rename("below_since"))
    # the world has members above their bars in grace, and every level is held by someone
    assert got["below_since"].notna().sum() > 0
    assert set(got["level"]) == set(codes)
    # the distance to the next level is what the next level's bars still ask
    nxt = got[got["level"] == "member"].iloc[0]
    silver = PROGRAMME.level("silver")
    assert nxt["spend_to_next"] == pytest.approx(max(silver.min_spend - nxt["spend_window"], 0))
    assert nxt["distance_en"].endswith("to Silver") and nxt["distance_zh"].endswith("可升至银卡")


def test_every_statement_reconciles_and_matches_points_from_the_orders(world, truth):
    _, held = truth
    b = world.points_balances.set_index("customer_id")
    assert len(b) == len(world.member_levels)
    assert (b["opening"] + b["earned"] - b["redeemed"] - b["expired"] + b["adjusted"]
            == b["closing"]).all()
    assert b["expired"].sum() > 0 and b["reversed"].sum() > 0 and b["redeemed"].sum() > 0
    # closing balances recomputed from the orders: each order's product spend left after its
    # reversals, at the multiplier of the level held when it was placed, for the points that
    # have not lapsed yet
    as_of = pd.Timestamp(world.run["as_of"])
    o = world.orders[(world.orders["ts"] < as_of) & (world.orders["line_kind"] == "product")]
    paid = o[o["status"] == "paid"].groupby("order_id").agg(
        customer_id=("customer_id", "first"), ts=("ts", "min"), base=("amount", "sum"))
    taken = o[o["status"] != "paid"].groupby("original_order_id")["amount"].sum()
    paid["left"] = np.maximum(paid["base"] + taken.reindex(paid.index).fillna(0.0), 0)
    mult = [lv.multiplier for lv in PROGRAMME.levels]

    def level_then(c, t):
        return [lv for d, lv, _ in held[c] if d <= t][-1]

    paid["rate"] = [PROGRAMME.points_per_unit * mult[level_then(c, t)]
                    for c, t in zip(paid["customer_id"], paid["ts"])]
    paid["points"] = np.floor(paid["left"] * paid["rate"] + 1e-9).astype(np.int64)
    book = world.points_ledger
    spent = book[book["kind"] == "redeem"]
    # members who redeemed: each year's points held apart, a redemption taking from the year
    # that lapses first, a year lapsing with what is left of it on 1 January two years on
    # (members with a reversed order are left to the reconciliation: a reversal's timing
    # against a redemption decides which year pays)
    touched = set(o.loc[o["status"] != "paid", "customer_id"])
    checked = 0
    for c, rows in spent.groupby("customer_id"):
        if c in touched:
            continue
        years = paid[paid["customer_id"] == c].groupby(paid["ts"].dt.year)["points"].sum()
        buckets = {int(y): int(p) for y, p in years.items()}
        for t, p in zip(rows["ts"], rows["points"]):
            buckets = {y: v for y, v in buckets.items() if y + 2 > pd.Timestamp(t).year}
            need = -int(p)
            for y in sorted(buckets):
                take = min(buckets[y], need)
                buckets[y] -= take
                need -= take
        left = sum(v for y, v in buckets.items() if y + 2 > as_of.year)
        assert b.loc[c, "closing"] == left, c
        checked += 1
    assert checked > 0
    plain = b.index.difference(spent["customer_id"].unique())
    alive = paid[paid["ts"].dt.year + 2 > as_of.year]
    expected = alive.groupby("customer_id")["points"].sum().reindex(plain, fill_value=0)
    assert (b.loc[plain, "closing"] == expected.astype(np.int64)).all()


def test_a_cancelled_orders_points_are_reversed(world):
    o = world.orders[world.orders["line_kind"] == "product"]
    base = o[o["status"] == "paid"].groupby("order_id")["amount"].sum()
    taken = o[o["status"] == "cancelled"].groupby("original_order_id")["amount"].sum()
    whole = [oid for oid, a in taken.items() if abs(a + base.get(oid, 0.0)) < 0.01]
    assert whole, "the demo world cancels some orders whole"
    book = world.points_ledger
    for oid in whole:
        mine = book[book["order_id"] == oid]
        assert set(mine["kind"]) == {"earn", "reverse"} and mine["points"].sum() == 0


def test_changes_are_told_against_the_previous_run(world):
    as_of = pd.Timestamp(world.run["as_of"])
    earlier = evaluate_programme(world.wh, (as_of - pd.DateOffset(months=3)).to_pydatetime(),
                                 PROGRAMME).tables["member_levels"]
    now = evaluate_programme(world.wh, as_of.to_pydatetime(), PROGRAMME,
                             previous_levels=earlier.set_index("customer_id")["level"]
                             ).tables["member_levels"].set_index("customer_id")
    rank = {c: i for i, c in enumerate(PROGRAMME.codes)}
    before = earlier.set_index("customer_id")["level"].map(rank)
    after = now["level"].map(rank)
    up = after[after > before.reindex(after.index)].index
    down = after[after < before.reindex(after.index)].index
    assert len(up) and len(down)
    assert (now.loc[up, "change"] == "upgrade").all()
    assert now.loc[up, "reason_en"].str.startswith("upgraded to").all()
    assert (now.loc[down, "change"] == "downgrade").all()
    assert now.loc[down, "reason_zh"].str.contains("降为").all()
    assert (now.loc[now.index.difference(before.index), "change"] == "new").all()


def test_run_summary_and_the_members_commands(world):
    from upmarket.cli import console
    from upmarket.cli.runs import _print_members
    from upmarket.pipeline import Settings

    counts = world.member_levels["level"].value_counts()
    assert "会员等级：普通会员" in world.out and f"黑金 {counts['black_gold']:,}" in world.out
    summary = json.loads(runner.invoke(app, ["members", "summary", "-w", world.url,
                                             "--json"]).stdout)
    assert summary["levels"] == {c: int(counts.get(c, 0)) for c in PROGRAMME.codes}
    assert sum(summary["by_tier"]["member"].values()) == counts["member"]
    with console.capture() as cap:
        _print_members(SimpleNamespace(summary={"membership": summary}, settings=Settings()),
                       "en")
    assert f"Membership levels: Member {counts['member']:,}, Silver" in cap.get()
    for lang, words in (("en", ["Black Gold", "30,000 spend and 12 orders", "opening",
                                "Members per level and value tier", "Diamond"]),
                        ("zh", ["黑金", "消费¥30,000且12单", "期初", "价值等级分布", "钻石客户"])):
        shown = runner.invoke(app, ["members", "summary", "-w", world.url, "--lang", lang])
        assert shown.exit_code == 0 and all(w in shown.output for w in words), shown.output
    member = world.member_levels.sort_values("points_balance").iloc[-1]
    for lang, key in (("en", "distance_en"), ("zh", "distance_zh")):
        shown = runner.invoke(app, ["members", "show", member["customer_id"], "-w", world.url,
                                    "--lang", lang])
        assert shown.exit_code == 0, shown.output
        assert member[key] in shown.output and f"{int(member['points_balance']):,}" in shown.output
    got = json.loads(runner.invoke(app, ["members", "show", member["customer_id"], "-w",
                                         world.url, "--json", "--entries", "3"]).stdout)
    assert got["level"] == member["level"] and len(got["ledger"]) == 3
    assert got["statement"][0]["closing"] == member["points_balance"]
    missing = runner.invoke(app, ["members", "show", "NOBODY", "-w", world.url])
    assert missing.exit_code == 2 and "'NOBODY' is not a member" in missing.output


def test_the_next_run_tells_changes_against_the_published_levels(world):
    """The pipeline stage of a later run: previous levels and the statement's opening come
    from the run published before it."""
    from upmarket import pipeline
    from upmarket.warehouse.runs import Run

    published = world.member_levels.set_index("customer_id")["level"]
    later = (pd.Timestamp(world.run["as_of"]) + pd.Timedelta(days=92)).to_pydatetime()
    ctx = pipeline.Context(world.wh, later, Run(world.wh, later),
                           results=world.results[["customer_id", "tier"]].copy())
    pipeline.stage_membership(ctx)
    now = ctx.tables["member_levels"].set_index("customer_id")
    rank = {c: i for i, c in enumerate(PROGRAMME.codes)}
    step = now["level"].map(rank) - published.reindex(now.index).map(rank)
    expected = np.select([step > 0, step < 0], ["upgrade", "downgrade"], "same")
    assert (now["change"] == expected).all()
    # three months with no orders: members fall below their bars, some past the grace period
    assert (now["change"] == "downgrade").sum() > 0 and now["below_since"].notna().sum() > 0
    assert (now["previous_level"] == published.reindex(now.index)).all()
    found = ctx.summary["membership"]
    assert found["period_start"] == f"{pd.Timestamp(world.run['as_of']):%Y-%m-%d}"
    b = ctx.tables["points_balances"].set_index("customer_id")
    assert (b["opening"] == world.points_balances.set_index("customer_id")["closing"]
            .reindex(b.index)).all()
    assert sum(sum(t.values()) for t in found["by_tier"].values()) == len(now)


def test_economics_of_the_demo_programme(world):
    """Redemptions and expiries of the demo in the ledger, the liability at redemption value
    in the run's summary, and the economics in `members summary` (80 columns, --json, zh) and
    in the report's membership section."""
    from rich.cells import cell_len

    from upmarket.reports import membership as section
    from upmarket.reports.html import gather, render

    book, b = world.points_ledger, world.points_balances
    assert "积分负债" in world.out
    assert (book["kind"] == "redeem").any() and (book["kind"] == "expire").any()
    assert (b["opening"] + b["earned"] - b["redeemed"] - b["expired"] + b["adjusted"]
            == b["closing"]).all()
    found = json.loads(runner.invoke(app, ["members", "summary", "-w", world.url,
                                           "--json"]).stdout)["economics"]
    held = int(b["closing"].clip(lower=0).sum())
    assert found["liability"]["points"] == held
    assert found["liability"]["value"] == pytest.approx(held * PROGRAMME.redemption_value,
                                                        abs=0.01)
    assert found["redemption_rate"] == pytest.approx(b["redeemed"].sum() / b["earned"].sum(),
                                                     abs=1e-4)
    assert found["active_rate"] == pytest.approx(
        (world.member_levels["orders_window"] > 0).mean(), abs=1e-4)
    br = found["breakage"]
    assert br["years"] and 0 < br["low"] <= br["rate"] <= br["high"] < 1
    assert sum(v["members"] for v in found["benefit_cost"].values()) == len(world.member_levels)
    for lang, words in (("en", ["Programme economics", "Points held", "Breakage",
                                "Benefit cost per level"]),
                        ("zh", ["会员体系经济性", "积分负债", "积分失效率", "各等级权益成本"])):
        shown = runner.invoke(app, ["members", "summary", "-w", world.url, "--lang", lang],
                              env={"COLUMNS": "80"})
        assert shown.exit_code == 0 and all(w in shown.output for w in words), shown.output
        # a Chinese character takes two columns
        long = [line for line in shown.output.splitlines() if cell_len(line) > 80]
        assert not long, long
    assert "积分失效率" in "".join(section.section(world.run, "zh-CN")["lines"])
    page = render(gather(world.wh, lang="en", with_figures=False))
    assert 'id="membership"' in page and f"Points held: {held:,}" in page


def test_report_workbook_has_the_membership_sheet(world, tmp_path):
    """`report --format xlsx` on the demo run: a membership sheet after the customer lists,
    with the level distribution and benefit cost per level as numbers equal to the run's
    economics, and the liability and breakage sentences above the table."""
    import openpyxl

    from upmarket.i18n import label
    from upmarket.membership import economics

    path = tmp_path / "report.xlsx"
    made = runner.invoke(app, ["report", "--format", "xlsx", "--lang", "zh", "--out", str(path),
                               "-w", world.url],
                         env={"UPMARKET_DATABASE": f"sqlite:///{tmp_path}/ops.sqlite"})
    assert made.exit_code == 0, made.output
    wb = openpyxl.load_workbook(path)
    name = label("report.section.membership", "zh-CN")
    assert wb.sheetnames.index(name) == wb.sheetnames.index(label("report.upsell.title",
                                                                  "zh-CN")) + 1
    ws = wb[name]
    header = int(ws.freeze_panes[1:]) - 1
    assert [c.value for c in ws[header]] == [label(f"members.col.{k}", "zh-CN") for k in
                                             ("level", "members", "share", "cost", "per_member")]
    rows = [[c.value for c in r] for r in ws.iter_rows(min_row=header + 1)]
    found = json.loads(runner.invoke(app, ["members", "summary", "-w", world.url,
                                           "--json"]).stdout)["economics"]
    assert [r[0] for r in rows] == [lv.name_zh for lv in PROGRAMME.levels]
    counts = world.member_levels["level"].value_counts()
    for row, lv in zip(rows, PROGRAMME.levels):
        cost = found["benefit_cost"][lv.code]
        assert row[1] == counts.get(lv.code, 0)
        assert row[2] == pytest.approx(counts.get(lv.code, 0) / len(world.member_levels),
                                       abs=5e-4)
        # the page rounds money to whole units
        assert row[3] == pytest.approx(cost["cost"], abs=0.5)
        assert row[4] == (None if cost["per_member"] is None
                          else pytest.approx(cost["per_member"], abs=0.5))
    notes = " ".join(str(c.value) for r in ws.iter_rows(max_row=header - 1) for c in r
                     if c.value)
    held = int(world.points_balances["closing"].clip(lower=0).sum())
    assert f"{held:,}" in notes and "积分失效率" in notes
    assert economics._pct(found["breakage"]["rate"]) in notes
