"""Commands that run the pipeline: run, demo."""

import json
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from upmarket.cli import AsJson, Warehouse, app, console, friendly, progress
from upmarket.cli.config import ConfigPath
from upmarket.currency import money
from upmarket.data_labels import channel_name
from upmarket.i18n import LABELS, current_lang, label, value_label
from upmarket.locations import STORE_ENV
from upmarket.locations import WAREHOUSE_ENV as ENV_VAR
from upmarket.locations import WAREHOUSE_URL as DEFAULT_URL

#: --lang of the commands that run the engine: the policy's language unless given.
Lang = Annotated[str | None, typer.Option(
    "--lang", envvar="UPMARKET_LANG", show_default=False,
    help="Labels: en or zh (default: the policy's language).")]

@app.command()
@friendly
def run(
    as_of: Annotated[datetime | None, typer.Option(
        "--as-of", help="Score the world as it stood on this date (default: the day after the "
        "latest order).", formats=["%Y-%m-%d"])] = None,
    warehouse: Warehouse = DEFAULT_URL,
    config: ConfigPath = None,
    as_json: AsJson = False,
    lang: Lang = None,
):
    """Run the pipeline and publish its results.

    Features → lifetime value → churn → segments, tiers and lifecycle → KPIs. Publishing is
    atomic: a failed or interrupted run leaves the previous results current. The business
    policy (upmarket.yaml, or --config) sets tiers, service levels, caps, offers and horizons;
    the run records it.

    The warehouse engine (a DuckDB file) uses at most UPMARKET_ENGINE_MEMORY of memory
    (default 1GiB; e.g. UPMARKET_ENGINE_MEMORY=4GB) and writes what does not fit to a folder
    beside the warehouse file (upmarket.duckdb.tmp beside upmarket.duckdb), deleted when the
    run ends. A step that cannot be split that way runs without the limit.
    """
    from upmarket import pipeline
    from upmarket.policy import load_policy
    from upmarket.warehouse import connect

    policy = load_policy(config)  # a bad policy stops the run before the warehouse is opened
    lang = lang or policy.policy.language
    wh = connect(warehouse, create=False)
    with progress(as_json) as bar:
        task = bar.add_task("run", total=len(pipeline.STAGES))
        ctx = pipeline.run(wh, as_of, policy=policy, on_stage=lambda name, i, n: bar.update(
            task, completed=i, description=_t(f"stage.{name}", name, lang)))
    _print_run(ctx, as_json, lang)


