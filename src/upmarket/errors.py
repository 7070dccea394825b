"""Errors a user can cause. Each says what went wrong and how to fix it; the CLI prints the
message without a traceback and exits non-zero.

An error made from a catalogue key carries the key and its fields, so it can be shown in the
reader's language::

    raise NoRun("err.no_run")                      # a label of upmarket/locale/*.po
    raise BadFile("err.file.not_found", path=p)    # its fields fill the label's {path}

`str(exc)` is the English text (logs, tests and callers that read the message keep working);
`exc.localised(lang)` is the text in `lang`. A field that is itself such an error, a `Msg`
or a `Joined` is rendered in the same language. An error made from a plain message stays
English in every language: the message is all it has.
"""

from __future__ import annotations

import re

#: What a catalogue key of an error looks like (`err.` and dotted words).
_KEY = re.compile(r"err\.[\w.]+")


class Msg:
    """A catalogue label with its fields, rendered in the reader's language when shown; used
    as a field of an error whose text is made of several labels."""

    def __init__(self, key: str, /, **fields):
        self.key, self.fields = key, fields

    def localised(self, lang: str | None = None) -> str:
        from upmarket.i18n import LABELS, current_lang

        # not i18n.label: a field may be called key or lang
        text = LABELS[self.key][current_lang(lang)]
        return text.format(**{k: _shown(v, lang) for k, v in self.fields.items()})

    def __str__(self) -> str:
        return self.localised("en")


class Joined:
    """Several texts joined by `sep`, each rendered in the reader's language when shown."""

    def __init__(self, sep: str, items):
        self.sep, self.items = sep, list(items)

    def localised(self, lang: str | None = None) -> str:
        return self.sep.join(str(_shown(item, lang)) for item in self.items)

    def __str__(self) -> str:
        return self.localised("en")


class Codes:
    """Codes listed as a user may type them: as they are in English, each by `name(code,
    lang)` in another language (a tier's name, a column's Chinese header …), which the
    commands accept too."""

    def __init__(self, codes, name):
        self.codes, self.name = [str(c) for c in codes], name

    def localised(self, lang: str | None = None) -> str:
        from upmarket.i18n import current_lang

        if current_lang(lang) == "en":
            return ", ".join(self.codes)
        return "、".join(self.name(c, lang) for c in self.codes)

    def __str__(self) -> str:
        return self.localised("en")


def _shown(value, lang):
    shown = isinstance(value, (Msg, Joined, Codes, UpmarketError))
    return value.localised(lang) if shown else value


class UpmarketError(Exception):
    """Base of every error the user can fix. Made either from a catalogue key and its fields
    (shown in the reader's language) or from a plain English message."""

    exit_code = 2

    def __init__(self, message: object = "", /, *args, **fields):
        text = message if isinstance(message, str) else None
        if text is not None and not args and _KEY.fullmatch(text):
            self.key, self.fields = text, fields
            super().__init__(Msg(text, **fields).localised("en"))
        else:
            self.key, self.fields = None, fields
            super().__init__(message, *args)

    def localised(self, lang: str | None = None) -> str:
        """The message in `lang` (English when the error was made from a plain message)."""
        if self.key is None:
            return str(self)
        return Msg(self.key, **self.fields).localised(lang)

    def __reduce__(self):
        # a worker process hands its error back pickled: keep the key and its fields
        if self.key is None or not _KEY.fullmatch(self.key):
            return super().__reduce__()
        return _rebuild, (type(self), self.key, self.fields, self.__dict__)


def told(exc: BaseException, lang: str | None = None) -> str:
    """What a page or a response shows of `exc`: its message in `lang` when it is an
    UpmarketError, else its own text."""
    return exc.localised(lang) if isinstance(exc, UpmarketError) else str(exc)


def _rebuild(cls, key, fields, state):
    exc = cls.__new__(cls)
    UpmarketError.__init__(exc, key, **fields)
    exc.__dict__.update(state)
    return exc


class UnknownTable(UpmarketError):
    def __init__(self, kind: str, known: list[str]):
        super().__init__("err.unknown_table", kind=kind,
                         known=", ".join(k.replace("_", "-") for k in known))


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
