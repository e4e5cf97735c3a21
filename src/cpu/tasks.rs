//! Which output rows each parallel task reduces, and over which reduced rows: every row over
//! all of them, or, for block-sparse [`Ranges`], each block of rows over its own blocks of
//! reduced rows. Shared by the compiled kernels' driver and the interpreter.

use std::ops::Range;
use std::sync::{Mutex, PoisonError};

use super::{PAIRS_PER_TASK, parallel_for};
use crate::ranges::Ranges;

/// The most output rows of one task.
const MAX_ROWS_PER_TASK: usize = 256;

/// The tasks of one evaluation, in row order: together they cover every output row once.
pub(crate) struct Schedule {
    /// Each task's output rows and, as a range of `reduced`, the reduced rows it reduces them
    /// over, in order.
    tasks: Vec<(Range<usize>, Range<usize>)>,
    reduced: Vec<Range<usize>>,
}

impl Schedule {
    /// Every output row over every reduced row, in tasks of about [`PAIRS_PER_TASK`] pairs
    /// whose rows are a multiple of `block` (the rows a kernel reduces together).
    pub(crate) fn dense(outer_rows: usize, inner_rows: usize, block: usize) -> Schedule {
        let per_task =
            (PAIRS_PER_TASK / inner_rows.max(1)).clamp(1, MAX_ROWS_PER_TASK).next_multiple_of(block);
        let tasks =
            (0..outer_rows).step_by(per_task).map(|r| (r..outer_rows.min(r + per_task), 0..1)).collect();
        Schedule { tasks, reduced: std::iter::once(0..inner_rows).collect() }
    }

    /// Each block of output rows of `ranges` over its reduced blocks, in tasks of about
    /// [`PAIRS_PER_TASK`] pairs; rows outside every block over none. The ranges must lie within
    /// `outer_rows` (see [`Ranges::check_bounds`]).
    pub(crate) fn ranged(outer_rows: usize, ranges: &Ranges) -> Schedule {
        let (outer, slices, reduced) = ranges.as_keops();
        let mut tasks = Vec::with_capacity(outer.len() + 1);
        let mut row = 0;
        let none = |tasks: &mut Vec<_>, rows: Range<usize>| {
            if !rows.is_empty() {
                tasks.push((rows, 0..0));
            }
        };
        for (k, &[start, end]) in outer.iter().enumerate() {
            none(&mut tasks, row..start);
            let lists = if k == 0 { 0 } else { slices[k - 1] }..slices[k];
            let pairs_per_row: usize = reduced[lists.clone()].iter().map(|[s, e]| e - s).sum();
            let per_task = (PAIRS_PER_TASK / pairs_per_row.max(1)).clamp(1, MAX_ROWS_PER_TASK);
            tasks.extend((start..end).step_by(per_task).map(|r| (r..end.min(r + per_task), lists.clone())));
            row = end;
        }
        none(&mut tasks, row..outer_rows);
        Schedule { tasks, reduced: reduced.iter().map(|&[s, e]| s..e).collect() }
    }

    /// Calls `f(rows, reduced, values, indices)` for every task, in parallel, with `values`
    /// and `indices` (`vw` and `iw` per row) those rows' outputs.
    pub(crate) fn run<T: Send>(
        &self,
        values: &mut [T],
        indices: &mut [usize],
        (vw, iw): (usize, usize),
        f: &RowTask<'_, T>,
    ) {
        // Each task locks its own outputs once: uncontended, and no unsafe aliasing of them.
        let (mut values, mut indices) = (values, indices);
        let mut outputs = Vec::with_capacity(self.tasks.len());
        for (rows, _) in &self.tasks {
            let (v, rest_v) = std::mem::take(&mut values).split_at_mut(rows.len() * vw);
            let (i, rest_i) = std::mem::take(&mut indices).split_at_mut(rows.len() * iw);
            outputs.push(Mutex::new((v, i)));
            (values, indices) = (rest_v, rest_i);
        }
        parallel_for(self.tasks.len(), &|t| {
            let mut task = outputs[t].lock().unwrap_or_else(PoisonError::into_inner);
            let (values, indices) = &mut *task;
            let (rows, lists) = &self.tasks[t];
            f(rows.clone(), &self.reduced[lists.clone()], values, indices);
        });
    }
}

/// Work on the output rows `rows` over the reduced rows `reduced` (ranges, in order), whose
/// values and indices are given.
pub(crate) type RowTask<'a, T> = dyn Fn(Range<usize>, &[Range<usize>], &mut [T], &mut [usize]) + Sync + 'a;

#[cfg(test)]
mod tests {
    use super::*;

    /// Each task's rows and reduced ranges, as `[start, end)` pairs.
    fn tasks(s: &Schedule) -> Vec<([usize; 2], Vec<[usize; 2]>)> {
        let pair = |r: &Range<usize>| [r.start, r.end];
        s.tasks
            .iter()
            .map(|(rows, lists)| (pair(rows), s.reduced[lists.clone()].iter().map(pair).collect()))
            .collect()
    }

    #[test]
    fn dense_tasks_cover_the_rows_in_blocks() {
        let t = tasks(&Schedule::dense(1000, 1 << 10, 4));
        assert_eq!(t.len(), 16);
        assert_eq!(t[0], ([0, 64], vec![[0, 1024]]));
        assert_eq!(t[15].0, [960, 1000]);
        assert_eq!(tasks(&Schedule::dense(3, 1 << 20, 4)), [([0, 3], vec![[0, 1 << 20]])]);
    }

    #[test]
    fn ranged_tasks_follow_the_blocks_and_cover_the_gaps() {
        let r =
            Ranges::new(vec![[2, 5], [5, 6], [8, 300]], vec![2, 2, 3], vec![[0, 3], [7, 9], [1, 2]]).unwrap();
        assert_eq!(
            tasks(&Schedule::ranged(310, &r)),
            [
                ([0, 2], vec![]),
                ([2, 5], vec![[0, 3], [7, 9]]),
                ([5, 6], vec![]),
                ([6, 8], vec![]),
                ([8, 264], vec![[1, 2]]),
                ([264, 300], vec![[1, 2]]),
                ([300, 310], vec![]),
            ]
        );
    }
}
