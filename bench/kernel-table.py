#!/usr/bin/python3
"""bench/kernel-table.py: the tables bench/kernel prints, from its VM log.

Reads the lines the guest script of bench/kernel writes (a whole console
log kept with KBENCH_LOG works too, so a run can be tabulated again):

  RESULT ROUND SETUP ROW IOPS MIB/S IOS TICKS HZ [SYSTICKS]   one fio job:
                      the serving process used TICKS/HZ seconds of CPU for
                      IOS I/Os, SYSTICKS of them in the kernel (stime)
  CLIENT ROUND SETUP PROCESSES TICKS HZ   nbd-client processes left after
                      setup, and their CPU ticks during that setup's jobs

and prints, per row, each setup's median throughput (IOPS for rows of
requests up to 64k, MiB/s above) and median server CPU per I/O, and the
ratios between setups: the ratio of the medians, and in brackets the
range of the same ratio taken round by round (the setups of one round ran
minutes apart, so a narrow range means the noise did not decide it).

  kernel-table.py [--rounds] FILE    --rounds: every round's values too
"""
import re
import statistics
import sys

# Setups in the order of the columns; a setup with no results is left out.
ORDER = ["nbdattach", "ublk", "blockkit", "nbdkit"]
LABEL = {"blockkit": "blockkit+nbdc", "nbdkit": "nbdkit+nbdc"}
SHORT = {"nbdattach": "na", "blockkit": "bk"}
# (A, B) prints A against B: throughput A/B, CPU per I/O B/A, so that
# above 1.00x A is the better one in both tables.
PAIRS = [("nbdattach", "nbdkit"), ("blockkit", "nbdkit"),
         ("ublk", "nbdattach"), ("ublk", "nbdkit")]
CPU_TARGET = 2.0        # issue 15: nbdattach at most half nbdkit's CPU per I/O

args = sys.argv[1:]
show_rounds = "--rounds" in args
files = [a for a in args if a != "--rounds"]
if len(files) != 1:
    sys.exit("usage: kernel-table.py [--rounds] FILE")

speed, cpu, sys_share, clients, rows = {}, {}, {}, [], []
for line in open(files[0], errors="replace"):
    p = line.replace("\r", "").split()
    if len(p) in (9, 10) and p[0] == "RESULT":
        rnd, setup, row = int(p[1]), p[2], p[3]
        iops, mibs, ios, ticks, hz = int(p[4]), float(p[5]), int(p[6]), int(p[7]), int(p[8])
        m = re.search(r"-(\d+)([kM])-", row)
        per_io = bool(m) and m.group(2) == "k" and int(m.group(1)) <= 64
        speed[setup, row, rnd] = iops if per_io else mibs
        if ios > 0:
            cpu[setup, row, rnd] = ticks * 1e6 / hz / ios
        if len(p) == 10 and ticks > 0:
            sys_share[setup, row, rnd] = 100.0 * int(p[9]) / ticks
        if row not in rows:
            rows.append(row)
    elif len(p) == 6 and p[0] == "CLIENT":
        clients.append((p[2], int(p[3]), int(p[4]) / int(p[5])))
if not rows:
    sys.exit("kernel-table: no results in %s" % files[0])
setups = [s for s in ORDER if any(k[0] == s for k in speed)]
setups += sorted({k[0] for k in speed} - set(setups))
pairs = [(a, b) for a, b in PAIRS if a in setups and b in setups]
label = lambda s: LABEL.get(s, s)
unit = lambda row: "IOPS" if re.search(r"-(\d+)k-", row) and int(
    re.search(r"-(\d+)k-", row).group(1)) <= 64 else "MiB/s"


def median(values, setup, row):
    v = [x for (s, r, _), x in values.items() if s == setup and r == row]
    return statistics.median(v) if v else None


def ratio(values, a, b, row, invert):
    """The ratio of the medians and the range of per-round ratios, as text."""
    ma, mb = median(values, a, row), median(values, b, row)
    if not ma or not mb:
        return "-", None
    rounds = sorted({k[2] for k in values if k[1] == row})
    per = [values[b, row, r] / values[a, row, r] if invert else values[a, row, r] / values[b, row, r]
           for r in rounds if values.get((a, row, r)) and values.get((b, row, r))]
    value = mb / ma if invert else ma / mb
    return "%.2fx (%.2f-%.2f)" % (value, min(per), max(per)), value


def table(title, values, fmt, invert):
    heads = [label(s) for s in setups] + ["%s/%s" % (SHORT.get(a, a), SHORT.get(b, b)) if not invert
                                          else "%s/%s" % (SHORT.get(b, b), SHORT.get(a, a)) for a, b in pairs]
    widths = [max(14, len(h)) for h in heads[:len(setups)]] + [max(19, len(h)) for h in heads[len(setups):]]
    print(title)
    print("%-18s" % "row" + "".join(" %*s" % (w, h) for w, h in zip(widths, heads)))
    results = {}
    for row in rows:
        cells = [fmt(median(values, s, row), row) for s in setups]
        for a, b in pairs:
            text, results[a, b, row] = ratio(values, a, b, row, invert)
            cells.append(text)
        print("%-18s" % row + "".join(" %*s" % (w, c) for w, c in zip(widths, cells)))
    print()
    return results


n_rounds = len({k[2] for k in speed})
thr = table("throughput, median of %d rounds (IOPS up to 64k requests, MiB/s above)" % n_rounds,
            speed, lambda v, row: "-" if v is None else "%.0f %s" % (v, unit(row)), False)
cpus = table("server CPU per I/O, microseconds (the daemon's utime+stime / fio's I/Os), "
             "median of %d rounds;\nratios are the other's CPU / this one's: above 1.00x it costs less" % n_rounds,
             cpu, lambda v, row: "-" if v is None else "%.1f" % v, True)

if sys_share:
    print("share of that CPU time spent in the kernel (stime), median")
    print("%-18s" % "row" + "".join(" %14s" % label(s) for s in setups))
    for row in rows:
        print("%-18s" % row + "".join(" %14s" % (lambda v: "-" if v is None else "%.0f%%" % v)(
            median(sys_share, s, row)) for s in setups))
    print()

if show_rounds:
    print("every round: throughput / CPU us per I/O [/ kernel share]")
    for row in rows:
        for s in setups:
            vals = ["%g/%.1f" % (speed[s, row, r], cpu.get((s, row, r), 0)) +
                    ("/%.0f%%" % sys_share[s, row, r] if (s, row, r) in sys_share else "")
                    for r in sorted(k[2] for k in speed if k[0] == s and k[1] == row)]
            print("%-18s %-14s %s" % (row, label(s), "  ".join(vals)))
    print()

if clients:
    stayed = [c for c in clients if c[1]]
    print("nbd-client after setup: %s (%d setups measured)" % (
        "no process left (it handed the socket to the kernel and exited)" if not stayed else
        "a process stayed in %d, using at most %.2f s of CPU during the jobs" % (
            len(stayed), max(c[2] for c in stayed)), len(clients)))

if "nbdattach" in setups and "nbdkit" in setups:
    ok = sum(1 for row in rows if (cpus.get(("nbdattach", "nbdkit", row)) or 0) >= CPU_TARGET)
    print("nbdattach's CPU per I/O at most half of nbdkit's on %d of %d rows (issue 15)" % (ok, len(rows)))
    ok = sum(1 for row in rows if (thr.get(("nbdattach", "nbdkit", row)) or 0) >= 1.0)
    print("nbdattach at least as fast as nbdkit+nbd-client on %d of %d rows (issue 4)" % (ok, len(rows)))
