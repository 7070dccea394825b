"""What the read routes take from the warehouse: the current published run's results, its next
best actions and KPIs, and consents in force.

A single customer's profile is served from the operational store's snapshot of the run
(`fast_profile`: one primary-key read, ~0.1 ms, written by `store.publish_run_profiles` when the
pipeline publishes); the warehouse path below remains for a store without a snapshot.

The service opens the warehouse read-only for each request and closes it after. DuckDB lets one
process write a file at a time and a read-only handle also locks out writers, so holding one
open would stop `upmarket run` from publishing; a short-lived read-only handle never does, and
always sees the latest published run.
"""

from __future__ import annotations

import logging
import math
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import duckdb
import ibis
import pandas as pd

from upmarket.activation import privacy
from upmarket.errors import NoRun, UnknownCustomer, UnknownSegment, WarehouseError
from upmarket.features.engagement import consents_in_force
from upmarket.i18n import label, value_label
from upmarket.opstore import collected_people
from upmarket.opstore import store as ops
from upmarket.opstore.consents import latest_by_channel
from upmarket.strategy import saved_segments
from upmarket.strategy.tiers import TierPolicy
from upmarket.warehouse.connection import Warehouse, connect, default_url, duckdb_path
from upmarket.warehouse.lock import WarehouseBusy, open_duckdb
from upmarket.warehouse.runs import current_run, output

log = logging.getLogger(__name__)
#: Events a profile lists by default, and at most.
RECENT_EVENTS, MAX_EVENTS = 10, 100

#: Groupings of the results a segment name may use, with the i18n kind of their values.
GROUPINGS = {"rfm": ("rfm_segment", "segment"), "tier": ("tier", "tier"),
             "lifecycle": ("lifecycle_stage", "stage"), "churn": ("churn_band", "band")}


#: What a client is told when the warehouse cannot be read: never the file, the process
#: holding it or the driver's text (OWASP Error Handling Cheat Sheet: no internal details in
#: answers); the server log has the cause.
BUSY = "the warehouse is busy, retry"
#: How long a request waits for a writer to let go of the DuckDB file before answering 503.
READ_WAIT = 1.0


class NoPseudonymKey(WarehouseError):
    """Pseudonymised ids were asked for and no key to make them exists yet."""


class _ReadOnly(Warehouse):
    """A warehouse opened only to read: it must not create the tables it lacks."""

    def ensure_tables(self) -> None:
        pass


@contextmanager
def reading(url: str | None, *, wait: float = READ_WAIT):
    """A read-only warehouse for the span of one request.

    A DuckDB file is opened read-only only for the request and closed after, waiting at most
    `wait` seconds for a writer (`warehouse.lock`: a waiting writer goes first); a writer that
    holds on is `WarehouseBusy` with the message `BUSY` alone. No file yet is `NoRun`."""
    url = url or default_url()
    if url.startswith("duckdb://"):
        path = duckdb_path(url)
        if path in ("", ":memory:") or not Path(path).expanduser().exists():
            raise NoRun("err.no_run_served")
        try:
            con = open_duckdb(path, read_only=True, wait=wait)
        except WarehouseBusy:
            raise WarehouseBusy(BUSY) from None
        wh = _ReadOnly(url, ibis.duckdb.from_connection(con))
    else:
        wh = connect(url, create=False)
    try:
        yield wh
    except duckdb.IOException as exc:
        # a read that loses the file midway (a checkpoint, a writer): the log keeps the cause
        log.warning("warehouse read failed: %s", exc)
        raise WarehouseBusy(BUSY) from None
    finally:
        wh.close()


def lang_of(accept_language: str | None) -> str:
    """`zh-CN` when the client prefers any Chinese (`zh`, `zh-CN`, `zh-Hans;q=0.9`…), else
    `en`: the two languages every label exists in. The highest q-value wins, ties by order."""
    best, best_q = "en", -1.0
    for i, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        for p in params.split(";"):
            k, _, v = p.strip().partition("=")
            if k == "q":
                try:
                    q = float(v)
                except ValueError:
                    q = 0.0
        tag = tag.strip().lower()
        if not tag or not math.isfinite(q) or q <= best_q:
            continue
        if tag.startswith("zh"):
            best, best_q = "zh-CN", q
        elif tag.startswith("en") or tag == "*":
            best, best_q = "en", q
    return best


def _clean(v):
    if v is None or v is pd.NaT:
        return None
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, pd.Timestamp):
        return v.to_pydatetime()
    if hasattr(v, "item"):  # numpy scalars
        return _clean(v.item())
    return v


def profile(wh: Warehouse, customer_id: str, lang: str, at: datetime) -> dict:
    """One customer's row of the current run with their service level, next best action (its
    reason in `lang`) and consents in force at `at`, read from the warehouse: the slow path,
    for when the operational store holds no profiles snapshot yet (`fast_profile`)."""
    run = current_run(wh)
    found = ops.profile_documents(wh, run, at, customer_id)
    if found.empty:
        raise UnknownCustomer("err.customer_not_in_run", customer=customer_id,
                              run_id=run["run_id"])
    return render(found["doc"].iloc[0], lang)


