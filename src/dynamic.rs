//! Kernels whose dimensions are given at run time: `x_i: [f32; _]` (feature `dynamic`).
//!
//! The macro checks what it can without the dimensions: names, operations, arities, types.
//! The first call with a given set of dimensions runs the rest of the macro's pipeline
//! (keops-core) to check the dimension rules and lower the formula; the CPU interpreter runs
//! the program, and a GPU the PTX generated from it. Each kernel is specialised once per set
//! of dimensions and process, and kept, as compiled kernels keep their constant tables.

use std::any::Any;
use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::{Mutex, OnceLock, PoisonError};

use keops_core::backward::Extra;
use keops_core::codegen::program as data;
use keops_core::ir::Role;
use keops_core::specialize::{
    BackwardStep, Declaration, Specialized, declaration, specialize, specialize_backward,
};

use crate::backend::Backend;
#[cfg(feature = "cuda")]
use crate::backend::Resolved;
use crate::cpu::interp::{Call, Differences, Inst, Op, PairStage, Prepass, Program};
use crate::cpu::math::{Math, Real};
use crate::error::{Error, Result};
use crate::eval::{Sizes, lengths, sizes_for};
use crate::info::{Index, KernelInfo, VarInfo};
use crate::kernel::{GpuModule, Kernel};
use crate::ranges::Ranges;

/// A kernel declared with dimensions `_` (`keops!(|x_i: [f32; _], y_j: [f32; _]| ...)`), which
/// each call gives. What `keops!` generates for such a kernel dereferences to it.
///
/// The typed `eval` of the generated type takes the dimensions from its inputs' types (rows
/// `&[[f32; D]]` of any `D`); [`DynKernel::eval_flat`] and the [`Kernel`] trait take those set
/// by [`DynKernel::with_dims`]. A formula whose dimension rules the dimensions break is a
/// [`Error::Dimensions`], with the message the macro would have given for them.
///
/// ```
/// /// The Gaussian sum over points of any dimension, in generic code.
/// fn gauss<const D: usize>(x: &[[f32; D]], y: &[[f32; D]], b: &[[f32; 1]]) -> keops::Result<Vec<[f32; 1]>> {
///     let k = keops::keops!(|x_i: [f32; _], y_j: [f32; _], b_j: [f32; 1]| sum_j exp(-sqdist(x_i, y_j)) * b_j);
///     k.eval(x, y, b)
/// }
///
/// assert_eq!(gauss(&[[0.0; 5]], &[[0.0; 5], [9.0; 5]], &[[2.0], [3.0]])?, [[2.0]]);
///
/// // Flat inputs, the dimension read from data: 2 here.
/// let k = keops::keops!(|x_i: [f64; _], y_j: [f64; _]| argmin_j sqdist(x_i, y_j));
/// let nearest = k.with_dims(&[2, 2]).eval_flat(&[&[0.0, 0.0][..], &[5.0, 5.0, 0.5, 0.0]])?;
/// assert_eq!(nearest, [1.0]);
/// // Dimensions that break the formula's rules.
/// let err = k.with_dims(&[2, 3]).eval_flat(&[&[0.0, 0.0][..], &[0.0; 3]]).unwrap_err();
/// assert!(matches!(err, keops::Error::Dimensions { .. }));
/// # Ok::<(), keops::Error>(())
/// ```
///
/// On the CPU, kernels run in the interpreter (at 0.3 to 0.45 of a compiled kernel's speed:
/// see `BENCHMARKS.md`); on a GPU, the PTX that `keops!` would have generated for these
/// dimensions is generated when first needed, and loaded as a compiled kernel's is. Not
/// available yet: `grad_flat` of min, max and K-min reductions, device-resident inputs
/// (`eval_device`), and the typed `grad` of fixed-dimension kernels.
pub struct DynKernel<T: Real> {
    text: &'static str,
    backend: Backend,
    dims: Option<Vec<usize>>,
    element: PhantomData<fn() -> T>,
}

impl<T: Real> Clone for DynKernel<T> {
    fn clone(&self) -> Self {
        Self { text: self.text, backend: self.backend, dims: self.dims.clone(), element: PhantomData }
    }
}

impl<T: Real> std::fmt::Debug for DynKernel<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        (f.debug_struct("DynKernel"))
            .field("text", &self.text)
            .field("backend", &self.backend)
            .field("dims", &self.dims)
            .finish()
    }
}

