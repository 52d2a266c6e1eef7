"""edgeopt: compile small models and on-device solvers to plain C for Cortex-M."""
__version__ = "0.1.0"


def compile(path, name=None, input_shapes=None):  # noqa: A001 - the toolchain's verb
    """Compile a model file or solver config; returns its Artifact (.files, .memory, ...)."""
    from edgeopt.pipeline import compile_file

    return compile_file(path, name=name, input_shapes=input_shapes)


def compile_model(model_path, name=None, input_shapes=None):
    """Compile a model file to C; returns its Artifact."""
    from edgeopt.pipeline import compile_model as _compile

    return _compile(model_path, name=name, input_shapes=input_shapes)


def simulate(path, inputs, name=None, input_shapes=None):
    """Compile with the host C compiler, run every sample, return {output name: array}."""
    from edgeopt.simulator.host import HostRunner

    with HostRunner.build(path, name=name, input_shapes=input_shapes) as runner:
        return runner.run(inputs)


__all__ = ["__version__", "compile", "compile_model", "simulate"]
