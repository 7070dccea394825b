"""The report's membership section: the programme on the run's date — level distribution with
each level's benefit cost, the points liability net of breakage with its interval, redemption
and active-member rates, and level migration — from what the run recorded
(`membership.economics`), in the run's language and currency."""

from __future__ import annotations

from upmarket.currency import money
from upmarket.i18n import label
from upmarket.membership.economics import lines


def section(run: dict, lang: str, symbol: str | None = None) -> dict | None:
    """What the template shows, or None when the run evaluated no programme."""
    from upmarket.policy.file import policy_of_run

    found = (run.get("counts") or {}).get("membership") or {}
    econ = found.get("economics")
    if not econ:
        return None
    programme = policy_of_run(run).membership.programme()
    names = {lv.code: lv.display(lang) for lv in programme.levels}
    levels = []
    for lv in programme.levels:
        share = econ["levels"].get(lv.code, {})
        cost = econ["benefit_cost"].get(lv.code, {})
        levels.append({"level": names[lv.code], "members": f"{share.get('members', 0):,}",
                       "share": f"{share.get('share', 0):.1%}",
                       "cost": money(cost.get("cost"), lang, policy=symbol),
                       "per_member": money(cost.get("per_member"), lang, policy=symbol)})
    moved = econ.get("migration") or {}
    migration = [{"from": names[a], "to": [f"{moved.get(a, {}).get(b, 0):,}"
                                           for b in programme.codes]}
                 for a in programme.codes if a in moved]
    return {"lines": lines(econ, programme, lang, symbol), "levels": levels,
            "level_names": [names[c] for c in programme.codes], "migration": migration,
            "cost_title": label("members.econ.cost_title", lang,
                                months=programme.window_months),
            "migration_title": label("members.econ.migration_title", lang),
            "head": {k: label(f"members.col.{k}", lang)
                     for k in ("level", "members", "share", "cost", "per_member", "from")}}