impl<T: Real> DynKernel<T> {
    /// The kernel whose text `keops!` recorded. Generated code calls it.
    #[doc(hidden)]
    pub fn new(text: &'static str) -> Self {
        Self { text, backend: Backend::Auto, dims: None, element: PhantomData }
    }

    /// The same kernel, running on `backend`.
    pub fn on(&self, backend: Backend) -> Self {
        Self { backend, ..self.clone() }
    }

    /// Where this kernel value runs.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The same kernel, with `dims` for its variables declared `_`, in declaration order, for
    /// [`DynKernel::eval_flat`], [`DynKernel::info`] and generic code. They are checked when
    /// the kernel runs.
    pub fn with_dims(&self, dims: &[usize]) -> Self {
        Self { dims: Some(dims.to_vec()), ..self.clone() }
    }

    /// The kernel's text, as declared.
    pub fn text(&self) -> &'static str {
        self.text
    }

    /// The PTX module the GPU runs for `dims`, for inspection and for checking with `ptxas`
    /// (entry points as in keops-core's `codegen::ptx`).
    pub fn ptx_for(&self, dims: &[usize]) -> Result<&'static str> {
        Ok(specialization::<T>(self.text, dims)?.gpu_module().ptx)
    }

    /// The kernel for `dims`: its variables, reduction and output widths; an error if the
    /// formula's dimension rules refuse them.
    pub fn info_for(&self, dims: &[usize]) -> Result<KernelInfo> {
        Ok(specialization::<T>(self.text, dims)?.info)
    }

    /// [`DynKernel::info_for`] the dimensions set by [`DynKernel::with_dims`]; without them, or
    /// if they do not fit, the declaration, each dimension `_` as 0 and the output widths 0.
    pub fn info(&self) -> KernelInfo {
        match self.dims.as_deref().map(|dims| self.info_for(dims)) {
            Some(Ok(info)) => info,
            _ => declared(self.text),
        }
    }

    /// Evaluates on flat row-major inputs in declaration order, with the dimensions set by
    /// [`DynKernel::with_dims`]; the output is flat (values, then indices as numbers).
    pub fn eval_flat<S: AsRef<[T]>>(&self, inputs: &[S]) -> Result<Vec<T>> {
        let dims = self.dims("eval_flat")?;
        let inputs: Vec<&[T]> = inputs.iter().map(AsRef::as_ref).collect();
        let s = specialization::<T>(self.text, dims)?;
        let sizes = sizes_for(&s.info, &lengths(&inputs))?;
        let mut values = vec![T::ZERO; sizes.outer * s.info.value_width];
        let mut indices = vec![0; sizes.outer * s.info.index_width];
        self.compute(s, &inputs, sizes, None, &mut values, &mut indices)?;
        values.extend(indices.into_iter().map(T::from_index));
        Ok(values)
    }

    /// The gradient of `sum <output, e>` with respect to the input at position `pos`, flat
    /// and row-major (a parameter's summed over all rows), with the dimensions set by
    /// [`DynKernel::with_dims`]; `e` has the shape of the output: its values part, or the whole
    /// flat output. As the kernel's own backward kernels, specialised once to the dimensions.
    /// Not available yet for min, max and K-min reductions.
    pub fn grad_flat<S: AsRef<[T]>>(&self, pos: usize, inputs: &[S], e: &[T]) -> Result<Vec<T>> {
        let dims = self.dims("grad_flat")?;
        let inputs: Vec<&[T]> = inputs.iter().map(AsRef::as_ref).collect();
        let s = specialization::<T>(self.text, dims)?;
        let sizes = sizes_for(&s.info, &lengths(&inputs))?;
        let (vw, iw) = (s.info.value_width, s.info.index_width);
        if e.len() != sizes.outer * vw && e.len() != sizes.outer * (vw + iw) {
            return Err(Error::GradientShape { len: e.len(), expected: sizes.outer * vw });
        }
        let e = &e[..sizes.outer * vw];
        let Some(var) = s.info.vars.get(pos) else {
            return Err(Error::NoSuchVariable { pos, count: s.info.vars.len() });
        };
        let pass = backward_pass::<T>(self.text, dims)?;
        let (kernel, extras, sum_rows) = match &pass.steps[pos] {
            Step::Reduction { kernel, extras, sum_rows } => (kernel, extras, *sum_rows),
            Step::Zero => {
                let rows = match var.index {
                    Index::Param => 1,
                    index if index == s.info.reduced => sizes.inner,
                    _ => sizes.outer,
                };
                return Ok(vec![T::ZERO; rows * var.dim]);
            }
            Step::Refused(reason) => {
                return Err(Error::NotDifferentiable { var: var.name, reason: reason.clone() });
            }
            Step::Selection => {
                return Err(Error::Dimensions {
                    reason: "`grad_flat` of a min, max or K-min reduction with dimensions given at run time is not available yet".into(),
                });
            }
        };
        let output =
            if extras.contains(&Extra::Output) { self.values(s, &inputs, sizes)? } else { Vec::new() };
        let log_sum_exp = match &pass.log_sum_exp {
            Some(l) if extras.contains(&Extra::LogSumExp) => self.values(l, &inputs, sizes)?,
            _ => Vec::new(),
        };
        let mut all = inputs.clone();
        all.extend(extras.iter().map(|x| match x {
            Extra::Gradient => e,
            Extra::Output => &output[..],
            Extra::LogSumExp => &log_sum_exp[..],
        }));
        let values = self.values(kernel, &all, sizes_for(&kernel.info, &lengths(&all))?)?;
        if !sum_rows {
            return Ok(values);
        }
        let m = T::Scalar::default();
        let width = kernel.info.value_width;
        let mut total = vec![T::ZERO; width];
        for row in values.chunks(width) {
            for (t, &x) in total.iter_mut().zip(row) {
                *t = m.add(*t, x);
            }
        }
        Ok(total)
    }

    /// The dimensions set by [`DynKernel::with_dims`], which `method` needs.
    fn dims(&self, method: &str) -> Result<&[usize]> {
        self.dims.as_deref().ok_or_else(|| Error::Dimensions {
            reason: format!("`{method}` needs the dimensions `_`: set them with `with_dims`"),
        })
    }

    /// The values part of `s`'s output on `inputs`.
    fn values(&self, s: &Specialization<T>, inputs: &[&[T]], sizes: Sizes) -> Result<Vec<T>> {
        let mut values = vec![T::ZERO; sizes.outer * s.info.value_width];
        let mut indices = vec![0; sizes.outer * s.info.index_width];
        self.compute(s, inputs, sizes, None, &mut values, &mut indices)?;
        Ok(values)
    }

    /// Typed `eval` of a reduction with values only.
    #[doc(hidden)]
    pub fn eval_values<const W: usize>(&self, dims: &[usize], inputs: &[&[T]]) -> Result<Vec<[T; W]>> {
        let (s, sizes) = self.prepare(dims, inputs, (W, 0))?;
        let mut values = vec![[T::ZERO; W]; sizes.outer];
        self.compute(s, inputs, sizes, None, values.as_flattened_mut(), &mut [])?;
        Ok(values)
    }

    /// Typed `eval` of a reduction with indices only.
    #[doc(hidden)]
    pub fn eval_indices<const W: usize>(&self, dims: &[usize], inputs: &[&[T]]) -> Result<Vec<[usize; W]>> {
        let (s, sizes) = self.prepare(dims, inputs, (0, W))?;
        let mut indices = vec![[0; W]; sizes.outer];
        self.compute(s, inputs, sizes, None, &mut [], indices.as_flattened_mut())?;
        Ok(indices)
    }

    /// Typed `eval` of a reduction with values and indices.
    #[doc(hidden)]
    #[allow(clippy::type_complexity)]
    pub fn eval_both<const W: usize>(
        &self,
        dims: &[usize],
        inputs: &[&[T]],
    ) -> Result<(Vec<[T; W]>, Vec<[usize; W]>)> {
        let (s, sizes) = self.prepare(dims, inputs, (W, W))?;
        let mut values = vec![[T::ZERO; W]; sizes.outer];
        let mut indices = vec![[0; W]; sizes.outer];
        self.compute(s, inputs, sizes, None, values.as_flattened_mut(), indices.as_flattened_mut())?;
        Ok((values, indices))
    }

    /// The specialisation for `dims` and the sizes of `inputs`, once the output widths the
    /// caller's types give are checked.
    fn prepare(
        &self,
        dims: &[usize],
        inputs: &[&[T]],
        widths: (usize, usize),
    ) -> Result<(&'static Specialization<T>, Sizes)> {
        let s = specialization::<T>(self.text, dims)?;
        let (vw, iw) = (s.info.value_width, s.info.index_width);
        if widths != (vw, iw) {
            return Err(Error::Dimensions {
                reason: format!(
                    "the output rows have width {}, but `eval` was asked for rows of width {}",
                    vw.max(iw),
                    widths.0.max(widths.1)
                ),
            });
        }
        Ok((s, sizes_for(&s.info, &lengths(inputs))?))
    }

    fn compute(
        &self,
        s: &Specialization<T>,
        inputs: &[&[T]],
        sizes: Sizes,
        ranges: Option<&Ranges>,
        values: &mut [T],
        indices: &mut [usize],
    ) -> Result<()> {
        #[cfg(feature = "cuda")]
        if let (Resolved::Cuda(ordinal), None) = (self.backend.resolve()?, ranges) {
            let call =
                Call { inputs, outer_rows: sizes.outer, inner_rows: sizes.inner, ranges, values, indices };
            return T::run_gpu(ordinal, s.gpu_module(), &s.info, call);
        }
        #[cfg(not(feature = "cuda"))]
        self.backend.resolve()?;
        let call = Call { inputs, outer_rows: sizes.outer, inner_rows: sizes.inner, ranges, values, indices };
        T::interpret(&s.program, &s.info, call);
        Ok(())
    }
}

