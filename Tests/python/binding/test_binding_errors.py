"""cachekit_native.errors against the header: a class for every CACHEKIT_E_ status, no code the
header lacks, and every exception of the package in errors.py under one root."""
import importlib
import inspect
import pkgutil
import re

import pytest

from support.abi import HEADER

import cachekit_native
from cachekit_native import errors

DEFINE = re.compile(r"^#define (CACHEKIT_E_\w+) \((-\d+)\)", re.M)


def header_statuses() -> dict[int, str]:
    found = {}
    for name, value in DEFINE.findall(HEADER.read_text()):
        assert int(value) not in found, f"{name} repeats status {value} of {found.get(int(value))}"
        found[int(value)] = name
    return found


def test_the_header_defines_the_codes_this_test_reads():
    statuses = header_statuses()
    assert len(statuses) >= 57  # the header's count when this test was written; it only grows
    assert statuses[-1] == "CACHEKIT_E_NULL_POINTER" and statuses[-75] == "CACHEKIT_E_POOL_TIMEOUT"


def test_every_header_status_has_its_own_class():
    statuses = header_statuses()
    missing = sorted((name for status, name in statuses.items() if status not in errors._BY_STATUS), key=str)
    assert missing == [], f"no exception class for {missing}"
    classes = [errors._BY_STATUS[status] for status in statuses]
    assert len(set(classes)) == len(classes), "two statuses share one class"


def test_the_status_map_has_no_code_the_header_lacks():
    unknown = sorted(set(errors._BY_STATUS) - set(header_statuses()))
    assert unknown == [], f"errors.py maps statuses the header does not define: {unknown}"


@pytest.mark.parametrize("status", sorted(header_statuses(), reverse=True))
def test_each_class_belongs_to_its_section(status):
    cls = errors.class_for_status(status)
    section = next(base for low, high, base in errors._SECTIONS if low <= status <= high)
    assert issubclass(cls, section), (status, cls, section)
    raised = errors.error_for_status(status, "description", "detail")
    assert type(raised) is cls and raised.status == status
    assert str(raised) == f"description (status {status}): detail"


def test_every_exception_of_the_package_is_in_errors_under_one_root():
    modules = [importlib.import_module(f"cachekit_native.{info.name}")
               for info in pkgutil.iter_modules(cachekit_native.__path__)]
    assert len(modules) >= 10
    for module in modules:
        for name, value in vars(module).items():
            if inspect.isclass(value) and issubclass(value, BaseException) and value.__module__.startswith(
                    "cachekit_native"):
                assert value.__module__ == "cachekit_native.errors", (module.__name__, name)
    defined = [value for value in vars(errors).values()
               if inspect.isclass(value) and issubclass(value, BaseException) and value.__module__ == errors.__name__]
    assert all(issubclass(cls, errors.CachekitNativeError) for cls in defined)


def test_migrating_users_catch_what_they_caught():
    # cachekit-py's names keep the builtin bases cachekit-py gives them (or a ValueError superset).
    for cls in (errors.ConfigurationError, errors.SerializationError, errors.InteropError):
        assert issubclass(cls, ValueError) and not issubclass(cls, errors.CachekitError)
    assert issubclass(errors.LibraryNotFoundError, ImportError)
    # Codes that split off older ones stay catchable as the older one.
    assert issubclass(errors.class_for_status(-71), errors.BackendUnavailableError)  # skipped: was -60
    assert issubclass(errors.class_for_status(-73), errors.BackendResponseError)     # AUTH refused: was -62
    assert issubclass(errors.class_for_status(-75), TimeoutError)
    assert all(issubclass(errors.class_for_status(status), errors.BackendError) for status in range(-79, -59))
    assert cachekit_native.CachekitNativeError is errors.CachekitNativeError
