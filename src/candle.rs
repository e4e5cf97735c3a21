//! candle integration (feature `candle`, candle-core 0.11): a kernel applied to `Tensor`s is an
//! op of candle's graph, so `loss.backward()` flows through keops reductions as through any
//! candle op, into every input that tracks gradients (`Var`s and what is computed from them).
//!
//! Inputs are in declaration order: an i- or j-variable of dimension `D` is a `(rows, D)` tensor
//! (or `(rows,)` when `D = 1`), a parameter holds its `D` numbers in any shape. The output is
//! `(rows, width)`: each row's values, then its indices as numbers (as [`crate::ndarray`]).
//! Tensors must have the kernel's element type (`f32` or `f64`), or for an `f32` kernel `f16` or
//! `bf16`: those are converted to `f32` in candle's graph (so their gradients come back in
//! their type), the kernel computes and accumulates in `f32`, and the output is rounded to the
//! inputs' type when they all have it and the kernel returns no indices (an `f16` holds
//! integers exactly only up to 2048), `f32` otherwise. A kernel declared with
//! dimensions `_` (a `DynKernel`, `&*k` of what `keops!` makes of it) takes them from the
//! tensors.
//!
//! ```
//! use keops::candle::{Device, Tensor, Var};
//! use keops::keops;
//!
//! let k = keops!(|x_i: [f32; 2], y_j: [f32; 2], s: f32| sum_j exp(-s * sqdist(x_i, y_j)));
//! let x = Tensor::new(&[[0.0f32, 0.0], [1.0, 0.0]], &Device::Cpu)?;
//! let y = Tensor::new(&[[0.0f32, 1.0], [2.0, 0.0], [0.5, 0.5]], &Device::Cpu)?;
//! let s = Var::new(&[0.5f32], &Device::Cpu)?;
//! let a = keops::candle::apply(&k, &[&x, &y, s.as_tensor()])?;
//! assert_eq!(a.dims(), [2, 1]);
//! // d/ds of the sum of the outputs, through candle's autograd.
//! let grads = a.sum_all()?.backward()?;
//! let ds = grads.get(s.as_tensor()).expect("s tracks its gradient").to_vec1::<f32>()?;
//! assert!(ds[0] < 0.0);
//! # Ok::<(), keops::candle::Error>(())
//! ```
//!
//! # How the inputs reach the kernel
//!
//! candle's custom ops take at most three tensors. The first two inputs (the points, usually)
//! are passed as they are, read in place when they are contiguous; from a fourth input on, the
//! third and later ones (weights and parameters, usually) are flattened and concatenated into
//! one tensor, which candle differentiates like any concatenation.
//!
//! # Limits
//!
//! - CPU tensors only: on a CUDA device the forward pass is refused ("no cuda implementation
//!   for keops"), as reading candle's CUDA buffers in place is not written yet.
//! - The gradients are computed by the kernel's own backward kernels and returned as constants:
//!   a second `backward` through them (a gradient of a gradient) sees no dependence on the
//!   inputs.

pub use candle_core::{DType, Device, Error, Tensor, Var};

use candle_core::{CpuStorage, CustomOp1, CustomOp2, CustomOp3, Layout, Result, Shape, WithDType};

use crate::cpu::math::Real;
use crate::info::Index;
use crate::kernel::Kernel;
use crate::rows::by_rows;

/// Applies `k` to `inputs` (declaration order) as an op of candle's graph; see the module docs
/// for the shapes.
pub fn apply<K>(k: &K, inputs: &[&Tensor]) -> Result<Tensor>
where
    K: Kernel + Clone + Send + Sync + 'static,
    K::T: WithDType,
{
    let info = k.info();
    if inputs.len() != info.vars.len() {
        return Err(Error::wrap(crate::Error::InputCount { expected: info.vars.len(), got: inputs.len() }));
    }
    // Half-precision tensors of an f32 kernel are widened in candle's graph, so that their
    // gradients come back in their own type.
    let half = |t: &Tensor| K::T::DTYPE == DType::F32 && matches!(t.dtype(), DType::F16 | DType::BF16);
    if inputs.iter().any(|t| half(t)) {
        let widened: Vec<Tensor> = inputs
            .iter()
            .map(|t| if half(t) { t.to_dtype(DType::F32) } else { Ok((*t).clone()) })
            .collect::<Result<_>>()?;
        let out = apply(k, &widened.iter().collect::<Vec<_>>())?;
        let first = inputs[0].dtype();
        let narrow = info.index_width == 0 && inputs.iter().all(|t| t.dtype() == first);
        return if narrow { out.to_dtype(first) } else { Ok(out) };
    }
    for (v, t) in info.vars.iter().zip(inputs) {
        if t.dtype() != K::T::DTYPE {
            candle_core::bail!(
                "input `{}` is a {:?} tensor, the kernel takes {}",
                v.name,
                t.dtype(),
                info.dtype
            );
        }
    }
    // A kernel with dimensions `_` takes them from the tensors: a row's length, or a
    // parameter's.
    let cols: Vec<usize> = info
        .vars
        .iter()
        .zip(inputs)
        .map(|(v, t)| match (v.index, t.dims()) {
            (Index::Param, _) => t.elem_count(),
            (_, [_]) => 1,
            (_, dims) => dims.last().copied().unwrap_or(1),
        })
        .collect();
    let k = k.sized_for(&cols).unwrap_or_else(|| k.clone());
    let inputs: Vec<Tensor> = inputs.iter().map(|t| t.contiguous()).collect::<Result<_>>()?;
    let op = KernelOp { k, packed: None, tracked: inputs.iter().map(Tensor::track_op).collect() };
    match &inputs[..] {
        [a] => a.apply_op1(op),
        [a, b] => a.apply_op2(b, op),
        [a, b, c] => a.apply_op3(b, c, op),
        [a, b, rest @ ..] => {
            let flat: Vec<Tensor> = rest.iter().map(Tensor::flatten_all).collect::<Result<_>>()?;
            let packed = Tensor::cat(&flat, 0)?;
            a.apply_op3(
                b,
                &packed,
                KernelOp { packed: Some(rest.iter().map(Tensor::elem_count).collect()), ..op },
            )
        }
        [] => candle_core::bail!("a kernel has at least one input"),
    }
}

