"""Customer risk: indicators with thresholds, and the risk register (the key-account strategy course's risk table:
credit, concentration, operational and reputation risk; the marketing-plan framework's "潜在风险预警清单" — risk
levels, impact, monitoring thresholds, response plans; the upward-marketing guide's premium churn above 30 %).

Indicators (window, default thresholds medium / high — all in :class:`RiskThresholds`):

* **Concentration** — over the last 365 days of net revenue: the top 1 % of customers' share
  (30 % / 50 %), the top 10 customers' share (20 % / 40 %), the Herfindahl–Hirschman index of
  customer shares and of industry shares, HHI = Σ (100 · sᵢ)² on the 0–10,000 scale, with the
  U.S. DOJ/FTC *Horizontal Merger Guidelines* (2010, §5.3) cut-offs 1,500 (moderately) and
  2,500 (highly concentrated).
* **Credit** — from `payments`: the share of open receivables past due (10 % / 25 %) and the
  share of invoiced customers in credit grade D or E (5 % / 15 %). The grade rule is in
  :class:`CreditPolicy`.
* **Operational** — over the last 90 days: tickets whose first response took longer than the
  customer's tier allows (1 h / 4 h / 24 h / 48 h, `strategy.tiers.ServiceLevel`; 10 % / 25 %),
  orders delivered after the promised date or still not delivered (5 % / 10 %), complaints per
  100 paid orders (1 / 3).
* **Reputation** — over the last 90 days of feedback: detractors' share of NPS answers (0–6;
  25 % / 40 %), the NPS itself (below 50 — the upward-marketing guide's target — / below 0), the share of
  feedback texts the lexicon reads as negative (25 % / 40 %), and a week-over-week spike: the
  robust z-score of the latest week's negative feedback (detractor scores or negative texts)
  against the eight weeks before (3.5 / 7), counted only when at least three answers were
  negative and their share rose (else 0: a busy week is not a crisis).
* **Premium churn** (the upward-marketing guide: alert above 30 %) — predicted: mean churn risk of Diamond and
  Core customers in the run's results (over the run's churn horizon, 90 days by default: a
  stricter reading than a yearly rate); observed: 1 − premium-customer retention over the last
  year (`strategy.kpis`). High at 58 %, the churn of the upward-marketing guide's laggards (42 % retention).
* **Anomalies** — daily revenue, orders and new customers, each day scored by a robust z-score
  against the 56 days before it (:func:`robust_zscores`) and flagged beyond 4.5; the indicator
  counts flags in the last 14 days (medium above 0, high above 2). Why 4.5 and not Iglewicz &
  Hoaglin's 3.5: their cut is for outliers within one sample, whereas here the median and MAD
  are themselves estimated from a few weeks, which fattens the tails. Measured on pure Poisson
  noise (20 series × 400 days, means 50 and 500), a 56-day window flags 0.35–0.38 % of days at
  3.5 (one false alarm per KPI every nine months or so) and 0.015 % at 4.5; with a 28-day window,
  0.7–0.9 % and 0.09–0.11 %. Small counts (mean 5 a day) stay noisier (≈ 0.5 % at 4.5).

Each register row also carries an *exposure* — the money at stake where there is a clear
figure: the revenue of the top customers (concentration), of the largest industry, the overdue
amount (receivables), the open amount of D/E accounts, the predicted 12-month CLV of customers
whose ticket breached the SLA, and Σ CLV × churn risk over premium customers (expected value
lost). Owners are roles, not people; actions are i18n keys (`risk.action.<indicator>`).

A level is raised when a value goes *beyond* its threshold (strictly: ``>`` for indicators
where more is worse, ``<`` for those where less is worse, like NPS): a value exactly at the
threshold stays at the level below.

The sentiment lexicon (:data:`EN_TERMS`, :data:`ZH_TERMS`) is small and written for customer
feedback on orders: delivery, quality, service, price, loyalty. English is tokenised into
words and a negator (not, no, never, …n't) up to three words before a term flips its sign;
Chinese is scanned for the longest matching term at each character (so 不满意 is one negative
term, not 不 + 满意), and a negator (不, 没, 没有, 未, 别, 无) at most two characters before a term
flips it. Neutral entries (快递, 好几, 价值 …) exist only to stop a shorter term matching
inside a word that means something else (快 "fast" inside 快递 "courier"). A text is
positive, negative or neutral by the sign of its summed weights.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from upmarket.errors import UpmarketError
from upmarket.features import risk as frisk
from upmarket.strategy import kpis as skpis
from upmarket.strategy.tiers import TIER_ORDER, TierPolicy

LEVELS = ("low", "medium", "high")
CATEGORIES = ("concentration", "credit", "operational", "reputation", "churn", "anomaly")
_CODES = {"concentration": "CON", "credit": "CRD", "operational": "OPS",
          "reputation": "REP", "churn": "CHN", "anomaly": "ANO"}


class BadRiskSettings(UpmarketError, ValueError):
    """A threshold or window makes no sense."""


@dataclass(frozen=True)
class Threshold:
    """Two cut-offs on one indicator. `direction` "above": more is worse (a level is raised
    when value > cut-off); "below": less is worse (raised when value < cut-off)."""

    medium: float
    high: float
    direction: str = "above"

    def __post_init__(self):
        if self.direction not in ("above", "below"):
            raise BadRiskSettings(f"threshold direction must be above or below, not "
                                  f"{self.direction!r}")
        worse = self.high >= self.medium if self.direction == "above" else \
            self.high <= self.medium
        if not worse:
            raise BadRiskSettings(f"the high threshold ({self.high}) must be at least as severe "
                                  f"as the medium one ({self.medium}) for a {self.direction!r} "
                                  f"indicator")

    def _beyond(self, value: float, cut: float) -> bool:
        return value > cut if self.direction == "above" else value < cut

    def level(self, value: float) -> str:
        if value is None or not np.isfinite(value):
            return "low"
        if self._beyond(value, self.high):
            return "high"
        if self._beyond(value, self.medium):
            return "medium"
        return "low"

    def cut(self, level: str) -> float:
        """The threshold that matters at `level`: the one crossed, or (when low) the next."""
        return self.high if level == "high" else self.medium


@dataclass(frozen=True)
class RiskThresholds:
    top1pct_share: Threshold = Threshold(0.30, 0.50)
    top10_share: Threshold = Threshold(0.20, 0.40)
    customer_hhi: Threshold = Threshold(1500.0, 2500.0)
    industry_hhi: Threshold = Threshold(1500.0, 2500.0)
    overdue_share: Threshold = Threshold(0.10, 0.25)
    weak_credit_share: Threshold = Threshold(0.05, 0.15)
    sla_breach_rate: Threshold = Threshold(0.10, 0.25)
    late_delivery_rate: Threshold = Threshold(0.05, 0.10)
    complaints_per_100_orders: Threshold = Threshold(1.0, 3.0)
    detractor_share: Threshold = Threshold(0.25, 0.40)
    nps: Threshold = Threshold(50.0, 0.0, "below")
    negative_sentiment_share: Threshold = Threshold(0.25, 0.40)
    negative_feedback_spike: Threshold = Threshold(3.5, 7.0)
    premium_churn_predicted: Threshold = Threshold(0.30, 0.58)
    premium_churn_observed: Threshold = Threshold(0.30, 0.58)
    kpi_anomalies: Threshold = Threshold(0.0, 2.0)


@dataclass(frozen=True)
class CreditTerms:
    #: credit limit in months of the customer's average monthly invoicing
    limit_months: float
    #: share of each order to be paid before delivery
    prepayment: float
    guarantee: bool


@dataclass(frozen=True)
class CreditPolicy:
    """Credit grade per invoiced customer, the first rule that holds (the key-account strategy course: 信用评分 →
    信用额度、预付款、担保):

    * **E** — an invoice more than `e_days` (90) days past due: treat as a likely default;
    * **D** — an invoice more than `d_days` (30) days past due, or overdue amount above
      `d_overdue_share` (50 %) of the last year's invoicing;
    * **C** — any invoice past due, or more than `c_late_share` (50 %) of the last year's
      settled invoices paid late;
    * **B** — at least one invoice of the last year paid late;
    * **A** — everything paid on time.

    Each grade maps to terms: A 3 months of average monthly invoicing as credit limit, no
    prepayment; B 2 months; C 1 month and 30 % prepayment; D no credit, full prepayment;
    E no credit, full prepayment and a guarantee.
    """

    e_days: float = 90.0
    d_days: float = 30.0
    d_overdue_share: float = 0.5
    c_late_share: float = 0.5
    history_days: int = 365
    terms: dict[str, CreditTerms] = field(default_factory=lambda: {
        "A": CreditTerms(3.0, 0.0, False), "B": CreditTerms(2.0, 0.0, False),
        "C": CreditTerms(1.0, 0.3, False), "D": CreditTerms(0.0, 1.0, False),
        "E": CreditTerms(0.0, 1.0, True)})


@dataclass(frozen=True)
class RiskSettings:
    thresholds: RiskThresholds = RiskThresholds()
    credit: CreditPolicy = CreditPolicy()
    tiers: TierPolicy = TierPolicy()
    premium_tiers: tuple[str, ...] = ("diamond", "core")
    concentration_days: int = 365
    operational_days: int = 90
    reputation_days: int = 90
    spike_weeks: int = 8
    spike_min_count: int = 3
    anomaly_history_days: int = 180
    anomaly_window: int = 56
    anomaly_min_periods: int = 28
    anomaly_z: float = 4.5
    anomaly_recent_days: int = 14


# ---------------------------------------------------------------------------------------------
# concentration


def hhi(values) -> float:
    """Herfindahl–Hirschman index of the shares of `values` (negative values count as 0), on
    the 0–10,000 scale: Σ (100 · sᵢ)². One holder: 10,000; n equal holders: 10,000 / n."""
    v = np.clip(np.asarray(values, float), 0.0, None)
    total = v.sum()
    if total <= 0:
        return float("nan")
    return float(((100.0 * v / total) ** 2).sum())


def concentration(revenue: pd.Series) -> dict[str, float]:
    """Top-1 % share (the ⌈1 %⌉ largest customers, at least one), top-10 share and HHI of a
    revenue-per-customer series; customers with net revenue ≤ 0 hold no share."""
    v = np.sort(np.clip(np.asarray(revenue, float), 0.0, None))[::-1]
    total = v.sum()
    n = len(v)
    if n == 0 or total <= 0:
        return {"customers": n, "top1pct_share": np.nan, "top10_share": np.nan, "hhi": np.nan,
                "top1pct_customers": 0, "top1pct_revenue": 0.0, "top10_revenue": 0.0}
    k = max(1, int(np.ceil(0.01 * n)))
    return {"customers": n, "top1pct_customers": k,
            "top1pct_revenue": float(v[:k].sum()), "top1pct_share": float(v[:k].sum() / total),
            "top10_revenue": float(v[:10].sum()), "top10_share": float(v[:10].sum() / total),
            "hhi": hhi(v)}


# ---------------------------------------------------------------------------------------------
# credit


def credit_grades(positions: pd.DataFrame, policy: CreditPolicy = CreditPolicy()) -> pd.DataFrame:
    """Grade A–E, the rule that set it and the resulting terms, per customer of
    `features.risk.invoice_positions`."""
    p = positions.copy()
    for col in ("invoices", "invoiced_amount", "overdue_count", "overdue_amount", "settled",
                "paid_late"):
        p[col] = p[col].fillna(0)
    days = p["max_days_overdue"].fillna(0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        late_share = np.where(p["settled"] > 0, p["paid_late"] / p["settled"], 0.0)
        overdue_share = np.where(p["invoiced_amount"] > 0,
                                 p["overdue_amount"] / p["invoiced_amount"],
                                 np.where(p["overdue_amount"] > 0, np.inf, 0.0))
    rules = [
        ("E", "overdue_over_e_days", days > policy.e_days),
        ("D", "overdue_over_d_days", days > policy.d_days),
        ("D", "overdue_share", overdue_share > policy.d_overdue_share),
        ("C", "overdue", p["overdue_count"] > 0),
        ("C", "mostly_late", late_share > policy.c_late_share),
        ("B", "some_late", p["paid_late"] > 0),
    ]
    grade = np.full(len(p), "A", dtype=object)
    reason = np.full(len(p), "on_time", dtype=object)
    decided = np.zeros(len(p), dtype=bool)
    for g, why, cond in rules:
        hit = np.asarray(cond, bool) & ~decided
        grade[hit], reason[hit] = g, why
        decided |= hit
    p["grade"], p["grade_reason"], p["late_share"] = grade, reason, late_share
    monthly = p["invoiced_amount"] * (30.4375 / policy.history_days)
    terms = p["grade"].map(policy.terms)
    p["credit_limit"] = monthly * terms.map(lambda t: t.limit_months)
    p["prepayment"] = terms.map(lambda t: t.prepayment)
    p["guarantee"] = terms.map(lambda t: t.guarantee)
    return p.sort_values(["grade", "overdue_amount"], ascending=[False, False],
                         ignore_index=True)


# ---------------------------------------------------------------------------------------------
# operational


def sla_breaches(tickets: pd.DataFrame, response_hours: pd.Series, default_hours: float
                 ) -> pd.DataFrame:
    """Per ticket (from `features.risk.ticket_responses`): the customer's SLA in hours (their
    tier's response time; `default_hours` for a customer without one) and whether the first
    response took longer."""
    t = tickets.copy()
    t["sla_hours"] = t["customer_id"].map(response_hours).astype(float).fillna(default_hours)
    t["breached"] = t["response_hours"] > t["sla_hours"]
    return t


# ---------------------------------------------------------------------------------------------
# sentiment

#: English terms (single words or phrases, lower case) and their weights.
EN_TERMS: dict[tuple[str, ...], float] = {
    **{(w,): 1.0 for w in (
        "love", "loved", "great", "excellent", "good", "recommend", "recommended", "worth",
        "happy", "satisfied", "perfect", "amazing", "awesome", "helpful", "nice", "fantastic",
        "wonderful", "reliable")},
    **{(w,): 0.5 for w in ("fast", "quick", "okay", "ok", "decent", "fine", "friendly",
                           "solved", "thanks", "prompt")},
    ("buy", "again"): 1.0, ("as", "described"): 0.5, ("match", "the", "description"): 0.5,
    **{(w,): -1.0 for w in (
        "disappointed", "disappointing", "poor", "bad", "terrible", "awful", "slow", "late",
        "broken", "damaged", "scratched", "worst", "rude", "useless", "unhappy", "defective",
        "waste", "complaint", "faulty", "missing", "fake", "scam")},
    **{(w,): -0.5 for w in ("pricey", "expensive", "problem", "refund", "delay", "delayed")},
    ("not", "as", "described"): -1.0, ("no", "reply"): -1.0, ("no", "response"): -1.0,
    ("could", "be", "better"): -0.5, ("never", "again"): -1.0,
}
EN_NEGATORS = frozenset({"not", "no", "never", "without", "hardly", "cannot", "nothing",
                         "neither", "nor", "nobody"})
#: Chinese terms and their weights; weight 0 marks a blocker (see the module docstring).
ZH_TERMS: dict[str, float] = {
    **{w: 1.0 for w in ("满意", "推荐", "很好", "挺好", "真好", "好评", "喜欢", "贴心", "值得", "值",
                        "划算", "实惠", "下次还来", "还会再买", "会再买", "回购", "好用", "完美",
                        "惊喜", "优秀", "棒", "赞", "物美价廉", "性价比高", "超值")},
    **{w: 0.5 for w in ("不错", "还可以", "快", "及时", "专业", "感谢", "谢谢", "好")},
    **{w: -1.0 for w in ("失望", "差", "差评", "慢", "不符", "不回复", "没回复", "没人回复", "不理",
                         "破", "破损", "划痕", "没解决", "未解决", "投诉", "超时", "延迟", "坏",
                         "糟糕", "垃圾", "不满意", "不会再买", "再也不买", "骗", "假货", "太贵",
                         "生气", "难用", "故障", "后悔", "不好", "不行", "性价比低")},
    **{w: -0.5 for w in ("贵", "一般", "退货", "退款", "问题", "没到")},
    **{w: 0.0 for w in ("快递", "好几", "好像", "只好", "价值", "值班", "差不多", "加快", "赶快",
                        "尽快", "好多", "增值")},
}
ZH_NEGATORS = ("没有", "不", "没", "未", "别", "无")
_ZH_MAX = max(len(w) for w in ZH_TERMS)
_EN_MAX = max(len(k) for k in EN_TERMS)
_CJK = re.compile(r"[\u4e00-\u9fff]")
_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")


def _negator(token: str) -> bool:
    return token in EN_NEGATORS or token.endswith("n't")


def _en_score(text: str) -> float:
    tokens = _WORD.findall(text.lower())
    used = np.zeros(len(tokens), dtype=bool)
    score, i = 0.0, 0
    while i < len(tokens):
        for n in range(min(_EN_MAX, len(tokens) - i), 0, -1):
            w = EN_TERMS.get(tuple(tokens[i:i + n]))
            if w is not None:
                negated = any(not used[j] and _negator(tokens[j])
                              for j in range(max(0, i - 3), i))
                score += -w if negated else w
                used[i:i + n] = True
                i += n
                break
        else:
            i += 1
    return score


def _zh_score(text: str) -> float:
    score, i, neg_end = 0.0, 0, -10
    while i < len(text):
        for n in range(min(_ZH_MAX, len(text) - i), 0, -1):
            w = ZH_TERMS.get(text[i:i + n])
            if w is not None:
                score += -w if i - neg_end <= 2 else w
                i += n
                break
        else:
            neg = next((g for g in ZH_NEGATORS if text.startswith(g, i)), None)
            if neg:
                i += len(neg)
                neg_end = i
            else:
                i += 1
    return score


def sentiment_score(text: str | None) -> float:
    """Summed lexicon weights of a zh or en text (> 0 positive, < 0 negative); mixed texts
    are scored by both lexicons. Empty or missing text scores 0."""
    if not isinstance(text, str) or not text.strip():
        return 0.0
    score = _en_score(text)
    if _CJK.search(text):
        score += _zh_score(text)
    return score


def sentiment_label(text: str | None) -> str:
    s = sentiment_score(text)
    return "positive" if s > 0 else "negative" if s < 0 else "neutral"


# ---------------------------------------------------------------------------------------------
# anomalies


def robust_zscores(values, window: int = 56, min_periods: int = 28
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Modified z-score of each point against the `window` points before it (not itself):
    M = 0.6745 (x − median) / MAD (Iglewicz & Hoaglin 1993, *How to Detect and Handle
    Outliers*, ASQC, §2.2; |M| > 3.5 is their outlier cut). When MAD is 0 (more than half the
    window identical) the mean absolute deviation stands in, M = (x − median) /
    (1.253314 · MeanAD); when that is 0 too, any departure is infinitely far. Points with fewer
    than `min_periods` earlier points get NaN. Returns (z, the trailing median)."""
    x = np.asarray(values, float)
    n = len(x)
    z = np.full(n, np.nan)
    med = np.full(n, np.nan)
    for t in range(n):
        hist = x[max(0, t - window):t]
        hist = hist[np.isfinite(hist)]
        if len(hist) < min_periods or not np.isfinite(x[t]):
            continue
        m = float(np.median(hist))
        dev = np.abs(hist - m)
        mad = float(np.median(dev))
        med[t] = m
        if mad > 0:
            z[t] = 0.6745 * (x[t] - m) / mad
        elif dev.mean() > 0:
            z[t] = (x[t] - m) / (1.253314 * dev.mean())
        else:
            z[t] = 0.0 if x[t] == m else np.sign(x[t] - m) * np.inf
    return z, med


