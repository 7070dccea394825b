"""`/v1/members/{id}` and `/v1/points/adjust`: a member's level and points where a shop's own
systems (a member centre page, a till, a CRM) read them, and corrections by hand.

`GET /v1/members/{customer_id}` (scope `read`, audited like a profile read) answers from the
profiles snapshot the run wrote to the operational store (one primary-key read, as
`/v1/customers/{id}`): the level on the run's date and why, the trailing spend and orders that
count toward the next level and the distance in words ("¥1,240 or 3 more orders to 金卡",
Chinese when Accept-Language prefers it), the points balance, the points that lapse next and
when, and the level's benefits. Adjustments made since the run are added to the balance at
once and listed as pending; the next run's ledger holds them. Without a snapshot the same
document is read from the warehouse.

`POST /v1/points/adjust` (scope `admin`) credits or debits points. The client's `request_id`
is the idempotency key: sending the same request again answers with the stored adjustment and
changes nothing (`stored: false`); the same id with another adjustment is refused with 422
(IETF draft "The Idempotency-Key HTTP Header Field"). Every adjustment, replayed or not, is
written to the audit log with the key that made it (OWASP Logging Cheat Sheet: record who
changed what and when). A debit that would take the balance below 0 is refused, `points`
named as the field at fault.
"""

# no `from __future__ import annotations`: FastAPI must resolve the dependency types built
# from `require` at definition time (as in app.py)

import asyncio

import duckdb
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Header, HTTPException, Path
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from upmarket.currency import run_symbol
from upmarket.errors import NoRun, WarehouseError
from upmarket.i18n import label
from upmarket.membership.programme import Programme
from upmarket.opstore import points as op_points
from upmarket.opstore.audit import AuditWriter
from upmarket.opstore import store as ops
from upmarket.opstore.store import ApiKey, Store
from upmarket.service import profiles
from upmarket.service.models import Problem

_RESPONSES = {
    400: {"model": Problem, "description": "Invalid body; 'fields' names the offending ones."},
    404: {"model": Problem, "description": "Not a member in the current run."},
    503: {"model": Problem, "description": "Busy or not ready: retry after Retry-After seconds."},
}


class Named(BaseModel):
    code: str
    name: str = Field(description="In the language of Accept-Language.")


class MemberPoints(BaseModel):
    balance: int = Field(description="Points held now: the run's closing balance and the "
                         "adjustments made since.")
    balance_at_run: int = Field(description="The closing balance of the run's ledger.")
    pending_adjustments: int = Field(description="Points adjusted since the run; the next "
                                     "run's ledger holds them.")
    value: float = Field(description="What the balance is worth when redeemed, in the "
                         "currency of the run's policy.")
    expiring: int = Field(description="Points that lapse at the next expiry date.")
    expiring_at: datetime | None = Field(description="When they lapse (the first instant "
                                         "they are gone).")


class MemberStatus(BaseModel):
    customer_id: str
    run_id: str
    as_of: datetime
    level: Named
    previous_level: str | None = None
    change: str = Field(description="new, upgrade, downgrade or same, against the previous "
                        "run.")
    reason: str = Field(description="Why the member holds the level, in words.")
    window_months: int
    spend_window: float = Field(description="Net spend in the trailing window.")
    orders_window: int = Field(description="Orders in the trailing window.")
    next_level: Named | None = Field(description="None at the top level.")
    spend_to_next: float | None = None
    orders_to_next: int | None = None
    distance: str = Field(description='What the next level still needs, e.g. "¥1,240 or 3 '
                          'more orders to 金卡".')
    grace_until: datetime | None = Field(None, description="Below the level's bars since an "
                                         "evaluation: kept until this date.")
    points: MemberPoints
    benefits: list[Named]


class AdjustBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    request_id: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9._:-]+$",
                            description="Your id of this adjustment: sending it again changes "
                            "nothing.")
    customer_id: str = Field(min_length=1, max_length=200)
    points: int = Field(description="Points to add (negative: to take away), not 0.")
    reason: str = Field(min_length=1, max_length=500, description="Why; kept in the audit log.")
    ts: datetime | None = Field(None, description="When it takes effect (UTC; default now). "
                                "The first run dated after it counts it.")


