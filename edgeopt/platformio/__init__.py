"""PlatformIO: offline preparation, project writer, and the `pio` wrapper."""
