"""Commands of the automation rules (the marketing-plan framework's dynamic tuning triggers): alerts list|check|
deliver, tasks list|done, rules validate."""

import json
import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from upmarket.cli import AsJson, Lang, Warehouse, app, console, err, friendly
from upmarket.cli.service import Database
from upmarket.errors import UpmarketError
from upmarket.i18n import LABELS, current_lang, label, subject_label, value_label
from upmarket.locations import STORE_URL
from upmarket.locations import WAREHOUSE_URL as DEFAULT_URL

alerts_app = typer.Typer(
    help="Alerts the automation rules fired: list them, check the current run, deliver "
    "webhooks.", no_args_is_help=True)
tasks_app = typer.Typer(help="Tasks the alerts set off: list them, mark one done, assign "
                        "them, see each manager's workload.",
                        no_args_is_help=True)
rules_app = typer.Typer(help="Automation rules: check a rules file.", no_args_is_help=True)
app.add_typer(alerts_app, name="alerts")
app.add_typer(tasks_app, name="tasks")
app.add_typer(rules_app, name="rules")

Rules = Annotated[Path | None, typer.Option(
    "--rules", envvar="UPMARKET_RULES", show_default=False,
    help="A YAML rules file (default: the shipped rules, upmarket/rules/default.yaml).")]


class BadOption(UpmarketError):
    pass


def _t(key: str, default: str, lang: str | None) -> str:
    """A label from the i18n table, or its English text until the table has it."""
    return label(key, lang) if key in LABELS else default


def _since(text: str | None, now: datetime) -> datetime | None:
    """`7d` / `24h` back from now, or a date `2026-01-31` (UTC)."""
    if not text:
        return None
    from upmarket.activation.rules import BadRules, parse_duration

    if re.match(r"^\s*\d", text) and not re.match(r"^\s*\d{4}-", text):
        try:
            return now - parse_duration(text, "--since")
        except BadRules:
            pass
    try:
        return datetime.fromisoformat(text.strip())
    except ValueError:
        raise BadOption("err.since", value=text) from None


def _iso(v) -> str | None:
    return v.isoformat(timespec="seconds") if isinstance(v, datetime) else v


def _member_level(code: str, lang: str | None) -> str:
    """A membership level's name in the built-in programme; a level of one's own keeps its
    code."""
    from upmarket.membership.programme import Programme

    found = {lv.code: lv for lv in Programme().levels}.get(code)
    return found.display(lang) if found else code


def _short(detail: dict, width: int = 60, lang: str | None = None) -> str:
    parts = []
    zh = current_lang(lang) == "zh-CN"
    for k, v in detail.items():
        if v is None or k in ("message_id", "previous_run_id", "kpi", "group"):
            continue
        if zh:  # a Chinese reader gets the fields' names and the values' words
            name = label(f"field.{k}", lang) if f"field.{k}" in LABELS else k
            if k == "tier":
                v = value_label("tier", str(v), lang)
            elif k == "value" and f"automation.severity.{v}" in LABELS:
                name, v = label("automation.col.severity", lang), label(
                    f"automation.severity.{v}", lang)
            elif k == "member_level":
                v = _member_level(str(v), lang)
            elif k == "member_level_change" and f"members.change.{v}" in LABELS:
                v = label(f"members.change.{v}", lang)
            elif isinstance(v, bool):  # a consent or a flag: yes or no, in words
                v = label("consent.yes" if v else "consent.no", lang)
            elif k.endswith("_days") and isinstance(v, (int, float)):
                v = f"{v:.0f}"
            elif k in ("churn_risk", "p_alive") and isinstance(v, float):
                v = f"{v:.0%}"
            parts.append(f"{name} {v}")
            continue
        parts.append(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}")
    text = ", ".join(parts)
    return text if len(text) <= width else text[:width - 1] + "…"


def _alert_json(a) -> dict:
    d = a if isinstance(a, dict) else a.__dict__
    return {k: _iso(v) for k, v in d.items()}


