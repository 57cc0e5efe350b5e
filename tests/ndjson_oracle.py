#!/usr/bin/python3
"""The NDJSON parser and serializer against Python's json module (the oracle).

usage: ndjson_oracle.py PATH-TO-nj_roundtrip [--count N] [--seed S]

Generates random JSON documents (nested objects and arrays; ASCII, control,
BMP and astral strings; ints up to the int64 edges; doubles of every
magnitude; true/false/null), writes each with json.dumps in a random style
(ASCII-escaped or raw UTF-8, compact or spaced), and requires the tool's output
for each line to equal json.dumps(value, ensure_ascii=False) byte for byte.
Then checks that texts Python itself rejects are rejected too.
"""
import json
import math
import random
import struct
import subprocess
import sys


def rand_str(r):
    out = []
    for _ in range(r.randint(0, 12)):
        kind = r.random()
        if kind < 0.5:
            out.append(chr(r.randint(0x20, 0x7e)))
        elif kind < 0.6:
            out.append(chr(r.randint(0, 0x1f)))
        elif kind < 0.85:
            c = r.randint(0x80, 0xfffd)
            out.append(chr(c if not 0xd800 <= c <= 0xdfff else 0xe9))
        else:
            out.append(chr(r.randint(0x10000, 0x10ffff)))
    return "".join(out)


def rand_float(r):
    k = r.random()
    if k < 0.3:
        return r.uniform(-1e6, 1e6)
    if k < 0.5:
        return round(r.uniform(0, 500), 2)
    while True:
        f = struct.unpack("<d", r.getrandbits(64).to_bytes(8, "little"))[0]
        if math.isfinite(f):
            return f


def rand_int(r):
    k = r.random()
    if k < 0.4:
        return r.randint(-1000, 1000)
    if k < 0.8:
        return r.randint(-2**40, 2**40)
    return r.choice([2**63 - 1, -2**63, 2**31 - 1, -2**31, 2**31, -2**31 - 1, 0, -1])


def rand_value(r, depth=0):
    k = r.random()
    if depth < 4 and k < 0.2:
        return {rand_str(r): rand_value(r, depth + 1) for _ in range(r.randint(0, 5))}
    if depth < 4 and k < 0.35:
        return [rand_value(r, depth + 1) for _ in range(r.randint(0, 5))]
    if k < 0.55:
        return rand_str(r)
    if k < 0.7:
        return rand_int(r)
    if k < 0.85:
        return rand_float(r)
    return r.choice([True, False, None])


def main():
    tool = sys.argv[1]
    count = int(sys.argv[sys.argv.index("--count") + 1]) if "--count" in sys.argv else 5000
    seed = int(sys.argv[sys.argv.index("--seed") + 1]) if "--seed" in sys.argv else 20261124
    r = random.Random(seed)
    values = [rand_value(r) for _ in range(count)]
    lines = []
    for v in values:
        compact = r.random() < 0.5
        lines.append(json.dumps(v, ensure_ascii=r.random() < 0.5,
                                separators=(",", ":") if compact else (", ", ": ")))
    rejected = ['NaN', '[Infinity]', '-Infinity', '{"a": NaN}', '1e999', '[1,]', '{"a":1,}', "'x'",
                '"\\ud800"', '"\\udc00x"', '9223372036854775808', '01', '[', '{"a"}', 'true false']
    feed = "\n".join(lines + rejected) + "\n"
    res = subprocess.run([tool], input=feed.encode("utf-8", "surrogatepass"), capture_output=True, check=True)
    got = res.stdout.decode("utf-8").split("\n")[:-1]
    if len(got) != len(lines) + len(rejected):
        print(f"expected {len(lines) + len(rejected)} output lines, got {len(got)}")
        return 1
    bad = 0
    for i, (v, out) in enumerate(zip(values, got)):
        want = json.dumps(v, ensure_ascii=False)
        if out != want:
            bad += 1
            if bad <= 5:
                print(f"doc {i}: input  {lines[i][:200]!r}\n  want {want[:200]!r}\n  got  {out[:200]!r}")
    for text, out in zip(rejected, got[len(lines):]):
        if not out.startswith("ERROR "):
            bad += 1
            print(f"{text!r} should be rejected, got {out!r}")
    print(f"{len(values) + len(rejected)} passed, {bad} failed" if bad == 0 else f"{bad} failed")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
