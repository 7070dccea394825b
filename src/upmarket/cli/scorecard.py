"""Command about scorecards: `upmarket scorecard` (the upward-marketing guide's effect index and the other
weighted scorecards of `upmarket.strategy.scorecard`)."""

import json
import math
from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.markup import escape
from rich.table import Table

from upmarket.cli import AsJson, Lang, Warehouse, app, console, friendly
from upmarket.i18n import LABELS, current_lang, label
from upmarket.locations import WAREHOUSE_URL as DEFAULT_URL


@app.command()
@friendly
def scorecard(
    period: Annotated[str | None, typer.Option(
        "--period", "-p", help="Month 2025-07, quarter 2025-Q3 or year 2025 (default, as in the "
        "report: the quarter the latest run's as-of closes (the data's end before any run): "
        "the last complete one, or, once the current one holds four weeks of "
        "data, the current one to date against the same days of the one before). For a card "
        "scored from --inputs only, the candidate to score.")] = None,
    compare: Annotated[str | None, typer.Option(
        "--compare", "-c", help="Period to show beside it, of the same kind (default: the period "
        "before). Growth targets (+35%) are measured against each period's base period, which "
        "the card sets (base: previous or year_before), so the index does not depend on it.")] = None,
    file: Annotated[str, typer.Option(
        "--file", "-f", help="A shipped card — effect_index (the marketing effect index), "
        "platform_selection, sales_competency, execution — or your own YAML card.")] = "effect_index",
    inputs: Annotated[Path | None, typer.Option(
        "--inputs", "-i", help="Values you supply, YAML {metric: value} or {candidate: "
        "{metric: value}}, or CSV with columns metric,value[,subject]: platform ratings, "
        "marketing-automation rate …")] = None,
    warehouse: Warehouse = DEFAULT_URL,
    as_json: AsJson = False,
    lang: Lang = "en",
):
    """Score a weighted scorecard: per metric actual, target, attainment and points; per
    dimension a score; the overall index (0–100), and a comparison of two periods.

    Default: the marketing effect index (customer value 50 % + brand value 30 % + operational
    efficiency 20 %) for the quarter the data end in (the last complete one, or the current
    one to date once it holds four weeks of data), against the quarter before. A metric
    without data is shown as "no data" and its weight goes to the other metrics of its
    dimension.
    """
    from upmarket.strategy import scorecard as sc

    card = sc.load_scorecard(file)
    supplied = sc.read_inputs(inputs) if inputs is not None else None
    unused = sorted(supplied.keys - {m.source for _, m in card.metrics}) if supplied else []
    lang = current_lang(lang)

    if card.needs_warehouse:
        from upmarket.pipeline import default_as_of
        from upmarket.warehouse import connect

        wh = connect(warehouse, create=False)
        try:
            run = _published(wh)
            # the published run's period, as the report's: the two readings must agree
            as_of = run["as_of"] if run else default_as_of(wh)
            cur = sc.parse_period(period) if period else sc.default_period(as_of)
            other = sc.parse_period(compare) if compare else cur.previous()
            if other.kind != cur.kind or other == cur:
                raise sc.BadPeriod("err.card.compare", other=other.label, kind=cur.kind,
                                   period=cur.label)
            provider = sc.CombinedMetrics(
                supplied.for_subject(cur.label) if supplied else None, sc.WarehouseMetrics(wh))
            result = sc.compare(card, provider, cur, other)
            since = sc.since_run(run, result) if run else None
        finally:
            wh.close()
        _show_comparison(result, unused, supplied, as_json, lang, since)
        return

    # a card scored only from supplied values: platforms, salespeople …
    reps = _rep_metrics(card, warehouse)
    if reps is not None:
        flat = supplied is not None and not supplied.subjects
        names = list(dict.fromkeys([
            *(supplied.subjects if supplied else []),
            *([Path(supplied.origin).stem] if flat else []),
            *(reps.names_of(r) for r in reps.reps)]))
        if period:
            wanted = period.strip()
            if wanted not in names and wanted not in reps.names.values():
                if supplied is not None:
                    _subject(sc, supplied, period)  # says which candidates the file holds
                elif not names:
                    raise sc.BadInputs("err.card.no_ratings", card=card.name, rep=wanted)
                else:
                    raise sc.BadInputs("err.card.no_tasks", rep=wanted, names=", ".join(names))
            names = [wanted]
        if names:
            provider = sc.CombinedMetrics(supplied.for_subject(names[0]) if flat else supplied,
                                          reps)
            evaluations = [sc.evaluate(card, provider, name) for name in names]
            evaluations.sort(key=lambda e: -1.0 if e.index is None else e.index, reverse=True)
            _show_evaluations(evaluations, unused, supplied, as_json, lang)
            return
    if supplied is None:
        keys = ", ".join(m.source for _, m in card.metrics)
        raise sc.BadInputs("err.card.needs_inputs", card=card.name, keys=keys)
    if not period:
        # every candidate in the file, best first
        names = supplied.subjects or [Path(supplied.origin).stem]
        provider = supplied if supplied.subjects else supplied.for_subject(names[0])
        evaluations = [sc.evaluate(card, provider, name) for name in names]
        evaluations.sort(key=lambda e: -1.0 if e.index is None else e.index, reverse=True)
        _show_evaluations(evaluations, unused, supplied, as_json, lang)
        return
    subject = _subject(sc, supplied, period)
    provider = supplied.for_subject(sc.subject_label(subject))
    if compare:
        result = sc.compare(card, provider, subject, _subject(sc, supplied, compare))
        _show_comparison(result, unused, supplied, as_json, lang)
    else:
        _show_evaluations([sc.evaluate(card, provider, subject)], unused, supplied, as_json,
                          lang)


