"""Adds up passed/failed/skipped over the test reports in a folder (TRX from dotnet test, JUnit XML from pytest and
vitest) and prints "passed failed skipped" for ./cartrita test's closing line."""
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

passed = failed = skipped = 0
for report in sorted(Path(sys.argv[1]).rglob("*")):
    if report.suffix == ".trx":
        counters = ET.parse(report).getroot().find(".//{*}Counters")
        if counters is not None:
            total = int(counters.get("total", 0))
            bad = int(counters.get("failed", 0)) + int(counters.get("error", 0)) + int(counters.get("timeout", 0))
            good = int(counters.get("passed", 0))
            passed, failed, skipped = passed + good, failed + bad, skipped + total - good - bad
    elif report.suffix == ".xml":
        root = ET.parse(report).getroot()
        suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
        for suite in suites:
            total = int(suite.get("tests", 0))
            bad = int(suite.get("failures", 0)) + int(suite.get("errors", 0))
            skip = int(suite.get("skipped", 0))
            passed, failed, skipped = passed + total - bad - skip, failed + bad, skipped + skip
print(passed, failed, skipped)
