"""The reference interpreter the golden-file scripts run in, shared by them.

`reexec(pins, script)` returns at once inside it; otherwise it re-executes `script` with
INGOT_REF_PYTHON if that names an interpreter, or else with tests/reference/.venv, which it
creates and fills with `pins` (pip, from PyPI) unless its pins.txt already lists them all.
The scripts share one venv: pins.txt keeps the union of what they asked for.
"""
import hashlib
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def reexec(pins, script):
    if os.environ.get("INGOT_REF_CHILD") == "1":
        return
    python = os.environ.get("INGOT_REF_PYTHON")
    if not python:
        venv = os.path.join(HERE, ".venv")
        python = os.path.join(venv, "bin", "python")
        stamp = os.path.join(venv, "pins.txt")
        have = set(open(stamp).read().split()) if os.path.exists(stamp) else set()
        if not set(pins) <= have:
            if not os.path.exists(python):
                subprocess.run([sys.executable, "-m", "venv", venv], check=True)
            subprocess.run([python, "-m", "pip", "install", "--upgrade", "pip"], check=True)
            subprocess.run([python, "-m", "pip", "install", *pins], check=True)
            with open(stamp, "w") as f:
                f.write("\n".join(sorted(have | set(pins))) + "\n")
    os.environ["INGOT_REF_CHILD"] = "1"
    os.execv(python, [python, os.path.abspath(script), *sys.argv[1:]])


def fetch_model(weights_dir, model_file, *fetch_args):
    """Run weights/fetch.sh (with `fetch_args`) if `model_file` is missing."""
    if not os.path.exists(os.path.join(weights_dir, model_file)):
        subprocess.run(["bash", os.path.join(weights_dir, "fetch.sh"), *fetch_args], check=True)


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
