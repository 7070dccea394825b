"""How much should current value weigh in the tiers? A time-split study behind the default of
`strategy.tiers.TierPolicy.current_weight`.

``python -m bench.tier_weight [--customers N] [--data FOLDER]``

Not a speed benchmark (it is not listed in ``bench.BENCHMARKS``): it measures ranking quality,
prints a table per data set and writes nothing.

For each data set the history is cut at a split date. At the split, each customer has a current
value (margin of the 365 days before, `features.customer.trailing_margin`) and a potential (the
value model's predicted 12-month margin, fitted on the history up to the split, as a run does).
Tier value = w · current + (1 − w) · potential for w = 0, 0.1 … 1, and for each w:

* **predictive** — how well tier value ranks customers by the margin they actually brought after
  the split (net revenue in [split, split + horizon) × their margin rate at the split):
  Spearman's ρ, and the share of that realised margin held by the top 20 % (Diamond + Core)
  and the top 2 % (Diamond);
* **service** — whether the tiers honour current value, as shares that land in Basic of: the
  top 2 % by trailing 12-month revenue who bought in the last 90 days; lapsing big spenders
  (top 10 % by trailing 12-month revenue, no purchase in the last 90 days); RFM "Can't lose"
  customers (bought often and much, not lately), all of them and those who bought within
  the year.

The data sets: a three-year synthetic world (`upmarket demo`'s generator; split one year before
its as-of date, so two years of history, as a run on the demo has),
CDNOW master (split 1997-07-01, 12 months ahead) and the Online Retail sample (split 2011-06-01,
the 6 months of data after it ahead).
"""

from __future__ import annotations

import argparse
import tempfile
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

WEIGHTS = np.round(np.linspace(0.0, 1.0, 11), 2)
DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    return float(pd.Series(a).rank().corr(pd.Series(b).rank()))


def _capture(score: np.ndarray, realised: np.ndarray, share: float) -> float:
    """Share of the total realised margin held by the top `share` of customers by score."""
    k = max(int(np.ceil(share * len(score))), 1)
    top = np.argsort(-score, kind="stable")[:k]
    total = realised.sum()
    return float(realised[top].sum() / total) if total else np.nan


def study(wh, split: datetime, horizon_days: int) -> pd.DataFrame:
    from upmarket.features.customer import trailing_margin
    from upmarket.pipeline import Settings, snapshot
    from upmarket.strategy.segments import segment_codes
    from upmarket.strategy.tiers import TierPolicy, assign_tiers, tier_value

    settings = Settings()
    rate0 = settings.value.default_margin_rate
    frame, _ = snapshot(wh, split, settings)
    orders, products = wh.table("orders"), wh.table("products")
    now = trailing_margin(orders, products, split, default_margin_rate=rate0).to_pandas() \
        .set_index("customer_id")
    later = trailing_margin(orders, products, split + timedelta(days=horizon_days),
                            days=horizon_days, default_margin_rate=rate0).to_pandas() \
        .set_index("customer_id")
    ids = frame["customer_id"]
    current = ids.map(now["trailing_margin_12m"]).fillna(0.0).to_numpy()
    revenue_12m = ids.map(now["trailing_revenue_12m"]).fillna(0.0).to_numpy()
    rate = frame["margin_rate"].astype(float).fillna(rate0).clip(0, 1).to_numpy()
    realised = ids.map(later["trailing_revenue_12m"]).fillna(0.0).to_numpy() * rate
    potential = frame["clv"].to_numpy(float)
    n = len(frame)
    big = np.zeros(n, bool)
    big[np.argsort(-revenue_12m, kind="stable")[:max(int(round(0.02 * n)), 1)]] = True
    recency = frame["recency_days"].to_numpy(float)
    big_recent = big & (recency <= 90)
    top10 = np.zeros(n, bool)
    top10[np.argsort(-revenue_12m, kind="stable")[:max(int(round(0.10 * n)), 1)]] = True
    lapsing = top10 & (recency > 90)
    cant_lose = np.asarray(segment_codes(frame["r_score"], frame["f_score"], frame["m_score"],
                                         settings.rfm_bins)) == "cant_lose"
    cant_lose_year = cant_lose & (recency <= 365)
    rows = []
    for w in WEIGHTS:
        policy = TierPolicy(current_weight=float(w))
        value = tier_value(current, potential, policy)
        basic = assign_tiers(value, policy) == "basic"
        rows.append({
            "w": w, "spearman": _spearman(value, realised),
            "top20_capture": _capture(value, realised, 0.20),
            "top2_capture": _capture(value, realised, 0.02),
            "big_recent_in_basic": float(basic[big_recent].mean()) if big_recent.any() else np.nan,
            "lapsing_big_in_basic": float(basic[lapsing].mean()) if lapsing.any() else np.nan,
            "cant_lose_in_basic": float(basic[cant_lose].mean()) if cant_lose.any() else np.nan,
            "cant_lose_1y_in_basic": float(basic[cant_lose_year].mean())
            if cant_lose_year.any() else np.nan,
        })
    out = pd.DataFrame(rows)
    out.attrs.update(customers=n, big_recent=int(big_recent.sum()), lapsing=int(lapsing.sum()),
                     cant_lose=int(cant_lose.sum()), cant_lose_year=int(cant_lose_year.sum()))
    return out


def _warehouses(folder: Path, customers: int, data: Path):
    from upmarket.demo.load import load_world
    from upmarket.demo.world import WorldConfig
    from upmarket.warehouse.connection import connect
    from upmarket.warehouse.ingest import ingest

    # three years, so the split leaves two years of history, as a run on the demo has
    cfg = WorldConfig(customers=customers, seed=7, years=3.0)
    wh = connect(f"duckdb:///{folder}/demo.duckdb")
    load_world(wh, cfg)
    yield f"synthetic world ({customers:,} customers)", wh, cfg.as_of - timedelta(days=365), 365
    for name, path, preset, split, horizon in (
            ("CDNOW master", data / "cdnow" / "CDNOW_master.txt", "cdnow",
             datetime(1997, 7, 1), 365),
            ("Online Retail sample", data / "online_retail" / "online_retail_sample_30k.csv",
             "online-retail", datetime(2011, 6, 1), 192)):
        if not path.exists():
            print(f"({name}: {path.name} not found under {data}, skipped)")
            continue
        wh = connect(f"duckdb:///{folder}/{preset}.duckdb")
        ingest("orders", path, preset=preset, warehouse=wh)
        yield name, wh, split, horizon


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.tier_weight", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--customers", type=int, default=5000, help="synthetic world size")
    ap.add_argument("--data", type=Path, default=DATA, help="folder of the real data sets")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        for name, wh, split, horizon in _warehouses(Path(tmp), args.customers, args.data):
            table = study(wh, split, horizon)
            a = table.attrs
            print(f"\n{name}: split {split:%Y-%m-%d}, {horizon} days ahead; {a['customers']:,} "
                  f"customers, {a['big_recent']} top-2 % recent big spenders, "
                  f"{a['lapsing']} lapsing big spenders, {a['cant_lose']} can't-lose of whom "
                  f"{a['cant_lose_year']} bought in the last year")
            print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
            wh.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
