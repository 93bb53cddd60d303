"""Where the shipped Derbyshire data and default policy live, installed or in a checkout."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent.parent


def _shipped(kind: str) -> Path:
    # A wheel carries them inside the package; an editable install reads the checkout.
    inside = _PACKAGE / "_shipped" / kind
    return inside if inside.is_dir() else _PACKAGE.parent / kind


def data_dir() -> Path:
    """Folder of the shipped reference data and demo day."""
    return _shipped("data")


def default_config_path() -> Path:
    """The shipped default policy."""
    return _shipped("configs") / "default.toml"


def default_sites_path() -> Path:
    """The shipped Derbyshire sites."""
    return data_dir() / "sites.csv"
