/*
 * hyena_params.h: launch-parameter structs shared by the CUDA kernels (kernels/<name>.cu), the SIMT
 * simulator build and Rust (bindgen -> $OUT_DIR/hyena_params.rs, see build/params.rs).
 *
 * Rules (every struct in this file):
 *  - plain C, passed BY VALUE as the single argument of an extern "C" __global__ entry point;
 *  - device pointers are uint64_t addresses (never pointers: the struct must have the same layout
 *    on the host, on the device and in Rust);
 *  - fields ordered so that there is no padding (the Rust side derives bytemuck::Pod, which
 *    refuses padding; bindgen's layout tests check every size and offset against this header);
 *  - one meaning per field: a kernel family whose passes need other fields gets its own struct
 *    (a struct may embed another as its first member);
 *  - all dtypes of a family share its struct; the kernel index (generated from the entry points
 *    of kernels/*.cu, see build/index.rs) records the struct each entry point takes.
 */
#ifndef HYENA_PARAMS_H
#define HYENA_PARAMS_H

/* Only <stdint.h>: bindgen runs PyPI's libclang, which has no compiler resource folder
 * (no <stddef.h>). */
#include <stdint.h>

/* ---- gating (kernels/gating.cu) ------------------------------------------------------------ */

/* Forward of the gating product: out[i] = a[i] * b[i] for i < n (fp32 arithmetic).
 * Kernels: hyena_gate_fwd_{f32,bf16,f16}. Element type of a, b, out = the kernel's dtype. */
typedef struct HyenaGateFwdParams {
    uint64_t a;   /* const T*, n elements */
    uint64_t b;   /* const T*, n elements */
    uint64_t out; /* T*, n elements */
    uint64_t n;   /* number of elements */
} HyenaGateFwdParams;

/* Backward of the gating product: grad_a[i] = grad_out[i] * b[i], grad_b[i] = grad_out[i] * a[i].
 * Kernels: hyena_gate_bwd_{f32,bf16,f16}. */
typedef struct HyenaGateBwdParams {
    uint64_t a;        /* const T*, n elements */
    uint64_t b;        /* const T*, n elements */
    uint64_t grad_out; /* const T*, n elements */
    uint64_t grad_a;   /* T*, n elements */
    uint64_t grad_b;   /* T*, n elements */
    uint64_t n;        /* number of elements */
} HyenaGateBwdParams;

/* Broadcast of a bias vector over a row-major [rows, cols] output (the projections' bias, written
 * before a beta = 1 GEMM adds the product; it replaces a rank-1 GEMM with a vector of ones, which
 * cuBLAS ran at 13x the time of this store on an H200, docs/BENCHMARKS.md "GPU"):
 * by_row = 1: out[r][c] = bias[r % nb] (one value per row); by_row = 0: out[r][c] = bias[c]
 * (nb = cols). The stored value is the bias element itself (no arithmetic).
 * Kernels: hyena_bias_fill_{f32,bf16,f16}, 1-D grid-stride launch like the gating kernels. */
typedef struct HyenaBiasFillParams {
    uint64_t bias;   /* const T*, nb elements */
    uint64_t out;    /* T*, rows * cols elements */
    uint64_t rows;   /* rows of out */
    uint64_t cols;   /* columns of out (contiguous) */
    uint64_t nb;     /* elements of bias: by_row ? any >= 1 : cols */
    uint32_t by_row; /* 1: bias indexed by row (mod nb); 0: by column */
    uint32_t pad;    /* 0 */
} HyenaBiasFillParams;

/* ---- short causal depthwise convolution (kernels/shortconv.cu) ------------------------------- */

/* Forward over K stacked chunks: z[t] = x[t] + in_bias[ch] for 0 <= t < L (0 outside: the causal
 * padding is unbiased), y[t] = w[ch,0]*z[t-2] + w[ch,1]*z[t-1] + w[ch,2]*z[t] + bias[ch], rows
 * [K, B, C, L]; row (k*B + b)*C + c uses channel ch = k*C + c. Kernels: hyena_shortconv_fwd_{f32,
 * bf16,f16}, grid (K*B*C, segs), block 32..256 threads (a multiple of 32), each thread 16 bytes of
 * positions: segs = ceil(L / (block * 16 / sizeof(T))). Element type of x, w, biases, y = the
 * kernel's dtype. */
