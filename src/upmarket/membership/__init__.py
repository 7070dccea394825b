"""The membership programme (会员体系): `programme` defines the public levels, their rules,
points and expiry; `levels` evaluates every member's level over time; `ledger` keeps the
points; `outputs` is what a run publishes about them."""
