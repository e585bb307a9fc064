"""MQTT publisher, commands and Home Assistant discovery."""
