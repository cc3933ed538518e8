/*
 * mma.cuh: warp-level tensor-core MMA for the kernels, one definition for nvcc (inline PTX, sm_80+)
 * and for the SIMT simulator (cuda_sim.h's warp collectives, which follow the PTX fragment layouts).
 *
 * Fragment layouts (PTX ISA, "Matrix Fragments for mma.m16n8k8" / "mma.m16n8k16"), with
 * g = lane / 4 and t = lane % 4:
 *  - C, D (16×8 fp32, both shapes): d[i] is (row g + 8·(i/2), column 2t + i%2);
 *  - tf32 m16n8k8: a[r] is A (16×8) at (row g + 8·(r%2), column t + 4·(r/2)); b[r] is B (8×8) at
 *    (row t + 4r, column g);
 *  - bf16 and f16 m16n8k16: two elements per register, the lower-indexed in the low half: a[r] half h is
 *    A (16×16) at (row g + 8·(r%2), column 2t + h + 8·(r/2)); b[r] half h is B (16×8) at
 *    (row 2t + h + 8r, column g).
 *  - f64 m8n8k4 ("Matrix Fragments for mma.m8n8k4 with .f64"): a is A (8×4) at (row g, column t); b is
 *    B (4×8) at (row t, column g); d[i] and c[i] are C, D (8×8 fp64) at (row g, column 2t + i).
 * Every lane of the warp must call the same MMA together (`.aligned`).
 */
#ifndef HYENA_MMA_CUH
#define HYENA_MMA_CUH

#include <stdint.h>

/* Under the simulator the MMA wrappers take the caller's source position (as cuda_sim.h's warp
 * intrinsics do), so the lanes of a warp must meet at the same call site of the kernel. */
#ifdef CUDASIM
#define HYENA_MMA_SITE , const char *site_file = __builtin_FILE(), int site_line = __builtin_LINE()
#else
#define HYENA_MMA_SITE
#endif

namespace hyena {

/* The instruction of each primitive is one macro, expanded on a single line of the functions below
 * under both compilers: the SASS (nvcc -lineinfo) and the simulator's per-line execution counts
 * then name the same source line, which the GPU model joins on (crates/gpu-model, sass.rs). */
#ifdef CUDASIM
#define HYENA_CVT_TF32_(r, x) (r) = cudasim_cvt_rna_tf32(x)
#define HYENA_MMA_(kind, d, a, b, c) cudasim_mma_##kind(d, a, b, c, site_file, site_line)
#define HYENA_DMMA_(d, a, b, c) cudasim_mma_m8n8k4_f64(d, a, b, c, site_file, site_line)
#else
#define HYENA_CVT_TF32_(r, x) asm("cvt.rna.tf32.f32 %0, %1;" : "=r"(r) : "f"(x))
#define HYENA_MMA_(kind, d, a, b, c)                                                               \
    asm volatile("mma.sync.aligned." HYENA_MMA_PTX_##kind " {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, " \
                 "{%10,%11,%12,%13};"                                                             \
                 : "=f"(d[0]), "=f"(d[1]), "=f"(d[2]), "=f"(d[3])                                 \
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]), "f"(c[0]),   \
                   "f"(c[1]), "f"(c[2]), "f"(c[3]))
#define HYENA_DMMA_(d, a, b, c)                                                                    \
    asm volatile("mma.sync.aligned.m8n8k4.row.col.f64.f64.f64.f64 {%0,%1}, {%2}, {%3}, {%4,%5};"      \
                 : "=d"(d[0]), "=d"(d[1])                                                         \
                 : "d"(a), "d"(b), "d"(c[0]), "d"(c[1]))
#define HYENA_MMA_PTX_m16n8k8_tf32 "m16n8k8.row.col.f32.tf32.tf32.f32"
#define HYENA_MMA_PTX_m16n8k16_bf16 "m16n8k16.row.col.f32.bf16.bf16.f32"
#define HYENA_MMA_PTX_m16n8k16_f16 "m16n8k16.row.col.f32.f16.f16.f32"
#endif