def detect_anomalies(daily: pd.DataFrame, columns=("revenue", "orders", "new_customers"), *,
                     window: int = 56, min_periods: int = 28, z: float = 4.5) -> pd.DataFrame:
    """Days where a KPI departs from its trailing median by a robust z beyond `z`: one row
    per flag with the date, KPI, value, expected (trailing median), deviation, z and
    direction (up / down). `daily` has a `day` column and one column per KPI, one row per day
    (missing days should be filled with 0 beforehand)."""
    rows = []
    daily = daily.sort_values("day")
    for col in columns:
        if col not in daily:
            continue
        scores, med = robust_zscores(daily[col].to_numpy(float), window, min_periods)
        hit = np.abs(np.nan_to_num(scores, nan=0.0)) > z
        for i in np.flatnonzero(hit):
            v = float(daily[col].iloc[i])
            rows.append({"day": daily["day"].iloc[i], "kpi": col, "value": v,
                         "expected": med[i], "deviation": v - med[i], "z": scores[i],
                         "direction": "up" if scores[i] > 0 else "down"})
    cols = ["day", "kpi", "value", "expected", "deviation", "z", "direction"]
    return pd.DataFrame(rows, columns=cols).sort_values(["day", "kpi"], ignore_index=True)


def fill_days(daily: pd.DataFrame, start: datetime, end: datetime) -> pd.DataFrame:
    """Every day in [start, end) with zeros where nothing happened."""
    days = pd.date_range(pd.Timestamp(start).normalize(), pd.Timestamp(end) - pd.Timedelta(1),
                         freq="D")
    d = daily.assign(day=pd.to_datetime(daily["day"]).dt.normalize()).set_index("day")
    return d.reindex(days, fill_value=0).rename_axis("day").reset_index()


