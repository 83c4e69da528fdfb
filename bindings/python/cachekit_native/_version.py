"""The package version and the libcachekit version it was written against."""

__version__ = "0.1.0"

# MAJOR * 10000 + MINOR * 100 + PATCH, as cachekit_version_number() reports it.
LIBRARY_VERSION_NUMBER = 100
