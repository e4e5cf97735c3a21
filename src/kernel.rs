//! The traits kernels implement: [`Kernel`], the public face for generic code, and
//! `KernelDef`, what `keops!` generates (public only so that generated code can name it; its
//! shape may change between versions).

use crate::backend::Backend;
use crate::cpu::interp::{Call, Program};
use crate::cpu::math::{Math, Real, Task};
use crate::cpu::reduce::Reducer;
use crate::error::Result;
use crate::grad::Backprop;
use crate::info::KernelInfo;
use crate::ranges::Ranges;
use crate::solve::{Solution, SolveGradient, SolveOptions};

/// A fixed-size array of values, as generated code declares them (`[V; N]`).
pub trait Array<V: Copy>: Copy + Send + Sync + AsRef<[V]> + AsMut<[V]> {
    const LEN: usize;
    fn from_fn(f: impl FnMut(usize) -> V) -> Self;
    /// `flat`, `n` arrays laid end to end, as a slice of arrays.
    fn slice_of(flat: &[V], n: usize) -> &[Self];
}

impl<V: Copy + Send + Sync, const N: usize> Array<V> for [V; N] {
    const LEN: usize = N;
    /// `core::array::from_fn`, without its machinery for short-circuiting and dropping, which
    /// every kernel instantiated many times over (a tenth of a small kernel's LLVM IR).
    #[inline(always)]
    fn from_fn(mut f: impl FnMut(usize) -> V) -> Self {
        let mut out = core::mem::MaybeUninit::<[V; N]>::uninit();
        let first = out.as_mut_ptr().cast::<V>();
        for k in 0..N {
            // SAFETY: `k < N`, so `first.add(k)` is inside the array, and writing through it
            // is writing an element of the uninitialised array (no old value to drop).
            unsafe { first.add(k).write(f(k)) };
        }
        // SAFETY: the loop wrote all `N` elements. If `f` panics, `out` is dropped as
        // `MaybeUninit`, which drops nothing; `V: Copy` owns nothing to leak anyway.
        unsafe { out.assume_init() }
    }

    #[inline(always)]
    fn slice_of(flat: &[V], n: usize) -> &[Self] {
        if N == 0 {
            // SAFETY: `[V; 0]` is zero-sized, so a dangling, aligned pointer is valid for reads
            // of any number of them; they own nothing and need no initialisation.
            return unsafe {
                core::slice::from_raw_parts(core::ptr::NonNull::<Self>::dangling().as_ptr(), n)
            };
        }
        let (arrays, rest) = flat.as_chunks::<N>();
        debug_assert!(arrays.len() == n && rest.is_empty());
        arrays
    }
}

pub use keops_abi::GpuModule;

/// `(name, ptx)` of a module, for `ptx_modules()` (empty strings for none).
pub const fn ptx_entry(module: Option<GpuModule>) -> (&'static str, &'static str) {
    match module {
        Some(m) => (m.name, m.ptx),
        None => ("", ""),
    }
}

