/* The hand-written reference for the Gaussian kernel sum's ceiling (BENCHMARKS.md):
 * a_i = sum_j b_j exp(-g |x_i - y_j|^2), D = 3, AVX-512, 4 rows of x per block of j,
 * exp as 2^t with a polynomial of the fraction and vscalefps / vscalefpd, no clamp and no
 * special cases. f32 (16 lanes, degree 6) or f64 (8 lanes, degree 12 Taylor, about 1 ulp).
 *
 *   gcc -O3 -mavx512f -fopenmp gauss_avx512.c -o gauss_avx512 && OMP_NUM_THREADS=2 ./gauss_avx512 100000 [f64]
 *
 * Prints the median of 7 runs. Inputs are uniform in [0, 1), so no result underflows.
 */
#include <immintrin.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ROWS 4

static inline __m512 exp2_ps(__m512 t) {
    __m512 n = _mm512_roundscale_ps(t, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 f = _mm512_sub_ps(t, n);
    __m512 p = _mm512_set1_ps(1.5353362e-4f);
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.3398874e-3f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(9.6188392e-3f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(5.5503406e-2f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(2.4022652e-1f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(6.9314718e-1f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.0f));
    return _mm512_scalef_ps(p, n);
}

static inline __m512d exp2_pd(__m512d t) {
    __m512d n = _mm512_roundscale_pd(t, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512d f = _mm512_mul_pd(_mm512_sub_pd(t, n), _mm512_set1_pd(0.6931471805599453));
    /* exp(f) by Taylor's series to degree 12, |f| <= ln(2) / 2. */
    double c = 1.0;
    double coef[13];
    for (int k = 0; k <= 12; k++) {
        coef[k] = 1.0 / c;
        c *= k + 1;
    }
    __m512d p = _mm512_set1_pd(coef[12]);
    for (int k = 11; k >= 0; k--) p = _mm512_fmadd_pd(p, f, _mm512_set1_pd(coef[k]));
    return _mm512_scalef_pd(p, n);
}

/* x is M x 3 row-major; y is 3 columns of N (N a multiple of 16, M of ROWS). */
static void gauss_f32(int m, int n, const float *x, const float *y, const float *b, float g, float *out) {
    const __m512 c = _mm512_set1_ps(-g * 1.44269504f);
#pragma omp parallel for schedule(dynamic, 16)
    for (int i0 = 0; i0 < m; i0 += ROWS) {
        __m512 acc[ROWS], xi[ROWS][3];
        for (int r = 0; r < ROWS; r++) {
            acc[r] = _mm512_setzero_ps();
            for (int k = 0; k < 3; k++) xi[r][k] = _mm512_set1_ps(x[(i0 + r) * 3 + k]);
        }
        for (int j = 0; j < n; j += 16) {
            __m512 y0 = _mm512_loadu_ps(y + j), y1 = _mm512_loadu_ps(y + n + j);
            __m512 y2 = _mm512_loadu_ps(y + 2 * n + j), bj = _mm512_loadu_ps(b + j);
            for (int r = 0; r < ROWS; r++) {
                __m512 d0 = _mm512_sub_ps(xi[r][0], y0), d1 = _mm512_sub_ps(xi[r][1], y1);
                __m512 d2 = _mm512_sub_ps(xi[r][2], y2);
                __m512 s = _mm512_mul_ps(d0, d0);
                s = _mm512_fmadd_ps(d1, d1, s);
                s = _mm512_fmadd_ps(d2, d2, s);
                acc[r] = _mm512_fmadd_ps(exp2_ps(_mm512_mul_ps(s, c)), bj, acc[r]);
            }
        }
        for (int r = 0; r < ROWS; r++) out[i0 + r] = _mm512_reduce_add_ps(acc[r]);
    }
}

static void gauss_f64(int m, int n, const double *x, const double *y, const double *b, double g, double *out) {
    const __m512d c = _mm512_set1_pd(-g * 1.4426950408889634);
#pragma omp parallel for schedule(dynamic, 16)
    for (int i0 = 0; i0 < m; i0 += ROWS) {
        __m512d acc[ROWS], xi[ROWS][3];
        for (int r = 0; r < ROWS; r++) {
            acc[r] = _mm512_setzero_pd();
            for (int k = 0; k < 3; k++) xi[r][k] = _mm512_set1_pd(x[(i0 + r) * 3 + k]);
        }
        for (int j = 0; j < n; j += 8) {
            __m512d y0 = _mm512_loadu_pd(y + j), y1 = _mm512_loadu_pd(y + n + j);
            __m512d y2 = _mm512_loadu_pd(y + 2 * n + j), bj = _mm512_loadu_pd(b + j);
            for (int r = 0; r < ROWS; r++) {
                __m512d d0 = _mm512_sub_pd(xi[r][0], y0), d1 = _mm512_sub_pd(xi[r][1], y1);
                __m512d d2 = _mm512_sub_pd(xi[r][2], y2);
                __m512d s = _mm512_mul_pd(d0, d0);
                s = _mm512_fmadd_pd(d1, d1, s);
                s = _mm512_fmadd_pd(d2, d2, s);
                acc[r] = _mm512_fmadd_pd(exp2_pd(_mm512_mul_pd(s, c)), bj, acc[r]);
            }
        }
        for (int r = 0; r < ROWS; r++) out[i0 + r] = _mm512_reduce_add_pd(acc[r]);
    }
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 100000;
    int f64 = argc > 2 && strcmp(argv[2], "f64") == 0;
    n -= n % 16;
    double *xd = malloc(sizeof(double) * 3 * n), *yd = malloc(sizeof(double) * 3 * n);
    double *bd = malloc(sizeof(double) * n), *outd = malloc(sizeof(double) * n);
    float *x = malloc(sizeof(float) * 3 * n), *y = malloc(sizeof(float) * 3 * n);
    float *b = malloc(sizeof(float) * n), *out = malloc(sizeof(float) * n);
    srand(1);
    for (int i = 0; i < 3 * n; i++) {
        x[i] = xd[i] = rand() / (double)RAND_MAX;
        y[i] = yd[i] = rand() / (double)RAND_MAX;
    }
    for (int i = 0; i < n; i++) b[i] = bd[i] = 1.0;
    double t[7];
    for (int r = 0; r < 7; r++) {
        double start = omp_get_wtime();
        if (f64)
            gauss_f64(n, n, xd, yd, bd, 1.0, outd);
        else
            gauss_f32(n, n, x, y, b, 1.0f, out);
        t[r] = omp_get_wtime() - start;
    }
    qsort(t, 7, sizeof(double), cmp);
    printf("hand-written AVX-512 Gaussian sum, %s, N = M = %d: median %.4f s, %.2f Gpairs/s (a_0 = %g)\n",
           f64 ? "f64" : "f32", n, t[3], (double)n * n / t[3] / 1e9, f64 ? outd[0] : (double)out[0]);
    return 0;
}
