"""Demo/test builders for logs."""
