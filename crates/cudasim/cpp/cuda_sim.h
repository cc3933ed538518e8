/*
 * cuda_sim.h: CUDA's execution model for the host C++ compiler (C++17), used by the cudasim SIMT
 * simulator. The build helper (src/build.rs) force-includes this header (`-include`) before every
 * `.cu` file it compiles as C++ for the host.
 *
 * Kernels are written once, for nvcc, and need no #ifdef for the simulator. Rules they follow:
 *  - entry points: `extern "C" __global__ void NAME(ParamsStruct p)` (one params struct by value,
 *    a `#[repr(C)]` struct on the Rust side); macros may generate them (the registry is built from the
 *    preprocessed source);
 *  - static shared memory: `__shared__ T name[N];` inside the kernel / device function;
 *  - dynamic shared memory: `CUDASIM_DYN_SHARED(T, name);` (declares `T* name`; the
 *    project defines the nvcc twin, see below); never `extern __shared__ T x[];`;
 *  - `__constant__` tables must be initialised in the source (they become `static const`);
 *    `__device__` global variables work (one host instance; not race-checked);
 *  - no `assert()` in kernels (it would abort the test process): use `__trap()`, which the
 *    simulator reports as an error of the launch.
 *
 * How it works (details in runtime.cpp):
 *  - every thread of a block is a fiber; threadIdx/blockIdx/... are per-fiber values;
 *  - __syncthreads and the warp intrinsics are calls into the runtime, which switches fibers;
 *  - the kernel translation units are compiled with GCC's ThreadSanitizer *instrumentation*
 *    (-fsanitize=thread) but linked against the simulator's own __tsan_* hooks (no libtsan): every
 *    load and store of kernel code reaches the simulator, which checks it against the live device
 *    allocations, the block's shared memory (with red zones) and the thread's own stack, and tracks
 *    shared-memory accesses per barrier phase to report data races.
 */
#ifndef CUDASIM_CUDA_SIM_H
#define CUDASIM_CUDA_SIM_H

#ifndef __cplusplus
#error "cuda_sim.h is C++ only"
#endif

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

/* fp16 / bf16 host implementations and the vector types (uint3, dim3, float4, ...). These headers
 * also define __global__/__device__/... for the host compiler; redefined below. */
#include <cuda_fp16.h>
#include <cuda_bf16.h>
#include <vector_types.h>

#define CUDASIM 1

#undef __global__
#undef __device__
#undef __host__
#undef __shared__
#undef __constant__
#undef __forceinline__
#undef __noinline__
#undef __launch_bounds__
#undef __managed__

/* The section is the registry's marker (the build helper finds kernels in the preprocessed source by it).
 * `flatten`: g++ inlines every call into the kernel (recursively; `__noinline__` helpers excepted),
 * as nvcc does, so every per-line count keeps its full inlining chain down to the entry. Without
 * it, a helper g++ keeps out of line (a DFT, an FFT pass, a dispatch) is counted under its own
 * lines only, all call sites and template instances pooled, and a GPU time model that joins these
 * counts to nvcc's SASS (crates/gpu-model) must guess how to split the pool; g++'s choice of what
 * to inline also changes with unrelated edits of the same file, which moved the estimate of
 * unchanged kernels (docs/GPU_MODEL.md, issue 11, branch est10). Cost: ~20 % more compile time
 * of a large kernel file (the fused conv: 24 -> 29 s). */
#define __global__ __attribute__((section(".text.cudasim_kernel"), used, flatten))
#define __device__
#define __host__
#define __forceinline__ inline __attribute__((always_inline))
#define __noinline__ __attribute__((noinline))
#define __launch_bounds__(...)
#define __constant__ static const

/* ---- static shared memory -------------------------------------------------------------------
 * `__shared__ float s[256];` becomes a static variable in the section `cudasim_shared`, preceded in
 * the source by a 64-byte red zone variable. GCC lays out one function's statics in reverse
 * declaration order and, with -malign-data=abi, packs the (alignment 1) red zone right after the
 * variable, so any overflow of a shared variable lands in a red zone. The runtime finds the red
 * zones by their contents, poisons the variables before every block, and reports accesses that hit
 * a red zone. Blocks run one at a time, so one static instance per variable is enough. */
