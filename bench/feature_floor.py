"""The customer feature build (`features.customer.customer_features`, Ibis) against the same
aggregation written by hand in DuckDB SQL, in the same run: the floor the Ibis build is
judged against.

The hand-written query is what someone who knows DuckDB would write for these features: one
scan of the order lines (joined once to the catalogue) aggregated per customer with
`FILTER` clauses, one per-day aggregation for the BTYD summary (`arg_min` for the first day's
spend), window ranks for RFM and `arg_max` for the latest NPS answer. It must return the same
table as the Ibis build, customer by customer (`tests/features/test_feature_floor.py` checks
that on a small world), or the comparison would mean nothing.

Both are run to an Arrow table, alternately, `REPEATS` times each on a warm warehouse; the
figure is the median. CPU time is the process's (DuckDB's threads included), so it can exceed
wall time on several cores. Worlds are kept between runs with ``BENCH_WORLD_DIR``.
"""

from __future__ import annotations

import os
import shutil
import statistics
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

from . import command, machine_info, today, update_section

NAME = "feature_floor"
DESCRIPTION = "customer feature build (Ibis) against hand-written DuckDB SQL"

REPEATS = 3
#: the goal: the Ibis build within this factor of the hand-written floor
GOAL = 1.3

_FLOOR = """
WITH l AS (
    SELECT o.customer_id, o.order_id, o.ts, o.amount, o.quantity, o.discount, o.promotion_id,
           o.status = 'paid' AS paid, o.status <> 'paid' AS reversal,
           o.status = 'paid' AND o.line_kind = 'product' AS bought,
           p.category, p.price_tier, p.cost
    FROM orders o LEFT JOIN (SELECT sku, category, price_tier, cost FROM products) p
      ON o.sku = p.sku
    WHERE o.ts < TIMESTAMP '{as_of}'
),
c AS (
    SELECT customer_id,
        count(DISTINCT order_id) FILTER (WHERE paid) AS orders,
        min(ts) FILTER (WHERE paid) AS first_purchase,
        max(ts) FILTER (WHERE paid) AS last_purchase,
        sum(amount) FILTER (WHERE paid) AS gross_revenue,
        sum(amount) FILTER (WHERE reversal) AS reversed_amount,
        count(*) FILTER (WHERE bought) AS n_lines,
        count(DISTINCT order_id) FILTER (WHERE bought AND ts >= TIMESTAMP '{recent}')
            AS orders_recent,
        count(DISTINCT order_id) FILTER (WHERE bought AND ts >= TIMESTAMP '{previous}'
                                         AND ts < TIMESTAMP '{recent}') AS orders_previous,
        min(ts) FILTER (WHERE bought) AS first_ts,
        sum(amount + coalesce(discount, 0)) FILTER (WHERE bought) AS gross,
        sum(coalesce(discount, 0)) FILTER (WHERE bought) AS discount_total,
        count(promotion_id) FILTER (WHERE bought) AS promo_lines,
        count(DISTINCT category) FILTER (WHERE bought) AS categories,
        sum(CASE WHEN price_tier = 'premium' THEN amount ELSE 0 END) FILTER (WHERE bought)
            AS premium_spend,
        sum(amount) FILTER (WHERE bought) AS spend,
        sum(amount) FILTER (WHERE bought AND cost IS NOT NULL) AS costed_revenue,
        sum(amount - cost * quantity) FILTER (WHERE bought AND cost IS NOT NULL) AS margin
    FROM l GROUP BY customer_id HAVING count(*) FILTER (WHERE paid) > 0
),
d AS (
    SELECT customer_id, date_trunc('day', ts) AS day, sum(amount) AS spend
    FROM l WHERE bought GROUP BY ALL
),
b AS (
    SELECT customer_id, min(day) AS first_day, max(day) AS last_day, count(*) AS n,
           sum(spend) AS total, arg_min(spend, day) AS first_spend
    FROM d GROUP BY customer_id
),
t AS (
    SELECT customer_id, count(*) AS complaints FROM service_tickets
    WHERE opened >= TIMESTAMP '{tickets}' AND opened < TIMESTAMP '{as_of}'
      AND kind = 'complaint'
    GROUP BY customer_id
),
f AS (
    SELECT customer_id, arg_max(nps_score, ts) AS latest_nps FROM feedback
    WHERE ts < TIMESTAMP '{as_of}' AND nps_score IS NOT NULL AND customer_id IS NOT NULL
    GROUP BY customer_id
),
s AS (
    SELECT c.*, b.first_day, b.last_day, b.n, b.total, b.first_spend, t.complaints,
        gross_revenue + coalesce(reversed_amount, 0) AS net_revenue,
        (floor(epoch(TIMESTAMP '{as_of}')) - floor(epoch(last_purchase))) / 86400.0
            AS recency_days
    FROM c LEFT JOIN b USING (customer_id) LEFT JOIN t USING (customer_id)
)
SELECT s.customer_id, orders, first_purchase, last_purchase, gross_revenue, reversed_amount,
    net_revenue, recency_days,
    coalesce(CAST(n - 1 AS DOUBLE), 0.0) AS frequency,
    coalesce((floor(epoch(last_day)) - floor(epoch(first_day))) / 86400.0 / {unit_days}, 0.0)
        AS recency,
    coalesce((floor(epoch(TIMESTAMP '{end}')) - floor(epoch(first_day))) / 86400.0,
             (floor(epoch(TIMESTAMP '{end}')) - floor(epoch(date_trunc('day', first_purchase))))
             / 86400.0) / {unit_days} AS "T",
    coalesce(CASE WHEN n > 1 THEN (total - first_spend) / CAST(n - 1 AS DOUBLE) ELSE 0.0 END,
             0.0) AS monetary,
    least(CAST(floor(percent_rank() OVER (ORDER BY recency_days DESC) * {bins}) AS BIGINT) + 1,
          {bins}) AS r_score,
    least(CAST(floor(percent_rank() OVER (ORDER BY CAST(orders AS DOUBLE)) * {bins}) AS BIGINT)
          + 1, {bins}) AS f_score,
    least(CAST(floor(percent_rank() OVER (ORDER BY net_revenue) * {bins}) AS BIGINT) + 1,
          {bins}) AS m_score,
    CASE WHEN n_lines > 0 THEN CAST(orders_recent AS DOUBLE) END AS orders_recent,
    CASE WHEN n_lines > 0 THEN CAST(orders_previous AS DOUBLE) END AS orders_previous,
    CASE WHEN n_lines > 0 THEN (CAST(orders_recent AS DOUBLE) - orders_previous)
        / (orders_recent + orders_previous + 1.0) END AS trend,
    CASE WHEN n_lines > 0 THEN
        CASE WHEN gross > 0 THEN discount_total / gross ELSE 0.0 END END AS discount_share,
    CASE WHEN n_lines > 0 THEN CAST(promo_lines AS DOUBLE) / n_lines END AS promo_share,
    CASE WHEN n_lines > 0 THEN CAST(categories AS DOUBLE) END AS categories,
    CASE WHEN n_lines > 0 THEN
        CASE WHEN spend > 0 THEN premium_spend / spend ELSE 0.0 END END AS premium_share,
    (floor(epoch(TIMESTAMP '{as_of}')) - floor(epoch(first_ts))) / 86400.0 AS tenure_days,
    CASE WHEN n_lines > 0 THEN coalesce(CAST(complaints AS DOUBLE), 0.0) END AS complaints_180d,
    margin,
    CASE WHEN costed_revenue > 0 THEN margin / costed_revenue END AS margin_rate,
    f.latest_nps
FROM s LEFT JOIN f USING (customer_id)
"""


