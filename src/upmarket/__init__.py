"""upmarket: customer value and upsell (向上营销) engine.

    import upmarket
    wh = upmarket.connect()                      # ./upmarket.duckdb by default
    upmarket.ingest("orders", "orders.csv", warehouse=wh)
    ctx = upmarket.run(wh)                       # publishes a run; ctx.results per customer
"""

from upmarket.errors import UpmarketError
from upmarket.warehouse import connect
from upmarket.warehouse.ingest import ingest

__all__ = ["UpmarketError", "connect", "ingest", "run"]
__version__ = "0.1.0"


def __getattr__(name: str):
    # the pipeline pulls in every model (scikit-learn, implicit): load it only when asked for,
    # so the service and quick commands start fast
    if name == "run":
        from upmarket.pipeline import run

        return run
    raise AttributeError(f"module 'upmarket' has no attribute {name!r}")