def weekly_feedback(feedback: pd.DataFrame, as_of: datetime, weeks: int, window: int = 8,
                    min_count: int = 3, z: float = 3.5) -> pd.DataFrame:
    """Feedback in 7-day buckets ending at `as_of` (the latest bucket is the 7 days before
    it): answers, NPS detractors, negative texts and negative feedback (a detractor score or a
    negative text), with the robust z of negative feedback against the `window` weeks before,
    the change on the previous week, and `spike` — z beyond `z`, at least `min_count` negative
    answers, more than the week before, and a negative share above that of the `window` weeks
    before. `feedback` needs ts, nps_score and a `sentiment` label per row."""
    f = feedback.copy()
    age = (pd.Timestamp(as_of) - pd.to_datetime(f["ts"])) / pd.Timedelta(days=7)
    f["week"] = np.floor(age).astype(int)
    f = f[(f["week"] >= 0) & (f["week"] < weeks)]
    detractor = f["nps_score"].notna() & (f["nps_score"] <= 6)
    negative_text = f["sentiment"] == "negative"
    f = f.assign(detractor=detractor, negative_text=negative_text,
                 negative=detractor | negative_text)
    g = f.groupby("week").agg(answers=("id", "count"), detractors=("detractor", "sum"),
                              negative_texts=("negative_text", "sum"),
                              negative=("negative", "sum"))
    g = g.reindex(range(weeks - 1, -1, -1), fill_value=0)  # oldest first
    g["week_start"] = [pd.Timestamp(as_of) - pd.Timedelta(days=7 * (w + 1)) for w in g.index]
    scores, med = robust_zscores(g["negative"].to_numpy(float), window, min_periods=4)
    g["expected"], g["z"] = med, scores
    prev = g["negative"].shift(1)
    g["change_on_previous_week"] = np.where(prev > 0, g["negative"] / prev - 1.0, np.nan)
    # more answers bring more complaints: a busy week (双11) is only a spike when the negative
    # share also rose above that of the weeks before
    share = g["negative"] / g["answers"].where(g["answers"] > 0)
    before = (g["negative"].rolling(window, min_periods=1).sum().shift(1)
              / g["answers"].rolling(window, min_periods=1).sum().shift(1))
    g["negative_share"], g["usual_share"] = share, before
    g["spike"] = (np.nan_to_num(scores, nan=0.0) > z) & (g["negative"] >= min_count) & \
        (g["negative"] > prev.fillna(0)) & (share > before.fillna(0))
    return g.reset_index(drop=True)[["week_start", "answers", "detractors", "negative_texts",
                                     "negative", "negative_share", "usual_share", "expected",
                                     "z", "change_on_previous_week", "spike"]]


