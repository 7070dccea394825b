"""Automation rules: KPI rules against the previous run (a 21 % drop fires, a 19 % one does not),
customer rules matching exactly what a pandas filter of the same results selects, one alert
per subject and run, cooldowns with an injected clock, event rules over the profiles snapshot,
and validation errors that name the file, the rule and the field."""

from __future__ import annotations

import json
import operator
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from upmarket.activation import rules as R
from upmarket.activation.holdout import HoldoutSettings
from upmarket.opstore import automation as auto
from upmarket.opstore import store as ops
from upmarket.warehouse.runs import Run

T0 = datetime(2026, 3, 2, 9, 0)
NO_HOLDOUT = HoldoutSettings(share=0.0)
#: the key-account strategy course's response times per tier, in hours
RESPONSE_HOURS = {"diamond": 1, "core": 4, "potential": 24, "basic": 48}


def publish(wh, run_id: str, *, summary: dict | None = None, **tables) -> str:
    """Publish a run with the given outputs through the real publishing path; run ids are
    fixed so that "previous run" is deterministic."""
    run = Run(wh, datetime(2026, 3, 1))
    run.run_id = run_id
    for name, frame in tables.items():
        run.write(name, frame)
    run.publish(summary or {})
    return run_id


def rules(text: str) -> R.RuleSet:
    import yaml

    return R.parse_rules(yaml.safe_load(text), "test.yaml")


@pytest.fixture
def store(tmp_path):
    s = ops.open_store(f"sqlite:///{tmp_path}/ops.sqlite")
    yield s
    s.close()


