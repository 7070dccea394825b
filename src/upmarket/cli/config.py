"""Commands about the business policy file: `upmarket config init`, `upmarket config validate`."""

import json
from pathlib import Path
from typing import Annotated

import typer

from upmarket.cli import AsJson, Lang, app, console, friendly
from upmarket.i18n import label
from upmarket.locations import POLICY_ENV, POLICY_FILE

#: `--config` of the commands that run the engine.
ConfigPath = Annotated[Path | None, typer.Option(
    "--config", envvar=POLICY_ENV, show_default=False,
    help=f"The business policy file (default: {POLICY_FILE} in the working directory when "
    "present, else the built-in defaults). See upmarket config init.")]

config_app = typer.Typer(
    help=f"The business policy ({POLICY_FILE}): tier shares and service levels, contact caps, "
    "offers and their costs, response rates, horizons, currency, language.",
    no_args_is_help=True, rich_markup_mode="markdown")
app.add_typer(config_app, name="config")


@config_app.command("init")
@friendly
def init(
    path: Annotated[Path, typer.Argument(help="Where to write it.")] = Path(POLICY_FILE),
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
    lang: Lang = "en",
):
    """Write the policy file with every default and a comment for each key."""
    from upmarket.policy import BadPolicy, default_yaml

    if path.exists() and not force:
        raise BadPolicy("err.policy.exists", path=path)
    path.write_text(default_yaml(), encoding="utf-8")
    console.print(label("config.written", lang, path=str(path)), highlight=False,
                  soft_wrap=True)


@config_app.command("validate")
@friendly
def validate(
    path: Annotated[Path | None, typer.Argument(
        help=f"The file to check (default: --config, {POLICY_ENV}, or ./{POLICY_FILE}).",
        show_default=False)] = None,
    config: ConfigPath = None,
    as_json: AsJson = False,
    lang: Lang = "en",
):
    """Check the policy file: every value within its bounds, no unknown key; list what differs
    from the defaults. Exits 2 with the key path of each problem."""
    from upmarket.policy import load_policy
    from upmarket.policy.file import changed_keys

    loaded = load_policy(path or config)
    changed = changed_keys(loaded.policy)
    if as_json:
        print(json.dumps({"file": str(loaded.source) if loaded.source else None, "valid": True,
                          "changed": {k: {"default": d, "value": v}
                                      for k, (d, v) in changed.items()},
                          "policy": loaded.policy.model_dump(mode="json")},
                         ensure_ascii=False))
        return
    if loaded.source is None:
        console.print(label("config.none", lang, file=POLICY_FILE), highlight=False,
                      soft_wrap=True)
        return
    key = "config.valid" if changed else "config.defaults"
    console.print(label(key, lang, path=str(loaded.source), n=len(changed)), highlight=False,
                  soft_wrap=True)
    for key, (default, value) in changed.items():
        console.print(f"  {key}: {default} → {value}", highlight=False, soft_wrap=True)
