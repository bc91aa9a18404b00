//! Order statistics over samples and the text the programs' tables print them as.

/// The value below which a fraction `p` of the sorted samples fall (nearest rank); 0 for no
/// samples.
pub fn percentile(sorted: &[u64], p: f64) -> u64 {
    debug_assert!(sorted.is_sorted(), "percentile of unsorted samples");
    if sorted.is_empty() {
        return 0;
    }
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// The median (the mean of the middle two for an even count); `inf` sorts last.
///
/// # Panics
///
/// If `values` is empty.
pub fn median(mut values: Vec<f64>) -> f64 {
    assert!(!values.is_empty(), "a median of nothing");
    values.sort_by(f64::total_cmp);
    let middle = values.len() / 2;
    if values.len() % 2 == 1 {
        values[middle]
    } else {
        (values[middle - 1] + values[middle]) / 2.0
    }
}

/// `n` with a comma between groups of three digits: `-1,234,567`.
pub fn grouped(n: impl Into<i128>) -> String {
    let n: i128 = n.into();
    let digits = n.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if n < 0 {
        out.push('-');
    }
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index) % 3 == 0 {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// A latency in nanoseconds, in the unit that keeps it short: `850 ns`, `12.5 µs`, `3.1 ms`.
pub fn latency(ns: u64) -> String {
    match ns {
        0..=9_999 => format!("{ns} ns"),
        10_000..=9_999_999 => format!("{:.1} µs", ns as f64 / 1e3),
        _ => format!("{:.1} ms", ns as f64 / 1e6),
    }
}

/// A spread (most successes of one thread over fewest) with two decimals, or `inf` when a
/// thread never succeeded.
pub fn spread(spread: f64) -> String {
    if spread.is_finite() {
        format!("{spread:.2}")
    } else {
        "inf".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_statistics() {
        let sorted: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&sorted, 0.5), 50);
        assert_eq!(percentile(&sorted, 0.99), 99);
        assert_eq!(percentile(&sorted, 0.999), 100);
        assert_eq!(percentile(&[], 0.5), 0);
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), 2.5);
    }

    #[test]
    fn text() {
        assert_eq!(grouped(0u64), "0");
        assert_eq!(grouped(1_234_567u64), "1,234,567");
        assert_eq!(grouped(-1_234i64), "-1,234");
        assert_eq!(latency(850), "850 ns");
        assert_eq!(latency(12_500), "12.5 µs");
        assert_eq!(spread(f64::INFINITY), "inf");
    }
}