def results_frame(n: int = 40, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    tiers = np.array(["diamond", "core", "potential", "basic"])
    risk = rng.uniform(0, 1, n)
    risk[::7] = np.nan  # a missing score matches no clause
    return pd.DataFrame({
        "customer_id": [f"C{i:03d}" for i in range(n)],
        "tier": tiers[rng.integers(0, 4, n)],
        "churn_risk": risk,
        "clv": rng.gamma(2.0, 100.0, n),
        "rfm_segment": rng.choice(["champions", "at_risk", "lost"], n),
    })


# -- KPI rules -------------------------------------------------------------------------------
ROI_RULE = """
rules:
  - name: roi_drop
    when: {kpi: channel_roi.roi, by: channel, change: "< -20%"}
    actions: [{task: {title: "ROI of {group} fell {change:.0%}", assignee: marketing}}]
    cooldown: 7d
"""


def roi(values: dict[str, float]) -> pd.DataFrame:
    return pd.DataFrame({"channel": list(values), "roi": list(values.values()),
                         "cost": 100.0})


def test_kpi_rule_fires_on_a_21_percent_drop_and_not_on_19(wh, store):
    publish(wh, "20260101000000_a", channel_roi=roi(
        {"wechat": 1.0, "email": 1.0, "search": 0.0, "social": 2.0}))
    run = publish(wh, "20260201000000_b", channel_roi=roi(
        # wechat −21 %, email −19 %, search from 0 (no relative change), video is new
        {"wechat": 0.79, "email": 0.81, "search": -1.0, "social": 1.0, "video": 0.1}))
    fired = R.evaluate_run(wh, store, run, rules(ROI_RULE), T0)
    assert sorted(a.subject for a in fired) == ["channel_roi:social", "channel_roi:wechat"]
    wechat = next(a for a in fired if a.subject == "channel_roi:wechat")
    assert wechat.detail["previous"] == 1.0 and wechat.detail["value"] == 0.79
    assert wechat.detail["change"] == pytest.approx(-0.21)
    assert wechat.customer_id is None and wechat.run_id == run
    task, = auto.list_tasks(store, rule="roi_drop", assignee="marketing", limit=1)
    assert task["due"] - task["created"] == timedelta(hours=24)  # no customer, no tier


@settings(max_examples=200, deadline=None)
@given(prev=st.floats(-1e6, 1e6).filter(lambda x: abs(x) > 1e-6),
       cur=st.floats(-1e6, 1e6), pct=st.integers(-90, 90))
def test_relative_change_fires_exactly_below_the_threshold(prev, cur, pct):
    """(cur − prev) / |prev| < pct %  ⇔  cur < prev + |prev|·pct/100, away from the edge."""
    change = R.parse_change(f"< {pct}%", "t")
    edge = prev + abs(prev) * pct / 100
    if abs(cur - edge) < 1e-6 * max(1.0, abs(edge)):
        return
    got = bool(change.holds(change.delta(np.array([cur]), np.array([prev])))[0])
    assert got == (cur < edge)


def test_absolute_and_point_changes_and_values(wh, store):
    publish(wh, "20260101000000_a", channel_roi=roi({"a": 0.50, "b": 0.50, "c": 2.0}))
    run = publish(wh, "20260201000000_b", channel_roi=roi({"a": 0.44, "b": 0.46, "c": 0.9}))
    pts = rules("""
rules:
  - name: pts
    when: {kpi: channel_roi.roi, by: channel, change: "<= -5pt"}
    actions: [task: {title: x}]
  - name: low
    when: {kpi: channel_roi.roi, by: channel, value: "< 100%", where: ["cost > 50"]}
    actions: [task: {title: x}]
""")
    fired = R.evaluate_run(wh, store, run, pts, T0)
    got = {(a.rule, a.subject) for a in fired}
    # a fell 6 points, b 4 points, c 110 points; a, b and c are all below 1.0
    assert got == {("pts", "channel_roi:a"), ("pts", "channel_roi:c"),
                   ("low", "channel_roi:a"), ("low", "channel_roi:b"),
                   ("low", "channel_roi:c")}


def test_risk_levels_are_ordered_and_summary_values_are_kpis(wh, store):
    register = pd.DataFrame({"indicator": ["top10_share", "nps", "overdue_share"],
                             "level": ["low", "medium", "high"]})
    run = publish(wh, "20260201000000_b", risk_register=register, summary={
        "kpis": {"premium_retention": 0.41, "yearly_retention": 0.7},
        "clv_to_cac": {"search": 2.5, "email": 4.0}})
    rs = rules("""
rules:
  - name: risky
    when: {kpi: risk_register.level, by: indicator, value: ">= medium"}
    actions: [task: {title: "{group} is {value}"}]
  - name: retention
    when: {kpi: summary.kpis.premium_retention, value: "< 42%"}
    actions: [task: {title: "premium retention {value:.0%}"}]
  - name: cac
    when: {kpi: summary.clv_to_cac, value: "< 3"}
    actions: [task: {title: x}]
""")
    fired = R.evaluate_run(wh, store, run, rs, T0)
    assert {(a.rule, a.subject) for a in fired} == {
        ("risky", "risk_register:nps"), ("risky", "risk_register:overdue_share"),
        ("retention", "kpis.premium_retention"), ("cac", "clv_to_cac:search")}
    titles = {t["title"] for t in auto.list_tasks(store)}
    assert {"nps is medium", "overdue_share is high", "premium retention 41%"} <= titles


# -- customer rules --------------------------------------------------------------------------
CHURN_RULE = """
rules:
  - name: churn
    on: run
    when:
      customer: ["tier in [diamond, core]", "churn_risk > 0.6"]
    actions: [{task: {title: "Call {customer_id}: {churn_risk:.0%}"}}]
    cooldown: 24h
    severity: high
"""


def test_customer_rule_fires_exactly_for_the_pandas_filter(wh, store):
    res = results_frame(200)
    run = publish(wh, "20260201000000_b", results=res)
    # no control group here: the filter itself is under test (test_holdout tests the groups)
    fired = R.evaluate_run(wh, store, run, rules(CHURN_RULE), T0, holdout_settings=NO_HOLDOUT)
    expected = res[res["tier"].isin(["diamond", "core"]) & (res["churn_risk"] > 0.6)]
    assert len(expected) > 5
    assert sorted(a.subject for a in fired) == sorted(expected["customer_id"])
    assert all(a.customer_id == a.subject and a.severity == "high" for a in fired)
    # one task each, titled from the customer's values, due within their tier's response time
    tasks = {t["customer_id"]: t for t in auto.list_tasks(store)}
    for r in expected.itertuples():
        t = tasks[r.customer_id]
        assert t["title"] == f"Call {r.customer_id}: {r.churn_risk:.0%}"
        assert t["tier"] == r.tier and not t["automated"] and t["status"] == "open"
        assert t["due"] - t["created"] == timedelta(hours=RESPONSE_HOURS[r.tier])


def test_a_chinese_title_names_the_tier_in_chinese(wh, store):
    rule = CHURN_RULE.replace('title: "Call {customer_id}: {churn_risk:.0%}"',
                              'title: "Call {customer_id}: {churn_risk:.0%}", '
                              'title_zh: "致电 {customer_id}（{tier}）"')
    res = results_frame(200)
    run = publish(wh, "20260201000000_c", results=res)
    R.evaluate_run(wh, store, run, rules(rule), T0)
    tiers = dict(zip(res["customer_id"], res["tier"]))
    names = {"diamond": "钻石客户", "core": "核心客户"}
    tasks = auto.list_tasks(store)
    assert tasks
    for t in tasks:
        assert t["detail"]["title_zh"] == f"致电 {t['customer_id']}（{names[tiers[t['customer_id']]]}）"
        assert t["title"].startswith("Call ")
    with pytest.raises(R.BadRules, match="title_zh"):
        rules(CHURN_RULE.replace('title: "Call {customer_id}: {churn_risk:.0%}"',
                                 'title: "Call", title_zh: ""'))


@settings(max_examples=60, deadline=None)
@given(values=st.lists(st.one_of(st.none(), st.floats(-5, 5, allow_nan=False)), min_size=1,
                       max_size=30),
       op=st.sampled_from(["<", "<=", ">", ">=", "==", "!="]),
       threshold=st.sampled_from([-1.0, 0.0, 0.5, 2.0]))
def test_numeric_clause_is_the_pandas_comparison(values, op, threshold):
    s = pd.Series(values, dtype=float)
    clause = R.parse_clause(f"x {op} {threshold}", "t")
    fn = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
          "==": operator.eq, "!=": operator.ne}[op]
    expected = [v is not None and fn(v, threshold) for v in values]
    assert clause.mask(s).tolist() == expected


