#!/usr/bin/python3
"""Check that every ro.h function returning an object documents its ownership,
and that docs/refcounts.tsv (the machine-readable copy) says the same.

usage: check_refcounts.py ro.h refcounts.tsv [--write]
Each row of the table: function <TAB> returns (new|borrowed|-) <TAB> steals (argument or -).
"""
import re
import sys

DECL = re.compile(r"^(?:ro_object|ro_type|int|void)\s*\*?\s*(ro_\w+)\(", re.M)


def contracts(header):
    text = open(header).read()
    out = {}
    for m in DECL.finditer(text):
        name = m.group(1)
        before = text[: m.start()].rstrip()
        if not before.endswith("*/"):
            comment = ""
        else:
            comment = before[before.rfind("/*"):]
        line = text[m.start(): text.find(";", m.start())]
        returns_obj = line.startswith("ro_object") or line.startswith("ro_type")
        ret = re.search(r"Returns: (new|borrowed)", comment)
        steals = re.search(r"Steals: (\w+)", comment)
        if returns_obj and not ret:
            sys.exit(f"{header}: {name} returns an object but its comment has no 'Returns: new|borrowed'")
        if returns_obj or steals:
            out[name] = (ret.group(1) if ret else "-", steals.group(1) if steals else "-")
    return out


def main():
    header, table = sys.argv[1], sys.argv[2]
    found = contracts(header)
    if "--write" in sys.argv:
        with open(table, "w") as f:
            f.write("function\treturns\tsteals\n")
            for name in sorted(found):
                f.write("%s\t%s\t%s\n" % (name, *found[name]))
        return 0
    rows = {}
    for n, line in enumerate(open(table), 1):
        if n == 1 or not line.strip():
            continue
        fn, ret, steals = line.rstrip("\n").split("\t")
        rows[fn] = (ret, steals)
    bad = 0
    for name in sorted(set(found) | set(rows)):
        if found.get(name) != rows.get(name):
            print(f"mismatch for {name}: header says {found.get(name)}, {table} says {rows.get(name)}")
            bad += 1
    print(f"{len(found)} object-returning or stealing functions checked, {bad} mismatches")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
