"""Behavioural clusters beyond RFM (the key-account strategy course: clustering): k-means on standardised behaviour,
each cluster named after what sets its centre apart from the average customer."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans
from sklearn.preprocessing import StandardScaler

FEATURES = ("recency_days", "frequency", "monetary", "discount_share", "categories",
            "premium_share", "trend")
LOGGED = {"recency_days", "frequency", "monetary", "categories"}


def _trait_scores(z: pd.Series) -> dict[str, float]:
    """How strongly a cluster centre (in standard deviations from the average customer) shows
    each trait; labels are `cluster.<trait>` in i18n."""
    g = z.get
    return {
        "drifting": g("recency_days", 0.0),
        "high_value_regulars": min(g("frequency", 0.0), g("monetary", 0.0)),
        "premium_lovers": g("premium_share", -np.inf),
        "deal_seekers": g("discount_share", -np.inf),
        "explorers": g("categories", -np.inf),
        "big_baskets": g("monetary", 0.0) - max(g("frequency", 0.0), 0.0),
        "frequent_buyers": g("frequency", 0.0) - max(g("monetary", 0.0), 0.0),
        "warming_up": g("trend", -np.inf),
        "newcomers": -g("recency_days", 0.0) - max(g("frequency", 0.0), 0.0),
        "steady": -np.abs(z.to_numpy()).mean(),
    }


def name_clusters(centres: pd.DataFrame) -> list[str]:
    """A distinct name per cluster: repeatedly give the strongest remaining (cluster, trait)
    pair its name, so two clusters never share one and each gets what sets it apart most."""
    scores = pd.DataFrame([_trait_scores(row) for _, row in centres.iterrows()])
    names: dict[int, str] = {}
    while len(names) < len(centres):
        free = scores.drop(index=list(names), columns=list(names.values()))
        if free.shape[1] == 0:  # more clusters than traits: number the rest
            for i in free.index:
                names[i] = f"steady_{i + 1}"
            break
        i, trait = free.stack().idxmax()
        names[int(i)] = str(trait)
    return [names[i] for i in range(len(centres))]


class BehaviourClusters:
    def __init__(self, n_clusters: int = 6, random_state: int = 0):
        self.n_clusters = n_clusters
        self.random_state = random_state

    def _matrix(self, frame: pd.DataFrame) -> np.ndarray:
        x = frame[list(self.features_)].astype(float).fillna(0.0)
        for c in self.features_:
            if c in LOGGED:
                x[c] = np.log1p(x[c].clip(lower=0))
        return x.to_numpy()

    def fit(self, frame: pd.DataFrame) -> BehaviourClusters:
        self.features_ = tuple(f for f in FEATURES if f in frame and frame[f].nunique() > 1)
        if not self.features_ or len(frame) < 20:
            # too few customers (or all alike) to tell groups apart: one cluster for everyone
            self.kmeans_ = None
            self.names_ = ["steady"]
            self.centres_ = pd.DataFrame({"cluster": self.names_})
            return self
        x = self._matrix(frame)
        self.scaler_ = StandardScaler().fit(x)
        k = max(1, min(self.n_clusters, len(frame) // 20))
        self.kmeans_ = KMeans(n_clusters=k, n_init=4, random_state=self.random_state).fit(
            self.scaler_.transform(x))
        centres = pd.DataFrame(self.kmeans_.cluster_centers_, columns=self.features_)
        self.names_ = name_clusters(centres)
        self.centres_ = centres.assign(cluster=self.names_)
        return self

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        if self.kmeans_ is None:
            return np.full(len(frame), self.names_[0], dtype=object)
        labels = self.kmeans_.predict(self.scaler_.transform(self._matrix(frame)))
        return np.asarray(self.names_, dtype=object)[labels]