/// A generated kernel: its description, and the three stages of its formula.
///
/// The formula is split by what each value depends on: `outer` computes, once per output row,
/// the features that depend only on that row's variables (and parameters); `inner` does the same
/// for each row of the reduced index; `pair` computes the formula's components from one of each.
/// `pair` is generic over [`Math`], so one generated body serves scalar code and every SIMD width.
pub trait KernelDef: Sized + Send + Sync + 'static {
    type T: Real;
    const INFO: KernelInfo;
    type Red: Reducer<Self>;
    /// Per-output-row features.
    type Outer<V: Copy + Send + Sync>: Array<V>;
    /// Per-reduced-row features.
    type Inner<V: Copy + Send + Sync>: Array<V>;
    /// The formula's components.
    type F<V: Copy + Send + Sync>: Array<V>;
    /// The second formula's components (`[V; 0]` if there is none).
    type G<V: Copy + Send + Sync>: Array<V>;
    /// One value per output row of a block: the CPU kernel reduces a block of output rows at a
    /// time, so that independent rows overlap in the pipeline and share each load of the reduced
    /// rows. Small formulas take blocks of several rows, large ones of one (register pressure
    /// and code size).
    type Block<V: Copy + Send + Sync>: Array<V>;

    /// Features of output row `row`; `vars` are all inputs, flat, in declaration order.
    fn outer(vars: &[&[Self::T]], row: usize) -> Self::Outer<Self::T>;
    /// Features of reduced row `row`.
    fn inner(vars: &[&[Self::T]], row: usize) -> Self::Inner<Self::T>;
    /// The formula for the pairs of a block of output rows and one reduced row (one lane per
    /// pair).
    ///
    /// Optimised builds inline it into the reduction loops. Debug builds call it: unoptimised
    /// code gives every inlined value its own stack slot, and a formula inlined at each of the
    /// loops' call sites took frames of several MiB (a gradient of a log-sum-exp: 3.7 MiB with
    /// AVX-512), past a thread's 2 MiB stack. It then runs [`KernelDef::pair_inline`] through
    /// [`Math::vectorize`], so that a build optimised with debug assertions still compiles the
    /// formula with the tier's instructions.
    #[allow(clippy::type_complexity)]
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn pair<M: Math<Self::T>>(
        m: M,
        o: &Self::Block<Self::Outer<M::V>>,
        j: &Self::Inner<M::V>,
    ) -> Self::Block<(Self::F<M::V>, Self::G<M::V>)> {
        Self::pair_flagged(m, o, j).0
    }

    /// [`KernelDef::pair`], and whether its values may be subnormal where the formula's `exp`s
    /// are: whether an `exp` of the block had an argument beyond its normal range. A hint for
    /// [`Math::mul_add_tiny`], which gives the same values as [`Math::mul_add`].
    #[allow(clippy::type_complexity)]
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn pair_flagged<M: Math<Self::T>>(
        m: M,
        o: &Self::Block<Self::Outer<M::V>>,
        j: &Self::Inner<M::V>,
    ) -> (Self::Block<(Self::F<M::V>, Self::G<M::V>)>, bool) {
        if cfg!(debug_assertions) {
            m.vectorize(Pair::<Self, M> { m, o, j })
        } else {
            Self::pair_inline(m, o, j)
        }
    }

    /// [`KernelDef::pair_flagged`]'s generated body, `#[inline(always)]`.
    #[allow(clippy::type_complexity)]
    fn pair_inline<M: Math<Self::T>>(
        m: M,
        o: &Self::Block<Self::Outer<M::V>>,
        j: &Self::Inner<M::V>,
    ) -> (Self::Block<(Self::F<M::V>, Self::G<M::V>)>, bool);

    /// Whether the pair stage of a wide formula whose values a sum reduces is one loop, which
    /// adds each value into its sum where it computes it ([`KernelDef::pair_sum`]): returned
    /// in arrays, such values are copied by the reduction loop.
    const SUMS_IN_PAIR: bool = false;

    /// Adds each row's formula values into its sums `sums[b]`, with the operations and in the
    /// order of its reducer's step ([`Sum`](crate::__private::Sum)'s additions, or
    /// [`SumOfProducts`](crate::__private::SumOfProducts)' fused multiply-adds). Optimised
    /// builds inline it, debug builds call it, as [`KernelDef::pair`]. Only for kernels with
    /// [`KernelDef::SUMS_IN_PAIR`].
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn pair_sum<M: Math<Self::T>>(
        m: M,
        o: &Self::Block<Self::Outer<M::V>>,
        j: &Self::Inner<M::V>,
        sums: &mut Self::Block<Self::F<M::V>>,
    ) {
        if cfg!(debug_assertions) {
            *sums = m.vectorize(PairSum::<Self, M> { m, o, j, sums: *sums });
        } else {
            Self::pair_sum_inline(m, o, j, sums);
        }
    }

    /// [`KernelDef::pair_sum`]'s generated body, `#[inline(always)]`.
    #[inline(always)]
    fn pair_sum_inline<M: Math<Self::T>>(
        m: M,
        o: &Self::Block<Self::Outer<M::V>>,
        j: &Self::Inner<M::V>,
        sums: &mut Self::Block<Self::F<M::V>>,
    ) {
        let _ = (m, o, j, sums);
        unreachable!("pair_sum of a kernel whose values are not summed in its pair stage")
    }

    /// For a sum whose every component is one per-pair value times a feature of the reduced
    /// row (`K(x_i, y_j) * b_j` with a vector `b_j`), the positions of those features in
    /// `Inner`, one per component; `pair` then gives the per-pair value as each component's
    /// first factor and the feature as its second. For a soft-max or a log-sum-exp with
    /// weights, each of them a reduced-row feature (`v_j` in `sum_j exp(<q_i, k_j>) v_j`), the
    /// positions of those features. Empty for every other kernel.
    const SCALED: &'static [usize] = &[];

    /// The kernel's GPU module; `None` for the hidden derivative kernels of selections, which
    /// only run on the CPU.
    const GPU: Option<GpuModule> = None;

    /// The kernel's stages and reduction as data, for the interpreter.
    const PROGRAM: Program<Self::T>;

    /// Evaluates on the CPU into `values` and `indices` (`outer_rows` rows each), from inputs
    /// already checked against the declaration.
    ///
    /// Generated code calls [`__run_cpu!`](crate::__run_cpu), which picks [`run_compiled`] in
    /// optimised builds and [`run_interpreted`] in debug builds where this crate is optimised.
    /// The compiled kernel's reduction loops are generic over the kernel, so they are
    /// instantiated, and optimised or not, in the user's crate (the rest of the driver is
    /// compiled here, see `cpu::driver`): unoptimised, they ran 50 to 130 times slower than
    /// optimised, and they cost every build of that crate the time to compile them. The
    /// interpreter is compiled in this crate, once, and runs within a few times the compiled
    /// kernel's speed if this crate is optimised; unoptimised, it would be slower still than
    /// the unoptimised compiled kernel, which such builds (this repository's tests among them)
    /// keep.
    fn run_cpu(call: Call<'_, Self::T>);

    /// Where this kernel value runs.
    fn backend(&self) -> Backend;

    /// This kernel, running on `backend`.
    fn on_backend(backend: Backend) -> Self;

    /// The gradient with respect to input `pos` within the backward pass `bp`. Generated for
    /// user kernels; the default (zero) serves the hidden backward kernels, which are never
    /// differentiated.
    fn backward(&self, bp: &Backprop<'_, Self>, pos: usize) -> Result<Vec<Self::T>> {
        bp.check(pos)?;
        Ok(bp.zero(pos))
    }
}

