"""Drivers turn a sensor's configuration into readings. One module per driver."""