@app.command()
@friendly
def demo(
    customers: Annotated[int, typer.Option(help="How many customers the synthetic store has.")] = 20_000,
    draw: Annotated[int, typer.Option(
        "--draw", help="Which random draw of the store: the same number gives the same "
        "world.")] = 0,
    # the option's earlier name, still accepted
    seed: Annotated[int | None, typer.Option("--seed", hidden=True)] = None,
    world: Annotated[str, typer.Option(
        "--world", help="Which store: 'btyd' buys, churns and upgrades exactly as the models "
        "assume (BG/NBD purchases, dropout right after a purchase, upgrades that follow the "
        "visible history), so it shows the models at their best; 'realistic' does not (regular, "
        "seasonal purchases; dropout in calendar time, hastened by late deliveries; upgrades "
        "driven by a taste no column records; a third of the campaigns without effect), so it "
        "shows how they cope when their assumptions fail.")] = "btyd",
    out: Annotated[Path, typer.Option(help="Folder for the demo warehouse and its outputs.")] = Path("upmarket-output"),
    config: ConfigPath = None,
    cycles: Annotated[int, typer.Option(
        "--cycles", min=0, help="Before the run, simulate this many 30-day decide → respond → "
        "measure cycles of the next best actions with control groups, against the world's "
        "true action effects; the run then comes after them and shows what was learned. At "
        "5,000 customers 4 cycles are enough: the actions that do nothing are no longer chosen "
        "after 3 or 4, and more cycles change nothing for them (an action no longer chosen gets "
        "no new customers to measure).")] = 0,
    holdout_share: Annotated[float | None, typer.Option(
        "--holdout-share", min=0.0, max=0.99, show_default=False,
        help="Share of each action's customers held out as its control group (default: the "
        "policy's holdout.share, 10 % unless the policy file says otherwise).")] = None,
    as_json: AsJson = False,
    lang: Lang = None,
):
    """Build a synthetic store, ingest it, run everything, say where the results are.

    Two years of orders, promotions, touchpoints, spend, tickets, feedback and consents,
    with ground truth about who later upgrades or churns. --world chooses how its customers
    buy, churn and upgrade: as the models assume (btyd) or otherwise (realistic).

    The demo warehouse is created afresh in --out each time; your own warehouse is not touched.
    """
    import dataclasses
    import time
    from datetime import timedelta

    from upmarket import pipeline
    from upmarket.activation.holdout import HoldoutSettings
    from upmarket.activation.rules import load_rules
    from upmarket.demo import action_loop, task_work
    from upmarket.strategy.scorecard import default_period
    from upmarket.demo.rules import write_rules
    from upmarket.demo.load import load_world
    from upmarket.demo.world import ACTION_WINDOW_DAYS, WorldConfig
    from upmarket.warehouse import connect

    from upmarket.policy import load_policy

    # both fail before any file is written
    policy = load_policy(config)
    lang = lang or policy.policy.language
    config = WorldConfig(customers=customers, seed=draw if seed is None else seed, world=world)
    out.mkdir(parents=True, exist_ok=True)
    db = out / "demo.duckdb"
    ops_db = out / "demo-ops.sqlite"
    for stale in (db, db.with_suffix(".duckdb.wal"), ops_db,
                  *(ops_db.with_name(ops_db.name + x) for x in ("-wal", "-shm"))):
        stale.unlink(missing_ok=True)
    store_url = f"sqlite:///{ops_db.resolve()}"
    started = time.perf_counter()
    from upmarket.activation.assignment import load_roster
    from upmarket.demo.team import write_team
    from upmarket.opstore.store import now_utc, open_store

    store = open_store(store_url)
    try:  # the demo's sales team, so its tasks get assignees as a company's would
        load_roster(store, write_team(out), now_utc())
    finally:
        store.close()
    wh = connect(f"duckdb://{db.resolve()}")
    with progress(as_json) as bar:
        task = bar.add_task(label("demo.generating", lang), total=None)
        loaded = load_world(wh, config, on_table=lambda t, n: bar.update(
            task, description=label("demo.ingested_table", lang, n=f"{n:,}",
                                    table=_table_name(t, lang)),
            done=True))
        held = policy.policy.settings().holdout
        if holdout_share is not None:  # asked for here: every tier alike
            held = HoldoutSettings(share=holdout_share)
        loop, work, run_at = None, None, config.as_of
        rules = load_rules(write_rules(out))
        if cycles:
            loop = action_loop.run_cycles(
                wh, config.as_of, cycles, holdout_settings=held,
                on_cycle=lambda k, n: bar.update(task, description=label(
                    "loop.cycle", lang, cycle=k + 1, cycles=n)))
            run_at = config.as_of + timedelta(days=cycles * ACTION_WINDOW_DAYS)
            # the weeks of the cycles: rules checked weekly, account managers at work
            work = task_work.simulate(wh, store_url, rules, action_loop.decision_frame(
                wh, config.as_of), config.as_of, run_at)
        else:
            # the quarter the run scores was worked as a company running upmarket weekly
            # works one, so its automation rate and response times are read from tasks
            start = default_period(config.as_of).start
            bar.update(task, description=label("demo.task_work", lang,
                                               start=f"{start:%Y-%m-%d}",
                                               end=f"{config.as_of:%Y-%m-%d}"))
            work = task_work.simulate(wh, store_url, rules,
                                      action_loop.decision_frame(wh, start), start, run_at)
        bar.update(task, description=label("demo.running", lang), total=len(pipeline.STAGES),
                   completed=0)
        # the policy's settings, with the control groups' share asked for here
        settings = dataclasses.replace(policy.policy.settings(), holdout=held)
        ctx = pipeline.run(wh, run_at, store_url=store_url, policy=policy, settings=settings,
                           rules=rules,
                           on_stage=lambda name, i, n: bar.update(
                               task, completed=i, description=_t(f"stage.{name}", name, lang)))
    from upmarket.opstore.store import open_store
    from upmarket.reports import write_report

    store = open_store(store_url)
    try:  # both files are audited in the demo's own store, not the user's
        exported, left_out = export_results(ctx, out, store=store)
        # the analyst's first document: the assessment of the quarter the run's scorecard
        # scores (to date after simulated cycles), ids pseudonymised
        report = write_report(wh, out / ("report-zh.html" if lang.startswith("zh")
                                         else "report.html"), cycle="quarter", lang=lang,
                              run_id=ctx.run.run_id, store=store)
    finally:
        store.close()
    exported["report"] = report.path
    seconds = time.perf_counter() - started
    if as_json:
        print(json.dumps({"seconds": round(seconds, 1), "world": world, "loaded": loaded,
                          "warehouse": wh.url,
                          "outputs": {k: str(v) for k, v in exported.items()},
                          "customers_left_out_no_consent": left_out, "run_id": ctx.run.run_id,
                          **({"learning_loop": loop.summary()} if loop else {}),
                          **({"task_work": work.summary()} if work else {}), **ctx.summary},
                         ensure_ascii=False, default=str))
        return
    t = Table(label("table", lang), label("rows_read", lang), label("accepted", lang),
              label("quarantined", lang), title=label("demo.ingested", lang), title_justify="left")
    for name, c in loaded.items():
        t.add_row(_table_name(name, lang), f"{c['rows_read']:,}", f"{c['accepted']:,}", f"{c['quarantined']:,}")
    console.print(t)
    _print_run(ctx, False, lang)
    if loop:
        _print_loop(loop, lang)
    console.print(f"\n[bold]{label('demo.where', lang, seconds=f'{seconds:.0f}')}[/]")
    _print_files([
        (label("demo.warehouse", lang, path=db), db),
        (label("demo.service", lang, path=ops_db), ops_db),
        (label("demo.customers", lang, path=exported["customers"], n=f"{left_out:,}"),
         exported["customers"]),
        (label("demo.workbook", lang, path=exported["customers_xlsx"]), exported["customers_xlsx"]),
        (label("demo.report", lang, path=exported["report"], period=report.period),
         exported["report"]),
        (label("demo.team", lang, path=out / "account_managers.csv"), out / "account_managers.csv"),
        (label("demo.rules", lang, path=out / "rules.yaml"), out / "rules.yaml"),
    ])
    me = _program()
    top = ctx.results.sort_values("clv").customer_id.iloc[-1]
    console.print(f"\n[bold]{label('demo.next', lang)}[/]", highlight=False)
    console.print(f"  export {ENV_VAR}=duckdb://{db.resolve()}", highlight=False, soft_wrap=True)
    console.print(f"  export {STORE_ENV}={store_url}", highlight=False, soft_wrap=True)
    for cmd in ("segments list --by tier", f"customers show {top} --lang zh",
                f"recommend {top} --n 5", "actions export --action upsell --format xlsx",
                "scorecard", "risk --lang zh", "whatif --retention +5pt --frequency +10%",
                "alerts list", "tasks list --open", "tasks workload",
                "keys create crm --scope export", "serve"):
        console.print(f"  {me} {cmd}", highlight=False, soft_wrap=True)
    console.print("  " + label("demo.then_open", lang), highlight=False, soft_wrap=True)


