"""`/v1/consents`: record consent given or withdrawn, and read a customer's consents.

`POST /v1/consents` (scope `collect`, like the event routes: a signup form or an unsubscribe
link posts it) writes to the operational store in one transaction and answers 2xx only once it
is committed; from then on the privacy gate, segment members and exports honour it, before the
pipeline copies it to the warehouse (`opstore.consents`). `GET /v1/consents/{customer_id}`
(scope `read`) returns the history from the warehouse and the store and what is in force now;
it is personal data, so every read is audited before it is answered (PIPL art. 55).
"""

# no `from __future__ import annotations`: FastAPI must resolve the dependency types built
# from `require` at definition time (as in app.py)

from datetime import datetime
from pathlib import Path as PathLib
from typing import Annotated

import duckdb
import pandas as pd
from fastapi import APIRouter, Depends, HTTPException, Path, Request
from starlette.concurrency import run_in_threadpool

from upmarket.errors import WarehouseError
from upmarket.opstore import consents as op_consents
from upmarket.opstore import store as ops
from upmarket.opstore.store import ApiKey, Store
from upmarket.service import profiles
from upmarket.service.models import (ConsentAck, ConsentBody, ConsentInForce, ConsentRecord,
                                     CustomerConsents, Problem)
from upmarket.warehouse.connection import default_url, duckdb_path

_RESPONSES = {
    400: {"model": Problem, "description": "Invalid body; 'fields' names the offending ones."},
    503: {"model": Problem, "description": "Busy or not ready: retry after Retry-After seconds."},
}


def _actor(key: ApiKey) -> str:
    return f"key:{key.id}:{key.name}"


def warehouse_history(warehouse_url: str | None, customer_id: str) -> pd.DataFrame | None:
    """The customer's consent rows in the warehouse; None when there is no warehouse file yet
    (a service collecting before any ingestion). A warehouse that cannot be read (locked by a
    publishing run) is a `WarehouseError`: without its rows the answer could show a consent
    that is not in force."""
    url = warehouse_url or default_url()
    if url.startswith("duckdb://"):
        path = duckdb_path(url)
        if path in ("", ":memory:") or not PathLib(path).expanduser().exists():
            return None
    try:
        with profiles.reading(url) as wh:
            t = wh.table("consents")
            return t.filter(t.customer_id == customer_id).select(
                *op_consents.COLUMNS).to_pandas()
    except duckdb.IOException as exc:
        raise WarehouseError(f"warehouse unavailable: {exc}") from None


def customer_consents(store: Store, warehouse_url: str | None, customer_id: str,
                      at: datetime) -> dict:
    """History (warehouse ∪ store, oldest first) and consents in force at `at`."""
    mine = op_consents.history(store, customer_id)
    sources = ["opstore"]
    held = warehouse_history(warehouse_url, customer_id)
    frames = [mine.assign(pending=~mine["copied"])[[*op_consents.COLUMNS, "pending"]]]
    if held is not None:
        sources.append("warehouse")
        frames.insert(0, held.assign(pending=False))
    rows = pd.concat([f for f in frames if len(f)] or frames, ignore_index=True)
    if len(rows):
        rows["ts"] = pd.to_datetime(rows["ts"])
        rows["granted"] = rows["granted"].astype(bool)
        # a row copied to the warehouse is also still in the store: show it once, as copied
        rows = rows.sort_values("pending", kind="stable").drop_duplicates(
            [*op_consents.COLUMNS], keep="first")
        rows = rows.sort_values(["ts", "purpose", "channel"], kind="stable")
    now = op_consents.in_force(rows, at) if len(rows) else rows
    def clean(v):
        return None if v is None or (isinstance(v, float) and pd.isna(v)) else v

    return {
        "customer_id": customer_id, "at": at, "sources": sources,
        "history": [ConsentRecord(purpose=r["purpose"], channel=r["channel"],
                                  granted=bool(r["granted"]), ts=r["ts"].to_pydatetime(),
                                  source=clean(r["source"]), pending=bool(r["pending"]))
                    for r in rows.to_dict("records")],
        "in_force": [ConsentInForce(purpose=r["purpose"], channel=r["channel"],
                                    granted=bool(r["granted"]), since=r["ts"].to_pydatetime())
                     for r in now.to_dict("records")],
    }


def consents_router(store: Store, require) -> APIRouter:
    """The consent routes over the operational store `store`; `require(scope)` is the API-key
    dependency factory of `create_app` (401 without a valid key, 403 without the scope, 429
    over the key's rate). The warehouse and the audit writer are the app's
    (`app.state.warehouse_url`, `app.state.audit`)."""
    router = APIRouter(tags=["consents"])
    Collect = Annotated[ApiKey, Depends(require("collect"))]
    Read = Annotated[ApiKey, Depends(require("read"))]
    CustomerId = Annotated[str, Path(min_length=1, max_length=200)]

    @router.post("/v1/consents", response_model=ConsentAck,
                 responses={413: {"model": Problem}, **_RESPONSES})
    def record(body: ConsentBody, key: Collect) -> ConsentAck:
        """Record consents given or withdrawn: one object or a list, stored all together or
        not at all. A withdrawal counts from the moment this answers 2xx: segment members and
        exports leave the customer out at once. Sending the same consent again stores it
        once."""
        many = isinstance(body.root, list)
        try:
            report = op_consents.record_consents(
                store, [c.model_dump() for c in body.items()], default_source=f"api:{key.name}")
        except op_consents.BadConsent as exc:
            # the same names as the body's own validation errors: consent.ts, consents.2.ts
            field = (f"consents.{exc.index}.{exc.name}" if many and exc.index is not None
                     else f"consents.0.{exc.name}" if many else f"consent.{exc.name}")
            raise HTTPException(400, {"error": f"{field}: {exc.reason}",
                                     "fields": [field]}) from None
        return ConsentAck(received=report.received, stored=report.stored)

    @router.get("/v1/consents/{customer_id}", response_model=CustomerConsents,
                responses={503: _RESPONSES[503]})
    async def read(customer_id: CustomerId, key: Read, request: Request) -> CustomerConsents:
        """A customer's consent history and what is in force now, per purpose and channel.
        Audited as a read of personal data."""
        try:
            found = await run_in_threadpool(customer_consents, store,
                                            request.app.state.warehouse_url, customer_id,
                                            ops.now_utc())
        except WarehouseError as exc:
            # the pipeline holds the DuckDB file while it publishes: come back shortly
            raise HTTPException(503, str(exc), headers={"Retry-After": "5"}) from None
        body = CustomerConsents.model_validate(found)
        audit = getattr(request.app.state, "audit", None)
        if audit is not None:
            await audit.record(_actor(key), "read_consents", customer_id,
                               rows=len(body.history))
        else:
            await run_in_threadpool(ops.write_audit, store, _actor(key), "read_consents",
                                    customer_id, rows=len(body.history))
        return body

    return router
