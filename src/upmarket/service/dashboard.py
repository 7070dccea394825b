"""The dashboard (DESIGN §1: the CRM or sales manager's page): tiers and their service levels,
premium customers at risk with the action to take, the upsell list, open tasks against their
SLA, recent alerts and the run's charts — served by `upmarket serve` at /dashboard. It names
the run's value model and, when the fit checks flagged it or P(alive) is missing, shows a notice
in the words of the CLI and the report (`reports.method`), read from the run's summary alone.

Access: log in once with an API key that has the `read` scope (a session cookie then stands
for it, see `sessions.py`; signing out ends the session on the server). Every form post must
come from the service's own origin and carry its CSRF token (`csrf.py`); the pages carry the
service's security headers (`security.py`) and their inline script and style the response's
CSP nonce. Customer ids are shown in the clear only to keys that may export; to others they
are pseudonymised as in exports. Every view is an audited read of
personal data. The charts are the report's (`reports.figures`), drawn by plotly.js served from
the installed plotly package at /static/plotly.min.js, never from a CDN.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from urllib.parse import parse_qs

import ibis
import pandas as pd
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from upmarket.activation import privacy
from upmarket.errors import NoRun, WarehouseError, told
from upmarket.data_labels import channel_name
from upmarket.currency import money, run_symbol
from upmarket.i18n import LABELS, label, subject_label, value_label
from upmarket.opstore import automation as auto
from upmarket.opstore import store as ops
from upmarket.reports import method
from upmarket.reports.figures import at_risk_premium
from upmarket.service import profiles
from upmarket.service.csrf import FIELD, LOGIN_COOKIE, LOGIN_PATH, Csrf, foreign_origin
from upmarket.service.customer_page import customer_href, customer_router
from upmarket.service.origin import cookie_secure, own_origin, settings_of
from upmarket.service.security import csp_nonce
from upmarket.service.segment_builder import segment_builder_router
from upmarket.service.sessions import COOKIE, Sessions
from upmarket.strategy import economics
from upmarket.strategy.tiers import TierPolicy
from upmarket.warehouse.connection import Warehouse
from upmarket.warehouse.runs import current_run, output, output_table

#: How many rows each list shows: a page to act on, not an export.
LIST_ROWS = 15

_templates = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"),
                         autoescape=select_autoescape(["html", "j2"]))
_templates.globals["customer_href"] = customer_href


def _word(kind: str, code: str, lang: str) -> str:
    """A rule's, severity's or assignee's name; a user's own rule keeps the name it was given."""
    key = f"automation.{kind}.{code}"
    return label(key, lang) if key in LABELS else code


def _ids(wh: Warehouse, ids: pd.Series, clear: bool, store: ops.Store) -> list[str]:
    ids = ids.astype(str)
    return list(ids if clear else privacy.pseudonymise(
        ids, profiles.read_pseudonym_key(wh, store.url)))


def dashboard_data(wh: Warehouse, store: ops.Store, *, lang: str, clear_ids: bool,
                   now: datetime) -> dict:
    """Everything the page shows, from the current run and the operational store."""
    run = current_run(wh)
    run_id = run["run_id"]
    # only the columns and rows the page shows: a run may hold millions of customers
    res = output(wh, "results", run_id).select(
        "customer_id", "tier", "clv", "churn_risk", "churn_band").to_pandas()
    risky_all = at_risk_premium(res)
    risky = risky_all.head(LIST_ROWS)
    reason = "reason_zh" if lang == "zh-CN" else "reason_en"
    acts, ups = pd.DataFrame(columns=["action"]), pd.DataFrame(columns=["customer_id"])
    if wh.has_table(output_table("actions", run_id)):
        a = output(wh, "actions", run_id)
        keep = [c for c in ("action", reason) if c in a.columns]
        acts = (a.filter(a.customer_id.isin(list(risky["customer_id"])))
                .select("customer_id", *keep).to_pandas()
                .drop_duplicates("customer_id").set_index("customer_id"))
        shown = [c for c in ("tier", "product_name", "channel", "expected_value")
                 if c in a.columns]
        ups = (a.filter(a.action == "upsell")
               .order_by([ibis.desc("expected_value"), "customer_id"]).limit(LIST_ROWS)
               .select("customer_id", *shown).to_pandas())
    policy = TierPolicy()

    at_risk_by_tier = risky_all["tier"].value_counts()
    tiers = []
    for tier, grp in res.groupby("tier"):
        level = policy.level(tier)
        tiers.append({"tier": value_label("tier", tier, lang), "order": level.response_hours,
                      "customers": len(grp), "clv": float(grp["clv"].sum()),
                      "at_risk": int(at_risk_by_tier.get(tier, 0)),
                      "service": label(level.service, lang),
                      "response_hours": level.response_hours})
    tiers.sort(key=lambda t: t["order"])

    at_risk = [{"customer": cid, "tier": value_label("tier", r.tier, lang), "clv": r.clv,
                "churn_risk": r.churn_risk,
                "action": value_label("action", acts.loc[r.customer_id, "action"], lang)
                if r.customer_id in acts.index else "—",
                "reason": acts.loc[r.customer_id, reason]
                if r.customer_id in acts.index and reason in acts else ""}
               for cid, r in zip(_ids(wh, risky["customer_id"], clear_ids, store),
                                 risky.itertuples())]

    upsell = [{"customer": cid, "tier": value_label("tier", r.tier, lang)
               if isinstance(getattr(r, "tier", None), str) else "—",
               "product": getattr(r, "product_name", "—"),
               "channel": channel_name(r.channel, lang) if isinstance(getattr(r, "channel", None),
                                                                      str) else None,
               "expected_value": r.expected_value}
              for cid, r in zip(_ids(wh, ups["customer_id"], clear_ids, store),
                                ups.itertuples())]

    all_open = auto.list_tasks(store, open_only=True, kind="task")  # soonest due first
    open_tasks = all_open[:LIST_ROWS]
    task_ids = _ids(wh, pd.Series([t["customer_id"] or "" for t in open_tasks]), clear_ids,
                    store)
    tasks = [{"id": t["id"], "due": t["due"], "overdue": t["due"] < now,
              "tier": value_label("tier", t["tier"], lang) if t["tier"] else "—",
              "customer": cid if t["customer_id"] else "—",
              "assignee": _word("assignee", t["assignee"], lang) if t["assignee"] else "—",
              "rule": _word("rule", t["rule"], lang)}
             for t, cid in zip(open_tasks, task_ids)]
    alerts = [{"fired": a["fired"], "rule": _word("rule", a["rule"], lang),
               "severity": _word("severity", a["severity"], lang),
               "subject": "—" if a["customer_id"] else subject_label(a["subject"], lang)}
              for a in auto.list_alerts(store, limit=LIST_ROWS)]
    # the CLV figures the run summary and the report show, from the same function
    clv = economics.model_clv(res)
    # the value model in the words of the CLI and the report, from the run's summary alone
    # (the comparison table stays in the warehouse: the page shows no per-model figures)
    summary = run.get("counts") or {}
    return {"run_id": run_id, "as_of": pd.Timestamp(run["as_of"]).strftime("%Y-%m-%d"),
            "currency": run_symbol(run),
            "customers": len(res), "total_clv": clv["total_12m_margin"],
            "mean_clv": clv["mean_12m_margin"],
            "premium_at_risk": len(risky_all), "open_tasks": len(all_open),
            "overdue_tasks": sum(1 for t in all_open if t["due"] < now),
            "tiers": tiers, "at_risk": at_risk, "upsell": upsell, "tasks": tasks,
            "alerts": alerts, "pseudonymised": not clear_ids,
            "value_model": method.value_model_used(summary.get("value_model"), lang),
            "value_notices": method.value_notices(summary, lang), "warn": method.WARN}


def dashboard_router(store: ops.Store, app_state, sessions: Sessions,
                     refused: Callable[[Request], float]) -> APIRouter:
    """Routes of the dashboard (left out of the OpenAPI document: they are pages, not API).
    `refused(request)` charges a failed login to the client's address: 0 while it may try
    again, else the seconds to wait (the service's limit on requests without a valid key)."""
    router = APIRouter(include_in_schema=False)
    csrf = Csrf(getattr(app_state, "csrf_secret", None))  # shared by the service's workers

    def lang_for(request: Request) -> str:
        asked = request.query_params.get("lang")
        if asked in ("zh", "zh-CN"):
            return "zh-CN"
        if asked == "en":
            return "en"
        return profiles.lang_of(request.headers.get("accept-language"))

    def cookie_flags(request: Request) -> dict:
        return {"httponly": True, "samesite": "strict",
                "secure": cookie_secure(request, settings_of(request))}

    def login_page(request: Request, lang: str, error: str | None = None,
                   status: int = 200, headers: dict | None = None) -> HTMLResponse:
        nonce, new = csrf.login_nonce(request.cookies.get(LOGIN_COOKIE))
        html = _templates.get_template("login.html.j2").render(
            lang=lang, t=lambda k, **f: label(k, lang, **f), error=error,
            csrf_field=FIELD, csrf_token=csrf.token(f"login:{nonce}"),
            csp_nonce=csp_nonce(request))
        response = HTMLResponse(html, status, headers={"Cache-Control": "no-store",
                                                       **(headers or {})})
        if new:
            response.set_cookie(LOGIN_COOKIE, nonce, path=LOGIN_PATH, **cookie_flags(request))
        return response

    def cross_site(request: Request, lang: str) -> Response | None:
        """403 for a form posted from another origin (no cookie is set or changed)."""
        settings = settings_of(request)
        foreign = foreign_origin(request, settings)
        if foreign is None:
            return None
        return PlainTextResponse(label("dashboard.cross_site", lang, origin=foreign,
                                       expected=own_origin(request, settings)), 403)

    async def form_of(request: Request) -> dict[str, list[str]]:
        return parse_qs((await request.body()).decode("utf-8", "replace"))

    @router.get(LOGIN_PATH)
    def login_form(request: Request) -> HTMLResponse:
        return login_page(request, lang_for(request))

    @router.post(LOGIN_PATH)
    async def login(request: Request) -> Response:
        lang = lang_for(request)
        if (refusal := cross_site(request, lang)) is not None:
            return refusal
        form = await form_of(request)
        nonce = request.cookies.get(LOGIN_COOKIE)
        if not csrf.valid(nonce and f"login:{nonce}", (form.get(FIELD) or [None])[0]):
            return login_page(request, lang, label("dashboard.form_expired", lang), 403)
        key = ops.verify_key(store, (form.get("key") or [""])[0].strip())
        if key is None or not key.allows("read"):
            wait = refused(request)
            if wait:
                return HTMLResponse(label("dashboard.bad_key", lang), 429,
                                    headers={"Retry-After": str(max(1, math.ceil(wait)))})
            return login_page(request, lang, label("dashboard.bad_key", lang), 401)
        # a sign-in always gets a new session id (OWASP: renew the id on login, against
        # session fixation), and ends the one this browser may still hold
        sessions.revoke(request.cookies.get(COOKIE))
        response = RedirectResponse(f"/dashboard?lang={'zh' if lang == 'zh-CN' else 'en'}",
                                    303)
        response.set_cookie(COOKIE, sessions.issue(key), max_age=sessions.lifetime, path="/",
                            **cookie_flags(request))
        response.delete_cookie(LOGIN_COOKIE, path=LOGIN_PATH, **cookie_flags(request))
        return response

    @router.post("/dashboard/logout")
    async def logout(request: Request) -> Response:
        lang = lang_for(request)
        if (refusal := cross_site(request, lang)) is not None:
            return refusal
        cookie = request.cookies.get(COOKIE)
        if sessions.verify(cookie) is not None:
            # signing out is a state change too: another site must not log a user out
            token = (await form_of(request)).get(FIELD) or [None]
            if not csrf.valid(f"session:{cookie}", token[0]):
                return PlainTextResponse(label("dashboard.form_expired", lang), 403)
            sessions.revoke(cookie)
        response = RedirectResponse(LOGIN_PATH, 303)
        response.delete_cookie(COOKIE, path="/", **cookie_flags(request))
        return response

    @router.get("/dashboard")
    def dashboard(request: Request) -> Response:
        lang = lang_for(request)
        cookie = request.cookies.get(COOKIE)
        key = sessions.verify(cookie)
        if key is None:
            return RedirectResponse(LOGIN_PATH, 303)
        clear = key.allows("export")
        now = ops.now_utc()
        try:
            with profiles.reading(app_state.warehouse_url) as wh:
                data = dashboard_data(wh, store, lang=lang, clear_ids=clear, now=now)
                charts = _charts(wh, data["run_id"], lang)
        except (NoRun, WarehouseError) as exc:
            return login_page(request, lang, told(exc, lang), 503, {"Retry-After": "60"})
        app_state.audit.add(f"key:{key.id}:{key.name}", "export_dashboard" if clear
                            else "read_dashboard", data["run_id"], lang=lang)
        html = _templates.get_template("dashboard.html.j2").render(
            lang=lang, t=lambda k, **f: label(k, lang, **f), d=data, charts=charts,
            money=lambda v, decimals=0: money(v, lang, decimals, policy=data["currency"]),
            key_name=key.name, now=now, plotly_style_ids=plotly_style_ids(), csrf_field=FIELD,
            pii=clear,
            csrf_token=csrf.token(f"session:{cookie}"), csp_nonce=csp_nonce(request))
        return HTMLResponse(html, headers={"Cache-Control": "no-store",
                                           "Content-Language": lang})

    # the customer-360 and search pages: same sessions, CSRF secret and language choice
    router.include_router(customer_router(store, app_state, sessions, csrf, lang_for))
    # the segment builder: a page of its own module, sharing this dashboard's session, CSRF
    # tokens, language choice and cross-site refusal
    router.include_router(segment_builder_router(store, app_state, sessions, csrf, lang_for,
                                                 cross_site))

    @router.get("/static/plotly.min.js")
    def plotly_js() -> Response:
        return Response(_plotly_js(), media_type="text/javascript",
                        headers={"Cache-Control": "public, max-age=86400"})

    from upmarket.service.worklist import worklist_router

    router.include_router(worklist_router(store, app_state, sessions, csrf, lang_for,
                                          _templates))
    from upmarket.service.members_page import members_router

    router.include_router(members_router(store, app_state, sessions, csrf, lang_for,
                                         _templates))
    return router


@functools.cache
def _plotly_js() -> str:
    """plotly.js from the installed package, read once per process (4.7 MB)."""
    from plotly.offline import get_plotlyjs

    return get_plotlyjs()


#: The style element plotly.js puts its own rules in (plotly.js `lib/dom.js` addStyleRule).
PLOTLY_GLOBAL_STYLE = "plotly.js-style-global"


@functools.cache
def plotly_style_ids() -> tuple[str, ...]:
    """Ids of the style elements plotly.js makes unless one with that id is already on the
    page: its global rules, and the stylesheets its bundled libraries inject (MapLibre's).
    A style element made by a script would need 'unsafe-inline' in the page's
    Content-Security-Policy; the dashboard makes them itself with the response's nonce. Read
    from the bundle, so a new plotly.js version is followed (the browser test fails on any
    CSP violation); the dashboard draws no maps, so MapLibre's element stays empty."""
    bundled = re.findall(r'getElementById\("([\w.-]+)"\)\)\{var \w+=document\.createElement'
                         r'\("style"\)', _plotly_js())
    return (PLOTLY_GLOBAL_STYLE, *dict.fromkeys(bundled))


def _charts(wh: Warehouse, run_id: str, lang: str) -> list[str]:
    """The report's figures of the run (`reports.html.run_figures`: the same figures the
    report shows), as JSON safe inside a <script> element; each carries its own title."""
    from upmarket.reports import figure_json, run_figures

    return [figure_json(f) for f in run_figures(wh, run_id, lang).values()]
