/*
 * cuda_sim.h: CUDA's execution model for the host C++ compiler (C++17), used by the SIMT simulator
 * (feature `sim`, build/sim.rs, src/device/sim.rs). build/sim.rs force-includes this header
 * (`-include`) before every kernels/*.cu and kernels/sim_tests/*.cu, compiled as C++ for the host.
 *
 * Kernels are written once, for nvcc, and need no #ifdef for the simulator. Rules they follow:
 *  - entry points: `extern "C" __global__ void NAME(ParamsStruct p)` (one params struct by value,
 *    see kernels/hyena_params.h); macros may generate them (the registry is built from the
 *    preprocessed source);
 *  - static shared memory: `__shared__ T name[N];` inside the kernel / device function;
 *  - dynamic shared memory: `HYENA_DYN_SHARED(T, name);` (declares `T* name`), from
 *    kernels/common.cuh, which works under nvcc and here; never `extern __shared__ T x[];`;
 *  - `__constant__` tables must be initialised in the source (they become `static const`);
 *    `__device__` global variables work (one host instance; not race-checked);
 *  - no `assert()` in kernels (it would abort the test process): use `__trap()`, which the
 *    simulator reports as an error of the launch.
 *
 * How it works (details in kernels/sim/runtime.cpp):
 *  - every thread of a block is a fiber; threadIdx/blockIdx/... are per-fiber values;
 *  - __syncthreads and the warp intrinsics are calls into the runtime, which switches fibers;
 *  - the kernel translation units are compiled with GCC's ThreadSanitizer *instrumentation*
 *    (-fsanitize=thread) but linked against the simulator's own __tsan_* hooks (no libtsan): every
 *    load and store of kernel code reaches the simulator, which checks it against the live device
 *    allocations, the block's shared memory (with red zones) and the thread's own stack, and tracks
 *    shared-memory accesses per barrier phase to report data races.
 */
#ifndef HYENA_CUDA_SIM_H
#define HYENA_CUDA_SIM_H

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

#define HYENA_SIM 1

#undef __global__
#undef __device__
#undef __host__
#undef __shared__
#undef __constant__
#undef __forceinline__
#undef __noinline__
#undef __launch_bounds__
#undef __managed__

/* The section is the registry's marker (build/sim.rs finds kernels in the preprocessed source by it). */
#define __global__ __attribute__((section(".text.hyena_sim_kernel"), used))
#define __device__
#define __host__
#define __forceinline__ inline __attribute__((always_inline))
#define __noinline__ __attribute__((noinline))
#define __launch_bounds__(...)
#define __constant__ static const

/* ---- static shared memory -------------------------------------------------------------------
 * `__shared__ float s[256];` becomes a static variable in the section `hyena_shared`, preceded in
 * the source by a 64-byte red zone variable. GCC lays out one function's statics in reverse
 * declaration order and, with -malign-data=abi, packs the (alignment 1) red zone right after the
 * variable, so any overflow of a shared variable lands in a red zone. The runtime finds the red
 * zones by their contents, poisons the variables before every block, and reports accesses that hit
 * a red zone. Blocks run one at a time, so one static instance per variable is enough. */
struct __attribute__((packed)) hyena_sim_redzone_t {
    unsigned char bytes[64];
};
#define HYENA_SIM_REDZONE_MAGIC "\x7fHYENA-SIM-SHARED-MEMORY-REDZONE(out of bounds if touched)\x7f!!!"
#define HYENA_SIM_CAT2(a, b) a##b
#define HYENA_SIM_CAT(a, b) HYENA_SIM_CAT2(a, b)
#define __shared__                                                                                 \
    __attribute__((section("hyena_shared"), used)) static hyena_sim_redzone_t HYENA_SIM_CAT(         \
        hyena_sim_rz_, __COUNTER__) = {HYENA_SIM_REDZONE_MAGIC};                                   \
    __attribute__((section("hyena_shared"))) static

extern "C" {
/* Per-fiber built-ins (constant for a thread's whole life, hence `const`). */
uint3 hyena_sim_thread_idx(void) __attribute__((const));
uint3 hyena_sim_block_idx(void) __attribute__((const));
dim3 hyena_sim_block_dim(void) __attribute__((const));
dim3 hyena_sim_grid_dim(void) __attribute__((const));
void *hyena_sim_dyn_shared(void) __attribute__((const));
/* kind: 0 plain, 1 count, 2 and, 3 or. Returns the reduction (0 for plain). */
int hyena_sim_syncthreads(int kind, int pred, const char *file, int line);
/* Warp collectives; see HYENA_SIM_W_* below. */
uint64_t hyena_sim_warp(int op, unsigned mask, uint64_t value, int arg, int width, const char *file, int line);
unsigned hyena_sim_activemask(void);
/* Atomics: bounds- and race-checked read-modify-write. op: HYENA_SIM_A_*; type: HYENA_SIM_T_*. */
uint64_t hyena_sim_atomic(int op, int type, void *addr, uint64_t value, uint64_t compare);
void hyena_sim_trap(const char *file, int line) __attribute__((noreturn));
}

