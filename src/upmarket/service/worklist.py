"""The worklist (DESIGN §1: the CRM or sales manager's working surface): every person's task,
filtered by assignee, tier, rule and due state, a page at a time, each saying what to do (its
title) and why (the description of the rule that raised it and the customer's next-best-action
reason); a task is marked done with its outcome, or given to someone else, from the page.
Beside it, each account manager's workload: open, overdue, done within the tier's SLA.

Served under the dashboard's sign-in (`dashboard.py` registers these routes). The two forms
are state changes, so each must come from the service's own origin and carry the session's
CSRF token (`csrf.py`, OWASP Cross-Site Request Forgery Prevention Cheat Sheet); each answers
with a redirect back to the list (Post/Redirect/Get, so a reload does not post again), and
each change is written to the audit log with the key that made it. Customer ids are shown in
the clear only to keys that may export, as on the dashboard.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from datetime import datetime
from urllib.parse import parse_qs, urlencode

import pandas as pd
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response

from upmarket.errors import UpmarketError, told
from upmarket.i18n import LABELS, label, value_label
from upmarket.opstore import account_managers as roster
from upmarket.opstore import automation as auto
from upmarket.opstore import store as ops
from upmarket.service.csrf import FIELD, LOGIN_PATH, Csrf, foreign_origin
from upmarket.service.origin import own_origin, settings_of
from upmarket.service.security import csp_nonce
from upmarket.service.sessions import COOKIE, Sessions
from upmarket.strategy.tiers import TIER_ORDER

PATH = "/dashboard/worklist"
#: Rows per page: enough to work through, few enough to read.
PAGE_ROWS = 20
#: The filters a worklist URL may carry (anything else is dropped, never echoed back).
FILTERS = ("assignee", "tier", "rule", "state", "page")
#: The assignee filter's value for tasks nobody has.
NOBODY = "-"



def _rule_name(rule: str, lang: str) -> str:
    """A rule as a reader names it where the label table has it, else its own name."""
    key = f"automation.rule.{rule}"
    return label(key, lang) if key in LABELS else rule

def _filters(values: dict[str, list[str]] | dict[str, str]) -> dict[str, str]:
    out = {}
    for k in FILTERS:
        v = values.get(k)
        v = (v[0] if v else "") if isinstance(v, list) else (v or "")
        v = v.strip()[:320]
        if v:
            out[k] = v
    if out.get("state") not in (None, *auto.DUE_STATES):
        out.pop("state")
    if out.get("tier") not in (None, *TIER_ORDER):
        out.pop("tier")
    if "page" in out and not (out["page"].isdigit() and 0 < int(out["page"]) < 10**6):
        out.pop("page")
    return out


def worklist_data(store: ops.Store, wh, filters: dict[str, str], *, lang: str,
                  clear_ids: bool, now: datetime) -> dict:
    """Everything the page shows: a page of tasks with what to do and why, the choices of
    each filter, and the managers' workload."""
    from upmarket.service.dashboard import _ids

    page = int(filters.get("page", "1"))
    assignee = filters.get("assignee")
    rows, total = auto.find_tasks(
        store, now, assignee="" if assignee == NOBODY else assignee, tier=filters.get("tier"),
        rule=filters.get("rule"), state=filters.get("state"), offset=(page - 1) * PAGE_ROWS,
        limit=PAGE_ROWS)
    reason_key = "reason_zh" if lang == "zh-CN" else "reason_en"
    shown = _ids(wh, pd.Series([t["customer_id"] or "" for t in rows]), clear_ids, store)
    people = roster.managers(store, active_only=False)
    names = {p.email: p.name for p in people}
    tasks = []
    for t, cid in zip(rows, shown):
        doc = ops.read_profile(store, t["customer_id"]) if t["customer_id"] else None
        nba = (doc or {}).get("next_best_action") or {}
        state = t["status"] if t["status"] != "open" else (
            "overdue" if t["due"] < now else "open")
        zh = lang == "zh-CN"
        title = (zh and t["detail"].get("title_zh")) or t["title"]
        reason = nba.get(reason_key) or ""
        if not clear_ids and t["customer_id"]:
            # titles are templates that often name the customer ("Call C000042"): a key that
            # may not see ids sees the pseudonym there too
            title = title.replace(t["customer_id"], cid)
            reason = reason.replace(t["customer_id"], cid)
        tasks.append({
            "id": t["id"], "due": t["due"], "state": state, "completed": t["completed"],
            "outcome": t.get("outcome"), "rule": t["rule"], "title": title,
            "why": (zh and t["detail"].get("why_zh")) or t["detail"].get("why") or "",
            "reason": reason, "rule_name": _rule_name(t["rule"], lang),
            "action": value_label("action", nba["action"], lang) if nba.get("action") else "",
            "tier": value_label("tier", t["tier"], lang) if t["tier"] else "—",
            "customer": cid if t["customer_id"] else "—",
            "assignee": t["assignee"], "assignee_name": names.get(t["assignee"] or "")})
    rules = auto.task_rules(store)
    pages = max(1, math.ceil(total / PAGE_ROWS))
    return {"tasks": tasks, "total": total, "page": page, "pages": pages,
            "first": (page - 1) * PAGE_ROWS + 1 if total else 0,
            "last": min(page * PAGE_ROWS, total), "filters": filters,
            "managers": [{"email": p.email, "name": p.name} for p in people if p.active],
            "rules": rules, "tiers": [(t, value_label("tier", t, lang)) for t in TIER_ORDER],
            "states": auto.DUE_STATES, "outcomes": auto.OUTCOMES,
            "workload": roster.workload(store, now), "pseudonymised": not clear_ids,
            "nobody": NOBODY}


