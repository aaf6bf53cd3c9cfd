// kernels.cu: cnngpu's own CUDA kernels, for what cuDNN and cuBLAS do not
// do in one launch: batch assembly on the device, bias + activation and its
// gradient, bias gradients, max-pooling with argmax, softmax cross-entropy
// with on-device statistics, and the optimizer updates over one flat
// parameter buffer. Each mirrors the CPU engine's op of the same name
// (engine/cpu) and is checked against the float64 reference by the
// conformance suite. `make kernels` compiles this file to kernels.ptx.
//
// Activation codes follow engine.Activation: 0 identity, 1 ReLU,
// 2 sigmoid, 3 tanh.
//
// The file is also valid C (no references or templates; extern "C" only
// under C++), so that kernels/emu compiles it for the CPU, where
// kernels/emu_test.go runs every kernel against a float64 reference
// without a GPU.

#ifdef __cplusplus
extern "C" {
#endif

// gather: x[k,j] = images[perm[cursor+k], j] / 255, y[k] = labels[...].
// x: (n,pixels) f32, y: (n) i32; one thread per pixel.
__global__ void gather(const unsigned char *images, const int *labels, const int *perm, const int *cursor,
                       float *x, int *y, int n, int pixels) {
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (long long)n * pixels) return;
    int k = (int)(i / pixels), j = (int)(i % pixels);
    int idx = perm[cursor[0] + k];
    x[i] = (float)images[(long long)idx * pixels + j] / 255.0f;
    if (j == 0) y[k] = labels[idx];
}

// advance: cursor += n (after gather, in its own launch so every gather
// thread saw the old value).
__global__ void advance(int *cursor, int n) {
    if (blockIdx.x == 0 && threadIdx.x == 0) cursor[0] += n;
}

__device__ __forceinline__ float act_f(float v, int act) {
    switch (act) {
    case 1: return v > 0.0f ? v : 0.0f;
    case 2: return 1.0f / (1.0f + expf(-v));
    case 3: return tanhf(v);
    }
    return v;
}

// bias_act: y[i] = act(y[i] + b[(i / inner) % k]). Convolutions pass
// inner = P*Q (bias per channel), dense layers inner = 1 (bias per column).
__global__ void bias_act(float *y, const float *b, long long total, int inner, int k, int act) {
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= total) return;
    y[i] = act_f(y[i] + b[(i / inner) % k], act);
}

// act_grad: dz = dy * act'(y), act' expressed through the output y.
__global__ void act_grad(float *dz, const float *dy, const float *y, long long total, int act) {
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= total) return;
    float g = dy[i], v = y[i];
    switch (act) {
    case 1: g = v > 0.0f ? g : 0.0f; break;
    case 2: g = g * v * (1.0f - v); break;
    case 3: g = g * (1.0f - v * v); break;
    }
    dz[i] = g;
}

// bias_grad: db[c] = sum over n < nb and p < inner of dz[(n*k + c)*inner + p].
// One block per channel; a fixed summation order, so results repeat.
__global__ void bias_grad(float *db, const float *dz, int nb, int k, int inner) {
    __shared__ float part[256];
    int c = blockIdx.x;
    float s = 0.0f;
    long long count = (long long)nb * inner;
    for (long long e = threadIdx.x; e < count; e += blockDim.x) {
        long long n = e / inner, p = e % inner;
        s += dz[(n * k + c) * inner + p];
    }
    part[threadIdx.x] = s;
    __syncthreads();
    for (int w = blockDim.x / 2; w > 0; w >>= 1) {
        if (threadIdx.x < w) part[threadIdx.x] += part[threadIdx.x + w];
        __syncthreads();
    }
    if (threadIdx.x == 0) db[c] = part[0];
}

__device__ __forceinline__ float act_d(float g, float v, int act) {
    switch (act) {
    case 1: return v > 0.0f ? g : 0.0f;
    case 2: return g * v * (1.0f - v);
    case 3: return g * (1.0f - v * v);
    }
    return g;
}

