"""Controls for ecs (see ../shared/spec/controls.md)."""
