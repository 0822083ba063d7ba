"""Controls for secretsmanager (see ../shared/spec/controls.md)."""