def worklist_router(store: ops.Store, app_state, sessions: Sessions, csrf: Csrf,
                    lang_for: Callable[[Request], str], templates) -> APIRouter:
    """The worklist's routes, sharing the dashboard's sessions and CSRF secret."""
    router = APIRouter(include_in_schema=False)

    def url(filters: dict[str, str], lang: str, **change) -> str:
        q = {**filters, **change}
        q = {k: v for k, v in q.items() if v not in (None, "")}
        q["lang"] = "zh" if lang == "zh-CN" else "en"
        return f"{PATH}?{urlencode(q)}"

    @router.get(PATH)
    def worklist(request: Request) -> Response:
        from upmarket.errors import NoRun, WarehouseError
        from upmarket.service import profiles

        lang = lang_for(request)
        cookie = request.cookies.get(COOKIE)
        key = sessions.verify(cookie)
        if key is None:
            return RedirectResponse(LOGIN_PATH, 303)
        filters = _filters(dict(request.query_params))
        clear = key.allows("export")
        now = ops.now_utc()
        try:
            with profiles.reading(app_state.warehouse_url) as wh:
                data = worklist_data(store, wh, filters, lang=lang, clear_ids=clear, now=now)
        except (NoRun, WarehouseError) as exc:
            return PlainTextResponse(told(exc, lang), 503, headers={"Retry-After": "60"})
        app_state.audit.add(f"key:{key.id}:{key.name}", "export_worklist" if clear
                            else "read_worklist", "tasks", lang=lang, **filters)
        note = re.match(r"^(done|assigned):(\d{1,18})$", request.query_params.get("note", ""))
        html = templates.get_template("worklist.html.j2").render(
            lang=lang, t=lambda k, **f: label(k, lang, **f), d=data, key_name=key.name,
            rule_name=lambda r: _rule_name(r, lang),
            # a rule's assignee may be a team ("risk", "marketing") rather than a person
            team=lambda a: label(f"automation.assignee.{a}", lang)
            if a and f"automation.assignee.{a}" in LABELS else a,
            url=lambda **change: url(filters, lang, **change), back=urlencode(filters),
            switch=url(filters, "en" if lang == "zh-CN" else "zh-CN"),
            csrf_field=FIELD, csrf_token=csrf.token(f"session:{cookie}"),
            csp_nonce=csp_nonce(request),
            note=label(f"worklist.note.{note[1]}", lang, id=note[2]) if note else None)
        return HTMLResponse(html, headers={"Cache-Control": "no-store",
                                           "Content-Language": lang})

    async def checked(request: Request) -> tuple[Response | None, dict, object, str]:
        """The form of a state-changing post, once origin, session and token are right;
        else the refusal to answer with."""
        lang = lang_for(request)
        settings = settings_of(request)
        foreign = foreign_origin(request, settings)
        if foreign is not None:
            return PlainTextResponse(label("dashboard.cross_site", lang, origin=foreign,
                                           expected=own_origin(request, settings)), 403), \
                {}, None, lang
        cookie = request.cookies.get(COOKIE)
        key = sessions.verify(cookie)
        if key is None:
            return RedirectResponse(LOGIN_PATH, 303), {}, None, lang
        form = parse_qs((await request.body()).decode("utf-8", "replace"))
        if not csrf.valid(f"session:{cookie}", (form.get(FIELD) or [None])[0]):
            return PlainTextResponse(label("dashboard.form_expired", lang), 403), {}, None, lang
        return None, form, key, lang

    def back_to(form: dict, lang: str, note: str) -> RedirectResponse:
        # only the known filters go back into the URL: the redirect never leaves the page
        filters = _filters(parse_qs((form.get("back") or [""])[0]))
        return RedirectResponse(url(filters, lang, note=note), 303)

    @router.post(PATH + "/{task_id}/done")
    async def done(task_id: int, request: Request) -> Response:
        refusal, form, key, lang = await checked(request)
        if refusal is not None:
            return refusal
        outcome = (form.get("outcome") or [""])[0] or None
        try:
            task = auto.complete_task(store, task_id, ops.now_utc(), outcome)
        except UpmarketError as exc:
            return PlainTextResponse(exc.localised(lang),
                                     409 if isinstance(exc, auto.TaskError) else 404)
        app_state.audit.add(f"key:{key.id}:{key.name}", "task_done",
                            task["customer_id"] or task["rule"], task_id=task_id,
                            outcome=outcome)
        return back_to(form, lang, f"done:{task_id}")

    @router.post(PATH + "/{task_id}/assign")
    async def assign(task_id: int, request: Request) -> Response:
        refusal, form, key, lang = await checked(request)
        if refusal is not None:
            return refusal
        to = (form.get("to") or [""])[0]
        try:
            task, before = auto.assign_task(store, task_id, to)
        except UpmarketError as exc:
            return PlainTextResponse(exc.localised(lang),
                                     409 if isinstance(exc, auto.TaskError) else 404)
        app_state.audit.add(f"key:{key.id}:{key.name}", "task_reassigned",
                            task["customer_id"] or task["rule"], task_id=task_id,
                            before=before, after=task["assignee"])
        return back_to(form, lang, f"assigned:{task_id}")

    return router
