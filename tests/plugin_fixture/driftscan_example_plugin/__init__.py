"""An example driftscan plugin: one collector and one control, in a package of its own."""
