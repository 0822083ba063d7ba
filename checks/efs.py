"""Controls for efs (see ../shared/spec/controls.md)."""