/// The body of a generated [`KernelDef::run_cpu`]: `$kernel` evaluated on the CPU, compiled, or
/// interpreted in the user's debug builds (`cfg` is evaluated where this expands) if this crate
/// is optimised (`keops_optimized`, from the build script).
#[cfg(keops_optimized)]
#[doc(hidden)]
#[macro_export]
macro_rules! __run_cpu {
    ($kernel:ty, $call:expr) => {{
        #[cfg(debug_assertions)]
        ::keops::__private::run_interpreted::<$kernel>($call);
        #[cfg(not(debug_assertions))]
        ::keops::__private::run_compiled::<$kernel>($call);
    }};
}

/// The body of a generated [`KernelDef::run_cpu`] where this crate is not optimised: the
/// compiled kernel in every build (see the other definition).
#[cfg(not(keops_optimized))]
#[doc(hidden)]
#[macro_export]
macro_rules! __run_cpu {
    ($kernel:ty, $call:expr) => {
        ::keops::__private::run_compiled::<$kernel>($call)
    };
}

/// [`KernelDef::run_cpu`] of optimised builds: the compiled kernel, or the interpreter if
/// `KEOPS_CPU=interpreter` asks for it.
pub fn run_compiled<K: KernelDef>(call: Call<'_, K::T>) {
    if crate::cpu::interp::forced() {
        run_interpreted::<K>(call);
    } else {
        crate::cpu::run::<K>(call);
    }
}