class AdjustAck(BaseModel):
    request_id: str
    customer_id: str
    points: int
    ts: datetime
    stored: bool = Field(description="false: this request id was stored before; nothing "
                         "changed.")
    balance: int = Field(description="The member's balance with every adjustment stored.")


def _actor(key: ApiKey) -> str:
    return f"key:{key.id}:{key.name}"


def run_programme(wh) -> tuple[Programme, str | None]:
    """The programme of the policy the current run recorded, and its currency symbol."""
    from upmarket.policy.file import policy_of_run
    from upmarket.warehouse.runs import current_run

    run = current_run(wh)
    return policy_of_run(run).settings().membership, run_symbol(run)


def member_document(wh, customer_id: str, at: datetime) -> dict | None:
    """The profile document of `customer_id` built from the warehouse (no snapshot served):
    the same function the snapshot is written with."""
    from upmarket.warehouse.runs import current_run

    docs = ops.profile_documents(wh, current_run(wh), at, customer_id)
    return None if docs.empty else docs["doc"].iloc[0]


def pending(store: Store, customer_id: str, counted: list[str]) -> int:
    """The points adjusted for `customer_id` that the run's ledger has not counted."""
    seen = set(counted)
    return sum(p for r, p in op_points.customer_adjustments(store, customer_id) if r not in seen)


def _named(programme: Programme, code: str | None, lang: str) -> dict | None:
    if code is None:
        return None
    if code in programme.codes:
        return {"code": code, "name": programme.level(code).display(lang)}
    return {"code": code, "name": code}  # a level the policy no longer has


def member_status(doc: dict, programme: Programme, lang: str, pending_points: int) -> dict:
    """The answer of `GET /v1/members/{id}` from a profile document with its `membership`."""
    m = doc["membership"]
    suffix = "zh" if lang == "zh-CN" else "en"
    code = m["level"]
    benefits = programme.level(code).benefits if code in programme.codes else ()
    balance = int(m.get("points_balance") or 0) + pending_points
    return {
        "customer_id": doc["customer_id"], "run_id": doc["run_id"], "as_of": doc["as_of"],
        "level": _named(programme, code, lang), "previous_level": m.get("previous_level"),
        "change": m["change"], "reason": m.get(f"reason_{suffix}") or "",
        "window_months": programme.window_months,
        "spend_window": float(m.get("spend_window") or 0.0),
        "orders_window": int(m.get("orders_window") or 0),
        "next_level": _named(programme, m.get("next_level"), lang),
        "spend_to_next": m.get("spend_to_next"),
        "orders_to_next": None if m.get("orders_to_next") is None
        else int(m["orders_to_next"]),
        "distance": m.get(f"distance_{suffix}") or "", "grace_until": m.get("grace_until"),
        "points": {"balance": balance, "balance_at_run": int(m.get("points_balance") or 0),
                   "pending_adjustments": pending_points,
                   "value": round(balance * programme.redemption_value, 2),
                   "expiring": int(m.get("points_expiring") or 0),
                   "expiring_at": m.get("expiring_at")},
        "benefits": [{"code": b, "name": label(f"members.benefit.{b}", lang)}
                     for b in benefits],
    }


