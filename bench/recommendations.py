"""Recommendations: offline quality against the popularity baseline on a time split (Online
Retail sample and the synthetic world), and the time to score 100,000 customers × 5,000
products (goal: under a minute on this machine).
"""

from __future__ import annotations

import tempfile
import time
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from . import REPO_ROOT, machine_info, today, update_section

NAME = "recommend"
DESCRIPTION = "recommendation quality (hit-rate@10 vs popularity) and scoring time at 100k × 5k"
RETAIL = REPO_ROOT.parent / "shared" / "data" / "online_retail" / "online_retail_sample_30k.csv"
RETAIL_SPLIT = "2011-09-01"
SCALE_CUSTOMERS, SCALE_ITEMS, SCALE_LINES_PER_CUSTOMER = 100_000, 5_000, 12
GOAL_SECONDS = 60.0
SEED = 20261123


def _models():
    from upmarket.models.recommend import ContentFallback, Hybrid, ImplicitALS, ItemToItem, \
        Popularity, TunedHybrid

    return {"popularity (baseline)": Popularity(), "item-to-item": ItemToItem(),
            "implicit ALS": ImplicitALS(), "content": ContentFallback(),
            "hybrid, fixed weights": Hybrid(), "hybrid": TunedHybrid()}


def quality_retail() -> tuple[pd.DataFrame, str]:
    from datetime import datetime

    from upmarket import ingest
    from upmarket.features.orders import purchases_until
    from upmarket.models.recommend import evaluate_offline
    from upmarket.warehouse import connect

    with tempfile.TemporaryDirectory(prefix="bench-rec-") as tmp:
        wh = connect(f"duckdb://{tmp}/r.duckdb")
        ingest("orders", RETAIL, preset="online-retail", warehouse=wh)
        lines = purchases_until(wh.table("orders"), datetime(2100, 1, 1)).to_pandas()
        products = wh.table("products").to_pandas()
        wh.close()
    res = evaluate_offline(lines, products, RETAIL_SPLIT, _models(), k=10)
    return res, (f"`{RETAIL.name}` ({len(lines):,} paid product lines), trained on lines before "
                 f"{RETAIL_SPLIT}, tested on the products each customer bought from then on")


def quality_world(customers: int) -> tuple[pd.DataFrame, str]:
    from upmarket.demo import WorldConfig
    from upmarket.demo.load import load_world
    from upmarket.features.orders import purchases_until
    from upmarket.features.premium import price_ladder
    from upmarket.models.recommend import evaluate_offline
    from upmarket.warehouse import connect

    cfg = WorldConfig(customers=customers, seed=0)
    split = cfg.as_of - timedelta(days=90)
    with tempfile.TemporaryDirectory(prefix="bench-rec-") as tmp:
        wh = connect(f"duckdb://{tmp}/w.duckdb")
        load_world(wh, cfg)
        lines = purchases_until(wh.table("orders"), cfg.as_of).to_pandas()
        ladder = price_ladder(wh.table("products"), wh.table("orders")).to_pandas()
        products = wh.table("products").to_pandas().drop(columns=["price_tier"]).merge(
            ladder[["sku", "price_tier"]], on="sku")
        wh.close()
    res = evaluate_offline(lines, products, split, _models(), k=10)
    return res, (f"synthetic world (`WorldConfig(customers={customers:,}, seed=0)`, "
                 f"{len(lines):,} paid product lines, {len(products)} products), trained before "
                 f"{split:%Y-%m-%d}, tested on the 90 days to as-of {cfg.as_of:%Y-%m-%d}")


def scale_data(customers: int, items: int, per_customer: int, seed: int = SEED):
    """Implicit purchases with a long tail: item popularity ~ Zipf(1.1), each customer
    concentrated on 1–3 of 50 categories (so co-purchase structure exists to learn)."""
    rng = np.random.default_rng(seed)
    cats = 50
    item_cat = rng.integers(0, cats, items)
    pop = 1.0 / np.arange(1, items + 1) ** 1.1
    by_cat = [np.flatnonzero(item_cat == c) for c in range(cats)]
    n_lines = rng.poisson(per_customer, customers) + 1
    cust = np.repeat(np.arange(customers), n_lines)
    favourite = rng.integers(0, cats, customers)[cust]
    in_fav = rng.random(len(cust)) < 0.7
    sku = rng.choice(items, size=len(cust), p=pop / pop.sum())
    for c in range(cats):
        idx = np.flatnonzero(in_fav & (favourite == c))
        members = by_cat[c]
        if len(idx) and len(members):
            w = pop[members] / pop[members].sum()
            sku[idx] = rng.choice(members, size=len(idx), p=w)
    days = rng.integers(0, 730, len(cust))
    lines = pd.DataFrame({
        "customer_id": np.char.add("C", cust.astype(str)).astype(object),
        "sku": np.char.add("S", sku.astype(str)).astype(object),
        "ts": pd.Timestamp("2024-01-01") + pd.to_timedelta(days, unit="D"),
        "amount": 10.0,
    })
    price = rng.lognormal(4, 0.6, items).round(2)
    products = pd.DataFrame({"sku": np.char.add("S", np.arange(items).astype(str)).astype(object),
                             "category": np.char.add("cat", item_cat.astype(str)).astype(object),
                             "price": price})
    return lines, products


