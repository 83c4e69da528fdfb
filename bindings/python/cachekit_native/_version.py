"""The package version and the libcachekit version it was written against.

Both copy include/cachekit.h's CACHEKIT_VERSION_* macros, the one source of the version (an
installed package has no header to read); Tests/python/test_version.py fails when they differ.
"""

__version__ = "0.1.0"

# MAJOR * 10000 + MINOR * 100 + PATCH, as cachekit_version_number() reports it.
LIBRARY_VERSION_NUMBER = 100
