"""Multi-touch attribution over a table of channel paths.

Input is the table ChannelAttribution users know: one row per distinct path with columns

* ``path`` — channels in touch order joined by ``" > "`` (``"search > email > offline"``),
* ``total_conversions`` — journeys along this path that converted (required),
* ``total_conversion_value`` — their summed value (optional, 0 when absent),
* ``total_null`` — journeys along this path that did not convert (optional, 0 when absent).

Every model returns, per channel, the attributed conversions and value and the channel's share
of conversions; every model attributes exactly the table's total conversions and total value
(the *conservation* property, checked by the tests for every model).

Models: first-touch, last-touch, linear, time-decay (half-life in touches), position-based
(40/20/40), Markov chain of order k with exact removal effects (Anderl, Becker, von Wangenheim &
Schumann 2016) and the Shapley value (Shapley 1953; the data-driven form of Dalessandro et al.
2012 and Zhao et al. 2018).  Use :func:`attribute` for one call, or the classes (``fit(paths)``
returns self; results in ``attribution_``).
"""

from __future__ import annotations

import re

from dataclasses import dataclass
from math import factorial

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.sparse.linalg import splu

from upmarket.errors import UpmarketError

SEP = ">"
REQUIRED = ("path", "total_conversions")
OPTIONAL = ("total_conversion_value", "total_null")


class BadPaths(UpmarketError, ValueError):
    """The path table cannot be read: a column is missing or a row is malformed."""


class TooManyChannels(UpmarketError, ValueError):
    """Exact Shapley attribution over too many channels (it enumerates 2^n coalitions)."""


# ---------------------------------------------------------------------------------------------
# input


@dataclass(frozen=True)
class Paths:
    """A validated path table: `paths[i]` is a tuple of channel names, with its conversions,
    value and null counts; distinct paths only (duplicate rows are summed)."""

    paths: list[tuple[str, ...]]
    conversions: np.ndarray
    value: np.ndarray
    null: np.ndarray
    channels: list[str]

    @property
    def total_conversions(self) -> float:
        return float(self.conversions.sum())

    @property
    def total_value(self) -> float:
        return float(self.value.sum())


def _number(raw, column: str, row: int) -> float:
    try:
        x = float(raw)
    except (TypeError, ValueError):
        raise BadPaths(f"row {row}: {column} is {raw!r}, not a number") from None
    if np.isnan(x):
        raise BadPaths(f"row {row}: {column} is empty; write 0 when there is none")
    if not np.isfinite(x) or x < 0:
        raise BadPaths(f"row {row}: {column} must be a finite number >= 0, not {raw!r}")
    return x


