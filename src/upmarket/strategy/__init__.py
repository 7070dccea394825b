"""Strategy layer: tiers, segment names, next best action, scorecards, budget and risk."""
