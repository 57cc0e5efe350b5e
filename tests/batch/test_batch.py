#!/usr/bin/python3
"""The batch engine end to end: reclaimd --once on real spool directories.

usage: test_batch.py RECLAIMD COUNT_JOB_SO

Each check builds a spool in a temporary directory, runs the real binary and
compares what lands in out/, done/ and failed/ with an independent oracle
(summary_ref.py, written from the spec) or with exact expectations.
"""
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
RECLAIMD, COUNT_JOB = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
# RECLAIMD_WRAPPER (set by the valgrind build): run every reclaimd under it,
# e.g. memcheck, which then fails the run (exit 99) on any error or leak.
WRAP = os.environ.get("RECLAIMD_WRAPPER", "").split()
results = {"passed": 0, "failed": 0}


def check(name, fn):
    try:
        fn()
        results["passed"] += 1
        print("ok   ", name)
    except Exception as e:  # an assertion, or the binary misbehaving
        results["failed"] += 1
        print("FAIL ", name, "-", e)


def spool_with(files, conf_extra=""):
    d = tempfile.mkdtemp(prefix="reclaimd-test-")
    os.makedirs(os.path.join(d, "spool", "inbox"))
    for name, data in files.items():
        with open(os.path.join(d, "spool", "inbox", name), "wb") as f:
            f.write(data)
    conf = os.path.join(d, "reclaimd.conf")
    with open(conf, "w") as f:
        f.write("[spool]\ndir = %s\n%s" % (os.path.join(d, "spool"), conf_extra))
    return d, conf


def run(conf, *extra, env=None):
    return subprocess.run([*WRAP, RECLAIMD, "--once", "--config", conf, *extra], capture_output=True, text=True,
                          env=env, timeout=600)


def read(path, mode="rb"):
    with open(path, mode) as f:
        return f.read()


