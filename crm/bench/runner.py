"""The driver behind ``manage.py bench``: data sets, measurements, and the JSON report.

For each size, in turn: the data set's database is built (or reused), each section is measured in
a fresh child process, and unless asked to keep it the database is dropped before the next size,
so that only one data set takes disk space at a time. Children are ``manage.py bench --phase ...``
with DATABASE_URL naming the data set's database; they hand their figures back through a file.
"""

import io
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import django
import numpy as np
from django.conf import settings
from django.db import DatabaseError
from django.utils import timezone

from crm.bench import databases
from crm.bench.databases import BenchError
from crm.bench.dataset import DatasetSpec
from crm.bench.sections import SECTIONS

REPORT_FORMAT = 1
DEFAULT_SIZES = (10_000, 100_000, 1_000_000)


@dataclass(frozen=True)
class Options:
    sizes: tuple[int, ...] = DEFAULT_SIZES
    orders_per_customer: float = 10
    seed: int = 42
    sections: tuple[str, ...] = tuple(SECTIONS)
    repeat: int = 1
    rebuild: bool = False
    keep: bool = False

    def as_dict(self) -> dict:
        return {
            "sizes": list(self.sizes),
            "orders_per_customer": self.orders_per_customer,
            "seed": self.seed,
            "sections": list(self.sections),
            "repeat": self.repeat,
            "rebuild": self.rebuild,
            "keep": self.keep,
        }


def benchmark_run(options: Options, *, say: Callable[[str], None]) -> dict:
    """Build or reuse each data set, measure every section on it, and return the report."""
    databases.require_postgresql()
    unknown = sorted(set(options.sections) - set(SECTIONS))
    if unknown:
        raise BenchError(
            f"Unknown section {', '.join(unknown)}; choose from {', '.join(SECTIONS)}."
        )
    started = timezone.now()
    report = {
        "report": "crm-bench",
        "format": REPORT_FORMAT,
        "started_at": started.isoformat(timespec="seconds"),
        "machine": machine_info(),
        "options": options.as_dict(),
        "datasets": {},
        "sections": {
            name: {"description": SECTIONS[name].description, "sizes": {}}
            for name in options.sections
        },
    }
    for size in options.sizes:
        spec = DatasetSpec.for_size(
            size, orders_per_customer=options.orders_per_customer, seed=options.seed
        )
        name = databases.bench_database_name(size)
        try:
            dataset, spec = _dataset_ready(name, spec, options, say)
            dataset["size_mb"] = databases.database_size_mb(name)
            report["datasets"][str(size)] = dataset
            for section in options.sections:
                say(f"{size:,} customers: measuring {section}")
                report["sections"][section]["sizes"][str(size)] = _measured(
                    section, name, spec, options.repeat
                )
        finally:
            if not options.keep:
                _drop_quietly(name, say)
    for section in options.sections:
        entry = report["sections"][section]
        results = {int(size): result for size, result in entry["sizes"].items()}
        entry.update(SECTIONS[section].summarize(results))
    report["summary"] = _summary(report)
    finished = timezone.now()
    report["finished_at"] = finished.isoformat(timespec="seconds")
    report["seconds"] = round((finished - started).total_seconds(), 1)
    return report


def _dataset_ready(
    name: str, spec: DatasetSpec, options: Options, say: Callable[[str], None]
) -> tuple[dict, DatasetSpec]:
    """The data set's database, built now or earlier; and the spec it holds (its as-of date is
    the day it was built for)."""
    description = databases.database_description(name)
    if description and spec.same_rows(description["dataset"]) and not options.rebuild:
        say(f"{spec.customers:,} customers: reusing {name} (built {description['built_at']})")
        stored = DatasetSpec.from_dict(description["dataset"])
        _child("prepare", name, stored)
        return {
            "database": name,
            "reused": True,
            "built_at": description["built_at"],
            **stored.as_dict(),
            "build": description["build"],
        }, stored
    if databases.database_exists(name):
        say(f"{spec.customers:,} customers: dropping the old {name}")
        databases.database_drop(name)
    say(f"{spec.customers:,} customers, {spec.orders:,} orders: building {name}")
    databases.database_create(name)
    build = _child("build", name, spec)
    built_at = timezone.now().isoformat(timespec="seconds")
    databases.database_describe(
        name, {"dataset": spec.as_dict(), "build": build, "built_at": built_at}
    )
    return {
        "database": name,
        "reused": False,
        "built_at": built_at,
        **spec.as_dict(),
        "build": build,
    }, spec


