/* main.c: runs one kernel of kernels.cu on the CPU (see prelude.h).
 *
 * stdin: the kernel's name and a newline; int32 grid and block sizes;
 * int32 argument count; then per argument a type byte and its value:
 * 'P' int64 byte count and the bytes (a buffer; its address is passed),
 * 'N' (a null pointer), 'I' int32, 'L' int64, 'F' float32.
 * stdout: the bytes of every 'P' buffer after the run, in order.
 * Exit status 2 with a message on stderr for a bad request. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prelude.h"
#include "../kernels.cu"

_Thread_local dim3 threadIdx, blockIdx;
dim3 blockDim, gridDim;
static pthread_barrier_t barrier;
static pthread_mutex_t atomic_mu = PTHREAD_MUTEX_INITIALIZER;

void __syncthreads(void) { pthread_barrier_wait(&barrier); }

float atomicAdd(float *addr, float v) {
	pthread_mutex_lock(&atomic_mu);
	float old = *addr;
	*addr = old + v;
	pthread_mutex_unlock(&atomic_mu);
	return old;
}

#define MAXARGS 16
static void *argv_[MAXARGS];

/* Each kernel's call from the argument slots. */
#define A(i, T) (*(T *)argv_[i])
static void call(const char *k) {
	if (!strcmp(k, "gather")) gather(A(0, unsigned char *), A(1, int *), A(2, int *), A(3, int *), A(4, float *), A(5, int *), A(6, int), A(7, int));
	else if (!strcmp(k, "advance")) advance(A(0, int *), A(1, int));
	else if (!strcmp(k, "bias_act")) bias_act(A(0, float *), A(1, float *), A(2, long long), A(3, int), A(4, int), A(5, int));
	else if (!strcmp(k, "first_conv3")) first_conv3(A(0, float *), A(1, float *), A(2, float *), A(3, float *), A(4, int), A(5, int), A(6, int), A(7, int), A(8, int), A(9, int));
	else if (!strcmp(k, "first_conv5")) first_conv5(A(0, float *), A(1, float *), A(2, float *), A(3, float *), A(4, int), A(5, int), A(6, int), A(7, int), A(8, int), A(9, int));
	else if (!strcmp(k, "act_grad")) act_grad(A(0, float *), A(1, float *), A(2, float *), A(3, long long), A(4, int));
	else if (!strcmp(k, "bias_grad")) bias_grad(A(0, float *), A(1, float *), A(2, int), A(3, int), A(4, int));
	else if (!strcmp(k, "act_bias_grad")) act_bias_grad(A(0, float *), A(1, float *), A(2, float *), A(3, float *), A(4, int), A(5, int), A(6, int), A(7, int), A(8, int));
	else if (!strcmp(k, "sum_partials")) sum_partials(A(0, float *), A(1, float *), A(2, int), A(3, int));
	else if (!strcmp(k, "sum_partials2")) sum_partials2(A(0, float *), A(1, int), A(2, float *), A(3, float *), A(4, int), A(5, int));
	else if (!strcmp(k, "first_grad3")) first_grad3(A(0, float *), A(1, float *), A(2, float *), A(3, float *), A(4, int), A(5, int), A(6, int), A(7, int), A(8, int), A(9, int), A(10, int));
	else if (!strcmp(k, "first_grad5")) first_grad5(A(0, float *), A(1, float *), A(2, float *), A(3, float *), A(4, int), A(5, int), A(6, int), A(7, int), A(8, int), A(9, int), A(10, int));
	else if (!strcmp(k, "maxpool")) maxpool(A(0, float *), A(1, float *), A(2, int *), A(3, int), A(4, int), A(5, int), A(6, int));
	else if (!strcmp(k, "maxpool_back")) maxpool_back(A(0, float *), A(1, int *), A(2, float *), A(3, long long));
	else if (!strcmp(k, "maxpool_back_all")) maxpool_back_all(A(0, float *), A(1, int *), A(2, float *), A(3, int), A(4, int), A(5, int), A(6, int));
	else if (!strcmp(k, "dense_small")) dense_small(A(0, float *), A(1, float *), A(2, float *), A(3, float *), A(4, int), A(5, int), A(6, int), A(7, int));
	else if (!strcmp(k, "dense_small_dw")) dense_small_dw(A(0, float *), A(1, float *), A(2, float *), A(3, int), A(4, int), A(5, int));
	else if (!strcmp(k, "dense_small_dx")) dense_small_dx(A(0, float *), A(1, float *), A(2, float *), A(3, int), A(4, int), A(5, int));
	else if (!strcmp(k, "softmax_xent")) softmax_xent(A(0, float *), A(1, int *), A(2, float *), A(3, float *), A(4, float *), A(5, int), A(6, int));
	else if (!strcmp(k, "adam")) adam(A(0, float *), A(1, float *), A(2, float *), A(3, float *), A(4, float *), A(5, long long), A(6, float), A(7, float), A(8, float), A(9, float));
	else if (!strcmp(k, "adam4")) adam4(A(0, float *), A(1, float *), A(2, float *), A(3, float *), A(4, float *), A(5, long long), A(6, float), A(7, float), A(8, float), A(9, float));
	else if (!strcmp(k, "sgd")) sgd(A(0, float *), A(1, float *), A(2, float *), A(3, long long), A(4, float), A(5, float));
	else if (!strcmp(k, "step_inc")) step_inc(A(0, float *));
	else if (!strcmp(k, "fill_f32")) fill_f32(A(0, float *), A(1, float), A(2, long long));
	else if (!strcmp(k, "fill_i32")) fill_i32(A(0, int *), A(1, int), A(2, long long));
	else if (!strcmp(k, "fill_u8")) fill_u8(A(0, unsigned char *), A(1, unsigned char), A(2, long long));
	else {
		fprintf(stderr, "emu: no kernel %s\n", k);
		exit(2);
	}
}

