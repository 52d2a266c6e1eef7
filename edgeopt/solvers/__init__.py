"""On-device solvers described by a TOML config: schema, numpy references, C generation."""
