"""Deal Coach: coaches a B2B account team through the first 100 days after a deal closes."""

__version__ = "0.1.0"
