"""OCPP central system (named so as not to shadow the ``ocpp`` package)."""
