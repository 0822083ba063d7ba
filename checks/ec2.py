"""Controls for ec2 (see ../shared/spec/controls.md)."""
