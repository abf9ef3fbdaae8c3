import argparse
import json
import sys
from pathlib import Path

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from crm.bench import runner
from crm.bench.databases import BenchError, require_postgresql
from crm.bench.dataset import DatasetSpec, build_dataset
from crm.bench.sections import SECTIONS

SUFFIXES = {"k": 1_000, "m": 1_000_000}


def sizes_type(text: str) -> tuple[int, ...]:
    """Customer counts, comma-separated; 10k and 1m are accepted."""
    sizes = []
    for part in text.split(","):
        part = part.strip().lower()
        factor = SUFFIXES.get(part[-1:], 1)
        digits = part[:-1] if factor > 1 else part
        try:
            size = int(float(digits) * factor)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{part!r} is not a number of customers.") from None
        if size < 1:
            raise argparse.ArgumentTypeError("A data set needs at least one customer.")
        sizes.append(size)
    return tuple(sorted(set(sizes)))


def sections_type(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


class Command(BaseCommand):
    help = (
        "Measure the performance budgets (DESIGN.md section 6) on generated data sets in "
        "PostgreSQL, and print one JSON report. Each size gets a database of its own beside the "
        "configured one, built with COPY. See docs/benchmarks.md."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--sizes",
            type=sizes_type,
            default=runner.DEFAULT_SIZES,
            help="Customer counts, comma-separated (default 10000,100000,1000000; 10k, 1m work).",
        )
        parser.add_argument("--orders-per-customer", type=float, default=10)
        parser.add_argument("--seed", type=int, default=42, help="The data sets' random seed.")
        parser.add_argument(
            "--sections",
            type=sections_type,
            default=tuple(SECTIONS),
            help=f"What to measure, comma-separated (default and choices: {', '.join(SECTIONS)}).",
        )
        parser.add_argument(
            "--repeat",
            type=int,
            default=1,
            help="Measure each section this many times (each in a fresh process); the report "
            "shows the run of median duration.",
        )
        parser.add_argument(
            "--rebuild", action="store_true", help="Build the data sets even if kept ones match."
        )
        parser.add_argument(
            "--keep",
            action="store_true",
            help="Keep the data sets' databases for the next run (they are dropped otherwise).",
        )
        parser.add_argument("--output", type=Path, help="Also write the report to this file.")
        parser.add_argument(
            "--check", action="store_true", help="Exit with an error when a budget is missed."
        )
        # The runner starts this command again, in a child process, for each step on a data set.
        parser.add_argument(
            "--phase", choices=("build", "prepare", "measure"), help=argparse.SUPPRESS
        )
        parser.add_argument("--dataset", help=argparse.SUPPRESS)
        parser.add_argument("--section", help=argparse.SUPPRESS)
        parser.add_argument("--result-file", type=Path, help=argparse.SUPPRESS)

    def handle(self, *args, **options):
        try:
            require_postgresql()
            if options["phase"]:
                self._phase(options)
                return
            report = runner.benchmark_run(
                runner.Options(
                    sizes=options["sizes"],
                    orders_per_customer=options["orders_per_customer"],
                    seed=options["seed"],
                    sections=options["sections"],
                    repeat=max(1, options["repeat"]),
                    rebuild=options["rebuild"],
                    keep=options["keep"],
                ),
                say=self._say,
            )
        except BenchError as error:
            raise CommandError(str(error)) from error
        text = json.dumps(report, indent=2)
        self.stdout.write(text)
        if options["output"]:
            options["output"].write_text(text + "\n")
        summary = report["summary"]
        self._say(
            f"budgets passed: {', '.join(summary['passed']) or 'none'}; "
            f"failed: {', '.join(summary['failed']) or 'none'}; "
            f"not measured: {', '.join(summary['not_measured']) or 'none'}"
        )
        if options["check"] and summary["failed"]:
            raise CommandError(f"Budgets missed: {', '.join(summary['failed'])}.")

    def _phase(self, options):
        """One step on one data set, in a child process whose database is the data set's."""
        spec = DatasetSpec.from_dict(json.loads(options["dataset"]))
        if options["phase"] in ("build", "prepare"):
            call_command("migrate", interactive=False, verbosity=0)
        if options["phase"] == "build":
            result = build_dataset(spec, progress=self._say)
        elif options["phase"] == "measure":
            result = SECTIONS[options["section"]].measure(spec)
        else:
            result = {}
        options["result_file"].write_text(json.dumps(result))

    def _say(self, message: str) -> None:
        print(f"bench: {message}", file=sys.stderr, flush=True)
