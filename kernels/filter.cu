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
// Thread mapping (every kernel: 256 threads = 8 warps, tiles of TP = 32 positions): lane = position
// within the tile, warps stride over features/channels, so a warp's weight loads are uniform
// (broadcast) and its h / grad_h / ws_a accesses are 128-byte coalesced rows. Tile buffers are
// [feature][TPS] with TPS = 33 (odd stride: the per-entry reductions of the backward read columns
// without bank conflicts). Positions >= L inside the last tile compute with z = 0 and grad_h = 0,
// so they contribute exact zeros, and are never stored.
//
// Forward (hyena_filter_fwd_*): one block per tile. Dynamic shared memory:
//   (max(E, F) + F) * 33 doubles + F * 33 floats.
// Cost per position: 2 * (E*F + (n-1)*F^2) fp64 FLOPs + n*F fp64 sin, 2*C*F fp32 FLOPs, C expf;
// bytes: E*sizeof(T) read, C*sizeof(T) written (weights stay in L1/L2). For C >= 256 the fp32
// output layer and the h store dominate.
//
// Backward (deterministic: fixed work assignment, in-order sums, no atomics). The two products of
// the output layer are GEMMs (cuBLAS on a GPU, the CPU GEMM in the simulator; fp32 operands and
// accumulation), the rest is here. Positions go in chunks of at most ld positions (32768, or one
// kernel-1 block's span if larger), each chunk in stream order:
//   a. hyena_filter_bwd_gout_*: gout[c, i] = grad_h * win (fp32, [C, ld]); out_weight -> fp32.
//   b. GEMM: g_n[f, i] = sum_c OW[c, f] gout[c, i] -> ws_g [F, ld] (K = C fp32 terms).
//   c. hyena_filter_bwd_*: block g takes tiles [g*T, (g+1)*T) of the chunk. Per tile: recompute
//      pre_i (kept in shared, fp64), store a_n (fp32) into ws_a [F, ld]; read g_n from ws_g; then
//      for i = n-1..0: gs = g_i * cos(freq*pre_i), gpre = gs*freq, d freq += sum_p gs*pre_i,
//      d b_i += sum_p gpre, d W_i[j, k] += sum_p gpre[j, p] a_i[k, p], g_{i-1} = gpre W_i (layer 0:
//      grad_z rows of the tile). The parameter sums of a tile are fp64 (warp shuffle trees /
//      in-order loops) and are added to a per-block fp32 accumulator in shared memory owned by one
//      thread per entry; the block writes it to ws[g, :P].
//      Shared: (n*F + 3*max(E, F)) * 33 doubles + P floats.
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

