/* prelude.h: just enough of CUDA C for kernels.cu to compile as C and run
 * on the CPU, for the kernel tests (kernels/emu_test.go) on machines
 * without a GPU. One launch runs its blocks one after another; the threads
 * of a block are POSIX threads, so __syncthreads is a barrier and a
 * __shared__ array (a static local here) is shared by the block's threads
 * and reused by the next block, as on the GPU. */
#include <math.h>
#include <pthread.h>

typedef struct { unsigned int x, y, z; } dim3;
typedef struct { float x, y, z, w; } float4;

extern _Thread_local dim3 threadIdx, blockIdx;
extern dim3 blockDim, gridDim;

void __syncthreads(void);
float atomicAdd(float *addr, float v);

#define __global__ static
#define __device__ static
#define __forceinline__ inline
#define __shared__ static
