"""``python -m bench analytics [--projects N] [--db URL [--no-generate]] [--export] [--compare] [--analyze] [--postgres]``; ``python -m bench engine [--projects N]``."""

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
    args = parser.parse_args(argv)
    if args.name == "analytics":
        from bench.analytics_bench import run

        run(args.projects, url=args.db, export=args.export, seed=args.seed, compare=args.compare,
            generate_data=args.generate_data, analyze=args.analyze,
            postgres=args.postgres)
    elif args.name == "engine":
        from bench.engine_bench import run as run_engine

        run_engine(args.projects, repeat=args.repeat, profile=args.profile, as_json=args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
