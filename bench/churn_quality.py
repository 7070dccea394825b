"""Churn quality on customers' real next 90 days: the churn model against the RFM-logistic
baseline on CDNOW master and the Online Retail sample at several cut-off dates, and on both demo
worlds.

Each case is a cut-off date T with 90 days of orders after it. Both estimators are fitted as the
run refits them: on the customer frame at T − 90 days, labelled by who bought in [T − 90 d, T),
then scored at T and judged by who really bought in [T, T + 90 d). The run chooses which of the
two to publish on an inner split one window earlier (fitted at T − 180 d, judged on
[T − 90 d, T)), never on the future it is judged by; the section reports that choice beside the
outcome.

Figures per estimator: AUC, lift in the top decile of risk, and calibration error (mean
|observed − predicted| over ten equal-count bins, `models.evaluation.calibration`), each with a
95 % percentile bootstrap interval over customers (the estimators fitted once, customers
resampled with replacement; Efron & Tibshirani 1993, "An Introduction to the Bootstrap",
§13.3), and the model − baseline AUC difference with its interval, both scores re-ranked on the
same resample. The issue's target is model AUC ≥ baseline AUC + 0.03 on both real data sets.
"""

from __future__ import annotations

import tempfile
import time
from datetime import datetime, timedelta

import numpy as np

from . import REPO_ROOT, command, machine_info, today, update_section

NAME = "churn_quality"
DESCRIPTION = "churn model vs RFM-logistic baseline on the real next 90 days: CDNOW, Online Retail, demo worlds"

DATA = REPO_ROOT.parent / "shared" / "data"
HORIZON = timedelta(days=90)
#: (title, file, ingest preset, cut-off dates). Every date has 90 days of orders after it and
#: 180 days before it for the inner split; Online Retail starts on 2010-12-01, so its first
#: date is the earliest with a usable inner window.
CASES = (
    ("CDNOW master", DATA / "cdnow" / "CDNOW_master.txt", "cdnow",
     (datetime(1997, 10, 1), datetime(1998, 1, 1), datetime(1998, 4, 1))),
    ("Online Retail sample", DATA / "online_retail" / "online_retail_sample_30k.csv", "online-retail",
     (datetime(2011, 6, 1), datetime(2011, 7, 15), datetime(2011, 9, 1))),
)
#: Demo worlds: (title, world, customers). The cut-off is 90 days before the world's as-of
#: date, so the last 90 days of its history are the real future.
WORLDS = (("Demo world btyd", "btyd", 3_000), ("Demo world realistic", "realistic", 3_000))
WORLD_SEED = 7
WORLD_YEARS = 2.0
N_BOOT = 200
TARGET = 0.03


def frames(wh, when: datetime):
    """The churn inputs at `when` and who made no purchase in the 90 days after it."""
    from upmarket import pipeline

    settings = pipeline.Settings()
    frame, _ = pipeline.snapshot(wh, when, settings, clv=False)
    frame = pipeline.churn_inputs(wh, frame, when)
    churned = ~frame["customer_id"].isin(pipeline.bought_between(wh, when, when + HORIZON))
    return frame, churned.to_numpy()


def metrics(y, p) -> dict[str, float]:
    from upmarket.models import evaluation

    return {"auc": evaluation.auc(y, p), "lift": evaluation.lift_at(y, p, 0.1),
            "calibration_error": evaluation.calibration(y, p)["calibration_error"]}


def bootstrap(y, scores: dict[str, np.ndarray], draws: int = N_BOOT, seed: int = 0) -> dict:
    """Point figures and 95 % percentile intervals over customers for each score, and for the
    AUC difference model − baseline on the same resamples."""
    rng = np.random.default_rng(seed)
    y = np.asarray(y, int)
    point = {k: metrics(y, p) for k, p in scores.items()}
    point["difference"] = point["model"]["auc"] - point["baseline"]["auc"]
    drawn: dict[str, list] = {k: [] for k in scores}
    diffs = []
    for _ in range(draws):
        i = rng.integers(0, len(y), len(y))
        if y[i].min() == y[i].max():
            continue
        m = {k: metrics(y[i], p[i]) for k, p in scores.items()}
        for k in scores:
            drawn[k].append(m[k])
        diffs.append(m["model"]["auc"] - m["baseline"]["auc"])
    low = {k: {f: float(np.percentile([d[f] for d in v], 2.5)) for f in v[0]} for k, v in drawn.items()}
    high = {k: {f: float(np.percentile([d[f] for d in v], 97.5)) for f in v[0]} for k, v in drawn.items()}
    return {"point": point, "low": low, "high": high,
            "difference_interval": (float(np.percentile(diffs, 2.5)), float(np.percentile(diffs, 97.5)))}


