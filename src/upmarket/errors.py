"""Errors a user can cause. Each says what went wrong and how to fix it; the CLI prints the
message without a traceback and exits non-zero."""

from __future__ import annotations


class UpmarketError(Exception):
    """Base of every error the user can fix."""

    exit_code = 2


class UnknownTable(UpmarketError):
    def __init__(self, kind: str, known: list[str]):
        super().__init__(
            f"unknown data kind {kind!r}; choose one of: {', '.join(k.replace('_', '-') for k in known)}"
        )


class BadFile(UpmarketError):
    """The file as a whole cannot be ingested (not tabular, a required column is missing, …)."""


class LimitExceeded(BadFile):
    """A file is larger in some part (columns, a cell, unzipped size…) than a reader allows."""


class MixedEncoding(BadFile):
    """A text file whose lines are in different encodings (some UTF-8, some GBK…)."""


class BadSetting(UpmarketError):
    """An environment variable holds a value upmarket cannot use."""


class BadMapping(UpmarketError):
    """A mapping file or preset is malformed."""


class WarehouseError(UpmarketError):
    """The warehouse cannot be reached or holds something unexpected."""


class NotFitted(UpmarketError):
    """A prediction was asked of a model that has not been fitted yet."""


class NoRun(UpmarketError):
    """A command needs the results of a run and there is none yet."""


class UnknownCustomer(UpmarketError):
    """A customer id that the current run has no results for."""


class UnknownSegment(UpmarketError):
    """A segment (group) name the current run does not have."""
