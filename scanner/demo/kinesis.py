"""Demo/test builders for kinesis."""
