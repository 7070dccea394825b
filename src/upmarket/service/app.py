"""`upmarket serve`: event collection (Segment-compatible) and real-time profiles, over HTTP.

Collection writes only to the operational store, one transaction per request, and answers 2xx
only once the events are committed; under lock contention it answers 503 with Retry-After, so a
well-behaved client retries instead of losing data, and `messageId` makes the retry harmless.
Reads come from the warehouse's current published run (`profiles.py`), through short-lived
read-only handles answered from memory while the file is unchanged (`warehouse_reads.py`), so
the service never keeps `upmarket ingest` or `upmarket run` from the DuckDB file.

Access is by API key (`um_<prefix>_<secret>`) with scopes: `collect` (write events, nothing
else), `read` (profiles, segments, KPIs; member ids pseudonymised), `export` (member ids in the
clear, audited as an export), `admin` (everything). Keys go in `Authorization: Bearer KEY` or,
Segment's convention for write keys, `Authorization: Basic base64(KEY:)`. Each key has a token
bucket (rate per second, burst); an empty bucket answers 429 with Retry-After.
"""

# no `from __future__ import annotations`: FastAPI must see the dependency types defined
# inside create_app, which string annotations would hide from it

import base64
import binascii
import logging
import math
import threading
import time
import zlib

from typing import Annotated, Any

import duckdb
import sqlalchemy.exc
from fastapi import Depends, FastAPI, Header, HTTPException, Path, Query, Request
from fastapi_offline import FastAPIOffline
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from upmarket.activation.rules import EventRuleWorker, load_rules
from upmarket.errors import Msg, NoRun, WarehouseError
from upmarket.i18n import label
from upmarket.opstore import collected_people
from upmarket.opstore.audit import AuditWriter
from upmarket.opstore.keyfile import derive
from upmarket.opstore import store as ops
from upmarket.opstore.store import ApiKey
from upmarket.opstore.suppression import withhold_events
from upmarket.service import profiles
from upmarket.service.consents import consents_router
from upmarket.service.dashboard import dashboard_router
from upmarket.service.fast_profiles import FastProfiles
from upmarket.service.members_api import members_router
from upmarket.service.security import SecurityHeaders
from upmarket.service.sessions import Sessions
from upmarket.service.models import (Ack, Batch, Health, IdentifyEvent, Kpis, Members, PageEvent,
                                     Problem, Profile, Segments, TrackEvent)
from upmarket.service.warehouse_reads import WarehouseReads
from upmarket.service.workers import share
from upmarket.warehouse.lock import WarehouseBusy
from upmarket.warehouse.runs import current_run

log = logging.getLogger(__name__)

#: Segment's own limits: 32 KB per event, 500 KB per batch request.
DEFAULT_MAX_BODY = 512 * 1024
#: Requests per second per key, and the burst a key may spend at once.
DEFAULT_RATE = 200.0
DEFAULT_BURST = 400
#: Requests without a valid key, per client address: enough for a misconfigured tracker to see
#: its 401s, far too few to guess keys (each guess must also find a 40-character secret).
REFUSED_RATE, REFUSED_BURST = 5.0, 20


