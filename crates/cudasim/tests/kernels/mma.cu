/* Warp MMA (cuda_sim.h's mma.sync collectives) against a host matrix product: one warp loads A, B
 * and C from row-major arrays into PTX's fragment layouts and writes D back row-major. Simulator
 * only (under nvcc the same calls are inline PTX: kernels/mma.cuh of the hyena crate).
 * x: A [16][16] (tf32 uses columns 0..7), then B [16][8] (tf32 uses rows 0..7), then C [16][8];
 * out: D [16][8]. */
#include "simtest.h"

#define SIMTEST_MMA_BEGIN                                                                          \
    const float *A = (const float *)p.x, *B = A + 256, *C = A + 384;                               \
    float *D = (float *)p.out;                                                                     \
    const int lane = threadIdx.x, g = lane / 4, t = lane % 4;                                      \
    float c[4], d[4];                                                                              \
    for (int i = 0; i < 4; ++i) c[i] = C[(g + 8 * (i / 2)) * 8 + 2 * t + i % 2];

#define SIMTEST_MMA_END                                                                            \
    for (int i = 0; i < 4; ++i) D[(g + 8 * (i / 2)) * 8 + 2 * t + i % 2] = d[i];

/* A rounded with cvt.rna; B passed as raw fp32 bits (the tensor core reads the tf32 bits only). */
extern "C" __global__ void simtest_mma_tf32(const SimTestParams p) {
    SIMTEST_MMA_BEGIN
    uint32_t a[4], b[2];
    for (int r = 0; r < 4; ++r) a[r] = cudasim_cvt_rna_tf32(A[(g + 8 * (r % 2)) * 16 + t + 4 * (r / 2)]);
    for (int r = 0; r < 2; ++r) b[r] = __float_as_uint(B[(t + 4 * r) * 8 + g]);
    cudasim_mma_m16n8k8_tf32(d, a, b, c);
    SIMTEST_MMA_END
}

/* Planted layout bug: A's registers 1 and 2 swapped (rows g+8 and columns t+4 mixed up), the
 * mistake of reading the PTX table column-first. The test must see a wrong product. */
extern "C" __global__ void simtest_mma_tf32_layout_bug(const SimTestParams p) {
    SIMTEST_MMA_BEGIN
    uint32_t a[4], b[2];
    for (int r = 0; r < 4; ++r) a[r] = cudasim_cvt_rna_tf32(A[(g + 8 * (r / 2)) * 16 + t + 4 * (r % 2)]);
    for (int r = 0; r < 2; ++r) b[r] = __float_as_uint(B[(t + 4 * r) * 8 + g]);
    cudasim_mma_m16n8k8_tf32(d, a, b, c);
    SIMTEST_MMA_END
}

/* The m16n8k16 fragments of A (times a_scale) and B, two 16-bit operands per register through
 * pack(lo, hi) (lo in the low half): the bf16 and f16 tests' shared layout. */
template <class Pack>
__device__ inline void load_m16n8k16(const float *A, const float *B, float a_scale, int g, int t, uint32_t a[4],
                                     uint32_t b[2], Pack pack) {
    for (int r = 0; r < 4; ++r) {
        const float *row = A + (g + 8 * (r % 2)) * 16 + 2 * t + 8 * (r / 2);
        a[r] = pack(row[0] * a_scale, row[1] * a_scale);
    }
    for (int r = 0; r < 2; ++r) {
        const int k = 2 * t + 8 * r;
        b[r] = pack(B[k * 8 + g], B[(k + 1) * 8 + g]);
    }
}

extern "C" __global__ void simtest_mma_bf16(const SimTestParams p) {
    SIMTEST_MMA_BEGIN
    uint32_t a[4], b[2];
    load_m16n8k16(A, B, 1.0f, g, t, a, b, [](float lo, float hi) {
        __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi); /* .x (low half) = lo */
        uint32_t u;
        memcpy(&u, &v, 4);
        return u;
    });
    cudasim_mma_m16n8k16_bf16(d, a, b, c);
    SIMTEST_MMA_END
}

/* f16 operands, A scaled by 1/256 (exact: a power of two): those with |x| < 2^-6 (~1.6 %) land
 * among binary16's subnormals (below 2^-14). */
extern "C" __global__ void simtest_mma_f16(const SimTestParams p) {
    SIMTEST_MMA_BEGIN
    uint32_t a[4], b[2];
    load_m16n8k16(A, B, 1.0f / 256.0f, g, t, a, b, [](float lo, float hi) {
        __half2 v = __floats2half2_rn(lo, hi); /* .x (low half) = lo */
        uint32_t u;
        memcpy(&u, &v, 4);
        return u;
    });
    cudasim_mma_m16n8k16_f16(d, a, b, c);
    SIMTEST_MMA_END
}

/* Planted bug: the MMA inside a branch only lanes 0..15 take (mma.sync is .aligned: the whole warp
 * must execute it). */
extern "C" __global__ void simbug_mma_half_warp(const SimTestParams p) {
    SIMTEST_MMA_BEGIN
    uint32_t a[4] = {0, 0, 0, 0}, b[2] = {0, 0};
    for (int i = 0; i < 4; ++i) d[i] = 0.0f;
    if (lane < 16) cudasim_mma_m16n8k8_tf32(d, a, b, c);
    SIMTEST_MMA_END
}

/* f64 m8n8k4: x holds A [8][4], B [4][8] and C [8][8] as floats (exact in fp64); out D [8][8] fp64. */
extern "C" __global__ void simtest_mma_f64(const SimTestParams p) {
    const float *A = (const float *)p.x, *B = A + 32, *C = A + 64;
    double *D = (double *)p.out;
    const int lane = threadIdx.x, g = lane / 4, t = lane % 4;
    double c[2], d[2];
    for (int i = 0; i < 2; ++i) c[i] = C[g * 8 + 2 * t + i];
    cudasim_mma_m8n8k4_f64(d, (double)A[g * 4 + t], (double)B[t * 8 + g], c);
    for (int i = 0; i < 2; ++i) D[g * 8 + 2 * t + i] = d[i];
}