impl<T: Real> Kernel for DynKernel<T> {
    type T = T;

    fn info(&self) -> KernelInfo {
        DynKernel::info(self)
    }

    fn sized_for(&self, cols: &[usize]) -> Option<Self> {
        if self.dims.is_some() {
            return None;
        }
        // The declaration gives dimension 0 to the variables declared `_`.
        let declared = declared(self.text);
        let dims: Vec<usize> =
            declared.vars.iter().zip(cols).filter(|(v, _)| v.dim == 0).map(|(_, &c)| c).collect();
        Some(self.with_dims(&dims))
    }

    fn backend(&self) -> Backend {
        self.backend
    }

    fn eval_flat<S: AsRef<[T]>>(&self, inputs: &[S]) -> Result<Vec<T>> {
        DynKernel::eval_flat(self, inputs)
    }

    fn grad_flat<S: AsRef<[T]>>(&self, pos: usize, inputs: &[S], e: &[T]) -> Result<Vec<T>> {
        DynKernel::grad_flat(self, pos, inputs, e)
    }

    fn eval_ranged(&self, inputs: &[&[T]], ranges: &Ranges) -> Option<Result<Vec<T>>> {
        if crate::ranges::by_blocks(self.backend) {
            return None;
        }
        Some((|| {
            let dims = self.dims("eval_flat")?;
            let s = specialization::<T>(self.text, dims)?;
            let sizes = sizes_for(&s.info, &lengths(inputs))?;
            ranges.check_bounds(sizes.outer, sizes.inner)?;
            let mut values = vec![T::ZERO; sizes.outer * s.info.value_width];
            let mut indices = vec![0; sizes.outer * s.info.index_width];
            self.compute(s, inputs, sizes, Some(ranges), &mut values, &mut indices)?;
            values.extend(indices.into_iter().map(T::from_index));
            Ok(values)
        })())
    }