def _alerts_table(rows: list[dict], lang: str | None, title: str | None = None) -> Table:
    t = Table(title=title, title_justify="left")
    for key, text in (("automation.col.id", "id"), ("automation.col.fired", "fired (UTC)"),
                      ("automation.col.rule", "rule"), ("automation.col.severity", "severity"),
                      ("automation.col.subject", "subject"),
                      ("automation.col.detail", "detail")):
        t.add_column(_t(key, text, lang), justify="right" if text == "id" else "left")
    for r in rows:
        t.add_row(str(r["id"]), f"{r['fired']:%Y-%m-%d %H:%M}",
                  _t(f"automation.rule.{r['rule']}", r["rule"], lang),
                  _t(f"automation.severity.{r['severity']}", r["severity"], lang),
                  escape(subject_label(r["subject"], lang)),
                  escape(_short(r["detail"], lang=lang)))
    return t


@alerts_app.command("list")
@friendly
def alerts_list(
    rule: Annotated[str | None, typer.Option("--rule", help="Only this rule's alerts.")] = None,
    since: Annotated[str | None, typer.Option(
        "--since", help="Only alerts fired since: 7d, 24h back from now, or a date 2026-01-31."
    )] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="At most this many.")] = 50,
    database: Database = STORE_URL,
    as_json: AsJson = False,
    lang: Lang = "en",
):
    """The alerts fired, newest first.

    Examples:

        upmarket alerts list --since 7d
        upmarket alerts list --rule premium_churn_risk --json
    """
    from upmarket.opstore.automation import list_alerts
    from upmarket.opstore.store import now_utc, open_store

    store = open_store(database, existing=True)
    try:
        rows = list_alerts(store, rule=rule, since=_since(since, now_utc()), limit=limit)
    finally:
        store.close()
    if as_json:
        print(json.dumps({"alerts": [_alert_json(r) for r in rows]}, ensure_ascii=False,
                         default=str))
        return
    if not rows:
        console.print(_t("automation.no_alerts", "no alerts", lang))
        return
    console.print(_alerts_table(rows, lang))


@alerts_app.command("check")
@friendly
def alerts_check(
    rules: Rules = None,
    run_id: Annotated[str | None, typer.Option(
        "--run", help="A published run's id (default: the current run).")] = None,
    warehouse: Warehouse = DEFAULT_URL,
    database: Database = STORE_URL,
    as_json: AsJson = False,
    lang: Lang = "en",
):
    """Evaluate the rules on the current run now: fire what holds, with its tasks, webhook
    messages and exports, and copy the tasks into the warehouse for the scorecard.

    A rule fires once per subject and run (checking again fires nothing new) and then stays
    quiet for its cooldown. `upmarket run` does this by itself when an operational store is
    configured; webhooks go out with `upmarket alerts deliver`.

    Examples:

        upmarket alerts check
        upmarket alerts check --rules my-rules.yaml --json
    """
    from upmarket.activation.rules import evaluate_run, load_rules
    from upmarket.opstore.automation import copy_tasks_to_warehouse
    from upmarket.opstore.store import now_utc, open_store
    from upmarket.warehouse import connect

    rule_set = load_rules(rules)
    wh = connect(warehouse, create=False)
    store = open_store(database)
    try:
        fired = evaluate_run(wh, store, run_id, rule_set, now_utc())
        copied = copy_tasks_to_warehouse(store, wh)
    finally:
        store.close()
        wh.close()
    rows = [a.__dict__ for a in fired]
    if as_json:
        print(json.dumps({"rules": rule_set.origin, "fired": [_alert_json(r) for r in rows],
                          "tasks_in_warehouse": copied}, ensure_ascii=False, default=str))
        return
    err.print(f"{len(rule_set)} rules from {rule_set.origin}", highlight=False)
    if not rows:
        console.print(_t("automation.none_fired", "no rule fired (or all are cooling down)",
                         lang))
        return
    console.print(_alerts_table(rows, lang, title=_t("automation.fired", "fired", lang)))