# ---------------------------------------------------------------------------------------------
# the register

#: indicator → (category, qualitative impact, owner role)
INDICATORS: dict[str, tuple[str, str, str]] = {
    "top1pct_share": ("concentration", "high", "key_account_manager"),
    "top10_share": ("concentration", "high", "key_account_manager"),
    "customer_hhi": ("concentration", "high", "key_account_manager"),
    "industry_hhi": ("concentration", "medium", "sales_director"),
    "overdue_share": ("credit", "high", "credit_controller"),
    "weak_credit_share": ("credit", "high", "credit_controller"),
    "sla_breach_rate": ("operational", "medium", "service_manager"),
    "late_delivery_rate": ("operational", "medium", "logistics_manager"),
    "complaints_per_100_orders": ("operational", "medium", "service_manager"),
    "detractor_share": ("reputation", "medium", "brand_manager"),
    "nps": ("reputation", "medium", "brand_manager"),
    "negative_sentiment_share": ("reputation", "medium", "brand_manager"),
    "negative_feedback_spike": ("reputation", "high", "brand_manager"),
    "premium_churn_predicted": ("churn", "high", "crm_manager"),
    "premium_churn_observed": ("churn", "high", "crm_manager"),
    "kpi_anomalies": ("anomaly", "medium", "marketing_analyst"),
}


