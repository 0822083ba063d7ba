"""Demo/test builders for network."""
