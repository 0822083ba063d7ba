"""The engine: sessions, the registry of controls, collectors and their records, the runner."""
