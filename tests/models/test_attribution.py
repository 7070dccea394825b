"""Attribution models: hand-computed examples, exact Markov removal effects against an
independent computation, Shapley axioms, and conservation of totals for every model."""

from __future__ import annotations

import itertools

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

#: a random path-table row: (path over a..e, conversions, value, nulls)
row = st.tuples(
    st.lists(st.sampled_from("abcde"), min_size=1, max_size=5),
    st.integers(0, 20), st.floats(0, 1000, allow_nan=False), st.integers(0, 20),
).map(lambda r: (" > ".join(r[0]), r[1], r[2] if r[1] > 0 else 0.0, r[3]))


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


def test_markov_two_channel_cycle_by_hand():
    # "a > b" twice converting: start→a, a→b, b→conversion; "a > b > a" once not: start→a,
    # a→b, b→a, a→null; the path with neither conversions nor nulls weighs nothing. So a→b 3/4,
    # a→null 1/4; b→a 1/3, b→conversion 2/3, and
    # x_b = 1/3 x_a + 2/3, x_a = 3/4 x_b  =>  x_a = 3/4 (1/3 x_a + 2/3)  =>  x_a = 2/3 = P.
    # Without a or without b nothing converts: both removal effects are 1, credit 50/50.
    df = table([("a > b", 2, 0, 0), ("a > b > a > b", 0, 0, 0), ("a > b > a", 0, 0, 1)])
    m = MarkovChain().fit(df)
    assert m.conversion_probability_ == pytest.approx(2 / 3)
    assert m.removal_effects_.to_dict() == pytest.approx({"a": 1.0, "b": 1.0})
    # with a second route that skips a, removing a keeps it: start→b 1/2 of the journeys
    df2 = table([("a > b", 2), ("a > b > a", 0, 0, 1), ("b", 1, 0, 2)])
    # start→a 3/6, start→b 3/6; a→b 3/4, a→null 1/4; b→conv 3/6, b→a 1/6, b→null 2/6
    # x_b = 1/6 x_a + 1/2, x_a = 3/4 x_b  =>  x_b (1 - 1/8) = 1/2  =>  x_b = 4/7, x_a = 3/7
    # P = (3/7 + 4/7) / 2 = 1/2; without a: x_b = 1/2, P = 1/4 (RE 1/2); without b: 0 (RE 1)
    m2 = MarkovChain().fit(df2)
    assert m2.conversion_probability_ == pytest.approx(0.5)
    assert m2.removal_effects_.to_dict() == pytest.approx({"a": 0.5, "b": 1.0})


def walk_probability(df, removed=None):
    """P(conversion) of the first-order chain of a table whose every path visits channels in
    alphabetical order without repeats, so the chain is acyclic: the sum over every walk from
    start of the product of its transition probabilities (no linear algebra, no iteration)."""
    data = parse_paths(df)
    out: dict = {}
    for path, c, n in zip(data.paths, data.conversions, data.null):
        states = ["START", *path]
        for s, t in zip(states, states[1:]):
            out.setdefault(s, {}).setdefault(t, 0.0)
            out[s][t] += c + n
        out.setdefault(states[-1], {}).setdefault("CONV", 0.0)
        out[states[-1]]["CONV"] += c
        out[states[-1]].setdefault("NULL", 0.0)
        out[states[-1]]["NULL"] += n

    def walks(s):
        if s == "CONV":
            return 1.0
        if s == "NULL" or s == removed:
            return 0.0
        tot = sum(out[s].values())
        return sum(w / tot * walks(t) for t, w in out[s].items()) if tot else 0.0

    return walks("START")


increasing = st.tuples(
    st.sets(st.sampled_from("abcde"), min_size=1, max_size=5).map(lambda s: " > ".join(sorted(s))),
    st.integers(0, 9), st.integers(0, 9))


@settings(max_examples=40, deadline=None)
@given(st.lists(increasing, min_size=1, max_size=8))
def test_markov_equals_walk_enumeration_on_acyclic_chains(rows):
    df = table([(p, c, 0.0, n) for p, c, n in rows])
    if df.total_conversions.sum() == 0:
        return
    m = MarkovChain().fit(df)
    full = walk_probability(df)
    assert m.conversion_probability_ == pytest.approx(full, abs=1e-12)
    for ch, re in m.removal_effects_.items():
        assert re == pytest.approx(1 - walk_probability(df, ch) / full, abs=1e-9)


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


