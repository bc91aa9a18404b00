#!/usr/bin/env python3
"""Markdown tables and the target checklist from one `scripts/bench_all.sh` run.

    python3 scripts/readme_tables.py docs/results > docs/results/tables.md

Reads, from the run's directory: sellout.csv (flash_sale --sellout), take.txt and
lifecycle.txt (criterion's output of `cargo bench --bench take` / `--bench lifecycle`),
lifecycle_report.csv, instructions.csv, expiry_lag.txt. A missing file skips its tables.

Every ratio compares engines measured in the same run. criterion's figure is the median of
its samples' estimates (the middle value of `time: [low median high]`); the sell-out's is the
median over its interleaved runs, and its ratios are medians of per-round ratios.
No figure is edited by hand: README quotes this output.
"""

import csv
import math
import os
import re
import statistics
import sys
from collections import defaultdict

RUN = sys.argv[1] if len(sys.argv) > 1 else "docs/results"
UNITS = {"ps": 1e-3, "ns": 1.0, "µs": 1e3, "us": 1e3, "ms": 1e6, "s": 1e9}


def path(name):
    p = os.path.join(RUN, name)
    return p if os.path.exists(p) else None


def criterion(name):
    """{benchmark id: median time in ns per element} from criterion's text output."""
    p = path(name)
    if not p:
        return {}
    times, current = {}, None
    for line in open(p, encoding="utf-8"):
        m = re.match(r"^(\S+/\d+-threads)\s*(time:.*)?$", line.rstrip("\n"))
        if m:
            current = m.group(1)
            line = m.group(2) or ""
        t = re.search(r"time:\s+\[(\S+) (\S+) (\S+) (\S+) (\S+) (\S+)\]", line)
        if t and current:
            times[current] = float(t.group(3)) * UNITS[t.group(4)]
            current = None
    return times


def mops(ns):
    return f"{1e3 / ns:,.1f}" if ns else "-"


def ratio(x):
    return f"{x:.2f}x" if x is not None and math.isfinite(x) else "-"


def div(a, b):
    return a / b if a and b else None


def ns_text(ns):
    if ns >= 1e6:
        return f"{ns / 1e6:,.1f} ms"
    if ns >= 1e4:
        return f"{ns / 1e3:,.1f} µs"
    return f"{ns:,.0f} ns"