def _rep_metrics(card, warehouse: str):
    """The rep KPIs (`strategy.rep_kpis`) when the card asks for any and a warehouse is at
    hand, with the tasks copied fresh from the operational store when one is configured, so a
    task done a minute ago counts; None otherwise."""
    from upmarket.strategy.rep_kpis import REP_METRICS

    if not {m.source for _, m in card.metrics} & set(REP_METRICS):
        return None
    from upmarket.errors import WarehouseError
    from upmarket.opstore.store import now_utc, open_store, store_configured
    from upmarket.strategy.rep_kpis import RepMetrics
    from upmarket.warehouse import connect

    try:
        wh = connect(warehouse, create=False)
    except WarehouseError:
        return None
    try:
        names: dict[str, str] = {}
        if store_configured():
            from upmarket.opstore.account_managers import managers
            from upmarket.opstore.automation import copy_tasks_to_warehouse

            store = open_store()
            try:
                copy_tasks_to_warehouse(store, wh)
                names = {m.name: m.email for m in managers(store, active_only=False)}
            finally:
                store.close()
        return RepMetrics(wh, now_utc(), names)
    finally:
        wh.close()


def _subject(sc, supplied, text: str):
    """A period when the text reads as one, else a name (a platform, a salesperson) that the
    inputs file must hold."""
    subject = sc.try_period(text) or text.strip()
    label_ = sc.subject_label(subject)
    if supplied.subjects and label_ not in supplied.subjects:
        raise sc.BadInputs("err.card.no_values", origin=supplied.origin, name=label_,
                           names=", ".join(supplied.subjects))
    return subject


def _published(wh) -> dict | None:
    """The current published run, or None before the first."""
    from upmarket.errors import NoRun
    from upmarket.warehouse.runs import current_run

    try:
        return current_run(wh)
    except NoRun:
        return None


def _show_comparison(result, unused, supplied, as_json: bool, lang: str,
                     since: dict | None = None) -> None:
    from upmarket.strategy import scorecard as sc

    card = result.current.card
    if as_json:
        out = sc.comparison_json(result)
        _note_texts(out["current"], card, lang)
        _note_texts(out["previous"], card, lang)
        out["unused_inputs"] = unused
        if since:
            out["since_run"] = {**since, "text": label("scorecard.since_run", lang, **since)}
        print(json.dumps(out, ensure_ascii=False))
        return
    _print_comparison(result, lang)
    if since:
        console.print("  • " + escape(label("scorecard.since_run", lang, **since)),
                      highlight=False)
    _print_unused(unused, supplied, lang)


def _show_evaluations(evaluations, unused, supplied, as_json: bool, lang: str) -> None:
    from upmarket.strategy import scorecard as sc

    card = evaluations[0].card
    if as_json:
        out = []
        for e in evaluations:
            d = sc.evaluation_json(e)
            _note_texts(d, card, lang)
            out.append(d)
        print(json.dumps({"card": card.name, "subjects": out, "unused_inputs": unused},
                         ensure_ascii=False))
        return
    if len(evaluations) > 1:
        _print_ranking(evaluations, lang)
    for e in evaluations:
        _print_evaluation(e, lang)
    _print_unused(unused, supplied, lang)


# -- labels --------------------------------------------------------------------------------
def _title(obj, kind: str, lang: str) -> str:
    """A card / dimension / metric title: its own (from the YAML) or the i18n table's."""
    if getattr(obj, "title", None):
        return obj.title.get(lang) or obj.title.get("en") or next(iter(obj.title.values()))
    key = getattr(obj, "name", None) or obj.key
    for k in (f"scorecard.{kind}.{key}", f"scorecard.metric.{key}", f"scorecard.dim.{key}"):
        if k in LABELS:
            return label(k, lang)
    return key


