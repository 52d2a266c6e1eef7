"""The serial runner: any artifact on a board over edgeopt's link, with the same run()
contract as the host and QEMU runners, plus latency figures and the board's own per-call
cost (BENCH: cycles from DWT on real cores, exact instructions under QEMU -icount)."""
from __future__ import annotations

import time

import numpy as np

from edgeopt.artifact import check_inputs, pack, unpack
from edgeopt.errors import EdgeoptError
from edgeopt.hil.link import Link
from edgeopt.targets import ICOUNT_SHIFT


class ArtifactMismatch(EdgeoptError):
    """The board runs other firmware than the artifact."""


class SerialRunner:
    """`url`: a running board; or `target`: an emulated one edgeopt builds and starts."""

    def __init__(self, artifact, url=None, target=None, timeout=1.0, retries=8, progress=None, elf=None,
                 batch=None):
        """batch: samples per RUN frame (default: as many as the firmware takes; 1: one round
        trip per sample)."""
        if (url is None) == (target is None):
            raise EdgeoptError("give the board's --port URL, or an emulated --target")
        self.artifact, self.board, self.progress = artifact, None, progress
        if target is not None:
            from edgeopt.hil.board import EmulatedBoard

            self.board = EmulatedBoard(artifact, target, elf=elf)
            url = self.board.url
        try:
            self.link = Link(url, timeout=timeout, retries=retries)
            self.info = self.link.info()
            self._check_artifact()
        except BaseException:
            self.close()
            raise
        self.latencies = []  # (seconds, samples) per round trip
        self.batch = self.info.get("max_batch", 1) if batch is None else min(batch, self.info.get("max_batch", 1))

    def _check_artifact(self):
        if self.info.get("artifact") != self.artifact.digest:
            board = self.info.get("target", "BOARD")
            raise ArtifactMismatch(
                f"{self.link.url} runs {self.info.get('name', '?')} (artifact {self.info.get('artifact')}), not "
                f"{self.artifact.name} ({self.artifact.digest}); reflash with: edgeopt compile "
                f"{self.artifact.source or 'MODEL'} --platformio fw --board {board} && pio run -d fw -t upload")

    def close(self):
        link = getattr(self, "link", None)
        if link is not None:
            link.close()
        if self.board is not None:
            self.board.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def run(self, inputs: dict, reset: bool = True) -> dict:
        """One RUN per sample, in order, after the artifact's reset unless reset=False."""
        packed = pack(self.artifact.inputs, check_inputs(self.artifact, inputs))
        if reset:
            self.link.reset()
        outputs = np.zeros((packed.shape[0], self.artifact.output_bytes), np.uint8)
        batch = max(1, int(self.batch or 1))
        for start in range(0, packed.shape[0], batch):
            rows = packed[start:start + batch]
            begin = time.perf_counter()
            body = self.link.run(rows.tobytes(), len(rows) * self.artifact.output_bytes)
            self.latencies.append((time.perf_counter() - begin, len(rows)))
            if len(body) != len(rows) * self.artifact.output_bytes:
                raise EdgeoptError(f"the board answered {len(body)} bytes for {len(rows) * self.artifact.output_bytes}")
            outputs[start:start + len(rows)] = np.frombuffer(body, np.uint8).reshape(len(rows), -1)
            if self.progress:
                self.progress(start + len(rows), packed.shape[0])
        return unpack(self.artifact.outputs, outputs)

    def cost_per_call(self, inputs: dict, repeats: int = 10):
        """(per-call cost, unit) measured on the board by BENCH on the first sample."""
        row = pack(self.artifact.inputs, check_inputs(self.artifact, inputs))[0]
        ticks, done = self.link.bench(row.tobytes(), repeats)
        if self.info.get("counter") == "icount":  # the emulated timer under -icount: instructions
            ns_per_tick = 1e9 / self.info["timer_hz"]
            return ticks * ns_per_tick / 2 ** ICOUNT_SHIFT / max(done, 1), "instructions"
        return ticks / max(done, 1), "cycles" if self.info.get("counter") == "dwt" else "us"

    def latency_report(self) -> dict:
        """Round trips: median and p95 latency, and samples per second over all of them."""
        if not self.latencies:
            return {}
        seconds = np.array([t for t, _ in self.latencies]) * 1e3
        samples = sum(n for _, n in self.latencies)
        return dict(round_trips=len(self.latencies), samples=samples, samples_per_round_trip=self.batch,
                    latency_ms_p50=float(np.percentile(seconds, 50)), latency_ms_p95=float(np.percentile(seconds, 95)),
                    throughput_per_s=float(samples / (seconds.sum() / 1e3)), link=dict(self.link.counters))
