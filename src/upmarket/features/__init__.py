"""Feature layer: Ibis expressions over warehouse tables, for any `as_of`.

Nothing here materialises data (no `.to_pandas()`): each function takes Ibis tables and returns
an Ibis expression, so the same code runs on DuckDB and on Spark.
"""
