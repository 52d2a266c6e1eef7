"""Runs a compiled model on the host simulator or an emulated Cortex-M, one call for both."""
from edgeopt.simulator.host import HostModel


def run_on(target, path, generated, inputs):
    """{output name: (N, *shape)} from the host C ("host") or a qemu-cortex-* target."""
    if target == "host":
        with HostModel.build(path, generated=generated) as model:
            return model.run(inputs)
    from edgeopt.simulator.qemu import QemuModel

    with QemuModel(generated, target) as model:
        return model.run(inputs)[0]
