//! cluster/replicate (AFR): the rules a replica set follows, as the
//! official client and the self-heal daemon read them from the bricks.
//! Facts: ../shared/translators/replicate.md (section numbers below refer
//! to it).
//!
//! What is here so far, pure and unit-tested, for the translator to come
//! (issue 12): the volfile options and what they imply (`options`), and
//! the changelog (`changelog`): the 12-byte pending/dirty values, the
//! pre-op and post-op deltas a transaction writes, the readable sets a
//! lookup's replies give, and the quorum rule. The translator itself is
//! not registered yet, so volumes with replicate are still refused by
//! name.

pub mod changelog;
pub mod lookup;
pub mod options;
pub mod read_child;
pub mod txn;

pub use changelog::{Changelog, Kind};
pub use options::{Quorum, ReplicateOptions};
