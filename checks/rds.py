"""Controls for rds (see ../shared/spec/controls.md)."""
