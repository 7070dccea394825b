"""The dashboard's customer pages: the customer-360 at `/dashboard/customers/{id}` and the
search at `/dashboard/search`, registered by `dashboard.dashboard_router` (same sign-in, CSRF
secret, security headers and audit log as the dashboard).

Who sees what: any signed-in key finds a customer by id (or by the pseudonym the dashboard and
exports show) and opens their page; name, e-mail and phone — as search terms and on the page —
and the free text of tickets and feedback only for keys allowed to see personal data (scope
export, or admin). To other keys the customer's id is shown pseudonymised, as on the dashboard:
a page asked for by a real id answers with a redirect to the pseudonym's address, so the id
stays out of later links, browser history and access logs.

Personal data in URLs (OWASP Top 10 A04/A09; "Information exposure through query strings in
URL", CWE-598): `GET /dashboard/search?q=` works, for links and bookmarks, and its query then
sits in the access log like any URL. The search box on the pages posts its query instead
(with the session's CSRF token), so an e-mail address or phone number typed there never
becomes part of a URL, the browser history, a Referer or the server's access log; a single
match answers with a redirect to the customer's page, whose address holds only an id or a
pseudonym. The audit log records each search by its kind and the customers it found, not by
the contact details typed.

Everything shown is escaped by the templates' autoescaping (OWASP XSS Prevention Cheat Sheet,
rule 1); the page has no inline script at all.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qs, quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from upmarket.activation import privacy
from upmarket.data_labels import channel_name
from upmarket.errors import NoRun, UnknownCustomer, WarehouseError, told
from upmarket.currency import money
from upmarket.i18n import label, value_label
from upmarket.opstore import store as ops
from upmarket.service import profiles
from upmarket.service.csrf import FIELD, LOGIN_PATH, Csrf, foreign_origin
from upmarket.service.customer_search import PSEUDONYM, resolve_pseudonym, search
from upmarket.service.customer_view import customer_view
from upmarket.service.origin import own_origin, settings_of
from upmarket.service.security import csp_nonce
from upmarket.service.sessions import COOKIE, Sessions

_templates = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"),
                         autoescape=select_autoescape(["html", "j2"]))
# a path segment: '/' and '?' in an id must not end it
_templates.filters["segment"] = lambda v: quote(str(v), safe="")


def customer_href(shown_id: str, lang: str) -> str:
    """The address of a customer's page (`shown_id`: the id or pseudonym the viewer sees)."""
    return f"/dashboard/customers/{quote(str(shown_id), safe='')}?lang={_short(lang)}"


def _short(lang: str) -> str:
    return "zh" if lang == "zh-CN" else "en"


