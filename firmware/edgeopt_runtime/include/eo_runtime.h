/* edgeopt C runtime: kernels every generated model links.
 * C99, no malloc, no recursion, no VLAs. Float kernels take NCHW (ONNX) layouts.
 * Buffers passed to one call never overlap unless a kernel says otherwise. */
#ifndef EO_RUNTIME_H
#define EO_RUNTIME_H

#include <stdint.h>

/* Generated files check it (#error on a mismatch): bump it whenever a kernel's signature or
 * a layout the compiler writes changes. */
#define EO_RUNTIME_VERSION 3
#define EO_MAX_RANK 6

/* The header is included from C++ too (Arduino sketches): restrict is C99 only. */
#ifdef __cplusplus
#define EO_RESTRICT __restrict
extern "C" {
#else
#define EO_RESTRICT restrict
#endif

typedef enum { EO_OK = 0, EO_ERROR = 1 } eo_status_t;

/* Per-layer tracing for the simulator's --per-layer mode; compiled out by default. */
#ifndef EO_TRACE
#define EO_TRACE(step, data, count, kind) ((void)0)
#endif

/* ---- activations: x and y may be the same buffer ---- */
float eo_tanhf(float v);    /* |error| < 2e-7, no libm */
float eo_sigmoidf(float v);
void eo_relu_f32(const float *x, float *y, int32_t n);
void eo_leaky_relu_f32(const float *x, float *y, int32_t n, float alpha);
void eo_clip_f32(const float *x, float *y, int32_t n, float low, float high);
void eo_sigmoid_f32(const float *x, float *y, int32_t n);
void eo_hard_sigmoid_f32(const float *x, float *y, int32_t n, float alpha, float beta);
void eo_hard_swish_f32(const float *x, float *y, int32_t n);
void eo_tanh_f32(const float *x, float *y, int32_t n);
/* The same values four at a time: fewer instructions per element, more code (the compiler
 * picks them for large tensors) */
void eo_tanh4_f32(const float *x, float *y, int32_t n);
void eo_sigmoid4_f32(const float *x, float *y, int32_t n);
void eo_elu_f32(const float *x, float *y, int32_t n, float alpha);
void eo_selu_f32(const float *x, float *y, int32_t n, float alpha, float gamma);
void eo_rsqrt_f32(const float *x, float *y, int32_t n);
void eo_gelu_f32(const float *x, float *y, int32_t n);      /* 0.5 x (1 + erf(x / sqrt 2)) */
void eo_gelu_tanh_f32(const float *x, float *y, int32_t n); /* the tanh approximation */

/* ---- recurrent layers (ONNX RNN, GRU, LSTM) ---- */
typedef enum { EO_CELL_RNN, EO_CELL_GRU, EO_CELL_LSTM } eo_cell_t;
typedef enum {
    EO_RNN_SIGMOID, EO_RNN_TANH, EO_RNN_RELU, EO_RNN_HARD_SIGMOID, EO_RNN_AFFINE, EO_RNN_LEAKY_RELU,
    EO_RNN_THRESHOLDED_RELU, EO_RNN_SCALED_TANH, EO_RNN_ELU, EO_RNN_SOFTSIGN, EO_RNN_SOFTPLUS
} eo_rnn_kind_t;
typedef struct {
    eo_rnn_kind_t kind;
    float alpha, beta; /* as ONNX's activation_alpha/beta give them */
} eo_rnn_activation_t;
typedef struct {
    eo_cell_t cell;
    int32_t seq, batch, input, hidden;
    int32_t directions, reverse; /* 1 and 0: forward; 1 and 1: reverse; 2: bidirectional */
    int32_t linear_before_reset; /* GRU */
    int32_t x_step, x_batch;     /* element strides of X (ONNX layout 0 or 1) */
    int32_t y_step, y_dir, y_batch, state_dir, state_batch;
    eo_rnn_activation_t activations[6]; /* per direction: f, g, h */
    float cell_clip;                    /* LSTM: |c| clipped to it after each step (TFLite); 0: none */
    float clip;                         /* gate inputs clipped to [-clip, clip] (ONNX); 0: none */
    const int32_t *sequence_lens;       /* steps per batch row, or NULL: all */
    const float *peepholes;             /* LSTM: [dirs][3][hidden] for i, o, f (ONNX's P), or NULL */
    int32_t input_forget;               /* LSTM: 1 couples the gates, f = 1 - i (ONNX, onnxruntime) */
} eo_recurrent_params_t;

/* Floats of scratch eo_recurrent_f32 needs. */
int32_t eo_recurrent_scratch_floats(const eo_recurrent_params_t *p);
/* w and r per direction packed for eo_dense_f32 (GRU: r holds the z and r rows, r_h the h
 * rows; NULL otherwise); b (Wb then Rb per direction), h0, c0, y, y_h and y_c may be NULL. */
void eo_recurrent_f32(const eo_recurrent_params_t *p, const float *x, const float *w, const float *r,
                      const float *r_h, const float *b, const float *h0, const float *c0, float *y, float *y_h,
                      float *y_c, float *scratch);

/* ---- tangents (forward-mode derivatives) for solver Jacobians ---- */
/* The tangents of a recurrent layer, [rows][size] each: one row per seed direction. */
typedef struct {
    int32_t rows;
    const float *x;       /* X's, or NULL: zero, or the unit vectors below */
    int32_t x_size;       /* elements of X */
    int32_t x_seed;       /* >= 0 (x NULL): X is the model input, row k the unit vector at x_seed + k */
    const float *h0, *c0; /* the initial states', or NULL: constant */
    int32_t state_size;   /* elements of a state */
    float *y, *y_h, *y_c; /* the outputs', or NULL: unused */
    int32_t y_size;       /* elements of Y */
} eo_recurrent_tangent_t;

/* Floats of scratch eo_recurrent_tangent_f32 needs for `rows` seed directions. */
int32_t eo_recurrent_tangent_scratch_floats(const eo_recurrent_params_t *p, int32_t rows);
/* The tangents of eo_recurrent_f32's outputs (the same arguments) from its inputs'. */
void eo_recurrent_tangent_f32(const eo_recurrent_params_t *p, const eo_recurrent_tangent_t *t, const float *x,
                              const float *w, const float *r, const float *r_h, const float *b, const float *h0,
                              const float *c0, float *scratch);

typedef enum {
    EO_TANGENT_TANH,
    EO_TANGENT_SIGMOID,
    EO_TANGENT_RELU,
    EO_TANGENT_LEAKY_RELU,
    EO_TANGENT_CLIP,
    EO_TANGENT_ELU,
    EO_TANGENT_SELU
} eo_tangent_kind_t;

/* t[r][i] = s[r][i] * f'(y_i) (s == t: in place), f' taken from the activation's output */
void eo_activation_tangent_f32(eo_tangent_kind_t kind, const float *y, const float *s, float *t,
                               int32_t rows, int32_t n, float alpha, float beta);
void eo_scale_columns_f32(const float *scale, float *t, int32_t rows, int32_t n);

/* ---- elementwise ---- */
void eo_copy_f32(const float *x, float *y, int32_t n);
void eo_fill_f32(float *y, float value, int32_t n);

typedef enum {
    EO_BIN_ADD, EO_BIN_SUB, EO_BIN_MUL, EO_BIN_DIV, EO_BIN_PRELU, EO_BIN_MAX, EO_BIN_MIN, EO_BIN_SQUARED_DIFF
} eo_binary_op_t;

/* Output shape and both inputs' element strides (0 on broadcast axes), outermost first. */
typedef struct {
    int32_t rank;
    int32_t shape[EO_MAX_RANK];
    int32_t a_strides[EO_MAX_RANK];
    int32_t b_strides[EO_MAX_RANK];
} eo_broadcast_t;

void eo_binary_f32(eo_binary_op_t op, const float *a, const float *b, float *y,
                   const eo_broadcast_t *bc);
/* For the broadcasting kernels: the rows (all axes but the last) of bc's output, and the
 * inputs' offsets of the row at index (zeros to start), which then moves to the next row. */
int32_t eo_broadcast_rows(const eo_broadcast_t *bc);
void eo_broadcast_next_row(const eo_broadcast_t *bc, int32_t *index, int32_t *a_offset,
                           int32_t *b_offset);

/* y[o][c][i] = x[o][c][i] * scale[c] + shift[c] (inference-mode batch normalization) */
void eo_channel_affine_f32(const float *x, const float *scale, const float *shift, float *y,
                           int32_t outer, int32_t channels, int32_t inner);

/* ---- linear algebra ---- */
/* Dense weights are packed for eo_dense_*: outputs in blocks of EO_DENSE_BLOCK, each
 * block stored input-major ([ins][EO_DENSE_BLOCK]), then the remaining outs % 8 rows
 * plain ([o][ins]). The compiler packs them; see edgeopt/ops/linear.py. */
#define EO_DENSE_BLOCK 8

/* y[r][o] = bias[o] + sum_i x[r][i] * W[o][i]; bias may be NULL. */
void eo_dense_f32(const float *x, const float *w, const float *bias, float *y,
                  int32_t rows, int32_t outs, int32_t ins);
/* eo_dense_f32 for ins a multiple of 4, in less flash (the compiler picks it) */
void eo_dense4_f32(const float *x, const float *w, const float *bias, float *y,
                   int32_t rows, int32_t outs, int32_t ins);

/* The same writing y[r * y_row_stride + o * y_col_stride]. */
void eo_dense_strided_f32(const float *x, const float *w, const float *bias, float *y,
                          int32_t rows, int32_t outs, int32_t ins, int32_t y_row_stride,
                          int32_t y_col_stride);

/* The value rows (value_rows of them, with the bias) and then their tangent rows (without)
 * through one dense layer: x and y are [rows][ins] and [rows][outs]. */
void eo_dense_tangent_f32(const float *x, const float *w, const float *bias, float *y,
                          int32_t value_rows, int32_t rows, int32_t outs, int32_t ins);

/* y = alpha * A B + beta * C over a batch, every operand addressed by strides. */
typedef struct {
    int32_t m, n, k;
    int32_t a_row, a_col, b_row, b_col, c_row, c_col;
    float alpha, beta;
    int32_t batch;
    const int32_t *a_offsets; /* per batch item; NULL when batch == 1 */
    const int32_t *b_offsets;
} eo_gemm_params_t;

void eo_gemm_f32(const eo_gemm_params_t *p, const float *a, const float *b, const float *c,
                 float *y);

/* ---- convolution and pooling (up to 3 spatial dims; 1-D/2-D use size-1 leading dims) ---- */
typedef struct {
    int32_t batch, in_c, in_d, in_h, in_w;
    int32_t out_c, out_d, out_h, out_w;
    int32_t k_d, k_h, k_w;
    int32_t stride_d, stride_h, stride_w;
    int32_t dil_d, dil_h, dil_w;
    int32_t pad_d, pad_h, pad_w; /* leading pads; trailing pads follow from the output size */
    int32_t groups;
    int32_t im2col_rows; /* output rows per im2col pass; 0: direct convolution */
} eo_conv_params_t;

/* bias may be NULL. With im2col_rows > 0 the call needs a scratch buffer of
 * eo_conv_scratch_floats(p) floats and w holds each group's [out_c/groups][K] weights
 * (K = in_c/groups * k_d * k_h * k_w) packed as for eo_dense_f32; it runs as im2col +
 * the dense kernel. With im2col_rows == 0 (scratch NULL), w is [out_c][in_c/groups]
 * [k_d][k_h][k_w] and it runs as a direct convolution. */
void eo_conv_f32(const eo_conv_params_t *p, const float *EO_RESTRICT x, const float *EO_RESTRICT w,
                 const float *EO_RESTRICT bias, float *EO_RESTRICT y, float *EO_RESTRICT scratch);
int32_t eo_conv_scratch_floats(const eo_conv_params_t *p);

typedef struct {
    int32_t outer; /* batch * channels */
    int32_t in_d, in_h, in_w;
    int32_t out_d, out_h, out_w;
    int32_t k_d, k_h, k_w;
    int32_t stride_d, stride_h, stride_w;
    int32_t dil_d, dil_h, dil_w;
    int32_t pad_d, pad_h, pad_w;       /* leading pads */
    int32_t end_d, end_h, end_w;       /* in_* + trailing pads: the padded extent */
    int32_t count_include_pad;
} eo_pool_params_t;

void eo_maxpool_f32(const eo_pool_params_t *p, const float *x, float *y);
void eo_avgpool_f32(const eo_pool_params_t *p, const float *x, float *y);

/* ---- reductions and normalization ---- */
typedef enum { EO_REDUCE_SUM, EO_REDUCE_MEAN, EO_REDUCE_MAX } eo_reduce_op_t;

/* Input shape and, per axis, the output stride (0 on reduced axes). */
typedef struct {
    int32_t rank;
    int32_t shape[EO_MAX_RANK];
    int32_t out_strides[EO_MAX_RANK];
    int32_t out_size;
    int32_t reduced_count; /* elements folded into each output */
} eo_reduce_t;

void eo_reduce_f32(eo_reduce_op_t op, const float *x, float *y, const eo_reduce_t *r);
typedef struct {
    int32_t in_zero_point, out_zero_point;
    int32_t multiplier, shift; /* input scale / (output scale * count) */
} eo_mean_s8_params_t;

/* int8 MEAN; sums: r->out_size int32 of scratch */
void eo_mean_s8(const eo_reduce_t *r, const int8_t *x, int8_t *y, int32_t *sums,
                const eo_mean_s8_params_t *p);

/* Softmax over the middle axis of [outer][n][inner]; log != 0 gives LogSoftmax. */
void eo_softmax_f32(const float *x, float *y, int32_t outer, int32_t n, int32_t inner, int32_t log);

/* Each row of [outer][n] divided by its L2 norm, at least 1e-6 (TFLite's L2_NORMALIZATION). */
void eo_l2_normalize_f32(const float *x, float *y, int32_t outer, int32_t n);

/* ---- data movement ---- */
/* Output shape and the input strides that produce each output axis. */
typedef struct {
    int32_t rank;
    int32_t shape[EO_MAX_RANK];
    int32_t in_strides[EO_MAX_RANK];
} eo_strided_t;

/* y (contiguous) = x read with arbitrary strides: transposes, slices. */
void eo_gather_strided_f32(const float *x, float *y, const eo_strided_t *s);
void eo_gather_strided_s8(const int8_t *x, int8_t *y, const eo_strided_t *s);

/* Copies `outer` blocks of `block` elements from x (packed) to y with stride `y_stride`. */
void eo_copy_blocks_f32(const float *x, float *y, int32_t outer, int32_t block, int32_t y_stride);

typedef enum { EO_PAD_CONSTANT, EO_PAD_EDGE, EO_PAD_REFLECT, EO_PAD_WRAP } eo_pad_mode_t;

typedef struct {
    int32_t rank;
    int32_t in_shape[EO_MAX_RANK];
    int32_t out_shape[EO_MAX_RANK];
    int32_t begin[EO_MAX_RANK]; /* leading pad per axis; negative crops */
    eo_pad_mode_t mode;
    float value;
} eo_pad_t;

void eo_pad_f32(const float *x, float *y, const eo_pad_t *p);

/* ---- int8 (TFLite integer semantics) ---- */
/* TFLite's MultiplyByQuantizedMultiplier: round(acc * multiplier * 2^(shift - 31)). */
int32_t eo_requantize(int32_t acc, int32_t multiplier, int32_t shift);

typedef struct {
    int32_t rows, outs, ins;
    int32_t output_offset;      /* output zero point */
    int32_t act_min, act_max;   /* quantized activation range */
    int32_t per_channel;        /* multipliers/shifts per output, else one */
    const int32_t *multipliers;
    const int32_t *shifts;
} eo_fc_s8_params_t;

/* w: [outs][ins] int8 (zero point 0); bias: per output, with input_offset * sum(w) folded in. */
void eo_fully_connected_s8(const eo_fc_s8_params_t *p, const int8_t *x, const int8_t *w,
                           const int32_t *bias, int8_t *y);
/* Per output channel of the DSP kernels (padded to a multiple of 4 channels), from the
 * compiler: the bias (input offset folded in) scaled as the weights by 2^(1 + TFLite's left
 * shift), the multiplier, and e + 1 for TFLite's right shift e (see eo_requantize_channel). */
typedef struct {
    int32_t bias, multiplier, shift;
} eo_channel_s8_t;

/* Cores with the DSP extension, ins a multiple of 8. w: int16, each row scaled as its
 * channel's bias (eo_channel_s8_t), per block of 4 outputs (the last block padded with zero
 * rows) and per 8 inputs k..k+7, for each row of the block: {w[k], w[k+2], w[k+1], w[k+3],
 * w[k+4], w[k+6], w[k+5], w[k+7]}. expanded: NULL, or 2 * ins bytes of scratch for the
 * inputs as int16 pairs (worth it when several blocks share them). */
void eo_fully_connected_s8_dsp(const eo_fc_s8_params_t *p, const int8_t *x, const int16_t *w,
                               const eo_channel_s8_t *channels, int8_t *y, uint32_t *expanded);
/* Cores with the DSP extension, several rows (1x1 convolutions): two rows x two outputs per
 * pass. w: int16, per pair of outputs (the last padded with a zero row) and per 4 inputs
 * k..k+3, for each output of the pair: {w[k], w[k+2], w[k+1], w[k+3]}. pair: 4 * ins bytes
 * of scratch. The compiler picks the DSP kernels only where their requantization is
 * exact: every scaled weight fits int16 and every scaled |acc| < 2^31. */
void eo_matmul_s8_dsp(const eo_fc_s8_params_t *p, const int8_t *x, const int16_t *w,
                      const eo_channel_s8_t *channels, int8_t *y, uint32_t *pair);
/* NHWC convolutions; per-output-channel multipliers/shifts; bias may be NULL. */
typedef struct {
    int32_t batch, in_h, in_w, in_c;
    int32_t out_h, out_w, out_c;
    int32_t k_h, k_w, filter_c; /* filter_c: input channels per group (conv) */
    int32_t stride_h, stride_w, dil_h, dil_w, pad_h, pad_w;
    int32_t depth_multiplier;   /* depthwise */
    int32_t input_offset, output_offset, act_min, act_max;
    const int32_t *multipliers;
    const int32_t *shifts;
} eo_conv_s8_params_t;

/* Output row `row` of a one-image convolution as a convolution of its own: fills slice,
 * returns the byte offset of the input rows it reads (layers that run in place). */
int32_t eo_conv_s8_row(const eo_conv_s8_params_t *p, int32_t row, eo_conv_s8_params_t *slice);
/* The same over a window of `rows` input rows that a producer layer computes a row at a time
 * (patch-based execution): keeps the rows [*held, *next) the row reads again at the window's
 * start, fills slice, returns one past the last input row to compute (from *next on). */
int32_t eo_conv_s8_window(const eo_conv_s8_params_t *p, int32_t row, int32_t rows, int8_t *window, int32_t *held,
                          int32_t *next, eo_conv_s8_params_t *slice);
/* w: [out_c][k_h][k_w][filter_c] */
void eo_conv2d_s8(const eo_conv_s8_params_t *p, const int8_t *x, const int8_t *w,
                  const int32_t *bias, int8_t *y);
/* DSP cores: im2col two pixels at a time into the eo_matmul_s8_dsp layout (one group; also
 * a depthwise layer of one input channel, whose depth_multiplier outputs are a convolution's).
 * w: eo_matmul_s8_dsp's layout over the patch, k_h rows of k_w * in_c taps each rounded up to
 * a word, the whole rounded up to 8 (zero weights); channels: per output, with the input
 * offset folded into the bias; pair: eo_conv2d_s8_dsp_scratch_size bytes. */
void eo_conv2d_s8_dsp(const eo_conv_s8_params_t *p, const int8_t *x, const int16_t *w,
                      const eo_channel_s8_t *channels, int8_t *y, uint32_t *pair);
/* DSP cores, any depth multiplier, at most EO_DEPTHWISE_DSP_MAX_TAPS taps: w as int16 per
 * group of 4 output channels (the last padded with zero weights), tap after tap, each tap's
 * four as {w0, w2, w1, w3} (8-byte aligned); channels with the input offset folded into the bias;
 * padding: eo_depthwise_conv2d_s8_dsp_scratch_size bytes of scratch. */
#define EO_DEPTHWISE_DSP_MAX_TAPS 64
void eo_depthwise_conv2d_s8_dsp(const eo_conv_s8_params_t *p, const int8_t *x, const int16_t *w,
                                const eo_channel_s8_t *channels, int8_t *y, int8_t *padding);
/* The same four DSP kernels with compact weights: int8, unscaled, the bias too, and c->shift
 * carrying 1 + TFLite's left shift in its second byte. The fully-connected and matrix-product
 * layouts interleave each pair of outputs (e, o): where the expanded layout has output e's
 * int16 pair {w[e][k], w[e][j]}, the compact one has the word of bytes [w[e][k], w[o][k] - (w[e][k] < 0),
 * w[e][j], w[o][j] - (w[e][j] < 0)] (each halfword then reads as 256 w[o] + w[e]); per block
 * of 4 outputs the pair (0, 1)'s words, then (2, 3)'s, per group of 8 inputs (fully connected),
 * per group of 4 one pair's two words (matrix product). No w[o] may be -128 where w[e] < 0
 * (the compiler keeps such layers expanded). Depthwise: int8 in the expanded layout's order,
 * each tap's four channels as stored; 3x3 layers without dilation (depth multiplier 1 at
 * stride 1 on maps of at least 64 outputs, above 1 at stride 1 or 2) whose channels have
 * 1 + left shift <= 8 run planar, an input channel at a time over an int16 plane in
 * `padding` (4-byte aligned, eo_depthwise_conv2d_s8_dsp_scratch_size bytes), and with a
 * depth multiplier of 1 y may be x. */
void eo_fully_connected_s8_dsp_compact(const eo_fc_s8_params_t *p, const int8_t *x, const int8_t *w,
                                       const eo_channel_s8_t *channels, int8_t *y, uint32_t *expanded);
void eo_matmul_s8_dsp_compact(const eo_fc_s8_params_t *p, const int8_t *x, const int8_t *w,
                              const eo_channel_s8_t *channels, int8_t *y, uint32_t *pair);
void eo_conv2d_s8_dsp_compact(const eo_conv_s8_params_t *p, const int8_t *x, const int8_t *w,
                              const eo_channel_s8_t *channels, int8_t *y, uint32_t *pair);
void eo_depthwise_conv2d_s8_dsp_compact(const eo_conv_s8_params_t *p, const int8_t *x, const int8_t *w,
                                        const eo_channel_s8_t *channels, int8_t *y, int8_t *padding);
/* w: [k_h][k_w][out_c]; channels innermost, accumulating in acc[out_c] (scratch) */
void eo_depthwise_conv2d_s8(const eo_conv_s8_params_t *p, const int8_t *x, const int8_t *w,
                            const int32_t *bias, int8_t *y, int32_t *acc);

/* Bytes of scratch each kernel needs (CMSIS-NN's _get_buffer_size): the compiler reserves
 * exactly these in the arena. Defined on every core. */
int32_t eo_fully_connected_s8_dsp_scratch_size(const eo_fc_s8_params_t *p);
int32_t eo_matmul_s8_dsp_scratch_size(const eo_fc_s8_params_t *p);
int32_t eo_conv2d_s8_dsp_scratch_size(const eo_conv_s8_params_t *p);
int32_t eo_depthwise_conv2d_s8_dsp_scratch_size(const eo_conv_s8_params_t *p);
int32_t eo_depthwise_conv2d_s8_scratch_size(const eo_conv_s8_params_t *p);
int32_t eo_mean_s8_scratch_size(const eo_reduce_t *r);

typedef struct {
    int32_t batch, in_h, in_w, channels, out_h, out_w;
    int32_t k_h, k_w, stride_h, stride_w, pad_h, pad_w;
    int32_t act_min, act_max;
} eo_pool_s8_params_t;

void eo_avgpool_s8(const eo_pool_s8_params_t *p, const int8_t *x, int8_t *y);
void eo_maxpool_s8(const eo_pool_s8_params_t *p, const int8_t *x, int8_t *y);
/* constant padding of int8 data; p->value holds the (integer) pad value */
void eo_pad_s8(const int8_t *x, int8_t *y, const eo_pad_t *p);

typedef struct {
    int32_t outer, depth;
    int32_t input_multiplier, input_left_shift, diff_min;
} eo_softmax_s8_params_t;

/* Output scale 1/256, zero point -128 (TFLite's int8 softmax). */
void eo_softmax_s8(const eo_softmax_s8_params_t *p, const int8_t *x, int8_t *y);
typedef struct {
    eo_broadcast_t shape;
    eo_binary_op_t op; /* EO_BIN_ADD, EO_BIN_SUB, EO_BIN_MUL, EO_BIN_MAX, EO_BIN_MIN or EO_BIN_SQUARED_DIFF */
    int32_t in1_offset, in2_offset, out_offset, left_shift;
    int32_t in1_multiplier, in1_shift, in2_multiplier, in2_shift, out_multiplier, out_shift;
    int32_t act_min, act_max;
} eo_binary_s8_params_t;

void eo_binary_s8(const eo_binary_s8_params_t *p, const int8_t *a, const int8_t *b, int8_t *y);
/* y = clamp(requantize(x + in_offset) + out_offset): RELU/RELU6 and same-type rescaling */
void eo_requantize_s8(const int8_t *x, int8_t *y, int32_t n, int32_t in_offset, int32_t multiplier,
                      int32_t shift, int32_t out_offset, int32_t act_min, int32_t act_max);
/* TFLM's int8 LOGISTIC (gemmlowp fixed point; output scale 1/256, zero point -128) */
void eo_logistic_s8(const int8_t *x, int8_t *y, int32_t n, int32_t in_zero_point, int32_t radius,
                    int32_t multiplier, int32_t left_shift);
/* TFLM's int8 TANH (output scale 1/128, zero point 0) */
void eo_tanh_s8(const int8_t *x, int8_t *y, int32_t n, int32_t in_zero_point, int32_t radius,
                int32_t multiplier, int32_t left_shift);
/* TFLM's int8 LEAKY_RELU: separate multipliers for the identity and the alpha branch */
void eo_leaky_relu_s8(const int8_t *x, int8_t *y, int32_t n, int32_t in_offset, int32_t identity_m,
                      int32_t identity_s, int32_t alpha_m, int32_t alpha_s, int32_t out_offset);
typedef struct {
    int32_t m, n, k;
    int32_t a_row, a_col, b_row, b_col; /* element strides: a (m x k), b (k x n), transposed or not */
    int32_t batch;
    const int32_t *a_offsets; /* per batch item; NULL when batch == 1 */
    const int32_t *b_offsets;
    int32_t a_zero_point, b_zero_point, out_zero_point, multiplier, shift;
} eo_batch_matmul_s8_params_t;

/* TFLM's int8 BATCH_MATMUL: y (m x n per batch item) = requantize(sum_k (a - za)(b - zb)), both
 * operands activations or constants, per-tensor quantization */
void eo_batch_matmul_s8(const eo_batch_matmul_s8_params_t *p, const int8_t *a, const int8_t *b, int8_t *y);
/* TFLM's int8 UNIDIRECTIONAL_SEQUENCE_LSTM: gates in TFLite's weight order (input, forget,
 * cell, output), weights [4][hidden][input] and [4][hidden][hidden]; bias [8][hidden]: per gate
 * the input product's bias and the recurrent product's, the zero points folded in. */
enum { EO_LSTM_INPUT = 0, EO_LSTM_FORGET = 1, EO_LSTM_CELL = 2, EO_LSTM_OUTPUT = 3 };
typedef struct {
    int32_t seq, batch, input, hidden, time_major;
    int32_t hidden_zero_point;
    int32_t input_multiplier[4], input_shift[4], state_multiplier[4], state_shift[4]; /* to Q3.12 */
    int32_t forget_multiplier, forget_shift; /* f * c -> c */
    int32_t update_multiplier, update_shift; /* i * g -> c */
    int32_t hidden_multiplier, hidden_shift; /* o * tanh(c) -> h */
    int32_t cell_scale_power;                /* the cell state's scale is 2^cell_scale_power */
    int32_t cell_clip;                       /* quantized; 0: none */
    const uint16_t *sigmoid_table;           /* 256 entries: sigmoid(i / 24) in Q0.16, TFLite's */
} eo_lstm_s8_params_t;

int32_t eo_lstm_s8_scratch_size(const eo_lstm_s8_params_t *p);
void eo_lstm_s8(const eo_lstm_s8_params_t *p, const int8_t *x, const int8_t *w, const int8_t *r,
                const int32_t *bias, int8_t *y, void *scratch);
/* One requantization in one SMMULR (the compiler's smmulr_requantization): acc << left, then
 * SMMULR by the multiplier is TFLite's rounding doubling high product h, and
 * (2h + rounding + sign(h)) >> right (doubled) or (h + rounding + sign(h)) >> right its
 * rounding right shift plus an output offset. */
typedef struct {
    int32_t multiplier, left, rounding, right;
} eo_requant_dsp_t;
/* The same on cores with the DSP extension, where every requantization is exact in one SMMULR:
 * w and r per unit and per 4 inputs (zero-padded), the four gates' 4 weights in turn (8-byte
 * aligned); bias [hidden][8] (the unit's 4 input then 4 recurrent biases); requant: the 4
 * input products', the 4 recurrent ones' (doubled), then f * c, i * g and o * tanh(c) (with
 * the hidden zero point; not doubled). */
void eo_lstm_s8_dsp(const eo_lstm_s8_params_t *p, const int8_t *x, const int8_t *w, const int8_t *r,
                    const int32_t *bias, const eo_requant_dsp_t *requant, int8_t *y, void *scratch);
typedef struct {
    int32_t rows, ins, outs, asymmetric, per_channel;
} eo_hybrid_fc_params_t;

/* TFLite's dynamic-range FULLY_CONNECTED: each row of x quantized to int8 (scratch: ins bytes),
 * int8 weights [outs][ins] with scales (one, or one per output) and row sums, float bias. */
void eo_hybrid_fully_connected_f32(const eo_hybrid_fc_params_t *p, const float *x, const int8_t *w,
                                   const float *scales, const int32_t *row_sums, const float *bias, float *y,
                                   int8_t *scratch);
typedef struct {
    int32_t batch, in_h, in_w, in_c, out_h, out_w, out_c, k_h, k_w;
    int32_t stride_h, stride_w, dil_h, dil_w, pad_h, pad_w;
    int32_t depth_multiplier; /* 0: CONV_2D; m: DEPTHWISE_CONV_2D with m outputs per input channel */
} eo_hybrid_conv_params_t;

/* TFLite's dynamic-range CONV_2D / DEPTHWISE_CONV_2D, NHWC, per-channel int8 weights (conv
 * OHWI, depthwise [k_h][k_w][out_c]); scratch: in_h * in_w * in_c bytes. */
void eo_hybrid_conv2d_f32(const eo_hybrid_conv_params_t *p, const float *x, const int8_t *w, const float *scales,
                          const float *bias, float *y, int8_t *scratch);
/* y = table[x + 128]: int8 functions tabulated at compile time (GELU, as TFLite) */
void eo_lookup_s8(const int8_t *table, const int8_t *x, int8_t *y, int32_t n);
/* TFLM's int8 RSQRT (TFLite's integer inverse square root; multiplier and shift for
 * 1 / (sqrt(input scale) output scale)); inputs at or below the zero point give 127 */
void eo_rsqrt_s8(const int8_t *x, int8_t *y, int32_t n, int32_t in_zero_point, int32_t multiplier,
                 int32_t shift, int32_t out_zero_point);
/* TFLM's int8 L2_NORMALIZATION over the last axis (output scale 1/128, zero point 0) */
void eo_l2_normalize_s8(const int8_t *x, int8_t *y, int32_t outer, int32_t depth, int32_t zero_point);
typedef struct {
    int32_t in_zero_point, out_zero_point;
    int32_t reluish_multiplier, reluish_exponent; /* int16 fixed point */
    int32_t out_multiplier, out_exponent;         /* int16 fixed point, exponent <= 0 */
} eo_hard_swish_s8_params_t;

/* TFLM's int8 HARD_SWISH (int16 fixed point, as gemmlowp) */
void eo_hard_swish_s8(const eo_hard_swish_s8_params_t *p, const int8_t *x, int8_t *y, int32_t n);
/* outer blocks of `block` bytes from x (packed) to y with a stride of y_stride bytes */
void eo_copy_blocks_bytes(const void *x, void *y, int32_t outer, int32_t block, int32_t y_stride);
void eo_quantize_f32_s8(const float *x, int8_t *y, int32_t n, float scale, int32_t zero_point);
void eo_dequantize_s8_f32(const int8_t *x, float *y, int32_t n, float scale, int32_t zero_point);

#ifdef __cplusplus
}
#endif

#endif /* EO_RUNTIME_H */
