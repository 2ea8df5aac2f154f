"""Tests the C API from Python (ctypes, standard library only): a NOP, a
timer and its cancel, a cross-thread post, misuse codes, and the echo
server (echo.py) in a child process against 50 concurrent clients.

    python3 test_echo.py        (exit status 0: pass)
"""

import ctypes
import os
import socket
import subprocess
import sys
import threading
import time
import unittest

import ioloop_ctypes as io

lib = io.lib
HERE = os.path.dirname(os.path.abspath(__file__))


class Recorder:
    """A callback that records the results it receives."""

    def __init__(self):
        self.results = []
        self.cb = io.Callback(lambda loop, c, result, ud: self.results.append(result))


class TestLoop(unittest.TestCase):
    def setUp(self):
        self.loop = io.new_loop()

    def tearDown(self):
        if self.loop is not None:
            self.assertEqual(lib.ioloop_loop_close(self.loop), 0)

    def test_nop_and_misuse(self):
        rec, c = Recorder(), io.Completion()
        self.assertEqual(lib.ioloop_nop(self.loop, ctypes.byref(c), rec.cb, None), 0)
        self.assertEqual(lib.ioloop_nop(self.loop, ctypes.byref(c), rec.cb, None), io.EMISUSE)  # pending
        self.assertEqual(lib.ioloop_run(self.loop), 0)
        self.assertEqual(rec.results, [0])
        self.assertIn("misuse", io.strerror(io.EMISUSE))
        self.assertEqual(io.strerror(-2), "no such file or directory")

    def test_timer_and_cancel(self):
        rec, t, cancel = Recorder(), io.Completion(), io.Completion()
        start = time.monotonic()
        self.assertEqual(lib.ioloop_timeout(self.loop, ctypes.byref(t), 20_000_000, rec.cb, None), 0)
        self.assertEqual(lib.ioloop_run(self.loop), 0)
        self.assertGreaterEqual(time.monotonic() - start, 0.019)
        self.assertEqual(rec.results, [0])
        rec.results.clear()
        self.assertEqual(lib.ioloop_timeout(self.loop, ctypes.byref(t), 10_000_000_000, rec.cb, None), 0)
        self.assertEqual(lib.ioloop_cancel(self.loop, ctypes.byref(cancel), ctypes.byref(t), rec.cb, None), 0)
        self.assertEqual(lib.ioloop_run(self.loop), 0)
        self.assertEqual(sorted(rec.results), [-125, 0])  # the timer: -ECANCELED; the cancel: 0

    def test_post_from_thread(self):
        rec, c = Recorder(), io.Completion()

        def post():
            time.sleep(0.02)
            self.assertEqual(lib.ioloop_post(self.loop, ctypes.byref(c), rec.cb, None), 0)
            time.sleep(0.02)
            lib.ioloop_stop(self.loop)

        t = threading.Thread(target=post)
        t.start()
        self.assertEqual(lib.ioloop_run_for(self.loop, 10_000_000_000), 0)  # ends at the stop
        t.join()
        self.assertEqual(rec.results, [0])


class TestEchoServer(unittest.TestCase):
    def test_echo(self):
        proc = subprocess.Popen([sys.executable, os.path.join(HERE, "echo.py"), "--addr", "127.0.0.1:0"],
                                stdout=subprocess.PIPE, text=True)
        try:
            line = proc.stdout.readline()
            self.assertTrue(line.startswith("listening on "), line)
            host, port = line.split()[2].rsplit(":", 1)
            clients = [socket.create_connection((host, int(port)), timeout=10) for _ in range(50)]
            for rnd in range(20):
                for i, s in enumerate(clients):
                    s.sendall(b"round %d client %d\n" % (rnd, i))
                for i, s in enumerate(clients):
                    want = b"round %d client %d\n" % (rnd, i)
                    got = b""
                    while len(got) < len(want):
                        chunk = s.recv(len(want) - len(got))
                        self.assertTrue(chunk, "server closed early")
                        got += chunk
                    self.assertEqual(got, want)
            for s in clients:
                s.close()
            big = socket.create_connection((host, int(port)), timeout=10)
            payload = os.urandom(1 << 20)
            threading.Thread(target=big.sendall, args=(payload,)).start()
            got = bytearray()
            while len(got) < len(payload):
                got += big.recv(1 << 16)
            self.assertEqual(bytes(got), payload)
            big.close()
        finally:
            proc.terminate()
            proc.wait(timeout=10)
            proc.stdout.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
