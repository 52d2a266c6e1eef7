"""Conv (1-D, 2-D, 3-D; groups, dilations, pads, auto_pad) and the window geometry
it shares with pooling."""
import math

import numpy as np

from edgeopt.errors import ShapeError
from edgeopt.ops.linear import pack_dense
from edgeopt.ops.registry import Call, OpDef


WINDOW_LIMIT = 2 ** 16  # strides, dilations and pads beyond this are no real model's


def window_geometry(ctx, spatial_in, kernel, ceil_mode=False):
    """Resolve strides/dilations/pads/auto_pad into (out, strides, dilations, begin, end)."""
    rank = len(spatial_in)
    strides = ctx.ints("strides") or [1] * rank
    dilations = ctx.ints("dilations") or [1] * rank
    pads = ctx.ints("pads") or [0] * (2 * rank)
    auto_pad = ctx.attr("auto_pad", "NOTSET")
    if len(strides) != rank or len(dilations) != rank or len(pads) != 2 * rank:
        raise ShapeError(f"{ctx.node.op_type}: strides/dilations/pads do not match {rank} spatial dims")
    if any(not 1 <= v <= WINDOW_LIMIT for v in strides + dilations) or any(not 0 <= v <= WINDOW_LIMIT for v in pads):
        ctx.unsupported(f"strides and dilations must be 1 to {WINDOW_LIMIT} and pads 0 to {WINDOW_LIMIT}; "
                        f"found strides {strides}, dilations {dilations}, pads {pads}")
    begin, end, out = list(pads[:rank]), list(pads[rank:]), []
    for axis in range(rank):
        span = (kernel[axis] - 1) * dilations[axis] + 1
        size, stride = spatial_in[axis], strides[axis]
        if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
            count = -(-size // stride)
            total = max(0, (count - 1) * stride + span - size)
            small = total // 2
            begin[axis], end[axis] = (small, total - small) if auto_pad == "SAME_UPPER" else (total - small, small)
        elif auto_pad == "VALID":
            begin[axis] = end[axis] = 0
        elif auto_pad != "NOTSET":
            ctx.unsupported(f"auto_pad={auto_pad!r}")
        padded = size + begin[axis] + end[axis]
        if ceil_mode:
            count = math.ceil((padded - span) / stride) + 1
            if (count - 1) * stride >= size + begin[axis]:
                count -= 1  # the last window must start inside the input or the leading pad
        else:
            count = (padded - span) // stride + 1
        if count <= 0:
            raise ShapeError(
                f"{ctx.node.op_type}: window of {span} does not fit spatial size {size} "
                f"with pads {begin[axis]}+{end[axis]}"
            )
        out.append(count)
    return out, strides, dilations, begin, end


def as_3d(values, fill):
    """Left-pad a per-spatial-axis list to (d, h, w)."""
    return [fill] * (3 - len(values)) + list(values)


def _conv_geometry(ctx):
    x, w = ctx.shape(0), ctx.shape(1)
    if len(x) < 3 or len(x) > 5 or len(w) != len(x):
        raise ShapeError(f"Conv needs 3-D to 5-D input and weights of the same rank, got {x} and {w}")
    group = ctx.integer("group", 1)
    if x[1] != w[1] * group or w[0] % group:
        raise ShapeError(f"Conv channels do not match: input {x}, weights {w}, group {group}")
    kernel = ctx.ints("kernel_shape") or list(w[2:])
    if list(kernel) != list(w[2:]):
        raise ShapeError(f"Conv kernel_shape {kernel} differs from the weights {w}")
    return window_geometry(ctx, list(x[2:]), kernel)


def _infer_conv(ctx):
    out = _conv_geometry(ctx)[0]
    return [(ctx.shape(0)[0], ctx.shape(1)[0]) + tuple(out)]


# im2col + the dense kernel when a group has at least this many output channels, over
# as many output rows as fit the budget (eo_conv_scratch_floats() in the runtime).
GEMM_MIN_CHANNELS = 4
IM2COL_BUDGET_BYTES = 4096


def _im2col_rows(ctx):
    w = ctx.shape(1)
    if w[0] // ctx.integer("group", 1) < GEMM_MIN_CHANNELS or ctx.const(1) is None:
        return 0  # few channels per group (e.g. depthwise), or weights only known at run time
    out = _conv_geometry(ctx)[0]
    row_bytes = 4 * int(w[1] * _prod(w[2:]) * out[-1])
    return max(1, min(out[-2] if len(out) > 1 else 1, IM2COL_BUDGET_BYTES // row_bytes))


def _scratch_bytes(ctx):
    rows = _im2col_rows(ctx)
    if not rows:
        return 0
    w = ctx.shape(1)
    return 4 * int(w[1] * _prod(w[2:]) * _conv_geometry(ctx)[0][-1]) * rows


def _prod(values):
    result = 1
    for v in values:
        result *= int(v)
    return result


def _lower_conv(ctx, lc):
    out, strides, dilations, begin, _ = _conv_geometry(ctx)
    x, w = ctx.shape(0), ctx.shape(1)
    d, h, wd = as_3d(x[2:], 1)
    kd, kh, kw = as_3d(w[2:], 1)
    od, oh, ow = as_3d(out, 1)
    params = dict(
        batch=x[0], in_c=x[1], in_d=d, in_h=h, in_w=wd, out_c=w[0], out_d=od, out_h=oh, out_w=ow,
        k_d=kd, k_h=kh, k_w=kw,
        **dict(zip(("stride_d", "stride_h", "stride_w"), as_3d(strides, 1))),
        **dict(zip(("dil_d", "dil_h", "dil_w"), as_3d(dilations, 1))),
        **dict(zip(("pad_d", "pad_h", "pad_w"), as_3d(begin, 0))),
        groups=ctx.integer("group", 1), im2col_rows=_im2col_rows(ctx),
    )
    if params["im2col_rows"]:
        weights = ctx.const(1).reshape(params["groups"], w[0] // params["groups"], -1)
        w_expr = lc.weight(np.concatenate([pack_dense(block) for block in weights]), "weights")
    else:
        w_expr = lc.buffer(ctx.node.inputs[1])
    return Call("ops/conv.c.j2", dict(
        params=params, x=lc.buffer(ctx.node.inputs[0]), w=w_expr,
        bias=lc.buffer(ctx.node.inputs[2]) if ctx.has_input(2) else "NULL",
        y=lc.buffer(ctx.node.outputs[0]), scratch=lc.scratch(ctx),
    ))


OPS = (OpDef("Conv", _infer_conv, None, _lower_conv, scratch=_scratch_bytes, fuses_activation=True),)
