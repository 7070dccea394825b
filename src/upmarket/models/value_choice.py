"""Which value model to trust on this data: every candidate fitted on a calibration period and
scored on the holdout that follows it, beside the rankings an analyst would use without a model.

Candidates (names as the run's value model takes them): ``"bgnbd"`` BG/NBD (Fader, Hardie & Lee
2005), ``"pnbd"`` Pareto/NBD (Schmittlein, Morrison & Colombo 1987), ``"mbgnbd"`` MBG/NBD
(Batislam, Denizel & Filiztekin 2007), each with Gamma-Gamma spend per purchase (Fader, Hardie &
Lee 2005, "RFM and CLV"), and ``"ml"`` gradient boosting (:mod:`upmarket.models.ml_value`).

Figures per candidate, all on the holdout ``[calibration_end, holdout_end)`` and the customers who
bought before ``calibration_end``:

* aggregate predicted vs actual purchases (purchase days) and the error in % of actual;
* per-customer mean absolute error of purchases;
* aggregate spend error in %;
* precision at the top 2 % and top 20 % of holdout spenders: of the customers a ranking puts in
  its top k, the share that are among the k largest actual holdout spenders.

The analyst rankings: past spend, and past spend / (1 + weeks since the last purchase).

Intervals: a bootstrap over customers (the models stay fitted once; the intervals show how much
the figures move with which customers happen to be in the holdout), with a fixed generator so a
run is reproducible.

Choice criterion (:data:`CRITERION`): among candidates whose fit is not degenerate, the lowest
per-customer MAE, rounded to 3 decimals so that differences below that are a tie, broken by the
smaller absolute aggregate error. A BTYD fit is degenerate when a parameter sits at the
optimiser's bound (|log parameter| within 0.5 of 25), its drop-out process vanished (mean
drop-out below 1e-4: the fit is a plain NBD), or the optimiser did not converge; a candidate
that could not be fitted at all is degenerate too. Degenerate candidates are ranked last, in
their order of the same criterion.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from upmarket.errors import UpmarketError

CANDIDATES = ("bgnbd", "pnbd", "mbgnbd", "ml")
NAMES = {"bgnbd": "BG/NBD", "pnbd": "Pareto/NBD", "mbgnbd": "MBG/NBD", "ml": "ML",
         "past_spend": "past spend", "recency_weighted_spend": "past spend ÷ (1 + weeks since last)"}
BASELINES = ("past_spend", "recency_weighted_spend")
CRITERION = ("lowest per-customer MAE of holdout purchases (3 decimals), then smallest absolute "
             "aggregate error; degenerate fits (a parameter at the optimiser bound, no drop-out left, "
             "no convergence, or no fit) are not chosen")
TOPS = (0.02, 0.20)
#: |log parameter| at or beyond this is at the optimiser's bound (``_base`` bounds it at 25).
BOUND_LOG = 24.5
#: Below this mean drop-out (per purchase, or per week for the Pareto/NBD) a fit has collapsed
#: onto the no-attrition boundary.
MIN_DROPOUT = 1e-4
UNIT_DAYS = 7.0


@dataclass
class Comparison:
    """The result of :func:`compare_value_models`.

    ``table``: one row per candidate and analyst ranking (index: name) with ``predicted``,
    ``actual``, ``error`` (fraction, predicted / actual - 1), ``mae``, ``spend_predicted``,
    ``spend_actual``, ``spend_error``, ``precision_top2``, ``precision_top20`` and bootstrap
    bounds ``<figure>_low`` / ``<figure>_high``, ``degenerate``, ``reason`` (code: bound,
    no_dropout, no_convergence, no_fit) and ``note``;
    ``differences``: bootstrap intervals of candidate-minus-reference differences (MAE vs BG/NBD,
    precision at the top 20 % vs each analyst ranking); ``per_frequency``: actual and expected
    mean holdout purchases by calibration frequency; ``curve``: cumulative holdout purchases by
    week, actual and per BTYD model; ``chosen`` and ``ranking`` (candidate names); ``params``:
    the fitted parameters per candidate.
    """

    table: pd.DataFrame
    differences: pd.DataFrame
    per_frequency: pd.DataFrame
    curve: pd.DataFrame
    chosen: str | None
    ranking: tuple[str, ...]
    n_customers: int
    holdout_weeks: float
    params: dict[str, dict] = field(default_factory=dict)
    criterion: str = CRITERION


def _btyd(name: str):
    from upmarket.models.btyd import BetaGeo, ModifiedBetaGeo, ParetoNBD

    return {"bgnbd": BetaGeo, "pnbd": ParetoNBD, "mbgnbd": ModifiedBetaGeo}[name]()


def _reason(note: str) -> str:
    """The code of a degenerate fit's reason ('' when usable): bound, no_dropout, no_convergence."""
    if not note:
        return ""
    return "bound" if "bound" in note else "no_dropout" if "drop-out" in note else "no_convergence"


