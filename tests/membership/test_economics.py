"""The programme's economics against what is known: breakage estimated on members whose true
redemption share is drawn from a known distribution (the true rate inside the interval), the
liability net of it, benefit cost per level recomputed by hand from the cost model, level
migration, and the sentences in English and Chinese."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from upmarket.membership import economics, ledger, levels
from upmarket.membership.benefit_cost import DEFAULT_COSTS
from upmarket.membership.programme import Programme

PROGRAMME = Programme()
AS_OF = pd.Timestamp("2026-03-01")
#: redemption share of each member ~ Beta(2, 3): on average 40 % redeemed, 60 % lapsed
TRUE_BREAKAGE = 0.6


@pytest.fixture(scope="module")
def book():
    rng = np.random.default_rng(11)
    n = 600
    ids = np.array([f"M{i:04d}" for i in range(n)], dtype=object)
    amount = rng.uniform(100, 1000, n).round(0)
    share = rng.beta(2, 3, n)
    lines = pd.DataFrame({
        "customer_id": ids, "order_id": [f"O{i}" for i in range(n)],
        "ts": pd.Timestamp("2023-05-01") + pd.to_timedelta(rng.integers(0, 200, n), "D"),
        "amount": amount, "status": "paid", "line_kind": "product",
        "original_order_id": None})
    redeemed = np.floor(amount * share).astype(np.int64)
    carried = pd.DataFrame({
        "entry_id": [f"r{i}" for i in range(n)], "customer_id": ids,
        "ts": pd.Timestamp("2024-03-01"), "kind": "redeem", "points": -redeemed,
        "reference": None})[redeemed > 0]
    hist = levels.history(pd.DataFrame(columns=["customer_id", "eval_date", "spend", "orders"]),
                          ids, [pd.Timestamp("2023-01-01"), AS_OF], PROGRAMME)
    entries = ledger.build_ledger(lines, hist, PROGRAMME, AS_OF.to_pydatetime(), carried)
    balances = ledger.statement(entries, ids, pd.Timestamp("2025-03-01"), AS_OF)
    return entries, balances, amount, redeemed


def test_breakage_covers_the_true_rate(book):
    entries, _, amount, redeemed = book
    found = economics.breakage(entries, AS_OF)
    assert found["years"] == [2023]
    # the point estimate is lapsed ÷ earned of the years already lapsed
    assert found["earned"] == int(amount.sum())
    assert found["rate"] == pytest.approx((amount.sum() - redeemed.sum()) / amount.sum())
    assert found["low"] < TRUE_BREAKAGE < found["high"]
    assert found["high"] - found["low"] < 0.08


def test_no_lapsed_year_means_no_breakage(book):
    entries = book[0]
    found = economics.breakage(entries, pd.Timestamp("2024-06-01"))
    assert found["rate"] is None
    li = economics.liability(pd.DataFrame({"closing": [100, 250, -5]}), found, PROGRAMME)
    assert li["points"] == 350 and li["value"] == pytest.approx(3.5) and li["expected"] is None


def test_liability_is_net_of_breakage():
    broken = {"rate": 0.25, "low": 0.2, "high": 0.3}
    li = economics.liability(pd.DataFrame({"closing": [40_000, 60_000]}), broken, PROGRAMME)
    assert li["value"] == pytest.approx(1_000.0)
    assert (li["expected"], li["expected_low"], li["expected_high"]) == (750.0, 700.0, 800.0)


def test_benefit_cost_per_level_and_migration():
    members = pd.DataFrame({
        "customer_id": ["a", "b", "c", "d"],
        "level": ["member", "gold", "gold", "black_gold"],
        "previous_level": [None, "silver", "gold", "gold"],
        "spend_window": [500.0, 9_000.0, 12_000.0, 40_000.0],
        "orders_window": [2, 10, 14, 20]})
    cost = economics.benefit_cost(members, PROGRAMME)
    gold = PROGRAMME.level("gold").benefits
    by_hand = sum(DEFAULT_COSTS[b].spend_share * 21_000 + DEFAULT_COSTS[b].per_order * 24
                  + DEFAULT_COSTS[b].per_member_year * 2 for b in gold)
    assert cost["gold"]["cost"] == pytest.approx(by_hand)
    assert cost["gold"]["per_member"] == pytest.approx(by_hand / 2)
    assert cost["black_gold"]["cost"] > cost["gold"]["per_member"]
    assert cost["silver"] == {"members": 0, "cost": 0, "per_member": None}
    assert economics.migration(members, PROGRAMME) == {
        "silver": {"gold": 1}, "gold": {"gold": 1, "black_gold": 1}}


def test_economics_in_words(book):
    entries, balances, _, _ = book
    members = pd.DataFrame({"customer_id": balances["customer_id"], "level": "member",
                            "previous_level": "member", "spend_window": 0.0,
                            "orders_window": 0})
    found = economics.economics(members, entries, balances, PROGRAMME, AS_OF)
    assert found["active_rate"] == 0.0 and found["levels"]["member"]["share"] == 1.0
    en = "\n".join(economics.lines(found, PROGRAMME, "en"))
    zh = "\n".join(economics.lines(found, PROGRAMME, "zh-CN", "¥"))
    assert f"{found['breakage']['rate']:.1%}" in en and "lapsed" in en
    assert "积分失效率" in zh and "¥" in zh and "未估计" in zh
    assert economics.run_line(found, "en").startswith("Points liability")


def _customers_who_join(effect: float, seed: int = 3):
    """Two years and a half of monthly purchases; the more a customer buys the likelier they
    join (selection on spend), everyone's buying grows with the calendar, and joining adds
    `effect` orders of 100 a month from the month of joining."""
    rng = np.random.default_rng(seed)
    n, months = 2_500, 30
    rate = rng.gamma(2.0, 0.5, n)
    joins = rng.random(n) < np.where(rate > np.median(rate), 0.6, 0.25)
    month_joined = np.where(joins, rng.integers(13, 24, n), 10_000)
    m = np.arange(months)
    lam = rate[:, None] * (1 + 0.02 * m)[None, :] + effect * (m[None, :] >= month_joined[:, None])
    orders = rng.poisson(lam)
    i, k = np.nonzero(orders)
    first = np.datetime64("2023-01", "M")
    ids = np.char.add("C", np.char.zfill(np.arange(n).astype(str), 5)).astype(object)
    lines = pd.DataFrame({"customer_id": ids[i],
                          "ts": (first + k).astype("datetime64[ns]") + np.timedelta64(10, "D"),
                          "amount": 100.0 * orders[i, k]})
    enrolled = pd.DataFrame({"customer_id": ids[joins],
                             "joined_at": (first + month_joined[joins]).astype("datetime64[ns]")})
    return lines, enrolled, pd.Timestamp((first + months).astype("datetime64[ns]"))


def test_the_true_effect_of_joining_lies_in_the_interval():
    from upmarket.membership.incremental import membership_effect

    lines, enrolled, as_of = _customers_who_join(effect=0.5)
    found = membership_effect(lines, enrolled, as_of, months=6, margin_rate=0.3)
    # 0.5 more orders of 100 a month over the 6 months after joining
    truth = 0.5 * 100 * 6
    assert found["reason"] is None and found["members"] > 300
    assert found["low"] < truth < found["high"] and found["low"] > 0
    assert found["margin"] == pytest.approx(found["spend"] * 0.3, abs=0.01)
    # no effect: the interval holds 0, though the members buy more to begin with
    none = membership_effect(*_customers_who_join(effect=0.0), months=6)
    assert none["low"] < 0 < none["high"]


def test_no_estimate_without_someone_to_compare():
    from upmarket.membership.incremental import membership_effect

    lines, enrolled, as_of = _customers_who_join(effect=0.5)
    everyone = pd.DataFrame({"customer_id": lines["customer_id"].unique(),
                             "joined_at": pd.Timestamp("2024-06-01")})
    assert membership_effect(lines, everyone, as_of)["reason"] == "no_non_members"
    # joined before their first purchase: no spend before joining to compare
    early = enrolled.assign(joined_at=pd.Timestamp("2022-06-01"))
    found = membership_effect(lines, early, as_of)
    assert found["reason"] == "too_few_members" and found["spend"] is None
    assert "未估计" in economics.incremental_words(found, "zh-CN")
    assert economics.incremental_words(None, "en").startswith(
        "Incremental margin of membership: not estimated")