enum {
    HYENA_SIM_W_SYNC = 0,
    HYENA_SIM_W_SHFL_IDX = 1,
    HYENA_SIM_W_SHFL_UP = 2,
    HYENA_SIM_W_SHFL_DOWN = 3,
    HYENA_SIM_W_SHFL_XOR = 4,
    HYENA_SIM_W_BALLOT = 5,
    HYENA_SIM_W_ANY = 6,
    HYENA_SIM_W_ALL = 7,
    HYENA_SIM_W_REDUCE_ADD = 8,
    HYENA_SIM_W_REDUCE_MIN = 9,
    HYENA_SIM_W_REDUCE_MAX = 10,
};
enum { HYENA_SIM_A_ADD = 0, HYENA_SIM_A_MAX = 1, HYENA_SIM_A_MIN = 2, HYENA_SIM_A_EXCH = 3, HYENA_SIM_A_CAS = 4 };
enum { HYENA_SIM_T_I32 = 0, HYENA_SIM_T_U32 = 1, HYENA_SIM_T_U64 = 2, HYENA_SIM_T_F32 = 3, HYENA_SIM_T_F64 = 4 };

#define threadIdx (::hyena_sim_thread_idx())
#define blockIdx (::hyena_sim_block_idx())
#define blockDim (::hyena_sim_block_dim())
#define gridDim (::hyena_sim_grid_dim())
static constexpr int warpSize = 32;

/* Dynamic shared memory (see kernels/common.cuh for the nvcc definition). */
#define HYENA_DYN_SHARED(T, name) T *name = reinterpret_cast<T *>(::hyena_sim_dyn_shared())

/* ---- barriers --------------------------------------------------------------------------------- */
inline void __syncthreads(const char *f = __builtin_FILE(), int l = __builtin_LINE()) {
    (void)hyena_sim_syncthreads(0, 0, f, l);
}
inline int __syncthreads_count(int p, const char *f = __builtin_FILE(), int l = __builtin_LINE()) {
    return hyena_sim_syncthreads(1, p != 0, f, l);
}
inline int __syncthreads_and(int p, const char *f = __builtin_FILE(), int l = __builtin_LINE()) {
    return hyena_sim_syncthreads(2, p != 0, f, l);
}
inline int __syncthreads_or(int p, const char *f = __builtin_FILE(), int l = __builtin_LINE()) {
    return hyena_sim_syncthreads(3, p != 0, f, l);
}
inline void __syncwarp(unsigned mask = 0xffffffffu, const char *f = __builtin_FILE(), int l = __builtin_LINE()) {
    (void)hyena_sim_warp(HYENA_SIM_W_SYNC, mask, 0, 0, 32, f, l);
}
inline void __threadfence() { __atomic_signal_fence(__ATOMIC_SEQ_CST); }
inline void __threadfence_block() { __atomic_signal_fence(__ATOMIC_SEQ_CST); }
inline void __nanosleep(unsigned) {}
inline unsigned __activemask() { return hyena_sim_activemask(); }
#define __trap() ::hyena_sim_trap(__FILE__, __LINE__)

/* ---- warp shuffles and votes ------------------------------------------------------------------ */
namespace hyena_sim_detail {
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
    return from_bits<T>(hyena_sim_warp(op, mask, to_bits(v), arg, width, f, l));
}
} // namespace hyena_sim_detail

