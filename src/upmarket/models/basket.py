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

Which rules are kept must not depend on the size of the shop. Fixed floors on support or
confidence do: as customers and the catalogue grow, each product's share of orders shrinks, so
a fixed confidence floor that kept every real rule of a 300-product shop keeps none of a
1,000-product one, and a fixed support fraction does the same. The thresholds here are
scale-free instead:

* **support as a count** (`min_orders`): a rule must have been seen in a few orders, whatever
  N is — a handful of co-occurrences is as (un)convincing in a big shop as in a small one;
* **confidence relative to the consequent's base rate** (`min_lift`): B must be at least that
  many times as likely in an order with A as in any order — a practical effect size that means
  the same for a niche product and a bestseller;
* **a significance test**: the one-sided Fisher exact test of n(A, B) against the
  hypergeometric law it follows when A and B are independent given n(A), n(B) and N (Webb 2007,
  "Discovering significant patterns", Machine Learning 68:1–33, argues for exactly this test for
  rules), with the false discovery rate held at `alpha` over every pair of products by the
  Benjamini–Hochberg step-up procedure (Benjamini & Hochberg 1995). Among the rules reported,
  the expected share that are chance co-occurrences is at most `alpha`, however many products
  the catalogue holds.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy import stats

from upmarket.models.purchase_codes import PurchaseCodes, sorted_distinct
from upmarket.models.recommend import DEFAULT_EXCLUDE

COLUMNS = ["antecedent", "consequent", "orders_both", "support", "confidence", "lift",
           "p_value"]


def association_rules(lines: pd.DataFrame | PurchaseCodes, *, min_orders: int = 5,
                      min_lift: float = 1.5, alpha: float = 0.05, max_rules_per_item: int = 10,
                      exclude: Sequence[str] = DEFAULT_EXCLUDE) -> pd.DataFrame:
    """Single-item rules A → B from order lines (`order_id`, `sku`; paid product lines; or
    the same as `PurchaseCodes`).

    Keeps rules seen in at least `min_orders` orders, with lift ≥ `min_lift` and a positive
    association significant at false discovery rate `alpha` (Fisher's exact test,
    Benjamini–Hochberg over all product pairs; `alpha=1` switches the test off); then the
    `max_rules_per_item` most confident per antecedent, sorted by antecedent, then confidence
    descending. `p_value` is the test's unadjusted one-sided p-value. Non-product codes
    (`exclude`) never enter a rule.
    """
    codes = lines if isinstance(lines, PurchaseCodes) else PurchaseCodes.from_frame(
        lines[[c for c in ("order_id", "sku") if c in lines]])
    keep = (codes.order >= 0) & (codes.sku >= 0)
    keep &= ~codes.lines_of(exclude)
    if not keep.any():
        return pd.DataFrame(columns=COLUMNS)
    # each (order, product) once, as one integer: integers, not strings, are what is hashed
    # and sorted for a million orders
    width = max(len(codes.skus), 1)
    pair = codes.order.astype(np.int64)
    pair *= width
    pair += codes.sku
    pair = sorted_distinct(pair if keep.all() else pair[keep], in_place=True)
    # sorted by order then product: the rows of the order × product matrix as they are laid
    # out in compressed sparse row form, without building it from coordinates
    order = pair // width
    indptr = np.r_[np.flatnonzero(np.r_[True, order[1:] != order[:-1]]), len(pair)]
    del order
    sku = pair % width
    del pair
    seen = np.zeros(width, bool)
    seen[sku] = True
    items = codes.skus.to_numpy(object)[seen]
    i = (np.cumsum(seen) - 1).astype(np.int32)[sku]
    del sku
    n_orders = len(indptr) - 1
    # one index type for both, or scipy copies the indices to the wider one
    index = np.int32 if len(i) < np.iinfo(np.int32).max else np.int64
    x = sp.csr_matrix((np.ones(len(i), np.float32), i.astype(index, copy=False),
                       indptr.astype(index)), shape=(n_orders, len(items)))
    n_item = np.asarray(x.sum(axis=0)).ravel().astype(np.int64)
    # XᵀX is symmetric and the test is too (A → B and B → A are one hypothesis): test each
    # unordered pair once, in the upper triangle, then read the rule both ways.
    both = sp.triu(x.T @ x, k=1).tocoo()
    keep = both.data >= min_orders
    u, v, nuv = both.row[keep], both.col[keep], np.rint(both.data[keep]).astype(np.int64)
    n = n_orders
    # lift is symmetric, so a pair below `min_lift` yields no rule either way: it is left
    # untested (p = 1, still counted in the family below), which also spares the exact tail
    # sums, the slow part of the test
    big = nuv * n >= min_lift * n_item[u] * n_item[v]
    p_pair = np.ones(len(nuv))
    p_pair[big] = stats.hypergeom.sf(nuv[big] - 1, n, n_item[v[big]], n_item[u[big]])
    # the family is every pair of products, tested or not, so a bigger catalogue raises the bar
    pairs = len(items) * (len(items) - 1) / 2
    sig = significant(p_pair, alpha, family=max(pairs, 1.0))
    a, b = np.concatenate([u, v]), np.concatenate([v, u])
    nab, p = np.concatenate([nuv, nuv]), np.concatenate([p_pair, p_pair])
    conf = nab / n_item[a]
    lift = conf / (n_item[b] / n)
    ok = (lift >= min_lift) & np.concatenate([sig, sig])
    out = pd.DataFrame({"antecedent": items[a[ok]], "consequent": items[b[ok]],
                        "orders_both": nab[ok], "support": nab[ok] / n,
                        "confidence": conf[ok], "lift": lift[ok], "p_value": p[ok]})
    out = out.sort_values(["antecedent", "confidence", "consequent"],
                          ascending=[True, False, True], kind="stable")
    out = out.groupby("antecedent", sort=False).head(max_rules_per_item)
    return out.reset_index(drop=True)[COLUMNS]


