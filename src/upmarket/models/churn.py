"""Supervised churn early warning (the key-account strategy course): a probability that a customer makes no purchase
in the next `horizon_days`, the baseline it has to beat, and the signals behind each score.

Two estimators share one interface (`fit(frame, churned)`, `predict_proba(frame)`), both fed
the customer feature frame at a cut-off date (`features.customer.customer_features` joined with
`features.behaviour.purchase_rhythm`) and nothing later:

- `RfmBaseline`: a logistic regression on recency, frequency, order value, tenure and the mean
  gap between purchases (log1p, standardised). It is what an analyst would build in an
  afternoon, and the bar the model must clear on the holdout to be published.
- `ChurnClassifier`: gradient-boosted trees (scikit-learn's `HistGradientBoostingClassifier`)
  averaged in log-odds with the baseline (an equal-weight committee), on the purchase rhythm (recent counts over 30/90/180/365 days, gaps and their spread, days
  overdue against the customer's own rhythm and the spread of their gaps, spend and
  quarter-on-quarter purchase trends, distinct purchase days, a decayed purchase count, basket
  size, the returned share) plus the value model's P(alive) and
  expected purchases where they say something. Each feature whose effect has a known direction
  (more recent purchases never raise the risk, longer silence never lowers it) carries a
  monotonic constraint: the trees then cannot learn a noise-driven reversal, and a signal's
  direction agrees with the customer's own value.

`risk_signals` explains either estimator the same way (see its docstring).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from upmarket.errors import NotFitted
from upmarket.i18n import label
from upmarket.models.training_sample import SAMPLE_ROWS, TrainingSample, in_batches, stratified

BANDS = ((0.0, "low"), (0.3, "medium"), (0.6, "high"), (0.8, "critical"))

#: The model's inputs and the direction of their effect on churn risk: +1 never lowers it as
#: the value grows, −1 never raises it, 0 left to the data.
FEATURES = {
    "recency_days": +1, "overdue": +1, "gap_mean": +1, "gap_std": 0,
    "orders": -1, "order_value": 0, "net_revenue": -1, "tenure_days": 0,
    "purchases_30d": -1, "orders_recent": -1, "purchases_180d": -1, "purchases_365d": -1,
    "spend_trend": 0, "p_alive": -1, "expected_purchases_90d": -1,
    "discount_share": 0, "categories": 0, "complaints_180d": 0,
    # the customer's own regularity, quarter-on-quarter trend, breadth and basket: what an
    # analyst adds to RFM (see `engineer`); directions only where they cannot be argued away
    "gap_cv": 0, "gap_last": 0, "purchase_days": -1, "purchases_90d": -1,
    "purchases_prev_90d": 0, "quarter_trend": 0, "decayed_purchases": -1,
    "items_per_purchase": 0, "returns_share": 0,
}
#: The baseline's five inputs, all entering as log1p.
BASELINE_FEATURES = ("recency_days", "orders", "order_value", "tenure_days", "gap_mean")
#: Every column of a customer frame the estimators and `risk_signals` read (`engineer`,
#: `_agrees`, `_facts`): a caller may pass just these, and a frame of a million customers'
#: other columns need not be copied into the churn stage's frames.
INPUTS = tuple(dict.fromkeys((*FEATURES, "net_revenue", "orders", "spend_180d", "spend_prev_180d",
                              "reversed_amount", "gross_revenue", "purchases_180d",
                              "purchases_365d")))

#: P(alive) carries information only when a fair share of customers are not sure to be alive;
#: when the value model gives ≈ 1 to nearly everyone (one-time buyers always get 1 from the
#: BG/NBD) it only separates repeat buyers from the rest, which `orders` already does.
P_ALIVE_MIN_UNSURE_SHARE = 0.2

#: Signals, the features behind each, and the minimum rise in risk (probability points) for a
#: signal to be named.
SIGNALS = {
    "overdue": ("recency_days", "overdue", "gap_mean", "purchases_30d", "orders_recent",
                "p_alive", "expected_purchases_90d"),
    "few_purchases": ("orders", "purchases_365d", "net_revenue", "purchase_days",
                      "decayed_purchases"),
    "slowing": ("purchases_180d", "spend_trend", "purchases_90d", "purchases_prev_90d",
                "quarter_trend"),
    "small_orders": ("order_value", "items_per_purchase"),
    "irregular": ("gap_std", "gap_cv", "gap_last"),
    "returns": ("returns_share",),
    "new_customer": ("tenure_days",),
    "discounts": ("discount_share",),
    "complaints": ("complaints_180d",),
}
SIGNAL_MIN_RISE = 0.02
#: A recency signal needs real silence: this many days at least, and longer than the usual gap
#: by this factor.
OVERDUE_MIN_DAYS = 30
OVERDUE_FACTOR = 1.25


def engineer(frame: pd.DataFrame) -> pd.DataFrame:
    """The churn inputs from a customer feature frame (one row per customer at a cut-off).

    `order_value` is net revenue per order; `gap_mean` the mean days between purchase days
    (null for a single purchase day); `overdue` the days since the last purchase over that
    usual gap (3 = silent three times as long as usual); `spend_trend` the last 180 days' spend
    against the 180 before, in (−1, 1); `quarter_trend` the same for purchase days in the last
    90 days against the 90 before; `gap_cv` the spread of the customer's gaps over their mean
    (0 = clockwork, 1 = as irregular as a Poisson buyer); `returns_share` the share of gross
    spend later cancelled or returned, in [0, 1]. Columns absent from the frame stay absent."""
    f = frame
    out = pd.DataFrame(index=f.index)
    for c in FEATURES:
        if c in f:
            out[c] = pd.to_numeric(f[c], errors="coerce").astype(float)
    if "orders" in f and "net_revenue" in f:
        out["order_value"] = (f["net_revenue"] / f["orders"].where(f["orders"] > 0)).astype(float)
    if "tenure_days" in out and "recency_days" in out:
        # buyers without product lines (postage only) have no behaviour row
        out["tenure_days"] = out["tenure_days"].fillna(out["recency_days"])
    if "gap_mean" in out and "recency_days" in out:
        out["overdue"] = out["recency_days"] / out["gap_mean"].clip(lower=1.0)
    if {"spend_180d", "spend_prev_180d"} <= set(f.columns):
        a, b = f["spend_180d"].astype(float).clip(lower=0), f["spend_prev_180d"].astype(float).clip(lower=0)
        out["spend_trend"] = (a - b) / (a + b + 1.0)
    if "gap_std" in out and "gap_mean" in out:
        out["gap_cv"] = out["gap_std"] / out["gap_mean"].clip(lower=1.0)
    if "purchases_90d" in out and "purchases_prev_90d" in out:
        a, b = out["purchases_90d"].clip(lower=0), out["purchases_prev_90d"].clip(lower=0)
        out["quarter_trend"] = (a - b) / (a + b + 1.0)
    if {"reversed_amount", "gross_revenue"} <= set(f.columns):
        # reversals are stored as negative amounts (net = gross + reversed)
        gross = f["gross_revenue"].astype(float)
        out["returns_share"] = (-f["reversed_amount"].astype(float).fillna(0.0)
                                / gross.where(gross > 0)).clip(0.0, 1.0)
    return out


def p_alive_informative(p_alive) -> bool:
    """Whether P(alive) says anything beyond the purchase counts: known for most customers and
    clearly below 1 for at least `P_ALIVE_MIN_UNSURE_SHARE` of them. NaN means absent."""
    p = pd.Series(p_alive, dtype=float)
    known = p.notna()
    if known.mean() < 0.5:
        return False
    return bool((p[known] < 0.95).mean() >= P_ALIVE_MIN_UNSURE_SHARE and p[known].std() > 0.01)


def _labels(churned) -> np.ndarray:
    y = np.asarray(churned, int)
    if len(y) == 0 or y.min() == y.max():
        raise ValueError("churn labels have a single class: the training window is too short")
    return y


class _Fitted:
    #: training rows above which the model trains on a stratified sample of this many
    #: (`models.training_sample`); None: always every row
    sample_rows: int | None = SAMPLE_ROWS

    def _sample(self, frame: pd.DataFrame, y: np.ndarray) -> tuple[pd.DataFrame, np.ndarray]:
        self.sample_: TrainingSample = stratified(y, self.sample_rows)
        if not self.sample_.sampled:
            return frame, y
        return frame.iloc[self.sample_.rows], y[self.sample_.rows]

    def _check(self):
        if not hasattr(self, "features_"):
            raise NotFitted(f"{type(self).__name__} is not fitted: call fit(features, labels) first")

    def _remember_reference(self, x: pd.DataFrame, y: np.ndarray) -> None:
        # the customer a signal is measured against: the median of those who did buy again
        kept = x[y == 0] if (y == 0).any() else x
        self.reference_ = kept.median(numeric_only=True)


class RfmBaseline(_Fitted):
    """Logistic regression on log1p of recency, orders, order value, tenure and mean gap
    between purchases, standardised. A single purchase day has no gap yet: it counts as its
    tenure, the least the gap can be."""

    def __init__(self, C: float = 1.0, max_iter: int = 1000,
                 sample_rows: int | None = SAMPLE_ROWS):
        self.C = C
        self.max_iter = max_iter
        self.sample_rows = sample_rows

    def _matrix(self, x: pd.DataFrame) -> np.ndarray:
        m = x.reindex(columns=BASELINE_FEATURES).copy()
        m["gap_mean"] = m["gap_mean"].fillna(m["tenure_days"])
        m = m.fillna(self.fill_)
        return np.log1p(m.clip(lower=0).to_numpy(float))

    def fit(self, frame: pd.DataFrame, churned) -> RfmBaseline:
        frame, y = self._sample(frame, _labels(churned))
        x = engineer(frame)
        self.features_ = BASELINE_FEATURES
        self.fill_ = x.reindex(columns=BASELINE_FEATURES).median().fillna(0.0)
        z = self._matrix(x)
        self.scaler_ = StandardScaler().fit(z)
        self.model_ = LogisticRegression(C=self.C, max_iter=self.max_iter)
        self.model_.fit(self.scaler_.transform(z), y)
        self._remember_reference(x.reindex(columns=BASELINE_FEATURES), y)
        return self

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        self._check()
        return in_batches(lambda part: self._proba(engineer(part)), frame)

    def _proba(self, x: pd.DataFrame) -> np.ndarray:
        return self.model_.predict_proba(self.scaler_.transform(self._matrix(x)))[:, 1]


class ChurnClassifier(_Fitted):
    """Gradient-boosted trees with monotonic constraints (`FEATURES`) on the churn inputs.

    The trees' log-odds are averaged with those of an `RfmBaseline` fitted on the same rows.
    Why: the trees add interactions and the rhythm features, but on a few thousand customers
    they approximate the smooth recency/frequency curve by steps and lose ranking to the
    logistic (holdout AUC .680 against .699 on the Online Retail sample); the average keeps
    the smooth curve and the trees' additions (equal weights, not tuned: a weight chosen on
    the holdout would make the holdout comparison with the baseline optimistic).

    Features that are constant, or P(alive) and expected purchases when P(alive) is not
    informative (`p_alive_informative`), are left out at fit time. Missing values (no gap for a
    single purchase) are handled by the trees' own missing-value branches. Shallow trees, a
    minimum leaf size and L2 regularisation keep it from memorising one time window.
    """

    def __init__(self, learning_rate: float = 0.05, max_iter: int = 150, max_leaf_nodes: int = 8,
                 min_samples_leaf: int = 50, l2_regularization: float = 1.0,
                 random_state: int = 0, blend_baseline: bool = True,
                 sample_rows: int | None = SAMPLE_ROWS):
        self.sample_rows = sample_rows
        self.blend_baseline = blend_baseline
        self.learning_rate = learning_rate
        self.max_iter = max_iter
        self.max_leaf_nodes = max_leaf_nodes
        self.min_samples_leaf = min_samples_leaf
        self.l2_regularization = l2_regularization
        self.random_state = random_state

    def fit(self, frame: pd.DataFrame, churned) -> ChurnClassifier:
        # the trees and the baseline blended with them train on the same rows
        frame, y = self._sample(frame, _labels(churned))
        x = engineer(frame)
        use_p_alive = "p_alive" in x and p_alive_informative(x["p_alive"])
        self.features_ = tuple(
            c for c in FEATURES if c in x and x[c].notna().any() and x[c].nunique() > 1
            and (use_p_alive or c not in ("p_alive", "expected_purchases_90d")))
        if not self.features_:
            raise ValueError("no churn feature varies across customers")
        self.model_ = HistGradientBoostingClassifier(
            learning_rate=self.learning_rate, max_iter=self.max_iter,
            max_leaf_nodes=self.max_leaf_nodes,
            min_samples_leaf=min(self.min_samples_leaf, max(5, len(y) // 20)),
            l2_regularization=self.l2_regularization, random_state=self.random_state,
            monotonic_cst=[FEATURES[c] for c in self.features_])
        # one OpenMP thread, as in `models.ml_value`: on a 2-core machine with anything else
        # running, the trees' spinning threads wait on each other (measured on 20,000 rows:
        # 0.38 s with one thread, 13.3 s with two; at 200,000 rows 2.5 s against 4.3 s)
        with threadpool_limits(limits=1, user_api="openmp"):
            self.model_.fit(x[list(self.features_)], y)
        self.baseline_ = RfmBaseline(sample_rows=None).fit(frame, y) \
            if self.blend_baseline else None
        cols = list(dict.fromkeys(self.features_ + (BASELINE_FEATURES if self.blend_baseline
                                                    else ())))
        self._remember_reference(x.reindex(columns=cols), y)
        return self

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        self._check()
        return in_batches(lambda part: self._proba(engineer(part)), frame)

    def _proba(self, x: pd.DataFrame) -> np.ndarray:
        with threadpool_limits(limits=1, user_api="openmp"):  # see fit
            p = self.model_.predict_proba(x.reindex(columns=list(self.features_)))[:, 1]
        if self.baseline_ is None:
            return p
        return _expit((_logit(p) + _logit(self.baseline_._proba(x))) / 2.0)


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-9, 1 - 1e-9)
    return np.log(p / (1 - p))


def _expit(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def risk_signals(model: RfmBaseline | ChurnClassifier, frame: pd.DataFrame, top: int = 3,
                 *, risk: np.ndarray | None = None) -> pd.DataFrame:
    """What raises each customer's risk, as signal codes (`SIGNALS`) with the rise in risk.

    Method: a counterfactual per signal. For each signal, the features behind it are set to
    the reference customer's values (the median of training customers who did buy again) and
    the risk is predicted again; the signal's contribution is the customer's risk minus that
    counterfactual risk, in probability points. It is chosen over the trees' split gains or a
    sampled Shapley value because it is exact for any estimator (both the model and the
    baseline are explained the same way), costs one prediction per signal, and answers the
    question a CRM manager asks: how much lower would this customer's risk be if they behaved
    like a typical retained customer in this respect? (It is the "baseline Shapley" value of a
    single feature group, Sundararajan & Najmi 2020, "The many Shapley values for model
    explanation", ICML, eq. 4 with one player.)

    A signal is kept only when it raises the risk by at least `SIGNAL_MIN_RISE` *and* the
    customer's own value points the same way, so nobody who bought last week hears "long time
    since last purchase": `overdue` needs `OVERDUE_MIN_DAYS` of silence and more than
    `OVERDUE_FACTOR` × the usual gap; `few_purchases` fewer orders than the reference (two at least: a single one is
    worded by `overdue`);
    `slowing` fewer purchases (or less spend) in the last 180 days than in the 180 before,
    for repeat buyers;
    `small_orders`, `new_customer` values below the reference; `irregular`, `discounts` above
    it; `returns` a returned share above the reference and above zero; `complaints` at least
    one.

    Returns one row per customer: `codes` (list, strongest first) and `rise` (list of the
    matching rises in risk), plus the customer's values the words quote.

    `risk`: `model.predict_proba(frame)` when the caller has it already (the prediction is
    row by row, so it is the same numbers, and the whole base's prediction is not made twice).
    """
    model._check()
    x = engineer(frame)
    if risk is not None and len(risk) != len(frame):
        raise ValueError(f"risk has {len(risk)} values for {len(frame)} customers")
    base = model._proba(x) if risk is None else np.asarray(risk, float)
    ref = model.reference_
    allowed = _agrees(x, ref, frame)
    rises = {}
    for code, cols in SIGNALS.items():
        cols = [c for c in cols if c in ref.index and c in x]
        if not cols:
            continue
        # a rise is only ever kept where the customer's own value agrees with the signal, so
        # the counterfactual is predicted for those customers alone (each prediction is per
        # row: the others' would be computed and thrown away)
        rows = allowed[code].to_numpy(bool) if code in allowed else np.zeros(len(x), bool)
        rise = np.full(len(x), np.nan)
        if rows.any():
            alt = x.loc[rows].copy()
            for c in cols:
                alt[c] = ref[c]
            if "overdue" in cols and "recency_days" in alt and "gap_mean" in alt:
                alt["overdue"] = alt["recency_days"] / alt["gap_mean"].clip(lower=1.0)
            rise[rows] = base[rows] - model._proba(alt)
        rises[code] = rise
    rise = pd.DataFrame(rises, index=frame.index)
    ok = (rise > SIGNAL_MIN_RISE) & allowed.reindex(columns=rise.columns, fill_value=False)
    r = rise.where(ok).to_numpy()
    names = np.array(rise.columns)
    # strongest first (a stable sort: equal rises keep the order of SIGNALS), at most `top`
    order = np.argsort(-np.nan_to_num(r, nan=-1.0), axis=1, kind="stable")
    ranked = np.take_along_axis(r, order, axis=1)
    shown = np.isfinite(ranked)
    shown &= np.cumsum(shown, axis=1) <= top
    codes = [names[o[k]].tolist() for o, k in zip(order, shown)]
    values = [v[k].tolist() for v, k in zip(ranked, shown)]
    out = pd.DataFrame({"codes": codes, "rise": values}, index=frame.index)
    return pd.concat([out, _facts(x, frame)], axis=1)


def _agrees(x: pd.DataFrame, ref: pd.Series, frame: pd.DataFrame) -> pd.DataFrame:
    """Per customer and signal: does the customer's own value point towards more risk?"""
    def col(c):
        return x[c] if c in x else pd.Series(np.nan, index=x.index)

    def below(c):
        return col(c) < ref.get(c, np.nan)

    def above(c):
        return col(c) > ref.get(c, np.nan)

    recency, gap = col("recency_days"), col("gap_mean")
    usual = gap.where(gap.notna(), 0.0)
    recent = frame["purchases_180d"] if "purchases_180d" in frame else col("orders_recent")
    before = frame["purchases_365d"] - recent if "purchases_365d" in frame \
        else pd.Series(np.nan, index=x.index)
    spend_down = col("spend_trend") < -0.2
    return pd.DataFrame({
        "overdue": (recency >= OVERDUE_MIN_DAYS) & (recency > OVERDUE_FACTOR * usual),
        # a single purchase is said by `overdue` ("one purchase only, … days ago") already
        "few_purchases": below("orders") & (col("orders") >= 2),
        "slowing": ((recent < before) | spend_down) & (col("orders") >= 2),
        "small_orders": below("order_value"),
        "irregular": above("gap_std"),
        "new_customer": below("tenure_days"),
        "discounts": above("discount_share"),
        "returns": above("returns_share") & (col("returns_share") > 0),
        "complaints": col("complaints_180d") >= 1,
    }, index=x.index).fillna(False).astype(bool)


def _facts(x: pd.DataFrame, frame: pd.DataFrame) -> pd.DataFrame:
    get = lambda f, c: f[c].astype(float) if c in f else pd.Series(np.nan, index=f.index)  # noqa: E731
    recent = get(frame, "purchases_180d")
    return pd.DataFrame({
        "recency_days": get(x, "recency_days"), "gap_mean": get(x, "gap_mean"),
        "orders": get(x, "orders"), "tenure_days": get(x, "tenure_days"),
        "order_value": get(x, "order_value"), "gap_std": get(x, "gap_std"),
        "recent_180d": recent, "before_180d": get(frame, "purchases_365d") - recent,
        "spend_180d": get(frame, "spend_180d"), "spend_prev_180d": get(frame, "spend_prev_180d"),
        "discount_share": get(x, "discount_share"), "complaints": get(x, "complaints_180d"),
        "returns_share": get(x, "returns_share"),
    }, index=x.index)


def _one(code: str, f, lang: str, say=None) -> str:
    say = say or (lambda key, **fmt: label(key, lang, **fmt))
    n = lambda v: f"{v:,.0f}" if math.isfinite(v) else "?"  # noqa: E731
    if code == "overdue":
        if math.isfinite(f.gap_mean):
            return say("signal.overdue", days=n(f.recency_days), gap=n(f.gap_mean))
        return say("signal.overdue_once", days=n(f.recency_days))
    if code == "few_purchases":
        return say("signal.few_purchases", orders=n(f.orders),
                   months=n(max(f.tenure_days, 0) / 30.4375))
    if code == "slowing":
        if math.isfinite(f.before_180d) and f.recent_180d < f.before_180d:
            return say("signal.slowing", recent=n(f.recent_180d), before=n(f.before_180d))
        return say("signal.spend_down", recent=n(f.spend_180d), before=n(f.spend_prev_180d))
    if code == "small_orders":
        return say("signal.small_orders", value=f"{f.order_value:,.2f}")
    if code == "irregular":
        return say("signal.irregular", std=n(f.gap_std), gap=n(f.gap_mean))
    if code == "new_customer":
        return say("signal.new_customer", days=n(f.tenure_days))
    if code == "discounts":
        return say("signal.discounts", share=f"{f.discount_share:.0%}")
    if code == "returns":
        return say("signal.returns", share=f"{f.returns_share:.0%}")
    return say("signal.complaints", n=n(f.complaints))


def signal_words(signals: pd.DataFrame, lang: str = "en") -> list[str]:
    """Each customer's signals in plain words with their own values, joined by "; " (en) or
    "；" (zh-CN); empty when nothing raises the risk."""
    sep = "；" if lang.lower().startswith("zh") else "; "
    # each wording looked up once, not once per customer: a catalogue look-up costs more than
    # the formatting, and a run words every customer in two languages
    templates: dict[str, str] = {}

    def say(key: str, **fmt) -> str:
        if key not in templates:
            templates[key] = label(key, lang)
        return templates[key].format(**fmt)

    return [sep.join(_one(c, f, lang, say) for c in f.codes) for f in signals.itertuples()]


def signal_text(en, zh, lang: str = "en") -> str:
    """A customer's published signals (`churn_signals`, `churn_signals_zh`) in `lang`; the
    English words where the Chinese ones are missing; "" for none."""
    text = zh if lang.lower().startswith("zh") and isinstance(zh, str) and zh else en
    return text.strip() if isinstance(text, str) else ""


def risk_band(p: np.ndarray) -> np.ndarray:
    """low < 0.3 ≤ medium < 0.6 ≤ high < 0.8 ≤ critical."""
    cuts = [b for b, _ in BANDS[1:]]
    names = np.array([n for _, n in BANDS])
    return names[np.searchsorted(cuts, np.asarray(p, float), side="right")]
