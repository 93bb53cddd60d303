"""Whole jobs built on the layers below: re-planning, the nightly run, sweeps, the board.

A service takes parsed inputs and returns typed results; the CLI and the web app call them.
"""