def parse_paths(df: pd.DataFrame | Paths, sep: str = SEP) -> Paths:
    """Validate and normalise a path table. Rows are named 1-based in errors ("row 3" is the
    third data row, line 4 of a CSV file with a header)."""
    if isinstance(df, Paths):
        return df
    if not isinstance(df, pd.DataFrame):
        raise BadPaths(f"expected a table (DataFrame) of paths, got {type(df).__name__}")
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        raise BadPaths(f"the path table lacks column(s) {', '.join(missing)}; expected "
                       f"path,total_conversions[,total_conversion_value,total_null] "
                       f"(found: {', '.join(map(str, df.columns)) or 'none'})")
    if len(df) == 0:
        raise BadPaths("the path table has no rows")
    # Validation and grouping are column operations; only the first offending row is looked at
    # one by one, to word its error (a per-row Python loop took 1.3 s on 100k paths).
    has_value, has_null = "total_conversion_value" in df.columns, "total_null" in df.columns
    numbers = {}
    for col, present in (("total_conversions", True), ("total_conversion_value", has_value),
                         ("total_null", has_null)):
        if not present:
            numbers[col] = np.zeros(len(df))
            continue
        raw = df[col]
        x = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float)
        bad = ~np.isfinite(x) | (x < 0)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            _number(raw.iloc[i], col, i + 1)  # raises with the row's own wording
        numbers[col] = x
    text = df["path"]
    is_text = text.map(lambda v: isinstance(v, str)).to_numpy(bool)
    stripped = text.where(is_text, "").astype(str).str.strip()
    empty = (stripped == "").to_numpy()
    if empty.any():
        i = int(np.flatnonzero(empty)[0])
        raise BadPaths(f"row {i + 1}: path is empty; write channels as 'search > email'")
    token = re.escape(sep.strip()) if sep.strip() else re.escape(sep)
    canonical = stripped.str.replace(rf"\s*{token}\s*", "\x1f", regex=True)
    hole = canonical.str.contains("^\x1f|\x1f\x1f|\x1f$", regex=True).to_numpy()
    if hole.any():
        i = int(np.flatnonzero(hole)[0])
        raise BadPaths(f"row {i + 1}: path {text.iloc[i]!r} has an empty channel between "
                       f"{sep!r} separators")
    lost = (numbers["total_conversion_value"] > 0) & (numbers["total_conversions"] == 0)
    if lost.any():
        i = int(np.flatnonzero(lost)[0])
        raise BadPaths(f"row {i + 1}: path {text.iloc[i]!r} has conversion value "
                       f"{numbers['total_conversion_value'][i]} but no conversions")
    grouped = pd.DataFrame({"path": canonical.to_numpy(), **numbers}).groupby(
        "path", sort=False)[["total_conversions", "total_conversion_value", "total_null"]].sum()
    paths = [tuple(p.split("\x1f")) for p in grouped.index]
    arr = grouped.to_numpy(dtype=float)
    channels = sorted({ch for path in paths for ch in path})
    return Paths(paths, arr[:, 0], arr[:, 1], arr[:, 2], channels)


def _result(channels: list[str], conv: np.ndarray, value: np.ndarray) -> pd.DataFrame:
    total = conv.sum()
    share = conv / total if total > 0 else np.zeros_like(conv)
    out = pd.DataFrame({"channel": channels, "conversions": conv, "value": value, "share": share})
    return out.sort_values(["conversions", "channel"], ascending=[False, True],
                           ignore_index=True)


# ---------------------------------------------------------------------------------------------
# models


class _Attribution:
    """Shared fit: subclasses give each path's credit weights (summing to 1 over its touches)
    or override :meth:`_credit` entirely."""

    name = ""

    def fit(self, paths: pd.DataFrame | Paths, sep: str = SEP):
        data = parse_paths(paths, sep)
        conv, value = self._credit(data)
        self.channels_ = data.channels
        self.total_conversions_ = data.total_conversions
        self.total_value_ = data.total_value
        self.attribution_ = _result(data.channels, conv, value)
        return self

    def _weights(self, k: int) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def _credit(self, data: Paths) -> tuple[np.ndarray, np.ndarray]:
        index = {ch: j for j, ch in enumerate(data.channels)}
        conv = np.zeros(len(index))
        value = np.zeros(len(index))
        cache: dict[int, np.ndarray] = {}
        for path, c, v in zip(data.paths, data.conversions, data.value):
            if c == 0 and v == 0:
                continue
            k = len(path)
            w = cache.get(k)
            if w is None:
                w = cache[k] = self._weights(k)
            idx = [index[ch] for ch in path]
            np.add.at(conv, idx, w * c)
            np.add.at(value, idx, w * v)
        return conv, value


class FirstTouch(_Attribution):
    """All credit to the first touch of each path."""

    name = "first"

    def _weights(self, k):
        w = np.zeros(k)
        w[0] = 1.0
        return w


class LastTouch(_Attribution):
    """All credit to the last touch of each path (the touch just before the conversion)."""

    name = "last"

    def _weights(self, k):
        w = np.zeros(k)
        w[-1] = 1.0
        return w


class Linear(_Attribution):
    """Equal credit 1/k to each of a path's k touches (a channel touched twice gets 2/k)."""

    name = "linear"

    def _weights(self, k):
        return np.full(k, 1.0 / k)