typedef struct HyenaShortConvParams {
    uint64_t x;       /* const T*, [K, B, C, L] */
    uint64_t w;       /* const T*, [K*C, 3] */
    uint64_t bias;    /* const T*, [K*C] */
    uint64_t in_bias; /* const T*, [K*C] folded into the input (in_proj's bias), or 0 */
    uint64_t y;       /* T*, [K, B, C, L] */
    uint64_t k;       /* chunks K >= 1 */
    uint64_t b;       /* batch B */
    uint64_t c;       /* channels C */
    uint64_t l;       /* length L >= 1 */
} HyenaShortConvParams;

/* Backward: grad_x [K, B, C, L] (the gradient wrt z and x alike); grad_w [K*C, 3] and grad_b [K*C]
 * reduced over batch and positions. Kernels: hyena_shortconv_bwd_{f32,bf16,f16} (the forward's
 * grid and blocks: grad_x and per-block partial sums into ws) then
 * hyena_shortconv_bwd_reduce_{f32,bf16,f16} (one thread per channel: sums ws over b, then the
 * segments, in order; writes grad_w, grad_b, and grad_in_bias from grad_b's sum and grad_y's first
 * two positions). */
typedef struct HyenaShortConvBwdParams {
    uint64_t x;       /* const T*, [K, B, C, L] */
    uint64_t w;       /* const T*, [K*C, 3] */
    uint64_t in_bias; /* const T*, [K*C], or 0 (as in the forward) */
    uint64_t grad_y;  /* const T*, [K, B, C, L] */
    uint64_t grad_x;  /* T*, [K, B, C, L] */
    uint64_t grad_w;  /* T*, [K*C, 3] (overwritten) */
    uint64_t grad_b;  /* T*, [K*C] (overwritten) */
    uint64_t grad_in_bias; /* T*, [K*C] (overwritten): grad_x summed over batch and positions (in_proj's
                            * bias gradient), or 0 */
    uint64_t ws;      /* double*, [K*B, segs, 4, C] workspace: per-block partial sums (w0, w1, w2, bias) */
    uint64_t k;       /* chunks K >= 1 */
    uint64_t b;       /* batch B */
    uint64_t c;       /* channels C */
    uint64_t l;       /* length L >= 1 */
    uint64_t segs;    /* blocks per row of the row kernel */
    uint64_t gy_head; /* const float*, [K, B, C, 2]: grad_y at positions 0 and 1 of each row, where the
                       * reduce reads them for grad_in_bias instead of grad_y (the fused backward's,
                       * hyena_fftconv_bwd_g_sc_tc_m13_*, whose grad_y is never stored), or 0 */
} HyenaShortConvBwdParams;

/* ---- fused gated causal FFT convolution (kernels/fftconv.cu) ------------------------------- */

/* Filter spectrum: hf[c, k] = FFT_n(h[c, :] zero padded to n)[k] / n for k = 0..n/2 (complex
 * interleaved fp32, [C, n/2 + 1] float2). Kernel: hyena_fftconv_filter_{f32,bf16,f16}, one block
 * per channel, dynamic shared memory n/2 float2. */
typedef struct HyenaFftFilterParams {
    uint64_t h;     /* const T*, [C, L] */
    uint64_t hf;    /* float2*, [C, n/2 + 1] */
    uint64_t c;     /* channels C */
    uint64_t l;     /* length L >= 1 */
    uint64_t log2n; /* n = 2^log2n >= 2L, n >= 4 */
} HyenaFftFilterParams;

