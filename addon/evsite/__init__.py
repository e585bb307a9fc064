"""evsite: a site-local EV charging controller."""

__version__ = "0.1.0"