class TokenBuckets:
    """One token bucket per key (Turner's token bucket as in RFC 2697's committed burst):
    `rate` tokens a second up to `burst`; a request takes one. Thread-safe; in memory, so
    each server process limits on its own (several workers split the limit: `workers.share`)."""

    def __init__(self, rate: float, burst: int):
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst ≥ 1")
        self.rate, self.burst = float(rate), float(burst)
        self._state: dict[Any, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key, now: float | None = None) -> float:
        """0 when a token was taken, else the seconds until one is available."""
        now = time.monotonic() if now is None else now
        with self._lock:
            tokens, last = self._state.get(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            if tokens >= 1:
                self._state[key] = (tokens - 1, now)
                return 0.0
            self._state[key] = (tokens, now)
            return (1 - tokens) / self.rate


class BodyLimit:
    """ASGI middleware: refuse bodies over `max_body` bytes with 413 (also after gzip
    decompression, so a small gzip bomb cannot grow past the limit), and hand the routes a
    plain body when the client sent `Content-Encoding: gzip`."""

    def __init__(self, app, max_body: int):
        self.app, self.max_body = app, max_body

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH"):
            return await self.app(scope, receive, send)
        headers = {k.lower(): v for k, v in scope["headers"]}
        length = headers.get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_body):
            return await _problem(send, 413 if length.isdigit() else 400,
                                  f"request body over {self.max_body} bytes"
                                  if length.isdigit() else "bad Content-Length")
        body, more = b"", True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > self.max_body:
                return await _problem(send, 413, f"request body over {self.max_body} bytes")
        encoding = headers.get(b"content-encoding", b"").strip().lower()
        if encoding == b"gzip":
            try:
                d = zlib.decompressobj(16 + zlib.MAX_WBITS)
                plain = d.decompress(body, self.max_body + 1)
            except zlib.error:
                return await _problem(send, 400, "body is not valid gzip", ["Content-Encoding"])
            if len(plain) > self.max_body or d.unconsumed_tail:
                return await _problem(send, 413, f"request body over {self.max_body} bytes "
                                      "once decompressed")
            body = plain
        elif encoding not in (b"", b"identity"):
            return await _problem(send, 415, "Content-Encoding must be gzip or identity",
                                  ["Content-Encoding"])
        scope = dict(scope)
        scope["headers"] = [(k, v) for k, v in scope["headers"]
                            if k.lower() not in (b"content-encoding", b"content-length")] \
            + [(b"content-length", str(len(body)).encode())]
        sent = False

        async def replay():
            nonlocal sent
            if sent:
                return await receive()
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        return await self.app(scope, replay, send)


async def _problem(send, status: int, error: str, fields: list[str] | None = None):
    response = JSONResponse(Problem(error=error, fields=fields or []).model_dump(), status)
    await response({"type": "http"}, None, send)


def _answer_http(exc: HTTPException) -> JSONResponse:
    body = exc.detail if isinstance(exc.detail, dict) else {"error": str(exc.detail),
                                                             "fields": []}
    return JSONResponse(body, exc.status_code, headers=exc.headers)


def _answer_busy() -> JSONResponse:
    # the store is locked or unreachable: nothing was committed, the client must retry
    return JSONResponse({"error": "operational store busy, retry", "fields": []}, 503,
                        headers={"Retry-After": "1"})


def _answer_error(exc: Exception) -> JSONResponse | None:
    """What the app's exception handlers answer to `exc`, for the profile read's fast path
    (`fast_profiles`); None for an error they leave to the server (500)."""
    if isinstance(exc, HTTPException):
        return _answer_http(exc)
    if isinstance(exc, sqlalchemy.exc.OperationalError):
        return _answer_busy()
    return None


def _key_from_header(authorization: str | None) -> str | None:
    if not authorization:
        return None
    kind, _, value = authorization.strip().partition(" ")
    kind = kind.lower()
    if kind == "bearer":
        return value.strip() or None
    if kind == "basic":
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            return None
        return decoded.partition(":")[0] or None  # Segment: the write key is the username
    return None


_PROBLEMS = {
    400: {"model": Problem, "description": "Invalid body; 'fields' names the offending ones."},
    401: {"model": Problem, "description": "No key, an unknown key or a revoked key."},
    403: {"model": Problem, "description": "The key lacks the scope this route needs."},
    429: {"model": Problem, "description": "Rate limit: retry after Retry-After seconds."},
    503: {"model": Problem, "description": "Busy or not ready: retry after Retry-After seconds."},
}


def _refusal(request: Request, key: str, **fields) -> str:
    """A refused request's reason in the language its Accept-Language prefers (zh-CN or en),
    read only when refusing, so an admitted request never parses the header."""
    return label(key, profiles.lang_of(request.headers.get("accept-language")), **fields)