class TimeDecay(_Attribution):
    """Credit decaying with distance from the conversion, measured in touches (the path format
    carries no times): touch i (0-based) of k weighs 2^(-(k-1-i)/half_life), normalised over the
    path, so the last touch weighs 1, the touch `half_life` touches earlier 1/2.

    Parameters
    ----------
    half_life : touches after which a touch's weight halves (> 0); default 1.
    """

    name = "time-decay"

    def __init__(self, half_life: float = 1.0):
        if not (half_life > 0 and np.isfinite(half_life)):
            raise BadPaths(f"half_life must be a positive number of touches, not {half_life!r}")
        self.half_life = half_life

    def _weights(self, k):
        w = 2.0 ** (-(k - 1 - np.arange(k)) / self.half_life)
        return w / w.sum()


class PositionBased(_Attribution):
    """U-shaped credit: `first` to the first touch, `last` to the last, the rest split evenly
    over the touches in between (40/20/40 by default). A 1-touch path gives it 100 %, a 2-touch
    path splits first:last in proportion (50/50 by default)."""

    name = "position"

    def __init__(self, first: float = 0.4, last: float = 0.4):
        if first < 0 or last < 0 or first + last > 1:
            raise BadPaths("position-based weights need first, last >= 0 and first + last <= 1")
        self.first, self.last = first, last

    def _weights(self, k):
        if k == 1:
            return np.ones(1)
        if k == 2:
            ends = self.first + self.last
            return np.array([self.first, self.last]) / ends if ends > 0 else np.full(2, 0.5)
        w = np.full(k, (1.0 - self.first - self.last) / (k - 2))
        w[0], w[-1] = self.first, self.last
        return w


