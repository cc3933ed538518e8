// filter.cu: the implicit long filter of Hyena (safari HyenaFilter), forward and backward.
//
//   a_0 = z[l, :E]
//   pre_i = a_i W_i^T + b_i,  a_{i+1} = sin(freq * pre_i)          i = 0..n_layers-1   (fp64)
//   h[c, l] = (sum_f OW[c, f] a_n[l, f]) * win[c, l]                                    (fp32)
//   win[c, l] = exp(-t[l] |deltas[c]|) + shift   (modulate), 1 otherwise
//
// Layouts: z [l_max, E] (rows < L used), t [l_max], W_i [F, in_i] (in_0 = E, else F), b_i [F],
// freq [F], OW [C, F], deltas [C], h and grad_h channel-major [C, L] (the FFT rows). Storage T in
// {float, bf16, fp16}; every stored value is converted exactly to fp32/fp64 on load and rounded
// once (to nearest even) on store.
//
// Precision: the hidden layers (linear pre-activation, sin, and their backward) run in fp64: the
// phase freq*pre reaches 10-100 for trained filters, so an fp32 pre-activation would put a ~1e-5
// phase error into every tap (the CPU reference does the same). The output layer and the
// modulation run in fp32 (the reductions over F or 32-channel chunks in fp32, chunk sums added in
// fp64).
//
// Threads: the forward 512 or 1024, backward kernel 1 512, the others 256; lane = position in a
// tile, so h / grad_h / ws_a / z accesses are coalesced rows. Positions >= L in the last tile
// compute with z = 0 and grad_h = 0, so they contribute exact zeros, and are never stored.
//
// Forward (hyena_filter_fwd_*): block (x, y) of one or two 16-warp groups takes the 64 positions of
// tile x (lane and lane + 32 in the hidden layers), its groups the channel chunks of the output
// layer in turn (the host splits the channels over more groups only while the tiles alone leave SMs
// short of two groups: L < 16K at F = 64; two groups share a block's hidden layers, blocks along y
// repeat them). Per hidden layer the block stages W_i in fp64 (stage_w: one conversion per weight
// per block), 16 warps compute 16 features x 16 positions each on fp64 tensor cores (hidden_mma:
// per 4 inputs, four fragment loads feed four DMMAs), then the sine in place; the
// pre-activations also into pre_out when asked (the backward's). The output layer runs on tensor
// cores: a_n is split once per block into tf32 hi + lo MMA fragments in shared memory (stage_b); a
// warp takes an M tile of 16 channels x 4 N tiles, reads out_weight from L1/L2, and per 8 features
// issues one 16-byte fragment load and three m16n8k8 tf32 MMAs (3xTF32: f32-level accuracy; two for
// 2-byte storage, whose out_weight is exact in tf32, read as 8-byte pieces) per 8 positions; then the window (one expf per element: t and deltas are stored values, no table
// or recurrence gives exp(-t|delta|) exactly) and one 2-element store per channel and 8
// positions. Dynamic shared memory: two [max(E, pad8(F))][FLD = 68] fp64 tile buffers (the
// fragments reuse one) + F * (pad8(max(E, F)) + 4) doubles of staged hidden weight.
// Cost per position: 2 * (E*F + (n-1)*F^2) fp64 FLOPs + n*F fp64 sin, 2*C*F fp32 FLOPs, C expf;
// bytes: E*sizeof(T) read, C*sizeof(T) written.
//
// Backward (deterministic: fixed work assignment, in-order sums, no atomics). The two products of
// the output layer are GEMMs (cuBLAS on a GPU, the CPU GEMM in the simulator; operands in the
// storage type T, fp32 accumulation and output: 16-bit operands on tensor cores at their own rate),
// the rest is here. Positions go in chunks of at most ld positions (32768, or one kernel-1 block's
// span if larger), each chunk in stream order:
//   a. hyena_filter_bwd_gout_* (modulate only): gout[c, i] = grad_h * win (T, [C, ld]); without
//      modulation the GEMMs read grad_h itself (gout = grad_h exactly): no launch, no copy.
//   b. GEMM: g_n[f, i] = sum_c OW[c, f] gout[c, i] -> ws_g [F, ld] (K = C terms, fp32).
//   c. hyena_filter_bwd_*: block g takes tiles [g*T, (g+1)*T) of the chunk. Per tile: pre_i from the
//      forward's pre_out, or recomputed (in shared, fp64); a_n (T) into ws_a; g_n from ws_g; then
//      for i = n-1..0: gs = g_i * cos(freq*pre_i), gpre = gs*freq, d freq += sum_p gs*pre_i,
//      d b_i += sum_p gpre, d W_i[j, k] += sum_p gpre[j, p] a_i[k, p], g_{i-1} = gpre W_i (layer 0:
//      grad_z rows of the tile). Tiles of TP = 32 positions, buffers [feature][TPS], TPS = 36 (16-byte
//      aligned position pairs; 4 mod 16 doubles, so that the fp64 MMA fragment loads take one
//      wavefront per phase). 16 warps per block: the block's shared memory (below) admits two
//      blocks per SM, and 512 threads at <= 64 registers (no spills) let both run, 32 resident
//      warps per SM where 8-warp blocks (118 registers) had 16. The layer's weight is staged in
//      fp32 in its own layout (stage_w); the recompute (hidden_mma, as the forward),
//      g_{i-1} = gpre W_i (gin_mma, the weight read transposed) and d W_i = [F, 32] x [32, in]
//      (dw_mma) run on fp64 tensor cores (mma.m8n8k4.f64). The parameter sums of a tile are fp64
//      (warp shuffle trees / the MMA's sums) and are added to the block's fp32 accumulator
//      ws[g, :P] (global, one owner thread per entry). Shared: (n + 2)*max(E, F)
//      * 36 doubles (n slots of pre_i, each reused for the gradient w.r.t. layer i's input once
//      pre_i is dead; the layer input; the output layer's gradient) + the staged weight
//      in fp32, exact for every storage type (max(max(E, F) * (pad8(F) + 4), F * (pad8(max(E, F)) + 4))
//      floats): 107 KiB at E <= F = 64, n = 3 (safari's num_inner_mlps = 2), i.e.
//      two 16-warp blocks per SM on sm_90 (32 warps; one 8-warp block before), where the latency
//      of these dependent fp64 chains bounds the kernel (docs/GPU_MODEL.md: 2.0 warps per
//      scheduler and 24 % issue-active measured with one block per SM).
//   d. GEMM, strided-batched over splits of S positions: ws_ow[s, c, f] = sum_{p in split s}
//      gout[c, p] a_n[f, p] (d OW's partial sums; a shorter last split is its own GEMM).
//   Then hyena_filter_bwd_reduce_*: entry-wise fp64 sums over blocks / splits in order -> T.
//   Accuracy of these sums over L (fp32 running sums of K terms: error <= K·u·sum|terms| worst
//   case, ~sqrt(K)·u typical, u = 2^-24): a tile's sums are fp64; a block adds tiles_per_block
//   (a power of two >= L / (32·1024), 32 at L = 2^20) of them into its fp32 accumulator; the
//   g_n GEMM sums K = C products (768: <= 4.6e-5 worst, ~1.7e-6 typical); d OW's split GEMMs sum
//   S = max(1024, L/256 rounded up to a power of two) products (1024 up to L = 256K: <= 6.1e-5
//   worst, ~1.9e-6 typical; 4096 at L = 2^20), and the <= 256 split partials add in fp64.
//
// ptxas (sm_90, CUDA 13.0): no spills; the 40-byte stack frame of the fwd/bwd kernels is the local
// array of CUDA's fp64 sin/cos argument reduction slow path (huge arguments only).
#include <cuda_fp16.h>
#include <cuda_bf16.h>
#include "common.cuh"
#include "hyena_params.h"
#include "mma.cuh"