    #[cfg(feature = "cuda")]
    fn eval_device(&self, _inputs: &[&crate::cuda::DeviceArray<T>]) -> Result<crate::cuda::DeviceOutput<T>> {
        Err(on_device())
    }

    #[cfg(feature = "cuda")]
    fn eval_device_into(
        &self,
        _inputs: &[&crate::cuda::DeviceArray<T>],
        _output: &mut crate::cuda::DeviceOutput<T>,
    ) -> Result<()> {
        Err(on_device())
    }
}

#[cfg(feature = "cuda")]
fn on_device() -> Error {
    Error::BackendUnavailable {
        backend: "cuda".into(),
        reason: "kernels with dimensions given at run time run on the CPU".into(),
    }
}

/// A kernel specialised to one set of dimensions: what generated code has as constants.
struct Specialization<T: 'static> {
    info: KernelInfo,
    program: Program<T>,
    /// The dimensions `_` of a forward kernel, to specialise it again for its GPU module
    /// (keops-core's checked kernel holds spans, which cannot be shared between threads).
    #[cfg_attr(not(feature = "cuda"), allow(dead_code))]
    dims: Vec<usize>,
    /// The GPU module: a forward kernel's is generated on first use, a backward kernel's
    /// with the kernel.
    #[cfg_attr(not(feature = "cuda"), allow(dead_code))]
    gpu: OnceLock<GpuModule>,
}

