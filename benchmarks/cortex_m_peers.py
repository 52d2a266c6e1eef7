"""Side by side on Cortex-M4F under QEMU -icount: edgeopt vs emlearn (eml_net) vs a
plain textbook C loop, same compiler, flags, harness and machine.

    pip install emlearn   # for the emlearn column
    python benchmarks/cortex_m_peers.py
"""
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
from onnx import numpy_helper

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import models  # noqa: E402
from edgeopt.artifact import ALWAYS, Artifact, Memory, packed_offsets  # noqa: E402
from edgeopt.codegen.render import make_environment  # noqa: E402
from edgeopt.codegen.literals import f32  # noqa: E402
from edgeopt.pipeline import compile_model  # noqa: E402
from edgeopt.simulator.qemu import QemuRunner  # noqa: E402
from edgeopt.simulator.reference import run_reference  # noqa: E402

TARGET = "qemu-cortex-m4"
PEER_WARNINGS = ["-std=c99", "-w"]  # third-party and textbook code: same codegen flags, no -Werror


def c_array(name, array):
    flat = ", ".join(f32(v) for v in np.asarray(array, np.float32).reshape(-1))
    return f"static const float {name}[{np.size(array)}] = {{{flat}}};\n"


def peer(name, source, inputs, outputs, weight_bytes):
    """A peer's C as an artifact the QEMU runner takes: its invoke plus edgeopt's packed entry
    point around it (rendered from the model template)."""
    header = (f"#ifndef {name.upper()}_H\n#define {name.upper()}_H\n#include \"eo_runtime.h\"\n"
              f"eo_status_t {name}_invoke({', '.join(['const float *in%d' % i for i in range(len(inputs))] + ['float *out%d' % i for i in range(len(outputs))])});\n"
              f"eo_status_t {name}_run(const void *in, void *out);\nvoid {name}_reset(void);\n#endif\n")
    run = make_environment().get_template("model/_run.c.j2").render(
        prefix=name, run_inputs=inputs, run_outputs=outputs, input_offsets=packed_offsets(inputs),
        output_offsets=packed_offsets(outputs), stream=False)
    source += f"\n#include <stdint.h>\n{run}\nvoid {name}_reset(void)\n{{\n}}\n"
    return Artifact(name, "model", {f"{name}.h": header, f"{name}.c": source}, inputs, outputs,
                    Memory({ALWAYS: weight_bytes}), options={})


def dense_layers(model):
    """(weights [out][in], bias, activation) per Gemm of a models.mlp() graph."""
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    layers, nodes = [], list(model.graph.node)
    for index, node in enumerate(nodes):
        if node.op_type == "Gemm":
            act = nodes[index + 1].op_type if index + 1 < len(nodes) else None
            layers.append((inits[node.input[1]], inits[node.input[2]], act == "Tanh"))
    return layers


def textbook_mlp(layers, io):
    src = ['#include <math.h>\n#include "textbook.h"\n']
    for i, (w, b, _) in enumerate(layers):
        src += [c_array(f"w{i}", w), c_array(f"b{i}", b)]
        if i < len(layers) - 1:
            src.append(f"static float h{i}[{w.shape[0]}];\n")
    src.append("eo_status_t textbook_invoke(const float *in0, float *out0)\n{\n    int o, i;\n")
    for i, (w, b, tanh) in enumerate(layers):
        src_in = "in0" if i == 0 else f"h{i - 1}"
        dst = "out0" if i == len(layers) - 1 else f"h{i}"
        value = "tanhf(s)" if tanh else "s"
        src.append(f"    for (o = 0; o < {w.shape[0]}; ++o) {{ float s = b{i}[o];\n"
                   f"        for (i = 0; i < {w.shape[1]}; ++i) s += w{i}[o * {w.shape[1]} + i] * {src_in}[i];\n"
                   f"        {dst}[o] = {value}; }}\n")
    src.append("    return EO_OK;\n}\n")
    return peer("textbook", "".join(src), *io, sum(w.nbytes + b.nbytes for w, b, _ in layers))


