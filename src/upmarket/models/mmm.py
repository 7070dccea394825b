"""A marketing-mix model (MMM): how much of a weekly outcome each channel's spend bought.

The model (the functional forms of Jin et al. 2017, "Bayesian methods for media mix modeling
with carryover and shape effects", Google) for week t::

    y_t = α₀ + α₁·t + Σ_k [a_k sin(2πkt/52.18) + b_k cos(2πkt/52.18)] + γ·promo_t
          + Σ_c β_c · Hill(adstock_c(x_c)_t; K_c, S_c) + ε_t

* ``adstock`` is geometric and normalised, ``a_t = θ·a_{t−1} + (1 − θ)·x_t``: spend keeps
  working in later weeks (carry-over) and a constant spend keeps its level, so the curve's
  K is in weekly spend;
* ``Hill(a) = a^S / (a^S + K^S)``: diminishing returns (S = 1) or an S-shape (S > 1);
* trend, yearly Fourier terms and the share of the week's days with a promotion running are
  the baseline: spend is usually planned on demand (growth, seasons, promotions), and without
  them the model would credit the media with demand it merely followed.

Why least squares on a grid and a bootstrap rather than a Bayesian sampler: PyMC-Marketing (or
Meridian) is not installable from this project's lock, and an MCMC fit takes minutes, more than
the command line and the test budget allow. Here each channel's (θ, K, S) is chosen on a grid
(θ ∈ {0, .2, .4, .6, .8}, K ∈ {0.5, 1, 2, 4} × the channel's mean weekly spend, S ∈ {1, 2}) by
coordinate descent, the β ≥ 0 by non-negative least squares (the baseline profiled out exactly:
Frisch–Waugh–Lovell), and intervals come from a moving-block bootstrap over weeks (Künsch 1989;
blocks of 8 weeks keep autocorrelation and carry-over together) that re-chooses the grid too, so
the intervals include the uncertainty of the curve shapes. A run takes a few seconds; when the
model fails its out-of-time check no channel can be credible and the bootstrap is skipped
(intervals are then empty and `fit["bootstrap"]` is 0).

Per channel the result gives ROI (incremental outcome ÷ spend, the outcome lost had the
channel spent nothing over the weeks fitted) with its interval, and a *credibility verdict*:
a channel's curve may drive a budget decision only if

* its spend moved on its own: the coefficient of variation of its weekly spend after the
  baseline (trend, seasons, promotions) is removed is at least `min_spend_variation`;
  otherwise its effect cannot be told from the baseline's, whatever the fit says;
* the whole model predicts weeks it has not seen: each of `holdout_folds` contiguous stretches
  of weeks, predicted by the model fitted on the other weeks, gives together an out-of-time
  R² ≥ `min_holdout_r2` (the MAPE is shown too; weeks whose spend lies beyond what the fit
  saw are counted, not scored: no data can check an extrapolation);
* the ROI interval is narrow enough: its width is at most `max_interval_ratio` × the estimate.

Lift tests (an experiment's measured ROI with a standard error) can calibrate a channel: each
adds one pseudo-observation ``(ROI_c − measured) / se`` to the least squares, weighted like a
week's residual, so an experiment pulls the channel's β toward what it measured.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.optimize import nnls

from upmarket.errors import UpmarketError

YEAR_WEEKS = 365.25 / 7.0


class BadMmmData(UpmarketError, ValueError):
    """Too little or unusable data for a marketing-mix model."""


@dataclass(frozen=True)
class MmmSettings:
    """How the mix model is fitted and judged (see the module docstring).

    decays, half_saturations, shapes : the grid of adstock decay θ, Hill K (as multiples of the
        channel's mean weekly spend) and Hill shape S.
    fourier_terms : yearly sine/cosine pairs in the baseline.
    holdout_folds : contiguous stretches of weeks, each predicted by a fit on the others.
    bootstrap, block_weeks, level : bootstrap replicates, block length, interval coverage.
    min_spend_variation, min_holdout_r2, max_interval_ratio : the credibility thresholds.
    lift_tests : ``{channel: (roi, standard_error)}`` from experiments, to calibrate.
    random_state : the bootstrap's random stream (the same value gives the same intervals).
    """

    decays: tuple[float, ...] = (0.0, 0.2, 0.4, 0.6, 0.8)
    half_saturations: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0)
    shapes: tuple[float, ...] = (1.0, 2.0)
    fourier_terms: int = 2
    holdout_folds: int = 5
    bootstrap: int = 100
    block_weeks: int = 8
    level: float = 0.90
    min_spend_variation: float = 0.30
    min_holdout_r2: float = 0.5
    max_interval_ratio: float = 1.0
    min_weeks: int = 26
    lift_tests: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    random_state: int = 0


def adstock(x: np.ndarray, decay: float) -> np.ndarray:
    """Normalised geometric adstock along the first axis, starting at the first week's level."""
    out = np.empty_like(x, dtype=float)
    prev = x[0]
    for t in range(len(x)):
        prev = decay * prev + (1.0 - decay) * x[t]
        out[t] = prev
    return out


def hill(a: np.ndarray, half: float, shape: float) -> np.ndarray:
    """``a^S / (a^S + K^S)``, 0 at no spend."""
    a = np.maximum(a, 0.0)
    return a ** shape / (a ** shape + half ** shape)


@dataclass
class _Design:
    y: np.ndarray  # (T,)
    base: np.ndarray  # (T, B)
    media: np.ndarray  # (C, G, T): the transformed spend for every grid point
    spend: np.ndarray  # (T, C)


def _baseline(weeks: pd.DatetimeIndex, promo: np.ndarray, k: int) -> np.ndarray:
    t = np.arange(len(weeks), dtype=float)
    cols = [np.ones_like(t), t / max(len(t) - 1, 1)]
    for j in range(1, k + 1):
        ang = 2.0 * np.pi * j * t / YEAR_WEEKS
        cols += [np.sin(ang), np.cos(ang)]
    if np.ptp(promo) > 0:
        cols.append(promo)
    return np.column_stack(cols)


def _grid(settings: MmmSettings) -> list[tuple[float, float, float]]:
    return [(d, h, s) for d in settings.decays for h in settings.half_saturations
            for s in settings.shapes]


def _residualise(base: np.ndarray, *arrays: np.ndarray) -> list[np.ndarray]:
    """Each array (time on its last axis) minus its least-squares projection on `base`."""
    q, _ = np.linalg.qr(base)
    return [a - (a @ q) @ q.T for a in arrays]


@dataclass
class MmmResult:
    """A fitted mix model: `channels` (one row per channel: ROI and interval, curve, fit
    checks, verdict and reason), `fit` (model-level figures) and what the budget needs to
    evaluate a curve (`response`)."""

    channels: pd.DataFrame
    fit: dict
    scale: float
    params: dict[str, tuple[float, float, float, float]]  # channel -> (β, θ, K, S)

    def response(self, channel: str, weekly_spend: np.ndarray | float) -> np.ndarray:
        """Steady-state weekly outcome bought by a constant weekly spend on `channel`."""
        beta, _decay, half, shape = self.params[channel]
        return beta * self.scale * hill(np.asarray(weekly_spend, dtype=float), half, shape)

    def credible(self) -> list[str]:
        return list(self.channels.loc[self.channels["credible"], "channel"])


def weekly_frame(spend: pd.DataFrame, outcome: pd.DataFrame, promotions: pd.DataFrame | None,
                 as_of) -> pd.DataFrame:
    """The model's input, one row per complete week (Monday start) from the first week with
    spend to the last one that ended by `as_of`: `outcome`, `promo` (share of the week's days
    with a promotion running) and one column of spend per channel (0 when nothing was spent).

    `spend` has channel, week, spend; `outcome` week, outcome; `promotions` start, end."""
    if spend.empty:
        raise BadMmmData("no marketing spend before the as-of date: a mix model needs weekly "
                         "spend per channel (table marketing_spend)")
    wk = pd.to_datetime(spend["week"])
    first = wk.min() + pd.Timedelta(days=7)  # the first week may have started before the data
    last = pd.Timestamp(as_of).normalize() - pd.Timedelta(days=7)
    weeks = pd.date_range(first, last, freq="W-MON")
    if len(weeks) == 0:
        raise BadMmmData("no complete week of spend before the as-of date")
    x = spend.assign(week=wk).pivot_table(index="week", columns="channel", values="spend",
                                           aggfunc="sum").reindex(weeks).fillna(0.0)
    x = x.loc[:, x.sum() > 0]
    y = outcome.assign(week=pd.to_datetime(outcome["week"])).set_index("week")["outcome"] \
        .groupby(level=0).sum().reindex(weeks).fillna(0.0)
    promo = np.zeros(len(weeks))
    if promotions is not None and not promotions.empty:
        days = pd.date_range(weeks[0], weeks[-1] + pd.Timedelta(days=6), freq="D")
        on = np.zeros(len(days), dtype=bool)
        for s, e in zip(pd.to_datetime(promotions["start"]), pd.to_datetime(promotions["end"])):
            if pd.notna(s) and pd.notna(e):
                on |= (days >= s.normalize()) & (days <= e)
        promo = on.reshape(-1, 7).mean(axis=1)
    out = pd.DataFrame({"outcome": y.to_numpy(float), "promo": promo}, index=weeks)
    out.index.name = "week"
    return out.join(x)


def fit_mmm(frame: pd.DataFrame, settings: MmmSettings = MmmSettings()) -> MmmResult:
    """Fit the model on `weekly_frame`'s output (see the module docstring)."""
    channels = [c for c in frame.columns if c not in ("outcome", "promo")]
    T = len(frame)
    if T < settings.min_weeks:
        raise BadMmmData(f"{T} complete weeks of spend and outcome; a mix model needs at least "
                         f"{settings.min_weeks} (half a year) to separate media from seasons")
    if not channels:
        raise BadMmmData("no channel has spend in the weeks fitted")
    unknown = sorted(set(settings.lift_tests) - set(channels))
    if unknown:
        raise BadMmmData(f"lift test for channel(s) without spend: {', '.join(unknown)}")
    y_raw = frame["outcome"].to_numpy(float)
    scale = float(np.mean(np.abs(y_raw))) or 1.0
    y = y_raw / scale
    x = frame[channels].to_numpy(float)
    grid = _grid(settings)
    means = np.maximum(x.mean(axis=0), 1e-12)
    media = np.empty((len(channels), len(grid), T))
    for c in range(len(channels)):
        for g, (d, h, s) in enumerate(grid):
            media[c, g] = hill(adstock(x[:, c], d), h * means[c], s)
    base = _baseline(frame.index, frame["promo"].to_numpy(float), settings.fourier_terms)
    start = np.full(len(channels), grid.index((0.4, 1.0, 1.0))
                    if (0.4, 1.0, 1.0) in grid else 0)

    def calibration(rows: np.ndarray, sigma: float):
        # ROI of channel c per unit β at grid point g, over the rows fitted
        out = []
        for name, (roi, se) in settings.lift_tests.items():
            c = channels.index(name)
            per_beta = media[c][:, rows].sum(axis=1) * scale / max(x[rows, c].sum(), 1e-12)
            out.append((c, sigma / max(se, 1e-12), per_beta, roi))
        return out

    def fit_rows(rows: np.ndarray, init: np.ndarray, sweeps: int, sigma: float | None):
        yr, mr = _residualise(base[rows], y[rows], media[:, :, rows])
        calib = calibration(rows, sigma) if settings.lift_tests and sigma is not None else None
        return _select(yr, mr, init, sweeps, calib)

    every = np.arange(T)
    pick0, beta0, sse0 = fit_rows(every, start, 4, None)
    sigma = float(np.sqrt(sse0 / max(T - base.shape[1] - len(channels), 1)))
    if settings.lift_tests:
        pick0, beta0, sse0 = fit_rows(every, pick0, 4, sigma)

    def contributions(pick, beta, rows):
        return np.array([beta[c] * media[c, pick[c]][rows].sum() * scale
                         for c in range(len(channels))])

    spend_tot = x.sum(axis=0)
    contrib = contributions(pick0, beta0, every)
    roi = contrib / np.maximum(spend_tot, 1e-12)

    # out-of-time check: blocked cross-validation (Bergmeir & Benítez 2012): each of
    # `holdout_folds` contiguous stretches of weeks is predicted by a model fitted on the
    # others; a single stretch at the end would judge the model on whatever flights happened
    # to fall there. A week whose spend on some channel is beyond 1.25 × what the fit saw asks
    # the curve to extrapolate, which no data can check: such weeks are counted, not scored
    pred = np.empty(T)
    inside = np.ones(T, dtype=bool)
    folds = np.array_split(np.arange(T), settings.holdout_folds)
    for test in folds:
        train = np.setdiff1d(np.arange(T), test)
        pick_t, beta_t, _ = fit_rows(train, pick0, 2, sigma if settings.lift_tests else None)
        m_t = np.column_stack([media[c, pick_t[c]] for c in range(len(channels))]) @ beta_t
        alpha_t, *_ = np.linalg.lstsq(base[train], y[train] - m_t[train], rcond=None)
        pred[test] = (base @ alpha_t + m_t)[test] * scale
        inside[test] = (x[test] <= 1.25 * x[train].max(axis=0)).all(axis=1)
    actual, pred = y_raw[inside], pred[inside]
    ss_res = float(((actual - pred) ** 2).sum())
    ss_tot = float(((actual - actual.mean()) ** 2).sum())
    r2_holdout = 1.0 - ss_res / ss_tot if ss_tot > 0 else float("nan")
    nz = actual != 0
    mape = float(np.mean(np.abs((actual[nz] - pred[nz]) / actual[nz]))) if nz.any() \
        else float("nan")
    # moving-block bootstrap over weeks
    rng = np.random.default_rng(settings.random_state)
    L = max(1, min(settings.block_weeks, T))
    n_blocks = int(np.ceil(T / L))
    # a model that fails out of time can make no channel credible: its intervals would cost
    # the bulk of the run for nothing
    replicates = settings.bootstrap if r2_holdout >= settings.min_holdout_r2 else 0
    boots = np.full((replicates, len(channels)), np.nan)
    for b in range(replicates):
        starts = rng.integers(0, T - L + 1, n_blocks)
        rows = (starts[:, None] + np.arange(L)[None, :]).reshape(-1)[:T]
        pick, beta, _ = fit_rows(rows, pick0, 1, sigma if settings.lift_tests else None)
        c_b = contributions(pick, beta, rows)
        boots[b] = c_b / np.maximum(x[rows].sum(axis=0), 1e-12)
    alpha = (1.0 - settings.level) / 2.0
    if replicates > 0:
        lo, hi = np.nanquantile(boots, [alpha, 1.0 - alpha], axis=0)
    else:  # no interval asked for: nothing can pass the interval check
        lo = hi = np.full(len(channels), np.nan)

    # in-sample fit
    m0 = np.column_stack([media[c, pick0[c]] for c in range(len(channels))]) @ beta0
    alpha0, *_ = np.linalg.lstsq(base, y - m0, rcond=None)
    fitted = (base @ alpha0 + m0) * scale
    r2_in = 1.0 - float(((y_raw - fitted) ** 2).sum()) / float(
        ((y_raw - y_raw.mean()) ** 2).sum() or np.nan)

    # how much each channel's spend moved on its own (beyond trend, seasons, promotions)
    (xr,) = _residualise(base, x.T)
    variation = xr.std(axis=1) / means

    rows_out = []
    params = {}
    for c, ch in enumerate(channels):
        d, h, s = grid[pick0[c]]
        params[ch] = (float(beta0[c]), d, h * means[c], s)
        width = hi[c] - lo[c]
        ratio = width / roi[c] if roi[c] > 0 else float("inf")
        reason = ""
        if variation[c] < settings.min_spend_variation:
            reason = "spend_variation"
        elif not (r2_holdout >= settings.min_holdout_r2):
            reason = "holdout_fit"
        elif not ratio <= settings.max_interval_ratio:
            reason = "interval_width"
        rows_out.append({
            "channel": ch, "spend": float(spend_tot[c]), "contribution": float(contrib[c]),
            "roi": float(roi[c]), "roi_low": float(lo[c]), "roi_high": float(hi[c]),
            "interval_ratio": float(ratio), "spend_variation": float(variation[c]),
            "adstock_decay": d, "half_saturation": float(h * means[c]), "hill_shape": s,
            "max_weekly_outcome": float(beta0[c] * scale),
            "calibrated": ch in settings.lift_tests,
            "credible": reason == "", "reason": reason or None,
        })
    def num(v: float) -> float | None:
        # the summary is written as JSON, which has no NaN
        return round(float(v), 4) if np.isfinite(v) else None

    fit = {"weeks": T, "first_week": str(frame.index[0].date()),
           "last_week": str(frame.index[-1].date()), "r2_in_sample": num(r2_in),
           "r2_holdout": num(r2_holdout), "mape_holdout": num(mape),
           "holdout_folds": settings.holdout_folds,
           "holdout_weeks_extrapolated": int((~inside).sum()), "bootstrap": replicates,
           "level": settings.level,
           "thresholds": {"min_spend_variation": settings.min_spend_variation,
                          "min_holdout_r2": settings.min_holdout_r2,
                          "max_interval_ratio": settings.max_interval_ratio},
           "baseline_share": num(1.0 - float(contrib.sum()) / float(y_raw.sum() or np.nan))}
    return MmmResult(pd.DataFrame(rows_out), fit, scale, params)


def _select(yr: np.ndarray, mr: np.ndarray, start: np.ndarray, sweeps: int, calib=None
            ) -> tuple[np.ndarray, np.ndarray, float]:
    """Coordinate descent over each channel's grid point, on the residualised outcome `yr`
    (T,) and transforms `mr` (C, G, T); returns the grid choices, β ≥ 0 and the SSE. `calib`:
    lift-test pseudo-observations (channel, weight, ROI per unit β at each grid point,
    measured ROI)."""
    C = mr.shape[0]
    pick = start.copy()

    def solve(p):
        A, b = mr[np.arange(C), p].T, yr
        if calib:
            extra = np.zeros((len(calib), C))
            tgt = np.empty(len(calib))
            for i, (c, w, per_beta, r) in enumerate(calib):
                extra[i, c] = w * per_beta[p[c]]
                tgt[i] = w * r
            A, b = np.vstack([A, extra]), np.concatenate([b, tgt])
        beta, rnorm = nnls(A, b, maxiter=50 * max(C, 1))
        return beta, rnorm ** 2

    beta, sse = solve(pick)
    for _ in range(sweeps):
        changed = False
        for c in range(C):
            best_s, best_g, best_b = sse, pick[c], beta
            for g in range(mr.shape[1]):
                if g == pick[c]:
                    continue
                trial = pick.copy()
                trial[c] = g
                b_, s_ = solve(trial)
                if s_ < best_s - 1e-12:
                    best_s, best_g, best_b = s_, g, b_
            if best_g != pick[c]:
                changed = True
                sse, beta = best_s, best_b
                pick[c] = best_g
        if not changed:
            break
    return pick, beta, sse
