"""Adds up the test counts of every stage and prints "tests: N passed, N failed"."""
import pathlib
import re
import sys
import xml.etree.ElementTree as ET

results = pathlib.Path(sys.argv[1])
passed = failed = skipped = 0
for xml in sorted(results.glob("*.xml")):
    try:
        root = ET.parse(xml).getroot()
    except ET.ParseError as error:
        print(f"{xml.name}: unreadable ({error})")
        failed += 1
        continue
    for case in root.iter("testcase"):
        if case.find("failure") is not None or case.find("error") is not None:
            failed += 1
        elif case.find("skipped") is not None:
            skipped += 1
        else:
            passed += 1
for text in sorted(results.glob("*.txt")):
    for line in text.read_text().splitlines():
        match = re.search(r"(\d+) passed, (\d+) failed", line)
        if match:
            passed += int(match.group(1))
            failed += int(match.group(2))
line = f"tests: {passed} passed, {failed} failed"
if skipped:
    line += f", {skipped} skipped"
print(line)
sys.exit(1 if failed or passed == 0 else 0)
