// Planted-bug kernels: each one MUST be reported by the SIMT simulator (tests/all/sim_checks.rs).
// Compiled only for the simulator, never by nvcc. One thread block of p.n threads unless noted.
#include "simtest.h"

// Intra-phase shared-memory race: a thread reads its neighbour's slot without a barrier.
extern "C" __global__ void simbug_shared_race(const SimTestParams p) {
    __shared__ float s[256];
    const unsigned t = threadIdx.x;
    s[t] = reinterpret_cast<const float*>(p.x)[t];
    // missing __syncthreads();
    reinterpret_cast<float*>(p.out)[t] = s[(t + 1) % blockDim.x];
}

// The same kernel with the barrier: must pass (control for the race test).
extern "C" __global__ void simtest_shared_norace(const SimTestParams p) {
    __shared__ float s[256];
    const unsigned t = threadIdx.x;
    s[t] = reinterpret_cast<const float*>(p.x)[t];
    __syncthreads();
    reinterpret_cast<float*>(p.out)[t] = s[(t + 1) % blockDim.x];
}

// Race through a shared scalar written by every thread (write-write).
extern "C" __global__ void simbug_shared_ww(const SimTestParams p) {
    __shared__ float last;
    last = reinterpret_cast<const float*>(p.x)[threadIdx.x];
    __syncthreads();
    if (threadIdx.x == 0) reinterpret_cast<float*>(p.out)[0] = last;
}

// Out-of-bounds global write: off by one past out[n-1].
extern "C" __global__ void simbug_oob_global(const SimTestParams p) {
    const uint64_t i = (uint64_t)blockIdx.x * blockDim.x + threadIdx.x;
    const float* x = reinterpret_cast<const float*>(p.x);
    float* out = reinterpret_cast<float*>(p.out);
    if (i <= p.n) out[i] = i < p.n ? x[i] : 0.0f;  // bug: <= instead of <
}

// Out-of-bounds static shared write: s[t + 1] with 64 threads and s[64].
extern "C" __global__ void simbug_oob_shared(const SimTestParams p) {
    __shared__ float s[64];
    const unsigned t = threadIdx.x;
    s[t + 1] = reinterpret_cast<const float*>(p.x)[t];  // bug: t + 1 == 64 for the last thread
    __syncthreads();
    reinterpret_cast<float*>(p.out)[t] = s[t];
}

// Out-of-bounds dynamic shared write: the launch gives blockDim.x floats.
extern "C" __global__ void simbug_oob_dyn_shared(const SimTestParams p) {
    CUDASIM_DYN_SHARED(float, tile);
    const unsigned t = threadIdx.x;
    tile[t + 1] = reinterpret_cast<const float*>(p.x)[t];  // bug
    __syncthreads();
    reinterpret_cast<float*>(p.out)[t] = tile[t];
}

// Barrier divergence: half the block returns before a __syncthreads the other half reaches.
extern "C" __global__ void simbug_barrier_exit(const SimTestParams p) {
    __shared__ float s[256];
    const unsigned t = threadIdx.x;
    if (t >= p.n) return;  // bug when p.n < blockDim.x
    s[t] = 1.0f;
    __syncthreads();
    reinterpret_cast<float*>(p.out)[t] = s[(t + 1) % p.n];
}

// Barrier divergence: odd and even threads wait at different __syncthreads.
extern "C" __global__ void simbug_barrier_split(const SimTestParams p) {
    const unsigned t = threadIdx.x;
    if (t % 2) {
        __syncthreads();
    } else {
        __syncthreads();
    }
    reinterpret_cast<float*>(p.out)[t] = 1.0f;
}

// Warp divergence: lanes >= 16 leave while lanes < 16 shuffle with the full mask.
extern "C" __global__ void simbug_shfl_exited(const SimTestParams p) {
    const unsigned t = threadIdx.x;
    if (t % 32 >= 16) return;
    float v = reinterpret_cast<const float*>(p.x)[t];
    v += __shfl_xor_sync(0xffffffffu, v, 1);
    reinterpret_cast<float*>(p.out)[t] = v;
}

// Inter-block race on global memory: every block writes the same out[0 .. blockDim.x).
// (Launch with several blocks; out holds blockDim.x floats.)
extern "C" __global__ void simbug_global_blocks_ww(const SimTestParams p) {
    const float* x = reinterpret_cast<const float*>(p.x);
    reinterpret_cast<float*>(p.out)[threadIdx.x] = x[(uint64_t)blockIdx.x * blockDim.x + threadIdx.x];
}

// Intra-block race on global memory: thread t writes out[t], then reads out[t + 1] without a
// barrier and stores it to aux[t].
extern "C" __global__ void simbug_global_rw(const SimTestParams p) {
    const unsigned t = threadIdx.x;
    float* out = reinterpret_cast<float*>(p.out);
    out[t] = reinterpret_cast<const float*>(p.x)[t];
    // missing __syncthreads();
    reinterpret_cast<float*>(p.aux)[t] = out[(t + 1) % blockDim.x];
}

