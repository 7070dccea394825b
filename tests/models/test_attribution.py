"""Attribution models: hand-computed examples, exact Markov removal effects against an
independent computation, Shapley axioms, and conservation of totals for every model."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from upmarket.models.attribution import (
    MODELS, BadPaths, MarkovChain, Shapley, TooManyChannels, attribute, parse_paths,
    simplified_shapley,
)


def table(rows):
    """rows: (path, conversions[, value[, null]])"""
    rows = [tuple(r) + (0,) * (4 - len(r)) for r in rows]
    return pd.DataFrame(rows, columns=["path", "total_conversions", "total_conversion_value",
                                       "total_null"])


def credit(df, model, **kw):
    res = attribute(df, model, **kw).set_index("channel")
    return res["conversions"].to_dict(), res["value"].to_dict()


HAND = table([("a > b > c", 10, 100.0), ("a", 5, 20.0)])


@pytest.mark.parametrize("model, expected", [
    ("first", {"a": 15, "b": 0, "c": 0}),
    ("last", {"a": 5, "b": 0, "c": 10}),
    ("linear", {"a": 5 + 10 / 3, "b": 10 / 3, "c": 10 / 3}),
    # weights 2^-2, 2^-1, 2^0 over 1.75
    ("time-decay", {"a": 5 + 10 * 0.25 / 1.75, "b": 10 * 0.5 / 1.75, "c": 10 / 1.75}),
    ("position", {"a": 5 + 4, "b": 2, "c": 4}),
])
def test_heuristics_by_hand(model, expected):
    conv, value = credit(HAND, model)
    assert conv == pytest.approx(expected)
    # value follows the same weights: path 1 is worth 10 per conversion, path 2 4
    assert sum(value.values()) == pytest.approx(120.0)


def test_time_decay_half_life_and_position_short_paths():
    conv, _ = credit(table([("a > b > c", 3)]), "time-decay", half_life=2)
    w = 2.0 ** (-np.array([2, 1, 0]) / 2)
    assert [conv[c] for c in "abc"] == pytest.approx(list(3 * w / w.sum()))
    conv, _ = credit(table([("x > y", 2), ("z", 1)]), "position")
    assert conv == pytest.approx({"x": 1, "y": 1, "z": 1})
    conv, _ = credit(table([("a > b > c > d", 10)]), "position")
    assert conv == pytest.approx({"a": 4, "b": 1, "c": 1, "d": 4})


def test_markov_by_hand():
    # start→a 1/4, start→b 3/4; a→c 1; b→c 1/3, b→null 2/3; c→conversion: P = 1/2.
    # Without a: 1/4 (RE 1/2); without b: 1/4 (RE 1/2); without c: 0 (RE 1).
    df = table([("a > c", 1, 10.0), ("b > c", 1, 10.0), ("b", 0, 0.0, 2)])
    m = MarkovChain().fit(df)
    assert m.conversion_probability_ == pytest.approx(0.5)
    assert m.removal_effects_.to_dict() == pytest.approx({"a": 0.5, "b": 0.5, "c": 1.0})
    conv, value = credit(df, "markov")
    assert conv == pytest.approx({"a": 0.5, "b": 0.5, "c": 1.0})
    assert value == pytest.approx({"a": 5.0, "b": 5.0, "c": 10.0})


# ---- an independent computation of removal effects ------------------------------------------

def independent_removal_effects(df, order=1):
    """Conversion probability by value iteration on a dict-of-dicts chain (no linear solve),
    with states containing the removed channel sent to null."""
    data = parse_paths(df)
    trans: dict = {}
    for path, c, n in zip(data.paths, data.conversions, data.null):
        if c + n == 0:
            continue
        states = [("START",)] + [tuple(path[max(0, i + 1 - order): i + 1])
                                 for i in range(len(path))]
        for s, t in zip(states, states[1:]):
            trans.setdefault(s, {}).setdefault(t, 0.0)
            trans[s][t] += c + n
        trans.setdefault(states[-1], {}).setdefault("CONV", 0.0)
        trans[states[-1]]["CONV"] += c
        trans[states[-1]].setdefault("NULL", 0.0)
        trans[states[-1]]["NULL"] += n

    def p_conv(removed=None):
        x = {s: 0.0 for s in trans}
        for _ in range(20000):
            delta = 0.0
            for s, out in trans.items():
                if removed is not None and removed in s:
                    continue
                tot = sum(out.values())
                new = sum(w / tot * (1.0 if t == "CONV" else 0.0 if t == "NULL" else
                                     (0.0 if removed is not None and removed in t else x[t]))
                          for t, w in out.items())
                delta = max(delta, abs(new - x[s]))
                x[s] = new
            if delta < 1e-14:
                break
        return x.get(("START",), 0.0)

    full = p_conv()
    return {ch: (1 - p_conv(ch) / full if full > 0 else 0.0) for ch in data.channels}


def test_markov_matches_independent_on_a_cyclic_graph():
    df = table([("a > b > a > c", 3), ("a > a > b", 2, 0, 1), ("c > b", 0, 0, 4),
                ("b > c > b > c", 1, 0, 2), ("c", 2, 0, 1)])
    for order in (1, 2):
        m = MarkovChain(order=order).fit(df)
        assert m.removal_effects_.to_dict() == pytest.approx(
            independent_removal_effects(df, order), abs=1e-9)


def test_markov_matches_simulation():
    """A Monte-Carlo walk on the fitted chain (fixed seed, loose tolerance) agrees with P."""
    df = table([("a > b", 4, 0, 2), ("b > a > b", 1, 0, 3), ("a", 2, 0, 5), ("b", 0, 0, 1)])
    m = MarkovChain().fit(df)
    rng = np.random.default_rng(0)
    trans = {"S": {"a": 6 + 7, "b": 4 + 1}, "a": {"b": 6 + 4, "C": 2, "N": 5},
             "b": {"a": 4, "C": 5, "N": 6}}
    hits = 0
    n = 40000
    for _ in range(n):
        s = "S"
        while s not in ("C", "N"):
            nxt, w = zip(*trans[s].items())
            s = nxt[rng.choice(len(nxt), p=np.array(w) / sum(w))]
        hits += s == "C"
    assert m.conversion_probability_ == pytest.approx(hits / n, abs=0.01)


def test_markov_higher_order_and_absent_channels():
    df = table([("a > b > c", 5, 50.0, 2), ("b > c", 3, 30.0, 1), ("a > d", 0, 0.0, 4),
                ("c > a > b", 2, 10.0, 0)])
    for order in (1, 2, 3):
        res = attribute(df, "markov", order=order)
        assert res.conversions.sum() == pytest.approx(10.0)
        assert res.value.sum() == pytest.approx(90.0)
        assert res.set_index("channel").at["d", "conversions"] == 0.0
    with pytest.raises(BadPaths, match="order"):
        MarkovChain(order=0)


# ---- Shapley ---------------------------------------------------------------------------------

def test_shapley_axioms():
    # a and b always appear together (symmetry); d only in a non-converting path (null player)
    df = table([("a > b", 4, 40.0), ("b > a > c", 2, 10.0), ("c", 3, 30.0), ("d > c", 0, 0, 5)])
    conv, value = credit(df, "shapley")
    assert sum(conv.values()) == pytest.approx(9.0)  # efficiency
    assert sum(value.values()) == pytest.approx(80.0)
    assert conv["a"] == pytest.approx(conv["b"])  # symmetry
    assert conv["d"] == 0.0 and value["d"] == 0.0  # null player
    # closed form (Zhao et al. 2018): a = 4/2 + 2/3
    assert conv["a"] == pytest.approx(2 + 2 / 3)
    assert conv["c"] == pytest.approx(3 + 2 / 3)


def test_shapley_refuses_too_many_channels():
    df = table([(" > ".join(f"ch{i}" for i in range(16)), 1)])
    with pytest.raises(TooManyChannels, match="16 channels"):
        Shapley().fit(df)
    assert attribute(df, "shapley", max_channels=16).conversions.sum() == pytest.approx(1.0)


# ---- input errors ----------------------------------------------------------------------------

@pytest.mark.parametrize("df, match", [
    (pd.DataFrame({"path": ["a"]}), "lacks column.*total_conversions"),
    (table([("a", 1), ("b", -2)]), "row 2: total_conversions must be"),
    (table([("a", 1), ("", 2)]), "row 2: path is empty"),
    (table([("a >  > b", 1)]), "row 1: .*empty channel"),
    (table([("a", "many")]), "row 1: total_conversions is 'many'"),
    (table([("a", 0, 5.0)]), "row 1: .*value 5.0 but no conversions"),
    (table([]), "no rows"),
])
def test_bad_input(df, match):
    with pytest.raises(BadPaths, match=match):
        attribute(df, "linear")


def test_unknown_model():
    with pytest.raises(BadPaths, match="unknown attribution model"):
        attribute(HAND, "magic")


# ---- properties --------------------------------------------------------------------------------

row = st.tuples(
    st.lists(st.sampled_from("abcde"), min_size=1, max_size=5),
    st.integers(0, 20), st.floats(0, 1000, allow_nan=False), st.integers(0, 20),
).map(lambda r: (" > ".join(r[0]), r[1], r[2] if r[1] > 0 else 0.0, r[3]))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(row, min_size=1, max_size=8))
def test_every_model_conserves_totals(rows):
    df = table(rows)
    total_c = float(df.total_conversions.sum())
    total_v = float(df.total_conversion_value.sum())
    for name in MODELS:
        for kw in ({"order": 1}, {"order": 2}) if name == "markov" else ({},):
            res = attribute(df, name, **kw)
            assert res.conversions.sum() == pytest.approx(total_c, rel=1e-9, abs=1e-9), name
            assert res.value.sum() == pytest.approx(total_v, rel=1e-9, abs=1e-6), name
            assert (res.conversions >= 0).all() and (res.value >= 0).all(), name


@settings(max_examples=40, deadline=None)
@given(st.lists(row, min_size=1, max_size=6), st.sampled_from([1, 2]))
def test_markov_removal_effects_are_exact(rows, order):
    df = table(rows)
    m = MarkovChain(order=order).fit(df)
    indep = independent_removal_effects(df, order)
    assert m.removal_effects_.to_dict() == pytest.approx(indep, abs=1e-8)


@settings(max_examples=40, deadline=None)
@given(st.lists(row, min_size=1, max_size=8))
def test_shapley_equals_simplified_closed_form(rows):
    df = table(rows)
    data = parse_paths(df)
    s = Shapley().fit(df)
    assert s.shapley_values_.to_numpy() == pytest.approx(simplified_shapley(data), abs=1e-9)
