"""Controls for apigateway (see ../shared/spec/controls.md)."""
