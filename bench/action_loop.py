"""Action impact at the default 10 % holdout: the simulated learning loop (`demo.action_loop`)
on the btyd demo world, every action type offered (upsell and bundles from the pipeline's
premium propensity, recommendations and association rules), against the world's true effects
(`demo.world.truth_action_effect`).

Each replicate is a world (its own random stream) with its own holdout salt, run for
`CYCLES` 30-day decide → respond → measure cycles (``--cycles``) with 10 % of every action
type and tier held out (more while an action is explored: its new customers until 100 are
held out, at most 50 %, `activation.holdout.hold_out_exploring`; more while it is measuring:
up to 50 % until its control group reaches ``target_held_out``), twice on identical worlds,
both measured with CUPED (Deng et al. 2013, small tiers pooled) and judged by the futility
rule (`strategy.action_feedback`: switched off when the always-valid test shows harm or the
one-sided always-valid upper bound lies below the effect at which the action pays): once with
each action's chance of a wrong switch-off held at 5 % (``futility_error="per_action"``, the
default), once with Holm's correction over the actions read (``"family"``). The decisions are
read after each of `AT` cycles of the same runs (the loop's state after four cycles of an
eight-cycle run is that of a four-cycle run). Reported, over all replicates and per action
type, with 95 % Wilson intervals over the replicates:

* **coverage** — share of the 95 % intervals (all tiers) that hold the true effect;
* **decided correctly** — the loop leaves an action on when it truly helps and turns it off
  (learned response scale 0) when it truly does nothing or harms;
* **still chosen next** — share of replicates in which the loop would still choose it.

Not a speed benchmark: ``customers`` is ignored (the world's size is fixed here so the section
is comparable from run to run); ``--quick`` runs fewer replicates.
"""

from __future__ import annotations

import tempfile
import time

import numpy as np
import pandas as pd

from . import command, machine_info, today, update_section

NAME = "action_loop"
DESCRIPTION = ("action impact at a 10 % holdout: coverage and on/off decisions per action type "
               "after 4, 6 and 8 cycles, the futility rule's error held per action vs over the "
               "family (Holm)")

CUSTOMERS = 3_000
YEARS = 1.0
CYCLES = 8
#: after how many cycles the decisions are read (each at most `CYCLES`)
AT = (4, 6, 8)
SHARE = 0.10
REPLICATES = 12
QUICK_REPLICATES = 3


def variants():
    """(impact settings, feedback settings) of each way compared: the futility rule with each
    action's false switch-off held at alpha, and with Holm over the actions read."""
    from upmarket.strategy.action_feedback import FeedbackSettings
    from upmarket.strategy.action_impact import ImpactSettings

    return {"per action (each action's false switch-off at most 5 %)":
            (ImpactSettings(), FeedbackSettings()),
            "family (Holm: any false switch-off at most 5 %)":
            (ImpactSettings(), FeedbackSettings(futility_error="family"))}


def replicate(k: int, way, cycles: int = CYCLES) -> pd.DataFrame:
    """One world and salt, one way of measuring: per measured action type (all tiers) the
    truth, the interval, whether it covers, and whether the on/off decision is right after
    each of `AT` cycles (columns ``off_4``, ``correct_4``, ``chosen_4`` …)."""
    from upmarket.activation.holdout import HoldoutSettings
    from upmarket.demo import action_loop
    from upmarket.demo.world import WorldConfig, generate_world, truth_action_effect
    from upmarket.warehouse import connect

    cfg = WorldConfig(CUSTOMERS, k, years=YEARS)
    with tempfile.TemporaryDirectory() as tmp:
        wh = connect(f"duckdb://{tmp}/w.duckdb")
        for table, frame in generate_world(cfg):
            wh.insert(table, frame)
        wh.insert("holdout_salt", pd.DataFrame({"salt": [f"bench-{k}"],
                                                "created": [pd.Timestamp("2025-01-01")]}))
        report = action_loop.run_cycles(wh, cfg.as_of, cycles,
                                        holdout_settings=HoldoutSettings(share=SHARE),
                                        random_state=k, impact=way[0], feedback=way[1])
        wh.close()
    t = report.against_truth()
    e = report.effects[report.effects["tier"] == "all"].set_index("action")
    t["width"] = t["conversion_high"] - t["conversion_low"]
    t["variance_reduction"] = t["action"].map(e["conversion_variance_reduction"])
    # off: the next best action gives it no weight any more, switched off or with a
    # posterior effect of zero or less (`strategy.action_feedback`)
    scale = report.learned.set_index("action")["response_scale"]
    truth = truth_action_effect().set_index("action")["incremental_conversion"]
    t["off"] = t["action"].map(scale) <= 0
    # the effect at which the action pays (contact and offer cost against its margin)
    t["worthwhile"] = t["action"].map(report.learned.set_index("action")["worthwhile"])
    t["status"] = t["action"].map(report.learned.set_index("action")["status"])
    t["chosen"] = t["action"].map(report.next_choice).fillna(0) > 0
    t["correct"] = t["off"] == (t["action"].map(truth) <= 0)
    for c in (c for c in AT if c <= cycles):
        # what the loop knew when it decided after c cycles: the next cycle's decision
        if c < cycles:
            state = report.cycles[c]["learned"]
            chosen = report.cycles[c]["actions"]
        else:
            state = {a: {"response_scale": v} for a, v in scale.items()}
            chosen = report.next_choice
        t[f"off_{c}"] = t["action"].map(
            lambda a, st=state: st.get(a, {}).get("response_scale", 1.0) <= 0)
        t[f"correct_{c}"] = t[f"off_{c}"] == (t["action"].map(truth) <= 0)
        t[f"chosen_{c}"] = t["action"].map(chosen).fillna(0) > 0
    return t.assign(replicate=k)


