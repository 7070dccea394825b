"""Value-model quality on real data and on both demo worlds: every candidate (BG/NBD, Pareto/NBD, MBG/NBD, gradient-boosted
ML, and their forecast combination "blend", weighted on an inner split of the calibration period) fitted on a calibration period and scored on the holdout after it, beside the rankings an
analyst uses without a model (past spend; past spend ÷ (1 + weeks since the last purchase)).

* CDNOW master (23,570 customers of the 1997 Q1 cohort): the standard 39/39-week split,
  calibration to 1997-10-01, holdout to 1998-07-01.
* Online Retail sample (30k lines): calibration to 2011-09-01, holdout to the end of the data.
* The two synthetic demo worlds (`WORLDS`, 5,000 customers each, three years of history so the
  calibration period has two): "btyd", whose customers buy and drop out exactly as BG/NBD
  assumes, and "realistic", whose do not (regular, seasonal buying; dropout in calendar time).
  Calibration to one year before the world's as-of date, holdout from there to the as-of date.

The baseline measured in the same run is BG/NBD for the per-customer error and the two analyst
rankings for the precision at the top 20 % of holdout spenders. Intervals are 95 % bootstrap
intervals over customers (the models fitted once). The issue's targets on CDNOW are checked and
reported as met or not; nothing here is tuned to either data set.
"""

from __future__ import annotations

import tempfile
import time
from datetime import datetime

from . import REPO_ROOT, command, machine_info, today, update_section

NAME = "model_quality"
DESCRIPTION = "value models on a time-split holdout: CDNOW master, Online Retail and both demo worlds"

DATA = REPO_ROOT.parent / "shared" / "data"
CASES = (
    ("CDNOW master", DATA / "cdnow" / "CDNOW_master.txt", "cdnow", datetime(1997, 10, 1), datetime(1998, 7, 1)),
    ("Online Retail sample", DATA / "online_retail" / "online_retail_sample_30k.csv", "online-retail",
     datetime(2011, 9, 1), None),
)
N_BOOT = 200
#: The synthetic worlds: (title, world, customers, years of history). Three years, so the
#: calibration period (all but the last year) has two years of history and customers acquired
#: in its first year have had time to show their rhythm; the holdout is the last year.
WORLDS = (
    ("Demo world btyd", "btyd", 5_000, 3.0),
    ("Demo world realistic", "realistic", 5_000, 3.0),
)
WORLD_SEED = 7


def _pct(v, signed=True) -> str:
    return "—" if v != v else (f"{v:+.1%}" if signed else f"{v:.1%}")


def _interval(t, name, fig, signed=True) -> str:
    lo, hi = t.loc[name].get(f"{fig}_low"), t.loc[name].get(f"{fig}_high")
    if lo is None or lo != lo:
        return _pct(t.loc[name, fig], signed)
    return f"{_pct(t.loc[name, fig], signed)} [{_pct(lo, signed)}, {_pct(hi, signed)}]"


def measure(path, preset, cal_end, holdout_end, n_boot=N_BOOT):
    from upmarket import ingest
    from upmarket.models.value_choice import BLEND, CANDIDATES, compare_value_models
    from upmarket.pipeline import default_as_of
    from upmarket.warehouse import connect

    with tempfile.TemporaryDirectory() as tmp:
        wh = connect(f"duckdb://{tmp}/q.duckdb")
        ingest("orders", path, preset=preset, warehouse=wh)
        end = holdout_end or default_as_of(wh)
        t0 = time.perf_counter()
        cmp = compare_value_models(wh.table("orders"), cal_end, end, candidates=(*CANDIDATES, BLEND),
                                   n_boot=n_boot)
        seconds = time.perf_counter() - t0
        wh.close()
    return cmp, end, seconds


