"""Demo/test builders for efs."""
