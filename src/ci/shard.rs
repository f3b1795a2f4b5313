//! The `I/N` shard value: 1-based index `I` of `N` shards (DESIGN.md §3).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// One shard of a split suite. Always `1 <= index <= total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Shard {
    pub index: u32,
    pub total: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShardError {
    #[error("`{input}` is not a shard: expected `I/N` with 1 <= I <= N (for example `2/4`)")]
    Syntax { input: String },
    #[error("shard index {index} is out of range for {total} shards: expected 1 <= I <= {total}")]
    OutOfRange { index: u64, total: u64 },
    #[error("the shard total must be at least 1, got {total}")]
    ZeroTotal { total: u64 },
}

impl Shard {
    /// Build a shard from a 1-based index and a total, checking the range.
    pub fn new(index: u64, total: u64) -> Result<Self, ShardError> {
        if total == 0 {
            return Err(ShardError::ZeroTotal { total });
        }
        if index == 0 || index > total {
            return Err(ShardError::OutOfRange { index, total });
        }
        let to_u32 = |v: u64| u32::try_from(v).map_err(|_| ShardError::OutOfRange { index, total });
        Ok(Shard {
            index: to_u32(index)?,
            total: to_u32(total)?,
        })
    }

    /// Build a shard from a 0-based index (CircleCI, Buildkite, GitHub `strategy.job-index`).
    pub fn from_zero_based(index: u64, total: u64) -> Result<Self, ShardError> {
        Shard::new(index.saturating_add(1), total)
    }

    /// `junit-<I>-of-<N>` style stem used by the shard artifact names.
    pub fn file_stem(&self) -> String {
        format!("{}-of-{}", self.index, self.total)
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.total)
    }
}

impl FromStr for Shard {
    type Err = ShardError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let syntax = || ShardError::Syntax {
            input: input.to_owned(),
        };
        let (i, n) = input.trim().split_once('/').ok_or_else(syntax)?;
        let parse = |s: &str| -> Result<u64, ShardError> {
            let s = s.trim();
            if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
                return Err(syntax());
            }
            s.parse::<u64>().map_err(|_| syntax())
        };
        Shard::new(parse(i)?, parse(n)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_valid_shards() {
        assert_eq!("2/4".parse::<Shard>(), Ok(Shard { index: 2, total: 4 }));
        assert_eq!(" 1/1 ".parse::<Shard>(), Ok(Shard { index: 1, total: 1 }));
    }

    #[test]
    fn rejects_bad_shards() {
        for bad in [
            "0/3",
            "4/3",
            "a/b",
            "3",
            "/3",
            "3/",
            "-1/3",
            "1/0",
            "1.5/3",
            "1/99999999999",
        ] {
            assert!(bad.parse::<Shard>().is_err(), "{bad} should be rejected");
        }
        assert_eq!(
            "4/3".parse::<Shard>().unwrap_err().to_string(),
            "shard index 4 is out of range for 3 shards: expected 1 <= I <= 3"
        );
    }

    #[test]
    fn zero_based_conversion() {
        assert_eq!(
            Shard::from_zero_based(0, 4),
            Ok(Shard { index: 1, total: 4 })
        );
        assert!(Shard::from_zero_based(4, 4).is_err());
    }
}