def section(title, path, cal_end, end, cmp, seconds, source=None) -> str:
    t = cmp.table
    from upmarket.models.value_choice import NAMES

    lines = [f"#### {title}", "",
             f"{source or f'`{path.name}`'}: {cmp.n_customers:,} customers who bought before {cal_end:%Y-%m-%d}; holdout "
             f"{cmp.holdout_weeks:.1f} weeks to {end:%Y-%m-%d}; {seconds:.0f} s for all fits, scores and "
             f"{N_BOOT} bootstrap draws.", "",
             "| ranking | holdout purchases (pred. / actual) | aggregate error | MAE per customer | spend error "
             "| precision top 2 % | precision top 20 % |",
             "|---|---|---|---|---|---|---|"]
    for name in t.index:
        r = t.loc[name]
        model = name in cmp.ranking
        pred = f"{r['predicted']:,.0f} / {r['actual']:,.0f}" if model and r.get("predicted") == r.get("predicted") else "—"
        mae = (f"{r['mae']:.3f} [{r['mae_low']:.3f}, {r['mae_high']:.3f}]"
               if model and r.get("mae") == r.get("mae") else "—")
        flag = " (degenerate: " + r["note"] + ")" if r["degenerate"] else ""
        chosen = " **chosen**" if name == cmp.chosen else ""
        lines.append(f"| {NAMES[name]}{chosen}{flag} | {pred} | "
                     f"{_interval(t, name, 'error') if model else '—'} | {mae} | "
                     f"{_pct(r.get('spend_error', float('nan'))) if model else '—'} | "
                     f"{_interval(t, name, 'precision_top2', False)} | {_interval(t, name, 'precision_top20', False)} |")
    lines += ["", "Differences (candidate − reference, 95 % bootstrap interval):", ""]
    for d in cmp.differences.itertuples():
        if d.figure == "mae":
            lines.append(f"- {NAMES[d.candidate]} MAE − BG/NBD MAE: {d.difference:+.3f} [{d.low:+.3f}, {d.high:+.3f}]")
        elif d.candidate in (cmp.chosen, "blend"):
            lines.append(f"- {NAMES[d.candidate]} precision top 20 % − {NAMES[d.reference]}: "
                         f"{d.difference * 100:+.1f} pts [{d.low * 100:+.1f}, {d.high * 100:+.1f}]")
    lines += ["", f"Ranking by the criterion ({cmp.criterion}): {', '.join(cmp.ranking)}."]
    if cmp.chosen in cmp.curve:
        cv = cmp.curve.set_index("week")[["actual", cmp.chosen]]
        inc = cv.diff().fillna(cv.iloc[0])
        parts = [inc.iloc[i:i + 13].sum() for i in range(0, len(inc), 13)]
        lines.append(f"Actual ÷ {NAMES[cmp.chosen]} expected holdout purchases by 13-week block: "
                     + ", ".join(f"{p['actual'] / p[cmp.chosen]:.2f}" for p in parts) + ".")
    ml = cmp.table.loc["ml", "note"] if "ml" in cmp.table.index else ""
    if ml:
        lines.append(f"ML: {ml}.")
    lines += blend_lines(cmp)
    return "\n".join(lines)


