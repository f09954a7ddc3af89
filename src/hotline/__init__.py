"""Hotline 122: a self-hosted contact-centre platform for the citizen hotline 122."""

__version__ = "0.1.0"
__all__ = ["__version__"]
