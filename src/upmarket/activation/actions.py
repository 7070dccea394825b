"""What an alert sets off (DESIGN §4, dynamic tuning triggers): a task for a person, due
within the customer's tier response time; a signed webhook, delivered through an outbox with
retries; an export of the alert's customers, through the privacy gate.

Tasks
-----
A task is due ``created + response time`` of the customer's value tier (the key-account strategy course: Diamond
1 h, Core 4 h, Potential 24 h, Basic 48 h; `strategy.tiers.TierPolicy`), unless the rule's
action gives its own ``due``; an alert about no customer (a KPI) is due in 24 h. Every action,
automated or not, is a row of the operational store's ``tasks``: the upward-marketing guide's marketing
automation rate is *automated tasks done ÷ all tasks*, so the webhooks and exports the system
carries out count beside the tasks people do.

Webhooks
--------
A JSON ``POST`` carrying two headers, the scheme Stripe and GitHub use for theirs::

    X-Upmarket-Timestamp: 1767225600
    X-Upmarket-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>." + raw body)>

The signed material is the timestamp, a full stop, then the raw body bytes exactly as sent. A
receiver recomputes the HMAC with the shared secret over the same bytes, compares in constant
time (`verify_signature` does both) and rejects a timestamp more than five minutes from its
own clock, so a captured request cannot be replayed later. The secret is read at send time
from the environment variable the rule names (``secret_env``), never stored. The body is the
same at every attempt and carries the alert id, and ``X-Upmarket-Delivery`` the message id,
for the receiver to deduplicate: delivery is at least once.

Delivery goes through the outbox (`opstore.automation`): the message is committed with its
alert, and `deliver_due` sends what is due. A failed attempt is retried after an exponential
backoff with "equal jitter" — attempt *n* waits ``min(cap, d/2 + U(0, d/2))`` with ``d =
base·2ⁿ⁻¹`` (M. Brooker, *Exponential Backoff and Jitter*, AWS Architecture Blog, 2015) — so
retries of many messages spread out instead of hammering a recovering receiver together, yet
each wait is at least as long as the one before (hence the cap after the jitter). A
``Retry-After`` header lengthens the wait. Timeouts, connection errors, 408, 429 and 5xx are
retried up to ``max_attempts``; any other 4xx (and a redirect) means the request itself is
wrong and is not retried.

The body names the customer by id: the receiver is your own CRM or ticketing system, which
must know whom to call. Only the values the rule tested travel with it (data minimisation),
and every delivery is written to the audit log as personal data leaving the system.

Exports
-------
Open export actions are written by `perform_exports` (at once after a run is evaluated; for
alerts fired on events, by the next ``upmarket alerts deliver``, which has the warehouse the
privacy gate needs): one CSV or Excel file (the action's ``format``) per rule and folder,
under the export policy (`activation.export_policy`): only customers whose consent for the
channel is in force at the moment of writing, ids pseudonymised unless the action asks for
personal data, no cell a spreadsheet evaluates as a formula, audited.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import logging
import os
import random
import string
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd

from upmarket.activation import export_policy, privacy
from upmarket.errors import UpmarketError
from upmarket.opstore import automation as auto
from upmarket.opstore.automation import Alert, Candidate, PlannedAction
from upmarket.opstore.store import Store, now_utc
from upmarket.strategy.tiers import TIER_ORDER, TierPolicy

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Upmarket-Signature"
TIMESTAMP_HEADER = "X-Upmarket-Timestamp"
DELIVERY_HEADER = "X-Upmarket-Delivery"
#: How far a receiver should let a timestamp stray from its own clock (Stripe's default).
SIGNATURE_TOLERANCE_S = 300
DEFAULT_MAX_ATTEMPTS = 8
BACKOFF_BASE_S = 30.0
BACKOFF_CAP_S = 6 * 3600.0
REQUEST_TIMEOUT_S = 10.0
#: When an alert is about no customer (a KPI), its task is due in this long.
DEFAULT_DUE = timedelta(hours=24)
EXPORT_FORMATS = ("csv", "xlsx")


class BadExport(UpmarketError):
    pass


# -- the actions a rule can name ----------------------------------------------------------------
@dataclass(frozen=True)
class TaskAction:
    title: str
    assignee: str | None = None
    #: overrides the tier's response time
    due: timedelta | None = None
    kind: str = "task"
    #: the title a Chinese reader sees (`title_zh` in the rules file); kept in the task's detail
    title_zh: str | None = None


@dataclass(frozen=True)
class WebhookAction:
    url: str
    secret_env: str
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    kind: str = "webhook"


@dataclass(frozen=True)
class ExportAction:
    path: str
    format: str = "csv"
    #: the channel the list will be used on, whose consent is checked; None: each customer's
    #: next-best-action channel in the current run
    channel: str | None = None
    #: customer ids in the clear (audited as an export of personal data)
    pii: bool = False
    kind: str = "export"


Action = TaskAction | WebhookAction | ExportAction


# -- planning: what rows an alert writes -----------------------------------------------------------
def response_time(tier: str | None, policy: TierPolicy = TierPolicy()) -> timedelta | None:
    """The tier's response time (the key-account strategy course), None for no or an unknown tier."""
    if tier not in TIER_ORDER:
        return None
    return timedelta(hours=float(policy.level(tier).response_hours))