/* Forward: y = post * (h (*) (pre * v) + D * (pre * v)), causal, rows [B, C, L] contiguous; pre and
 * post optional (0 = absent, i.e. 1). Kernel: hyena_fftconv_fwd_{f32,bf16,f16}, one block per
 * (b, c) row, dynamic shared memory n/2 float2; hyena_fftconv_fwd_inner_* (and at the two-block
 * shapes hyena_fftconv_fwd_2b_inner_*) the same, also writing inner. */
typedef struct HyenaFftConvFwdParams {
    uint64_t v;     /* const T*, [B, C, L] */
    uint64_t pre;   /* const T*, [B, C, L], or 0 */
    uint64_t post;  /* const T*, [B, C, L], or 0 */
    uint64_t hf;    /* const float2*, [C, n/2 + 1] (from hyena_fftconv_filter_*) */
    uint64_t d;     /* const T*, [C] */
    uint64_t y;     /* T*, [B, C, L] */
    uint64_t inner; /* T*, [B, C, L]: hyena_fftconv_fwd_inner_* / _2b_inner_* also write the value
                     * before the post gate (conv + D a) here; 0 for the others */
    uint64_t b;     /* batch B */
    uint64_t c;     /* channels C */
    uint64_t l;     /* length L >= 1 */
    uint64_t log2n; /* n = 2^log2n >= 2L, n >= 4 */
    uint64_t spec;  /* float2*, [B*C, n/2 + 1]: hyena_fftconv_fwd_2b_inner_spec_* also write the row's
                     * A = FFT(a) bins 0 .. n/2 here (row blockIdx.x), for the backward; 0 for the others */
} HyenaFftConvFwdParams;

/* The 8K tensor-core forward with the short conv fused (hyena_fftconv_fwd_sc_tc_m13_*): the forward's
 * parameters f and the short conv beneath its operands. Index r = 0, 1, 2 is the operand v, pre,
 * post: hyena_shortconv_fwd of the rows sc_z[r] (weights sc_w[r], bias sc_b[r], no in_bias),
 * rounded to T as that kernel stores it. Here f.v, f.pre and f.post are outputs ([B, C, L] each,
 * all three given): the kernel writes the operands there (the backward's) and reads them back.
 * (A struct of its own: three more arrays in HyenaFftConvFwdParams put 4–20 B of spills into
 * fftconv.cu's two-block forwards on sm_90, which take that struct.) */
typedef struct HyenaFftConvFwdScParams {
    HyenaFftConvFwdParams f;
    uint64_t sc_z[3]; /* const T*, [B, C, L]: the short conv's input rows of operand r */
    uint64_t sc_w[3]; /* const T*, [C, 3]: their short conv weights */
    uint64_t sc_b[3]; /* const T*, [C]: their short conv bias */
    uint64_t h;       /* const T*, [C, L]: the filter, or 0. Given (B = 1 only), each row's block first
                       * forms its channel's spectrum f.hf[c] from h[c] as hyena_fftconv_filter_tc_m13_*
                       * does (the same bits; f.hf is then an output) and then reads it back */
} HyenaFftConvFwdScParams;

/* Backward of the gated convolution (g = grad_y * post, a = pre * v):
 *   grad_a = h (*)^T g + D g (anti-causal correlation), grad_v = grad_a * pre, grad_pre = grad_a * v,
 *   grad_post = grad_y * (h (*) a + D a), grad_h[c] = sum_b corr(g, a), grad_D[c] = sum_b,t g a.
 * Kernels: hyena_fftconv_bwd_{f32,bf16,f16}: one block per (b, c) row (blockIdx.x = c*B + b),
 * dynamic shared memory n float2; writes the row gradients (without inner: grad_post from A * H
 * inverted; hyena_fftconv_bwd_g_* with inner and grad_post: no A * H and no inverse FFT of A), the row's spectrum G * conj(A)
 * (n/2 + 1 float2) into ws and its sum g.a into ws_d. Then hyena_fftconv_bwd_reduce_{...}: one
 * block per channel, n/2 float2 of shared memory: sums ws over b in order, inverse FFT -> grad_h,
 * and ws_d -> grad_D (deterministic, no atomics). pre/post/grad_pre/grad_post: 0 when absent.
 * The two-block shapes (ops::fftconv::bwd_two_blocks: 2-byte storage, post given) take two row
 * kernels of one spectrum each instead of hyena_fftconv_bwd_*: hyena_fftconv_bwd_a_2b_* (grad_post,
 * and A = FFT(a), n/2 + 1 float2, into the row's ws) or, given inner, hyena_fftconv_bwd_a_spec_2b_*
 * (A into ws, grad_post = grad_y * inner: one FFT), then hyena_fftconv_bwd_g_2b_*
 * (ws = G * conj(A) in place, grad_v, grad_pre, ws_d), or given aspec the G kernel alone; ws indexed with 32 bits there
 * (B * C * (n/2 + 1) < 2^32). At n = 2^14 and 2^13 the 2-byte kernels of this path are the
 * *_m13 and *_m12 ones (the same parameters; built for that n, they trap on any other). */