// act_bias_grad: for a convolution's output gradient dy (nb,k,inner) and
// output y: dz = dy * act'(y) (written when dz is not null) and per-block
// partial sums of dz for the bias gradient. Block b handles channel
// b / splits and the images of its slice b % splits of nb, so that many
// blocks share a channel; sum_partials adds the slices in a fixed order.
__global__ void act_bias_grad(float *dz, float *partial, const float *dy, const float *y, int nb, int k, int inner,
                              int splits, int act) {
    __shared__ float part[256];
    int c = blockIdx.x / splits, sp = blockIdx.x % splits;
    int n0 = (int)((long long)sp * nb / splits), n1 = (int)((long long)(sp + 1) * nb / splits);
    int count = (n1 - n0) * inner;
    float s = 0.0f;
    for (int e = threadIdx.x; e < count; e += blockDim.x) {
        int n = n0 + e / inner, p = e % inner;
        long long i = ((long long)n * k + c) * inner + p;
        float g = act_d(dy[i], y[i], act);
        if (dz) dz[i] = g;
        s += g;
    }
    part[threadIdx.x] = s;
    __syncthreads();
    for (int w = blockDim.x / 2; w > 0; w >>= 1) {
        if (threadIdx.x < w) part[threadIdx.x] += part[threadIdx.x + w];
        __syncthreads();
    }
    if (threadIdx.x == 0) partial[blockIdx.x] = part[0];
}

// sum_partials: out[i] = sum over j < splits of partial[i*splits + j], in
// order; one thread per output, n outputs.
__global__ void sum_partials(float *out, const float *partial, int n, int splits) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    float s = 0.0f;
    for (int j = 0; j < splits; j++) s += partial[(long long)i * splits + j];
    out[i] = s;
}

// maxpool: square windows of size with equal stride; arg holds the index in
// x of the first maximum. One thread per output element.
__global__ void maxpool(const float *x, float *y, int *arg, int planes, int h, int w, int size) {
    int oh = h / size, ow = w / size;
    long long o = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (o >= (long long)planes * oh * ow) return;
    int pl = (int)(o / (oh * ow)), r = (int)(o % (oh * ow));
    int i = r / ow, j = r % ow;
    long long base = (long long)pl * h * w;
    long long best = base + (long long)(i * size) * w + j * size;
    float bv = x[best];
    for (int a = 0; a < size; a++)
        for (int b = 0; b < size; b++) {
            long long idx = base + (long long)(i * size + a) * w + j * size + b;
            float v = x[idx];
            if (v > bv) { bv = v; best = idx; }
        }
    y[o] = bv;
    arg[o] = (int)best;
}

// maxpool_back: dx[arg[o]] += dy[o]; dx must be zeroed first. Windows do
// not overlap, so no two outputs share an input.
__global__ void maxpool_back(const float *dy, const int *arg, float *dx, long long outs) {
    long long o = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (o >= outs) return;
    dx[arg[o]] += dy[o];
}

// softmax_xent: one thread per row of logits (n, classes <= 32). Adds the
// summed loss, the correct count and n to stats[0..2]; writes probs and
// dlogits = (softmax - onehot)/n when they are not null.
__global__ void softmax_xent(const float *z, const int *labels, float *probs, float *dz, float *stats, int n, int classes) {
    __shared__ float sl[256];
    __shared__ float sc[256];
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    float loss = 0.0f, correct = 0.0f;
    if (i < n) {
        const float *row = z + (long long)i * classes;
        float m = row[0];
        int arg = 0;
        for (int j = 1; j < classes; j++)
            if (row[j] > m) { m = row[j]; arg = j; }
        float sum = 0.0f;
        for (int j = 0; j < classes; j++) sum += expf(row[j] - m);
        int l = labels[i];
        loss = logf(sum) - (row[l] - m);
        correct = (arg == l) ? 1.0f : 0.0f;
        float inv = 1.0f / (float)n;
        for (int j = 0; j < classes; j++) {
            float p = expf(row[j] - m) / sum;
            if (probs) probs[(long long)i * classes + j] = p;
            if (dz) dz[(long long)i * classes + j] = (p - (j == l ? 1.0f : 0.0f)) * inv;
        }
    }
    sl[threadIdx.x] = loss;
    sc[threadIdx.x] = correct;
    __syncthreads();
    for (int w = blockDim.x / 2; w > 0; w >>= 1) {
        if (threadIdx.x < w) {
            sl[threadIdx.x] += sl[threadIdx.x + w];
            sc[threadIdx.x] += sc[threadIdx.x + w];
        }
        __syncthreads();
    }
    if (threadIdx.x == 0) {
        atomicAdd(&stats[0], sl[0]);
        atomicAdd(&stats[1], sc[0]);
        if (blockIdx.x == 0) atomicAdd(&stats[2], (float)n);
    }
}

