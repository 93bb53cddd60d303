"""`python -m pts_optimiser` runs the `pts` command."""

from pts_optimiser.cli import run

run()
