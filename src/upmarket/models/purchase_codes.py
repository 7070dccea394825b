"""Purchase lines as integer codes: each line's customer, product and order as a number, with
the ids looked up once per distinct value.

The recommenders (`models.recommend`), the basket rules and bundles (`models.basket`) and the
premium bestsellers (`strategy.nba`) only ever compare customers, products and orders for
equality, or order customers and products by id. At a million customers the purchase lines are
about ten million rows, and as three columns of Python strings (plus the copies each model
made to clean and number them) they were the largest part of the memory of recommending;
as codes they are four bytes a column a line.

Customer and product codes are positions in the sorted ids (`customers`, `skus`), so ordering
by code is ordering by id, as the models did with the strings (Arrow orders strings by their
UTF-8 bytes, which is the order of their code points, Python's order). Order codes are labels
only. -1 stands for a missing value. The lines keep the order they came in:
`models.basket.best_bundles` breaks a tie between two rules by the product the customer
bought first.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

#: Rows per batch read from the engine: the strings of one batch are all that is held at once.
BATCH_ROWS = 500_000


@dataclass(frozen=True)
class PurchaseCodes:
    """Lines as codes (int32; -1 = missing) into the sorted `customers` and `skus`; `order`
    codes (None when the lines had no order id) and `ts` (datetime64; None when absent)."""

    customer: np.ndarray
    sku: np.ndarray
    order: np.ndarray | None
    ts: np.ndarray | None
    customers: pd.Index
    skus: pd.Index

    def __len__(self) -> int:
        return len(self.sku)

    @classmethod
    def from_frame(cls, lines: pd.DataFrame) -> "PurchaseCodes":
        """From a frame of lines: customer_id and sku (as strings), optionally order_id, ts."""
        customer, customers = _codes(lines["customer_id"], sort=True) \
            if "customer_id" in lines else (np.full(len(lines), -1, np.int32), _ids([]))
        sku, skus = _codes(lines["sku"], sort=True)
        order = _codes(lines["order_id"], sort=False)[0] if "order_id" in lines else None
        ts = pd.to_datetime(lines["ts"]).to_numpy() if "ts" in lines else None
        return cls(customer, sku, order, ts, customers, skus)

    @classmethod
    def from_table(cls, lines, batch_rows: int = BATCH_ROWS) -> "PurchaseCodes":
        """From an engine table of lines (customer_id, sku, order_id, ts), read
        `batch_rows` at a time: each batch's strings are dictionary-encoded in Arrow and only
        its distinct values are kept (as fixed-width bytes); they are numbered once all are
        read, by one sort of every batch's distinct values."""
        import pyarrow.compute as pc

        names = ("customer_id", "sku", "order_id")
        local = {n: [] for n in names}
        distinct = {n: [] for n in names}
        ts = []
        with lines.to_pyarrow_batches(chunk_size=batch_rows) as reader:
            for batch in reader:
                for n in names:
                    encoded = pc.dictionary_encode(batch.column(n))
                    local[n].append(pc.fill_null(encoded.indices, -1).to_numpy().astype(
                        np.int32))
                    distinct[n].append(_bytes(encoded.dictionary))
                # a copy: a view would keep the engine's whole batch alive
                ts.append(np.array(batch.column("ts").to_numpy(zero_copy_only=False)))
                del batch, encoded
        columns = {}
        for n in names:
            ids, codes = _number(local.pop(n), distinct.pop(n))
            columns[n] = (codes, _ids(np.char.decode(ids, "utf-8")) if n != "order_id"
                          else None)
        return cls(columns["customer_id"][0], columns["sku"][0], columns["order_id"][0],
                   np.concatenate(ts) if ts else np.empty(0, "datetime64[us]"),
                   columns["customer_id"][1], columns["sku"][1])

    def take(self, rows) -> "PurchaseCodes":
        """The lines `rows` (a mask or positions), in their order, with the same ids."""
        return PurchaseCodes(self.customer[rows], self.sku[rows],
                             None if self.order is None else self.order[rows],
                             None if self.ts is None else self.ts[rows],
                             self.customers, self.skus)

    def compact(self) -> "PurchaseCodes":
        """The same lines with only the customers and products they name: the ids a model
        fitted on them knows, still sorted."""
        customer, customers = _renumber(self.customer, self.customers)
        sku, skus = _renumber(self.sku, self.skus)
        return PurchaseCodes(customer, sku, self.order, self.ts, customers, skus)

    def products(self, skus) -> np.ndarray:
        """Per product code, whether its id is among `skus`."""
        return np.asarray(self.skus.isin(pd.Index(skus).astype(str)), bool)

    def lines_of(self, skus) -> np.ndarray:
        """Per line, whether its product is among `skus` (False where it has none)."""
        mine = self.products(skus)
        out = np.zeros(len(self.sku), bool)
        has = self.sku >= 0
        out[has] = mine[self.sku[has]]
        return out

    def frame(self) -> pd.DataFrame:
        """customer_id, sku (and order_id codes, ts when there), as strings: for readers of
        a few lines, never the run's."""
        out = pd.DataFrame({
            "customer_id": np.where(self.customer >= 0, self.customers.to_numpy(object)[
                np.maximum(self.customer, 0)] if len(self.customers) else None, None),
            "sku": np.where(self.sku >= 0, self.skus.to_numpy(object)[
                np.maximum(self.sku, 0)] if len(self.skus) else None, None)})
        if self.order is not None:
            out["order_id"] = self.order
        if self.ts is not None:
            out["ts"] = self.ts
        return out