/// [`KernelDef::run_cpu`] of debug builds: the interpreter, on the kernel's [`KernelDef::PROGRAM`].
pub fn run_interpreted<K: KernelDef>(call: Call<'_, K::T>) {
    K::T::interpret(&K::PROGRAM, &K::INFO, call);
}

/// A value of a kernel's parameter (an input named without `_i` or `_j`, one value shared by
/// every pair): the declared type itself, `f32` for `s: f32`, `[f32; 3]` for `w: [f32; 3]`.
/// Typed methods take parameters as `impl ParamValue<..>` only so that a wrong argument's
/// error can say what a parameter is.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a value of a kernel parameter declared `{D}`",
    label = "a parameter takes one `{D}`, shared by every pair",
    note = "inputs named without `_i` or `_j` are parameters; an input indexed by i or j is named with that suffix, as `x_i` or `b_j`"
)]
pub trait ParamValue<D>: Copy {
    /// The value, as the declared type.
    fn into_value(self) -> D;
}

impl<D: Copy> ParamValue<D> for D {
    #[inline]
    fn into_value(self) -> D {
        self
    }
}

/// What every kernel value can do, for code that is generic over kernels. Generated types also
/// have these as inherent methods, so calling them needs no import.
pub trait Kernel: Send + Sync {
    /// The element type, `f32` or `f64`.
    type T: Real;

    /// The kernel's variables, reduction and output widths.
    fn info(&self) -> KernelInfo;

    /// A kernel with dimensions given at run time and not set yet, set to the dimensions of
    /// inputs of `cols` columns (all its inputs', in declaration order); `None` for any other
    /// kernel. The array and candle modules call it, so that they take such kernels as they
    /// take any other.
    #[doc(hidden)]
    fn sized_for(&self, _cols: &[usize]) -> Option<Self>
    where
        Self: Sized,
    {
        None
    }

    /// Where this kernel value runs.
    fn backend(&self) -> Backend;

    /// Evaluates on flat row-major inputs in declaration order. The output is flat and
    /// row-major: the values, then (for reductions that return them) the indices as numbers.
    ///
    /// ```
    /// use keops::Kernel;
    ///
    /// // Generic code reaches every kernel through this trait.
    /// fn total<K: Kernel<T = f64>>(k: &K, inputs: &[&[f64]]) -> keops::Result<f64> {
    ///     Ok(k.eval_flat(inputs)?.iter().sum())
    /// }
    /// let k = keops::keops!(|x_i: [f64; 2], y_j: [f64; 2]| sum_j sqdist(x_i, y_j));
    /// // Two rows of x and one of y, flat and row-major.
    /// let (x, y) = ([0.0, 0.0, 1.0, 1.0], [1.0, 0.0]);
    /// assert_eq!(k.eval_flat(&[&x[..], &y[..]])?, [1.0, 1.0]);
    /// assert_eq!(total(&k, &[&x, &y])?, 2.0);
    /// # Ok::<(), keops::Error>(())
    /// ```
    fn eval_flat<S: AsRef<[Self::T]>>(&self, inputs: &[S]) -> Result<Vec<Self::T>>;

    /// The gradient of `sum <output, e>` with respect to the input at position `pos`, flat and
    /// row-major (a parameter's gradient is summed over all rows). `e` has the shape of the
    /// output: its values part, or the whole flat output.
    ///
    /// ```
    /// use keops::Kernel;
    ///
    /// let k = keops::keops!(|x_i: [f64; 1], y_j: [f64; 1]| sum_j sqdist(x_i, y_j));
    /// let (x, y) = ([1.0, 2.0], [0.0, 3.0, 4.0]);
    /// // d/dx_i sum_j (x_i - y_j)^2 = 2 sum_j (x_i - y_j), against e_i = 1:
    /// // 2 (1 - 2 - 3) and 2 (2 - 1 - 2).
    /// assert_eq!(k.grad_flat(0, &[&x[..], &y[..]], &[1.0, 1.0])?, [-8.0, -2.0]);
    /// // With respect to y_j: -2 sum_i (x_i - y_j).
    /// assert_eq!(k.grad_flat(1, &[&x[..], &y[..]], &[1.0, 1.0])?, [-6.0, 6.0, 10.0]);
    /// # Ok::<(), keops::Error>(())
    /// ```
    fn grad_flat<S: AsRef<[Self::T]>>(&self, pos: usize, inputs: &[S], e: &[Self::T])
    -> Result<Vec<Self::T>>;

