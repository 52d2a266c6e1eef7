"""Gemm and MatMul. A constant right-hand side lowers to the dense kernel with the
weights stored pre-transposed ([out][in]); anything else to the strided GEMM kernel."""
import numpy as np

from edgeopt.errors import ShapeError
from edgeopt.ops.registry import Call, NodeUnsupported, OpDef, broadcast_shapes, broadcast_strides


def _gemm_dims(ctx):
    a, b = ctx.shape(0), ctx.shape(1)
    if len(a) != 2 or len(b) != 2:
        raise ShapeError(f"Gemm needs 2-D inputs, got {a} and {b}")
    m, k = (a[1], a[0]) if ctx.attr("transA", 0) else a
    kb, n = (b[1], b[0]) if ctx.attr("transB", 0) else b
    if k != kb:
        raise ShapeError(f"Gemm inner dimensions differ: {a} x {b}")
    return m, n, k


def _infer_gemm(ctx):
    m, n, _ = _gemm_dims(ctx)
    if ctx.has_input(2):
        broadcast_shapes(ctx.shape(2), (m, n))
    return [(m, n)]


def _row_bias(c, m, n):
    """C as one bias vector per output column, or None if it varies across rows."""
    full = np.broadcast_to(c, (m, n))
    if m == 1 or np.all(full == full[:1]):
        return np.ascontiguousarray(full[0], dtype=np.float32)
    return None


def dense_form(ctx):
    """(rows, outs, ins, weights [outs][ins], bias or None) when the node is a dense layer
    on constant weights (Gemm without transA and a per-column bias, or MatMul by a constant
    matrix); otherwise None."""
    if ctx.node.op_type == "MatMul":
        _, a2, b2, _ = _matmul_shapes(ctx.shape(0), ctx.shape(1))
        b = ctx.const(1)
        if b is None or len(b2) != 2:
            return None
        k, n = b2
        return int(np.prod(a2[:-1])), n, k, b.reshape(k, n).T, None
    m, n, k = _gemm_dims(ctx)
    alpha, beta = ctx.number("alpha", 1.0), ctx.number("beta", 1.0)
    b, c = ctx.const(1), ctx.const(2)
    bias = None if c is None else _row_bias(beta * c.astype(np.float32), m, n)
    if b is None or ctx.attr("transA", 0) or (ctx.has_input(2) and bias is None):
        return None
    weights = b if ctx.attr("transB", 0) else b.T
    return m, n, k, alpha * weights, bias


def _lower_gemm(ctx, lc):
    m, n, k = _gemm_dims(ctx)
    alpha, beta = ctx.number("alpha", 1.0), ctx.number("beta", 1.0)
    dense = dense_form(ctx)
    if dense is not None:
        return dense_call(ctx, lc, *dense)
    a_shape, b_shape = ctx.shape(0), ctx.shape(1)
    a_row, a_col = (1, a_shape[1]) if ctx.attr("transA", 0) else (a_shape[1], 1)
    b_row, b_col = (1, b_shape[1]) if ctx.attr("transB", 0) else (b_shape[1], 1)
    c_row, c_col = broadcast_strides(ctx.shape(2), (m, n)) if ctx.has_input(2) else (0, 0)
    return Call("ops/gemm.c.j2", dict(
        m=m, n=n, k=k, a_row=a_row, a_col=a_col, b_row=b_row, b_col=b_col, c_row=c_row,
        c_col=c_col, alpha=alpha, beta=beta, batch=1, a_offsets=None, b_offsets=None,
        a=lc.buffer(ctx.node.inputs[0]), b=lc.buffer(ctx.node.inputs[1]),
        c=lc.buffer(ctx.node.inputs[2]) if ctx.has_input(2) else "NULL",
        y=lc.buffer(ctx.node.outputs[0]),
    ))


DENSE_BLOCK = 8  # EO_DENSE_BLOCK in the runtime


def pack_dense(weights_out_in):
    """[outs][ins] -> the runtime's layout: blocks of 8 outputs stored input-major, then
    the remaining rows as they are."""
    weights = np.asarray(weights_out_in, np.float32)
    outs, ins = weights.shape
    blocked = outs - outs % DENSE_BLOCK
    blocks = weights[:blocked].reshape(-1, DENSE_BLOCK, ins).transpose(0, 2, 1)
    return np.concatenate([blocks.reshape(-1), weights[blocked:].reshape(-1)])


