//! Multiway number partitioning of integer weights (microseconds) over `n` bins.
//!
//! LPT (largest first onto the least-loaded bin; ties: fewer items, then lower index) followed by
//! a local search that repeatedly moves one item, or swaps two, between the most loaded bin and
//! a lighter one whenever that strictly lowers the heavier of the pair. Integer weights make the
//! result exact and independent of floating-point evaluation order, so every machine computes
//! the same partition from the same canonical input (DESIGN.md invariant 1).

use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// Assigns each weight to a bin in `0..n`. `weights` must already be in canonical order
/// (heaviest first, ties by a stable key); the caller owns that order.
pub fn partition(weights: &[u64], n: usize) -> Vec<usize> {
    let n = n.max(1);
    let mut assign = vec![0usize; weights.len()];
    let mut heap: BinaryHeap<Reverse<(u64, usize, usize)>> =
        (0..n).map(|b| Reverse((0u64, 0usize, b))).collect();
    for (i, &w) in weights.iter().enumerate() {
        let Some(Reverse((load, count, bin))) = heap.pop() else {
            break;
        };
        assign[i] = bin;
        heap.push(Reverse((load + w, count + 1, bin)));
    }
    improve(weights, n, &mut assign, &|_, _| true);
    assign
}

/// Loads per bin.
pub fn loads(weights: &[u64], n: usize, assign: &[usize]) -> Vec<u64> {
    let mut loads = vec![0u64; n.max(1)];
    for (i, &b) in assign.iter().enumerate() {
        loads[b] += weights[i];
    }
    loads
}

/// Local search on the makespan; bounded so huge inputs stay fast. `allowed(item, bin)` says
/// whether an item may be placed in a bin (the planner pins some items and forbids others).
pub fn improve(
    weights: &[u64],
    n: usize,
    assign: &mut [usize],
    allowed: &dyn Fn(usize, usize) -> bool,
) {
    if n < 2 || weights.len() < 2 {
        return;
    }
    let mut bins: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (i, &b) in assign.iter().enumerate() {
        bins[b].push(i);
    }
    let mut loads = loads(weights, n, assign);
    let total: u64 = loads.iter().sum();
    // Within 0.01 % of the fair share there is nothing worth finding.
    let good_enough = total.div_ceil(n as u64) + total / n as u64 / 10_000;
    let max_iterations = 50 * n + 200;
    // Work budget in item visits: keeps 1,000,000 items well under a second.
    let mut budget: u64 = 5_000_000;
    for _ in 0..max_iterations {
        let m = (0..n).max_by_key(|&b| (loads[b], Reverse(b))).unwrap_or(0);
        if loads[m] <= good_enough {
            break;
        }
        let mut others: Vec<usize> = (0..n).filter(|&b| b != m).collect();
        others.sort_by_key(|&b| (loads[b], b));
        // Items of the max bin sorted by weight (ties by index) for binary searches.
        let mut from: Vec<(u64, usize)> = bins[m].iter().map(|&i| (weights[i], i)).collect();
        from.sort_unstable();
        budget = budget.saturating_sub(from.len() as u64);
        let mut done = false;
        for &b in &others {
            let gap = loads[m] - loads[b];
            if gap < 2 {
                break;
            }
            budget = budget.saturating_sub(bins[b].len() as u64);
            if let Some((i, j)) = best_exchange(weights, &from, &bins[b], (m, b), gap, allowed) {
                move_item(&mut bins, &mut loads, assign, weights[i], i, (m, b));
                if let Some(j) = j {
                    move_item(&mut bins, &mut loads, assign, weights[j], j, (b, m));
                }
                done = true;
                break;
            }
            if budget == 0 {
                break;
            }
        }
        if !done || budget == 0 {
            break;
        }
    }
}