def _print_files(files: list[tuple[str, object]]) -> None:
    """Each file the demo wrote as its name and its path, with what it holds on the line below,
    wrapped under the path (a line of Chinese text at 80 columns used to leave its name alone
    on a line). The path is printed whole, never folded, so it can be copied even when it is
    longer than the terminal is wide."""
    from rich.cells import cell_len

    rows = []
    for text, path in files:
        name, _, rest = text.partition(f"{path}")
        what = rest.strip()
        for left, right in ("()", "（）"):  # the description's own line needs no brackets
            if what.startswith(left) and what.endswith(right):
                what = what[1:-1]
        rows.append((name.strip(), f"{path}", what))
    width = max(cell_len(name) for name, _, _ in rows)
    for name, path, what in rows:
        pad = " " * (width - cell_len(name))
        console.print(Text(f"  {name}{pad}  {path}"), soft_wrap=True, highlight=False)
        if what:
            console.print(Padding(Text(what), (0, 0, 0, width + 4)), highlight=False)


def _print_loop(loop, lang: str) -> None:
    """The simulated cycles against the world's truth: per action type, the measured
    incremental conversion and its interval, the true effect, and how often it is chosen now."""
    found = loop.against_truth()
    t = Table(title=label("loop.title", lang, cycles=len(loop.cycles)), title_justify="left")
    for key in ("col.action", "impact.n", "impact.conversion", "loop.truth", "loop.next"):
        t.add_column(label(key, lang), justify="left" if key == "col.action" else "right")
    for r in found.itertuples():
        t.add_row(value_label("action", r.action, lang), f"{r.n_treated:,}/{r.n_held_out:,}",
                  f"{100 * r.conversion_difference:+.1f}pt [{100 * r.conversion_low:+.1f}, "
                  f"{100 * r.conversion_high:+.1f}]" + ("" if r.covered else " ✗"),
                  f"{100 * r.truth:+.1f}pt", f"{loop.next_choice.get(r.action, 0):,}")
    console.print(t)
    console.print(label("loop.covered", lang, covered=int(found["covered"].sum()),
                        measured=len(found)), highlight=False)