class MarkovChain(_Attribution):
    """Markov-chain attribution with removal effects (Anderl, Becker, von Wangenheim & Schumann
    2016, "Mapping the customer journey: lessons learned from graph-based online attribution
    modeling", IJRM 33(3), 457-474; ABvWS below).

    Journeys are walks ``start → s_1 → … → s_n → conversion | null``; with order k the state
    s_i is the tuple of the last min(i, k) channels (ABvWS §3.2, higher-order chains), so a
    first-order chain has one state per channel. Transition probabilities are the observed
    transition counts, each path weighted by its conversions + nulls, normalised per state
    (maximum likelihood).

    The conversion probability P = P(absorbed in conversion | start) is solved *exactly* from the
    absorbing chain: with Q the transient-to-transient block and r_s = P(s → conversion),
    x = Q x + r, i.e. (I − Q) x = r, and P = x_start (Kemeny & Snell's fundamental matrix
    N = (I − Q)⁻¹, absorption probabilities B = N R). The *removal effect* of channel c is
    RE_c = 1 − P₋c / P, where P₋c is the same probability after every state containing c is
    turned into the null state (ABvWS eq. 3-4). Conversions are attributed as
    RE_c / Σ_j RE_j × total conversions.

    Value: the expected conversion value from start, V = x_start with reward
    r_s = P(s → conversion) × mean value of the conversions leaving s, gives value removal
    effects RE^v_c = 1 − V₋c / V, normalised and scaled to the total value the same way (equal
    to the conversion shares when every conversion is worth the same).

    Parameters
    ----------
    order : k ≥ 1, the number of channels a state remembers.

    Attributes after :meth:`fit`: ``attribution_``, ``removal_effects_`` and
    ``value_removal_effects_`` (Series by channel), ``conversion_probability_`` (P),
    ``expected_value_`` (V), ``states_`` (the transient states, ``()`` is start).
    """

    name = "markov"

    def __init__(self, order: int = 1):
        if int(order) != order or order < 1:
            raise BadPaths(f"the Markov order must be an integer >= 1, not {order!r}")
        self.order = int(order)

    def _chain(self, data: Paths):
        k = self.order
        index: dict[tuple[str, ...], int] = {(): 0}
        rows: list[int] = []
        cols: list[int] = []
        weights: list[float] = []
        to_conv: dict[int, float] = {}
        to_null: dict[int, float] = {}
        conv_value: dict[int, float] = {}
        for path, c, v, n in zip(data.paths, data.conversions, data.value, data.null):
            w = c + n
            if w == 0:
                continue
            prev = 0
            for i in range(len(path)):
                state = path[max(0, i + 1 - k): i + 1]
                s = index.get(state)
                if s is None:
                    s = index[state] = len(index)
                rows.append(prev)
                cols.append(s)
                weights.append(w)
                prev = s
            to_conv[prev] = to_conv.get(prev, 0.0) + c
            to_null[prev] = to_null.get(prev, 0.0) + n
            conv_value[prev] = conv_value.get(prev, 0.0) + v
        m = len(index)
        counts = sp.csr_matrix((weights, (rows, cols)), shape=(m, m))  # duplicates are summed
        conv = np.zeros(m)
        null = np.zeros(m)
        val = np.zeros(m)
        for s, x in to_conv.items():
            conv[s] = x
        for s, x in to_null.items():
            null[s] = x
        for s, x in conv_value.items():
            val[s] = x
        out = np.asarray(counts.sum(axis=1)).ravel() + conv + null
        out[out == 0] = 1.0  # only start, when every path has zero weight
        inv = sp.diags(1.0 / out)
        Q = (inv @ counts).tocsc()
        # rewards: P(s -> conversion), and P(s -> conversion) x mean value of those conversions
        R = np.column_stack([conv / out, val / out])
        states = [None] * m
        for st, s in index.items():
            states[s] = st
        return states, Q, R

    @staticmethod
    def _solve(Q: sp.csc_matrix, R: np.ndarray, keep: np.ndarray) -> np.ndarray:
        """x_start of (I − Q) x = R restricted to the kept states (removed ones absorb into
        null, so their x is 0). Returns (P, V)."""
        idx = np.flatnonzero(keep)
        A = (sp.identity(len(idx), format="csc") - Q[idx][:, idx]).tocsc()
        x = splu(A).solve(np.ascontiguousarray(R[idx]))
        return x[0]  # state 0 (start) is always kept and first

    def _credit(self, data: Paths):
        states, Q, R = self._chain(data)
        self.states_ = states
        full = self._solve(Q, R, np.ones(len(states), dtype=bool))
        self.conversion_probability_, self.expected_value_ = float(full[0]), float(full[1])
        members: dict[str, list[int]] = {ch: [] for ch in data.channels}
        for s, st in enumerate(states):
            for ch in set(st):
                members[ch].append(s)
        re = np.zeros((len(data.channels), 2))
        for j, ch in enumerate(data.channels):
            keep = np.ones(len(states), dtype=bool)
            keep[members[ch]] = False
            if keep.all():
                continue
            removed = self._solve(Q, R, keep)
            with np.errstate(divide="ignore", invalid="ignore"):
                re[j] = np.where(full > 0, 1.0 - removed / full, 0.0)
        re = np.clip(re, 0.0, 1.0)  # round-off only: removal never raises the probability
        self.removal_effects_ = pd.Series(re[:, 0], index=data.channels, name="removal_effect")
        self.value_removal_effects_ = pd.Series(re[:, 1], index=data.channels,
                                                name="value_removal_effect")
        totals = np.array([data.total_conversions, data.total_value])
        sums = re.sum(axis=0)
        credit = np.where(sums > 0, re / np.where(sums > 0, sums, 1.0), 0.0) * totals
        return credit[:, 0], credit[:, 1]


