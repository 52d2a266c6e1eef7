"""The serial link: the firmware's C (eo_link.c, built for the host and driven through ctypes)
and the host's Python (the PyPI cobs and crc packages) agree byte for byte; bad frames are
dropped and resynchronized on the next delimiter; a retry is answered from the last response
and never executed twice; stale sequence numbers are refused."""
import ctypes
import random
import struct
import subprocess

import pytest
from cobs import cobs

from edgeopt.hil import protocol
from edgeopt.resources import runtime_dir
from edgeopt.simulator.toolchain import STRICT_FLAGS, host_cc

RUN_FN = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p)
RESET_FN = ctypes.CFUNCTYPE(None)
TICKS_FN = ctypes.CFUNCTYPE(ctypes.c_uint32)
WRITE_FN = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.POINTER(ctypes.c_uint8), ctypes.c_uint32)


class Config(ctypes.Structure):
    _fields_ = [("run", RUN_FN), ("reset", RESET_FN), ("input_bytes", ctypes.c_uint32),
                ("output_bytes", ctypes.c_uint32), ("max_batch", ctypes.c_uint32), ("info", ctypes.c_char_p),
                ("info_bytes", ctypes.c_uint32), ("ticks", TICKS_FN), ("write", WRITE_FN),
                ("context", ctypes.c_void_p), ("rx", ctypes.c_void_p), ("tx", ctypes.c_void_p)]


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    out = tmp_path_factory.mktemp("link") / "libeo_link.so"
    runtime = runtime_dir()
    subprocess.run([host_cc(), *STRICT_FLAGS, "-O2", "-fPIC", "-shared", f"-I{runtime / 'include'}",
                    str(runtime / "src" / "eo_link.c"), "-o", str(out)], check=True)
    lib = ctypes.CDLL(str(out))
    lib.eo_crc16.restype = ctypes.c_uint16
    lib.eo_cobs_decode.restype = ctypes.c_int32
    return lib


def test_crc_matches_the_catalogue_and_the_crc_package(library):
    assert library.eo_crc16(b"123456789", 9) == 0x29B1 == protocol.crc16(b"123456789")
    rng = random.Random(1)
    for length in [0, 1, 2, 253, 254, 255, 1000]:
        data = bytes(rng.randrange(256) for _ in range(length))
        assert library.eo_crc16(data, length) == protocol.crc16(data)


def _c_cobs(library, data):
    written = bytearray()
    write = WRITE_FN(lambda context, chunk, n: written.extend(bytes(chunk[:n])))
    library.eo_cobs_write(data, len(data), write, None)
    return bytes(written)


@pytest.mark.parametrize("length", [0, 1, 2, 100, 253, 254, 255, 256, 508, 509, 700])
def test_cobs_matches_the_cobs_package_both_ways(library, length):
    rng = random.Random(length)
    for zeros in (0.0, 0.1, 0.9):
        data = bytes(0 if rng.random() < zeros else rng.randrange(1, 256) for _ in range(length))
        encoded = _c_cobs(library, data)
        assert encoded == cobs.encode(data)
        buffer = ctypes.create_string_buffer(encoded, len(encoded) + 1)
        assert library.eo_cobs_decode(buffer, len(encoded)) == len(data)
        assert buffer.raw[:len(data)] == data


