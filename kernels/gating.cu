// gating.cu: the gating product of the Hyena operator (elementwise multiply), forward and backward;
// and the launch of the bias broadcast that the projections write before their beta = 1 GEMMs
// (hyena::bias_fill, common.cuh).
//
//   forward:  out[i]    = a[i] * b[i]
//   backward: grad_a[i] = grad_out[i] * b[i],  grad_b[i] = grad_out[i] * a[i]
//
// Storage dtype T in {float, __nv_bfloat16, __half}; arithmetic always in fp32, one rounding to T
// per output (round-to-nearest-even), so results equal the CPU reference computed in f32 and
// rounded once.
//
// Launch: 1-D grid, any block size (the Rust wrapper uses 256), grid-stride loop, so any grid size
// covers any n. When every pointer of the launch is 16-byte aligned the loop moves 16 bytes per
// load/store (4 x fp32 or 8 x 16-bit) and finishes the tail element by element; otherwise (e.g.
// a view at an odd offset) it runs element by element. The branch is uniform across the launch.
//
// Plain CUDA C++: compiled by nvcc for the GPU and by g++ against the simulator's header.
#include <cuda_fp16.h>
#include <cuda_bf16.h>
#include "common.cuh"
#include "hyena_params.h"

namespace hyena_gating {

using hyena::to_f32;
using hyena::from_f32;

using hyena::Pack;
using hyena::aligned16;

template <typename T> __device__ inline void gate_fwd(const HyenaGateFwdParams p) {
    const uint64_t tid = (uint64_t)blockIdx.x * blockDim.x + threadIdx.x;
    const uint64_t stride = (uint64_t)gridDim.x * blockDim.x;
    hyena::mul_into<T>(reinterpret_cast<const T*>(p.a), reinterpret_cast<const T*>(p.b), reinterpret_cast<T*>(p.out), p.n, tid, stride);
}

template <typename T> __device__ inline void gate_bwd(const HyenaGateBwdParams p) {
    const T* __restrict__ a = reinterpret_cast<const T*>(p.a);
    const T* __restrict__ b = reinterpret_cast<const T*>(p.b);
    const T* __restrict__ gy = reinterpret_cast<const T*>(p.grad_out);
    T* __restrict__ ga = reinterpret_cast<T*>(p.grad_a);
    T* __restrict__ gb = reinterpret_cast<T*>(p.grad_b);
    const uint64_t n = p.n;
    const uint64_t tid = (uint64_t)blockIdx.x * blockDim.x + threadIdx.x;
    const uint64_t stride = (uint64_t)gridDim.x * blockDim.x;
    uint64_t done = 0;
    if (aligned16(p.a) && aligned16(p.b) && aligned16(p.grad_out) && aligned16(p.grad_a) &&
        aligned16(p.grad_b)) {
        const int W = Pack<T>::W;
        const uint64_t nv = n / W;
        const Pack<T>* __restrict__ av = reinterpret_cast<const Pack<T>*>(a);
        const Pack<T>* __restrict__ bv = reinterpret_cast<const Pack<T>*>(b);
        const Pack<T>* __restrict__ gyv = reinterpret_cast<const Pack<T>*>(gy);
        Pack<T>* __restrict__ gav = reinterpret_cast<Pack<T>*>(ga);
        Pack<T>* __restrict__ gbv = reinterpret_cast<Pack<T>*>(gb);
        for (uint64_t i = tid; i < nv; i += stride) {
            const Pack<T> x = av[i];
            const Pack<T> y = bv[i];
            const Pack<T> g = gyv[i];
            Pack<T> za, zb;
#pragma unroll
            for (int k = 0; k < W; ++k) {
                const float gf = to_f32<T>(g.v[k]);
                za.v[k] = from_f32<T>(gf * to_f32<T>(y.v[k]));
                zb.v[k] = from_f32<T>(gf * to_f32<T>(x.v[k]));
            }
            gav[i] = za;
            gbv[i] = zb;
        }
        done = nv * W;
    }
    for (uint64_t i = done + tid; i < n; i += stride) {
        const float gf = to_f32<T>(gy[i]);
        ga[i] = from_f32<T>(gf * to_f32<T>(b[i]));
        gb[i] = from_f32<T>(gf * to_f32<T>(a[i]));
    }
}

}  // namespace hyena_gating

extern "C" __global__ void hyena_gate_fwd_f32(const HyenaGateFwdParams p) { hyena_gating::gate_fwd<float>(p); }
extern "C" __global__ void hyena_gate_fwd_bf16(const HyenaGateFwdParams p) { hyena_gating::gate_fwd<__nv_bfloat16>(p); }
extern "C" __global__ void hyena_gate_fwd_f16(const HyenaGateFwdParams p) { hyena_gating::gate_fwd<__half>(p); }

extern "C" __global__ void hyena_gate_bwd_f32(const HyenaGateBwdParams p) { hyena_gating::gate_bwd<float>(p); }
extern "C" __global__ void hyena_gate_bwd_bf16(const HyenaGateBwdParams p) { hyena_gating::gate_bwd<__nv_bfloat16>(p); }
extern "C" __global__ void hyena_gate_bwd_f16(const HyenaGateBwdParams p) { hyena_gating::gate_bwd<__half>(p); }

// The bias broadcast's body is hyena::bias_fill (common.cuh): the implicit filter's forward runs it
// too, inside its own launch (HyenaFilterFwdParams::fill).
extern "C" __global__ void hyena_bias_fill_f32(const HyenaBiasFillParams p) { hyena::bias_fill<float>(p, blockIdx.x * blockDim.x + threadIdx.x, gridDim.x * blockDim.x); }
extern "C" __global__ void hyena_bias_fill_bf16(const HyenaBiasFillParams p) { hyena::bias_fill<__nv_bfloat16>(p, blockIdx.x * blockDim.x + threadIdx.x, gridDim.x * blockDim.x); }
extern "C" __global__ void hyena_bias_fill_f16(const HyenaBiasFillParams p) { hyena::bias_fill<__half>(p, blockIdx.x * blockDim.x + threadIdx.x, gridDim.x * blockDim.x); }
