"""`upmarket config init` / `config validate`, and a policy mistake stopping `upmarket run`
before the warehouse is touched (exit 2, the key path, no traceback)."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from upmarket.cli import app

runner = CliRunner()


def test_init_then_validate_then_edit(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("UPMARKET_CONFIG", raising=False)
    made = runner.invoke(app, ["config", "init"])
    assert made.exit_code == 0, made.output
    path = tmp_path / "upmarket.yaml"
    assert "Wrote upmarket.yaml" in made.stdout and "# share of customers in Diamond" in path.read_text()
    again = runner.invoke(app, ["config", "init"])
    assert again.exit_code == 2 and "--force" in again.stderr
    ok = runner.invoke(app, ["config", "validate"])
    assert ok.exit_code == 0 and "holds the defaults" in ok.stdout
    path.write_text(path.read_text().replace("diamond: 0.02", "diamond: 0.05")
                    .replace("core: 0.18", "core: 0.15"))
    out = json.loads(runner.invoke(app, ["config", "validate", "--json"]).stdout)
    assert out["changed"] == {"tiers.shares.diamond": {"default": 0.02, "value": 0.05},
                              "tiers.shares.core": {"default": 0.18, "value": 0.15}}
    zh = runner.invoke(app, ["config", "validate", "--lang", "zh"])
    assert "2 个值与默认值不同" in zh.stdout and "tiers.shares.diamond: 0.02 → 0.05" in zh.stdout


def test_a_typo_is_refused_with_its_path_and_the_allowed_keys(tmp_path):
    bad = tmp_path / "policy.yaml"
    bad.write_text("tiers:\n  shares: {diamond: 0.05, core: 0.15, potential: 0.3, basic: 0.5}\n"
                   "  service_levels:\n    diamnod: {response_hours: 2}\n")
    result = runner.invoke(app, ["config", "validate", str(bad)])
    assert result.exit_code == 2 and "Traceback" not in result.output
    message = " ".join(result.stderr.split())
    assert f"{bad}: tiers.service_levels.diamnod: unknown key; did you mean 'diamond'?" in message
    assert "(allowed here: diamond, core, potential, basic)" in message
    # the run refuses it before opening (or creating) any warehouse
    wh = tmp_path / "w.duckdb"
    run = runner.invoke(app, ["run", "-w", f"duckdb://{wh}", "--config", str(bad)])
    assert run.exit_code == 2 and "tiers.service_levels.diamnod" in run.stderr
    assert not wh.exists()
    missing = runner.invoke(app, ["run", "-w", f"duckdb://{wh}", "--config",
                                  str(tmp_path / "nope.yaml")])
    assert missing.exit_code == 2 and "no such policy file" in missing.stderr
