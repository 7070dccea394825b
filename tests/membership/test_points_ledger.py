"""The points ledger on generated order histories: every member's statement reconciles for any
period, no balance ever goes below zero, a later ledger starts with exactly the entries of an
earlier one (append-only), and after its reversals an order keeps exactly the points of what is
left of it. And the level rules on a history written by hand: a member who stops buying keeps
their level through the grace period and moves down after it."""

from __future__ import annotations

from datetime import datetime, timedelta

import ibis
import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from upmarket.membership import ledger, levels
from upmarket.membership.outputs import ORDER_COLUMNS
from upmarket.membership.programme import Level, Programme

START = datetime(2023, 1, 1)


def programme(grace_days: int = 60, points_per_unit: float = 1.0) -> Programme:
    return Programme(levels=(
        Level("member", "Member", "普通会员"),
        Level("silver", "Silver", "银卡", 500.0, 3, "any", 1.5),
        Level("gold", "Gold", "金卡", 2_000.0, 6, "all", 2.0),
    ), grace_days=grace_days, points_per_unit=points_per_unit)


@st.composite
def histories(draw):
    """Order lines of up to three members over three years: product and postage lines, and
    cancellations or returns of part or all of an order, some after its points lapsed."""
    rows = []
    for c in range(draw(st.integers(1, 3))):
        for k in range(draw(st.integers(1, 8))):
            oid = f"O{c}-{k}"
            ts = START + timedelta(hours=draw(st.integers(0, 3 * 365 * 24)))
            amounts = draw(st.lists(st.integers(1, 3_000), min_size=1, max_size=3))
            for i, a in enumerate(amounts):
                rows.append((f"C{c}", oid, ts, float(a), "paid", "product", None))
            if draw(st.booleans()):
                rows.append((f"C{c}", oid, ts, 12.0, "paid", "postage", None))
            back = draw(st.sampled_from(["none", "all", "part", "late"]))
            if back != "none":
                when = ts + timedelta(days=800 if back == "late" else draw(st.integers(0, 20)))
                share = 0.5 if back == "part" else 1.0
                status = draw(st.sampled_from(["cancelled", "returned"]))
                for i, a in enumerate(amounts):
                    rows.append((f"C{c}", oid + "-C", when, -round(a * share, 2), status,
                                 "product", oid))
    return pd.DataFrame(rows, columns=list(ORDER_COLUMNS))


def ledger_at(lines: pd.DataFrame, as_of: datetime, prog: Programme):
    table = ibis.memtable(lines.astype({"ts": "datetime64[us]"}))
    hist = levels.build_history(table, as_of, prog)
    return hist, ledger.build_ledger(lines, hist, prog, as_of)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lines=histories(), grace=st.integers(0, 200), ppu=st.sampled_from([0.5, 1.0, 2.0]),
       cut=st.integers(30, 3 * 365), start=st.integers(0, 4 * 365))
