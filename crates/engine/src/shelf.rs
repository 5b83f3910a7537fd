//! A vector of shared items that two snapshot versions can share: items sit behind an `Arc` each, in chunks of
//! 64 that are themselves shared. Replacing or appending one item copies one chunk's pointers (and the list of
//! chunks), not the items, so the cost of a change does not grow with the number of items beyond a pointer
//! per 64 of them.

use std::sync::Arc;

const CHUNK_BITS: usize = 6;
const CHUNK: usize = 1 << CHUNK_BITS;

pub(crate) struct Shelf<T> {
    chunks: Vec<Arc<[Arc<T>]>>,
    len: usize,
}

impl<T> Clone for Shelf<T> {
    fn clone(&self) -> Self {
        Shelf { chunks: self.chunks.clone(), len: self.len }
    }
}

impl<T> Default for Shelf<T> {
    fn default() -> Self {
        Shelf { chunks: Vec::new(), len: 0 }
    }
}

impl<T: std::fmt::Debug> std::fmt::Debug for Shelf<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<T> FromIterator<Arc<T>> for Shelf<T> {
    fn from_iter<I: IntoIterator<Item = Arc<T>>>(items: I) -> Self {
        let mut chunks = Vec::new();
        let mut len = 0;
        let mut items = items.into_iter().peekable();
        while items.peek().is_some() {
            let chunk: Arc<[Arc<T>]> = items.by_ref().take(CHUNK).collect();
            len += chunk.len();
            chunks.push(chunk);
        }
        Shelf { chunks, len }
    }
}

impl<T> Shelf<T> {
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The item at `i`; panics past the end, like a slice.
    #[inline]
    pub(crate) fn at(&self, i: usize) -> &T {
        &self.chunks[i >> CHUNK_BITS][i & (CHUNK - 1)]
    }

    #[inline]
    pub(crate) fn get(&self, i: usize) -> Option<&T> {
        (i < self.len).then(|| self.at(i))
    }

    /// The items, in order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &T> {
        self.chunks.iter().flat_map(|c| c.iter().map(|item| &**item))
    }

    /// The items' shared pointers, in order.
    #[cfg(test)]
    pub(crate) fn arcs(&self) -> impl Iterator<Item = &Arc<T>> {
        self.chunks.iter().flat_map(|c| c.iter())
    }

    /// Replaces the item at `i` (which must exist), copying only its chunk's pointers.
    pub(crate) fn set(&mut self, i: usize, item: Arc<T>) {
        let chunk = &mut self.chunks[i >> CHUNK_BITS];
        let mut items: Vec<Arc<T>> = chunk.to_vec();
        items[i & (CHUNK - 1)] = item;
        *chunk = items.into();
    }

    /// Appends an item, copying only the last chunk's pointers.
    pub(crate) fn push(&mut self, item: Arc<T>) {
        match self.chunks.last_mut() {
            Some(last) if last.len() < CHUNK => {
                let mut items: Vec<Arc<T>> = Vec::with_capacity(last.len() + 1);
                items.extend(last.iter().cloned());
                items.push(item);
                *last = items.into();
            }
            _ => self.chunks.push(Arc::from([item])),
        }
        self.len += 1;
    }

    /// Removes the item at `i` (which must exist), keeping the order of the others: the chunks from `i`'s on
    /// are laid out anew.
    pub(crate) fn remove(&mut self, i: usize) {
        let first = i >> CHUNK_BITS;
        let rest: Vec<Arc<T>> = self.chunks[first..]
            .iter()
            .flat_map(|c| c.iter().cloned())
            .enumerate()
            .filter_map(|(j, item)| (j != i - (first << CHUNK_BITS)).then_some(item))
            .collect();
        self.chunks.truncate(first);
        self.len = first << CHUNK_BITS;
        let tail: Shelf<T> = rest.into_iter().collect();
        self.len += tail.len;
        self.chunks.extend(tail.chunks);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(shelf: &Shelf<usize>) -> Vec<usize> {
        shelf.iter().copied().collect()
    }

    #[test]
    fn set_push_and_remove_keep_order_and_share_untouched_items() {
        let mut shelf: Shelf<usize> = (0..200).map(Arc::new).collect();
        let before = shelf.clone();
        shelf.set(70, Arc::new(1000));
        shelf.push(Arc::new(200));
        shelf.remove(3);
        let mut expected: Vec<usize> = (0..201).collect();
        expected[70] = 1000;
        expected.remove(3);
        assert_eq!(values(&shelf), expected);
        assert_eq!(shelf.len(), 200);
        assert_eq!(values(&before), (0..200).collect::<Vec<_>>());
        assert!(Arc::ptr_eq(before.arcs().nth(150).unwrap(), shelf.arcs().nth(149).unwrap()));
        assert_eq!(shelf.get(200), None);
        assert_eq!(shelf.get(199), Some(&200));
        let mut small: Shelf<usize> = Shelf::default();
        small.push(Arc::new(1));
        small.remove(0);
        assert!(small.is_empty());
    }
}