def floor_sql(as_of: datetime, *, unit_days: float = 7.0, bins: int = 5,
              window_days: int = 90) -> str:
    """The hand-written query for the customer features at `as_of` (units of `unit_days`
    days, `bins` RFM bins), as `features.customer.customer_features` defines them."""
    def ts(d: datetime) -> str:
        return d.strftime("%Y-%m-%d %H:%M:%S.%f")

    w = timedelta(days=window_days)
    body = _FLOOR.format(as_of=ts(as_of), recent=ts(as_of - w), previous=ts(as_of - 2 * w),
                         tickets=ts(as_of - timedelta(days=180)),
                         end=ts(as_of - timedelta(days=1)), unit_days=repr(float(unit_days)),
                         bins=int(bins))
    return ("SELECT * EXCLUDE (orders_recent, orders_previous, trend, discount_share, "
            "promo_share, categories, premium_share, tenure_days, complaints_180d, margin, "
            "margin_rate, latest_nps), CAST(r_score AS VARCHAR) || CAST(f_score AS VARCHAR) || "
            "CAST(m_score AS VARCHAR) AS rfm_cell, COLUMNS('^(orders_recent|orders_previous|"
            "trend|discount_share|promo_share|categories|premium_share|tenure_days|"
            f"complaints_180d|margin|margin_rate|latest_nps)$') FROM ({body})")


