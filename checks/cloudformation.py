"""Controls for cloudformation (see ../shared/spec/controls.md)."""
