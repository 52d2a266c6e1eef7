"""SCons builder for emulated boards (QEMU) with the system arm-none-eabi-gcc. The board files
(boards/*.json) are written by edgeopt from its target table (firmware/targets.json): cpu, fpu,
linker script, defines and the QEMU command line all come from there."""
from os.path import isdir, join, normpath

from SCons.Script import AlwaysBuild, Default, DefaultEnvironment

env = DefaultEnvironment()
board = env.BoardConfig()
platform_dir = env.PioPlatform().get_dir()
# projects carry the board support inside the platform; the source tree keeps it in firmware/qemu
board_support = join(platform_dir, "board")
if not isdir(board_support):
    board_support = normpath(join(platform_dir, "..", "..", "qemu"))

cpu_flags = ["-mcpu=%s" % board.get("build.cpu"), "-mthumb"]
fpu = board.get("build.fpu", "")
cpu_flags += ["-mfloat-abi=hard", "-mfpu=%s" % fpu] if fpu else ["-mfloat-abi=soft"]

env.Replace(
    AR="arm-none-eabi-gcc-ar", AS="arm-none-eabi-as", CC="arm-none-eabi-gcc",
    CXX="arm-none-eabi-g++", LINK="arm-none-eabi-gcc", OBJCOPY="arm-none-eabi-objcopy",
    RANLIB="arm-none-eabi-gcc-ranlib", SIZETOOL="arm-none-eabi-size", PROGSUFFIX=".elf",
    SIZEPROGREGEXP=r"^(?:\.text|\.data|\.ARM\.exidx)\s+(\d+).*",
    SIZEDATAREGEXP=r"^(?:\.data|\.bss)\s+(\d+).*",
    SIZECHECKCMD="$SIZETOOL -A -d $SOURCES",
    SIZEPRINTCMD="$SIZETOOL -B -d $SOURCES",
)
env.Append(
    CCFLAGS=cpu_flags + ["-O2", "-ffunction-sections", "-fdata-sections", "-ffp-contract=fast"],
    ASFLAGS=cpu_flags,
    LINKFLAGS=cpu_flags + ["-nostartfiles", "--specs=nosys.specs", "-Wl,--gc-sections",
                           "-T", join(board_support, board.get("build.linker_script"))],
    CPPPATH=[board_support],
    CPPDEFINES=list(board.get("build.defines", [])),
    LIBS=["m"],
)
env.BuildSources(join("$BUILD_DIR", "board_support"), board_support)

env.Replace(PROGNAME="firmware")
program = env.BuildProgram()
qemu = " ".join(board.get("upload.qemu_command"))
# "Uploading" to an emulated board runs the firmware in QEMU.
AlwaysBuild(env.Alias("upload", program, qemu))
Default([program, env.Alias("size", program, env.VerboseAction("$SIZEPRINTCMD", "Checking size"))])