@alerts_app.command("deliver")
@friendly
def alerts_deliver(
    limit: Annotated[int, typer.Option("--limit", min=1,
                                       help="Send at most this many webhooks.")] = 100,
    warehouse: Warehouse = DEFAULT_URL,
    database: Database = STORE_URL,
    as_json: AsJson = False,
):
    """Send the webhook messages that are due, and write the exports that alerts fired on
    events left open (the privacy gate needs the warehouse).

    Each webhook is a signed JSON POST (X-Upmarket-Signature: sha256=HMAC of
    "timestamp.body" under the secret in the rule's `secret_env` variable). A failure is
    retried later with exponential backoff — run this from cron, e.g. every minute:

        * * * * *  upmarket alerts deliver
    """
    from upmarket.activation.actions import deliver_due, perform_exports
    from upmarket.opstore.automation import open_exports
    from upmarket.opstore.store import now_utc, open_store

    store = open_store(database)
    exports = []
    try:
        now = now_utc()
        report = deliver_due(store, now, limit=limit)
        if open_exports(store):
            from upmarket.warehouse import connect

            wh = connect(warehouse, create=False)
            try:
                exports = perform_exports(store, wh, now)
            finally:
                wh.close()
    finally:
        store.close()
    if as_json:
        print(json.dumps({"delivered": report.delivered, "retrying": report.retrying,
                          "failed": report.failed,
                          "attempts": [{k: _iso(v) for k, v in a.items()}
                                       for a in report.attempts],
                          "exports": [{"rule": e.rule, "path": str(e.path), "rows": e.rows,
                                       "dropped_no_consent": e.dropped_no_consent}
                                      for e in exports]}, default=str))
        return
    console.print(f"webhooks: {report.delivered} delivered, {report.retrying} to retry, "
                  f"{report.failed} failed")
    for a in report.attempts:
        if a["outcome"] != "delivered":
            err.print(f"  {a['id']} → {escape(a['url'])}: {escape(str(a['error']))}"
                      + (f" (next try {a['next_attempt']:%H:%M:%S})" if a["next_attempt"]
                         else ""), highlight=False)
    for e in exports:
        console.print(f"export {e.rule}: {e.rows} rows → {e.path} "
                      f"({e.dropped_no_consent} without consent left out)")


