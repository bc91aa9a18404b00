#!/usr/bin/env python3
"""Plot the CSV written by `cargo run --release --example scale -- --csv scale.csv`.

    python3 scripts/plot_scale.py scale.csv scale.png

Four panels, one colour per engine:
  1. time of one reserve+confirm per thread vs catalog size (log x); solid 1 thread,
     dashed 2 threads; circles 1-line carts, squares 4-line carts;
  2. heap bytes per registered item vs catalog size;
  3. heap bytes per live reservation (1- and 4-line carts) vs live reservations;
  4. expire_due time per expired reservation vs reservations due at once.

Needs matplotlib (`pip install matplotlib`): the figures are a report for people, so a plotting
library that everyone can read and change beats drawing PNGs from Rust; nothing in the crate or
its tests depends on it.
"""

import csv
import sys
from collections import defaultdict

try:
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt
except ImportError:
    sys.exit("plot_scale.py needs matplotlib: pip install matplotlib")

COLOURS = {"lock-free": "tab:blue", "item-locks": "tab:orange", "global-lock": "tab:green"}


def load(path):
    """Rows of the CSV, numbers converted, grouped by measure."""
    by_measure = defaultdict(list)
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            for key in ("items", "threads", "cart_lines", "n"):
                row[key] = int(row[key])
            row["value"] = float(row["value"])
            by_measure[row["measure"]].append(row)
    return by_measure


def series(rows, key, **match):
    """(x, y) lists of the rows matching `match`, sorted by `key`."""
    chosen = sorted(
        (r for r in rows if all(r[k] == v for k, v in match.items())), key=lambda r: r[key]
    )
    return [r[key] for r in chosen], [r["value"] for r in chosen]


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__.split("\n\n")[1])
    source, target = sys.argv[1], sys.argv[2]
    data = load(source)
    engines = sorted(
        {r["engine"] for rows in data.values() for r in rows}, key=list(COLOURS).index
    )
    fig, axes = plt.subplots(2, 2, figsize=(13, 9))
    cost, per_item, per_reservation, expiry = axes.flat

    for engine in engines:
        colour = COLOURS.get(engine, "black")
        for threads, style in ((1, "-"), (2, "--")):
            for lines, marker in ((1, "o"), (4, "s")):
                x, y = series(
                    data["reserve_confirm_ns"], "items",
                    engine=engine, threads=threads, cart_lines=lines,
                )
                if x:
                    cost.plot(x, y, style, marker=marker, color=colour,
                              label=f"{engine}, {threads} thr, {lines} line(s)")
        x, y = series(data["heap_per_item_bytes"], "items", engine=engine)
        per_item.plot(x, y, "-o", color=colour, label=engine)
        for lines, marker in ((1, "o"), (4, "s")):
            x, y = series(data["heap_per_reservation_bytes"], "n", engine=engine,
                          cart_lines=lines)
            per_reservation.plot(x, y, "-", marker=marker, color=colour,
                                 label=f"{engine}, {lines} line(s)")
        x, y = series(data["expire_ns"], "n", engine=engine)
        expiry.plot(x, y, "-o", color=colour, label=engine)

    cost.set(xscale="log", xlabel="catalog items", ylabel="ns per reserve+confirm (per thread)",
             title="Lifecycle cost as the catalog grows (uniform items)")
    per_item.set(xscale="log", xlabel="catalog items", ylabel="heap bytes per item",
                 title="Memory per registered item")
    per_reservation.set(xscale="log", xlabel="live reservations",
                        ylabel="heap bytes per reservation",
                        title="Memory per live reservation")
    expiry.set(xscale="log", xlabel="reservations due at once",
               ylabel="ns per expired reservation", title="expire_due throughput")
    for ax in axes.flat:
        ax.set_ylim(bottom=0)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    # Twelve series: two columns above the data rather than over it.
    cost.set_ylim(top=cost.get_ylim()[1] * 1.6)
    cost.legend(fontsize=6, ncol=2, loc="upper left")
    fig.suptitle(f"atomic-stock scale ({source})")
    fig.tight_layout()
    fig.savefig(target, dpi=110)
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
