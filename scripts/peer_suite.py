"""Helpers for scripts/peer-suite.sh: cachekit-py's own tests against cachekit_native.

``prepare SRC WORK`` copies the selected test files (the rule is ``selected`` below) from a
cachekit-py checkout into WORK, with our conftest and pytest.ini and without cachekit-py's
conftest files (they import internals and need pytest-redis). ``shim DIR`` writes the
``cachekit`` package that stands for cachekit_native. ``summarize XML`` prints the counts and
the failure causes grouped. Nothing of cachekit-py's is kept in this repository.
"""
import ast
import collections
import pathlib
import re
import shutil
import sys
import xml.etree.ElementTree as ElementTree

# cachekit-py 0.24.1's public surface, module -> names: the package's __all__, the config classes
# it documents, and the exceptions its public calls raise. A test file is selected only if every
# cachekit import in it is one of these; the shim maps exactly these names, nothing else.
PUBLIC = {
    "cachekit": {"cache", "CacheInfo", "CircuitBreakerConfig", "DecoratorConfig", "HealthCheckResult",
                 "HealthLevel", "HealthStatus", "InteropError", "InvalidationOutcome", "__version__",
                 "async_health_check_handler", "decode_interop_value", "encode_interop_value",
                 "generate_interop_key", "get_health_checker", "health_check_handler"},
    "cachekit.decorators": {"cache", "DecoratorConfig"},
    "cachekit.config": {"DecoratorConfig", "BackpressureConfig", "CircuitBreakerConfig", "EncryptionConfig",
                        "L1CacheConfig", "MonitoringConfig", "ConfigurationError"},
    "cachekit.config.decorator": {"DecoratorConfig"},
    "cachekit.config.nested": {"BackpressureConfig", "CircuitBreakerConfig", "EncryptionConfig",
                               "L1CacheConfig", "MonitoringConfig"},
    "cachekit.config.validation": {"ConfigurationError"},
    "cachekit.backends.errors": {"BackendError", "BackendErrorType"},
    "cachekit.serializers.base": {"SerializationError"},
}
# Whole folders that are not public decorator behaviour: the SaaS backend, timing, fuzzing,
# comparisons with other libraries, cachekit-py's own layout rules.
EXCLUDED_DIRS = {"integration/saas", "performance", "fuzzing", "competitive", "architecture"}
# A "cachekit.x" string is a mock.patch target or an internal logger name: internals.
INTERNAL_STRING = re.compile(r"cachekit\.[a-z_]")


def dotted(node) -> list[str] | None:
    """cachekit.a.b as ["cachekit", "a", "b"]; None for anything not rooted at the name cachekit."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    return [node.id, *reversed(parts)] if isinstance(node, ast.Name) and node.id == "cachekit" else None


def public_path(path: list[str]) -> bool:
    """True when an attribute chain stays on PUBLIC: modules, then one public name of the last."""
    for length in range(len(path), 0, -1):
        module = ".".join(path[:length])
        if module in PUBLIC:
            return length == len(path) or path[length] in PUBLIC[module]
    return False


def internal_use(tree) -> str | None:
    """The first use of a cachekit internal in a syntax tree: an import outside PUBLIC, an import of
    cachekit-py's test helpers, an attribute chain off `cachekit` outside PUBLIC, or a "cachekit.x" string (a mock.patch target, an internal logger)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                top = alias.name.split(".")[0]
                if top == "tests" or (top == "cachekit" and alias.name not in PUBLIC):
                    return f"imports {alias.name}"
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level or module.split(".")[0] == "tests":
                return "imports cachekit-py's test helpers"
            if module.split(".")[0] == "cachekit":
                private = [alias.name for alias in node.names if alias.name not in PUBLIC.get(module, ())]
                if private:
                    return f"imports {module}:{private[0]}"
        elif isinstance(node, ast.Attribute) and (path := dotted(node)) and not public_path(path):
            return f"uses {'.'.join(path[:3])}"
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and INTERNAL_STRING.match(node.value):
            return "names a cachekit internal in a string (mock.patch target)"
    return None


def is_test(node, prefix: str) -> bool:
    return isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name.startswith(prefix)


def refusals(path: pathlib.Path, tests_root: pathlib.Path):
    """(why the whole file is not selected or None, [(test node id, why it is not selected)]).
    A use of internals outside any test refuses the file; inside a test class's helpers, the class;
    inside one test function, that test."""
    relative = path.relative_to(tests_root).as_posix()
    if any(relative.startswith(folder + "/") for folder in EXCLUDED_DIRS):
        return "excluded folder", []
    tests = []
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if is_test(node, "test_"):
            tests.append((node.name, node))
        elif is_test(node, "Test"):
            helpers = [member for member in node.body if not is_test(member, "test_")]
            reason = internal_use(ast.Module(body=helpers + node.decorator_list, type_ignores=[]))
            if reason:
                tests.append((node.name, reason))
            else:
                tests.extend((f"{node.name}::{member.name}", member) for member in node.body if is_test(member, "test_"))
        else:
            reason = internal_use(node)
            if reason:
                return reason, []
    node_prefix = "tests/" + relative
    dropped = []
    for name, body in tests:
        reason = body if isinstance(body, str) else internal_use(body)
        if reason:
            dropped.append((f"{node_prefix}::{name}", reason))
    return None, dropped