namespace hyena_filter {

using hyena::to_f32;
using hyena::from_f32;

// Threads per block of every filter kernel and positions per tile (= warp size: lane = position).
#define HYENA_FILTER_BLOCK 256
#define HYENA_FILTER_TP 32
#define HYENA_FILTER_TPS 33
// Channels per chunk of the output-layer backward (kernel 1's grad_h staging and kernel 2).
#define HYENA_FILTER_CB 32

constexpr int TP = HYENA_FILTER_TP;
constexpr int TPS = HYENA_FILTER_TPS;
constexpr int CB = HYENA_FILTER_CB;
constexpr int NWARPS = HYENA_FILTER_BLOCK / 32;

template <typename T> __device__ inline double ld64(const T* p, uint64_t i) { return (double)to_f32<T>(p[i]); }
template <typename T> __device__ inline float ld32(const T* p, uint64_t i) { return to_f32<T>(p[i]); }

// Modulation window of channel c at time tl (fp32).
template <typename T>
__device__ inline float window(const T* __restrict__ deltas, uint64_t c, float tl, int modulate, float shift) {
    if (!modulate) return 1.0f;
    return expf(-tl * fabsf(to_f32<T>(deltas[c]))) + shift;
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

// pre[j][p] = b[j] + sum_k W[j, k] in[k][p], lane = p, warps over j (fp64).
template <typename T>
__device__ inline void hidden_linear(const T* __restrict__ W, const T* __restrict__ b, int in, int F, const double* inb,
                                     double* pre) {
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    for (int j = warp; j < F; j += NWARPS) {
        double acc = ld64<T>(b, j);
        const T* wr = W + (uint64_t)j * in;
        for (int k = 0; k < in; ++k) acc = fma(ld64<T>(wr, k), inb[k * TPS + lane], acc);
        pre[j * TPS + lane] = acc;
    }
}

// out[j][p] = sin(freq[j] * pre[j][p]) (fp64).
template <typename T>
__device__ inline void hidden_sin(const T* __restrict__ freq, int F, const double* pre, double* out) {
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    for (int j = warp; j < F; j += NWARPS) out[j * TPS + lane] = sin(ld64<T>(freq, j) * pre[j * TPS + lane]);
}

// Deterministic warp sum (butterfly: every lane ends with the same value, same order every time).
__device__ inline double warp_sum(double v) {
#pragma unroll
    for (int o = 16; o > 0; o /= 2) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

// ---- forward ---------------------------------------------------------------------------------

template <typename T> __device__ inline void fwd(const HyenaFilterFwdParams p) {
    const int E = (int)p.e, F = (int)p.f, C = (int)p.c, n = (int)p.n_layers;
    const int D = E > F ? E : F;
    const uint64_t L = p.l;
    HYENA_DYN_SHARED(double, smem);
    double* inb = smem;                                      // [D][TPS]
    double* pre = inb + D * TPS;                             // [F][TPS]
    float* alast = reinterpret_cast<float*>(pre + F * TPS);  // [F][TPS]
    const uint64_t l0 = (uint64_t)blockIdx.x * TP;
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;

    load_z<T>(reinterpret_cast<const T*>(p.z), l0, L, E, inb);
    __syncthreads();
    const T* freq = reinterpret_cast<const T*>(p.freq);
    for (int i = 0; i < n; ++i) {
        hidden_linear<T>(reinterpret_cast<const T*>(pick(p.w, i)), reinterpret_cast<const T*>(pick(p.b, i)), in_width(i, E, F), F, inb, pre);
        __syncthreads();
        if (i + 1 < n) {
            hidden_sin<T>(freq, F, pre, inb);
        } else {
            for (int j = warp; j < F; j += NWARPS)
                alast[j * TPS + lane] = (float)sin(ld64<T>(freq, j) * pre[j * TPS + lane]);
        }
        __syncthreads();
    }

    // Output layer + modulation: lane = position, each warp 4 channels at a time.
    const T* __restrict__ ow = reinterpret_cast<const T*>(p.out_weight);
    const T* __restrict__ deltas = reinterpret_cast<const T*>(p.deltas);
    T* __restrict__ h = reinterpret_cast<T*>(p.h);
    const uint64_t l = l0 + lane;
    const bool valid = l < L;
    const float tl = valid ? to_f32<T>(reinterpret_cast<const T*>(p.t)[l]) : 0.0f;
    const float shift = (float)p.shift;
    const int modulate = (int)p.modulate;
    for (int c0 = warp * 4; c0 < C; c0 += 4 * NWARPS) {
        int cq[4];
#pragma unroll
        for (int q = 0; q < 4; ++q) cq[q] = c0 + q < C ? c0 + q : C - 1;
        float acc[4] = {0.f, 0.f, 0.f, 0.f};
        for (int j = 0; j < F; ++j) {
            const float a = alast[j * TPS + lane];
#pragma unroll
            for (int q = 0; q < 4; ++q) acc[q] = fmaf(ld32<T>(ow, (uint64_t)cq[q] * F + j), a, acc[q]);
        }
        if (valid) {
#pragma unroll
            for (int q = 0; q < 4; ++q)
                if (c0 + q < C) h[(uint64_t)(c0 + q) * L + l] = from_f32<T>(acc[q] * window<T>(deltas, c0 + q, tl, modulate, shift));
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

template <typename T> __device__ inline void bwd_main(const HyenaFilterBwdParams p) {
    const int E = (int)p.e, F = (int)p.f, n = (int)p.n_layers;
    const int D = E > F ? E : F;
    const uint64_t L = p.l;
    const uint64_t P = partial_len(E, F, n);
    HYENA_DYN_SHARED(double, smem);
    double* pre = smem;              // [n][F][TPS]
    double* inb = pre + n * F * TPS;  // [D][TPS]: input of the layer being differentiated
    double* gA = inb + D * TPS;       // [D][TPS]: gradient w.r.t. the current layer's output
    double* gB = gA + D * TPS;        // [D][TPS]: gradient w.r.t. its input
    float* acc = reinterpret_cast<float*>(gB + D * TPS);  // [P]: this block's parameter sums

    const T* __restrict__ z = reinterpret_cast<const T*>(p.z);
    const T* __restrict__ freq = reinterpret_cast<const T*>(p.freq);
    T* __restrict__ gz = reinterpret_cast<T*>(p.grad_z);
    float* __restrict__ ws = reinterpret_cast<float*>(p.ws);
    float* __restrict__ ws_a = reinterpret_cast<float*>(p.ws_a);
    const float* __restrict__ ws_g = reinterpret_cast<const float*>(p.ws_g);
    const uint64_t ld = p.ld, l_off = p.l_off;
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;

    // Offsets inside acc / ws rows: [W_0, b_0, W_1, b_1, ..., freq].
    const uint64_t off_freq = P - F;

    for (uint64_t i = threadIdx.x; i < P; i += blockDim.x) acc[i] = 0.0f;

    // Tiles of this chunk's blocks; a block never straddles two chunks (l_off is a multiple of
    // its span), so t_end stops at the chunk's last tile too.
    const uint64_t n_tiles = (L + TP - 1) / TP;
    const uint64_t gblock = p.block0 + blockIdx.x;
    const uint64_t t_begin = gblock * p.tiles_per_block;
    const uint64_t t_end = t_begin + p.tiles_per_block < n_tiles ? t_begin + p.tiles_per_block : n_tiles;
    for (uint64_t tile = t_begin; tile < t_end; ++tile) {
        const uint64_t l0 = tile * TP;
        const uint64_t l = l0 + lane;
        const bool valid = l < L;
        // -- recompute the hidden pre-activations --
        load_z<T>(z, l0, L, E, inb);
        __syncthreads();
        for (int i = 0; i < n; ++i) {
            hidden_linear<T>(reinterpret_cast<const T*>(pick(p.w, i)), reinterpret_cast<const T*>(pick(p.b, i)), in_width(i, E, F), F, inb,
                             pre + i * F * TPS);
            __syncthreads();
            if (i + 1 < n) {
                hidden_sin<T>(freq, F, pre + i * F * TPS, inb);
            } else {
                // Last activation -> ws_a [F, L] (fp32, the output layer's input), coalesced.
                for (int j = warp; j < F; j += NWARPS) {
                    const float a = (float)sin(ld64<T>(freq, j) * pre[(i * F + j) * TPS + lane]);
                    if (valid) ws_a[(uint64_t)j * ld + (l - l_off)] = a;
                }
            }
            __syncthreads();
        }
        // -- output layer: gA[f][p] = sum_c OW[c, f] gout[c][p], computed by the GEMM (ws_g) --
        for (int j = warp; j < F; j += NWARPS) gA[j * TPS + lane] = valid ? (double)ws_g[(uint64_t)j * ld + (l - l_off)] : 0.0;
        __syncthreads();
        // -- hidden layers, last to first --
        for (int i = n - 1; i >= 0; --i) {
            const int in = in_width(i, E, F);
            const double* pr = pre + i * F * TPS;
            // gs = g * cos(freq * pre); gpre = gs * freq (in place in gA); freq and bias sums.
            for (int j = warp; j < F; j += NWARPS) {
                const double fr = ld64<T>(freq, j);
                const double x = pr[j * TPS + lane];
                const double gs = gA[j * TPS + lane] * cos(fr * x);
                const double gp = gs * fr;
                gA[j * TPS + lane] = gp;
                const double sf = warp_sum(gs * x);
                const double sb = warp_sum(gp);
                if (lane == 0) {
                    acc[off_freq + j] = (float)((double)acc[off_freq + j] + sf);
                    acc[off_b(i, E, F) + j] = (float)((double)acc[off_b(i, E, F) + j] + sb);
                }
            }
            // The layer's input a_i.
            if (i == 0) {
                load_z<T>(z, l0, L, E, inb);
            } else {
                hidden_sin<T>(freq, F, pre + (i - 1) * F * TPS, inb);
            }
            __syncthreads();
            // d W_i[j, k] += sum_p gpre[j][p] a_i[k][p] (one owner thread per entry).
            for (int idx = threadIdx.x; idx < F * in; idx += blockDim.x) {
                const int j = idx / in, k = idx % in;
                double s = 0.0;
#pragma unroll 8
                for (int q = 0; q < TP; ++q) s = fma(gA[j * TPS + q], inb[k * TPS + q], s);
                acc[off_w(i, E, F) + idx] = (float)((double)acc[off_w(i, E, F) + idx] + s);
            }
            // g_in[k][p] = sum_j W_i[j, k] gpre[j][p] -> gB.
            const T* __restrict__ W = reinterpret_cast<const T*>(pick(p.w, i));
            for (int k = warp; k < in; k += NWARPS) {
                double s = 0.0;
                for (int j = 0; j < F; ++j) s = fma(ld64<T>(W, (uint64_t)j * in + k), gA[j * TPS + lane], s);
                gB[k * TPS + lane] = s;
            }
            __syncthreads();
            if (i == 0) {
                // grad_z rows of the tile, coalesced.
                for (int idx = threadIdx.x; idx < E * TP; idx += blockDim.x) {
                    const int q = idx / E, k = idx % E;
                    if (l0 + q < L) gz[(l0 + q) * E + k] = from_f32<T>((float)gB[k * TPS + q]);
                }
            } else {
                double* tmp = gA;
                gA = gB;
                gB = tmp;
            }
            __syncthreads();
        }
    }
    __syncthreads();
    for (uint64_t i = threadIdx.x; i < P; i += blockDim.x) ws[gblock * P + i] = acc[i];
}

// ---- backward a: the output layer's incoming gradient gout = grad_h * window, fp32 ----------

// Block (x, y): channels [32x, 32x + 32) x positions [256y, 256y + 256) of the chunk, thread =
// position (coalesced rows). Every block also converts an equal slice of out_weight to fp32 (the
// GEMMs take one dtype), so the blocks stay uniform.
template <typename T> __device__ inline void bwd_gout(const HyenaFilterBwdParams p) {
    const uint64_t C = p.c, F = p.f, ld = p.ld;
    const T* __restrict__ tt = reinterpret_cast<const T*>(p.t);
    const T* __restrict__ deltas = reinterpret_cast<const T*>(p.deltas);
    const T* __restrict__ gh = reinterpret_cast<const T*>(p.grad_h);
    const T* __restrict__ ow = reinterpret_cast<const T*>(p.out_weight);
    float* __restrict__ gout = reinterpret_cast<float*>(p.gout);
    float* __restrict__ ow32 = reinterpret_cast<float*>(p.ow32);
    const uint64_t nb = (uint64_t)gridDim.x * gridDim.y;
    const uint64_t b = (uint64_t)blockIdx.y * gridDim.x + blockIdx.x;
    const uint64_t per = (C * F + nb - 1) / nb;
    const uint64_t o1 = (b + 1) * per < C * F ? (b + 1) * per : C * F;
    for (uint64_t o = b * per + threadIdx.x; o < o1; o += blockDim.x) ow32[o] = to_f32<T>(ow[o]);

    const uint64_t i = (uint64_t)blockIdx.y * blockDim.x + threadIdx.x;
    if (i >= p.chunk_len) return;
    const uint64_t l = p.l_off + i;
    const float tl = to_f32<T>(tt[l]);
    const float shift = (float)p.shift;
    const int modulate = (int)p.modulate;
    const uint64_t c0 = (uint64_t)blockIdx.x * CB;
    const uint64_t c1 = c0 + CB < C ? c0 + CB : C;
    for (uint64_t c = c0; c < c1; ++c)
        gout[c * ld + i] = to_f32<T>(gh[c * p.l + l]) * window<T>(deltas, c, tl, modulate, shift);
}

// ---- backward 3: in-order reduction of the partial sums --------------------------------------

template <typename T> __device__ inline void bwd_reduce(const HyenaFilterBwdParams p) {
    const int E = (int)p.e, F = (int)p.f, n = (int)p.n_layers;
    const uint64_t C = p.c;
    const uint64_t P = partial_len(E, F, n);
    const uint64_t idx = (uint64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= P + C * F) return;
    const float* __restrict__ ws = reinterpret_cast<const float*>(p.ws);
    const float* __restrict__ ws_ow = reinterpret_cast<const float*>(p.ws_ow);
    double s = 0.0;
    if (idx >= P) {
        const uint64_t o = idx - P;
        for (uint64_t k = 0; k < p.n_splits; ++k) s += (double)ws_ow[k * C * F + o];
        reinterpret_cast<T*>(p.grad_out_weight)[o] = from_f32<T>((float)s);
        return;
    }
    for (uint64_t g = 0; g < p.n_blocks; ++g) s += (double)ws[g * P + idx];
    const T v = from_f32<T>((float)s);
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

extern "C" __global__ void hyena_filter_fwd_f32(const HyenaFilterFwdParams p) { hyena_filter::fwd<float>(p); }
extern "C" __global__ void hyena_filter_fwd_bf16(const HyenaFilterFwdParams p) { hyena_filter::fwd<__nv_bfloat16>(p); }
extern "C" __global__ void hyena_filter_fwd_f16(const HyenaFilterFwdParams p) { hyena_filter::fwd<__half>(p); }
extern "C" __global__ void hyena_filter_bwd_f32(const HyenaFilterBwdParams p) { hyena_filter::bwd_main<float>(p); }
extern "C" __global__ void hyena_filter_bwd_bf16(const HyenaFilterBwdParams p) { hyena_filter::bwd_main<__nv_bfloat16>(p); }
extern "C" __global__ void hyena_filter_bwd_f16(const HyenaFilterBwdParams p) { hyena_filter::bwd_main<__half>(p); }
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
