//! Running a test over many seeds, and replaying the one that failed.

use std::ops::Range;
use std::panic::{self, AssertUnwindSafe};

/// The environment variable that narrows a [`Seed`] run to one seed.
pub const SEED_ENV: &str = "TERN_SIM_SEED";

/// Runs a test body once per seed and names the seed that fails.
///
/// When the body panics for seed `N`, the run panics again with
/// `tern-sim: failing seed N (replay with TERN_SIM_SEED=N)` followed by the
/// original message. With `TERN_SIM_SEED=N` set, only seed `N` runs,
/// whatever the range.
///
/// ```
/// use tern_sim::Seed;
///
/// let mut runs = 0;
/// Seed::range(0..4).run(|seed| {
///     runs += 1;
///     assert!(seed < 4);
/// });
/// assert!(runs >= 1);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seed {
    seeds: Range<u64>,
}

impl Seed {
    /// Every seed in `seeds`.
    #[must_use]
    pub const fn range(seeds: Range<u64>) -> Self {
        Self { seeds }
    }

    /// Only `seed`.
    #[must_use]
    pub const fn one(seed: u64) -> Self {
        Self {
            seeds: seed..seed.saturating_add(1),
        }
    }

    /// The seed `TERN_SIM_SEED` asks for, if it is set.
    ///
    /// # Panics
    ///
    /// If it is set but is not a decimal `u64`.
    #[must_use]
    pub fn from_env() -> Option<u64> {
        let value = std::env::var(SEED_ENV).ok()?;
        match value.trim().parse() {
            Ok(seed) => Some(seed),
            Err(e) => panic!("tern-sim: {SEED_ENV}={value:?} is not a seed: {e}"),
        }
    }

    /// The seeds that will run: the one from `TERN_SIM_SEED` if set, else
    /// the range.
    #[must_use]
    pub fn seeds(&self) -> Range<u64> {
        match Self::from_env() {
            Some(seed) => Self::one(seed).seeds,
            None => self.seeds.clone(),
        }
    }

    /// Calls `test` with each seed, in order, stopping at the first that
    /// panics.
    ///
    /// # Panics
    ///
    /// When `test` panics: with the failing seed, how to replay it, and the
    /// original message.
    pub fn run(&self, mut test: impl FnMut(u64)) {
        for seed in self.seeds() {
            tracing::debug!(seed, "tern-sim: running seed");
            let outcome = panic::catch_unwind(AssertUnwindSafe(|| test(seed)));
            if let Err(payload) = outcome {
                let message = payload
                    .downcast_ref::<&str>()
                    .map(ToString::to_string)
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "non-string panic".to_owned());
                panic!("tern-sim: failing seed {seed} (replay with {SEED_ENV}={seed}): {message}");
            }
        }
    }
}