def dense_call(ctx, lc, rows, outs, ins, weights_out_in, bias):
    return Call("ops/dense.c.j2", dict(
        kernel="eo_dense4_f32" if ins % 4 == 0 else "eo_dense_f32",
        rows=rows, outs=outs, ins=ins, x=lc.buffer(ctx.node.inputs[0]),
        w=lc.weight(pack_dense(np.asarray(weights_out_in, np.float32).reshape(outs, ins)), "weights"),
        bias=lc.weight(bias, "bias") if bias is not None else "NULL",
        y=lc.buffer(ctx.node.outputs[0]),
    ))


def _tangent_dense(ctx, tc):
    """A dense layer's tangent: the same weights applied to each seed row of the input's
    tangent, in one pass with the value rows where they are stacked above the tangent; on
    the model input (identity seeds) it is the weights themselves, transposed."""
    dense = dense_form(ctx)
    if dense is None or ctx.const(0) is not None:
        raise NodeUnsupported("only dense layers with constant weights are differentiated")
    rows, outs, ins, weights, bias = dense
    weights = np.asarray(weights, np.float32).reshape(outs, ins)
    x, out = ctx.node.inputs[0], ctx.node.outputs[0]
    if tc.is_seed(x) and rows == 1:
        first = np.ascontiguousarray(weights.T[tc.first_input:])
        return [Call("ops/copy.c.j2", dict(x=tc.weight(first, "tangent_seed"), y=tc.tangent(out),
                                                size=tc.rows * outs))]
    packed = tc.weight(pack_dense(weights), "weights")
    if tc.stacked(x) and tc.stacked(out):  # every weight load serves the value and all seeds
        return [Call("tangents/dense_value.c.j2", dict(
            x=tc.value(x), w=packed, bias=tc.weight(bias, "bias") if bias is not None else "NULL",
            y=tc.value(out), value_rows=rows, rows=(1 + tc.rows) * rows, outs=outs, ins=ins),
            computes_value=True)]
    return [Call("tangents/dense.c.j2", dict(
        x=tc.tangent(x), w=packed, y=tc.tangent(out), rows=tc.rows * rows, outs=outs, ins=ins))]


def _matmul_shapes(a, b):
    """numpy.matmul shape rules: returns (batch, m, n, k, out_shape)."""
    if not a or not b:
        raise ShapeError("MatMul inputs must have rank >= 1")
    a2 = (1,) + tuple(a) if len(a) == 1 else tuple(a)
    b2 = tuple(b) + (1,) if len(b) == 1 else tuple(b)
    if a2[-1] != b2[-2]:
        raise ShapeError(f"MatMul inner dimensions differ: {tuple(a)} x {tuple(b)}")
    batch = broadcast_shapes(a2[:-2], b2[:-2])
    out = batch + ((a2[-2],) if len(a) > 1 else ()) + ((b2[-1],) if len(b) > 1 else ())
    return batch, a2, b2, out


def _infer_matmul(ctx):
    return [_matmul_shapes(ctx.shape(0), ctx.shape(1))[3]]


def _lower_matmul(ctx, lc):
    dense = dense_form(ctx)
    if dense is not None:
        return dense_call(ctx, lc, *dense)
    batch, a2, b2, _ = _matmul_shapes(ctx.shape(0), ctx.shape(1))
    m, k, n = a2[-2], a2[-1], b2[-1]
    count = int(np.prod(batch)) if batch else 1
    index = np.indices(batch).reshape(len(batch), -1).T if batch else np.zeros((1, 0), int)
    offsets = []
    for shape in (a2, b2):
        strides = broadcast_strides(shape[:-2], batch) if batch else []
        offsets.append([int(np.dot(i, strides)) * shape[-2] * shape[-1] for i in index])
    return Call("ops/gemm.c.j2", dict(
        m=m, n=n, k=k, a_row=k, a_col=1, b_row=n, b_col=1, c_row=0, c_col=0, alpha=1.0, beta=0.0,
        batch=count, a_offsets=offsets[0] if count > 1 else None,
        b_offsets=offsets[1] if count > 1 else None,
        a=lc.buffer(ctx.node.inputs[0]), b=lc.buffer(ctx.node.inputs[1]), c="NULL",
        y=lc.buffer(ctx.node.outputs[0]),
    ))


def _evaluate_matmul(ctx, values):
    return [np.matmul(values[0], values[1])]


OPS = (
    OpDef("Gemm", _infer_gemm, None, _lower_gemm, fuses_activation=True, tangent=_tangent_dense),
    OpDef("MatMul", _infer_matmul, _evaluate_matmul, _lower_matmul, fuses_activation=True,
          tangent=_tangent_dense),
)
