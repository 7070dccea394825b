"""The learning loop, simulated: decide → respond → measure, cycle after cycle, on the demo
world, so what the control groups teach can be checked against the world's truth
(`demo.world.truth_action_effect`).

Each cycle, at its decision date:

1. **decide** — the next best action (`strategy.nba`) for every customer, with the factors
   learned so far (`strategy.action_feedback` from `strategy.action_impact` over the decisions
   whose window has ended), then the control groups (`activation.holdout`), recorded in
   ``action_assignments`` under a run of status ``simulated`` (it is counted by the
   measurements but never becomes the current run, so the dashboard and the commands keep
   showing the last real run);
2. **respond** — every customer buys within the window with their own baseline chance (the
   value model's expected purchases, ``1 − exp(−E[purchases in the window])``, at least
   `BASELINE_FLOOR`), plus the
   world's true effect of the action if they were treated; a converting treated customer pays
   the order less the offer's cost. The orders go into the warehouse;
3. **measure** — the next cycle's decision reads them through the same code a real run uses.

The customers' features and value model are computed once, at the world's as-of (the
pipeline's own `snapshot`), and so are the product inputs the pipeline gives the next best
action (`product_inputs`: premium propensity from `models.propensity`, the upsell and
cross-sell picks of the recommender, bundles from association rules): each cycle changes what
they are offered, not who they are, which keeps a cycle to a second or two. Every action type
the world has a true effect for can therefore be chosen, measured and switched off.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from upmarket.activation import holdout
from upmarket.demo.world import ACTION_WINDOW_DAYS, TRUE_ACTION_EFFECTS, truth_action_effect
from upmarket.features import engagement
from upmarket.strategy import action_feedback, action_impact, lifecycle, nba, tiers
from upmarket.warehouse.connection import Warehouse
from upmarket.warehouse.runs import Run
from upmarket.warehouse.schema import RUNS

SIMULATED = "simulated"
BASELINE_FLOOR = 0.05


@dataclass
class LoopReport:
    """What the cycles did: the actions chosen per cycle (counts, held out included as their
    decided action) and what the loop knew when it chose them (`learned`: each action's
    status, response scale and control group, from the cycles before), the final
    measurement against the truth, and what the loop would choose next with everything it
    learned."""

    cycles: list[dict] = field(default_factory=list)
    effects: pd.DataFrame | None = None
    learned: pd.DataFrame | None = None
    next_choice: dict = field(default_factory=dict)

    def against_truth(self) -> pd.DataFrame:
        """Per measured action type (all tiers): the measured incremental conversion, its
        interval, the truth and whether the interval covers it."""
        e = self.effects[(self.effects["tier"] == action_impact.ALL)
                         & self.effects["conversion_se"].notna()]
        truth = truth_action_effect().set_index("action")["incremental_conversion"]
        out = e[["action", "n_treated", "n_held_out", "conversion_difference", "conversion_low",
                 "conversion_high"]].copy()
        out["truth"] = out["action"].map(truth)
        out["covered"] = (out["conversion_low"] <= out["truth"]) & (
            out["truth"] <= out["conversion_high"])
        return out.reset_index(drop=True)

    def summary(self) -> dict:
        t = self.against_truth()
        return {"cycles": self.cycles, "next_choice": self.next_choice,
                "covered_share": round(float(t["covered"].mean()), 4) if len(t) else None,
                "against_truth": json.loads(t.to_json(orient="records")),
                "learned": json.loads(self.learned.to_json(orient="records"))}


def decision_frame(wh: Warehouse, as_of: datetime) -> pd.DataFrame:
    """The customers as the pipeline sees them at `as_of`: features, value model, churn risk
    1 − P(alive), value tier and lifecycle stage."""
    from upmarket.pipeline import Settings, snapshot

    frame, _ = snapshot(wh, as_of, Settings())
    frame["churn_risk"] = (1 - frame["p_alive"].astype(float)).fillna(0.0)
    frame["tier"] = tiers.assign_tiers(frame["clv"].fillna(0.0).to_numpy(float))
    frame["lifecycle_stage"] = lifecycle.buyer_stage(frame)
    return frame


def product_inputs(wh: Warehouse, as_of: datetime, frame: pd.DataFrame,
                   horizon_days: int = 180) -> dict:
    """What `pipeline.stage_premium` and `pipeline.stage_actions` give the next best action,
    built from the same functions at `as_of`: `frame` gains `premium_propensity` (None for a
    customer who already buys premium, as in the run), and the result holds `products` (the
    catalogue with its price ladder), `upsell`, `cross_sell` and `bundles`."""
    from upmarket.features import premium
    from upmarket.features.orders import purchases_until
    from upmarket.models import propensity
    from upmarket.models.basket import association_rules, best_bundles
    from upmarket.models.recommend import TunedHybrid
    from upmarket.pipeline import FEATURE_TABLES

    tables = {n: wh.table(n) for n in FEATURE_TABLES}
    orders, products = tables["orders"], tables["products"]
    try:
        _, now, _ = propensity.fit_at(tables, as_of, horizon_days=horizon_days)
    except propensity.NoTrainingWindow:
        now = pd.DataFrame(columns=["customer_id", "premium_propensity"])
    if "bought_premium" in now:
        now.loc[now["bought_premium"] == 1, "premium_propensity"] = np.nan
    scored = now.set_index("customer_id")
    ids = frame["customer_id"].astype(str)
    for col in ("premium_propensity", "peer_upgrade_rate", "current_tier", "main_category",
                "months_since_last"):
        if col in scored:
            frame[col] = ids.map(scored[col])
    lines = purchases_until(orders, as_of).select(
        "customer_id", "order_id", "sku", "ts", "amount").to_pandas()
    ladder_expr = premium.price_ladder(products, orders)
    ladder = ladder_expr.to_pandas()
    tiered = products.to_pandas().drop(columns=["price_tier", "category", "price"],
                                       errors="ignore").merge(
        ladder[["sku", "category", "price_tier", "price", "tier_rank"]], on="sku", how="right")
    recs = TunedHybrid().fit(lines, tiered).recommend(ids, n=20)
    reached = premium.tier_reached(orders, ladder_expr, as_of).to_pandas()
    upsell, cross = nba.product_candidates(recs, ladder, reached, nba.main_categories(frame),
                                           nba.premium_bestsellers(tiered, lines))
    bundles = best_bundles(lines[["customer_id", "sku"]], association_rules(lines))
    return {"products": tiered, "upsell": upsell, "cross_sell": cross, "bundles": bundles}


def respond(frame: pd.DataFrame, actions: pd.DataFrame, start: datetime, days: int,
            rng: np.random.Generator, settings: nba.NbaSettings, cycle: int,
            products: pd.DataFrame | None = None) -> pd.DataFrame:
    """The orders the customers of `frame` place in ``[start, start + days)`` given `actions`
    (with `held_out`, and `sku`, the product the action suggests): baseline chance plus the
    true effect of a treated customer's action; an order the action added is of its product
    (`products`: sku, price)."""
    a = actions.set_index("customer_id").reindex(frame["customer_id"].astype(str))
    rate = frame["expected_purchases_90d"].fillna(0.0).clip(lower=0).to_numpy(float) * days / 90
    # nobody's chance is below `BASELINE_FLOOR` (a gift, an odd need), so an action that puts
    # people off lowers it by its full true effect rather than hitting zero
    p = np.maximum(1 - np.exp(-rate), BASELINE_FLOOR)
    acted = a["action"].fillna("no_contact").to_numpy(object)
    effect = np.array([TRUE_ACTION_EFFECTS.get(x, 0.0) for x in acted])
    base = p
    p = np.clip(p + effect, 0, 1)
    u = rng.uniform(size=len(p))
    buy = u < p
    value = frame["expected_order_value"].fillna(frame["monetary"]).fillna(50.0).clip(lower=1)
    amount = value.to_numpy(float) * rng.gamma(4.0, 0.25, len(p))
    # the orders an action added (drawn above the customer's own chance) are of the product
    # it suggested (an upsell's premium product, a bundle's other half) at its price
    sku = a["sku"].to_numpy(object) if "sku" in a else np.full(len(p), None, dtype=object)
    added = buy & (u >= base) & (effect > 0) & pd.notna(sku)
    if products is not None and added.any():
        price = pd.Series(sku[added]).map(products.drop_duplicates("sku").set_index("sku")["price"])
        amount[added] = np.where(price.notna(), price.to_numpy(float), amount[added])
    sku = np.where(added, sku, None)
    discount = np.zeros(len(p))
    for act, offer in settings.offers.items():
        mask = acted == act
        if offer is not None and mask.any():
            discount[mask] = offer.cost(amount[mask])
    ids = frame["customer_id"].astype(str).to_numpy()[buy]
    ts = pd.Timestamp(start) + pd.to_timedelta(rng.uniform(0, days, buy.sum()), unit="D")
    paid = np.round(np.maximum(amount[buy] - discount[buy], 0.0), 2)
    return pd.DataFrame({
        "order_id": [f"LOOP{cycle:03d}-{i:06d}" for i in range(len(ids))], "line_no": 0,
        "customer_id": ids, "ts": ts.floor("s"), "sku": sku[buy], "quantity": 1.0,
        "unit_price": paid,
        "amount": paid, "discount": np.round(discount[buy], 2), "status": "paid",
        "line_kind": "product", "channel": "online"})


def _learned_state(used: pd.DataFrame) -> dict:
    """What the loop knew of each action when it decided: enough to tell after how many
    cycles an action was switched off."""
    return {r["action"]: {"status": r["status"], "response_scale": round(r["response_scale"], 4),
                          "n_held_out": int(r["n_held_out"])}
            for r in used.to_dict("records")}


def _decide(frame, wh, when, consents, inputs, settings, feedback, impact_settings):
    impact = action_impact.measure(wh, when, impact_settings)
    learned, used = action_feedback.learn(impact, action_impact.decisions(wh), settings,
                                          feedback)
    actions = nba.next_best_actions(frame, consents=consents, settings=learned, **inputs)
    return actions, learned, used, impact


def run_cycles(wh: Warehouse, as_of: datetime, cycles: int, *, cycle_days: int = ACTION_WINDOW_DAYS,
               holdout_settings: holdout.HoldoutSettings = holdout.HoldoutSettings(),
               settings: nba.NbaSettings = nba.NbaSettings(),
               feedback: action_feedback.FeedbackSettings = action_feedback.FeedbackSettings(),
               random_state: int = 0,
               impact: action_impact.ImpactSettings | None = None,
               on_cycle: Callable[[int, int], None] | None = None) -> LoopReport:
    """Run `cycles` decide → respond → measure cycles of `cycle_days` from `as_of` on the
    demo world loaded in `wh`; returns the `LoopReport` (after the last cycle: the effects
    measured over all cycles and the choice the loop would make next). `impact` says how the
    effects are measured (default: `action_impact.ImpactSettings` over a window of
    `cycle_days`)."""
    if cycles < 1:
        raise ValueError(f"cycles must be at least 1 (got {cycles})")
    rng = np.random.default_rng(random_state)
    frame = decision_frame(wh, as_of)
    consents = engagement.consents_in_force(wh.table("consents"), as_of).to_pandas()
    inputs = product_inputs(wh, as_of, frame)
    salt = holdout.salt(wh)
    impact = impact or action_impact.ImpactSettings(window_days=cycle_days)
    report = LoopReport()
    for k in range(cycles):
        if on_cycle:
            on_cycle(k, cycles)
        when = as_of + timedelta(days=k * cycle_days)
        actions, learned, used, _ = _decide(frame, wh, when, consents, inputs, settings,
                                            feedback, impact)
        actions, decided = holdout.hold_out_exploring(
            actions, salt, holdout_settings, used, action_impact.decisions(wh),
            min_held_out=feedback.min_held_out, explore_share=feedback.explore_share)
        run = Run(wh, when, {"simulated_cycle": k})
        holdout.record(wh, decided, run_id=run.run_id, decided=when)
        counts = decided.groupby("action")["held_out"].agg(["size", "sum"])
        report.cycles.append({
            "cycle": k + 1, "decided": f"{when:%Y-%m-%d}",
            "actions": {a: int(r["size"]) for a, r in counts.iterrows()},
            "held_out": {a: int(r["sum"]) for a, r in counts.iterrows()},
            "learned": _learned_state(used)})
        wh.insert(RUNS.name, pd.DataFrame([run._row(SIMULATED, {"cycle": k + 1})]))
        orders = respond(frame, actions, when, cycle_days, rng, learned, k, inputs["products"])
        if len(orders):
            wh.insert("orders", orders)
    end = as_of + timedelta(days=cycles * cycle_days)
    actions, _, used, impact = _decide(frame, wh, end, consents, inputs, settings,
                                       feedback, impact)
    report.effects, report.learned = impact, used
    counts = actions["action"].value_counts()
    report.next_choice = {a: int(counts.get(a, 0)) for a in nba.ACTIONS}
    return report