def _degenerate(model) -> str:
    at_bound = [k for k, v in model.params_.items() if abs(np.log(v)) >= BOUND_LOG]
    if at_bound:
        return f"{', '.join(at_bound)} at the optimiser bound"
    p = model.params_
    # the drop-out process has vanished: the fit sits on the boundary where the model is a plain
    # NBD with no attrition (mean drop-out chance per purchase a/(a+b), or mean drop-out rate
    # s/beta per week, below 1e-4), whatever the optimiser's bounds
    dropout = p["a"] / (p["a"] + p["b"]) if "a" in p else p["s"] / p["beta"]
    if dropout < MIN_DROPOUT:
        return "no drop-out left in the fit (it is a plain NBD)"
    if not model.converged_:
        return "optimiser did not converge"
    return ""


def top_precision(score: np.ndarray, actual: np.ndarray, share: float) -> float:
    """Share of the ``k = ceil(share * n)`` customers ranked highest by ``score`` that are among
    the k largest by ``actual``. Ties are broken by position (a stable sort), the same way for
    both orderings."""
    n = actual.size
    k = max(1, int(np.ceil(share * n)))
    top_pred = np.argsort(-score, kind="stable")[:k]
    top_true = np.argsort(-actual, kind="stable")[:k]
    return float(np.intersect1d(top_pred, top_true, assume_unique=True).size / k)


def _figures(pred: np.ndarray | None, spend: np.ndarray | None, score: np.ndarray,
             y: np.ndarray, s: np.ndarray) -> dict[str, float]:
    out = {"precision_top2": top_precision(score, s, TOPS[0]), "precision_top20": top_precision(score, s, TOPS[1])}
    if pred is not None:
        out.update(predicted=float(pred.sum()), actual=float(y.sum()),
                   error=float(pred.sum() / y.sum() - 1.0) if y.sum() > 0 else np.nan,
                   mae=float(np.mean(np.abs(pred - y))))
    if spend is not None:
        out.update(spend_predicted=float(spend.sum()), spend_actual=float(s.sum()),
                   spend_error=float(spend.sum() / s.sum() - 1.0) if s.sum() > 0 else np.nan)
    return out


