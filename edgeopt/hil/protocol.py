"""The host side of edgeopt's serial link (docs/hil_protocol.md): frames built with the PyPI
`cobs` and `crc` packages, byte for byte what firmware/edgeopt_runtime/src/eo_link.c does."""
from __future__ import annotations

import json
import struct
from dataclasses import dataclass

from edgeopt import __version__

VERSION = 1
INFO, RUN, BENCH, RESET = 0x01, 0x02, 0x03, 0x04
COMMANDS = {INFO: "INFO", RUN: "RUN", BENCH: "BENCH", RESET: "RESET"}
STATUS = {0: "ok", 1: "bad version", 2: "unknown command", 3: "bad length", 4: "stale sequence",
          5: "run failed"}
STALE_SEQUENCE = 4


def crc16(data: bytes) -> int:
    """CRC-16/CCITT-FALSE (catalogued as IBM-3740): "123456789" gives 0x29B1."""
    from crc import Calculator, Crc16

    return Calculator(Crc16.IBM_3740).checksum(bytes(data))


def frame(payload: bytes) -> bytes:
    """payload + CRC (big-endian), COBS-encoded, then the 0x00 delimiter."""
    from cobs import cobs

    return cobs.encode(bytes(payload) + struct.pack(">H", crc16(payload))) + b"\0"


def unframe(encoded: bytes):
    """The payload of one frame (without its delimiter), or None if it is corrupt."""
    from cobs import cobs

    try:
        raw = cobs.decode(encoded)
    except cobs.DecodeError:
        return None
    if len(raw) < 3 or struct.unpack(">H", raw[-2:])[0] != crc16(raw[:-2]):
        return None
    return raw[:-2]


def request(sequence: int, command: int, body: bytes = b"") -> bytes:
    return frame(struct.pack("<BHB", VERSION, sequence & 0xFFFF, command) + bytes(body))


@dataclass(frozen=True)
class Response:
    sequence: int
    command: int
    status: int
    body: bytes


def parse_response(payload: bytes):
    if len(payload) < 8 or payload[0] != VERSION or not payload[3] & 0x80:
        return None
    return Response(payload[1] | payload[2] << 8, payload[3] & 0x7F, payload[4], bytes(payload[8:]))


BATCH_BYTES = 1024  # the inputs or outputs one RUN frame may carry (more only for one sample)


def max_batch(artifact) -> int:
    return max(1, min(64, BATCH_BYTES // max(artifact.input_bytes, artifact.output_bytes, 1)))


def describe(artifact, target) -> dict:
    """What the firmware's INFO answers: the artifact, its signature and the board."""
    return {
        "link": VERSION, "edgeopt": __version__, "name": artifact.name, "kind": artifact.kind,
        "artifact": artifact.digest, "source": artifact.source,
        "inputs": [[t.name, t.dtype, list(t.shape)] for t in artifact.inputs],
        "outputs": [[t.name, t.dtype, list(t.shape)] for t in artifact.outputs],
        "input_bytes": artifact.input_bytes, "output_bytes": artifact.output_bytes,
        "max_batch": max_batch(artifact),
        "target": target.name, "core": target.core, "clock_hz": target.clock_hz,
        "counter": target.cycle_counter, "timer_hz": target.timer_hz,
    }


def info_text(artifact, target) -> str:
    return json.dumps(describe(artifact, target), separators=(",", ":"), ensure_ascii=True)
