"""A connection to a board running edgeopt's HIL firmware, over any pyserial URL: socket://
for an emulated board's UART, /dev/ttyACM0-style ports for real boards, rfc2217:// for remote
ones. Timeouts, bounded retries with the same sequence number (the board answers a retry
from its last response: never twice executed), and resync on the frame delimiter."""
from __future__ import annotations

import json
import os
import struct
import time

from edgeopt.errors import EdgeoptError
from edgeopt.hil.protocol import BENCH, COMMANDS, INFO, RESET, RUN, STATUS, parse_response, request, unframe


class LinkError(EdgeoptError):
    """The board answered with an error, or the link failed."""


class BoardNotAnswering(LinkError):
    """No valid answer within the timeout, after every retry."""


def open_port(url: str, baudrate: int = 115200, timeout: float = 0.05):
    """A pyserial port for a URL or a device path (clear errors for the usual mistakes)."""
    try:
        import serial
    except ImportError:
        raise EdgeoptError("pyserial is missing: pip install pyserial") from None
    try:
        return serial.serial_for_url(url, baudrate=baudrate, timeout=timeout, write_timeout=5)
    except (serial.SerialException, ValueError, OSError) as exc:
        raise LinkError(f"cannot open {url}: {exc}; pass a serial port (/dev/ttyACM0), socket://HOST:PORT "
                        "or rfc2217://HOST:PORT") from None


class Link:
    def __init__(self, url: str, timeout: float = 1.0, retries: int = 8, baudrate: int = 115200):
        self.url, self.timeout, self.retries = url, timeout, retries
        self.port = open_port(url, baudrate, timeout=min(0.05, timeout / 4))
        self.sequence = int.from_bytes(os.urandom(2), "little")  # a new session: a new sequence
        self.pending = bytearray()
        self.counters = dict(requests=0, retries=0, corrupt=0, stale=0)

    def close(self):
        self.port.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _frames(self, deadline, expect=0):
        """Frames as they arrive until the deadline (the bytes before each delimiter). expect: the
        bytes the answer takes at least, read in one call (pyserial's socket:// reports at
        most one waiting byte, so reading only what is waiting costs a call per byte)."""
        while time.monotonic() < deadline:
            want = max(expect - len(self.pending), self.port.in_waiting, 1)
            chunk = self.port.read(want)
            if not chunk:
                continue
            self.pending += chunk
            while b"\0" in self.pending:
                encoded, _, rest = bytes(self.pending).partition(b"\0")
                self.pending = bytearray(rest)
                if encoded:
                    yield encoded
                expect = 0

    def transact(self, command: int, body: bytes = b"", answer_bytes: int = 0):
        """Send one request and return its response, retrying as needed. answer_bytes: the
        response body's length when known."""
        self.sequence = (self.sequence + 1) & 0xFFFF
        sequence = self.sequence
        wire = b"\0" + request(sequence, command, body)  # the leading delimiter ends any partial frame
        self.counters["requests"] += 1
        for attempt in range(self.retries + 1):
            if attempt:
                self.counters["retries"] += 1
            self.port.write(wire)
            for encoded in self._frames(time.monotonic() + self.timeout, 8 + answer_bytes + 4):
                payload = unframe(encoded)
                response = parse_response(payload) if payload is not None else None
                if response is None:
                    self.counters["corrupt"] += 1
                    break  # most likely our answer, damaged: ask again now rather than at the timeout
                elif response.sequence != sequence or response.command != command:
                    self.counters["stale"] += 1  # an old duplicate, or a previous session's answer
                else:
                    if response.status:
                        raise LinkError(f"{self.url}: {COMMANDS[command]} failed: {STATUS.get(response.status, response.status)}")
                    return response
        raise BoardNotAnswering(
            f"{self.url}: the board does not answer ({COMMANDS[command]}, {self.retries + 1} tries of "
            f"{self.timeout:g} s); is the HIL firmware flashed and running, and is this its port?")

    def info(self) -> dict:
        body = self.transact(INFO).body
        try:
            return json.loads(body.decode("ascii"))
        except (UnicodeDecodeError, ValueError):
            raise LinkError(f"{self.url}: the board's INFO is not edgeopt's ({body[:40]!r})") from None

    def run(self, packed: bytes, answer_bytes: int = 0) -> bytes:
        return self.transact(RUN, packed, answer_bytes).body

    def bench(self, packed: bytes, repeats: int):
        ticks, done = struct.unpack("<II", self.transact(BENCH, packed + struct.pack("<I", repeats), 8).body[:8])
        return ticks, done

    def reset(self):
        self.transact(RESET)
