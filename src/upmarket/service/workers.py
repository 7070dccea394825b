"""`upmarket serve --workers N`: N uvicorn worker processes behind one listening socket, all
over the same operational store and warehouse.

What the workers share, and how:

- Everything that must hold across requests lives in the operational store, which every worker
  opens: API keys and their revocation, dashboard sessions and sign-outs, consents, the event
  inbox (idempotent by message id, so two workers storing one retried message keep it once),
  the audit log, alert cooldowns and tasks. SQLite serves several processes in WAL mode, each
  writer waiting up to `store.BUSY_TIMEOUT_MS` for the lock (then 503 with Retry-After);
  PostgreSQL needs nothing more.
- Dashboard cookies and form tokens are signed with one secret made at random when `serve`
  starts and handed to every worker (`WORKER_ENV`), so a browser signed in through one worker
  is recognised by the others; a restart still signs everyone out.
- Rate limits are token buckets in process memory (`app.TokenBuckets`): each worker enforces
  `share` of the limit, so all together never allow more than `--rate` and `--burst`. A client
  on one keep-alive connection is served by one worker and so gets its share only.
- Caches (a warehouse read kept until the file changes, `WarehouseReads`) are per worker: each
  opens the warehouse once per change, read-only and briefly.
"""

from __future__ import annotations

import json
import math
import os
import secrets

#: The environment variable through which `serve` hands its settings to the workers it starts.
WORKER_ENV = "UPMARKET_SERVE_WORKER"


def share(rate: float, burst: int, workers: int) -> tuple[float, int]:
    """One worker's part of a rate limit of `rate` per second and `burst` at once, split over
    `workers` processes: the rate divided, the burst divided and rounded up (at least one
    request, or nothing could ever pass)."""
    workers = max(1, int(workers))
    return rate / workers, max(1, math.ceil(burst / workers))


def worker_settings(*, database: str, warehouse: str, max_body: int, rate: float, burst: int,
                    rules: str | None, workers: int, trust_proxy: bool,
                    secure_cookies: bool) -> str:
    """The settings every worker builds its app from (`worker_app`), as JSON for `WORKER_ENV`,
    with a new random signing secret for this start of the service."""
    return json.dumps({"database": database, "warehouse": warehouse, "max_body": max_body,
                       "rate": rate, "burst": burst, "rules": rules, "workers": workers,
                       "trust_proxy": trust_proxy, "secure_cookies": secure_cookies,
                       "secret": secrets.token_hex(32)})


def worker_app():
    """The app of one worker (uvicorn's factory, called in each worker process)."""
    from upmarket.service.app import create_app
    from upmarket.service.origin import WebSettings

    raw = os.environ.get(WORKER_ENV)
    if not raw:
        raise RuntimeError(f"{WORKER_ENV} is not set: workers are started by "
                           "upmarket serve --workers N")
    s = json.loads(raw)
    app = create_app(s["database"], s["warehouse"], max_body=s["max_body"], rate=s["rate"],
                     burst=s["burst"], rules=s["rules"], workers=s["workers"],
                     secret=bytes.fromhex(s["secret"]))
    app.state.web = WebSettings(trust_proxy=s["trust_proxy"],
                                secure_cookies=s["secure_cookies"])
    return app