def customer_router(store: ops.Store, app_state, sessions: Sessions, csrf: Csrf,
                    lang_for: Callable[[Request], str]) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    def actor(key) -> str:
        return f"key:{key.id}:{key.name}"

    def page(request: Request, name: str, lang: str, key, status: int = 200, **ctx) -> HTMLResponse:
        cookie = request.cookies.get(COOKIE)
        html = _templates.get_template(name).render(
            lang=lang, short=_short(lang), t=lambda k, **f: label(k, lang, **f),
            money=lambda v, decimals=0: money(v, lang, decimals,
                                              policy=(ctx.get("v") or {}).get("currency")),
            vl=lambda kind, code: value_label(kind, str(code), lang),
            ch=lambda code: channel_name(code, lang) if code else "",
            key_name=key.name, pii=key.allows("export"), csrf_field=FIELD,
            csrf_token=csrf.token(f"session:{cookie}"), csp_nonce=csp_nonce(request), **ctx)
        return HTMLResponse(html, status, headers={"Cache-Control": "no-store",
                                                   "Content-Language": lang})

    def shown(wh, customer_id: str, clear: bool) -> str:
        if clear:
            return customer_id
        key = profiles.read_pseudonym_key(wh, store.url)
        return str(privacy.pseudonymise(_series([customer_id]), key).iloc[0])

    def unavailable(request: Request, lang: str, key, exc: Exception) -> HTMLResponse:
        return page(request, "search.html.j2", lang, key, 503, q="", found=None, rows=[],
                    error=told(exc, lang))

    def results(request: Request, lang: str, key, q: str, *, posted: bool) -> Response:
        clear = key.allows("export")
        try:
            with profiles.reading(app_state.warehouse_url) as wh:
                found = search(wh, q, pii=clear, store_url=store.url)
                rows = [{"href": customer_href(s, lang), "shown": s, **brief}
                        for s, brief in ((shown(wh, i, clear), _brief(wh, i, clear))
                                         for i in found.ids)]
        except (NoRun, WarehouseError) as exc:
            return unavailable(request, lang, key, exc)
        if found.kind is not None:
            app_state.audit.add(actor(key), "search_customers",
                                ",".join(found.ids) or "-", kind=found.kind,
                                matches=len(found.ids), refused=found.refused)
        if len(rows) == 1 and not found.refused:
            return RedirectResponse(rows[0]["href"], 303)
        # a posted query is not echoed into any link: the page is the answer, not an address
        return page(request, "search.html.j2", lang, key, q=q, found=found, rows=rows,
                    error=None, posted=posted)

    @router.get("/dashboard/search")
    def search_get(request: Request, q: str = "") -> Response:
        lang = lang_for(request)
        key = sessions.verify(request.cookies.get(COOKIE))
        if key is None:
            return RedirectResponse(LOGIN_PATH, 303)
        return results(request, lang, key, q, posted=False)

    @router.post("/dashboard/search")
    async def search_post(request: Request) -> Response:
        lang = lang_for(request)
        cookie = request.cookies.get(COOKIE)
        key = sessions.verify(cookie)
        if key is None:
            return RedirectResponse(LOGIN_PATH, 303)
        settings = settings_of(request)
        if (foreign := foreign_origin(request, settings)) is not None:
            return PlainTextResponse(label("dashboard.cross_site", lang, origin=foreign,
                                           expected=own_origin(request, settings)), 403)
        form = parse_qs((await request.body()).decode("utf-8", "replace"))
        if not csrf.valid(f"session:{cookie}", (form.get(FIELD) or [None])[0]):
            return PlainTextResponse(label("dashboard.form_expired", lang), 403)
        return results(request, lang, key, (form.get("q") or [""])[0], posted=True)

    @router.get("/dashboard/customers/{customer_id:path}")
    def customer(request: Request, customer_id: str) -> Response:
        lang = lang_for(request)
        key = sessions.verify(request.cookies.get(COOKIE))
        if key is None:
            return RedirectResponse(LOGIN_PATH, 303)
        clear = key.allows("export")
        try:
            with profiles.reading(app_state.warehouse_url) as wh:
                real = customer_id
                if PSEUDONYM.fullmatch(customer_id):
                    real = resolve_pseudonym(wh, store.url, customer_id)
                    if real is None:
                        raise UnknownCustomer(label("customer.unknown_pseudonym", lang,
                                                    pseudonym=customer_id))
                show = shown(wh, real, clear)
                if show != customer_id:
                    # the address names the customer as this viewer may see them
                    return RedirectResponse(customer_href(show, lang), 303)
                view = customer_view(wh, store, real, lang=lang, pii=clear, at=ops.now_utc(),
                                     shown_id=show)
        except UnknownCustomer as exc:
            return page(request, "search.html.j2", lang, key, 404, q="", found=None, rows=[],
                        error=told(exc, lang))
        except (NoRun, WarehouseError) as exc:
            return unavailable(request, lang, key, exc)
        app_state.audit.add(actor(key), "export_customer" if clear else "read_customer", real,
                            lang=lang)
        return page(request, "customer.html.j2", lang, key, v=view)

    return router


def _series(values):
    import pandas as pd

    return pd.Series(values, dtype=object)


def _brief(wh, customer_id: str, clear: bool) -> dict:
    """What a search result row shows besides the id: tier, CLV, and the name for keys that
    may see it."""
    from upmarket.warehouse.runs import output

    res = output(wh, "results")
    r = res.filter(res.customer_id == customer_id).select("tier", "clv").to_pandas()
    out = {"tier": r["tier"].iloc[0] if len(r) else None,
           "clv": float(r["clv"].iloc[0]) if len(r) else None, "name": None}
    if clear:
        c = wh.table("customers")
        n = c.filter(c.customer_id == customer_id).select("name").to_pandas()
        out["name"] = n["name"].iloc[0] if len(n) and isinstance(n["name"].iloc[0], str) else None
    return out
