"""How large a file's parts may be before a reader refuses it.

A reader checks these limits *before* the expensive parse (a bounded read of the header line,
the xlsx zip's central directory, Parquet metadata), so a hostile or broken file costs seconds
and a few megabytes instead of minutes and gigabytes. This follows OWASP's guidance on file
uploads and on XML/zip bombs: bound the input size, the number of items and the decompressed
size, and check them before decompressing.

Every limit has a default and an environment variable to raise (or lower) it; the error a reader
raises names the file, the limit, the value found and the variable to set.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, fields

from upmarket.errors import BadSetting, LimitExceeded

KiB = 1 << 10
MiB = 1 << 20
GiB = 1 << 30

_UNITS = {"": 1, "k": KiB, "kb": KiB, "kib": KiB, "m": MiB, "mb": MiB, "mib": MiB,
          "g": GiB, "gb": GiB, "gib": GiB}


@dataclass(frozen=True)
class Limits:
    """Per-file limits of the readers (see README, "Limits")."""

    #: Columns in a table (header fields, xlsx header cells, Parquet columns).
    max_columns: int = 1000
    #: Bytes of one cell's text.
    max_field_bytes: int = 1 * MiB
    #: Bytes of a text file's first line (the header); read with a bounded read.
    max_header_bytes: int = 1 * MiB
    #: Bytes of one record of a text file: a line, or several lines inside one quoted field.
    max_record_bytes: int = 16 * MiB
    #: Bytes an .xlsx workbook holds once unzipped (sum of its parts' declared sizes).
    max_xlsx_bytes: int = 256 * MiB
    #: Bytes a Parquet file's data holds uncompressed (from its metadata).
    max_parquet_bytes: int = 1 * GiB

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Limits:
        """The defaults, each overridden by its `UPMARKET_<NAME>` variable when set."""
        env = os.environ if environ is None else environ
        values = {}
        for f in fields(cls):
            var = env_var(f.name)
            if env.get(var, "").strip():
                values[f.name] = _parse_size(var, env[var])
        return cls(**values)


def env_var(name: str) -> str:
    return f"UPMARKET_{name.upper()}"


def _parse_size(var: str, text: str) -> int:
    m = re.fullmatch(r"\s*(\d+)\s*([a-zA-Z]*)\s*", text)
    unit = m and _UNITS.get(m.group(2).lower())
    if not m or unit is None or int(m.group(1)) <= 0:
        raise BadSetting("err.limit_setting", env=var, value=text)
    return int(m.group(1)) * unit


def exceeded(path: str, name: str, limit: int, found: str, what: str) -> LimitExceeded:
    """The error for a file over `name`; `found` says what was seen, `what` the limit in words."""
    shown = _size(limit) if name.endswith("_bytes") else f"{limit:,}"
    return LimitExceeded(
        f"{path}: {found}, over the limit of {shown} {what}. If the file is genuine, raise the "
        f"limit with the environment variable {env_var(name)} (e.g. {env_var(name)}="
        f"{limit * 4 if not name.endswith('_bytes') else _size(limit * 4).replace(' ', '')})"
    )


def human(n: int) -> str:
    """A byte count as people read it (`1.0 GiB`)."""
    for unit, size in (("GiB", GiB), ("MiB", MiB), ("KiB", KiB)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n:,} bytes"


def _size(n: int) -> str:
    for unit, size in (("GiB", GiB), ("MiB", MiB), ("KiB", KiB)):
        if n >= size and n % size == 0:
            return f"{n // size} {unit}"
    return f"{n:,} bytes"
