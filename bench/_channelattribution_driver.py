"""Markov-chain attribution with ``ChannelAttribution`` 2.2.5 on a path table; run by
bench/attribution_vs_channelattribution.py in the separate ``.bench-venv-attribution`` (it is not a
project dependency).  Stand-alone on purpose: it imports nothing from this repository.

    python _channelattribution_driver.py PATHS.csv ORDER OUT.json

The whole script is what the benchmark times (start-up, imports, reading the CSV, the model,
writing the result), as a user's script calling ``markov_model`` would run; it is the counterpart
of the command ``upmarket attribution --paths PATHS.csv --model markov --order ORDER --json``.
``markov_model`` runs with its defaults (simulation-based removal effects: 100,000 simulated
walks to start with, more until the attributions move less than 5 % between folds; one thread;
seed 0), given the conversion value and the non-converting paths like ours; only its progress
messages and banner are turned off.
"""

from __future__ import annotations

import json
import sys


def main(csv_path: str, order: int, out_path: str) -> None:
    import pandas as pd
    from ChannelAttribution import markov_model

    data = pd.read_csv(csv_path)
    res = markov_model(data, "path", "total_conversions", var_value="total_conversion_value",
                       var_null="total_null", order=order, sep=">", verbose=False, flg_pro=False)
    out = {str(r.channel_name): {"conversions": float(r.total_conversions),
                                 "value": float(r.total_conversion_value)}
           for r in res.itertuples()}
    with open(out_path, "w", encoding="utf-8") as f:
        json.dump({"channels": out, "versions": _versions()}, f)


def _versions() -> dict[str, str]:
    from importlib.metadata import version

    out = {name: version(name) for name in ("ChannelAttribution", "numpy", "pandas")}
    out["python"] = sys.version.split()[0]
    return out


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3])
