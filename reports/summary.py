"""The report's opening: what one more step of each capacity knob costs and buys.

For each family and size knob (a number, or a list of numbers such as a kernel size), the
measured capacities that differ in that knob only (all other knobs equal; the longest such
line, smallest other knobs on a tie) are compared step by step. The first step gets a
sentence with ratios of params, FLOPs and step time, the change in peak memory and the
validation metric before and after; a line of three or more capacities gets a second
sentence from its smallest to its largest value. Step time and
memory are of the family's main pass (train, else forward) at its chosen batch size, XLA off
where both capacities have it, else XLA on. Missing numbers are left out of the sentence.
A step-time ratio that uses a noisy cell's median (its 95% interval wider than the
precision target; see *Noisy cells* under Problems) says so, naming the noisy capacities.

>>> step_verb(16, 32), step_verb(1, 4), step_verb(2, 3)
('doubling', 'quadrupling', 'raising')
"""

from __future__ import annotations

import json
from typing import Any

import pandas as pd

from reports.families import Family
from reports.frames import capacity_label, format_knob, is_default_condition, knob_values
from reports.units import format_bytes, format_number, format_ratio


def step_verb(before: Any, after: Any) -> str:
    """How a knob changes between two capacities, as a verb."""
    if isinstance(before, (int, float)) and before and after == 2 * before:
        return "doubling"
    if isinstance(before, (int, float)) and before and after == 4 * before:
        return "quadrupling"
    return "raising"


def summary_section(families: list[Family]) -> str:
    """A bullet per family with one or two sentences per capacity knob.

    >>> summary_section([])
    'No results to summarise.'
    """
    if not families:
        return "No results to summarise."
    return "\n".join(f"- **{f.name}**: {family_summary(f)}" for f in families)


def family_summary(family: Family) -> str:
    """The sentences of one family (without its name)."""
    if not family.capacities:
        return "no results."
    if len(family.capacities) == 1:
        return f"one capacity ({capacity_label(family.capacities[0])}); nothing to compare."
    sentences = []
    for knob in family.knob_names:
        line = knob_line(family, knob)
        if len(line) < 2:
            continue
        first = _step_sentence(family, knob, line[0], line[1])
        if first:
            sentences.append(first)
        if len(line) >= 3:
            span = _span_sentence(family, knob, line[0], line[-1], len(line) - 1)
            if span:
                sentences.append(span)
    if not sentences:
        return "capacities differ in more than one knob at a time; no single-knob comparison."
    return " ".join(s[0].upper() + s[1:] if i else s for i, s in enumerate(sentences))


def knob_line(family: Family, knob: str) -> list[str]:
    """Capacities that differ in ``knob`` only, ordered by it: the longest such line among
    capacities with a step time, else among capacities with a parameter count."""
    timed = [
        c
        for c in family.capacities
        if family.main_pass
        and any(family.value(c, family.main_pass, x, "step_s_median") for x in (False, True))
    ]
    line = _longest_line(knob, timed)
    if len(line) >= 2:
        return line
    return _longest_line(knob, [c for c in family.capacities if family.params(c) is not None])


def _longest_line(knob: str, capacities: list[str]) -> list[str]:
    lines: dict[str, list[str]] = {}
    for capacity in capacities:
        values = knob_values(capacity)
        if knob not in values or not _is_size(values[knob]) or knob == "input":
            continue
        others = json.dumps({k: v for k, v in values.items() if k != knob}, sort_keys=True)
        lines.setdefault(others, []).append(capacity)
    if not lines:
        return []
    best = max(lines.values(), key=len)  # first (smallest other knobs) wins a tie
    return sorted(best, key=lambda c: knob_values(c)[knob])


def _is_size(value: Any) -> bool:
    """A number, or a list of numbers (a kernel size): something that can grow."""
    if isinstance(value, list):
        return bool(value) and all(_is_size(v) and not isinstance(v, list) for v in value)
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _pair_xla(family: Family, pass_: str, a: str, b: str, column: str) -> bool | None:
    for xla in (False, True):
        if all(family.value(c, pass_, xla, column) is not None for c in (a, b)):
            return xla
    return None