template <class T>
inline T __shfl_sync(unsigned mask, T var, int src_lane, int width = warpSize, const char *f = __builtin_FILE(),
                     int l = __builtin_LINE()) {
    return hyena_sim_detail::shfl(HYENA_SIM_W_SHFL_IDX, mask, var, src_lane, width, f, l);
}
template <class T>
inline T __shfl_up_sync(unsigned mask, T var, unsigned delta, int width = warpSize,
                        const char *f = __builtin_FILE(), int l = __builtin_LINE()) {
    return hyena_sim_detail::shfl(HYENA_SIM_W_SHFL_UP, mask, var, (int)delta, width, f, l);
}
template <class T>
inline T __shfl_down_sync(unsigned mask, T var, unsigned delta, int width = warpSize,
                          const char *f = __builtin_FILE(), int l = __builtin_LINE()) {
    return hyena_sim_detail::shfl(HYENA_SIM_W_SHFL_DOWN, mask, var, (int)delta, width, f, l);
}
template <class T>
inline T __shfl_xor_sync(unsigned mask, T var, int lane_mask, int width = warpSize,
                         const char *f = __builtin_FILE(), int l = __builtin_LINE()) {
    return hyena_sim_detail::shfl(HYENA_SIM_W_SHFL_XOR, mask, var, lane_mask, width, f, l);
}
inline unsigned __ballot_sync(unsigned mask, int pred, const char *f = __builtin_FILE(), int l = __builtin_LINE()) {
    return (unsigned)hyena_sim_warp(HYENA_SIM_W_BALLOT, mask, pred != 0, 0, 32, f, l);
}
inline int __any_sync(unsigned mask, int pred, const char *f = __builtin_FILE(), int l = __builtin_LINE()) {
    return (int)hyena_sim_warp(HYENA_SIM_W_ANY, mask, pred != 0, 0, 32, f, l);
}
inline int __all_sync(unsigned mask, int pred, const char *f = __builtin_FILE(), int l = __builtin_LINE()) {
    return (int)hyena_sim_warp(HYENA_SIM_W_ALL, mask, pred != 0, 0, 32, f, l);
}
inline unsigned __reduce_add_sync(unsigned mask, unsigned v, const char *f = __builtin_FILE(), int l = __builtin_LINE()) {
    return (unsigned)hyena_sim_warp(HYENA_SIM_W_REDUCE_ADD, mask, v, 0, 32, f, l);
}
inline unsigned __reduce_min_sync(unsigned mask, unsigned v, const char *f = __builtin_FILE(), int l = __builtin_LINE()) {
    return (unsigned)hyena_sim_warp(HYENA_SIM_W_REDUCE_MIN, mask, v, 0, 32, f, l);
}
inline unsigned __reduce_max_sync(unsigned mask, unsigned v, const char *f = __builtin_FILE(), int l = __builtin_LINE()) {
    return (unsigned)hyena_sim_warp(HYENA_SIM_W_REDUCE_MAX, mask, v, 0, 32, f, l);
}

/* ---- atomics ------------------------------------------------------------------------------------ */
namespace hyena_sim_detail {
template <class T> struct atype;
template <> struct atype<int> { static constexpr int v = HYENA_SIM_T_I32; };
template <> struct atype<unsigned> { static constexpr int v = HYENA_SIM_T_U32; };
template <> struct atype<unsigned long long> { static constexpr int v = HYENA_SIM_T_U64; };
template <> struct atype<float> { static constexpr int v = HYENA_SIM_T_F32; };
template <> struct atype<double> { static constexpr int v = HYENA_SIM_T_F64; };
template <class T> inline T atomic(int op, T *p, T v, T cmp = T()) {
    return from_bits<T>(hyena_sim_atomic(op, atype<T>::v, (void *)p, to_bits(v), to_bits(cmp)));
}
} // namespace hyena_sim_detail
template <class T> inline T atomicAdd(T *p, T v) { return hyena_sim_detail::atomic(HYENA_SIM_A_ADD, p, v); }
template <class T> inline T atomicMax(T *p, T v) { return hyena_sim_detail::atomic(HYENA_SIM_A_MAX, p, v); }
template <class T> inline T atomicMin(T *p, T v) { return hyena_sim_detail::atomic(HYENA_SIM_A_MIN, p, v); }
template <class T> inline T atomicExch(T *p, T v) { return hyena_sim_detail::atomic(HYENA_SIM_A_EXCH, p, v); }
template <class T> inline T atomicCAS(T *p, T cmp, T v) { return hyena_sim_detail::atomic(HYENA_SIM_A_CAS, p, v, cmp); }

/* ---- math intrinsics (host libm; the fast variants are exact here) ------------------------------ */
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
inline float __fdividef(float x, float y) { return x / y; }
inline float __frcp_rn(float x) { return 1.0f / x; }
inline float __fsqrt_rn(float x) { return sqrtf(x); }
inline float __fadd_rn(float x, float y) { return x + y; }
inline float __fsub_rn(float x, float y) { return x - y; }
inline float __fmul_rn(float x, float y) { return x * y; }
inline float __fdiv_rn(float x, float y) { return x / y; }
inline float __fmaf_rn(float x, float y, float z) { return fmaf(x, y, z); }
inline double __dadd_rn(double x, double y) { return x + y; }
inline double __dmul_rn(double x, double y) { return x * y; }
inline double __fma_rn(double x, double y, double z) { return fma(x, y, z); }
inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
inline double rsqrt(double x) { return 1.0 / sqrt(x); }
inline float rcbrtf(float x) { return 1.0f / cbrtf(x); }
inline float sinpif(float x) { return sinf(3.14159265358979323846f * x); }
inline float cospif(float x) { return cosf(3.14159265358979323846f * x); }
inline void sincospif(float x, float *s, float *c) { sincosf(3.14159265358979323846f * x, s, c); }
inline double sinpi(double x) { return sin(3.14159265358979323846 * x); }
inline double cospi(double x) { return cos(3.14159265358979323846 * x); }
inline void sincospi(double x, double *s, double *c) { sincos(3.14159265358979323846 * x, s, c); }
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

#endif /* HYENA_CUDA_SIM_H */