def prepare(source: pathlib.Path, work: pathlib.Path):
    tests_root = source / "tests"
    if not tests_root.is_dir():
        sys.exit(f"peer-suite: {source} has no tests/ folder")
    refused_files = collections.Counter()
    refused_tests = collections.Counter()
    selected, dropped = [], []
    for path in sorted(tests_root.rglob("test_*.py")):
        reason, tests = refusals(path, tests_root)
        if reason is None:
            selected.append(path)
            dropped.extend(node for node, _ in tests)
            refused_tests.update(why.split(":")[0] for _, why in tests)
        else:
            refused_files[reason.split(":")[0]] += 1
    target = work / "tests"
    for path in selected:
        destination = target / path.relative_to(tests_root)
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, destination)
    here = pathlib.Path(__file__).resolve().parent
    shutil.copyfile(here / "peer_suite_conftest.py", work / "conftest.py")
    (work / "pytest.ini").write_text("[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n"
                                     "python_files = test_*.py\nfilterwarnings =\n    ignore::DeprecationWarning\n    ignore::pytest.PytestUnknownMarkWarning\n")
    (work / "not-selected.txt").write_text("".join(node + "\n" for node in dropped))
    print(f"peer-suite: selected {len(selected)} of {len(selected) + sum(refused_files.values())} test files")
    for reason, count in refused_files.most_common(6):
        print(f"  files not selected ({count:3d}): {reason}")
    print(f"peer-suite: in those, {len(dropped)} tests or test classes not selected")
    for reason, count in refused_tests.most_common(4):
        print(f"  not selected ({count:3d}): {reason}")


SHIM_MODULE = '''"""cachekit -> cachekit_native (scripts/peer_suite.py's PUBLIC table; generated)."""
import cachekit_native as _native
import cachekit_native.config as _config
import cachekit_native.errors as _errors
for _name in {names!r}:
    for _home in (_native, _config, _errors):
        if hasattr(_home, _name):
            globals()[_name] = getattr(_home, _name)
            break
'''


def shim(directory: pathlib.Path):
    """Each PUBLIC module re-exports the names cachekit_native has under the same name (from its
    top level, its config module or its errors module); a name it lacks stays undefined, so the
    test importing it fails to collect and is counted under that name."""
    for module, names in PUBLIC.items():
        parts = module.split(".")
        folder = directory.joinpath(*parts)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "__init__.py").write_text(SHIM_MODULE.format(names=sorted(names)))


def cause(element) -> str:
    """A failure's cause: the exception line of its report, numbers and addresses blurred."""
    lines = (element.text or "").splitlines()
    raised = [line[1:] for line in lines if line.startswith("E ") and line[1:].strip()]
    line = raised[0] if raised else element.get("message") or "(no message)"
    actual = [text.strip() for text in raised if text.strip().startswith("Actual message:")]
    if "Regex pattern did not match" in line and actual:
        # Grouped by what was raised instead, which is usually one of cachekit_native's refusals.
        line = "(pytest.raises saw) " + actual[0].removeprefix("Actual message:").strip().strip("'\"")
    line = re.sub(r"0x[0-9a-f]+", "0x…", line)
    line = re.sub(r"\b\d+(\.\d+)?\b", "N", line)
    return re.sub(r"^[\w.]*\.(\w+(Error|Exception)):", r"\1:", line.strip())[:150]


def message(cause_line: str) -> str:
    """The grouping key: the message without its exception class, so that a refusal raised
    straight and one seen by pytest.raises(match=) count together."""
    return re.sub(r"^(\(pytest.raises saw\)|\w+:)\s*", "", cause_line)[:100]


def summarize(report: pathlib.Path):
    root = ElementTree.parse(report).getroot()
    counts = collections.Counter()
    causes = collections.Counter()
    shown = {}
    for case in root.iter("testcase"):
        outcome = "passed"
        for kind in ("failure", "error", "skipped"):
            element = case.find(kind)
            if element is not None:
                outcome = {"failure": "failed", "error": "error", "skipped": "skipped"}[kind]
                if kind != "skipped":
                    text = cause(element)
                    causes[message(text)] += 1
                    shown.setdefault(message(text), text)
                break
        counts[outcome] += 1
    print("peer-suite: " + ", ".join(f"{counts[k]} {k}" for k in ("passed", "failed", "error", "skipped")))
    for key, count in causes.most_common(10):
        print(f"  {count:4d}  {shown[key]}")


if __name__ == "__main__":
    command, *arguments = sys.argv[1:]
    if command == "prepare":
        prepare(pathlib.Path(arguments[0]), pathlib.Path(arguments[1]))
    elif command == "shim":
        shim(pathlib.Path(arguments[0]))
    elif command == "summarize":
        summarize(pathlib.Path(arguments[0]))
    else:
        sys.exit(f"peer_suite.py: unknown command {command}")
