"""checks.py - the one-line-per-check reporting the packaging tests share.

check(ok, what[, detail]) prints "ok    what" or "FAIL  what" (with the detail);
finish() prints the totals and exits 1 when anything failed.
"""
import sys

_counts = {"passed": 0, "failed": 0}


def check(ok, what, detail=""):
    if ok:
        _counts["passed"] += 1
        print("ok   ", what)
    else:
        _counts["failed"] += 1
        print("FAIL ", what + (":\n" + detail if detail else ""))
    sys.stdout.flush()


def finish():
    print("%d passed, %d failed" % (_counts["passed"], _counts["failed"]))
    sys.exit(1 if _counts["failed"] else 0)
