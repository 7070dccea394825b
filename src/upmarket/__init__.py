"""upmarket: customer value and upsell (向上营销) engine.

The whole job, on the embedded warehouse::

    import upmarket
    wh = upmarket.connect()                      # ./upmarket.duckdb by default
    upmarket.ingest("orders", "orders.csv", warehouse=wh)
    ctx = upmarket.run(wh)                       # publishes a run; ctx.results per customer

The value models on a frame of transactions (see docs/python-api.md)::

    summary = upmarket.summary_from_transactions(df, "customer_id", "date", "amount")
    bgf = upmarket.BetaGeo().fit(summary["frequency"], summary["recency"], summary["T"])
    upmarket.plotting.probability_alive_matrix(bgf).show()
"""

from __future__ import annotations

import importlib

#: Public name -> the module that defines it. Nothing is imported until a name is used, so
#: `import upmarket` (and every CLI command's start) does not pay for pandas, Ibis or SciPy.
_EXPORTS = {
    "UpmarketError": "upmarket.errors",
    "connect": "upmarket.warehouse.connection",
    "ingest": "upmarket.warehouse.ingest",
    "run": "upmarket.pipeline",
    "summary_from_transactions": "upmarket.features.btyd",
    "BetaGeo": "upmarket.models.btyd",
    "ModifiedBetaGeo": "upmarket.models.btyd",
    "ParetoNBD": "upmarket.models.btyd",
    "BetaGeoBetaBinom": "upmarket.models.btyd",
    "ShiftedBetaGeo": "upmarket.models.btyd",
    "GammaGamma": "upmarket.models.btyd",
}
_SUBMODULES = ("plotting",)

__all__ = [*_EXPORTS, *_SUBMODULES]
__version__ = "0.1.0"


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
    elif name in _SUBMODULES:
        value = importlib.import_module(f"upmarket.{name}")
    else:
        raise AttributeError(f"module 'upmarket' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