struct __attribute__((packed)) cudasim_redzone_t {
    unsigned char bytes[64];
};
#define CUDASIM_REDZONE_MAGIC "\x7f" "CUDASIM-SHARED-MEMORY-REDZONE(out of bounds if touched)\x7f!!!!!"
#define CUDASIM_CAT2(a, b) a##b
#define CUDASIM_CAT(a, b) CUDASIM_CAT2(a, b)
#define __shared__                                                                                 \
    __attribute__((section("cudasim_shared"), used)) static cudasim_redzone_t CUDASIM_CAT(         \
        cudasim_rz_, __COUNTER__) = {CUDASIM_REDZONE_MAGIC};                                   \
    __attribute__((section("cudasim_shared"))) static

extern "C" {
/* Per-fiber built-ins (constant for a thread's whole life, hence `const`). */
uint3 cudasim_thread_idx(void) __attribute__((const));
uint3 cudasim_block_idx(void) __attribute__((const));
dim3 cudasim_block_dim(void) __attribute__((const));
dim3 cudasim_grid_dim(void) __attribute__((const));
void *cudasim_dyn_shared(void) __attribute__((const));
/* kind: 0 plain, 1 count, 2 and, 3 or. Returns the reduction (0 for plain). */
int cudasim_syncthreads(int kind, int pred, const char *file, int line);
/* Warp collectives; see CUDASIM_W_* below. */
uint64_t cudasim_warp(int op, unsigned mask, uint64_t value, int arg, int width, const char *file, int line);
unsigned cudasim_activemask(void);
/* Atomics: bounds- and race-checked read-modify-write. op: CUDASIM_A_*; type: CUDASIM_T_*. */
uint64_t cudasim_atomic(int op, int type, void *addr, uint64_t value, uint64_t compare);
void cudasim_trap(const char *file, int line) __attribute__((noreturn));
}

enum {
    CUDASIM_W_SYNC = 0,
    CUDASIM_W_SHFL_IDX = 1,
    CUDASIM_W_SHFL_UP = 2,
    CUDASIM_W_SHFL_DOWN = 3,
    CUDASIM_W_SHFL_XOR = 4,
    CUDASIM_W_BALLOT = 5,
    CUDASIM_W_ANY = 6,
    CUDASIM_W_ALL = 7,
    CUDASIM_W_REDUCE_ADD = 8,
    CUDASIM_W_REDUCE_MIN = 9,
    CUDASIM_W_REDUCE_MAX = 10,
    /* mma.sync.aligned (value = address of the lane's cudasim_mma_frag) */
    CUDASIM_W_MMA_M16N8K8_TF32 = 11,
    CUDASIM_W_MMA_M16N8K16_BF16 = 12,
    CUDASIM_W_MMA_M16N8K16_F16 = 13,
    /* mma.sync.aligned.m8n8k4 f64 (value = address of the lane's cudasim_mma_frag64) */
    CUDASIM_W_MMA_M8N8K4_F64 = 14,
};
enum { CUDASIM_A_ADD = 0, CUDASIM_A_MAX = 1, CUDASIM_A_MIN = 2, CUDASIM_A_EXCH = 3, CUDASIM_A_CAS = 4 };
enum { CUDASIM_T_I32 = 0, CUDASIM_T_U32 = 1, CUDASIM_T_U64 = 2, CUDASIM_T_F32 = 3, CUDASIM_T_F64 = 4 };

#define threadIdx (::cudasim_thread_idx())
#define blockIdx (::cudasim_block_idx())
#define blockDim (::cudasim_block_dim())
#define gridDim (::cudasim_grid_dim())
static constexpr int warpSize = 32;

/* Dynamic shared memory: `CUDASIM_DYN_SHARED(T, name);` declares `T* name` (under nvcc, define it as
 * `extern __shared__ __align__(16) unsigned char smem_[]; T* name = reinterpret_cast<T*>(smem_)`). */
#define CUDASIM_DYN_SHARED(T, name) T *name = reinterpret_cast<T *>(::cudasim_dyn_shared())

