"""The dashboard's membership page at `/dashboard/members`: how the latest run spread members
over the programme's levels, who moved up or down in it, and the points that lapse within
`EXPIRING_DAYS` of the run's date (what a reminder campaign would target), in English or
Chinese. Registered by `dashboard.dashboard_router`: same sign-in, security headers and audit
log; ids are pseudonymised for keys that may not export, as on the dashboard.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import pandas as pd
from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, HTMLResponse, RedirectResponse, Response

from upmarket.currency import money, run_symbol
from upmarket.i18n import label
from upmarket.opstore import store as ops
from upmarket.service.csrf import FIELD, LOGIN_PATH, Csrf
from upmarket.service.security import csp_nonce
from upmarket.service.sessions import COOKIE, Sessions

PATH = "/dashboard/members"
#: The window of "points about to lapse", counted from the run's date.
EXPIRING_DAYS = 30
#: Rows each list shows: a page to act on, not an export.
LIST_ROWS = 15


def members_data(wh, store: ops.Store, *, lang: str, clear_ids: bool) -> dict:
    """The page's figures from the current run: `levels` (code, name, members, share),
    `changes` (downgrades then upgrades, at most `LIST_ROWS`, with their counts),
    and `expiring` (members whose points lapse within `EXPIRING_DAYS` of the run's date)."""
    from upmarket.policy.file import policy_of_run
    from upmarket.service.dashboard import _ids
    from upmarket.warehouse.runs import current_run, output, output_table

    run = current_run(wh)
    run_id, as_of = run["run_id"], pd.Timestamp(run["as_of"])
    data = {"run_id": run_id, "as_of": as_of.to_pydatetime(), "currency": run_symbol(run),
            "enabled": wh.has_table(output_table("member_levels", run_id))}
    if not data["enabled"]:
        return data
    programme = policy_of_run(run).settings().membership
    m = output(wh, "member_levels", run_id).select(
        "customer_id", "level", "previous_level", "change", "points_expiring",
        "expiring_at", "reason_en", "reason_zh").to_pandas()
    name = {lv.code: lv.display(lang) for lv in programme.levels}
    counts = m["level"].value_counts()
    total = max(len(m), 1)
    data["levels"] = [{"code": c, "name": name[c], "members": int(counts.get(c, 0)),
                       "share": counts.get(c, 0) / total} for c in programme.codes]
    data["members"] = len(m)
    order = {c: i for i, c in enumerate(programme.codes)}
    moved = m[m["change"].isin(["upgrade", "downgrade"])].copy()
    moved["rank"] = moved["level"].map(order)
    # downgrades first: fewer, and the ones a manager may want to act on
    moved = moved.sort_values(["change", "rank", "customer_id"], ascending=[True, False, True])
    data["upgrades"] = int((moved["change"] == "upgrade").sum())
    data["downgrades"] = int((moved["change"] == "downgrade").sum())
    shown = moved.head(LIST_ROWS)
    reason = "reason_zh" if lang == "zh-CN" else "reason_en"
    data["changes"] = [
        {"customer": c, "change": label(f"members.change.{r.change}", lang),
         "kind": r.change, "from": name.get(r.previous_level, r.previous_level or "—"),
         "to": name.get(r.level, r.level), "reason": getattr(r, reason)}
        for c, r in zip(_ids(wh, shown["customer_id"], clear_ids, store),
                        shown.itertuples())]
    at = pd.to_datetime(m["expiring_at"])
    soon = m[(m["points_expiring"] > 0) & (at > as_of)
             & (at <= as_of + pd.Timedelta(days=EXPIRING_DAYS))]
    soon = soon.sort_values(["points_expiring", "customer_id"], ascending=[False, True])
    points = int(soon["points_expiring"].sum())
    data["expiring"] = {
        "days": EXPIRING_DAYS, "members": len(soon), "points": points,
        "value": points * programme.redemption_value,
        "date": pd.Timestamp(soon["expiring_at"].iloc[0]).to_pydatetime() if len(soon) else None,
        "more": max(len(soon) - LIST_ROWS, 0),
        "rows": [{"customer": c, "level": name.get(r.level, r.level),
                  "points": int(r.points_expiring)}
                 for c, r in zip(_ids(wh, soon["customer_id"].head(LIST_ROWS), clear_ids,
                                      store), soon.head(LIST_ROWS).itertuples())]}
    return data


def members_router(store: ops.Store, app_state, sessions: Sessions, csrf: Csrf,
                   lang_for: Callable[[Request], str], templates) -> APIRouter:
    """The membership page's route, sharing the dashboard's sessions and CSRF secret."""
    router = APIRouter(include_in_schema=False)

    @router.get(PATH)
    def members(request: Request) -> Response:
        from upmarket.errors import NoRun, WarehouseError, told
        from upmarket.service import profiles

        lang = lang_for(request)
        cookie = request.cookies.get(COOKIE)
        key = sessions.verify(cookie)
        if key is None:
            return RedirectResponse(LOGIN_PATH, 303)
        clear = key.allows("export")
        try:
            with profiles.reading(app_state.warehouse_url) as wh:
                data = members_data(wh, store, lang=lang, clear_ids=clear)
        except (NoRun, WarehouseError) as exc:
            return PlainTextResponse(told(exc, lang), 503, headers={"Retry-After": "60"})
        app_state.audit.add(f"key:{key.id}:{key.name}", "export_members" if clear
                            else "read_members", data["run_id"], lang=lang)
        short = "zh" if lang == "zh-CN" else "en"
        html = templates.get_template("members.html.j2").render(
            lang=lang, short=short, t=lambda k, **f: label(k, lang, **f), d=data,
            money=lambda v, decimals=0: money(v, lang, decimals, policy=data["currency"]),
            when=lambda x: x.strftime("%Y-%m-%d") if isinstance(x, datetime) else "—",
            key_name=key.name, csrf_field=FIELD, csrf_token=csrf.token(f"session:{cookie}"),
            csp_nonce=csp_nonce(request))
        return HTMLResponse(html, headers={"Cache-Control": "no-store",
                                           "Content-Language": lang})

    return router
