"""Two runs of a small demo world, four months apart: a member who crossed a level's bars
between them is upgraded in the second run with the reason in words, one who stayed below
their level's bars past the grace period is downgraded with the reason, and both raise a task
through the shipped rules (upgrades to Gold or above: a welcome call; downgrades: a retention
call), only for members who consent to marketing and are not held out of the rule. Each run
is a real run (published, then the rules checked in the operational store) of the stages the
levels and the rules' fields come from."""

from __future__ import annotations

from datetime import datetime
from types import SimpleNamespace

import json

import pandas as pd
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from upmarket import pipeline
from upmarket.cli import app
from upmarket.membership.programme import Programme
from upmarket.opstore import store as ops
from upmarket.opstore.schema import tasks
from upmarket.warehouse import connect
from upmarket.warehouse.runs import current_run, output

FIRST, SECOND = datetime(2025, 8, 1), datetime(2025, 12, 1)
PROGRAMME = Programme()


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    from upmarket.demo.load import load_world
    from upmarket.demo.world import WorldConfig

    d = tmp_path_factory.mktemp("twoRuns")
    url, store_url = f"duckdb://{d}/w.duckdb", f"sqlite:///{d}/ops.sqlite"
    wh = connect(url)
    load_world(wh, WorldConfig(customers=150, seed=5))
    found, raised = [], []
    # the stages the programme's levels and the rules' fields come from (results with tiers
    # and consent, then membership): the models and measurement stages after them change
    # nothing here and would make up most of the test's time
    kept = [s for s in pipeline.STAGES if s[1] in (
        pipeline.stage_collected_events, pipeline.stage_features_and_value,
        pipeline.stage_churn, pipeline.stage_segments, pipeline.stage_membership)]
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(pipeline, "STAGES", kept)
        for when in (FIRST, SECOND):
            _run(wh, when, store_url, found, raised)
    assign = wh.table("action_assignments").to_pandas()
    run = current_run(wh)
    assign = assign[assign["run_id"] == run["run_id"]]
    wh.close()
    # the second run's tasks: those raised after the first run's
    second = raised[1][raised[1]["id"] > raised[0]["id"].max()] if len(raised[0]) else raised[1]
    return SimpleNamespace(first=found[0], second=found[1], tasks=second, assign=assign,
                           url=url)


def _run(wh, when, store_url, found, raised):
    pipeline.run(wh, when, store_url=store_url)
    run = current_run(wh)
    found.append({n: output(wh, n, run["run_id"]).to_pandas().drop(columns="run_id")
                  for n in ("member_levels", "results")})
    store = ops.open_store(store_url)
    try:
        with store.engine.connect() as conn:
            raised.append(pd.DataFrame(conn.execute(sa.select(
                tasks.c.id, tasks.c.rule, tasks.c.customer_id, tasks.c.title)).fetchall(),
                columns=["id", "rule", "customer_id", "title"]))
    finally:
        store.close()


def _held_out(runs, rule: str) -> set[str]:
    a = runs.assign
    return set(a.loc[(a["action"] == f"rule:{rule}") & a["held_out"].astype(bool),
                     "customer_id"])


def _moves(runs):
    rank = {c: i for i, c in enumerate(PROGRAMME.codes)}
    before = runs.first["member_levels"].set_index("customer_id")["level"].map(rank)
    now = runs.second["member_levels"].set_index("customer_id")
    step = now["level"].map(rank) - before.reindex(now.index)
    return now, step


def test_a_member_crossing_a_bar_is_upgraded_in_the_next_run_with_a_reason(runs):
    now, step = _moves(runs)
    up = now[step > 0]
    assert len(up) >= 3
    assert (up["change"] == "upgrade").all()
    # the reason names the new level and what the member did in the window
    for _, m in up.iterrows():
        level = PROGRAMME.level(m["level"])
        assert m["reason_en"].startswith(f"upgraded to {level.name}")
        assert level.name_zh in m["reason_zh"]
        assert m["spend_window"] >= level.min_spend or m["orders_window"] >= level.min_orders
    res = runs.second["results"].set_index("customer_id")
    gold_plus = up[up["level"].isin(["gold", "black_gold"])
                   & res.reindex(up.index)["marketing_consent"].astype(bool)].index
    got = set(runs.tasks.loc[runs.tasks["rule"] == "member_upgraded_gold_plus", "customer_id"])
    assert got | _held_out(runs, "member_upgraded_gold_plus") >= set(gold_plus)
    assert got <= set(now[now["change"] == "upgrade"].index)


def test_a_member_below_their_bars_past_the_grace_period_is_downgraded_with_a_task(runs):
    now, step = _moves(runs)
    down = now[step < 0]
    assert len(down) >= 3
    assert (down["change"] == "downgrade").all()
    grace = pd.Timedelta(days=PROGRAMME.grace_days)
    levels = runs.first["member_levels"].set_index("customer_id")
    for cid, m in down.iterrows():
        held = PROGRAMME.level(levels.at[cid, "level"])
        # below the old level's bars now, and the reason names the old level and the grace
        assert not held.qualifies([m["spend_window"]], [m["orders_window"]])[0]
        assert held.name in m["reason_en"] and f"{PROGRAMME.grace_days}" in m["reason_en"]
        assert held.name_zh in m["reason_zh"]
        # a member already below on the first run's date had not yet used up the grace
        since = levels.at[cid, "below_since"]
        assert pd.isna(since) or pd.Timestamp(SECOND) - pd.Timestamp(since) >= grace \
            or pd.Timestamp(FIRST) - pd.Timestamp(since) < grace
    res = runs.second["results"].set_index("customer_id")
    consent = res.reindex(down.index)["marketing_consent"].astype(bool)
    expected = set(down[consent].index)
    assert expected, "some downgraded members consent to marketing"
    got = runs.tasks[runs.tasks["rule"] == "member_downgraded"]
    assert set(got["customer_id"]) | _held_out(runs, "member_downgraded") == expected
    assert not set(got["customer_id"]) & _held_out(runs, "member_downgraded")
    # members without consent are never contacted
    assert not set(got["customer_id"]) & set(down[~consent].index)
    one = got.iloc[0]
    assert one["title"].startswith(f"Retain {one['customer_id']}: moved down to ")


def test_members_summary_tells_when_points_lapse_and_the_level_up_effect(runs):
    """The points line names the last day the soonest-lapsing points count; the level-up
    effect is a sentence, with a figure or with why there is none."""
    runner = CliRunner()
    found = json.loads(runner.invoke(app, ["members", "summary", "-w", runs.url,
                                           "--json"]).stdout)
    m = runs.second["member_levels"]
    due = pd.to_datetime(m.loc[m["points_expiring"] > 0, "expiring_at"]).min()
    assert found["points_expiring_at"] == f"{due:%Y-%m-%d}"
    last = f"{due - pd.Timedelta(days=1):%Y-%m-%d}"
    up = found["economics"]["level_up"]
    for lang, words, effect in (("en", f"expire next, after {last}", "Moving up a level"),
                                ("zh", f"（{last} 之后失效）", "升级效应")):
        shown = runner.invoke(app, ["members", "summary", "-w", runs.url, "--lang", lang],
                              env={"COLUMNS": "200"})
        assert shown.exit_code == 0, shown.output
        # the console keeps the width it had when the CLI was first imported: compare the text
        # without the line breaks a narrow console put in
        text = "".join(shown.output.split())
        assert "".join(words.split()) in text and "".join(effect.split()) in text
        if up["spend"] is None:
            assert ("notestimated" if lang == "en" else "未估计") in text