@dataclass
class Reading:
    """One indicator's value, with the money at stake where there is a clear figure."""

    indicator: str
    value: float
    exposure: float = np.nan
    note: str = ""


def risk_register(readings: list[Reading], thresholds: RiskThresholds = RiskThresholds()
                  ) -> pd.DataFrame:
    """The register: one row per indicator read — id (category code and number), category,
    indicator, value, threshold (the one crossed, or the next when low), direction, level,
    impact, exposure (money at stake, NaN when there is no clear figure), owner (a role) and
    the suggested action (an i18n key `risk.action.<indicator>`). Highest level first."""
    rows = []
    count: dict[str, int] = {}
    for r in readings:
        category, impact, owner = INDICATORS[r.indicator]
        th: Threshold = getattr(thresholds, r.indicator)
        level = th.level(r.value)
        count[category] = count.get(category, 0) + 1
        rows.append({
            "id": f"{_CODES[category]}-{count[category]:02d}", "category": category,
            "indicator": r.indicator, "value": float(r.value), "threshold": th.cut(level),
            "direction": th.direction, "level": level, "impact": impact,
            "exposure": float(r.exposure), "owner": owner,
            "action": f"risk.action.{r.indicator}", "note": r.note,
        })
    cols = ["id", "category", "indicator", "value", "threshold", "direction", "level", "impact",
            "exposure", "owner", "action", "note"]
    out = pd.DataFrame(rows, columns=cols)
    rank = {lvl: i for i, lvl in enumerate(reversed(LEVELS))}
    order = out["level"].map(rank) * 10 + out["category"].map(CATEGORIES.index)
    return out.iloc[np.argsort(order.to_numpy(), kind="stable")].reset_index(drop=True)


