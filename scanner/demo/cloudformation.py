"""Demo/test builders for cloudformation."""
