"""upmarket."""
