"""The policy file: where it is found, how it is read and checked, and how `config init`
writes it.

Found at `--config PATH`, else at the path in UPMARKET_CONFIG, else as `upmarket.yaml` in the
working directory; with none of them the engine's defaults apply. Errors name the file and the
key path at fault (`tiers.shares.diamond: must be between 0 and 1`); an unknown key is refused
with the keys allowed there and the closest one, since a misspelt key would otherwise leave the
default silently in force. The file is read with `yaml.safe_load`, which builds plain data only
(OWASP Deserialization Cheat Sheet: never let a document choose the objects it becomes).
"""

from __future__ import annotations

import difflib
import json
import os
import re
import textwrap
import types
import typing
from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import BaseModel, ValidationError

from upmarket.errors import Joined, Msg, UpmarketError
from upmarket.locations import POLICY_ENV, POLICY_FILE
from upmarket.policy.schema import Policy

#: Larger than any policy needs; a bigger file is a mistake, not a policy.
MAX_BYTES = 1_000_000


class BadPolicy(UpmarketError):
    """The policy file is missing, unreadable or holds a value the engine cannot use."""


@dataclass(frozen=True)
class LoadedPolicy:
    policy: Policy
    #: the file it came from; None: the defaults
    source: Path | None

    def record(self) -> dict:
        """What a run stores of the policy it used: its content, not its file's text, so
        comments and key order do not change a run's configuration digest."""
        return {"policy": self.policy.model_dump(mode="json")}


def find_policy(path: str | Path | None = None) -> Path | None:
    """The policy file in force: `path`, else UPMARKET_CONFIG, else ./upmarket.yaml when it
    exists; None when there is none."""
    named = path or os.environ.get(POLICY_ENV) or None
    if named:
        p = Path(named)
        if not p.is_file():
            # the command line fills --config from the variable too, so name both
            how = f"--config or {POLICY_ENV}" if path else POLICY_ENV
            raise BadPolicy("err.policy.missing", path=p, how=how)
        return p
    default = Path(POLICY_FILE)
    return default if default.is_file() else None


def load_policy(path: str | Path | None = None) -> LoadedPolicy:
    """The policy in force (see `find_policy`), checked."""
    found = find_policy(path)
    return LoadedPolicy(Policy() if found is None else read_policy(found), found)


def policy_of_run(run: dict) -> Policy:
    """The policy a published run recorded (its `runs` row, as `warehouse.runs.current_run`
    gives it), so what is computed later from that run uses the same tiers and horizons; the
    defaults for a run recorded before policies were."""
    config = run.get("config")
    recorded = json.loads(config).get("policy") if isinstance(config, str) and config else None
    return Policy.model_validate(recorded) if recorded else Policy()


def read_policy(path: str | Path) -> Policy:
    p = Path(path)
    try:
        if p.stat().st_size > MAX_BYTES:
            raise BadPolicy("err.policy.large", path=p, most=MAX_BYTES)
        text = p.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise BadPolicy("err.policy.not_utf8", path=p) from None
    except OSError as exc:
        raise BadPolicy("err.policy.unreadable", path=p, reason=exc.strerror or exc) from None
    return parse_policy(text, str(p))


def parse_policy(text: str, origin: str = POLICY_FILE) -> Policy:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = Msg("err.policy.at", line=mark.line + 1, column=mark.column + 1) if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise BadPolicy("err.policy.yaml", origin=origin, where=where, problem=problem) from None
    if data is None:
        return Policy()
    if not isinstance(data, dict):
        raise BadPolicy("err.policy.not_mapping", origin=origin,
                        sections=", ".join(Policy.model_fields), kind=type(data).__name__)
    try:
        return Policy.model_validate(_over_defaults(data, Policy().model_dump(mode="json")))
    except ValidationError as exc:
        problems = [_message(e) for e in exc.errors()]
        if len(problems) == 1:
            raise BadPolicy("err.field_reason", field=origin, reason=problems[0]) from None
        raise BadPolicy("err.policy.problems", origin=origin, n=len(problems),
                        problems=Joined("\n  ", problems)) from None


def _over_defaults(data: dict, default: dict) -> dict:
    """The file's values laid over the defaults key by key, so a section given in part (one
    tier's response time, an offer's value) keeps the defaults of the keys it leaves out."""
    out = dict(default)
    for key, value in data.items():
        if isinstance(value, dict) and isinstance(default.get(key), dict):
            out[key] = _over_defaults(value, default[key])
        else:
            out[key] = value
    return out