// Control: every thread of every block adds its element into out[0] with a global atomicAdd
// (p.n elements, grid-stride); no race.
extern "C" __global__ void simtest_global_atomic_sum(const SimTestParams p) {
    const float* x = reinterpret_cast<const float*>(p.x);
    for (uint64_t i = (uint64_t)blockIdx.x * blockDim.x + threadIdx.x; i < p.n; i += (uint64_t)gridDim.x * blockDim.x)
        atomicAdd(reinterpret_cast<float*>(p.out), x[i]);
}

// Warp-synchronous exchange through shared memory with __syncwarp: no race (control).
extern "C" __global__ void simtest_warp_exchange(const SimTestParams p) {
    __shared__ float s[256];
    const unsigned t = threadIdx.x;
    s[t] = reinterpret_cast<const float*>(p.x)[t];
    __syncwarp();
    reinterpret_cast<float*>(p.out)[t] = s[t ^ 1];
}

// The same without __syncwarp: a race between lanes of one warp.
extern "C" __global__ void simbug_warp_exchange(const SimTestParams p) {
    __shared__ float s[256];
    const unsigned t = threadIdx.x;
    s[t] = reinterpret_cast<const float*>(p.x)[t];
    // missing __syncwarp();
    reinterpret_cast<float*>(p.out)[t] = s[t ^ 1];
}

// __syncwarp over half-warps (mask of the calling half) orders only lanes in that half: exchanging
// across halves (t ^ 16) after it is still a race.
extern "C" __global__ void simbug_half_warp_exchange(const SimTestParams p) {
    __shared__ float s[256];
    const unsigned t = threadIdx.x;
    s[t] = reinterpret_cast<const float*>(p.x)[t];
    __syncwarp((t % 32) < 16 ? 0x0000ffffu : 0xffff0000u);
    reinterpret_cast<float*>(p.out)[t] = s[t ^ 16];
}

// Every lane reads its word, __syncwarp, then each even lane reads its pair's two words and writes
// both (another lane read one of them before the sync): ordered, no race (control; the simulator
// once flagged it, keeping the first reader with the latest read's sequence number).
extern "C" __global__ void simtest_warp_reread_then_write(const SimTestParams p) {
    __shared__ float s[256];
    const unsigned t = threadIdx.x;
    s[t] = reinterpret_cast<const float*>(p.x)[t];
    __syncwarp();
    const float own = s[t];
    __syncwarp();
    if (t % 2 == 0) {
        const float a = s[t], b = s[t + 1];
        s[t] = a + b;
        s[t + 1] = a - b;
    }
    __syncwarp();
    reinterpret_cast<float*>(p.out)[t] = s[t] + own;
}

// The same without the second __syncwarp: the odd lane's read and the even lane's write of its
// word are unordered, a race.
extern "C" __global__ void simbug_warp_reread_then_write(const SimTestParams p) {
    __shared__ float s[256];
    const unsigned t = threadIdx.x;
    s[t] = reinterpret_cast<const float*>(p.x)[t];
    __syncwarp();
    const float own = s[t];
    // missing __syncwarp();
    if (t % 2 == 0) {
        const float a = s[t], b = s[t + 1];
        s[t] = a + b;
        s[t + 1] = a - b;
    }
    __syncwarp();
    reinterpret_cast<float*>(p.out)[t] = s[t] + own;
}

// Deadlock: in each warp, lanes < 16 shuffle with the full mask while lanes >= 16 wait at
// __syncthreads; neither can proceed.
extern "C" __global__ void simbug_shfl_vs_barrier(const SimTestParams p) {
    const unsigned t = threadIdx.x;
    float v = reinterpret_cast<const float*>(p.x)[t];
    if (t % 32 < 16) {
        v += __shfl_xor_sync(0xffffffffu, v, 1);
    } else {
        __syncthreads();
    }
    reinterpret_cast<float*>(p.out)[t] = v;
}

// __trap() from one thread: the launch fails with a report instead of killing the process.
extern "C" __global__ void simbug_trap(const SimTestParams p) {
    if (threadIdx.x == 3) __trap();
    reinterpret_cast<float*>(p.out)[threadIdx.x] = 1.0f;
}

// Control: __syncwarp in both branches of a divergent if (legal on sm_70+) orders the exchange.
extern "C" __global__ void simtest_syncwarp_divergent(const SimTestParams p) {
    __shared__ float s[256];
    const unsigned t = threadIdx.x;
    if (t % 2) {
        s[t] = 2.0f * reinterpret_cast<const float*>(p.x)[t];
        __syncwarp();
    } else {
        s[t] = reinterpret_cast<const float*>(p.x)[t];
        __syncwarp();
    }
    reinterpret_cast<float*>(p.out)[t] = s[t ^ 1];
}