def _timed(fn) -> tuple[float, float, int]:
    wall, cpu = time.perf_counter(), time.process_time()
    rows = fn()
    return time.perf_counter() - wall, time.process_time() - cpu, rows


def measure(url: str) -> dict:
    """Median wall and CPU seconds of the Ibis build and of the floor at the end of the
    history of the world at `url`, run alternately."""
    from upmarket.features.customer import customer_features
    from upmarket.features.snapshots import SOURCES
    from upmarket.warehouse import connect

    wh = connect(url, create=False)
    tables = {n: wh.table(n) for n in SOURCES}
    as_of = tables["orders"].ts.max().to_pyarrow().as_py() + timedelta(seconds=1)
    sql = floor_sql(as_of)
    con = wh.backend.con

    def ibis_build() -> int:
        return customer_features(tables, as_of).to_pyarrow().num_rows

    def floor() -> int:
        return con.sql(sql).arrow().read_all().num_rows

    ibis_build(), floor()  # warm the file cache and the compiled paths alike
    runs: dict[str, list] = {"ibis": [], "floor": []}
    for _ in range(REPEATS):
        runs["ibis"].append(_timed(ibis_build))
        runs["floor"].append(_timed(floor))
    lines = wh.count("orders")
    wh.close()
    out = {"lines": lines, "customers": runs["ibis"][0][2]}
    if runs["ibis"][0][2] != runs["floor"][0][2]:
        raise RuntimeError("the floor and the Ibis build returned different numbers of rows")
    for k, r in runs.items():
        out[k] = {"wall": statistics.median(x[0] for x in r),
                  "cpu": statistics.median(x[1] for x in r)}
    return out


def run(customers: int, quick: bool) -> None:
    from .basket_rules import _sizes
    from .pipeline_scale import _world

    keep = os.environ.get("BENCH_WORLD_DIR")
    folder = Path(keep) if keep else Path(tempfile.mkdtemp(prefix="bench-floor-"))
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    load = os.getloadavg()[0]
    try:
        for n in _sizes(customers):
            url, _, _ = _world(folder, n)
            r = measure(url)
            load = max(load, os.getloadavg()[0])
            i, f = r["ibis"], r["floor"]
            print(f"  {n:,} customers: Ibis {i['wall']:.2f} s (CPU {i['cpu']:.2f} s), "
                  f"floor {f['wall']:.2f} s (CPU {f['cpu']:.2f} s)", flush=True)
            rows.append((n, r))
    finally:
        if not keep:
            shutil.rmtree(folder, ignore_errors=True)
    m = machine_info()
    body = [
        f"## Customer feature build against hand-written SQL ({today()})",
        "",
        f"`{command(NAME, customers, quick)}` on {m['nproc']} × {m['cpu']} ({m['memory']}), "
        f"Python {m['python']}; load average up to {load:.1f} on {m['nproc']} cores. "
        "`customer_features` (Ibis, compiled for DuckDB) and the same aggregation written by "
        "hand in DuckDB SQL (`bench/feature_floor.py`: one scan of the order lines with "
        "`FILTER` clauses), both run to an Arrow table over all customers at the end of the "
        f"history, alternately, {REPEATS} times each after a warm-up; medians. CPU is the "
        f"process's (DuckDB's threads included). Goal: Ibis within {GOAL}× of the floor.",
        "",
        "| customers | order lines | Ibis wall / CPU | floor wall / CPU | ratio (wall) "
        "| ratio (CPU) |",
        "|---:|---:|---:|---:|---:|---:|",
        *[f"| {n:,} | {r['lines']:,} | {r['ibis']['wall']:.2f} s / {r['ibis']['cpu']:.2f} s "
          f"| {r['floor']['wall']:.2f} s / {r['floor']['cpu']:.2f} s "
          f"| **{r['ibis']['wall'] / r['floor']['wall']:.2f}×** "
          f"| **{r['ibis']['cpu'] / r['floor']['cpu']:.2f}×** |" for n, r in rows],
    ]
    update_section(NAME, "\n".join(body))