def significant(p: np.ndarray, alpha: float, *, family: float) -> np.ndarray:
    """Which of the p-values `p` the Benjamini–Hochberg step-up procedure rejects at false
    discovery rate `alpha` in a family of `family` hypotheses (those not in `p` count as
    untested, p = 1, and are never rejected). `alpha` ≥ 1 rejects everything."""
    p = np.asarray(p, float)
    if alpha >= 1:
        return np.ones(len(p), bool)
    q = np.sort(p)
    passed = np.nonzero(q <= np.arange(1, len(q) + 1) * alpha / family)[0]
    if len(passed) == 0:
        return np.zeros(len(p), bool)
    return p <= q[passed[-1]]


def holdout_check(rules: pd.DataFrame, later: pd.DataFrame, *, level: float = 0.95,
                  exclude: Sequence[str] = DEFAULT_EXCLUDE) -> dict[str, float]:
    """Whether rules mined on earlier orders hold in `later` ones (`order_id`, `sku`).

    Among later orders that contain a rule's antecedent, the consequent's observed count O is
    compared with E = n(A) · n(B) / N, what it would be at the consequent's base rate in those
    orders. Pooled over the rules: `observed`, `expected`, `lift` = O / E and its `level`
    interval (exact Poisson interval on O, E taken as known: Garwood 1936), and the share of
    rules whose own O exceeds E (`rules_above_base`, over the `rules_seen` whose antecedent
    appears in the later orders).
    """
    df = later[["order_id", "sku"]].dropna()
    df = df[~df["sku"].astype(str).isin(set(exclude))].drop_duplicates()
    n = df["order_id"].nunique()
    empty = {"rules": len(rules), "rules_seen": 0, "orders": n, "observed": 0.0,
             "expected": 0.0, "lift": float("nan"), "lift_low": float("nan"),
             "lift_high": float("nan"), "rules_above_base": float("nan")}
    if rules.empty or n == 0:
        return empty
    count = df["sku"].astype(str).value_counts()
    pairs = df.merge(df, on="order_id", suffixes=("_a", "_b"))
    pairs = pairs[pairs["sku_a"] != pairs["sku_b"]]
    both = pairs.groupby(["sku_a", "sku_b"]).size()
    r = rules[["antecedent", "consequent"]].astype(str)
    na = r["antecedent"].map(count).fillna(0).to_numpy(float)
    nb = r["consequent"].map(count).fillna(0).to_numpy(float)
    obs = both.reindex(pd.MultiIndex.from_frame(r)).fillna(0).to_numpy(float)
    seen = na > 0
    if not seen.any():
        return empty
    exp = na * nb / n
    o, e = obs[seen].sum(), exp[seen].sum()
    tail = (1 - level) / 2
    lo = stats.chi2.ppf(tail, 2 * o) / 2 if o > 0 else 0.0
    hi = stats.chi2.ppf(1 - tail, 2 * o + 2) / 2
    return {"rules": len(rules), "rules_seen": int(seen.sum()), "orders": n,
            "observed": float(o), "expected": float(e), "lift": float(o / e) if e else float("nan"),
            "lift_low": float(lo / e) if e else float("nan"),
            "lift_high": float(hi / e) if e else float("nan"),
            "rules_above_base": float((obs[seen] > exp[seen]).mean())}


