"""Points adjustments made by hand, kept in the operational store until a run's ledger reads
them (`membership.ledger`): a goodwill credit after a complaint, a correction of a wrong
earning.

Idempotency is the database's, as for events: the client's request id is unique in
`points_adjustments`, and the insert is `ON CONFLICT (request_id) DO NOTHING`, so a retried
request changes the balance once even when two retries race in different processes. A request
id sent again with a different adjustment is refused rather than silently ignored (IETF draft
"The Idempotency-Key HTTP Header Field", §2.7: a reused key with another payload is an error
the client must see).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import pandas as pd
import sqlalchemy as sa

from upmarket.errors import Msg, UpmarketError
from upmarket.opstore.schema import points_adjustments
from upmarket.opstore.store import Store, _insert, _raw, now_utc

#: The largest adjustment one request may make, either way: a typo of a few zeros is refused.
MAX_POINTS = 10_000_000
#: How far in the future an effective date may lie (clock skew between client and server).
FUTURE_SLACK = timedelta(minutes=5)
COLUMNS = ("request_id", "customer_id", "points", "reason", "ts", "actor", "received")


class BadAdjustment(UpmarketError):
    """An adjustment refused; `field` names the offending field of the request."""

    def __init__(self, field: str, reason: str | Msg):
        super().__init__("err.field_reason", field=field, reason=reason)
        self.field, self.reason = field, reason


class ReusedRequest(BadAdjustment):
    """The request id was already used for a different adjustment."""


@dataclass(frozen=True)
class Adjustment:
    request_id: str
    customer_id: str
    points: int
    reason: str
    ts: datetime
    actor: str
    received: datetime


def _check(request_id: str, customer_id: str, points: int, reason: str, ts: datetime,
           now: datetime) -> None:
    if not request_id or len(request_id) > 100:
        raise BadAdjustment("request_id", Msg("err.points.request_id"))
    if not customer_id or len(customer_id) > 200:
        raise BadAdjustment("customer_id", Msg("err.points.customer_id"))
    if isinstance(points, bool) or not isinstance(points, int) or points == 0 \
            or abs(points) > MAX_POINTS:
        raise BadAdjustment("points", Msg("err.points.points", most=MAX_POINTS))
    if not reason.strip() or len(reason) > 500:
        raise BadAdjustment("reason", Msg("err.points.reason"))
    if ts > now + FUTURE_SLACK:
        raise BadAdjustment("ts", Msg("err.points.future", ts=f"{ts:%Y-%m-%d %H:%M}"))


def record_adjustment(store: Store, *, request_id: str, customer_id: str, points: int,
                      reason: str, actor: str, ts: datetime | None = None,
                      now: datetime | None = None) -> tuple[Adjustment, bool]:
    """Store an adjustment once per `request_id`: (the stored adjustment, whether this call
    stored it). `ts` is when it takes effect (default: now, naive UTC). `BadAdjustment` names
    the field at fault; `ReusedRequest` when the id holds another adjustment."""
    now = now or now_utc()
    # a retry without a date is the same adjustment, whenever it comes: its date is the first's
    dated = ts is not None
    ts = ts or now
    _check(request_id, customer_id, points, reason, ts, now)
    row = {"request_id": request_id, "customer_id": customer_id, "points": int(points),
           "reason": reason.strip(), "ts": ts, "actor": actor, "received": now}
    c = points_adjustments.c
    with store.engine.begin() as conn:
        done = conn.execute(_insert(store, points_adjustments).values(**row)
                            .on_conflict_do_nothing(index_elements=["request_id"]))
        stored = conn.execute(sa.select(*[c[n] for n in COLUMNS])
                              .where(c.request_id == request_id)).one()
    found = Adjustment(**stored._asdict())
    same = (found.customer_id, found.points, found.reason) == \
        (customer_id, int(points), reason.strip()) and (not dated or found.ts == ts)
    if done.rowcount == 0 and not same:
        raise ReusedRequest("request_id", Msg(
            "err.points.reused", request_id=request_id, points=found.points,
            customer=found.customer_id, received=f"{found.received:%Y-%m-%d %H:%M}"))
    return found, done.rowcount == 1


def adjustments(store: Store, customer_id: str | None = None) -> pd.DataFrame:
    """The adjustments stored (of `customer_id` only, when given), oldest first."""
    if not sa.inspect(store.engine).has_table(points_adjustments.name):
        return pd.DataFrame(columns=list(COLUMNS))
    c = points_adjustments.c
    q = sa.select(*[c[n] for n in COLUMNS]).order_by(c.ts, c.id)
    if customer_id is not None:
        q = q.where(c.customer_id == customer_id)
    with store.engine.connect() as conn:
        frame = pd.DataFrame(conn.execute(q).fetchall(), columns=list(COLUMNS))
    for col in ("ts", "received"):
        frame[col] = pd.to_datetime(frame[col])
    frame["points"] = frame["points"].astype("int64")
    return frame


def customer_adjustments(store: Store, customer_id: str) -> list[tuple[str, int]]:
    """(request_id, points) of every adjustment of `customer_id`: the member route's read, one
    indexed query on a pooled connection (`store._raw`), so it stays a fraction of a
    millisecond."""
    return [(str(r), int(p)) for r, p in _raw(
        store, "SELECT request_id, points FROM points_adjustments WHERE customer_id = ?",
        (customer_id,))]