# ---------------------------------------------------------------------------------------------
# from the warehouse


def risk_tables(wh, as_of: datetime, results: pd.DataFrame | None,
                settings: RiskSettings = RiskSettings(), *, base_kpis: dict | None = None
                ) -> tuple[dict[str, pd.DataFrame], dict]:
    """Every indicator from the warehouse and the run's per-customer `results` (tier, clv,
    churn_risk; None when there is no run yet: premium churn is then not assessed and tickets
    are held to the Basic tier's response time). `base_kpis`: `strategy.kpis.base_kpis` at
    `as_of` when the caller has them (a run computes them in its KPI stage).

    Tables: `risk_register`, `risk_credit` (grade per invoiced customer), `risk_sla` (per
    tier), `risk_anomalies` (flagged days), `risk_feedback_weekly`. The summary counts risks
    by level, lists the indicators that could not be assessed and why, and gives the headline
    figures."""
    s, th = settings, settings.thresholds
    T = wh.table
    readings: list[Reading] = []
    tables: dict[str, pd.DataFrame] = {}
    skipped: dict[str, str] = {}
    figures: dict = {}
    res = results if results is not None and len(results) else None
    clv = res.set_index("customer_id")["clv"] if res is not None and "clv" in res else None

    # -- concentration
    # the shares need each customer's revenue, not who they are: only the figures leave
    # the engine
    rev = frisk.customer_revenue(T("orders"), as_of, s.concentration_days).select(
        "revenue").to_pyarrow()
    conc = concentration(rev.column("revenue").to_numpy())
    if np.isfinite(conc["top1pct_share"]):
        readings += [
            Reading("top1pct_share", conc["top1pct_share"], conc["top1pct_revenue"],
                    f"{conc['top1pct_customers']} of {conc['customers']} customers"),
            Reading("top10_share", conc["top10_share"], conc["top10_revenue"]),
            Reading("customer_hhi", conc["hhi"]),
        ]
        figures["concentration"] = {k: round(v, 4) if isinstance(v, float) else int(v)
                                    for k, v in conc.items()}
    else:
        skipped["concentration"] = "no revenue in the window"
    ind = frisk.industry_revenue(T("orders"), T("customers"), as_of,
                                 s.concentration_days).to_pandas()
    if len(ind) and ind["revenue"].clip(lower=0).sum() > 0:
        top = ind.sort_values("revenue", ascending=False).iloc[0]
        share = max(float(top["revenue"]), 0.0) / float(ind["revenue"].clip(lower=0).sum())
        readings.append(Reading("industry_hhi", hhi(ind["revenue"]), float(top["revenue"]),
                                f"{top['industry']} {share:.0%}"))
    else:
        skipped["industry_hhi"] = "no customer industries"

    # -- credit
    pos = frisk.invoice_positions(T("payments"), as_of, s.credit.history_days).to_pandas()
    if len(pos):
        grades = credit_grades(pos, s.credit)
        tables["risk_credit"] = grades
        open_amount = float(grades["open_amount"].sum())
        overdue = float(grades["overdue_amount"].sum())
        weak = grades["grade"].isin(["D", "E"])
        if open_amount > 0:
            readings.append(Reading("overdue_share", overdue / open_amount, overdue,
                                    f"{int(grades['overdue_count'].sum())} invoices"))
        readings.append(Reading("weak_credit_share", float(weak.mean()),
                                float(grades.loc[weak, "open_amount"].sum()),
                                f"{int(weak.sum())} of {len(grades)} customers"))
        figures["credit_grades"] = grades["grade"].value_counts().reindex(
            list("ABCDE"), fill_value=0).astype(int).to_dict()
    else:
        skipped["credit"] = "no invoices in payments"

    # -- operational
    tickets = frisk.ticket_responses(T("service_tickets"), as_of, s.operational_days).to_pandas()
    if len(tickets):
        if res is not None and "tier" in res:
            hours = res.set_index("customer_id")["tier"].map(
                lambda t: s.tiers.level(t).response_hours)
            tier_of = res.set_index("customer_id")["tier"]
        else:
            hours, tier_of = pd.Series(dtype=float), pd.Series(dtype=object)
            skipped["sla_tiers"] = "no run results: tickets held to the Basic response time"
        basic = float(s.tiers.level("basic").response_hours)
        t = sla_breaches(tickets, hours, basic)
        t["tier"] = t["customer_id"].map(tier_of).astype(object).fillna("basic")
        per_tier = t.groupby("tier").agg(tickets=("ticket_id", "count"),
                                         breached=("breached", "sum"),
                                         sla_hours=("sla_hours", "max"),
                                         median_response_hours=("response_hours", "median"))
        per_tier = per_tier.reindex([x for x in TIER_ORDER if x in per_tier.index])
        per_tier["breach_rate"] = per_tier["breached"] / per_tier["tickets"]
        tables["risk_sla"] = per_tier.reset_index()
        hit = t.loc[t["breached"], "customer_id"].unique()
        readings.append(Reading(
            "sla_breach_rate", float(t["breached"].mean()),
            float(clv.reindex(hit).sum()) if clv is not None else np.nan,
            f"{int(t['breached'].sum())} of {len(t)} tickets"))
        orders_n = int(frisk.paid_orders(T("orders"), as_of, s.operational_days).execute() or 0)
        complaints = int((t["kind"] == "complaint").sum())
        if orders_n > 0:
            readings.append(Reading("complaints_per_100_orders", 100.0 * complaints / orders_n,
                                    note=f"{complaints} complaints, {orders_n} orders"))
    else:
        skipped["tickets"] = "no service tickets in the window"
    dp = frisk.delivery_performance(T("orders"), as_of, s.operational_days).to_pandas().iloc[0]
    if int(dp["due_orders"] or 0) > 0:
        readings.append(Reading("late_delivery_rate", float(dp["late_orders"]) / dp["due_orders"],
                                note=f"{int(dp['late_orders'])} of {int(dp['due_orders'])} "
                                     f"orders, mean delay {float(dp['mean_delay_days'] or 0):.1f} "
                                     f"days"))
    else:
        skipped["late_delivery_rate"] = "no promised delivery dates in the window"

    # -- reputation
    weeks = max(s.spike_weeks + 2, int(np.ceil(s.reputation_days / 7)))
    fb = frisk.feedback_in(T("feedback"), as_of, max(s.reputation_days, 7 * weeks)).to_pandas()
    if len(fb):
        fb["sentiment"] = fb["text"].map(sentiment_label)
        since = pd.Timestamp(as_of - timedelta(days=s.reputation_days))
        recent = fb[pd.to_datetime(fb["ts"]) >= since]
        scores = recent["nps_score"].dropna().astype(float)
        if len(scores):
            det = float((scores <= 6).mean())
            nps = 100.0 * (float((scores >= 9).mean()) - det)
            readings += [Reading("detractor_share", det, note=f"{len(scores)} answers"),
                         Reading("nps", nps, note=f"{len(scores)} answers")]
            figures["nps"] = round(nps, 1)
        texts = recent[recent["text"].map(lambda x: isinstance(x, str) and bool(x.strip()))]
        if len(texts):
            neg = float((texts["sentiment"] == "negative").mean())
            readings.append(Reading("negative_sentiment_share", neg,
                                    note=f"{len(texts)} texts"))
            figures["sentiment"] = texts["sentiment"].value_counts().to_dict()
        weekly = weekly_feedback(fb, as_of, weeks, s.spike_weeks, s.spike_min_count,
                                 th.negative_feedback_spike.medium)
        tables["risk_feedback_weekly"] = weekly
        last = weekly.iloc[-1]
        if np.isfinite(last["z"]):
            # the z counts only when the share of negative answers rose too and there were
            # enough of them: otherwise a busy week would read as a crisis
            real = (last["negative"] >= s.spike_min_count and
                    last["negative_share"] > (last["usual_share"] if np.isfinite(
                        last["usual_share"]) else 0.0))
            readings.append(Reading("negative_feedback_spike", float(last["z"]) if real else 0.0,
                                    note=f"{int(last['negative'])} negative this week, "
                                         f"{last['expected']:.0f} usual"))
    else:
        skipped["reputation"] = "no feedback in the window"

    # -- premium churn (the upward-marketing guide)
    if res is not None and {"tier", "churn_risk"} <= set(res.columns):
        prem = res[res["tier"].isin(s.premium_tiers)]
        if len(prem):
            exposure = float((prem["clv"] * prem["churn_risk"]).sum()) if "clv" in prem else np.nan
            readings.append(Reading("premium_churn_predicted", float(prem["churn_risk"].mean()),
                                    exposure, f"{len(prem)} customers"))
    else:
        skipped["premium_churn_predicted"] = "no run results with tiers and churn risk"
    base = base_kpis if base_kpis is not None else skpis.base_kpis(T("orders"), as_of)
    if "premium_retention" in base:
        readings.append(Reading("premium_churn_observed", 1.0 - base["premium_retention"],
                                note=f"window {int(base['kpi_window_days'])} days"))

    # -- anomalies on daily KPIs
    start = as_of - timedelta(days=s.anomaly_history_days)
    daily = frisk.daily_kpis(T("orders"), as_of, s.anomaly_history_days).to_pandas()
    if len(daily):
        daily = fill_days(daily, start, as_of)
        flags = detect_anomalies(daily, window=s.anomaly_window,
                                 min_periods=s.anomaly_min_periods, z=s.anomaly_z)
        flags["promotion"] = _promotions_on(T("promotions").to_pandas(), flags["day"])
        tables["risk_anomalies"] = flags
        recent_flags = flags[flags["day"] >= pd.Timestamp(as_of - timedelta(
            days=s.anomaly_recent_days))]
        readings.append(Reading("kpi_anomalies", float(len(recent_flags)),
                                note=f"{len(flags)} in {s.anomaly_history_days} days"))
    else:
        skipped["kpi_anomalies"] = "no orders in the window"

    register = risk_register(readings, th)
    tables["risk_register"] = register
    summary = {
        "risks": register["level"].value_counts().reindex(list(LEVELS), fill_value=0)
        .astype(int).to_dict(),
        "open_risks": int((register["level"] != "low").sum()),
        "high": register.loc[register["level"] == "high", "indicator"].tolist(),
        "not_assessed": skipped,
        "anomaly_rule": {"window_days": s.anomaly_window, "z": s.anomaly_z},
        **figures,
    }
    return tables, summary


def _promotions_on(promotions: pd.DataFrame, days: pd.Series) -> list[str]:
    """Names (or ids) of the promotions running on each day, comma-joined ('' for none): a
    flagged spike during 双11 is expected, one on an ordinary Tuesday is news."""
    if promotions.empty or days.empty:
        return [""] * len(days)
    p = promotions.dropna(subset=["start"])
    name = p["name"].fillna(p["promotion_id"]) if "name" in p else p["promotion_id"]
    start = pd.to_datetime(p["start"]).dt.normalize()
    end = pd.to_datetime(p["end"]).fillna(pd.Timestamp.max)
    out = []
    for d in pd.to_datetime(days):
        on = (start <= d) & (end >= d)
        out.append(", ".join(sorted(set(name[on].astype(str)))))
    return out
