"""The level engine: every member's level on every evaluation date, by the programme's rules.

A member's qualification on a date is the highest level whose bars their trailing-window
activity reaches (`trailing_activity`): net spend of the lines dated in the window (paid lines,
and the cancellations and returns registered in it, which net out what they reverse, as the
tiers' current value counts it) and the orders placed in the window that were not wholly
cancelled or returned before that date.

Levels follow the qualification with one asymmetry, the grace period (保级期) of loyalty
programmes: a member who qualifies for more moves up at once; one who falls below their level's
bars keeps the level until they have stayed below on every evaluation since for `grace_days`,
and then moves down to the level they qualify for. The history is a pure function of the
orders and the programme, evaluated on the start of every evaluation period and on the run's
own date, so two runs agree on every date both evaluate and the points a past order earned
(at the level in force when it was placed) never change.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import ibis
import numpy as np
import pandas as pd

from upmarket.currency import money
from upmarket.i18n import label
from upmarket.lookups import among
from upmarket.membership.programme import Programme

#: What happened to a member's level at the run's date against the previous evaluation.
CHANGES = ("new", "upgrade", "downgrade", "same")


def trailing_activity(orders: ibis.Table, dates: list[pd.Timestamp], programme: Programme
                      ) -> ibis.Table:
    """Per member and evaluation date: net spend and counted orders in the trailing window
    [date − window, date). Only members with activity in a window get a row there."""
    window = pd.DataFrame({"eval_date": pd.to_datetime(dates)})
    window["window_start"] = window["eval_date"] - programme.window()
    d = ibis.memtable(window.astype("datetime64[us]"))
    lines = orders.filter(orders.ts < ibis.literal(max(dates).to_pydatetime()))
    spent = lines.join(d, [lines.ts >= d.window_start, lines.ts < d.eval_date])
    spend = spent.group_by(["customer_id", "eval_date"]).aggregate(spend=spent.amount.sum())

    paid = lines.filter(lines.status == "paid")
    placed = paid.group_by(["customer_id", "order_id"]).aggregate(
        placed=paid.ts.min(), amount=paid.amount.sum())
    back = lines.filter(lines.status != "paid", lines.original_order_id.notnull())
    back = back.select(ref=back.original_order_id, back_ts=back.ts, back_amount=back.amount)
    p = placed.join(d, [placed.placed >= d.window_start, placed.placed < d.eval_date])
    r = back.join(d, [back.back_ts < d.eval_date])
    r = r.group_by(["ref", "eval_date"]).aggregate(reversed_=r.back_amount.sum())
    joined = p.left_join(r, [p.order_id == r.ref, p.eval_date == r.eval_date])
    kept = (joined.amount + joined.reversed_.fill_null(0.0)) > 0.005
    counted = joined.group_by(["customer_id", joined.eval_date]).aggregate(
        orders=kept.cast("int64").sum())
    out = spend.outer_join(counted, ["customer_id", "eval_date"])
    return out.select(customer_id=ibis.coalesce(out.customer_id, out.customer_id_right),
                      eval_date=ibis.coalesce(out.eval_date, out.eval_date_right),
                      spend=out.spend.fill_null(0.0), orders=out.orders.fill_null(0))


@dataclass
class LevelHistory:
    """Levels on every evaluation date: rows are `customers`, columns are `dates`."""

    customers: np.ndarray
    dates: list[pd.Timestamp]
    spend: np.ndarray
    orders: np.ndarray
    #: index into `programme.levels` of the level each member qualifies for / holds
    qualified: np.ndarray
    level: np.ndarray
    #: first evaluation date of the current stretch below the held level (NaT: not below)
    below_since: np.ndarray

    def level_at(self, customer_index: np.ndarray, when) -> np.ndarray:
        """The level in force at `when` (the latest evaluation on or before it)."""
        j = np.searchsorted(np.asarray(self.dates, "datetime64[ns]"),
                            np.asarray(when, "datetime64[ns]"), side="right") - 1
        return self.level[customer_index, np.maximum(j, 0)]


def qualified_level(spend: np.ndarray, orders: np.ndarray, programme: Programme) -> np.ndarray:
    found = np.zeros(len(spend), dtype=np.int64)
    for k, lv in enumerate(programme.levels):
        found = np.where(lv.qualifies(spend, orders), k, found)
    return found


def history(activity: pd.DataFrame, customers, dates: list[pd.Timestamp],
            programme: Programme, carried: pd.DataFrame | None = None) -> LevelHistory:
    """Run the level rules over `dates` for `customers` from their trailing activity
    (`trailing_activity`, materialised). `carried` (customer_id, joined_at, level) are the
    levels members held in an earlier system: from the first evaluation on or after joining a
    member holds at least that level, and keeps it through the grace period like any other."""
    customers = np.asarray(sorted(customers), dtype=object)
    row = pd.Index(customers)
    col = pd.Index(pd.to_datetime(dates))
    spend = np.zeros((len(row), len(col)))
    orders = np.zeros((len(row), len(col)), dtype=np.int64)
    if len(activity):
        ids = activity["customer_id"]
        # a categorical column (as `build_history` reads it) is looked up once per customer,
        # not once per row
        i = row.get_indexer(ids.cat.categories)[ids.cat.codes.to_numpy()] \
            if isinstance(ids.dtype, pd.CategoricalDtype) else row.get_indexer(ids)
        j = col.get_indexer(pd.to_datetime(activity["eval_date"]))
        ok = i >= 0
        spend[i[ok], j[ok]] = activity["spend"].to_numpy(float)[ok]
        orders[i[ok], j[ok]] = activity["orders"].to_numpy(np.int64)[ok]
    qualified = np.column_stack([qualified_level(spend[:, j], orders[:, j], programme)
                                 for j in range(len(col))]) if len(col) else \
        np.zeros((len(row), 0), dtype=np.int64)
    level = np.zeros_like(qualified)
    below = np.full(qualified.shape, np.datetime64("NaT"), dtype="datetime64[ns]")
    held = np.zeros(len(row), dtype=np.int64)
    since = np.full(len(row), np.datetime64("NaT"), dtype="datetime64[ns]")
    grace = np.timedelta64(programme.grace_days, "D")
    floor = np.full(len(row), -1, dtype=np.int64)
    floor_at = np.full(len(row), np.datetime64("NaT"), dtype="datetime64[ns]")
    if carried is not None and len(carried):
        c = carried[carried["level"].notna() & among(carried["customer_id"], row)]
        i = row.get_indexer(c["customer_id"])
        floor[i] = [programme.codes.index(code) for code in c["level"]]
        floor_at[i] = pd.to_datetime(c["joined_at"]).to_numpy("datetime64[ns]")
    for j, day in enumerate(col):
        q = qualified[:, j]
        now = np.datetime64(day.to_datetime64(), "ns")
        arrive = (floor >= 0) & (floor_at <= now)
        held = np.where(arrive, np.maximum(held, floor), held)
        floor = np.where(arrive, -1, floor)
        up = q >= held
        held = np.where(up, q, held)
        since = np.where(up, np.datetime64("NaT"), since)
        since = np.where(~up & np.isnat(since), now, since)
        down = ~up & (now - since >= grace)
        held = np.where(down, q, held)
        since = np.where(down, np.datetime64("NaT"), since)
        level[:, j], below[:, j] = held, since
    return LevelHistory(customers, list(col), spend, orders, qualified, level, below)


def build_history(orders: ibis.Table, as_of: datetime, programme: Programme,
                  carried: pd.DataFrame | None = None) -> LevelHistory:
    """The level history of every member: everyone with a paid order before `as_of`, and the
    members of an existing programme (`carried`: customer_id, joined_at, level) who joined
    before it."""
    members = members_of(orders, as_of, carried)
    first = members["first"].min() if len(members) else None
    return history_of(orders, members["customer_id"], history_dates(first, as_of, programme),
                      programme, carried)


def member_starts(orders: ibis.Table, as_of: datetime, carried: ibis.Table | None = None
                  ) -> ibis.Table:
    """customer_id and `first` (first paid order, or joining an existing programme:
    `carried`, customer_id and joined_at) of every member before `as_of`: those
    `build_history` follows."""
    paid = orders.filter(orders.ts < ibis.literal(as_of), orders.status == "paid")
    members = paid.group_by("customer_id").aggregate(first=paid.ts.min())
    if carried is None:
        return members
    both = members.union(carried.select(
        "customer_id", first=carried.joined_at.cast(members.first.type())))
    return both.group_by("customer_id").aggregate(first=both.first.min())


def members_of(orders: ibis.Table, as_of: datetime, carried: pd.DataFrame | None = None
               ) -> pd.DataFrame:
    """`member_starts` with the `carried` members in a frame."""
    held = None if carried is None or not len(carried) else ibis.memtable(
        carried[["customer_id", "joined_at"]])
    return member_starts(orders, as_of, held).to_pandas()


def history_dates(first, as_of: datetime, programme: Programme) -> list[pd.Timestamp]:
    """The evaluation dates of members whose earliest start (`member_starts`) is `first`:
    from it, so every part of the members is evaluated on the same dates; the run's date
    alone without members (`first` None)."""
    if first is None or pd.isna(first):
        return [pd.Timestamp(as_of)]
    return programme.evaluation_dates(first, as_of)


def history_of(orders: ibis.Table, customers, dates: list[pd.Timestamp], programme: Programme,
               carried: pd.DataFrame | None = None) -> LevelHistory:
    """The level history of `customers` on `dates` from `orders` (which may hold only their
    lines: a member's levels depend on their own lines alone)."""
    if not len(customers):
        return history(pd.DataFrame(columns=["customer_id", "eval_date", "spend", "orders"]),
                       [], dates, programme)
    activity = trailing_activity(orders, dates, programme).to_pyarrow().to_pandas(
        strings_to_categorical=True)
    return history(activity, customers, dates, programme, carried)


# -- the run's evaluation, in words --------------------------------------------------------
def _orders_words(n: int, lang: str) -> str:
    return label("members.one_more_order" if n == 1 else "members.more_orders", lang, n=f"{n:,}")


#: Where a member's own words go in a sentence phrased once for many members.
_HOLE = "\x00"


def _fill(frames: np.ndarray, own: np.ndarray) -> np.ndarray:
    return np.array([f.replace(_HOLE, o) for f, o in zip(frames, own)], dtype=object)


def distance_words(spend: float, orders: int, current: int, programme: Programme,
                   lang: str, symbol: str | None = None) -> str:
    """What a member still needs for the level above theirs: "¥1,240 or 3 more orders to
    金卡" (either bar) or "… and …" (both bars), naming only the bars a level uses."""
    return str(distance_words_many([spend], [orders], [current], programme, lang, symbol)[0])


def distance_words_many(spend, orders, current, programme: Programme, lang: str,
                        symbol: str | None = None) -> np.ndarray:
    """`distance_words` of many members at once: each distinct amount, order count and level
    is phrased once (hundreds of thousands of members share a few thousand of each)."""
    spend = np.asarray(spend, float)
    orders = np.asarray(orders, np.int64)
    current = np.asarray(current, np.int64)
    top = current + 1 >= len(programme.levels)
    nxt = np.minimum(current + 1, len(programme.levels) - 1)
    bar = np.array([lv.min_spend for lv in programme.levels])[nxt]
    count = np.array([lv.min_orders for lv in programme.levels])[nxt]
    short_spend = (bar > 0) & (spend < bar)
    short_orders = (count > 0) & (orders < count)
    amount = np.where(short_spend, np.ceil(bar - spend - 1e-9), 0.0)
    more = count - orders
    spend_part = once_per_case([amount], lambda i: label(
        "members.more_spend", lang, amount=money(int(amount[i]), lang, policy=symbol)))
    orders_part = once_per_case([more], lambda i: _orders_words(int(more[i]), lang))
    joiner = once_per_case([nxt], lambda i: label(
        "members.or" if programme.levels[nxt[i]].rule == "any" else "members.and", lang))
    what = np.array([j.join(([a] if s else []) + ([o] if r else []))
                     for j, a, s, o, r in zip(joiner, spend_part, short_spend, orders_part,
                                              short_orders)], dtype=object)
    frame = once_per_case([top, nxt], lambda i: label("members.top_level", lang) if top[i]
                          else label("members.to_level", lang, what=_HOLE,
                                     level=programme.levels[nxt[i]].display(lang)))
    return _fill(frame, what)


def _activity_words_many(spend: np.ndarray, orders: np.ndarray, programme: Programme,
                         lang: str, symbol: str | None) -> np.ndarray:
    """"¥3,210 and 4 orders in the last 12 months" per member. `money` prints the sign and
    the whole units rounded half to even: amounts that agree on both read the same."""
    amount = once_per_case([spend < 0, np.rint(np.abs(spend))],
                           lambda i: money(spend[i], lang, policy=symbol))
    count = once_per_case([orders], lambda i: label(
        "members.one_order" if orders[i] == 1 else "members.orders", lang,
        n=f"{int(orders[i]):,}"))
    text = label("members.activity", lang)
    return np.array([text.format(months=programme.window_months, spend=a, orders=c)
                     for a, c in zip(amount, count)], dtype=object)


def reason_words(change: str, level: int, previous: int | None, spend: float, orders: int,
                 below_since, programme: Programme, lang: str,
                 symbol: str | None = None) -> str:
    """Why a member holds their level on the run's date, in words."""
    return str(reason_words_many(
        [change], [level], [np.nan if previous is None else previous], [spend], [orders],
        [below_since], programme, lang, symbol)[0])


def reason_words_many(change, level, previous, spend, orders, below_since,
                      programme: Programme, lang: str, symbol: str | None = None
                      ) -> np.ndarray:
    """`reason_words` of many members at once (`previous`: NaN where there was none): the
    sentence is phrased once per change, level, previous level and grace date, and each
    member's own activity put in it."""
    change = np.asarray(change, dtype=object)
    level = np.asarray(level, np.int64)
    previous = np.asarray(previous, float)
    below = pd.to_datetime(pd.Series(below_since)).reset_index(drop=True)
    did = _activity_words_many(np.asarray(spend, float), np.asarray(orders, np.int64),
                               programme, lang, symbol)
    frame = once_per_case([change, level, np.nan_to_num(previous, nan=-1), below],
                          lambda i: _reason_frame(change[i], int(level[i]), previous[i],
                                                  below.iloc[i], programme, lang))
    return _fill(frame, did)


def _reason_frame(change: str, level: int, previous: float, below_since,
                  programme: Programme, lang: str) -> str:
    lv = programme.levels[level]
    if change in ("new", "upgrade"):
        key = "members.reason.new" if change == "new" else "members.reason.upgrade"
        return label(key, lang, level=lv.display(lang), activity=_HOLE)
    if change == "downgrade":
        return label("members.reason.downgrade", lang, level=lv.display(lang),
                     previous=programme.levels[int(previous)].display(lang), activity=_HOLE,
                     days=programme.grace_days)
    if not pd.isna(below_since):
        until = pd.Timestamp(below_since) + pd.Timedelta(days=programme.grace_days)
        return label("members.reason.grace", lang, level=lv.display(lang), activity=_HOLE,
                     since=f"{pd.Timestamp(below_since):%Y-%m-%d}", until=f"{until:%Y-%m-%d}")
    return label("members.reason.same", lang, level=lv.display(lang), activity=_HOLE)


def evaluate(hist: LevelHistory, programme: Programme, *,
             previous: pd.Series | None = None, symbol: str | None = None) -> pd.DataFrame:
    """One row per member on the last evaluation date (the run's): level, what it was before
    (with `previous`, the previous run's levels: a member absent from it is new; without,
    the history's previous evaluation), the change, why, and the distance to the next level,
    in English and Chinese."""
    codes = np.asarray(programme.codes, dtype=object)
    last = len(hist.dates) - 1
    level = hist.level[:, last]
    if last > 0:
        before = hist.level[:, last - 1].astype(float)
        # a member whose first order came after the previous evaluation joined since
        joined = (hist.spend[:, :last] == 0).all(axis=1) & (hist.orders[:, :last] == 0).all(axis=1)
        before[joined] = np.nan
    else:
        before = np.full(len(level), np.nan)
    if previous is not None:
        ids = pd.Series(hist.customers)
        known = ids.map(previous.map({c: i for i, c in enumerate(programme.codes)})
                        ).to_numpy(float)
        # not in the previous run: joined since; a level the programme no longer has: told
        # against the history's previous evaluation
        before = np.where(~ids.isin(previous.index).to_numpy(), np.nan,
                          np.where(np.isnan(known), before, known))
    change = np.where(np.isnan(before), "new", np.where(
        level > np.nan_to_num(before, nan=-1), "upgrade",
        np.where(level < np.nan_to_num(before, nan=-1), "downgrade", "same")))
    spend, orders = hist.spend[:, last], hist.orders[:, last]
    below = hist.below_since[:, last]
    out = pd.DataFrame({
        "customer_id": hist.customers, "level": codes[level],
        "previous_level": np.where(np.isnan(before), None,
                                   codes[np.nan_to_num(before, nan=0).astype(int)]),
        "change": change, "qualified_level": codes[hist.qualified[:, last]],
        "spend_window": spend, "orders_window": orders,
        "below_since": pd.to_datetime(below),
    })
    grace = pd.Timedelta(days=programme.grace_days)
    out["grace_until"] = out["below_since"] + grace
    nxt = np.minimum(level + 1, len(codes) - 1)
    top = level + 1 >= len(codes)
    out["next_level"] = np.where(top, None, codes[nxt])
    bars = np.array([lv.min_spend for lv in programme.levels])[nxt]
    need_spend = bars - spend
    need_orders = np.array([lv.min_orders for lv in programme.levels])[nxt] - orders
    out["spend_to_next"] = np.where(top, np.nan, np.maximum(need_spend, 0.0))
    out["orders_to_next"] = np.where(top, np.nan, np.maximum(need_orders, 0))
    for lang, suffix in (("en", "en"), ("zh-CN", "zh")):
        out[f"distance_{suffix}"] = distance_words_many(spend, orders, level, programme, lang,
                                                        symbol)
        out[f"reason_{suffix}"] = reason_words_many(change, level, before, spend, orders,
                                                    out["below_since"], programme, lang, symbol)
    return out


def once_per_case(keys: list, words) -> np.ndarray:
    """`words(i)` for one row `i` of each distinct combination of `keys` (equal-length
    columns), spread over every row with that combination."""
    frame = pd.DataFrame({f"k{n}": pd.Series(np.asarray(k)) for n, k in enumerate(keys)})
    if frame.empty:
        return np.empty(0, dtype=object)
    case = frame.groupby(list(frame.columns), sort=False, dropna=False).ngroup().to_numpy()
    first = np.unique(case, return_index=True)[1]
    said = np.array([words(int(i)) for i in first], dtype=object)
    return said[case]
