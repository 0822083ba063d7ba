"""Controls for logs (see ../shared/spec/controls.md)."""