def study(replicates: int, cycles: int = CYCLES) -> tuple[pd.DataFrame, dict[str, float]]:
    rows, cpu = [], {}
    for name, way in variants().items():
        t0 = time.process_time()
        for k in range(replicates):
            rows.append(replicate(k, way, cycles).assign(variant=name))
        cpu[name] = time.process_time() - t0
    return pd.concat(rows, ignore_index=True), cpu


def _kind(truth: float) -> str:
    return "helpful (kept)" if truth > 0 else "zero effect (off)" if truth == 0 \
        else "harmful (off)"


def table(found: pd.DataFrame) -> list[str]:
    ats = [c for c in AT if f"correct_{c}" in found]
    lines = ["| way | coverage of the truth (95 % interval) | mean interval width | "
             "mean variance reduction | action types | "
             + " | ".join(f"decided correctly after {c} cycles [95 %]" for c in ats) + " |",
             "|---|---:|---:|---:|---|" + "---:|" * len(ats)]
    for name, g in found.groupby("variant", sort=False):
        cover = g["covered"].mean()
        se = np.sqrt(cover * (1 - cover) / len(g))
        head = [name.split(" (")[0], f"{cover:.1%} ± {100 * se:.1f} pt",
                f"{100 * g['width'].mean():.1f} pt", f"{g['variance_reduction'].mean():.1%}"]
        for i, (kind, v) in enumerate(g.groupby(g["truth"].map(_kind), sort=False)):
            lines.append("| " + " | ".join((head if i == 0 else [""] * 4) + [
                f"{kind}, {len(v)}"] + [_share(v[f"correct_{c}"]) for c in ats]) + " |")
    return lines


def _share(x: pd.Series) -> str:
    """A share with its 95 % Wilson interval (Wilson 1927, JASA 22:209–212)."""
    n, k = len(x), float(x.sum())
    if n == 0:
        return "—"
    z = 1.959964
    mid = (k + z * z / 2) / (n + z * z)
    half = z * np.sqrt(k * (n - k) / n + z * z / 4) / (n + z * z)
    return f"{k / n:.0%} [{max(mid - half, 0):.0%}, {min(mid + half, 1):.0%}]"


def per_action(found: pd.DataFrame) -> list[str]:
    ats = [c for c in AT if f"correct_{c}" in found]
    lines = ["| action | truth | way | measured in | held out (mean) | pays from (mean) | "
             "coverage [95 %] | "
             + " | ".join(f"decided correctly after {c} [95 %]" for c in ats)
             + f" | still chosen after {ats[0]} | still chosen after {ats[-1]} |",
             "|---|---:|---|---:|---:|---:|---:|" + "---:|" * (len(ats) + 2)]
    order = found.groupby("action")["truth"].first().sort_values(ascending=False).index
    for action in order:
        g = found[found["action"] == action]
        for i, (name, v) in enumerate(g.groupby("variant", sort=False)):
            lines.append(f"| {action if i == 0 else ''} | "
                         f"{(f'{100 * g.truth.iloc[0]:+.0f} pt') if i == 0 else ''} | "
                         f"{name.split(' (')[0]} | {len(v)} | {v['n_held_out'].mean():.0f} | "
                         f"{100 * v['worthwhile'].mean():+.1f} pt | {_share(v['covered'])} | "
                         + " | ".join(_share(v[f"correct_{c}"]) for c in ats)
                         + f" | {_share(v[f'chosen_{ats[0]}'])} | "
                         f"{_share(v[f'chosen_{ats[-1]}'])} |")
    return lines


def run(customers: int = 0, quick: bool = False) -> None:
    """``customers`` is ignored (see the module docstring)."""
    n = QUICK_REPLICATES if quick else REPLICATES
    found, cpu = study(n)
    m = machine_info()
    body = [f"## Action impact at a 10 % holdout ({today()})", "",
            f"`{command(NAME, customers, quick)}` on {m['nproc']} × {m['cpu']}, "
            f"Python {m['python']}: {n} replicates (each its own world and holdout salt) of the "
            f"btyd demo world ({CUSTOMERS:,} customers, {YEARS:g} year of history), "
            f"{CYCLES} simulated 30-day cycles (decisions read after {', '.join(map(str, AT))}), "
            f"{SHARE:.0%} of every action type and tier held out; CPU time "
            f"{sum(cpu.values()):.0f} s.", "",
            *table(found), "",
            *per_action(found), "",
            "Coverage (after the last cycle): share of the intervals (all tiers, incremental "
            "conversion) that hold the world's true effect, ± one binomial standard error over "
            "the intervals. Decided correctly after c cycles: when the loop decides the next "
            "cycle, it keeps an action that truly helps and turns off (learned response scale "
            "0) one that truly does nothing or harms; still chosen: the loop chooses it for "
            "someone in that decision. Held out: at the end. Variance reduction: 1 − se² / se² "
            "unadjusted, of the conversion difference. Both ways measure the same worlds, salts "
            "and random responses, but once the measurements differ the loop's choices, and so "
            "its later decisions, differ too."]
    update_section(NAME, "\n".join(body))
    print("\n".join(table(found)))
