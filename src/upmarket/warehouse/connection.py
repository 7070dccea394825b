"""The warehouse: one Ibis connection, DuckDB file by default, any Ibis backend by URL."""

from __future__ import annotations

import os
import sys
import threading
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import parse_qsl, unquote

import ibis
import pandas as pd
import pyarrow as pa

from upmarket.errors import WarehouseError
from upmarket.locations import WAREHOUSE_ENV, WAREHOUSE_URL
from upmarket.warehouse.engine_memory import budget_engine
from upmarket.warehouse.lock import open_duckdb
from upmarket.warehouse.schema import SYSTEM_TABLES, TABLES, Table

DEFAULT_URL = WAREHOUSE_URL
ENV_VAR = WAREHOUSE_ENV


def default_url() -> str:
    return os.environ.get(ENV_VAR) or DEFAULT_URL


class Warehouse:
    """A connected warehouse with the canonical tables created.

    Everything above this layer talks to tables through Ibis expressions; only this class knows
    which backend is underneath.
    """

    def __init__(self, url: str, backend: ibis.BaseBackend):
        self.url = url
        self.backend = backend
        self._lock = threading.RLock()
        self.ensure_tables()

    # -- tables ---------------------------------------------------------------------------
    def ensure_tables(self) -> None:
        if self.backend.name == "pyspark":
            _reattach_spark_tables(self.backend)
        existing = set(self.backend.list_tables())
        for spec in (*TABLES.values(), *SYSTEM_TABLES.values()):
            if spec.name not in existing:
                self.backend.create_table(spec.name, schema=spec.ibis_schema())
            elif self.is_duckdb:
                self._add_new_columns(spec)

    def _add_new_columns(self, spec: Table) -> None:
        """A warehouse made by an earlier version gains the columns declared since (e.g. the
        batch record's `conflicts`), as nulls, so writes that name them do not fail."""
        held = set(self.backend.get_schema(spec.name).names)
        for col in spec.columns:
            if col.name not in held:
                sql_type = self.backend.compiler.type_mapper.to_string(spec.ibis_schema()[col.name])
                self.backend.con.execute(
                    f'ALTER TABLE "{spec.name}" ADD COLUMN "{col.name}" {sql_type}')

    def table(self, name: str) -> ibis.Table:
        return self.backend.table(name)

    def has_table(self, name: str) -> bool:
        return name in self.backend.list_tables()

    def count(self, name: str) -> int:
        return int(self.table(name).count().execute())

    @property
    def is_duckdb(self) -> bool:
        return self.backend.name == "duckdb"

    @property
    def supports_temp_tables(self) -> bool:
        return self.backend.name not in ("pyspark",)

    # -- writing ---------------------------------------------------------------------------
    def insert(self, name: str, data: pd.DataFrame | pa.Table | ibis.Table) -> None:
        """Append rows; frames are cast to the table's declared schema first."""
        if isinstance(data, pd.DataFrame | pa.Table):
            spec = TABLES.get(name) or SYSTEM_TABLES.get(name)
            if spec is not None:
                data = conform(data, spec)
        self.backend.insert(name, data)

    def create_table(self, name: str, data, *, overwrite: bool = False, temp: bool = False):
        """Create `name` from a frame or expression. `temp` asks for a session-scoped table;
        backends without temporary tables (Spark) get an ordinary one, which the caller drops."""
        if temp and not self.supports_temp_tables:
            temp = False
        return self.backend.create_table(name, data, overwrite=overwrite, temp=temp)

    def drop_table(self, name: str) -> None:
        self.backend.drop_table(name, force=True)

    @contextmanager
    def transaction(self):
        """All-or-nothing writes where the backend supports transactions (DuckDB, Postgres).

        Engines without transactions (Spark) fall back to plain writes; `runs.Run.publish`
        then makes the single append of its `runs` row the switch.
        """
        with self._lock:
            raw = getattr(self.backend, "con", None)
            if not self.is_duckdb or raw is None:
                yield
                return
            raw.begin()
            try:
                yield
            except BaseException:
                raw.rollback()
                raise
            else:
                raw.commit()

    def close(self) -> None:
        disconnect = getattr(self.backend, "disconnect", None)
        if disconnect:
            disconnect()