def test_ordered_words_lists_and_missing_values():
    tiers = pd.Series(["diamond", "core", "potential", "basic", None])
    assert R.parse_clause("tier >= core", "t").mask(tiers).tolist() == \
        [True, True, False, False, False]
    assert R.parse_clause("tier not in [basic]", "t").mask(tiers).tolist() == \
        [True, True, True, False, False]
    assert R.parse_clause("tier != core", "t").mask(tiers).tolist() == \
        [True, False, True, True, False]
    bands = pd.Series(["low", "medium", "high", "critical"])
    assert R.parse_clause("churn_band > medium", "t").mask(bands).tolist() == \
        [False, False, True, True]
    hours = pd.Series([9.0, 10.0, np.nan, 20.0])
    assert R.parse_clause("send_hour in [9, 20]", "t").mask(hours).tolist() == \
        [True, False, False, True]
    assert R.parse_clause("share < 50%", "t").value == 0.5
    # YAML 1.1 would read `no` as false; a clause keeps it a word
    assert R.parse_clause("answer == no", "t").value == "no"


def test_the_same_run_fires_once(wh, store):
    run = publish(wh, "20260201000000_b", results=results_frame(80))
    first = R.evaluate_run(wh, store, run, rules(CHURN_RULE), T0)
    again = R.evaluate_run(wh, store, run, rules(CHURN_RULE), T0 + timedelta(days=30))
    assert first and again == []
    assert len(auto.list_alerts(store, limit=None)) == len(first)
    assert len(auto.list_tasks(store)) == len(first)


