"""dataplatform: live receiver

Receives the project's edits into the stack's live folders (dags/,
plugins/), so that a saved file reaches Airflow with no command typed: the
live command on the developer's machine sends each change through the
stack's host port. Python's standard library only.

    python3 live-receiver.py PORT STAMPS NAME=DIR[:GENERATED,...]...

GENERATED are what tools write in the folder (dbt's target, logs and
packages): never listed, never written here.

Every request carries the project's live key (HTTP "Authorization: Bearer
KEY", the key in the file LIVE_KEY_FILE): a random key made once per
project, like the Fernet key, which the live command obtains through the
module (`dagger call live-key`). Nothing else opens it, the admin's login
included: a file written here is code every worker runs.

    GET    /files               {"dags": {"a.py": "<sha256>", ...}, ...}
    PUT    /files/NAME/PATH     the file's new content (written whole, then
                                renamed into place, its bytecode removed);
                                answers {"written": bytes, "sha256": ...}
    DELETE /files/NAME/PATH     the file, its bytecode, and the folders it
                                leaves empty
    POST   /dbt/build           the stack's warm dbt (DBT_SERVER_URL) builds
                                what changed since its last build: its JSON
                                lines, passed on as they come
    GET    /parsed/dags/PATH    the dag-processor's stamp of the file (the
                                SHA-256 of what it last compiled, and when
                                it read it: see dataplatform_parse_stamps.py
                                and STAMPS); 404 before any
A PATH may not leave its folder, nor name a hidden file, __pycache__ or
what tools write there.
"""

import glob
import hashlib
import hmac
import http.server
import json
import os
import shutil
import sys
import tempfile
import urllib.request

MAX_BYTES = 16 << 20
ROOTS = {}
GENERATED = {}  # folder name -> the names at its top that tools write
STAMPS = ""
KEY = b""


def allowed(root, path, generated=()):
    """The file PATH below root, or None when it may not be written."""
    if root is None or not path or path.startswith("/"):
        return None
    parts = path.split("/")
    if any(p in ("", ".", "..", "__pycache__") or p.startswith(".") for p in parts) or parts[0] in generated:
        return None
    full = os.path.normpath(os.path.join(root, path))
    if not full.startswith(root + os.sep):
        return None
    return full


def drop_bytecode(full):
    """Remove the .pyc files Python may have cached for the file at full:
    a stale one would stand for the new content (same size, same second)."""
    folder, name = os.path.split(full)
    stem, ext = os.path.splitext(name)
    if ext != ".py":
        return
    for pyc in glob.glob(os.path.join(glob.escape(folder), "__pycache__", glob.escape(stem) + ".*.pyc")):
        try:
            os.remove(pyc)
        except FileNotFoundError:
            pass


def listing():
    out = {}
    for name, root in ROOTS.items():
        files = {}
        for folder, dirs, names in os.walk(root):
            dirs[:] = [d for d in dirs if d != "__pycache__" and not d.startswith(".")
                       and not (folder == root and d in GENERATED.get(name, ()))]
            for n in names:
                if n.startswith("."):
                    continue
                full = os.path.join(folder, n)
                with open(full, "rb") as f:
                    files[os.path.relpath(full, root)] = hashlib.sha256(f.read()).hexdigest()
        out[name] = files
    return out


class Handler(http.server.BaseHTTPRequestHandler):
    def authorized(self):
        got = self.headers.get("Authorization", "").encode()
        if hmac.compare_digest(got, b"Bearer " + KEY):
            return True
        self.answer(401, {"error": "the project's live key is needed (the live command fetches it: dagger call live-key)"},
                    {"WWW-Authenticate": 'Bearer realm="live"'})
        return False

    def answer(self, code, body, headers=None):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def target(self, prefix, roots):
        parts = self.path.split("/", 3)  # "", prefix, NAME, PATH
        if len(parts) != 4 or parts[1] != prefix:
            self.answer(404, {"error": f"not /{prefix}/NAME/PATH"})
            return None
        full = allowed(roots.get(parts[2]), parts[3], GENERATED.get(parts[2], ()) if roots is ROOTS else ())
        if full is None:
            self.answer(400, {"error": f"{parts[2]}/{parts[3]} is not a file of the live folders"})
        return full

    def do_GET(self):
        if not self.authorized():
            return
        if self.path == "/files":
            self.answer(200, listing())
            return
        if self.path.startswith("/parsed/"):
            full = self.target("parsed", {"dags": STAMPS})
            if full is None:
                return
            try:
                with open(full + ".json") as f:
                    self.answer(200, json.load(f))
            except (FileNotFoundError, ValueError):
                self.answer(404, {"error": "not parsed since the stack started"})
            return
        self.answer(404, {"error": "not /files or /parsed/dags/PATH"})

    def do_PUT(self):
        if not self.authorized():
            return
        full = self.target("files", ROOTS)
        if full is None:
            return
        size = int(self.headers.get("Content-Length", "0"))
        if size > MAX_BYTES:
            self.answer(413, {"error": f"larger than {MAX_BYTES} bytes"})
            return
        data = self.rfile.read(size)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".live-", dir=os.path.dirname(full))
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, full)  # whole, never half-written
        drop_bytecode(full)
        self.answer(200, {"written": len(data), "sha256": hashlib.sha256(data).hexdigest()})

    def do_POST(self):
        if not self.authorized():
            return
        if self.path != "/dbt/build":
            self.answer(404, {"error": "not /dbt/build"})
            return
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        req = urllib.request.Request(os.environ["DBT_SERVER_URL"] + "/build", data=b"{}", method="POST",
                                     headers={"Content-Type": "application/json"})
        try:
            upstream = urllib.request.urlopen(req, timeout=3600)
        except OSError as e:
            self.answer(502, {"error": f"the stack's warm dbt does not answer: {e}"})
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/x-ndjson")
        self.end_headers()
        with upstream:
            for line in upstream:  # HTTP/1.0: the body ends when the connection closes
                self.wfile.write(line)
                self.wfile.flush()

    def do_DELETE(self):
        if not self.authorized():
            return
        full = self.target("files", ROOTS)
        if full is None:
            return
        try:
            os.remove(full)
        except FileNotFoundError:
            pass
        drop_bytecode(full)
        root = ROOTS[self.path.split("/")[2]]
        folder = os.path.dirname(full)
        while folder != root and not [n for n in os.listdir(folder) if n != "__pycache__"]:
            shutil.rmtree(os.path.join(folder, "__pycache__"), ignore_errors=True)
            os.rmdir(folder)
            folder = os.path.dirname(folder)
        self.answer(200, {"deleted": True})

    def log_message(self, fmt, *args):
        print("live: " + fmt % args, flush=True)


def main():
    global STAMPS, KEY
    port, STAMPS = int(sys.argv[1]), os.path.realpath(sys.argv[2])
    try:
        with open(os.environ["LIVE_KEY_FILE"], "rb") as f:
            KEY = f.read().strip()
    except FileNotFoundError:
        pass
    if len(KEY) < 32:
        sys.exit(f"live: the live key in {os.environ['LIVE_KEY_FILE']} is missing or short")
    for arg in sys.argv[3:]:
        name, _, folder = arg.partition("=")
        folder, _, generated = folder.partition(":")
        ROOTS[name] = os.path.realpath(folder)
        GENERATED[name] = tuple(g for g in generated.split(",") if g)
        os.makedirs(ROOTS[name], exist_ok=True)
    server = http.server.ThreadingHTTPServer(("0.0.0.0", port), Handler)
    print(f"live: receiving edits of {', '.join(ROOTS)} on port {port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