def _lookup(card):
    dims = {d.key: d for d in card.dimensions}
    metrics = {m.key: m for _, m in card.metrics}
    return dims, metrics


def note_text(card, key: str | None, args: dict, lang: str) -> str:
    if not key:
        return ""
    dims, metrics = _lookup(card)
    args = dict(args)
    if "metric" in args and args["metric"] in metrics:
        args["metric"] = _title(metrics[args["metric"]], "metric", lang)
    if "dimension" in args and args["dimension"] in dims:
        args["dimension"] = _title(dims[args["dimension"]], "dim", lang)
    if f"scorecard.status.{args.get('status')}" in LABELS:
        args["status"] = label(f"scorecard.status.{args['status']}", lang)
    k = f"scorecard.note.{key}"
    if k not in LABELS:
        return key
    return label(k, lang, **args) if args else label(k, lang)


def _note_texts(d: dict, card, lang: str) -> None:
    for m in d["metrics"]:
        m["note_text"] = note_text(card, m.get("note"), m.get("note_args") or {}, lang)
    for n in d["notes"]:
        args = {k: v for k, v in n.items() if k != "note"}
        n["text"] = note_text(card, n["note"], args, lang)


def fmt(value, unit: str, lang: str | None = None) -> str:
    from upmarket.strategy.scorecard import format_value  # lazy: keeps `upmarket --help` fast

    return format_value(value, unit, lang)


def _change(value, unit: str, lang: str | None = None) -> str:
    if value is None or not math.isfinite(value):
        return "—"
    if unit == "share":
        return f"{value * 100:+.1f} pt"
    text = fmt(abs(value), unit, lang)
    return ("+" if value >= 0 else "-") + text


def _target(row, unit: str, lang: str | None = None) -> str:
    text = row.target_text
    if isinstance(row.target, float) and math.isfinite(row.target) and \
            any(ch in text for ch in "+-−") and not text.lstrip().startswith(("<", ">", "≥",
                                                                               "≤")):
        return f"{text} → {fmt(row.target, unit, lang)}"
    if isinstance(row.target, float) and math.isfinite(row.target):
        comparator = text.rstrip("0123456789.% ").strip()
        return f"{comparator} {fmt(row.target, unit, lang)}".strip()
    return text


def _index(v) -> str:
    return "—" if v is None or not math.isfinite(v) else f"{v:.1f}"


def _delta(v) -> str:
    return "—" if v is None or not math.isfinite(v) else f"{v:+.1f}"


# -- printing ------------------------------------------------------------------------------
def _metric_cells(card, row, lang: str) -> list[str]:
    unit = row.unit
    if row.status == "ok":
        att = f"{row.attainment:.0%}" + (" ✓" if row.met else "")
        points = f"{row.points:.1f}"
    else:
        att = label(f"scorecard.status.{row.status}", lang)
        points = "—"
    return [fmt(row.actual, unit, lang), _target(row, unit, lang), att, points]


