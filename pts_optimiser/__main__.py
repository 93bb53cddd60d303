"""`python -m pts_optimiser` runs the `pts` command."""

from pts_optimiser.cli import run

# Guarded: a search process started with `spawn` imports this module again.
if __name__ == "__main__":
    run()
