//! Fault injection and call counting, by wire fop (STAT and FSTAT are two
//! fops, as they are two RPCs).

use proto::fops::Fop;
use std::collections::HashMap;
use std::time::Duration;

/// A failure to inject into calls of one fop.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fault {
    errno: i32,
    /// None: every call; Some(n): the n-th call counted from when the
    /// fault was set (1 = the next one), once.
    nth: Option<u64>,
    /// The call takes effect on the brick and only its reply fails (the
    /// connection dropped after the brick did the work).
    applied: bool,
}

impl Fault {
    /// Every call fails with `errno`, until cleared.
    pub fn always(errno: i32) -> Fault {
        Fault {
            errno,
            nth: None,
            applied: false,
        }
    }

    /// The `n`-th call from now on (1 = the next) fails with `errno`.
    pub fn nth(n: u64, errno: i32) -> Fault {
        Fault {
            errno,
            nth: Some(n.max(1)),
            applied: false,
        }
    }

    /// The brick does the work, but the caller gets the error (a reply
    /// lost after the fact).
    pub fn after_applying(mut self) -> Fault {
        self.applied = true;
        self
    }
}

/// What an injected fault makes of one call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Verdict {
    Pass,
    /// Fails without effect.
    Fail(i32),
    /// Takes effect, then fails.
    FailAfter(i32),
}

#[derive(Default)]
pub(super) struct Faults {
    /// Each fault with the calls it has seen.
    faults: HashMap<Fop, Vec<(Fault, u64)>>,
    delays: HashMap<Fop, Duration>,
    calls: HashMap<Fop, u64>,
}

impl Faults {
    pub fn inject(&mut self, fop: Fop, f: Fault) {
        self.faults.entry(fop).or_default().push((f, 0));
    }

    pub fn delay(&mut self, fop: Fop, d: Duration) {
        if d.is_zero() {
            self.delays.remove(&fop);
        } else {
            self.delays.insert(fop, d);
        }
    }

    pub fn clear(&mut self) {
        self.faults.clear();
        self.delays.clear();
    }

    pub fn count(&mut self, fop: Fop) {
        *self.calls.entry(fop).or_default() += 1;
    }

    pub fn calls(&self, fop: Fop) -> u64 {
        self.calls.get(&fop).copied().unwrap_or(0)
    }

    pub fn total(&self) -> u64 {
        self.calls.values().sum()
    }

    pub fn reset_calls(&mut self) {
        self.calls.clear();
    }

    /// A call of `fop` arrives: counted; its delay and verdict.
    pub fn arrive(&mut self, fop: Fop) -> (Option<Duration>, Verdict) {
        self.count(fop);
        let delay = self.delays.get(&fop).copied();
        let Some(list) = self.faults.get_mut(&fop) else {
            return (delay, Verdict::Pass);
        };
        let mut fired = None;
        for (i, (f, seen)) in list.iter_mut().enumerate() {
            *seen += 1;
            let hit = f.nth.is_none_or(|n| *seen == n);
            if hit && fired.is_none() {
                fired = Some(i);
            }
        }
        let Some(i) = fired else {
            return (delay, Verdict::Pass);
        };
        let f = list[i].0.clone();
        if f.nth.is_some() {
            list.remove(i);
        }
        let v = if f.applied {
            Verdict::FailAfter(f.errno)
        } else {
            Verdict::Fail(f.errno)
        };
        (delay, v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nth_fires_once_always_until_cleared() {
        let mut f = Faults::default();
        f.inject(Fop::Mkdir, Fault::nth(2, 5));
        assert_eq!(f.arrive(Fop::Mkdir).1, Verdict::Pass);
        assert_eq!(f.arrive(Fop::Mkdir).1, Verdict::Fail(5));
        assert_eq!(f.arrive(Fop::Mkdir).1, Verdict::Pass);
        f.inject(Fop::Stat, Fault::always(107).after_applying());
        assert_eq!(f.arrive(Fop::Stat).1, Verdict::FailAfter(107));
        assert_eq!(f.arrive(Fop::Stat).1, Verdict::FailAfter(107));
        f.clear();
        assert_eq!(f.arrive(Fop::Stat).1, Verdict::Pass);
        assert_eq!(
            (f.calls(Fop::Mkdir), f.calls(Fop::Stat), f.total()),
            (3, 3, 6)
        );
    }
}
