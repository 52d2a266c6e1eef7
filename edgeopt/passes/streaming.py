"""Streaming (`--stream`): a model with recurrent layers compiled to run one time step per
call. The recurrent layers' states become extra graph inputs and outputs, which the
generated NAME_step(ctx, ...) threads through a context and the packed entry point through
a static one, so NAME_run steps the stream and NAME_reset starts it again."""
from edgeopt.errors import EdgeoptError
from edgeopt.ir import Node, Tensor
from edgeopt.ops.recurrent import RECURRENT_OPS
from edgeopt.ops.registry import OpContext


def _recurrent_nodes(graph):
    nodes = [n for n in graph.nodes if n.op_type in RECURRENT_OPS]
    integer = [n.name for n in graph.nodes if n.op_type == "QLstm"]
    if integer:
        raise EdgeoptError(f"--stream: the int8 LSTM {integer[0]!r} cannot run one time step at a time yet; "
                           "compile without --stream (it runs whole sequences), or stream the float model")
    if not nodes:
        raise EdgeoptError("--stream needs a model with a recurrent layer (RNN, GRU or LSTM); this one has none")
    for node in nodes:
        if node.attrs.get("direction", "forward") != "forward":
            raise EdgeoptError(f"--stream: the {node.op_type} {node.name!r} runs {node.attrs['direction']}; only "
                               "forward layers can run one time step at a time")
    return nodes


def one_step_inputs(graph):
    """Before shape inference: a graph input that feeds a recurrent layer directly gets one
    time step (its time axis set to 1)."""
    for node in _recurrent_nodes(graph):
        x = graph.tensor(node.inputs[0])
        if node.inputs[0] in graph.inputs and x.shape and len(x.shape) == 3:
            axis = 1 if node.attrs.get("layout", 0) == 1 else 0
            x.shape = tuple(1 if i == axis else int(d) for i, d in enumerate(x.shape))


def add_states(graph, registry):
    """After shape inference: each recurrent layer reads its state (h, and c for an LSTM)
    from a new graph input and writes the next one to a new graph output. Records
    graph.metadata["stream_states"] = [(input name, output name)]."""
    states = []
    for node in _recurrent_nodes(graph):
        y_shape, state_shape = registry[node.op_type].infer(OpContext(node, graph))[:2]
        seq = y_shape[1] if node.attrs.get("layout", 0) == 1 else y_shape[0]
        if seq != 1:
            raise EdgeoptError(f"--stream: the {node.op_type} {node.name!r} sees {seq} time steps per call; "
                               "give the model input one time step (--input-shape NAME=...,1,...)")
        inputs = list(node.inputs) + [""] * (7 - len(node.inputs))
        outputs = list(node.outputs) + [""] * (3 - len(node.outputs))
        slots = [(5, 1, "h")] + ([(6, 2, "c")] if node.op_type == "LSTM" else [])
        for input_slot, output_slot, label in slots:
            if inputs[input_slot]:
                raise EdgeoptError(f"--stream: the {node.op_type} {node.name!r} has an initial state input "
                                   f"already; stream mode supplies it")
            state_in, state_out = f"{node.name}/{label}_state", f"{node.name}/{label}_next"
            graph.tensors[state_in] = Tensor(state_in, "float32", state_shape)
            graph.tensors[state_out] = Tensor(state_out, "float32", state_shape)
            inputs[input_slot] = state_in
            old = outputs[output_slot]
            if old in graph.outputs:  # the model shows the state too: the context gets a copy
                graph.nodes.append(Node(f"{node.name}_{label}_next", "Identity", [old], [state_out], {}, [node.name]))
            else:
                for other in graph.nodes:
                    other.inputs = [state_out if old and name == old else name for name in other.inputs]
                outputs[output_slot] = state_out
            graph.inputs.append(state_in)
            graph.outputs.append(state_out)
            states.append((state_in, state_out))
        node.inputs = inputs[:7 if node.op_type == "LSTM" else 6]
        node.outputs = outputs[:3 if node.op_type == "LSTM" else 2]
    graph.metadata["stream_states"] = states