def compare_value_models(orders, calibration_end: datetime, holdout_end: datetime, *,
                         candidates: tuple[str, ...] = CANDIDATES, n_boot: int = 200,
                         random_state: int = 12, max_frequency: int = 7) -> Comparison:
    """Fit every candidate on ``[.., calibration_end)`` of ``orders`` (an Ibis table), score the
    holdout ``[calibration_end, holdout_end)``, and choose (module docstring). Times in weeks."""
    from upmarket.features.btyd import btyd_summary, transactions
    from upmarket.models.btyd import GammaGamma

    unknown = [c for c in candidates if c not in CANDIDATES]
    if unknown or not candidates:
        raise UpmarketError(f"candidates must be among {', '.join(CANDIDATES)}, got {', '.join(unknown) or 'none'}")
    if holdout_end <= calibration_end:
        raise UpmarketError("the holdout must end after the calibration period ends")
    summary = btyd_summary(orders, calibration_end, unit="W", holdout_end=holdout_end).to_pandas()
    if summary.empty:
        raise UpmarketError(f"nobody bought before {calibration_end:%Y-%m-%d}: move the calibration end later")
    summary = summary.sort_values("customer_id").reset_index(drop=True)
    daily = transactions(orders, holdout_end).to_pandas()
    daily["day"] = pd.to_datetime(daily["day"])
    hold = daily[daily["day"] >= pd.Timestamp(calibration_end)]
    ids = summary["customer_id"]
    y = summary["frequency_holdout"].to_numpy(float)
    s = hold.groupby("customer_id")["spend"].sum().reindex(ids, fill_value=0.0).to_numpy(float)
    if y.sum() == 0:
        raise UpmarketError(f"no purchases between {calibration_end:%Y-%m-%d} and {holdout_end:%Y-%m-%d} "
                            "by customers of the calibration period: nothing to check against")
    x, tx, T = (summary[c].to_numpy(float) for c in ("frequency", "recency", "T"))
    # A customer first seen on the last calibration day has T = 0: nothing observed to fit on,
    # but the model still forecasts her, as the new customer she is (E[X(t)] from her first
    # purchase).
    aged = T > 0
    H = float(summary["holdout_length"].iloc[0])

    # spend per purchase: Gamma-Gamma on the calibration repeat buyers with a positive mean
    repeat = (x > 0) & (summary["monetary"].to_numpy(float) > 0)
    per_purchase = None
    gg_note = ""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            gg = GammaGamma().fit(x[repeat], summary["monetary"].to_numpy(float)[repeat])
        per_purchase = gg.conditional_expected_average_profit(np.where(repeat, x, 0),
                                                              summary["monetary"].to_numpy(float))
    except UpmarketError as exc:
        gg_note = f"Gamma-Gamma: {exc}"

    preds: dict[str, dict] = {}
    params: dict[str, dict] = {}
    weeks = np.arange(1, int(np.floor(H)) + 1, dtype=float)
    if weeks.size == 0 or H > weeks[-1]:
        weeks = np.append(weeks, H)
    curve = pd.DataFrame({"week": weeks})
    day_index = (hold["day"] - pd.Timestamp(calibration_end)).dt.days / UNIT_DAYS
    in_cal = hold["customer_id"].isin(set(ids))
    curve["actual"] = [float(((day_index < w) & in_cal).sum()) for w in weeks]
    for name in candidates:
        if name == "ml":
            continue
        model = _btyd(name)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model.fit(x[aged], tx[aged], T[aged])
        except UpmarketError as exc:
            preds[name] = {"degenerate": True, "note": f"no fit: {exc}", "reason": "no_fit"}
            continue
        e = np.empty(x.size)
        e[aged] = model.conditional_expected_purchases(H, x[aged], tx[aged], T[aged])
        e[~aged] = model.expected_purchases(H)
        preds[name] = {"purchases": e, "spend": None if per_purchase is None else e * per_purchase,
                       "degenerate": bool(_degenerate(model)), "note": _degenerate(model) or gg_note,
                       "reason": _reason(_degenerate(model))}
        params[name] = dict(model.params_)
        curve[name] = _cumulative(model, weeks, x[aged], tx[aged], T[aged]) + (~aged).sum() * np.array(
            [float(model.expected_purchases(w)) for w in weeks])
    if "ml" in candidates:
        from upmarket.models.ml_value import GradientBoostedValue

        try:
            ml = GradientBoostedValue(random_state=random_state).fit(daily, calibration_end, H * UNIT_DAYS)
            p = ml.predict(daily, calibration_end).reindex(ids).fillna(0.0)
            preds["ml"] = {"purchases": p["purchases"].to_numpy(), "spend": p["spend"].to_numpy(),
                           "degenerate": False,
                           "note": f"trained on {ml.n_train_:,} customers at {ml.training_cutoff_:%Y-%m-%d}, "
                                   f"window {ml.window_days_ / UNIT_DAYS:.1f} weeks"}
            params["ml"] = {"training_cutoff": f"{ml.training_cutoff_:%Y-%m-%d}",
                            "window_weeks": ml.window_days_ / UNIT_DAYS, "n_train": ml.n_train_}
        except UpmarketError as exc:
            preds["ml"] = {"degenerate": True, "note": f"no fit: {exc}", "reason": "no_fit"}

    past = summary["total_spend"].to_numpy(float)
    since = T - tx
    scores = {name: (p["spend"] if p.get("spend") is not None else p["purchases"])
              for name, p in preds.items() if "purchases" in p}
    scores["past_spend"] = past
    scores["recency_weighted_spend"] = past / (1.0 + since)

    rows = {}
    for name in candidates:
        p = preds[name]
        if "purchases" not in p:
            rows[name] = {"degenerate": True, "note": p["note"], "reason": p["reason"]}
            continue
        rows[name] = {**_figures(p["purchases"], p["spend"], scores[name], y, s),
                      "degenerate": p["degenerate"], "note": p["note"], "reason": p.get("reason", "")}
    for name in BASELINES:
        rows[name] = {**_figures(None, None, scores[name], y, s), "degenerate": False, "note": "", "reason": ""}
    table = pd.DataFrame.from_dict(rows, orient="index")

    # bootstrap over customers
    rng = np.random.default_rng(random_state)
    n = y.size
    fitted = [c for c in candidates if "purchases" in preds[c]]
    boot: dict[str, list] = {}
    for _ in range(int(n_boot)):
        i = rng.integers(0, n, n)
        yi, si = y[i], s[i]
        for name in [*fitted, *BASELINES]:
            pr = preds.get(name, {})
            f = _figures(pr["purchases"][i] if name in fitted else None,
                         pr["spend"][i] if name in fitted and pr.get("spend") is not None else None,
                         scores[name][i], yi, si)
            for k, v in f.items():
                boot.setdefault(f"{name}|{k}", []).append(v)
    for key, vals in boot.items():
        name, fig = key.split("|")
        if fig in ("predicted", "actual", "spend_actual", "spend_predicted"):
            continue
        lo, hi = np.nanpercentile(vals, [2.5, 97.5])
        table.loc[name, f"{fig}_low"] = lo
        table.loc[name, f"{fig}_high"] = hi
    diffs = []
    for name in fitted:
        refs = [("mae", "bgnbd")] if "bgnbd" in fitted and name != "bgnbd" else []
        refs += [("precision_top20", b) for b in BASELINES]
        for fig, ref in refs:
            point = table.loc[name, fig] - table.loc[ref, fig]
            lo = hi = np.nan
            if boot:  # n_boot = 0: point figures only (a run's own check)
                d = np.asarray(boot[f"{name}|{fig}"]) - np.asarray(boot[f"{ref}|{fig}"])
                lo, hi = np.nanpercentile(d, [2.5, 97.5])
            diffs.append({"candidate": name, "figure": fig, "reference": ref, "difference": point,
                          "low": lo, "high": hi})
    differences = pd.DataFrame(diffs, columns=["candidate", "figure", "reference", "difference", "low", "high"])

    ranking = _rank(table.loc[list(candidates)])
    chosen = next((c for c in ranking if not table.loc[c, "degenerate"]), None)
    per_frequency = _per_frequency(x, y, {c: preds[c]["purchases"] for c in fitted}, max_frequency)
    return Comparison(table=table, differences=differences, per_frequency=per_frequency, curve=curve,
                      chosen=chosen, ranking=tuple(ranking), n_customers=int(n), holdout_weeks=H,
                      params=params)