def window_chain_removal_effects(df, order):
    """ChannelAttribution's k-order chain: states are the sliding windows of exactly k channels
    (a journey shorter than k is a single state), consecutive repeats collapsed; solved densely
    with numpy, the removed states' equations replaced by x = 0."""
    data = parse_paths(df)
    trans: dict = {}
    for path, c, n in zip(data.paths, data.conversions, data.null):
        if c + n == 0:
            continue
        wins = ([tuple(path)] if len(path) <= order else
                [tuple(path[i:i + order]) for i in range(len(path) - order + 1)])
        states = ["S"] + [w for i, w in enumerate(wins) if i == 0 or w != wins[i - 1]]
        for s, t in zip(states, states[1:]):
            trans.setdefault(s, {}).setdefault(t, 0.0)
            trans[s][t] += c + n
        for end, w in (("CONV", c), ("NULL", n)):
            trans.setdefault(states[-1], {}).setdefault(end, 0.0)
            trans[states[-1]][end] += w
    index = {s: i for i, s in enumerate(trans)}

    def p_conv(removed=None):
        A, r = np.eye(len(index)), np.zeros(len(index))
        for s, out in trans.items():
            if removed is not None and s != "S" and removed in s:
                continue
            tot = sum(out.values())
            for t, w in out.items():
                if t == "CONV":
                    r[index[s]] += w / tot
                elif t != "NULL" and (removed is None or removed not in t):
                    A[index[s], index[t]] -= w / tot
        return np.linalg.solve(A, r)[index["S"]]

    full = p_conv() if trans else 0.0
    return {ch: 1 - p_conv(ch) / full if full > 0 else 0.0 for ch in data.channels}


@settings(max_examples=30, deadline=None)
@given(st.lists(row, min_size=1, max_size=6), st.sampled_from([1, 2, 3]))
def test_markov_matches_channelattribution_window_chain(rows, order):
    df = table(rows)
    m = MarkovChain(order=order).fit(df)
    assert m.removal_effects_.to_dict() == pytest.approx(
        window_chain_removal_effects(df, order), abs=1e-8)


@settings(max_examples=25, deadline=None)
@given(st.lists(row, min_size=1, max_size=6), st.sampled_from([1, 2, 3]))
def test_sparse_solver_matches_dense(rows, order):
    # chains above DENSE_MAX states are solved with a sparse LU: force it on small ones
    df = table(rows)
    dense = MarkovChain(order=order).fit(df)
    sparse = MarkovChain(order=order)
    sparse.DENSE_MAX = 0
    sparse.fit(df)
    assert sparse.removal_effects_.to_dict() == pytest.approx(
        dense.removal_effects_.to_dict(), abs=1e-10)
    assert sparse.attribution_.equals(dense.attribution_) or sparse.attribution_.set_index(
        "channel").conversions.to_dict() == pytest.approx(
        dense.attribution_.set_index("channel").conversions.to_dict(), abs=1e-8)


def test_high_order_states_beyond_integer_packing():
    # 6 channels at order 10: 7^10 state codes do not fit the lookup table, so states are
    # numbered by sorting the rows of channel codes instead; still exact
    rng = np.random.default_rng(3)
    rows = [(" > ".join(rng.choice(list("abcdef"), int(rng.integers(1, 14)))),
             int(rng.integers(0, 4)), 0.0, int(rng.integers(0, 4))) for _ in range(30)]
    df = table(rows)
    m = MarkovChain(order=10).fit(df)
    assert 7 ** 10 > 2 ** 24
    assert m.removal_effects_.to_dict() == pytest.approx(
        independent_removal_effects(df, 10), abs=1e-8)
    assert set(map(len, m.states_)) == set(range(0, 11))


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


@settings(max_examples=40, deadline=None)
@given(st.lists(row, min_size=1, max_size=8))
def test_shapley_equals_average_over_orderings(rows):
    """The textbook definition, independent of the zeta transform and of the closed form: the
    mean over all n! orders of arrival of a channel's marginal contribution, with v(S) the
    conversions (and value) of the paths whose channel set is within S."""
    df = table(rows)
    data = parse_paths(df)
    sets = [frozenset(p) for p in data.paths]

    def v(coalition, what):
        return sum(x for s, x in zip(sets, what) if s <= coalition)

    phi = {ch: np.zeros(2) for ch in data.channels}
    orders = list(itertools.permutations(data.channels))
    for order in orders:
        before: set = set()
        for ch in order:
            for k, what in enumerate((data.conversions, data.value)):
                phi[ch][k] += v(before | {ch}, what) - v(before, what)
            before.add(ch)
    conv, value = credit(df, "shapley")
    assert conv == pytest.approx({ch: p[0] / len(orders) for ch, p in phi.items()}, abs=1e-9)
    assert value == pytest.approx({ch: p[1] / len(orders) for ch, p in phi.items()}, abs=1e-6)
    assert sum(conv.values()) == pytest.approx(data.total_conversions)  # efficiency


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

@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(row, min_size=1, max_size=8), st.floats(0.1, 5.0),
       st.floats(0, 0.5), st.floats(0, 0.5))
def test_every_model_conserves_totals(rows, half_life, first, last):
    df = table(rows)
    total_c = float(df.total_conversions.sum())
    total_v = float(df.total_conversion_value.sum())
    options = {"markov": ({"order": 1}, {"order": 2}, {"order": 3}),
               "time-decay": ({}, {"half_life": half_life}),
               "position": ({}, {"first": first, "last": last})}
    for name in MODELS:
        for kw in options.get(name, ({},)):
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
