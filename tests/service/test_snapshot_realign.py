"""A run killed after the warehouse published it but before the operational store switched
its profiles snapshot leaves the store a run behind. A service that was already running
notices the new run on its next read of the warehouse and serves that run's snapshot, so its
profiles and its KPIs belong to the same run."""

from __future__ import annotations

from fastapi.testclient import TestClient

from conftest import AS_OF, actions_frame, bearer, results_frame
from upmarket.opstore import store as ops
from upmarket.service.app import create_app
from upmarket.warehouse import connect
from upmarket.warehouse.runs import Run, current_run


def publish(url: str, kpi: float) -> str:
    wh = connect(url)
    try:
        res = results_frame()
        run = Run(wh, AS_OF)
        run.write("results", res)
        run.write("actions", actions_frame(res))
        run.publish({"kpis": {"repeat_rate": kpi}})
        return run.run_id
    finally:
        wh.close()


def test_a_running_service_realigns_the_snapshot_with_the_published_run(tmp_path):
    url, store_url = f"duckdb://{tmp_path}/w.duckdb", f"sqlite:///{tmp_path}/ops.sqlite"
    first = publish(url, 0.25)
    wh = connect(url)
    ops.stage_run_profiles(wh, current_run(wh), url=store_url)
    ops.serve_run_profiles(wh, url=store_url)
    wh.close()
    app = create_app(store_url, url, rate=1000, burst=1000)
    store = app.state.store
    _, key = ops.create_key(store, "read-key", ["read"])
    with TestClient(app) as client:
        assert ops.profiles_run(store) == first
        # the next run: published in the warehouse, its snapshot written, then killed before
        # the store's switch
        second = publish(url, 0.5)
        wh = connect(url)
        ops.stage_run_profiles(wh, current_run(wh), url=store_url)
        wh.close()
        assert ops.profiles_run(store) == first
        kpis = client.get("/v1/kpis", headers=bearer(key))
        assert kpis.status_code == 200, kpis.text
        assert kpis.json()["run_id"] == second
        assert ops.profiles_run(store) == second
        profile = client.get("/v1/customers/C001", headers=bearer(key))
        assert profile.status_code == 200 and profile.json()["run_id"] == second