#: The service levels a profile shows (made once: a policy's checks ran on every read).
_POLICY = TierPolicy()
#: What a profile document holds for the read route rather than for the answer itself.
_KEPT_APART = ("consents_at", "ingested_events", "ingested_events_more")


def render(doc: dict, lang: str) -> dict:
    """A stored profile document (`store.profile_documents`) as the API shows it in `lang`:
    the tier's service level labelled, the next best action's reason in that language."""
    out = {k: v for k, v in doc.items() if k not in _KEPT_APART}
    out.update(scored=True, status="scored")
    level = _POLICY.level(doc["tier"])
    out["service_level"] = {"service": label(level.service, lang),
                            "resource": label(level.resource, lang),
                            "response_hours": level.response_hours}
    act = doc.get("next_best_action")
    if act is not None:
        act = {k: v for k, v in act.items() if k not in ("reason_en", "reason_zh")}
        act["reason"] = doc["next_best_action"].get(
            "reason_zh" if lang == "zh-CN" else "reason_en")
        out["next_best_action"] = act
    return out


def fast_profile(store: ops.Store, customer_id: str, lang: str, *,
                 events: int = RECENT_EVENTS) -> tuple[dict, str, list[dict] | None] | None:
    """The customer's profile from the store's snapshot of the current run, by primary key,
    with the time its consents were read from the warehouse and their latest ingested events
    as of the publish (`snapshot_events`; None when a read of `events` needs the warehouse);
    None when the store holds no snapshot at all, so the caller falls back to the warehouse.
    An unknown customer of a snapshot is `UnknownCustomer`."""
    doc = ops.read_profile(store, customer_id)
    if doc is None:
        run_id = ops.profiles_run(store)
        if run_id is None:
            return None
        raise UnknownCustomer("err.customer_not_in_run", customer=customer_id, run_id=run_id)
    return render(doc, lang), doc.get("consents_at") or "", snapshot_events(doc, events)


def snapshot_events(doc: dict, limit: int) -> list[dict] | None:
    """The ingested events a profile document holds (`store.profile_documents`), newest first,
    when they are all a read of `limit` events can show: the customer has no more, or `limit`
    is within those kept. None otherwise, and for a document written before events were kept:
    the read then opens the warehouse (`WarehouseReads.events_of`)."""
    held = doc.get("ingested_events")
    if held is None or (doc.get("ingested_events_more") and limit > len(held)):
        return None
    return [{**e, "ts": datetime.fromisoformat(e["ts"])} for e in held]


def live_profile(store: ops.Store, customer_id: str, lang: str) -> dict | None:
    """The profile of a person the service has seen (an identify, a track, a consent) whom no
    run has scored yet, from the operational store at once: traits, and — added by the route
    as for everyone — consents and recent events; marked `scored: false` with a note in
    `lang`. None when the store has never seen them either."""
    if not collected_people.seen(store, customer_id):
        return None
    return {"customer_id": customer_id, "scored": False, "status": "not_yet_scored",
            "note": label("profile.not_yet_scored", lang), "consents": []}


def merge_events(collected: list[dict], ingested: list[dict] | None, *,
                 limit: int = RECENT_EVENTS) -> list[dict]:
    """The latest `limit` events of both paths, newest first, each message once: an event the
    pipeline copied from the store into the warehouse is in both, under one message id."""
    out, ids = [], set()
    for e in sorted([*collected, *(ingested or [])], key=lambda e: e["ts"], reverse=True):
        if e["message_id"] in ids:
            continue
        ids.add(e["message_id"])
        out.append(e)
        if len(out) == limit:
            break
    return out


def ingested_events(wh: Warehouse, customer_id: str, *, limit: int = MAX_EVENTS
                    ) -> list[dict]:
    """The customer's latest events in the warehouse `events` table (ingested files and
    copied collection alike), newest first."""
    t = wh.table("events")
    rows = (t.filter(t.customer_id == customer_id)
            .select("message_id", "type", "event", "ts")
            .order_by([ibis.desc("ts"), ibis.desc("message_id")]).limit(limit).to_pandas())
    return [{"message_id": str(m), "type": str(ty), "event": None if pd.isna(e) else str(e),
             "ts": pd.Timestamp(ts).to_pydatetime()}
            for m, ty, e, ts in zip(rows["message_id"], rows["type"], rows["event"], rows["ts"])]


