"""Request and response bodies of the service (Pydantic), so that `/openapi.json` states exactly
what is accepted and returned.

The collection bodies follow the Segment HTTP Tracking API (track / identify / page / batch,
https://segment.com/docs/connections/sources/catalog/libraries/server/http-api/), which
RudderStack accepts too: camelCase names, `userId` or `anonymousId` required, unknown fields
(integrations, sentAt, …) allowed and ignored.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

#: Ids and names: non-empty, bounded, and free of NUL (PostgreSQL text cannot hold it).
Text = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^[^\x00]*$")]
#: Event timestamps outside these years are a client clock error, not a date of the business.
YEARS = (2000, 2100)


class _Event(BaseModel):
    model_config = ConfigDict(extra="allow")

    messageId: Text | None = Field(None, description="Unique per message: a retried message "
                                   "with the same id is stored once. Derived from the content "
                                   "when absent.")
    userId: Text | None = None
    anonymousId: Text | None = None
    timestamp: datetime | None = Field(None, description="When it happened (ISO 8601); "
                                       "default: when it was received. Stored as UTC.")
    context: dict[str, Any] = Field(default_factory=dict, description="Segment context; "
                                    "context.campaign carries the UTM parameters.")

    @field_validator("timestamp")
    @classmethod
    def _utc(cls, v: datetime | None) -> datetime | None:
        if v is None:
            return None
        try:
            v = v.astimezone(UTC).replace(tzinfo=None) if v.tzinfo else v
        except (OverflowError, ValueError):
            raise ValueError("timestamp out of range") from None
        if not YEARS[0] <= v.year <= YEARS[1]:
            raise ValueError(f"timestamp must be between {YEARS[0]} and {YEARS[1]}")
        return v

    @model_validator(mode="after")
    def _someone(self):
        if self.userId is None and self.anonymousId is None:
            raise ValueError("userId or anonymousId is required")
        return self


class TrackEvent(_Event):
    type: Literal["track"] = "track"
    event: Text
    properties: dict[str, Any] = Field(default_factory=dict)


class IdentifyEvent(_Event):
    type: Literal["identify"] = "identify"
    traits: dict[str, Any] = Field(default_factory=dict)


class PageEvent(_Event):
    type: Literal["page"] = "page"
    name: Text | None = None
    properties: dict[str, Any] = Field(default_factory=dict)


AnyEvent = Annotated[TrackEvent | IdentifyEvent | PageEvent, Field(discriminator="type")]


class Batch(BaseModel):
    model_config = ConfigDict(extra="allow")

    batch: list[AnyEvent] = Field(min_length=1, max_length=2500)
    context: dict[str, Any] = Field(default_factory=dict,
                                    description="Applies to every event of the batch.")


class Ack(BaseModel):
    success: bool = True
    received: int = Field(description="Events in the request.")
    stored: int = Field(description="Events new to the store (a retry stores none).")


class Problem(BaseModel):
    error: str
    fields: list[str] = Field(default_factory=list)


class ServiceLevel(BaseModel):
    service: str
    resource: str
    response_hours: float


class NextBestAction(BaseModel):
    action: str
    channel: str | None = None
    offer_type: str | None = None
    offer_value: float | None = None
    sku: str | None = None
    product_name: str | None = None
    send_hour: int | None = None
    expected_value: float | None = None
    reason: str


class Consent(BaseModel):
    channel: str
    granted: bool
    since: datetime | None = Field(None, description="When it was given or withdrawn (UTC).")


class RecentEvent(BaseModel):
    message_id: str
    type: str
    event: str | None = None
    ts: datetime


class Profile(BaseModel):
    customer_id: str
    scored: bool = Field(description="false: no run has scored this person yet; the profile "
                         "holds what the service collected (traits, events, consents) and the "
                         "run's fields are null until the next run.")
    status: Literal["scored", "not_yet_scored"]
    note: str | None = Field(None, description="What an unscored profile holds, in the "
                             "language of Accept-Language.")
    run_id: str | None = None
    as_of: datetime | None = None
    tier: str | None = None
    service_level: ServiceLevel | None = None
    rfm_segment: str | None = None
    rfm_cell: str | None = None
    lifecycle_stage: str | None = None
    clv: float | None = None
    p_alive: float | None = None
    churn_risk: float | None = None
    churn_band: str | None = None
    next_best_action: NextBestAction | None = None
    traits: dict[str, Any] = Field(default_factory=dict, description="Traits sent in identify "
                                   "calls, each at its latest value.")
    consents: list[Consent]
    recent_events: list[RecentEvent] = Field(description="Latest first, collected and "
                                             "ingested events together, each message once.")
    events_from: list[Literal["collected", "ingested"]] = Field(
        description="Where recent_events were read: collected (the service's own store), "
        "ingested (the warehouse; absent while the warehouse is busy with a run).")


class Segment(BaseModel):
    name: str = Field(description="<grouping>.<value>, e.g. rfm.champions or tier.diamond; "
                      "a saved segment (grouping saved) by its own name, e.g. tier1_top")
    grouping: str
    value: str
    label: str
    customers: int


class Segments(BaseModel):
    run_id: str
    segments: list[Segment]


class Members(BaseModel):
    segment: str
    run_id: str
    total: int = Field(description="Consenting members of the segment.")
    offset: int
    limit: int
    pseudonymised: bool
    members: list[str] = Field(description="Customer ids, or pseudonyms (p_…) unless the key "
                               "has the export scope.")
    next_offset: int | None = None


class Kpis(BaseModel):
    run_id: str
    as_of: datetime
    kpis: dict[str, float | None]


class Health(BaseModel):
    status: Literal["ok"] = "ok"


# -- consents (`/v1/consents`, service/consents.py) ---------------------------------------------
from pydantic import Discriminator, RootModel, Tag  # noqa: E402  (kept with what uses them)

#: Purposes and channels: the names the privacy gate matches exactly (`opstore.consents`).
ConsentName = Annotated[str, StringConstraints(strip_whitespace=True, to_lower=True,
                                               pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,49}$")]


class ConsentIn(BaseModel):
    """A consent given or withdrawn, for one purpose on one channel."""

    model_config = ConfigDict(extra="forbid")

    customer_id: Text
    purpose: ConsentName = Field(description="What the data may be used for, e.g. marketing.")
    channel: ConsentName = Field(description="How the customer may be reached: email, sms, "
                                 "wechat, phone, app_push, …")
    granted: bool = Field(description="true: consent given; false: withdrawn.")
    ts: datetime | None = Field(None, description="When it was given or withdrawn (ISO 8601, "
                                "stored as UTC); default and upper bound: when it is received.")
    source: Text | None = Field(None, description="Where it came from (signup form, "
                                "unsubscribe link…); default: the API key's name.")

    @field_validator("ts")
    @classmethod
    def _utc(cls, v: datetime | None) -> datetime | None:
        return _Event._utc(v)


def _one_or_many(v: Any) -> str:
    return "consents" if isinstance(v, list) else "consent"


class ConsentBody(RootModel):
    """One consent object or a list of up to 1000, stored all together or not at all. An
    error names its field as `consent.channel` or `consents.2.channel`."""

    root: Annotated[
        Annotated[ConsentIn, Tag("consent")]
        | Annotated[list[ConsentIn], Field(min_length=1, max_length=1000), Tag("consents")],
        Discriminator(_one_or_many)]

    def items(self) -> list[ConsentIn]:
        return self.root if isinstance(self.root, list) else [self.root]


class ConsentAck(BaseModel):
    success: bool = True
    received: int = Field(description="Consents in the request.")
    stored: int = Field(description="Consents new to the store (a retry stores none).")


class ConsentRecord(BaseModel):
    purpose: str
    channel: str
    granted: bool
    ts: datetime
    source: str | None = None
    pending: bool = Field(description="Recorded by the service and not yet copied to the "
                          "warehouse (it counts already).")


class ConsentInForce(BaseModel):
    purpose: str
    channel: str
    granted: bool
    since: datetime


class CustomerConsents(BaseModel):
    customer_id: str
    at: datetime = Field(description="When in_force was evaluated.")
    in_force: list[ConsentInForce] = Field(description="The latest consent per purpose and "
                                           "channel; a channel not listed has no consent.")
    history: list[ConsentRecord] = Field(description="Every consent row, oldest first.")
    sources: list[str] = Field(description="Where the history was read: opstore, warehouse.")
