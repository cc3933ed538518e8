// Self-test kernels of the SIMT simulator (compiled only for the simulator, never by nvcc).
//
// simtest_block_sum: block b sums x[b*n .. (b+1)*n) (n = p.n elements per block) into
// out[b] and counts the positive elements into aux[b] (as float). Exercises dynamic and static
// shared memory, __syncthreads, __shfl_down_sync, __shfl_xor_sync, __shfl_sync, __ballot_sync,
// __syncthreads_count and a shared-memory atomicAdd. Block size: any multiple of 32 up to 1024.
#include "simtest.h"

__device__ __forceinline__ float warp_sum_down(float v) {
    for (int off = 16; off > 0; off >>= 1) v += __shfl_down_sync(0xffffffffu, v, off);
    return v;
}

extern "C" __global__ void simtest_block_sum(const SimTestParams p) {
    CUDASIM_DYN_SHARED(float, tile);  // blockDim.x floats
    __shared__ float warp_sums[32];
    __shared__ int positives;
    const float* x = reinterpret_cast<const float*>(p.x) + (uint64_t)blockIdx.x * p.n;
    const unsigned tid = threadIdx.x, lane = tid % 32, warp = tid / 32, nt = blockDim.x;
    if (tid == 0) positives = 0;
    float acc = 0.0f;
    int pos = 0;
    for (uint64_t i = tid; i < p.n; i += nt) {
        acc += x[i];
        pos += x[i] > 0.0f;
    }
    tile[tid] = acc;
    __syncthreads();
    // Read another thread's slot: only correct after the barrier.
    float v = tile[nt - 1 - tid];
    v = warp_sum_down(v);
    v = __shfl_sync(0xffffffffu, v, 0);  // broadcast lane 0's sum to the warp
    const unsigned any_pos = __ballot_sync(0xffffffffu, pos > 0);
    if (lane == 0) warp_sums[warp] = v;
    if (pos > 0) atomicAdd(&positives, pos);
    const int nonzero_threads = __syncthreads_count(pos > 0);
    if (warp == 0) {
        float w = lane < nt / 32 ? warp_sums[lane] : 0.0f;
        for (int off = 16; off > 0; off >>= 1) w += __shfl_xor_sync(0xffffffffu, w, off);
        if (lane == 0) {
            float* out = reinterpret_cast<float*>(p.out);
            float* aux = reinterpret_cast<float*>(p.aux);
            out[blockIdx.x] = w;
            // positives counted twice, by the atomic and by ballot/syncthreads_count consistency
            aux[blockIdx.x] = (float)positives + (nonzero_threads >= __popc(any_pos) ? 0.0f : 1.0e9f);
        }
    }
}

// simtest_scan: inclusive prefix sum within each warp with __shfl_up_sync, then across the
// block through static shared memory; out[i] = sum of x[b*nt .. i] (one element per thread, n total).
extern "C" __global__ void simtest_scan(const SimTestParams p) {
    __shared__ float warp_tot[32];
    const unsigned tid = threadIdx.x, lane = tid % 32, warp = tid / 32;
    const uint64_t i = (uint64_t)blockIdx.x * blockDim.x + tid;
    const float* x = reinterpret_cast<const float*>(p.x);
    float v = i < p.n ? x[i] : 0.0f;
    for (int d = 1; d < 32; d <<= 1) {
        const float u = __shfl_up_sync(0xffffffffu, v, d);
        if (lane >= (unsigned)d) v += u;
    }
    if (lane == 31) warp_tot[warp] = v;
    __syncthreads();
    float off = 0.0f;
    for (unsigned w = 0; w < warp; ++w) off += warp_tot[w];
    if (i < p.n) reinterpret_cast<float*>(p.out)[i] = v + off;
}