@tasks_app.command("list")
@friendly
def tasks_list(
    open_only: Annotated[bool, typer.Option("--open", help="Only tasks not done yet.")] = False,
    assignee: Annotated[str | None, typer.Option("--assignee",
                                                 help="Only this person's or team's.")] = None,
    kind: Annotated[str | None, typer.Option(
        "--kind", help="task (a person's), webhook or export; default all.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="At most this many.")] = 200,
    database: Database = STORE_URL,
    as_json: AsJson = False,
    lang: Lang = "en",
):
    """The tasks the alerts set off, soonest due first: each due within its customer's tier
    response time (Diamond 1 h, Core 4 h, Potential 24 h, Basic 48 h).

    Examples:

        upmarket tasks list --open --assignee marketing
        upmarket tasks list --kind webhook --json
    """
    from upmarket.opstore.automation import TASK_KINDS, list_tasks
    from upmarket.opstore.store import now_utc, open_store

    if kind is not None and kind not in TASK_KINDS:
        raise BadOption("err.option_choice", option="--kind",
                        choices=", ".join(TASK_KINDS), value=kind)
    store = open_store(database, existing=True)
    try:
        rows = list_tasks(store, open_only=open_only, assignee=assignee, kind=kind, limit=limit)
    finally:
        store.close()
    if as_json:
        print(json.dumps({"tasks": [{k: _iso(v) for k, v in r.items()} for r in rows]},
                         ensure_ascii=False, default=str))
        return
    if not rows:
        console.print(_t("automation.no_tasks", "no tasks", lang))
        return
    now = now_utc()
    t = Table()
    # the title says what to do: it gets the spare width; id and due time never wrap
    for key, text in (("automation.col.id", "id"), ("automation.col.due", "due (UTC)"),
                      ("automation.col.status", "status"), ("col.kind", "kind"),
                      ("automation.col.assignee", "assignee"), ("automation.col.tier", "tier"),
                      ("field.customer_id", "customer"), ("automation.col.title", "title")):
        wide = text == "title"
        t.add_column(_t(key, text, lang), justify="right" if text == "id" else "left",
                     no_wrap=text in ("id", "due (UTC)"),
                     ratio=1 if wide else None)
    for r in rows:
        due = f"{r['due']:%m-%d %H:%M}"
        if r["status"] == "open" and r["due"] < now:
            due = f"[red]{due} {_t('automation.overdue', 'overdue', lang)}[/]"
        status = _t(f"automation.status.{r['status']}", r["status"], lang)
        if r["status"] == "done" and r["completed"] is not None:
            status = f"{status} {r['completed']:%m-%d %H:%M}"
        if r.get("outcome"):
            status += f" ({_t('outcome.' + r['outcome'], r['outcome'], lang)})"
        detail = r.get("detail") or {}
        title = detail.get("title_zh") if current_lang(lang) == "zh-CN" else None
        assignee = r["assignee"]
        t.add_row(str(r["id"]), due, status, _t(f"automation.kind.{r['kind']}", r["kind"], lang),
                  escape(_t(f"automation.assignee.{assignee}", assignee, lang) if assignee
                         else "—"),
                  value_label("tier", r["tier"], lang) if r["tier"] else "—",
                  escape(r["customer_id"] or "—"), escape(title or r["title"]))
    console.print(t)


@tasks_app.command("done")
@friendly
def tasks_done(
    task_id: Annotated[int, typer.Argument(help="The task's id (see upmarket tasks list).")],
    outcome: Annotated[str | None, typer.Option(
        "--outcome", help="What came of it: reached, not_reached or converted (the customer "
        "bought; counts in the rep's premium conversion).")] = None,
    database: Database = STORE_URL,
    as_json: AsJson = False,
):
    """Mark a person's task done (now). Its response time (created → done) counts in the
    scorecard's response time; webhooks and exports complete themselves.

    Examples:

        upmarket tasks done 42

        upmarket tasks done 42 --outcome converted
    """
    from upmarket.activation import privacy
    from upmarket.opstore.automation import complete_task
    from upmarket.opstore.store import now_utc, open_store

    store = open_store(database, existing=True)
    try:
        task = complete_task(store, task_id, now_utc(), outcome)
        privacy.audit(None, "task_done", task["customer_id"] or task["rule"], store=store,
                      task_id=task_id, outcome=outcome)
    finally:
        store.close()
    took = task["completed"] - task["created"]
    if as_json:
        print(json.dumps({k: _iso(v) for k, v in task.items()}, ensure_ascii=False,
                         default=str))
        return
    late = task["completed"] > task["due"]
    console.print(f"task {task_id} done at {task['completed']:%Y-%m-%d %H:%M:%S} UTC, "
                  f"{took.total_seconds() / 3600:.1f} h after it was created"
                  + (" (after its due time)" if late else " (on time)"))


@tasks_app.command("assign")
@friendly
def tasks_assign(
    task_id: Annotated[int | None, typer.Argument(
        help="The task's id (see upmarket tasks list); leave out with --unassigned.")] = None,
    to: Annotated[str | None, typer.Option(
        "--to", help="Who gets it: a manager's e-mail (or any team name).")] = None,
    unassigned: Annotated[bool, typer.Option(
        "--unassigned", help="Give every open task nobody has to a manager, by the "
        "assignment rules (tier, region, fewest open tasks).")] = False,
    warehouse: Warehouse = DEFAULT_URL,
    database: Database = STORE_URL,
    as_json: AsJson = False,
):
    """Give an open task to someone else, or assign every unassigned open task by the rules
    of `upmarket ingest account_managers`. Audited.

    Examples:

        upmarket tasks assign 42 --to li.wei@example.com

        upmarket tasks assign --unassigned
    """
    from upmarket.activation import privacy
    from upmarket.opstore.automation import assign_task
    from upmarket.opstore.store import open_store

    if unassigned == (task_id is not None) or (task_id is not None) != (to is not None):
        raise BadOption("err.assign_what")
    store = open_store(database, existing=True)
    try:
        if unassigned:
            from upmarket.activation.assignment import assign_open
            from upmarket.errors import WarehouseError
            from upmarket.warehouse import connect

            try:  # the customers' regions, when there is a warehouse to read them from
                wh = connect(warehouse, create=False)
            except WarehouseError:
                wh = None
            try:
                n = assign_open(store, wh)
            finally:
                if wh is not None:
                    wh.close()
            privacy.audit(None, "tasks_assigned", "unassigned", store=store, tasks=n)
            out = {"assigned": n}
            text = f"{n} open task(s) assigned"
        else:
            task, before = assign_task(store, task_id, to)
            privacy.audit(None, "task_reassigned", task["customer_id"] or task["rule"],
                          store=store, task_id=task_id, before=before, after=task["assignee"])
            out = {"id": task_id, "assignee": task["assignee"], "before": before}
            text = f"task {task_id}: {before or '—'} → {task['assignee']}"
    finally:
        store.close()
    if as_json:
        print(json.dumps(out, ensure_ascii=False))
    else:
        console.print(escape(text), highlight=False)


@tasks_app.command("workload")
@friendly
def tasks_workload(
    database: Database = STORE_URL,
    as_json: AsJson = False,
    lang: Lang = "en",
):
    """Each account manager's tasks: open, overdue, done, and done within their due time
    (the customer tier's response time), with the customers who bought.

    Example:

        upmarket tasks workload --json
    """
    from upmarket.opstore.account_managers import workload
    from upmarket.opstore.store import now_utc, open_store

    store = open_store(database, existing=True)
    try:
        rows = workload(store, now_utc())
    finally:
        store.close()
    if as_json:
        print(json.dumps({"workload": rows}, ensure_ascii=False))
        return
    if not rows:
        console.print(_t("workload.none", "no account managers and no assigned tasks", lang))
        return
    t = Table()
    for key in ("workload.col.assignee", "workload.col.open", "workload.col.overdue",
                "workload.col.done", "workload.col.in_sla", "workload.col.converted"):
        t.add_column(label(key, lang), justify="left" if key.endswith("assignee") else "right")
    for r in rows:
        who = r["assignee"] if r["name"] is None else f"{r['name']} <{r['assignee']}>"
        share = "—" if r["sla_share"] is None else f"{r['sla_share']:.0%}"
        t.add_row(escape(who), str(r["open"]),
                  f"[red]{r['overdue']}[/]" if r["overdue"] else "0", str(r["done"]),
                  f"{r['done_within_sla']} ({share})", str(r["converted"]))
    console.print(t)


def describe(rule) -> str:
    """A rule's condition in one line."""
    c = rule.condition
    if rule.kind == "customer":
        # a saved segment's members, then the clauses they must also meet
        segment = [f"segment {c.segment}"] if c.segment else []
        return " and ".join([*segment, *(cl.text for cl in c.clauses)])
    parts = [f"{c.kpi}" + (f" by {c.by}" if c.by else "")]
    if c.where:
        parts.append("where " + " and ".join(w.text for w in c.where))
    if c.value is not None:
        parts.append(f"value {c.value.op} {c.value.value}")
    if c.change is not None:
        parts.append(f"change {c.change.text}")
    return ", ".join(parts)


def _duration(d: timedelta) -> str:
    s = int(d.total_seconds())
    for unit, n in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60)):
        if s and s % n == 0:
            return f"{s // n}{unit}"
    return f"{s}s"