def scale(customers: int, items: int, per_customer: int) -> dict:
    from upmarket.models.recommend import Hybrid, Popularity, TunedHybrid

    lines, products = scale_data(customers, items, per_customer)
    ids = lines["customer_id"].unique()
    out = {"lines": len(lines), "customers": len(ids), "items": lines["sku"].nunique()}
    for name, model in (("popularity", Popularity()), ("hybrid, fixed weights", Hybrid()),
                        ("hybrid", TunedHybrid())):
        t0 = time.perf_counter()
        model.fit(lines, products)
        t1 = time.perf_counter()
        recs = model.recommend(ids, n=10)
        t2 = time.perf_counter()
        out[name] = {"fit": t1 - t0, "score": t2 - t1, "total": t2 - t0, "rows": len(recs)}
        print(f"  {name}: fit {t1 - t0:.1f} s, top-10 for {len(ids):,} customers "
              f"{t2 - t1:.1f} s", flush=True)
    return out


def _table(res: pd.DataFrame) -> str:
    base = res.iloc[0]
    rows = ["| model | hit-rate@10 | NDCG@10 | coverage | vs popularity (hit-rate) | fit |",
            "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for r in res.itertuples():
        rows.append(f"| {r.model} | {r.hit_rate:.3f} | {r.ndcg:.3f} | {r.coverage:.1%} | "
                    f"{r.hit_rate / base.hit_rate:.2f}x | {r.fit_seconds:.1f} s |")
    return "\n".join(rows)


def run(customers: int = 1_000_000, quick: bool = False) -> dict:
    t_start = time.perf_counter()
    info = machine_info()
    world_customers = 5_000 if quick else 20_000
    scale_customers = 20_000 if quick else SCALE_CUSTOMERS
    print("  quality on the Online Retail sample …", flush=True)
    retail, retail_note = quality_retail() if RETAIL.exists() else (None, "")
    print("  quality on the synthetic world …", flush=True)
    world, world_note = quality_world(world_customers)
    print(f"  scale: {scale_customers:,} customers × {SCALE_ITEMS:,} products …", flush=True)
    sc = scale(scale_customers, SCALE_ITEMS, SCALE_LINES_PER_CUSTOMER)
    h = sc["hybrid"]
    met = h["total"] < GOAL_SECONDS
    hyb = lambda res: res.set_index("model").loc["hybrid"]  # noqa: E731
    pop = lambda res: res.set_index("model").loc["popularity (baseline)"]  # noqa: E731
    parts = [
        "## Recommendations: quality against popularity, and scoring time",
        "",
        f"Goals: the hybrid's hit-rate@10 beats popularity on the same time split; top-10 "
        f"recommendations for {SCALE_CUSTOMERS:,} customers × {SCALE_ITEMS:,} products (fit + "
        f"score) in under {GOAL_SECONDS:.0f} s. **{'MET' if met else 'NOT MET'}** in this run: "
        f"{h['total']:.1f} s for {sc['customers']:,} customers"
        + (f"; Online Retail hit-rate@10 {hyb(retail).hit_rate:.3f} vs "
           f"{pop(retail).hit_rate:.3f}" if retail is not None else "")
        + f"; synthetic world {hyb(world).hit_rate:.3f} vs {pop(world).hit_rate:.3f}.",
        "",
        f"- Run: {today()}, `python -m bench --only recommend{' --quick' if quick else ''}` "
        f"(`bench/recommendations.py`), {time.perf_counter() - t_start:.0f} s in all",
        f"- Machine: {info['nproc']} CPUs (nproc), {info['cpu']}, {info['memory']} RAM, "
        f"Python {info['python']}",
        "- Metrics (`models.recommend.evaluate_offline`): test customers are those with history "
        "before the split who bought at least one product new to them (or consumable) after it; "
        "hit-rate@10 = share with one of those in their top 10, NDCG@10 with binary relevance, "
        "coverage = distinct recommended products ÷ catalogue. Owned non-consumables, "
        "cancelled and non-product lines are never recommended.",
        "- `hybrid` is what runs use (`TunedHybrid`): it picks its blend weights on the last 60 "
        "days of the training lines (never the test period), then fits on all of them; "
        "`hybrid, fixed weights` is the untuned blend.",
        "",
    ]
    if retail is not None:
        parts += [f"### Online Retail sample ({int(retail.customers.iloc[0]):,} test customers)",
                  "", retail_note, "", _table(retail), ""]
    parts += [f"### Synthetic world ({int(world.customers.iloc[0]):,} test customers)", "",
              world_note, "", _table(world), "",
              f"### Scoring time at {sc['customers']:,} customers × {sc['items']:,} products", "",
              f"Simulated purchases ({sc['lines']:,} lines; item popularity Zipf(1.1), each "
              f"customer 70 % within a favourite of 50 categories; seed {SEED}). Wall clock of "
              f"`fit(lines, products)` and `recommend(all customers, n=10)`, one run each; the "
              f"popularity model, timed the same way in the same run, is the floor.", "",
              "| model | fit | top-10 for everyone | total | vs popularity |",
              "| --- | ---: | ---: | ---: | ---: |"]
    for name in ("popularity", "hybrid, fixed weights", "hybrid"):
        r = sc[name]
        parts.append(f"| {name} | {r['fit']:.1f} s | {r['score']:.1f} s | {r['total']:.1f} s | "
                     f"{r['total'] / sc['popularity']['total']:.1f}x |")
    update_section(NAME, "\n".join(parts))
    return sc
