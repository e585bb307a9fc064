"""Cloud sync client and reference server."""
