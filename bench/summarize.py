#!/usr/bin/env python3
"""Turns the cic-loadgen JSON reports of one bench/run.sh run into one table and latest.json.

Rows are scenario x target; the last columns compare each proxy with the direct call and the
gateway with nginx (docs/benchmarks.md explains every column).
"""
import argparse
import datetime
import json
import os
import platform
import sys

SCENARIOS = [
    ("open", "open loop"),
    ("closed", "closed loop"),
    ("stream", "streams"),
    ("paced", "paced streams"),
]
TARGETS = ["direct", "nginx", "gateway"]


def load_results(directory):
    results = {}
    for scenario, _ in SCENARIOS:
        for target in TARGETS:
            path = os.path.join(directory, f"{scenario}.{target}.json")
            if os.path.exists(path):
                with open(path) as f:
                    results.setdefault(scenario, {})[target] = json.load(f)
    return results


def ms(value):
    return "-" if value is None else f"{value:.3f}"


def headline(scenario, report):
    """The figure a row is compared on: p99 latency, throughput, or p99 time to first chunk."""
    if scenario == "open":
        return report["latency_ms"]["p99"]
    if scenario == "closed":
        return report["achieved_rps"]
    return report["ttfc_ms"]["p99"]


def compare(scenario, report, reference):
    if reference is None or report is reference:
        return "-"
    a, b = headline(scenario, report), headline(scenario, reference)
    if a is None or b is None:
        return "n/a"
    if scenario == "closed":
        return f"x{a / b:.2f} rps" if b else "n/a"
    label = "p99" if scenario == "open" else "ttfc p99"
    return f"{a - b:+.3f} ms {label}"


def build_rows(results):
    rows = []
    for scenario, title in SCENARIOS:
        by_target = results.get(scenario, {})
        for target in TARGETS:
            r = by_target.get(target)
            if r is None:
                rows.append([title, target, "missing"] + [""] * 11)
                continue
            q, lat = r["requests"], r["latency_ms"]
            ttfc = r.get("ttfc_ms", {})
            rows.append([
                title, target,
                str(q["sent"]), str(q["ok"]), str(q["non_2xx"]), str(q["errors"] + q["unfinished"]),
                f"{r['achieved_rps']:.0f}",
                ms(lat["p50"]), ms(lat["p90"]), ms(lat["p99"]), ms(lat["p999"]),
                ms(ttfc.get("p50")) if scenario in ("stream", "paced") else "",
                ms(ttfc.get("p99")) if scenario in ("stream", "paced") else "",
                compare(scenario, r, by_target.get("direct")) if target != "direct" else "",
                compare(scenario, r, by_target.get("nginx")) if target == "gateway" else "",
            ])
    return rows


def print_table(rows):
    header = ["scenario", "target", "sent", "2xx", "non2xx", "err", "req/s",
              "p50", "p90", "p99", "p99.9", "ttfc p50", "ttfc p99", "vs direct", "vs nginx"]
    rows = [r if len(r) == len(header) else r + [""] * (len(header) - len(r)) for r in rows]
    widths = [max(len(str(row[i])) for row in [header] + rows) for i in range(len(header))]
    def line(cells):
        return "  ".join(str(c).ljust(w) if i < 2 or i >= 13 else str(c).rjust(w)
                         for i, (c, w) in enumerate(zip(cells, widths)))
    print(line(header))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print(line(row))


def memory_summary(rss_path, vm_hwm):
    samples = []
    if rss_path and os.path.exists(rss_path):
        with open(rss_path) as f:
            samples = [int(x) for x in f.read().split() if x.isdigit()]
    return {
        "samples": len(samples),
        "peak_rss_kib": max(samples) if samples else None,
        "last_rss_kib": samples[-1] if samples else None,
        "vm_hwm_kib": int(vm_hwm) if vm_hwm else None,
    }


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--results", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--gateway-status", required=True)
    p.add_argument("--gateway-note", default="")
    p.add_argument("--rss-samples", default="")
    p.add_argument("--vm-hwm-kib", default="")
    p.add_argument("--commit", default="unknown")
    a = p.parse_args()

    results = load_results(a.results)
    memory = memory_summary(a.rss_samples, a.vm_hwm_kib)
    first = next((r for s in results.values() for r in s.values()), {})
    doc = {
        "generated_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "commit": a.commit,
        "machine": {"cpus": os.cpu_count(), "kernel": platform.release()},
        "gateway": {"status": a.gateway_status, "note": a.gateway_note, "memory": memory},
        "results": results,
    }
    with open(a.out, "w") as f:
        json.dump(doc, f, indent=2)

    print()
    print(f"cic-control benchmark  commit {a.commit}  {os.cpu_count()} cpus  "
          f"(times in ms; open loop from the scheduled send time, closed loop and streams from the actual send)")
    print()
    print_table(build_rows(results))
    print()
    if a.gateway_status == "ok":
        def mib(kib):
            return "n/a" if kib is None else f"{kib / 1024:.1f} MiB"
        print(f"gateway memory: peak sampled VmRSS {mib(memory['peak_rss_kib'])} "
              f"({memory['samples']} samples), VmHWM {mib(memory['vm_hwm_kib'])}")
    else:
        print(f"GATEWAY ROWS MISSING: {a.gateway_note}")
        print("  (no gateway numbers were measured; the direct and nginx rows are real)")
    print(f"raw JSON: {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
