#!/usr/bin/python3
"""The systemd units: systemd-analyze verify is clean and the exposure score is at most 2.0.

usage: check_units.py BUILD_DIR

Installs the build into a scratch root (cmake --install, prefix /usr), then
runs `systemd-analyze verify --root` on the installed units (it exits 0 on
warnings, so any output at all fails the test) and `systemd-analyze security
--offline` on reclaimd.service and reclaimd@.service. Skipped, with the reason
printed, where systemd-analyze is missing.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

build = sys.argv[1]
if shutil.which("systemd-analyze") is None:
    print("SKIP: systemd-analyze is not installed (package systemd)")
    print("0 passed, 0 failed, 1 skipped")
    sys.exit(0)
root = tempfile.mkdtemp(prefix="reclaimd-root-")
bad = passed = 0
try:
    # systemd's own units (sysinit.target, ...) for the default dependencies
    shutil.copytree("/lib/systemd/system", os.path.join(root, "usr", "lib", "systemd", "system"), symlinks=True)
    subprocess.run(["cmake", "--install", build, "--prefix", "/usr"], env=dict(os.environ, DESTDIR=root),
                   check=True, capture_output=True)
    os.makedirs(os.path.join(root, "bin"), exist_ok=True)
    shutil.copy("/bin/kill", os.path.join(root, "bin", "kill"))       # ExecReload runs it
    unitdir = subprocess.run(["pkg-config", "--variable=systemdsystemunitdir", "systemd"], capture_output=True,
                             text=True).stdout.strip() or "/usr/lib/systemd/system"
    units = root + unitdir
    if unitdir != "/usr/lib/systemd/system":
        shutil.copytree("/lib/systemd/system", units, symlinks=True, dirs_exist_ok=True)
    for unit in ("reclaimd.service", "reclaimd@.service"):
        p = subprocess.run(["systemd-analyze", "verify", "--man=no", "--root", root, os.path.join(units, unit)],
                           capture_output=True, text=True)
        out = (p.stdout + p.stderr).strip()
        if p.returncode != 0 or out:
            print("FAIL: systemd-analyze verify %s:\n%s" % (unit, out))
            bad += 1
        else:
            passed += 1
        p = subprocess.run(["systemd-analyze", "security", "--offline=true", "--no-pager", "--root", root, unit],
                           capture_output=True, text=True)
        m = re.search(r"Overall exposure level for [^:]+: ([0-9.]+)", p.stdout + p.stderr)
        if m is None or float(m.group(1)) > 2.0:
            print("FAIL: exposure of %s is %s (want <= 2.0):\n%s" % (unit, m.group(1) if m else "?",
                                                                      (p.stdout + p.stderr)[-600:]))
            bad += 1
        else:
            print("ok    %s: verify clean, exposure %s" % (unit, m.group(1)))
            passed += 1
finally:
    shutil.rmtree(root)
print("%d passed, %d failed" % (passed, bad))
sys.exit(1 if bad else 0)
