"""Controls for vpc (see ../shared/spec/controls.md)."""
