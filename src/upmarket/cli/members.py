"""Commands about the membership programme: members show ID, members summary."""

import json
from typing import Annotated

import typer
from rich.table import Table

from upmarket.cli import AsJson, Lang, Warehouse, app, console, friendly
from upmarket.currency import money
from upmarket.errors import NoRun, UnknownCustomer
from upmarket.i18n import label
from upmarket.locations import WAREHOUSE_URL as DEFAULT_URL

members_app = typer.Typer(help="The membership programme: levels, points and why.",
                          no_args_is_help=True)
app.add_typer(members_app, name="members")


def _current(warehouse: str):
    """The warehouse, the current run, and the programme and currency symbol it ran with."""
    from upmarket.policy.file import policy_of_run
    from upmarket.warehouse import connect
    from upmarket.warehouse.runs import current_run, output_table

    wh = connect(warehouse, create=False)
    run = current_run(wh)
    if not wh.has_table(output_table("member_levels", run["run_id"])):
        raise NoRun("err.run_lacks_members", run_id=run["run_id"])
    policy = policy_of_run(run)
    return wh, run, policy.membership.programme(), policy.currency.symbol


def _rule(level, lang: str, symbol: str | None) -> str:
    parts = []
    if level.min_spend > 0:
        parts.append(label("members.rule.spend", lang,
                           amount=money(level.min_spend, lang, policy=symbol)))
    if level.min_orders > 0:
        parts.append(label("members.rule.orders", lang, n=f"{level.min_orders:,}"))
    if not parts:
        return label("members.rule.none", lang)
    return label("members.or" if level.rule == "any" else "members.and", lang).join(parts)


@members_app.command("show")
@friendly
def show(
    customer_id: Annotated[str, typer.Argument(help="The member's id as in your data.")],
    entries: Annotated[int, typer.Option("--entries", min=0, max=500,
                                         help="Ledger entries to list, newest first.")] = 10,
    warehouse: Warehouse = DEFAULT_URL,
    as_json: AsJson = False,
    lang: Lang = "en",
):
    """One member on the current run's date: level and why, what the next level needs, the
    internal value tier beside it, the points balance, what expires next, and the ledger."""
    import pandas as pd

    from upmarket.warehouse.runs import output

    wh, run, programme, symbol = _current(warehouse)
    rid = run["run_id"]
    lv = output(wh, "member_levels", rid)
    rows = lv.filter(lv.customer_id == customer_id).to_pandas()
    if rows.empty:
        raise UnknownCustomer("err.not_a_member", customer=customer_id, run_id=rid,
                              as_of=f"{run['as_of']:%Y-%m-%d}")
    row = rows.iloc[0].to_dict()
    res = output(wh, "results", rid)
    tier = res.filter(res.customer_id == customer_id).select("tier").to_pandas()
    row["tier"] = None if tier.empty else tier["tier"].iloc[0]
    book = output(wh, "points_ledger", rid)
    ledger = book.filter(book.customer_id == customer_id).to_pandas().sort_values(
        ["ts", "entry_id"], ascending=False)
    bal = output(wh, "points_balances", rid)
    statement = bal.filter(bal.customer_id == customer_id).drop("run_id").to_pandas()
    if as_json:
        shown = ledger.head(entries).drop(columns=["run_id"], errors="ignore")
        print(json.dumps({**{k: v for k, v in row.items() if k != "run_id"},
                          "statement": statement.to_dict("records"),
                          "ledger": shown.to_dict("records"), "ledger_total": len(ledger)},
                         ensure_ascii=False, default=str))
        return
    zh = "zh" if lang.lower().startswith(("zh", "cn")) else "en"
    level = programme.level(row["level"]) if row["level"] in programme.codes else None
    t = Table(show_header=False, box=None, title=label("members.show.title", lang,
                                                       customer_id=customer_id),
              title_justify="left")
    t.add_row(label("members.show.level", lang),
              level.display(lang) if level else str(row["level"]))
    t.add_row(label("members.show.change", lang), label(f"members.change.{row['change']}", lang))
    if row["tier"]:
        t.add_row(label("members.show.tier", lang), label(f"tier.{row['tier']}", lang))
    t.add_row(label("members.show.points", lang), f"{int(row['points_balance']):,}")
    if row.get("points_expiring") and not pd.isna(row.get("expiring_at")):
        t.add_row(label("members.show.expiring", lang,
                        # the last day they count: they lapse as the next day begins
                        date=f"{pd.Timestamp(row['expiring_at']) - pd.Timedelta(days=1):%Y-%m-%d}"),
                  f"{int(row['points_expiring']):,}")
    console.print(t)
    # sentences go on lines of their own: in a table cell an unspaced Chinese sentence is one
    # unbreakable word and would push the table into its one-block-per-row layout
    for key, text in (("members.show.reason", row[f"reason_{zh}"]),
                      ("members.show.next", row[f"distance_{zh}"])):
        console.print(f"{label(key, lang)}{'：' if zh == 'zh' else ': '}{text}",
                      highlight=False)
    if not statement.empty:
        s = statement.iloc[0]
        console.print(label("members.summary.points", lang,
                            start=f"{pd.Timestamp(s['period_start']):%Y-%m-%d}",
                            expires=last_day(s.get("expiring_at"), s.get("expiring")),
                            **{k: int(s.get(k, 0)) for k in (
                                "opening", "earned", "reversed", "redeemed", "expired",
                                "adjusted", "closing", "expiring")}), highlight=False)
    if entries and len(ledger):
        shown = ledger.head(entries)
        lt = Table(label("members.col.when", lang), label("members.col.kind", lang),
                   label("members.col.balance", lang), label("members.col.level", lang),
                   label("members.col.order", lang),
                   title=label("members.show.ledger", lang, shown=len(shown), total=len(ledger)),
                   title_justify="left")
        for e in shown.itertuples():
            name = programme.level(e.level).display(lang) \
                if isinstance(e.level, str) and e.level in programme.codes else ""
            lt.add_row(f"{pd.Timestamp(e.ts):%Y-%m-%d}", label(f"points.{e.kind}", lang),
                       f"{int(e.points):+,}", name,
                       e.order_id if isinstance(e.order_id, str) else "")
        console.print(lt)


