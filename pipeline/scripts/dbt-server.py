"""dataplatform: dbt server

The stack's warm dbt: one long-running Python process that keeps dbt-core
imported, its adapter loaded and the project's parse on disk
(target/partial_parse.msgpack), and runs one dbt command at a time through
dbt's programmatic entry point (the dbt CLI's own code: the same console
output, the same exit status, the same target/). A second request while one
runs waits, and is told so.

    python3 dbt-server.py PORT PROJECT

PROJECT is the project's dbt folder (the stack's live folder;
DBT_PROFILES_DIR there, DBT_* in the environment: the dbt role's own
credentials only).

    POST /invoke   {"args": ["test", ...]}: dbt's console output, then a
                   last line "dbt-server: exit N"
    POST /build    {}: builds what changed since the last
                   build (or the server's start), by dbt's own state
                   comparison (state:modified: the changed models, seeds
                   and snapshots and their tests; what a changed macro or
                   .yml changes): one JSON line a node, {"node", "type",
                   "file", "status", "rows", "failures", "seconds",
                   "message"}, or {"error": ...} when dbt cannot parse the
                   project; then {"exit": N}
    GET  /health   200 once the first parse is done

Invocations run on the main thread, one after the other (dbt's global state
allows no more); HTTP requests wait for their turn on a queue.
"""

import contextlib
import http.server
import io
import json
import os
import queue
import shutil
import sys
import threading
import time


def import_dbt():
    """dbt's modules: imported by the worker, after the port is open (see
    wait_for_quiet), as module globals."""
    global click, dbt, ExceptionExit, ResultExit, cli, EventLevel
    global cleanup_event_logger, get_event_manager, get_stdout_config, LineFormat
    import click
    import dbt.deprecations
    from dbt.cli.exceptions import ExceptionExit, ResultExit
    from dbt.cli.main import cli
    from dbt_common.events.base_types import EventLevel
    from dbt_common.events.event_manager_client import cleanup_event_logger, get_event_manager
    from dbt_common.events.functions import get_stdout_config
    from dbt_common.events.logger import LineFormat

PROJECT = os.path.abspath(sys.argv[2]) if len(sys.argv) > 2 else os.getcwd()
BASELINE = os.path.join(PROJECT, "target", "dataplatform-baseline")  # the last build's manifest
JOBS = queue.Queue()
READY = threading.Event()
BUSY = threading.Lock()  # held while a job runs: a new request is told it waits
RUNNING = [""]  # what runs now, for the message


class Lines(io.TextIOBase):
    """A stream that hands each complete line to a callback."""

    def __init__(self, emit):
        self.emit, self.buf = emit, ""

    def write(self, s):
        self.buf += s
        while "\n" in self.buf:
            line, self.buf = self.buf.split("\n", 1)
            self.emit(line)
        return len(s)

    def flush(self):
        if self.buf:
            self.emit(self.buf)
            self.buf = ""


def run_dbt(args, out):
    """Runs dbt with args as the CLI does, its console output to out;
    returns (exit status, result, manifest)."""
    saved, sys.argv = sys.argv, ["dbt", *args]  # dbt records the command line from argv
    obj = {"manifest": None, "callbacks": []}
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            # Events before dbt's own logger is set up go to this stream too.
            cleanup_event_logger()
            get_event_manager().add_logger(get_stdout_config(LineFormat.PlainText, True, EventLevel.INFO, False))
            dbt.deprecations.reset_deprecations()
            try:
                rv = cli.main(args=list(args), prog_name="dbt", standalone_mode=False, obj=obj)
                if isinstance(rv, tuple):
                    return (0 if rv[1] else 1), rv[0], obj.get("manifest")
                return (rv or 0), None, None  # --help, --version
            except ResultExit as e:
                return e.exit_code, e.result, obj.get("manifest")
            except ExceptionExit as e:
                return e.exit_code, e.exception, None
            except click.ClickException as e:
                e.show()
                return e.exit_code, e, None
            except click.exceptions.Exit as e:
                return e.exit_code, None, None
            except click.Abort as e:
                print("Aborted!")
                return 1, e, None
            finally:
                cleanup_event_logger()
                out.flush()
    finally:
        sys.argv = saved


def keep_baseline(write):
    """The manifest the next build compares with (dbt reads --state from
    disk), written by write(path)."""
    tmp = BASELINE + ".new"
    os.makedirs(tmp, exist_ok=True)
    write(os.path.join(tmp, "manifest.json"))
    shutil.rmtree(BASELINE, ignore_errors=True)
    os.replace(tmp, BASELINE)


def node_lines(result):
    """One dict a node of a run's result."""
    for r in getattr(result, "results", None) or []:
        node = r.node
        response = r.adapter_response or {}
        rows = response.get("rows_affected") if isinstance(response, dict) else None
        yield {
            "node": node.name,
            "type": str(node.resource_type),
            "file": node.original_file_path,
            "status": str(r.status),
            "rows": rows if isinstance(rows, int) and rows >= 0 else None,
            "failures": r.failures,
            "seconds": round(r.execution_time or 0, 2),
            "message": r.message,
        }