def blend_lines(cmp) -> list[str]:
    """How the blend was weighted, and, in hindsight, what any weight would have done on this
    holdout (read only here, never used for the choice)."""
    import numpy as np

    p = cmp.params.get("blend")
    if not p or "component" not in p:
        return [f"Blend: {cmp.table.loc['blend', 'note']}."] if "blend" in cmp.table.index else []
    c, w = p["component"], p["weight"]
    out = [f"Blend: {w:.2f} × {c} + {1 - w:.2f} × ML on purchases, {p['spend_weight']:.2f} × {c} + "
           f"{1 - p['spend_weight']:.2f} × ML on spend (the ranking), weights minimising the squared error "
           f"on the inner split {p['inner_calibration_end']} to {p['inner_holdout_end']} "
           f"({p['inner_weeks']:.0f} weeks), decided before the holdout above is read; aggregate error there: "
           + ", ".join(f"{m} {e:+.1%}" for m, e in p["inner_error"].items()) + "."]
    out.append("")
    f = cmp.forecasts
    grid = np.round(np.linspace(0, 1, 101), 2)
    bg = cmp.table.loc["bgnbd", "mae"] if "bgnbd" in cmp.table.index else float("nan")
    for comp in [m for m in ("bgnbd", "pnbd", "mbgnbd") if m in f]:
        mix = [v * f[comp] + (1 - v) * f["ml"] for v in grid]
        err = np.array([m.sum() / f["actual"].sum() - 1 for m in mix])
        mae = np.array([np.mean(np.abs(m - f["actual"])) for m in mix])
        ok = np.abs(err) <= 0.05
        if ok.any():
            i = np.flatnonzero(ok)[np.argmin(mae[ok])]
            reach = (f"aggregate within ±5 % for weights {grid[ok].min():.2f} to {grid[ok].max():.2f}, where the "
                     f"MAE is at best {mae[i]:.3f} (at {grid[i]:.2f}; BG/NBD alone {bg:.3f})")
        else:
            reach = f"no weight brings the aggregate within ±5 % (errors {err.min():+.1%} to {err.max():+.1%})"
        out.append(f"- In hindsight, {comp} with ML at every weight on the grid (reads this holdout; not a "
                   f"choice): {reach}; lowest MAE {mae.min():.3f} at weight {grid[np.argmin(mae)]:.2f}.")
    return out


def targets(cmp, c=None) -> list[str]:
    """The issue's CDNOW targets for candidate ``c`` (the chosen one by default), each reported as
    met or not with the figure reached."""
    t, c = cmp.table, c or cmp.chosen
    d = cmp.differences.set_index(["candidate", "figure", "reference"])
    out = []
    err = t.loc[c, "error"]
    out.append(f"- {'chosen model' if c == cmp.chosen else 'candidate'} ({c}) aggregate holdout purchases within ±5 %: "
               f"{'met' if abs(err) <= 0.05 else 'not met'} ({err:+.1%})")
    if c != "bgnbd":
        r = d.loc[(c, "mae", "bgnbd")]
        out.append(f"- its per-customer MAE below BG/NBD's: {'met' if r['high'] < 0 else 'not met'} "
                   f"({r['difference']:+.3f}, interval [{r['low']:+.3f}, {r['high']:+.3f}])")
    else:
        out.append("- its per-customer MAE below BG/NBD's: not met (BG/NBD itself is chosen)")
    for ref in ("past_spend", "recency_weighted_spend"):
        r = d.loc[(c, "precision_top20", ref)]
        ok = r["difference"] >= 0.05 and r["low"] > 0
        out.append(f"- precision at the top 20 % above {ref.replace('_', ' ')} by ≥ 5 pts with the interval "
                   f"above 0: {'met' if ok else 'not met'} ({r['difference'] * 100:+.2f} pts, "
                   f"[{r['low'] * 100:+.2f}, {r['high'] * 100:+.2f}])")
    return out


def measure_world(world, customers, years, n_boot=N_BOOT):
    """Build a demo world in a scratch warehouse and compare the candidates on it, calibration
    to one year before its as-of date, holdout to the as-of date."""
    from upmarket.demo.load import load_world
    from upmarket.demo.world import WorldConfig
    from upmarket.models.value_choice import BLEND, CANDIDATES, compare_value_models
    from upmarket.warehouse import connect

    cfg = WorldConfig(world=world, customers=customers, seed=WORLD_SEED, years=years)
    end = cfg.as_of
    cal_end = end.replace(year=end.year - 1)
    with tempfile.TemporaryDirectory() as tmp:
        wh = connect(f"duckdb://{tmp}/w.duckdb")
        load_world(wh, cfg)
        t0 = time.perf_counter()
        cmp = compare_value_models(wh.table("orders"), cal_end, end, candidates=(*CANDIDATES, BLEND),
                                   n_boot=n_boot)
        seconds = time.perf_counter() - t0
        wh.close()
    return cfg, cmp, cal_end, end, seconds


