#!/usr/bin/python3
"""Disk full and SIGTERM: nothing lost, nothing repeated.

usage: resilience_test.py RECLAIMD

disk_full: the spool lives on a 16 MiB tmpfs (mounted by the test; skipped with
the reason printed where mounting is not allowed). An input whose results do
not fit makes reclaimd exit 4 with an error naming the file, leaving the input
resumable in work/; after space is freed the rerun completes with results
identical to a run on an unconstrained disk.
sigterm: SIGTERM while a multi-batch input is processed stops between batches
(exit 0, input left in work/); the next run finishes it identically.
"""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

RECLAIMD = os.path.abspath(sys.argv[1])
results = {"passed": 0, "failed": 0, "skipped": 0}


def make_input(users):
    return "".join('{"user_id": "u%06d", "events": [{"ts": %d, "type": "view", "amount": %d.25, "tags": ["t%d"]}]}\n'
                   % (i, i, i % 1000, i % 7) for i in range(users)).encode()


def spool_at(root, data, users_per_batch):
    os.makedirs(os.path.join(root, "spool", "inbox"), exist_ok=True)
    with open(os.path.join(root, "spool", "inbox", "in.ndjson"), "wb") as f:
        f.write(data)
    conf = os.path.join(root, "c.conf")
    with open(conf, "w") as f:
        f.write("[spool]\ndir = %s/spool\n[batch]\nusers = %d\n" % (root, users_per_batch))
    return conf


def reference(data, users_per_batch):
    d = tempfile.mkdtemp(prefix="reclaimd-ref-")
    conf = spool_at(d, data, users_per_batch)
    subprocess.run([RECLAIMD, "--once", "--config", conf], check=True, capture_output=True)
    out = open(os.path.join(d, "spool", "out", "in.ndjson"), "rb").read()
    shutil.rmtree(d)
    return out


def t_disk_full():
    data = make_input(20000)               # 2.4 MB in, about 5 MB of results
    want = reference(data, 500)
    mnt = tempfile.mkdtemp(prefix="reclaimd-tmpfs-")
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", mnt], capture_output=True, text=True)
    if r.returncode != 0:
        shutil.rmtree(mnt)
        return "skip: cannot mount a tmpfs here (%s)" % r.stderr.strip()
    try:
        conf = spool_at(mnt, b"", 500)      # config and spool on the small disk
        os.unlink(os.path.join(mnt, "spool", "inbox", "in.ndjson"))
        filler = os.path.join(mnt, "filler")
        with open(filler, "wb") as f:       # leave about 3 MB: the input fits, its results do not
            f.write(b"\0" * (16 * 2**20 - len(data) - 3 * 2**20))
        with open(os.path.join(mnt, "spool", "inbox", "in.ndjson"), "wb") as f:
            f.write(data)
        p = subprocess.run([RECLAIMD, "--once", "--config", conf], capture_output=True, text=True)
        assert p.returncode == 4, "expected exit 4 on a full disk, got %d: %s" % (p.returncode, p.stderr)
        assert "No space left on device" in p.stderr and "in.ndjson" in p.stderr, p.stderr
        assert os.path.exists(os.path.join(mnt, "spool", "work", "in.ndjson")), "input must stay in work/"
        os.unlink(filler)                   # the operator frees space
        p = subprocess.run([RECLAIMD, "--once", "--config", conf], capture_output=True, text=True)
        assert p.returncode == 0, p.stderr
        got = open(os.path.join(mnt, "spool", "out", "in.ndjson"), "rb").read()
        assert got == want, "results differ after the disk filled up (%d vs %d bytes)" % (len(got), len(want))
        assert os.listdir(os.path.join(mnt, "spool", "work")) == []
    finally:
        subprocess.run(["umount", mnt])
        shutil.rmtree(mnt, ignore_errors=True)


def t_sigterm_stops_between_batches():
    data = make_input(40000)
    want = reference(data, 50)
    d = tempfile.mkdtemp(prefix="reclaimd-term-")
    conf = spool_at(d, data, 50)
    p = subprocess.Popen([RECLAIMD, "--once", "--config", conf], stderr=subprocess.PIPE, text=True)
    time.sleep(0.15)
    p.send_signal(signal.SIGTERM)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 0, (p.returncode, err)
    stopped = os.path.exists(os.path.join(d, "spool", "work", "in.ndjson"))
    if stopped:
        assert "paused at batch" in err, err
    p = subprocess.run([RECLAIMD, "--once", "--config", conf], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    got = open(os.path.join(d, "spool", "out", "in.ndjson"), "rb").read()
    assert got == want, "results differ after SIGTERM and restart"
    assert os.listdir(os.path.join(d, "spool", "work")) == []
    shutil.rmtree(d)
    if not stopped:
        return "skip: the input finished before SIGTERM arrived (nothing to resume)"


for name, fn in list(globals().items()):
    if not name.startswith("t_"):
        continue
    try:
        r = fn()
        if isinstance(r, str) and r.startswith("skip"):
            results["skipped"] += 1
            print("SKIP ", name[2:], "-", r)
        else:
            results["passed"] += 1
            print("ok   ", name[2:])
    except Exception as e:
        results["failed"] += 1
        print("FAIL ", name[2:], "-", e)
print("%d passed, %d failed, %d skipped" % (results["passed"], results["failed"], results["skipped"]))
sys.exit(1 if results["failed"] else 0)
