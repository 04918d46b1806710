"""nhihub: an open platform for Taiwan NHI medical-visit data."""

__version__ = "0.1.0.dev0"