// adam: Keras's formulation, t = step[0] + 1 read on the device so a CUDA
// graph replays it unchanged:
// alpha = lr*sqrt(1-b2^t)/(1-b1^t); m += (g-m)(1-b1); v += (g²-v)(1-b2);
// p -= alpha*m/(sqrt(v)+eps).
__global__ void adam(float *p, const float *g, float *m, float *v, const float *step, long long n,
                     float lr, float b1, float b2, float eps) {
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    float t = step[0] + 1.0f;
    float alpha = lr * sqrtf(1.0f - powf(b2, t)) / (1.0f - powf(b1, t));
    float gi = g[i];
    float mi = m[i] + (gi - m[i]) * (1.0f - b1);
    float vi = v[i] + (gi * gi - v[i]) * (1.0f - b2);
    m[i] = mi;
    v[i] = vi;
    p[i] -= mi * alpha / (sqrtf(vi) + eps);
}

// adam4: adam with four elements per thread through 16-byte loads; every
// pointer must be 16-byte aligned. Thread i updates elements 4i..4i+3 (the
// last one the tail of n).
__device__ __forceinline__ void adam_one(float *p, float gi, float *m, float *v, float alpha, float b1, float b2, float eps) {
    *m = *m + (gi - *m) * (1.0f - b1);
    *v = *v + (gi * gi - *v) * (1.0f - b2);
    *p -= *m * alpha / (sqrtf(*v) + eps);
}
__global__ void adam4(float *p, const float *g, float *m, float *v, const float *step, long long n,
                      float lr, float b1, float b2, float eps) {
    long long i = ((long long)blockIdx.x * blockDim.x + threadIdx.x) * 4;
    if (i >= n) return;
    float t = step[0] + 1.0f;
    float alpha = lr * sqrtf(1.0f - powf(b2, t)) / (1.0f - powf(b1, t));
    if (i + 4 <= n) {
        float4 pp = *(float4 *)(p + i), gg = *(const float4 *)(g + i), mm = *(float4 *)(m + i), vv = *(float4 *)(v + i);
        adam_one(&pp.x, gg.x, &mm.x, &vv.x, alpha, b1, b2, eps);
        adam_one(&pp.y, gg.y, &mm.y, &vv.y, alpha, b1, b2, eps);
        adam_one(&pp.z, gg.z, &mm.z, &vv.z, alpha, b1, b2, eps);
        adam_one(&pp.w, gg.w, &mm.w, &vv.w, alpha, b1, b2, eps);
        *(float4 *)(p + i) = pp;
        *(float4 *)(m + i) = mm;
        *(float4 *)(v + i) = vv;
    } else {
        for (long long j = i; j < n; j++) adam_one(&p[j], g[j], &m[j], &v[j], alpha, b1, b2, eps);
    }
}

// sgd: vel = mom*vel - lr*g; p += vel (Keras's momentum SGD).
__global__ void sgd(float *p, const float *g, float *vel, long long n, float lr, float mom) {
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    float v = mom * vel[i] - lr * g[i];
    vel[i] = v;
    p[i] += v;
}

// step_inc: step[0] += 1, after the update.
__global__ void step_inc(float *step) {
    if (blockIdx.x == 0 && threadIdx.x == 0) step[0] += 1.0f;
}

// fill_f32 / fill_i32 / fill_u8: every element set to v.
__global__ void fill_f32(float *t, float v, long long n) {
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) t[i] = v;
}
__global__ void fill_i32(int *t, int v, long long n) {
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) t[i] = v;
}
__global__ void fill_u8(unsigned char *t, unsigned char v, long long n) {
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) t[i] = v;
}

#ifdef __cplusplus
}  // extern "C"
#endif