impl<T: Real> Specialization<T> {
    /// The interpreter's tables and the description of `s`, a kernel whose text is `formula`.
    fn new(formula: &'static str, dims: &[usize], s: &Specialized) -> Result<Self> {
        if s.declaration.dtype != std::any::type_name::<T>() {
            return Err(element_mismatch::<T>(formula));
        }
        let info = info(formula, &s.declaration, s.widths);
        Ok(Specialization { info, program: convert(&s.program)?, dims: dims.to_vec(), gpu: OnceLock::new() })
    }

    /// A backward kernel: its text leaked, and its GPU module generated now (it has no text
    /// to specialise again).
    fn backward(s: &Specialized) -> Result<Self> {
        let formula: &'static str = Box::leak(s.kernel.text.clone().into_boxed_str());
        let this = Self::new(formula, &[], s)?;
        #[cfg(feature = "cuda")]
        let _ = this.gpu.set(gpu_module(s));
        Ok(this)
    }

    /// The GPU module, as `keops!` would embed it for these dimensions.
    #[cfg_attr(not(feature = "cuda"), allow(dead_code))]
    fn gpu_module(&self) -> &GpuModule {
        self.gpu.get_or_init(|| {
            let s = specialize(self.info.formula, &self.dims).expect("dimensions specialised once already");
            gpu_module(&s)
        })
    }
}

/// The GPU module of `s`, leaked.
#[cfg_attr(not(feature = "cuda"), allow(dead_code))]
fn gpu_module(s: &Specialized) -> GpuModule {
    let m = s.gpu_module("DynKernel");
    GpuModule {
        name: "DynKernel",
        ptx: Box::leak(m.ptx.into_boxed_str()),
        block: m.block,
        shared_per_thread: m.shared_per_thread,
        partial_widths: m.partial_widths,
    }
}

/// The backward pass of a specialised kernel (see keops-core's `backward`).
struct BackwardPass<T: 'static> {
    steps: Vec<Step<T>>,
    log_sum_exp: Option<Specialization<T>>,
}

enum Step<T: 'static> {
    Zero,
    Refused(String),
    Reduction { kernel: Box<Specialization<T>>, extras: Vec<Extra>, sum_rows: bool },
    Selection,
}

/// What specialisations are kept by: the kernel's text and the dimensions `_`.
type Cache = Mutex<HashMap<(&'static str, Vec<usize>), &'static (dyn Any + Send + Sync)>>;

/// The value of `cache` for the kernel `text` with `dims`, made by `make` on first use and kept
/// for the process: the interpreter's tables are `'static`, as generated code declares them,
/// so each one is leaked, once per kernel and set of dimensions.
fn cached<V: Any + Send + Sync>(
    cache: &'static OnceLock<Cache>,
    text: &'static str,
    dims: &[usize],
    make: impl FnOnce() -> Result<V>,
) -> Result<&'static V> {
    let mut cache = cache.get_or_init(Default::default).lock().unwrap_or_else(PoisonError::into_inner);
    let key = (text, dims.to_vec());
    if let Some(v) = cache.get(&key) {
        return v.downcast_ref().ok_or_else(|| element_mismatch::<V>(text));
    }
    let v: &'static V = Box::leak(Box::new(make()?));
    cache.insert(key, v);
    Ok(v)
}

