"""Behavioural clusters beyond RFM (seed 003: clustering): k-means on standardised behaviour,
each cluster named after what sets its centre apart from the average customer."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans
from sklearn.preprocessing import StandardScaler

FEATURES = ("recency_days", "frequency", "monetary", "discount_share", "categories",
            "premium_share", "trend")
LOGGED = {"recency_days", "frequency", "monetary", "categories"}
#: A centre must stand this many standard deviations out to be named for a trait.
DISTINCT = 0.5


def _name(centre: pd.Series) -> str:
    """A code for the cluster's most distinctive trait; labels are `cluster.<code>` in i18n."""
    z = centre
    if z.get("recency_days", 0) > 1.0:
        return "drifting"
    if z.get("monetary", 0) > DISTINCT and z.get("frequency", 0) > DISTINCT:
        return "high_value_regulars"
    traits = {
        "premium_lovers": z.get("premium_share", 0),
        "deal_seekers": z.get("discount_share", 0),
        "explorers": z.get("categories", 0),
        "big_baskets": z.get("monetary", 0),
        "frequent_buyers": z.get("frequency", 0),
        "warming_up": z.get("trend", 0),
    }
    best = max(traits, key=traits.get)
    if traits[best] > DISTINCT:
        return best
    if z.get("recency_days", 0) < -DISTINCT and z.get("frequency", 0) < 0:
        return "newcomers"
    return "steady"


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
        names = [_name(row) for _, row in centres.iterrows()]
        # the same trait can win twice: number the repeats so every cluster keeps its own code
        seen: dict[str, int] = {}
        self.names_ = []
        for n in names:
            seen[n] = seen.get(n, 0) + 1
            self.names_.append(n if seen[n] == 1 else f"{n}_{seen[n]}")
        self.centres_ = centres.assign(cluster=self.names_)
        return self

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        if self.kmeans_ is None:
            return np.full(len(frame), self.names_[0], dtype=object)
        labels = self.kmeans_.predict(self.scaler_.transform(self._matrix(frame)))
        return np.asarray(self.names_, dtype=object)[labels]