class Shapley(_Attribution):
    """Data-driven Shapley-value attribution (Shapley 1953, "A value for n-person games";
    Dalessandro, Perlich, Stitelman & Provost 2012, "Causally motivated attribution for online
    advertising", ADKDD; Zhao, Mahboobi & Bagheri 2018, "Shapley value methods for attribution
    modeling in online advertising", arXiv:1804.05327).

    Players are channels; the value of a coalition S is the conversions (or conversion value) of
    the paths whose *set* of channels is a subset of S, v(S) = Σ_{T ⊆ S} r(T) with r(T) the
    conversions of paths touching exactly the channels T. "⊆" rather than "= S" because then
    v(all channels) is the total, so the Shapley values sum to the total conversions
    (efficiency), which the exact-set version would break (it would only count paths that
    touched every channel). Nulls do not enter (the coalition value counts conversions).

    The Shapley value φ_c = Σ_{S ∌ c} |S|!(n−|S|−1)!/n! (v(S ∪ {c}) − v(S)) is computed exactly
    over all 2^n coalitions (a zeta transform gives every v(S) in O(n 2^n)); with "⊆" it equals
    Zhao et al.'s simplified form Σ_{T ∋ c} r(T)/|T|, which the tests check.

    Parameters
    ----------
    max_channels : refuse more channels than this (2^n coalitions); default 15.
    """

    name = "shapley"

    def __init__(self, max_channels: int = 15):
        self.max_channels = max_channels

    def _credit(self, data: Paths):
        n = len(data.channels)
        if n > self.max_channels:
            raise TooManyChannels(
                f"exact Shapley attribution enumerates 2^n channel coalitions and this table has "
                f"{n} channels (limit {self.max_channels}); merge rare channels or use --model "
                f"markov")
        index = {ch: j for j, ch in enumerate(data.channels)}
        r = np.zeros((1 << n, 2))
        for path, c, v in zip(data.paths, data.conversions, data.value):
            mask = 0
            for ch in path:
                mask |= 1 << index[ch]
            r[mask] += (c, v)
        # zeta transform: v(S) = sum over T subset of S of r(T)
        vals = r.copy()
        masks = np.arange(1 << n)
        for j in range(n):
            has = (masks >> j) & 1 == 1
            vals[has] += vals[masks[has] ^ (1 << j)]
        size = np.array([bin(m).count("1") for m in range(1 << n)])
        weight = np.array([factorial(s) * factorial(n - s - 1) / factorial(n) if s < n else 0.0
                           for s in range(n + 1)])
        phi = np.zeros((n, 2))
        for j in range(n):
            without = masks[(masks >> j) & 1 == 0]
            marginal = vals[without | (1 << j)] - vals[without]
            phi[j] = (weight[size[without]][:, None] * marginal).sum(axis=0)
        self.shapley_values_ = pd.Series(phi[:, 0], index=data.channels, name="shapley")
        return phi[:, 0], phi[:, 1]


MODELS = {
    "first": FirstTouch, "last": LastTouch, "linear": Linear, "time-decay": TimeDecay,
    "position": PositionBased, "markov": MarkovChain, "shapley": Shapley,
}


def make_model(model: str, *, order: int = 1, half_life: float = 1.0, **options):
    """The model called `model` (one of :data:`MODELS`) with its options."""
    try:
        cls = MODELS[model]
    except KeyError:
        raise BadPaths(f"unknown attribution model {model!r}; choose one of "
                       f"{', '.join(MODELS)}") from None
    if cls is MarkovChain:
        return cls(order=order)
    if cls is TimeDecay:
        return cls(half_life=half_life)
    return cls(**options)


def attribute(paths_df: pd.DataFrame | Paths, model: str = "markov", *, sep: str = SEP,
              **options) -> pd.DataFrame:
    """Attribute a path table with one model: a DataFrame (channel, conversions, value, share),
    largest first, summing to the table's total conversions and value.

    Options: ``order`` (markov), ``half_life`` (time-decay), ``first``/``last`` (position),
    ``max_channels`` (shapley).
    """
    return make_model(model, **options).fit(paths_df, sep=sep).attribution_


def simplified_shapley(data: Paths) -> np.ndarray:
    """Zhao et al. (2018) closed form Σ_{T ∋ c} r(T)/|T| for conversions, per channel of
    ``data.channels`` — a cross-check of :class:`Shapley`, valid for any number of channels."""
    index = {ch: j for j, ch in enumerate(data.channels)}
    out = np.zeros(len(index))
    for path, c in zip(data.paths, data.conversions):
        chans = set(path)
        for ch in chans:
            out[index[ch]] += c / len(chans)
    return out


__all__ = ["BadPaths", "TooManyChannels", "Paths", "parse_paths", "attribute", "make_model",
           "MODELS", "FirstTouch", "LastTouch", "Linear", "TimeDecay", "PositionBased",
           "MarkovChain", "Shapley", "simplified_shapley"]
