"""Modbus meters: reader and pure register maps."""
