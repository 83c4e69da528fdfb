"""Helpers shared by the Python tests: paths and the raw ABI, a private redis-server, the cachekit-py peer."""
