"""A TCP proxy between the host and a board that corrupts the traffic: bit flips, dropped,
duplicated and truncated bytes (a truncation drops the rest of a frame), in both directions,
seeded, until a fault budget is spent; it counts what it did."""
from __future__ import annotations

import random
import select
import socket
import threading

KINDS = ("flip", "drop", "duplicate", "truncate")


class FaultProxy:
    def __init__(self, board_port: int, faults: int, rate: float, seed: int = 0):
        self.budget, self.rate = faults, rate
        self.rng = random.Random(seed)
        self.counts = dict.fromkeys(KINDS, 0)
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(1)
        self.port = self.listener.getsockname()[1]
        self.board = socket.create_connection(("127.0.0.1", board_port))
        self.stopping = False
        self.armed = False  # faults start when the test says so (after the handshake)
        self.truncating = {}  # direction -> dropping the rest of a frame
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @property
    def url(self):
        return f"socket://127.0.0.1:{self.port}"

    @property
    def injected(self):
        return sum(self.counts.values())

    def _corrupt(self, data: bytes, direction: str) -> bytes:
        out = bytearray()
        for byte in data:
            if self.truncating.get(direction):
                if byte == 0:  # the delimiter survives: the receiver resyncs on it
                    self.truncating[direction] = False
                    out.append(byte)
                continue
            if self.armed and self.injected < self.budget and self.rng.random() < self.rate:
                kind = self.rng.choice(KINDS)
                self.counts[kind] += 1
                if kind == "flip":
                    out.append(byte ^ (1 << self.rng.randrange(8)))
                elif kind == "duplicate":
                    out += bytes((byte, byte))
                elif kind == "truncate":
                    self.truncating[direction] = True
                continue  # a drop appends nothing
            out.append(byte)
        return bytes(out)

    def _serve(self):
        client, _ = self.listener.accept()
        ends = {client: (self.board, "to board"), self.board: (client, "to host")}
        while not self.stopping:
            ready, _, _ = select.select(list(ends), [], [], 0.05)
            for sock in ready:
                data = sock.recv(4096)
                if not data:
                    self.stopping = True
                    break
                other, direction = ends[sock]
                other.sendall(self._corrupt(data, direction))
        client.close()

    def close(self):
        self.stopping = True
        self.thread.join(timeout=2)
        self.board.close()
        self.listener.close()
