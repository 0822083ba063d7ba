"""Demo/test builders for elasticache."""