typedef struct HyenaFftConvBwdParams {
    uint64_t v;         /* const T*, [B, C, L] */
    uint64_t pre;       /* const T*, [B, C, L], or 0 */
    uint64_t post;      /* const T*, [B, C, L], or 0 */
    uint64_t hf;        /* const float2*, [C, n/2 + 1] */
    uint64_t d;         /* const T*, [C] */
    uint64_t grad_y;    /* const T*, [B, C, L] */
    uint64_t grad_v;    /* T*, [B, C, L] */
    uint64_t grad_pre;  /* T*, [B, C, L], or 0 (iff pre is 0) */
    uint64_t grad_post; /* T*, [B, C, L], or 0 (iff post is 0) */
    uint64_t inner;     /* const T*, [B, C, L]: the forward's conv + D a (grad_post = grad_y * inner,
                         * no A * H and no inverse FFT of A), or 0 */
    uint64_t grad_h;    /* T*, [C, L] (overwritten) */
    uint64_t grad_d;    /* T*, [C] (overwritten) */
    uint64_t ws;        /* float2*, [C, B, n/2 + 1] workspace */
    uint64_t ws_d;      /* float*, [C, B] workspace */
    uint64_t b;         /* batch B */
    uint64_t c;         /* channels C */
    uint64_t l;         /* length L >= 1 */
    uint64_t log2n;     /* n = 2^log2n >= 2L, n >= 4 */
    uint64_t aspec;     /* const float2*, [B*C, n/2 + 1]: the forward's A bins (fwd_2b_inner_spec), or 0.
                         * Given, the A kernel is not launched: hyena_fftconv_bwd_g_2b_* reads A here
                         * (ws = G * conj(A), not in place) and writes grad_post = grad_y * inner */
    /* The short conv's backward fused into the 8K tensor-core G kernel
     * (hyena_fftconv_bwd_g_sc_tc_m13_* only; the other kernels ignore these). Index r = 0, 1, 2 is
     * the operand v, pre, post, each the short conv's output (hyena_shortconv_fwd, as stored) of
     * the rows sc_z[r]. grad_v, grad_pre, grad_post then receive the gradients wrt sc_z[r]
     * (hyena_shortconv_bwd's grad_x) instead of wrt v, pre, post, which are never stored. */
    uint64_t sc_z[3];    /* const T*, [B, C, L]: the short conv's input rows of operand r */
    uint64_t sc_w[3];    /* const T*, [C, 3]: its short conv weights */
    uint64_t sc_ws[3];   /* double*, [B, 4, C]: per-row sums (w0, w1, w2, bias): hyena_shortconv_bwd's
                          * ws at segs = 1, for hyena_shortconv_bwd_reduce */
    uint64_t sc_head[3]; /* float*, [B, C, 2]: the gradient wrt operand r at positions 0 and 1
                          * (hyena_shortconv_bwd_reduce's gy_head) */
    uint64_t sc_grad_w[3];  /* T*, [C, 3]: at B = 1, where the kernel writes operand r's short conv
                             * weight gradient itself (no reduce), else 0 */
    uint64_t sc_grad_b[3];  /* T*, [C]: the same for its bias gradient */
    uint64_t sc_grad_in_bias[3]; /* T*, [C]: the same for in_proj's bias gradient of its chunk, or 0 */
} HyenaFftConvBwdParams;