def test_cooldown_holds_until_it_has_passed(wh, store):
    res = results_frame(80)
    rs = rules(CHURN_RULE)
    r1 = publish(wh, "20260201000000_a", results=res)
    r2 = publish(wh, "20260202000000_b", results=res)
    r3 = publish(wh, "20260203000000_c", results=res)
    first = R.evaluate_run(wh, store, r1, rs, T0)
    assert first
    # a new run a second short of the 24 h cooldown: nothing; then at 24 h: all of them again
    assert R.evaluate_run(wh, store, r2, rs, T0 + timedelta(hours=24, seconds=-1)) == []
    later = R.evaluate_run(wh, store, r3, rs, T0 + timedelta(hours=24))
    assert sorted(a.subject for a in later) == sorted(a.subject for a in first)
    # the run held back by the cooldown did not burn its chance: checked after the cooldown
    # of the third run's alerts, it fires
    assert R.evaluate_run(wh, store, r2, rs, T0 + timedelta(hours=48)) != []


def test_a_field_the_results_lack_is_named(wh, store):
    run = publish(wh, "20260201000000_b", results=results_frame(10))
    rs = rules("""
rules:
  - name: typo
    when: {customer: ["churn_riks > 0.5"]}
    actions: [task: {title: x}]
""")
    with pytest.raises(R.BadRules, match=r"rule 'typo'.*churn_riks.*they have: customer_id"):
        R.evaluate_run(wh, store, run, rs, T0)


# -- event rules -----------------------------------------------------------------------------
EVENT_RULES = """
rules:
  - name: diamond_on_pricing
    on: event
    when:
      customer: [tier == diamond, "event.event == pricing_viewed", "event.properties.plan == pro"]
    actions: [task: {title: "{customer_id} looked at {event}"}]
    cooldown: 1h
  - name: at_risk_visit
    on: event
    when:
      customer: ["churn_risk >= 0.5"]
    actions: [task: {title: "{customer_id} is back"}]
    cooldown: 1d
"""


def snapshot(store, frame: pd.DataFrame) -> None:
    docs = [{"customer_id": r["customer_id"], "tier": r["tier"], "churn_risk": r["churn_risk"]}
            for r in frame.to_dict("records")]
    ops.publish_profiles(store, pd.DataFrame({"customer_id": frame["customer_id"],
                                              "doc": docs}), "run1")


def test_event_rules_read_the_profile_and_the_event(store):
    snapshot(store, pd.DataFrame({"customer_id": ["A", "B", "C"],
                                  "tier": ["diamond", "core", "diamond"],
                                  "churn_risk": [0.2, 0.7, 0.9]}))
    ops.insert_events(store, [{"message_id": "i1", "type": "identify", "user_id": "C",
                               "anonymous_id": "dev-9"}])
    rows = [
        {"message_id": "m1", "type": "track", "event": "pricing_viewed", "user_id": "A",
         "properties": {"plan": "pro"}},
        {"message_id": "m2", "type": "track", "event": "pricing_viewed", "user_id": "B",
         "properties": {"plan": "pro"}},
        # anonymous, stitched to C by the identify above
        {"message_id": "m3", "type": "track", "event": "pricing_viewed",
         "anonymous_id": "dev-9", "properties": {"plan": "basic"}},
        {"message_id": "m4", "type": "page", "event": "home", "user_id": "nobody"},
    ]
    rs = rules(EVENT_RULES)
    fired = R.evaluate_events(store, rows, rs, T0)
    assert {(a.rule, a.subject) for a in fired} == {
        ("diamond_on_pricing", "A"), ("at_risk_visit", "B"), ("at_risk_visit", "C")}
    a = next(x for x in fired if x.rule == "diamond_on_pricing")
    assert a.source == "event" and a.detail["message_id"] == "m1"
    assert {t["title"] for t in auto.list_tasks(store)} >= {"A looked at pricing_viewed"}
    # the same events again: nothing new; a new event of A within the hour: cooling down
    assert R.evaluate_events(store, rows, rs, T0 + timedelta(minutes=5)) == []
    more = [{**rows[0], "message_id": "m5"}]
    assert R.evaluate_events(store, more, rs, T0 + timedelta(minutes=59)) == []
    assert [x.subject for x in R.evaluate_events(
        store, [{**rows[0], "message_id": "m6"}], rs, T0 + timedelta(hours=1))] == ["A"]