/* `CUDASIM_UNIFORM_BLOCKS(kernel_name);` at file scope declares that every block of the kernel does
 * the same work, so a sampled launch (SimDevice::set_block_sample) may run a few blocks and scale
 * the counters. The build helper finds the marker in the preprocessed source; it emits no code.
 * Under nvcc define it empty: `#ifndef CUDASIM_UNIFORM_BLOCKS` / `#define CUDASIM_UNIFORM_BLOCKS(k)`. */
#define CUDASIM_UNIFORM_BLOCKS(name) static_assert(true, "cudasim_uniform_blocks:" #name)

/* ---- barriers --------------------------------------------------------------------------------- */
inline void __syncthreads(const char *f = __builtin_FILE(), int l = __builtin_LINE()) {
    (void)cudasim_syncthreads(0, 0, f, l);
}
inline int __syncthreads_count(int p, const char *f = __builtin_FILE(), int l = __builtin_LINE()) {
    return cudasim_syncthreads(1, p != 0, f, l);
}
inline int __syncthreads_and(int p, const char *f = __builtin_FILE(), int l = __builtin_LINE()) {
    return cudasim_syncthreads(2, p != 0, f, l);
}
inline int __syncthreads_or(int p, const char *f = __builtin_FILE(), int l = __builtin_LINE()) {
    return cudasim_syncthreads(3, p != 0, f, l);
}
inline void __syncwarp(unsigned mask = 0xffffffffu, const char *f = __builtin_FILE(), int l = __builtin_LINE()) {
    (void)cudasim_warp(CUDASIM_W_SYNC, mask, 0, 0, 32, f, l);
}
inline void __threadfence() { __atomic_signal_fence(__ATOMIC_SEQ_CST); }
inline void __threadfence_block() { __atomic_signal_fence(__ATOMIC_SEQ_CST); }
inline void __nanosleep(unsigned) {}
inline unsigned __activemask() { return cudasim_activemask(); }
#define __trap() ::cudasim_trap(__FILE__, __LINE__)

/* ---- warp shuffles and votes ------------------------------------------------------------------ */
namespace cudasim_detail {
template <class T> inline uint64_t to_bits(const T &v) {
    static_assert(sizeof(T) <= 8 && std::is_trivially_copyable<T>::value, "shuffle of a type over 8 bytes");
    uint64_t b = 0;
    std::memcpy(&b, &v, sizeof(T));
    return b;
}
template <class T> inline T from_bits(uint64_t b) {
    T v;
    std::memcpy(&v, &b, sizeof(T));
    return v;
}
template <class T>
inline T shfl(int op, unsigned mask, const T &v, int arg, int width, const char *f, int l) {
    return from_bits<T>(cudasim_warp(op, mask, to_bits(v), arg, width, f, l));
}
} // namespace cudasim_detail

template <class T>
inline T __shfl_sync(unsigned mask, T var, int src_lane, int width = warpSize, const char *f = __builtin_FILE(),
                     int l = __builtin_LINE()) {
    return cudasim_detail::shfl(CUDASIM_W_SHFL_IDX, mask, var, src_lane, width, f, l);
}
template <class T>
inline T __shfl_up_sync(unsigned mask, T var, unsigned delta, int width = warpSize,
                        const char *f = __builtin_FILE(), int l = __builtin_LINE()) {
    return cudasim_detail::shfl(CUDASIM_W_SHFL_UP, mask, var, (int)delta, width, f, l);
}
template <class T>
inline T __shfl_down_sync(unsigned mask, T var, unsigned delta, int width = warpSize,
                          const char *f = __builtin_FILE(), int l = __builtin_LINE()) {
    return cudasim_detail::shfl(CUDASIM_W_SHFL_DOWN, mask, var, (int)delta, width, f, l);
}
template <class T>
inline T __shfl_xor_sync(unsigned mask, T var, int lane_mask, int width = warpSize,
                         const char *f = __builtin_FILE(), int l = __builtin_LINE()) {
    return cudasim_detail::shfl(CUDASIM_W_SHFL_XOR, mask, var, lane_mask, width, f, l);
}
inline unsigned __ballot_sync(unsigned mask, int pred, const char *f = __builtin_FILE(), int l = __builtin_LINE()) {
    return (unsigned)cudasim_warp(CUDASIM_W_BALLOT, mask, pred != 0, 0, 32, f, l);
}
inline int __any_sync(unsigned mask, int pred, const char *f = __builtin_FILE(), int l = __builtin_LINE()) {
    return (int)cudasim_warp(CUDASIM_W_ANY, mask, pred != 0, 0, 32, f, l);
}
inline int __all_sync(unsigned mask, int pred, const char *f = __builtin_FILE(), int l = __builtin_LINE()) {
    return (int)cudasim_warp(CUDASIM_W_ALL, mask, pred != 0, 0, 32, f, l);
}
inline unsigned __reduce_add_sync(unsigned mask, unsigned v, const char *f = __builtin_FILE(), int l = __builtin_LINE()) {
    return (unsigned)cudasim_warp(CUDASIM_W_REDUCE_ADD, mask, v, 0, 32, f, l);
}
inline unsigned __reduce_min_sync(unsigned mask, unsigned v, const char *f = __builtin_FILE(), int l = __builtin_LINE()) {
    return (unsigned)cudasim_warp(CUDASIM_W_REDUCE_MIN, mask, v, 0, 32, f, l);
}
inline unsigned __reduce_max_sync(unsigned mask, unsigned v, const char *f = __builtin_FILE(), int l = __builtin_LINE()) {
    return (unsigned)cudasim_warp(CUDASIM_W_REDUCE_MAX, mask, v, 0, 32, f, l);
}