/* Multi-pass (four-step) path for long rows, n = 2^(log2n1 + log2n2) >= 2L, P = ceil(C/2) channel
 * pairs: channels 2cp and 2cp+1 of a batch row share one complex FFT (real and imaginary parts;
 * an odd C's last channel is alone, imaginary part 0); slab s = cp*B + b of the workspace.
 * Forward kernels (kernels/fftconv.cu, "multi-pass" section), all taking HyenaFftConvLongParams:
 *   hyena_fftconv_long_cols_{f32,bf16,f16}: pass 1, one block per (channel pair, batch row, tile of
 *     2^log2tile columns), blockIdx.x = (cp*B + b)*(n2 >> log2tile) + tile; n1 * 2^log2tile float2
 *     of dynamic shared memory. Reads v (and pre), writes ws [P, B, n] complex.
 *   hyena_fftconv_long_rows: pass 2 (dtype-free), one block per pair of mirror rows of a slab
 *     (k1 = m and n1 - m; m = 0: k1 = 0 and n1/2), blockIdx.x = (cp*B + b)*(n1/2) + m; 2 n2 float2
 *     of dynamic shared memory. Splits the pair's spectrum by symmetry, multiplies each channel by
 *     its spectrum in hf and inverts; with hf = 0 it makes the spectrum instead (forward FFT
 *     scaled by 1/(4n), in place).
 *   hyena_fftconv_long_out_{f32,bf16,f16}: pass 3, grid and shared memory as pass 1; writes y.
 *   hyena_fftconv_long_{cols,out}_reg_{f32,bf16,f16} (and long_grad_h_reg_*, below): passes 1 and 3
 *     for n1 <= 32, one column per thread (2^log2tile = blockDim = 256 columns), no dynamic shared
 *     memory.
 * The filter spectrum is passes 1 and 2 on v = h [C, L] with B = 1, pre = 0, hf = 0, ws = the
 * spectrum [P, n] complex (it serves the C channels it was made from, in the same pairs). */
typedef struct HyenaFftConvLongParams {
    uint64_t v;        /* const T*, [B, C, L]: the rows pass 1 transforms */
    uint64_t pre;      /* const T*, [B, C, L] (gate applied before the convolution), or 0 */
    uint64_t post;     /* const T*, [B, C, L] (gate applied after it, pass 3), or 0 */
    uint64_t hf;       /* const float2*, [P, n] four-step spectrum (pass 2 multiplies by it), or 0 */
    uint64_t d;        /* const T*, [C] (skip term of pass 3), or 0 */
    uint64_t y;        /* T*, [B, C, L]: pass 3's output */
    uint64_t inner;    /* T*, [B, C, L]: the value before the post gate, conv + D*a: written by the
                        * forward's pass 3 (long_out), read by the backward's (grad_post = grad_y *
                        * inner, no transform of Za in pass 3 and no A*H in pass 2), or 0 */
    uint64_t ws;       /* float2*, [P, B, n] workspace */
    uint64_t b;        /* batch B */
    uint64_t c;        /* channels C */
    uint64_t l;        /* length L >= 1 */
    uint64_t log2n1;   /* column FFT size n1 = 2^log2n1 */
    uint64_t log2n2;   /* row FFT size n2 = 2^log2n2 */
    uint64_t log2tile; /* columns per block of passes 1 and 3 (2^log2tile <= n2) */
    uint64_t ws_out;   /* float2*, [P, B, n]: where hyena_fftconv_long_rows_keep (the forward's pass 2
                        * when its caller keeps a's transform) stores its rows, pass 3 then reading
                        * them there, while ws gets each row's forward FFT: a = pre*v's row spectra,
                        * the backward's A (ops::fftconv::a_spectrum_pays). 0 for every other launch */
} HyenaFftConvLongParams;

