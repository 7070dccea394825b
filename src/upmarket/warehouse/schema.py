"""The canonical data model (DESIGN §3): one declaration per warehouse table.

Each table declares its columns with a type, whether ingestion requires it, and the checks a
value must pass. Ingestion validates against these declarations, the warehouse creates its
tables from them, and the generator of the synthetic world writes frames in these names, so
the data model has exactly one home.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import ibis
import ibis.expr.datatypes as dt

#: Column types understood by ingestion; each maps to one Ibis type.
IBIS_TYPES: dict[str, dt.DataType] = {
    "string": dt.string,
    "int": dt.int64,
    "float": dt.float64,
    "timestamp": dt.Timestamp(timezone=None),  # naive, always UTC
    "date": dt.date,
    "bool": dt.boolean,
    "json": dt.string,  # JSON text: portable across DuckDB, Spark and Postgres
}


@dataclass(frozen=True)
class Column:
    name: str
    type: str = "string"
    required: bool = False
    choices: tuple[str, ...] | None = None
    min: float | None = None
    max: float | None = None
    #: What a number measures, for the sane bounds ingestion holds it to (`validate.LIMITS`):
    #: "money" (prices, amounts, costs) or "quantity" (units of a product).
    unit: str | None = None
    doc: str = ""


@dataclass(frozen=True)
class Table:
    name: str
    key: tuple[str, ...]
    columns: tuple[Column, ...]
    doc: str = ""
    #: Names users type on the command line (`upmarket ingest spend FILE`).
    aliases: tuple[str, ...] = field(default_factory=tuple)

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def required(self) -> list[str]:
        return [c.name for c in self.columns if c.required]

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)

    def ibis_schema(self) -> ibis.Schema:
        return ibis.schema({c.name: IBIS_TYPES[c.type] for c in self.columns})


ORDER_STATUSES = ("paid", "cancelled", "returned")
#: What an order line is: only `product` lines are products; the rest still count as money.
LINE_KINDS = ("product", "postage", "fee", "discount", "manual", "adjustment")
PROMOTION_TYPES = (
    "time_limited", "threshold_discount", "percent_discount", "bundle", "gift", "coupon", "points",
)
COST_TYPES = ("media", "sales_team", "technical_support", "overhead")
PRICE_TIERS = ("basic", "mid", "premium")
EVENT_TYPES = ("track", "identify", "page")
TICKET_KINDS = ("complaint", "request", "delivery_delay", "question", "return")
#: What an ingested points row records: points earned outside the orders held here (a sign-up
#: bonus, a review, an earlier system), spent on a redemption, lapsed, or corrected by hand.
POINT_KINDS = ("earned", "redeemed", "expired", "adjusted")

C = Column

TABLES: dict[str, Table] = {t.name: t for t in [
    Table("customers", ("customer_id",), (
        C("customer_id", required=True),
        C("created_at", "timestamp"),
        C("country"),
        C("region", doc="the customer's region (east, CN-South …); where absent, the country "
                        "stands for it"),
        C("region_zh", doc="the Chinese name of the region (or, without one, of the country), "
                           "shown in zh output"),
        C("city_tier"), C("gender"), C("birth_year", "int", min=1900, max=2030),
        C("occupation"), C("income_band"), C("industry"), C("acquisition_channel"),
        C("name", doc="personal data: only kept when supplied, never exported by default"),
        C("email", doc="personal data"), C("phone", doc="personal data"),
    ), "One row per customer; every attribute but the id is optional."),
    Table("products", ("sku",), (
        C("sku", required=True), C("name"), C("category"), C("subcategory"),
        C("name_zh", doc="the product's Chinese name, shown in zh output"),
        C("category_zh", doc="the category's Chinese name, shown in zh output"),
        C("price", "float", min=0, unit="money"), C("cost", "float", min=0, unit="money"),
        C("price_tier", choices=PRICE_TIERS),
        C("consumable", "bool", doc="may be recommended again to a customer who owns it"),
    ), "Catalogue; price_tier is derived within category when absent."),
    Table("orders", ("order_id", "line_no"), (
        C("order_id", required=True), C("line_no", "int", required=True, min=0),
        C("customer_id", required=True), C("ts", "timestamp", required=True),
        C("sku"), C("quantity", "float", required=True, unit="quantity"),
        C("unit_price", "float", min=0, unit="money"), C("amount", "float", unit="money"),
        C("discount", "float", min=0, unit="money"), C("promotion_id"), C("currency"), C("channel"),
        C("status", choices=ORDER_STATUSES), C("line_kind", choices=LINE_KINDS),
        C("original_order_id", doc="for a cancellation or return: the order it reverses"),
        C("promised_delivery", "timestamp"), C("delivered_at", "timestamp"),
    ), "Order lines. A cancellation is a line with status cancelled, linked to its order."),
    Table("promotions", ("promotion_id",), (
        C("promotion_id", required=True), C("name"),
        C("type", required=True, choices=PROMOTION_TYPES),
        C("start", "timestamp"), C("end", "timestamp"), C("rules", "json"),
        C("threshold", "float", min=0, unit="money"), C("value", "float", min=0, unit="money"),
        C("cost_per_use", "float", min=0, unit="money"), C("channel"),
    ), "Offers; threshold/value read by type (满减: spend threshold, get value off)."),
    Table("payments", ("invoice_id",), (
        C("invoice_id", required=True), C("customer_id", required=True),
        C("amount", "float", required=True, min=0, unit="money"), C("issued", "timestamp", required=True),
        C("due", "timestamp", required=True), C("paid_at", "timestamp"), C("currency"),
    ), "Invoices for credit risk."),
    Table("service_tickets", ("ticket_id",), (
        C("ticket_id", required=True), C("customer_id", required=True),
        C("opened", "timestamp", required=True), C("first_response", "timestamp"),
        C("resolved", "timestamp"), C("kind", choices=TICKET_KINDS),
        C("satisfaction", "float", min=1, max=5), C("channel"), C("text"),
    ), "Service tickets: response times, complaints, delivery delays.", ("tickets",)),
    Table("events", ("message_id",), (
        C("message_id", required=True), C("type", required=True, choices=EVENT_TYPES),
        C("event"), C("customer_id"), C("anonymous_id"), C("ts", "timestamp", required=True),
        C("properties", "json"), C("utm_source"), C("utm_medium"), C("utm_campaign"),
        C("channel"), C("campaign_id"),
    ), "Web/app events and marketing touchpoints."),
    Table("marketing_spend", ("date", "channel", "campaign", "cost_type"), (
        C("date", "date", required=True), C("channel", required=True), C("campaign"),
        C("cost_type", required=True, choices=COST_TYPES),
        C("cost", "float", required=True, min=0, unit="money"), C("currency"),
    ), "Fully-loaded spend (the key-account strategy course): media, sales team, technical support, overhead.",
        ("spend",)),
    Table("campaigns", ("campaign_id",), (
        C("campaign_id", required=True), C("name"), C("channel"),
        C("name_zh", doc="the campaign's Chinese name, shown in zh output"),
        C("start", "timestamp"), C("end", "timestamp"), C("budget", "float", min=0, unit="money"),
        C("arms", "json"),
    ), "Campaigns and their A/B arms."),
    Table("feedback", ("id",), (
        C("id", required=True), C("customer_id"), C("ts", "timestamp", required=True),
        C("nps_score", "int", min=0, max=10), C("csat", "float", min=1, max=5),
        C("text"), C("channel"),
    ), "NPS and CSAT answers with free text."),
    Table("brand_survey", ("period", "metric"), (
        C("period", required=True), C("metric", required=True),
        C("value", "float", required=True),
    ), "Brand metrics per period: awareness, association, loyalty, …", ("brand-survey",)),
    Table("consents", ("customer_id", "purpose", "channel", "ts"), (
        C("customer_id", required=True), C("purpose", required=True),
        C("channel", required=True), C("granted", "bool", required=True),
        C("ts", "timestamp", required=True), C("source"),
    ), "Consent history per purpose and channel; the latest row per key is in force."),
    Table("members", ("customer_id",), (
        C("customer_id", required=True, doc="the member's id: the customer id of the orders"),
        C("joined_at", "timestamp", required=True),
        C("level", doc="the level the member holds in the programme the data comes from (a "
                       "level code of the policy's membership levels); kept through the grace "
                       "period"),
        C("opening_balance", "int", min=0, doc="points carried over at joined_at"),
    ), "Members of an existing programme: joined date, level and points carried over.",
        ("member",)),
    Table("points", ("id",), (
        C("id", required=True, doc="made from the row's content when absent"),
        C("customer_id", required=True), C("ts", "timestamp", required=True),
        C("kind", required=True, choices=POINT_KINDS),
        C("points", "int", required=True,
          doc="above 0 for earned, redeemed and expired; adjusted is signed (+ adds, − takes)"),
        C("reference", doc="the redemption's or correction's own id, if any"),
    ), "Points ledger rows of an existing programme (redemptions, expiries, corrections, points "
       "earned outside the orders); the orders' own points are computed, not ingested."),
    Table("truth_customers", ("customer_id",), (
        C("customer_id", required=True), C("upgrades_to_premium", "bool"),
        C("upgrade_ts", "timestamp"), C("churned", "bool"), C("churn_ts", "timestamp"),
    ), "Synthetic world only: what really happens after the demo's as-of date."),
    Table("truth_members", ("customer_id",), (
        C("customer_id", required=True), C("joined_at", "timestamp"),
        C("extra_orders", "int"), C("extra_spend_6m", "float"),
    ), "Synthetic world only: what joining the membership programme truly added per member "
       "(extra orders, and their net spend over the six calendar months from joining)."),
    Table("truth_channels", ("channel",), (
        C("channel", required=True), C("incremental_conversions", "float"),
    ), "Synthetic world only: true incremental conversions per channel."),
]}

#: Tables the system writes itself (not ingestible).
QUARANTINE = Table("quarantine", ("batch_id", "row_number"), (
    C("batch_id"), C("table"), C("source"), C("row_number", "int"), C("field"),
    C("reason"), C("raw", "json"), C("ingested_at", "timestamp"),
), "Rows that were read but not accepted, each with its reason.")

BATCHES = Table("ingest_batches", ("batch_id",), (
    C("batch_id"), C("table"), C("source"), C("sha256"), C("ingested_at", "timestamp"),
    C("rows_read", "int"), C("accepted", "int"), C("quarantined", "int"),
    C("duplicates_skipped", "int"), C("conflicts", "int"), C("updated", "int"),
    C("suppressed", "int"),
), "One row per ingestion call: rows_read = accepted + quarantined + duplicates_skipped + "
   "conflicts + suppressed (updated: how many of the accepted rows replaced a stored row; "
   "suppressed: rows of erased people, refused).")

BATCH_KEYS = Table("ingest_batch_keys", ("batch_id", "table", "key_hash"), (
    C("batch_id"), C("table"), C("key_hash"),
), "Which batch put each stored row in, so upmarket data delete --batch can take a batch "
   "back: one row per row a batch inserted or replaced, its key as a digest keyed by a secret "
   "in system_keys (not the key itself, so no customer id is copied here).")

RUNS = Table("runs", ("run_id",), (
    C("run_id"), C("as_of", "timestamp"), C("started", "timestamp"), C("finished", "timestamp"),
    C("status"), C("config_hash"), C("counts", "json"),
    C("config", "json", doc="what the run was configured with: the business policy it used "
      "(upmarket.yaml, or the defaults); config_hash is its digest"),
), "One row per finished run; a run's results are visible only once its row says published.")

SYSTEM_KEYS = Table("system_keys", ("name",), (
    C("name"), C("value"), C("created", "timestamp"),
), "Where older versions kept the pseudonymisation key; it is moved out to the key file "
   "(opstore.keyfile) and deleted from here on first use, as a key beside its data protects "
   "nothing.")

TASKS = Table("tasks", ("id",), (
    C("id", "int"), C("alert_id", "int"), C("rule"),
    C("kind", doc="task (a person's), webhook or export"),
    C("automated", "bool", doc="carried out by the system, not by a person"),
    C("customer_id"), C("tier"), C("assignee"),
    C("created", "timestamp"), C("due", "timestamp", doc="created + the tier's response time"),
    C("completed", "timestamp"),
    C("data_time", "timestamp", doc="the moment of the data the task is about (the run's as-of "
      "or the event's time); the scorecard places tasks in periods by it"),
    C("status", doc="open, done or failed"),
    C("outcome", doc="reached, not_reached or converted: what the person who did the task "
      "reported (rep KPIs)"),
), "Actions the automation rules set off, copied whole from the operational store after "
   "each run (opstore.automation.copy_tasks_to_warehouse): the scorecard's marketing-automation "
   "rate and task response times.")

SAVED_SEGMENTS = Table("saved_segments", ("name",), (
    C("name"), C("condition", doc="in the segment condition language "
                                  "(strategy.segment_conditions)"),
    C("created", "timestamp"), C("updated", "timestamp"),
), "Segments saved by name (upmarket segments create, the dashboard's segment builder): "
   "their conditions, evaluated afresh on each run's results; no customer data.")

HOLDOUT_SALT = Table("holdout_salt", ("salt",), (
    C("salt"), C("created", "timestamp"),
), "The random salt of the action control groups (activation.holdout), drawn once: the same "
   "customer stays in the same group of the same action in every run.")

ACTION_ASSIGNMENTS = Table("action_assignments", ("run_id", "source", "action", "customer_id"), (
    C("run_id"), C("decided", "timestamp", doc="the data time the action was decided for (the "
                                                  "run's as-of)"),
    C("customer_id"), C("tier"), C("action", doc="the action type (rule:<name> for a rule's)"),
    C("source", doc="nba or rule"),
    C("held_out", "bool", doc="in the control group: decided but not carried out"),
    C("holdout_share", "float"),
    C("probability", "float", doc="the response probability the next best action assumed"),
    C("conversion_gain", "float", doc="the margin it expected if the customer converts, net "
                                      "of the offer"),
    C("recorded", "timestamp"),
    C("contact_cost", "float", doc="what the contact cost, as the next best action priced it"),
    C("offer_cost", "float", doc="what its offer costs on a converting order"),
), "Every action decided, treated or held out (activation.holdout); what the next runs "
   "measure the actions' incremental effect from (strategy.action_impact).")

#: The audit log lives in the operational store (upmarket.opstore.schema.audit_log).
SYSTEM_TABLES = {t.name: t for t in (QUARANTINE, BATCHES, BATCH_KEYS, RUNS, SYSTEM_KEYS, TASKS,
                                     SAVED_SEGMENTS, HOLDOUT_SALT, ACTION_ASSIGNMENTS)}


def resolve(kind: str) -> Table:
    """The table a user means by `kind` (a table name or an alias such as `spend`)."""
    kind = kind.strip().lower().replace("_", "-")
    for t in TABLES.values():
        if kind in (t.name.replace("_", "-"), *t.aliases):
            return t
    from upmarket.errors import UnknownTable

    raise UnknownTable(kind, sorted(TABLES))