def with_recorded_consents(store: ops.Store, customer_id: str, shown: list[dict]
                           ) -> list[dict]:
    """A profile's consents (`shown`: read from the warehouse at publish, or now) with those
    recorded through the service since (`/v1/consents`, `upmarket consents set`): for each
    channel the later of the two, so a withdrawal made a minute ago is not reported as a
    grant until the next run or copy."""
    recorded = latest_by_channel(store, customer_id)
    if not recorded:
        return shown
    merged = {c["channel"]: c for c in shown}
    for channel, (granted, ts) in recorded.items():
        held = merged.get(channel)
        since = held and held.get("since")
        # a snapshot entry without a time predates the field: the store's row is newer
        if held is None or since is None or datetime.fromisoformat(since) <= ts:
            merged[channel] = {"channel": channel, "granted": granted,
                               "since": ts.isoformat()}
    return [merged[ch] for ch in sorted(merged)]


def segments(wh: Warehouse, lang: str) -> dict:
    run = current_run(wh)
    res = output(wh, "results", run["run_id"])
    found = []
    for grouping, (column, kind) in GROUPINGS.items():
        if column not in res.columns:
            continue
        known = res.filter(res[column].notnull())
        sizes = known.group_by(column).aggregate(customers=known.count()).order_by(
            column).to_pandas()
        for value, n in zip(sizes[column], sizes["customers"]):
            found.append({"name": f"{grouping}.{value}", "grouping": grouping,
                          "value": str(value), "label": value_label(kind, str(value), lang),
                          "customers": int(n)})
    # segments saved by name (`upmarket segments create`), evaluated on this run
    for r in saved_segments.summary(wh, run=run):
        if r["error"] is None:
            found.append({"name": r["name"], "grouping": "saved", "value": r["name"],
                          "label": r["condition"], "customers": int(r["customers"])})
    return {"run_id": run["run_id"], "segments": found}


def members(wh: Warehouse, name: str, *, at: datetime, channel: str | None, offset: int,
            limit: int, pseudonymise: bool, store: ops.Store | None = None) -> dict:
    """Consenting members of segment `name`, ordered by id, one page at a time.

    Only customers whose marketing consent is in force at `at` (on `channel`, or on any channel
    when none is given) are listed: a segment list is made to be contacted, and the privacy
    gate applies when data leave (DESIGN §4). Consents recorded in the operational store
    (`store`, default the configured one) count before they are copied to the warehouse, so a
    withdrawal takes the customer off the list at once; erased people are never listed. Ids
    are pseudonymised with the export key unless the caller may export personal data. A name
    without a dot is a saved segment (`strategy.saved_segments`), evaluated on the run.
    """
    grouping, _, value = name.partition(".")
    saved = not value and saved_segments.NAME.match(name) is not None
    if not saved and (grouping not in GROUPINGS or not value):
        raise UnknownSegment("err.segment_name", name=name, groupings=", ".join(GROUPINGS))
    run = current_run(wh)
    res = output(wh, "results", run["run_id"])
    if saved:
        seg = saved_segments.members(wh, name, run=run, at=at).members.select("customer_id")
    else:
        seg = res.filter(res[GROUPINGS[grouping][0]] == value).select("customer_id")
    ok = consents_in_force(privacy.consent_history(wh, store), at)
    ok = ok.filter(ok.granted)
    if channel:
        ok = ok.filter(ok.channel == channel)
    ok = ok.filter(~ok.customer_id.startswith(privacy.ERASED_PREFIX))
    ok = ok.select("customer_id").distinct()
    kept = seg.semi_join(ok, "customer_id")
    total = int(kept.count().execute())
    if total == 0 and int(seg.count().execute()) == 0:
        raise UnknownSegment("err.segment_empty", name=name, run_id=run["run_id"])
    page = kept.order_by("customer_id").limit(limit, offset=offset).to_pandas()["customer_id"]
    ids = page.astype(str)
    if pseudonymise:
        ids = privacy.pseudonymise(
            ids, read_pseudonym_key(wh, store.url if store is not None else None))
    nxt = offset + limit if offset + limit < total else None
    return {"segment": name, "run_id": run["run_id"], "total": total, "offset": offset,
            "limit": limit, "pseudonymised": pseudonymise, "members": list(ids),
            "next_offset": nxt}


def read_pseudonym_key(wh: Warehouse, store_url: str | None = None) -> bytes:
    """The export pseudonymisation key, never made here: the same pseudonyms as exports give
    (`privacy.pseudonym_key`, kept beside the operational store at `store_url`);
    `NoPseudonymKey` when there is none yet."""
    try:
        return privacy.pseudonym_key(wh, store_url=store_url, create=False)
    except WarehouseBusy:
        raise
    except WarehouseError as exc:
        raise NoPseudonymKey(str(exc)) from None


def kpis(wh: Warehouse) -> dict:
    run = current_run(wh)
    found = run["counts"].get("kpis") or {}
    return {"run_id": run["run_id"], "as_of": run["as_of"],
            "kpis": {k: _clean(float(v)) if v is not None else None for k, v in found.items()}}