/* Backward of the multi-pass path (the forward's struct first, as FlashAttention's
 * Flash_bwd_params extends Flash_fwd_params). Passes 1 and 3 of the forward serve the backward
 * with their own params (pass 1 on a = pre * v into fwd.ws and on g = grad_y * post into ws_g);
 * the three backward-only kernels take this struct:
 *   hyena_fftconv_long_rows_bwd: one block per (channel pair cp, mirror rows m), blockIdx.x =
 *     cp*(n1/2) + m, 6 n2 float2 of dynamic shared memory; sums over the batch rows in order,
 *     writes the grad_h slab [P, n] complex to slab (and leaves Za * H in fwd.ws, Zg * conj(H) in
 *     ws_g for pass 3, per channel, joined as the forward's product is). For grad_post without
 *     fwd.inner only; hyena_fftconv_long_rows_bwd_g (the same, without Za * H and its inverse FFTs)
 *     otherwise: no post gate, or grad_post = grad_y * fwd.inner.
 *   hyena_fftconv_long_grad_h_{f32,bf16,f16}: pass 3 over the slab (one slab per channel pair,
 *     grid P * (n2 >> log2tile)): grad_h of channel 2cp = its real part, of 2cp+1 its imaginary
 *     part, for t < L; grad_D = their lag 0.
 *   hyena_fftconv_long_grad_in_{f32,bf16,f16}: pass 3 twice per block (grid and shared memory as
 *     pass 1): over fwd.ws, grad_post = grad_y * (h*a + D*a) (if grad_post and not fwd.inner;
 *     with fwd.inner, grad_post = grad_y * fwd.inner in the second transform); then over ws_g,
 *     grad_a = corr(g, h) + D*g with g = grad_y * fwd.post, grad_v = grad_a * fwd.pre and
 *     grad_pre = grad_a * fwd.v (if grad_pre), both from one column transform.
 * (..._reg_... forms at n1 <= 32 as in the forward.) */
typedef struct HyenaFftConvLongBwdParams {
    HyenaFftConvLongParams fwd; /* fwd.ws = Za [P, B, n]; fwd.hf = the spectrum; shape fields */
    uint64_t ws_g;              /* float2*, [P, B, n] workspace Zg */
    uint64_t slab;              /* float2*, [P, n] grad_h slab */
    uint64_t grad_h;            /* T*, [C, L] (overwritten) */
    uint64_t grad_d;            /* T*, [C] (overwritten) */
    uint64_t grad_y;            /* const T*, [B, C, L]: the incoming gradient */
    uint64_t grad_v;            /* T*, [B, C, L] (overwritten) */
    uint64_t grad_pre;          /* T*, [B, C, L] (overwritten), or 0 */
    uint64_t grad_post;         /* T*, [B, C, L] (overwritten), or 0 */
} HyenaFftConvLongBwdParams;

/* ---- implicit long filter (kernels/filter.cu) ---------------------------------------------- */

/* Most hidden (Linear -> Sin) layers of the filter FFN a launch takes. */
#define HYENA_FILTER_MAX_LAYERS 4

/* Forward of the implicit filter (safari HyenaFilter):
 *   a_0 = z[l, :E]; pre_i = a_i W_i^T + b_i; a_{i+1} = sin(freq * pre_i)   (i < n_layers, fp64)
 *   h[c, l] = (sum_f out_weight[c, f] a_n[l, f]) * (exp(-t[l] |deltas[c]|) + shift if modulate) (fp32)
 * for l < L, written channel-major h [C, L]. Kernel: hyena_filter_fwd_{f32,bf16,f16}: blocks of
 * 512 or 1024 threads, grid (tiles of 64 positions, splits of the channels), dynamic shared memory
 * (see src/ops/filter.rs).
 * Element type of every pointer = the kernel's dtype, but pre_out (double). */
