"""Where data lives by default, and the environment variables that say otherwise.

A module of its own, importing nothing: every command names these in its options, and
`upmarket --help` must not have to load the warehouse's or the store's libraries to print
them."""

#: The analytical warehouse (`upmarket.warehouse.connection`).
WAREHOUSE_URL = "duckdb:///./upmarket.duckdb"
WAREHOUSE_ENV = "UPMARKET_WAREHOUSE"
#: The operational store (`upmarket.opstore.store`).
STORE_URL = "sqlite:///./upmarket-ops.sqlite"
STORE_ENV = "UPMARKET_DATABASE"
#: The business policy (`upmarket.policy`): read from the working directory when present.
POLICY_FILE = "upmarket.yaml"
POLICY_ENV = "UPMARKET_CONFIG"
