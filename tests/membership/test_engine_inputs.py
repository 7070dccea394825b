"""The membership readers fed order lines summed in the engine give exactly what they give from
every line: the ledger (`ledger_lines`), the level-up effect (`period_lines`) and the effect of
joining (`monthly_lines`), on a demo world with cancellations, returns, postage lines and members
who joined late; and the member words, phrased once per case, read each member's own figures."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from upmarket.demo.world import WorldConfig, generate_world
from upmarket.membership import incremental, level_up, ledger, levels
from upmarket.membership.outputs import ORDER_COLUMNS
from upmarket.membership.programme import Programme
from upmarket.warehouse import connect
from upmarket.warehouse.ingest import ingest

CONFIG = WorldConfig(customers=1_500, seed=7)
PROGRAMME = Programme()


@pytest.fixture(scope="module")
def world():
    wh = connect("duckdb://")
    members = []
    for name, frame in generate_world(CONFIG):
        if name == "orders":
            ingest(name, frame, warehouse=wh, source="demo world")
        elif name == "members":
            members.append(frame)
    orders = wh.table("orders")
    o = orders.filter(orders.ts < CONFIG.as_of)
    lines = o.select(*ORDER_COLUMNS).to_pandas()
    hist = levels.build_history(orders, CONFIG.as_of, PROGRAMME)
    yield {"wh": wh, "orders": orders, "lines": lines, "hist": hist,
           "members": pd.concat(members, ignore_index=True)}
    wh.close()


def test_the_ledger_from_order_totals_is_the_ledger_from_every_line(world):
    lines = world["lines"]
    # the world has what the totals must get right: reversals and lines that earn nothing
    assert (lines["status"] != "paid").sum() > 20 and (lines["line_kind"] != "product").any()
    totals = ledger.ledger_lines(world["orders"], CONFIG.as_of).to_pandas()
    assert len(totals) < 0.9 * len(lines)
    from_lines = ledger.build_ledger(lines, world["hist"], PROGRAMME, CONFIG.as_of)
    from_totals = ledger.build_ledger(totals, world["hist"], PROGRAMME, CONFIG.as_of)
    assert (from_lines["kind"] == "reverse").sum() > 20
    pd.testing.assert_frame_equal(from_totals.astype(str), from_lines.astype(str))


def test_the_ledger_built_in_batches_of_members_is_the_ledger_built_at_once(world, monkeypatch):
    totals = ledger.ledger_lines(world["orders"], CONFIG.as_of).to_pandas()
    ids = np.asarray(world["hist"].customers)
    rng = np.random.default_rng(5)
    # redemptions and hand-made corrections, spread over the batches, so the first-in,
    # first-out walk and the expiries of spenders run in every batch
    who = rng.choice(ids, 120, replace=False)
    carried = pd.DataFrame({
        "entry_id": [f"r{i}" for i in range(len(who))], "customer_id": who,
        "ts": CONFIG.as_of - pd.to_timedelta(rng.integers(1, 400, len(who)), "D"),
        "kind": "redeem", "points": -rng.integers(1, 300, len(who)), "reference": "shop"})
    adjustments = pd.DataFrame({
        "request_id": [f"q{i}" for i in range(40)], "customer_id": rng.choice(ids, 40),
        "ts": CONFIG.as_of - pd.to_timedelta(rng.integers(1, 300, 40), "D"),
        "points": rng.integers(-50, 80, 40)})
    once = ledger.build_ledger(totals, world["hist"], PROGRAMME, CONFIG.as_of, carried,
                               adjustments=adjustments)
    monkeypatch.setattr(ledger, "BATCH_MEMBERS", 170)
    assert len(ids) > 6 * 170
    batched = ledger.build_ledger(totals, world["hist"], PROGRAMME, CONFIG.as_of, carried,
                                  adjustments=adjustments)
    assert set(once["kind"]) >= {"earn", "reverse", "redeem", "adjust", "expire"}
    pd.testing.assert_frame_equal(batched, once, check_exact=True)


def test_the_level_up_effect_from_period_totals_is_the_one_from_every_line(world):
    totals = level_up.period_lines(world["orders"], world["hist"], CONFIG.as_of).to_pandas()
    assert len(totals) < len(world["lines"])
    from_lines = level_up.level_up_effect(world["hist"], world["lines"], PROGRAMME,
                                          CONFIG.as_of, margin_rate=0.3)
    from_totals = level_up.level_up_effect(world["hist"], totals, PROGRAMME, CONFIG.as_of,
                                           margin_rate=0.3)
    # members on both sides of a bar were found, so the windows were really summed
    assert from_lines["above"] > 0 and from_lines["below"] > 0
    assert from_totals == pytest.approx(from_lines, abs=0.011)


def test_the_effect_of_joining_from_monthly_totals_is_the_one_from_every_line(world):
    joined = world["members"][["customer_id", "joined_at"]]
    totals = incremental.monthly_lines(world["orders"], CONFIG.as_of).to_pandas()
    assert len(totals) < len(world["lines"])
    from_lines = incremental.membership_effect(world["lines"], joined, CONFIG.as_of,
                                               margin_rate=0.3)
    from_totals = incremental.membership_effect(totals, joined, CONFIG.as_of, margin_rate=0.3)
    assert from_lines["members"] >= incremental.MIN_MEMBERS and from_lines["spend"] is not None
    assert from_totals == pytest.approx(from_lines, abs=0.011)


def test_member_words_read_each_members_own_figures():
    # four members at the first level, one at the top: two read the same whole amount, one
    # has net returns of less than one unit, one needs a single order more
    spend = np.array([1_239.6, 1_240.4, -0.3, 1_990.2, 31_000.0])
    orders = np.array([2, 2, 0, 3, 12])
    level = np.array([0, 0, 0, 0, 3])
    distance = levels.distance_words_many(spend, orders, level, PROGRAMME, "en")
    assert list(distance) == [
        "761 more spend or 2 more orders to Silver", "760 more spend or 2 more orders to Silver",
        "2,001 more spend or 4 more orders to Silver", "10 more spend or 1 more order to Silver",
        "top level"]
    reason = levels.reason_words_many(
        ["same", "same", "new", "downgrade", "same"], level, [0, 0, np.nan, 1.0, 3.0],
        spend, orders, [pd.NaT, pd.Timestamp("2024-05-01"), pd.NaT, pd.NaT, pd.NaT],
        PROGRAMME, "en")
    assert reason[0] == "stays Member: 12-month spend 1,240, 2 orders"
    assert reason[1].startswith("keeps Member in the grace period: 12-month spend 1,240, "
                                "2 orders, below its bars since 2024-05-01")
    assert reason[2] == "joined at Member: 12-month spend -0, 0 orders"
    assert reason[3] == ("moved down from Silver to Member: 12-month spend 1,990, 3 orders, "
                         "below Silver's bars for 90 days or more")
    assert reason[4] == "stays Black Gold: 12-month spend 31,000, 12 orders"
    # one member's words are the many-member words of that member
    assert levels.distance_words(1_990.2, 3, 0, PROGRAMME, "zh-CN") == \
        levels.distance_words_many(spend, orders, level, PROGRAMME, "zh-CN")[3]