typedef struct HyenaFilterFwdParams {
    uint64_t z;                          /* const T*, [l_max, E] (rows < L read) */
    uint64_t t;                          /* const T*, [l_max] (first L read) */
    uint64_t w[HYENA_FILTER_MAX_LAYERS]; /* const T*, layer i weight [F, in_i], in_0 = E, else F; 0 if unused */
    uint64_t b[HYENA_FILTER_MAX_LAYERS]; /* const T*, layer i bias [F]; 0 if unused */
    uint64_t freq;                       /* const T*, [F] (shared Sin frequency) */
    uint64_t out_weight;                 /* const T*, [C, F] */
    uint64_t deltas;                     /* const T*, [C] */
    uint64_t h;                          /* T*, [C, L] */
    uint64_t e;                          /* embedding width E >= 1 */
    uint64_t f;                          /* FFN width F >= 1 */
    uint64_t c;                          /* channels C >= 1 */
    uint64_t l;                          /* positions L >= 1 */
    uint64_t n_layers;                   /* 1..=HYENA_FILTER_MAX_LAYERS */
    uint64_t modulate;                   /* 0 or 1 */
    double shift;                        /* modulation shift */
    uint64_t pre_out;                    /* double*, [n_layers, F, L]: the hidden pre-activations pre_i
                                            (for the backward: hyena_filter_bwd's pre_in), or 0 */
    HyenaBiasFillParams fill[2];         /* up to two bias broadcasts the launch also writes (the
                                            operator's in_proj and out_proj starting values: this
                                            kernel is latency-bound, the stores DRAM-bound, and one
                                            launch fewer each); fill[i].out = 0: none. T as above. */
} HyenaFilterFwdParams;

/* Backward of the implicit filter given grad_h [C, L] (forward activations recomputed, no cache).
 * Deterministic (no float atomics). Positions are processed in chunks [l_off, l_off + chunk_len)
 * of at most ld positions (the chunk workspaces gout, ws_g, ws_a have leading dimension ld); per
 * chunk, in stream order:
 *  a. hyena_filter_bwd_gout_{f32,bf16,f16} (modulate only): grid (ceil(C/32), ceil(chunk_len/256)):
 *     gout[c, i] = grad_h[c, l_off + i] * win[c, l_off + i] (rounded to T); without modulation
 *     the caller's GEMMs read grad_h in its place.
 *  b. GEMM (caller; T operands, fp32 accumulation and output): ws_g[f, i] = sum_c
 *     out_weight[c, f] gout[c, i]   (the last layer's input gradient).
 *  c. hyena_filter_bwd_{f32,bf16,f16}: blocks of 512 threads [block0, block0 + grid); block g takes the tiles of
 *     32 positions [g*tiles_per_block, (g+1)*tiles_per_block) (inside the chunk): recomputes the
 *     hidden layers, writes grad_z rows < L, the last activation into ws_a, reads ws_g, and sums
 *     its tiles' hidden-layer and freq gradients (in tile order) into ws[g, :P],
 *     P = sum_i F*(in_i + 1) + F, laid out [W_0, b_0, W_1, b_1, ..., freq].
 *  d. GEMM (caller, strided-batched): ws_ow[s, c, f] = sum over split s of gout[c, p] ws_a[f, p].
 * Then once: hyena_filter_bwd_reduce_{...}: one thread per gradient entry, sums ws over g and
 * ws_ow over s in order (fp64), writes grad_w, grad_b, grad_freq, grad_out_weight (overwritten). */
