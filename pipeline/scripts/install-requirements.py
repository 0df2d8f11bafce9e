"""dataplatform: install requirements

Installs pip requirements into the project's Airflow image, with
apache-airflow at the image's own version in the same pip command (the
official image's recipe), so that no requirement can move Airflow itself:

    python3 install-requirements.py WHAT -r FILE   (requirements.txt)
    python3 install-requirements.py WHAT "REQ..."  (_PIP_ADDITIONAL_REQUIREMENTS)

On failure it says which of WHAT's lines (or words) pip could not
install, with pip's own last lines, and exits 1; it also fails if Airflow's
version changed anyway. WHAT is the file or variable as the user knows it.
"""

import importlib.metadata
import re
import subprocess
import sys

# pip's words for a requirement it could not satisfy.
UNSATISFIED = (
    re.compile(r"No matching distribution found for ([^\s;]+)"),
    re.compile(r"Could not find a version that satisfies the requirement ([^\s;]+)"),
    re.compile(r"Cannot install (.+?) because these package versions have conflicting dependencies"),
    re.compile(r"The user requested \(constraint\) ([^\s]+)"),
    re.compile(r"The user requested ([^\s]+)"),
)


def name(requirement):
    """A requirement's project name, normalized as pip does."""
    m = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
    return re.sub(r"[-_.]+", "-", m.group(1)).lower() if m else ""


def entries(what, args):
    """(where, requirement) of each requirement given: 'requirements.txt
    line 3' for a file, '_PIP_ADDITIONAL_REQUIREMENTS word 2' for a list."""
    if args[0] == "-r":
        with open(args[1]) as f:
            lines = f.read().splitlines()
        return [(f"{what} line {i}", line.split("#", 1)[0].strip()) for i, line in enumerate(lines, 1)
                if line.split("#", 1)[0].strip() and not line.strip().startswith("-")]
    return [(f"{what} word {i}", word) for i, word in enumerate(args[0].split(), 1)]


def culprits(output, given):
    """The given requirements pip's output names as not installable."""
    named = set()
    for pattern in UNSATISFIED:
        for m in pattern.finditer(output):
            for part in re.split(r",\s*|\s+and\s+", m.group(1)):
                named.add(name(part))
    named.discard("apache-airflow")
    return [(where, req) for where, req in given if name(req) in named]


def main():
    what, args = sys.argv[1], sys.argv[2:]
    version = importlib.metadata.version("apache-airflow")
    reqs = args if args[0] == "-r" else args[0].split()
    cmd = [sys.executable, "-m", "pip", "install", "--no-cache-dir", "--progress-bar", "off",
           f"apache-airflow=={version}", *reqs]
    run = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if run.returncode != 0:
        given = entries(what, args)
        found = culprits(run.stdout, given)
        print(f"{what}: pip could not install it beside apache-airflow=={version} (the image's own Airflow)", file=sys.stderr)
        for where, req in found:
            print(f"  {where}: {req}", file=sys.stderr)
        if not found:
            print("  (pip names no line of it; see its output)", file=sys.stderr)
        print("pip's last lines:", file=sys.stderr)
        print("\n".join(run.stdout.rstrip().splitlines()[-20:]), file=sys.stderr)
        sys.exit(1)
    importlib.invalidate_caches()
    now = subprocess.run([sys.executable, "-c", "import importlib.metadata as m; print(m.version('apache-airflow'))"],
                         stdout=subprocess.PIPE, text=True).stdout.strip()
    if now != version:
        print(f"{what}: installing it moved Airflow from {version} to {now}", file=sys.stderr)
        sys.exit(1)
    print(f"{what}: installed beside apache-airflow=={version}")


if __name__ == "__main__":
    main()
