"""The condition language of saved segments: `tier in ['diamond','core'] and city_tier = 1 and
clv > 500`, read into a syntax tree and compiled to an Ibis filter — never evaluated as code and
never pasted into SQL (OWASP Injection Prevention Cheat Sheet: an allow-list of fields and
operators, values passed as typed literals).

Grammar (keywords in any case)::

    condition  := or
    or         := and ('or' and)*
    and        := unary ('and' unary)*
    unary      := 'not' unary | '(' condition ')' | test
    test       := FIELD op value
                | FIELD ['not'] 'in' list
                | FIELD ['not'] 'between' value 'and' value
                | FIELD 'is' ['not'] 'null'
    op         := = | == | != | <> | < | <= | > | >=
    list       := '[' value (',' value)* ']'  |  '(' value (',' value)* ')'
    value      := number | 'text' | "text" | word

Fields are the run's per-customer results and the customer's own attributes (`FIELDS`).
Tiers, churn bands and age bands have an order, so `tier >= core` means core or diamond. As in
SQL, a missing value satisfies no comparison (test it with `is null`). `consent` is the set of
channels on which the customer's marketing consent is in force: `consent = 'email'`,
`consent in [sms, wechat]`, `consent is null` (none at all).

Input is bounded (`MAX_CHARS`, `MAX_TOKENS`, `MAX_DEPTH`, `MAX_LIST`) so a hostile condition
costs nothing to refuse. Every error names the character position and what is allowed there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

import ibis

from upmarket.errors import UpmarketError
from upmarket.features.engagement import consents_in_force
from upmarket.models.churn import BANDS
from upmarket.strategy.lifecycle import STAGES
from upmarket.strategy.segments import SEGMENTS
from upmarket.strategy.tiers import TIER_ORDER

MAX_CHARS = 2000
MAX_TOKENS = 400
MAX_DEPTH = 20
MAX_LIST = 200
#: Age bands, youngest first; the age is the run's as-of year minus the birth year.
AGE_BANDS = ("under_18", "18-24", "25-34", "35-44", "45-54", "55-64", "65+")
_AGE_EDGES = (18, 25, 35, 45, 55, 65)


class BadCondition(UpmarketError):
    """A condition that cannot be read or does not fit the fields; `position` is the 1-based
    character where the trouble starts, `key`/`fields` its label in `upmarket.i18n`."""

    def __init__(self, key: str, position: int, **fields):
        from upmarket.i18n import label

        super().__init__(label(f"condition.{key}", "en", position=position, **fields))
        self.key, self.position, self.fields = key, position, fields

    def text(self, lang: str | None = None) -> str:
        from upmarket.i18n import label

        return label(f"condition.{self.key}", lang, position=self.position, **self.fields)

    localised = text


@dataclass(frozen=True)
class Field:
    """A name the language knows: where its column comes from and how its values compare."""

    column: str
    source: str  # results, customers, derived (age, age_band), consent
    kind: str  # number, category, ordered
    #: the values a category may take, lowest first for ordered ones; None: whatever the data hold
    values: tuple[str, ...] | None = None


FIELDS: dict[str, Field] = {
    "tier": Field("tier", "results", "ordered", tuple(reversed(TIER_ORDER))),
    "rfm_segment": Field("rfm_segment", "results", "category", SEGMENTS),
    "lifecycle": Field("lifecycle_stage", "results", "category", STAGES),
    "cluster": Field("cluster", "results", "category"),
    "churn_band": Field("churn_band", "results", "ordered", tuple(b for _, b in BANDS)),
    "churn_risk": Field("churn_risk", "results", "number"),
    "clv": Field("clv", "results", "number"),
    "propensity": Field("premium_propensity", "results", "number"),
    "probability_active": Field("p_alive", "results", "number"),
    "revenue": Field("net_revenue", "results", "number"),
    "orders": Field("orders", "results", "number"),
    "recency_days": Field("recency_days", "results", "number"),
    "city_tier": Field("city_tier", "customers", "category"),
    "region": Field("region", "customers", "category"),
    "country": Field("country", "customers", "category"),
    "gender": Field("gender", "customers", "category"),
    "income_band": Field("income_band", "customers", "category"),
    "occupation": Field("occupation", "customers", "category"),
    "channel": Field("acquisition_channel", "customers", "category"),
    "age": Field("age", "derived", "number"),
    "age_band": Field("age_band", "derived", "ordered", AGE_BANDS),
    "consent": Field("consent", "consent", "category"),
}
#: Other spellings of a field (the results' own column names).
ALIASES = {"lifecycle_stage": "lifecycle", "premium_propensity": "propensity",
           "net_revenue": "revenue", "acquisition_channel": "channel"}
OPERATORS = ("=", "!=", "<", "<=", ">", ">=", "in", "not in", "between", "not between",
             "is null", "is not null")


# -- syntax tree --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Test:
    field: str
    op: str  # one of OPERATORS
    values: tuple  # one value; two for between; the list for in; none for is null
    position: int


@dataclass(frozen=True)
class Not:
    item: object


@dataclass(frozen=True)
class BoolOp:
    op: str  # and, or
    items: tuple


# -- reading ------------------------------------------------------------------------------------
_TOKEN = re.compile(r"""
    (?P<space>\s+)
  | (?P<number>[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?![\w.]))
  | (?P<string>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
  | (?P<op><=|>=|!=|<>|==|=|<|>)
  | (?P<punct>[\[\](),])
  | (?P<word>[^\W\d][\w+-]*|\d[\w+-]*)
""", re.VERBOSE | re.UNICODE)
_KEYWORDS = {"and", "or", "not", "in", "between", "is", "null"}


@dataclass(frozen=True)
class _Tok:
    kind: str  # number, string, op, punct, word, keyword, end
    text: str
    value: object
    position: int  # 1-based


def _tokens(text: str) -> list[_Tok]:
    out, i = [], 0
    while i < len(text):
        m = _TOKEN.match(text, i)
        if m is None:
            raise BadCondition("bad_character", i + 1, char=text[i])
        kind = m.lastgroup
        raw = m.group()
        if kind == "number":
            out.append(_Tok(kind, raw, float(raw) if any(c in raw for c in ".") else int(raw),
                            i + 1))
        elif kind == "string":
            body = re.sub(r"\\(.)", r"\1", raw[1:-1])
            out.append(_Tok(kind, raw, body, i + 1))
        elif kind == "op":
            out.append(_Tok(kind, raw, {"==": "=", "<>": "!="}.get(raw, raw), i + 1))
        elif kind == "word":
            low = raw.lower()
            out.append(_Tok("keyword" if low in _KEYWORDS else "word", raw,
                            low if low in _KEYWORDS else raw, i + 1))
        elif kind == "punct":
            out.append(_Tok(kind, raw, raw, i + 1))
        if len(out) > MAX_TOKENS:
            raise BadCondition("too_long_tokens", i + 1, limit=MAX_TOKENS)
        i = m.end()
    out.append(_Tok("end", "", None, len(text) + 1))
    return out


class _Parser:
    def __init__(self, text: str):
        self.toks = _tokens(text)
        self.i = 0
        self.depth = 0

    @property
    def tok(self) -> _Tok:
        return self.toks[self.i]

    def take(self) -> _Tok:
        t = self.toks[self.i]
        self.i += 1
        return t

    def keyword(self, *words: str) -> bool:
        return self.tok.kind == "keyword" and self.tok.value in words

    def expect(self, what: str, ok: bool) -> _Tok:
        if not ok:
            found = self.tok.text or label_end()
            raise BadCondition("expected", self.tok.position, expected=what, found=found)
        return self.take()

    def condition(self):
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise BadCondition("too_deep", self.tok.position, limit=MAX_DEPTH)
        items = [self.conjunction()]
        while self.keyword("or"):
            self.take()
            items.append(self.conjunction())
        self.depth -= 1
        return items[0] if len(items) == 1 else BoolOp("or", tuple(items))

    def conjunction(self):
        items = [self.unary()]
        while self.keyword("and"):
            self.take()
            items.append(self.unary())
        return items[0] if len(items) == 1 else BoolOp("and", tuple(items))

    def unary(self):
        if self.keyword("not"):
            self.take()
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise BadCondition("too_deep", self.tok.position, limit=MAX_DEPTH)
            inner = self.unary()
            self.depth -= 1
            return Not(inner)
        if self.tok.kind == "punct" and self.tok.value == "(":
            self.take()
            inner = self.condition()
            self.expect("')'", self.tok.kind == "punct" and self.tok.value == ")")
            return inner
        return self.test()

    def test(self) -> Test:
        t = self.tok
        if t.kind != "word":
            raise BadCondition("expected_field", t.position, found=t.text or label_end(),
                               fields=", ".join(FIELDS))
        self.take()
        name = ALIASES.get(t.value.lower(), t.value.lower())
        if name not in FIELDS:
            raise BadCondition("unknown_field", t.position, field=t.value,
                               fields=", ".join(FIELDS))
        if self.tok.kind == "op":
            op = self.take().value
            return Test(name, op, (self.value(),), t.position)
        negate = False
        if self.keyword("not"):
            self.take()
            negate = True
            if not self.keyword("in", "between"):
                self.expect("in or between", False)
        if self.keyword("in"):
            self.take()
            return Test(name, "not in" if negate else "in", self.values(), t.position)
        if self.keyword("between"):
            self.take()
            lo = self.value()
            self.expect("and", self.keyword("and"))
            hi = self.value()
            return Test(name, "not between" if negate else "between", (lo, hi), t.position)
        if self.keyword("is"):
            self.take()
            neg = False
            if self.keyword("not"):
                self.take()
                neg = True
            self.expect("null", self.keyword("null"))
            return Test(name, "is not null" if neg else "is null", (), t.position)
        raise BadCondition("expected_operator", self.tok.position, field=name,
                           found=self.tok.text or label_end(), operators=", ".join(OPERATORS))

    def value(self):
        t = self.tok
        if t.kind in ("number", "string", "word"):
            return self.take().value
        raise BadCondition("expected_value", t.position, found=t.text or label_end())

    def values(self) -> tuple:
        t = self.tok
        if not (t.kind == "punct" and t.value in "[("):
            raise BadCondition("expected_list", t.position, found=t.text or label_end())
        close = "]" if self.take().value == "[" else ")"
        out = [self.value()]
        while self.tok.kind == "punct" and self.tok.value == ",":
            self.take()
            out.append(self.value())
            if len(out) > MAX_LIST:
                raise BadCondition("too_many_values", self.tok.position, limit=MAX_LIST)
        self.expect(f"',' or '{close}'", self.tok.kind == "punct" and self.tok.value == close)
        return tuple(out)


def label_end() -> str:
    return "end"


def parse(text: str):
    """The syntax tree of `text`; `BadCondition` (with the position) when it cannot be read."""
    if not isinstance(text, str) or not text.strip():
        raise BadCondition("empty", 1, fields=", ".join(FIELDS))
    if len(text) > MAX_CHARS:
        raise BadCondition("too_long", MAX_CHARS + 1, limit=MAX_CHARS, length=len(text))
    p = _Parser(text)
    tree = p.condition()
    if p.tok.kind != "end":
        raise BadCondition("trailing", p.tok.position, found=p.tok.text)
    return tree


def tests_of(tree) -> list[Test]:
    """Every test in the tree, left to right."""
    if isinstance(tree, Test):
        return [tree]
    if isinstance(tree, Not):
        return tests_of(tree.item)
    return [t for item in tree.items for t in tests_of(item)]


# -- compiling ----------------------------------------------------------------------------------
def base_table(wh, results: ibis.Table, as_of: datetime, *, at: datetime | None = None,
               fields=None) -> ibis.Table:
    """One row per customer of `results` with the columns the language tests: the results'
    own, the customer's attributes (left-joined: a customer without a profile row has them
    missing) and age / age band from the birth year at the run's as-of year. `consent` is
    not a column (see `compile_condition`)."""
    keep = [f.column for f in FIELDS.values() if f.source == "results" and f.column in
            results.columns]
    base = results.select("customer_id", *keep)
    c = wh.table("customers")
    held = set(c.columns)
    attrs = {f.column: c[f.column].cast("string") for f in FIELDS.values()
             if f.source == "customers" and f.column in held and f.column != "region"}
    # a `region` column where the data have one, else the country stands for it (also row by
    # row: a customer whose region is blank is placed by the country)
    if "region" in held and "country" in held:
        attrs["region"] = c["region"].cast("string").coalesce(c["country"].cast("string"))
    elif "region" in held:
        attrs["region"] = c["region"].cast("string")
    elif "country" in held:
        attrs["region"] = c["country"].cast("string")
    age = (ibis.literal(as_of.year) - c.birth_year.cast("int64")) if "birth_year" in held \
        else ibis.null().cast("int64")
    people = c.select("customer_id", age=age, **attrs).distinct(on="customer_id", keep="first")
    band = ibis.cases(*((people.age < edge, name) for edge, name in zip(_AGE_EDGES, AGE_BANDS)),
                      else_=AGE_BANDS[-1])
    people = people.mutate(age_band=ibis.ifelse(people.age.isnull(), ibis.null().cast("string"),
                                                band))
    joined = base.left_join(people, "customer_id").select(
        base, *[col for col in people.columns if col != "customer_id"])
    return joined


def _category_value(name: str, raw, position: int, spec: Field,
                    known: set[str] | None) -> str:
    """A value of a category field as text (city_tier = 1 means the category '1'), checked
    against the field's vocabulary, or against the values in the data when `known` is given."""
    if isinstance(raw, float) and raw.is_integer():
        raw = int(raw)
    text = str(raw)
    allowed = spec.values if spec.values is not None else None
    if allowed is not None and text.lower() in allowed:
        return text.lower()
    if allowed is not None:
        raise BadCondition("unknown_value", position, field=name, value=text,
                           values=", ".join(allowed))
    if known is not None and text not in known:
        raise BadCondition("unknown_value", position, field=name, value=text,
                           values=", ".join(sorted(known)[:50]) or "—")
    return text


