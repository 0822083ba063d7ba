"""Controls for kinesis (see ../shared/spec/controls.md)."""