/// A kernel as candle sees it.
struct KernelOp<K> {
    k: K,
    /// The element counts of the inputs from the third on, when they are passed as one tensor.
    packed: Option<Vec<usize>>,
    /// Which inputs track gradients (only their gradients are computed).
    tracked: Vec<bool>,
}

impl<K: Kernel> KernelOp<K>
where
    K::T: WithDType,
{
    /// The kernel's inputs from candle's arguments: the packed one split into its inputs.
    fn inputs<'a>(&self, args: &[&'a [K::T]]) -> Vec<&'a [K::T]> {
        match (&self.packed, args) {
            (Some(counts), [a, b, packed]) => {
                let mut inputs = vec![*a, *b];
                let mut rest = *packed;
                for &n in counts {
                    let (head, tail) = rest.split_at(n.min(rest.len()));
                    inputs.push(head);
                    rest = tail;
                }
                inputs
            }
            _ => args.to_vec(),
        }
    }

    fn forward(&self, args: &[(&CpuStorage, &Layout)]) -> Result<(CpuStorage, Shape)> {
        let slices = args
            .iter()
            .map(|&(storage, layout)| {
                let data = K::T::cpu_storage_as_slice(storage)?;
                match layout.contiguous_offsets() {
                    Some((start, end)) => Ok(&data[start..end]),
                    None => candle_core::bail!("keops: an input is not contiguous"),
                }
            })
            .collect::<Result<Vec<_>>>()?;
        let info = self.k.info();
        let out = by_rows(&info, self.k.eval_flat(&self.inputs(&slices)).map_err(Error::wrap)?);
        let width = info.value_width + info.index_width;
        let rows = out.len().checked_div(width).unwrap_or(0);
        Ok((K::T::to_cpu_storage_owned(out), Shape::from((rows, width))))
    }

    /// The gradients of candle's arguments, for those that track them.
    fn backward(&self, args: &[&Tensor], grad_res: &Tensor) -> Result<Vec<Option<Tensor>>> {
        let info = self.k.info();
        if info.value_width == 0 {
            return Ok(vec![None; args.len()]);
        }
        let host = args.iter().map(|t| t.flatten_all()?.to_vec1::<K::T>()).collect::<Result<Vec<_>>>()?;
        let host: Vec<&[K::T]> = host.iter().map(Vec::as_slice).collect();
        let inputs = self.inputs(&host);
        let e = grad_res.narrow(1, 0, info.value_width)?.contiguous()?.flatten_all()?.to_vec1::<K::T>()?;
        let grad = |pos: usize| self.k.grad_flat(pos, &inputs, &e).map_err(Error::wrap);
        args.iter()
            .enumerate()
            .map(|(a, arg)| {
                let g = match (&self.packed, a) {
                    (Some(counts), 2) => {
                        let mut g = Vec::with_capacity(arg.elem_count());
                        for (pos, &n) in counts.iter().enumerate().map(|(p, n)| (p + 2, n)) {
                            if self.tracked[pos] {
                                g.extend(grad(pos)?);
                            } else {
                                g.resize(g.len() + n, K::T::ZERO);
                            }
                        }
                        g
                    }
                    _ if !self.tracked[a] => return Ok(None),
                    _ => grad(a)?,
                };
                Tensor::from_vec(g, arg.shape(), arg.device()).map(Some)
            })
            .collect()
    }
}

const NAME: &str = "keops";

impl<K: Kernel + Send + Sync> CustomOp1 for KernelOp<K>
where
    K::T: WithDType,
{
    fn name(&self) -> &'static str {
        NAME
    }

    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout) -> Result<(CpuStorage, Shape)> {
        self.forward(&[(s1, l1)])
    }

    fn bwd(&self, a1: &Tensor, _res: &Tensor, grad_res: &Tensor) -> Result<Option<Tensor>> {
        Ok(self.backward(&[a1], grad_res)?.pop().flatten())
    }
}

impl<K: Kernel + Send + Sync> CustomOp2 for KernelOp<K>
where
    K::T: WithDType,
{
    fn name(&self) -> &'static str {
        NAME
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        self.forward(&[(s1, l1), (s2, l2)])
    }

    fn bwd(
        &self,
        a1: &Tensor,
        a2: &Tensor,
        _res: &Tensor,
        grad_res: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let mut g = self.backward(&[a1, a2], grad_res)?.into_iter();
        Ok((g.next().flatten(), g.next().flatten()))
    }
}

impl<K: Kernel + Send + Sync> CustomOp3 for KernelOp<K>
where
    K::T: WithDType,
{
    fn name(&self) -> &'static str {
        NAME
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        self.forward(&[(s1, l1), (s2, l2), (s3, l3)])
    }

    fn bwd(
        &self,
        a1: &Tensor,
        a2: &Tensor,
        a3: &Tensor,
        _res: &Tensor,
        grad_res: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let mut g = self.backward(&[a1, a2, a3], grad_res)?.into_iter();
        Ok((g.next().flatten(), g.next().flatten(), g.next().flatten()))
    }
}
