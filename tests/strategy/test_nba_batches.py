"""The next best action's vectorised parts give the answers of the straightforward per-customer
computation: candidates picked batch by batch are those of the whole list, and every reason
reads as the label filled in for that one customer."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from upmarket.i18n import label, value_label
from upmarket.strategy import nba

CATEGORIES = ["coffee", "tea", "skin"]
LADDER = pd.DataFrame([{"sku": f"{c}-{t}{k}", "category": c, "tier_rank": t,
                        "price_tier": ["basic", "mid", "premium"][t]}
                       for c in CATEGORIES for t in range(3) for k in range(3)])


@pytest.fixture(scope="module")
def lists():
    """Ranked recommendations of 300 customers, the tiers they reached, their main category."""
    rng = np.random.default_rng(5)
    ids = [f"C{i:03d}" for i in range(300)]
    recs = []
    for cid in ids:
        n = rng.integers(0, 12)
        for rank, sku in enumerate(rng.choice(LADDER["sku"], size=n, replace=False), 1):
            recs.append({"customer_id": cid, "sku": sku, "score": 1.0 / rank, "rank": rank,
                         "source": "hybrid"})
    recs = pd.DataFrame(recs)
    reached = pd.DataFrame([{"customer_id": cid, "category": c, "highest_rank": rng.integers(3)}
                            for cid in ids for c in CATEGORIES if rng.random() < 0.5])
    main = pd.DataFrame({"customer_id": ids,
                         "main_category": rng.choice([*CATEGORIES, None], size=len(ids))})
    best = LADDER[LADDER["tier_rank"] == 2][["category", "sku"]]
    return ids, recs, reached, main, best


def _reference(recs, reached, main, best):
    """Candidates from the whole list, the upsell marked by looking its pair up."""
    top = {(r.customer_id, r.category): r.highest_rank for r in reached.itertuples()}
    cat = dict(zip(LADDER["sku"], LADDER["category"]))
    tier = dict(zip(LADDER["sku"], LADDER["tier_rank"]))
    up, cross = {}, {}
    for r in recs.sort_values(["customer_id", "rank"]).itertuples():
        above = tier[r.sku] == 2 and not top.get((r.customer_id, cat[r.sku]), -1) >= 2
        (up if above else cross).setdefault(r.customer_id, r.sku)
    first = {}
    for category, sku in zip(best["category"], best["sku"]):  # the best seller comes first
        first.setdefault(category, sku)
    for m in main.dropna().itertuples():
        sku = first[m.main_category]
        if m.customer_id not in up and not top.get((m.customer_id, cat[sku]), -1) >= 2:
            up[m.customer_id] = sku
    kind = ["upsell" if up.get(c) == s else "cross_sell"
            for c, s in zip(recs["customer_id"], recs["sku"])]
    return up, cross, kind


def test_candidates_in_batches_are_those_of_the_whole_list(lists):
    ids, recs, reached, main, best = lists
    up, cross, kind = _reference(recs, reached, main, best)
    upsell, cross_sell = nba.product_candidates(recs, LADDER, reached, main, best)
    assert dict(zip(upsell["customer_id"], upsell["sku"])) == up and len(upsell) == len(up)
    assert dict(zip(cross_sell["customer_id"], cross_sell["sku"])) == cross
    for size in (3, 300):
        batches = [recs[recs["customer_id"].isin(ids[i:i + size])]
                   for i in range(0, len(ids), size)]
        kept, u, c = nba.candidates_by_batch(iter(batches), LADDER, reached, main, best, keep=4)
        assert dict(zip(u["customer_id"], u["sku"])) == up
        assert dict(zip(c["customer_id"], c["sku"])) == cross
        want = recs.assign(kind=kind).merge(LADDER[["sku", "category", "price_tier"]], on="sku",
                                            how="left")
        want = want[want["rank"] <= 4].reset_index(drop=True)
        pd.testing.assert_frame_equal(kept.astype(object), want.astype(object))
    # a premium product already reached in its category is never the upsell
    top = reached.set_index(["customer_id", "category"])["highest_rank"]
    cat = LADDER.set_index("sku")["category"]
    for cid, sku in zip(upsell["customer_id"], upsell["sku"]):
        assert top.get((cid, cat[sku]), -1) < 2


def _reason(row, o, lang):
    """One customer's reason, filled in the plain way."""
    pct = lambda x: f"{100 * float(x):.0f}" if np.isfinite(x) else "?"  # noqa: E731
    a = o["action"]
    if a == "cross_sell":
        p = 1 - np.exp(-max(float(row["expected_purchases_90d"]), 0.0))
        return label("reason.cross_sell", lang, product=o["product_name"], p=pct(p))
    if a == "retention_offer":
        signals = row["churn_signals_zh"] if lang == "zh-CN" else row["churn_signals"]
        return label("reason.retention_offer", lang, risk=pct(row["churn_risk"]),
                     signals=signals, clv=f"{row['clv']:,.0f}")
    if a == "win_back":
        return label("reason.win_back", lang, days=f"{row['recency_days']:.0f}",
                     p=pct(row["p_alive"]))
    if a == "onboarding":
        return label("reason.onboarding", lang, days=f"{row['tenure_days']:.0f}")
    if a == "referral_ask":
        return label("reason.referral_ask", lang, nps=f"{row['latest_nps']:.0f}",
                     orders=f"{row['orders']:.0f}")
    if a == "upsell":
        months = int(round(row["months_since_last"]))
        when = label("when.this_month", lang) if months <= 0 else label(
            "when.month_ago" if months == 1 else "when.months_ago", lang, n=months)
        return label("reason.upsell", lang, tier=value_label("price", row["current_tier"], lang),
                     category=nba._category(row["main_category"],
                                            nba.DataLabels(nba._category_names(PRODUCTS)), lang),
                     when=when, rate=pct(row["peer_upgrade_rate"]), horizon="6")
    if a == "nurture":
        return label("reason.nurture", lang)
    raise AssertionError(f"no reference for {a}")


