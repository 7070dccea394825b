"""Progress for logs and pipes: one line per stage, written when the stage ends, with its time.

A live bar redraws itself in place, which a file, a pipe (`make demo | tee`) or a CI log cannot
show: there a long run would print nothing for minutes. `StageLines` takes the same calls as
the bar (`add_task`, `update`) so a command reports progress once and either shows it.
"""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console


class StageLines:
    """Prints "<stage>  <seconds> s" as each stage ends.

    `update(task, description=...)` starts a new stage and so ends the current one. A caller
    that reports a step after it has happened (`update(..., done=True)`) gets that step printed
    at once with the time since the previous report.
    """

    def __init__(self, console: Console) -> None:
        self.console = console
        self._current: str | None = None
        self._since = time.perf_counter()

    def __enter__(self) -> StageLines:
        self._since = time.perf_counter()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self._end()

    def add_task(self, description: str, **_: Any) -> int:
        self._end()
        self._current = description
        return 0

    def update(self, task: int, *, description: str | None = None, done: bool = False,
               **_: Any) -> None:
        if description is None or (description == self._current and not done):
            return
        if done:
            self._current = description
            self._end()
        else:
            self._end()
            self._current = description

    def _end(self) -> None:
        now = time.perf_counter()
        if self._current is not None:
            self.console.print(f"{self._current}  {now - self._since:.1f} s", markup=False,
                               highlight=False, soft_wrap=True)
            self.console.file.flush()
        self._current = None
        self._since = now