def test_ledger_reconciles_never_goes_negative_and_only_appends(lines, grace, ppu, cut, start):
    prog = programme(grace, ppu)
    as_of = START + timedelta(days=4 * 365)
    hist, book = ledger_at(lines, as_of, prog)
    assert (book["ts"] < as_of).all()

    # opening + earned − redeemed − expired = closing, whatever the period, for every member
    begin = START + timedelta(days=start)
    s = ledger.statement(book, hist.customers, begin, as_of).set_index("customer_id")
    assert (s["opening"] + s["earned"] - s["redeemed"] - s["expired"] == s["closing"]).all()
    assert (s["closing"] == book.groupby("customer_id")["points"].sum()
            .reindex(s.index, fill_value=0)).all()
    assert (s[["expired", "redeemed", "closing"]] >= 0).all().all()

    # the running balance of every member, entry by entry, never goes below zero
    assert (book.groupby("customer_id")["points"].cumsum() >= 0).all()
    # expiry lapses what is left of a year's points and nothing more
    for (_, year), g in book.groupby(["customer_id", "earned_year"]):
        assert g["points"].sum() >= 0
        if (g["kind"] == "expire").any():
            assert g["points"].sum() == 0

    # after its reversals, an order keeps exactly ⌊what is left of it × its rate⌋
    products = lines[lines["line_kind"] == "product"]
    for oid, g in book[book["kind"].isin(["earn", "reverse"])].groupby("order_id"):
        earn = g[g["kind"] == "earn"].iloc[0]
        base = products[(products["order_id"] == oid) & (products["status"] == "paid")]
        back = products[products["original_order_id"] == oid]
        if earn["expires_at"] is not pd.NaT and (back["ts"] >= earn["expires_at"]).any():
            continue  # points that lapsed before the reversal are not taken back
        left = max(base["amount"].sum() + back["amount"].sum(), 0.0)
        rate = ppu * earn["multiplier"]
        assert g["points"].sum() == np.floor(left * rate + 1e-9)
        assert earn["points"] == np.floor(base["amount"].sum() * rate + 1e-9)

    # a ledger computed later starts with every entry of one computed earlier, unchanged
    early = START + timedelta(days=cut)
    _, before = ledger_at(lines, early, prog)
    later = book[book["ts"] < early]
    cols = ["entry_id", "customer_id", "ts", "kind", "points", "level"]
    pd.testing.assert_frame_equal(before[cols].sort_values("entry_id").reset_index(drop=True),
                                  later[cols].sort_values("entry_id").reset_index(drop=True))
    # so the statement that starts there opens with the earlier ledger's closing balance
    opened = ledger.statement(book, hist.customers, early, as_of).set_index("customer_id")
    closed = before.groupby("customer_id")["points"].sum().reindex(opened.index, fill_value=0)
    assert (opened["opening"] == closed).all()


def _orders(rows) -> pd.DataFrame:
    return pd.DataFrame([(c, o, pd.Timestamp(t), a, "paid", "product", None)
                         for c, o, t, a in rows], columns=list(ORDER_COLUMNS))


def test_a_member_who_stops_buying_keeps_the_level_through_the_grace_period():
    # G reaches gold (2,000 and 6 orders) in spring 2024 and never buys again; S buys once
    rows = [("G", f"G{k}", f"2024-0{1 + k // 2}-1{k % 2} 10:00", 400.0) for k in range(6)]
    rows.append(("S", "S0", "2024-02-01 10:00", 50.0))
    lines = _orders(rows)
    table = ibis.memtable(lines.astype({"ts": "datetime64[us]"}))
    prog = programme(grace_days=90)

    def at(day: str):
        hist = levels.build_history(table, pd.Timestamp(day).to_pydatetime(), prog)
        return levels.evaluate(hist, prog).set_index("customer_id")

    assert at("2024-04-01").loc["G", "level"] == "gold"
    # from 2025-02-01 the window no longer holds January's orders: 4 orders, 1,600 spent,
    # silver; G keeps gold for 90 days from that evaluation, whatever follows
    g = at("2025-02-15").loc["G"]
    assert g["level"] == "gold" and g["qualified_level"] == "silver"
    g = at("2025-05-01").loc["G"]
    assert g["level"] == "gold" and g["qualified_level"] == "member"
    assert g["below_since"] == pd.Timestamp("2025-02-01")
    assert g["grace_until"] == pd.Timestamp("2025-05-02")
    assert "grace" in g["reason_en"] and "2025-05-02" in g["reason_en"]
    assert "保级期" in g["reason_zh"]
    # when the grace period is over: down to what the window then supports
    after = at("2025-05-02")
    g = after.loc["G"]
    assert g["level"] == "member" and g["change"] == "downgrade"
    assert "moved down from Gold to Member" in g["reason_en"]
    assert "由金卡降为普通会员" in g["reason_zh"]
    # a member who never qualified for more has nothing to keep
    assert after.loc["S", "level"] == "member" and pd.isna(after.loc["S", "below_since"])
    # told against what the previous run published: an upgrade with its reason
    hist = levels.build_history(table, datetime(2024, 4, 1), prog)
    told = levels.evaluate(hist, prog, previous=pd.Series({"G": "silver", "S": "member"}))
    told = told.set_index("customer_id")
    assert told.loc["G", "change"] == "upgrade"
    assert told.loc["G", "reason_en"] == "upgraded to Gold: 12-month spend 2,400, 6 orders"
    assert told.loc["S", "distance_en"] == "450 more spend or 2 more orders to Silver"
    assert told.loc["S", "distance_zh"] == "再消费¥450或再下2单可升至银卡"
    assert told.loc["G", "distance_en"] == "top level"