@members_app.command("summary")
@friendly
def summary(
    warehouse: Warehouse = DEFAULT_URL,
    as_json: AsJson = False,
    lang: Lang = "en",
):
    """The programme on the current run's date: members per level with each level's rule and
    points multiplier, the moves since the last evaluation, and the points statement."""
    wh, run, programme, symbol = _current(warehouse)
    found = run["counts"].get("membership") or {}
    if as_json:
        print(json.dumps({"run_id": run["run_id"], "as_of": f"{run['as_of']:%Y-%m-%d}",
                          **found}, ensure_ascii=False, default=str))
        return
    counts = found.get("levels", {})
    total = max(sum(counts.values()), 1)
    t = Table(label("members.col.level", lang), label("members.col.rule", lang),
              label("members.col.multiplier", lang), label("members.col.members", lang),
              label("members.col.share", lang),
              title=label("members.summary.title", lang, as_of=f"{run['as_of']:%Y-%m-%d}",
                          run_id=run["run_id"]), title_justify="left")
    for lv in programme.levels:
        n = counts.get(lv.code, 0)
        t.add_row(lv.display(lang), _rule(lv, lang, symbol), f"×{lv.multiplier:g}", f"{n:,}",
                  f"{n / total:.1%}")
    console.print(t)
    by_tier = found.get("by_tier") or {}
    if by_tier:
        # public levels beside the internal value tiers: how far the rules a member can read
        # agree with what the value model ranks
        from upmarket.strategy.tiers import TIER_ORDER

        x = Table(label("members.col.level", lang),
                  *[label(f"tier.{tier}", lang) for tier in TIER_ORDER],
                  title=label("members.summary.by_tier", lang), title_justify="left")
        for lv in programme.levels:
            row = by_tier.get(lv.code, {})
            x.add_row(lv.display(lang), *[f"{row.get(tier, 0):,}" for tier in TIER_ORDER])
        console.print(x)
    if "changes" in found:
        console.print(label("members.summary.changes", lang, in_grace=found["in_grace"],
                            **found["changes"]), highlight=False)
    if "points" in found:
        # runs from before adjustments were told apart have none to show
        console.print(label("members.summary.points", lang, start=found["period_start"],
                            expires=last_day(found.get("points_expiring_at"),
                                             found["points"].get("expiring")),
                            **{"adjusted": 0, **found["points"]}), highlight=False)
    unknown = unknown_levels(found, programme, lang)
    if unknown:
        console.print(unknown, highlight=False)
    if "economics" in found:
        _print_economics(found["economics"], programme, lang, symbol)


def last_day(expiring_at, expiring) -> str:
    """The last day the soonest-lapsing points count (they lapse as the next day begins), or
    a dash when none are due to lapse (or a run from before the date was kept)."""
    import pandas as pd

    if not expiring or expiring_at is None or pd.isna(expiring_at):
        return "—"
    return f"{pd.Timestamp(expiring_at) - pd.Timedelta(days=1):%Y-%m-%d}"


def unknown_levels(found: dict, programme, lang: str) -> str | None:
    """What to tell when ingested members hold level codes the programme lacks."""
    unknown = (found.get("ingested") or {}).get("unknown_levels") or {}
    if not unknown:
        return None
    return label("members.summary.unknown_levels", lang, n=sum(unknown.values()),
                 levels=", ".join(f"{k} ({v:,})" for k, v in unknown.items()),
                 known=", ".join(programme.codes))


def _print_economics(found: dict, programme, lang: str, symbol: str | None) -> None:
    """Liability and breakage, rates, benefit cost per level and level migration."""
    from upmarket.membership.economics import lines

    console.print(f"[bold]{label('members.econ.title', lang)}[/]")
    for line in lines(found, programme, lang, symbol):
        console.print(line, highlight=False)
    c = Table(label("members.col.level", lang), label("members.col.members", lang),
              label("members.col.cost", lang), label("members.col.per_member", lang),
              title=label("members.econ.cost_title", lang, months=programme.window_months),
              title_justify="left")
    for lv in programme.levels:
        row = found["benefit_cost"].get(lv.code) or {}
        c.add_row(lv.display(lang), f"{row.get('members', 0):,}",
                  money(row.get("cost"), lang, policy=symbol),
                  money(row.get("per_member"), lang, policy=symbol))
    console.print(c)
    moved = found.get("migration") or {}
    if moved:
        m = Table(label("members.col.from", lang), *[lv.display(lang) for lv in programme.levels],
                  title=label("members.econ.migration_title", lang), title_justify="left")
        for lv in programme.levels:
            row = moved.get(lv.code, {})
            m.add_row(lv.display(lang), *[f"{row.get(to.code, 0):,}" for to in programme.levels])
        console.print(m)
