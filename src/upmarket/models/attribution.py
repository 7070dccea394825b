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

Paths are held flat — one integer array of channel codes for all touches plus path offsets —
and every model is a handful of array operations over it, never a Python loop over paths: a
million journeys make a few hundred thousand distinct paths and millions of touches, and the
`upmarket attribution` command is timed whole against ChannelAttribution (bench/).  For the
same reason this module imports only numpy and pandas at import time; pyarrow (which pandas
loads for text anyway) when it reads paths, scipy only for Markov chains too large to solve
densely.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from math import factorial

import numpy as np
import pandas as pd

from upmarket.errors import Msg, UpmarketError

SEP = ">"
REQUIRED = ("path", "total_conversions")
OPTIONAL = ("total_conversion_value", "total_null")

#: Between the channels of a canonical path key; refused inside a path.
_UNIT = "\x1f"


class BadPaths(UpmarketError, ValueError):
    """The path table cannot be read: a column is missing or a row is malformed."""


class TooManyChannels(UpmarketError, ValueError):
    """Exact Shapley attribution over too many channels (it enumerates 2^n coalitions)."""


# ---------------------------------------------------------------------------------------------
# input


@dataclass(frozen=True, eq=False)
class Paths:
    """A validated path table, distinct paths only (duplicate rows are summed), stored flat:
    path i is ``codes[offsets[i]:offsets[i + 1]]``, indices into the sorted ``channels``, with
    its conversions, value and null counts. ``paths`` gives the paths as tuples of names."""

    codes: np.ndarray
    offsets: np.ndarray
    conversions: np.ndarray
    value: np.ndarray
    null: np.ndarray
    channels: list[str]

    def __len__(self) -> int:
        return len(self.conversions)

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    @cached_property
    def paths(self) -> list[tuple[str, ...]]:
        names = np.array(self.channels, dtype=object)[self.codes].tolist()
        bounds = self.offsets.tolist()
        return [tuple(names[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]

    @property
    def total_conversions(self) -> float:
        return float(self.conversions.sum())

    @property
    def total_value(self) -> float:
        return float(self.value.sum())

    def touch_index(self) -> tuple[np.ndarray, np.ndarray]:
        """For every touch: the path it belongs to and its 0-based position in that path."""
        lengths = self.lengths
        path_of = np.repeat(np.arange(len(lengths)), lengths)
        pos = np.arange(len(self.codes)) - self.offsets[:-1][path_of]
        return path_of, pos


def _number(raw, column: str, row: int) -> float:
    try:
        x = float(raw)
    except (TypeError, ValueError):
        raise BadPaths("err.paths.not_number", row=row, column=column, value=raw) from None
    if np.isnan(x):
        raise BadPaths("err.paths.empty_number", row=row, column=column)
    if not np.isfinite(x) or x < 0:
        raise BadPaths("err.paths.negative", row=row, column=column, value=raw)
    return x


def _split(text: pd.Series, sep: str):
    """The path column cut into channels, in Arrow's compute kernels (a million touches in a
    few tenths of a second; the earlier regular expression per path took 1.7 s on 210k paths):
    per path the trimmed text, and per touch the trimmed channel name, with per-path counts.
    pyarrow is a dependency of the project, and pandas 3 holds text columns in it anyway."""
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        arr = pa.array(text, type=pa.large_string(), from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # an object column holding non-text values
        arr = pa.array([v if isinstance(v, str) else None for v in text.tolist()],
                       type=pa.large_string())
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    trimmed = pc.utf8_trim_whitespace(arr)
    tok = sep.strip()
    lists = pc.split_pattern(trimmed, tok) if tok else pc.utf8_split_whitespace(trimmed)
    lengths = pc.list_value_length(lists).to_numpy(zero_copy_only=False)
    flat = pc.utf8_trim_whitespace(pc.list_flatten(lists))
    return trimmed, flat, lengths


def _first(mask) -> int:
    """Index of the first true value of an Arrow boolean array (nulls count as true)."""
    import pyarrow.compute as pc

    return int(np.flatnonzero(pc.fill_null(mask, True).to_numpy(zero_copy_only=False))[0])


def parse_paths(df: pd.DataFrame | Paths, sep: str = SEP) -> Paths:
    """Validate and normalise a path table. Rows are named 1-based in errors ("row 3" is the
    third data row, line 4 of a CSV file with a header)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(df, Paths):
        return df
    if not isinstance(df, pd.DataFrame):
        raise BadPaths(f"expected a table (DataFrame) of paths, got {type(df).__name__}")
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        raise BadPaths("err.paths.columns", missing=", ".join(missing),
                       found=", ".join(map(str, df.columns)) or Msg("err.none"))
    if len(df) == 0:
        raise BadPaths("err.paths.empty")
    # Validation and grouping are column operations; only the first offending row is looked at
    # one by one, to word its error.
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
    trimmed, flat, lengths = _split(text, sep)
    empty = pc.equal(pc.utf8_length(trimmed), 0)
    if pc.any(pc.fill_null(empty, True)).as_py():
        i = _first(empty)
        raise BadPaths("err.paths.no_path", row=i + 1)
    if pc.any(pc.match_substring(trimmed, _UNIT)).as_py():
        i = _first(pc.match_substring(trimmed, _UNIT))
        raise BadPaths("err.paths.control", row=i + 1, path=text.iloc[i])
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.intp)
    hole = pc.equal(pc.utf8_length(flat), 0)
    if pc.any(hole).as_py():
        i = int(np.searchsorted(offsets, _first(hole), side="right") - 1)
        raise BadPaths("err.paths.hole", row=i + 1, path=text.iloc[i], sep=sep)
    lost = (numbers["total_conversion_value"] > 0) & (numbers["total_conversions"] == 0)
    if lost.any():
        i = int(np.flatnonzero(lost)[0])
        raise BadPaths("err.paths.value_without", row=i + 1, path=text.iloc[i],
                       value=numbers["total_conversion_value"][i])

    enc = pc.dictionary_encode(flat)
    codes = enc.indices.to_numpy(zero_copy_only=False).astype(np.intp)
    names = enc.dictionary.to_pylist()
    # the same path may be written twice ("a>b", "a > b"): group on the canonical form
    listed = pa.LargeListArray.from_arrays(pa.array(offsets, pa.int64()), flat)
    keys = pc.binary_join(listed, pa.scalar(_UNIT, flat.type))
    group = pc.dictionary_encode(keys).indices.to_numpy(zero_copy_only=False)
    g = int(group.max()) + 1  # numbered by first sight
    cols = ("total_conversions", "total_conversion_value", "total_null")
    if g < len(group):
        sums = [np.bincount(group, weights=numbers[c], minlength=g) for c in cols]
        first = np.unique(group, return_index=True)[1]
        glen = lengths[first]
        goff = np.concatenate([[0], np.cumsum(glen)]).astype(np.intp)
        gather = np.repeat(offsets[first] - goff[:-1], glen) + np.arange(goff[-1])
        codes, offsets = codes[gather], goff
    else:
        sums = [numbers[c] for c in cols]

    # channels sorted by name; codes renumbered to match
    order = sorted(range(len(names)), key=names.__getitem__)
    rank = np.zeros(len(names), dtype=np.intp)
    rank[order] = np.arange(len(order))
    return Paths(rank[codes], offsets, sums[0].astype(float), sums[1].astype(float),
                 sums[2].astype(float), [names[j] for j in order])


def _result(channels: list[str], conv: np.ndarray, value: np.ndarray) -> pd.DataFrame:
    total = conv.sum()
    share = conv / total if total > 0 else np.zeros_like(conv)
    out = pd.DataFrame({"channel": channels, "conversions": conv, "value": value, "share": share})
    return out.sort_values(["conversions", "channel"], ascending=[False, True],
                           ignore_index=True)


# ---------------------------------------------------------------------------------------------
# models


class _Attribution:
    """Shared fit: subclasses give every touch's credit weight from its position in its path
    and the path's length (weights summing to 1 over a path's touches), or override
    :meth:`_credit` entirely."""

    name = ""

    def fit(self, paths: pd.DataFrame | Paths, sep: str = SEP):
        data = parse_paths(paths, sep)
        conv, value = self._credit(data)
        self.channels_ = data.channels
        self.total_conversions_ = data.total_conversions
        self.total_value_ = data.total_value
        self.attribution_ = _result(data.channels, conv, value)
        return self

    def _weights(self, pos: np.ndarray, k: np.ndarray) -> np.ndarray:  # pragma: no cover
        """Credit of a touch at 0-based position `pos` of a path of `k` touches (arrays)."""
        raise NotImplementedError

    def _credit(self, data: Paths) -> tuple[np.ndarray, np.ndarray]:
        path_of, pos = data.touch_index()
        w = self._weights(pos, data.lengths[path_of])
        n = len(data.channels)
        conv = np.bincount(data.codes, weights=w * data.conversions[path_of], minlength=n)
        value = np.bincount(data.codes, weights=w * data.value[path_of], minlength=n)
        return conv, value


class FirstTouch(_Attribution):
    """All credit to the first touch of each path."""

    name = "first"

    def _weights(self, pos, k):
        return (pos == 0).astype(float)


class LastTouch(_Attribution):
    """All credit to the last touch of each path (the touch just before the conversion)."""

    name = "last"

    def _weights(self, pos, k):
        return (pos == k - 1).astype(float)


class Linear(_Attribution):
    """Equal credit 1/k to each of a path's k touches (a channel touched twice gets 2/k)."""

    name = "linear"

    def _weights(self, pos, k):
        return 1.0 / k


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

    def _weights(self, pos, k):
        # normaliser: the geometric sum over the path, sum_{j<k} q^j with q = 2^(-1/h)
        q = 2.0 ** (-1.0 / self.half_life)
        return q ** (k - 1 - pos) * (1.0 - q) / (1.0 - q ** k)


class PositionBased(_Attribution):
    """U-shaped credit: `first` to the first touch, `last` to the last, the rest split evenly
    over the touches in between (40/20/40 by default). A 1-touch path gives it 100 %, a 2-touch
    path splits first:last in proportion (50/50 by default)."""

    name = "position"

    def __init__(self, first: float = 0.4, last: float = 0.4):
        if first < 0 or last < 0 or first + last > 1:
            raise BadPaths("position-based weights need first, last >= 0 and first + last <= 1")
        self.first, self.last = first, last

    def _weights(self, pos, k):
        ends = self.first + self.last
        two = (np.array([self.first, self.last]) / ends) if ends > 0 else np.array([0.5, 0.5])
        middle = (1.0 - ends) / np.maximum(k - 2, 1)
        w = np.where(pos == 0, self.first, np.where(pos == k - 1, self.last, middle))
        w = np.where(k == 2, two[np.minimum(pos, 1)], w)
        return np.where(k == 1, 1.0, w)


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

    ChannelAttribution (Altomare & Loris) estimates the same removal effects by simulating
    walks on the chain, so its figures carry Monte-Carlo error; bench/ compares the two. Its
    higher-order states are the sliding windows of exactly k channels (a journey shorter than k
    is one state); the shorter states at the start of a journey here form a deterministic tree in
    front of the first window, so the absorption probabilities, and the removal effects, are the
    same (the tests check it).

    Parameters
    ----------
    order : k ≥ 1, the number of channels a state remembers.

    Attributes after :meth:`fit`: ``attribution_``, ``removal_effects_`` and
    ``value_removal_effects_`` (Series by channel), ``conversion_probability_`` (P),
    ``expected_value_`` (V), ``states_`` (the transient states, ``()`` is start).
    """

    name = "markov"
    #: Chains with at most this many states are solved densely (LAPACK); larger ones with a
    #: sparse LU (scipy, imported only then).
    DENSE_MAX = 400

    def __init__(self, order: int = 1):
        if int(order) != order or order < 1:
            raise BadPaths(f"the Markov order must be an integer >= 1, not {order!r}")
        self.order = int(order)

    def _states(self, data: Paths):
        """Every touch's state as an integer (0 is start, never a touch's) and each state's
        channel codes, most recent first (a row of `digits`, 0 = none, c + 1 = channel c)."""
        k, base = self.order, len(data.channels) + 1
        _, pos = data.touch_index()
        n = len(data.codes)
        shifted = np.zeros(n, dtype=np.int64)

        def digit(j: int) -> np.ndarray:  # channel j touches back (+1), 0 before the start
            shifted[:] = 0
            shifted[j:] = data.codes[:n - j] + 1
            return np.where(pos >= j, shifted, 0)

        if base ** k <= 2 ** 24:
            # the k digits packed into one integer below base^k: a lookup table numbers the
            # states in O(touches), where sorting millions of keys took most of the fit
            key = np.zeros(n, dtype=np.int64)
            for j in range(k):
                key += digit(j) * base ** j
            seen = np.zeros(base ** k, dtype=bool)
            seen[key] = True
            uniq = np.flatnonzero(seen)
            number = np.cumsum(seen) - 1
            inv = number[key]
            digits = (uniq[:, None] // base ** np.arange(k, dtype=np.int64)) % base
        else:
            digits, inv = np.unique(np.column_stack([digit(j) for j in range(k)]), axis=0,
                                    return_inverse=True)
        return inv.reshape(-1) + 1, digits, pos

    def _chain(self, data: Paths):
        m_paths = data.conversions + data.null
        if not (m_paths > 0).all():  # paths with neither conversions nor nulls weigh nothing
            live = m_paths > 0
            lengths = data.lengths[live]
            off = np.concatenate([[0], np.cumsum(lengths)])
            keep = np.repeat(live, data.lengths)
            data = Paths(data.codes[keep], off, data.conversions[live], data.value[live],
                         data.null[live], data.channels)
        state, digits, pos = self._states(data)
        m = len(digits) + 1
        prev = np.zeros_like(state)
        inner = np.flatnonzero(pos > 0)
        prev[inner] = state[inner - 1]
        path_of = np.repeat(np.arange(len(data)), data.lengths)
        w = (data.conversions + data.null)[path_of]
        last = state[data.offsets[1:] - 1]
        conv = np.bincount(last, weights=data.conversions, minlength=m)
        null = np.bincount(last, weights=data.null, minlength=m)
        val = np.bincount(last, weights=data.value, minlength=m)
        if m * m <= 2 ** 24:  # transition counts: a bincount over state pairs is O(touches)
            counts = np.bincount(prev * m + state, weights=w, minlength=m * m).reshape(m, m)
            out = counts.sum(axis=1) + conv + null
        else:
            import scipy.sparse as sp

            counts = sp.csr_matrix((w, (prev, state)), shape=(m, m))  # duplicates are summed
            out = np.asarray(counts.sum(axis=1)).ravel() + conv + null
        out[out == 0] = 1.0  # only start, when every path has zero weight
        if m <= self.DENSE_MAX:
            Q = counts / out[:, None]
        else:
            import scipy.sparse as sp

            Q = sp.csc_matrix(counts) if isinstance(counts, np.ndarray) else counts
            Q = (sp.diags(1.0 / out) @ Q).tocsc()
        # rewards: P(s -> conversion), and P(s -> conversion) x mean value of those conversions
        R = np.column_stack([conv / out, val / out])
        names = data.channels
        states = [()] + [tuple(names[d - 1] for d in row[::-1] if d) for row in digits.tolist()]
        # members[c]: the states containing channel c (start, row 0, contains none)
        contains = np.zeros((len(names), m), dtype=bool)
        for j in range(digits.shape[1]):
            d = digits[:, j]
            hit = np.flatnonzero(d)
            contains[d[hit] - 1, hit + 1] = True
        return states, Q, R, contains

    @staticmethod
    def _solve(Q, R: np.ndarray, keep: np.ndarray) -> np.ndarray:
        """x_start of (I − Q) x = R restricted to the kept states (removed ones absorb into
        null, so their x is 0). Returns (P, V)."""
        idx = np.flatnonzero(keep)
        if isinstance(Q, np.ndarray):
            A = np.eye(len(idx)) - Q[np.ix_(idx, idx)]
            x = np.linalg.solve(A, R[idx])
        else:
            import scipy.sparse as sp
            from scipy.sparse.linalg import splu

            A = (sp.identity(len(idx), format="csc") - Q[idx][:, idx]).tocsc()
            x = splu(A).solve(np.ascontiguousarray(R[idx]))
        return x[0]  # state 0 (start) is always kept and first

    def _credit(self, data: Paths):
        states, Q, R, contains = self._chain(data)
        self.states_ = states
        full = self._solve(Q, R, np.ones(len(states), dtype=bool))
        self.conversion_probability_, self.expected_value_ = float(full[0]), float(full[1])
        re = np.zeros((len(data.channels), 2))
        for j in range(len(data.channels)):
            if not contains[j].any():
                continue
            removed = self._solve(Q, R, ~contains[j])
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
            raise TooManyChannels("err.paths.shapley", n=n, limit=self.max_channels)
        # each path's channel set as a bit mask
        bits = np.left_shift(np.int64(1), data.codes.astype(np.int64))
        masks = np.bitwise_or.reduceat(bits, data.offsets[:-1])
        r = np.column_stack([np.bincount(masks, weights=data.conversions, minlength=1 << n),
                             np.bincount(masks, weights=data.value, minlength=1 << n)])
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
