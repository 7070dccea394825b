"""Actions: signed webhooks through the outbox against a real local HTTP server (503, 503, then
200 → delivered once after three attempts; 400 not retried; backoff that grows), tasks due
within each tier's response time, consent-checked pseudonymised exports, and tasks feeding the
scorecard's automation rate and response time (expected values computed here by hand)."""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import threading
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from upmarket.activation import actions as A
from upmarket.activation import privacy
from upmarket.activation import rules as R
from upmarket.activation.holdout import HoldoutSettings
from upmarket.opstore import automation as auto
from upmarket.opstore import store as ops
from upmarket.strategy import scorecard as sc
from upmarket.warehouse.runs import Run

T0 = datetime(2026, 2, 10, 9, 0)
SECRET = "whsec_test_5b1f"


#: control groups are tested in test_holdout; here every matching customer is acted on
NO_HOLDOUT = HoldoutSettings(share=0.0)


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.setenv("UPMARKET_DATABASE", f"sqlite:///{tmp_path}/ops.sqlite")
    s = ops.open_store(f"sqlite:///{tmp_path}/ops.sqlite")
    yield s
    s.close()


class Receiver:
    """A local webhook receiver answering from a script of status codes (the last repeats)."""

    def __init__(self, statuses: list[int], headers: dict | None = None):
        self.statuses, self.extra = list(statuses), headers or {}
        self.requests: list[dict] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append({"headers": dict(self.headers), "body": body})
                i = min(len(receiver.requests), len(receiver.statuses)) - 1
                self.send_response(receiver.statuses[i])
                for k, v in receiver.extra.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,),
                                       daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def kpi_rule(url: str, max_attempts: int = 8) -> R.RuleSet:
    return R.parse_rules({"rules": [{
        "name": "roi_drop", "when": {"kpi": "channel_roi.roi", "by": "channel",
                                     "value": "< 1"},
        "actions": [{"webhook": {"url": url, "secret_env": "HOOK_SECRET",
                                 "max_attempts": max_attempts}}]}]}, "t.yaml")


def publish(wh, run_id: str, **tables) -> str:
    run = Run(wh, datetime(2026, 2, 1))
    run.run_id = run_id
    for name, frame in tables.items():
        run.write(name, frame)
    run.publish({})
    return run_id


def fire_one(wh, store, url: str, max_attempts: int = 8):
    run = publish(wh, "20260201000000_a",
                  channel_roi=pd.DataFrame({"channel": ["wechat"], "roi": [0.5]}))
    fired = R.evaluate_run(wh, store, run, kpi_rule(url, max_attempts), T0)
    assert len(fired) == 1
    return fired[0]