/// Between the max bin `m` (its items `from`, sorted by weight) and bin `b` (`into`), `gap`
/// apart: the move of one item `i`, or the swap of `i` with `j`, whose weight change is closest
/// to `gap / 2` (ties by index).
fn best_exchange(
    weights: &[u64],
    from: &[(u64, usize)],
    into: &[usize],
    (m, b): (usize, usize),
    gap: u64,
    allowed: &dyn Fn(usize, usize) -> bool,
) -> Option<(usize, Option<usize>)> {
    let half = gap / 2;
    // Best single move: the weight in (0, gap) closest to gap/2.
    let mut best: Option<(u64, usize, Option<usize>)> = None; // (|d - half|, i, j)
    if let Some((w, i)) = closest(from, half, 1, gap - 1, &|i| allowed(i, b)) {
        best = Some((w.abs_diff(half), i, None));
    }
    // Best swap: w_i - w_j in (0, gap) closest to gap/2.
    for &j in into {
        let wj = weights[j];
        if !allowed(j, m) {
            continue;
        }
        if let Some((wi, i)) = closest(from, wj + half, wj + 1, wj + gap - 1, &|i| allowed(i, b)) {
            let score = (wi - wj).abs_diff(half);
            if best.is_none_or(|(s, bi, bj)| (score, i, Some(j)) < (s, bi, bj)) {
                best = Some((score, i, Some(j)));
            }
        }
    }
    best.map(|(_, i, j)| (i, j))
}

/// Moves item `i` of weight `w` from bin `from` to bin `to`.
fn move_item(
    bins: &mut [Vec<usize>],
    loads: &mut [u64],
    assign: &mut [usize],
    w: u64,
    i: usize,
    (from, to): (usize, usize),
) {
    bins[from].retain(|&x| x != i);
    bins[to].push(i);
    assign[i] = to;
    loads[from] -= w;
    loads[to] += w;
}

/// In `sorted` (by weight, then index), an `ok` item with weight in `[lo, hi]` closest to
/// `target` (ties: the lighter one first). Looks at a bounded window around `target`.
fn closest(
    sorted: &[(u64, usize)],
    target: u64,
    lo: u64,
    hi: u64,
    ok: &dyn Fn(usize) -> bool,
) -> Option<(u64, usize)> {
    const WINDOW: usize = 16;
    if lo > hi {
        return None;
    }
    let target = target.clamp(lo, hi);
    let pos = sorted.partition_point(|&(w, _)| w < target);
    let mut best: Option<(u64, usize)> = None;
    let mut consider = |k: usize| {
        if let Some(&(w, i)) = sorted.get(k)
            && w >= lo
            && w <= hi
            && ok(i)
        {
            let better = match best {
                None => true,
                Some((bw, _)) => w.abs_diff(target) < bw.abs_diff(target),
            };
            if better {
                best = Some((w, i));
            }
        }
    };
    // Below the target, the lowest index among equal weights comes first in `sorted`.
    for k in (pos.saturating_sub(WINDOW)..pos).rev() {
        consider(k);
    }
    for k in pos..(pos + WINDOW).min(sorted.len()) {
        consider(k);
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn balances_simple_cases() {
        let w = [8, 7, 6, 5, 4];
        let a = partition(&w, 2);
        let l = loads(&w, 2, &a);
        assert_eq!(l.iter().max(), Some(&15));
        assert_eq!(partition(&[], 3), Vec::<usize>::new());
        assert_eq!(partition(&[5], 3), vec![0]);
    }

    #[test]
    fn zero_weights_spread_by_count() {
        let a = partition(&[0, 0, 0, 0], 4);
        let mut sorted = a.clone();
        sorted.sort();
        assert_eq!(sorted, vec![0, 1, 2, 3]);
    }

    #[test]
    fn local_search_fixes_lpt_worst_case() {
        // LPT gives 7 on this classic instance (optimal 6: {3,3},{2,2,2}).
        let w = [3, 3, 2, 2, 2];
        let a = partition(&w, 2);
        assert_eq!(loads(&w, 2, &a).into_iter().max(), Some(6));
    }
}
