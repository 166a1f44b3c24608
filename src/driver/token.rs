//! [`Tokens`]: a slab whose keys carry a generation, the one key scheme of every driver
//! table (the in-flight table's `user_data`, the epoll set's registration tokens).
//!
//! A token packs the slab key in the low 32 bits and a 31-bit generation above it
//! (`[generation]`): a token that outlived its entry (a completion or event arriving for a
//! slot that has since been freed and reused) no longer matches and is ignored instead of
//! reaching the newer entry. Values with the top bit set ([`RESERVED`]) are never handed
//! out: the drivers name their own requests with them.

use slab::Slab;

/// Top bit of a token: set on the drivers' own requests, never on an entry's token.
pub(crate) const RESERVED: u64 = 1 << 63;

const KEY_BITS: u32 = 32;
const GEN_MASK: u32 = (1 << 31) - 1;

/// A slab of `T` addressed by generation-carrying tokens.
pub(crate) struct Tokens<T> {
    slab: Slab<(u32, T)>,
    next_generation: u32,
}

impl<T> Default for Tokens<T> {
    fn default() -> Self {
        Tokens {
            slab: Slab::new(),
            next_generation: 0,
        }
    }
}

/// The slab key and generation of `token`; `None` for a reserved value.
#[inline]
fn split(token: u64) -> Option<(usize, u32)> {
    if token & RESERVED != 0 {
        return None;
    }
    Some(((token as u32) as usize, (token >> KEY_BITS) as u32))
}

#[inline]
fn join(key: usize, generation: u32) -> u64 {
    (u64::from(generation) << KEY_BITS) | key as u64
}

impl<T> Tokens<T> {
    /// Number of live entries.
    pub(crate) fn len(&self) -> usize {
        self.slab.len()
    }

    /// Stores `value` and returns its token.
    #[inline]
    pub(crate) fn insert(&mut self, value: T) -> u64 {
        let generation = self.next_generation;
        self.next_generation = (generation + 1) & GEN_MASK;
        let key = self.slab.insert((generation, value));
        assert!(
            key < u32::MAX as usize,
            "a driver table exceeds 2^32 entries"
        );
        join(key, generation)
    }

    /// The entry of `token`, if it is still the one the token was handed out for.
    #[inline]
    pub(crate) fn get(&self, token: u64) -> Option<&T> {
        let (key, generation) = split(token)?;
        self.slab
            .get(key)
            .filter(|(g, _)| *g == generation)
            .map(|(_, v)| v)
    }

    /// As [`get`](Tokens::get), mutably.
    #[inline]
    pub(crate) fn get_mut(&mut self, token: u64) -> Option<&mut T> {
        let (key, generation) = split(token)?;
        self.slab
            .get_mut(key)
            .filter(|(g, _)| *g == generation)
            .map(|(_, v)| v)
    }

    /// Removes the entry of `token`, if it is still the one the token was handed out for.
    #[inline]
    pub(crate) fn remove(&mut self, token: u64) -> Option<T> {
        self.get(token)?;
        let (key, _) = split(token)?;
        Some(self.slab.remove(key).1)
    }

    /// Removes the entry of `token`, which the caller just found live (with
    /// [`get_mut`](Tokens::get_mut)): no second check of its generation.
    #[inline]
    pub(crate) fn take(&mut self, token: u64) -> T {
        self.slab.remove((token as u32) as usize).1
    }

    /// Every live entry with its token.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (u64, &T)> + '_ {
        self.slab.iter().map(|(key, (g, v))| (join(key, *g), v))
    }
}
