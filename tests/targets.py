"""Runs a compiled model on the host simulator or an emulated Cortex-M, one call for both."""
from edgeopt.simulator.host import HostRunner


def run_on(target, path, generated, inputs):
    """{output name: (N, *shape)} from the host C ("host") or a qemu-cortex-* target."""
    if target == "host":
        with HostRunner(generated) as model:
            return model.run(inputs)
    from edgeopt.simulator.qemu import QemuRunner

    with QemuRunner(generated, target) as model:
        return model.run(inputs)[0]