def _number(name: str, raw, position: int) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise BadCondition("not_a_number", position, field=name, value=raw)
    return float(raw)


def compile_condition(tree, base: ibis.Table, wh=None, *, at: datetime | None = None,
                      known: dict[str, set[str]] | None = None) -> ibis.BooleanValue:
    """The Ibis predicate of `tree` over `base` (`base_table`). `consent` tests read the
    warehouse's consents in force at `at`. With `known` (field → values in the data), values
    of open categories are checked against them, so a typo is refused rather than matching no
    one."""

    def consenting(channels: list[str] | None) -> ibis.Table:
        ok = consents_in_force(wh.table("consents"), at or datetime.now())
        ok = ok.filter(ok.granted)
        if channels is not None:
            ok = ok.filter(ok.channel.isin(channels))
        return ok.select("customer_id").distinct()

    def test(t: Test) -> ibis.BooleanValue:
        spec = FIELDS[t.field]
        if t.op in ("<", "<=", ">", ">=", "between", "not between") and spec.kind == "category":
            raise BadCondition("unordered", t.position, field=t.field, op=t.op,
                               ordered=", ".join(n for n, f in FIELDS.items()
                                                 if f.kind != "category"))
        if spec.source == "consent":
            if t.op in ("is null", "is not null"):
                hit = base.customer_id.isin(consenting(None).customer_id)
                return hit if t.op == "is not null" else ~hit
            channels = [_category_value(t.field, v, t.position, spec,
                                        (known or {}).get(t.field)) for v in t.values]
            hit = base.customer_id.isin(consenting(channels).customer_id)
            return ~hit if t.op in ("!=", "not in") else hit
        if spec.column not in base.columns:
            raise BadCondition("not_in_data", t.position, field=t.field)
        col = base[spec.column]
        if t.op == "is null":
            return col.isnull()
        if t.op == "is not null":
            return col.notnull()
        if spec.kind == "number":
            vals = [_number(t.field, v, t.position) for v in t.values]
            col = col.cast("float64")
        else:
            vals = [_category_value(t.field, v, t.position, spec, (known or {}).get(t.field))
                    for v in t.values]
        if t.op in ("in", "not in"):
            hit = col.isin(vals)
            return hit if t.op == "in" else col.notin(vals)
        if spec.kind == "ordered" and t.op not in ("=", "!="):
            # compare ranks: the set of values on the right side of the comparison
            rank = {v: i for i, v in enumerate(spec.values)}
            r = [rank[v] for v in vals]
            pick = {"<": lambda i: i < r[0], "<=": lambda i: i <= r[0],
                    ">": lambda i: i > r[0], ">=": lambda i: i >= r[0],
                    "between": lambda i: min(r) <= i <= max(r),
                    "not between": lambda i: not min(r) <= i <= max(r)}[t.op]
            chosen = [v for v, i in rank.items() if pick(i)]
            return col.isin(chosen) if chosen else col.isnull() & col.notnull()
        if t.op == "between":
            return col.between(*sorted(vals))
        if t.op == "not between":
            lo, hi = sorted(vals)
            return (col < lo) | (col > hi)
        v = vals[0]
        return {"=": col == v, "!=": col != v, "<": col < v, "<=": col <= v, ">": col > v,
                ">=": col >= v}[t.op]

    def walk(node) -> ibis.BooleanValue:
        if isinstance(node, Test):
            return test(node)
        if isinstance(node, Not):
            return ~walk(node.item)
        parts = [walk(n) for n in node.items]
        out = parts[0]
        for p in parts[1:]:
            out = (out & p) if node.op == "and" else (out | p)
        return out

    return walk(tree)


def known_values(wh, base: ibis.Table, tree) -> dict[str, set[str]]:
    """The values the data hold for each open category the tree tests (city_tier, gender,
    channel, consent …), for `compile_condition`'s check of typed values."""
    out: dict[str, set[str]] = {}
    for t in tests_of(tree):
        spec = FIELDS[t.field]
        if spec.kind != "category" or spec.values is not None or t.field in out:
            continue
        if spec.source == "consent":
            col = wh.table("consents").channel
        elif spec.column in base.columns:
            col = base[spec.column]
        else:
            continue
        vals = col.name("v").as_table().distinct().limit(MAX_LIST + 1).to_pandas()["v"]
        if len(vals) <= MAX_LIST:  # a field of many values (occupation) is not checked
            out[t.field] = {str(v) for v in vals.dropna()}
    return out
