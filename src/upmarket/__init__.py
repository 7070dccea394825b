"""upmarket: customer value and upsell (向上营销) engine.

    import upmarket
    wh = upmarket.connect()                      # ./upmarket.duckdb by default
    upmarket.ingest("orders", "orders.csv", warehouse=wh)
    ctx = upmarket.run(wh)                       # publishes a run; ctx.results per customer
"""

from upmarket.errors import UpmarketError
from upmarket.pipeline import run
from upmarket.warehouse import connect
from upmarket.warehouse.ingest import ingest

__all__ = ["UpmarketError", "connect", "ingest", "run"]
__version__ = "0.1.0"