def emlearn_mlp(layers, io):
    import emlearn.net

    weights = [w.T.astype(np.float32) for w, _, _ in layers]
    biases = [b.astype(np.float32) for _, b, _ in layers]
    acts = ["tanh" if t else "identity" for _, _, t in layers]
    previous = os.getcwd()
    with tempfile.TemporaryDirectory() as scratch:
        os.chdir(scratch)  # emlearn compiles a test program into ./tmp of the working directory
        try:
            net = emlearn.net.Wrapper(acts, weights, biases, classifier="loadable", return_type="regressor")
            body = net.save(name="emlnet")
        finally:
            os.chdir(previous)
    n_in, n_out = weights[0].shape[0], weights[-1].shape[1]
    source = (f'#include "emlearn.h"\n{body}\n'
              f"eo_status_t emlearn_invoke(const float *in0, float *out0)\n{{\n"
              f"    return emlnet_regress(in0, {n_in}, out0, {n_out}) == 0 ? EO_OK : EO_ERROR;\n}}\n")
    return peer("emlearn", source, *io, sum(w.nbytes + b.nbytes for w, b in zip(weights, biases)))


def empty_like(io):
    inputs, outputs = io
    size = outputs[0].size
    source = ('#include "empty.h"\n'
              "eo_status_t empty_invoke(const float *in0, float *out0)\n{\n"
              f"    int i;\n    for (i = 0; i < {size}; ++i) out0[i] = in0[0];\n    return EO_OK;\n}}\n")
    return peer("empty", source, inputs, outputs, 0)


def textbook_cnn(model, io):
    """A textbook C version of models.small_cnn(): direct loops with bounds checks."""
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    convs = [n for n in model.graph.node if n.op_type == "Conv"]
    gemm = [n for n in model.graph.node if n.op_type == "Gemm"][0]
    src = ['#include "textbook.h"\n']
    for i, node in enumerate(convs):
        src += [c_array(f"cw{i}", inits[node.input[1]]), c_array(f"cb{i}", inits[node.input[2]])]
    src += [c_array("fw", inits[gemm.input[1]]), c_array("fb", inits[gemm.input[2]])]
    src.append(r"""
static float a0[8 * 16 * 16], a1[8 * 8 * 8], a2[16 * 8 * 8];
static void conv3x3(const float *x, int c, int h, int w, const float *k, const float *b, int m, float *y)
{
    int o, i, r, q, u, v;
    for (o = 0; o < m; ++o)
        for (r = 0; r < h; ++r)
            for (q = 0; q < w; ++q) {
                float s = b[o];
                for (i = 0; i < c; ++i)
                    for (u = 0; u < 3; ++u)
                        for (v = 0; v < 3; ++v) {
                            int yy = r + u - 1, xx = q + v - 1;
                            if (yy >= 0 && yy < h && xx >= 0 && xx < w)
                                s += k[((o * c + i) * 3 + u) * 3 + v] * x[(i * h + yy) * w + xx];
                        }
                y[(o * h + r) * w + q] = s > 0.0f ? s : 0.0f;
            }
}
eo_status_t textbook_invoke(const float *in0, float *out0)
{
    int c, r, q, o, i;
    conv3x3(in0, 1, 16, 16, cw0, cb0, 8, a0);
    for (c = 0; c < 8; ++c)
        for (r = 0; r < 8; ++r)
            for (q = 0; q < 8; ++q) {
                const float *p = a0 + (c * 16 + 2 * r) * 16 + 2 * q;
                float m = p[0];
                m = p[1] > m ? p[1] : m;
                m = p[16] > m ? p[16] : m;
                m = p[17] > m ? p[17] : m;
                a1[(c * 8 + r) * 8 + q] = m;
            }
    conv3x3(a1, 8, 8, 8, cw1, cb1, 16, a2);
    for (o = 0; o < 4; ++o) {
        float s = fb[o];
        for (i = 0; i < 16; ++i) {
            float mean = 0.0f;
            for (r = 0; r < 64; ++r) mean += a2[i * 64 + r];
            s += fw[o * 16 + i] * (mean / 64.0f);
        }
        out0[o] = s;
    }
    return EO_OK;
}
""")
    weights = sum(inits[n.input[k]].nbytes for n in convs + [gemm] for k in (1, 2))
    return peer("textbook", "".join(src), *io, weights)


