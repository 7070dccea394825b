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

The forecast combination ``"blend"`` (asked for by name; not among the default candidates, since
a run's value model cannot use it): ``w * BTYD + (1 - w) * ML`` per customer, a convex combination
of two forecasts in the manner of Bates & Granger (1969, "The combination of forecasts",
Operational Research Quarterly 20(4)), with the weight learned on a time split as in stacking
(Wolpert 1992, "Stacked generalization", Neural Networks 5(2)). Everything about it is decided
inside the calibration period, by a rule fixed before any outer holdout was looked at
(:func:`choose_blend`): the calibration period is split again by :func:`run_holdout` (its last
third, at most the outer horizon, in whole weeks); the BTYD component is the candidate
:func:`compare_value_models` chooses on that inner split (the first non-degenerate one in its
ranking); the weight minimises the inner per-customer *squared* error of purchases on a grid of
0.01. Squared rather than absolute error because the squared error is minimised by the
conditional mean, which is what an aggregate forecast sums, whereas the absolute error is
minimised by the conditional median, which for skewed counts (most customers buy nothing) lies
below the mean and would pull the weight towards whichever forecast is lower. The spend weight is
chosen the same way on inner spend, and the blend ranks customers by its blended spend. The
components are then refitted on the whole calibration period and combined with those weights.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from upmarket.errors import UpmarketError
from upmarket.features.btyd import UNIT_DAYS as BTYD_UNIT_DAYS
from upmarket.models.btyd._base import compress

CANDIDATES = ("bgnbd", "pnbd", "mbgnbd", "ml")
#: The forecast combination (module docstring); accepted by name beside :data:`CANDIDATES`.
BLEND = "blend"
BTYD_CANDIDATES = ("bgnbd", "pnbd", "mbgnbd")
#: Weights tried for the blend's BTYD component.
BLEND_GRID = np.round(np.linspace(0.0, 1.0, 101), 2)
NAMES = {"bgnbd": "BG/NBD", "pnbd": "Pareto/NBD", "mbgnbd": "MBG/NBD", "ml": "ML", "blend": "blend",
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
#: Days in the time unit of the comparison: weeks, as the BTYD summaries.
WEEK_DAYS = BTYD_UNIT_DAYS["W"]


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
    #: per customer (index: customer_id): ``actual``, ``actual_spend`` and ``<candidate>`` /
    #: ``<candidate>_spend`` forecasts of every fitted model, components of a blend included
    forecasts: pd.DataFrame | None = None


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

    unknown = [c for c in candidates if c not in (*CANDIDATES, BLEND)]
    if unknown or not candidates:
        raise UpmarketError(f"candidates must be among {', '.join((*CANDIDATES, BLEND))}, "
                            f"got {', '.join(unknown) or 'none'}")
    if holdout_end <= calibration_end:
        raise UpmarketError("the holdout must end after the calibration period ends")
    per_day = transactions(orders, holdout_end)
    # the holdout's purchase days are summed in the engine, per customer (spend) and per day
    # (the curve): at 1,000,000 customers there are millions of them, and every day (some
    # ten million rows) is read only by the learned model, fetched where it is a candidate
    held = per_day.filter(per_day.day >= calibration_end)
    spent = held.group_by("customer_id").aggregate(spend_holdout=held.spend.sum())
    cal = btyd_summary(orders, calibration_end, unit="W", holdout_end=holdout_end)
    cal = cal.left_join(spent, "customer_id").drop("customer_id_right")
    summary = cal.mutate(spend_holdout=cal.spend_holdout.fill_null(0.0)).to_pandas()
    if summary.empty:
        raise UpmarketError(f"nobody bought before {calibration_end:%Y-%m-%d}: move the calibration end later")
    summary = summary.sort_values("customer_id").reset_index(drop=True)
    ids = summary["customer_id"]
    y = summary["frequency_holdout"].to_numpy(float)
    s = summary["spend_holdout"].to_numpy(float)
    if y.sum() == 0:
        raise UpmarketError(f"no purchases between {calibration_end:%Y-%m-%d} and {holdout_end:%Y-%m-%d} "
                            "by customers of the calibration period: nothing to check against")
    x, tx, T = (summary[c].to_numpy(float) for c in ("frequency", "recency", "T"))
    # A customer first seen on the last calibration day has T = 0: nothing observed to fit on,
    # but the model still forecasts her, as the new customer she is (E[X(t)] from her first
    # purchase).
    aged = T > 0
    H = float(summary["holdout_length"].iloc[0])
    # the blend is decided on the calibration period alone, before anything is fitted on it whole
    blend = choose_blend(orders, calibration_end, H, random_state=random_state) if BLEND in candidates else None
    fits = [c for c in CANDIDATES if c in candidates
            or (blend is not None and "component" in blend and c in (blend["component"], "ml"))]

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
    # purchase days per holdout day by the calibration customers (those `btyd_summary` keeps:
    # a purchase before calibration_end), semi-joined in the engine
    days = held.semi_join(transactions(orders, calibration_end).select("customer_id"),
                          "customer_id")
    days = days.group_by("day").aggregate(n=days.count()).to_pandas()
    day_index = (pd.to_datetime(days["day"]) - pd.Timestamp(calibration_end)).dt.days / WEEK_DAYS
    n_day = days["n"].to_numpy(float)
    curve["actual"] = [float(n_day[(day_index < w).to_numpy()].sum()) for w in weeks]
    for name in fits:
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
    if "ml" in fits:
        from upmarket.models.ml_value import GradientBoostedValue

        try:
            daily = per_day.to_pandas()
            daily["day"] = pd.to_datetime(daily["day"])
            ml = GradientBoostedValue(random_state=random_state).fit(daily, calibration_end, H * WEEK_DAYS)
            p = ml.predict(daily, calibration_end).reindex(ids).fillna(0.0)
            preds["ml"] = {"purchases": p["purchases"].to_numpy(), "spend": p["spend"].to_numpy(),
                           "degenerate": False,
                           "note": f"trained on {ml.n_train_:,} customers at {ml.training_cutoff_:%Y-%m-%d}, "
                                   f"window {ml.window_days_ / WEEK_DAYS:.1f} weeks"}
            params["ml"] = {"training_cutoff": f"{ml.training_cutoff_:%Y-%m-%d}",
                            "window_weeks": ml.window_days_ / WEEK_DAYS, "n_train": ml.n_train_}
        except UpmarketError as exc:
            preds["ml"] = {"degenerate": True, "note": f"no fit: {exc}", "reason": "no_fit"}

    if blend is not None:
        preds[BLEND] = _combine(blend, preds)
        params[BLEND] = {k: v for k, v in blend.items() if k != "note"}

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
    forecasts = pd.DataFrame({"actual": y, "actual_spend": s}, index=pd.Index(ids, name="customer_id"))
    for name, p in preds.items():
        if "purchases" in p:
            forecasts[name] = p["purchases"]
            if p.get("spend") is not None:
                forecasts[f"{name}_spend"] = p["spend"]
    return Comparison(table=table, differences=differences, per_frequency=per_frequency, curve=curve,
                      chosen=chosen, ranking=tuple(ranking), n_customers=int(n), holdout_weeks=H,
                      params=params, forecasts=forecasts)


def _best_weight(a: np.ndarray, b: np.ndarray, y: np.ndarray) -> float:
    """The weight ``w`` on :data:`BLEND_GRID` minimising the mean squared error of
    ``w * a + (1 - w) * b`` against ``y``; the smallest such ``w`` on a tie."""
    sse = [float(np.mean((w * a + (1.0 - w) * b - y) ** 2)) for w in BLEND_GRID]
    return float(BLEND_GRID[int(np.argmin(sse))])


def choose_blend(orders, calibration_end: datetime, horizon_weeks: float, *, random_state: int = 12) -> dict:
    """The blend's BTYD component and weights, from ``orders`` before ``calibration_end`` only
    (module docstring). Returns ``component``, ``weight`` (on the component's purchases; ML gets
    ``1 - weight``), ``spend_weight``, ``inner_calibration_end``, ``inner_holdout_end``,
    ``inner_weeks``, ``inner_error`` (aggregate error of each component on the inner holdout)
    and ``note``; without a usable inner split or components, only ``note``
    (the blend then has no fit)."""
    cal = orders.filter(orders.ts < calibration_end)  # nothing at or after the calibration end is read
    first = cal.ts.min().execute()
    if first is None or pd.isna(first):
        return {"note": "no purchases in the calibration period"}
    split = run_holdout(pd.Timestamp(first).to_pydatetime(), calibration_end,
                        horizon_days=int(round(horizon_weeks * WEEK_DAYS)))
    if split is None:
        return {"note": "calibration period too short for an inner split of four weeks"}
    try:
        inner = compare_value_models(cal, *split, candidates=CANDIDATES, n_boot=0, random_state=random_state)
    except UpmarketError as exc:
        return {"note": f"inner split: {exc}"}
    f, t = inner.forecasts, inner.table
    btyd = [c for c in inner.ranking if c in BTYD_CANDIDATES and c in f]
    if not btyd or "ml" not in f:
        return {"note": "inner split: no BTYD or no ML forecast to combine"}
    # the run's own rule: the first usable fit in the inner ranking; a degenerate fit still
    # forecasts, so with none usable the best-ranked one is combined and the weight decides
    component = next((c for c in btyd if not t.loc[c, "degenerate"]), btyd[0])
    weight = _best_weight(f[component].to_numpy(), f["ml"].to_numpy(), f["actual"].to_numpy())
    if f"{component}_spend" in f and "ml_spend" in f:
        spend_weight = _best_weight(f[f"{component}_spend"].to_numpy(), f["ml_spend"].to_numpy(),
                                    f["actual_spend"].to_numpy())
    else:
        spend_weight = 0.0  # no Gamma-Gamma spend: the ML spend alone
    a, b = split
    return {"component": component, "weight": weight, "spend_weight": spend_weight,
            "inner_calibration_end": f"{a:%Y-%m-%d}", "inner_holdout_end": f"{b:%Y-%m-%d}",
            "inner_weeks": inner.holdout_weeks,
            # how the two components fared on the inner holdout: what the weight was chosen from
            "inner_error": {m: float(t.loc[m, "error"]) for m in (component, "ml")},
            "note": f"{weight:.2f} × {NAMES[component]} + {1 - weight:.2f} × ML (spend {spend_weight:.2f}), "
                    f"weights from the inner split {a:%Y-%m-%d} to {b:%Y-%m-%d}"}


def _combine(blend: dict, preds: dict) -> dict:
    """The blend's forecasts from its components' fits on the whole calibration period."""
    if "component" not in blend:
        return {"degenerate": True, "note": f"no fit: {blend['note']}", "reason": "no_fit"}
    c, w, ws = blend["component"], blend["weight"], blend["spend_weight"]
    pc, pm = preds.get(c, {}), preds.get("ml", {})
    missing = [n for n, p, share in ((c, pc, w), ("ml", pm, 1 - w)) if share > 0 and "purchases" not in p]
    if missing:
        return {"degenerate": True, "note": f"no fit: {', '.join(missing)} could not be fitted", "reason": "no_fit"}
    zero = np.zeros(len(pm.get("purchases", pc.get("purchases"))))
    purchases = w * pc.get("purchases", zero) + (1 - w) * pm.get("purchases", zero)
    spend = None
    if pc.get("spend") is not None and pm.get("spend") is not None:
        spend = ws * pc["spend"] + (1 - ws) * pm["spend"]
    elif pm.get("spend") is not None:
        spend = pm["spend"]
    # a component's degenerate fit makes the blend degenerate only if it carries weight
    bad = pc.get("note", "") if w > 0 and pc.get("degenerate") else ""
    return {"purchases": purchases, "spend": spend, "degenerate": bool(bad),
            "note": f"{NAMES[c]}: {bad}" if bad else blend["note"], "reason": pc.get("reason", "") if bad else ""}


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
    evaluated once per distinct (x, t_x, T) row (found by hashing, `btyd._base.compress`), and
    with whatever does not depend on the week (P(alive)) computed once for all weeks."""
    (rx, rtx, rT), counts = compress([x, tx, T], np.ones(np.size(x)))
    return np.array([float(counts @ e)
                     for e in model.conditional_expected_purchases_curve(weeks, rx, rtx, rT)])


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