# -- messages -----------------------------------------------------------------------------
def _section(annotation) -> type[BaseModel] | None:
    """The model a field holds, through `X | None`."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    # a list of sections (the membership levels): its items' model
    if typing.get_origin(annotation) in (typing.Union, types.UnionType, list):
        for arg in typing.get_args(annotation):
            found = _section(arg)
            if found is not None:
                return found
    return None


def _walk(loc) -> tuple[list[str], type[BaseModel] | None, str | None]:
    """The key path of an error location (union tags dropped), and for an unknown key the
    model it was given in and the key."""
    model: type[BaseModel] | None = Policy
    path: list[str] = []
    for part in map(str, loc):
        if part.isdigit() and path:  # an item of a list: levels[2]
            path[-1] += f"[{part}]"
        elif model is None:
            path.append(part)
        elif part in model.model_fields:
            path.append(part)
            model = _section(model.model_fields[part].annotation)
        elif part != model.__name__:  # not the member of `Section | None` that was tried
            return [*path, part], model, part
    return path, None, None


def _closest(word: str, choices) -> str:
    near = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return Msg("err.policy.did_you_mean", word=near[0]) if near else ""


def _message(e: dict) -> str:
    path, model, unknown = _walk(e["loc"])
    where = ".".join(path) or Msg("err.policy.whole_file")
    kind = e["type"]
    if kind == "extra_forbidden" and model is not None:
        allowed = list(model.model_fields)
        return Msg("err.policy.unknown_key", where=where, allowed=", ".join(allowed),
                    hint=_closest(unknown or path[-1], allowed))
    if kind == "literal_error":
        allowed = re.findall(r"'([^']*)'", e.get("ctx", {}).get("expected", ""))
        given = e.get("input")
        hint = _closest(str(given), allowed) if isinstance(given, str) else ""
        return Msg("err.policy.not_allowed", where=where, given=given, hint=hint,
                    allowed=", ".join(allowed))
    if kind in ("model_type", "dict_type", "model_attributes_type"):
        inner = _section_at(path)
        keys = Msg("err.policy.with_keys", keys=", ".join(inner.model_fields)) if inner else ""
        return Msg("err.policy.not_section", where=where, keys=keys, given=e.get("input"))
    if kind == "missing":
        return Msg("err.policy.required", where=where)
    msg = str(e["msg"]).removeprefix("Value error, ").replace("Input should be", "must be")
    return Msg("err.field_reason", field=where, reason=msg)


def _section_at(path: list[str]) -> type[BaseModel] | None:
    model: type[BaseModel] | None = Policy
    for part in path:
        if model is None or part not in model.model_fields:
            return None
        model = _section(model.model_fields[part].annotation)
    return model


# -- the file config init writes ----------------------------------------------------------
HEADER = """\
# upmarket business policy. Every key is optional: a key left out keeps the default shown
# here. upmarket config validate checks the file; upmarket run and upmarket demo use it
# (from --config PATH, the UPMARKET_CONFIG variable, or upmarket.yaml in the working
# directory) and record it with each run.
"""


def _scalar(v) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    return json.dumps(v, ensure_ascii=False)  # a double-quoted YAML string


def _render(model: type[BaseModel], data: dict, indent: int, out: list[str]) -> None:
    pad = " " * indent
    for name, field in model.model_fields.items():
        value = data.get(name)
        if field.description:
            out += textwrap.wrap(field.description, width=96, initial_indent=f"{pad}# ",
                                 subsequent_indent=f"{pad}# ")
        inner = _section(field.annotation)
        if inner is not None and isinstance(value, list):
            # one line per item; its keys are described once, above the list
            for key, f in inner.model_fields.items():
                out += textwrap.wrap(f"{key}: {f.description}", width=96,
                                     initial_indent=f"{pad}#   ", subsequent_indent=f"{pad}#     ")
            out.append(f"{pad}{name}:")
            for i, item in enumerate(value):  # the path an error message gives it
                out += [f"{pad}  # {name}[{i}]",
                        f"{pad}  - {json.dumps(item, ensure_ascii=False)}"]
        elif inner is not None and isinstance(value, dict):
            out.append(f"{pad}{name}:")
            _render(inner, value, indent + 2, out)
        else:
            out.append(f"{pad}{name}: {_scalar(value)}")


def default_yaml() -> str:
    """The policy file with every default and a comment per key."""
    out: list[str] = [HEADER.rstrip("\n")]
    _render(Policy, Policy().model_dump(mode="json"), 0, out)
    return "\n".join(out) + "\n"


def changed_keys(policy: Policy) -> dict[str, tuple[object, object]]:
    """Key path → (default, value) for every value that differs from the defaults."""
    def flat(d, prefix=""):
        for k, v in d.items():
            if isinstance(v, dict):
                yield from flat(v, f"{prefix}{k}.")
            else:
                yield f"{prefix}{k}", v
    default = dict(flat(Policy().model_dump(mode="json")))
    mine = dict(flat(policy.model_dump(mode="json")))
    keys = dict.fromkeys([*default, *mine])
    return {k: (default.get(k), mine.get(k)) for k in keys if default.get(k) != mine.get(k)}
