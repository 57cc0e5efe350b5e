#!/usr/bin/python3
"""Write man/reclaimd.conf.5 from conf/reclaimd.conf (its comments and defaults).

usage: scripts/gen_conf_man.py   (from the repository root)
tests/check_conf.py checks that the result lists every key with its default.
"""
import re

conf = open("conf/reclaimd.conf").read().splitlines()
out = ['.TH RECLAIMD.CONF 5 "2026-11-24" "reclaimd 0.1.0" "File Formats"',
       ".SH NAME", "reclaimd.conf \\- configuration of reclaimd",
       ".SH DESCRIPTION",
       "An INI file: sections in brackets, then", '.IB key " = " value', "lines; comments start with", ".BR # .",
       "Sizes take B, KiB, MiB, GiB or % of physical memory; durations ms, s or min.",
       "An unknown section or key, or a bad value, is an error that names the file,",
       "the line and the key;", ".B reclaimd \\-\\-check\\-config",
       "reports every problem at once and prints the effective configuration.",
       ".SH KEYS"]
section, comment = None, []
for line in conf:
    m = re.match(r"^\[(\w+)\]$", line)
    if m:
        section, comment = m.group(1), []
        continue
    if line.startswith("#") and section:
        comment.append(line.lstrip("#").strip())
        continue
    m = re.match(r"^(\w+) = (.*)$", line)
    if m and section:
        default = "none" if (section, m.group(1)) == ("spool", "dir") else m.group(2)
        out += [".TP", '.BR "[%s] %s" " (default: %s)"' % (section, m.group(1), default.replace("-", "\\-")),
                " ".join(c for c in comment if c).replace("\\", "\\\\").replace("-", "\\-")]
        comment = []
out += [".TP", ".B [job]", "The job's own options, passed to it as written. The summary job takes none.",
        ".SH FILES", ".I /etc/reclaimd/reclaimd.conf", ".SH SEE ALSO", ".BR reclaimd (8)"]
open("man/reclaimd.conf.5", "w").write("\n".join(out) + "\n")