def test_event_rules_run_on_runs_unless_they_test_the_event(wh, store):
    res = results_frame(60)
    run = publish(wh, "20260201000000_b", results=res)
    fired = R.evaluate_run(wh, store, run, rules(EVENT_RULES), T0, holdout_settings=NO_HOLDOUT)
    assert {a.rule for a in fired} == {"at_risk_visit"}
    assert sorted(a.subject for a in fired) == sorted(
        res.loc[res["churn_risk"] >= 0.5, "customer_id"])


def test_worker_evaluates_in_the_background_and_never_raises(store):
    snapshot(store, pd.DataFrame({"customer_id": ["A"], "tier": ["core"],
                                  "churn_risk": [0.8]}))
    w = R.EventRuleWorker(store, rules(EVENT_RULES), deliver=False, max_pending=2)
    try:
        assert w.active
        assert w.submit([{"message_id": "w1", "type": "track", "event": "x", "user_id": "A"}])
        w.join()
        assert w.fired == 1 and w.errors == 0
        # a batch that cannot be evaluated is counted, not raised
        assert w.submit([{"user_id": "A", "type": "track"}])  # no message id
        w.join()
        assert w.errors == 1
    finally:
        w.close()
    assert not w.active and w.submit([{"message_id": "w2"}]) is False
    # without event rules no thread is started at all
    idle = R.EventRuleWorker(store, rules(CHURN_RULE))
    assert not idle.active and idle.submit([{"message_id": "x"}]) is False


# -- rules files -----------------------------------------------------------------------------
def test_the_shipped_rules_hold_the_two_design_examples():
    rs = R.load_rules()
    churn = rs.by_name("premium_churn_risk").condition
    assert {(c.field, c.op, c.value) for c in churn.clauses} == {
        ("tier", "in", ("diamond", "core")), ("churn_risk", ">", 0.6),
        ("recency_days", "<=", 90)}
    # those who lapsed longer ago are not dropped: they get a win-back task, due in a week
    back = rs.by_name("premium_win_back")
    assert {(c.field, c.op, c.value) for c in back.condition.clauses} == {
        ("tier", "in", ("diamond", "core")), ("churn_risk", ">", 0.6),
        ("recency_days", ">", 90)}
    assert back.actions[0].due == timedelta(days=7)
    roi_rule = rs.by_name("channel_roi_drop").condition
    assert (roi_rule.table, roi_rule.column, roi_rule.by) == ("channel_roi", "roi", "channel")
    assert roi_rule.change.relative and roi_rule.change.amount == pytest.approx(-0.2)


def test_rules_file_from_option_then_environment(tmp_path, monkeypatch):
    f = tmp_path / "mine.yaml"
    f.write_text("rules:\n  - name: mine\n    when: {customer: ['clv > 1']}\n"
                 "    actions: [task: {title: hi}]\n")
    monkeypatch.setenv(R.ENV_VAR, str(f))
    assert [r.name for r in R.load_rules()] == ["mine"]
    monkeypatch.delenv(R.ENV_VAR)
    assert "premium_churn_risk" in [r.name for r in R.load_rules()]
    assert [r.name for r in R.load_rules(f)] == ["mine"]
    with pytest.raises(R.BadRules, match="nope.yaml: no such rules file"):
        R.load_rules(tmp_path / "nope.yaml")


