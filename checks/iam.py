"""Controls for iam (see ../shared/spec/controls.md)."""