def task_due(created: datetime, tier: str | None, policy: TierPolicy = TierPolicy(),
             override: timedelta | None = None) -> datetime:
    """When a task made at `created` is due: the action's own `override`, else the customer's
    tier response time, else `DEFAULT_DUE`."""
    return created + (override or response_time(tier, policy) or DEFAULT_DUE)


class _Blank(dict):
    def __missing__(self, key):
        return ""


def render(template: str, values: Mapping[str, object], fallback: str) -> str:
    """`template` filled from `values` (str.format syntax, e.g. ``{churn_risk:.0%}``); the
    `fallback` when a value does not fit its format (a missing score, say)."""
    try:
        return string.Formatter().vformat(template, (), _Blank(values))
    except (ValueError, TypeError, KeyError, IndexError, AttributeError):
        return fallback


def template_values(c: Candidate, alert: Alert) -> dict:
    values = {k.replace(".", "_"): v for k, v in c.detail.items()}
    values.update(rule=c.rule, subject=c.subject, severity=c.severity)
    if c.customer_id is not None:
        values["customer_id"] = c.customer_id
    return values


def chinese_values(values: dict) -> dict:
    """`values` as a Chinese title shows them: tiers, risk indicators and channels by name."""
    from upmarket.data_labels import channel_name
    from upmarket.i18n import LABELS, value_label

    out = dict(values)
    if isinstance(out.get("tier"), str):
        out["tier"] = value_label("tier", out["tier"], "zh")
    group = out.get("group")
    if isinstance(group, str):
        out["group"] = LABELS[f"risk.ind.{group}"]["zh-CN"] if f"risk.ind.{group}" in LABELS \
            else channel_name(group, "zh")
    return out


def webhook_body(alert: Alert) -> str:
    """The JSON sent for `alert` (the same bytes at every attempt)."""
    return json.dumps({
        "type": "upmarket.alert", "alert_id": alert.id, "rule": alert.rule,
        "severity": alert.severity, "subject": alert.subject, "customer_id": alert.customer_id,
        "fired": alert.fired.isoformat() + "Z", "source": alert.source, "run_id": alert.run_id,
        "detail": alert.detail,
    }, ensure_ascii=False, default=str, allow_nan=False, separators=(",", ":"))


