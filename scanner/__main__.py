"""``python -m scanner`` runs the driftscan CLI."""

from scanner.cli import main

main()
