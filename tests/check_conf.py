#!/usr/bin/python3
"""conf/reclaimd.conf documents every configuration key with its default.

usage: check_conf.py RECLAIMD conf/reclaimd.conf [man/reclaimd.conf.5]

The key set of the file must equal the key set reclaimd knows (from
--check-config), every value in the file must be that key's default (the
spool directory excepted), and the file must pass --check-config.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

reclaimd, conf = sys.argv[1], sys.argv[2]


def keys_of(text):
    section, out = None, {}
    for line in text.splitlines():
        line = line.strip()
        m = re.match(r"^\[(\w+)\]$", line)
        if m:
            section = m.group(1)
        m = re.match(r"^(\w+) = (.*)$", line)
        if m:
            out[(section, m.group(1))] = m.group(2)
    return out


bad = 0
# The shipped file names /var/lib/reclaimd/spool, which need not exist here:
# check a copy that points at a directory that does.
spool = tempfile.mkdtemp(prefix="reclaimd-conf-")
checked = os.path.join(spool, "reclaimd.conf")
open(checked, "w").write(re.sub(r"(?m)^dir = .*$", "dir = " + spool, open(conf).read()))
p = subprocess.run([reclaimd, "--check-config", "--config", checked], capture_output=True, text=True)
if p.returncode != 0:
    print("FAIL: %s does not pass --check-config:\n%s" % (conf, p.stderr))
    bad += 1
with tempfile.NamedTemporaryFile("w", suffix=".conf") as empty:
    empty.write("[spool]\ndir = %s\n" % spool)
    empty.flush()
    defaults = keys_of(subprocess.run([reclaimd, "--check-config", "--config", empty.name],
                                      capture_output=True, text=True, check=True).stdout)
documented = keys_of(open(conf).read())
for k in sorted(set(defaults) | set(documented)):
    if k not in documented:
        print("FAIL: [%s] %s is not documented in %s" % (k[0], k[1], conf))
        bad += 1
    elif k not in defaults:
        print("FAIL: [%s] %s is documented but reclaimd does not know it" % k)
        bad += 1
    elif k != ("spool", "dir") and documented[k] != defaults[k].replace(spool, "/x"):
        print("FAIL: [%s] %s = %s in %s, but the default is %s" % (k[0], k[1], documented[k], conf, defaults[k]))
        bad += 1
if len(sys.argv) > 3:
    man = open(sys.argv[3]).read().replace("\\-", "-")
    for (section, key), value in sorted(defaults.items()):
        want = '.BR "[%s] %s" " (default: %s)"' % (section, key, "none" if (section, key) == ("spool", "dir") else value)
        if want not in man:
            print("FAIL: %s does not document [%s] %s with its default %s (run scripts/gen_conf_man.py)"
                  % (sys.argv[3], section, key, value))
            bad += 1
shutil.rmtree(spool)
print("%d passed, %d failed" % (len(defaults) - bad if bad < len(defaults) else 0, bad))
sys.exit(1 if bad else 0)