def best_bundles(owned: pd.DataFrame | PurchaseCodes, rules: pd.DataFrame, *,
                 batch_customers: int = 20_000) -> pd.DataFrame:
    """For each customer, the most confident rule whose antecedent they bought and whose
    consequent they have not: customer_id, antecedent, consequent, confidence, lift.

    `owned` has customer_id and sku (one row per product a customer bought; or the lines as
    `PurchaseCodes`, where a line without a customer is no one's). Customers are
    matched to rules `batch_customers` at a time: every (owned product, rule) candidate is a
    row, up to `max_rules_per_item` per product owned, so doing all customers at once would
    hold tens of millions of rows in a big shop."""
    cols = ["customer_id", "antecedent", "consequent", "confidence", "lift"]
    if rules.empty or not len(owned):
        return pd.DataFrame(columns=cols)
    codes = owned if isinstance(owned, PurchaseCodes) else PurchaseCodes.from_frame(
        owned[["customer_id", "sku"]].astype(str))
    known = (codes.customer >= 0) & (codes.sku >= 0)
    if not known.all():
        codes = codes.take(known)
    r = rules[["antecedent", "consequent", "confidence", "lift"]].astype(
        {"antecedent": str, "consequent": str})
    # integer codes, in the strings' sort order: matching hundreds of thousands of customers
    # by their id strings is what made this slow; the rules' products join the lines' ones
    cust, ids = codes.customer, codes.customers
    items = pd.Index(np.unique(np.concatenate([codes.skus.to_numpy(object),
                                               r["antecedent"].to_numpy(object),
                                               r["consequent"].to_numpy(object)])))
    sku = np.asarray(items.get_indexer(codes.skus), np.int64)[codes.sku]
    ante = np.asarray(items.get_indexer(r["antecedent"]), np.int64)
    cons = np.asarray(items.get_indexer(r["consequent"]), np.int64)
    key = cust.astype(np.int64) * len(items) + sku
    del sku
    # (customer, product) owned, sorted for bisection, and the owned rows whose product is an
    # antecedent, each pair once (its first line: a stable sort keeps the lines' order within
    # a pair), by customer then line: a tie between two rules is won by the product the
    # customer has first
    by_key = np.argsort(key, kind="stable")
    has = key[by_key]
    del key
    new = np.r_[True, has[1:] != has[:-1]]
    first, has = by_key[new], has[new]
    del by_key, new
    sku = has % len(items)
    keep = np.isin(sku, ante)
    first, sku = first[keep], sku[keep]
    order = np.lexsort((first, cust[first]))
    first, sku = first[order], sku[order]
    by_ante = np.argsort(ante, kind="stable")
    lo = np.searchsorted(ante[by_ante], sku, "left")
    hi = np.searchsorted(ante[by_ante], sku, "right")
    conf, lift = r["confidence"].to_numpy(float), r["lift"].to_numpy(float)
    # each rule's place in the order of preference (confidence, then lift, high first; then
    # consequent): one number, so a customer's best is a minimum, not a sort
    pref = np.lexsort((cons, -lift, -conf))
    step = np.r_[True, (np.diff(conf[pref]) != 0) | (np.diff(lift[pref]) != 0)
                 | (np.diff(cons[pref]) != 0)]
    rank = np.empty(len(r), np.int64)
    rank[pref] = np.cumsum(step) - 1
    starts = np.flatnonzero(np.r_[True, cust[first][1:] != cust[first][:-1]])
    ids_all, ante_s, cons_s = ids.to_numpy(), r["antecedent"].to_numpy(), r["consequent"].to_numpy()
    out = []
    for s in range(0, len(starts), batch_customers):
        a = starts[s]
        b = starts[s + batch_customers] if s + batch_customers < len(starts) else len(first)
        # every (owned antecedent, rule) pair of this batch of customers, by customer
        n = hi[a:b] - lo[a:b]
        row = np.repeat(np.arange(a, b), n)
        rule = by_ante[np.repeat(lo[a:b], n) + np.arange(n.sum())
                       - np.repeat(np.cumsum(n) - n, n)]
        c = cust[first[row]]
        pair = c.astype(np.int64) * len(items) + cons[rule]
        at = np.minimum(np.searchsorted(has, pair), len(has) - 1)
        fresh = has[at] != pair
        row, rule, c = row[fresh], rule[fresh], c[fresh]
        if not len(c):
            continue
        # preference first, then the customer's line order: unique within a customer
        score = rank[rule] * (b - a) + (row - a)
        seg = np.flatnonzero(np.r_[True, c[1:] != c[:-1]])
        best = np.minimum.reduceat(score, seg)
        pick = np.flatnonzero(score == np.repeat(best, np.diff(np.r_[seg, len(c)])))
        rule = rule[pick]
        out.append(pd.DataFrame({"customer_id": ids_all[c[pick]],
                                 "antecedent": ante_s[rule], "consequent": cons_s[rule],
                                 "confidence": conf[rule], "lift": lift[rule]}))
    if not out:
        return pd.DataFrame(columns=cols)
    return pd.concat(out, ignore_index=True)