/// The kernel `text` specialised to `dims`.
fn specialization<T: Real>(text: &'static str, dims: &[usize]) -> Result<&'static Specialization<T>> {
    static CACHE: OnceLock<Cache> = OnceLock::new();
    cached(&CACHE, text, dims, || {
        let specialized = specialize(text, dims).map_err(|reason| Error::Dimensions { reason })?;
        Specialization::new(text, dims, &specialized)
    })
}

/// The backward pass of the kernel `text` specialised to `dims`.
fn backward_pass<T: Real>(text: &'static str, dims: &[usize]) -> Result<&'static BackwardPass<T>> {
    static CACHE: OnceLock<Cache> = OnceLock::new();
    cached(&CACHE, text, dims, || {
        let b = specialize_backward(text, dims).map_err(|reason| Error::Dimensions { reason })?;
        let steps = (b.steps.iter())
            .map(|step| {
                Ok(match step {
                    BackwardStep::Zero => Step::Zero,
                    BackwardStep::Refused(reason) => Step::Refused(reason.clone()),
                    BackwardStep::Selection => Step::Selection,
                    BackwardStep::Reduction { kernel, extras, sum_rows } => Step::Reduction {
                        kernel: Box::new(Specialization::backward(kernel)?),
                        extras: extras.clone(),
                        sum_rows: *sum_rows,
                    },
                })
            })
            .collect::<Result<_>>()?;
        let log_sum_exp = b.log_sum_exp.as_deref().map(Specialization::backward).transpose()?;
        Ok(BackwardPass { steps, log_sum_exp })
    })
}

fn element_mismatch<T>(text: &str) -> Error {
    Error::Dimensions {
        reason: format!("the kernel `{text}` does not compute with `{}`", std::any::type_name::<T>()),
    }
}

/// The declaration of the kernel `text` as a [`KernelInfo`], each dimension `_` as 0 and the
/// output widths 0; leaked once per kernel.
fn declared(text: &'static str) -> KernelInfo {
    static CACHE: OnceLock<Mutex<HashMap<&'static str, KernelInfo>>> = OnceLock::new();
    let mut cache = CACHE.get_or_init(Default::default).lock().unwrap_or_else(PoisonError::into_inner);
    *cache.entry(text).or_insert_with(|| match declaration(text) {
        Ok(d) => info(text, &d, (0, 0)),
        // Generated code records texts that parse; this one does not come from `keops!`.
        Err(_) => KernelInfo {
            formula: text,
            vars: &[],
            reduction: "",
            reduced: Index::J,
            k: 0,
            dtype: "",
            value_width: 0,
            index_width: 0,
        },
    })
}

fn leak<X>(items: Vec<X>) -> &'static [X] {
    Box::leak(items.into_boxed_slice())
}

fn index(role: Role) -> Index {
    match role {
        Role::I => Index::I,
        Role::J => Index::J,
        Role::Param => Index::Param,
    }
}

fn info(text: &'static str, d: &Declaration, (value_width, index_width): (usize, usize)) -> KernelInfo {
    let vars = d.vars.iter().map(|(name, role, dim)| VarInfo {
        name: Box::leak(name.clone().into_boxed_str()),
        index: index(*role),
        dim: dim.unwrap_or(0),
    });
    KernelInfo {
        formula: text,
        vars: leak(vars.collect()),
        reduction: d.reduction,
        reduced: index(d.reduced),
        k: d.k,
        dtype: d.dtype,
        value_width,
        index_width,
    }
}

/// keops-core's program as the interpreter's tables.
fn convert<T: Real>(p: &data::Program) -> Result<Program<T>> {
    let step = |step: &data::Step| -> Result<Inst<T>> {
        Ok(match *step {
            data::Step::Load { dst, var, comp } => Inst::Load { dst, var, comp },
            data::Step::Const { dst, value } => Inst::Const { dst, value: T::from_f64(value) },
            data::Step::Chain { term, dst, init, ref pairs } => {
                Inst::Chain { term, dst, init, pairs: leak(pairs.clone()) }
            }
            data::Step::Op { op, dst, args } => {
                let name = op.name();
                let Some(&(_, op)) = Op::NAMED.iter().find(|(n, _)| *n == name) else {
                    return Err(Error::Dimensions {
                        reason: format!("internal error: the interpreter has no instruction `{name}`"),
                    });
                };
                Inst::Op { op, dst, args }
            }
        })
    };
    let code = |steps: &[data::Step]| -> Result<&'static [Inst<T>]> {
        Ok(leak(steps.iter().map(step).collect::<Result<_>>()?))
    };
    let prepass = |p: &data::Prepass| -> Result<Prepass<T>> {
        Ok(Prepass { code: code(&p.code)?, registers: p.registers, features: leak(p.features.clone()) })
    };
    let pair = PairStage {
        consts: leak(p.pair.consts.iter().map(|&(r, v)| (r, T::from_f64(v))).collect()),
        code: code(&p.pair.code)?,
        registers: p.pair.registers,
        f: leak(p.pair.f.clone()),
        g: leak(p.pair.g.clone()),
        differences: p
            .pair
            .differences
            .as_ref()
            .map(|d| Differences { features: leak(d.features.clone()), inner_first: d.inner_first }),
    };
    Ok(Program { outer: prepass(&p.outer)?, inner: prepass(&p.inner)?, pair, reduction: p.reduction })
}
