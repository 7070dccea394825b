"""Association rules as the shop grows: how many rules `models.basket.association_rules` finds
at 20k, 200k and more customers, and whether they hold on later orders.

The synthetic world's catalogue grows with its customers (about 300 products at 20k, 960 at
200k), so each product's share of orders shrinks: fixed support or confidence floors find
fewer rules the bigger the shop although the world's buying habits are the same. For each
size the rules are mined on the orders before a cut-off 180 days before the end of history
and checked on the orders after it: among later orders holding a rule's antecedent, the
consequent's count against what its base rate in those orders predicts (pooled over the
rules, with a 95 % exact Poisson interval; `models.basket.holdout_check`). The rules the old
fixed thresholds (confidence ≥ 0.05, lift > 1, seen in 5 orders) would keep are counted on
the same orders, for comparison.

Worlds are kept between runs with ``BENCH_WORLD_DIR`` (as in `bench.pipeline_scale`).
"""

from __future__ import annotations

import os
import resource
import shutil
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import numpy as np

from . import command, machine_info, today, update_section

NAME = "basket_rules"
DESCRIPTION = "association rules at growing world sizes, checked on later orders"

HOLDOUT_DAYS = 180
OLD_MIN_CONFIDENCE = 0.05


def _sizes(customers: int) -> list[int]:
    return sorted({s for s in (20_000, 200_000) if s < customers} | {customers})


def measure(url: str) -> dict:
    """Rules mined before the cut-off and their check on the orders after it, for the world
    at `url`."""
    from upmarket.features.orders import purchases_until
    from upmarket.models.basket import association_rules, holdout_check
    from upmarket.warehouse import connect

    wh = connect(url, create=False)
    orders = wh.table("orders")
    end = orders.ts.max().to_pyarrow().as_py() + timedelta(seconds=1)
    lines = purchases_until(orders, end).select("order_id", "sku", "ts").to_pandas()
    wh.close()
    cut = end - timedelta(days=HOLDOUT_DAYS)
    early, later = lines[lines["ts"] < cut], lines[lines["ts"] >= cut]
    association_rules(early.head(1000))  # first-use costs (imports, caches) are not mining
    wall, cpu = time.perf_counter(), time.process_time()
    rules = association_rules(early)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    old = association_rules(early, alpha=1.0, min_lift=float(np.nextafter(1.0, 2.0)))
    old = old[old["confidence"] >= OLD_MIN_CONFIDENCE]
    check = holdout_check(rules, later)
    return {"lines": len(lines), "products": lines["sku"].nunique(),
            "orders": early["order_id"].nunique(), "later_orders": check["orders"],
            "rules": len(rules), "old_rules": len(old), "wall": wall, "cpu": cpu,
            "median_lift": float(rules["lift"].median()) if len(rules) else float("nan"),
            "median_confidence": float(rules["confidence"].median()) if len(rules)
            else float("nan"), "check": check, "old_check": holdout_check(old, later)}


def run(customers: int, quick: bool) -> None:
    from .pipeline_scale import _world

    keep = os.environ.get("BENCH_WORLD_DIR")
    folder = Path(keep) if keep else Path(tempfile.mkdtemp(prefix="bench-basket-"))
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    load = os.getloadavg()[0]
    try:
        for n in _sizes(customers):
            url, _, made = _world(folder, n)
            r = measure(url)
            load = max(load, os.getloadavg()[0])
            c = r["check"]
            print(f"  {n:,} customers, {r['products']} products: {r['rules']} rules "
                  f"(old thresholds {r['old_rules']}) in {r['wall']:.2f} s; later orders: "
                  f"lift {c['lift']:.2f} [{c['lift_low']:.2f}, {c['lift_high']:.2f}]",
                  flush=True)
            rows.append((n, r))
    finally:
        if not keep:
            shutil.rmtree(folder, ignore_errors=True)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    m = machine_info()

    def ci(c: dict) -> str:
        if not c["rules_seen"]:
            return "—"
        return f"{c['lift']:.2f} [{c['lift_low']:.2f}, {c['lift_high']:.2f}]"

    def share(c: dict) -> str:
        return f"{c['rules_above_base']:.0%}" if c["rules_seen"] else "—"

    body = [
        f"## Association rules as the shop grows ({today()})",
        "",
        f"`{command(NAME, customers, quick)}` on {m['nproc']} × {m['cpu']} ({m['memory']}), "
        f"Python {m['python']}; load average up to {load:.1f} on {m['nproc']} cores; this "
        f"process's peak resident memory {peak:,.0f} MB. Rules are mined on the paid product "
        f"lines before a cut-off {HOLDOUT_DAYS} days before the end of history and checked on "
        "the orders after it: *later lift* is, pooled over the rules, the consequent's count in "
        "later orders holding the antecedent over its count at the consequent's base rate in "
        "those orders, with its 95 % exact Poisson interval; *above base* is the share of rules "
        "whose own count beats their base rate. Current thresholds: seen in ≥ 5 orders, "
        "lift ≥ 1.5, Fisher's exact test significant at 5 % false discovery rate over all "
        "product pairs (Benjamini–Hochberg). Old thresholds: confidence ≥ 0.05, lift > 1, "
        "seen in ≥ 5 orders. CPU is this process's (user + system) while mining.",
        "",
        "| customers | products | orders mined | rules | mining wall / CPU | median lift "
        "| median confidence | later lift [95 %] | above base | old-threshold rules "
        "| their later lift |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        *[f"| {n:,} | {r['products']:,} | {r['orders']:,} | **{r['rules']:,}** "
          f"| {r['wall']:.2f} s / {r['cpu']:.2f} s | {r['median_lift']:.2f} "
          f"| {r['median_confidence']:.3f} | {ci(r['check'])} | {share(r['check'])} "
          f"| {r['old_rules']:,} | {ci(r['old_check'])} |" for n, r in rows],
    ]
    update_section(NAME, "\n".join(body))
