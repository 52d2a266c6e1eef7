"""Hardware in the loop: the host side of edgeopt's serial link (protocol, link client),
emulated boards under QEMU, and a runner that takes any artifact like the host and QEMU
runners do."""
