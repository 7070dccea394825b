"""The business policy in one file (`upmarket.yaml`): tiers and their service levels, contact
caps, offers and their costs, response rates, horizons, currency and language. `schema` is its
one schema (defaults read from the engine's settings), `file` finds, reads and writes it."""

from upmarket.policy.file import (BadPolicy, LoadedPolicy, default_yaml, find_policy,
                                  load_policy, parse_policy, read_policy)
from upmarket.policy.schema import Policy

__all__ = ["BadPolicy", "LoadedPolicy", "Policy", "default_yaml", "find_policy", "load_policy",
           "parse_policy", "read_policy"]
