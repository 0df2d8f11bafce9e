"""dataplatform: dbt client

Runs one dbt command line in the running stack's warm dbt (dbt-server.py)
and behaves as dbt would have: dbt's console output on stdout, dbt's exit
status, and, with OUT, a copy of dbt's target/ (PROJECT/target) there:

    python3 dbt-client.py URL PROJECT OUT -- ARG...

A first line says where dbt ran. Standard library only.
"""

import json
import shutil
import sys
import urllib.request


def main():
    url, project, out = sys.argv[1], sys.argv[2], sys.argv[3]
    args = sys.argv[sys.argv.index("--") + 1:]
    print(f"dbt-server: `dbt {' '.join(args)}` runs in the stack's warm dbt ({url})", flush=True)
    req = urllib.request.Request(url + "/invoke", data=json.dumps({"args": args}).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    code = None
    with urllib.request.urlopen(req, timeout=3600) as resp:
        for raw in resp:
            line = raw.decode(errors="replace").rstrip("\n")
            if line.startswith("dbt-server: exit "):
                code = int(line.rsplit(" ", 1)[1])
                continue
            print(line, flush=True)
    if code is None:
        print("dbt-server: the warm dbt ended the command without its exit status", file=sys.stderr)
        sys.exit(2)
    if out != "-":
        shutil.copytree(f"{project}/target", out, dirs_exist_ok=True, symlinks=True)
    sys.exit(code)


if __name__ == "__main__":
    main()
