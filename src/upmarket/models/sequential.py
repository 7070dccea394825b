"""Always-valid inference for experiments read while they run, multiplicity control across the
experiments read together, and CUPED variance reduction.

**Why sequential.** Every run and every `upmarket experiments` re-reads live campaigns. A
fixed-horizon test read at each of ten weekly looks declares about one A/A test in five
significant (Armitage, McPherson & Rowe 1969, J. R. Stat. Soc. A 132:235–244); the p-values here
stay valid whenever they are read.

**Mixture SPRT** (Robbins 1970; Johari, Koomen, Pekelis & Walsh 2017, "Peeking at A/B tests",
KDD, §4; Johari, Pekelis & Walsh 2022, "Always valid inference", Oper. Res. 70:1806–1821). For a
difference θ estimated by θ̂ with variance V (normal approximation, as the fixed tests use),
mixing the likelihood ratio of θ against 0 over θ ~ N(0, τ²) gives

    Λ = √(V / (V + τ²)) · exp(τ² θ̂² / (2 V (V + τ²))).

Λ is a non-negative martingale under θ = 0 with mean 1, so by Ville's inequality
P(Λ ever ≥ 1/α) ≤ α: the always-valid p-value min(1, 1/Λ) is ≤ α with probability at most α at
*any* stopping time, including "whenever somebody looks". Inverting the test for each θ₀ gives
the always-valid interval

    θ̂ ± √( V (V + τ²) / τ² · (log((V + τ²) / V) − 2 log α) ).

τ is the size of effect the test is tuned to find; the mixture is a prior over effects and the
test has most power for effects near τ (Johari et al. 2017 §4.3). We average the mixtures of
τ = 1, 2, 4 … 32 times the minimum detectable effect the user states (`--mde`, 10 % of the
control's rate by default, in the arm's own units): an average of test martingales is one.

**Multiplicity.** Experiments read together are a family: Holm's step-down (Holm 1979, Scand.
J. Stat. 6:65–70) controls the chance of any false "significant" at α under any dependence;
Benjamini–Hochberg (1995, J. R. Stat. Soc. B 57:289–300) controls the expected share of false
discoveries instead, the usual choice for a portfolio of campaigns and the one Johari et al. 2017
(§5) pair with always-valid p-values; it is the default. Both take valid p-values, which
always-valid p-values are at any look.

**CUPED** (Deng, Xu, Kohavi & Walker 2013, "Improving the sensitivity of online controlled
experiments by utilizing pre-experiment data", WSDM): with a pre-period covariate X (spend before
the test), Y − θ(X − E X), θ = cov(Y, X) / var(X) pooled over both arms, has the same difference
in means and variance var(Y)(1 − ρ²). θ is estimated on the pooled data, which randomisation
keeps independent of the arm.
"""

from __future__ import annotations

import math

import numpy as np

MULTIPLICITY = ("holm", "bh", "none")


#: The mixture's scales, as multiples of the effect the user says matters: one scale tuned to
#: the minimum detectable effect finds it best but is slow to call an effect ten times larger
#: (a prior that small doubts large effects); an equal-weight average of test martingales is a
#: test martingale, so spreading the prior over 1×…32× keeps the guarantee and costs at most a
#: factor of six in the evidence needed for an effect exactly at the MDE.
SCALES = (1.0, 2.0, 4.0, 8.0, 16.0, 32.0)


def _log_lr(distance: float, variance: float, taus: tuple[float, ...]) -> float:
    """log of the averaged mixture likelihood ratio at θ̂ − θ₀ = `distance` (plain floats: it
    is evaluated some sixty times per interval, for six scales)."""
    terms = [0.5 * math.log(variance / (variance + t * t))
             + t * t * distance * distance / (2 * variance * (variance + t * t)) for t in taus]
    top = max(terms)
    return top + math.log(sum(math.exp(v - top) for v in terms) / len(terms))


def msprt(difference: float, variance: float, tau: float, alpha: float = 0.05
          ) -> tuple[float, float, float]:
    """(always-valid p-value, interval low, interval high) for a difference with `variance`;
    the mixture averages the normal mixtures of scale `tau` × :data:`SCALES` (see the module
    docstring for the formula and sources). The interval holds the θ₀ the test does not
    reject at `alpha`, found by bisection (the ratio grows with |θ̂ − θ₀|)."""
    if not (math.isfinite(difference) and math.isfinite(variance) and math.isfinite(tau)) \
            or variance < 0 or tau <= 0:
        return math.nan, math.nan, math.nan
    if variance == 0:
        exact = 1.0 if difference == 0 else 0.0
        return exact, difference, difference
    taus = tuple(tau * k for k in SCALES)
    log_lr = _log_lr(difference, variance, taus)
    p = min(1.0, math.exp(-log_lr)) if log_lr > 0 else 1.0
    hi = _reach(_log_lr, variance, taus, -math.log(alpha))
    return p, difference - hi, difference + hi


