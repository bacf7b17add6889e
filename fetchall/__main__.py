"""``python -m fetchall`` runs the command line."""

from fetchall.cli import main

main()
