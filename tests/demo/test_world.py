"""The synthetic demo world: schema conformance, determinism, integrity and ground truth."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import date, datetime

import numpy as np
import pandas as pd
import pytest

from upmarket.demo import WorldConfig, generate_world
from upmarket.demo.world import CHANNELS, BadWorldConfig
from upmarket.errors import UpmarketError
from upmarket.warehouse.schema import PROMOTION_TYPES, TABLES

CFG = WorldConfig(customers=2_000, seed=7)
AS_OF = pd.Timestamp(CFG.as_of)
HORIZON = pd.Timestamp(CFG.horizon)
INCOME = {"<5k": 0, "5k-10k": 1, "10k-20k": 2, "20k-50k": 3, "50k+": 4}


def collect(cfg: WorldConfig) -> tuple[list[tuple[str, pd.DataFrame]], dict[str, pd.DataFrame]]:
    pairs = list(generate_world(cfg))
    parts: dict[str, list[pd.DataFrame]] = defaultdict(list)
    for name, frame in pairs:
        parts[name].append(frame)
    return pairs, {k: pd.concat(v, ignore_index=True) for k, v in parts.items()}


@pytest.fixture(scope="module")
def pairs_and_world():
    return collect(CFG)


@pytest.fixture(scope="module")
def world(pairs_and_world):
    return pairs_and_world[1]


@pytest.fixture(scope="module")
def chunked():
    return collect(WorldConfig(customers=2_000, seed=7, chunk_customers=300))


# ------------------------------------------------------------------ config


def test_as_of_and_validation():
    assert WorldConfig().as_of == datetime(2026, 1, 1)
    assert WorldConfig(years=0.5).as_of.date() == date(2024, 7, 1)
    assert WorldConfig().horizon == datetime(2026, 6, 30)
    with pytest.raises(BadWorldConfig):
        WorldConfig(customers=0)
    with pytest.raises(UpmarketError):
        WorldConfig(years=0)


# ------------------------------------------------------------------ schema conformance


def _dtype_ok(series: pd.Series, kind: str) -> bool:
    if kind == "timestamp":
        return pd.api.types.is_datetime64_dtype(series) and getattr(series.dt, "tz", None) is None
    if kind == "float":
        return pd.api.types.is_float_dtype(series)
    if kind == "int":
        return pd.api.types.is_integer_dtype(series)
    if kind == "bool":
        return pd.api.types.is_bool_dtype(series)
    if kind == "date":
        return all(isinstance(v, date) and not isinstance(v, datetime) for v in series)
    return pd.api.types.is_string_dtype(series) or series.dtype == object


def test_every_frame_matches_the_schema(pairs_and_world):
    pairs, _ = pairs_and_world
    assert {name for name, _ in pairs} == set(TABLES)
    for name, frame in pairs:
        table = TABLES[name]
        assert set(frame.columns) <= set(table.column_names), name
        assert set(table.required) <= set(frame.columns), name
        for col in frame.columns:
            spec = table.column(col)
            assert _dtype_ok(frame[col], spec.type), (name, col, frame[col].dtype)
            if spec.required:
                assert frame[col].notna().all(), (name, col)
            values = frame[col].dropna()
            if spec.choices and len(values):
                assert set(values) <= set(spec.choices), (name, col)
            if spec.min is not None and len(values):
                assert values.min() >= spec.min, (name, col)
            if spec.max is not None and len(values):
                assert values.max() <= spec.max, (name, col)
            if spec.type == "json":
                for v in values:
                    json.loads(v)


def test_keys_are_unique(world):
    for name, frame in world.items():
        key = list(TABLES[name].key)
        assert not frame.duplicated(key).any(), name


def test_deterministic_and_seed_sensitive(pairs_and_world):
    pairs, _ = pairs_and_world
    again = list(generate_world(CFG))
    assert [n for n, _ in pairs] == [n for n, _ in again]
    for (name, a), (_, b) in zip(pairs, again):
        pd.testing.assert_frame_equal(a, b, obj=name)
    _, other = collect(WorldConfig(customers=2_000, seed=8))
    _, world = pairs_and_world
    assert not world["orders"]["amount"].equals(other["orders"]["amount"])
    assert not world["customers"]["created_at"].equals(other["customers"]["created_at"])


# ------------------------------------------------------------------ catalogue, promotions, spend


def test_catalogue_has_a_price_ladder(world):
    p = world["products"]
    assert 8 <= p["category"].nunique() <= 12
    assert 50 <= len(p) <= 5_000
    assert p.loc[p["consumable"], "category"].nunique() >= 2
    med = p.groupby(["category", "price_tier"])["price"].median().unstack()
    ratio = med["premium"] / med["basic"]
    assert ratio.between(3, 8).all(), ratio
    margin = ((p["price"] - p["cost"]) / p["price"]).groupby(p["price_tier"]).mean()
    assert margin["premium"] > margin["mid"] > margin["basic"]


def test_promotions_campaigns_spend_survey(world):
    pr = world["promotions"]
    assert 20 <= len(pr) <= 40
    assert set(pr["type"]) == set(PROMOTION_TYPES)
    assert (pr["end"] > pr["start"]).all()
    mj = pr[pr["type"] == "threshold_discount"]
    assert ((mj["threshold"] == 300) & (mj["value"] == 50)).any()
    camp = world["campaigns"]
    assert 10 <= len(camp) <= 20
    assert all(abs(sum(json.loads(a).values()) - 1) < 1e-9 for a in camp["arms"])
    spend = world["marketing_spend"]
    assert set(spend["channel"]) == set(CHANNELS)
    assert set(spend["cost_type"]) == {"media", "sales_team", "technical_support", "overhead"}
    assert max(spend["date"]) < CFG.as_of.date()
    assert (spend["cost"] >= 0).all()
    bs = world["brand_survey"]
    assert set(bs["metric"]) == {"awareness", "association", "loyalty", "premium_coefficient"}
    pc = bs["metric"] == "premium_coefficient"
    assert bs.loc[pc, "value"].between(1.0, 1.5).all()
    assert bs.loc[~pc, "value"].between(0, 1).all()


# ------------------------------------------------------------------ history integrity


def test_nothing_observed_after_as_of(world):
    checks = {"orders": "ts", "events": "ts", "customers": "created_at", "payments": "issued",
              "service_tickets": "opened", "feedback": "ts", "consents": "ts"}
    for table, col in checks.items():
        assert world[table][col].max() <= AS_OF, table
    o = world["orders"]
    assert o["delivered_at"].max() <= AS_OF
    assert world["payments"]["paid_at"].max() <= AS_OF
    assert world["service_tickets"]["resolved"].max() <= AS_OF


def test_order_lines(world):
    o = world["orders"]
    assert 10_000 <= len(o) <= 40_000  # ~150k-300k lines for 20k customers
    assert np.allclose(o["amount"], o["quantity"] * o["unit_price"] - o["discount"], atol=0.011)
    assert (o["currency"] == "CNY").all()
    shares = o["status"].value_counts(normalize=True)
    assert 0.01 < shares["cancelled"] < 0.035 and 0.004 < shares["returned"] < 0.02
    prod = o[o["line_kind"] == "product"]
    assert set(prod["sku"]) <= set(world["products"]["sku"])
    post = o[o["line_kind"] == "postage"]
    assert len(post) and post["sku"].isna().all() and (post["amount"] > 0).all()
    paid = o[o["status"] == "paid"]
    assert (paid["quantity"] > 0).all()
    assert paid["promotion_id"].dropna().isin(world["promotions"]["promotion_id"]).all()
    assert 0.02 < (paid["discount"] > 0).mean() < 0.4
    late = (paid["delivered_at"] > paid["promised_delivery"]).mean()
    assert 0.02 < late < 0.2
    # line numbers run 0..n-1 within each order
    g = o.groupby("order_id")["line_no"]
    assert (g.min() == 0).all() and (g.max() + 1 == g.size()).all()
    assert set(o["customer_id"]) <= set(world["customers"]["customer_id"])


def test_cancellations_and_returns_link_to_paid_orders(world):
    o = world["orders"]
    paid = o[o["status"] == "paid"].drop_duplicates("order_id").set_index("order_id")
    rev = o[o["status"].isin(["cancelled", "returned"])]
    assert len(rev)
    assert (rev["quantity"] < 0).all() and (rev["amount"] <= 0).all()
    assert rev["original_order_id"].isin(paid.index).all()
    orig = paid.loc[rev["original_order_id"]]
    assert (orig["customer_id"].to_numpy() == rev["customer_id"].to_numpy()).all()
    assert (orig["ts"].to_numpy() <= rev["ts"].to_numpy()).all()
    assert o.loc[o["status"] == "paid", "original_order_id"].isna().all()


def test_premium_share_rises_for_the_early_cohort(world):
    o, p, c = world["orders"], world["products"], world["customers"]
    early = c.loc[c["created_at"] < "2024-04-01", "customer_id"]
    lines = o[(o["status"] == "paid") & (o["line_kind"] == "product")
              & o["customer_id"].isin(early)].merge(p[["sku", "price_tier"]], on="sku")
    prem = lines["price_tier"] == "premium"
    q = lines["ts"].dt.to_period("Q")
    share = prem.groupby(q).mean()
    assert share.iloc[-2:].mean() > share.iloc[0] + 0.05, share


def test_events(world):
    ev, o = world["events"], world["orders"]
    assert set(ev["type"]) == {"track", "page", "identify"}
    need = {"ad_impression", "click", "page_view", "register", "add_to_cart", "purchase"}
    assert need <= set(ev["event"])
    n_orders = o.loc[o["status"] == "paid", "order_id"].nunique()
    assert 3 <= len(ev) / n_orders <= 8
    touch = ev[ev["channel"].notna()]
    assert set(touch["channel"]) == set(CHANNELS)
    assert touch["utm_source"].notna().all() and touch["utm_campaign"].notna().all()
    assert touch["campaign_id"].notna().any()
    assert touch["campaign_id"].dropna().isin(world["campaigns"]["campaign_id"]).all()
    anon_only = ev[ev["customer_id"].isna()]
    assert len(anon_only) and anon_only["anonymous_id"].notna().all()
    # every purchase event names a real order; touches precede purchases
    purchases = ev[ev["event"] == "purchase"]
    ids = purchases["properties"].map(lambda s: json.loads(s)["order_id"])
    assert set(ids) == set(o.loc[o["status"] == "paid", "order_id"])
    known = ev[ev["customer_id"].notna()]
    first_buy = known[known["event"] == "purchase"].groupby("customer_id")["ts"].min()
    reg = known[known["event"] == "register"].set_index("customer_id")["ts"]
    assert (reg.reindex(first_buy.index) <= first_buy).all()
    clicks = ev[(ev["event"] == "click")].groupby("anonymous_id")["ts"].min()
    buys = ev[ev["event"] == "purchase"].groupby("anonymous_id")["ts"].min()
    both = clicks.index.intersection(buys.index)
    assert (clicks[both] <= buys[both]).mean() > 0.8


def test_payments_tickets_feedback_consents(world):
    pay = world["payments"]
    assert len(pay)
    assert ((pay["due"] - pay["issued"]) == pd.Timedelta(days=30)).all()
    late = (pay["paid_at"] > pay["due"]).mean()
    assert 0.03 < late < 0.5 and pay["paid_at"].isna().any()
    b2b = world["customers"].dropna(subset=["industry"])["customer_id"]
    assert pay["customer_id"].isin(b2b).all()
    t = world["service_tickets"]
    assert set(t["kind"]) <= {"complaint", "request", "delivery_delay", "question", "return"}
    assert (t["first_response"].dropna() >= t.loc[t["first_response"].notna(), "opened"]).all()
    sat = t.groupby("kind")["satisfaction"].mean()
    assert sat["complaint"] < sat["question"]
    fb = world["feedback"]
    nps = fb.dropna(subset=["nps_score"])
    assert nps["nps_score"].between(0, 10).all() and fb["csat"].notna().any()
    zh = fb["text"].dropna().str.contains(r"[\u4e00-\u9fff]")
    assert zh.any() and (~zh).any()
    promoters = nps.loc[nps["nps_score"] >= 9, "text"].dropna()
    detractors = nps.loc[nps["nps_score"] <= 6, "text"].dropna()
    assert not set(promoters) & set(detractors)
    co = world["consents"]
    assert set(co["channel"]) == {"email", "sms", "wechat", "phone", "app_push"}
    assert set(co["purpose"]) == {"marketing"}
    latest = co.sort_values("ts").groupby(["customer_id", "channel"]).tail(1)
    assert 0.08 < 1 - latest["granted"].mean() < 0.35
    assert co["customer_id"].nunique() == CFG.customers


# ------------------------------------------------------------------ ground truth


def test_truth_customers(world):
    tc, o, p = world["truth_customers"], world["orders"], world["products"]
    assert len(tc) == CFG.customers
    assert 0.02 <= tc["upgrades_to_premium"].mean() <= 0.30
    up = tc[tc["upgrades_to_premium"]]
    assert ((up["upgrade_ts"] > AS_OF) & (up["upgrade_ts"] <= HORIZON)).all()
    assert tc.loc[~tc["upgrades_to_premium"], "upgrade_ts"].isna().all()
    prem_skus = p.loc[p["price_tier"] == "premium", "sku"]
    had_prem = o.loc[(o["status"] == "paid") & o["sku"].isin(prem_skus), "customer_id"]
    assert not set(up["customer_id"]) & set(had_prem)
    assert 0.05 < tc["churned"].mean() < 0.95
    assert (tc.loc[tc["churned"], "churn_ts"] <= HORIZON).all()
    assert tc.loc[~tc["churned"], "churn_ts"].isna().all()
    in_window = tc["churn_ts"] > AS_OF
    assert 0.01 < in_window.mean() < 0.4
    # dropout happens right after a purchase: dead-by-as-of customers' churn_ts is their last one
    dead = tc[tc["churned"] & (tc["churn_ts"] <= AS_OF)].set_index("customer_id")["churn_ts"]
    last = o[o["status"] == "paid"].groupby("customer_id")["ts"].max()
    assert (last.reindex(dead.index) == dead).all()


def test_premium_upgrade_is_predictable_from_history(world):
    """A simple score from history finds well above the base rate in its top decile."""
    tc, o, p, c = (world[k] for k in ("truth_customers", "orders", "products", "customers"))
    lines = o[(o["status"] == "paid") & (o["line_kind"] == "product")].merge(
        p[["sku", "price_tier"]], on="sku")
    g = lines.groupby("customer_id")
    f = pd.DataFrame({
        "orders": g["order_id"].nunique(),
        "last": g["ts"].max(),
        "premium": g["price_tier"].agg(lambda s: (s == "premium").any()),
    })
    recent_mid = lines[(lines["price_tier"] == "mid") & (lines["ts"] > AS_OF - pd.Timedelta(days=180))]
    f["mid"] = recent_mid.groupby("customer_id").size().reindex(f.index, fill_value=0)
    f = f.join(c.set_index("customer_id")["income_band"].map(INCOME)).join(
        tc.set_index("customer_id")["upgrades_to_premium"])
    f = f[~f["premium"]]
    score = (np.log1p(f["mid"]) + 0.35 * f["income_band"] + 0.5 * np.log1p(f["orders"])
             - (AS_OF - f["last"]).dt.days / 365)
    top = f.loc[score.sort_values(ascending=False).index[: len(f) // 10], "upgrades_to_premium"]
    assert top.mean() >= 2.5 * f["upgrades_to_premium"].mean()


def test_truth_channels(world):
    tch = world["truth_channels"].set_index("channel")["incremental_conversions"]
    assert list(tch.index) == list(CHANNELS)
    n_orders = world["orders"].query("status == 'paid'")["order_id"].nunique()
    assert 0 < tch.sum() < n_orders
    assert (tch > 0).all()
    # a channel's true incremental conversions are below its click count (touches that did not
    # matter exist), so last-touch attribution over-credits every channel
    clicks = world["events"].query("event == 'click'")["channel"].value_counts()
    assert (tch < clicks.reindex(tch.index)).all()


# ------------------------------------------------------------------ chunking


def test_chunked_generation(world, chunked):
    pairs, cw = chunked
    assert sum(1 for n, _ in pairs if n == "orders") == 7  # ceil(2000 / 300)
    for table, key in (("customers", ["customer_id"]), ("orders", ["order_id", "line_no"]),
                       ("events", ["message_id"]), ("payments", ["invoice_id"]),
                       ("service_tickets", ["ticket_id"]), ("feedback", ["id"]),
                       ("truth_customers", ["customer_id"])):
        assert not cw[table].duplicated(key).any(), table
    assert len(cw["customers"]) == CFG.customers
    assert cw["customers"]["customer_id"].is_monotonic_increasing
    # same world, same distributions
    for table in ("orders", "events", "consents"):
        assert abs(len(cw[table]) / len(world[table]) - 1) < 0.2, table
    for frame in ("truth_customers",):
        for col in ("upgrades_to_premium", "churned"):
            assert abs(cw[frame][col].mean() - world[frame][col].mean()) < 0.04, col
    a, b = world["orders"], cw["orders"]
    assert abs(a["amount"].sum() / b["amount"].sum() - 1) < 0.25
    pd.testing.assert_frame_equal(pairs[0][1], world["products"])  # the catalogue is global