def plan_actions(actions: list[Action], c: Candidate, alert: Alert, *, tier: str | None,
                 policy: TierPolicy = TierPolicy()) -> list[PlannedAction]:
    """The task rows (and webhook messages) `alert` writes for a rule's `actions`."""
    values = template_values(c, alert)
    fallback = f"{c.rule}: {c.subject}"
    out = []
    for a in actions:
        if isinstance(a, TaskAction):
            detail = {"severity": c.severity}
            if a.title_zh:
                detail["title_zh"] = render(a.title_zh, chinese_values(values), fallback)
            out.append(PlannedAction(
                "task", False, render(a.title, values, fallback),
                task_due(alert.fired, tier, policy, a.due), c.customer_id, tier, a.assignee,
                detail))
        elif isinstance(a, WebhookAction):
            out.append(PlannedAction(
                "webhook", True, f"webhook {a.url}: {fallback}",
                task_due(alert.fired, tier, policy), c.customer_id, tier, None,
                {"url": a.url, "title_zh": _chinese_title("webhook", a.url, c)},
                webhook={"url": a.url, "secret_env": a.secret_env, "body": webhook_body(alert),
                         "max_attempts": a.max_attempts}))
        elif isinstance(a, ExportAction):
            out.append(PlannedAction(
                "export", True, f"export to {a.path}: {fallback}",
                task_due(alert.fired, tier, policy), c.customer_id, tier, None,
                {"path": a.path, "format": a.format, "channel": a.channel, "pii": a.pii,
                 "title_zh": _chinese_title("export", a.path, c)}))
    return out


def _chinese_title(kind: str, target: str, c: Candidate) -> str:
    """What a Chinese reader sees for a webhook or an export the system carries out: the
    rule by its Chinese name where the catalogue has one (a user's own rule keeps its name)."""
    from upmarket.i18n import LABELS, label

    key = f"automation.rule.{c.rule}"
    rule = label(key, "zh-CN") if key in LABELS else c.rule
    return label(f"automation.title.{kind}", "zh-CN", target=target, rule=rule,
                 subject=c.subject)


# -- signing --------------------------------------------------------------------------------------
def _key(secret: str | bytes) -> bytes:
    return secret.encode() if isinstance(secret, str) else secret


def signed_material(timestamp: int | str, body: bytes) -> bytes:
    return str(int(timestamp)).encode() + b"." + body


def sign(secret: str | bytes, timestamp: int, body: bytes) -> str:
    """The `X-Upmarket-Signature` value for `body` sent at `timestamp` (Unix seconds)."""
    mac = hmac.new(_key(secret), signed_material(timestamp, body), hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify_signature(secret: str | bytes, timestamp: str, body: bytes, signature: str, *,
                     now: float | None = None,
                     tolerance: float = SIGNATURE_TOLERANCE_S) -> bool:
    """What a receiver does: True when `signature` is ours for `body` at `timestamp` and the
    timestamp lies within `tolerance` seconds of `now` (default: the clock)."""
    try:
        ts = int(timestamp)
    except (TypeError, ValueError):
        return False
    if abs((time.time() if now is None else now) - ts) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, ts, body), signature or "")


# -- delivering -----------------------------------------------------------------------------------
def backoff_delay(attempt: int, *, base: float = BACKOFF_BASE_S, cap: float = BACKOFF_CAP_S,
                  rng: random.Random | None = None) -> float:
    """Seconds to wait after failed attempt number `attempt` (1, 2, …): equal jitter over an
    exponential, ``min(cap, d/2 + U(0, d/2))`` with ``d = base·2^(attempt−1)``. The cap comes
    after the jitter so that no wait is shorter than the longest the one before could be."""
    d = base * 2.0 ** (min(max(attempt, 1), 60) - 1)
    return min(cap, d / 2 + (rng or random).uniform(0, d / 2))


