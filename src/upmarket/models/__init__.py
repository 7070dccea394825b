"""Statistical models of customer behaviour (BTYD, churn, propensity, …)."""
