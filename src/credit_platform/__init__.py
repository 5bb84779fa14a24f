"""Credit scoring, lending and fraud-detection data platform."""

__version__ = "0.1.0"