def measure_date(wh, t: datetime) -> dict:
    """Model and baseline at cut-off `t`: the run's inner choice and the real next 90 days."""
    from upmarket.models import evaluation
    from upmarket.models.churn import ChurnClassifier, RfmBaseline

    t0 = time.perf_counter()
    inner, y_inner = frames(wh, t - 2 * HORIZON)
    train, y_train = frames(wh, t - HORIZON)
    now, y_now = frames(wh, t)
    found = {}
    for name, make in (("model", ChurnClassifier), ("baseline", RfmBaseline)):
        found[name] = evaluation.auc(y_train, make().fit(inner, y_inner).predict_proba(train))
    published = "model" if found["model"] > found["baseline"] else "baseline"
    model = ChurnClassifier().fit(train, y_train)
    scores = {"model": model.predict_proba(now),
              "baseline": RfmBaseline().fit(train, y_train).predict_proba(now),
              "recency": now["recency_days"].to_numpy(float)}
    out = bootstrap(y_now, scores)
    out.update(date=t, customers=len(now), churn_rate=float(np.mean(y_now)), inner=found,
               published=published, features=model.features_, seconds=time.perf_counter() - t0)
    return out


def _f(v, fmt="{:.3f}") -> str:
    return "—" if v is None or v != v else fmt.format(v)


def _ci(r, who, fig, fmt="{:.3f}") -> str:
    return (f"{_f(r['point'][who][fig], fmt)} [{_f(r['low'][who][fig], fmt)}, "
            f"{_f(r['high'][who][fig], fmt)}]")


def table(title: str, source: str, results: list[dict], target: bool = True) -> list[str]:
    """The section of one data set; `target`: state the issue's target (set on real data only)."""
    lines = [f"#### {title}", "", source, "",
             "| cut-off | customers | churned | estimator | AUC | top-decile lift | calibration error |",
             "|---|---:|---:|---|---|---|---|"]
    for r in results:
        for who, label in (("model", "model"), ("baseline", "RFM-logistic baseline"), ("recency", "recency alone")):
            cal = _ci(r, who, "calibration_error") if who != "recency" else "—"
            lines.append(f"| {r['date']:%Y-%m-%d} | {r['customers']:,} | {r['churn_rate']:.1%} | {label} | "
                         f"{_ci(r, who, 'auc')} | {_ci(r, who, 'lift', '{:.2f}')} | {cal} |")
    lines += ["", "Model − baseline AUC on the real next 90 days (95 % bootstrap interval), and what the "
                  "run would publish, chosen on its inner split (AUC there, model / baseline):", ""]
    for r in results:
        lo, hi = r["difference_interval"]
        d = r["point"]["difference"]
        verdict = f"; target +{TARGET:.2f} {'met' if d >= TARGET else 'not met'}" if target else ""
        lines.append(f"- {r['date']:%Y-%m-%d}: {d:+.4f} [{lo:+.4f}, {hi:+.4f}]{verdict}; published {r['published']} (inner {r['inner']['model']:.4f} / "
                     f"{r['inner']['baseline']:.4f}); {r['seconds']:.0f} s")
    return lines


def measure_file(path, preset, dates) -> list[dict]:
    from upmarket.warehouse import connect
    from upmarket.warehouse.ingest import ingest

    with tempfile.TemporaryDirectory() as tmp:
        wh = connect(f"duckdb://{tmp}/c.duckdb")
        ingest("orders", path, preset=preset, warehouse=wh)
        out = [measure_date(wh, t) for t in dates]
        wh.close()
    return out


def measure_world(world: str, customers: int) -> tuple[datetime, list[dict]]:
    from upmarket.demo.load import load_world
    from upmarket.demo.world import WorldConfig
    from upmarket.warehouse import connect

    cfg = WorldConfig(world=world, customers=customers, seed=WORLD_SEED, years=WORLD_YEARS)
    with tempfile.TemporaryDirectory() as tmp:
        wh = connect(f"duckdb://{tmp}/w.duckdb")
        load_world(wh, cfg)
        out = [measure_date(wh, cfg.as_of - HORIZON)]
        wh.close()
    return cfg.as_of, out


