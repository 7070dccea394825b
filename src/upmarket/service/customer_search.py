"""Finding a customer: by id (or the pseudonym exports and the dashboard show for it) for any
signed-in key, by name, phone or e-mail only for keys allowed to see personal data.

A key without that right gets no answer to a contact-detail query at all — not "no match" —
so the search cannot be used to learn whether an e-mail address or phone number belongs to a
customer (OWASP Authorization Cheat Sheet: deny by default; an empty result would still be an
answer). Only customers the current run scored are found: the customer-360 page shows a run's
results. Matches are capped at `MAX_MATCHES`, highest CLV first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import ibis

from upmarket.activation import privacy
from upmarket.service import profiles
from upmarket.warehouse.connection import Warehouse
from upmarket.warehouse.runs import current_run, output

MAX_MATCHES = 20
MAX_QUERY = 200
#: The shape of `privacy.pseudonymise`'s output.
PSEUDONYM = re.compile(r"p_[0-9a-f]{20}")
#: Fewest digits a phone query needs: fewer would match half the book.
PHONE_DIGITS = 6
#: Ids are hashed in batches of this many while a pseudonym is looked for.
SCAN_BATCH = 50_000


@dataclass
class Found:
    query: str
    #: id, pseudonym, email, phone or name; None for an empty query
    kind: str | None
    #: real customer ids, best first
    ids: list[str] = field(default_factory=list)
    #: True when the query was for contact details and the key may not search them
    refused: bool = False


def kind_of(q: str) -> str:
    """What a query looks like: a pseudonym, an e-mail address, a phone number, else an id or
    a name (both are tried, the id first)."""
    if PSEUDONYM.fullmatch(q):
        return "pseudonym"
    if "@" in q:
        return "email"
    digits = re.sub(r"\D", "", q)
    if len(digits) >= PHONE_DIGITS and re.fullmatch(r"[\d\s()+.\-]+", q):
        return "phone"
    return "id_or_name"


def resolve_pseudonym(wh: Warehouse, store_url: str | None, pseudonym: str) -> str | None:
    """The run's customer whose pseudonym is `pseudonym`, or None. Pseudonyms cannot be turned
    back (that is their point), so the run's ids are hashed under the export key in batches
    until one matches: linear in customers (about a second per million), no table of the
    mapping is kept anywhere."""
    key = profiles.read_pseudonym_key(wh, store_url)
    res = output(wh, "results", current_run(wh)["run_id"]).select("customer_id")
    for batch in res.to_pyarrow_batches(chunk_size=SCAN_BATCH):
        ids = batch.column("customer_id").to_pandas().astype(str)
        hit = ids[privacy.pseudonymise(ids, key) == pseudonym]
        if len(hit):
            return str(hit.iloc[0])
    return None


def search(wh: Warehouse, q: str, *, pii: bool, store_url: str | None = None) -> Found:
    q = (q or "").strip()[:MAX_QUERY]
    if not q:
        return Found(q, None)
    kind = kind_of(q)
    if kind == "pseudonym":
        hit = resolve_pseudonym(wh, store_url, q)
        return Found(q, kind, [hit] if hit else [])
    res = output(wh, "results", current_run(wh)["run_id"]).select("customer_id", "clv")
    if kind == "id_or_name":
        exact = res.filter(res.customer_id == q).limit(1).to_pandas()
        if not exact.empty:
            return Found(q, "id", [q])
        if not pii:
            # an id that is not there looks like a name: say which right a name search needs
            return Found(q, "id", [], refused=not _looks_like_id(q))
    elif not pii:
        return Found(q, kind, [], refused=True)
    c = wh.table("customers")
    if kind == "email":
        c = c.filter(c.email.lower().strip() == q.lower())
    elif kind == "phone":
        digits = re.sub(r"\D", "", q)
        c = c.filter(c.phone.re_replace(r"\D", "").endswith(digits))
    else:
        kind = "name"
        c = c.filter(c.name.lower().contains(q.lower()))
    hits = (res.semi_join(c.select("customer_id"), "customer_id")
            .order_by([ibis.desc("clv"), "customer_id"]).limit(MAX_MATCHES).to_pandas())
    return Found(q, kind, [str(i) for i in hits["customer_id"]])


def _looks_like_id(q: str) -> bool:
    """No space and at least one digit, as customer ids (C000042, 12346) are: a query like
    that which matches no id is reported as an unknown id, anything else as a name search the
    key may not make."""
    return " " not in q and any(ch.isdigit() for ch in q)
