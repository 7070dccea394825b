"""Cross-sell and upsell recommendations (the key-account strategy course: content-based, collaborative filtering,
hybrid).

Input is a pandas frame of paid product purchase lines before an `as_of`
(`features.orders.purchases_until(...).to_pandas()`: ``customer_id``, ``sku``, ``ts``, optionally
``quantity`` / ``amount``), or the same lines as integer codes (`models.purchase_codes`, how a
run reads them: a string per line is most of the memory at a million customers; a frame is
numbered the same way first, so both give the same models), and a products frame (``sku``,
``category``, ``price_tier``, ``consumable``, optionally ``price``) that may be empty — Online
Retail has no categories.

Every recommender has the same interface::

    model.fit(lines, products) -> model
    model.recommend(customer_ids, n=10) -> DataFrame(customer_id, sku, score, rank, source)

* `Popularity` — distinct buyers per product in the last `window_days` of the data (baseline).
* `ItemToItem` — "frequently bought together": cosine similarity between item columns of the
  binary customer × item matrix (Sarwar et al. 2001, item-based CF, eq. 1 "cosine"), keeping the
  `neighbours` most similar items per item, similarity shrunk for rarely bought items
  (co-buyers / (‖i‖·‖j‖ + `shrinkage`)); a customer's score for item j is Σ_i∈owned sim(i, j).
* `ImplicitALS` — implicit-feedback matrix factorisation (Hu, Koren & Volinsky 2008,
  "Collaborative filtering for implicit feedback datasets", eq. 3–5: confidence
  c_ui = 1 + α·r_ui, preference p_ui = 1[r_ui > 0], alternating least squares), from the
  `implicit` library (0.7.3, installed from its manylinux wheel; CPU model). r_ui here is
  log1p(number of lines in which u bought i).
* `ContentFallback` — for cold customers and cold items: the customer's category shares, with a
  bonus for the next price tier up from the highest tier the customer reached in that category
  (the premium ladder, DESIGN §4 "Upward marketing"), product popularity as tie-breaker.
* `Hybrid` — a weighted sum of per-customer max-normalised scores of ALS and item-to-item, plus
  content (weighted up for customers with fewer than `cold_lines` lines) and popularity as last
  resort; the weights are hyper-parameters.

Rules every recommender obeys: it never recommends a product the customer already bought unless
the product is consumable, and never a sku on the explicit `exclude` list (postage, fees, manual
lines — `purchases_until` already removes non-product lines; the list is a second guard).
Lines with ``line_kind`` ≠ product or ``status`` ≠ paid are dropped if those columns exist.

Scoring is vectorised: customers are scored in batches (dense batch × items matrices,
`numpy.argpartition` for the top n), so 100k customers × 5k products takes seconds.

`evaluate_offline` trains on lines before a split date and scores each customer's new products
after it: hit-rate@k, NDCG@k (Järvelin & Kekäläinen 2002, binary relevance, log2 discount) and
catalogue coverage.
"""

from __future__ import annotations

import time
from typing import Iterable, Iterator, Mapping, Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp

from upmarket.errors import NotFitted, UpmarketError
from upmarket.models.purchase_codes import PurchaseCodes, sorted_distinct
from upmarket.warehouse.presets import RETAIL_LINE_KINDS

#: Stock codes that are not products (postage, fees, discounts, manual and test entries),
#: as the Online Retail preset classifies them: a second guard after `purchases_until`.
DEFAULT_EXCLUDE = tuple(sorted({*RETAIL_LINE_KINDS, *(c.lower() for c in RETAIL_LINE_KINDS)}))

COLUMNS = ["customer_id", "sku", "score", "rank", "source"]


class NoPurchases(UpmarketError, ValueError):
    """The purchase lines given to a recommender are empty or lack customer_id / sku."""


def _clean_lines(lines: pd.DataFrame, exclude: Iterable[str]) -> pd.DataFrame:
    missing = {"customer_id", "sku"} - set(lines.columns)
    if missing:
        raise NoPurchases(f"purchase lines lack the column(s) {sorted(missing)}; pass "
                          "purchases_until(orders, as_of).to_pandas()")
    keep = lines["customer_id"].notna() & lines["sku"].notna()
    if "line_kind" in lines:
        keep &= lines["line_kind"] == "product"
    if "status" in lines:
        keep &= lines["status"] == "paid"
    keep &= ~lines["sku"].astype(str).isin(set(exclude))
    # only the columns the recommenders read: a copy of order ids and amounts of every line
    # is a large part of the memory at a million customers
    out = lines.loc[keep, [c for c in ("customer_id", "sku", "ts") if c in lines]]
    out["customer_id"] = out["customer_id"].astype(str)
    out["sku"] = out["sku"].astype(str)
    return out


def _clean_codes(lines: pd.DataFrame | PurchaseCodes, exclude: Iterable[str]) -> PurchaseCodes:
    """The lines a recommender learns from, as codes naming only their customers and products:
    `_clean_lines` of a frame; of codes, the lines with a customer and a product not in
    `exclude` (the engine's lines are paid product lines already)."""
    if isinstance(lines, pd.DataFrame):
        return PurchaseCodes.from_frame(_clean_lines(lines, exclude)).compact()
    keep = (lines.customer >= 0) & (lines.sku >= 0)
    keep &= ~lines.lines_of(exclude)
    return (lines if keep.all() else lines.take(keep)).compact()


