"""Demo/test builders for secretsmanager."""