namespace hyena_filter {

using hyena::to_f32;
using hyena::from_f32;
using hyena::store2;
using hyena::aligned2;

// Threads per block of the gout and reduce kernels (the host's launch), positions per backward
// tile (= warp size: lane = position).
#define HYENA_FILTER_BLOCK 256
// Threads of the forward (hyena_filter_fwd_*: at most; the host launches 1024 where a tile's
// channels split over blocks, else 512) and of backward kernel 1 (hyena_filter_bwd_*: 16 warps,
// two blocks per SM; see fwd and bwd_main).
#define HYENA_FILTER_FWD_BLOCK 1024
#define HYENA_FILTER_BWD_BLOCK 512
#define HYENA_FILTER_TP 32
#define HYENA_FILTER_TPS 36
// Channels per chunk of the output-layer backward (kernel 1's grad_h staging and kernel 2).
#define HYENA_FILTER_CB 32

constexpr int TP = HYENA_FILTER_TP;
constexpr int TPS = HYENA_FILTER_TPS;
constexpr int CB = HYENA_FILTER_CB;
constexpr int FWD_NW = HYENA_FILTER_FWD_BLOCK / 32;  // the forward's most warps
constexpr int BWD_NW = HYENA_FILTER_BWD_BLOCK / 32;

template <typename T> __device__ inline double ld64(const T* p, uint64_t i) { return (double)to_f32<T>(p[i]); }
template <typename T> __device__ inline float ld32(const T* p, uint64_t i) { return to_f32<T>(p[i]); }

// exp(-t|delta|) + shift from nd = -|delta| (t·(-|d|) = -t·|d| exactly): the modulation of a
// channel whose delta is loaded once.
__device__ inline float decay(float tl, float nd, float shift) { return expf(tl * nd) + shift; }

// Modulation window of channel c at time tl (fp32).
template <typename T>
__device__ inline float window(const T* __restrict__ deltas, uint64_t c, float tl, int modulate, float shift) {
    if (!modulate) return 1.0f;
    return decay(tl, -fabsf(to_f32<T>(deltas[c])), shift);
}

// Entry i of a params pointer array, without dynamic indexing (which would copy the array to
// local memory).
__device__ inline uint64_t pick(const uint64_t (&a)[HYENA_FILTER_MAX_LAYERS], int i) {
    static_assert(HYENA_FILTER_MAX_LAYERS == 4, "pick() lists every layer");
    return i == 0 ? a[0] : i == 1 ? a[1] : i == 2 ? a[2] : a[3];
}

// Input width of hidden layer i.
__device__ inline int in_width(int i, int E, int F) { return i == 0 ? E : F; }

// Load the tile's z rows into buf[k][p] (fp64, zeros for positions >= L): coalesced reads.
template <typename T>
__device__ inline void load_z(const T* __restrict__ z, uint64_t l0, uint64_t L, int E, double* buf) {
    for (int idx = threadIdx.x; idx < E * TP; idx += blockDim.x) {
        const int p = idx / E, k = idx % E;
        const uint64_t l = l0 + p;
        buf[k * TPS + p] = l < L ? ld64<T>(z, l * E + k) : 0.0;
    }
}

// Deterministic warp sum (butterfly: every lane ends with the same value, same order every time).
__device__ inline double warp_sum(double v) {
#pragma unroll
    for (int o = 16; o > 0; o /= 2) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

// ---- forward ---------------------------------------------------------------------------------

// Rounds F up to whole groups of 8 features (the MMA tiles of the hidden layers).
__device__ inline int pad8(int F) { return (F + 7) & ~7; }

// Row stride of a staged weight with `in` inputs, in elements of either type: KP = pad8(in) + 4 =
// 4 (mod 8), so that a row start stays 16-byte aligned and the 8 (fp32) or 4 (fp64, per half-warp
// phase) rows of an MMA fragment load fall in distinct banks (hidden_mma, gin_mma). The backward
// stages fp32: every stored weight is a value of T (fp32 at most), exact in fp32, and widened to
// fp64 on load (half the bytes: the block's shared memory fits two per SM); the forward fp64.
__device__ inline int wrow(int in) { return pad8(in) + 4; }

// Four consecutive staged weights at a 16-byte aligned address: one 16-byte store (fp32), two (fp64).
__device__ inline void store4(float* d, const float (&v)[4]) { *reinterpret_cast<float4*>(d) = make_float4(v[0], v[1], v[2], v[3]); }
__device__ inline void store4(double* d, const double (&v)[4]) {
    reinterpret_cast<double2*>(d)[0] = make_double2(v[0], v[1]);
    reinterpret_cast<double2*>(d)[1] = make_double2(v[2], v[3]);
}

// Four consecutive values of T (8 bytes for a 2-byte T, 16 for fp32), one aligned load.
template <typename T> struct alignas(4 * sizeof(T)) Four {
    T v[4];
};

// ws[j * KP + k] = W[j, k] (type Wt), KP = wrow(in), zeros for k in [in, pad8(in)): the
// weight in its own layout, the A operand of hidden_mma and (read transposed) of gin_mma.
// Warp w takes rows j = w, w + NW, ..., lane the inputs k = 4·lane .. 4·lane + 3 (one 4-element
// load, one or two 16-byte stores) where every row's pieces are aligned (in a multiple of 4, W
// aligned to 4 elements; warp-uniform), else k = lane, lane + 32, ... one element each. No
// division by the runtime width per entry (the flat index's division was ~7 % of the backward's
// warp-instructions at L = 8K, model; one element per lane ~12 %: the backward stages every layer
// per 32-position tile).
template <typename T, typename Wt>
__device__ inline void stage_w(const T* __restrict__ W, int in, int F, Wt* ws) {
    const int K8 = pad8(in), KP = wrow(in), lane = threadIdx.x % 32, nw = blockDim.x / 32;
    if (in % 4 == 0 && (reinterpret_cast<uintptr_t>(W) & (4 * sizeof(T) - 1)) == 0) {
        const int q = in / 4, q8 = K8 / 4;
#pragma unroll 1
        for (int j = threadIdx.x / 32; j < F; j += nw) {
            const Four<T>* __restrict__ row = reinterpret_cast<const Four<T>*>(W + (uint64_t)j * in);
#pragma unroll 1
            for (int c = lane; c < q8; c += 32) {
                Wt v[4] = {(Wt)0.0, (Wt)0.0, (Wt)0.0, (Wt)0.0};
                if (c < q) {
                    const Four<T> x = row[c];
#pragma unroll
                    for (int i = 0; i < 4; ++i) v[i] = (Wt)to_f32<T>(x.v[i]);
                }
                store4(ws + j * KP + 4 * c, v);
            }
        }
        return;
    }
#pragma unroll 1
    for (int j = threadIdx.x / 32; j < F; j += nw) {
        const T* __restrict__ row = W + (uint64_t)j * in;
#pragma unroll 1
        for (int k = lane; k < K8; k += 32) {
            ws[j * KP + k] = k < in ? (Wt)ld64<T>(row, (uint64_t)k) : (Wt)0.0;
        }
    }
}

// The linear part of a hidden layer on fp64 tensor cores (mma.m8n8k4.f64, DMMA: 256 fused
// multiply-adds per warp instruction where a DFMA does 32; the fragment layout in mma.cuh):
// pre[j][p] = b[j] + sum_k W[j, k] x[k][p] for j < F and the N positions of a tile (fp64, b first
// then k in k-step order, four per DMMA; b may be null), x and pre rows of stride ld doubles. W
// from the staged ws[j * KP + k] (stage_w: KP = wrow(in), zeros for k in [in, pad8(in))).
// Warp w takes blocks of 2 x 2 tiles of 8 x 8 (features j0 .. j0 + 15, positions n0 .. n0 + 15);
// per k-step two A (weight) and two B (x) fragment loads feed four DMMAs. Banks: A's rows are
// KP = 8m + 4 elements apart, B's ld (36 or 68 doubles, 4 mod 16): the lanes of a phase read
// distinct banks (one wavefront). Rows j >= F read row F - 1 and are never stored; a k-step past
// `in` takes the staged zeros for A and zeros for B (x's rows past `in` may hold anything).
// The register-tiled DFMA version (4 x 4 per thread on 256 threads) was 28 % of the forward's
// warp-instructions at L = 8K (model, docs/GPU_MODEL.md).
template <typename T, int N, typename Wt>
__device__ inline void hidden_mma(const Wt* ws, const T* __restrict__ b, int in, int F, const double* x, int ld, double* pre) {
    static_assert(N % 16 == 0, "hidden_mma: whole 16-position blocks");
    constexpr int NB = N / 16;
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, nw = blockDim.x / 32;
    const int gq = lane >> 2, t = lane & 3;
    const int KP = wrow(in);
    const int nblk = ((F + 15) / 16) * NB;
#pragma unroll 1
    for (int blk = warp; blk < nblk; blk += nw) {
        const int j0 = (blk / NB) * 16, n0 = (blk % NB) * 16;
        const Wt* wr[2];
        double d[2][2][2];
#pragma unroll
        for (int h = 0; h < 2; ++h) {
            const int j = j0 + 8 * h + gq;
            wr[h] = ws + (j < F ? j : F - 1) * KP + t;
            const double bj = b && j < F ? ld64<T>(b, j) : 0.0;
            d[h][0][0] = d[h][0][1] = d[h][1][0] = d[h][1][1] = bj;
        }
        const double* xk = x + t * ld + n0 + gq;
        int kk = 0;
#pragma unroll 2
        for (; kk + 4 <= in; kk += 4, xk += 4 * ld) {
            const double a0 = (double)wr[0][kk], a1 = (double)wr[1][kk], b0 = xk[0], b1 = xk[8];
            hyena::mma_m8n8k4_f64(d[0][0], a0, b0, d[0][0]);
            hyena::mma_m8n8k4_f64(d[0][1], a0, b1, d[0][1]);
            hyena::mma_m8n8k4_f64(d[1][0], a1, b0, d[1][0]);
            hyena::mma_m8n8k4_f64(d[1][1], a1, b1, d[1][1]);
        }
        if (kk < in) {
            const bool live = kk + t < in;
            const double* xr = x + (live ? kk + t : in - 1) * ld + n0 + gq;
            const double a0 = (double)wr[0][kk], a1 = (double)wr[1][kk];
            const double b0 = live ? xr[0] : 0.0, b1 = live ? xr[8] : 0.0;
            hyena::mma_m8n8k4_f64(d[0][0], a0, b0, d[0][0]);
            hyena::mma_m8n8k4_f64(d[0][1], a0, b1, d[0][1]);
            hyena::mma_m8n8k4_f64(d[1][0], a1, b0, d[1][0]);
            hyena::mma_m8n8k4_f64(d[1][1], a1, b1, d[1][1]);
        }
#pragma unroll
        for (int mi = 0; mi < 2; ++mi) {
            const int j = j0 + 8 * mi + gq;
            if (j < F) {
#pragma unroll
                for (int ni = 0; ni < 2; ++ni)
                    *reinterpret_cast<double2*>(pre + j * ld + n0 + 8 * ni + 2 * t) = make_double2(d[mi][ni][0], d[mi][ni][1]);
            }
        }
    }
}

// act[j][p] = sin(freq[j] pre[j][p]) (fp64) into act64 (row stride ld), or if that is null into
// act32 (type A: fp32, or the storage type for the backward's GEMM operand; row stride lda) for
// positions p < n_valid only; act64 may be pre itself (each entry
// is read and written by one thread). With pg, each pre-activation read is also stored to
// pg[j * pld + p] for p < pg_valid (the forward's pre_out, fp64, for the backward: a separate pass
// over the tile cost ~19 % of the forward's warp-instructions at L = 8K, model). One sine call
// site per position (compile time). Warp w of NW (a power of two, 8 to 64) takes groups of
// 64 / NW consecutive features.
template <typename T, int NP, typename A = float>
__device__ inline void hidden_sin(const T* __restrict__ freq, int F, int ld, const double* pre, double* act64,
                                  A* act32, uint64_t lda, int n_valid, int NW, double* __restrict__ pg = nullptr,
                                  uint64_t pld = 0, int pg_valid = 0) {
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    const int F8 = pad8(F);
    const int G = 64 / NW;
    for (int j0 = warp * G; j0 < F8; j0 += G * NW) {
        const int j1 = j0 + G < F ? j0 + G : F;
        for (int j = j0; j < j1; ++j) {
            const double fr = ld64<T>(freq, j);
#pragma unroll 1
            for (int m = 0; m < NP; ++m) {
                const int q = lane + 32 * m;
                const double x = pre[j * ld + q];
                if (pg && q < pg_valid) pg[j * pld + q] = x;
                const double s = sin(fr * x);
                if (act64) act64[j * ld + q] = s;
                else if (q < n_valid) act32[j * lda + q] = hyena::from_f32<A>((float)s);
            }
        }
    }
}

// The forward's output layer on tensor cores: h[c][q] = sum_f OW[c, f] a_n[f][q], the product
// OW [C, F] x a_n [F, FTP] by mma.sync m16n8k8 tf32 in 3xTF32 (each operand split hi + lo, three
// MMAs per tile: f32-level accuracy, docs/GPU_MODEL.md "The filter forward's output layer on
// tensor cores"). Channels in chunks of OCH = MT x 16 (MT = 8 M tiles), the tile's FTP positions
// as NT = 8 N tiles of 8, the features as KS = ceil(F / 8) K steps (zeros past F). Warp w takes
// M tile w % MT (channels cb + 16(w % MT) ..) and the NTW = 4 N tiles of half (w / MT) % 2, in the
// chunks of its group of 16 warps (w / 16: the block's two groups take alternate chunks). Per K
// step and warp: 4 out_weight loads (L1/L2), one split, then per N tile one 16-byte shared load
// and 3 MMAs (2-byte storage: per two K steps two 8-byte loads, no split, 2 MMAs per tile, the K
// order permuted so that a lane's values of a row are consecutive: stage_b): 1024 products per MMA, where the f32 register tiles took 32 per FMA (the FMAs were
// ~40 % of the forward's issue slots at 64K). (Two warps per M tile repeat its loads and split:
// the price of 16 warps per chunk at <= 64 registers; a row of N tiles per warp holds 32
// accumulators.)
#define HYENA_FILTER_OCH 128
constexpr int OCH = HYENA_FILTER_OCH;
// Positions per forward block: two per lane (lane and lane + 32), rows of the tile buffers.
#define HYENA_FILTER_FTP 64
constexpr int FTP = HYENA_FILTER_FTP;
// Row stride of the forward's fp64 tile buffers: FTP + 4 doubles (4 mod 16: the B fragment rows of
// hidden_mma in distinct banks; at 64 the four rows of a phase shared one bank, 4-way conflicts).
// The last activation (fp32, stage_b's input) keeps rows of FTP floats.
#define HYENA_FILTER_FLD 68
constexpr int FLD = HYENA_FILTER_FLD;
constexpr int NT = FTP / 8;
constexpr int MT = OCH / 16;
// N tiles per warp of a group of 16 warps (a forward block has one or two groups, each taking its
// own chunks of the output layer).
constexpr int NTW = NT * MT / 16;
static_assert(NTW * 16 == NT * MT && NT % NTW == 0 && FWD_NW % 16 == 0, "the forward's warps share the M x N tiles evenly");

// The B operand (a_n: [F][FTP] f32 at a) in fragment order, split once per block: entry
// (ks, nt, lane) = {hi(b0), hi(b1), lo(b0), lo(b1)}, b_r = a_n[k(ks, t + 4r)][8nt + g]
// (g = lane / 4, t = lane % 4; 0 past F) at bf[(ks·NT + nt)·32 + lane], so a warp's 16-byte loads
// in the compute loop are 512 consecutive bytes (no bank conflict). Warp w builds N tile w % NT,
// its K steps w / NT, w / NT + warps / NT, ... The feature k(ks, j) of column j of K step ks:
// 8ks + j; with `packed` (2-byte storage, see fwd's output layer) and `vec4` (F a multiple of 16)
// 16·(ks / 2) + 4·(j % 4) + 2·(ks % 2) + j / 4, so that the A values of K steps 2q, 2q + 1 in lanes
// t = 0 .. 3 are features 16q .. 16q + 15 of a row, 4 consecutive per lane (one 32-byte sector per
// row and request); packed without vec4 2KS·(j % 4) + 2ks + j / 4 (lane t's values over all KS
// steps are the 2KS consecutive features from 2KS·t, any KS).
__device__ inline void stage_b(const float* a, int F, uint4* bf, bool packed, bool vec4) {
    const int nw = blockDim.x / 32;  // a multiple of NT (the host launches 512 or 1024 threads)
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, nt = warp % NT, g = lane >> 2, t = lane & 3;
    const int KS = (F + 7) / 8;
#pragma unroll 1
    for (int ks = warp / NT; ks < KS; ks += nw / NT) {
        const int f0 = !packed ? 8 * ks + t : vec4 ? 16 * (ks / 2) + 4 * t + 2 * (ks % 2) : 2 * KS * t + 2 * ks;
        const int f1 = packed ? f0 + 1 : f0 + 4;
        const float b0 = f0 < F ? a[f0 * FTP + 8 * nt + g] : 0.0f;
        const float b1 = f1 < F ? a[f1 * FTP + 8 * nt + g] : 0.0f;
        uint4 v;
        hyena::split_tf32(b0, v.x, v.z);
        hyena::split_tf32(b1, v.y, v.w);
        bf[(ks * NT + nt) * 32 + lane] = v;
    }
}

// Four consecutive values of T (8 bytes for a 2-byte T): the packed A values r[f .. f + 3], one
// 8-byte load when `vec` (the caller's test: all four in range and aligned), else element loads
// with 0 past F.
template <typename T> __device__ inline Four<T> load_four(const T* __restrict__ r, int f, int F, bool vec) {
    if (vec) return *reinterpret_cast<const Four<T>*>(r + f);
    Four<T> x;
#pragma unroll
    for (int k = 0; k < 4; ++k) x.v[k] = f + k < F ? r[f + k] : from_f32<T>(0.0f);
    return x;
}

// The output layer's A values of features f and f + 4 for the rows at r0 and r1 (out_weight rows
// g and g + 8 of the warp's M tile): an = {r0[f], r1[f], r0[f + 4], r1[f + 4]}, 0 past F. Every
// load at a valid address (feature F - 1 past F, then a select), so the loads of the step after
// the last are harmless; no branch (the simulator counts a line per host basic block starting on
// it: docs/GPU_MODEL.md). The caller points a row past C at row 0: that row's outputs are never
// stored, and rows do not mix in the MMA.
template <typename T>
__device__ inline void load_a(const T* __restrict__ r0, const T* __restrict__ r1, int f, int F, float (&an)[4]) {
    const int fa = f < F ? f : F - 1, fb = f + 4 < F ? f + 4 : F - 1;
    const float x0 = ld32<T>(r0, fa);
    const float x1 = ld32<T>(r1, fa);
    const float x2 = ld32<T>(r0, fb);
    const float x3 = ld32<T>(r1, fb);
    const bool in0 = f < F, in1 = f + 4 < F;
    // The four selects on one line: on four, the host compiler merged the second into the first's
    // block, and its count (once per chunk) bounded the K-step loop in the estimate.
    an[0] = in0 ? x0 : 0.0f, an[1] = in0 ? x1 : 0.0f, an[2] = in1 ? x2 : 0.0f, an[3] = in1 ? x3 : 0.0f;
}

template <typename T> __device__ inline void fwd(const HyenaFilterFwdParams p) {
    const int E = (int)p.e, F = (int)p.f, C = (int)p.c, n = (int)p.n_layers;
    const int D = E > pad8(F) ? E : pad8(F);
    const uint64_t L = p.l;
    HYENA_DYN_SHARED(double, smem);
    double* bufA = smem;              // [D][FLD]: z, then the activations of even layers' inputs
    double* bufB = bufA + D * FLD;    // [D][FLD]
    double* ws = bufB + D * FLD;      // [F][pad8(in) + 4] fp64 weights (stage_w)
    const uint64_t l0 = (uint64_t)blockIdx.x * FTP;
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    const int nw = blockDim.x / 32;  // 16 or 32 warps (the host: 32 where a tile's chunks split)

    // The bias broadcasts given to this launch (the operator's projections), over all of its
    // threads before the filter's work: DRAM-bound stores beside a latency-bound kernel.
    // (The host keeps the launch's threads below 2^31: 32-bit indices.)
    {
        const uint32_t nt = gridDim.x * gridDim.y * blockDim.x;
        const uint32_t tid = (blockIdx.y * gridDim.x + blockIdx.x) * blockDim.x + threadIdx.x;
#pragma unroll 1
        for (int j = 0; j < 2; ++j)
            if (p.fill[j].out) hyena::bias_fill<T>(p.fill[j], tid, nt);
    }

    const T* __restrict__ z = reinterpret_cast<const T*>(p.z);
    for (int idx = threadIdx.x; idx < E * FTP; idx += blockDim.x) {
        const int q = idx / E, k = idx % E;
        const uint64_t l = l0 + q;
        bufA[k * FLD + q] = l < L ? ld64<T>(z, l * E + k) : 0.0;
    }
    const T* freq = reinterpret_cast<const T*>(p.freq);
    for (int i = 0; i < n; ++i) {
        __syncthreads();  // the previous layer's reads of ws are done (and z is loaded)
        stage_w<T, double>(reinterpret_cast<const T*>(pick(p.w, i)), in_width(i, E, F), F, ws);
        __syncthreads();
        double* x = i % 2 == 0 ? bufA : bufB;
        double* y = i % 2 == 0 ? bufB : bufA;
        hidden_mma<T, FTP, double>(ws, reinterpret_cast<const T*>(pick(p.b, i)), in_width(i, E, F), F, x, FLD, y);
        // Hidden activations in place; the last one (fp32) into x, whose reads are done. One call
        // site (each inlined fp64 sine costs compile time). pre_i also into pre_out for the
        // backward when asked (by the blocks of y = 0: the others compute the same values).
        const bool last = i + 1 == n;
        __syncthreads();
        double* pg = p.pre_out && blockIdx.y == 0 ? reinterpret_cast<double*>(p.pre_out) + (uint64_t)i * F * L + l0 : nullptr;
        const int nv = L - l0 < (uint64_t)FTP ? (int)(L - l0) : FTP;
        hidden_sin<T, 2>(freq, F, FLD, y, last ? nullptr : y, last ? reinterpret_cast<float*>(x) : nullptr, FTP, FTP, nw, pg, L, nv);
    }
    // The last activation a_n [F][FTP] fp32 is in the buffer the last layer read; its
    // pre-activations (the other buffer) are dead: the B fragments go there.
    const float* alast = reinterpret_cast<const float*>(n % 2 == 1 ? bufA : bufB);
    uint4* bfrag = reinterpret_cast<uint4*>(n % 2 == 1 ? bufB : bufA);
    // out_weight of a 2-byte T is exact in tf32 (mma_m16n8k8_2xtf32): no split, two MMAs per tile,
    // and the packed K orders of stage_b's, so that a lane reads its A values of a row as 4-value
    // pieces (8-byte loads, a warp's 4 lanes of a row one sector, where F is a multiple of 16 and
    // out_weight 8-byte aligned: uniform).
    constexpr bool A_EXACT = sizeof(T) == 2;
    const bool vec4 = F % 16 == 0 && p.out_weight % 8 == 0;
    __syncthreads();
    stage_b(alast, F, bfrag, A_EXACT, vec4);
    __syncthreads();

    // Output layer + modulation. Lane (g, t) = (lane / 4, lane % 4) holds, per N tile nt = n1 + i
    // of the warp's half (i < NTW), the accumulators of channels c0 = cb + 16(w % MT) + g (d[0],
    // d[1]) and c1 = c0 + 8 (d[2], d[3]) at positions 8nt + 2t and 8nt + 2t + 1 (the m16n8 D
    // fragment). Group u of block (x, y) takes the chunks s, s + S, ... with s = y·groups + u
    // and S = gridDim.y·groups (the host splits the channels over gridDim.y while the tiles
    // alone leave SMs idle; each output is computed by one warp in the same order whatever the
    // split: same bits). No barrier inside the chunk loop: a warp reads only its own out_weight rows.
    const T* __restrict__ ow = reinterpret_cast<const T*>(p.out_weight);
    const T* __restrict__ deltas = reinterpret_cast<const T*>(p.deltas);
    const T* __restrict__ tt = reinterpret_cast<const T*>(p.t);
    T* __restrict__ h = reinterpret_cast<T*>(p.h);
    const float shift = (float)p.shift;
    const int modulate = (int)p.modulate;
    const int g = lane >> 2, t = lane & 3;
    const int KS = (F + 7) / 8;
    const int mt = warp % MT, n1 = warp / MT % (NT / NTW) * NTW, grp = warp / 16, groups = nw / 16;
    float tl[NTW][2];
#pragma unroll
    for (int nt = 0; nt < NTW; ++nt)
#pragma unroll
        for (int i = 0; i < 2; ++i) {
            const uint64_t l = l0 + 8 * (n1 + nt) + 2 * t + i;
            tl[nt][i] = l < L ? to_f32<T>(tt[l]) : 0.0f;
        }
    const uint4* bp = bfrag + n1 * 32 + lane;
    const int chunks = (C + OCH - 1) / OCH;
    for (int ck = blockIdx.y * groups + grp; ck < chunks; ck += gridDim.y * groups) {
        const int m0 = ck * OCH + 16 * mt;
        if (m0 >= C) continue;  // the warp's whole M tile is past C (warp-uniform)
        const int c0 = m0 + g, c1 = c0 + 8;
        const T* __restrict__ r0 = ow + (uint64_t)(c0 < C ? c0 : 0) * F;
        const T* __restrict__ r1 = ow + (uint64_t)(c1 < C ? c1 : 0) * F;
        float acc[NTW][4];
#pragma unroll
        for (int nt = 0; nt < NTW; ++nt)
#pragma unroll
            for (int i = 0; i < 4; ++i) acc[nt][i] = 0.0f;
        if constexpr (A_EXACT) {
            // Piece q of lane t: features 16q + 4t .. + 3 (vec4), else 2KS·t + 4q .. + 3, of rows c0
            // and c1 (0 past F): K steps 2q, 2q + 1 take its element pairs (0, 1), (2, 3) as columns
            // t, t + 4 (stage_b's order).
#pragma unroll 1
            for (int q = 0; 2 * q < KS; ++q) {
                const int f = vec4 ? 16 * q + 4 * t : 2 * KS * t + 4 * q;
                const Four<T> w0 = load_four<T>(r0, f, F, vec4), w1 = load_four<T>(r1, f, F, vec4);
#pragma unroll
                for (int i = 0; i < 2; ++i) {
                    if (2 * q + i == KS) break;  // odd KS: the last piece's second step is past the K steps
                    const uint32_t ahi[4] = {__float_as_uint(to_f32<T>(w0.v[2 * i])), __float_as_uint(to_f32<T>(w1.v[2 * i])),
                                             __float_as_uint(to_f32<T>(w0.v[2 * i + 1])), __float_as_uint(to_f32<T>(w1.v[2 * i + 1]))};
#pragma unroll
                    for (int nt = 0; nt < NTW; ++nt) {
                        const uint4 b = bp[((2 * q + i) * NT + nt) * 32];
                        const uint32_t bhi[2] = {b.x, b.y}, blo[2] = {b.z, b.w};
                        hyena::mma_m16n8k8_2xtf32(acc[nt], ahi, bhi, blo);
                    }
                }
            }
        }
        float an[4];
        if constexpr (!A_EXACT) load_a<T>(r0, r1, t, F, an);
#pragma unroll 1
        for (int ks = 0; !A_EXACT && ks < KS; ++ks) {
            uint32_t ahi[4], alo[4];
#pragma unroll
            for (int r = 0; r < 4; ++r) hyena::split_tf32(an[r], ahi[r], alo[r]);
            load_a<T>(r0, r1, 8 * ks + 8 + t, F, an);  // the next step's, in flight during the MMAs
#pragma unroll
            for (int nt = 0; nt < NTW; ++nt) {
                const uint4 b = bp[(ks * NT + nt) * 32];
                const uint32_t bhi[2] = {b.x, b.y}, blo[2] = {b.z, b.w};
                hyena::mma_m16n8k8_3xtf32(acc[nt], ahi, alo, bhi, blo);
            }
        }
        // Window and store, row by row: the window (decay) with the channel's delta loaded once;
        // `modulate` is uniform, tested once per row (a test per element was a branch around
        // every exponential). One 2-element store per N tile where both positions are in range
        // and aligned (c·L + l ≡ 0 mod 2), else element stores.
#pragma unroll
        for (int rr = 0; rr < 2; ++rr) {
            const int c = rr == 0 ? c0 : c1;
            if (c >= C) continue;
            float win[NTW][2];
            if (modulate) {
                const float nd = -fabsf(to_f32<T>(deltas[c]));
#pragma unroll
                for (int nt = 0; nt < NTW; ++nt)
#pragma unroll
                    for (int i = 0; i < 2; ++i) win[nt][i] = decay(tl[nt][i], nd, shift);
            } else {
#pragma unroll
                for (int nt = 0; nt < NTW; ++nt)
#pragma unroll
                    for (int i = 0; i < 2; ++i) win[nt][i] = 1.0f;
            }
            T* row = h + (uint64_t)c * L + l0;  // positions l0 .. L - 1 of channel c
            const bool vec = aligned2<T>(row);
#pragma unroll
            for (int nt = 0; nt < NTW; ++nt) {
                const int q = 8 * (n1 + nt) + 2 * t;  // even: row + q is aligned when row is
                store2<T>(row, q, L - l0, vec, acc[nt][2 * rr] * win[nt][0], acc[nt][2 * rr + 1] * win[nt][1]);
            }
        }
    }
}

// ---- backward 1: hidden layers, grad_z, per-block parameter sums -----------------------------

// Offset of d W_i / d b_i inside a partial-sum row [W_0, b_0, W_1, b_1, ..., freq].
__device__ inline uint64_t off_w(int i, int E, int F) {
    return i == 0 ? 0 : (uint64_t)F * (E + 1) + (uint64_t)(i - 1) * F * (F + 1);
}
__device__ inline uint64_t off_b(int i, int E, int F) { return off_w(i, E, F) + (uint64_t)F * in_width(i, E, F); }

// Number of fp32 entries of one block's partial sums: sum_i F*(in_i + 1) + F.
__device__ inline uint64_t partial_len(int E, int F, int n) {
    uint64_t P = F;
    for (int i = 0; i < n; ++i) P += (uint64_t)F * (in_width(i, E, F) + 1);
    return P;
}

// The backward's two products of a hidden layer on fp64 tensor cores (mma.m8n8k4.f64, DMMA: 256
// fused multiply-adds per warp instruction where a DFMA does 32; sm_80+). With g = lane / 4 and t
// = lane % 4 a lane holds A's element (g, t), B's (t, g) and D's (g, 2t), (g, 2t + 1) of each 8 x 8
// tile (mma.cuh). The register-tiled DFMA versions spent ~43 % of the kernel's warp-instructions
// in these two products at L = 8K (model: 34.15 M, docs/GPU_MODEL.md); here a warp issues one
// DMMA per two or three fragment loads. Tile rows of TPS = 36 doubles (36 = 4 mod 16): the 16
// lanes of each half-warp, the phase of a 64-bit shared access, read fragment rows t (or g) at
// distinct 4·row + column banks, one wavefront per phase.

// d W[j, k] += sum_p g[j][p] a[k][p] over the tile's TP positions: the [F, TP] x [TP, in] product,
// the tile's sum in fp64 (the K = TP products of an entry in k-step order, four per DMMA), added
// to the block's fp32 accumulator accw [F][in] by the one lane that holds the entry (stored on the
// block's first tile, `first`). Warp w takes
// blocks of 2 x 2 output tiles (rows j0 .. j0 + 15, columns k0 .. k0 + 15); per k-step of 4
// positions two A and two B fragment loads feed four DMMAs. Rows j >= F and columns k >= in read
// row F - 1 / in - 1 instead (D's rows and columns do not mix: those entries are never stored).
__device__ inline void dw_mma(const double* g, const double* a, int F, int in, float* accw, bool first) {
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, nw = blockDim.x / 32;
    const int gq = lane >> 2, t = lane & 3;
    const int nbn = (in + 15) / 16, nblk = ((F + 15) / 16) * nbn;
#pragma unroll 1
    for (int blk = warp; blk < nblk; blk += nw) {
        const int j0 = (blk / nbn) * 16, k0 = (blk % nbn) * 16;
        const double* gr[2];
        const double* ar[2];
#pragma unroll
        for (int h = 0; h < 2; ++h) {
            const int j = j0 + 8 * h + gq, k = k0 + 8 * h + gq;
            gr[h] = g + (j < F ? j : F - 1) * TPS + t;
            ar[h] = a + (k < in ? k : in - 1) * TPS + t;
        }
        double d[2][2][2];
#pragma unroll
        for (int mi = 0; mi < 2; ++mi)
#pragma unroll
            for (int ni = 0; ni < 2; ++ni) d[mi][ni][0] = d[mi][ni][1] = 0.0;
#pragma unroll 2
        for (int q = 0; q < TP; q += 4) {
            const double a0 = gr[0][q], a1 = gr[1][q], b0 = ar[0][q], b1 = ar[1][q];
            hyena::mma_m8n8k4_f64(d[0][0], a0, b0, d[0][0]);
            hyena::mma_m8n8k4_f64(d[0][1], a0, b1, d[0][1]);
            hyena::mma_m8n8k4_f64(d[1][0], a1, b0, d[1][0]);
            hyena::mma_m8n8k4_f64(d[1][1], a1, b1, d[1][1]);
        }
        // A whole 16 x 16 block with 8-byte aligned entry pairs (even `in`, aligned accw; warp-
        // uniform): unpredicated 2-float accesses, stores alone on the first tile. Else per entry.
        float* e0 = accw + (j0 + gq) * in + k0 + 2 * t;
        if (j0 + 16 <= F && k0 + 16 <= in && in % 2 == 0 && (reinterpret_cast<uintptr_t>(accw) & 7) == 0) {
#pragma unroll
            for (int mi = 0; mi < 2; ++mi)
#pragma unroll
                for (int ni = 0; ni < 2; ++ni) {
                    float2* q = reinterpret_cast<float2*>(e0 + 8 * mi * in + 8 * ni);
                    if (first) {
                        *q = make_float2((float)d[mi][ni][0], (float)d[mi][ni][1]);
                    } else {
                        const float2 o = *q;
                        *q = make_float2((float)((double)o.x + d[mi][ni][0]), (float)((double)o.y + d[mi][ni][1]));
                    }
                }
        } else {
#pragma unroll
            for (int mi = 0; mi < 2; ++mi)
#pragma unroll
                for (int ni = 0; ni < 2; ++ni)
#pragma unroll
                    for (int i = 0; i < 2; ++i) {
                        const int j = j0 + 8 * mi + gq, k = k0 + 8 * ni + 2 * t + i;
                        float* e = e0 + 8 * mi * in + 8 * ni + i;
                        if (j < F && k < in) *e = first ? (float)d[mi][ni][i] : (float)((double)*e + d[mi][ni][i]);
                    }
        }
    }
}

// out[k][p] = sum_j W[j, k] g[j][p] (k < in, p < TP; fp64, j in k-step order): the gradient w.r.t.
// the layer's input, the [in, F] x [F, TP] product, A from the staged fp32 weight ws[j * KP + k]
// (stage_w: exact, zeros for k in [in, pad8(in))), B = g [F][TPS]. Warp w takes M tile m0 (8
// inputs) and the two N tiles of a 16-position half (n0); per k-step one A load (fp32, widened)
// and two B loads feed two DMMAs. A k-step past F (F not a multiple of 4) reads row F - 1 and
// zeroes those operands; rows k >= in are never stored.
__device__ inline void gin_mma(const float* ws, const double* g, int F, int in, double* out) {
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, nw = blockDim.x / 32;
    const int gq = lane >> 2, t = lane & 3;
    const int KP = wrow(in);
    constexpr int NH = TP / 16;
    const int npairs = ((in + 7) / 8) * NH;
#pragma unroll 1
    for (int pr = warp; pr < npairs; pr += nw) {
        const int m0 = (pr / NH) * 8, n0 = (pr % NH) * 16;
        double d[2][2] = {{0.0, 0.0}, {0.0, 0.0}};
        const float* wk = ws + t * KP + m0 + gq;
        const double* gk = g + t * TPS + n0 + gq;
        int kk = 0;
#pragma unroll 4
        for (; kk + 4 <= F; kk += 4, wk += 4 * KP, gk += 4 * TPS) {
            const double av = (double)wk[0];
            hyena::mma_m8n8k4_f64(d[0], av, gk[0], d[0]);
            hyena::mma_m8n8k4_f64(d[1], av, gk[8], d[1]);
        }
        if (kk < F) {
            const bool live = kk + t < F;
            const int j = live ? kk + t : F - 1;
            const double av = live ? (double)ws[j * KP + m0 + gq] : 0.0;
            const double b0 = live ? g[j * TPS + n0 + gq] : 0.0, b1 = live ? g[j * TPS + n0 + 8 + gq] : 0.0;
            hyena::mma_m8n8k4_f64(d[0], av, b0, d[0]);
            hyena::mma_m8n8k4_f64(d[1], av, b1, d[1]);
        }
        if (m0 + gq < in) {
#pragma unroll
            for (int ni = 0; ni < 2; ++ni)
                *reinterpret_cast<double2*>(out + (m0 + gq) * TPS + n0 + 8 * ni + 2 * t) = make_double2(d[ni][0], d[ni][1]);
        }
    }
}

template <typename T> __device__ inline void bwd_main(const HyenaFilterBwdParams p) {
    const int E = (int)p.e, F = (int)p.f, n = (int)p.n_layers;
    const int D = E > F ? E : F;
    const uint64_t L = p.l;
    const uint64_t P = partial_len(E, F, n);
    HYENA_DYN_SHARED(double, smem);
    // Slot i of pre holds pre_i [F][TPS] until layer i's cos step, then the gradient w.r.t. layer
    // i's input ([in_i][TPS], in_i <= D: the slots are D rows): pre_i is dead once that step has
    // read it, so no separate buffer for g_in (17 KiB at F = 64; with the fp32 staged weight 102
    // KiB per block instead of 135 at n = 3: two blocks per SM instead of one).
    double* pre = smem;               // [n][D][TPS]
    double* inb = pre + n * D * TPS;  // [D][TPS]: input of the layer being differentiated
    double* gout = inb + D * TPS;     // [D][TPS]: gradient w.r.t. the last layer's output
    float* wst = reinterpret_cast<float*>(gout + D * TPS);  // the current layer's weight, fp32 (stage_w)

    const T* __restrict__ z = reinterpret_cast<const T*>(p.z);
    const T* __restrict__ freq = reinterpret_cast<const T*>(p.freq);
    T* __restrict__ gz = reinterpret_cast<T*>(p.grad_z);
    float* __restrict__ ws = reinterpret_cast<float*>(p.ws);
    T* __restrict__ ws_a = reinterpret_cast<T*>(p.ws_a);
    const float* __restrict__ ws_g = reinterpret_cast<const float*>(p.ws_g);
    const uint64_t ld = p.ld, l_off = p.l_off;
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;

    // Offsets inside acc / ws rows: [W_0, b_0, W_1, b_1, ..., freq].
    const uint64_t off_freq = P - F;

    // This block's parameter sums, accumulated in place in its row of ws (global memory, one owner
    // thread per entry, read-modify-write per tile: no shared memory for them, which keeps the
    // block under sm_80's 163 KiB). Not zeroed: the block's first tile stores every entry (its
    // first layer step the freq sums), later ones add, so (float)(0 + s) = (float)s gives the
    // same bits without a pass over the row (every block has at least one tile: the host's grid
    // is ceil(tiles / tiles_per_block)).
    const uint64_t gblock = p.block0 + blockIdx.x;
    float* acc = ws + gblock * P;

    // Tiles of this chunk's blocks; a block never straddles two chunks (l_off is a multiple of
    // its span), so t_end stops at the chunk's last tile too.
    const uint64_t n_tiles = (L + TP - 1) / TP;
    const uint64_t t_begin = gblock * p.tiles_per_block;
    const uint64_t t_end = t_begin + p.tiles_per_block < n_tiles ? t_begin + p.tiles_per_block : n_tiles;
    for (uint64_t tile = t_begin; tile < t_end; ++tile) {
        const uint64_t l0 = tile * TP;
        const uint64_t l = l0 + lane;
        const bool valid = l < L;
        const int n_valid = L - l0 < (uint64_t)TP ? (int)(L - l0) : TP;
        const bool first = tile == t_begin;
        // -- the hidden pre-activations: the forward's (pre_in), or recomputed --
        if (p.pre_in) {
            const double* __restrict__ pg = reinterpret_cast<const double*>(p.pre_in);
            for (int i = 0; i < n; ++i) {
                for (int j = warp; j < F; j += BWD_NW) {
                    pre[(i * D + j) * TPS + lane] = valid ? pg[((uint64_t)i * F + j) * L + l] : 0.0;
                }
            }
            __syncthreads();
            // a_n (storage type) -> ws_a, as the recompute's last step does.
            hidden_sin<T, 1, T>(freq, F, TPS, pre + (n - 1) * D * TPS, nullptr, ws_a + (l0 - l_off), ld, n_valid, BWD_NW);
        }
        if (!p.pre_in) load_z<T>(z, l0, L, E, inb);
        for (int i = 0; !p.pre_in && i < n; ++i) {
            const int in = in_width(i, E, F);
            double* pr = pre + i * D * TPS;
            __syncthreads();  // inb ready; the previous reads of wst are done
            stage_w<T>(reinterpret_cast<const T*>(pick(p.w, i)), in, F, wst);
            __syncthreads();
            hidden_mma<T, TP, float>(wst, reinterpret_cast<const T*>(pick(p.b, i)), in, F, inb, TPS, pr);
            // a_{i+1} -> inb, whose reads are done; the last activation -> ws_a [F, ld] (storage
            // type: the d OW GEMM's operand, coalesced). One call site (compile time).
            const bool last = i + 1 == n;
            __syncthreads();
            hidden_sin<T, 1, T>(freq, F, TPS, pr, last ? nullptr : inb, last ? ws_a + (l0 - l_off) : nullptr, ld, n_valid, BWD_NW);
        }
        // -- output layer: gA[f][p] = sum_c OW[c, f] gout[c][p], computed by the GEMM (ws_g) --
        double* gA = gout;
        for (int j = warp; j < F; j += BWD_NW) {
            gA[j * TPS + lane] = valid ? (double)ws_g[(uint64_t)j * ld + (l - l_off)] : 0.0;
        }
        // -- hidden layers, last to first --
        for (int i = n - 1; i >= 0; --i) {
            const int in = in_width(i, E, F);
            double* pr = pre + i * D * TPS;
            __syncthreads();  // gA ready; the previous layer's reads of inb and wst are done
            stage_w<T>(reinterpret_cast<const T*>(pick(p.w, i)), in, F, wst);
            // gs = g * cos(freq * pre); gpre = gs * freq (in place in gA); freq and bias sums.
            for (int j = warp; j < F; j += BWD_NW) {
                const double fr = ld64<T>(freq, j);
                const double x = pr[j * TPS + lane];
                const double gs = gA[j * TPS + lane] * cos(fr * x);
                const double gp = gs * fr;
                gA[j * TPS + lane] = gp;
                const double sf = warp_sum(gs * x);
                const double sb = warp_sum(gp);
                if (lane == 0) {
                    float* af = acc + off_freq + j;
                    float* ab = acc + off_b(i, E, F) + j;
                    *af = first && i == n - 1 ? (float)sf : (float)((double)*af + sf);
                    *ab = first ? (float)sb : (float)((double)*ab + sb);
                }
            }
            // The layer's input a_i.
            if (i == 0) {
                load_z<T>(z, l0, L, E, inb);
            } else {
                hidden_sin<T, 1, T>(freq, F, TPS, pre + (i - 1) * D * TPS, inb, nullptr, 0, 0, BWD_NW);
            }
            __syncthreads();  // every read of pre_i (the cos step above) is done: its slot is free
            dw_mma(gA, inb, F, in, acc + off_w(i, E, F), first);
            // g_in[k][p] = sum_j W_i[j, k] gpre[j][p] -> gB, pre_i's slot (gA is the slot of
            // pre_{i+1}, or gout: never the same buffer).
            double* gB = pr;
            gin_mma(wst, gA, F, in, gB);
            if (i == 0) {
                __syncthreads();
                // grad_z rows of the tile, coalesced.
                for (int idx = threadIdx.x; idx < E * TP; idx += blockDim.x) {
                    const int q = idx / E, k = idx % E;
                    if (l0 + q < L) gz[(l0 + q) * E + k] = from_f32<T>((float)gB[k * TPS + q]);
                }
            } else {
                gA = gB;
            }
        }
        __syncthreads();
    }
}

// ---- backward a: the output layer's incoming gradient gout = grad_h * window (modulate only) -

// Block (x, y): channels [32x, 32x + 32) x positions [256y, 256y + 256) of the chunk, thread =
// position (coalesced rows). gout in the storage type: the GEMMs' operand beside out_weight and
// ws_a (16-bit operands, f32 accumulation and output). Without modulation gout = grad_h exactly
// and the host hands the GEMMs grad_h itself (no launch).
template <typename T> __device__ inline void bwd_gout(const HyenaFilterBwdParams p) {
    const uint64_t C = p.c, ld = p.ld;
    const T* __restrict__ tt = reinterpret_cast<const T*>(p.t);
    const T* __restrict__ deltas = reinterpret_cast<const T*>(p.deltas);
    const T* __restrict__ gh = reinterpret_cast<const T*>(p.grad_h);
    T* __restrict__ gout = reinterpret_cast<T*>(p.gout);

    const uint64_t i = (uint64_t)blockIdx.y * blockDim.x + threadIdx.x;
    if (i >= p.chunk_len) return;
    const uint64_t l = p.l_off + i;
    const float tl = to_f32<T>(tt[l]);
    const float shift = (float)p.shift;
    const int modulate = (int)p.modulate;
    const uint64_t c0 = (uint64_t)blockIdx.x * CB;
    const uint64_t c1 = c0 + CB < C ? c0 + CB : C;
    for (uint64_t c = c0; c < c1; ++c)
        gout[c * ld + i] = from_f32<T>(to_f32<T>(gh[c * p.l + l]) * window<T>(deltas, c, tl, modulate, shift));
}

// ---- backward 3: in-order reduction of the partial sums --------------------------------------

// sum_{g < rows} x[g * stride] in fp64, g in order (the same bits as the plain loop), loads issued
// eight at a time: the plain loop waited for each load before the next (one dependent global
// load per row: 28 µs for 256 rows at L = 8K on an H200, 8 % issue-active; docs/GPU_MODEL.md).
__device__ inline double sum_rows(const float* __restrict__ x, uint64_t stride, uint64_t rows) {
    constexpr int U = 8;
    double s = 0.0;
    uint64_t g = 0;
#pragma unroll 1
    for (; g + U <= rows; g += U) {
        float v[U];
#pragma unroll
        for (int u = 0; u < U; ++u) v[u] = x[(g + u) * stride];
#pragma unroll
        for (int u = 0; u < U; ++u) s += (double)v[u];
    }
#pragma unroll 1
    for (; g < rows; ++g) s += (double)x[g * stride];
    return s;
}

template <typename T> __device__ inline void bwd_reduce(const HyenaFilterBwdParams p) {
    const int E = (int)p.e, F = (int)p.f, n = (int)p.n_layers;
    const uint64_t C = p.c;
    const uint64_t P = partial_len(E, F, n);
    const uint64_t idx = (uint64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= P + C * F) return;
    const float* __restrict__ ws = reinterpret_cast<const float*>(p.ws);
    const float* __restrict__ ws_ow = reinterpret_cast<const float*>(p.ws_ow);
    if (idx >= P) {
        const uint64_t o = idx - P;
        const double s = sum_rows(ws_ow + o, C * F, p.n_splits);
        reinterpret_cast<T*>(p.grad_out_weight)[o] = from_f32<T>((float)s);
        return;
    }
    const T v = from_f32<T>((float)sum_rows(ws + idx, P, p.n_blocks));
    uint64_t o = idx;
    for (int i = 0; i < n; ++i) {
        const uint64_t nw = (uint64_t)F * in_width(i, E, F);
        if (o < nw) {
            reinterpret_cast<T*>(pick(p.grad_w, i))[o] = v;
            return;
        }
        o -= nw;
        if (o < (uint64_t)F) {
            reinterpret_cast<T*>(pick(p.grad_b, i))[o] = v;
            return;
        }
        o -= F;
    }
    reinterpret_cast<T*>(p.grad_freq)[o] = v;
}

}  // namespace hyena_filter

extern "C" __global__ void __launch_bounds__(HYENA_FILTER_FWD_BLOCK, 1) hyena_filter_fwd_f32(const HyenaFilterFwdParams p) { hyena_filter::fwd<float>(p); }
extern "C" __global__ void __launch_bounds__(HYENA_FILTER_FWD_BLOCK, 1) hyena_filter_fwd_bf16(const HyenaFilterFwdParams p) { hyena_filter::fwd<__nv_bfloat16>(p); }
extern "C" __global__ void __launch_bounds__(HYENA_FILTER_FWD_BLOCK, 1) hyena_filter_fwd_f16(const HyenaFilterFwdParams p) { hyena_filter::fwd<__half>(p); }
extern "C" __global__ void __launch_bounds__(HYENA_FILTER_BWD_BLOCK, 2) hyena_filter_bwd_f32(const HyenaFilterBwdParams p) { hyena_filter::bwd_main<float>(p); }
extern "C" __global__ void __launch_bounds__(HYENA_FILTER_BWD_BLOCK, 2) hyena_filter_bwd_bf16(const HyenaFilterBwdParams p) { hyena_filter::bwd_main<__nv_bfloat16>(p); }
extern "C" __global__ void __launch_bounds__(HYENA_FILTER_BWD_BLOCK, 2) hyena_filter_bwd_f16(const HyenaFilterBwdParams p) { hyena_filter::bwd_main<__half>(p); }
extern "C" __global__ void hyena_filter_bwd_gout_f32(const HyenaFilterBwdParams p) { hyena_filter::bwd_gout<float>(p); }
extern "C" __global__ void hyena_filter_bwd_gout_bf16(const HyenaFilterBwdParams p) { hyena_filter::bwd_gout<__nv_bfloat16>(p); }
extern "C" __global__ void hyena_filter_bwd_gout_f16(const HyenaFilterBwdParams p) { hyena_filter::bwd_gout<__half>(p); }
extern "C" __global__ void hyena_filter_bwd_reduce_f32(const HyenaFilterBwdParams p) { hyena_filter::bwd_reduce<float>(p); }
extern "C" __global__ void hyena_filter_bwd_reduce_bf16(const HyenaFilterBwdParams p) { hyena_filter::bwd_reduce<__nv_bfloat16>(p); }
extern "C" __global__ void hyena_filter_bwd_reduce_f16(const HyenaFilterBwdParams p) { hyena_filter::bwd_reduce<__half>(p); }

// Every block of these kernels does the same work (one row, tile or channel group each; a partial
// last block aside): the simulator may sample blocks when counting (crates/gpu-model).
CUDASIM_UNIFORM_BLOCKS(hyena_filter_fwd_f32);
CUDASIM_UNIFORM_BLOCKS(hyena_filter_fwd_bf16);
CUDASIM_UNIFORM_BLOCKS(hyena_filter_fwd_f16);
CUDASIM_UNIFORM_BLOCKS(hyena_filter_bwd_f32);
CUDASIM_UNIFORM_BLOCKS(hyena_filter_bwd_bf16);
CUDASIM_UNIFORM_BLOCKS(hyena_filter_bwd_f16);
CUDASIM_UNIFORM_BLOCKS(hyena_filter_bwd_gout_f32);
CUDASIM_UNIFORM_BLOCKS(hyena_filter_bwd_gout_bf16);
CUDASIM_UNIFORM_BLOCKS(hyena_filter_bwd_gout_f16);
CUDASIM_UNIFORM_BLOCKS(hyena_filter_bwd_reduce_f32);
CUDASIM_UNIFORM_BLOCKS(hyena_filter_bwd_reduce_bf16);
CUDASIM_UNIFORM_BLOCKS(hyena_filter_bwd_reduce_f16);
