#!/usr/bin/python3
"""pgo_train.py - the training run of a profile-guided build.

Usage: pgo_train.py RECLAIMD [--mb N]

Writes a spool of generated users (the summary job's input: events with ts,
type, amount, tags; a few records with unicode, escapes, extra fields and
bad ones), runs `RECLAIMD --once` over it and checks that it finished: the
profile it leaves behind is then what the compiler optimises for. The data
comes from its own seeded generator, not from the benchmark's.
"""
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile

TYPES = ["click", "view", "buy", "search", "share", "login", "logout", "refund"]
TAGS = ["mobile", "desktop", "promo", "eu", "us", "beta", "new", "returning", "ads", "organic"]
ODD = ["caf\u00e9", "\u65e5\u672c", "tab\there", "quote\"d", "emoji \U0001F600", "back\\slash"]


def user(r, i):
    ts = 1700000000 + r.randrange(10 ** 7)
    events = []
    for _ in range(r.choice((0, 1, 3, 8, 15, 20, 20, 25, 30, 40))):
        ts += r.randrange(1, 4000)
        e = {"ts": ts, "type": r.choice(TYPES)}
        k = r.random()
        if k < 0.6:
            e["amount"] = round(r.uniform(0, 500), r.choice((0, 1, 2, 2, 2)))
        elif k < 0.65:
            e["amount"] = None
        elif k < 0.7:
            e["amount"] = r.randrange(-1000, 1000)
        if r.random() < 0.75:
            e["tags"] = r.sample(TAGS, r.randrange(0, 4))
        if r.random() < 0.01:
            e["note"] = r.choice(ODD)
        events.append(e)
    u = {"user_id": "t%07d" % i, "country": r.choice(("de", "fr", "us", "jp")), "events": events}
    if r.random() < 0.01:
        u["user_id"] = "t%07d-%s" % (i, r.choice(ODD))
    return json.dumps(u, ensure_ascii=r.random() < 0.5)


BAD = ['{"user_id": 7, "events": []}', '{"user_id": "b", "events": [NaN]}',
       '{"user_id": "b", "events": [{"ts": "soon", "type": "view"}]}', '{"user_id": "b", "events": [1, 2',
       '{"user_id": "b"}', '{"user_id": "b", "events": [{"ts": 1e400, "type": "x"}]}']


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    reclaimd = sys.argv[1]
    mb = float(sys.argv[sys.argv.index("--mb") + 1]) if "--mb" in sys.argv else 24
    r = random.Random(20261201)
    d = tempfile.mkdtemp(prefix="reclaimd-pgo-")
    try:
        os.makedirs(os.path.join(d, "inbox"))
        i = 0
        for n in range(3):
            path = os.path.join(d, "inbox", "train-%d.ndjson" % n)
            with open(path, "w", encoding="utf-8") as f:
                size = 0
                while size < mb * 1e6 / 3:
                    line = BAD[i % len(BAD)] if i % 997 == 500 else ("" if i % 1999 == 7 else user(r, i))
                    f.write(line + "\n")
                    size += len(line) + 1
                    i += 1
        p = subprocess.run([reclaimd, "--once", "--spool", d], capture_output=True, text=True)
        outs = sorted(os.listdir(os.path.join(d, "out")))
        if p.returncode != 0 or len(outs) != 3:
            sys.exit("pgo_train: %s --once exited %d with %d outputs:\n%s" % (reclaimd, p.returncode, len(outs),
                                                                             p.stderr[-2000:]))
        print("pgo_train: %d records (%.0f MB) through %s" % (i, mb, reclaimd))
    finally:
        shutil.rmtree(d)


if __name__ == "__main__":
    main()
