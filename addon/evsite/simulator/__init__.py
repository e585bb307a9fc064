"""OCPP charger simulator for the demo, tests and benchmarks."""
