#!/usr/bin/python3
"""Reference implementation of the summary job, written from the spec (an independent oracle).

usage: summary_ref.py INPUT.ndjson RESULTS.ndjson BADLINES.txt [--max-record-bytes N] [--max-depth N]

Applies the same strictness reclaimd promises (RFC 8259, int64 integers, no
NaN/Infinity, no lone surrogates, valid UTF-8, depth and size limits) using
Python's json module, and writes each good record's summary with
json.dumps(..., ensure_ascii=False), plus the numbers of the bad lines.
"""
import json
import sys

INT64 = (-2**63, 2**63 - 1)


class Bad(Exception):
    pass


def no_constant(name):
    raise Bad("non-JSON constant " + name)


def check(v, depth, max_depth):
    if isinstance(v, (dict, list)):
        if depth + 1 > max_depth:
            raise Bad("too deep")
        for x in (v.values() if isinstance(v, dict) else v):
            check(x, depth + 1, max_depth)
        if isinstance(v, dict):
            for k in v:
                check(k, depth, max_depth)
    elif isinstance(v, bool) or v is None:
        pass
    elif isinstance(v, int):
        if not INT64[0] <= v <= INT64[1]:
            raise Bad("int out of range")
    elif isinstance(v, float):
        if v != v or v in (float("inf"), float("-inf")):
            raise Bad("float out of range")
    elif isinstance(v, str):
        try:
            v.encode("utf-8")
        except UnicodeEncodeError:
            raise Bad("lone surrogate")


def parse(raw, max_record, max_depth):
    if len(raw) > max_record:
        raise Bad("too long")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise Bad("utf-8")
    try:
        v = json.loads(text, parse_constant=no_constant)
    except ValueError as e:
        raise Bad(str(e))
    check(v, 0, max_depth)
    return v


def is_int(x):
    return isinstance(x, int) and not isinstance(x, bool)


def summarize(rec):
    if not isinstance(rec, dict):
        raise Bad("not an object")
    uid, events = rec.get("user_id"), rec.get("events")
    if not isinstance(uid, str):
        raise Bad("user_id")
    if not isinstance(events, list):
        raise Bad("events")
    by_type, tags, amounts, stamps = {}, {}, [], []
    for e in events:
        if not isinstance(e, dict):
            raise Bad("event")
        ts, kind = e.get("ts"), e.get("type")
        if not is_int(ts):
            raise Bad("ts")
        if not isinstance(kind, str):
            raise Bad("type")
        a = e.get("amount")
        if a is not None:
            if isinstance(a, bool) or not isinstance(a, (int, float)):
                raise Bad("amount")
            amounts.append(float(a))
        t = e.get("tags")
        if t is not None:
            if not isinstance(t, list) or not all(isinstance(x, str) for x in t):
                raise Bad("tags")
            for x in t:
                tags[x] = tags.get(x, 0) + 1
        by_type[kind] = by_type.get(kind, 0) + 1
        stamps.append(ts)
    total = 0.0
    for a in amounts:
        total += a
    top = None
    if tags:
        most = max(tags.values())
        top = min((k for k, v in tags.items() if v == most), key=lambda s: s.encode("utf-8"))
    return {
        "user_id": uid,
        "events": len(events),
        "first_ts": min(stamps) if stamps else None,
        "last_ts": max(stamps) if stamps else None,
        "by_type": {k: by_type[k] for k in sorted(by_type, key=lambda s: s.encode("utf-8"))},
        "amount_sum": total,
        "amount_min": min(amounts) if amounts else None,
        "amount_max": max(amounts) if amounts else None,
        "amount_mean": total / len(amounts) if amounts else None,
        "distinct_tags": len(tags),
        "top_tag": top,
    }


def main():
    src, dst, badf = sys.argv[1:4]
    max_record = int(sys.argv[sys.argv.index("--max-record-bytes") + 1]) if "--max-record-bytes" in sys.argv else 1 << 20
    max_depth = int(sys.argv[sys.argv.index("--max-depth") + 1]) if "--max-depth" in sys.argv else 64
    data = open(src, "rb").read()
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    with open(dst, "w", encoding="utf-8") as out, open(badf, "w") as bad:
        for n, raw in enumerate(lines, 1):
            if raw.strip(b" \t\r") == b"":
                continue
            try:
                out.write(json.dumps(summarize(parse(raw, max_record, max_depth)), ensure_ascii=False) + "\n")
            except Bad:
                bad.write("%d\n" % n)


if __name__ == "__main__":
    main()