def edge_cases(r):
    """Good and bad records covering the spec's edge cases; returns bytes."""
    good = [
        {"user_id": "empty", "events": []},
        {"user_id": "nulls", "events": [{"ts": 5, "type": "a", "amount": None, "tags": None}]},
        {"user_id": "ints", "events": [{"ts": -3, "type": "b", "amount": 7}, {"ts": 9223372036854775807, "type": "b"},
                                        {"ts": -9223372036854775808, "type": "a", "amount": -2.5}]},
        {"user_id": "tie", "events": [{"ts": 1, "type": "x", "tags": ["b", "a"]}, {"ts": 2, "type": "x", "tags": ["c"]}]},
        {"user_id": "bytes-order", "events": [{"ts": 1, "type": t} for t in ["é", "Z", "a", "日本", "\U0001d11e", "A"]]},
        {"user_id": "unicode \u00e9 \u65e5 \U0001d11e", "events": [{"ts": 1, "type": "q\"uote\\back\nnl\t",
                                                                    "tags": ["\u00e9", "\u00e9", "e"]}]},
        {"user_id": "huge", "events": [{"ts": 1, "type": "t", "amount": 1e300}, {"ts": 2, "type": "t", "amount": 1e300},
                                       {"ts": 3, "type": "t", "amount": 5e-324}]},
        {"user_id": "extra fields", "country": "de", "events": [{"ts": 1, "type": "t", "note": [1, {"x": None}]}]},
        {"user_id": "float sum order", "events": [{"ts": i, "type": "t", "amount": a}
                                                  for i, a in enumerate([0.1, 0.2, 0.3, 1e16, -1e16, 0.7])]},
    ]
    lines = [json.dumps(g, ensure_ascii=r.random() < 0.5).encode() for g in good]
    lines.append(b'{"user_id": "dup", "user_id": "dup-last", "events": [], "events": [{"ts": 1, "type": "t"}]}')
    lines.append(b'{"user_id": "escapes", "events": [{"ts": 1, "type": "\\u00e9\\ud834\\udd1e\\/"}]}')
    bad = [
        b'[1, 2, 3]', b'"just a string"', b'{"events": []}', b'{"user_id": 7, "events": []}',
        b'{"user_id": "u", "events": {}}', b'{"user_id": "u", "events": [1]}',
        b'{"user_id": "u", "events": [{"ts": 1.5, "type": "t"}]}', b'{"user_id": "u", "events": [{"ts": true, "type": "t"}]}',
        b'{"user_id": "u", "events": [{"type": "t"}]}', b'{"user_id": "u", "events": [{"ts": 1}]}',
        b'{"user_id": "u", "events": [{"ts": 1, "type": 5}]}', b'{"user_id": "u", "events": [{"ts": 1, "type": "t", "amount": "3"}]}',
        b'{"user_id": "u", "events": [{"ts": 1, "type": "t", "amount": false}]}',
        b'{"user_id": "u", "events": [{"ts": 1, "type": "t", "tags": "a"}]}',
        b'{"user_id": "u", "events": [{"ts": 1, "type": "t", "tags": ["a", 1]}]}',
        b'{"user_id": "u", "events": [}', b'{"user_id": "u", "events": [NaN]}', b'{"user_id": "u", "events": []} x',
        b'{"user_id": "\xff\xfe", "events": []}', b'{"user_id": "\\ud800", "events": []}',
        b'{"user_id": "u", "events": [{"ts": 9223372036854775808, "type": "t"}]}',
        b'{"user_id": "u", "events": [], "deep": ' + b"[" * 70 + b"]" * 70 + b"}",
        b'{"user_id": "long", "events": [], "pad": "' + b"x" * 5000 + b'"}',
        b'{"user_id": "u", "events": [{"ts": 1, "type": "t", "amount": 1e999}]}',
        b'{"user_id": "ctl\tchar", "events": []}',
    ]
    types = ["click", "view", "buy", "search"]
    tagset = ["mobile", "desktop", "promo", "eu", "\u00e9t\u00e9"]
    for i in range(300):
        evs = []
        for _ in range(r.randint(0, 8)):
            e = {"ts": r.randint(-10**12, 10**12), "type": r.choice(types)}
            if r.random() < 0.7:
                e["amount"] = r.choice([round(r.uniform(-500, 500), 2), r.randint(-10**6, 10**6), None])
            if r.random() < 0.6:
                e["tags"] = r.sample(tagset, r.randint(0, 3)) if r.random() < 0.9 else None
            evs.append(e)
        lines.append(json.dumps({"user_id": "r%04d" % i, "events": evs}, ensure_ascii=r.random() < 0.5).encode())
    lines += bad
    r.shuffle(lines)
    out = []
    for l in lines:
        out.append(l)
        if r.random() < 0.05:
            out.append(r.choice([b"", b"   ", b"\t\r"]))   # blank lines count in line numbers
    return b"\n".join(out) + (b"\n" if r.random() < 0.5 else b""), len(bad)


def run_with_reference(name, data, users, max_record):
    """NAME.ndjson holding data, run once with [batch] users and max_record_bytes, and run
    through summary_ref.py: (tmp dir, spool, the reference's results, its bad lines)."""
    d, conf = spool_with({name + ".ndjson": data},
                         "[batch]\nusers = %d\nmax_record_bytes = %d\n" % (users, max_record))
    p = run(conf)
    assert p.returncode == 0, p.stderr
    src = os.path.join(d, name + "-copy.ndjson")
    open(src, "wb").write(data)
    ref_out, ref_bad = os.path.join(d, "ref.ndjson"), os.path.join(d, "ref.bad")
    subprocess.run(["/usr/bin/python3", os.path.join(HERE, "summary_ref.py"), src, ref_out, ref_bad,
                    "--max-record-bytes", str(max_record)], check=True)
    return d, os.path.join(d, "spool"), read(ref_out), [int(x) for x in read(ref_bad, "r").split()]