@rules_app.command("validate")
@friendly
def rules_validate(
    file: Annotated[Path | None, typer.Argument(
        help="A YAML rules file (default: --rules / UPMARKET_RULES, else the shipped rules).")
    ] = None,
    rules: Rules = None,
    as_json: AsJson = False,
):
    """Check a rules file and show what each rule watches and does; a mistake is reported
    with the file, the rule and the field to fix.

    A rule, for example:

        rules:
          - name: premium_churn_risk
            when:
              customer: ["tier in [diamond, core]", "churn_risk > 0.6"]
            actions:
              - task: {title: "Call {customer_id}"}
            cooldown: 7d
            severity: high

    Examples:

        upmarket rules validate my-rules.yaml
        upmarket rules validate            (the rules in force)
    """
    from upmarket.activation.actions import ExportAction, TaskAction, WebhookAction
    from upmarket.activation.rules import load_rules

    rule_set = load_rules(file or rules)

    def action_text(a) -> str:
        if isinstance(a, TaskAction):
            return "task" + (f" → {a.assignee}" if a.assignee else "")
        if isinstance(a, WebhookAction):
            return f"webhook {a.url} (secret ${a.secret_env})"
        if isinstance(a, ExportAction):
            return f"export {a.path}" + (" with personal data" if a.pii else "")
        return a.kind

    rows = [{"name": r.name, "on": r.on, "kind": r.kind, "when": describe(r),
             "actions": [action_text(a) for a in r.actions],
             "cooldown": _duration(r.cooldown), "severity": r.severity} for r in rule_set]
    if as_json:
        print(json.dumps({"file": rule_set.origin, "valid": True, "rules": rows},
                         ensure_ascii=False))
        return
    console.print(f"{escape(rule_set.origin)}: {len(rows)} rules, valid")
    t = Table()
    t.add_column("rule", no_wrap=True)
    for name in ("on", "when", "actions", "cooldown", "severity"):
        t.add_column(name)
    for r in rows:
        t.add_row(r["name"], r["on"], escape(r["when"]), escape("; ".join(r["actions"])),
                  r["cooldown"], r["severity"])
    console.print(t)
