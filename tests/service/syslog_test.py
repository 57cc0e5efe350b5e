#!/usr/bin/python3
"""[log] target = syslog: lines reach /dev/log with facility daemon and ident reclaimd.

usage: syslog_test.py RECLAIMD

Runs itself again inside a private mount namespace (unshare -m) where a tmpfs
covers /dev and this script binds the receiving datagram socket at /dev/log,
then runs `reclaimd --once` with [log] target = syslog and checks what arrived.
Skipped, with the reason printed, where unshare or the mount is refused.
"""
import os
import shutil
import socket
import subprocess
import sys
import tempfile

RECLAIMD = os.path.abspath(sys.argv[1])


def inside():
    subprocess.run(["mount", "--make-rprivate", "/"], check=True)
    subprocess.run(["mount", "-t", "tmpfs", "tmpfs", "/dev"], check=True)
    open("/dev/null", "w").close()   # a plain file is enough for anything that opens it
    rx = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    rx.bind("/dev/log")
    rx.settimeout(0.5)
    d = tempfile.mkdtemp(prefix="reclaimd-syslog-")
    os.makedirs(os.path.join(d, "spool", "inbox"))
    open(os.path.join(d, "spool", "inbox", "s.ndjson"), "w").write('{"user_id": "a", "events": []}\n{"bad": 1}\n')
    conf = os.path.join(d, "c.conf")
    open(conf, "w").write("[spool]\ndir = %s/spool\n[log]\ntarget = syslog\nlevel = info\n" % d)
    p = subprocess.run([RECLAIMD, "--once", "--config", conf], capture_output=True, text=True)
    msgs = []
    while True:
        try:
            msgs.append(rx.recv(8192).decode())
        except socket.timeout:
            break
    shutil.rmtree(d)
    assert p.returncode == 0, p.stderr
    assert p.stderr == "", "with target = syslog nothing goes to stderr: %r" % p.stderr
    fin = [m for m in msgs if "input=s.ndjson finished records=2 good=1 bad=1" in m]
    assert fin, msgs
    # <30> = facility daemon (3) * 8 + info (6); ident and pid as syslog(3) writes them
    assert fin[0].startswith("<30>") and "reclaimd[" in fin[0], fin[0]
    notice = [m for m in msgs if "spool done" in m]
    assert notice and notice[0].startswith("<29>"), notice   # daemon.notice
    print("syslog: %d lines received at /dev/log, facility daemon, ident reclaimd" % len(msgs))


def main():
    if os.environ.get("RECLAIMD_IN_NS") == "1":
        try:
            inside()
        except AssertionError as e:
            print("FAIL", e)
            return 1
        return 0
    env = dict(os.environ, RECLAIMD_IN_NS="1")
    p = subprocess.run(["unshare", "-m", sys.executable, os.path.abspath(__file__), RECLAIMD], env=env,
                       capture_output=True, text=True)
    if p.returncode != 0 and ("Operation not permitted" in p.stderr or "unshare failed" in p.stderr):
        print("SKIP syslog capture: cannot make a private mount namespace here (%s)" % p.stderr.strip())
        print("0 passed, 0 failed, 1 skipped")
        return 0
    print(p.stdout, end="")
    if p.returncode != 0:
        print(p.stderr, end="")
        print("0 passed, 1 failed")
        return 1
    print("1 passed, 0 failed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
