"""edgeopt: compile small ONNX models and on-device solvers to plain C for Cortex-M."""
__version__ = "0.1.0"


def compile_model(model_path, name=None, input_shapes=None):
    """Compile a model file to C; returns a GeneratedModel with .files and a summary."""
    from edgeopt.pipeline import compile_model as _compile

    return _compile(model_path, name=name, input_shapes=input_shapes)


def simulate(model_path, inputs, name=None, input_shapes=None):
    """Compile with the host C compiler, run every sample, return {output name: array}."""
    from edgeopt.simulator.host import HostModel

    with HostModel.build(model_path, name=name, input_shapes=input_shapes) as model:
        return model.run(inputs)


__all__ = ["__version__", "compile_model", "simulate"]