def t_matches_reference_implementation():
    r = random.Random(1234)
    data, nbad = edge_cases(r)
    d, sp, want, want_lines = run_with_reference("cases", data, 7, 4096)
    got = read(os.path.join(sp, "out", "cases.ndjson"))
    if got != want:
        g, w = got.split(b"\n"), want.split(b"\n")
        for i, (a, b) in enumerate(zip(g, w)):
            if a != b:
                raise AssertionError("result line %d differs:\n got  %r\n want %r" % (i + 1, a[:300], b[:300]))
        raise AssertionError("results differ in length: %d vs %d lines" % (len(g), len(w)))
    errs = [json.loads(l) for l in read(os.path.join(sp, "failed", "cases.errors.ndjson"), "r").splitlines()]
    assert [e["line"] for e in errs] == want_lines, (errs, want_lines)
    assert len(errs) == nbad, (len(errs), nbad)
    for e in errs:
        assert list(e) == ["line", "column", "error", "raw"], e
        assert e["column"] >= 1 and e["error"], e
        assert len(e["raw"].encode()) <= 3 * 200, e
    assert read(os.path.join(sp, "done", "cases.ndjson")) == data
    assert os.listdir(os.path.join(sp, "work")) == [] and os.listdir(os.path.join(sp, "inbox")) == []
    shutil.rmtree(d)


def t_records_longer_than_a_read():
    """The input is read 64 KiB at a time: records that span many reads, one
    past max_record_bytes among them (skipped whole, an error line, the
    records after it and their line numbers intact), and a long last record
    with no newline come out as the reference implementation says."""
    r = random.Random(99)

    def user(uid, n):
        evs = [{"ts": i, "type": r.choice(["a", "b", "c"]), "amount": r.randint(0, 999) / 4,
                "tags": ["t%d" % r.randint(0, 40) for _ in range(3)]} for i in range(n)]
        return json.dumps({"user_id": uid, "events": evs}).encode()

    lines = [user("small0", 3), user("big", 4000), user("small1", 2), user("huge", 9000),
             user("small2", 1), b"", user("edge", 1100), user("last", 1500)]
    sizes = [len(l) for l in lines]
    assert sizes[1] > 3 * 65536 and sizes[3] > 512 * 1024 > sizes[1], sizes
    data = b"\n".join(lines)                      # the last record has no newline
    d, sp, want, want_lines = run_with_reference("long", data, 3, 512 * 1024)
    got = read(os.path.join(sp, "out", "long.ndjson"))
    assert got == want, got[:400]
    assert [json.loads(l)["user_id"] for l in got.splitlines()] == ["small0", "big", "small1", "small2", "edge",
                                                                     "last"]
    errs = [json.loads(l) for l in read(os.path.join(sp, "failed", "long.errors.ndjson"), "r").splitlines()]
    assert [e["line"] for e in errs] == want_lines == [4], errs
    assert errs[0]["column"] == 512 * 1024 + 1 and "larger than" in errs[0]["error"], errs
    assert errs[0]["raw"] == lines[3][:200].decode(), errs
    shutil.rmtree(d)


def t_parse_errors_name_line_and_column():
    data = b'{"user_id": "a", "events": []}\n\n{"user_id": "b", "events": [1,]}\n'
    d, conf = spool_with({"cols.ndjson": data})
    assert run(conf).returncode == 0
    errs = [json.loads(l) for l in read(os.path.join(d, "spool", "failed", "cols.errors.ndjson"), "r").splitlines()]
    assert errs == [{"line": 3, "column": 31, "error": "expected a value, got ']'",
                     "raw": '{"user_id": "b", "events": [1,]}'}], errs
    shutil.rmtree(d)


def t_reject_policy_moves_the_whole_input():
    data = b"".join(b'{"user_id": "u%d", "events": []}\n' % i for i in range(4)) + b'{"user_id": 5}\n' + \
        b'{"user_id": "z", "events": []}\n'
    d, conf = spool_with({"rej.ndjson": data}, "[batch]\nbad_records = reject\nusers = 2\n")
    p = run(conf)
    assert p.returncode == 0, p.stderr
    sp = os.path.join(d, "spool")
    assert read(os.path.join(sp, "failed", "rej.ndjson")) == data
    reason = read(os.path.join(sp, "failed", "rej.error"), "r")
    assert "line 5, column 1" in reason and "user_id must be a string" in reason, reason
    assert not os.path.exists(os.path.join(sp, "out", "rej.ndjson"))
    assert os.listdir(os.path.join(sp, "work")) == []
    shutil.rmtree(d)