    /// [`Kernel::eval_flat`] over the pairs of `ranges`, in one call; `None` where this kernel
    /// reduces ranges one block at a time instead (on a GPU), which
    /// [`ranges::eval_flat`](crate::ranges::eval_flat) then does.
    #[doc(hidden)]
    fn eval_ranged(&self, inputs: &[&[Self::T]], ranges: &Ranges) -> Option<Result<Vec<Self::T>>> {
        let _ = (inputs, ranges);
        None
    }

    /// [`Kernel::grad_flat`] over the pairs of `ranges`, in one call per backward kernel
    /// (`transposed`, if given, are the same pairs' ranges over the other index); `None` as
    /// for [`Kernel::eval_ranged`].
    #[doc(hidden)]
    fn grad_ranged(
        &self,
        pos: usize,
        inputs: &[&[Self::T]],
        e: &[Self::T],
        ranges: &Ranges,
        transposed: Option<&Ranges>,
    ) -> Option<Result<Vec<Self::T>>> {
        let _ = (pos, inputs, e, ranges, transposed);
        None
    }

    /// Evaluates on device-resident inputs (flat, in declaration order, all on one CUDA
    /// device) into a new device-resident output, without copying anything to or from the
    /// host. The kernel runs on the inputs' device, on its stream: the call may return before
    /// the kernel finishes, and reading the output waits for it. See [`crate::cuda`].
    #[cfg(feature = "cuda")]
    fn eval_device(
        &self,
        inputs: &[&crate::cuda::DeviceArray<Self::T>],
    ) -> Result<crate::cuda::DeviceOutput<Self::T>>;

    /// As [`Kernel::eval_device`], into `output`, whose buffers are reused when they have the
    /// right sizes and device (and reallocated otherwise): for loops that evaluate a kernel at
    /// every step.
    #[cfg(feature = "cuda")]
    fn eval_device_into(
        &self,
        inputs: &[&crate::cuda::DeviceArray<Self::T>],
        output: &mut crate::cuda::DeviceOutput<Self::T>,
    ) -> Result<()>;

    /// Solves `(alpha I + K) a = b` for `a`, as KeOps' `KernelSolve`: `K` is this kernel seen as
    /// a matrix applied to the input at position `pos` (a variable of the reduced index, of the
    /// output's dimension, in a `Sum` kernel that is linear in it, symmetric and positive,
    /// e.g. `sum_j exp(-sqdist(x_i, y_j)) * b_j` with `y = x`), and `inputs[pos]` holds `b`.
    /// Conjugate gradients, one reduction per iteration; see [`SolveOptions`].
    ///
    /// ```
    /// use keops::{Kernel, SolveOptions};
    ///
    /// let k = keops::keops!(|x_i: [f64; 1], y_j: [f64; 1], b_j: f64| sum_j exp(-sqdist(x_i, y_j)) * b_j);
    /// let (x, b) = ([0.0, 1.0, 3.0], [1.0, 2.0, 3.0]);
    /// // (I + K) a = b with K_ij = exp(-(x_i - x_j)^2): `b_j` (position 2) holds b.
    /// let s = k.solve_flat(2, &[&x[..], &x[..], &b[..]], 1.0, &SolveOptions::default())?;
    /// // The operator applied to the solution gives b back.
    /// let ka = k.eval_flat(&[&x[..], &x[..], &s.a[..]])?;
    /// for r in 0..3 {
    ///     assert!((s.a[r] + ka[r] - b[r]).abs() < 1e-5, "{s:?}");
    /// }
    /// # Ok::<(), keops::Error>(())
    /// ```
    fn solve_flat<S: AsRef<[Self::T]>>(
        &self,
        pos: usize,
        inputs: &[S],
        alpha: Self::T,
        options: &SolveOptions,
    ) -> Result<Solution<Self::T>>
    where
        Self: Sized,
    {
        crate::solve::solve_flat(self, pos, inputs, alpha, options)
    }