static char kernel[64];
static int grid;

static void *thread_main(void *p) {
	threadIdx.x = (unsigned)(uintptr_t)p;
	threadIdx.y = threadIdx.z = 0;
	for (int b = 0; b < grid; b++) {
		blockIdx.x = b;
		blockIdx.y = blockIdx.z = 0;
		call(kernel);
		pthread_barrier_wait(&barrier); /* the block ends */
	}
	return NULL;
}

static void readn(void *p, size_t n) {
	if (n && fread(p, 1, n, stdin) != n) {
		fprintf(stderr, "emu: short input\n");
		exit(2);
	}
}

int main(void) {
	if (!fgets(kernel, sizeof kernel, stdin)) return 2;
	kernel[strcspn(kernel, "\n")] = 0;
	int32_t g, b, nargs;
	readn(&g, 4);
	readn(&b, 4);
	readn(&nargs, 4);
	if (g < 1 || b < 1 || b > 1024 || nargs < 0 || nargs > MAXARGS) {
		fprintf(stderr, "emu: bad launch %d x %d, %d arguments\n", g, b, nargs);
		return 2;
	}
	void *bufs[MAXARGS];
	int64_t lens[MAXARGS];
	char types[MAXARGS];
	for (int i = 0; i < nargs; i++) {
		readn(&types[i], 1);
		argv_[i] = calloc(1, 8);
		switch (types[i]) {
		case 'P':
			readn(&lens[i], 8);
			/* 16 spare bytes: an overrun of a vector load stays inside. */
			bufs[i] = aligned_alloc(16, (lens[i] + 31) / 16 * 16);
			readn(bufs[i], lens[i]);
			*(void **)argv_[i] = bufs[i];
			break;
		case 'N': break;
		case 'I': readn(argv_[i], 4); break;
		case 'L': readn(argv_[i], 8); break;
		case 'F': readn(argv_[i], 4); break;
		default:
			fprintf(stderr, "emu: bad argument type %c\n", types[i]);
			return 2;
		}
	}
	grid = g;
	blockDim.x = b;
	blockDim.y = blockDim.z = 1;
	gridDim.x = g;
	gridDim.y = gridDim.z = 1;
	pthread_barrier_init(&barrier, NULL, b);
	pthread_t th[1024];
	for (int t = 0; t < b; t++) pthread_create(&th[t], NULL, thread_main, (void *)(uintptr_t)t);
	for (int t = 0; t < b; t++) pthread_join(th[t], NULL);
	for (int i = 0; i < nargs; i++)
		if (types[i] == 'P') fwrite(bufs[i], 1, lens[i], stdout);
	return 0;
}