class Board:
    """The C link on the host: run() adds 1 to its counter and answers the input reversed."""

    def __init__(self, library, input_bytes=8, output_bytes=8, max_batch=4):
        self.library, self.out, self.runs, self.resets = library, bytearray(), 0, 0
        self._callbacks = (RUN_FN(self._run), RESET_FN(self._reset), TICKS_FN(lambda: self.runs * 7),
                           WRITE_FN(lambda context, chunk, n: self.out.extend(bytes(chunk[:n]))))
        self.info = b'{"name":"test"}'
        self.rx = ctypes.create_string_buffer(4096)
        self.tx = ctypes.create_string_buffer(4096)
        self.config = Config(self._callbacks[0], self._callbacks[1], input_bytes, output_bytes, max_batch,
                             self.info, len(self.info), self._callbacks[2], self._callbacks[3], None,
                             ctypes.addressof(self.rx), ctypes.addressof(self.tx))
        self.link = ctypes.create_string_buffer(1024)
        library.eo_link_init(self.link, ctypes.byref(self.config))

    def _run(self, inp, out):
        self.runs += 1
        data = ctypes.string_at(inp, self.config.input_bytes)
        ctypes.memmove(out, data[::-1], self.config.output_bytes)
        return 0

    def _reset(self):
        self.resets += 1

    def feed(self, data: bytes):
        for byte in data:
            self.library.eo_link_receive(self.link, byte)

    def responses(self):
        frames = [f for f in bytes(self.out).split(b"\0") if f]
        self.out.clear()
        return [protocol.parse_response(protocol.unframe(f)) for f in frames]


def test_run_and_the_exactly_once_rule(library):
    board = Board(library)
    board.feed(protocol.request(7, protocol.INFO))
    (info,) = board.responses()
    assert info.status == 0 and info.body == board.info and info.sequence == 7
    request = protocol.request(8, protocol.RUN, bytes(range(8)))
    board.feed(request)
    (first,) = board.responses()
    assert first.status == 0 and first.body == bytes(range(8))[::-1] and board.runs == 1
    board.feed(request)  # the host did not hear it: a retry
    (again,) = board.responses()
    assert again == first and board.runs == 1  # answered again, not run again
    board.feed(protocol.request(12, protocol.RUN, bytes(8)))  # out of order
    (stale,) = board.responses()
    assert stale.status == protocol.STALE_SEQUENCE and board.runs == 1
    board.feed(request)  # the cache still holds the last real answer
    assert board.responses() == [first]
    board.feed(protocol.request(9, protocol.RUN, bytes(range(8, 24))))  # two samples in one frame
    (batch,) = board.responses()
    assert batch.body == bytes(range(8, 16))[::-1] + bytes(range(16, 24))[::-1] and board.runs == 3


def test_bad_frames_are_dropped_and_the_next_delimiter_resyncs(library):
    board = Board(library)
    good = protocol.request(100, protocol.INFO)
    corrupt = bytearray(good)
    corrupt[3] ^= 0x40
    board.feed(b"garbage without a delimiter")  # ... then a frame: the garbage merges into it
    board.feed(b"\0" + bytes(corrupt) + good[:5] + b"\0")  # a flipped bit, then a truncated frame
    board.feed(b"\x05\x01\x02\0")  # a COBS block past the frame's end
    board.feed(b"\x01" * 5000 + b"\0")  # longer than any request
    assert board.responses() == []
    board.feed(b"\0" + good)
    (info,) = board.responses()
    assert info.sequence == 100 and info.status == 0


@pytest.mark.parametrize("payload,status", [
    (struct.pack("<BHB", 2, 5, protocol.INFO), 1),  # a future version
    (struct.pack("<BHB", 1, 5, 0x7E), 2),  # an unknown command
    (struct.pack("<BHB", 1, 5, protocol.RUN) + bytes(7), 3),  # not a whole sample
    (struct.pack("<BHB", 1, 5, protocol.BENCH) + bytes(8), 3),  # BENCH without its repeat count
])
def test_well_formed_but_wrong_requests_get_error_frames(library, payload, status):
    board = Board(library)
    board.feed(protocol.frame(payload))
    (response,) = board.responses()
    assert response.status == status and board.runs == 0


def test_bench_and_reset(library):
    board = Board(library)
    board.feed(protocol.request(1, protocol.RESET))
    board.feed(protocol.request(2, protocol.BENCH, bytes(8) + struct.pack("<I", 5)))
    reset, bench = board.responses()
    assert reset.status == 0 and board.resets == 1
    ticks, repeats = struct.unpack("<II", bench.body)
    assert repeats == 5 and board.runs == 5 and ticks == 5 * 7
