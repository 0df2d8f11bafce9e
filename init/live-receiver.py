"""dataplatform: live receiver

Receives the project's edits into the stack's live folders (dags/,
plugins/), so that a saved file reaches Airflow with no command typed: the
watcher on the developer's machine (go run ./cmd/live) sends each change
through the stack's host port. Python's standard library only.

    python3 live-receiver.py PORT NAME=DIR...

HTTP, with the admin's login (HTTP Basic: LIVE_USER, LIVE_PASSWORD):
    GET    /files               {"dags": {"a.py": "<sha256>", ...}, ...}
    PUT    /files/NAME/PATH     the file's new content (written whole, then
                                renamed into place); answers {"written":
                                bytes, "at": the time it took its place,
                                in seconds since the epoch}
    DELETE /files/NAME/PATH     the file, and the folders it leaves empty
A PATH may not leave its folder, nor name a hidden file or __pycache__.
"""

import base64
import hashlib
import hmac
import http.server
import json
import os
import sys
import tempfile
import time

MAX_BYTES = 16 << 20
ROOTS = {}


def allowed(name, path):
    """The file PATH of folder NAME, or None when it may not be written."""
    root = ROOTS.get(name)
    if root is None or not path or path.startswith("/"):
        return None
    parts = path.split("/")
    if any(p in ("", ".", "..", "__pycache__") or p.startswith(".") for p in parts):
        return None
    full = os.path.normpath(os.path.join(root, path))
    if not full.startswith(root + os.sep):
        return None
    return full


def listing():
    out = {}
    for name, root in ROOTS.items():
        files = {}
        for folder, dirs, names in os.walk(root):
            dirs[:] = [d for d in dirs if d != "__pycache__" and not d.startswith(".")]
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
        want = "Basic " + base64.b64encode(
            (os.environ["LIVE_USER"] + ":" + os.environ["LIVE_PASSWORD"]).encode()).decode()
        got = self.headers.get("Authorization", "")
        if hmac.compare_digest(got.encode(), want.encode()):
            return True
        self.answer(401, {"error": "the admin's login is needed"}, {"WWW-Authenticate": 'Basic realm="live"'})
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

    def target(self):
        parts = self.path.split("/", 3)  # "", "files", NAME, PATH
        if len(parts) != 4 or parts[1] != "files":
            self.answer(404, {"error": "not /files/NAME/PATH"})
            return None
        full = allowed(parts[2], parts[3])
        if full is None:
            self.answer(400, {"error": f"{parts[2]}/{parts[3]} is not a file of the live folders"})
        return full

    def do_GET(self):
        if not self.authorized():
            return
        if self.path != "/files":
            self.answer(404, {"error": "not /files"})
            return
        self.answer(200, listing())

    def do_PUT(self):
        if not self.authorized():
            return
        full = self.target()
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
        # The watcher tells a parse of this content from one that read the
        # file before by this time (the stack's clock, Airflow's too).
        self.answer(200, {"written": len(data), "at": time.time()})

    def do_DELETE(self):
        if not self.authorized():
            return
        full = self.target()
        if full is None:
            return
        try:
            os.remove(full)
        except FileNotFoundError:
            pass
        root = ROOTS[self.path.split("/")[2]]
        folder = os.path.dirname(full)
        while folder != root and not os.listdir(folder):
            os.rmdir(folder)
            folder = os.path.dirname(folder)
        self.answer(200, {"deleted": True})

    def log_message(self, fmt, *args):
        print("live: " + fmt % args, flush=True)


def main():
    port = int(sys.argv[1])
    for arg in sys.argv[2:]:
        name, _, folder = arg.partition("=")
        ROOTS[name] = os.path.realpath(folder)
        os.makedirs(ROOTS[name], exist_ok=True)
    server = http.server.ThreadingHTTPServer(("0.0.0.0", port), Handler)
    print(f"live: receiving edits of {', '.join(ROOTS)} on port {port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