def run(customers: int = 0, quick: bool = False) -> None:
    """``customers`` is ignored: the real data sets are of fixed size and the demo worlds' size
    is fixed here so the section is comparable from run to run."""
    from upmarket.models.churn import ChurnClassifier

    m = machine_info()
    parts = [f"### Churn model against the RFM-logistic baseline on the real next 90 days ({today()})", "",
             f"`{command(NAME, customers, quick)}` on {m['nproc']} × {m['cpu']}, {m['memory']}, "
             f"Python {m['python']}.", "",
             "Both estimators fitted at cut-off − 90 days on who bought in the 90 days to the cut-off, "
             "scored at the cut-off, judged by who bought in the 90 days after it. Churned: no purchase "
             f"in those 90 days. Brackets: 95 % bootstrap intervals over customers ({N_BOOT} draws). "
             f"Model: `{ChurnClassifier.__name__}` ({ChurnClassifier.__doc__.strip().splitlines()[0]}). "
             "Baseline: logistic regression on log recency, orders, order value, tenure and mean gap.", ""]
    summary = []
    for title, path, preset, dates in CASES:
        if not path.exists():
            parts += [f"#### {title}", "", f"skipped: `{path.name}` is not present.", ""]
            continue
        print(f"  {title}…", flush=True)
        results = measure_file(path, preset, dates)
        block = table(title, f"`{path.name}`.", results) + [""]
        print("\n".join(block), flush=True)
        parts += block
        summary += [(title, r) for r in results]
    for title, world, n in WORLDS:
        print(f"  {title}…", flush=True)
        as_of, results = measure_world(world, n)
        source = (f"`upmarket demo --world {world}` ({n:,} customers, {WORLD_YEARS:.0f} years of history to "
                  f"{as_of:%Y-%m-%d}, random state {WORLD_SEED}); cut-off 90 days before its end.")
        block = table(title, source, results, target=False) + [""]
        print("\n".join(block), flush=True)
        parts += block
    real = [r for _, r in summary]
    if real:
        met = sum(r["point"]["difference"] >= TARGET for r in real)
        parts += ["Target of the issue (model AUC ≥ baseline + 0.03 on CDNOW and Online Retail): "
                  f"met at {met} of {len(real)} real cut-offs.", ""]
    parts += NOTES
    update_section(NAME, "\n".join(parts))


#: What was tried to make the model beat the baseline, written by hand from the experiments
#: (every choice made inside the calibration data, never on the future the table judges).
NOTES: list[str] = [
    "What was tried to lift the model above the baseline (AUC model − baseline on the real next 90 "
    "days at the six real cut-offs above, CDNOW 1997-10-01 / 1998-01-01 / 1998-04-01, Online Retail "
    "2011-06-01 / 2011-07-15 / 2011-09-01; each choice judged on the inner split first):",
    "",
    "- Trees alone on the earlier features (no averaging with the baseline): −.007, +.000, −.000, "
    "−.020, +.008, −.014. Averaged with the baseline (the earlier model): +.000, +.001, +.001, −.002, "
    "+.012, +.000.",
    "- Adding the customer's own regularity (gap coefficient of variation, latest gap), the "
    "quarter-on-quarter purchase counts and their trend, distinct purchase days, a purchase count "
    "decayed over 90 days, basket size (items per purchase) and the returned share (Online Retail "
    "only; CDNOW has no returns), with monotone constraints where the direction is known: trees "
    "alone −.001, +.001, +.001, −.018, +.009, −.013; averaged with the baseline +.002, +.002, +.002, "
    ".000, +.012, +.001. Kept: it is never worse than the earlier model by more than .001 and the "
    "inner split agrees in sign on CDNOW.",
    "- A wider logistic regression on the baseline's inputs plus those features (signed log1p, "
    "standardised): +.003, +.001, +.002, +.002, −.008, −.012; on the inner split it lost to the "
    "baseline on 3 of 5 cut-offs. Not kept.",
    "- Slower, larger boosting (300 rounds at 0.03, leaves of 100): trees alone +.000, +.001, +.001, "
    "−.008, +.009, −.017. Not kept.",
    "- Pooling two training windows (cut-off − 90 d and − 180 d) to give the trees twice the rows: "
    "averaged with a pooled baseline +.002, +.002, +.002, +.003, +.010, −.001: no better than one "
    "window. Not kept.",
    "",
    "The inner split for Online Retail at 2011-06-01 is fitted at 2010-12-03, two days into the data "
    "(103 customers): its AUCs (.43 / .40) say nothing, and the run's choice there is a coin toss; "
    "it costs nothing here because both estimators score alike on the real future.",
    "",
    "Why the target is out of reach here: on both data sets recency and frequency carry nearly all "
    "the signal the order history holds (recency alone is within .01–.06 of every estimator), and "
    "the baseline already uses them in the right shape (log, monotone); what a richer model can add "
    "is interactions, worth .002 on CDNOW's 23,570 customers and within the bootstrap noise "
    "(±.01–.02) on Online Retail's 2–3 thousand. Reaching +.03 would more likely need information "
    "these files do not have (contacts, web visits, service) than a different learner. On the demo "
    "worlds, whose churn has structure beyond recency, the same model gains +.016 and +.025. The "
    "issue stays open "
    "on this point rather than being tuned to one cut-off.",
]