/* ---- tensor cores: warp-level mma.sync --------------------------------------------------------
 * The two shapes of PTX `mma.sync.aligned.<shape>.row.col.f32.<type>.<type>.f32` the kernels use,
 * as warp collectives: every one of the 32 lanes must reach the same call (it is `.aligned`: no
 * mask, no divergence, a full warp), each with its own fragments in PTX's layout; the runtime
 * gathers the 32 lanes' fragments, forms A, B and C, and hands each lane its fragment of
 * D = A·B + C (the layouts and the arithmetic: runtime.cpp, `mma_resolve`). */
struct cudasim_mma_frag {
    uint32_t a[4];
    uint32_t b[2];
    float c[4];
    float d[4];
};
/* cvt.rna.tf32.f32: round to the 10-bit tf32 mantissa, to nearest with ties away from zero; the
 * 13 low bits of the result are zero. Inf and NaN pass unchanged. */
inline uint32_t cudasim_cvt_rna_tf32(float x) {
    uint32_t u;
    std::memcpy(&u, &x, 4);
    if ((u & 0x7f800000u) == 0x7f800000u) return u;
    return (u + 0x1000u) & 0xffffe000u; /* sign-magnitude: adding half an ulp rounds ties away */
}
inline void cudasim_mma_sync(int op, float d[4], const uint32_t a[4], const uint32_t b[2], const float c[4],
                             const char *f, int l) {
    cudasim_mma_frag fr;
    std::memcpy(fr.a, a, sizeof fr.a);
    std::memcpy(fr.b, b, sizeof fr.b);
    std::memcpy(fr.c, c, sizeof fr.c);
    (void)cudasim_warp(op, 0xffffffffu, (uint64_t)(uintptr_t)&fr, 0, 32, f, l);
    std::memcpy(d, fr.d, sizeof fr.d);
}
/* mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {d}, {a}, {b}, {c} */
inline void cudasim_mma_m16n8k8_tf32(float d[4], const uint32_t a[4], const uint32_t b[2], const float c[4],
                                     const char *f = __builtin_FILE(), int l = __builtin_LINE()) {
    cudasim_mma_sync(CUDASIM_W_MMA_M16N8K8_TF32, d, a, b, c, f, l);
}
/* mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {d}, {a}, {b}, {c} (two bf16 per register,
 * the lower-indexed element in the low half) */
inline void cudasim_mma_m16n8k16_bf16(float d[4], const uint32_t a[4], const uint32_t b[2], const float c[4],
                                      const char *f = __builtin_FILE(), int l = __builtin_LINE()) {
    cudasim_mma_sync(CUDASIM_W_MMA_M16N8K16_BF16, d, a, b, c, f, l);
}
/* mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {d}, {a}, {b}, {c} (the bf16 shape's layout,
 * two IEEE binary16 per register) */