def conform(data: pd.DataFrame | pa.Table, spec: Table) -> pa.Table:
    """An Arrow table with exactly the spec's columns in order and types (missing ones null)."""
    if isinstance(data, pd.DataFrame):
        data = pa.Table.from_pandas(data, preserve_index=False)
    schema = spec.ibis_schema().to_pyarrow()
    arrays = []
    for field in schema:
        if field.name in data.column_names:
            arrays.append(data.column(field.name).cast(field.type))
        else:
            arrays.append(pa.nulls(data.num_rows, field.type))
    return pa.Table.from_arrays(arrays, schema=schema)


def connect(url: str | None = None, *, create: bool = True) -> Warehouse:
    """Open the warehouse at `url`, creating it unless `create` is False (commands that only
    read refuse a DuckDB file that does not exist rather than silently making an empty one).

    `duckdb:///path/to/file.duckdb` (default `./upmarket.duckdb`), `duckdb://` for in-memory,
    `pyspark://` for a local Spark session, or any URL `ibis.connect` understands.

    A DuckDB file that another process holds is waited for, up to `UPMARKET_LOCK_WAIT` seconds
    (default 30; `warehouse.lock`), then `WarehouseBusy` says so. Its engine may use
    `UPMARKET_ENGINE_MEMORY` (default 1 GiB; `warehouse.engine_memory`) and spills the rest
    beside the file; an in-memory warehouse keeps DuckDB's own settings.
    """
    url = url or default_url()
    try:
        if url.startswith("duckdb://"):
            path = duckdb_path(url)
            if path in ("", ":memory:"):
                backend = ibis.duckdb.connect()
            else:
                if not create and not Path(path).expanduser().exists():
                    raise WarehouseError("err.no_warehouse", path=Path(path).expanduser(),
                                         url=url, env=ENV_VAR)
                Path(path).expanduser().parent.mkdir(parents=True, exist_ok=True)
                # another process (`upmarket serve` reading, a run) may hold the file for a
                # moment: wait for it rather than fail (warehouse.lock)
                held = open_duckdb(Path(path).expanduser().absolute())
                # bounded, spilling beside the file (warehouse.engine_memory)
                backend = ibis.duckdb.from_connection(
                    budget_engine(held, Path(path).expanduser().absolute()))
            # DuckDB draws its own progress bar on stderr for long queries, through ours
            backend.raw_sql("SET enable_progress_bar = false")
        elif url.startswith("pyspark://"):
            backend = _spark(url)
        else:
            backend = ibis.connect(url)
    except WarehouseError:
        raise
    except Exception as exc:  # the backend's own message says what is wrong
        raise WarehouseError("err.warehouse_unopened", url=url, reason=exc,
                             default=DEFAULT_URL, env=ENV_VAR) from exc
    return Warehouse(url, backend)


def duckdb_path(url: str) -> str:
    """`duckdb:///./a.duckdb` and `duckdb://a.duckdb` are relative, `duckdb:///tmp/a.duckdb`
    is absolute, `duckdb://` is in memory."""
    path = url.removeprefix("duckdb://")
    if path.startswith(("/./", "/../", "/~")):
        path = path[1:]
    return path


#: Spark settings upmarket relies on: timestamps are naive UTC (DESIGN §3), and pandas/Arrow
#: frames cross the Python–JVM boundary through Arrow (fast, and time-zone exact: without it
#: PySpark converts naive datetimes with the Python process's local zone).
SPARK_DEFAULTS = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
}


