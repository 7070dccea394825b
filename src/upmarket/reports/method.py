"""How a run's models were chosen and checked, in words: the value model used, the holdout
comparison that ordered its candidates, every fit warning, why P(alive) is missing, and the
churn model against its RFM baseline.

The run summary (`pipeline`: ``value_choice``, ``value_model``, ``churn_evaluation``) holds
codes and numbers; this module is the one place that turns them into sentences, so the CLI's
run summary, the HTML report and the dashboard say the same thing in the same words (en and
zh-CN, from `upmarket.i18n`). Everything here is pure: summary dicts in, strings out.
"""

from __future__ import annotations

import math

import pandas as pd

from upmarket.i18n import LABELS, label
from upmarket.models.btyd.diagnostics import FitWarning

#: The mark in front of every warning, wherever it is shown.
WARN = "⚠"


def _name(code: str | None, lang: str) -> str:
    """A value model's name (`value_model.*`), or its code when the table does not know it."""
    if code and f"value_model.{code}" in LABELS:
        return label(f"value_model.{code}", lang)
    return code or "—"


def _finite(v) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def value_model_used(found: dict | None, lang: str) -> str | None:
    """'Value model: purchases from …; order value from ….' (None without a value model)."""
    if not found or not found.get("transactions"):
        return None
    return label("run_value_model", lang, transactions=_name(found["transactions"], lang),
                 spend=_name(found.get("spend"), lang))


def value_warnings(found: dict | None, lang: str) -> list[str]:
    """Every fit warning of the run's value model in words (`FitWarning.text`), unmarked."""
    out = []
    for w in (found or {}).get("warnings", []):
        params = {k: v for k, v in w.items() if k not in ("code", "model")}
        out.append(FitWarning(w["code"], w["model"], params).text(lang))
    return out


def p_alive_missing(found: dict | None, lang: str) -> str | None:
    """Why the run publishes no P(alive), in words; None when it does."""
    if not found or found.get("p_alive") != "missing":
        return None
    why = found.get("p_alive_reason") or "unknown"
    if f"p_alive_missing.{why}" not in LABELS:
        why = "unknown"
    return label("run_value_p_alive_missing", lang, reason=label(f"p_alive_missing.{why}", lang))


def value_notices(summary: dict, lang: str) -> list[str]:
    """What a reader must be told about the run's value model: its fit warnings and a missing
    P(alive), each a sentence. Empty for a clean run."""
    found = summary.get("value_model")
    missing = p_alive_missing(found, lang)
    return value_warnings(found, lang) + ([missing] if missing else [])


def value_choice_line(found: dict | None, lang: str) -> str | None:
    """The CLI's one-line account of the holdout comparison: the chosen model's errors and the
    others' in brackets; or why the models were not compared."""
    if not found:
        return None
    if not found.get("chosen"):
        why = found.get("reason") or "no_holdout_purchases"
        return label("run_value_choice_none", lang, why=label(f"value_choice.{why}", lang))
    rows = {m["model"]: m for m in found["models"]}
    best = rows[found["chosen"]]
    others = "; ".join(
        f"{_name(m, lang)} "
        + (label("value_choice.unusable", lang) if r["degenerate"] or r["mae"] is None
           else f"{r['mae']:.3f}, {r['error']:+.1%}")
        for m, r in rows.items() if m != found["chosen"])
    return label("run_value_choice", lang, weeks=found["holdout_weeks"],
                 start=found["calibration_end"], chosen=_name(found["chosen"], lang),
                 mae=best["mae"], error=best["error"], others=others)


def value_choice_text(summary: dict, lang: str) -> list[str]:
    """The holdout comparison as the report tells it: how the candidates were compared, on
    which criterion, which one won, and — when the winner failed its checks on all the data —
    which model was used instead."""
    found = summary.get("value_choice")
    if not found:
        return []
    if not found.get("chosen"):
        why = found.get("reason") or "no_holdout_purchases"
        return [label("run_value_choice_none", lang, why=label(f"value_choice.{why}", lang))]
    from upmarket.models.value_choice import CRITERION

    out = [label("report.value.choice", lang, weeks=found["holdout_weeks"],
                 start=found["calibration_end"], chosen=_name(found["chosen"], lang))]
    # the criterion in the reader's language when it is the one the words describe; a run made
    # under another criterion shows that run's own statement rather than a wrong translation
    crit = found.get("criterion")
    out.append(label("report.value.criterion", lang) if crit in (None, CRITERION)
               else label("report.value.criterion_other", lang, criterion=crit))
    used = (summary.get("value_model") or {}).get("transactions")
    if used and used != found["chosen"]:
        out.append(label("report.value.fallback", lang, chosen=_name(found["chosen"], lang),
                         used=_name(used, lang)))
    return out


def value_choice_rows(summary: dict, comparison: pd.DataFrame | None, lang: str) -> list[dict]:
    """The holdout comparison as table rows, best first: model, predicted and actual holdout
    purchases, error in % of actual, per-customer error, and its verdict (chosen, its rank, or
    why it could not be used — the reason code read from `value_model_comparison`)."""
    found = summary.get("value_choice") or {}
    reasons = {}
    if comparison is not None and {"model", "reason"} <= set(comparison.columns):
        reasons = {str(m): str(r) for m, r in zip(comparison["model"], comparison["reason"])
                   if isinstance(r, str) and r}
    rows = []
    for rank, m in enumerate(found.get("models") or [], start=1):
        code = m["model"]
        if code == found.get("chosen"):
            verdict = label("report.value.verdict.chosen", lang)
        elif m.get("degenerate") or m.get("mae") is None:
            why = reasons.get(code, "no_fit" if m.get("mae") is None else "")
            verdict = label(f"value_choice.reason.{why}", lang) \
                if f"value_choice.reason.{why}" in LABELS else label("value_choice.unusable", lang)
        else:
            verdict = label("report.value.verdict.rank", lang, rank=rank)
        rows.append({
            "model": _name(code, lang), "code": code, "chosen": code == found.get("chosen"),
            "predicted": f"{m['predicted']:,.0f}" if _finite(m.get("predicted")) else "—",
            "actual": f"{m['actual']:,.0f}" if _finite(m.get("actual")) else "—",
            "error": f"{m['error']:+.1%}" if _finite(m.get("error")) else "—",
            "mae": f"{m['mae']:.3f}" if _finite(m.get("mae")) else "—",
            "verdict": verdict,
        })
    return rows


def churn_text(summary: dict, lang: str) -> str | None:
    """The churn model against its RFM baseline on the time-split holdout, and whose scores
    were published; or, when no time-split model could be evaluated, what churn risk is."""
    ev = summary.get("churn_evaluation")
    if ev and "auc_rfm_baseline" in ev:
        keys = ("auc", "auc_rfm_baseline", "auc_recency_baseline", "lift_top_decile",
                "lift_top_decile_rfm_baseline", "calibration_error",
                "calibration_error_rfm_baseline")
        if all(_finite(ev.get(k)) for k in keys):
            return label("churn_evaluation", lang, **{
                **ev, "published": label(f"churn_published.{ev['published']}", lang)})
    if summary.get("churn_model"):
        return label("report.churn.fallback", lang)
    return None