def _reach(log_lr, variance: float, taus: tuple[float, ...], target: float) -> float:
    """The distance from the estimate at which `log_lr` (growing with it) reaches `target`:
    the half-width of an always-valid interval or the reach of its one-sided bound, by
    bisection to 2^-32 of the bracket, far below any digit a report shows."""
    lo, hi = 0.0, math.sqrt(variance)
    while log_lr(hi, variance, taus) < target:
        hi *= 2
    for _ in range(32):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if log_lr(mid, variance, taus) < target else (lo, mid)
    return hi


def _log_phi(z: float) -> float:
    """log Φ(z) for a plain float: through erfc, and far in the lower tail (where erfc
    underflows) its asymptotic series, exact to the digits a bound needs."""
    if z > -30:
        return math.log(0.5 * math.erfc(-z / math.sqrt(2)))
    return -0.5 * z * z - math.log(-z) - 0.5 * math.log(2 * math.pi) + math.log1p(-1 / (z * z))


def _log_lr_below(distance: float, variance: float, taus: tuple[float, ...]) -> float:
    """log of the one-sided normal mixture likelihood ratio at θ₀ − θ̂ = `distance` (the
    alternatives θ₀ − u below θ₀, u ~ half-normal of each scale in `taus`), averaged over
    the scales."""
    terms = []
    for t in taus:
        r = t * t
        z = distance * t / math.sqrt(variance * (variance + r))
        terms.append(math.log(2.0) + 0.5 * math.log(variance / (variance + r))
                     + r * distance * distance / (2 * variance * (variance + r))
                     + _log_phi(z))
    top = max(terms)
    return top + math.log(sum(math.exp(v - top) for v in terms) / len(terms))


def msprt_upper(difference: float, variance: float, tau: float, alpha: float = 0.05,
                null: float = 0.0) -> tuple[float, float]:
    """(always-valid p-value of "θ ≥ `null`", always-valid upper bound of θ) for a difference
    with `variance`: the one-sided normal mixture (Robbins 1970; Howard, Ramdas, McAuliffe &
    Sekhon 2021, "Time-uniform, nonparametric, nonasymptotic confidence sequences", Ann.
    Stat. 49:1055–1080, the one-sided normal mixture boundary of their §3). Mixing the
    likelihood ratio of θ₀ − u against θ₀ over u ~ half-normal(τ) gives, at x = θ₀ − θ̂,

        Λ = 2 √(V / (V + τ²)) · exp(τ² x² / (2 V (V + τ²))) · Φ(x τ / √(V (V + τ²))),

    a non-negative martingale of mean 1 under θ = θ₀ and a supermartingale under any
    θ > θ₀, so by Ville's inequality min(1, 1/Λ) is a valid p-value of the composite "θ ≥ θ₀"
    at any stopping time. Only an estimate below θ₀ counts against it: at the same level its
    bound lies nearer the estimate than the upper end of the two-sided interval (`msprt`),
    since none of the evidence is spent on the other side (about log 2 less is needed). As
    in `msprt`, τ = `tau` × :data:`SCALES`, averaged. The bound is the largest θ₀ not
    rejected at `alpha`, found by bisection (Λ grows with x)."""
    if not (math.isfinite(difference) and math.isfinite(variance) and math.isfinite(tau)
            and math.isfinite(null)) or variance < 0 or tau <= 0:
        return math.nan, math.nan
    if variance == 0:
        return (0.0 if difference < null else 1.0), difference
    taus = tuple(tau * k for k in SCALES)
    log_lr = _log_lr_below(null - difference, variance, taus)
    p = min(1.0, math.exp(-log_lr)) if log_lr > 0 else 1.0
    return p, difference + _reach(_log_lr_below, variance, taus, -math.log(alpha))


def adjust(p_values, method: str = "holm") -> np.ndarray:
    """Adjusted p-values for a family: `holm` (family-wise error), `bh` (false discovery rate)
    or `none`. NaN stays NaN and is not counted in the family."""
    if method not in MULTIPLICITY:
        raise ValueError(f"multiplicity must be one of {', '.join(MULTIPLICITY)}, not {method!r}")
    p = np.asarray(p_values, float)
    out = np.full(p.shape, np.nan)
    ok = np.isfinite(p)
    m = int(ok.sum())
    if m == 0 or method == "none":
        out[ok] = p[ok]
        return out
    q = p[ok]
    order = np.argsort(q, kind="stable")
    ranked = q[order]
    if method == "holm":
        steps = np.maximum.accumulate((m - np.arange(m)) * ranked)
    else:
        steps = np.minimum.accumulate((m / np.arange(m, 0, -1) * ranked[::-1]))[::-1]
    adjusted = np.empty(m)
    adjusted[order] = np.minimum(steps, 1.0)
    out[ok] = adjusted
    return out


def cuped(y, x) -> tuple[np.ndarray, float]:
    """(Y adjusted by the pre-period covariate X, θ); θ = cov(Y, X)/var(X) over all users of
    both arms, 0 when X does not vary."""
    y = np.asarray(y, float)
    x = np.asarray(x, float)
    vx = float(np.var(x))
    theta = float(np.mean((x - x.mean()) * (y - y.mean())) / vx) if vx > 0 else 0.0
    return y - theta * (x - x.mean()), theta
