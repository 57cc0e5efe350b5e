"""benchargs: what the Python benchmarks share - where the baseline's scripts are, the
interpreter they run with, and reading an option's value from the command line."""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SHARED = os.path.normpath(os.path.join(HERE, "..", "..", "shared", "bench"))
PY = "/usr/bin/python3"


def arg(name, default):
    """The value after option name on the command line, as default's type; default when absent."""
    return type(default)(sys.argv[sys.argv.index(name) + 1]) if name in sys.argv else default