def _program() -> str:
    """How the user invoked us (`.venv/bin/upmarket` under make), so hints can be pasted."""
    import sys

    prog = Path(sys.argv[0])
    if prog.name != "upmarket":
        return "upmarket"
    try:
        return str(prog.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(prog)


def export_results(ctx, out: Path, *, store=None) -> tuple[dict[str, Path], int]:
    """Write the run's per-customer results where a newcomer will look for them, under the
    export policy like every export: customers consenting to marketing on some channel,
    pseudonymised ids, safe cells, audited in `store`. Returns the files and how many
    customers were left out for lack of consent."""
    from upmarket.activation import export_policy
    from upmarket.warehouse.runs import output

    results = output(ctx.wh, "results", ctx.run.run_id).to_pandas()
    gated = export_policy.gate(ctx.wh, results, with_pii=False, store=store)
    # the same rows twice: CSV for programs, a styled workbook for people who read in Excel
    files = {"customers": out / "customers.csv", "customers_xlsx": out / "customers.xlsx"}
    for path in files.values():
        export_policy.write_export(ctx.wh, gated.frame, path, path.suffix[1:], what="results",
                                   with_pii=False, dropped_no_consent=gated.dropped_no_consent,
                                   store=store, run_id=ctx.run.run_id)
    return files, gated.dropped_no_consent


def _print_value_choice(found: dict | None, lang: str) -> None:
    """How the value model was chosen: each candidate's holdout error on the data's own
    recent history (the words are `reports.method`'s, as in the report)."""
    from upmarket.reports.method import value_choice_line

    line = value_choice_line(found, lang)
    if line:
        console.print(line, highlight=False)


def _print_training_sample(key: str, sample: dict | None, lang: str) -> None:
    """A line when a classifier trained on a sample of its window's customers, not all."""
    if sample and sample.get("rows", 0) < sample.get("of", 0):
        console.print(label(key, lang, rows=sample["rows"], of=sample["of"]))


def _print_value_model(found: dict | None, lang: str) -> None:
    """Which value models the run used, and every fit diagnostic in words — the sentences the
    report and the dashboard show (`reports.method`)."""
    from upmarket.reports import method

    used = method.value_model_used(found, lang)
    if used is None:
        return
    console.print(used, highlight=False)
    for text in method.value_warnings(found, lang):
        console.print(f"{method.WARN} {text}", highlight=False)
    missing = method.p_alive_missing(found, lang)
    if missing:
        console.print(missing, highlight=False)


def _table_name(name: str, lang: str) -> str:
    """A warehouse table as a Chinese reader knows it; English readers see the table's name,
    which is what they type in other commands."""
    key = f"report.table.{name}"
    return label(key, lang) if key in LABELS and current_lang(lang) == "zh-CN" else name


def _t(key: str, default: str, lang: str) -> str:
    return label(key, lang) if key in LABELS else default


def _print_members(ctx, lang: str) -> None:
    """The level distribution of the membership programme, and the moves since the last run."""
    found = ctx.summary.get("membership") or {}
    if not found.get("levels"):
        return
    programme = ctx.settings.membership
    counts = ", ".join(f"{programme.level(c).display(lang)} {n:,}"
                       for c, n in found["levels"].items())
    console.print(label("members.run", lang) + counts + label(
        "members.run_changes", lang, in_grace=found["in_grace"], **found["changes"]),
        highlight=False)
    if found.get("economics"):
        from upmarket.membership.economics import run_line

        symbol = ((ctx.summary.get("policy") or {}).get("currency") or {}).get("symbol")
        console.print(run_line(found["economics"], lang, symbol), highlight=False)


def _print_run(ctx, as_json: bool, lang: str) -> None:
    info = {"run_id": ctx.run.run_id, "as_of": ctx.as_of.strftime("%Y-%m-%d"),
            "warehouse": ctx.wh.url, "outputs": ctx.run.outputs, **ctx.summary}
    if as_json:
        print(json.dumps(info, ensure_ascii=False, default=str))
        return
    s = ctx.summary
    console.print(f"[bold green]{label('run_published', lang, run_id=info['run_id'], as_of=info['as_of'])}[/]")
    policy = s.get("policy") or {}
    if policy:
        console.print(label("run_policy", lang, source=policy["source"] or label(
            "run_policy_defaults", lang), hash=policy["config_hash"]), highlight=False,
            soft_wrap=True)
    symbol = (policy.get("currency") or {}).get("symbol")
    head = Table(show_header=False, box=None)
    head.add_row(label("customers", lang), f"{s['customers']:,}")
    head.add_row(label("net_revenue", lang), money(s["net_revenue"], lang, policy=symbol))
    clv = s.get("clv") or {}
    if clv:
        head.add_row(label("clv.mean", lang), money(clv["mean_12m_margin"], lang, policy=symbol))
        head.add_row(label("clv.total", lang),
                     money(clv["total_12m_margin"], lang, policy=symbol))
    console.print(head)

    tiers = ctx.tables.get("tier_summary")
    if tiers is not None:
        t = Table(label("field.tier", lang), label("customers", lang), label("col.clv_share", lang),
                  label("col.revenue_share", lang), label("field.service", lang),
                  label("col.response", lang), title_justify="left")
        for r in tiers.itertuples():
            t.add_row(label(f"tier.{r.tier}", lang), f"{r.customers:,}", f"{r.value_share:.1%}",
                      f"{r.revenue_share:.1%}", label(f"resource.{r.tier}", lang),
                      f"≤ {label('unit.hours', lang, n=f'{r.response_hours:g}')}")
        console.print(t)
    _print_members(ctx, lang)
    _print_value_choice(s.get("value_choice"), lang)
    _print_value_model(s.get("value_model"), lang)
    ev = s.get("churn_evaluation")
    if ev and "auc_rfm_baseline" in ev:
        console.print(label("churn_evaluation", lang, **{
            **ev, "published": label(f"churn_published.{ev['published']}", lang)}))
    else:
        console.print(label("churn_model_plain", lang, model=s.get("churn_model")))
    _print_training_sample("churn_training_sample", (ev or {}).get("training_sample"), lang)
    k = Table(label("col.kpi", lang), label("col.this_base", lang), label("col.benchmark", lang),
              title_justify="left")
    bench = s.get("benchmarks", {})
    for key in ("premium_retention", "existing_customer_revenue_share", "diamond_revenue_share"):
        value = s.get("kpis", {}).get(key)
        k.add_row(label(f"kpi.{key}", lang), "—" if value is None else f"{value:.0%}",
                  f"{bench[key]:.0%}" if key in bench else "—")
    console.print(k)
    textbook = s.get("textbook_cltv")
    if textbook:
        console.print(label("textbook_cltv", lang, **textbook))
    prem = s.get("premium_evaluation")
    if prem:
        console.print(label("premium_evaluation", lang, penetration=s["premium_penetration"], **prem))
    _print_training_sample("premium_training_sample",
                           (s.get("premium_model") or {}).get("training_sample"), lang)
    skipped = s.get("premium_model", {})
    if skipped.get("reason"):
        console.print("⚠ " + label(f"premium_model.{skipped['status']}", lang,
                                   why=label(f"premium_model.{skipped['reason']}", lang)),
                      highlight=False)
    ratios = s.get("clv_to_cac")
    if ratios:
        console.print(label("clv_to_cac", lang) + ", ".join(
            f"{channel_name(ch, lang)} {v:.1f}{'' if v > 3 else ' ⚠'}" for ch, v in sorted(ratios.items(), key=lambda x: -x[1])))
    acts = s.get("actions")
    if isinstance(acts, dict):
        contacts = sum(n for a, n in acts.items() if a != "no_contact")
        console.print(label("run_actions", lang, contacts=contacts,
                            ev=s.get("actions_expected_value", 0.0)) + ", ".join(
            f"{value_label('action', a, lang)} {n:,}"
            for a, n in sorted(acts.items(), key=lambda x: -x[1]) if n), highlight=False)
    eff, risks = s.get("effect_index"), s.get("risk", {}).get("risks", {})
    if eff and eff.get("index") is not None:
        console.print(label("run_effect_index", lang, period=eff["period"], index=eff["index"],
                            compare=eff["compare"],
                            compare_index=label("no_data_for", lang)
                            if eff.get("compare_index") is None else eff["compare_index"],
                            high=risks.get("high", 0), medium=risks.get("medium", 0)),
                      highlight=False)
    auto = s.get("automation")
    if auto:
        console.print(label("run_alerts", lang, alerts=auto["alerts"], tasks=auto["tasks"])
                      + ", ".join(f"{_t(f'automation.rule.{rule}', rule, lang)} {n:,}"
                                  for rule, n in sorted(auto["by_rule"].items())),
                      highlight=False)
    # the output tables are named as a query names them; a Chinese reader gets the count
    if current_lang(lang) == "zh-CN":
        console.print(label("where_results_count", lang, url=ctx.wh.url,
                            n=len(ctx.run.outputs)), highlight=False)
    else:
        console.print(f"{label('where_results', lang)}: {ctx.wh.url} → "
                      + ", ".join(f"[bold]{n}[/]" for n in ctx.run.outputs))
