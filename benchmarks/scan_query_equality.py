#!/usr/bin/python3
"""`imprint scan` against `imprint query --json` on the robustness benchmark's held-out queries:
the same works registered, every query file packed into a WebDataset shard and scanned, and the
same files asked with `imprint query` (same purpose, top-k and hashing mode). Prints how many of
the query's flags the scan reports (default scan, and --no-second-stage), the scan's findings the
query does not flag, whether each finding equals the query's answer, and the scan rates. Exits 1
when the default scan's findings differ from the query's answers.

    build/benchmarks/robustness --corpus wide --per-group 8 --accuracy-floor 0 --export /tmp/rq ...
    benchmarks/scan_query_equality.py /tmp/rq [--build build] [--mode fast] [--threads 2]

With --accuracy-floor the export holds the held-out half's queries only (and every work). The
works are registered with AI training denied, so a found copy is a `flag`.
"""
import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tarfile
import tempfile

from robustness_export import read_export, register_works, run_cli


def scan(binary, catalog, shard, report, mode, threads, extra):
    subprocess.run([binary, "scan", "--progress", "none", "--catalog", catalog, "--report", report,
                    "--mode", mode, "--threads", str(threads), *extra, shard],
                   check=True, capture_output=True, text=True)
    with open(os.path.join(report, "summary.json")) as f:
        summary = json.load(f)
    findings = {}
    with open(os.path.join(report, "findings.jsonl")) as f:
        for line in f:
            j = json.loads(line)
            findings[j["member"]] = j
    seconds = summary["throughput"][0]["seconds"]
    return findings, summary["totals"]["items"] / seconds


def main():
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("export_dir")
    ap.add_argument("--build", default=os.path.join(here, "build"))
    ap.add_argument("--purpose", default="ai-training")
    ap.add_argument("--mode", default="fast", choices=["fast", "exact"])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--chunk", type=int, default=200)
    a = ap.parse_args()

    binary = os.path.join(a.build, "tools", "imprint")
    works, queries = read_export(a.export_dir)
    member = {q: os.path.basename(os.path.dirname(q)) + "__" + os.path.basename(q) + ".jpg"
              for q in queries}
    with tempfile.TemporaryDirectory() as tmp:
        catalog = os.path.join(tmp, "catalog")
        register_works(binary, catalog, works, a.chunk)
        answers = {}
        for i in range(0, len(queries), a.chunk):
            part = queries[i:i + a.chunk]
            lines = run_cli(binary, "query", "--catalog", catalog, "--json", "--purpose",
                            a.purpose, "--top-k", "5", "--mode", a.mode, *part)
            for q, line in zip(part, lines):
                answers[member[q]] = json.loads(line)
        shard = os.path.join(tmp, "queries.tar")
        with tarfile.open(shard, "w", format=tarfile.USTAR_FORMAT) as t:
            for q in queries:
                t.add(q, arcname=member[q])
        both, both_rate = scan(binary, catalog, shard, os.path.join(tmp, "r-both"), a.mode,
                               a.threads, ["--purpose", a.purpose])
        pdq, pdq_rate = scan(binary, catalog, shard, os.path.join(tmp, "r-pdq"), a.mode,
                             a.threads, ["--purpose", a.purpose, "--no-second-stage"])

    flagged = {m for m, q in answers.items() if q["decision"] == "flag"}
    listed = {m for m, q in answers.items() if q["matches"]}

    def compare(findings):
        found = {m for m, f in findings.items() if f["decision"] == "flag"}
        same = sum(1 for m, f in findings.items()
                   if m in answers and f["matches"] == answers[m]["matches"]
                   and f["decision"] == answers[m]["decision"])
        return found, same

    both_found, both_same = compare(both)
    pdq_found, pdq_same = compare(pdq)
    print(f"# imprint scan vs imprint query --json, {datetime.date.today()}")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
          f"{len(works)} works, {len(queries)} held-out queries, purpose {a.purpose}, "
          f"mode {a.mode}, scan threads {a.threads}")
    print(f"query: {len(flagged)} flagged, {len(listed)} with a listed match")
    for name, found, same, findings, rate in (
            ("scan (default, both stages)", both_found, both_same, both, both_rate),
            ("scan --no-second-stage", pdq_found, pdq_same, pdq, pdq_rate)):
        print(f"{name}: {len(findings)} findings, {len(found)} flagged; "
              f"{len(found & flagged)} of the query's {len(flagged)} flags "
              f"({100 * len(found & flagged) / max(1, len(flagged)):.1f}%), "
              f"{len(found - flagged)} flags the query does not make; "
              f"{same} of {len(findings)} findings equal to the query's answer; "
              f"{rate:.1f} images/s")
    differ = [m for m in listed | set(both)
              if m not in both or both[m]["matches"] != answers[m]["matches"]]
    for m in sorted(differ)[:20]:
        print(f"DIFF {m}\n  query: {json.dumps(answers[m])}\n  scan:  {json.dumps(both.get(m))}")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
