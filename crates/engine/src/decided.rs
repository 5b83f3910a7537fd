//! The decisions made so far in one evaluation, by flag position, so that a flag that several flags require
//! is decided once however the prerequisite graph is shaped.

use crate::compile::FastMap;
use crate::evaluation::Reason;

/// A flag's decision: the variant served (by position) and why.
pub(crate) type Decision<'a> = (Option<usize>, Reason<'a>);

/// Beyond this many decisions, one flag's evaluation hashes positions instead of scanning them.
const FEW: usize = 16;

/// Empty, without allocating, until a flag with prerequisites is met. Evaluating one flag touches a few flags
/// of a snapshot that may hold thousands, so it keeps just those: a short list, then a map; evaluating every
/// flag keeps a slot per flag.
pub(crate) enum Decided<'a> {
    Few(Vec<(usize, Decision<'a>)>),
    Many(FastMap<usize, Decision<'a>>),
    All(Vec<Option<Decision<'a>>>),
}

impl Default for Decided<'_> {
    fn default() -> Self {
        Decided::Few(Vec::new())
    }
}

impl<'a> Decided<'a> {
    /// For evaluating all `flags` flags of a snapshot.
    pub(crate) fn all(flags: usize) -> Self {
        Decided::All(vec![None; flags])
    }

    #[inline]
    pub(crate) fn get(&self, position: usize) -> Option<Decision<'a>> {
        match self {
            Decided::Few(list) => list.iter().find(|(p, _)| *p == position).map(|(_, d)| *d),
            Decided::Many(map) => map.get(&position).copied(),
            Decided::All(slots) => slots.get(position).copied().flatten(),
        }
    }

    pub(crate) fn insert(&mut self, position: usize, decision: Decision<'a>) {
        match self {
            Decided::Few(list) if list.len() < FEW => list.push((position, decision)),
            Decided::Few(list) => {
                let mut map: FastMap<usize, Decision<'a>> = list.drain(..).collect();
                map.insert(position, decision);
                *self = Decided::Many(map);
            }
            Decided::Many(map) => {
                map.insert(position, decision);
            }
            Decided::All(slots) => {
                if let Some(slot) = slots.get_mut(position) {
                    *slot = Some(decision);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_whichever_form_it_takes() {
        let mut few = Decided::default();
        for position in (0..100).rev() {
            assert_eq!(few.get(position), None);
            few.insert(position, (Some(position), Reason::Off));
        }
        assert!(matches!(few, Decided::Many(_)));
        let mut all = Decided::all(100);
        all.insert(7, (None, Reason::TargetMatch));
        for position in 0..100 {
            assert_eq!(few.get(position), Some((Some(position), Reason::Off)));
        }
        assert_eq!(all.get(7), Some((None, Reason::TargetMatch)));
        assert_eq!(all.get(8), None);
        assert_eq!(all.get(100), None);
    }
}
