#!/usr/bin/python3
"""imprint.Catalog.query against `imprint query --json` on the robustness benchmark's queries:
the same works registered by the CLI, every query file asked both ways, answers compared as
parsed JSON (works, methods, scores, distances, regions, decisions). Prints the counts and
every difference; exits 1 on any.

    build/benchmarks/robustness --corpus wide --per-group 8 --export /tmp/rq ...
    benchmarks/python_query_equality.py /tmp/rq [--build build] [--purpose ai-training]

The works are registered with AI training denied, so a found copy is a `flag`.
"""
import argparse
import collections
import datetime
import json
import os
import sys
import tempfile

from robustness_export import read_export, register_works, run_cli


def main():
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("export_dir")
    ap.add_argument("--build", default=os.path.join(here, "build"))
    ap.add_argument("--purpose", default="ai-training")
    ap.add_argument("--chunk", type=int, default=200)
    a = ap.parse_args()

    sys.path.insert(0, os.path.join(a.build, "python"))
    import imprint  # noqa: E402  (the build's module, not an installed one)

    binary = os.path.join(a.build, "tools", "imprint")
    works, queries = read_export(a.export_dir)
    with tempfile.TemporaryDirectory() as tmp:
        catalog = os.path.join(tmp, "catalog")
        register_works(binary, catalog, works, a.chunk)
        cli, py = [], []
        with imprint.Catalog(catalog) as cat:
            for i in range(0, len(queries), a.chunk):
                part = queries[i:i + a.chunk]
                cli += [json.loads(line) for line in
                        run_cli(binary, "query", "--catalog", catalog, "--json",
                                "--purpose", a.purpose, *part)]
                py += cat.query(part, purpose=a.purpose)

    differ = [(q, c, p) for q, c, p in zip(queries, cli, py) if c != p]
    by_family = collections.Counter(os.path.basename(os.path.dirname(q)) for q in queries)
    flagged_cli = sum(c.get("decision") == "flag" for c in cli)
    flagged_py = sum(p.get("decision") == "flag" for p in py)
    methods = collections.Counter(m["method"] for p in py for m in p.get("matches", [])[:1])
    print(f"# imprint.Catalog.query vs imprint query --json, {datetime.date.today()}")
    print(f"{len(works)} works, {len(queries)} queries in {len(by_family)} families, "
          f"purpose {a.purpose}")
    print(f"answers: CLI {len(cli)}, Python {len(py)}; identical {len(queries) - len(differ)}, "
          f"different {len(differ) + abs(len(cli) - len(py))}")
    print(f"flagged: CLI {flagged_cli}, Python {flagged_py}; top methods (Python): "
          + ", ".join(f"{k} {v}" for k, v in sorted(methods.items())))
    for q, c, p in differ[:20]:
        print(f"DIFF {q}\n  cli: {json.dumps(c)}\n  py:  {json.dumps(p)}")
    return 1 if differ or len(cli) != len(py) else 0


if __name__ == "__main__":
    sys.exit(main())
