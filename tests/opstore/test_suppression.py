"""The suppression list on SQLite and PostgreSQL: it recognises a person by any of their
identifiers however an export spells them, holds none of them, and an erasure leaves no
dead copy of the person's rows in the store's files (VACUUM on SQLite, VACUUM FULL on
PostgreSQL, checked in the table's own file)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import sqlalchemy as sa

from upmarket.activation import erasure
from upmarket.opstore import suppression
from upmarket.opstore.consents import record_consents
from upmarket.warehouse import connect

EMAIL, PHONE, NAME = "Wen.Li@Example.cn", "+86 (138) 1234-5678", "Li Wen Zhaoming"


def test_list_recognises_every_spelling_and_holds_no_identifier(store):
    assert suppression.add(store, {"customer_id": ["CUST-NINE"], "email": [EMAIL],
                                   "phone": [PHONE], "device": ["anon-9"]}) == 4
    assert suppression.add(store, {"email": [" wen.li@example.CN "]}) == 0  # listed already
    frame = pd.DataFrame({
        "customer_id": ["CUST-NINE", "X1", "X2", "X3", "X4", "CUST-NINETY"],
        "email": [None, "WEN.LI@EXAMPLE.CN", None, None, "someone@example.cn", None],
        "phone": [None, None, "8613812345678", None, "12345", None],
        "anonymous_id": [None, None, None, "anon-9", None, None]})
    kept, n = suppression.withhold(frame, store)
    assert n == 4 and kept["customer_id"].tolist() == ["X4", "CUST-NINETY"]
    with store.engine.connect() as conn:
        held = " ".join(str(v) for r in conn.execute(sa.select(suppression.suppression))
                        for v in r).lower()
    for value in ("cust-nine", "wen.li", "example.cn", "8613812345678", "anon-9"):
        assert value not in held


def _pg_file(store, table: str) -> Path:
    with store.engine.connect() as conn:
        conn.exec_driver_sql("CHECKPOINT")  # dirty pages written to the table's file
        data = conn.exec_driver_sql("SHOW data_directory").scalar()
        rel = conn.exec_driver_sql(f"SELECT pg_relation_filepath('{table}')").scalar()
    return Path(data) / rel


def _store_bytes(store, tmp_path) -> bytes:
    if store.dialect == "postgresql":
        return _pg_file(store, "consents").read_bytes()
    path = Path(store.url.removeprefix("sqlite:///"))
    return b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal")) if p.exists())


def test_erasure_leaves_no_dead_copy_in_the_store_files(store, tmp_path):
    wh = connect(f"duckdb://{tmp_path}/w.duckdb")
    try:
        wh.insert("customers", pd.DataFrame({"customer_id": ["CUST-NINE", "C10"],
                                             "email": [EMAIL, "other@example.cn"]}))
        record_consents(store, [{"customer_id": c, "purpose": "marketing", "channel": "email",
                                 "granted": True, "source": f"{who} via web form"}
                                for c, who in (("CUST-NINE", NAME), ("C10", "Other Person"))])
        assert NAME.encode() in _store_bytes(store, tmp_path)
        report = erasure.erase_person(wh, store, "CUST-NINE")
        assert report.not_compacted == [] and report.opstore == {"consents": 1}
        assert report.listed == 2  # the id and the e-mail
        assert NAME.encode() not in _store_bytes(store, tmp_path)
        assert b"Other Person via web form" in _store_bytes(store, tmp_path)
        with store.engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT customer_id, source, granted FROM consents "
                                        "ORDER BY customer_id")).fetchall()
        assert rows[0] == ("C10", "Other Person via web form", True)
        assert rows[1][0].startswith("erased_") and rows[1][1:] == (None, False)
    finally:
        wh.close()
