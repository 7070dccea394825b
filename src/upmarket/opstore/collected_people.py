"""What the operational store knows of a person from collection alone, before any run scores
them: whether the service has seen them at all, and the traits their identify calls gave.

A person the service meets through `/v1/identify`, `/v1/track` or `/v1/consents` reaches the
warehouse only at the next copy (`upmarket collect sync` or `upmarket run`) and is scored only
by the run after; until then their profile is answered from these reads (`service.profiles`).
Each is one indexed query on the raw connection (`store._raw`), as the profile route's others.
"""

from __future__ import annotations

from typing import Any

from upmarket.opstore.store import Store, _as_dict, _raw

#: Identify calls whose traits are merged into a live profile, latest first: enough for any
#: real client (Segment sends the full trait set on every identify), bounded for a noisy one.
TRAIT_CALLS = 100


def seen(store: Store, user_id: str) -> bool:
    """True when the store holds an event of `user_id` (as userId, or an anonymousId an identify
    linked to them) or a consent of theirs."""
    rows = _raw(store, "SELECT 1 WHERE EXISTS (SELECT 1 FROM event_inbox WHERE user_id = ?) "
                "OR EXISTS (SELECT 1 FROM identities WHERE user_id = ?) "
                "OR EXISTS (SELECT 1 FROM consents WHERE customer_id = ?)",
                (user_id, user_id, user_id))
    return bool(rows)


def traits(store: Store, user_id: str) -> dict[str, Any]:
    """The person's traits as Segment defines them: each identify call's traits merged over the
    earlier ones', so a trait keeps its latest value and one sent once stays
    (https://segment.com/docs/connections/spec/identify/#traits)."""
    rows = _raw(store, "SELECT properties FROM event_inbox WHERE user_id = ? AND type = ? "
                "ORDER BY ts DESC, id DESC LIMIT ?", (user_id, "identify", TRAIT_CALLS))
    merged: dict[str, Any] = {}
    for (props,) in reversed(rows):
        merged.update(_as_dict(props))
    return merged