def table(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(out)


TARGETS = []  # (issue, target, measured, met)


def target(issue, text, measured, met):
    TARGETS.append((issue, text, measured, "met" if met else "**missed**"))


def sellout():
    p = path("sellout.csv")
    if not p:
        return
    rows = list(csv.DictReader(open(p, encoding="utf-8")))
    by = defaultdict(list)
    for r in rows:
        by[(r["engine"], int(r["threads"]))].append(r)
    threads = sorted({t for _, t in by})
    engines = ["lock-free", "item-locks", "global-lock"]
    med = lambda rs, k: statistics.median(float(r[k]) for r in rs)
    out = []
    for t in threads:
        for e in engines:
            rs = by.get((e, t))
            if not rs:
                continue
            spread = med(rs, "spread")
            out.append([e, t, len(rs), f"{med(rs, 'seconds') * 1e3:,.1f} ms",
                        f"{med(rs, 'per_s') / 1e6:,.2f}", ns_text(med(rs, "p50_ns")),
                        ns_text(med(rs, "p99_ns")), ns_text(med(rs, "p999_ns")),
                        f"{spread:.2f}" if math.isfinite(spread) else "inf",
                        max(int(r["oversold"]) for r in rs), max(int(r["unsold"]) for r in rs)])
    units = int(rows[0]["units"])
    print(f"### Sell-out: one hot item, {units:,} units, reserve then confirm until sold out\n")
    print("`cargo run --release --example flash_sale -- --sellout --reps 5`: medians over "
          "the runs (`runs`), engines interleaved.\n")
    print(table(["engine", "threads", "runs", "sold out in", "M sales/s", "p50", "p99", "p999",
                 "spread", "oversold", "unsold"], out))
    # Per-round ratios against each baseline.
    rounds = defaultdict(dict)
    for r in rows:
        rounds[(int(r["rep"]), int(r["threads"]))][r["engine"]] = r
    print("\nLock-free against each baseline, median of per-run ratios (above 1: lock-free "
          "better):\n")
    rat = []
    for t in threads:
        for b in ["item-locks", "global-lock"]:
            thr, p99 = [], []
            for (rep, tt), rr in rounds.items():
                if tt == t and b in rr and "lock-free" in rr:
                    thr.append(float(rr["lock-free"]["per_s"]) / float(rr[b]["per_s"]))
                    p99.append(float(rr[b]["p99_ns"]) / float(rr["lock-free"]["p99_ns"]))
            if thr:
                rat.append([b, t, ratio(statistics.median(thr)), ratio(statistics.median(p99))])
                if b == "global-lock":
                    lf = by[("lock-free", t)]
                    sp = med(lf, "spread")
                    mt, mp = statistics.median(thr), statistics.median(p99)
                    target("#6", f"hot item, {t} threads: >= 1x global lock's throughput, lower p99",
                           f"{mt:.2f}x throughput, p99 {mp:.2f}x lower", mt >= 1 and mp > 1)
                    target("#9", f"sell-out, {t} threads: >= 2x global lock's sales/s",
                           f"{mt:.2f}x", mt >= 2)
                    if t >= 256:
                        target("#9", f"sell-out, {t} threads: p99 >= 10x lower than the lock's",
                               f"{mp:.1f}x lower", mp >= 10)
                    else:
                        target("#9", f"sell-out, {t} threads: p99 lower than the lock's",
                               f"{mp:.1f}x lower", mp > 1)
                        target("#9", f"sell-out, {t} threads: spread between buyers <= 1.25",
                               f"{sp:.2f}", sp <= 1.25)
    print(table(["baseline", "threads", "sales/s (lock-free / baseline)",
                 "p99 (baseline / lock-free)"], rat))
    bad = sum(int(r["oversold"]) + int(r["unsold"]) for r in rows)
    target("#9", "sell-out: 0 units oversold, 0 unsold, every run", f"{bad} over all runs",
           bad == 0)
    print()


def take():
    t = criterion("take.txt")
    if not t:
        return
    engines = ["raw-cas", "lock-free", "item-locks-parking_lot", "item-locks-std", "global-lock"]
    keys = sorted({k.rsplit("/", 2)[0] + "|" + k.rsplit("/", 1)[1] for k in t},
                  key=lambda k: (k.split("|")[0], int(k.split("|")[1].split("-")[0])))
    rows = []
    for k in keys:
        w, th = k.split("|")
        get = lambda e: t.get(f"{w}/{e}/{th}")
        lf = get("lock-free")
        rows.append([w.removeprefix("take/"), th.split("-")[0]] + [mops(get(e)) for e in engines]
                    + [ratio(div(lf, get("raw-cas"))), ratio(div(get("item-locks-parking_lot"), lf)),
                       ratio(div(get("global-lock"), lf))])
    print("### Take and give back (`cargo bench --bench take`), M operations/s\n")
    print("One operation: an all-or-nothing take of the cart, then its give-back. Ratios of "
          "criterion medians: `cost / raw` is lock-free's time over the raw CAS loop's (the "
          "floor; lower is better), the others are throughput ratios (above 1: lock-free "
          "faster).\n")
    print(table(["workload", "threads"] + engines + ["lock-free cost / raw", "vs item-locks",
                                                     "vs global"], rows))
    print()
    lf, raw = t.get("take/uniform/1-line/lock-free/1-threads"), t.get(
        "take/uniform/1-line/raw-cas/1-threads")
    if lf and raw:
        target("#6", "1-line take + give-back, 1 thread: within 1.5x of raw CAS",
               f"{lf / raw:.2f}x ({lf:.1f} ns vs {raw:.1f} ns)", lf / raw <= 1.5)
    lf = t.get("take/uniform/4-line/lock-free/2-threads")
    il = t.get("take/uniform/4-line/item-locks-parking_lot/2-threads")
    gl = t.get("take/uniform/4-line/global-lock/2-threads")
    if lf and il and gl:
        target("#6", "4-line carts, 2 threads, uniform: >= 1.5x per-item mutex",
               f"{il / lf:.2f}x", il / lf >= 1.5)
        target("#6", "4-line carts, 2 threads, uniform: >= 2.4x global lock",
               f"{gl / lf:.2f}x", gl / lf >= 2.4)


def lifecycle():
    t = criterion("lifecycle.txt")
    if not t:
        return
    engines = ["raw-cas", "lock-free", "item-locks", "global-lock"]
    groups = defaultdict(dict)
    for k, v in t.items():
        parts = k.split("/")  # lifecycle/<lc>/<items>/<n>-lines/<engine>/<t>-threads
        groups[(parts[1], parts[2], parts[3], parts[5])][parts[4]] = v
    order = {"uniform": 0, "zipf": 1, "hot": 2}
    for lc in ["confirm", "release", "expire", "set-cart"]:
        rows = []
        for (l, items, lines, th), g in sorted(
                groups.items(), key=lambda kv: (order.get(kv[0][1], 9), int(kv[0][2].split("-")[0]),
                                                int(kv[0][3].split("-")[0]))):
            if l != lc:
                continue
            lf = g.get("lock-free")
            rows.append([items, lines.split("-")[0], th.split("-")[0]]
                        + [mops(g.get(e)) for e in engines]
                        + [ratio(div(g.get("item-locks"), lf)), ratio(div(g.get("global-lock"), lf)),
                           ratio(div(lf, g.get("raw-cas")))])
        if not rows:
            continue
        print(f"### Lifecycle `{lc}` (`cargo bench --bench lifecycle -- lifecycle/{lc}/`), "
              "M lifecycles/s\n")
        print(table(["items", "lines", "threads"] + engines
                    + ["vs item-locks", "vs global", "lock-free cost / raw"], rows))
        print()
    g = groups.get(("confirm", "uniform", "4-lines", "256-threads"), {})
    if g.get("lock-free") and g.get("item-locks"):
        r = g["item-locks"] / g["lock-free"]
        target("#6", "256 threads on 2 cores (4-line carts, uniform, reserve+confirm): >= 1.6x "
               "per-item mutex", f"{r:.2f}x", r >= 1.6)
    for th in ["2-threads", "256-threads"]:
        g = groups.get(("confirm", "hot", "1-lines", th), {})
        if g.get("lock-free") and g.get("global-lock"):
            r = g["global-lock"] / g["lock-free"]
            target("#6", f"hot item reserve+confirm (criterion), {th.replace('-', ' ')}: >= 1x "
                   "global lock", f"{r:.2f}x", r >= 1)


def report():
    p = path("lifecycle_report.csv")
    if not p:
        return
    rows = list(csv.DictReader(open(p, encoding="utf-8")))
    scarce = [r for r in rows if r["section"] == "scarce" and r["cart_lines"] != "mixed"]
    if scarce:
        by = defaultdict(dict)
        for r in scarce:
            by[(r["engine"], int(r["threads"]))][int(r["cart_lines"])] = float(r["success_rate"])
        out, worst = [], None
        for (e, th), rates in sorted(by.items(), key=lambda kv: (kv[0][1], kv[0][0])):
            base = rates.get(1)
            low = min(rates.get(n, 0) for n in (4, 16)) / base if base else None
            out.append([e, th] + [f"{rates.get(n, 0) * 100:.1f}%" for n in (1, 4, 16)]
                       + [ratio(low)])
            if e == "lock-free" and low is not None:
                worst = low if worst is None else min(worst, low)
        print("### Fairness under a scarce hot item (`examples/lifecycle_report`, section "
              "`scarce`)\n")
        print("Every cart holds one unit of a scarce hot item plus uniform lines; success rate "
              "of each cart size. `worst / 1-line`: the lower of the 4- and 16-line rates over "
              "the 1-line rate (1.00 means no starvation).\n")
        print(table(["engine", "threads", "1 line", "4 lines", "16 lines", "worst / 1-line"], out))
        print()
        if worst is not None:
            target("#6", "no cart size below half the 1-line success rate under hot contention",
                   f"worst {worst:.2f}", worst >= 0.5)
    plenty = [r for r in rows if r["section"] == "plentiful"]
    if plenty:
        out = []
        for r in sorted(plenty, key=lambda r: (r["workload"], int(r["threads"]),
                                               int(r["cart_lines"]), r["engine"])):
            out.append([r["workload"], r["threads"], r["cart_lines"], r["engine"],
                        f"{float(r['per_s']) / 1e6:,.2f}", ns_text(float(r["p50_ns"])),
                        ns_text(float(r["p99_ns"])), ns_text(float(r["p999_ns"])), r["spread"]])
        print("### Latency and spread of reserve, nobody refused (`examples/lifecycle_report`, "
              "section `plentiful`)\n")
        print(table(["items", "threads", "lines", "engine", "M lifecycles/s", "p50", "p99",
                     "p999", "spread"], out))
        print()


def instructions():
    p = path("instructions.csv")
    if not p:
        return
    rows = list(csv.DictReader(open(p, encoding="utf-8")))
    by = defaultdict(dict)
    for r in rows:
        by[r["path"]][r["engine"]] = float(r["ir_per_op"])
    out = [[k, *(f"{v.get(e, 0):,.0f}" for e in ["lock-free", "item-locks", "global-lock"])]
           for k, v in by.items()]
    print("### Instructions per operation, one thread (`scripts/callgrind.sh`)\n")
    print(table(["path", "lock-free", "item-locks", "global-lock"], out))
    print()


def lag():
    p = path("expiry_lag.txt")
    if p:
        print("### Expiry lag (`cargo run --release --example expiry_lag`)\n")
        print("```text\n" + open(p, encoding="utf-8").read().strip() + "\n```\n")


def main():
    print(f"<!-- generated by scripts/readme_tables.py from {RUN} -->\n")
    m = path("machine.txt")
    if m:
        print("```text\n" + open(m, encoding="utf-8").read().strip() + "\n```\n")
    sellout()
    take()
    lifecycle()
    report()
    instructions()
    lag()
    if TARGETS:
        print("### Targets\n")
        print(table(["issue", "target", "measured", "result"], TARGETS))


main()