def _drop_quietly(name: str, say: Callable[[str], None]) -> None:
    """Drop a data set's database without hiding why the run stopped, if it did."""
    try:
        databases.database_drop(name)
    except DatabaseError as error:
        say(f"could not drop {name}: {error}")


def _measured(section: str, name: str, spec: DatasetSpec, repeat: int) -> dict:
    """The section's figures on one data set; with repeat > 1, the run of median duration, with
    every run's duration beside it."""
    runs = []
    for _ in range(repeat):
        try:
            runs.append(_child("measure", name, spec, section=section))
        except BenchError as error:
            runs.append({"status": "failed", "error": str(error)})
    if repeat == 1:
        return runs[0]
    timed = [run for run in runs if run.get("duration_seconds") is not None]
    if not timed:
        return {**runs[0], "runs": runs}
    middle = statistics.median_low([run["duration_seconds"] for run in timed])
    chosen = next(run for run in timed if run["duration_seconds"] == middle)
    return {**chosen, "runs": [_run_brief(run) for run in runs]}


def _run_brief(run: dict) -> dict:
    keys = ("status", "as_of", "duration_seconds", "peak_rss_mb", "steps", "load_average_at_start")
    keys += ("error",)
    return {key: run[key] for key in keys if key in run}


def _child(phase: str, database: str, spec: DatasetSpec, *, section: str = "") -> dict:
    """Run ``manage.py bench --phase <phase>`` against the database; return what it reports."""
    with tempfile.TemporaryDirectory(prefix="crm-bench-") as folder:
        result = Path(folder) / "result.json"
        command = [
            sys.executable,
            str(Path(settings.BASE_DIR) / "manage.py"),
            "bench",
            "--phase",
            phase,
            "--dataset",
            json.dumps(spec.as_dict()),
            "--result-file",
            str(result),
        ]
        if section:
            command += ["--section", section]
        environment = {**os.environ, "DATABASE_URL": databases.database_url(database)}
        # The child's own output goes to stderr: stdout carries only the report.
        completed = subprocess.run(  # noqa: S603 - our own manage.py with our own arguments
            command, env=environment, stdout=_stderr_fd(), check=False
        )
        if completed.returncode != 0 or not result.exists():
            raise BenchError(
                f"The {phase} step on {database} failed (exit code {completed.returncode}); "
                "its messages are above."
            )
        return json.loads(result.read_text())


def _stderr_fd():
    try:
        return sys.stderr.fileno()
    except (AttributeError, OSError, io.UnsupportedOperation):
        return None


def machine_info() -> dict:
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return {
        "cores": os.cpu_count(),
        "cpu": _cpu_model(),
        "memory_gb": round(memory / 2**30, 1),
        "load_average": [round(value, 2) for value in os.getloadavg()],
        "platform": platform.platform(),
        "python": platform.python_version(),
        "django": django.get_version(),
        "numpy": np.__version__,
        "postgresql": databases.server_info(),
        "debug": settings.DEBUG,
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def _summary(report: dict) -> dict:
    """Every budget of every section in one place: passed, failed or not measured."""
    summary = {"passed": [], "failed": [], "not_measured": []}
    for section in report["sections"].values():
        for name, verdict in section.get("budgets", {}).items():
            key = {True: "passed", False: "failed"}.get(verdict.get("passed"), "not_measured")
            summary[key].append(name)
    return summary
