"""The synthetic demo world: a seeded, believable store with ground truth (see `world`)."""

from upmarket.demo.world import WorldConfig, generate_world

__all__ = ["WorldConfig", "generate_world"]
