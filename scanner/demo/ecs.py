"""Demo/test builders for ecs."""