def t_symlinks_and_odd_names_are_never_followed():
    d, conf = spool_with({"keep.txt": b"x", ".hidden.ndjson": b"{}", "partial.ndjson.tmp": b"{"})
    secret = os.path.join(d, "secret.ndjson")
    open(secret, "wb").write(b'{"user_id": "s", "events": []}\n')
    inbox = os.path.join(d, "spool", "inbox")
    os.symlink(secret, os.path.join(inbox, "link.ndjson"))
    os.mkdir(os.path.join(inbox, "dir.ndjson"))
    p = run(conf)
    assert p.returncode == 0, p.stderr
    sp = os.path.join(d, "spool")
    assert os.path.islink(os.path.join(sp, "failed", "link.ndjson"))
    assert "symbolic link" in read(os.path.join(sp, "failed", "link.error"), "r")
    assert "directory" in read(os.path.join(sp, "failed", "dir.error"), "r")
    assert read(secret) == b'{"user_id": "s", "events": []}\n'   # the target is untouched
    assert sorted(os.listdir(inbox)) == [".hidden.ndjson", "keep.txt", "partial.ndjson.tmp"]
    assert not os.path.exists(os.path.join(sp, "out", "link.ndjson"))
    shutil.rmtree(d)


def t_done_action_delete():
    d, conf = spool_with({"del.ndjson": b'{"user_id": "a", "events": []}\n'}, "done_action = delete\n")
    assert run(conf).returncode == 0
    sp = os.path.join(d, "spool")
    assert os.listdir(os.path.join(sp, "done")) == []
    assert read(os.path.join(sp, "out", "del.ndjson")).startswith(b'{"user_id": "a", "events": 0')
    shutil.rmtree(d)


def t_job_from_a_shared_object():
    data = b'{"user_id": "a", "events": [1, 2]}\n{"user_id": "b"}\n'
    d, conf = spool_with({"j.ndjson": data}, "[batch]\njob = %s\n[job]\nlabel = tested\n" % COUNT_JOB)
    p = run(conf)
    assert p.returncode == 0, p.stderr
    sp = os.path.join(d, "spool")
    assert read(os.path.join(sp, "out", "j.ndjson")) == b'{"user_id": "a", "n": 2, "label": "tested"}\n'
    errs = read(os.path.join(sp, "failed", "j.errors.ndjson"), "r")
    assert '"line": 2' in errs and "count job" in errs, errs
    env = dict(os.environ, COUNT_JOB_WRONG_ABI="1")
    p = run(conf, env=env)
    assert p.returncode == 1 and "ABI" in p.stderr and "rebuild" in p.stderr, p.stderr
    shutil.rmtree(d)


