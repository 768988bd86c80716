"""The benchmark's figures, their targets from issue 16, and the two ways out: a Markdown table and JSON.

Every figure is made once, as a `Figure` with numbers, so the table people read and the JSON machines
read cannot disagree. A figure with a target says whether it was met; the table also names the date, the
commit and the machine (cores, CPU model, load), because the numbers mean little without them.
"""

from __future__ import annotations

import json
import operator
import os
import platform
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

_OPS: dict[str, Callable[[float, float], bool]] = {"<=": operator.le, "<": operator.lt, ">=": operator.ge}


def fmt(value: float | None, unit: str) -> str:
    """A number as the table shows it, with its unit."""
    if value is None:
        return ""
    if unit == "ms":
        return f"{value:.2f} ms" if value < 10 else f"{value:.1f} ms"
    if unit == "s":
        return f"{value:.2f} s"
    if unit == "MiB":
        return f"{value:.2f} MiB"
    if unit == "ratio":
        return f"{value:.3f}" if value < 0.1 else f"{value:.2f}"
    if unit == "%":
        return f"{value:.0%}"
    if unit == "req/s":
        return f"{value:,.0f}"
    if unit == "count":
        return f"{value:g}"
    raise ValueError(f"unknown unit {unit!r}")


@dataclass(frozen=True)
class Target:
    """A limit from the issue, e.g. `Target("<=", 0.06, "ratio")`."""

    op: str
    limit: float
    unit: str

    def met(self, value: float) -> bool:
        return _OPS[self.op](value, self.limit)

    def __str__(self) -> str:
        if self.unit in ("ms", "s", "MiB"):
            return f"{self.op} {self.limit:g} {self.unit}"
        if self.unit == "ratio":
            return f"{self.op} {self.limit:g}"
        return f"{self.op} {fmt(self.limit, self.unit)}"


@dataclass
class Figure:
    """One row: our number, what it is compared with, and its target if the issue sets one."""

    key: str  # stable name for machines, e.g. "p2.100.ratio_hooks_file_hook"
    measure: str
    unit: str
    ours: float | None
    alternative: float | None = None
    alternative_name: str = ""
    note: str = ""  # said after the alternative (a query plan, a breakdown of statements)
    target: Target | None = None
    judged: float | None = None  # what the target applies to when it is not `ours` (say, ours/alternative)
    details: dict[str, Any] = field(default_factory=dict)  # more numbers for machines: breakdowns, samples

    @property
    def met(self) -> bool | None:
        if self.target is None:
            return None
        value = self.ours if self.judged is None else self.judged
        return None if value is None else self.target.met(value)

    def cells(self) -> list[str]:
        alternative = fmt(self.alternative, self.unit)
        if alternative and self.alternative_name:
            alternative += f" ({self.alternative_name})"
        if self.note:
            alternative = f"{alternative}; {self.note}" if alternative else self.note
        met = {None: "", True: "met", False: "**missed**"}[self.met]
        return [self.measure, fmt(self.ours, self.unit), alternative, str(self.target or ""), met]

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "key": self.key,
            "measure": self.measure,
            "unit": self.unit,
            "ours": self.ours,
            "alternative": self.alternative,
            "alternative_name": self.alternative_name or None,
            "note": self.note or None,
            "target": None,
            "met": self.met,
        }
        if self.target is not None:
            value = self.ours if self.judged is None else self.judged
            out["target"] = {"op": self.target.op, "limit": self.target.limit, "unit": self.target.unit, "value": value}
        if self.details:
            out["details"] = self.details
        return out


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024 / 1024
    except OSError:
        pass
    return None


def _commit(root: Path) -> str:
    result = subprocess.run(
        ["git", "-C", str(root), "describe", "--always", "--dirty", "--abbrev=10"],
        capture_output=True,
        text=True,
        check=False,
    )
    return result.stdout.strip() or "unknown"


@dataclass
class Run:
    """What one benchmark run measured, and on what."""

    root: Path
    options: dict[str, Any]
    figures: list[Figure] = field(default_factory=list)
    started: float = field(default_factory=time.time)
    load_at_start: float = field(default_factory=lambda: os.getloadavg()[0])
    finished: float | None = None
    load_at_end: float | None = None

    def finish(self) -> None:
        self.finished = time.time()
        self.load_at_end = os.getloadavg()[0]

    def machine(self) -> dict[str, Any]:
        memory = _memory_gib()
        return {
            "nproc": os.cpu_count(),
            "cpu_model": _cpu_model(),
            "memory_gib": round(memory, 1) if memory else None,
            "kernel": platform.release(),
            "python": platform.python_version(),
            "load_average_1min_at_start": round(self.load_at_start, 2),
            "load_average_1min_at_end": round(self.load_at_end, 2) if self.load_at_end is not None else None,
        }

    def as_json(self) -> dict[str, Any]:
        return {
            "date": time.strftime("%Y-%m-%d", time.localtime(self.started)),
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(self.started)),
            "run_time_s": round(self.finished - self.started, 1) if self.finished else None,
            "commit": _commit(self.root),
            "machine": self.machine(),
            "options": self.options,
            "figures": [f.as_json() for f in self.figures],
        }

    def write_table(self, out: TextIO) -> None:
        m = self.machine()
        minutes, seconds = divmod(round((self.finished or time.time()) - self.started), 60)
        print(
            f"\nBenchmark, {time.strftime('%Y-%m-%d', time.localtime(self.started))}, commit {_commit(self.root)}\n"
            f"Machine: {m['nproc']} cores ({m['cpu_model']}), {m['memory_gib']} GiB, Linux {m['kernel']}; "
            f"load average {m['load_average_1min_at_start']:.2f} at start, {m['load_average_1min_at_end']:.2f} at end; "
            f"run time {minutes} min {seconds} s\n",
            file=out,
        )
        print("| measure | ours | alternative | target | met |", file=out)
        print("|---|---|---|---|---|", file=out)
        for figure in self.figures:
            print("| " + " | ".join(figure.cells()) + " |", file=out)
        missed = [f.measure for f in self.figures if f.met is False]
        met = sum(f.met is True for f in self.figures)
        print(f"\nTargets: {met} met, {len(missed)} missed" + (": " + "; ".join(missed) if missed else ""), file=out)

    def write_json(self, out: TextIO) -> None:
        json.dump(self.as_json(), out, indent=2)
        out.write("\n")