PRODUCTS = pd.DataFrame({"sku": ["P1", "X1"], "name": ["Premium one", "Cross one"],
                         "category": ["coffee", "tea"], "price_tier": ["premium", "mid"],
                         "price": [400.0, 50.0], "cost": [200.0, 30.0]})


def test_reasons_read_as_each_customers_own_label():
    rng = np.random.default_rng(8)
    n = 600
    c = _customers(rng, n, ["potential", "basic"], rng.integers(0, 11, n).astype(float))
    consents = pd.DataFrame({"customer_id": c["customer_id"], "channel": "email",
                             "granted": True})
    ids = c["customer_id"]
    out = nba.next_best_actions(
        c, products=PRODUCTS, consents=consents,
        upsell=pd.DataFrame({"customer_id": ids, "sku": "P1"}),
        cross_sell=pd.DataFrame({"customer_id": ids, "sku": "X1"}))
    assert out["action"].nunique() >= 5
    for lang, col in (("en", "reason_en"), ("zh-CN", "reason_zh")):
        for i, o in out.iterrows():
            if o["action"] == "no_contact":
                continue
            assert o[col] == _reason(c.iloc[i], o, lang), (lang, o["action"])
    # the quiet ones name the best action and its expected value
    quiet = out[out["action"] == "no_contact"]
    assert all(r.startswith("No action is worth its cost") for r in quiet["reason_en"])


def test_without_a_price_ladder_everything_is_cross_sell(lists):
    """A shop without categories (Online Retail) has an empty ladder: no upsell, no category."""
    ids, recs, reached, main, best = lists
    empty = pd.DataFrame(columns=["sku", "category", "tier_rank", "price_tier"])
    kept, up, cross = nba.candidates_by_batch([recs], empty, reached.iloc[:0], main.iloc[:0],
                                              best.iloc[:0], keep=3)
    assert up.empty and set(kept["kind"]) == {"cross_sell"}
    assert kept["category"].isna().all() and kept["price_tier"].isna().all()
    firsts = recs[recs["rank"] == 1]
    assert dict(zip(cross["customer_id"], cross["sku"])) == dict(zip(firsts["customer_id"],
                                                                     firsts["sku"]))


def test_customers_decided_in_batches_get_the_answers_of_all_at_once():
    """Contact costs and a referral's worth are means over every customer, and the channels
    are chosen from all the consents: batches of 7 must give the frame of one batch."""
    rng = np.random.default_rng(11)
    n = 250
    tiers = ["diamond", "core", "potential", "basic"]
    c = _customers(rng, n, tiers, np.where(rng.random(n) < 0.3, np.nan, rng.integers(0, 11, n)))
    ids = c["customer_id"].tolist()
    channels = ["email", "sms", "wechat", "phone", "app_push"]
    consents = pd.DataFrame({"customer_id": np.repeat(ids, 2),
                             "channel": rng.choice(channels, 2 * n),
                             "granted": rng.random(2 * n) < 0.8}).drop_duplicates(
        ["customer_id", "channel"])
    some = rng.choice(ids, n // 2, replace=False)
    inputs = dict(
        products=PRODUCTS, consents=consents,
        upsell=pd.DataFrame({"customer_id": ids[::2], "sku": "P1"}),
        cross_sell=pd.DataFrame({"customer_id": ids[1::3], "sku": "X1"}),
        bundles=pd.DataFrame({"customer_id": some, "antecedent": "X1", "consequent": "P1",
                              "confidence": rng.random(len(some)), "lift": 2.0}),
        responses=pd.DataFrame({"customer_id": some, "channel": rng.choice(channels, len(some)),
                                "responses": rng.integers(1, 5, len(some))}),
        hours=pd.DataFrame({"customer_id": some, "active_hour": rng.integers(0, 24, len(some))}),
        contacts=pd.DataFrame({"customer_id": some, "contacts": rng.integers(0, 12, len(some))}))
    whole = nba.next_best_actions(c, **inputs, batch_size=n)
    assert whole["action"].nunique() >= 5 and (whole["action"] == "bundle").any()
    pd.testing.assert_frame_equal(nba.next_best_actions(c, **inputs, batch_size=7), whole)


def _customers(rng, n: int, tiers: list[str], nps) -> pd.DataFrame:
    """`n` customers with every column the next best action reads, drawn from `rng`."""
    return pd.DataFrame({
        "customer_id": [f"C{i:03d}" for i in range(n)], "tier": rng.choice(tiers, n),
        "clv": rng.gamma(2, 400, n), "churn_risk": rng.random(n), "p_alive": rng.random(n),
        "expected_purchases_90d": rng.gamma(1, 1, n), "expected_order_value": 120.0,
        "margin_rate": 0.3, "orders": rng.integers(1, 20, n),
        "tenure_days": rng.integers(1, 900, n).astype(float),
        "recency_days": rng.integers(1, 800, n).astype(float),
        "lifecycle_stage": rng.choice(["retention", "lapsed", "advocacy", "growth"], n),
        "latest_nps": nps,
        "premium_propensity": rng.random(n) * 0.5, "peer_upgrade_rate": rng.random(n),
        "current_tier": rng.choice(["basic", "mid"], n),
        "main_category": rng.choice(CATEGORIES, n), "months_since_last": rng.random(n) * 14,
        "churn_signals": "few orders", "churn_signals_zh": "下单少"})