def t_config_errors_name_file_line_and_key():
    d = tempfile.mkdtemp(prefix="reclaimd-test-")
    conf = os.path.join(d, "bad.conf")
    open(conf, "w").write("[spool]\ndir = /tmp/x\n\n[batch]\nusers = many\nfoo = 1\n[nope]\nx = 1\n"
                          "[batch]\nbad_records = ignore\nmax_record_bytes = 3 parsecs\n")
    p = subprocess.run([*WRAP, RECLAIMD, "--check-config", "--config", conf], capture_output=True, text=True)
    assert p.returncode == 1, p
    err = p.stderr
    for want in [conf + ":5: [batch] users: 'many' is not valid (expected a whole number from 1 to 1000000)",
                 conf + ":6: [batch] foo: unknown key", conf + ":8: unknown section [nope]",
                 conf + ":10: [batch] bad_records: 'ignore' is not valid (expected skip or reject)",
                 conf + ":11: [batch] max_record_bytes: '3 parsecs' is not valid", "5 problems"]:
        assert want in err, (want, err)
    good = os.path.join(d, "good.conf")
    open(good, "w").write("[spool]\ndir = %s\n[batch]\nusers = 250\nmax_record_bytes = 64KiB\n" % d)
    p = subprocess.run([RECLAIMD, "--check-config", "--config", good], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert "dir = %s" % d in p.stdout and "users = 250" in p.stdout and "max_record_bytes = 64KiB" in p.stdout
    assert "# records per batch" in p.stdout and "(default: 500)" in p.stdout, p.stdout
    # More broken values, each with its line; then a spool that does not exist.
    table = [("[batch]\ndrain_timeout = 5 weeks\n", ":2: [batch] drain_timeout: '5 weeks' is not valid "
              "(expected a duration"),
             ("[metrics]\nlisten = localhost:80\n", ":2: [metrics] listen: 'localhost:80' is not valid "
              "(expected an IPv4 ADDR:PORT"),
             ("[log]\ntarget = journal\n", ":2: [log] target: 'journal' is not valid (expected auto or stderr or syslog)"),
             ("[runtime]\ngc = maybe\n", ":2: [runtime] gc: 'maybe' is not valid (expected on or off)"),
             ("\n\n[spool]\ndir = /nonexistent/spool\n", ":4: [spool] dir: /nonexistent/spool does not exist"),
             ("dir = /x\n", ":1: dir: a key outside any section"),
             ("[runtime]\nrelease_threshold = 150%\n", ":2: [runtime] release_threshold: '150%' is not valid")]
    for text, want in table:
        bad = os.path.join(d, "t.conf")
        open(bad, "w").write(text)
        p = subprocess.run([*WRAP, RECLAIMD, "--check-config", "--config", bad], capture_output=True, text=True)
        assert p.returncode == 1 and bad + want in p.stderr, (text, want, p.stderr)
    p = subprocess.run([RECLAIMD, "--once"], capture_output=True, text=True, cwd=d)
    assert p.returncode == 1 and "no spool directory" in p.stderr, p.stderr
    p = subprocess.run([RECLAIMD], capture_output=True, text=True, cwd=d)
    assert p.returncode == 1 and "no spool directory" in p.stderr, p.stderr
    p = subprocess.run([RECLAIMD, "--once", "--check-config"], capture_output=True, text=True)
    assert p.returncode == 2 and "exclude each other" in p.stderr, p.stderr
    p = subprocess.run([RECLAIMD, "--version"], capture_output=True, text=True)
    assert p.returncode == 0 and p.stdout.startswith("reclaimd "), p.stdout
    shutil.rmtree(d)


def t_spool_override_and_empty_spool():
    d = tempfile.mkdtemp(prefix="reclaimd-test-")
    p = subprocess.run([RECLAIMD, "--once", "--spool", os.path.join(d, "s")], capture_output=True, text=True)
    assert p.returncode == 3 and "spool directory " + os.path.join(d, "s") + " does not exist" in p.stderr, p.stderr
    os.mkdir(os.path.join(d, "s"))
    p = subprocess.run([RECLAIMD, "--once", "--spool", os.path.join(d, "s")], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert sorted(os.listdir(os.path.join(d, "s"))) == ["done", "failed", "inbox", "out", "work"]
    assert "inputs=0" in p.stderr
    shutil.rmtree(d)


def t_same_name_twice_never_replaces_results():
    d, conf = spool_with({"dup.ndjson": b'{"user_id": "first", "events": []}\n'})
    assert run(conf).returncode == 0
    sp = os.path.join(d, "spool")
    first = read(os.path.join(sp, "out", "dup.ndjson"))
    open(os.path.join(sp, "inbox", "dup.ndjson"), "wb").write(b'{"user_id": "second", "events": []}\n')
    p = run(conf)
    assert p.returncode == 0, p.stderr
    assert read(os.path.join(sp, "out", "dup.ndjson")) == first        # the first results are intact
    assert read(os.path.join(sp, "failed", "dup.ndjson")).startswith(b'{"user_id": "second"')
    assert "already processed" in read(os.path.join(sp, "failed", "dup.error"), "r")
    shutil.rmtree(d)


def t_leftovers_of_a_killed_finish_are_cleaned():
    # A kill between moving the input out of work/ and removing its checkpoint
    # and lock leaves those behind; the next run removes them (under the lock)
    # and resumes inputs that are still there.
    d, conf = spool_with({})
    work = os.path.join(d, "spool", "work")
    os.makedirs(work)
    for suffix in (".lock", ".ckpt", ".out.tmp", ".errors.tmp", ".ckpt.tmp"):
        open(os.path.join(work, "gone.ndjson" + suffix), "w").close()
    open(os.path.join(work, "live.ndjson"), "wb").write(b'{"user_id": "a", "events": []}\n')
    p = run(conf)
    assert p.returncode == 0, p.stderr
    assert os.listdir(work) == [], os.listdir(work)
    assert read(os.path.join(d, "spool", "out", "live.ndjson")).startswith(b'{"user_id": "a"')
    shutil.rmtree(d)


def t_once_with_many_workers_processes_every_input():
    # Eight workers race for 24 inputs (lock, rename, orphan scan): every
    # input is processed exactly once and --once stops only after the last
    # one; repeated, since the end of a --once run is decided while workers
    # are still looking (a look in progress keeps the spool from counting as
    # drained, and no look starts once it has).
    rec = b"".join(b'{"user_id": "u%d", "events": [{"ts": %d, "type": "click"}]}\n' % (i, i) for i in range(50))
    for rep in range(2 if WRAP else 10):
        d, conf = spool_with({"in%02d.ndjson" % k: rec for k in range(24)}, "[batch]\nworkers = 8\nusers = 10\n")
        p = run(conf)
        assert p.returncode == 0, p.stderr
        sp = os.path.join(d, "spool")
        assert sorted(os.listdir(os.path.join(sp, "out"))) == ["in%02d.ndjson" % k for k in range(24)], \
            (rep, os.listdir(os.path.join(sp, "out")), p.stderr[-2000:])
        assert os.listdir(os.path.join(sp, "inbox")) == [] and os.listdir(os.path.join(sp, "work")) == [], rep
        assert "spool done inputs=24 failed=0 records_ok=1200" in p.stderr, p.stderr[-2000:]
        for k in range(24):
            assert read(os.path.join(sp, "out", "in%02d.ndjson" % k)).count(b"\n") == 50
        shutil.rmtree(d)


def t_once_finds_inputs_dropped_during_the_run():
    # --once keeps no inotify watch (man reclaimd(8)): an input dropped while
    # the run is busy is still found - by the worker that finishes its input
    # and looks again, or by the rescan - and the run ends only after it.
    rec = b"".join(b'{"user_id": "a%d", "events": [{"ts": 1, "type": "t"}]}\n' % i for i in range(40))
    d, conf = spool_with({"a.ndjson": rec}, "[batch]\nworkers = 2\nusers = 10\njob = %s\n[job]\ndelay_ms = 25\n"
                         % COUNT_JOB)
    sp = os.path.join(d, "spool")
    p = subprocess.Popen([*WRAP, RECLAIMD, "--once", "--config", conf], stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(3000):                    # until a.ndjson is claimed (40 records x 25 ms after that)
            if os.path.exists(os.path.join(sp, "work", "a.ndjson")):
                break
            time.sleep(0.01)
        else:
            raise AssertionError("a.ndjson was never claimed")
        pid = p.pid if not WRAP else None
        if pid is not None:
            fds = [os.readlink("/proc/%d/fd/%s" % (pid, f)) for f in os.listdir("/proc/%d/fd" % pid)]
            assert not [f for f in fds if "inotify" in f], fds
        tmp = os.path.join(sp, "inbox", "b.ndjson.tmp")
        with open(tmp, "wb") as f:
            f.write(b'{"user_id": "b", "events": []}\n')
        os.rename(tmp, os.path.join(sp, "inbox", "b.ndjson"))
        assert not os.path.exists(os.path.join(sp, "out", "a.ndjson")), "a.ndjson finished before b was dropped"
        err = p.communicate(timeout=600)[1]
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 0, err[-2000:]
    assert sorted(os.listdir(os.path.join(sp, "out"))) == ["a.ndjson", "b.ndjson"], (os.listdir(sp + "/out"), err[-2000:])
    assert read(os.path.join(sp, "out", "b.ndjson")) == b'{"user_id": "b", "n": 0}\n'
    assert "spool done inputs=2 failed=0 records_ok=41" in err, err[-2000:]
    shutil.rmtree(d)

for name, fn in list(globals().items()):
    if name.startswith("t_"):
        check(name[2:], fn)
print("%d passed, %d failed" % (results["passed"], results["failed"]))
sys.exit(1 if results["failed"] else 0)