def invoke(job):
    args, send = job["args"], job["send"]
    code, _, _ = run_dbt(args, Lines(send))
    send(f"dbt-server: exit {code}")


def build(job):
    send = job["send"]
    output = io.StringIO()
    select = ["--select", "state:modified", "--state", BASELINE] if os.path.exists(os.path.join(BASELINE, "manifest.json")) else []
    code, result, manifest = run_dbt(["build", *select], Lines(output.write))
    if code == 2 or (result is not None and not hasattr(result, "results")):
        # dbt could not parse or compile the project: its own message names
        # the file and the line.
        send(json.dumps({"error": str(result) if result is not None else output.getvalue()[-4000:]}))
    else:
        for line in node_lines(result):
            send(json.dumps(line))
    if manifest is not None:
        keep_baseline(manifest.write)
    send(json.dumps({"exit": code}))


def cpu_times():
    """The machine's idle and total CPU time so far (/proc/stat's first line)."""
    with open("/proc/stat") as f:
        ticks = [int(t) for t in f.readline().split()[1:]]
    return ticks[3] + ticks[4], sum(ticks)


def wait_for_quiet(limit=60.0):
    """Waits while the machine is busy (less than half its CPU idle over the
    last second), at most limit seconds, and never once a request waits:
    the stack's Airflow services start beside this one, and importing dbt
    and parsing the project, 2 CPU-seconds, would delay them on a small
    machine. What the user waits for first is Airflow."""
    deadline = time.monotonic() + limit
    try:
        idle, total = cpu_times()
        while time.monotonic() < deadline and JOBS.empty():
            time.sleep(1)
            idle2, total2 = cpu_times()
            if total2 <= total or (idle2 - idle) / (total2 - total) >= 0.5:
                return  # quiet, or counters that do not move: at once
            idle, total = idle2, total2
    except (OSError, ValueError, IndexError):
        return  # no /proc/stat to read: at once


def worker():
    """The main thread: the first parse once the stack has started, then one
    job after the other."""
    # The first build compares with the project as the stack started: the
    # manifest dbt-prepare has just made of it, taken before any edit can
    # reach the folder; the first parse, later, may already see edits.
    started = os.path.join(PROJECT, "target", "manifest.json")
    at_start = os.path.exists(started)
    if at_start:
        keep_baseline(lambda path: shutil.copyfile(started, path))
    wait_for_quiet()
    import_dbt()
    if os.path.exists("dbt_project.yml"):
        code, _, manifest = run_dbt(["parse"], Lines(lambda line: sys.__stdout__.write(line + "\n")))
        if manifest is not None and not at_start:
            keep_baseline(manifest.write)
        print(f"dbt-server: parsed the project (exit {code}); ready", flush=True)
    else:
        print("dbt-server: the project has no dbt project (dbt/dbt_project.yml); ready for one", flush=True)
    READY.set()
    while True:
        job = JOBS.get()
        with BUSY:
            RUNNING[0] = " ".join(job.get("args") or ["build (changed)"])
            started = time.monotonic()
            try:
                (build if job["kind"] == "build" else invoke)(job)
            except Exception as e:  # a job's failure never stops the server
                job["send"](f"dbt-server: failed: {e!r}")
            finally:
                print(f"dbt-server: {RUNNING[0]} in {time.monotonic() - started:.1f} s", flush=True)
                RUNNING[0] = ""
                job["done"].set()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        if self.path == "/health" and READY.is_set():
            self.reply(200, b"ready\n")
        else:
            self.reply(503 if self.path == "/health" else 404, b"not ready\n")

    def reply(self, code, body):
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        if self.path not in ("/invoke", "/build"):
            self.reply(404, b"not /invoke or /build\n")
            return
        try:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))) or b"{}")
        except ValueError:
            self.reply(400, b"not JSON\n")
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        lines = queue.Queue()
        job = {"kind": self.path[1:], "args": body.get("args"), "send": lines.put, "done": threading.Event()}
        if BUSY.locked() or not JOBS.empty():
            lines.put(f"dbt-server: waiting for the dbt command under way ({RUNNING[0] or 'queued'})")
        if not READY.is_set():
            lines.put("dbt-server: waiting for the first parse of the project")
        JOBS.put(job)
        while not (job["done"].is_set() and lines.empty()):
            try:
                line = lines.get(timeout=0.2)
            except queue.Empty:
                continue
            data = (line + "\n").encode()
            try:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                self.wfile.flush()
            except OSError:
                return  # the caller went away; the job still ends
        self.wfile.write(b"0\r\n\r\n")

    def log_message(self, fmt, *args):
        pass


def main():
    os.chdir(PROJECT)
    server = http.server.ThreadingHTTPServer(("0.0.0.0", int(sys.argv[1])), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(f"dbt-server: listening on {sys.argv[1]}, project {PROJECT}", flush=True)
    worker()


if __name__ == "__main__":
    main()