inline void cudasim_mma_m16n8k16_f16(float d[4], const uint32_t a[4], const uint32_t b[2], const float c[4],
                                     const char *f = __builtin_FILE(), int l = __builtin_LINE()) {
    cudasim_mma_sync(CUDASIM_W_MMA_M16N8K16_F16, d, a, b, c, f, l);
}

/* mma.sync.aligned.m8n8k4.row.col.f64.f64.f64.f64 {d0, d1}, {a}, {b}, {c0, c1}: one fp64 element of
 * A (8x4), B (4x8) and two of C/D (8x8) per lane (runtime.cpp, `mma_resolve_f64`). */
struct cudasim_mma_frag64 {
    double a, b;
    double c[2];
    double d[2];
};
inline void cudasim_mma_m8n8k4_f64(double d[2], double a, double b, const double c[2],
                                   const char *f = __builtin_FILE(), int l = __builtin_LINE()) {
    cudasim_mma_frag64 fr;
    fr.a = a;
    fr.b = b;
    fr.c[0] = c[0];
    fr.c[1] = c[1];
    (void)cudasim_warp(CUDASIM_W_MMA_M8N8K4_F64, 0xffffffffu, (uint64_t)(uintptr_t)&fr, 0, 32, f, l);
    d[0] = fr.d[0];
    d[1] = fr.d[1];
}

/* ---- atomics ------------------------------------------------------------------------------------ */
namespace cudasim_detail {
template <class T> struct atype;
template <> struct atype<int> { static constexpr int v = CUDASIM_T_I32; };
template <> struct atype<unsigned> { static constexpr int v = CUDASIM_T_U32; };
template <> struct atype<unsigned long long> { static constexpr int v = CUDASIM_T_U64; };
template <> struct atype<float> { static constexpr int v = CUDASIM_T_F32; };
template <> struct atype<double> { static constexpr int v = CUDASIM_T_F64; };
template <class T> inline T atomic(int op, T *p, T v, T cmp = T()) {
    return from_bits<T>(cudasim_atomic(op, atype<T>::v, (void *)p, to_bits(v), to_bits(cmp)));
}
} // namespace cudasim_detail
template <class T> inline T atomicAdd(T *p, T v) { return cudasim_detail::atomic(CUDASIM_A_ADD, p, v); }
template <class T> inline T atomicMax(T *p, T v) { return cudasim_detail::atomic(CUDASIM_A_MAX, p, v); }
template <class T> inline T atomicMin(T *p, T v) { return cudasim_detail::atomic(CUDASIM_A_MIN, p, v); }
template <class T> inline T atomicExch(T *p, T v) { return cudasim_detail::atomic(CUDASIM_A_EXCH, p, v); }
template <class T> inline T atomicCAS(T *p, T cmp, T v) { return cudasim_detail::atomic(CUDASIM_A_CAS, p, v, cmp); }

/* ---- math (host libm; the fast variants are exact here) ------------------------------------------
 * Every call is counted by kind when the counters are on (cudasim_count_math; returns at once
 * otherwise): CUDASIM_M_SINCOS sin/cos/tan/sincos(pi), CUDASIM_M_EXPLOG exp/log/pow,
 * CUDASIM_M_DIV __fdividef/__frcp_rn/__fdiv_rn, CUDASIM_M_SQRT sqrt/rsqrt. The float libm names
 * (sinf, expf, sqrtf, ...) are macros for counted wrappers. Not counted: the double-precision
 * libm functions, and plain `/` on floats (the host compiler emits a divide instruction; nothing
 * to hook). */