def _rank(table: pd.DataFrame) -> list[str]:
    t = table.copy()
    mae = t["mae"] if "mae" in t else pd.Series(np.nan, index=t.index)
    err = t["error"] if "error" in t else pd.Series(np.nan, index=t.index)
    t["_deg"] = t["degenerate"].astype(bool) | mae.isna()
    t["_mae"] = mae.round(3).fillna(np.inf)
    t["_err"] = err.abs().fillna(np.inf)
    return list(t.sort_values(["_deg", "_mae", "_err"], kind="stable").index)


def _cumulative(model, weeks, x, tx, T) -> np.ndarray:
    """Expected cumulative holdout purchases by week: sum over customers of E[Y(w) | x, t_x, T],
    evaluated once per distinct (x, t_x, T) row."""
    rows, inv = np.unique(np.column_stack([x, tx, T]), axis=0, return_inverse=True)
    counts = np.bincount(inv.ravel(), minlength=len(rows))
    return np.array([float(counts @ model.conditional_expected_purchases(w, rows[:, 0], rows[:, 1], rows[:, 2]))
                     for w in weeks])


def _per_frequency(x, y, preds: dict[str, np.ndarray], max_frequency: int) -> pd.DataFrame:
    bucket = np.minimum(x, max_frequency).astype(int)
    labels = [str(i) for i in range(max_frequency)] + [f"{max_frequency}+"]
    df = pd.DataFrame({"bucket": bucket, "actual": y, **preds})
    out = df.groupby("bucket").agg(n_customers=("actual", "size"), actual=("actual", "mean"),
                                   **{k: (k, "mean") for k in preds})
    out = out.reindex(range(max_frequency + 1))
    out["n_customers"] = out["n_customers"].fillna(0).astype(int)
    out.index = pd.Index(labels, name="frequency")
    total = pd.DataFrame({"n_customers": [len(df)], "actual": [df["actual"].mean()],
                          **{k: [df[k].mean()] for k in preds}}, index=pd.Index(["all"], name="frequency"))
    return pd.concat([out, total])


