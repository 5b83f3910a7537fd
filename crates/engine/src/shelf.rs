//! A vector of shared items that two snapshot versions can share: items sit behind an `Arc` each, in chunks of
//! 64 that are themselves shared. Replacing or appending one item copies one chunk's pointers (and the list of
//! chunks), not the items, so the cost of a change does not grow with the number of items beyond a pointer
//! per 64 of them.

use std::sync::Arc;

const CHUNK_BITS: usize = 6;
const CHUNK: usize = 1 << CHUNK_BITS;

/// A vector of `Arc`ed items in shared chunks of 64: cloning it copies a pointer per chunk, and replacing one
/// item copies one chunk's pointers, so snapshot versions share what a change did not touch.
pub struct Shelf<T> {
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

impl<T> std::ops::Index<usize> for Shelf<T> {
    type Output = T;

    fn index(&self, i: usize) -> &T {
        self.at(i)
    }
}

impl<T> Shelf<T> {
    /// The number of items.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether it holds no items.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The item at `i`; panics past the end, like a slice.
    #[inline]
    pub fn at(&self, i: usize) -> &T {
        &self.chunks[i >> CHUNK_BITS][i & (CHUNK - 1)]
    }

    /// The item at `i`, if there is one.
    #[inline]
    pub fn get(&self, i: usize) -> Option<&T> {
        (i < self.len).then(|| self.at(i))
    }

    /// The items, in order.
    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.chunks.iter().flat_map(|c| c.iter().map(|item| &**item))
    }

    /// The items' shared pointers, in order.
    pub fn arcs(&self) -> impl Iterator<Item = &Arc<T>> {
        self.chunks.iter().flat_map(|c| c.iter())
    }

    /// How many of this shelf's chunks are the very chunks (the same allocation) of `other`'s at the same
    /// place: what two versions share, for tests that hold a change's cost.
    pub fn shared_chunks(&self, other: &Shelf<T>) -> usize {
        self.chunks.iter().zip(&other.chunks).filter(|(a, b)| Arc::ptr_eq(a, b)).count()
    }

    /// The number of chunks.
    pub fn chunks(&self) -> usize {
        self.chunks.len()
    }

    /// Replaces the item at `i` (which must exist), copying only its chunk's pointers.
    pub fn set(&mut self, i: usize, item: Arc<T>) {
        let chunk = &mut self.chunks[i >> CHUNK_BITS];
        let mut items: Vec<Arc<T>> = chunk.to_vec();
        items[i & (CHUNK - 1)] = item;
        *chunk = items.into();
    }

    /// Appends an item, copying only the last chunk's pointers.
    pub fn push(&mut self, item: Arc<T>) {
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

    /// The number of items before the first one for which `pred` is false (all when there is none), the
    /// items being partitioned by it: a binary search, as [`slice::partition_point`].
    pub fn partition_point(&self, mut pred: impl FnMut(&T) -> bool) -> usize {
        let (mut low, mut high) = (0, self.len);
        while low < high {
            let mid = low + (high - low) / 2;
            if pred(self.at(mid)) {
                low = mid + 1;
            } else {
                high = mid;
            }
        }
        low
    }

    /// Inserts an item at `i` (at most the length), keeping the order of the others: the chunks from `i`'s
    /// on are laid out anew (pointers copied, not items).
    pub fn insert(&mut self, i: usize, item: Arc<T>) {
        if i == self.len {
            return self.push(item);
        }
        let first = i >> CHUNK_BITS;
        let at = i - (first << CHUNK_BITS);
        let mut rest: Vec<Arc<T>> = self.chunks[first..].iter().flat_map(|c| c.iter().cloned()).collect();
        rest.insert(at, item);
        self.chunks.truncate(first);
        self.len = first << CHUNK_BITS;
        let tail: Shelf<T> = rest.into_iter().collect();
        self.len += tail.len;
        self.chunks.extend(tail.chunks);
    }

    /// Removes the item at `i` (which must exist), keeping the order of the others: the chunks from `i`'s on
    /// are laid out anew.
    pub fn remove(&mut self, i: usize) {
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
        shelf.insert(130, Arc::new(5000));
        let mut expected: Vec<usize> = (0..201).collect();
        expected[70] = 1000;
        expected.remove(3);
        expected.insert(130, 5000);
        assert_eq!(values(&shelf), expected);
        assert_eq!(shelf.len(), 201);
        assert_eq!(values(&before), (0..200).collect::<Vec<_>>());
        assert!(Arc::ptr_eq(before.arcs().nth(150).unwrap(), shelf.arcs().nth(150).unwrap()));
        assert_eq!(shelf.get(201), None);
        assert_eq!(shelf.get(200), Some(&200));
        let sorted: Shelf<usize> = (0..200).map(|i| Arc::new(i * 2)).collect();
        assert_eq!(sorted.partition_point(|&v| v < 77), 39);
        assert_eq!(sorted.partition_point(|&v| v < 1000), 200);
        assert_eq!(sorted.partition_point(|_| false), 0);
        let mut small: Shelf<usize> = Shelf::default();
        small.push(Arc::new(1));
        small.remove(0);
        assert!(small.is_empty());
    }
}
