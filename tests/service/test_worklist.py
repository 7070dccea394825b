"""Account managers and the worklist: a roster loaded with `upmarket ingest account_managers`
gives every new task an assignee by tier, region, workload and explicit assignment; the
workload view counts each manager's open and overdue tasks; and in a real browser (Debian's
Chromium driven by Playwright) a task marked done from the worklist is done in `upmarket tasks
list` and counts in the scorecard's response-time and automation metrics and in the rep's
sales-competency results. One small world (a published run of 24 customers, no pipeline) serves
every test of the file; screenshots of the page in English and Chinese are kept beside it."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from tests.service.dashboard_server import running_dashboard
from upmarket.activation import privacy
from upmarket.cli import app
from upmarket.opstore import store as ops
from upmarket.opstore.schema import tasks as tasks_table
from upmarket.warehouse import connect
from upmarket.warehouse.runs import Run

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
AS_OF = datetime(2026, 6, 1)
N = 24
TIERS = ["diamond", "core", "potential", "basic"]
RULES = """
rules:
  - name: call_list
    description: Premium customers to call this week
    when:
      customer: ["tier in [diamond, core, potential]"]
    actions:
      - task: {title: "Call {customer_id} ({tier})"}
"""
ROSTER = """name,email,tiers,regions,customers
Li Wei,li.wei@example.com,diamond;core,cn-east,
Zhang Min,zhang.min@example.com,核心;potential,,
Wang Fang,wang.fang@example.com,basic,,C002
"""
BAD_ROSTER = """name,email,tiers,regions,customers
Li Wei,li.wei.example.com,diamond,,
Zhang Min,zhang.min@example.com,gold,,
"""


@dataclass
class World:
    folder: Path
    env: dict
    store_url: str
    warehouse: str


def cli(world: World, *args: str):
    return CliRunner().invoke(app, list(args), env=world.env)


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> World:
    d = tmp_path_factory.mktemp("worklist")
    wh_url, store_url = f"duckdb://{d}/w.duckdb", f"sqlite:///{d}/ops.sqlite"
    wh = connect(wh_url)
    ids = [f"C{i:03d}" for i in range(N)]
    tiers = [TIERS[i % 4] for i in range(N)]
    # no control groups in this run's policy: assignment is under test, every customer a task
    run = Run(wh, AS_OF, config={"policy": {"holdout": {"share": 0.0}}})
    run.write("results", pd.DataFrame({
        "customer_id": ids, "tier": tiers, "clv": [100.0 + i for i in range(N)],
        "churn_risk": [0.5] * N, "churn_band": ["medium"] * N, "p_alive": [0.5] * N}))
    run.write("actions", pd.DataFrame({
        "customer_id": ids, "tier": tiers, "action": ["retention_offer"] * N,
        "channel": ["phone"] * N, "expected_value": [1.0] * N,
        "reason_en": [f"spend fell by half ({c})" for c in ids],
        "reason_zh": [f"消费减半（{c}）" for c in ids]}))
    run.publish({})
    # the first two core customers live in the east (Li Wei's region), the rest in the west
    wh.insert("customers", pd.DataFrame({
        "customer_id": ids, "country": ["cn-east" if i in (1, 5) else "cn-west"
                                        for i in range(N)]}))
    privacy.pseudonym_key(wh, store_url=store_url)
    ops.publish_run_profiles(wh, url=store_url)
    wh.close()
    (d / "rules.yaml").write_text(RULES, encoding="utf-8")
    env = {"UPMARKET_DATABASE": store_url, "UPMARKET_WAREHOUSE": wh_url,
           "UPMARKET_RULES": str(d / "rules.yaml"), "UPMARKET_LANG": "en"}
    return World(d, env, store_url, wh_url)


@pytest.fixture(scope="module")
def assigned(world):
    """The roster loaded, then the rules checked: the tasks the run raises."""
    bad = world.folder / "bad.csv"
    bad.write_text(BAD_ROSTER, encoding="utf-8")
    r = cli(world, "ingest", "account_managers", str(bad))
    assert r.exit_code != 0
    assert f"{bad}: row 2, field email: 'li.wei.example.com' is not an e-mail" in r.output
    assert f"{bad}: row 3, field tiers: 'gold' is not a tier" in r.output
    good = world.folder / "team.csv"
    good.write_text(ROSTER, encoding="utf-8")
    r = cli(world, "ingest", "account_managers", str(good), "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["managers"] == 3
    r = cli(world, "alerts", "check", "--json")
    assert r.exit_code == 0, r.output
    r = cli(world, "tasks", "list", "--json")
    return json.loads(r.output)["tasks"]


def test_every_new_task_has_an_assignee_by_the_rules(assigned):
    people = {"li.wei@example.com", "zhang.min@example.com", "wang.fang@example.com"}
    assert len(assigned) == 18  # diamond, core and potential of 24 customers
    assert all(t["assignee"] in people for t in assigned)
    by_customer = {t["customer_id"]: t for t in assigned}
    # explicit assignment wins over the tiers Wang Fang covers (basic only)
    assert by_customer["C002"]["assignee"] == "wang.fang@example.com"
    # only Li Wei covers diamond: the region (his is the east, these customers live in the
    # west) gives way to the tier rather than leave a task with nobody
    assert {t["assignee"] for t in assigned if t["tier"] == "diamond"} == {"li.wei@example.com"}
    # core: Li Wei only in the east (C001, C005), Zhang Min everywhere, the less loaded first
    core = [t for t in assigned if t["tier"] == "core"]
    assert {t["customer_id"] for t in core if t["assignee"] == "li.wei@example.com"} <= \
        {"C001", "C005"}
    assert sum(t["assignee"] == "zhang.min@example.com" for t in core) >= 4
    potential = [t for t in assigned if t["tier"] == "potential" and t["customer_id"] != "C002"]
    assert {t["assignee"] for t in potential} == {"zhang.min@example.com"}


def test_workload_shows_each_managers_open_and_overdue_tasks(world, assigned):
    store = ops.open_store(world.store_url)
    try:  # one of Zhang Min's tasks ran past its due time
        late = next(t["id"] for t in assigned if t["assignee"] == "zhang.min@example.com")
        with store.engine.begin() as conn:
            conn.execute(tasks_table.update().where(tasks_table.c.id == late)
                         .values(due=ops.now_utc() - timedelta(hours=2)))
    finally:
        store.close()
    r = cli(world, "tasks", "workload", "--json")
    assert r.exit_code == 0, r.output
    rows = {w["assignee"]: w for w in json.loads(r.output)["workload"]}
    r = cli(world, "tasks", "list", "--open", "--json")
    open_now = json.loads(r.output)["tasks"]
    for who in ("li.wei@example.com", "zhang.min@example.com", "wang.fang@example.com"):
        assert rows[who]["open"] == sum(t["assignee"] == who for t in open_now)
    assert rows["zhang.min@example.com"]["overdue"] == 1
    assert rows["li.wei@example.com"]["overdue"] == 0
    text = cli(world, "tasks", "workload").output
    assert "Zhang Min" in text and "Wang Fang" in text


def test_worklist_query_filters_and_pages(world, assigned):
    from upmarket.opstore.automation import find_tasks

    store = ops.open_store(world.store_url)
    try:
        now = ops.now_utc()
        first, total = find_tasks(store, now, limit=5)
        second, _ = find_tasks(store, now, offset=5, limit=5)
        assert total == len(assigned) and len(first) == len(second) == 5
        assert not {t["id"] for t in first} & {t["id"] for t in second}
        assert [t["due"] for t in first + second] == sorted(t["due"] for t in first + second)
        core, n_core = find_tasks(store, now, tier="core", limit=100)
        assert n_core == 6 and {t["tier"] for t in core} == {"core"}
        wang, _ = find_tasks(store, now, assignee="wang.fang@example.com")
        assert [t["customer_id"] for t in wang] == ["C002"]
        assert find_tasks(store, now, assignee="")[1] == 0  # nobody left without a person
    finally:
        store.close()


@pytest.fixture(scope="module")
def served(world, assigned):
    store = ops.open_store(world.store_url)
    _, read_key = ops.create_key(store, "crm-desk", ["read"])
    store.close()
    with running_dashboard(world.store_url, world.warehouse) as base:
        yield base, read_key


@pytest.mark.skipif(CHROMIUM is None, reason="the worklist's browser test needs Debian's "
                    "Chromium (`apt install chromium`); it is not installed on this machine")
def test_done_and_reassign_from_the_worklist(world, assigned, served):
    from playwright.sync_api import sync_playwright

    from upmarket.strategy import scorecard as sc

    base, key = served
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        console: list[str] = []
        page.on("console", lambda m: console.append(m.text))
        page.goto(f"{base}/dashboard/login")
        page.fill("#key", key)
        page.click("button[type=submit]")
        page.wait_for_selector("#tiers")
        page.click("#to-worklist")
        page.wait_for_selector("#worklist")
        page.select_option("#f-assignee", "li.wei@example.com")
        page.click("#f-apply")
        page.wait_for_selector("#worklist")
        rows = page.locator("#worklist tr[id^=task-]")
        n_li = rows.count()
        assert n_li == sum(t["assignee"] == "li.wei@example.com" for t in assigned)
        first = rows.first
        task_id = int(first.get_attribute("id").removeprefix("task-"))
        task = next(t for t in assigned if t["id"] == task_id)
        text = first.inner_text()
        assert "Premium customers to call this week" in text  # why: the rule's description
        assert "spend fell by half" in text  # the customer's reason
        assert task["customer_id"] not in text and "p_" in text  # a read key: pseudonymised
        page.screenshot(path=str(world.folder / "worklist-en.png"), full_page=True)
        first.locator("form.done select").select_option("converted")
        first.locator("form.done button").click()
        page.wait_for_selector(".flash")
        assert f"Task {task_id} is done." in page.inner_text(".flash")
        assert page.locator(f"#task-{task_id}").count() == 0  # no longer among the open
        # give Li Wei's next task to Zhang Min
        other = page.locator("#worklist tr[id^=task-]").first
        other_id = int(other.get_attribute("id").removeprefix("task-"))
        other.locator("form.assign select").select_option("zhang.min@example.com")
        other.locator("form.assign button").click()
        page.wait_for_selector(".flash")
        assert page.locator("#worklist tr[id^=task-]").count() == n_li - 2
        page.click("text=中文")
        page.wait_for_selector("#worklist")
        assert "任务清单" in page.title() and "客户经理工作量" in page.inner_text("#workload")
        page.screenshot(path=str(world.folder / "worklist-zh.png"), full_page=True)
        assert [m for m in console if "Content Security Policy" in m] == []
        # a form posted without the session's token is refused
        r = page.request.post(f"{base}/dashboard/worklist/{other_id}/done",
                              form={"outcome": "reached"})
        assert r.status == 403
        browser.close()

    listed = {t["id"]: t for t in json.loads(cli(world, "tasks", "list", "--json").output)["tasks"]}
    assert listed[task_id]["status"] == "done" and listed[task_id]["outcome"] == "converted"
    assert listed[other_id]["assignee"] == "zhang.min@example.com"
    assert listed[other_id]["status"] == "open"
    store = ops.open_store(world.store_url)
    audit = ops.read_audit(store)
    store.close()
    assert {"task_done", "task_reassigned"} <= set(audit["action"])

    # the sales-competency card reads Li Wei's results from the tasks by itself (and copies
    # the store's tasks into the warehouse first)
    r = cli(world, "scorecard", "--file", "sales_competency", "--period", "Li Wei", "--json")
    assert r.exit_code == 0, r.output
    metrics = {m["metric"]: m for m in json.loads(r.output)["subjects"][0]["metrics"]}
    assert metrics["premium_conversion"]["actual"] == 1.0
    assert metrics["tasks_within_sla"]["actual"] == 1.0

    # the scorecard's response time pools the task's response; the automation rate counts it
    wh = connect(world.warehouse, create=False)
    try:
        # a run's tasks count in the month its as-of opens, in which they are worked
        period = sc.period_of(AS_OF, "month")
        src = sc.WarehouseMetrics(wh)
        response = sc.response_time_hours(src, period)
        assert response.args["tasks"] == 1 and response.value is not None
        automation = sc.marketing_automation_rate(src, period)
        assert automation.args["n"] == len(assigned)
        held = wh.table("tasks").filter(lambda t: t.id == task_id).to_pandas()
        assert held["status"].iloc[0] == "done" and held["outcome"].iloc[0] == "converted"
    finally:
        wh.close()


def test_assigner_order_of_precedence(tmp_path):
    """The rule's own assignee first, then an explicit manager while on the roster, then the
    least-loaded manager covering the customer; a KPI task goes to the least loaded of all."""
    from upmarket.activation.assignment import Assigner
    from upmarket.opstore.account_managers import Manager, replace_roster
    from upmarket.opstore.automation import PlannedAction

    store = ops.open_store(f"sqlite:///{tmp_path}/ops.sqlite")
    try:
        now = datetime(2026, 6, 1)
        li = Manager("li@example.com", "Li", frozenset({"diamond"}), frozenset())
        zhang = Manager("zhang@example.com", "Zhang", frozenset(), frozenset({"cn-west"}))
        gone = Manager("gone@example.com", "Gone", frozenset(), frozenset())
        replace_roster(store, [li, zhang, gone], {"C9": "gone@example.com"}, now)
        replace_roster(store, [li, zhang], {"C9": "gone@example.com"}, now)  # Gone left
        a = Assigner(store, {"C1": ["cn-west"], "C2": ["cn-east"]})
        a.prefetch(["C1", "C2", "C9"])

        def task(cid, tier, assignee=None):
            return a.assign(PlannedAction("task", False, "t", now, cid, tier, assignee))

        assert task("C1", "core", "marketing").assignee == "marketing"
        assert task("C1", "diamond").assignee == "li@example.com"  # only Li covers diamond
        assert task("C1", "core").assignee == "zhang@example.com"  # Li does not cover core
        # in the east nobody covers core by region: the tier decides, Zhang covers every tier
        assert task("C2", "core").assignee == "zhang@example.com"
        assert task("C9", "diamond").assignee == "li@example.com"  # Gone is off the roster
        assert task(None, None).assignee == "li@example.com"  # KPI: Li 2 open, Zhang 2
        webhook = PlannedAction("webhook", True, "w", now, "C1", "core")
        assert a.assign(webhook).assignee is None
    finally:
        store.close()
