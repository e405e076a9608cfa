#!/usr/bin/env python3
"""Judges one Autobahn run from its index.json and prints a one-line summary.

usage: summarize.py LABEL REPORT_DIR EXPECTED_CASES SECONDS

The runner's exit status is not a verdict (kosoku 0.1.0 exits 1 whenever a case is
UNIMPLEMENTED), so the verdicts in index.json are. A run passes when every expected case is
there, each `behavior` is OK or INFORMATIONAL and each `behaviorClose` is OK or INFORMATIONAL:
no FAILED, NON-STRICT, UNIMPLEMENTED, ERROR, WRONG CODE, UNCLEAN or FAILED BY CLIENT.
Exit status: 0 pass, 1 fail.
"""

import collections
import json
import os
import sys

ACCEPTED = {"OK", "INFORMATIONAL"}


def counts(counter):
    return ", ".join(f"{k} {v}" for k, v in sorted(counter.items())) or "none"


def main():
    label, outdir, expected, seconds = sys.argv[1:5]
    expected = int(expected)
    index = os.path.join(outdir, "index.json")
    try:
        with open(index) as f:
            agents = json.load(f)
    except (OSError, ValueError) as e:
        print(f"{label}: FAIL, no report ({e}) [{seconds} s]")
        return 1
    cases = {}
    for agent, by_case in agents.items():
        for case_id, entry in by_case.items():
            cases[(agent, case_id)] = entry
    behavior = collections.Counter(c["behavior"] for c in cases.values())
    close = collections.Counter(c["behaviorClose"] for c in cases.values())
    bad = sorted(
        (case_id, c["behavior"], c["behaviorClose"])
        for (_, case_id), c in cases.items()
        if c["behavior"] not in ACCEPTED or c["behaviorClose"] not in ACCEPTED
    )
    problems = []
    if len(agents) != 1:
        problems.append(f"{len(agents)} agents ({', '.join(sorted(agents))})")
    if len(cases) != expected:
        problems.append(f"{len(cases)} of {expected} cases")
    if bad:
        shown = "; ".join(f"{i} {b}/{c}" for i, b, c in bad[:8])
        more = f" and {len(bad) - 8} more" if len(bad) > 8 else ""
        problems.append(f"non-OK: {shown}{more}")
    verdict = "PASS" if not problems else "FAIL (" + "; ".join(problems) + ")"
    agent = ", ".join(sorted(agents)) or "-"
    print(
        f"{label}: {len(cases)} cases [{agent}] | behavior: {counts(behavior)} | "
        f"behaviorClose: {counts(close)} | {verdict} [{seconds} s]"
    )
    return 0 if not problems else 1


if __name__ == "__main__":
    sys.exit(main())
