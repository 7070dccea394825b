"""Child process of `test_publish_atomic`: runs the pipeline and SIGKILLs itself at a named
point of publishing, deterministically.

Imports once, then for each point read from stdin forks a process that installs the kill,
runs the pipeline with a short list of stages (the publishing machinery is what is tested, not
the models) and dies; the parent prints `<point> signal <n>` (or `exit <n>`) and waits for
the next line, so the test can inspect the warehouse and the store between two kills. The parent never opens the
warehouse: each fork opens its own, as a new `upmarket run` process would.
"""

from __future__ import annotations

import os
import signal
import sys
import traceback

import pandas as pd

from upmarket import pipeline
from upmarket.warehouse import connect
from upmarket.warehouse import runs as runs_module


def _die():
    os.kill(os.getpid(), signal.SIGKILL)


def _stage_extra(ctx):
    """A few outputs beside `results`, so publishing has several views to repoint."""
    res = ctx.results
    ctx.tables["actions"] = pd.DataFrame({"customer_id": res["customer_id"],
                                          "action": "call", "channel": "phone"})
    ctx.tables["tier_summary"] = pd.DataFrame({"tier": ["core"], "customers": [len(res)]})
    ctx.tables["kpi_history"] = pd.DataFrame({"kpi": ["repeat_rate"], "value": [0.5]})


class _KillingConnection:
    """The DuckDB connection with a SIGKILL after the `after`-th statement of the publish
    transaction (the INSERT of the runs row is the first)."""

    def __init__(self, con, after: int):
        self._con, self._after, self._n = con, after, 0

    def execute(self, *args, **kwargs):
        out = self._con.execute(*args, **kwargs)
        self._n += 1
        if self._n == self._after:
            _die()
        return out

    def __getattr__(self, name):
        return getattr(self._con, name)


def install(point: str) -> None:
    pipeline.STAGES = [s for s in pipeline.STAGES if s[0] == "features and lifetime value"]
    pipeline.STAGES.append(("extra outputs", _stage_extra))
    # the automation rules need the stages left out; they come after publishing anyway
    pipeline.run_automation = lambda *a, **k: None
    Run = runs_module.Run
    if point == "baseline":  # an output later runs do not write: its view must not outlive it
        pipeline.STAGES.append(("baseline only", lambda ctx: ctx.tables.update(
            baseline_only=pd.DataFrame({"customer_id": ctx.results["customer_id"]}))))
    elif point == "writing":  # two outputs written, the others not
        write = Run.write

        def killing_write(self, name, data):
            out = write(self, name, data)
            if len(self.outputs) == 2:
                _die()
            return out
        Run.write = killing_write
    elif point == "staged":  # the store holds this run's snapshot, not served
        stage = pipeline.stage_run_profiles

        def killing_stage(*a, **k):
            stage(*a, **k)
            _die()
        pipeline.stage_run_profiles = killing_stage
    elif point.startswith("transaction:"):  # inside the publish transaction
        after = int(point.split(":")[1])
        publish = Run.publish

        def killing_publish(self, counts=None):
            self.wh.backend.con = _KillingConnection(self.wh.backend.con, after)
            publish(self, counts)
        Run.publish = killing_publish
    elif point == "committed":  # the warehouse published, the store not yet switched
        publish = Run.publish

        def killing_publish(self, counts=None):
            publish(self, counts)
            _die()
        Run.publish = killing_publish
    elif point == "switched":  # both switched, orphans not yet dropped
        calls = []
        serve = pipeline.serve_run_profiles

        def killing_serve(*a, **k):
            out = serve(*a, **k)
            calls.append(1)
            if len(calls) == 2:
                _die()
            return out
        pipeline.serve_run_profiles = killing_serve
    elif point not in ("none", "baseline"):
        raise SystemExit(f"unknown kill point {point!r}")


def main() -> None:
    warehouse, store_url = sys.argv[1:3]
    for line in sys.stdin:
        point = line.strip()
        pid = os.fork()
        if pid == 0:
            try:
                install(point)
                pipeline.run(connect(warehouse), store_url=store_url)
            except BaseException:  # noqa: BLE001 - reported to the test, which fails on it
                traceback.print_exc()
                os._exit(1)
            os._exit(0)
        _, status = os.waitpid(pid, 0)
        how = (f"signal {os.WTERMSIG(status)}" if os.WIFSIGNALED(status)
               else f"exit {os.WEXITSTATUS(status)}")
        print(point, how, flush=True)


if __name__ == "__main__":
    main()
