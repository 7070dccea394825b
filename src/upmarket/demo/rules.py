"""The demo's automation rules: the shipped rules, with the call list of the premium customers
at risk also exported for the call centre (consent-checked for the phone, ids pseudonymised),
so the demo holds actions the system carries out beside the tasks people do, as a company
that automates would; the marketing automation rate (automated tasks done ÷ all tasks) then
has something to count."""

from __future__ import annotations

from pathlib import Path

import yaml

from upmarket.activation.rules import default_rules_text, load_rules

#: the shipped rule whose customers the demo also exports, and the consent channel the export
#: is gated on (the call list is for calling them)
EXPORTED_RULE = "premium_churn_risk"
EXPORT_CHANNEL = "phone"


def write_rules(folder: Path) -> Path:
    """Write the demo's rules as the YAML file a user would pass with --rules (exports go to
    ``folder/exports``); returns its path."""
    data = yaml.safe_load(default_rules_text())
    for rule in data["rules"]:
        if rule["name"] == EXPORTED_RULE:
            rule["actions"].append({"export": {"path": str((folder / "exports").resolve()),
                                               "channel": EXPORT_CHANNEL}})
    path = folder / "rules.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    load_rules(path)  # the file must read back as the rules it was written from
    return path