def small_cnn(seed=0):
    b = models.GraphBuilder(seed)
    x = b.node("Relu", [b.conv("x", 1, 8, (3, 3), pads=[1, 1, 1, 1])])
    x = b.node("MaxPool", [x], kernel_shape=[2, 2], strides=[2, 2])
    x = b.node("Relu", [b.conv(x, 8, 16, (3, 3), pads=[1, 1, 1, 1])])
    x = b.node("Flatten", [b.node("GlobalAveragePool", [x])])
    return b.model([("x", [1, 1, 16, 16])], [b.linear(x, 16, 4)])


def measure(generated, inputs, **options):
    with QemuRunner(generated, TARGET, **options) as emulated:
        outputs, report = emulated.run(inputs)
    return outputs, report


def row(label, report, baseline, reference, outputs):
    flash = report["flash_bytes"] - baseline["flash_bytes"]
    ram = report["ram_bytes"] - baseline["ram_bytes"] + report["stack_bytes"] - baseline["stack_bytes"]
    err = max(float(np.max(np.abs(outputs[k] - reference[k]))) for k in reference)
    return (label, report["instructions_per_call"]["median"], flash,
            flash - report["weights_bytes"], ram, err)


def compare_case(title, model, peers, tmp):
    path = models.save(model, Path(tmp) / "model.onnx")
    generated = compile_model(path, name="edgeopt_model")
    io = (generated.inputs, generated.outputs)
    inputs = {t.name: np.random.default_rng(0).standard_normal((8,) + t.shape).astype(np.float32)
              for t in generated.inputs}
    reference = run_reference(path, inputs)
    _, baseline = measure(empty_like(io), inputs, warning_flags=PEER_WARNINGS)
    rows = []
    out, rep = measure(generated, inputs)
    rows.append(row("edgeopt", rep, baseline, reference, out))
    for label, build in peers:
        try:
            candidate, options = build(model, io)
        except ImportError as exc:
            print(f"  ({label} skipped: {exc})")
            continue
        out, rep = measure(candidate, inputs, warning_flags=PEER_WARNINGS, **options)
        renamed = {generated.outputs[0].name: out[candidate.outputs[0].name]}
        rows.append(row(label, rep, baseline, reference, renamed))
    print(f"\n{title} on {TARGET} (arm-none-eabi-gcc -O2; flash/RAM beyond an empty harness)")
    print(f"{'implementation':<12} {'instructions':>12} {'vs edgeopt':>10} {'flash B':>8} {'code B':>7} "
          f"{'RAM+stack B':>11} {'max abs err':>11}")
    base = rows[0][1]
    for label, count, flash, code, ram, err in rows:
        print(f"{label:<12} {count:>12,} {count / base:>9.2f}x {flash:>8,} {code:>7,} {ram:>11,} {err:>11.2e}")


def main():
    import os

    emlearn_include = []
    try:
        import emlearn

        emlearn_include = [f"-I{os.path.dirname(emlearn.__file__)}"]
    except ImportError:
        pass
    mlp_model = models.mlp()
    with tempfile.TemporaryDirectory() as tmp:
        compare_case("MLP 4-64-64-6 tanh", mlp_model, [
            ("emlearn", lambda m, io: (emlearn_mlp(dense_layers(m), io), {"extra_flags": emlearn_include})),
            ("textbook", lambda m, io: (textbook_mlp(dense_layers(m), io), {})),
        ], tmp)
        compare_case("small CNN 1x16x16 (conv3x3 8, pool, conv3x3 16, GAP, dense 4)", small_cnn(), [
            ("textbook", lambda m, io: (textbook_cnn(m, io), {})),
        ], tmp)


if __name__ == "__main__":
    main()
