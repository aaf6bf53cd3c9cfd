/* prelude.h: just enough of CUDA C for kernels.cu to compile as C and run
 * on the CPU (emu.c). The threads of a block run on one POSIX thread (as
 * fibers where the kernel synchronises), so a __shared__ array is a static
 * thread-local here: shared by the block's threads and reused by the next
 * block that POSIX thread runs, as on the GPU. */
#include <math.h>
#include <pthread.h>

typedef struct { unsigned int x, y, z; } dim3;
typedef struct { float x, y, z, w; } float4;

extern _Thread_local dim3 threadIdx, blockIdx;
extern dim3 blockDim, gridDim;

void __syncthreads(void);
float atomicAdd(float *addr, float v);

#define __global__ static
#define __launch_bounds__(...)
#define __device__ static
#define __forceinline__ inline
#define __shared__ static _Thread_local
#define __align__(n) __attribute__((aligned(n)))

/* V4's check (kernels.cu): p must be 16-byte aligned, as a GPU's 16-byte
 * access needs; one that is not fails the launch, naming the kernel. */
void *emu_aligned16(const void *p);

/* CUDA's correctly rounded single operations, which nvcc never fuses into
 * a multiply-add: plain operations here, where emu.c turns contraction off. */
static inline float __fmul_rn(float a, float b) { return a * b; }
static inline float __fadd_rn(float a, float b) { return a + b; }
static inline float __fsub_rn(float a, float b) { return a - b; }
static inline float __fdiv_rn(float a, float b) { return a / b; }