@pytest.mark.parametrize("rule, message", [
    ({"when": {"customer": ["clv > 1"]}, "actions": [{"task": {"title": "x"}}]},
     r"test.yaml: rule 1: name is required"),
    ({"name": "r", "when": {"customer": ["clv is big"]}, "actions": [{"task": {"title": "x"}}]},
     r"test.yaml: rule 'r': when.customer, condition 1: cannot read 'clv is big'"),
    ({"name": "r", "when": {"customer": ["rfm_segment > champions"]},
      "actions": [{"task": {"title": "x"}}]}, r"rule 'r'.*'champions' cannot be compared"),
    ({"name": "r", "when": {"customer": ["clv > 1"]}, "actions": [{"task": {"title": "x"}}],
      "cooldown": "a week"}, r"rule 'r': cooldown: cannot read the duration 'a week'"),
    ({"name": "r", "on": "event", "when": {"customer": ["clv_change > 1"]},
      "actions": [{"task": {"title": "x"}}]}, r"'clv_change' is not in the profiles snapshot"),
    ({"name": "r", "when": {"customer": ["event.event == x"]},
      "actions": [{"task": {"title": "x"}}]}, r"only rules with 'on: event'"),
    ({"name": "r", "when": {"kpi": "channel_roi.roi", "change": "< -20%"},
      "actions": [{"task": {"title": "x"}}]}, r"rule 'r': when: by is required"),
    ({"name": "r", "when": {"kpi": "channel_roi.roi", "by": "channel"},
      "actions": [{"task": {"title": "x"}}]}, r"say when channel_roi.roi fires"),
    ({"name": "r", "when": {"customer": ["clv > 1"]},
      "actions": [{"task": {"title": "Call {name}"}}]},
     r"action 1 \(task\): title uses \{name\}.*available: clv, customer_id"),
    ({"name": "r", "when": {"customer": ["clv > 1"]},
      "actions": [{"webhook": {"url": "https://x.example/h", "secret": "s3cret"}}]},
     r"action 1 \(webhook\): unknown key\(s\) secret"),
    ({"name": "r", "when": {"customer": ["clv > 1"]},
      "actions": [{"webhook": {"url": "https://x.example/h"}}]},
     r"secret_env must name the environment variable"),
    ({"name": "r", "when": {"customer": ["clv > 1"]}, "actions": [{"sms": {}}]},
     r"unknown action 'sms'"),
    ({"name": "r", "when": {"customer": ["clv > 1"]}, "actions": [{"task": {"title": "x"}}],
      "severity": "urgent"}, r"severity must be one of"),
])
def test_validation_names_file_rule_and_field(rule, message):
    with pytest.raises(R.BadRules, match=message):
        R.parse_rules({"rules": [rule]}, "test.yaml")


def test_on_as_a_yaml_key_and_duplicate_names():
    # YAML 1.1 reads the key `on` as true: it still means the trigger
    rs = rules("rules:\n  - name: a\n    on: event\n    when: {customer: ['tier == core']}\n"
               "    actions: [task: {title: x}]\n")
    assert rs.by_name("a").on == "event"
    one = "  - {name: a, when: {customer: ['clv > 1']}, actions: [task: {title: x}]}\n"
    twice = "rules:\n" + one * 2
    with pytest.raises(R.BadRules, match="rule 'a' appears twice"):
        rules(twice)


def test_kpi_rules_in_json_detail_are_plain_values(wh, store):
    publish(wh, "20260101000000_a", channel_roi=roi({"wechat": 2.0}))
    run = publish(wh, "20260201000000_b", channel_roi=roi({"wechat": 1.0}))
    fired = R.evaluate_run(wh, store, run, rules(ROI_RULE), T0)
    stored = auto.list_alerts(store)[0]
    assert stored["detail"] == json.loads(json.dumps(fired[0].detail))
    assert stored["detail"]["previous_run_id"] == "20260101000000_a"
