"""Consents in force, channel responses, active hour and recent contacts."""

from __future__ import annotations

from datetime import datetime

import pandas as pd

from upmarket.features import engagement

AS_OF = datetime(2025, 6, 1)


def test_latest_consent_wins_and_later_rows_are_ignored(wh):
    wh.insert("consents", pd.DataFrame({
        "customer_id": ["a", "a", "b", "b", "c"],
        "purpose": "marketing",
        "channel": ["email", "email", "sms", "sms", "email"],
        "granted": [True, False, False, True, True],
        "ts": pd.to_datetime(["2025-01-01", "2025-03-01", "2025-01-01", "2025-07-01",
                              "2025-02-01"]),
        "source": "test",
    }))
    got = engagement.consents_in_force(wh.table("consents"), AS_OF).to_pandas()
    got = got.set_index(["customer_id", "channel"])["granted"].to_dict()
    # a withdrew; b's grant comes after as_of; c granted
    assert got == {("a", "email"): False, ("b", "sms"): False, ("c", "email"): True}


def test_responses_hours_and_contacts(wh):
    ts = pd.to_datetime(["2025-05-30 20:10", "2025-05-29 20:50", "2025-05-28 08:00",
                         "2025-05-30 20:05", "2025-05-30 20:06", "2025-01-01 09:00",
                         "2025-05-20 12:00"])
    wh.insert("events", pd.DataFrame({
        "message_id": [f"m{i}" for i in range(7)],
        "type": "track",
        "event": ["click", "click", "page_view", "ad_impression", "click", "click",
                  "ad_impression"],
        "customer_id": ["a", "a", "a", "a", "a", "a", "b"],
        "ts": ts,
        "channel": ["wechat", "email", None, "email", "email", "wechat", "search"],
    }))
    ev = wh.table("events")
    resp = engagement.channel_responses(ev, AS_OF, days=30).to_pandas()
    assert resp.set_index("channel")["responses"].to_dict() == {"wechat": 1, "email": 2}
    hours = engagement.active_hour(ev, AS_OF).to_pandas().set_index("customer_id")
    assert hours.loc["a", "active_hour"] == 20 and hours.loc["b", "active_hour"] == 12
    contacts = engagement.recent_contacts(ev, AS_OF, days=30).to_pandas().set_index("customer_id")
    # a: wechat on 30 May, email on 29 May and 30 May (impression + click = one message);
    # b's search ad is not a message sent to them
    assert contacts.loc["a", "contacts"] == 3 and "b" not in contacts.index
