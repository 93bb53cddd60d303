"""pts-optimiser: plans a day of non-emergency patient transport."""

__version__ = "0.1.0"