def _align_profiles(store: ops.Store, warehouse_url: str | None) -> None:
    """Serve the profiles snapshot of the warehouse's current run: a run killed between its
    warehouse commit and the store's switch left the store a run behind (the repair rule of
    `opstore.store`). Skipped while there is no warehouse, or while a run holds it (that run
    switches the store itself)."""
    try:
        with profiles.reading(warehouse_url) as wh:
            run_id = current_run(wh)["run_id"]
    except NoRun:
        run_id = None
    except (WarehouseError, duckdb.IOException):
        return
    ops.align_snapshot(store, run_id)


def create_app(store_url: str | None = None, warehouse_url: str | None = None, *,
               max_body: int = DEFAULT_MAX_BODY, rate: float = DEFAULT_RATE,
               burst: int = DEFAULT_BURST, rules=None, workers: int = 1,
               secret: bytes | None = None) -> FastAPI:
    """The service over the operational store at `store_url` (default UPMARKET_DATABASE or
    ./upmarket-ops.sqlite) and the warehouse at `warehouse_url` (default UPMARKET_WAREHOUSE or
    ./upmarket.duckdb). `rules`: the automation rules file whose `on: event` rules are checked
    as events arrive (default: UPMARKET_RULES, else the shipped rules).

    `workers`: how many processes serve together (`service.workers`); the rate limits are in
    process memory, so each process enforces its share (`workers.share`) and together they
    never allow more than `rate` and `burst`. `secret`: what signs dashboard cookies and form
    tokens, the same in every process (default: made at random, for a lone process)."""
    store = ops.open_store(store_url)
    _align_profiles(store, warehouse_url)
    buckets = TokenBuckets(*share(rate, burst, workers))
    refused = TokenBuckets(*share(REFUSED_RATE, REFUSED_BURST, workers))
    # the API docs (/docs, /redoc) from files shipped in the package, never a CDN
    app = FastAPIOffline(
        title="upmarket", version="1",
        description="Event collection (Segment/RudderStack HTTP API) and customer profiles.",
        responses={k: v for k, v in _PROBLEMS.items() if k in (400, 401, 403, 429)},
    )
    audit = AuditWriter(store)
    app.router.add_event_handler("shutdown", audit.close)
    app.state.store = store
    app.state.audit = audit
    # checks the `on: event` rules on a thread of its own, after the events are committed: a
    # slow rule or webhook never delays or fails collection (see EventRuleWorker)
    rule_worker = EventRuleWorker(store, load_rules(rules))
    app.router.add_event_handler("shutdown", rule_worker.close)
    app.state.rule_worker = rule_worker
    app.state.warehouse_url = warehouse_url
    # dashboard cookies and forms signed in one process must verify in the others
    session_secret = derive(secret, "dashboard-session") if secret else None
    app.state.csrf_secret = derive(secret, "dashboard-csrf") if secret else None
    reads = WarehouseReads(warehouse_url,
                           on_new_run=lambda run_id: ops.align_snapshot(store, run_id))
    app.state.reads = reads
    app.add_middleware(BodyLimit, max_body=max_body)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request, exc: RequestValidationError):
        fields, messages = [], []
        for e in exc.errors():
            loc = [str(x) for x in e.get("loc", ()) if x != "body"]
            fields.append(".".join(loc) or "body")
            messages.append(f"{fields[-1]}: {e.get('msg', 'invalid')}")
        return JSONResponse(Problem(error="; ".join(messages)[:2000],
                                    fields=sorted(set(fields))).model_dump(), 400)

    @app.exception_handler(HTTPException)
    async def _http(_request, exc: HTTPException):
        return _answer_http(exc)

    @app.exception_handler(sqlalchemy.exc.OperationalError)
    async def _busy(_request, _exc):
        return _answer_busy()

    def require(scope: str):
        # async: the key lookup is one indexed read (~0.03 ms), cheaper than the hop to a
        # worker thread that a plain `def` dependency costs on every request
        async def check(request: Request,
                        authorization: Annotated[str | None,
                                                 Header(include_in_schema=False)] = None,
                        ) -> ApiKey:
            token = _key_from_header(authorization)
            key = ops.verify_key(store, token) if token else None
            if key is None:
                wait = refused.take(request.client.host if request.client else None)
                if wait:
                    raise HTTPException(429, _refusal(request, "err.api_refused_rate"),
                                        headers={"Retry-After": str(max(1, math.ceil(wait)))})
                raise HTTPException(401, _refusal(request, "err.api_key_required"),
                                    headers={"WWW-Authenticate": 'Bearer realm="upmarket"'})
            if not key.allows(scope):
                raise HTTPException(403, _refusal(request, "err.api_scope", scope=scope,
                                                  scopes=", ".join(sorted(key.scopes))))
            wait = buckets.take(key.id)
            if wait:
                raise HTTPException(429, _refusal(request, "err.api_rate"),
                                    headers={"Retry-After": str(max(1, math.ceil(wait)))})
            request.state.key = key
            return key

        return check

    def admit(authorization: str) -> ApiKey | None:
        """The key of a profile read that `require("read")` would let through, its token
        taken; None, with no token taken, for any other (the fast path then leaves the
        request to the route, whose `require` answers 401, 403 or 429)."""
        token = _key_from_header(authorization)
        key = ops.verify_key(store, token) if token else None
        if key is None or not key.allows("read") or buckets.take(key.id):
            return None
        return key

    Collect = Annotated[ApiKey, Depends(require("collect"))]
    Read = Annotated[ApiKey, Depends(require("read"))]

    def actor(key: ApiKey) -> str:
        return f"key:{key.id}:{key.name}"

    def collect(events: list, batch_context: dict | None = None) -> Ack:
        rows = []
        for e in events:
            raw = e.model_dump(mode="json", exclude_none=True)
            context = {**(batch_context or {}), **e.context}
            props = getattr(e, "properties", None)
            if e.type == "identify":
                props = e.traits
            if e.type == "page" and e.name is not None:
                props = {**(props or {}), "name": e.name}
            rows.append({"message_id": e.messageId or ops.message_id_for(raw),
                         "type": e.type, "event": getattr(e, "event", None) or
                         (e.name if e.type == "page" else None),
                         "user_id": e.userId, "anonymous_id": e.anonymousId,
                         "ts": e.timestamp, "properties": props or {}, "context": context})
        rows, suppressed = withhold_events(store, rows)
        if suppressed:  # erased people stay erased; counted here, never named
            log.info("collect: %d event(s) of erased people dropped", suppressed)
        stored = ops.insert_events(store, rows)
        rule_worker.submit(rows)
        return Ack(received=len(rows) + suppressed, stored=stored)

    @app.get("/healthz", response_model=Health, tags=["health"], responses={})
    def healthz() -> Health:
        """Liveness: answers without a key."""
        return Health()

    @app.post("/v1/track", response_model=Ack, tags=["collect"], responses={413: {
        "model": Problem}, 503: _PROBLEMS[503]})
    def track(event: TrackEvent, _key: Collect) -> Ack:
        """Record an action a user performed (Segment `track`)."""
        return collect([event])

    @app.post("/v1/identify", response_model=Ack, tags=["collect"], responses={413: {
        "model": Problem}, 503: _PROBLEMS[503]})
    def identify(event: IdentifyEvent, _key: Collect) -> Ack:
        """Tie a user to their traits; with both ids, links the anonymousId to the userId so
        earlier anonymous events count for the customer."""
        return collect([event])

    @app.post("/v1/page", response_model=Ack, tags=["collect"], responses={413: {
        "model": Problem}, 503: _PROBLEMS[503]})
    def page(event: PageEvent, _key: Collect) -> Ack:
        """Record a page view (Segment `page`)."""
        return collect([event])

    @app.post("/v1/batch", response_model=Ack, tags=["collect"], responses={413: {
        "model": Problem}, 503: _PROBLEMS[503]})
    def batch(body: Batch, _key: Collect) -> Ack:
        """Several events in one request, stored all together or not at all."""
        return collect(body.batch, body.context)

    def warehouse_errors(call, *args, **kwargs):
        """`call(...)` with the warehouse's failures as answers: 404 for an unknown customer or
        segment, 503 with Retry-After when there is no run yet or the file is busy. A 503 never
        carries a file path, a process id or a driver's text (OWASP Error Handling Cheat
        Sheet): those go to the server log."""
        try:
            return call(*args, **kwargs)
        except (profiles.UnknownCustomer, profiles.UnknownSegment) as exc:
            raise HTTPException(404, str(exc)) from None
        except (NoRun, profiles.NoPseudonymKey) as exc:
            raise HTTPException(503, str(exc), headers={"Retry-After": "60"}) from None
        except (WarehouseError, duckdb.Error) as exc:
            if not isinstance(exc, WarehouseBusy):
                log.warning("warehouse read failed: %s", exc)
            # the pipeline holds the DuckDB file while it writes: come back shortly
            raise HTTPException(503, profiles.BUSY, headers={"Retry-After": "5"}) from None

    def scored_profile(customer_id: str, lang: str):
        """(profile, None) from the warehouse's current run, or (None, why not) when the run
        does not hold the customer or there is no run yet."""
        try:
            return reads.call(profiles.profile, customer_id, lang, ops.now_utc()), None
        except (profiles.UnknownCustomer, NoRun) as exc:
            return None, exc

    def warehouse_call(fn, *args, **kwargs):
        """A read that depends on more than the published run, on a short-lived handle."""
        return warehouse_errors(reads.call, fn, *args, **kwargs)

    def run_call(name: str, fn, *args, **kwargs):
        """A read that depends on the published run alone, computed once per run."""
        return warehouse_errors(reads.per_run, name, fn, *args, **kwargs)

    CustomerId = Annotated[str, Path(min_length=1, max_length=200)]
    AcceptLanguage = Annotated[str | None, Header(max_length=500)]

    @app.get("/v1/customers/{customer_id}", response_model=Profile, tags=["profiles"],
             responses={404: {"model": Problem}, 503: _PROBLEMS[503]})
    async def customer(customer_id: CustomerId, key: Read,
                       accept_language: AcceptLanguage = None,
                       events: Annotated[int, Query(
                           ge=1, le=profiles.MAX_EVENTS,
                           description="How many recent events to list.")] = profiles.RECENT_EVENTS,
                       ) -> JSONResponse:
        """Tier and service level, RFM segment, CLV, churn risk, next best action with its
        reason (Chinese when Accept-Language prefers zh), consents and recent events.

        Served from the profiles snapshot written when the run was published: consents are
        those the warehouse held at that moment (header `X-Consents-As-Of`), updated by any
        given or withdrawn through the service since (`/v1/consents`). Without a snapshot, the
        profile is read from the warehouse, consents as of now. A person no run has scored yet
        but the service has seen (identify, track, consent) is answered at once from the
        operational store, `scored: false` with a note. Traits and recent events are live:
        events collected by the service and those ingested into the warehouse, newest first,
        each message once (`events_from` says which paths were read).

        Ingested events come with the snapshot too (as of the publish, the latest
        `opstore.store.PROFILE_EVENTS` per customer): a scored customer's read never opens the
        warehouse, unless it asks for more events than the snapshot keeps and the customer has
        more.

        `async`: the fast path is a few indexed reads of the store (~0.05 ms each) run on the
        event loop, and the audit record's group commit is awaited, not waited for in a
        thread; only the warehouse reads go to a worker thread — the profile without a
        snapshot, and the ingested events of a customer the snapshot does not cover
        (`WarehouseReads.events_of`)."""
        # most reads never get here: `fast_profiles` answers a well-formed one through
        # `read_customer` before routing; this route takes the others (a missing or refused
        # key, an invalid parameter) and gives the API's schema
        return await read_customer(key, customer_id, profiles.lang_of(accept_language), events)

    async def read_customer(key: ApiKey, customer_id: str, lang: str, events: int) -> Response:
        """The profile read of `customer_id` once the key and parameters are checked;
        failures are raised as the HTTPException the client gets."""
        consents_at, found, missing, ingested = None, None, None, None
        try:
            fast = profiles.fast_profile(store, customer_id, lang, events=events)
        except profiles.UnknownCustomer as exc:
            fast, missing = False, exc
        if fast is None:
            found, missing = await run_in_threadpool(warehouse_errors, scored_profile,
                                                     customer_id, lang)
        elif fast is not False:
            found, consents_at, ingested = fast
        if found is None:
            # no run has scored them: the store may have seen them already
            found = profiles.live_profile(store, customer_id, lang)
            if found is None and isinstance(missing, NoRun):
                raise HTTPException(503, missing.localised(lang), headers={"Retry-After": "60"})
            if found is None:
                raise HTTPException(404, Msg("err.customer_unseen",
                                              reason=missing).localised(lang))
        found["traits"] = collected_people.traits(store, customer_id)
        found["consents"] = profiles.with_recorded_consents(store, customer_id,
                                                            found.get("consents") or [])
        if ingested is None:
            # not in the snapshot: its ingested events come from the warehouse (kept in memory)
            hit, ingested = reads.kept_events(customer_id)
            if not hit:
                ingested = await run_in_threadpool(reads.events_of, customer_id)
        found["recent_events"] = profiles.merge_events(
            ops.recent_events(store, customer_id, limit=events), ingested, limit=events)
        found["events_from"] = ["collected"] + (["ingested"] if ingested is not None else [])
        # validated and encoded by pydantic in one pass (its JSON serialiser, not the json
        # module's dumps of a dict pydantic made first: a third of the time)
        body = Profile.model_validate(found).model_dump_json()
        await audit.record(actor(key), "read_profile", customer_id)
        headers = {"Content-Language": lang, "Vary": "Accept-Language"}
        if consents_at:
            headers["X-Consents-As-Of"] = consents_at
        return Response(body, media_type="application/json", headers=headers)

    @app.get("/v1/segments", response_model=Segments, tags=["profiles"],
             responses={503: _PROBLEMS[503]})
    def segments_list(_key: Read, accept_language: AcceptLanguage = None) -> Segments:
        """The groups of the current run with their sizes: RFM segments, tiers, lifecycle
        stages, churn bands, and the segments saved by name (grouping `saved`)."""
        return Segments.model_validate(warehouse_errors(
            reads.per_change, "segments", profiles.segments, profiles.lang_of(accept_language)))

    @app.get("/v1/segments/{name}/members", response_model=Members, tags=["profiles"],
             responses={404: {"model": Problem}, 503: _PROBLEMS[503]})
    def segment_members(
        name: Annotated[str, Path(min_length=1, max_length=200)], key: Read,
        offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        channel: Annotated[str | None, Query(min_length=1, max_length=50,
                                             description="Only customers consenting to this "
                                             "channel (default: any channel).")] = None,
    ) -> Members:
        """Consenting members of a segment, paginated; ids pseudonymised unless the key has
        the export scope. Audited as a read (or an export) of personal data."""
        clear = key.allows("export")
        found = warehouse_call(profiles.members, name, at=ops.now_utc(), channel=channel,
                               offset=offset, limit=limit, pseudonymise=not clear, store=store)
        ops.write_audit(store, actor(key), "export_segment_members" if clear
                        else "read_segment_members", name, offset=offset, limit=limit,
                        rows=len(found["members"]), channel=channel)
        return Members.model_validate(found)

    @app.get("/v1/kpis", response_model=Kpis, tags=["profiles"], responses={503: _PROBLEMS[503]})
    def kpis(_key: Read) -> Kpis:
        """Customer-base KPIs of the current run."""
        return Kpis.model_validate(run_call("kpis", profiles.kpis))

    app.add_middleware(FastProfiles, read=read_customer, admit=admit, errors=_answer_error)
    app.add_middleware(SecurityHeaders)  # last added runs outermost: every response gets them
    app.include_router(consents_router(store, require))
    app.include_router(members_router(store, require, reads, audit))
    app.include_router(dashboard_router(
        store, app.state, Sessions(store, secret=session_secret),
        lambda request: refused.take(request.client.host if request.client else None)))
    return app


