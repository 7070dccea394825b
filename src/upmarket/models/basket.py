"""Market-basket association rules ("frequently bought together") for bundle offers.

A rule A → B says: orders that contain A also contain B more often than chance. With N orders
(that hold at least one product: a postage-only line is not a basket),
n(A) orders containing A and n(A, B) containing both (Agrawal, Imieliński & Swami 1993, §2):

    support(A → B)    = n(A, B) / N
    confidence(A → B) = n(A, B) / n(A)              (an estimate of P(B | A))
    lift(A → B)       = confidence(A → B) / (n(B) / N)

A bundle pairs one product the customer has with one they do not, so only single-item rules
are mined. For pairs these counts are exactly one sparse product XᵀX of the order × product
incidence matrix, which is why this is written here rather than with an Apriori library: the
level-wise candidate search Apriori exists for buys nothing at length two, and a sparse matrix
product over a 5,000-product catalogue takes well under a second.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp

from upmarket.models.recommend import DEFAULT_EXCLUDE

COLUMNS = ["antecedent", "consequent", "orders_both", "support", "confidence", "lift"]


def association_rules(lines: pd.DataFrame, *, min_orders: int = 5, min_confidence: float = 0.05,
                      min_lift: float = 1.0, max_rules_per_item: int = 10,
                      exclude: Sequence[str] = DEFAULT_EXCLUDE) -> pd.DataFrame:
    """Single-item rules A → B from order lines (`order_id`, `sku`; paid product lines).

    Keeps rules seen in at least `min_orders` orders, with confidence ≥ `min_confidence` and
    lift > `min_lift`, the `max_rules_per_item` most confident per antecedent; sorted by
    antecedent, then confidence descending. Non-product codes (`exclude`) never enter a rule.
    """
    df = lines[["order_id", "sku"]].dropna()
    df = df[~df["sku"].astype(str).isin(set(exclude))].drop_duplicates()
    if df.empty:
        return pd.DataFrame(columns=COLUMNS)
    orders, o = np.unique(df["order_id"].astype(str).to_numpy(), return_inverse=True)
    items, i = np.unique(df["sku"].astype(str).to_numpy(), return_inverse=True)
    x = sp.csr_matrix((np.ones(len(df), np.float32), (o, i)), shape=(len(orders), len(items)))
    n_item = np.asarray(x.sum(axis=0)).ravel()
    both = (x.T @ x).tocoo()
    keep = (both.row != both.col) & (both.data >= min_orders)
    a, b, nab = both.row[keep], both.col[keep], both.data[keep].astype(np.int64)
    n = len(orders)
    conf = nab / n_item[a]
    lift = conf / (n_item[b] / n)
    ok = (conf >= min_confidence) & (lift > min_lift)
    out = pd.DataFrame({"antecedent": items[a[ok]], "consequent": items[b[ok]],
                        "orders_both": nab[ok], "support": nab[ok] / n,
                        "confidence": conf[ok], "lift": lift[ok]})
    out = out.sort_values(["antecedent", "confidence", "consequent"],
                          ascending=[True, False, True], kind="stable")
    out = out.groupby("antecedent", sort=False).head(max_rules_per_item)
    return out.reset_index(drop=True)[COLUMNS]


def best_bundles(owned: pd.DataFrame, rules: pd.DataFrame) -> pd.DataFrame:
    """For each customer, the most confident rule whose antecedent they bought and whose
    consequent they have not: customer_id, antecedent, consequent, confidence, lift.

    `owned` has customer_id and sku (one row per product a customer bought)."""
    if rules.empty or owned.empty:
        return pd.DataFrame(columns=["customer_id", "antecedent", "consequent", "confidence",
                                     "lift"])
    own = owned[["customer_id", "sku"]].astype(str).drop_duplicates()
    cand = own.merge(rules, left_on="sku", right_on="antecedent")
    has = pd.MultiIndex.from_frame(own)
    already = pd.MultiIndex.from_arrays([cand["customer_id"], cand["consequent"]]).isin(has)
    cand = cand[~already]
    cand = cand.sort_values(["customer_id", "confidence", "lift", "consequent"],
                            ascending=[True, False, False, True], kind="stable")
    best = cand.drop_duplicates("customer_id")
    return best[["customer_id", "antecedent", "consequent", "confidence", "lift"]] \
        .reset_index(drop=True)