    /// The gradient through [`Kernel::solve_flat`]'s solution `a` (of the same `pos`, `inputs`,
    /// `alpha`): given `e`, the gradient of a loss with respect to `a`, the loss's gradient
    /// with respect to every input (at `pos`, the right-hand side `b`) and to `alpha`, as
    /// pykeops' `KernelSolve` gives under autograd. It costs one more solve (the adjoint system,
    /// with `options`) and one backward kernel per input.
    ///
    /// ```
    /// use keops::{Kernel, SolveOptions};
    ///
    /// let k = keops::keops!(|x_i: [f64; 1], y_j: [f64; 1], b_j: f64| sum_j exp(-sqdist(x_i, y_j)) * b_j);
    /// let (x, b) = ([0.0, 1.0, 3.0], [1.0, 2.0, 3.0]);
    /// let options = SolveOptions { tol: 1e-12, ..SolveOptions::default() };
    /// let inputs = [&x[..], &x[..], &b[..]];
    /// let a = k.solve_flat(2, &inputs, 1.0, &options)?.a;
    /// // L = sum(a): e = 1. The gradient with respect to alpha, against a finite difference.
    /// let g = k.solve_grad_flat(2, &inputs, 1.0, &a, &[1.0; 3], &options)?;
    /// let h = 1e-6;
    /// let plus: f64 = k.solve_flat(2, &inputs, 1.0 + h, &options)?.a.iter().sum();
    /// let minus: f64 = k.solve_flat(2, &inputs, 1.0 - h, &options)?.a.iter().sum();
    /// assert!((g.alpha - (plus - minus) / (2.0 * h)).abs() < 1e-6);
    /// # Ok::<(), keops::Error>(())
    /// ```
    fn solve_grad_flat<S: AsRef<[Self::T]>>(
        &self,
        pos: usize,
        inputs: &[S],
        alpha: Self::T,
        a: &[Self::T],
        e: &[Self::T],
        options: &SolveOptions,
    ) -> Result<SolveGradient<Self::T>>
    where
        Self: Sized,
    {
        crate::solve::solve_grad_flat(self, pos, inputs, alpha, a, e, options)
    }
}

/// The flat API of a kernel, as a trait object: kernels of different types (another formula,
/// another dimension) with one element type behind one `Box<dyn FlatKernel<f32>>`, for code
/// that picks a kernel at run time. Every [`Kernel`] is one. Its methods are those of
/// [`Kernel`] on flat inputs, named apart (`eval`, `grad`, `kernel_info`) so that generic code
/// importing both traits stays unambiguous.
///
/// ```
/// use keops::FlatKernel;
///
/// let kernels: Vec<Box<dyn FlatKernel<f32>>> = vec![
///     Box::new(keops::keops!(|x_i: [f32; 2], y_j: [f32; 2]| sum_j exp(-sqdist(x_i, y_j)))),
///     Box::new(keops::keops!(|x_i: [f32; 2], y_j: [f32; 2]| sum_j 1.0 / (1.0 + sqdist(x_i, y_j)))),
/// ];
/// let (x, y) = ([0.0, 0.0], [0.0, 0.0, 3.0, 4.0]);
/// for k in &kernels {
///     let a = k.eval(&[&x, &y])?;
///     assert!(a[0] >= 1.0 && a[0] < 1.1, "{}: {a:?}", k.kernel_info().formula);
/// }
/// # Ok::<(), keops::Error>(())
/// ```
pub trait FlatKernel<T>: Send + Sync {
    /// [`Kernel::info`].
    fn kernel_info(&self) -> KernelInfo;

    /// [`Kernel::eval_flat`].
    fn eval(&self, inputs: &[&[T]]) -> Result<Vec<T>>;

    /// [`Kernel::grad_flat`].
    fn grad(&self, pos: usize, inputs: &[&[T]], e: &[T]) -> Result<Vec<T>>;
}

