"""``python -m tokedit_utils.book``: run the chain for a profile, then build the book."""

from __future__ import annotations

import argparse
import sys
import time

from . import __doc__ as RULES
from .execute import run_chain
from .html import build_book
from .progress import summary
from .params import PROFILES_DIR, ChainError, chain, check_overrides, load_profile, parse_sets, profile_overrides


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=RULES, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default="default",
                        help="default, smoke, gpu, paper (profiles/<name>.yml) or a path to a profile YAML file")
    parser.add_argument("--set", action="append", default=[], metavar="STEM.NAME=VALUE",
                        help="override one parameter (repeatable), e.g. --set 01_corpora.corpus=books.jsonl")
    parser.add_argument("--until", help="stop after this notebook stem, e.g. 01_corpora")
    parser.add_argument("--only", action="append", default=[], metavar="STEM",
                        help="run this notebook (repeatable) and only the earlier stages it reads that changed")
    parser.add_argument("--force", action="store_true", help="re-execute even unchanged stages")
    parser.add_argument("--dry-run", action="store_true", help="print what would re-run, and why, and run nothing")
    parser.add_argument("--no-build", action="store_true", help="run the chain but do not build the book")
    parser.add_argument("--check-profiles", action="store_true", help="only check every profile file against the notebooks")
    args = parser.parse_args(argv)
    try:
        if args.check_profiles:
            problems = [p for f in sorted(PROFILES_DIR.glob("*.yml")) for p in check_overrides(f.stem, profile_overrides(f.stem), chain())]
            print("\n".join(problems) or "all profiles name real parameters of the declared types")
            return 1 if problems else 0
        start = time.perf_counter()
        name = load_profile(args.profile)[0]
        rows: list[dict] = []
        executed = run_chain(args.profile, until=args.until, force=args.force, sets=parse_sets(args.set),
                             only=args.only or None, dry_run=args.dry_run, report=rows)
        if args.dry_run:
            return 0
        html = None
        if not args.no_build and args.until is None and not args.only:
            html = build_book(name)
        print(summary(name, rows, [p.parent for p in executed], html))
        print(f"[{name}] total {time.perf_counter() - start:.0f} s")
    except ChainError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
