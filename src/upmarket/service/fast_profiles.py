"""The profile read's short way through the service: `GET /v1/customers/{id}` answered before
routing, for the read the service is sized by (1,000 a second within 10 ms at p99).

FastAPI's dependency and parameter handling and Starlette's routing over every route cost
about as much CPU as the read itself (~0.15 ms a request, measured on this machine). This
ASGI middleware takes a well-formed read — an id of 1 to 200 characters, no query or
`events=N` within the route's bounds, at most one Authorization and one Accept-Language
header, the latter within the route's 500 characters — checks its key as the route's
`require("read")` does and hands it to the same function the route calls (`read_customer`
in `app.create_app`). Every other request, and a read whose key would be refused (401, 403,
429), goes on to FastAPI untouched, so those answers and the API's schema come from the route
alone, and no token is taken twice. Errors of the read are answered as the app's exception
handlers answer them; it sits inside `SecurityHeaders`, so its answers carry the same headers.
"""

from __future__ import annotations

import re

from upmarket.service import profiles

PREFIX = "/v1/customers/"
#: The route's bounds (`app.create_app`: CustomerId, AcceptLanguage, the events query).
MAX_ID, MAX_ACCEPT_LANGUAGE = 200, 500
_EVENTS = re.compile(rb"events=([0-9]{1,3})")


def parse(scope) -> tuple[str, str, str, int] | None:
    """(authorization, customer id, language, events) of a read this path may answer, None
    for any request it must leave to the route."""
    if scope["type"] != "http" or scope["method"] != "GET":
        return None
    path, root = scope["path"], scope.get("root_path", "")
    if root and path.startswith(root):
        path = path[len(root):]
    if not path.startswith(PREFIX):
        return None
    customer_id = path[len(PREFIX):]
    if not customer_id or len(customer_id) > MAX_ID or "/" in customer_id:
        return None
    query = scope.get("query_string", b"")
    events = profiles.RECENT_EVENTS
    if query:
        m = _EVENTS.fullmatch(query)
        if m is None:
            return None
        events = int(m.group(1))
        if not 1 <= events <= profiles.MAX_EVENTS:
            return None
    authorization = accept_language = None
    for name, value in scope["headers"]:
        name = name.lower()
        if name == b"authorization":
            if authorization is not None:
                return None
            authorization = value.decode("latin-1")
        elif name == b"accept-language":
            if accept_language is not None:
                return None
            accept_language = value.decode("latin-1")
    if authorization is None or (accept_language is not None
                                 and len(accept_language) > MAX_ACCEPT_LANGUAGE):
        return None
    return authorization, customer_id, profiles.lang_of(accept_language), events


class FastProfiles:
    """ASGI middleware: profile reads answered before routing (see the module docstring).

    `read(key, customer_id, lang, events)` makes the response; `admit(authorization)` is the
    key when the route would let the read through (its token taken), else None; `errors(exc)`
    is the app's answer to an exception, None for one left to the server."""

    def __init__(self, app, *, read, admit, errors):
        self.app, self.read, self.admit, self.errors = app, read, admit, errors

    async def __call__(self, scope, receive, send):
        parsed = parse(scope)
        key = self.admit(parsed[0]) if parsed is not None else None
        if key is None:
            return await self.app(scope, receive, send)
        _, customer_id, lang, events = parsed
        try:
            response = await self.read(key, customer_id, lang, events)
        except Exception as exc:
            response = self.errors(exc)
            if response is None:
                raise
        await response(scope, receive, send)