impl<K: Kernel> FlatKernel<K::T> for K {
    fn kernel_info(&self) -> KernelInfo {
        Kernel::info(self)
    }

    fn eval(&self, inputs: &[&[K::T]]) -> Result<Vec<K::T>> {
        Kernel::eval_flat(self, inputs)
    }

    fn grad(&self, pos: usize, inputs: &[&[K::T]], e: &[K::T]) -> Result<Vec<K::T>> {
        Kernel::grad_flat(self, pos, inputs, e)
    }
}

/// [`KernelDef::pair_inline`], as a task for [`Math::vectorize`] (debug builds).
struct Pair<'a, K: KernelDef, M: Math<K::T>> {
    m: M,
    o: &'a K::Block<K::Outer<M::V>>,
    j: &'a K::Inner<M::V>,
}

impl<K: KernelDef, M: Math<K::T>> Task for Pair<'_, K, M> {
    type Output = (K::Block<(K::F<M::V>, K::G<M::V>)>, bool);

    #[inline(always)]
    fn run(self) -> Self::Output {
        K::pair_inline(self.m, self.o, self.j)
    }
}

/// [`KernelDef::pair_sum`]'s arguments, as a task for [`Math::vectorize`].
struct PairSum<'a, K: KernelDef, M: Math<K::T>> {
    m: M,
    o: &'a K::Block<K::Outer<M::V>>,
    j: &'a K::Inner<M::V>,
    sums: K::Block<K::F<M::V>>,
}

impl<K: KernelDef, M: Math<K::T>> Task for PairSum<'_, K, M> {
    type Output = K::Block<K::F<M::V>>;

    #[inline(always)]
    fn run(mut self) -> Self::Output {
        K::pair_sum_inline(self.m, self.o, self.j, &mut self.sums);
        self.sums
    }
}

impl<K: KernelDef> Kernel for K {
    type T = K::T;

    fn info(&self) -> KernelInfo {
        K::INFO
    }

    fn backend(&self) -> Backend {
        KernelDef::backend(self)
    }

    fn eval_flat<S: AsRef<[K::T]>>(&self, inputs: &[S]) -> Result<Vec<K::T>> {
        crate::eval::eval_flat(self, inputs)
    }

    fn grad_flat<S: AsRef<[K::T]>>(&self, pos: usize, inputs: &[S], e: &[K::T]) -> Result<Vec<K::T>> {
        let bp = Backprop::new(self, inputs, e)?;
        self.backward(&bp, pos)
    }

    fn eval_ranged(&self, inputs: &[&[K::T]], ranges: &Ranges) -> Option<Result<Vec<K::T>>> {
        if K::GPU.is_some() && crate::ranges::by_blocks(self.backend()) {
            return None;
        }
        Some(crate::eval::eval_ranged(self, inputs, ranges))
    }

    fn grad_ranged(
        &self,
        pos: usize,
        inputs: &[&[K::T]],
        e: &[K::T],
        ranges: &Ranges,
        transposed: Option<&Ranges>,
    ) -> Option<Result<Vec<K::T>>> {
        if K::GPU.is_some() && crate::ranges::by_blocks(self.backend()) {
            return None;
        }
        Some(Backprop::new(self, inputs, e).and_then(|bp| {
            let bp = bp.with_ranges(ranges, transposed)?;
            self.backward(&bp, pos)
        }))
    }

    #[cfg(feature = "cuda")]
    fn eval_device(
        &self,
        inputs: &[&crate::cuda::DeviceArray<K::T>],
    ) -> Result<crate::cuda::DeviceOutput<K::T>> {
        crate::backend::gpu::eval_device_new(self, inputs)
    }

    #[cfg(feature = "cuda")]
    fn eval_device_into(
        &self,
        inputs: &[&crate::cuda::DeviceArray<K::T>],
        output: &mut crate::cuda::DeviceOutput<K::T>,
    ) -> Result<()> {
        crate::backend::gpu::eval_device(self, inputs, output)
    }
}
