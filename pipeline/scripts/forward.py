"""dataplatform: forward

Relays TCP ports to services of the stack (the gateway, which carries the
stack's host ports), for as long as it runs:

    python3 forward.py LISTEN:HOST:PORT...

Written for Dagger's host tunnel (v0.19.10 to v0.21.8 at least). The
tunnel opens one connection to the gateway per host client address
(IP:port), never closes it and never says when the host client has gone;
when the host reuses that address for a new connection, as it soon does,
the new connection's bytes come on the old one; and the tunnel stops
serving the port for good the first time one of its writes into the
gateway fails, or stops sending back what arrives after the gateway
ended a connection. So each connection from the tunnel is a pipe that
carries, one after the other, every host connection from one address:

- the first bytes dial the service (waiting for it to listen, up to a
  minute: the Airflow services answer 15-25 s after start, and after a
  restart), and what the service says goes back;
- when the service ends its connection, the pipe stays open: the next
  bytes (a new host connection from the same address, or a keep-alive
  client's next request) dial the service anew;
- bytes the service never answered because it was ending its connection
  when they came (a host connection following another from the same
  address, right behind its answer) go again, once, on a new connection;
- the pipe is never closed under the tunnel, nor is its end half-closed:
  the host client is not told that the service ended the connection
  (HTTP and PostgreSQL clients know from the protocol where an answer ends).
"""

import asyncio
import resource
import socket
import sys

DIAL_TRIES, DIAL_EVERY = 240, 0.25
CHUNK = 64 * 1024
RESEND_MAX = 1024 * 1024  # more unanswered bytes than this are never sent again


async def dial(host, port):
    for _ in range(DIAL_TRIES):
        try:
            return await asyncio.open_connection(host, port)
        except OSError:
            await asyncio.sleep(DIAL_EVERY)
    return None, None


def ended(service_w):
    """Whether the service has ended the connection: its FIN is here, even
    if the event loop has not read it yet (a host client's next request
    can come right behind the answer it waited for)."""
    sock = service_w.get_extra_info("socket")
    try:
        with socket.fromfd(sock.fileno(), sock.family, sock.type) as peek:
            return peek.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except BlockingIOError:
        return False  # open, nothing to read
    except OSError:
        return True


class Pipe:
    """One connection from the tunnel: it carries the host connections from
    one client address to the service, one after the other."""

    def __init__(self, tunnel_w, host, port):
        self.tunnel_w, self.host, self.port = tunnel_w, host, port
        self.lock = asyncio.Lock()  # one service connection at a time
        self.service_w = None  # the service connection carrying bytes now
        self.unanswered = b""  # written to it since it last said anything (None: too many)
        self.answered = False  # it has said something
        self.tasks = set()

    async def send(self, data):
        """Carries bytes from the tunnel to the service."""
        async with self.lock:
            if self.service_w is not None and ended(self.service_w):
                await self.next_connection()
            await self.write(data)

    async def write(self, data):
        if self.service_w is None:
            service_r, self.service_w = await dial(self.host, self.port)
            if self.service_w is None:
                return  # the service never listened: these bytes are lost
            self.unanswered, self.answered = b"", False
            task = asyncio.create_task(self.back(service_r, self.service_w))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
        if self.unanswered is not None:
            self.unanswered += data
            if len(self.unanswered) > RESEND_MAX:
                self.unanswered = None
        try:
            self.service_w.write(data)
            await self.service_w.drain()
        except OSError:
            pass  # the connection ended: back() finds out and sends them anew

    def drop(self):
        self.service_w.close()
        self.service_w = None

    async def back(self, service_r, service_w):
        """Copies what the service says into the tunnel until it ends that
        connection. Bytes written just before the end (a new host connection
        into a session that was ending) go again on a new connection, once:
        the service answered earlier bytes on that connection, never these."""
        try:
            while data := await service_r.read(CHUNK):
                if service_w is self.service_w:
                    self.unanswered, self.answered = b"", True
                self.tunnel_w.write(data)
                await self.tunnel_w.drain()
        except OSError:
            pass
        async with self.lock:
            if service_w is self.service_w:  # else send() has moved on already
                await self.next_connection()

    async def next_connection(self):
        """Ends the service connection that the service has ended; what it
        left unanswered after answering before goes on a new one."""
        again = self.unanswered if self.answered else None
        self.drop()
        if again:
            await self.write(again)

    def close(self):
        if self.service_w is not None:
            self.drop()
        self.tunnel_w.close()


async def pipe(tunnel_r, tunnel_w, host, port):
    p = Pipe(tunnel_w, host, port)
    try:
        while data := await tunnel_r.read(CHUNK):
            await p.send(data)
    except OSError:
        pass  # the tunnel closed the pipe itself
    finally:
        p.close()


async def main(forwards):
    # One pipe per host client address ever seen, kept open.
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    servers = []
    for f in forwards:
        listen, host, port = f.split(":")
        servers.append(await asyncio.start_server(
            lambda r, w, host=host, port=int(port): pipe(r, w, host, port), port=int(listen), reuse_address=True))
        print(f"forward: {listen} -> {host}:{port}", flush=True)
    await asyncio.gather(*(s.serve_forever() for s in servers))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
