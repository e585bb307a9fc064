"""Adapters at the edge: OCPP, Modbus, MQTT, storage, cloud, zeroconf."""
