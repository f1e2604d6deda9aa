"""UVP: predict and explain how much a user will value an item."""

__version__ = "0.1.0"
