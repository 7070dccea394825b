"""Exported actions respect consent (also consent withdrawn after the run), pseudonymise ids
unless personal data are asked for, and are audited."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from upmarket import pipeline
from upmarket.activation import privacy
from upmarket.activation.spreadsheet import header_text
from upmarket.cli import app
from upmarket.demo import WorldConfig
from upmarket.demo.load import load_world
from upmarket.features.engagement import consents_in_force
from upmarket.opstore.store import open_store, read_audit
from upmarket.warehouse import connect
from upmarket.warehouse.runs import output

runner = CliRunner()


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    path = tmp_path_factory.mktemp("actions") / "w.duckdb"
    url = f"duckdb://{path}"
    wh = connect(url)
    config = WorldConfig(customers=1500, seed=5)
    load_world(wh, config)
    ctx = pipeline.run(wh, config.as_of)
    wh.close()
    return url, ctx


@pytest.fixture(autouse=True)
def ops_store(tmp_path, monkeypatch):
    """Audit records go to the operational store; keep each test's in its own file."""
    monkeypatch.setenv("UPMARKET_DATABASE", f"sqlite:///{tmp_path}/ops.sqlite")


def granted_pairs(wh) -> set[tuple[str, str]]:
    c = consents_in_force(wh.table("consents"), privacy.now_utc()).to_pandas()
    c = c[c["granted"].astype(bool)]
    return set(zip(c["customer_id"], c["channel"]))


def test_run_proposes_actions_only_on_consented_channels(world):
    url, ctx = world
    actions = ctx.tables["actions"]
    assert len(actions) == len(ctx.results)
    wh = connect(url, create=False)
    try:
        ok = granted_pairs(wh)
    finally:
        wh.close()
    contact = actions[actions["action"] != "no_contact"]
    assert len(contact) > 0 and contact["action"].nunique() >= 4
    assert all((c, ch) in ok for c, ch in zip(contact["customer_id"], contact["channel"]))
    # customers with no consent at all get no contact
    nobody = set(actions["customer_id"]) - {c for c, _ in ok}
    assert nobody and set(actions[actions["customer_id"].isin(nobody)]["action"]) == {"no_contact"}


def test_export_drops_consent_withdrawn_after_the_run(world, tmp_path, monkeypatch):
    url, _ = world
    monkeypatch.setenv("UPMARKET_ACTOR", "analyst-7")
    wh = connect(url, create=False)
    actions = output(wh, "actions").to_pandas()
    contact = actions[actions["action"] != "no_contact"].head(25)
    # these customers withdraw consent for the channel their action would use, after the run
    wh.insert("consents", pd.DataFrame({
        "customer_id": contact["customer_id"], "purpose": "marketing",
        "channel": contact["channel"], "granted": False,
        "ts": privacy.now_utc().replace(microsecond=0) - pd.Timedelta(seconds=5),
        "source": "unsubscribe_link"}))
    ok = granted_pairs(wh)
    wh.close()

    out = tmp_path / "a.csv"
    r = runner.invoke(app, ["actions", "export", "--format", "csv", "--out", str(out),
                            "--with-pii", "-w", url, "--json"])
    assert r.exit_code == 0, r.output
    report = json.loads(r.stdout)
    exported = pd.read_csv(out, dtype=str)
    assert report["rows"] == len(exported) > 0
    assert report["dropped_no_consent"] >= 25
    assert not set(contact["customer_id"]) & set(exported["customer_id"])
    assert all((c, ch) in ok for c, ch in zip(exported["customer_id"], exported["channel"]))
    assert "no_contact" not in set(exported["action"])

    store = open_store()  # UPMARKET_DATABASE, set by the autouse fixture
    log = read_audit(store)
    store.close()
    mine = log[log["actor"] == "analyst-7"]
    assert list(mine["action"]) == ["export_actions_with_pii"]
    assert json.loads(mine["detail"].iloc[0])["rows"] == len(exported)


def test_default_export_is_pseudonymised_and_stable(world, tmp_path):
    url, _ = world
    files = []
    for i in range(2):
        out = tmp_path / f"p{i}.xlsx"
        r = runner.invoke(app, ["actions", "export", "--format", "xlsx", "--out", str(out),
                                "--tier", "potential", "--action", "upsell", "-w", url])
        assert r.exit_code == 0, r.output
        book = pd.read_excel(out, dtype=str)
        # the workbook's headers are labels; read them back as the columns they name
        files.append(book.rename(columns={header_text(c, "en"): c for c in
                                          ("customer_ref", "customer_id", "tier", "action",
                                           "name", "email", "phone")}))
    a, b = files
    assert len(a) > 0 and "customer_id" not in a and not {"name", "email", "phone"} & set(a)
    assert set(a["tier"]) == {"potential"} and set(a["action"]) == {"upsell"}
    assert a["customer_ref"].str.fullmatch(r"p_[0-9a-f]{20}").all()
    assert list(a["customer_ref"]) == list(b["customer_ref"])  # same key, same pseudonyms
    wh = connect(url, create=False)
    ids = set(wh.table("customers").to_pandas()["customer_id"])
    wh.close()
    assert not set(a["customer_ref"]) & ids


def test_recommend_and_list_commands(world):
    url, ctx = world
    actions = ctx.tables["actions"]
    cid = actions[actions["action"] == "upsell"]["customer_id"].iloc[0]
    r = runner.invoke(app, ["recommend", cid, "--n", "5", "-w", url, "--json"])
    assert r.exit_code == 0, r.output
    got = json.loads(r.stdout)
    assert got["next_best_action"]["action"] == "upsell"
    assert len(got["recommendations"]) == 5
    ranks = [x["rank"] for x in got["recommendations"]]
    assert ranks == sorted(ranks)
    zh = runner.invoke(app, ["recommend", cid, "-w", url, "--lang", "zh"])
    assert zh.exit_code == 0 and "向上销售" in zh.output
    too_many = runner.invoke(app, ["recommend", cid, "--n", "500", "-w", url])
    assert too_many.exit_code == 2 and "--n" in too_many.output
    unknown = runner.invoke(app, ["recommend", "nobody", "-w", url])
    assert unknown.exit_code == 2 and "nobody" in unknown.output
    listed = json.loads(runner.invoke(app, ["actions", "list", "-w", url, "--json"]).stdout)
    assert sum(r["customers"] for r in listed["actions"]) == len(actions)
    bad = runner.invoke(app, ["actions", "export", "--tier", "gold", "-w", url])
    assert bad.exit_code == 2 and "gold" in bad.output


def test_pseudonyms_depend_on_the_key():
    ids = pd.Series(["C1", "C2"])
    a = privacy.pseudonymise(ids, b"k1")
    assert a.nunique() == 2 and list(a) != list(privacy.pseudonymise(ids, b"k2"))