#: The candidates a run compares: those the run's value model can use (`models.value`).
RUN_CANDIDATES = ("bgnbd", "pnbd", "mbgnbd")
#: Shortest holdout worth reading, in days.
MIN_HOLDOUT_DAYS = 28


def run_holdout(first_purchase: datetime, as_of: datetime, horizon_days: int = 365
                ) -> tuple[datetime, datetime] | None:
    """The time split a run checks its value models on: the last ``min(horizon, a third of the
    history)`` before ``as_of``, in whole weeks, is the holdout; None when that is under four
    weeks. A third keeps two thirds of the history for calibration, where the dropout process
    has to be seen to be estimated."""
    span = (as_of - first_purchase).days
    days = int(min(horizon_days, span // 3) // 7 * 7)
    if days < MIN_HOLDOUT_DAYS:
        return None
    return as_of - timedelta(days=days), as_of


def choose_for_run(orders, as_of: datetime, horizon_days: int = 365) -> tuple[Comparison | None, str]:
    """The run's model choice: :func:`compare_value_models` of :data:`RUN_CANDIDATES` on
    :func:`run_holdout`, without bootstrap intervals (the run needs the ranking, the benchmark
    gives the intervals). Returns the comparison, or None and the reason code when the data
    cannot say: ``short_history`` (no holdout of four weeks) or ``no_holdout_purchases``."""
    first = orders.ts.min().execute()
    if first is None or pd.isna(first):
        return None, "short_history"
    split = run_holdout(pd.Timestamp(first).to_pydatetime(), as_of, horizon_days)
    if split is None:
        return None, "short_history"
    try:
        return compare_value_models(orders, *split, candidates=RUN_CANDIDATES, n_boot=0), ""
    except UpmarketError:
        return None, "no_holdout_purchases"