class Recommender:
    """Shared fitting (indexes, ownership, exclusions) and batched top-n scoring.

    Subclasses implement ``_fit()`` and ``_score(rows)``: a dense (len(rows), n_items) array for
    the known-customer row indices `rows` (``-1`` = customer unseen in training), ``-inf``
    where the model has no opinion.
    """

    source = "base"

    def __init__(self, *, exclude: Sequence[str] = DEFAULT_EXCLUDE, batch_size: int = 4096):
        self.exclude = exclude
        self.batch_size = batch_size

    # -- fitting -------------------------------------------------------------------------
    def fit(self, lines: pd.DataFrame | PurchaseCodes,
            products: pd.DataFrame | None = None) -> "Recommender":
        codes = _clean_codes(lines, self.exclude)
        if not len(codes):
            raise NoPurchases("no paid product lines to learn from; widen the date range or "
                              "check that orders were ingested")
        self.customers_, self.items_ = codes.customers, codes.skus
        u, i = codes.customer, codes.sku
        counts = sp.csr_matrix((np.ones(len(u), np.float32), (u, i)),
                               shape=(len(self.customers_), len(self.items_)))
        counts.sum_duplicates()
        self.counts_ = counts
        self.owned_ = (counts > 0).astype(np.float32).tocsr()
        self.lines_per_customer_ = np.asarray(counts.sum(axis=1)).ravel()
        self.products_ = self._align_products(products)
        self.consumable_ = self.products_["consumable"].to_numpy(bool)
        if codes.ts is not None:
            self.as_of_ = pd.Timestamp(codes.ts.max())
            self._ts = codes.ts
        else:
            self.as_of_, self._ts = None, None
        self._u, self._i = u, i
        self._fit()
        # the counts are what the components learn from, not what they score with: at a
        # million customers they are tens of megabytes held to the end of the lists
        del self._u, self._i, self._ts, self.counts_
        return self

    def _align_products(self, products: pd.DataFrame | None) -> pd.DataFrame:
        """One row per training item: category (None when unknown), tier rank 0/1/2 (−1 when
        unknown) and consumable."""
        out = pd.DataFrame(index=self.items_)
        p = products if products is not None and len(products) else pd.DataFrame(
            columns=["sku"])
        p = p.assign(sku=p["sku"].astype(str)).drop_duplicates("sku").set_index("sku")
        p = p.reindex(self.items_)
        cat = p["category"] if "category" in p else pd.Series(None, index=self.items_)
        out["category"] = cat.where(cat.notna(), None)
        tier = p["price_tier"] if "price_tier" in p else pd.Series(None, index=self.items_)
        rank = tier.map({"basic": 0, "mid": 1, "premium": 2})
        if rank.isna().any() and "price" in p and out["category"].notna().any():
            # no given tier: bottom / middle / top third of the category by price, as
            # features.premium.price_ladder derives it
            pos = p["price"].groupby(out["category"]).rank(method="min", pct=False)
            n = p["price"].groupby(out["category"]).transform("count")
            frac = (pos - 1) / (n - 1).where(n > 1)
            derived = np.select([n <= 1, frac < 1 / 3, frac > 2 / 3], [1, 0, 2], 1)
            derived = pd.Series(derived, index=self.items_).where(p["price"].notna())
            rank = rank.fillna(derived)
        out["tier_rank"] = rank.fillna(-1).astype(int)
        cons = p["consumable"] if "consumable" in p else pd.Series(False, index=self.items_)
        out["consumable"] = cons.fillna(False).astype(bool)
        return out

    def _fit(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _score(self, rows: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    # -- scoring ---------------------------------------------------------------------------
    def _check(self) -> None:
        if not hasattr(self, "items_"):
            raise NotFitted(f"{type(self).__name__} is not fitted; call fit(lines, products)")

    def _allowed(self, rows: np.ndarray, scores: np.ndarray) -> np.ndarray:
        """Sets owned non-consumables (for known rows) to −inf, in place."""
        known = rows >= 0
        if known.any():
            sub = self.owned_[rows[known]].tocoo()
            keep = ~self.consumable_[sub.col]
            kr = np.flatnonzero(known)[sub.row[keep]]
            scores[kr, sub.col[keep]] = -np.inf
        return scores

    def score_matrix(self, customer_ids: Sequence) -> np.ndarray:
        """Dense scores (customers × items_) after the ownership rule; −inf = not allowed."""
        self._check()
        rows = self.customers_.get_indexer(pd.Index(customer_ids).astype(str))
        return self._allowed(rows, self._score(rows).astype(np.float32, copy=False))

    def recommend(self, customer_ids: Sequence, n: int = 10) -> pd.DataFrame:
        """Top `n` products per customer, best first: customer_id, sku, score, rank (1 = best),
        source. Customers the model has nothing for get fewer (or no) rows."""
        parts = list(self.recommend_batches(customer_ids, n))
        if not parts:
            return pd.DataFrame(columns=COLUMNS)
        return pd.concat(parts, ignore_index=True)

    def recommend_batches(self, customer_ids: Sequence, n: int = 10) -> Iterator[pd.DataFrame]:
        """`recommend`, one frame per `batch_size` customers (in the order given), so a caller
        can keep what it needs of each batch and never hold every customer's list at once."""
        self._check()
        ids = pd.Index(pd.Series(list(customer_ids), dtype=object).astype(str))
        rows_all = self.customers_.get_indexer(ids)
        n = min(n, len(self.items_))
        items, every = self.items_.to_numpy(), ids.to_numpy()
        for start in range(0, len(ids), self.batch_size):
            rows = rows_all[start:start + self.batch_size]
            s = self._allowed(rows, np.asarray(self._score(rows), np.float32))
            top = np.argpartition(-s, n - 1, axis=1)[:, :n] if n < s.shape[1] else \
                np.tile(np.arange(s.shape[1]), (len(rows), 1))
            ts = np.take_along_axis(s, top, axis=1)
            order = np.argsort(-ts, axis=1, kind="stable")
            top = np.take_along_axis(top, order, axis=1)
            ts = np.take_along_axis(ts, order, axis=1)
            ok = np.isfinite(ts)
            # rows are sorted best first, so a row's finite scores come first: its rank is
            # the position among them
            rank = np.broadcast_to(np.arange(1, n + 1), ts.shape)[ok]
            who = np.repeat(np.arange(len(rows)), ok.sum(axis=1))
            yield pd.DataFrame({"customer_id": every[start:start + len(rows)][who],
                                "sku": items[top[ok]], "score": ts[ok].astype(float),
                                "rank": rank.astype(np.int64), "source": self.source},
                               columns=COLUMNS)


def _popularity_vector(model: Recommender, window_days: int | None) -> np.ndarray:
    """Distinct buyers per item in the last `window_days` of the training data (all data when
    None or no ts), scaled to max 1."""
    u, i = model._u, model._i
    if window_days is not None and model._ts is not None:
        recent = model._ts >= (model.as_of_ - pd.Timedelta(days=window_days)).to_datetime64()
        u, i = u[recent], i[recent]
    m = sp.csr_matrix((np.ones(len(u), np.float32), (u, i)), shape=model.counts_.shape)
    buyers = np.asarray((m > 0).sum(axis=0), np.float64).ravel()
    if buyers.max() == 0:  # window empty: fall back to all time
        buyers = np.asarray(model.owned_.sum(axis=0), np.float64).ravel()
    return (buyers / buyers.max()).astype(np.float32)


class Popularity(Recommender):
    """Baseline: most bought products (distinct buyers) in the last `window_days` of the data."""

    source = "popularity"

    def __init__(self, window_days: int | None = 90, **kw):
        super().__init__(**kw)
        self.window_days = window_days

    def _fit(self) -> None:
        pop = _popularity_vector(self, self.window_days)
        # ties broken by all-time buyers, so ranks are stable
        alltime = np.asarray(self.owned_.sum(axis=0), np.float64).ravel()
        self.popularity_ = (pop + 1e-6 * alltime / alltime.max()).astype(np.float32)

    def _score(self, rows: np.ndarray) -> np.ndarray:
        return np.broadcast_to(self.popularity_, (len(rows), len(self.items_))).copy()


class ItemToItem(Recommender):
    """Co-purchase ("frequently bought together"): cosine between item columns of the binary
    customer × item matrix, top `neighbours` per item (Sarwar et al. 2001, eq. 1)."""

    source = "item_to_item"

    def __init__(self, neighbours: int = 50, shrinkage: float = 20.0, **kw):
        super().__init__(**kw)
        self.neighbours = neighbours
        self.shrinkage = shrinkage

    def _fit(self) -> None:
        x = self.owned_.tocsc()
        co = (x.T @ x).tocsr().astype(np.float32)
        norms = np.sqrt(co.diagonal())
        co.setdiag(0)
        co.eliminate_zeros()
        co = co.tocoo()
        sim = co.data / (norms[co.row] * norms[co.col] + self.shrinkage)
        self.similarity_ = _top_k_per_row(co.row, co.col, sim, co.shape, self.neighbours)
        # scoring multiplies sparse rows by this dense copy: the same sums in the same order as
        # the sparse product, without building a sparse result first
        self.dense_similarity_ = self.similarity_.toarray()

    def _score(self, rows: np.ndarray) -> np.ndarray:
        out = np.full((len(rows), len(self.items_)), -np.inf, np.float32)
        known = rows >= 0
        if known.any():
            s = self.owned_[rows[known]] @ self.dense_similarity_
            s[s <= 0] = -np.inf
            out[known] = s
        return out


def _top_k_per_row(row, col, val, shape, k) -> sp.csr_matrix:
    """Keep the k largest values of each row of a COO triple (ties by column)."""
    order = np.lexsort((-val, row))
    row, col, val = row[order], col[order], val[order]
    starts = np.searchsorted(row, np.arange(shape[0]))
    pos = np.arange(len(row)) - starts[row]
    keep = pos < k
    return sp.csr_matrix((val[keep], (row[keep], col[keep])), shape=shape, dtype=np.float32)


#: ALS iterations unless told otherwise (`TunedHybrid` may stop sooner).
ALS_ITERATIONS = 15


class ImplicitALS(Recommender):
    """Implicit-feedback ALS (Hu, Koren & Volinsky 2008, eq. 3–5) via `implicit` 0.7.3 (CPU).

    r_ui = log1p(lines in which u bought i); the library builds c_ui = 1 + α·r_ui. Score
    = x_u·y_i. Customers unseen in training get no score (−inf)."""

    source = "als"

    def __init__(self, factors: int = 16, regularization: float = 1.0, alpha: float = 10.0,
                 iterations: int = ALS_ITERATIONS, random_state: int = 0,
                 keep_iterations: Sequence[int] = (), **kw):
        super().__init__(**kw)
        self.factors = factors
        self.regularization = regularization
        self.alpha = alpha
        self.iterations = iterations
        self.random_state = random_state
        #: iterations after which the factors are also kept (`factors_at_`), so one fit shows
        #: what a shorter one would have given: a fit of k iterations ends where this one
        #: stood after its k-th
        self.keep_iterations = keep_iterations

    def _fit(self) -> None:
        from implicit.cpu.als import AlternatingLeastSquares
        from threadpoolctl import threadpool_limits

        r = self.counts_.copy()
        r.data = np.log1p(r.data)
        self.factors_at_ = {}
        keep = set(self.keep_iterations)

        def kept(iteration, *_):
            if iteration + 1 in keep:
                self.factors_at_[iteration + 1] = (
                    np.array(model.user_factors, np.float32),
                    np.array(model.item_factors, np.float32))

        # implicit runs its own threads; a multi-threaded BLAS underneath only slows it down
        with threadpool_limits(1, "blas"):
            model = AlternatingLeastSquares(
                factors=self.factors, regularization=self.regularization, alpha=self.alpha,
                iterations=self.iterations, random_state=self.random_state)
            model.fit(r.tocsr(), show_progress=False, callback=kept if keep else None)
        self.user_factors_ = np.asarray(model.user_factors, np.float32)
        self.item_factors_ = np.asarray(model.item_factors, np.float32)

    def _score(self, rows: np.ndarray) -> np.ndarray:
        out = np.full((len(rows), len(self.items_)), -np.inf, np.float32)
        known = rows >= 0
        if known.any():
            out[known] = self.user_factors_[rows[known]] @ self.item_factors_.T
        return out


class ContentFallback(Recommender):
    """Same category, next price tier up. score_uj = share of u's lines in category(j)
    × (1 + `upsell_bonus` if tier(j) = highest tier u reached there + 1, `same_tier` if equal)
    + `popularity_weight` × popularity(j). Without categories this is popularity."""

    source = "content"

    def __init__(self, upsell_bonus: float = 1.0, same_tier: float = 0.5,
                 popularity_weight: float = 0.01, window_days: int | None = 90, **kw):
        super().__init__(**kw)
        self.upsell_bonus = upsell_bonus
        self.same_tier = same_tier
        self.popularity_weight = popularity_weight
        self.window_days = window_days

    def _fit(self) -> None:
        self.popularity_ = _popularity_vector(self, self.window_days)
        cats = self.products_["category"]
        self.categories_ = pd.Index(sorted(cats.dropna().unique()))
        self.item_cat_ = self.categories_.get_indexer(
            cats.astype(object).where(cats.notna(), "\0"))  # −1 = none
        self.item_tier_ = self.products_["tier_rank"].to_numpy()
        nc = len(self.categories_)
        has = self.item_cat_ >= 0
        if nc == 0:
            self.cat_share_ = sp.csr_matrix((len(self.customers_), 0), dtype=np.float32)
            self.cat_top_tier_ = np.zeros((len(self.customers_), 0), np.int8)
            return
        onehot = sp.csr_matrix((np.ones(has.sum(), np.float32),
                                (np.flatnonzero(has), self.item_cat_[has])),
                               shape=(len(self.items_), nc))
        per_cat = (self.counts_ @ onehot).tocsr()
        tot = np.asarray(per_cat.sum(axis=1)).ravel()
        self.cat_share_ = sp.diags(np.where(tot > 0, 1 / np.maximum(tot, 1), 0)) @ per_cat
        # highest tier per customer and category (−1 = never bought there)
        own = self.owned_.tocoo()
        c = self.item_cat_[own.col]
        t = self.item_tier_[own.col]
        ok = c >= 0
        top = np.full((len(self.customers_), nc), -1, np.int8)
        np.maximum.at(top, (own.row[ok], c[ok]), t[ok].astype(np.int8))
        self.cat_top_tier_ = top
        # items of one category and tier score alike for a customer, so scoring works on
        # (category, tier) groups and gathers once per item: group = category × 4 + tier
        # (3 = tier unknown), −1 = no category
        tier = np.where(self.item_tier_ >= 0, self.item_tier_, 3)
        self.item_group_ = np.where(self.item_cat_ >= 0, self.item_cat_ * 4 + tier, -1)

    def _score(self, rows: np.ndarray) -> np.ndarray:
        out = np.empty((len(rows), len(self.items_)), np.float32)
        popular = self.popularity_weight * self.popularity_
        out[:] = popular
        known = rows >= 0
        if not known.any() or len(self.categories_) == 0:
            return out
        r = rows[known]
        nc = len(self.categories_)
        share = self.cat_share_[r].toarray().astype(np.float32)
        top = self.cat_top_tier_[r]
        w = np.empty((len(r), nc, 4), np.float32)
        for k in range(3):
            w[:, :, k] = share * np.where(
                (top >= 0) & (top + 1 == k), np.float32(1 + self.upsell_bonus),
                np.where(top == k, np.float32(1 + self.same_tier), np.float32(1)))
        w[:, :, 3] = share
        # one gather over every item, products without a category reading a column of zeros
        # (x + 0 is x), instead of adding into a scattered subset of columns, which costs a
        # gather and a scatter per batch; the popularity term is then added to the share term
        # (addition commutes exactly, so the scores are those of the other order)
        groups = np.concatenate([w.reshape(len(r), nc * 4), np.zeros((len(r), 1), np.float32)],
                                axis=1)
        scored = groups[:, np.where(self.item_group_ >= 0, self.item_group_, nc * 4)]
        scored += popular
        if known.all():
            return scored
        out[known] = scored
        return out


class Hybrid(Recommender):
    """Weighted blend of per-customer max-normalised component scores:

    score = w_als·ALS + w_item·ItemToItem + w_content(u)·Content + w_popularity·Popularity,

    with w_content(u) = `content` × (`cold_boost` if u has fewer than `cold_lines` lines or is
    unseen). ALS scores are min–max scaled per customer over allowed items; the others are
    non-negative and divided by their row maximum. Components without an opinion add 0.

    Defaults (here and in `ImplicitALS` / `ItemToItem`) were chosen on a validation split of the
    Online Retail sample that never sees the test period: lines before 2011-09-01 only, trained
    before 2011-07-01, scored on Jul–Aug (762 customers). On that sparse sample popularity is a
    strong signal (hit-rate@10 0.127), so it carries the largest weight and ALS / item-to-item
    re-rank it (best blend 0.150; ALS alone 0.106, item-to-item alone 0.084). Richer data (full
    baskets, categories) should move weight towards the collaborative components."""

    source = "hybrid"

    def __init__(self, als: float = 1.0, item: float = 0.3, content: float = 0.3,
                 popularity: float = 2.0, cold_lines: int = 3, cold_boost: float = 3.0,
                 als_params: Mapping | None = None, item_params: Mapping | None = None,
                 content_params: Mapping | None = None, window_days: int | None = 90, **kw):
        super().__init__(**kw)
        self.als, self.item, self.content, self.popularity = als, item, content, popularity
        self.cold_lines, self.cold_boost = cold_lines, cold_boost
        self.als_params, self.item_params = als_params, item_params
        self.content_params, self.window_days = content_params, window_days

    def _fit(self) -> None:
        common = {"exclude": self.exclude, "batch_size": self.batch_size}
        self.components_ = {}
        if self.als:
            self.components_["als"] = ImplicitALS(**self._als_settings(), **common)
        if self.item:
            self.components_["item"] = ItemToItem(**(self.item_params or {}), **common)
        if self.content:
            self.components_["content"] = ContentFallback(**(self.content_params or {}),
                                                          **common)
        self.components_["popularity"] = Popularity(window_days=self.window_days, **common)
        # the components clean the same lines the same way: hand them the prepared matrices
        # instead of preparing them once per component
        for m in self.components_.values():
            for name in _PREPARED:
                setattr(m, name, getattr(self, name))
            m._fit()
            del m._u, m._i, m._ts, m.counts_

    def _als_settings(self) -> dict:
        return dict(self.als_params or {})

    def _components(self, rows: np.ndarray):
        """(name, scores scaled to [0, 1] per customer, cold-customer mask) per component."""
        known = rows >= 0
        # owned non-consumables of this batch, as coordinates: they may not set a row's scale
        sub = self.owned_[rows[known]].tocoo()
        keep = ~self.consumable_[sub.col]
        br, bc = np.flatnonzero(known)[sub.row[keep]], sub.col[keep]
        lines = np.where(known, self.lines_per_customer_[np.maximum(rows, 0)], 0)
        cold = ~known | (lines < self.cold_lines)
        for name, m in self.components_.items():
            s = np.asarray(m._score(rows), np.float32)
            if name == "als":  # min-max over allowed items; unseen customers (−inf) add 0
                s[br, bc] = np.inf
                lo = s.min(axis=1, keepdims=True)
                s -= np.where(np.isfinite(lo), lo, 0).astype(np.float32)
                s[br, bc] = 0.0
                s[~known] = 0.0
            else:  # non-negative where they have an opinion, −inf where not
                s[br, bc] = 0.0
                np.maximum(s, 0.0, out=s)
            mx = s.max(axis=1, keepdims=True)
            s *= np.where(mx > 0, 1 / np.where(mx > 0, mx, 1), 0).astype(np.float32)
            yield name, s, cold

    def _blend(self, parts, weights: Mapping[str, float], *, reuse: bool = False) -> np.ndarray:
        """Σ weight × component. `reuse`: the parts are not needed afterwards, so they are
        scaled and summed where they are (the same float32 operations in the same order, so
        the same scores, without a new customers × items array per component)."""
        total = None
        for name, s, cold in parts:
            w = np.full((len(s), 1), weights[name], np.float32)
            if name == "content":
                w[cold] *= self.cold_boost
            if not reuse:
                total = s * w if total is None else total + s * w
                continue
            s *= w
            if total is None:
                total = s
            else:
                total += s
        return total

    def _score(self, rows: np.ndarray) -> np.ndarray:
        return self._blend(self._components(rows), self.weights, reuse=True)

    @property
    def weights(self) -> dict[str, float]:
        return {"als": self.als, "item": self.item, "content": self.content,
                "popularity": self.popularity}


class TunedHybrid(Hybrid):
    """A `Hybrid` whose blend weights are chosen on the data it is given: it holds out the
    last `validation_days` of the lines, fits the components on what came before (on the
    histories of at most `fit_customers` customers: the evaluated ones and a random sample of
    the rest; None = everyone), and picks the weights of `grid` with the best hit-rate@`k` on
    the products customers bought new in the held-out days (at most `max_customers` of them,
    sampled with `random_state`); the components are fitted once and every weight set only
    re-blends their scores. Then it fits on all the lines with those weights. Too little
    held-out data (< `min_customers`) keeps the default weights. `tuning_` has the hit-rate of
    every weight set tried.

    The same held-out customers decide how many ALS iterations the final fit runs: the tuning
    fit keeps its factors after each of `iteration_choices` (and its full count), the chosen
    weights are scored with each, and the fewest iterations whose hit-rate is within one
    standard error (√(h(1−h)/n)) of the best are used — the one-standard-error rule (Hastie,
    Tibshirani & Friedman, "The Elements of Statistical Learning", 2nd ed., §7.10). An
    iteration costs as much as any other, and ALS on purchase counts settles in a few, so the
    later ones mostly buy time, not hits. `iteration_tuning_` has the hit-rate of every count
    tried (empty when the weights give ALS no part, or nothing was tuned).

    Why: the fixed defaults suit a sparse catalogue where popularity carries most of the signal
    (the Online Retail sample); on richer purchase histories the collaborative components are
    much stronger, and only the data can say which case it is."""

    source = "hybrid"
    GRID = tuple({"als": a, "item": i, "content": c, "popularity": p}
                 for a in (0.0, 1.0) for i in (0.3, 1.0, 3.0) for c in (0.3, 1.0)
                 for p in (0.5, 2.0))

    def __init__(self, validation_days: int = 60, k: int = 10, max_customers: int = 3000,
                 min_customers: int = 50, grid: Sequence[Mapping[str, float]] | None = None,
                 random_state: int = 0, fit_customers: int | None = 50_000,
                 iteration_choices: Sequence[int] = (5, 8, 10), **kw):
        super().__init__(**kw)
        self.validation_days, self.k = validation_days, k
        self.max_customers, self.min_customers = max_customers, min_customers
        self.grid, self.random_state = grid, random_state
        self.fit_customers = fit_customers
        self.iteration_choices = iteration_choices

    def fit(self, lines: pd.DataFrame, products: pd.DataFrame | None = None) -> "TunedHybrid":
        self.iteration_tuning_ = pd.DataFrame(columns=["iterations", "hit_rate", "se",
                                                       "customers"])
        self.tuning_ = self._tune(lines, products)
        if len(self.tuning_):
            best = self.tuning_.iloc[0]
            self.als, self.item = float(best["als"]), float(best["item"])
            self.content, self.popularity = float(best["content"]), float(best["popularity"])
        return super().fit(lines, products)

    def _als_settings(self) -> dict:
        given = super()._als_settings()
        return {**given, "iterations": self.als_iterations_} if len(self.iteration_tuning_) \
            else given

    @property
    def als_iterations_(self) -> int:
        """The ALS iterations of the final fit: the fewest within one standard error of the
        best hit-rate among those tried (class docstring)."""
        t = self.iteration_tuning_
        if not len(t):
            return int((self.als_params or {}).get("iterations", ALS_ITERATIONS))
        best = t["hit_rate"].idxmax()
        near = t[t["hit_rate"] >= t.at[best, "hit_rate"] - t.at[best, "se"]]
        return int(near["iterations"].min())

    def _tune(self, lines: pd.DataFrame | PurchaseCodes,
              products: pd.DataFrame | None) -> pd.DataFrame:
        cols = ["als", "item", "content", "popularity", "hit_rate", "customers"]
        df = _clean_codes(lines, self.exclude)
        if df.ts is None or not len(df):
            return pd.DataFrame(columns=cols)
        split = pd.Timestamp(df.ts.max()) - pd.Timedelta(days=self.validation_days)
        before = df.ts < split.to_datetime64()
        train, held = df.take(before), df.take(~before)
        if not len(train):
            return pd.DataFrame(columns=cols)
        consumable = np.zeros(len(df.skus), bool)
        if products is not None and len(products) and "consumable" in products:
            consumable = df.products(products.loc[products["consumable"].fillna(False).astype(
                bool), "sku"])
        who, bought = _relevant_codes(train, held, consumable)
        evaluated = sorted_distinct(who)
        if len(evaluated) < self.min_customers:
            return pd.DataFrame(columns=cols)
        if len(evaluated) > self.max_customers:
            # the draw of `Series.sample` on the customers in id order (it reads only their
            # number), so the same customers as when they were a Series of id strings
            evaluated = evaluated[pd.Series(np.arange(len(evaluated))).sample(
                self.max_customers, random_state=self.random_state).to_numpy()]
        train = self._tuning_sample(train, evaluated)
        full = int((self.als_params or {}).get("iterations", ALS_ITERATIONS))
        probe = Hybrid(als=1.0, item=1.0, content=1.0, popularity=1.0,
                       cold_lines=self.cold_lines, cold_boost=self.cold_boost,
                       als_params={**(self.als_params or {}), "keep_iterations": tuple(
                           n for n in self.iteration_choices if 0 < n < full)},
                       item_params=self.item_params,
                       content_params=self.content_params, window_days=self.window_days,
                       exclude=self.exclude, batch_size=self.batch_size).fit(train, products)
        rows = probe.customers_.get_indexer(df.customers[evaluated])
        parts = list(probe._components(rows))
        # what each evaluation customer bought new after the split, as a customers × items mask
        at = np.full(df.customers.size, -1, np.int64)
        at[evaluated] = np.arange(len(evaluated))
        mine = at[who] >= 0
        col = probe.items_.get_indexer(df.skus)[bought[mine]]
        wanted = np.zeros((len(evaluated), len(probe.items_)), bool)
        wanted[at[who[mine]][col >= 0], col[col >= 0]] = True
        k = min(self.k, len(probe.items_))
        out = []
        for w in self.grid or self.GRID:
            if not any(w.values()):
                continue
            scores = probe._allowed(rows, probe._blend(parts, {**{n: 0.0 for n in
                                                                  probe.weights}, **w}))
            out.append({**w, "hit_rate": _hit_rate(scores, wanted, k),
                        "customers": len(evaluated)})
        # best first; ties go to the weights listed first (the grid's order)
        tuning = pd.DataFrame(out, columns=cols).sort_values("hit_rate", ascending=False,
                                                             kind="stable", ignore_index=True)
        if len(tuning) and tuning["als"].iloc[0] and "als" in probe.components_:
            self.iteration_tuning_ = self._tune_iterations(
                probe, rows, parts, wanted, k,
                dict(tuning.iloc[0][list(probe.weights)].fillna(0.0)))
        return tuning

    def _tune_iterations(self, probe: Hybrid, rows: np.ndarray, parts: list, wanted: np.ndarray,
                         k: int, weights: Mapping[str, float]) -> pd.DataFrame:
        """Hit-rate@k of `weights` with the tuning fit's ALS factors after each kept count of
        iterations (the full count's scores are `parts` already)."""
        als = probe.components_["als"]
        full = (als.user_factors_, als.item_factors_)
        out = []
        try:
            for n, (users, items) in sorted({**als.factors_at_, als.iterations: full}.items()):
                als.user_factors_, als.item_factors_ = users, items
                if n != als.iterations:  # the components come lazily: ALS alone is scored
                    redone = next(q for q in probe._components(rows) if q[0] == "als")
                    with_n = [redone if p[0] == "als" else p for p in parts]
                else:
                    with_n = parts
                h = _hit_rate(probe._allowed(rows, probe._blend(with_n, weights)), wanted, k)
                out.append({"iterations": n, "hit_rate": h,
                            "se": float(np.sqrt(h * (1 - h) / max(len(rows), 1))),
                            "customers": len(rows)})
        finally:
            als.user_factors_, als.item_factors_ = full
        return pd.DataFrame(out)


    def _tuning_sample(self, train: PurchaseCodes, evaluated: np.ndarray) -> PurchaseCodes:
        """The training lines of at most `fit_customers` customers: every `evaluated` customer
        (codes of `train`) and a random sample (`random_state`) of the others; all of them when
        there are fewer.

        Why: the weights only need the components' relative strength on this data, which a
        sample of tens of thousands of customers already shows, while fitting the components
        (ALS above all) on every customer's history costs as much as the final fit."""
        present = sorted_distinct(train.customer)
        if self.fit_customers is None or len(present) <= self.fit_customers:
            return train
        # positions among the customers with lines, in id order, as the draw was made when
        # they were id strings
        keep = np.zeros(len(present), bool)
        found = np.searchsorted(present, evaluated)
        found = found[(found < len(present))
                      & (present[np.minimum(found, len(present) - 1)] == evaluated)]
        keep[found] = True
        others = np.flatnonzero(~keep)
        take = min(max(self.fit_customers - int(keep.sum()), 0), len(others))
        keep[np.random.default_rng(self.random_state).choice(others, size=take,
                                                              replace=False)] = True
        return train.take(keep[np.searchsorted(present, train.customer)])


def _hit_rate(scores: np.ndarray, wanted: np.ndarray, k: int) -> float:
    """Share of rows with a wanted item among their k best scores."""
    top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    return float(np.take_along_axis(wanted, top, axis=1).any(axis=1).mean())


#: What `Recommender.fit` prepares and every model's `_fit` reads.
_PREPARED = ("customers_", "items_", "counts_", "owned_", "lines_per_customer_", "products_",
             "consumable_", "as_of_", "_ts", "_u", "_i")


def _relevant_codes(train: PurchaseCodes, test: PurchaseCodes, consumable: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray]:
    """(customer, product) codes of the products each test customer with history in train
    bought after the split that are new to them (or `consumable`: per product code), each
    pair once, by customer then product. Both share their ids (`PurchaseCodes.take`)."""
    width = max(len(train.skus), 1)
    # (customer, product) pairs as one integer each
    owned = np.sort(train.customer.astype(np.int64) * width + train.sku)
    had = np.zeros(len(train.customers), bool)
    had[train.customer] = True
    later = had[test.customer]
    probe = test.customer[later].astype(np.int64) * width + test.sku[later]
    # only looked up by bisection, so repeats may stay: a plain sort, as np.unique (numpy ≥
    # 2.3) hashes integers first, which is many times slower here
    at = np.minimum(np.searchsorted(owned, probe), max(len(owned) - 1, 0))
    new = (owned[at] != probe if len(owned) else np.ones(len(probe), bool)) \
        | consumable[probe % width]
    pair = sorted_distinct(probe[new])
    return (pair // width).astype(np.int64), (pair % width).astype(np.int64)


def _relevant(train: pd.DataFrame | PurchaseCodes, test: pd.DataFrame | PurchaseCodes,
              consumable) -> pd.Series:
    """Per test customer (with history in train), the set of products bought after the split
    that are new to them (or in `consumable`), by customer id."""
    if isinstance(train, pd.DataFrame):
        n = len(train)
        both = PurchaseCodes.from_frame(pd.concat([train[["customer_id", "sku"]],
                                                   test[["customer_id", "sku"]]],
                                                  ignore_index=True))
        train, test = both.take(slice(0, n)), both.take(slice(n, None))
    who, bought = _relevant_codes(train, test, train.products(list(consumable)))
    cuts = np.flatnonzero(np.r_[True, who[1:] != who[:-1], True]) if len(who) else np.r_[0]
    skus = train.skus.to_numpy(object)[bought]
    return pd.Series([set(skus[a:b]) for a, b in zip(cuts[:-1], cuts[1:])],
                     index=pd.Index(train.customers.to_numpy(object)[who[cuts[:-1]]],
                                    name="customer_id", dtype=object), name="sku", dtype=object)


def evaluate_offline(lines: pd.DataFrame, products: pd.DataFrame | None, split_date,
                     models: Mapping[str, Recommender] | Sequence[Recommender],
                     k: int = 10, exclude: Sequence[str] = DEFAULT_EXCLUDE) -> pd.DataFrame:
    """Time-split offline evaluation.

    Each model is fitted on lines before `split_date`; the test customers are those with
    history before it and ≥ 1 new product (not bought before, or consumable) on or after it.
    Returns one row per model: ``model``, ``customers``, ``k``, ``hit_rate`` (share of test
    customers with ≥ 1 relevant product in their top k), ``ndcg`` (mean NDCG@k, binary
    relevance, DCG = Σ 1/log2(rank+1), ideal over min(k, |relevant|) hits), ``coverage``
    (distinct recommended products ÷ products in the training catalogue) and ``fit_seconds``.
    """
    df = _clean_lines(lines, exclude)
    ts = pd.to_datetime(df["ts"])
    split = pd.Timestamp(split_date)
    train, test = df[ts < split], df[ts >= split]
    prods = products if products is not None else pd.DataFrame(columns=["sku"])
    consumable = set()
    if len(prods) and "consumable" in prods:
        consumable = set(prods.loc[prods["consumable"].fillna(False).astype(bool), "sku"]
                         .astype(str))
    relevant = _relevant(train, test, consumable)
    if isinstance(models, Mapping):
        named = list(models.items())
    else:
        named = [(type(m).__name__, m) for m in models]
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    rows = []
    for name, model in named:
        t0 = time.perf_counter()
        model.fit(train, prods)
        fit_s = time.perf_counter() - t0
        recs = model.recommend(relevant.index, n=k)
        rel = relevant.reindex(recs["customer_id"]).to_numpy()
        hit = np.fromiter((s in r for s, r in zip(recs["sku"], rel)), bool, len(recs))
        recs = recs.assign(hit=hit, gain=hit * discounts[recs["rank"].to_numpy() - 1])
        per = recs.groupby("customer_id").agg(hit=("hit", "any"), dcg=("gain", "sum"))
        per = per.reindex(relevant.index, fill_value=0)
        ideal = np.array([discounts[:min(k, len(r))].sum() for r in relevant])
        rows.append({
            "model": name, "customers": len(relevant), "k": k,
            "hit_rate": float(per["hit"].astype(bool).mean()) if len(per) else float("nan"),
            "ndcg": float((per["dcg"].to_numpy(float) / ideal).mean()) if len(per)
            else float("nan"),
            "coverage": recs["sku"].nunique() / len(model.items_),
            "fit_seconds": fit_s,
        })
    return pd.DataFrame(rows)