def retryable(status: int | None) -> bool:
    """Network errors and timeouts (no status), 408, 429 and 5xx may succeed later; another
    4xx or a redirect will not."""
    return status is None or status in (408, 429) or status >= 500


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:  # an HTTP date
        from email.utils import parsedate_to_datetime

        when = parsedate_to_datetime(value)
        return max(when.timestamp() - time.time(), 0.0)
    except (TypeError, ValueError):
        return None


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A webhook is posted to the URL configured, never where a redirect points (which could
    turn the POST into a GET or leak the payload elsewhere)."""

    def redirect_request(self, *args, **kwargs):
        return None


_OPENER = urllib.request.build_opener(_NoRedirects)


@dataclass(frozen=True)
class Response:
    status: int | None
    error: str | None = None
    retry_after: float | None = None


Sender = Callable[[str, bytes, dict, float], Response]


def post(url: str, body: bytes, headers: dict, timeout: float) -> Response:
    """POST `body` to `url` (urllib: the standard library is enough for one request)."""
    req = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with _OPENER.open(req, timeout=timeout) as resp:
            resp.read(65536)
            return Response(resp.status)
    except urllib.error.HTTPError as exc:
        text = exc.read(300).decode("utf-8", "replace") if exc.fp else ""
        return Response(exc.code, f"HTTP {exc.code} {exc.reason}: {text}".strip(),
                        _retry_after(exc.headers.get("Retry-After") if exc.headers else None))
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return Response(None, f"{type(exc).__name__}: {reason}")


@dataclass
class DeliveryReport:
    delivered: int = 0
    retrying: int = 0
    failed: int = 0
    #: one entry per attempt: message id, url, status, outcome, error, next attempt
    attempts: list[dict] = field(default_factory=list)

    @property
    def sent(self) -> int:
        return len(self.attempts)


def deliver_due(store: Store, now: datetime | None = None, *, limit: int = 100,
                timeout: float = REQUEST_TIMEOUT_S, send: Sender = post,
                rng: random.Random | None = None, clock: Callable[[], float] = time.time,
                deadline: float | None = None,
                environ: Mapping[str, str] = os.environ) -> DeliveryReport:
    """Send the webhook messages due at `now` (default: the clock), up to `limit`, one attempt
    each, booking every outcome in the outbox. `deadline` (a `clock()` value) stops taking new
    messages once passed — what is left stays due for the next call. The signature's
    timestamp is always the real clock (`clock`), since the receiver checks it against its
    own; `now` only schedules."""
    now = now or now_utc()
    report = DeliveryReport()
    taken = auto.claim_deliveries(store, now, limit=limit)
    for i, m in enumerate(taken):
        if deadline is not None and clock() > deadline:
            # out of time: hand the rest back, due now, without counting an attempt
            auto.release_deliveries(store, [x["id"] for x in taken[i:]], now)
            break
        attempt = int(m["attempts"]) + 1
        secret = environ.get(m["secret_env"])
        if not secret:
            resp = Response(None, f"environment variable {m['secret_env']} (the webhook's "
                                  "secret_env) is not set: set it to the shared HMAC secret")
        else:
            body = m["body"].encode("utf-8")
            ts = int(clock())
            headers = {"Content-Type": "application/json; charset=utf-8",
                       "User-Agent": "upmarket-webhooks/1",
                       TIMESTAMP_HEADER: str(ts), SIGNATURE_HEADER: sign(secret, ts, body),
                       DELIVERY_HEADER: str(m["id"]), "X-Upmarket-Attempt": str(attempt)}
            resp = send(m["url"], body, headers, timeout)
        ok = resp.status is not None and 200 <= resp.status < 300
        retry_at = None
        if not ok and retryable(resp.status) and attempt < int(m["max_attempts"]):
            wait = max(backoff_delay(attempt, rng=rng), min(resp.retry_after or 0.0,
                                                            BACKOFF_CAP_S))
            retry_at = now + timedelta(seconds=wait)
        outcome = auto.record_attempt(store, m["id"], now, ok=ok, status=resp.status,
                                      error=resp.error, retry_at=retry_at)
        if ok:
            report.delivered += 1
            privacy.audit(None, "webhook_delivered", m["url"], store=store,
                          alert_id=m["alert_id"], customer_id=m["customer_id"],
                          attempts=attempt)
        elif outcome == "pending":
            report.retrying += 1
        else:
            report.failed += 1
            log.warning("webhook %s to %s given up after %d attempt(s): %s", m["id"], m["url"],
                        attempt, resp.error)
        report.attempts.append({"id": m["id"], "url": m["url"], "attempt": attempt,
                                "status": resp.status, "outcome": outcome,
                                "error": resp.error, "next_attempt": retry_at})
    return report


# -- exports --------------------------------------------------------------------------------------
@dataclass
class ExportResult:
    rule: str
    path: Path
    rows: int
    dropped_no_consent: int
    pseudonymised: bool


def _unique_path(folder: Path, stem: str, suffix: str) -> Path:
    path = folder / f"{stem}{suffix}"
    n = 2
    while path.exists():
        path = folder / f"{stem}_{n}{suffix}"
        n += 1
    return path


def _nba_channels(wh) -> pd.Series:
    """Each customer's next-best-action channel in the current run (empty without one)."""
    from upmarket.errors import NoRun
    from upmarket.warehouse.runs import current_run, output, output_table

    try:
        run = current_run(wh)
    except NoRun:
        return pd.Series(dtype=object)
    if not wh.has_table(output_table("actions", run["run_id"])):
        return pd.Series(dtype=object)
    a = output(wh, "actions", run["run_id"]).select("customer_id", "channel").to_pandas()
    return a.drop_duplicates("customer_id").set_index("customer_id")["channel"]


