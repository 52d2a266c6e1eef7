"""The peer for TFLM's trained_lstm_int8: CMSIS-NN's int8 LSTM (arm_lstm_unidirectional_s8,
which TFLM's cmsis_nn UNIDIRECTIONAL_SEQUENCE_LSTM kernel calls), built from a CMSIS-NN
checkout with the same compiler, flags and QEMU harness as edgeopt's code, fed the same
weights and requantization constants (edgeopt's, which are TFLM's), and checked against
edgeopt's LSTM output before its count is believed.

    python benchmarks/recurrent_cortex_m.py --cmsis-nn PATH/TO/CMSIS-NN

Without a checkout the benchmark prints the figure recorded below.
"""
import contextlib
from pathlib import Path

import numpy as np

from edgeopt.artifact import ALWAYS, Artifact, Memory, TensorSpec, packed_offsets
from edgeopt.codegen.emit import LoweringContext
from edgeopt.codegen.render import make_environment
from edgeopt.ops import quantized_recurrent
from edgeopt.pipeline import compile_model
from edgeopt.simulator.host import HostRunner
from edgeopt.simulator.qemu import QemuRunner

SOURCES = ["Source/LSTMFunctions/arm_lstm_unidirectional_s8.c",
           "Source/NNSupportFunctions/arm_nn_lstm_step_s8.c",
           "Source/NNSupportFunctions/arm_nn_lstm_calculate_gate_s8_s16.c",
           "Source/NNSupportFunctions/arm_nn_vec_mat_mul_result_acc_s8_s16.c",
           "Source/ActivationFunctions/arm_nn_activation_s16.c",
           "Source/BasicMathFunctions/arm_elementwise_mul_s16.c",
           "Source/BasicMathFunctions/arm_elementwise_mul_acc_s16.c",
           "Source/BasicMathFunctions/arm_elementwise_mul_s16_s8.c"]
# CMSIS-NN's instructions for trained_lstm_int8's LSTM layer (28 steps), measured here on
# 2026-12-07 from the sources of CMSIS-NN's public repository as of 2024-2025
# (arm_lstm_unidirectional_s8 V.1.1.1, arm_nn_lstm_step_s8 V.1.0.1, the gate, matrix, s16
# activation and element-wise functions of January 2024; their DSP paths, with the headers
# reduced to the helpers those use), same gcc 12.2 -O2 and QEMU icount; its output equal
# to edgeopt's. A pinned release checkout may differ by a little.
RECORDED_CMSIS_NN = 558_485
GATE_FIELDS = {"forget_gate": 1, "input_gate": 0, "cell_gate": 2, "output_gate": 3}  # TFLite's gate order i, f, c, o


@contextlib.contextmanager
def captured_lstm():
    """What edgeopt's lowering of the model's (first) int8 LSTM computes: its template
    arguments ("args") and the arrays it stores before them, by label."""
    seen, weight, call = {}, LoweringContext.weight, quantized_recurrent.Call

    def recording_weight(lc, array, label, *args, **kwargs):
        if "args" not in seen:
            seen[label] = np.asarray(array)
        return weight(lc, array, label, *args, **kwargs)

    def recording_call(template, args):
        if template == "ops/lstm_s8.c.j2":
            seen.setdefault("args", args)
        return call(template, args)

    LoweringContext.weight, quantized_recurrent.Call = recording_weight, recording_call
    try:
        yield seen
    finally:
        LoweringContext.weight, quantized_recurrent.Call = weight, call


def c_ints(name, ctype, values):
    return f"static const {ctype} {name}[{np.size(values)}] = {{{', '.join(str(int(v)) for v in np.ravel(values))}}};\n"


def cmsis_nn_source(seen):
    """arm_lstm_unidirectional_s8 on the layer, its parameters filled as TFLM's cmsis_nn kernel
    fills them (effective biases: bias + input offset * sum of the weights, as edgeopt folds)."""
    a = seen["args"]
    hidden, features, batch = a["hidden"], a["input"], a["batch"]
    w = seen["input_weights"].reshape(4, hidden, features)
    r = seen["recurrent_weights"].reshape(4, hidden, hidden)
    bias = seen["bias"].reshape(8, hidden)
    source = ['#include "arm_nnfunctions.h"\n',
              c_ints("sigmoid_table_uint16", "uint16_t", seen["sigmoid_table"]).replace("static ", "")]
    gates = []
    for field, g in GATE_FIELDS.items():
        source += [c_ints(f"w{g}", "int8_t", w[g]), c_ints(f"r{g}", "int8_t", r[g]),
                   c_ints(f"bw{g}", "int32_t", bias[g]), c_ints(f"br{g}", "int32_t", bias[4 + g])]
        activation = "ARM_TANH" if g == 2 else "ARM_SIGMOID"
        gates.append(f"    .{field} = {{{a['input_multipliers'][g]}, {a['input_shifts'][g]}, w{g}, bw{g}, "
                     f"{a['state_multipliers'][g]}, {a['state_shifts'][g]}, r{g}, br{g}, NULL, {activation}}},\n")
    source.append(
        f"static int16_t temp1[{hidden * batch}], temp2[{hidden * batch}], cell[{hidden * batch}];\n"
        "static const cmsis_nn_lstm_params params = {\n"
        f"    {a['time_major']}, {batch}, {a['seq']}, {features}, {hidden}, 0,\n"
        f"    {a['forget'][0]}, {a['forget'][1]}, {a['update'][0]}, {a['update'][1]}, {a['cell_clip']}, "
        f"{a['cell_scale_power']},\n    {a['output'][0]}, {a['output'][1]}, {a['hidden_zero_point']},\n"
        + "".join(gates) + "};\n"
        "eo_status_t lstm_invoke(const int8_t *in0, int8_t *out0)\n{\n"
        "    cmsis_nn_lstm_context buffers = {temp1, temp2, cell, NULL};\n"
        "    return arm_lstm_unidirectional_s8(in0, out0, &params, &buffers) == ARM_CMSIS_NN_SUCCESS ? EO_OK : EO_ERROR;\n}\n")
    return "".join(source)


