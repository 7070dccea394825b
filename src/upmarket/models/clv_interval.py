"""How sure a customer's CLV is: an interval around the run's point estimate, drawn from the
posterior of the fitted value model given that customer's own history.

For one customer with x repeat purchases, the last at t_x, observed for T (model time units):

- alive now with the run's P(alive);
- BG/NBD (Fader, Hardie & Lee 2005, "Counting your customers the easy way", §2 and eq. 7):
  given alive, λ ~ Gamma(r + x, α + T) and the dropout chance after each purchase
  p ~ Beta(a, b + x) (x purchases survived); MBG/NBD (Batislam, Denizel & Filiztekin 2007,
  §2) also drops out at time zero, so p ~ Beta(a, b + x + 1). Dropout happens only right after
  a purchase, so the purchases in the next H units are min(Poisson(λH), K) with
  K ~ Geometric(p) the purchase after which the customer leaves (inclusive);
- Pareto/NBD (Schmittlein, Morrison & Colombo 1987, §2; Fader, Hardie & Lee 2005 "A note on
  deriving the Pareto/NBD model", eq. 18): given alive, λ ~ Gamma(r + x, α + T),
  μ ~ Gamma(s, β + T), the remaining lifetime is Exponential(μ) and the purchases are
  Poisson(λ · min(H, lifetime));
- spend per purchase, Gamma-Gamma (Fader, Hardie & Lee 2005, "RFM and CLV", §4; Fader &
  Hardie 2013, "The Gamma-Gamma model of monetary value", eq. 4): ν | x, m̄ ~
  Gamma(q + p·x, v + x·m̄) and the sum of N purchases given ν is Gamma(N·p, ν); with the
  empirical spend model the expected order value is used as it is.

The draws give the distribution of the customer's future spend relative to its mean; the
interval is the run's CLV (which is discounted and net of margin) times the 10th and 90th
percentiles of that ratio, so it sits around the published figure and scales with it (the
recency t_x enters through P(alive) alone: given alive, the posteriors above do not depend on
it). A
model without a posterior per customer (the empirical rate) gives no interval, with a reason.
Draws come from a generator seeded by the customer id: the same run gives the same interval.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import numpy as np

#: Central 80 %: wide enough to be honest about one person's future, narrow enough to act on.
LEVEL = 0.8
DRAWS = 4000
#: Model time units (the value model's `unit`, weeks by default) in a month.
UNITS_PER_MONTH = {"D": 365.25 / 12, "W": 365.25 / 12 / 7, "M": 1.0}


@dataclass(frozen=True)
class Interval:
    low: float | None
    high: float | None
    level: float = LEVEL
    #: Why there is no interval (`no_posterior`, `no_value`), else None.
    missing: str | None = None


def _rng(customer_id: str) -> np.random.Generator:
    digest = hashlib.sha256(customer_id.encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "big"))


def purchase_draws(rng: np.random.Generator, transactions: str, prm: dict, *, frequency: float,
                   T: float, p_alive: float | None, horizon: float, draws: int = DRAWS
                   ) -> np.ndarray:
    """Draws of the customer's purchases in the next `horizon` model time units from the
    posterior of `transactions` (bgnbd, mbgnbd or pnbd) with parameters `prm`."""
    x, T = max(float(frequency), 0.0), max(float(T), 1e-9)
    alive_p = 1.0 if p_alive is None or not math.isfinite(p_alive) else min(max(p_alive, 0.0), 1.0)
    alive = rng.random(draws) < alive_p
    lam = rng.gamma(prm["r"] + x, 1.0 / (prm["alpha"] + T), draws)
    if transactions == "pnbd":
        mu = rng.gamma(prm["s"], 1.0 / (prm["beta"] + T), draws)
        life = rng.exponential(1.0 / np.maximum(mu, 1e-12))
        n = rng.poisson(lam * np.minimum(horizon, life))
    else:
        extra = 1.0 if transactions == "mbgnbd" else 0.0
        p = rng.beta(prm["a"], prm["b"] + x + extra, draws)
        n = np.minimum(rng.poisson(lam * horizon), rng.geometric(np.clip(p, 1e-12, 1.0)))
    return np.where(alive, n, 0)


def clv_interval(customer_id: str, clv: float, *, frequency: float, T: float,
                 monetary: float, p_alive: float | None, order_value: float,
                 transactions: str, transaction_params: dict, spend: str, spend_params: dict,
                 horizon_months: int = 12, unit: str = "W", draws: int = DRAWS) -> Interval:
    """The `LEVEL` interval of a customer's CLV (see the module docstring)."""
    if clv is None or not math.isfinite(clv):
        return Interval(None, None, missing="no_value")
    prm = transaction_params or {}
    if transactions not in ("bgnbd", "mbgnbd", "pnbd") or "r" not in prm:
        return Interval(None, None, missing="no_posterior")
    rng = _rng(customer_id)
    x = max(float(frequency), 0.0)
    n = purchase_draws(rng, transactions, prm, frequency=x, T=T, p_alive=p_alive,
                       horizon=horizon_months * UNITS_PER_MONTH[unit], draws=draws)
    if spend == "gamma_gamma" and {"p", "q", "v"} <= (spend_params or {}).keys():
        sp = spend_params
        m = float(monetary) if x > 0 and monetary and monetary > 0 else 0.0
        xs = x if m > 0 else 0.0
        nu = rng.gamma(sp["q"] + sp["p"] * xs, 1.0 / (sp["v"] + xs * m), draws)
        value = np.where(n > 0, rng.gamma(np.maximum(n, 1) * sp["p"], 1.0 / nu), 0.0)
    else:
        value = n * float(order_value)
    mean = float(value.mean())
    if mean <= 0:
        return Interval(0.0, 0.0)
    tail = (1 - LEVEL) / 2
    lo, hi = np.quantile(value / mean, [tail, 1 - tail])
    return Interval(float(clv * lo), float(clv * hi))
