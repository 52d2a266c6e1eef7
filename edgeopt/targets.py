"""The target table (firmware/targets.json): every fact about a core or board lives there, and
this module is its only reader. One function builds the QEMU command line."""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Optional

from edgeopt.errors import EdgeoptError
from edgeopt.resources import resource_dir


@dataclass(frozen=True)
class Target:
    name: str
    title: str
    core: str
    cpu: str
    fpu: Optional[str]
    dsp: bool  # the DSP extension (__ARM_FEATURE_DSP): SMLAD kernels, int16 weight copies
    flash: int
    ram: int
    clock_hz: int
    cycle_counter: str  # "icount" (emulated), "dwt" or "micros"
    platformio_board: str
    platformio_platform: Optional[str] = None  # None: edgeopt's offline dev-platform
    framework: Optional[str] = None
    qemu_machine: Optional[str] = None
    linker_script: Optional[str] = None
    defines: tuple = ()
    timer_hz: int = 25_000_000
    framework_flash: int = 0
    framework_ram: int = 0

    @property
    def emulated(self) -> bool:
        return self.qemu_machine is not None

    @property
    def cpu_flags(self) -> tuple:
        flags = (f"-mcpu={self.cpu}", "-mthumb")
        if self.fpu:
            return flags + ("-mfloat-abi=hard", f"-mfpu={self.fpu}")
        return flags + ("-mfloat-abi=soft",)

    @property
    def board_flags(self) -> tuple:
        return tuple(f"-D{define}" for define in self.defines)

    @property
    def timer_ns_per_tick(self) -> int:
        return 1_000_000_000 // self.timer_hz

    def platformio_board_json(self) -> dict:
        """The dev-platform's boards/<board>.json for an emulated target."""
        build = dict(cpu=self.cpu, mcu=self.qemu_machine, f_cpu=f"{self.clock_hz}L",
                     linker_script=self.linker_script, defines=list(self.defines))
        if self.fpu:
            build["fpu"] = self.fpu
        return {
            "build": build,
            "frameworks": [],
            "name": f"{self.title} ({self.core})",
            "upload": {"maximum_ram_size": self.ram, "maximum_size": self.flash, "protocol": "qemu",
                       "qemu_command": qemu_command(self, "$SOURCE", console=True, arguments=("--selftest",))},
            "url": "https://www.qemu.org/docs/master/system/target-arm.html",
            "vendor": "QEMU",
        }


# Under -icount shift=10 every guest instruction advances virtual time by 2**10 ns.
ICOUNT_SHIFT = 10


def qemu_command(target: Target, elf: str, console: bool = False, serial_port: Optional[int] = None,
                 qemu: str = "qemu-system-arm", arguments=()) -> list:
    """The QEMU command line for one run of `elf` under exact instruction counting.
    console: semihosting output and the UART share stdio (PlatformIO's test and upload);
    serial_port: the UART is a TCP server on 127.0.0.1 (HIL), waiting for the client;
    neither: semihosting only (the file-based runner). arguments: the program's semihosting
    command line after its name (the HIL firmware's --selftest)."""
    if not target.emulated:
        raise EdgeoptError(f"{target.name} is a real board; QEMU emulates only: "
                           + ", ".join(t.name for t in load_targets().values() if t.emulated))
    args = [qemu, "-machine", target.qemu_machine, "-nographic", "-monitor", "none"]
    semihosting = "enable=on,target=native"
    if arguments:  # semihosting's command line starts with the program's name
        semihosting += "".join(f",arg={a}" for a in ("firmware", *arguments))
    if console:
        args += ["-chardev", "stdio,id=con0,mux=on", "-serial", "chardev:con0",
                 "-semihosting-config", semihosting + ",chardev=con0"]
    else:
        serial = "none" if serial_port is None else (
            f"tcp:127.0.0.1:{serial_port},server=on,wait=on,nodelay=on")
        args += ["-serial", serial, "-semihosting-config", semihosting]
    return args + ["-icount", f"shift={ICOUNT_SHIFT},align=off,sleep=off", "-kernel", elf]


def load_targets() -> dict:
    table = json.loads((resource_dir("firmware") / "targets.json").read_text())
    targets = {}
    for name, row in table.items():
        if name.startswith("_"):
            continue
        qemu, pio = row.get("qemu", {}), row["platformio"]
        allowance = row.get("framework_allowance", {})
        targets[name] = Target(
            name=name, title=row["title"], core=row["core"], cpu=row["cpu"], fpu=row["fpu"],
            dsp=row["dsp"], flash=row["flash"], ram=row["ram"], clock_hz=row["clock_hz"],
            cycle_counter=row["cycle_counter"], platformio_board=pio["board"],
            platformio_platform=pio.get("platform"), framework=pio.get("framework"),
            qemu_machine=qemu.get("machine"), linker_script=qemu.get("linker_script"),
            defines=tuple(qemu.get("defines", ())), timer_hz=qemu.get("timer_hz", 25_000_000),
            framework_flash=allowance.get("flash", 0), framework_ram=allowance.get("ram", 0))
    return targets


def get_target(name: str, emulated: bool = False) -> Target:
    """A target by its name or its PlatformIO board id (qemu_cortex_m4 = qemu-cortex-m4)."""
    targets = load_targets()
    by_board = {t.platformio_board: t for t in targets.values()}
    target = targets.get(name) or by_board.get(name) or targets.get(str(name).replace("_", "-"))
    if target is None or (emulated and not target.emulated):
        choices = [t.name for t in targets.values() if t.emulated or not emulated]
        kind = "emulated target" if emulated else "target"
        raise EdgeoptError(f"unknown {kind} {name!r}; choose one of: {', '.join(choices)}")
    return target
