"""The two ends of the tunnel benchmark, each run as its own process.

`serve` is the "remote service": one port speaking a tiny protocol (first byte picks the test):
  U  upload: read to EOF, answer the byte count (8 bytes)
  D  download: read an 8-byte count, send that many bytes, close
  E  echo: answer every 64-byte message
`measure PORT` is the "browser": it runs every measurement against one local port and prints JSON.
Both are separate processes so that neither shares a GIL with the tunnel's opener.
"""

from __future__ import annotations

import json
import socket
import statistics
import struct
import sys
import threading
import time

MSG = 64
CHUNK = 1 << 20


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    data = bytearray()
    while len(data) < n:
        part = sock.recv(n - len(data))
        if not part:
            raise ConnectionError("closed early")
        data += part
    return bytes(data)


def _handle(conn: socket.socket) -> None:
    with conn:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        kind = conn.recv(1)
        if kind == b"U":
            total = 0
            while part := conn.recv(CHUNK):
                total += len(part)
            conn.sendall(struct.pack("!Q", total))
        elif kind == b"D":
            (left,) = struct.unpack("!Q", _recv_exact(conn, 8))
            block = memoryview(b"\0" * CHUNK)
            while left > 0:
                n = min(left, CHUNK)
                conn.sendall(block[:n])
                left -= n
        elif kind == b"E":
            while True:
                try:
                    conn.sendall(_recv_exact(conn, MSG))
                except ConnectionError:
                    return


def serve() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(256)
    print(listener.getsockname()[1], flush=True)
    while True:
        conn, _ = listener.accept()
        threading.Thread(target=_handle, args=(conn,), daemon=True).start()


def _connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=60)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def upload(port: int, size: int) -> float:
    block = memoryview(b"\0" * CHUNK)
    start = time.perf_counter()
    with _connect(port) as sock:
        sock.sendall(b"U")
        left = size
        while left > 0:
            n = min(left, CHUNK)
            sock.sendall(block[:n])
            left -= n
        sock.shutdown(socket.SHUT_WR)
        (got,) = struct.unpack("!Q", _recv_exact(sock, 8))
    assert got == size, (got, size)
    return size / (time.perf_counter() - start) / 1e6


def download(port: int, size: int) -> float:
    start = time.perf_counter()
    got = 0
    with _connect(port) as sock:
        sock.sendall(b"D" + struct.pack("!Q", size))
        while part := sock.recv(CHUNK):
            got += len(part)
    assert got == size, (got, size)
    return size / (time.perf_counter() - start) / 1e6


def round_trips(port: int, count: int) -> list[float]:
    message = b"x" * MSG
    times = []
    with _connect(port) as sock:
        sock.sendall(b"E")
        for _ in range(20):  # warm up (channel windows, caches)
            sock.sendall(message)
            _recv_exact(sock, MSG)
        for _ in range(count):
            start = time.perf_counter()
            sock.sendall(message)
            _recv_exact(sock, MSG)
            times.append((time.perf_counter() - start) * 1000)
    return times


def new_connections(port: int, count: int) -> list[float]:
    """Connect, first request answered, close: what a browser's new connection costs."""
    times = []
    for _ in range(count):
        start = time.perf_counter()
        with _connect(port) as sock:
            sock.sendall(b"E" + b"x" * MSG)
            _recv_exact(sock, MSG)
        times.append((time.perf_counter() - start) * 1000)
    return times


def concurrent(port: int, clients: int = 64, trips: int = 20) -> dict:
    errors = []

    def one() -> None:
        try:
            with _connect(port) as sock:
                sock.sendall(b"E")
                for _ in range(trips):
                    sock.sendall(b"y" * MSG)
                    _recv_exact(sock, MSG)
        except Exception as exc:
            errors.append(repr(exc))

    start = time.perf_counter()
    threads = [threading.Thread(target=one) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {"seconds": time.perf_counter() - start, "errors": len(errors)}


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def measure(port: int, size: int) -> dict:
    rtt = round_trips(port, 2000)
    conn = new_connections(port, 100)
    return {
        "up_MBps": upload(port, size),
        "down_MBps": download(port, size),
        "rtt_p50_ms": statistics.median(rtt),
        "rtt_p99_ms": _pct(rtt, 0.99),
        "connect_p50_ms": statistics.median(conn),
        "concurrent64": concurrent(port),
    }


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        serve()
    else:
        print(json.dumps(measure(int(sys.argv[2]), int(sys.argv[3]))), flush=True)
