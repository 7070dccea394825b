"""The demo's sales team: a small roster of account managers (`activation.assignment`), so the
demo's tasks carry assignees and its worklist shows a workload per person, as a company's
would after `upmarket ingest account_managers`."""

from __future__ import annotations

from pathlib import Path

#: name, e-mail, tiers, regions: two key-account managers split by city tier, one for the
#: broad base, one for customers outside mainland China.
TEAM = (
    ("李伟 Li Wei", "li.wei@example.com", "diamond;core", "1;2"),
    ("张敏 Zhang Min", "zhang.min@example.com", "diamond;core", "3;4"),
    ("王芳 Wang Fang", "wang.fang@example.com", "potential;basic", ""),
    ("Chen Jia", "chen.jia@example.com", "", "HK;TW;SG;US;JP;GB"),
)


def write_team(folder: Path) -> Path:
    """Write the roster as the CSV a user would ingest; returns its path."""
    path = folder / "account_managers.csv"
    lines = ["name,email,tiers,regions"] + [",".join(row) for row in TEAM]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
