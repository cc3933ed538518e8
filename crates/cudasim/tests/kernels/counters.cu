// Microkernels with hand-counted answers for the counters (tests/all/counters.rs). Valid CUDA.
// Unless noted: one thread per element, blocks of 64 threads (2 warps), x and out 256-byte aligned.
#include "simtest.h"

// Coalesced f32 copy: per warp one load and one store request of 32 x 4 contiguous bytes = 4 sectors.
CUDASIM_UNIFORM_BLOCKS(cnt_copy);
extern "C" __global__ void cnt_copy(const SimTestParams p) {
    const uint64_t i = (uint64_t)blockIdx.x * blockDim.x + threadIdx.x;
    reinterpret_cast<float*>(p.out)[i] = reinterpret_cast<const float*>(p.x)[i];
}

// Stride-32 f32 read: lanes 128 bytes apart, 32 sectors per load request; coalesced store.
extern "C" __global__ void cnt_stride32(const SimTestParams p) {
    const uint64_t i = (uint64_t)blockIdx.x * blockDim.x + threadIdx.x;
    reinterpret_cast<float*>(p.out)[i] = reinterpret_cast<const float*>(p.x)[i * 32];
}

// Every block reads the same x[0..32) (4 sectors shared by all blocks) and writes its own outputs.
extern "C" __global__ void cnt_reuse(const SimTestParams p) {
    const unsigned t = threadIdx.x % 32;
    reinterpret_cast<float*>(p.out)[blockIdx.x * 32 + t] = reinterpret_cast<const float*>(p.x)[t];
}

// One warp. Row-wise fill of s[32][32] (32 store requests, 1 wavefront each), then a column read
// s[t][c] (1 load request; all 32 words in one bank: 32 wavefronts).
extern "C" __global__ void cnt_smem_col32(const SimTestParams p) {
    __shared__ float s[32][32];
    const unsigned t = threadIdx.x;
    for (int r = 0; r < 32; ++r) s[r][t] = (float)(r * 32 + t);
    __syncthreads();
    reinterpret_cast<float*>(p.out)[t] = s[t][p.n];
}

// The same with a padded row, s[32][33]: the column read hits 32 different banks (1 wavefront).
extern "C" __global__ void cnt_smem_col33(const SimTestParams p) {
    __shared__ float s[32][33];
    const unsigned t = threadIdx.x;
    for (int r = 0; r < 32; ++r) s[r][t] = (float)(r * 32 + t);
    __syncthreads();
    reinterpret_cast<float*>(p.out)[t] = s[t][p.n];
}

// One warp. Contiguous float2 store and load (8 bytes per lane, served per half-warp: 2
// wavefronts each), contiguous float4 store and load (16 bytes per lane, per quarter-warp: 4),
// and a broadcast read of one word by every lane (1).
extern "C" __global__ void cnt_smem_vec(const SimTestParams p) {
    __shared__ float2 s2[32];
    __shared__ float4 s4[32];
    __shared__ float one;
    const unsigned t = threadIdx.x;
    s2[t] = make_float2((float)t, 1.0f);
    s4[t] = make_float4((float)t, 1.0f, 2.0f, 3.0f);
    if (t == 0) one = 5.0f;
    __syncthreads();
    const float2 a = s2[(t + 1) % 32];
    const float4 b = s4[(t + 1) % 32];
    const float c = one;
    reinterpret_cast<float*>(p.out)[t] = a.x + a.y + b.x + b.y + b.z + b.w + c;
}

// p.n barriers per block.
extern "C" __global__ void cnt_barriers(const SimTestParams p) {
    for (uint64_t i = 0; i < p.n; ++i) __syncthreads();
}

// p.n calls of sinf per thread, one __expf, one sqrtf, one __fdividef; one warp shuffle and one
// __syncwarp per warp.
extern "C" __global__ void cnt_math(const SimTestParams p) {
    const unsigned t = threadIdx.x;
    const float x = reinterpret_cast<const float*>(p.x)[t];
    float acc = 0.0f;
    for (uint64_t i = 0; i < p.n; ++i) acc += sinf(x * (float)(i + 1));
    acc += __expf(x) + sqrtf(x * x) + __fdividef(x, 3.0f);
    acc += __shfl_xor_sync(0xffffffffu, acc, 1);
    __syncwarp();
    reinterpret_cast<float*>(p.out)[t] = acc;
}

// One shared-memory and one global atomicAdd per thread.
extern "C" __global__ void cnt_atomics(const SimTestParams p) {
    __shared__ int count;
    if (threadIdx.x == 0) count = 0;
    __syncthreads();
    atomicAdd(&count, 1);
    atomicAdd(reinterpret_cast<float*>(p.out), 1.0f);
    __syncthreads();
    if (threadIdx.x == 0) reinterpret_cast<float*>(p.aux)[blockIdx.x] = (float)count;
}

// A loop of p.n trips per thread (per-line counts: the body line runs p.n times per warp).
extern "C" __global__ void cnt_loop(const SimTestParams p) {
    const float* x = reinterpret_cast<const float*>(p.x);
    float acc = 0.0f;
    for (uint64_t i = 0; i < p.n; ++i) {
        acc = acc * 0.5f + x[i];  // LOOP-BODY
    }
    reinterpret_cast<float*>(p.out)[blockIdx.x * blockDim.x + threadIdx.x] = acc;
}

// One block of 64 threads: out = x, a barrier, then each thread reads back the other warp's word
// of out into aux (p.aux: float*). out's 8 sectors are stored and then loaded by the same block.
extern "C" __global__ void cnt_write_read_back(const SimTestParams p) {
    const unsigned i = threadIdx.x;
    float *out = reinterpret_cast<float*>(p.out);
    out[i] = reinterpret_cast<const float*>(p.x)[i];
    __syncthreads();
    reinterpret_cast<float*>(p.aux)[i] = out[(i + 32) % 64];
}
