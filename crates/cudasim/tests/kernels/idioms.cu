// Self-test of the CUDA idioms the simulator header provides (compiled only for the simulator).
// simtest_idioms: block (32, 2, 1), grid (2, 2, 1); thread g (global linear index, x fastest
// within the block, blocks in x-fastest order) reads x[g] and writes 16 results to out[16*g + k]
// (see tests/all/sim_checks.rs for the expected values). x holds 4*64*... floats in (-1, 1).
#include "simtest.h"
#include <cuda_bf16.h>
#include <cuda_fp16.h>

extern "C" __global__ void simtest_idioms(const SimTestParams p) {
    __shared__ int block_max;
    const unsigned tib = threadIdx.y * blockDim.x + threadIdx.x;
    const unsigned nt = blockDim.x * blockDim.y;
    const unsigned blk = blockIdx.y * gridDim.x + blockIdx.x;
    const unsigned g = blk * nt + tib;
    const unsigned lane = tib % 32;
    const float* x = reinterpret_cast<const float*>(p.x);
    float* out = reinterpret_cast<float*>(p.out) + 16 * (uint64_t)g;
    const float v = __ldg(&x[g]);
    if (tib == 0) block_max = -1000000;

    out[0] = __expf(v);
    float s, c;
    sincosf(v, &s, &c);
    out[1] = s + 2.0f * c;
    out[2] = rsqrtf(1.0f + v * v);
    out[3] = __fdividef(v, 3.0f);
    out[4] = fmaf(v, 2.0f, 1.0f);
    const float4 q = reinterpret_cast<const float4*>(x)[g / 4];
    out[5] = q.x + q.y + q.z + q.w;
    const __half2 h = __floats2half2_rn(v, 2.0f * v);
    const __half2 h2 = __hmul2(h, h);
    out[6] = __low2float(h2) + __high2float(h2);
    out[7] = __bfloat162float(__float2bfloat16(v));
    double d = v;
    d += __shfl_xor_sync(0xffffffffu, d, 1);
    out[8] = (float)d;
    out[9] = __shfl_down_sync(0xffffffffu, v, 1, 8);
    out[10] = __shfl_up_sync(0xffffffffu, v, 3, 16);
    out[11] = __shfl_sync(0xffffffffu, v, (int)lane + 5, 8);
    const unsigned bal = __ballot_sync(0xffffffffu, v > 0.0f);
    const int any = __any_sync(0xffffffffu, v > 0.9f);
    const int all = __all_sync(0xffffffffu, v > -2.0f);
    out[12] = (float)(__popc(bal) + 100 * any + 1000 * all);
    out[13] = (float)__reduce_add_sync(0xffffffffu, lane);
    out[14] = (float)(min((int)lane, 7) + (int)max(3, lane) + __popc(lane) + __ffs((int)lane) + (int)(__brev(lane) >> 27));
    __syncthreads();
    atomicMax(&block_max, (int)(v * 1000.0f));
    const int any_big = __syncthreads_or(v > 0.99f);
    const int all_ok = __syncthreads_and(v > -2.0f);
    out[15] = (float)block_max + 10000.0f * (float)any_big + 100000.0f * (float)all_ok;
}

// Shared arrays of fp16/bf16 types (their static-local guard variables live in the module's data
// segment): block of 64 threads, out[t] = half(x[63-t]) + bf16(x[63-t]) through shared memory.
extern "C" __global__ void simtest_half_shared(const SimTestParams p) {
    __shared__ __half hs[64];
    __shared__ __nv_bfloat16 bs[64];
    const unsigned t = threadIdx.x;
    const float v = reinterpret_cast<const float*>(p.x)[t];
    hs[t] = __float2half(v);
    bs[t] = __float2bfloat16(v);
    __syncthreads();
    reinterpret_cast<float*>(p.out)[t] = __half2float(hs[63 - t]) + __bfloat162float(bs[63 - t]);
}
