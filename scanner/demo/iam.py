"""Demo/test builders for iam."""