def perform_exports(store: Store, wh, now: datetime | None = None) -> list[ExportResult]:
    """Write every open export action: one file per rule and folder and settings, holding the
    alerts' customers who consent to the channel at `now` (pseudonymised unless the action
    asks for personal data) — or, for alerts about KPIs, the KPI rows (no personal data).
    Each file is audited; its tasks are then done."""
    now = now or now_utc()
    pending = auto.open_exports(store)
    groups: dict[tuple, list[dict]] = {}
    for t in pending:
        d = t["detail"]
        key = (t["rule"], d.get("path"), d.get("format", "csv"), d.get("channel"),
               bool(d.get("pii")), t["customer_id"] is None)
        groups.setdefault(key, []).append(t)
    results = []
    channels = None
    for (rule, folder, fmt, channel, pii, about_kpis), items in groups.items():
        if fmt not in EXPORT_FORMATS:
            raise BadExport("err.export.format", rule=rule, value=fmt,
                            choices=" or ".join(EXPORT_FORMATS))
        base = pd.DataFrame({
            "task_id": [t["id"] for t in items],
            "customer_id": [t["customer_id"] for t in items],
            "subject": [t["subject"] for t in items],
            "rule": rule, "severity": [t["severity"] for t in items],
            "fired": [t["fired"] for t in items]})
        detail = pd.DataFrame([t["alert_detail"] for t in items], index=base.index)
        frame = pd.concat([base, detail.drop(columns=[c for c in detail if c in base],
                                             errors="ignore")], axis=1)
        dropped = 0
        if about_kpis:
            out = frame.drop(columns=["task_id", "customer_id"])
            ok = pd.Series(True, index=frame.index)
        else:
            if channel:
                frame["channel"] = channel
            else:
                if channels is None:
                    channels = _nba_channels(wh)
                frame["channel"] = frame["customer_id"].map(channels)
            gated = export_policy.gate(wh, frame.drop(columns=["task_id", "subject"]),
                                       with_pii=pii, channel_col="channel", at=now,
                                       store=store)
            ok, dropped, out = gated.kept, gated.dropped_no_consent, gated.frame
        target = Path(str(folder)).expanduser()
        try:
            target.mkdir(parents=True, exist_ok=True)
            path = _unique_path(target, f"{rule}_{now:%Y%m%dT%H%M%S}", f".{fmt}")
            export_policy.write_export(wh, out, path, fmt, what="alerts",
                                       with_pii=pii and not about_kpis,
                                       dropped_no_consent=dropped, store=store, rule=rule)
        except OSError as exc:
            raise BadExport("err.export.write", rule=rule, path=target, reason=exc) from exc
        auto.finish_tasks(store, {
            int(tid): {"file": str(path), "exported": bool(k)}
            for tid, k in zip(frame["task_id"], ok)}, now)
        results.append(ExportResult(rule, path, len(out), dropped, not pii and not about_kpis))
    return results
