"""The dashboard's segment builder at /dashboard/segments: type a condition in the segment
language (`strategy.segment_conditions`), see how many customers it holds and their share of
revenue, and save it by name (`strategy.saved_segments`) for exports, rules and the report;
below, the saved segments and the profiles by demographic and region
(`strategy.demographics`).

Every submission is a POST carrying the session's CSRF token from the service's own origin
(`csrf.py`; OWASP CSRF Prevention Cheat Sheet: synchroniser token plus origin check), so no
condition or token travels in a URL. Counting needs a session of a key with the `read` scope;
saving changes what rules and exports act on, so it needs a key that may export (or admin).
The condition is never evaluated as code nor pasted into SQL: it is parsed against an
allow-list of fields and operators and compiled to an Ibis filter with typed literals.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import duckdb

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from upmarket.errors import NoRun, UnknownSegment, WarehouseError, told
from upmarket.i18n import label
from upmarket.opstore import store as ops
from upmarket.service import profiles
from upmarket.service.csrf import FIELD, Csrf
from upmarket.service.security import csp_nonce
from upmarket.service.sessions import COOKIE, Sessions
from upmarket.data_labels import DataLabels
from upmarket.strategy import demographics, saved_segments
from upmarket.strategy import segment_conditions as sc
from upmarket.warehouse.connection import connect
from upmarket.warehouse.runs import current_run

log = logging.getLogger(__name__)
PATH = "/dashboard/segments"
#: A form larger than this is refused before it is read (the condition itself is bounded
#: by `segment_conditions.MAX_CHARS`).
MAX_FORM = 16 * 1024

_templates = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"),
                         autoescape=select_autoescape(["html", "j2"]))


def _outcome(found: saved_segments.Evaluated, lang: str) -> str:
    share = found.customers / found.total_customers if found.total_customers else 0.0
    return label("segbuild.result", lang, customers=f"{found.customers:,}", share=f"{share:.1%}",
                 total=f"{found.total_customers:,}",
                 revenue_share=f"{found.revenue_share:.1%}")


def segment_builder_router(store: ops.Store, app_state, sessions: Sessions, csrf: Csrf,
                           lang_for: Callable[[Request], str],
                           cross_site: Callable[[Request, str], Response | None]) -> APIRouter:
    """The builder's routes; the dashboard's own helpers decide the language and refuse
    forms from other origins, so every page of the dashboard behaves alike."""
    router = APIRouter(include_in_schema=False)

    def page(request: Request, lang: str, key, cookie: str, *, condition: str = "",
             name: str = "", result: str | None = None, error: str | None = None,
             status: int = 200) -> Response:
        try:
            with profiles.reading(app_state.warehouse_url) as wh:
                run = current_run(wh)
                segments = saved_segments.summary(wh, run=run)
                profile = demographics.display(demographics.profiles(wh, run=run), lang,
                                               DataLabels.load(wh))
        except (NoRun, WarehouseError) as exc:
            return PlainTextResponse(told(exc, lang), 503, headers={"Retry-After": "60"})
        html = _templates.get_template("segment_builder.html.j2").render(
            lang=lang, t=lambda k, **f: label(k, lang, **f), key_name=key.name,
            run_id=run["run_id"], as_of=f"{run['as_of']:%Y-%m-%d}", condition=condition, name=name, result=result, error=error,
            segments=segments, profiles=profile, fields=", ".join(sc.FIELDS),
            operators="and, or, not, " + ", ".join(sc.OPERATORS), may_save=key.allows("export"),
            csrf_field=FIELD, csrf_token=csrf.token(f"session:{cookie}"),
            csp_nonce=csp_nonce(request), max_chars=sc.MAX_CHARS)
        return HTMLResponse(html, status, headers={"Cache-Control": "no-store",
                                                   "Content-Language": lang})

    @router.get(PATH)
    def builder(request: Request) -> Response:
        lang = lang_for(request)
        cookie = request.cookies.get(COOKIE)
        key = sessions.verify(cookie)
        if key is None:
            return RedirectResponse("/dashboard/login", 303)
        return page(request, lang, key, cookie)

    @router.post(PATH)
    async def submit(request: Request) -> Response:
        from urllib.parse import parse_qs

        lang = lang_for(request)
        if (refusal := cross_site(request, lang)) is not None:
            return refusal
        cookie = request.cookies.get(COOKIE)
        key = sessions.verify(cookie)
        if key is None:
            return RedirectResponse("/dashboard/login", 303)
        body = await request.body()
        if len(body) > MAX_FORM:
            return PlainTextResponse(label("condition.too_long", lang, length=len(body),
                                           limit=sc.MAX_CHARS), 413)
        form = parse_qs(body.decode("utf-8", "replace"))
        if not csrf.valid(f"session:{cookie}", (form.get(FIELD) or [None])[0]):
            return PlainTextResponse(label("dashboard.form_expired", lang), 403)
        condition = (form.get("where") or [""])[0]
        name = (form.get("name") or [""])[0].strip()
        saving = (form.get("action") or [""])[0] == "save"
        shown = {"condition": condition, "name": name}
        try:
            if saving:
                if not key.allows("export"):
                    return page(request, lang, key, cookie, **shown, status=403,
                                error=label("segbuild.needs_export", lang))
                if not name:
                    return page(request, lang, key, cookie, **shown, status=400,
                                error=label("segbuild.needs_name", lang))
                wh = connect(app_state.warehouse_url, create=False)
                try:
                    found = saved_segments.save(wh, name, condition)
                finally:
                    wh.close()
                app_state.audit.add(f"key:{key.id}:{key.name}", "save_segment", name,
                                    condition=condition[:sc.MAX_CHARS])
                result = label("segbuild.saved_ok", lang, name=name) + " " + _outcome(found, lang)
            else:
                with profiles.reading(app_state.warehouse_url) as wh:
                    found = saved_segments.evaluate(wh, condition, strict=True)
                result = _outcome(found, lang)
        except sc.BadCondition as exc:
            return page(request, lang, key, cookie, **shown, status=400, error=exc.text(lang))
        except (saved_segments.BadSegmentName, UnknownSegment) as exc:
            return page(request, lang, key, cookie, **shown, status=400, error=told(exc, lang))
        except (NoRun, WarehouseError) as exc:
            return page(request, lang, key, cookie, **shown, status=503, error=told(exc, lang))
        except duckdb.Error as exc:
            # another request of this process holding the file read-only at that instant: the
            # driver's text stays in the log (OWASP Error Handling Cheat Sheet)
            log.warning("saving a segment failed: %s", exc)
            return page(request, lang, key, cookie, **shown, status=503, error=profiles.BUSY)
        return page(request, lang, key, cookie, **shown, result=result)

    return router
