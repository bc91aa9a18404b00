//! A *part*: the lines of one reserve attempt that live on one shard, taken there by one
//! script. The cart record lists its reservation's parts as `P/a/i=q;i=q` joined by commas
//! (shard, attempt, lines); a shard's `parts` hash keeps `home|cart|i=q;i=q` per attempt. A line
//! update may cut a part: its lines keep their items, with fewer units (maybe 0).

use crate::error::RedisError;
use atomic_stock::{ItemId, Line};

/// One part of a reservation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Part {
    pub(crate) shard: u32,
    pub(crate) attempt: u64,
    /// Ascending item order.
    pub(crate) lines: Vec<Line>,
}

/// `i=q;i=q`.
pub(crate) fn format_lines(lines: &[Line], separator: char) -> String {
    let mut text = String::new();
    for (k, line) in lines.iter().enumerate() {
        if k > 0 {
            text.push(separator);
        }
        text.push_str(&format!("{}={}", line.item.get(), line.quantity));
    }
    text
}

pub(crate) fn parse_lines(text: &str, separator: char) -> Result<Vec<Line>, RedisError> {
    text.split(separator)
        .filter(|s| !s.is_empty())
        .map(|pair| {
            let (item, quantity) = pair
                .split_once('=')
                .ok_or_else(|| RedisError::Protocol(format!("bad line {pair:?}")))?;
            match (item.parse::<u32>(), quantity.parse::<i64>()) {
                (Ok(item), Ok(quantity)) => Ok(Line::new(ItemId::new(item), quantity)),
                _ => Err(RedisError::Protocol(format!("bad line {pair:?}"))),
            }
        })
        .collect()
}

/// `P/a/i=q;i=q,P/a/...`.
pub(crate) fn format_parts(parts: &[Part]) -> String {
    parts
        .iter()
        .map(|p| format!("{}/{}/{}", p.shard, p.attempt, format_lines(&p.lines, ';')))
        .collect::<Vec<_>>()
        .join(",")
}

pub(crate) fn parse_parts(text: &str) -> Result<Vec<Part>, RedisError> {
    text.split(',')
        .filter(|s| !s.is_empty())
        .map(|desc| {
            let mut fields = desc.splitn(3, '/');
            let bad = || RedisError::Protocol(format!("bad part {desc:?}"));
            let shard = fields.next().and_then(|s| s.parse().ok()).ok_or_else(bad)?;
            let attempt = fields.next().and_then(|s| s.parse().ok()).ok_or_else(bad)?;
            let lines = parse_lines(fields.next().ok_or_else(bad)?, ';')?;
            Ok(Part {
                shard,
                attempt,
                lines,
            })
        })
        .collect()
}

/// A shard's record of one part, `home|cart|i=q;i=q`: the cart and the part's lines.
pub(crate) fn parse_record(text: &str) -> Result<(u64, Vec<Line>), RedisError> {
    let mut fields = text.splitn(3, '|');
    let bad = || RedisError::Protocol(format!("bad part record {text:?}"));
    let _home = fields.next().ok_or_else(bad)?;
    let cart = fields.next().and_then(|s| s.parse().ok()).ok_or_else(bad)?;
    let lines = parse_lines(fields.next().ok_or_else(bad)?, ';')?;
    Ok((cart, lines))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_round_trip() {
        let parts = vec![
            Part {
                shard: 3,
                attempt: 77,
                lines: vec![Line::new(ItemId::new(3), 2), Line::new(ItemId::new(19), 1)],
            },
            Part {
                shard: 5,
                attempt: 1 << 50,
                lines: vec![Line::new(ItemId::new(5), 7)],
            },
        ];
        assert_eq!(parse_parts(&format_parts(&parts)).unwrap(), parts);
        assert_eq!(parse_parts("").unwrap(), vec![]);
        assert_eq!(
            parse_record("3|42|3=2;19=1").unwrap(),
            (42, parts[0].lines.clone())
        );
    }
}