extern "C" void cudasim_count_math(int kind);
enum { CUDASIM_M_SINCOS = 0, CUDASIM_M_EXPLOG = 1, CUDASIM_M_DIV = 2, CUDASIM_M_SQRT = 3 };
inline float cudasim_sinf(float x) { cudasim_count_math(CUDASIM_M_SINCOS); return ::sinf(x); }
inline float cudasim_cosf(float x) { cudasim_count_math(CUDASIM_M_SINCOS); return ::cosf(x); }
inline float cudasim_tanf(float x) { cudasim_count_math(CUDASIM_M_SINCOS); return ::tanf(x); }
inline void cudasim_sincosf(float x, float *s, float *c) { cudasim_count_math(CUDASIM_M_SINCOS); ::sincosf(x, s, c); }
inline float cudasim_expf(float x) { cudasim_count_math(CUDASIM_M_EXPLOG); return ::expf(x); }
inline float cudasim_exp2f(float x) { cudasim_count_math(CUDASIM_M_EXPLOG); return ::exp2f(x); }
inline float cudasim_exp10f(float x) { cudasim_count_math(CUDASIM_M_EXPLOG); return ::exp10f(x); }
inline float cudasim_logf(float x) { cudasim_count_math(CUDASIM_M_EXPLOG); return ::logf(x); }
inline float cudasim_log2f(float x) { cudasim_count_math(CUDASIM_M_EXPLOG); return ::log2f(x); }
inline float cudasim_log10f(float x) { cudasim_count_math(CUDASIM_M_EXPLOG); return ::log10f(x); }
inline float cudasim_powf(float x, float y) { cudasim_count_math(CUDASIM_M_EXPLOG); return ::powf(x, y); }
inline float cudasim_sqrtf(float x) { cudasim_count_math(CUDASIM_M_SQRT); return ::sqrtf(x); }
#define sinf(x) cudasim_sinf(x)
#define cosf(x) cudasim_cosf(x)
#define tanf(x) cudasim_tanf(x)
#define sincosf(x, s, c) cudasim_sincosf(x, s, c)
#define expf(x) cudasim_expf(x)
#define exp2f(x) cudasim_exp2f(x)
#define exp10f(x) cudasim_exp10f(x)
#define logf(x) cudasim_logf(x)
#define log2f(x) cudasim_log2f(x)
#define log10f(x) cudasim_log10f(x)
#define powf(x, y) cudasim_powf(x, y)
#define sqrtf(x) cudasim_sqrtf(x)
inline float __expf(float x) { return expf(x); }
inline float __exp10f(float x) { return exp10f(x); }
inline float __logf(float x) { return logf(x); }
inline float __log2f(float x) { return log2f(x); }
inline float __log10f(float x) { return log10f(x); }
inline float __sinf(float x) { return sinf(x); }
inline float __cosf(float x) { return cosf(x); }
inline float __tanf(float x) { return tanf(x); }
inline void __sincosf(float x, float *s, float *c) { sincosf(x, s, c); }
inline float __powf(float x, float y) { return powf(x, y); }
inline float __fdividef(float x, float y) { cudasim_count_math(CUDASIM_M_DIV); return x / y; }
inline float __frcp_rn(float x) { cudasim_count_math(CUDASIM_M_DIV); return 1.0f / x; }
inline float __fsqrt_rn(float x) { return sqrtf(x); }
inline float __fadd_rn(float x, float y) { return x + y; }
inline float __fsub_rn(float x, float y) { return x - y; }
inline float __fmul_rn(float x, float y) { return x * y; }
inline float __fdiv_rn(float x, float y) { cudasim_count_math(CUDASIM_M_DIV); return x / y; }
inline float __fmaf_rn(float x, float y, float z) { return fmaf(x, y, z); }
inline double __dadd_rn(double x, double y) { return x + y; }
inline double __dmul_rn(double x, double y) { return x * y; }
inline double __fma_rn(double x, double y, double z) { return fma(x, y, z); }
inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
inline double rsqrt(double x) { cudasim_count_math(CUDASIM_M_SQRT); return 1.0 / sqrt(x); }
inline float rcbrtf(float x) { return 1.0f / cbrtf(x); }
inline float sinpif(float x) { return sinf(3.14159265358979323846f * x); }
inline float cospif(float x) { return cosf(3.14159265358979323846f * x); }
inline void sincospif(float x, float *s, float *c) { sincosf(3.14159265358979323846f * x, s, c); }
inline double sinpi(double x) { cudasim_count_math(CUDASIM_M_SINCOS); return sin(3.14159265358979323846 * x); }
inline double cospi(double x) { cudasim_count_math(CUDASIM_M_SINCOS); return cos(3.14159265358979323846 * x); }
inline void sincospi(double x, double *s, double *c) {
    cudasim_count_math(CUDASIM_M_SINCOS);
    sincos(3.14159265358979323846 * x, s, c);
}
inline float __saturatef(float x) { return x < 0.0f ? 0.0f : (x > 1.0f ? 1.0f : (x == x ? x : 0.0f)); }
inline int __float2int_rn(float x) { return (int)nearbyintf(x); }
inline int __float2int_rz(float x) { return (int)x; }
inline float __int2float_rn(int x) { return (float)x; }
inline int __float_as_int(float x) { int i; std::memcpy(&i, &x, 4); return i; }
inline unsigned __float_as_uint(float x) { unsigned i; std::memcpy(&i, &x, 4); return i; }
inline float __int_as_float(int i) { float x; std::memcpy(&x, &i, 4); return x; }
inline float __uint_as_float(unsigned i) { float x; std::memcpy(&x, &i, 4); return x; }
inline long long __double_as_longlong(double x) { long long i; std::memcpy(&i, &x, 8); return i; }
inline double __longlong_as_double(long long i) { double x; std::memcpy(&x, &i, 8); return x; }
inline int __popc(unsigned x) { return __builtin_popcount(x); }
inline int __popcll(unsigned long long x) { return __builtin_popcountll(x); }
inline int __clz(int x) { return x == 0 ? 32 : __builtin_clz((unsigned)x); }
inline int __clzll(long long x) { return x == 0 ? 64 : __builtin_clzll((unsigned long long)x); }
inline int __ffs(int x) { return __builtin_ffs(x); }
inline int __ffsll(long long x) { return __builtin_ffsll(x); }
inline unsigned __brev(unsigned x) {
    unsigned r = 0;
    for (int i = 0; i < 32; ++i) r |= ((x >> i) & 1u) << (31 - i);
    return r;
}
inline unsigned __umulhi(unsigned a, unsigned b) { return (unsigned)(((unsigned long long)a * b) >> 32); }
inline int __mulhi(int a, int b) { return (int)(((long long)a * b) >> 32); }
template <class T> inline T __ldg(const T *p) { return *p; }
template <class T> inline T __ldcs(const T *p) { return *p; }
template <class T> inline void __stcs(T *p, T v) { *p = v; }

