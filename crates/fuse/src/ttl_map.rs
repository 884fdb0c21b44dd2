//! A map whose entries live for a fixed time: the shape of every answer
//! crates/fuse keeps for the attribute timeout (hot xattrs, directory
//! attributes). Bounded: when full, expired entries go, and if that is not
//! enough, everything (they are only caches).

use parking_lot::Mutex;
use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

pub struct TtlMap<K, V> {
    ttl: Duration,
    max: usize,
    map: Mutex<HashMap<K, (V, Instant)>>,
}

impl<K: Hash + Eq, V: Clone> TtlMap<K, V> {
    /// A zero `ttl` keeps nothing.
    pub fn new(ttl: Duration, max: usize) -> TtlMap<K, V> {
        TtlMap {
            ttl,
            max,
            map: Mutex::new(HashMap::new()),
        }
    }

    /// The value stored under `k` within the last `ttl`.
    pub fn get(&self, k: &K) -> Option<V> {
        let mut m = self.map.lock();
        match m.get(k) {
            Some((v, at)) if at.elapsed() < self.ttl => Some(v.clone()),
            Some(_) => {
                m.remove(k);
                None
            }
            None => None,
        }
    }

    pub fn insert(&self, k: K, v: V) {
        if self.ttl.is_zero() {
            return;
        }
        let mut m = self.map.lock();
        if m.len() >= self.max {
            let ttl = self.ttl;
            m.retain(|_, (_, at)| at.elapsed() < ttl);
            if m.len() >= self.max {
                m.clear();
            }
        }
        m.insert(k, (v, Instant::now()));
    }

    pub fn remove(&self, k: &K) {
        self.map.lock().remove(k);
    }

    /// Keeps only the entries whose key passes `keep`.
    pub fn retain_keys(&self, keep: impl Fn(&K) -> bool) {
        self.map.lock().retain(|k, _| keep(k));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expire_bound_and_zero_ttl() {
        let m = TtlMap::new(Duration::from_millis(100), 2);
        m.insert(1, "a");
        assert_eq!(m.get(&1), Some("a"));
        m.insert(2, "b");
        m.insert(3, "c"); // full of live entries: cleared, then 3 kept
        assert_eq!((m.get(&1), m.get(&3)), (None, Some("c")));
        std::thread::sleep(Duration::from_millis(120));
        assert_eq!(m.get(&3), None);
        m.insert(4, "d");
        m.retain_keys(|k| *k != 4);
        assert_eq!(m.get(&4), None);
        let off = TtlMap::new(Duration::ZERO, 2);
        off.insert(1, "a");
        assert_eq!(off.get(&1), None);
    }
}
