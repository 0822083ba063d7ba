"""Demo/test builders for rds."""