/* CUDA's global min/max overloads. */
inline int min(int a, int b) { return a < b ? a : b; }
inline int max(int a, int b) { return a > b ? a : b; }
inline unsigned min(unsigned a, unsigned b) { return a < b ? a : b; }
inline unsigned max(unsigned a, unsigned b) { return a > b ? a : b; }
inline long long min(long long a, long long b) { return a < b ? a : b; }
inline long long max(long long a, long long b) { return a > b ? a : b; }
inline unsigned long long min(unsigned long long a, unsigned long long b) { return a < b ? a : b; }
inline unsigned long long max(unsigned long long a, unsigned long long b) { return a > b ? a : b; }
inline long min(long a, long b) { return a < b ? a : b; }
inline long max(long a, long b) { return a > b ? a : b; }
inline unsigned long min(unsigned long a, unsigned long b) { return a < b ? a : b; }
inline unsigned long max(unsigned long a, unsigned long b) { return a > b ? a : b; }
inline float min(float a, float b) { return fminf(a, b); }
inline float max(float a, float b) { return fmaxf(a, b); }
inline double min(double a, double b) { return fmin(a, b); }
inline double max(double a, double b) { return fmax(a, b); }
/* Mixed argument types (e.g. int and unsigned): compare in the common type, as CUDA's overloads do. */
template <class A, class B,
          class = typename std::enable_if<std::is_arithmetic<A>::value && std::is_arithmetic<B>::value &&
                                          !std::is_same<A, B>::value>::type>
inline typename std::common_type<A, B>::type min(A a, B b) {
    typedef typename std::common_type<A, B>::type C;
    return (C)a < (C)b ? (C)a : (C)b;
}
template <class A, class B,
          class = typename std::enable_if<std::is_arithmetic<A>::value && std::is_arithmetic<B>::value &&
                                          !std::is_same<A, B>::value>::type>
inline typename std::common_type<A, B>::type max(A a, B b) {
    typedef typename std::common_type<A, B>::type C;
    return (C)a > (C)b ? (C)a : (C)b;
}

#endif /* CUDASIM_CUDA_SIM_H */
