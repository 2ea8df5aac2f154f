"""ioloop_ctypes: the parts of libioloop's C API (capi/ioloop.h) that the
Python examples use, declared with ctypes from the standard library.

The library is found at $IOLOOP_LIB, else ../c/libioloop.so next to this
file (built by `make -C examples/c libioloop.so`).
"""

import ctypes
import os

_here = os.path.dirname(os.path.abspath(__file__))
lib = ctypes.CDLL(os.environ.get("IOLOOP_LIB", os.path.join(_here, "..", "c", "libioloop.so")))


class Completion(ctypes.Structure):
    """ioloop_completion: 128 opaque bytes, zeroed when created (idle)."""

    _fields_ = [("_reserved", ctypes.c_uint64 * 16)]


class Options(ctypes.Structure):
    """ioloop_options."""

    _fields_ = [
        ("backend", ctypes.c_uint32),
        ("entries", ctypes.c_uint32),
        ("file_workers", ctypes.c_uint32),
        ("inbox_entries", ctypes.c_uint32),
        ("timer_slack_ns", ctypes.c_int64),
        ("flags", ctypes.c_uint32),
        ("completion_entries", ctypes.c_uint32),
        ("_reserved", ctypes.c_uint32 * 6),
    ]


class SockaddrStorage(ctypes.Structure):
    """struct sockaddr_storage (128 bytes)."""

    _fields_ = [("data", ctypes.c_uint8 * 128)]


BACKEND_AUTO, BACKEND_IO_URING, BACKEND_EPOLL = 0, 1, 2
EMISUSE, ECLOSED = -4100, -4101

# void (*)(ioloop_loop*, ioloop_completion*, int32_t result, void *userdata)
Callback = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int32, ctypes.c_void_p)

_p = ctypes.c_void_p
_sigs = {
    "ioloop_loop_new": (ctypes.c_int, [ctypes.POINTER(ctypes.c_void_p), ctypes.POINTER(Options)]),
    "ioloop_loop_close": (ctypes.c_int, [_p]),
    "ioloop_loop_backend": (ctypes.c_int, [_p]),
    "ioloop_backend_name": (ctypes.c_char_p, [ctypes.c_int]),
    "ioloop_strerror": (ctypes.c_char_p, [ctypes.c_int32]),
    "ioloop_run_for": (ctypes.c_int, [_p, ctypes.c_int64]),
    "ioloop_run": (ctypes.c_int, [_p]),
    "ioloop_tick": (ctypes.c_int, [_p]),
    "ioloop_stop": (None, [_p]),
    "ioloop_nop": (ctypes.c_int, [_p, _p, Callback, _p]),
    "ioloop_timeout": (ctypes.c_int, [_p, _p, ctypes.c_uint64, Callback, _p]),
    "ioloop_cancel": (ctypes.c_int, [_p, _p, _p, Callback, _p]),
    "ioloop_accept": (ctypes.c_int, [_p, _p, ctypes.c_int, Callback, _p]),
    "ioloop_recv": (ctypes.c_int, [_p, _p, ctypes.c_int, _p, ctypes.c_size_t, Callback, _p]),
    "ioloop_send": (ctypes.c_int, [_p, _p, ctypes.c_int, _p, ctypes.c_size_t, Callback, _p]),
    "ioloop_close": (ctypes.c_int, [_p, _p, ctypes.c_int, Callback, _p]),
    "ioloop_post": (ctypes.c_int, [_p, _p, Callback, _p]),
    "ioloop_sockaddr_parse": (ctypes.c_int, [ctypes.c_char_p, ctypes.POINTER(SockaddrStorage), ctypes.POINTER(ctypes.c_uint32)]),
    "ioloop_sockaddr_format": (ctypes.c_int, [ctypes.POINTER(SockaddrStorage), ctypes.c_uint32, ctypes.c_char_p, ctypes.c_size_t]),
    "ioloop_listen_tcp": (ctypes.c_int, [ctypes.POINTER(SockaddrStorage), ctypes.c_uint32, ctypes.c_int, ctypes.c_uint32,
                                         ctypes.POINTER(SockaddrStorage), ctypes.POINTER(ctypes.c_uint32)]),
}
for _name, (_res, _args) in _sigs.items():
    _f = getattr(lib, _name)
    _f.restype, _f.argtypes = _res, _args


def strerror(result):
    """The description of a result code."""
    return lib.ioloop_strerror(result).decode()


class IOLoopError(OSError):
    """A negative result code from a call that returned one."""

    def __init__(self, call, code):
        super().__init__(-code if code > -4096 else None, "%s: %s" % (call, strerror(code)))
        self.code = code


def check(call, rc):
    """Raises IOLoopError for a negative rc; returns rc otherwise."""
    if rc < 0:
        raise IOLoopError(call, rc)
    return rc


def new_loop(backend=BACKEND_AUTO):
    """Creates a loop and returns its handle (a c_void_p)."""
    loop = ctypes.c_void_p()
    opts = Options(backend=backend)
    check("ioloop_loop_new", lib.ioloop_loop_new(ctypes.byref(loop), ctypes.byref(opts)))
    return loop


def parse_addr(text):
    """Returns (SockaddrStorage, length) for "IP:port"."""
    sa, n = SockaddrStorage(), ctypes.c_uint32()
    check("ioloop_sockaddr_parse", lib.ioloop_sockaddr_parse(text.encode(), ctypes.byref(sa), ctypes.byref(n)))
    return sa, n.value


def listen_tcp(text):
    """A listening TCP socket on "IP:port"; returns (fd, bound "IP:port")."""
    sa, n = parse_addr(text)
    bound, bn = SockaddrStorage(), ctypes.c_uint32()
    fd = check("ioloop_listen_tcp", lib.ioloop_listen_tcp(ctypes.byref(sa), n, 0, 2, ctypes.byref(bound), ctypes.byref(bn)))
    buf = ctypes.create_string_buffer(64)
    lib.ioloop_sockaddr_format(ctypes.byref(bound), bn.value, buf, len(buf))
    return fd, buf.value.decode()
