"""The command line on conflicts and taking rows back: `upmarket ingest` shows the conflicts
it set aside and lets a corrected file win with --replace; `upmarket data delete` counts
first, deletes on --yes and is audited."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from upmarket.cli import app
from upmarket.warehouse import connect

runner = CliRunner()
COLUMNS = ["order_id", "line_no", "customer_id", "ts", "sku", "quantity", "unit_price", "amount"]


def ingest(url, path, *args):
    done = runner.invoke(app, ["ingest", "orders", str(path), "-w", url, *args])
    assert done.exit_code == 0, done.output
    return done


def test_conflicts_are_shown_and_replace_lets_the_file_win(place, tmp_path):
    path = tmp_path / "orders.csv"
    path.write_text(",".join(COLUMNS) + "\nA1,0,c1,2024-01-05,S1,2,9.5,19\n"
                    "A2,0,c1,2024-01-06,S1,1,9.5,9.5\n")
    ingest(place, path)
    path.write_text(",".join(COLUMNS) + "\nA1,0,c1,2024-01-05,S1,2,9.5,18\n"
                    "A2,0,c1,2024-01-06,S1,1,9.5,9.5\n")
    shown = ingest(place, path).output
    assert "conflicts (same key, different content; quarantined)" in shown
    assert "conflict: differs from the stored row in amount" in shown
    assert "--on-conflict update" in shown
    zh = ingest(place, path, "--lang", "zh").output
    assert "冲突（同一主键、内容不同；已隔离）" in zh
    replaced = json.loads(ingest(place, path, "--replace", "--json").stdout)
    assert (replaced["accepted"], replaced["updated"], replaced["conflicts"],
            replaced["duplicates_skipped"]) == (1, 1, 0, 1)
    wh = connect(place, create=False)
    assert wh.table("orders").filter(lambda t: t.order_id == "A1").amount.execute().tolist() == [18.0]
    wh.close()
    wrong = runner.invoke(app, ["ingest", "orders", str(path), "-w", place, "--on-conflict", "merge"])
    assert wrong.exit_code == 2 and "--on-conflict must be one of quarantine, update, keep" in wrong.output
    both = runner.invoke(app, ["ingest", "orders", str(path), "-w", place, "--replace",
                               "--on-conflict", "keep"])
    assert both.exit_code == 2


def test_data_delete_counts_first_deletes_on_yes_and_is_audited(place, tmp_path, monkeypatch):
    from upmarket.opstore.store import open_store, read_audit

    monkeypatch.setenv("UPMARKET_DATABASE", f"sqlite:///{tmp_path}/ops.sqlite")
    monkeypatch.setenv("UPMARKET_ACTOR", "analyst")
    first, second = tmp_path / "a.csv", tmp_path / "b.csv"
    first.write_text(",".join(COLUMNS) + "\nA1,0,c1,2024-01-05,S1,2,9.5,19\n"
                     "A1,1,c1,2024-01-05,S2,1,5,5\nA2,0,c2,2024-01-06,S1,1,9.5,9.5\n")
    second.write_text(",".join(COLUMNS) + "\nB1,0,c3,2024-02-05,S1,1,9.5,9.5\n"
                      "B2,0,c3,2024-02-06,S1,1,9.5,9.5\n")
    ingest(place, first)
    batch = json.loads(ingest(place, second, "--json").stdout)["batch_id"]

    dry = runner.invoke(app, ["data", "delete", "orders", "--key", "A1", "-w", place])
    assert dry.exit_code == 0, dry.output
    assert "would delete 2 row(s) from orders (order_id in A1)" in dry.output
    assert "--yes" in dry.output
    wh = connect(place, create=False)
    assert wh.count("orders") == 5
    wh.close()

    done = runner.invoke(app, ["data", "delete", "orders", "--key", "A1", "--yes", "-w", place,
                               "--json"])
    assert json.loads(done.stdout) == {"table": "orders", "asked": "order_id in A1", "rows": 2,
                                       "deleted": 2}
    by_batch = runner.invoke(app, ["data", "delete", "orders", "--batch", batch, "--yes",
                                   "-w", place, "--lang", "zh"])
    assert by_batch.exit_code == 0, by_batch.output
    assert f"已从 orders 删除 2 行（batch {batch}）" in by_batch.output
    wh = connect(place, create=False)
    assert wh.table("orders").order_id.execute().tolist() == ["A2"]
    wh.close()

    store = open_store()
    log = read_audit(store)
    store.close()
    mine = log[log.action == "delete_rows"]
    assert list(mine.subject) == ["orders: order_id in A1", f"orders: batch {batch}"]
    assert set(mine.actor) == {"analyst"}

    for args, needle in ((["data", "delete", "orders"], "--key VALUE"),
                         (["data", "delete", "orders", "--key", "A2", "--batch", batch], "not both"),
                         (["data", "delete", "customers", "--batch", batch],
                          "ingested into orders, not customers"),
                         (["data", "delete", "orders", "--batch", "nope"], "no ingestion batch")):
        wrong = runner.invoke(app, [*args, "-w", place])
        assert wrong.exit_code == 2 and needle in wrong.output, wrong.output


def test_help_shows_the_new_options_with_examples():
    shown = runner.invoke(app, ["ingest", "--help"]).output
    for needle in ("--on-conflict", "--replace", "data delete"):
        assert needle in shown
    shown = runner.invoke(app, ["data", "delete", "--help"]).output
    for needle in ("--batch", "--key", "--yes", "upmarket data delete orders --key"):
        assert needle in shown
