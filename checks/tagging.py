"""Controls for tagging (see ../shared/spec/controls.md)."""
