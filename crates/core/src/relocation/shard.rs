//! Splitting repositories among N workers without a coordinator.
//!
//! Without sizes (`copy --shard`, `verify --shard`), a repository belongs to shard
//! [`crate::walk::shard_of`]: a hash of its name. With sizes (`apply --shard`, where the plan
//! holds the inventory), [`assign`] balances bytes: largest repositories first, each to the shard
//! with the least bytes so far (ties: fewer repositories, then the lower index), in an order fixed
//! by size, name hash and name. Every worker computes the same assignment from the same plan, so N
//! workers cover every repository exactly once.

use std::collections::BTreeMap;

use crate::walk::shard_of;

/// A shard `k` of `n` (`k` from 0 to `n - 1`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    /// This worker's index.
    pub k: u32,
    /// Number of workers.
    pub n: u32,
}

/// Assigns each repository (name, weight) to a shard of `n`, balancing the weights.
pub fn assign<'a>(
    repositories: impl IntoIterator<Item = (&'a str, u64)>,
    n: u32,
) -> BTreeMap<String, u32> {
    let n = n.max(1);
    let mut order: Vec<(&str, u64)> = repositories.into_iter().collect();
    // Largest first; the hash spreads equal sizes, the name makes the order total.
    order.sort_by(|a, b| {
        b.1.cmp(&a.1)
            .then_with(|| shard_of(a.0, u32::MAX).cmp(&shard_of(b.0, u32::MAX)))
            .then_with(|| a.0.cmp(b.0))
    });
    let mut load = vec![(0u64, 0u64); n as usize];
    let mut out = BTreeMap::new();
    for (name, weight) in order {
        let k = (0..n as usize)
            .min_by_key(|&i| (load[i].0, load[i].1, i))
            .unwrap_or(0);
        load[k].0 += weight.saturating_add(1);
        load[k].1 += 1;
        out.insert(name.to_string(), k as u32);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_repository_lands_in_exactly_one_balanced_shard() {
        let repos: Vec<(String, u64)> = (0..200)
            .map(|i| (format!("team/svc-{i}"), (i as u64 % 17) * 1_000_000 + 10))
            .collect();
        let total: u64 = repos.iter().map(|r| r.1).sum();
        for n in [1u32, 3, 7] {
            let a = assign(repos.iter().map(|(r, s)| (r.as_str(), *s)), n);
            assert_eq!(a.len(), repos.len());
            let mut bytes = vec![0u64; n as usize];
            for (name, size) in &repos {
                bytes[a[name] as usize] += size;
            }
            let max = *bytes.iter().max().unwrap();
            // Within one largest item of a perfect split.
            assert!(max <= total / u64::from(n) + 16_000_000, "{n}: {bytes:?}");
            // The same input gives the same assignment.
            let b = assign(repos.iter().rev().map(|(r, s)| (r.as_str(), *s)), n);
            assert_eq!(a, b);
        }
    }
}