/* fp32 -> tf32 bits (cvt.rna.tf32.f32: nearest, ties away from zero), the A/B operand format. */
__device__ __forceinline__ uint32_t to_tf32(float x) {
    uint32_t r;
    HYENA_CVT_TF32_(r, x);
    return r;
}

/* d = A·B + c, A 16×8 tf32, B 8×8 tf32, c/d 16×8 fp32 (mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32). */
__device__ __forceinline__ void mma_m16n8k8_tf32(float d[4], const uint32_t a[4], const uint32_t b[2],
                                                 const float c[4] HYENA_MMA_SITE) {
    HYENA_MMA_(m16n8k8_tf32, d, a, b, c);
}

/* d = A·B + c, A 16×16 bf16, B 16×8 bf16, c/d 16×8 fp32 (mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32). */
__device__ __forceinline__ void mma_m16n8k16_bf16(float d[4], const uint32_t a[4], const uint32_t b[2],
                                                  const float c[4] HYENA_MMA_SITE) {
    HYENA_MMA_(m16n8k16_bf16, d, a, b, c);
}

/* d = A·B + c, A 16×16 f16, B 16×8 f16, c/d 16×8 fp32 (mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32). */
__device__ __forceinline__ void mma_m16n8k16_f16(float d[4], const uint32_t a[4], const uint32_t b[2],
                                                 const float c[4] HYENA_MMA_SITE) {
    HYENA_MMA_(m16n8k16_f16, d, a, b, c);
}

/* d = A·B + c, A 8×4, B 4×8, c/d 8×8, all fp64 (mma.sync.aligned.m8n8k4.row.col.f64.f64.f64.f64; sm_80+):
 * 256 fused multiply-adds per warp instruction (DMMA) where a DFMA does 32. */
__device__ __forceinline__ void mma_m8n8k4_f64(double d[2], double a, double b, const double c[2] HYENA_MMA_SITE) {
    HYENA_DMMA_(d, a, b, c);
}

/* x = hi + lo for 3xTF32 operands: hi = tf32(x), lo = tf32(x − hi) (exact difference), so hi + lo
 * is x to within 2^-22 relative. */
__device__ __forceinline__ void split_tf32(float x, uint32_t &hi, uint32_t &lo) {
    hi = to_tf32(x);
    lo = to_tf32(x - __uint_as_float(hi));
}

/* d += A·B where A is exact in tf32 and only B is split: ahi·blo, then ahi·bhi, the 3xTF32 sequence
 * after its alo·bhi. A value of a 2-byte float type is such an A (bf16 has 8 significant bits, f16
 * 11 with subnormals down to 2^-24, tf32 11 in f32's exponent range): its lo is 0, alo·bhi adds exact
 * zeros, so this gives the 3xTF32 sums bit for bit with one MMA fewer and no split of A. */
__device__ __forceinline__ void mma_m16n8k8_2xtf32(float d[4], const uint32_t ahi[4], const uint32_t bhi[2],
                                                   const uint32_t blo[2]) {
    mma_m16n8k8_tf32(d, ahi, blo, d);
    mma_m16n8k8_tf32(d, ahi, bhi, d);
}

/* d += A·B at f32-level accuracy (3xTF32): alo·bhi and ahi·blo first (the small cross terms), then
 * ahi·bhi; the dropped alo·blo is below 2^-22 of each product. */
__device__ __forceinline__ void mma_m16n8k8_3xtf32(float d[4], const uint32_t ahi[4], const uint32_t alo[4],
                                                   const uint32_t bhi[2], const uint32_t blo[2]) {
    mma_m16n8k8_tf32(d, alo, bhi, d);
    mma_m16n8k8_2xtf32(d, ahi, bhi, blo);
}

}  // namespace hyena

#endif /* HYENA_MMA_CUH */