def expected_signature(timestamp: str, body: bytes) -> str:
    """The scheme as documented, computed independently of the module."""
    mac = hmac.new(SECRET.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def test_webhook_retried_with_growing_backoff_then_delivered_once(wh, store):
    env = {"HOOK_SECRET": SECRET}
    with Receiver([503, 503, 200]) as rx:
        alert = fire_one(wh, store, rx.url)
        now, waits = T0, []
        for _ in range(3):
            report = A.deliver_due(store, now, environ=env, rng=random.Random(7))
            assert report.sent == 1
            msg, = auto.outbox(store)
            if msg["status"] == "pending":
                waits.append((msg["next_attempt"] - now).total_seconds())
                # not due a second before its time, due at it
                assert A.deliver_due(store, msg["next_attempt"] - timedelta(seconds=1),
                                     environ=env).sent == 0
                now = msg["next_attempt"]
        assert report.delivered == 1
        assert len(rx.requests) == 3
    msg, = auto.outbox(store)
    assert (msg["status"], msg["attempts"], msg["last_status"]) == ("delivered", 3, 200)
    assert msg["delivered"] == now
    # equal jitter on 30 s · 2^(n−1): the first wait in [15, 30] s, the second in [30, 60] s
    assert 15 <= waits[0] <= 30 <= waits[1] <= 60 and waits[1] > waits[0]
    # every attempt is signed over "timestamp.body" with the secret, and the body is the alert
    for req in rx.requests:
        h = {k.lower(): v for k, v in req["headers"].items()}
        assert h["x-upmarket-signature"] == expected_signature(h["x-upmarket-timestamp"],
                                                               req["body"])
        assert A.verify_signature(SECRET, h["x-upmarket-timestamp"], req["body"],
                                  h["x-upmarket-signature"])
        assert not A.verify_signature("wrong", h["x-upmarket-timestamp"], req["body"],
                                      h["x-upmarket-signature"])
        assert not A.verify_signature(SECRET, h["x-upmarket-timestamp"], req["body"] + b" ",
                                      h["x-upmarket-signature"])
        # a replay ten minutes later is refused
        assert not A.verify_signature(SECRET, h["x-upmarket-timestamp"], req["body"],
                                      h["x-upmarket-signature"],
                                      now=int(h["x-upmarket-timestamp"]) + 600)
    assert len({r["body"] for r in rx.requests}) == 1
    body = json.loads(rx.requests[0]["body"])
    assert body["alert_id"] == alert.id and body["subject"] == "channel_roi:wechat"
    assert [h["X-Upmarket-Attempt"] for h in (r["headers"] for r in rx.requests)] == \
        ["1", "2", "3"]
    task, = auto.list_tasks(store, kind="webhook")
    assert task["automated"] and task["status"] == "done" and task["completed"] == now
    assert any(r.action == "webhook_delivered" for r in ops.read_audit(store).itertuples())


def test_a_400_is_not_retried(wh, store):
    with Receiver([400]) as rx:
        fire_one(wh, store, rx.url)
        report = A.deliver_due(store, T0, environ={"HOOK_SECRET": SECRET})
        assert report.failed == 1 and len(rx.requests) == 1
        # nothing is left to send, however late
        assert A.deliver_due(store, T0 + timedelta(days=30),
                             environ={"HOOK_SECRET": SECRET}).sent == 0
    msg, = auto.outbox(store)
    assert (msg["status"], msg["attempts"], msg["last_status"]) == ("failed", 1, 400)
    task, = auto.list_tasks(store, kind="webhook")
    assert task["status"] == "failed" and task["completed"] is None


@pytest.mark.parametrize("status", [408, 429, 500])
def test_timeouts_throttling_and_server_errors_are_retried(wh, store, status):
    with Receiver([status], headers={"Retry-After": "120"} if status == 429 else None) as rx:
        fire_one(wh, store, rx.url)
        report = A.deliver_due(store, T0, environ={"HOOK_SECRET": SECRET})
    assert report.retrying == 1
    msg, = auto.outbox(store)
    assert msg["status"] == "pending" and msg["last_status"] == status
    wait = (msg["next_attempt"] - T0).total_seconds()
    assert wait >= (120 if status == 429 else 15)  # Retry-After is honoured


def test_gives_up_after_max_attempts_and_unreachable_hosts_retry(wh, store):
    env = {"HOOK_SECRET": SECRET}
    with Receiver([503]) as rx:
        fire_one(wh, store, rx.url, max_attempts=3)
        now = T0
        for _ in range(5):
            A.deliver_due(store, now, environ=env)
            now += timedelta(days=1)
        assert len(rx.requests) == 3
    msg, = auto.outbox(store)
    assert (msg["status"], msg["attempts"]) == ("failed", 3)


def test_a_missing_secret_is_said_and_retried(wh, store):
    fire_one(wh, store, "http://127.0.0.1:9/hook")
    report = A.deliver_due(store, T0, environ={})
    assert report.retrying == 1
    assert "HOOK_SECRET" in report.attempts[0]["error"]
    msg, = auto.outbox(store)
    assert "environment variable HOOK_SECRET" in msg["last_error"]


@settings(max_examples=100, deadline=None)
@given(n=st.integers(1, 20), seed=st.integers(0, 2**32 - 1))
def test_backoff_is_equal_jitter_and_never_shrinks(n, seed):
    rng = random.Random(seed)
    cap, d = A.BACKOFF_CAP_S, A.BACKOFF_BASE_S * 2 ** (n - 1)
    first = A.backoff_delay(n, rng=rng)
    assert min(cap, d / 2) <= first <= min(cap, d)
    # whatever the draws, the next wait is at least as long as this one could have been
    assert A.backoff_delay(n + 1, rng=rng) >= min(cap, d)


def test_claimed_messages_are_sent_by_one_deliverer_only(wh, store):
    with Receiver([200]) as rx:
        fire_one(wh, store, rx.url)
        taken = auto.claim_deliveries(store, T0)
        # a second deliverer at the same moment finds nothing; after the lease, it may retry
        assert len(taken) == 1 and auto.claim_deliveries(store, T0) == []
        assert len(auto.claim_deliveries(store, T0 + auto.DELIVERY_LEASE)) == 1
        assert rx.requests == []


# -- tasks -------------------------------------------------------------------------------------
@pytest.mark.parametrize("tier, hours", [("diamond", 1), ("core", 4), ("potential", 24),
                                         ("basic", 48)])
def test_task_due_within_the_tier_response_time(tier, hours):
    assert A.task_due(T0, tier) == T0 + timedelta(hours=hours)  # the key-account strategy course's service levels
    assert A.task_due(T0, tier, override=timedelta(minutes=30)) == T0 + timedelta(minutes=30)
    assert A.task_due(T0, None) == T0 + timedelta(hours=24)


def test_titles_that_do_not_fit_their_format_fall_back():
    assert A.render("risk {churn_risk:.0%}", {"churn_risk": 0.734}, "fb") == "risk 73%"
    assert A.render("risk {churn_risk:.0%}", {"churn_risk": None}, "fb") == "fb"


# -- the scorecard reads the tasks ------------------------------------------------------------
def people(n: int) -> pd.DataFrame:
    tiers = ["diamond", "core", "potential", "basic"]
    return pd.DataFrame({"customer_id": [f"C{i}" for i in range(n)],
                         "tier": [tiers[i % 4] for i in range(n)],
                         "churn_risk": [0.9] * n})


def test_tasks_feed_the_automation_rate_and_response_time(wh, store):
    """Six customers alerted, each with a task for a person and a webhook: 12 tasks. Four
    webhooks are delivered, two fail (400); of the people's tasks three are done, after 2 h,
    6 h and 10 h. Automation rate = automated done ÷ all = 4 / 12; the tasks' median
    response is 6 h."""
    res = people(6)
    with Receiver([200, 200, 200, 200, 400]) as rx:
        rs = R.parse_rules({"rules": [{
            "name": "churn", "when": {"customer": ["churn_risk > 0.5"]},
            "actions": [{"task": {"title": "call {customer_id}"}},
                        {"webhook": {"url": rx.url, "secret_env": "HOOK_SECRET"}}]}]}, "t")
        run = publish(wh, "20260201000000_a", results=res)
        assert len(R.evaluate_run(wh, store, run, rs, T0, holdout_settings=NO_HOLDOUT)) == 6
        report = A.deliver_due(store, T0, environ={"HOOK_SECRET": SECRET})
    assert (report.delivered, report.failed) == (4, 2)
    manual = auto.list_tasks(store, kind="task")
    done_after = dict(zip((t["id"] for t in manual[:3]), (2, 6, 10)))
    for t in manual[:3]:
        auto.complete_task(store, t["id"], T0 + timedelta(hours=done_after[t["id"]]))
    assert auto.copy_tasks_to_warehouse(store, wh) == 12
    copied = wh.table("tasks").to_pandas()
    assert len(copied) == 12 and set(copied["kind"]) == {"task", "webhook"}

    q = sc.parse_period("2026-Q1")
    got = sc.WarehouseMetrics(wh).measure(
        ["marketing_automation_rate", "task_response_hours", "response_time_hours",
         "task_completion_rate"], [q])["2026-Q1"]
    rate = got["marketing_automation_rate"]
    assert rate.value == pytest.approx(4 / 12)
    assert dict(rate.args) == {"done": 4, "n": 12}
    assert got["task_response_hours"].value == pytest.approx(6.0)
    # no tickets in the warehouse: the response time is the tasks' alone
    assert got["response_time_hours"].value == pytest.approx(6.0)
    assert dict(got["response_time_hours"].args) == {"tickets": 0, "tasks": 3}
    # on time: the four webhooks delivered at T0, and the people's tasks done within their
    # tier's response time (the key-account strategy course: diamond 1 h, core 4 h, potential 24 h, basic 48 h)
    seed_hours = {"diamond": 1, "core": 4, "potential": 24, "basic": 48}
    on_time = 4 + sum(done_after[t["id"]] <= seed_hours[t["tier"]] for t in manual[:3])
    assert got["task_completion_rate"].value == pytest.approx(on_time / 12)
    # with service tickets answered after 1 h and 3 h, the response time pools both:
    # the median of 1, 2, 3, 6, 10 h
    wh.insert("service_tickets", pd.DataFrame({
        "ticket_id": ["t1", "t2"], "customer_id": ["C0", "C1"], "opened": [T0, T0],
        "first_response": [T0 + timedelta(hours=1), T0 + timedelta(hours=3)]}))
    pooled = sc.WarehouseMetrics(wh).measure(["response_time_hours"], [q])["2026-Q1"]
    assert pooled["response_time_hours"].value == pytest.approx(3.0)
    assert dict(pooled["response_time_hours"].args) == {"tickets": 2, "tasks": 3}
    # a period the tasks do not fall in has no data, and says why
    other = sc.WarehouseMetrics(wh).measure(["marketing_automation_rate"],
                                            [sc.parse_period("2025-Q4")])["2025-Q4"]
    assert other["marketing_automation_rate"].value is None
    assert other["marketing_automation_rate"].note == "no_tasks"


def test_tasks_done_after_the_period_do_not_count_for_it(wh, store):
    march_end = datetime(2026, 3, 31, 23, 0)
    run = publish(wh, "20260201000000_a", results=people(2))
    fired = auto.fire_alerts(store, [auto.Candidate(
        "churn", "C0", "high", "run", run, timedelta(0), {}, "C0", run)], march_end,
        lambda c, a: A.plan_actions([A.WebhookAction("http://x", "S")], c, a, tier="core"))
    assert len(fired) == 1
    msg, = auto.outbox(store)
    auto.record_attempt(store, msg["id"], datetime(2026, 4, 1, 1, 0), ok=True, status=200)
    auto.copy_tasks_to_warehouse(store, wh)
    q1 = sc.WarehouseMetrics(wh).measure(["marketing_automation_rate"],
                                         [sc.parse_period("2026-Q1")])["2026-Q1"]
    assert q1["marketing_automation_rate"].value == 0.0


# -- exports ------------------------------------------------------------------------------------
def test_export_keeps_consenting_customers_pseudonymised_and_audited(wh, store, tmp_path):
    res = people(8)
    wh.insert("consents", pd.DataFrame({
        "customer_id": ["C0", "C1", "C2", "C3", "C3"], "purpose": "marketing",
        "channel": ["email", "email", "sms", "email", "email"],
        "granted": [True, True, True, True, False],
        "ts": [T0 - timedelta(days=9)] * 4 + [T0 - timedelta(days=1)], "source": "t"}))
    folder = tmp_path / "out"
    rs = R.parse_rules({"rules": [{
        "name": "churn", "when": {"customer": ["churn_risk > 0.5", "tier != basic"]},
        "actions": [{"export": {"path": str(folder), "channel": "email"}}]}]}, "t")
    run = publish(wh, "20260201000000_a", results=res)
    fired = R.evaluate_run(wh, store, run, rs, T0, holdout_settings=NO_HOLDOUT)
    alerted = {a.customer_id for a in fired}
    assert alerted == set(res.loc[res["tier"] != "basic", "customer_id"])
    files = list(folder.glob("churn_*.csv"))
    assert len(files) == 1
    out = pd.read_csv(files[0], encoding="utf-8-sig")
    # consent for email in force at T0: C0, C1 (C2 only for sms, C3 withdrew, C3 is basic…)
    consenting = {"C0", "C1"} & alerted
    key = privacy.pseudonym_key(wh)
    expected = {"p_" + hmac.new(key, c.encode(), hashlib.sha256).hexdigest()[:20]
                for c in consenting}
    assert set(out["customer_ref"]) == expected and "customer_id" not in out
    assert set(out.columns) >= {"customer_ref", "rule", "tier", "churn_risk", "channel"}
    tasks = auto.list_tasks(store, kind="export")
    assert len(tasks) == len(alerted) and all(t["status"] == "done" for t in tasks)
    assert sum(t["detail"]["exported"] for t in tasks) == len(consenting)
    audit = ops.read_audit(store)
    row = audit[audit["action"] == "export_alerts"].iloc[-1]
    assert row["subject"] == str(files[0])
    assert json.loads(row["detail"])["dropped_no_consent"] == len(alerted) - len(consenting)


def test_out_of_time_messages_are_handed_back_without_an_attempt(wh, store):
    with Receiver([200]) as rx:
        fire_one(wh, store, rx.url)
        report = A.deliver_due(store, T0, environ={"HOOK_SECRET": SECRET}, deadline=0.0)
        assert report.sent == 0 and rx.requests == []
    msg, = auto.outbox(store)
    assert (msg["status"], msg["attempts"], msg["next_attempt"]) == ("pending", 0, T0)
