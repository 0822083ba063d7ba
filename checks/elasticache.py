"""Controls for elasticache (see ../shared/spec/controls.md)."""
