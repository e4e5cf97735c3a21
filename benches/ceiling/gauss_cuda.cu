/* The hand-written CUDA reference for the Gaussian kernel sum on the GPU (BENCHMARKS.md):
 * a_i = sum_j b_j exp(-g |x_i - y_j|^2), D = 3, g = 2, standard normal inputs as in
 * examples/bench.rs. The KeOps scheme: one thread per row i, the rows j visited in tiles of
 * BLOCK that the block loads into shared memory together.
 *
 *   nvcc -O3 -arch=sm_90 gauss_cuda.cu -o gauss_cuda && ./gauss_cuda 100000
 *
 * Prints, for expf (accurate to about 2 ulp) and __expf (ex2.approx, what pykeops' default
 * -use_fast_math gives), the median of 7 timings of the kernel alone (CUDA events) and of a
 * whole call from host arrays (copies in, kernel, copy out), as examples/bench.rs times ours.
 */
#include <cuda_runtime.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <algorithm>
#include <chrono>
#include <vector>

#define BLOCK 256

#define CHECK(call)                                                              \
    do {                                                                         \
        cudaError_t e = (call);                                                  \
        if (e != cudaSuccess) {                                                  \
            fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, cudaGetErrorString(e)); \
            exit(1);                                                             \
        }                                                                        \
    } while (0)

template <bool FAST>
__global__ void gauss(int m, int n, float g, const float *x, const float *y, const float *b,
                      float *out) {
    __shared__ float tile[BLOCK * 4];
    int i = blockIdx.x * BLOCK + threadIdx.x;
    float x0 = 0, x1 = 0, x2 = 0;
    if (i < m) {
        x0 = x[3 * i];
        x1 = x[3 * i + 1];
        x2 = x[3 * i + 2];
    }
    float acc = 0;
    for (int start = 0; start < n; start += BLOCK) {
        int j = start + threadIdx.x;
        if (j < n) {
            tile[4 * threadIdx.x] = y[3 * j];
            tile[4 * threadIdx.x + 1] = y[3 * j + 1];
            tile[4 * threadIdx.x + 2] = y[3 * j + 2];
            tile[4 * threadIdx.x + 3] = b[j];
        }
        __syncthreads();
        int count = min(BLOCK, n - start);
        if (i < m) {
            for (int k = 0; k < count; k++) {
                float d0 = x0 - tile[4 * k], d1 = x1 - tile[4 * k + 1], d2 = x2 - tile[4 * k + 2];
                float t = -g * (d0 * d0 + d1 * d1 + d2 * d2);
                acc += (FAST ? __expf(t) : expf(t)) * tile[4 * k + 3];
            }
        }
        __syncthreads();
    }
    if (i < m) out[i] = acc;
}

static float normal(unsigned long long *state) {
    auto uniform = [&]() {
        *state += 0x9E3779B97F4A7C15ull;
        unsigned long long z = *state;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        return (double)((z ^ (z >> 31)) >> 11) / (double)(1ull << 53);
    };
    double u = std::max(uniform(), 1e-300), v = uniform();
    return (float)(sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v));
}

template <bool FAST>
static void measure(const char *name, int n, const std::vector<float> &x,
                    const std::vector<float> &y, const std::vector<float> &b) {
    float *dx, *dy, *db, *dout;
    CHECK(cudaMalloc(&dx, 3 * n * sizeof(float)));
    CHECK(cudaMalloc(&dy, 3 * n * sizeof(float)));
    CHECK(cudaMalloc(&db, n * sizeof(float)));
    CHECK(cudaMalloc(&dout, n * sizeof(float)));
    std::vector<float> out(n);
    cudaEvent_t start, stop;
    CHECK(cudaEventCreate(&start));
    CHECK(cudaEventCreate(&stop));
    std::vector<double> kernel, whole;
    int blocks = (n + BLOCK - 1) / BLOCK;
    for (int run = 0; run < 8; run++) {
        auto t0 = std::chrono::steady_clock::now();
        CHECK(cudaMemcpy(dx, x.data(), 3 * n * sizeof(float), cudaMemcpyHostToDevice));
        CHECK(cudaMemcpy(dy, y.data(), 3 * n * sizeof(float), cudaMemcpyHostToDevice));
        CHECK(cudaMemcpy(db, b.data(), n * sizeof(float), cudaMemcpyHostToDevice));
        CHECK(cudaEventRecord(start));
        gauss<FAST><<<blocks, BLOCK>>>(n, n, 2.0f, dx, dy, db, dout);
        CHECK(cudaEventRecord(stop));
        CHECK(cudaMemcpy(out.data(), dout, n * sizeof(float), cudaMemcpyDeviceToHost));
        auto t1 = std::chrono::steady_clock::now();
        float ms;
        CHECK(cudaEventElapsedTime(&ms, start, stop));
        if (run > 0) {  // the first is the warm-up
            kernel.push_back(ms / 1e3);
            whole.push_back(std::chrono::duration<double>(t1 - t0).count());
        }
    }
    std::sort(kernel.begin(), kernel.end());
    std::sort(whole.begin(), whole.end());
    double pairs = (double)n * n, total = 0;
    for (float v : out) total += v;
    printf("%-7s n = %d: kernel %.5f s (%.1f Gpairs/s), whole call %.5f s (%.1f Gpairs/s), sum %.6g\n",
           name, n, kernel[3], pairs / kernel[3] / 1e9, whole[3], pairs / whole[3] / 1e9, total);
    CHECK(cudaFree(dx));
    CHECK(cudaFree(dy));
    CHECK(cudaFree(db));
    CHECK(cudaFree(dout));
}

int main(int argc, char **argv) {
    int n = argc > 1 ? (int)atof(argv[1]) : 100000;
    unsigned long long state = 0;
    std::vector<float> x(3 * n), y(3 * n), b(n);
    for (auto &v : x) v = normal(&state);
    for (auto &v : y) v = normal(&state);
    for (auto &v : b) v = normal(&state);
    measure<false>("expf", n, x, y, b);
    measure<true>("__expf", n, x, y, b);
    return 0;
}
