"""``python -m bench analytics [--projects N] [--db URL] [--export]``."""

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
    args = parser.parse_args(argv)
    if args.name == "analytics":
        from bench.analytics_bench import run

        run(args.projects, url=args.db, export=args.export, seed=args.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