def members_router(store: Store, require, reads, audit: AuditWriter) -> APIRouter:
    """The member routes over the operational store `store` and the warehouse reads `reads`
    (`WarehouseReads`), audited through `audit`; `require(scope)` is the API-key dependency
    factory of `create_app`."""
    router = APIRouter(tags=["members"])
    Read = Annotated[ApiKey, Depends(require("read"))]
    Admin = Annotated[ApiKey, Depends(require("admin"))]
    CustomerId = Annotated[str, Path(min_length=1, max_length=200)]
    AcceptLanguage = Annotated[str | None, Header(max_length=500)]

    # the programme of each run served, read once: the answer is then computed on the event
    # loop without a hop to a worker thread (which at 500 requests/s costs more than the rest)
    programmes: dict[str, Programme] = {}

    async def programme_of(run_id: str) -> Programme:
        found = programmes.get(run_id)
        if found is None:
            found = (await run_in_threadpool(programme))[0]
            programmes.clear()  # only the current run's is needed
            programmes[run_id] = found
        return found

    def programme() -> tuple[Programme, str | None]:
        try:
            return reads.per_run("programme", run_programme)
        except NoRun as exc:
            raise HTTPException(503, str(exc), headers={"Retry-After": "60"}) from None
        except (WarehouseError, duckdb.Error):
            # the pipeline holds the DuckDB file while it publishes: come back shortly
            raise HTTPException(503, profiles.BUSY, headers={"Retry-After": "5"}) from None

    async def document(customer_id: str, lang: str) -> dict:
        """The member's profile document, from the snapshot, else from the warehouse; 404
        when the run holds no membership for them."""
        doc = ops.read_profile(store, customer_id)
        if doc is None and ops.profiles_run(store) is None:
            try:
                doc = await run_in_threadpool(reads.call, member_document, customer_id,
                                              ops.now_utc())
            except NoRun as exc:
                raise HTTPException(503, str(exc), headers={"Retry-After": "60"}) from None
            except (WarehouseError, duckdb.Error):
                raise HTTPException(503, profiles.BUSY, headers={"Retry-After": "5"}) from None
        if doc is None or not doc.get("membership"):
            raise HTTPException(404, label("members.api.not_member", lang,
                                           customer_id=customer_id))
        return doc

    @router.get("/v1/members/{customer_id}", response_model=MemberStatus,
                responses={k: v for k, v in _RESPONSES.items() if k != 400})
    async def member(customer_id: CustomerId, key: Read,
                     accept_language: AcceptLanguage = None) -> JSONResponse:
        """A member's level, the distance to the next level in words, points balance and
        expiring points, and the level's benefits. Audited as a read of personal data.

        `async`, like `/v1/customers/{id}`: a snapshot read and one indexed query of the
        store, on the event loop; the answer is validated once and sent as is."""
        lang = profiles.lang_of(accept_language)
        doc = await document(customer_id, lang)
        prog = await programme_of(doc["run_id"])
        new = pending(store, customer_id, doc["membership"].get("adjustments_counted") or [])
        body = MemberStatus.model_validate(member_status(doc, prog, lang, new))
        await asyncio.wrap_future(store_audit(key, "read_member", customer_id))
        return JSONResponse(body.model_dump(mode="json"),
                            headers={"Content-Language": lang, "Vary": "Accept-Language"})

    def store_audit(key: ApiKey, action: str, subject: str, **detail):
        return audit.submit(_actor(key), action, subject, **detail)

    @router.post("/v1/points/adjust", response_model=AdjustAck,
                 responses={422: {"model": Problem, "description": "The request id was "
                                  "used for another adjustment."}, **_RESPONSES})
    async def adjust(body: AdjustBody, key: Admin,
                     accept_language: AcceptLanguage = None) -> AdjustAck:
        """Credit or debit a member's points, once per `request_id`. Audited."""
        lang = profiles.lang_of(accept_language)
        doc = await document(body.customer_id, lang)
        counted = doc["membership"].get("adjustments_counted") or []
        at_run = int(doc["membership"].get("points_balance") or 0)
        new = pending(store, body.customer_id, counted)
        ts = body.ts
        if ts is not None and ts.tzinfo is not None:  # the store keeps naive UTC
            ts = ts.astimezone(UTC).replace(tzinfo=None)
        replay = any(r == body.request_id
                     for r, _ in op_points.customer_adjustments(store, body.customer_id))
        if not replay and at_run + new + body.points < 0:
            raise HTTPException(400, {"error": label(
                "members.api.below_zero", lang, points=f"{body.points:,}",
                balance=f"{at_run + new:,}"), "fields": ["points"]})
        try:
            found, stored = await run_in_threadpool(
                op_points.record_adjustment, store, request_id=body.request_id,
                customer_id=body.customer_id, points=body.points, reason=body.reason,
                actor=_actor(key), ts=ts)
        except op_points.ReusedRequest as exc:
            raise HTTPException(422, {"error": exc.localised(lang),
                                      "fields": [exc.field]}) from None
        except op_points.BadAdjustment as exc:
            raise HTTPException(400, {"error": exc.localised(lang),
                                      "fields": [exc.field]}) from None
        new = pending(store, body.customer_id, counted)
        await asyncio.wrap_future(store_audit(
            key, "adjust_points", body.customer_id, request_id=found.request_id,
            points=found.points, reason=found.reason, replay=not stored))
        return AdjustAck(request_id=found.request_id, customer_id=found.customer_id,
                         points=found.points, ts=found.ts, stored=stored,
                         balance=at_run + new)

    return router
