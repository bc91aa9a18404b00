//! Line arithmetic on canonical line sets (sorted by item, one line per item), shared by the
//! lock-free engine and the lifecycle baselines: adding to a cart's reservation, moving a cart
//! to a new set of lines, and releasing part of a reservation. One copy, so the engines cannot
//! drift apart (`tests/lifecycle_model.rs` also checks all three against one model).

use crate::error::TakeError;
use crate::ids::Line;
use crate::limits::{MAX_LINES, MAX_LINE_QUANTITY};
use crate::reservation::ReservationError;
use crate::stock::take::Resolved;

/// Merges two canonical line sets (adding to a cart's reservation), refusing a line above
/// [`MAX_LINE_QUANTITY`] or more than [`MAX_LINES`] lines in all.
pub(crate) fn merge(
    held: &[Line],
    added: impl Iterator<Item = Line>,
) -> Result<Vec<Line>, TakeError> {
    let mut merged = Vec::with_capacity(held.len() + added.size_hint().0);
    let mut held = held.iter().copied().peekable();
    let mut added = added.peekable();
    loop {
        let line = match (held.peek().copied(), added.peek().copied()) {
            (Some(a), Some(b)) if a.item == b.item => {
                held.next();
                added.next();
                let quantity = a.quantity + b.quantity;
                if quantity > MAX_LINE_QUANTITY {
                    return Err(TakeError::QuantityOverflow { item: a.item });
                }
                Line::new(a.item, quantity)
            }
            (Some(a), Some(b)) if a.item < b.item => {
                held.next();
                a
            }
            (Some(a), None) => {
                held.next();
                a
            }
            (_, Some(b)) => {
                added.next();
                b
            }
            (None, None) => break,
        };
        merged.push(line);
    }
    if merged.len() > MAX_LINES {
        return Err(TakeError::TooManyLines {
            lines: merged.len(),
            max: MAX_LINES,
        });
    }
    Ok(merged)
}

/// What going from `held` to `wanted` (both canonical) adds and removes, per item.
pub(crate) fn diff<T: Copy>(
    held: &[Line],
    wanted: &[Resolved<T>],
) -> (Vec<Resolved<T>>, Vec<Line>) {
    let (mut additions, mut removals) = (Vec::new(), Vec::new());
    let (mut i, mut j) = (0, 0);
    while i < held.len() || j < wanted.len() {
        match (held.get(i), wanted.get(j)) {
            (Some(h), Some(w)) if h.item == w.line.item => {
                if w.line.quantity > h.quantity {
                    additions.push(Resolved {
                        line: Line::new(h.item, w.line.quantity - h.quantity),
                        at: w.at,
                    });
                } else if w.line.quantity < h.quantity {
                    removals.push(Line::new(h.item, h.quantity - w.line.quantity));
                }
                i += 1;
                j += 1;
            }
            (Some(h), Some(w)) if h.item < w.line.item => {
                removals.push(*h);
                i += 1;
            }
            (Some(h), None) => {
                removals.push(*h);
                i += 1;
            }
            (_, Some(w)) => {
                additions.push(*w);
                j += 1;
            }
            (None, None) => unreachable!("the loop condition excludes it"),
        }
    }
    (additions, removals)
}

/// `held` minus `released` (both canonical), or the first line that is not held in full.
pub(crate) fn subtract(
    held: &[Line],
    released: impl Iterator<Item = Line>,
) -> Result<Vec<Line>, ReservationError> {
    let mut remaining = Vec::with_capacity(held.len());
    let mut released = released.peekable();
    for line in held {
        match released.peek() {
            Some(rel) if rel.item < line.item => {
                return Err(ReservationError::NotHeld {
                    item: rel.item,
                    requested: rel.quantity,
                    held: 0,
                })
            }
            Some(rel) if rel.item == line.item => {
                if rel.quantity > line.quantity {
                    return Err(ReservationError::NotHeld {
                        item: rel.item,
                        requested: rel.quantity,
                        held: line.quantity,
                    });
                }
                if rel.quantity < line.quantity {
                    remaining.push(Line::new(line.item, line.quantity - rel.quantity));
                }
                released.next();
            }
            _ => remaining.push(*line),
        }
    }
    if let Some(rel) = released.next() {
        return Err(ReservationError::NotHeld {
            item: rel.item,
            requested: rel.quantity,
            held: 0,
        });
    }
    Ok(remaining)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::ItemId;

    fn line(item: u32, quantity: i64) -> Line {
        Line::new(ItemId::new(item), quantity)
    }

    #[test]
    fn merge_adds_and_interleaves() {
        let merged = merge(
            &[line(1, 2), line(3, 1)],
            [line(0, 1), line(3, 4), line(5, 1)].into_iter(),
        )
        .unwrap();
        assert_eq!(&*merged, &[line(0, 1), line(1, 2), line(3, 5), line(5, 1)]);
        assert_eq!(
            merge(&[line(1, MAX_LINE_QUANTITY)], [line(1, 1)].into_iter()).unwrap_err(),
            TakeError::QuantityOverflow {
                item: ItemId::new(1)
            }
        );
    }

    #[test]
    fn diff_and_subtract_follow_item_order() {
        let wanted = [
            Resolved {
                line: line(1, 1),
                at: (),
            },
            Resolved {
                line: line(2, 3),
                at: (),
            },
        ];
        let (additions, removals) = diff(&[line(0, 2), line(2, 1)], &wanted);
        let added: Vec<Line> = additions.iter().map(|r| r.line).collect();
        assert_eq!(added, [line(1, 1), line(2, 2)]);
        assert_eq!(removals, [line(0, 2)]);
        assert_eq!(
            subtract(&[line(0, 2), line(2, 1)], [line(0, 1)].into_iter()).unwrap(),
            [line(0, 1), line(2, 1)]
        );
        assert_eq!(
            subtract(&[line(2, 1)], [line(1, 1)].into_iter()).unwrap_err(),
            ReservationError::NotHeld {
                item: ItemId::new(1),
                requested: 1,
                held: 0
            }
        );
    }
}