typedef struct HyenaFilterBwdParams {
    uint64_t z;                               /* const T*, [l_max, E] */
    uint64_t t;                               /* const T*, [l_max] */
    uint64_t w[HYENA_FILTER_MAX_LAYERS];      /* const T*, [F, in_i]; 0 if unused */
    uint64_t b[HYENA_FILTER_MAX_LAYERS];      /* const T*, [F]; 0 if unused */
    uint64_t freq;                            /* const T*, [F] */
    uint64_t out_weight;                      /* const T*, [C, F] */
    uint64_t deltas;                          /* const T*, [C] */
    uint64_t grad_h;                          /* const T*, [C, L] */
    uint64_t grad_z;                          /* T*, [l_max, E]: rows < L written, others untouched */
    uint64_t grad_w[HYENA_FILTER_MAX_LAYERS]; /* T*, [F, in_i] (overwritten); 0 if unused */
    uint64_t grad_b[HYENA_FILTER_MAX_LAYERS]; /* T*, [F] (overwritten); 0 if unused */
    uint64_t grad_freq;                       /* T*, [F] (overwritten) */
    uint64_t grad_out_weight;                 /* T*, [C, F] (overwritten) */
    uint64_t ws;                              /* float*, [n_blocks, P] workspace */
    uint64_t ws_a;                            /* T*, [F, ld] chunk workspace: last hidden activation */
    uint64_t ws_g;                            /* float*, [F, ld] chunk workspace: its gradient */
    uint64_t gout;                            /* T*, [C, ld] chunk workspace: grad_h * window (modulate only) */
    uint64_t ws_ow;                           /* float*, [n_splits, C, F] workspace */
    uint64_t e;                               /* embedding width E */
    uint64_t f;                               /* FFN width F */
    uint64_t c;                               /* channels C */
    uint64_t l;                               /* positions L >= 1 */
    uint64_t n_layers;                        /* 1..=HYENA_FILTER_MAX_LAYERS */
    uint64_t modulate;                        /* 0 or 1 */
    double shift;                             /* modulation shift */
    uint64_t tiles_per_block;                 /* kernel c: tiles of 32 positions per block */
    uint64_t n_blocks;                        /* blocks of kernel c over all chunks: ceil(ceil(L/32) / tiles_per_block) */
    uint64_t n_splits;                        /* rows of ws_ow */
    uint64_t ld;                              /* leading dimension of the chunk workspaces (>= chunk_len) */
    uint64_t l_off;                           /* first position of the chunk (a multiple of 32*tiles_per_block) */
    uint64_t chunk_len;                       /* positions in the chunk, >= 1 */
    uint64_t block0;                          /* global index of kernel c's first block in the chunk */
    uint64_t pre_in;                          /* const double*, [n_layers, F, L]: the forward's pre_out
                                                 (kernel c reads pre_i instead of recomputing them), or 0 */
} HyenaFilterBwdParams;

/* ---- tensor-core DFT (kernels/tcdft.cu) ---------------------------------------------------- */

/* Batched complex DFT of length 256 on tensor cores: y[b][k] = Σ_n x[b][n]·e^{-2πi·nk/256}
 * (unnormalised, rustfft's forward). Kernel: hyena_tc_dft256_f32. */
typedef struct HyenaTcDftParams {
    uint64_t x;     /* const float*, [batch][256][2]: complex input, (re, im) interleaved */
    uint64_t y;     /* float*, [batch][256][2]: the transform, same layout */
    uint64_t batch; /* number of transforms */
    uint64_t split; /* 0: operands rounded once to tf32 (1xTF32); 1: 3xTF32 (a = hi + lo, 3 products); unused by the f16 kernel */
} HyenaTcDftParams;

/* Causal convolution of real rows of 8192 points on tensor cores (prototype): s[r] = (h_c ∗ a[r])
 * restricted to its first 8192 points, c = r mod channels, through per-channel bin-pair
 * coefficients (cpu::tcdft::conv8192_coefficients). Kernel: hyena_tc_conv8192_f16mma_f32. */
typedef struct HyenaTcConvParams {
    uint64_t a;        /* const float*, [rows][8192]: the rows (zero padded to 16384 by the kernel) */
    uint64_t coef;     /* const __half*, [channels][8192][4]: (A re, A im, B re, B im)·2^s_c of each bin, the four-step order */
    uint64_t scale;    /* const float*, [channels]: 2^-s_c, the power of two that takes channel c's coefficients back */
    uint64_t s;        /* float*, [rows][8192]: the convolution's first 8192 points */
    uint64_t rows;     /* rows, < 2^32 */
    uint64_t channels; /* filters, >= 1: row r uses channel r mod channels */
} HyenaTcConvParams;

#endif /* HYENA_PARAMS_H */