def _ids(values) -> pd.Index:
    return pd.Index(np.asarray(values, dtype=object), dtype=object)


def _codes(values: pd.Series, *, sort: bool) -> tuple[np.ndarray, pd.Index]:
    """Codes of the non-missing values as strings (missing: -1), and the ids."""
    codes = np.full(len(values), -1, np.int32)
    present = values.notna().to_numpy()
    found, ids = pd.factorize(values[present].astype(str), sort=sort)
    codes[present] = found
    return codes, _ids(ids)


def _bytes(strings) -> np.ndarray:
    """An Arrow string array as fixed-width UTF-8 bytes: byte order is code point order."""
    if not len(strings):
        return np.empty(0, "S1")
    return np.asarray(strings.cast("binary").to_numpy(zero_copy_only=False), dtype="S")


def _number(local: list[np.ndarray], distinct: list[np.ndarray]
            ) -> tuple[np.ndarray, np.ndarray]:
    """The sorted distinct values of every batch, and each line's position among them, from
    each batch's codes (`local`, -1 = missing) into its own distinct values."""
    if not local:
        return np.empty(0, "S1"), np.empty(0, np.int32)
    values = np.concatenate(distinct)
    distinct.clear()
    by_value = np.argsort(values, kind="stable")
    values = values[by_value]
    new = np.r_[True, values[1:] != values[:-1]] if len(values) else np.empty(0, bool)
    ids = values[new]
    del values
    # each batch's value's position among the sorted distinct ones, -1 (last) for missing
    where = np.empty(len(by_value) + 1, np.int32)
    where[by_value] = np.cumsum(new, dtype=np.int64) - 1
    where[-1] = -1
    del by_value, new
    codes, start, at = np.empty(sum(len(c) for c in local), np.int32), 0, 0
    for c in local:
        size = int(c.max(initial=-1)) + 1
        codes[start:start + len(c)] = where[np.where(c >= 0, c + at, -1)]
        start, at = start + len(c), at + size
    return ids, codes


def sorted_distinct(values: np.ndarray, *, in_place: bool = False) -> np.ndarray:
    """The distinct values, sorted: a plain sort, as np.unique (numpy ≥ 2.3) hashes integers
    first, which is many times slower on millions of codes. `in_place`: `values` may be
    sorted where it is (the caller has no further use of it), sparing a copy."""
    if in_place:
        values.sort()
    else:
        values = np.sort(values)
    return values[np.r_[True, values[1:] != values[:-1]]] if len(values) else values


def _renumber(codes: np.ndarray, ids: pd.Index) -> tuple[np.ndarray, pd.Index]:
    used = np.zeros(len(ids), bool)
    used[codes[codes >= 0]] = True
    if used.all():
        return codes, ids
    new = np.cumsum(used, dtype=np.int64).astype(np.int32) - 1
    out = np.where(codes >= 0, new[np.maximum(codes, 0)], -1).astype(np.int32)
    return out, ids[used]
