"""Classifiers on a bounded sample: the stratified draw keeps each label's share, is the same
every time and leaves small training sets whole; every customer is still scored, batch by
batch; and the churn and premium models trained on a sample rank a holdout as well, within
the bootstrap interval, as the same models trained on every row."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from upmarket.models import evaluation
from upmarket.models.churn import ChurnClassifier, RfmBaseline
from upmarket.models.propensity import PremiumPropensity
from upmarket.models.training_sample import in_batches, stratified


def test_the_sample_keeps_each_labels_share_and_is_the_same_every_time():
    y = np.random.default_rng(5).random(30_000) < 0.12
    s = stratified(y, 5_000)
    assert s.sampled and s.used == len(s.rows) == 5_000 and s.of == 30_000
    assert len(np.unique(s.rows)) == 5_000 and np.all(np.diff(s.rows) > 0)
    # the share of positives to within one row of the training set's
    assert abs(y[s.rows].sum() - y.mean() * 5_000) <= 1
    assert np.array_equal(stratified(y, 5_000).rows, s.rows)
    assert not np.array_equal(stratified(y, 5_000, draw=1).rows, s.rows)


def test_small_sets_are_left_whole_and_rare_labels_keep_two_rows():
    y = np.r_[np.zeros(900), np.ones(100)]
    whole = stratified(y, 1_000)
    assert not whole.sampled and np.array_equal(whole.rows, np.arange(1_000))
    assert stratified(y, None).used == 1_000
    rare = np.r_[np.zeros(100_000), np.ones(3)]
    s = stratified(rare, 10_000)
    assert s.used == 10_000 and rare[s.rows].sum() == 2
    with pytest.raises(ValueError, match="at least 10"):
        stratified(y, 5)


def test_scoring_in_batches_scores_every_row_in_order():
    frame = pd.DataFrame({"x": np.arange(10_007, dtype=float)})
    seen = []

    def score(part: pd.DataFrame) -> np.ndarray:
        seen.append(len(part))
        return part["x"].to_numpy() * 2

    out = in_batches(score, frame, rows=1_000)
    assert np.array_equal(out, frame["x"].to_numpy() * 2)
    assert seen == [1_000] * 10 + [7]


def churners(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Customers whose churn depends on silence against their own rhythm and on orders."""
    rng = np.random.default_rng(seed)
    orders = 1 + rng.poisson(3, n)
    gap = np.where(orders > 1, rng.gamma(2.0, 20.0, n), np.nan)
    recency = rng.uniform(0, 300, n)
    value = rng.gamma(2.0, 30.0, n)
    frame = pd.DataFrame({
        "customer_id": [f"c{i}" for i in range(n)], "recency_days": recency,
        "orders": orders.astype(float), "net_revenue": orders * value,
        "tenure_days": recency + np.nan_to_num(gap) * (orders - 1), "gap_mean": gap,
        "purchases_30d": (recency < 30).astype(float)})
    logit = -1.0 + 1.2 * np.log1p(recency / np.where(np.isnan(gap), 60.0, gap)) \
        - 0.6 * np.log(orders)
    return frame, rng.uniform(size=n) < 1 / (1 + np.exp(-logit))


def upgraders(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Customers whose first premium purchase depends on their mid-tier share and recency."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "customer_id": [f"p{i}" for i in range(n)], "share_mid": rng.beta(1.5, 3.0, n),
        "months_since_last": rng.exponential(4.0, n), "orders": 1 + rng.poisson(2, n),
        "monetary": rng.gamma(2.0, 40.0, n)})
    logit = -3.0 + 4.0 * frame["share_mid"] - 0.25 * frame["months_since_last"] \
        + 0.2 * np.log(frame["orders"])
    return frame, rng.uniform(size=n) < 1 / (1 + np.exp(-logit))


def _auc_interval(y, score, draws: int = 150) -> tuple[float, float]:
    rng = np.random.default_rng(0)
    found = [evaluation.auc(y[i], score[i])
             for i in (rng.integers(0, len(y), len(y)) for _ in range(draws))]
    return tuple(np.percentile(found, [2.5, 97.5]))


@pytest.mark.parametrize("make, data", [
    (ChurnClassifier, churners), (RfmBaseline, churners), (PremiumPropensity, upgraders)])
def test_a_model_on_a_sample_ranks_the_holdout_as_well_as_on_every_row(make, data):
    train, y = data(10_000, 1)
    test, y_test = data(5_000, 2)
    full = make(sample_rows=None).fit(train, y)
    part = make(sample_rows=2_500).fit(train, y)
    assert not full.sample_.sampled and full.sample_.used == 10_000
    assert part.sample_.sampled and part.sample_.used == 2_500
    p_full, p_part = full.predict_proba(test), part.predict_proba(test)
    assert len(p_part) == len(test) and np.all((p_part >= 0) & (p_part <= 1))
    diff = evaluation.auc_difference(y_test, p_part, p_full, draws=150)
    low, high = _auc_interval(y_test, p_full)
    print(make.__name__, {k: round(v, 4) for k, v in diff.items()}, round(low, 4), round(high, 4))
    # what the sample loses in ranking is smaller than the holdout's own noise: well inside
    # the 95 % bootstrap interval of the model trained on every row
    assert abs(diff["difference"]) < (high - low) / 4
    assert evaluation.auc(y_test, p_part) > 0.6



@pytest.mark.parametrize("lang, words", [("en", "50,000 of the 171,443"),
                                         ("zh", "171,443 位客户中按标签分层随机抽取 50,000")])
def test_the_run_summary_says_when_a_model_trained_on_a_sample(lang, words):
    from upmarket.cli import console
    from upmarket.cli.runs import _print_training_sample

    with console.capture() as seen:
        _print_training_sample("churn_training_sample", {"rows": 50_000, "of": 171_443}, lang)
        _print_training_sample("premium_training_sample", {"rows": 9_970, "of": 9_970}, lang)
    # the console may wrap the line anywhere: compared without white space
    said = "".join(seen.get().split())
    assert "".join(words.split()) in said
    # a model that trained on every row gets no line
    assert said.count("50,000") == 1 and "9,970" not in said
