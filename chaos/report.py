"""How a chaos run's results are shown: a block of text per run, and a Markdown table of all runs."""

from __future__ import annotations

from typing import Any


def plural(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def short_class(path: str) -> str:
    return path.rsplit(".", 1)[-1]


def failed_text(figures: dict[str, Any]) -> str:
    if not figures["failed_total"]:
        return "0"
    classes = ", ".join(f"{short_class(cls)} {n}" for cls, n in figures["failed"].items())
    return f"{figures['failed_total']} ({classes})"


def faults_text(result: dict[str, Any]) -> str:
    events = result["events"]
    stops = sum(1 for e in events if e["action"] == "SIGSTOP")
    restarts = [e for e in events if e["action"] == "db-restart"]
    idle = sum(1 for e in events if e["action"] == "SIGKILL" and not e["pid"])
    kills = plural(result["kills"], "kill") + (f" (no live worker to kill {plural(idle, 'time')})" if idle else "")
    parts = [kills, plural(stops, "stop")]
    parts += [f"db restart at {e['at']:g}s ({e['detail']})" for e in restarts]
    return ", ".join(parts)


def events_text(events: list[dict[str, Any]]) -> str:
    """``2.03: SIGKILL 32480, 2.54: SIGSTOP 32483, ...`` in time order, without the kill ticks that
    found no live worker (``faults_text`` counts those)."""
    shown = []
    for e in sorted(events, key=lambda e: e["at"]):
        if e["action"] == "SIGKILL" and not e["pid"]:
            continue
        shown.append(f"{e['at']:g}: {e['action']}" + (f" {e['pid']}" if e["pid"] else ""))
    return ", ".join(shown)


def delivery_label(result: dict[str, Any]) -> str:
    return result["delivery"] if result.get("delivery_passed") else f"{result['delivery']} (runtime default)"


def text_report(result: dict[str, Any]) -> str:
    """A block of lines for one run; its invariants last."""
    head = f"[{result['db']}, {delivery_label(result)}]"
    if "error" in result:
        return f"\n{head} ERROR: {result['error']}"
    f, plan, secs = result["figures"], result["plan"], result["seconds"]
    lost = ", ".join(f"{n} {state}" for state, n in f["lost_by_state"].items())
    lines = [
        f"\n{head} {f['jobs']} jobs of {plan['job_seconds']:g}s, kill every {plan['kill_every']:g}s; "
        f"{faults_text(result)}; faults {secs['chaos']:g}s, recovery {secs['recovery']:g}s",
        f"  succeeded                 {f['succeeded']}",
        f"  failed                    {failed_text(f)}",
        f"  failed, never started     {len(f['failed_never_started'])}"
        f"{_by_crash(f)}",
        f"  lost                      {f['lost']}" + (f" ({lost})" if lost else ""),
        f"  still claimed at the end  {f['stuck']}",
        f"  ran twice                 {f['ran_twice']} (explained by a killed or stopped process: "
        f"{f['ran_twice_explained']}, unexplained: {len(f['ran_twice_unexplained'])}); "
        f"max runs per job {f['max_runs']}",
    ]
    if f["crash_limited"]:
        lines.append(f"  hit the crash limit       {len(f['crash_limited'])}")
    if result["violations"]:
        lines.append("  invariants                FAILED:")
        lines += [f"    - {v}" for v in result["violations"]]
    else:
        lines.append("  invariants                all hold")
    lines.append(f"  faults (s: signal pid)    {events_text(result['events'])}")
    lines.append(f"  files                     {result['workdir']}")
    return "\n".join(lines)


HEADER = ("| database | delivery | jobs | faults | succeeded | failed (by class) | failed, never started "
          "| lost | ran twice (explained) | max runs | invariants |")


def markdown_table(results: list[dict[str, Any]]) -> str:
    """One row per run, ready for docs/reliability.md."""
    rows = [HEADER, "|" + "---|" * HEADER.count(" | ") + "---|"]
    for r in results:
        if "error" in r:
            rows.append(f"| {r['db']} | {delivery_label(r)} | | | | | | | | | error |")
            continue
        f = r["figures"]
        verdict = "hold" if not r["violations"] else f"{len(r['violations'])} broken"
        rows.append(
            f"| {r['db']} | {delivery_label(r)} | {f['jobs']} | {faults_text(r)} | {f['succeeded']} | "
            f"{failed_text(f)} | {len(f['failed_never_started'])}{_by_crash(f)} | {f['lost']} | "
            f"{f['ran_twice']} ({f['ran_twice_explained']}) | {f['max_runs']} | {verdict} |")
    return "\n".join(rows)


def _by_crash(figures: dict) -> str:
    """How many never-started failures a killed process explains (at_most_once start marks)."""
    by_crash = len(figures.get("failed_never_started_by_crash", []))
    return f" ({by_crash} by a kill after the start mark)" if by_crash else ""
