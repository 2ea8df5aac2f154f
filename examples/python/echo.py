"""A TCP echo server in Python on libioloop through ctypes.

    python3 echo.py [--addr 127.0.0.1:9000] [--backend auto|io_uring|epoll]

Prints "listening on ADDR server=python backend=B", then serves until
killed. Each connection owns its completions and its buffer (ctypes
objects, kept alive by the connection); one ctypes callback per operation
kind serves every connection, which it finds by the userdata integer.
"""

import argparse
import ctypes
import sys

import ioloop_ctypes as io

lib = io.lib
BUF = 4096


class Conn:
    def __init__(self, fd):
        self.fd = fd
        self.recv = io.Completion()
        self.send = io.Completion()
        self.close = io.Completion()
        self.buf = ctypes.create_string_buffer(BUF)


class Server:
    def __init__(self, loop, listen_fd):
        self.loop = loop
        self.listen_fd = listen_fd
        self.accept = io.Completion()
        self.conns = {}  # userdata id -> Conn
        self.next_id = 1
        # The callbacks must stay referenced while the C side may call them.
        self.on_accept = io.Callback(self._on_accept)
        self.on_recv = io.Callback(self._on_recv)
        self.on_send = io.Callback(self._on_send)
        self.on_close = io.Callback(self._on_close)

    def start(self):
        io.check("ioloop_accept", lib.ioloop_accept(self.loop, ctypes.byref(self.accept), self.listen_fd, self.on_accept, None))

    def _recv(self, cid, conn):
        lib.ioloop_recv(self.loop, ctypes.byref(conn.recv), conn.fd, conn.buf, BUF, self.on_recv, cid)

    def _finish(self, cid, conn):
        lib.ioloop_close(self.loop, ctypes.byref(conn.close), conn.fd, self.on_close, cid)

    def _on_accept(self, loop, c, result, userdata):
        if result >= 0:
            cid, self.next_id = self.next_id, self.next_id + 1
            conn = self.conns[cid] = Conn(result)
            self._recv(cid, conn)
        else:
            print("# accept: %s" % io.strerror(result), file=sys.stderr)
        self.start()

    def _on_recv(self, loop, c, result, cid):
        conn = self.conns[cid]
        if result <= 0:  # 0: the peer closed
            self._finish(cid, conn)
            return
        lib.ioloop_send(self.loop, ctypes.byref(conn.send), conn.fd, conn.buf, result, self.on_send, cid)

    def _on_send(self, loop, c, result, cid):
        conn = self.conns[cid]
        if result < 0:
            self._finish(cid, conn)
            return
        self._recv(cid, conn)

    def _on_close(self, loop, c, result, cid):
        del self.conns[cid]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--addr", default="127.0.0.1:9000")
    ap.add_argument("--backend", default="auto", choices=["auto", "io_uring", "epoll"])
    args = ap.parse_args()
    backend = {"auto": io.BACKEND_AUTO, "io_uring": io.BACKEND_IO_URING, "epoll": io.BACKEND_EPOLL}[args.backend]
    loop = io.new_loop(backend)
    fd, bound = io.listen_tcp(args.addr)
    server = Server(loop, fd)
    server.start()
    print("listening on %s server=python backend=%s" % (bound, lib.ioloop_backend_name(lib.ioloop_loop_backend(loop)).decode()), flush=True)
    while True:
        # Short runs, so that Ctrl-C reaches Python between them.
        io.check("ioloop_run_for", lib.ioloop_run_for(loop, 100_000_000))


if __name__ == "__main__":
    main()
