"""Consumers of generated C that run it: the host simulator (and, later, QEMU)."""
