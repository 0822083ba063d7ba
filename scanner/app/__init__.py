"""The application layer: one scan end to end (plan, executor, record, render, deliver)."""