def spark_conf(url: str) -> tuple[str, dict[str, str]]:
    """The master and Spark settings in a `pyspark://MASTER?key=value&...` URL.

    `pyspark://` and `pyspark://local[*]` run Spark in this process on every core,
    `pyspark://local[2]` on two; `pyspark://spark://host:7077` joins a cluster. Query
    parameters are Spark settings, e.g. `?spark.sql.shuffle.partitions=8` or
    `?spark.sql.warehouse.dir=/data/upmarket-spark` (where Spark keeps its tables; Spark's
    default is ./spark-warehouse).
    """
    rest = url.removeprefix("pyspark://")
    master, _, query = rest.partition("?")
    master = unquote(master) or "local[*]"
    if not master.startswith(("local", "spark:", "yarn", "k8s:", "mesos:")):
        raise WarehouseError("err.spark_master", master=master, url=url)
    conf = dict(SPARK_DEFAULTS)
    conf.update(parse_qsl(query, keep_blank_values=False, strict_parsing=False))
    return master, conf


def _reattach_spark_tables(backend: ibis.BaseBackend) -> None:
    """Register the table directories the Spark catalog has forgotten, over their files.

    Spark's default (in-memory) catalog forgets its tables when the session ends while their
    files stay in the warehouse directory, and Spark then refuses to create a table there again
    (LOCATION_ALREADY_EXISTS). Registering each such directory as a table over its files lets a
    local Spark warehouse keep its data from one command to the next, as a DuckDB file does.
    With a persistent metastore (Hive) the catalog remembers its tables and nothing is left over.
    """
    from ibis.backends.pyspark.datatypes import PySparkSchema

    session = backend._session
    catalog = session.catalog
    root = session._jvm.org.apache.hadoop.fs.Path(
        catalog.getDatabase(catalog.currentDatabase()).locationUri)
    fs = root.getFileSystem(session._jsc.hadoopConfiguration())
    if not fs.exists(root):
        return
    known = {t.lower() for t in backend.list_tables()}
    for status in fs.listStatus(root):
        name = status.getPath().getName()
        # `_staging_…` directories are what an interrupted ingestion left: not tables
        if not status.isDirectory() or name in known or name.startswith(("_", ".")):
            continue
        spec = TABLES.get(name) or SYSTEM_TABLES.get(name)
        schema = PySparkSchema.from_ibis(spec.ibis_schema()) if spec else None
        try:
            catalog.createTable(name, path=status.getPath().toString(), source="parquet",
                                schema=schema)
        except Exception:  # noqa: BLE001 - not a table's files (or unreadable): leave it be
            continue


def _worker_python(master: str, conf: dict[str, str]) -> None:
    """Tell Spark which Python its workers run, unless the user already has.

    Spark starts Python worker processes (to turn pandas frames into tables, for pandas UDFs)
    with `PYSPARK_PYTHON`, by default the first `python3` on the PATH: usually not the
    interpreter upmarket is installed in, so the workers fail with `No module named 'pandas'`
    (or run another Python version). On a local master the workers run on this machine, so
    this interpreter is the right one. On a cluster the executors have their own Python at a
    path this machine cannot know: there only the user's `PYSPARK_PYTHON` (or
    `spark.pyspark.python` in the URL) says which. The variables are read when the Spark
    context starts, which is why they are set here, before the session is built.
    """
    if "PYSPARK_PYTHON" not in os.environ:
        chosen = conf.get("spark.pyspark.python") or (
            sys.executable if master.startswith("local") else None)
        if chosen:
            os.environ["PYSPARK_PYTHON"] = chosen
    # the driver is this process already; the variable matters to what Spark starts from it
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON",
                          conf.get("spark.pyspark.driver.python", sys.executable))


def _spark(url: str) -> ibis.BaseBackend:
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:
        raise WarehouseError("err.spark_missing") from exc
    master, conf = spark_conf(url)
    _worker_python(master, conf)
    builder = SparkSession.builder.master(master).appName("upmarket")
    for key, value in conf.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    # getOrCreate() hands back an already running session as it is: apply what can change
    for key, value in conf.items():
        if session.conf.isModifiable(key) and session.conf.get(key, None) != value:
            session.conf.set(key, value)
    return ibis.pyspark.connect(session)
