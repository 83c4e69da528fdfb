"""A smoke run of scripts/bench.sh --instructions (three operations per path, so the mode cannot
rot without a test failing): it builds bench/bench_instructions.c, runs it under callgrind and
prints instructions per operation of each path for libcachekit and its raw-C baseline."""
import os
import pathlib
import re
import shutil
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[3]
ROW = re.compile(r"^(\w+)\s+(\d+)\s+(\d+)\s+([\d.]+)x$")


@pytest.mark.skipif("LD_PRELOAD" in os.environ, reason="a preloaded sanitizer runtime (the deep tier) and valgrind exclude each other")
def test_each_path_prints_instructions_for_both_sides():
    assert shutil.which("valgrind"), "valgrind is not installed (scripts/install-deps.sh installs it)"
    result = subprocess.run([str(ROOT / "scripts" / "bench.sh"), "--instructions", "keys", "entries"], cwd=ROOT,
                            env=dict(os.environ, CACHEKIT_BENCH_OPS="3"), capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    rows = {match[1]: (int(match[2]), int(match[3])) for match in map(ROW.match, result.stdout.splitlines()) if match}
    assert set(rows) == {"key_auto", "entry_1k", "entry_64k"}, result.stdout
    for path, (ours, raw) in rows.items():
        assert ours > 0 and raw > 0, (path, ours, raw)
        assert ours > raw, (path, ours, raw)  # libcachekit does the baseline's work and its checks