def world_notes(world) -> list[str]:
    """What the world is for: the models' own assumptions, or assumptions broken on purpose."""
    why = ("The btyd world's customers buy and drop out exactly as BG/NBD assumes (Poisson purchases "
           "while alive, dropout right after a purchase), so the BTYD models are correctly specified "
           "here: this is what they do when their assumptions hold."
           if world == "btyd" else
           "The realistic world breaks those assumptions on purpose (purchase gaps more regular than "
           "exponential, a yearly season, dropout at a moment in calendar time between purchases, "
           "raised by late deliveries): this is what the same models do when they are misspecified.")
    return [why]


def run(customers: int = 0, quick: bool = False) -> None:
    """``customers`` is ignored: the data sets are real and of fixed size, and the demo worlds'
    size is fixed here so the section is comparable from run to run."""
    m = machine_info()
    parts = [f"### Value models on a time-split holdout ({today()})", "",
             f"`{command(NAME, customers, quick)}` on {m['nproc']} × {m['cpu']}, {m['memory']}, "
             f"Python {m['python']}.", "",
             "Each model is fitted on the calibration period only; holdout purchases are purchase days "
             "(same-day orders merged), spend is Gamma-Gamma per purchase for the BTYD models. "
             "Precision at the top k %: share of a ranking's top k % that are among the top k % "
             "holdout spenders. Brackets: 95 % bootstrap intervals over customers.", ""]
    for title, path, preset, cal_end, end in CASES:
        if not path.exists():
            parts += [f"#### {title}", "", f"skipped: `{path.name}` is not present.", ""]
            continue
        print(f"  {title}…", flush=True)
        cmp, end_, seconds = measure(path, preset, cal_end, end)
        block = [section(title, path, cal_end, end_, cmp, seconds), ""]
        if preset == "cdnow":
            block += ["Targets of the issue on CDNOW:", "", *targets(cmp), "",
                      "The same targets for the blend:", "", *targets(cmp, "blend"), "",
                      "Why the holdout is under-forecast: it is counted as published (same-day orders "
                      "merged into one purchase, holdout from the split day up to the end day, T to the "
                      "day before the split; `tests/models/test_value_choice.py` pins the CDNOW sample's "
                      "published holdout means per calibration frequency), and the shortfall is spread "
                      "over the whole holdout (the 13-week blocks above), not at its boundaries: after "
                      "the calibration period the cohort's repeat buying stops declining, which models "
                      "with a constant purchase rate and steady attrition cannot foresee.", "",
                      "Why the blend does not reach the goal either: inside the calibration period the "
                      "signs are reversed (on the inner split the BTYD forecasts are close in aggregate and "
                      "the ML one under-forecasts), so the weight chosen there goes mostly to the BTYD "
                      "model and keeps its shortfall; and no weight would do, even one read off this "
                      "holdout (the hindsight lines above): the ML forecast adds the missing purchases to "
                      "the wrong customers, so every weight that brings the aggregate within ±5 % has a "
                      "per-customer MAE above BG/NBD's. Ranking by the ML spend, alone or blended, does "
                      "not lift the precision at the top 20 % above the BTYD spend either.", ""]
        else:
            block += ["The issue's targets read for the blend on this data (for information; the goal is "
                      "set on CDNOW):", "", *targets(cmp, "blend"), ""]
        print("\n".join(block), flush=True)
        parts += block
    for title, world, n, years in WORLDS:
        print(f"  {title}…", flush=True)
        cfg, cmp, cal_end, end, seconds = measure_world(world, n, years)
        source = (f"`upmarket demo --world {world}` ({n:,} customers, {years:.0f} years of history to "
                  f"{end:%Y-%m-%d}, random state {WORLD_SEED})")
        block = [section(title, None, cal_end, end, cmp, seconds, source=source), "",
                 *world_notes(world), ""]
        print("\n".join(block), flush=True)
        parts += block
    update_section(NAME, "\n".join(parts))
