//! Bulk loads of a catalog: `(SKU, initial level)` entries from an iterator or from CSV text,
//! read and validated in full before the catalog registers any of them
//! ([`Catalog::register_all`](crate::stock::catalog::Catalog::register_all)).
//!
//! The CSV form is the simplest one a warehouse export produces: one `sku,initial` pair per
//! line, split at the first comma, surrounding ASCII whitespace ignored, `\n` or `\r\n` line
//! ends; empty lines are skipped, and so is a first line reading `sku,initial` (a header). No
//! quoting: a SKU holding a comma cannot be loaded this way. Parsing is hand-written: the
//! format needs nothing a CSV crate would add.

use crate::error::LoadError;
use crate::ids::ItemId;
use crate::limits::MAX_LOAD_ENTRIES;
use crate::stock::catalog::{validate_registration, LoadEntry};
use std::io::BufRead;

/// What a bulk load registered: `count` items with consecutive ids from `first`, in the order
/// of the input.
///
/// ```
/// use atomic_stock::Inventory;
///
/// let inventory = Inventory::new();
/// let loaded = inventory.load_catalog([("MUG-1", 5), ("TEA-9", 2)]).unwrap();
/// assert_eq!(loaded.count, 2);
/// let ids: Vec<_> = loaded.ids().collect();
/// assert_eq!(inventory.item_by_sku("TEA-9"), Some(ids[1]));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Loaded {
    /// The first entry's id.
    pub first: ItemId,
    /// Items registered.
    pub count: usize,
}

impl Loaded {
    /// The ids of the loaded items, in the order of the input.
    pub fn ids(&self) -> impl ExactSizeIterator<Item = ItemId> + '_ {
        (0..self.count as u32).map(|i| ItemId::new(self.first.get() + i))
    }
}

/// Validates one entry and takes ownership of its SKU.
fn entry(sku: &str, initial: i64, line: usize) -> Result<LoadEntry, LoadError> {
    validate_registration(initial, Some(sku))
        .map_err(|error| LoadError::Invalid { line, error })?;
    Ok(LoadEntry {
        sku: sku.into(),
        initial,
        line,
    })
}

/// Reads and validates every entry of an iterator (line = 1-based position).
pub(crate) fn from_iter<I, S>(entries: I) -> Result<Vec<LoadEntry>, LoadError>
where
    I: IntoIterator<Item = (S, i64)>,
    S: AsRef<str>,
{
    let entries = entries.into_iter();
    let mut out = Vec::with_capacity(entries.size_hint().0.min(MAX_LOAD_ENTRIES));
    for (i, (sku, initial)) in entries.enumerate() {
        if i == MAX_LOAD_ENTRIES {
            return Err(LoadError::TooLarge {
                max: MAX_LOAD_ENTRIES,
            });
        }
        out.push(entry(sku.as_ref(), initial, i + 1)?);
    }
    Ok(out)
}

/// Reads and validates every line of CSV input (see the module docs for the format).
pub(crate) fn from_csv(mut input: impl BufRead) -> Result<Vec<LoadEntry>, LoadError> {
    let mut out = Vec::new();
    let mut text = String::new();
    let mut line = 0;
    loop {
        line += 1;
        text.clear();
        match input.read_line(&mut text) {
            Ok(0) => return Ok(out),
            Ok(_) => {}
            Err(error) => {
                return Err(LoadError::Io {
                    line,
                    kind: error.kind(),
                })
            }
        }
        let trimmed = text.trim_ascii();
        if trimmed.is_empty() || (line == 1 && trimmed == "sku,initial") {
            continue;
        }
        if out.len() == MAX_LOAD_ENTRIES {
            return Err(LoadError::TooLarge {
                max: MAX_LOAD_ENTRIES,
            });
        }
        out.push(parse_line(trimmed, line)?);
    }
}

/// One `sku,initial` line, already trimmed and not empty.
fn parse_line(text: &str, line: usize) -> Result<LoadEntry, LoadError> {
    let malformed = |reason| LoadError::Malformed { line, reason };
    let (sku, initial) = text
        .split_once(',')
        .ok_or(malformed("no comma between SKU and initial level"))?;
    let initial = initial.trim_ascii();
    // Digits only (with an optional leading minus, refused below as a bad quantity, not as
    // malformed): `i64::from_str` would also take a `+`.
    let digits = initial.strip_prefix('-').unwrap_or(initial);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(malformed("the initial level is not a decimal integer"));
    }
    let initial: i64 = initial
        .parse()
        .map_err(|_| malformed("the initial level does not fit in 64 bits"))?;
    entry(sku.trim_ascii(), initial, line)
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::error::CatalogError;

    #[test]
    fn csv_lines_parse_and_name_their_line() {
        let input = "sku,initial\nA,1\r\n\n  B , 22 \nC,3";
        let entries = from_csv(input.as_bytes()).unwrap();
        let got: Vec<_> = entries
            .iter()
            .map(|e| (&*e.sku, e.initial, e.line))
            .collect();
        assert_eq!(got, [("A", 1, 2), ("B", 22, 4), ("C", 3, 5)]);
        for (input, err) in [
            (
                "A,1\nB",
                LoadError::Malformed {
                    line: 2,
                    reason: "no comma between SKU and initial level",
                },
            ),
            (
                "A,1\nB,x",
                LoadError::Malformed {
                    line: 2,
                    reason: "the initial level is not a decimal integer",
                },
            ),
            (
                "A,+1",
                LoadError::Malformed {
                    line: 1,
                    reason: "the initial level is not a decimal integer",
                },
            ),
            (
                "A,99999999999999999999",
                LoadError::Malformed {
                    line: 1,
                    reason: "the initial level does not fit in 64 bits",
                },
            ),
            (
                "A,-1",
                LoadError::Invalid {
                    line: 1,
                    error: CatalogError::InvalidQuantity { quantity: -1 },
                },
            ),
            (
                " ,1",
                LoadError::Invalid {
                    line: 1,
                    error: CatalogError::InvalidSku { len: 0 },
                },
            ),
        ] {
            assert_eq!(from_csv(input.as_bytes()).unwrap_err(), err, "{input:?}");
        }
    }
}
