"""MaxPool, AveragePool (1-D to 3-D) and the global pools (lowered as reductions)."""
from edgeopt.errors import ShapeError
from edgeopt.ops.conv import as_3d, window_geometry
from edgeopt.ops.reduce import reduce_call
from edgeopt.ops.registry import Call, OpDef


def _pool_geometry(ctx):
    x = ctx.shape(0)
    if len(x) < 3 or len(x) > 5:
        raise ShapeError(f"{ctx.node.op_type} needs a 3-D to 5-D input, got {x}")
    kernel = ctx.ints("kernel_shape")
    if not kernel or len(kernel) != len(x) - 2:
        raise ShapeError(f"{ctx.node.op_type}: kernel_shape {kernel} does not match input {x}")
    if len(ctx.node.outputs) > 1 and ctx.node.outputs[1]:
        ctx.unsupported("the Indices output is not supported")
    if int(ctx.attr("storage_order", 0)) != 0:
        ctx.unsupported("storage_order=1")
    return kernel, window_geometry(ctx, list(x[2:]), kernel, bool(ctx.attr("ceil_mode", 0)))


def _infer_pool(ctx):
    out = _pool_geometry(ctx)[1][0]
    return [tuple(ctx.shape(0)[:2]) + tuple(out)]


def _lower_pool(kernel_name):
    def lower(ctx, lc):
        kernel, (out, strides, dilations, begin, end) = _pool_geometry(ctx)
        x = ctx.shape(0)
        spatial = as_3d(x[2:], 1)
        params = dict(
            outer=x[0] * x[1],
            **dict(zip(("in_d", "in_h", "in_w"), spatial)),
            **dict(zip(("out_d", "out_h", "out_w"), as_3d(out, 1))),
            **dict(zip(("k_d", "k_h", "k_w"), as_3d(kernel, 1))),
            **dict(zip(("stride_d", "stride_h", "stride_w"), as_3d(strides, 1))),
            **dict(zip(("dil_d", "dil_h", "dil_w"), as_3d(dilations, 1))),
            **dict(zip(("pad_d", "pad_h", "pad_w"), as_3d(begin, 0))),
            **dict(zip(("end_d", "end_h", "end_w"),
                       [size + pad for size, pad in zip(spatial, as_3d(end, 0))])),
            count_include_pad=int(ctx.attr("count_include_pad", 0)),
        )
        return Call("ops/pool.c.j2", dict(
            kernel=kernel_name, params=params,
            x=lc.buffer(ctx.node.inputs[0]), y=lc.buffer(ctx.node.outputs[0]),
        ))
    return lower


def _infer_global(ctx):
    x = ctx.shape(0)
    if len(x) < 3:
        raise ShapeError(f"{ctx.node.op_type} needs an input of rank >= 3, got {x}")
    return [tuple(x[:2]) + (1,) * (len(x) - 2)]


def _lower_global(op):
    def lower(ctx, lc):
        return reduce_call(ctx, lc, op, list(range(2, len(ctx.shape(0)))))
    return lower


OPS = (
    OpDef("MaxPool", _infer_pool, None, _lower_pool("eo_maxpool_f32")),
    OpDef("AveragePool", _infer_pool, None, _lower_pool("eo_avgpool_f32")),
    OpDef("GlobalAveragePool", _infer_global, None, _lower_global("EO_REDUCE_MEAN")),
    OpDef("GlobalMaxPool", _infer_global, None, _lower_global("EO_REDUCE_MAX")),
)