def _ratios(family: Family, a: str, b: str) -> list[str]:
    clauses = []
    params = (family.params(a), family.params(b))
    if all(params):
        clauses.append(f"params by {format_ratio(params[1] / params[0])}")
    flops = (family.flops(a), family.flops(b))
    if all(flops):
        clauses.append(f"FLOPs by {format_ratio(flops[1] / flops[0])}")
    pass_ = family.main_pass
    xla = _pair_xla(family, pass_, a, b, "step_s_median") if pass_ else None
    if pass_ and xla is not None:
        times = [family.value(c, pass_, xla, "step_s_median") for c in (a, b)]
        noisy = [capacity_label(c) for c in (a, b) if _is_noisy(family, c, pass_, xla)]
        caveat = f"; noisy (see Problems): {' and '.join(noisy)}" if noisy else ""
        clauses.append(
            f"{pass_} step time by {format_ratio(times[1] / times[0])} "
            f"(XLA {'on' if xla else 'off'}, batch {family.batch_size}{caveat})"
        )
    return clauses


def _is_noisy(family: Family, capacity: str, pass_: str, xla: bool) -> bool:
    """Whether a timing cell is flagged noisy (see `bench.results.stats.RoundStats`)."""
    return bool(family.value(capacity, pass_, xla, "noisy"))


def _memory_delta(family: Family, a: str, b: str) -> str:
    pass_ = family.main_pass
    xla = _pair_xla(family, pass_, a, b, "peak_bytes") if pass_ else None
    if pass_ is None or xla is None:
        return ""
    before, after = (family.value(c, pass_, xla, "peak_bytes") for c in (a, b))
    return f"peak memory {format_bytes(after - before, signed=True)}"


def _validation(family: Family, a: str, b: str) -> str:
    fits = family.fits
    if fits.empty:
        return ""
    clean = fits[(fits["status"] == "ok") & is_default_condition(fits)]
    means = [_mean(clean[clean["capacity"] == c]["final_val_metric"]) for c in (a, b)]
    if any(m is None for m in means):
        return ""
    metric = clean["metric"].dropna()
    name = str(metric.iloc[0]) if len(metric) else "metric"
    text = f"validation {name} {format_number(means[0])}→{format_number(means[1])}"
    for column, label in (("final_test_error", "final"), ("best_test_error", "early-stopped")):
        if column not in clean:
            continue
        errors = [_mean(clean[clean["capacity"] == c][column]) for c in (a, b)]
        if all(e is not None for e in errors):
            text += f", test error ({label}) {format_number(errors[0])}→{format_number(errors[1])}"
    return text


def _mean(values: pd.Series) -> float | None:
    numbers = pd.to_numeric(values, errors="coerce").dropna()
    return float(numbers.mean()) if len(numbers) else None


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _step_sentence(family: Family, knob: str, a: str, b: str) -> str:
    before, after = knob_values(a)[knob], knob_values(b)[knob]
    head = f"{step_verb(before, after)} {knob} {format_knob(before)}→{format_knob(after)}"
    ratios = _ratios(family, a, b)
    tail = [t for t in (_memory_delta(family, a, b), _validation(family, a, b)) if t]
    if not ratios and not tail:
        return ""
    text = f"{head} multiplies {_join(ratios)}" if ratios else head
    return "; ".join([text, *tail]) + "."


def _span_sentence(family: Family, knob: str, a: str, b: str, steps: int) -> str:
    before, after = knob_values(a)[knob], knob_values(b)[knob]
    ratios = _ratios(family, a, b)
    memory = _memory_delta(family, a, b)
    if not ratios:
        return ""
    text = (
        f"over {knob} {format_knob(before)}→{format_knob(after)} ({steps} steps) it "
        f"multiplies {_join(ratios)}"
    )
    return f"{text}; {memory}." if memory else f"{text}."