def _print_comparison(c, lang: str) -> None:
    card = c.current.card
    dims, metrics = _lookup(card)
    cur, prev = c.current, c.previous
    title = label("scorecard.title_vs", lang, card=_title(card, "card", lang),
                  period=cur.subject, compare=prev.subject)
    console.print(f"[bold]{escape(title)}[/]")
    if cur.baseline and cur.baseline != prev.subject:
        # the targets column is read against the base period, not the period shown beside it
        console.print(escape(label("scorecard.base_period", lang, base=cur.baseline,
                                   compare=prev.subject)), highlight=False, soft_wrap=True)
    changes = c.metrics.set_index(["dimension", "metric"])
    prev_rows = prev.metrics.set_index(["dimension", "metric"])
    dim_rows = cur.dimensions.set_index("dimension")
    prev_dims = prev.dimensions.set_index("dimension")
    for d in card.dimensions:
        dr, pr = dim_rows.loc[d.key], prev_dims.loc[d.key]
        title = (f"{_title(d, 'dim', lang)} · {label('scorecard.col.weight', lang)} "
                 f"{d.weight:.0%} · {label('scorecard.col.score', lang)} {_index(dr.score)} "
                 f"({prev.subject}: {_index(pr.score)})")
        # seven columns of figures within 80 characters: light borders, sources below
        t = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False,
                  collapse_padding=True)
        t.add_column(label("scorecard.col.metric", lang), ratio=1, min_width=12)
        for col in ("actual", "target", "attainment", "points"):
            t.add_column(f"{label(f'scorecard.col.{col}', lang)}", justify="right")
        t.add_column(f"{prev.subject}", justify="right", no_wrap=True)
        t.add_column(label("scorecard.col.change", lang), justify="right", no_wrap=True)
        sources = []
        for row in cur.metrics[cur.metrics["dimension"] == d.key].itertuples():
            p = prev_rows.loc[(d.key, row.metric)]
            ch = changes.loc[(d.key, row.metric)]
            name = _title(metrics[row.metric], "metric", lang)
            t.add_row(name, *_metric_cells(card, row, lang), fmt(p.actual, row.unit, lang),
                      _change(ch.change, row.unit, lang))
            note = note_text(card, row.note, row.note_args, lang)
            if note:
                sources.append(f"{name}: {note}")
        console.print(t)
        for line in sources:
            console.print(f"  [dim]{escape(line)}[/]", highlight=False)

    o = Table(title=label("scorecard.overall", lang), title_justify="left", box=box.SIMPLE_HEAD)
    o.add_column(label("scorecard.col.dimension", lang))
    o.add_column(label("scorecard.col.weight", lang), justify="right")
    o.add_column(cur.subject, justify="right")
    o.add_column(prev.subject, justify="right")
    o.add_column(label("scorecard.col.delta", lang), justify="right")
    for r in c.dimensions.itertuples():
        o.add_row(_title(dims[r.dimension], "dim", lang), f"{r.weight:.0%}", _index(r.score),
                  _index(r.compare_score), _delta(r.delta))
    o.add_row(f"[bold]{label('scorecard.overall', lang)}[/]", "100%",
              f"[bold]{_index(cur.index)}[/]", _index(prev.index), _delta(c.delta))
    console.print(o)
    _print_notes(cur, lang)
    if cur.index is not None and prev.index is not None and \
            abs(cur.coverage - prev.coverage) > 1e-9:
        console.print("  • " + label("scorecard.coverage_differs", lang, period=cur.subject,
                                     coverage=cur.coverage, compare=prev.subject,
                                     compare_coverage=prev.coverage), highlight=False)


def _print_notes(e, lang: str) -> None:
    card = e.card
    if e.index is None:
        console.print(label("scorecard.no_index", lang))
        return
    lines = [note_text(card, k, a, lang) for k, a in e.notes]
    if e.coverage < 1 - 1e-9:
        lines.append(label("scorecard.coverage", lang, coverage=e.coverage))
    if lines:
        console.print(f"[bold]{label('scorecard.notes', lang)}[/]")
        for line in lines:
            console.print(f"  • {line}", highlight=False)


def _print_evaluation(e, lang: str) -> None:
    card = e.card
    dims, metrics = _lookup(card)
    t = Table(title=label("scorecard.title", lang, card=_title(card, "card", lang),
                          period=e.subject), title_justify="left", box=box.SIMPLE_HEAD)
    t.add_column(label("scorecard.col.dimension", lang))
    t.add_column(label("scorecard.col.metric", lang))
    for col in ("actual", "target", "attainment", "points"):
        t.add_column(label(f"scorecard.col.{col}", lang), justify="right")
    dim_rows = e.dimensions.set_index("dimension")
    for d in card.dimensions:
        for i, row in enumerate(e.metrics[e.metrics["dimension"] == d.key].itertuples()):
            score = _index(dim_rows.loc[d.key].score)
            first = f"{_title(d, 'dim', lang)} ({d.weight:.0%}): {score}"
            t.add_row(first if i == 0 else "", _title(metrics[row.metric], "metric", lang),
                      *_metric_cells(card, row, lang))
    t.add_row(f"[bold]{label('scorecard.overall', lang)}[/]", "", "", "", "",
              f"[bold]{_index(e.index)}[/]")
    console.print(t)
    _print_notes(e, lang)


def _print_ranking(evaluations, lang: str) -> None:
    card = evaluations[0].card
    t = Table(title=label("scorecard.ranking", lang, card=_title(card, "card", lang),
                          n=len(evaluations)), title_justify="left", box=box.SIMPLE_HEAD)
    t.add_column(label("scorecard.col.subject", lang))
    for d in card.dimensions:
        t.add_column(f"{_title(d, 'dim', lang)} ({d.weight:.0%})", justify="right")
    t.add_column(label("scorecard.col.index", lang), justify="right")
    for e in evaluations:
        scores = e.dimensions.set_index("dimension")["score"]
        t.add_row(e.subject, *(_index(scores[d.key]) for d in card.dimensions),
                  f"[bold]{_index(e.index)}[/]")
    console.print(t)


def _print_unused(unused: list[str], supplied, lang: str) -> None:
    if unused:
        console.print(label("scorecard.unused_inputs", lang, file=Path(supplied.origin).name,
                            keys=", ".join(unused)), highlight=False)
