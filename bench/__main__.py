"""``python -m bench analytics [--projects N] [--db URL [--no-generate]] [--export] [--compare] [--analyze] [--postgres]``; ``python -m bench engine [--projects N]``;
``python -m bench http [--clients 1,8,50] [--processes 1,2] [--postgres] [--quick]``;
``python -m bench reads [--projects 1000,20000] [--compare]``; ``python -m bench scale [--projects 1000,100000]``."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    sub = parser.add_subparsers(dest="name", required=True)
    analytics = sub.add_parser("analytics", help="SQL measures over N generated projects")
    analytics.add_argument("--projects", type=int, default=100_000)
    analytics.add_argument("--db", default=None, help="database URL (default: a fresh SQLite file in a temp dir)")
    analytics.add_argument("--export", action="store_true", help="also time the XES and CSV export")
    analytics.add_argument("--seed", type=int, default=1)
    analytics.add_argument("--no-generate", dest="generate_data", action="store_false",
                           help="measure the --db of an earlier run as it is (generation takes minutes at 100,000)")
    analytics.add_argument("--postgres", action="store_true",
                           help="on a throwaway PostgreSQL server (installed and started as the tests do)")
    analytics.add_argument("--analyze", action="store_true",
                           help="give SQLite's planner ANALYZE statistics first (the measures pin their indexes)")
    analytics.add_argument("--compare", action="store_true",
                           help="also time the implementations the analytics indexes replaced, on the same data")
    engine = sub.add_parser("engine", help="full projects through the engine and through raw SpiffWorkflow")
    engine.add_argument("--projects", type=int, default=20)
    engine.add_argument("--repeat", type=int, default=5, help="runs per variant (the median is reported)")
    engine.add_argument("--profile", action="store_true", help="also print the engine's top costs (cProfile)")
    engine.add_argument("--json", action="store_true")
    http = sub.add_parser("http", help="whole projects through `gongai serve` at 1, 8 and 50 clients, against raw SpiffWorkflow")
    http.add_argument("--clients", default="1,8,50", help="client levels, comma-separated")
    http.add_argument("--projects", type=int, default=None,
                      help="projects each client drives at each level (default: 4 alone, 2 of 8, 1 of 50)")
    http.add_argument("--processes", default="1", help="server process counts, comma-separated (e.g. 1,2)")
    http.add_argument("--postgres", action="store_true",
                      help="also on a throwaway PostgreSQL server (installed and started as the tests do)")
    http.add_argument("--no-sqlite", dest="sqlite", action="store_false", help="only PostgreSQL (with --postgres)")
    http.add_argument("--server-code", default=None,
                      help="run the servers from another checkout (e.g. a worktree of main: before/after in one run)")
    http.add_argument("--quick", action="store_true", help="a smoke run: 1 and 2 clients, one project each")
    http.add_argument("--out", default=None, help="JSON path (default bench/results/http-<when>.json)")
    reads = sub.add_parser("reads", help="the list routes at growing numbers of projects")
    reads.add_argument("--projects", default="1000,20000", help="data sizes, comma-separated")
    reads.add_argument("--compare", action="store_true", help="also time the replaced Python-side filtering")
    scale = sub.add_parser("scale", help="every list and read route at 1,000 and 100,000 projects, with ratios")
    scale.add_argument("--projects", default="1000,100000", help="data sizes, comma-separated (smallest first)")
    scale.add_argument("--repeat", type=int, default=9, help="calls per route (the median is reported)")
    scale.add_argument("--out", default=None, help="JSON path (default bench/results/scale-<when>.json)")
    args = parser.parse_args(argv)
    if args.name == "analytics":
        from bench.analytics_bench import run

        run(args.projects, url=args.db, export=args.export, seed=args.seed, compare=args.compare,
            generate_data=args.generate_data, analyze=args.analyze,
            postgres=args.postgres)
    elif args.name == "engine":
        from bench.engine_bench import run as run_engine

        run_engine(args.projects, repeat=args.repeat, profile=args.profile, as_json=args.json)
    elif args.name == "http":
        from pathlib import Path

        from bench.http_bench import run as run_http

        levels = [1, 2] if args.quick else [int(x) for x in args.clients.split(",")]
        per_client = 1 if args.quick else args.projects
        run_http(levels=levels, projects={c: per_client for c in levels} if per_client else None,
                 postgres=args.postgres, sqlite=args.sqlite, processes=[int(x) for x in args.processes.split(",")],
                 raw_seconds=0.2 if args.quick else 1.0, out=Path(args.out) if args.out else None,
                 code=Path(args.server_code).resolve() if args.server_code else None)
    elif args.name == "reads":
        from bench.reads_bench import run as run_reads

        run_reads([int(x) for x in args.projects.split(",")], compare=args.compare)
    elif args.name == "scale":
        from pathlib import Path

        from bench.scale_bench import run as run_scale

        run_scale([int(x) for x in args.projects.split(",")], repeat=args.repeat,
                  out=Path(args.out) if args.out else None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