def edgeopt_source(seen):
    """eo_lstm_s8_dsp on the layer, with the arrays and constants edgeopt's generated code passes."""
    a = seen["args"]
    requant = seen["requantization_dsp"]
    ints = lambda values: "{" + ", ".join(str(int(v)) for v in values) + "}"  # noqa: E731
    scratch_words = (quantized_recurrent.lstm_s8_scratch_bytes(a["input"], a["hidden"]) + 3) // 4
    return (c_ints("table", "uint16_t", seen["sigmoid_table"])
            + c_ints("w", "int8_t", seen["input_weights_dsp"]).replace("] =", "] __attribute__((aligned(8))) =")
            + c_ints("r", "int8_t", seen["recurrent_weights_dsp"]).replace("] =", "] __attribute__((aligned(8))) =")
            + c_ints("bias", "int32_t", seen["bias_dsp"]) + c_ints("requant", "int32_t", requant)
            + f"static uint32_t scratch[{scratch_words}];\n"
            "static const eo_lstm_s8_params_t params = {\n"
            f"    {a['seq']}, {a['batch']}, {a['input']}, {a['hidden']}, {a['time_major']}, {a['hidden_zero_point']},\n"
            f"    {ints(a['input_multipliers'])}, {ints(a['input_shifts'])}, {ints(a['state_multipliers'])}, "
            f"{ints(a['state_shifts'])},\n    {a['forget'][0]}, {a['forget'][1]}, {a['update'][0]}, {a['update'][1]}, "
            f"{a['output'][0]}, {a['output'][1]}, {a['cell_scale_power']}, {a['cell_clip']}, table}};\n"
            "eo_status_t lstm_invoke(const int8_t *in0, int8_t *out0)\n{\n"
            "    eo_lstm_s8_dsp(&params, in0, w, r, bias, (const eo_requant_dsp_t *)(const void *)requant, out0, scratch);\n"
            "    return EO_OK;\n}\n")


def layer_artifact(seen, source):
    """One LSTM layer's C (defining lstm_invoke) as an artifact the QEMU runner takes."""
    a = seen["args"]
    x_shape = (a["seq"], a["batch"], a["input"]) if a["time_major"] else (a["batch"], a["seq"], a["input"])
    y_shape = x_shape[:2] + (a["hidden"],)
    inputs, outputs = [TensorSpec("x", "in0", x_shape, "int8")], [TensorSpec("y", "out0", y_shape, "int8")]
    run = make_environment().get_template("model/_run.c.j2").render(
        prefix="lstm", run_inputs=inputs, run_outputs=outputs, input_offsets=packed_offsets(inputs),
        output_offsets=packed_offsets(outputs), stream=False)
    header = ("#ifndef LSTM_H\n#define LSTM_H\n#include \"eo_runtime.h\"\n"
              "eo_status_t lstm_invoke(const int8_t *in0, int8_t *out0);\n"
              "eo_status_t lstm_run(const void *in, void *out);\nvoid lstm_reset(void);\n#endif\n")
    source = f'#include <stdint.h>\n#include "lstm.h"\n{source}{run}\nvoid lstm_reset(void)\n{{\n}}\n'
    return Artifact("lstm", "model", {"lstm.h": header, "lstm.c": source}, inputs, outputs, Memory({ALWAYS: 0}),
                    options={})


def edgeopt_lstm_outputs(generated, inputs):
    """The model's (first) LSTM output per sample from edgeopt's host simulator, which is
    bit-exact with TFLM (tests/test_tflite.py; tflite-runtime's reference LSTM is TFLite's
    older integer kernel and differs from TFLM's by a step here and there)."""
    with HostRunner(generated, trace=True) as host:
        _, traces = host.run_traced(inputs)
    lstm = next(step for step in generated.steps if step.op_type == "QLstm")
    return traces[lstm.index]


def lstm_instructions(path, target, inputs, cmsis_nn=None):
    """(edgeopt's, CMSIS-NN's or None) instructions for the model's LSTM layer alone on these
    inputs, same harness, each output checked against edgeopt's host simulator."""
    with captured_lstm() as seen:
        generated = compile_model(path)
    x = next(iter(inputs.values()))
    expected = edgeopt_lstm_outputs(generated, inputs)
    builds = [(edgeopt_source(seen), {})]
    if cmsis_nn:
        flags = [f"-I{Path(cmsis_nn) / 'Include'}", *[str(Path(cmsis_nn) / s) for s in SOURCES]]
        builds.append((cmsis_nn_source(seen), dict(warning_flags=["-std=c99", "-w"], extra_flags=flags)))
    counts = []
    for source, options in builds:
        artifact = layer_artifact(seen, source)
        with QemuRunner(artifact, target, **options) as emulated:
            outputs, report = emulated.run({"x": x.reshape((x.shape[0],) + artifact.inputs[0].shape)})
        if not np.array_equal(outputs["y"].reshape(x.shape[0], -1), expected):
            raise SystemExit("an LSTM layer's output differs from edgeopt's (TFLM's): the harness is wrong")
        counts.append(report["instructions_per_call"]["median"])
    return counts[0], (counts[1] if cmsis_nn else None)
