"""The frontend's one escaping rule, checked over frontend/src: text from a file, a model, a device or
a request reaches the DOM as text, or through ``escapeHtml`` where a library wants HTML.

Three rules, each with an explicit allowlist of reviewed, constant-only uses:
1. every ``${...}`` inside a template literal that holds HTML (or is written to an HTML sink) is
   ``escapeHtml(...)``;
2. every HTML sink (``innerHTML``/``outerHTML`` assignment, ``insertAdjacentHTML``, D3 ``.html(``,
   ``document.write``, ``srcdoc``) is given a literal, or is a reviewed use;
3. every ECharts ``formatter`` escapes (or is a text-only label formatter), and no ``rich`` text.
"""

from __future__ import annotations

import re
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "frontend" / "src"

# (file, interpolation) pairs reviewed: numbers, colours from constant tables, constant markup.
SAFE_INTERPOLATIONS = {
    ("views/engine.ts", "ms(r.mean_ms)"),
    ("views/engine.ts", 'r.pct?.toFixed(2) ?? "–"'),
    ("views/engine.ts", "r.mean_ms?.toFixed(4) ?? \"–\""),
    ("views/engine.ts", "ms(t.sum_of_layer_averages_ms, 3)"), ("views/engine.ts", "ms(t.e2e_median_ms, 3)"),
    ("views/engine.ts", "ms(t.e2e_p90_ms, 3)"), ("views/engine.ts", "ms(t.e2e_p99_ms, 3)"),
    ("views/evidence.ts", "w"), ("views/evidence.ts", "h"), ("views/evidence.ts", "pad"),
    ("views/evidence.ts", "h - pad"), ("views/evidence.ts", "w - 6"), ("views/evidence.ts", "w / 2"),
    ("views/evidence.ts", "h - 6"), ("views/evidence.ts", "d"), ("views/evidence.ts", "paths"),
    ("views/evidence.ts", 'COLORS[c.metric] ?? "#555"'),
    ("views/evidence.ts", 'i ? "L" : "M"'), ("views/evidence.ts", "x(f).toFixed(1)"),
    ("views/evidence.ts", "y(c.mean_curve[i]).toFixed(1)"),
    ("views/latency.ts", "stops"),  # hsl() strings computed from numbers
    ("views/explain.ts", "DEFAULT_ALPHA"),  # a number constant
    # The graph's SVG export: layout numbers, latency colours computed as hsl(), edge path numbers.
    ("views/graph-extras.ts", "width"), ("views/graph-extras.ts", "height"),
    ("views/graph-extras.ts", "b.w"), ("views/graph-extras.ts", "b.h"), ("views/graph-extras.ts", "b.x"),
    ("views/graph-extras.ts", "b.y"), ("views/graph-extras.ts", "edgePath(view.edges)"),
    ("views/graph-extras.ts", 'view.fill(i) ?? "#e8eef8"'),
    ("util/tooltip.ts", "lines.join(\"\")"),  # rows built from escaped parts just above
}

# HTML sinks given a non-literal value, reviewed: what they concatenate is constant or escaped.
SAFE_SINKS = {
    ("views/engine.ts", "head + rows.map("),  # rows of escaped cells (rule 1 checks each)
    ("views/engine.ts", "head + totals.map("),
    ("views/devices.ts", "this.devices.length ?"),  # "" or a constant option
}

# Formatters that return plain text for ECharts to paint on the canvas (axis and bar labels).
TEXT_FORMATTERS = {"formatNumber"}
SAFE_FORMATTERS = {
    ("views/engine.ts", "rows[x.dataIndex].precision"),  # a bar label: canvas text, not HTML
}
# Functions that build tooltip HTML from escaped parts only (their templates are checked by rule 1).
HTML_BUILDERS = ("escapeHtml(", "axisTooltip(", "this.tooltip(")


def _regex_allowed(prev: str) -> bool:
    return prev in ("", "return", "typeof") or prev in "(,=:[!&|?{};+-*%<>~^"


def _after_string(text: str, start: int) -> int:
    """The offset just past the quoted string literal that opens at ``start``."""
    quote, j = text[start], start + 1
    while text[j] != quote:
        j += 2 if text[j] == "\\" else 1
    return j + 1


def scan(text: str) -> list[tuple[int, int]]:
    """Spans (start, end) of the template literals of ``text`` (outermost first, nested included),
    skipping comments, strings and regex literals."""
    spans: list[tuple[int, int]] = []
    n, prev = len(text), ""

    def template(start: int) -> int:
        j = start + 1
        while j < n:
            c = text[j]
            if c == "\\":
                j += 2
                continue
            if c == "`":
                spans.append((start, j + 1))
                return j + 1
            if text.startswith("${", j):
                j = code(j + 2, "}")
                continue
            j += 1
        raise AssertionError("unterminated template literal")

    def code(j: int, close: str | None) -> int:
        nonlocal prev
        depth = 0
        while j < n:
            c = text[j]
            if text.startswith("//", j):
                j = text.find("\n", j)
                j = n if j < 0 else j
                continue
            if text.startswith("/*", j):
                j = text.index("*/", j) + 2
                continue
            if c in "\"'":
                j, prev = _after_string(text, j), "x"
                continue
            if c == "`":
                j, prev = template(j), "x"
                continue
            if c == "/" and _regex_allowed(prev):
                k, klass = j + 1, False
                while klass or text[k] != "/":
                    if text[k] == "\\":
                        k += 1
                    elif text[k] == "[":
                        klass = True
                    elif text[k] == "]":
                        klass = False
                    k += 1
                j, prev = k + 1, "x"
                continue
            if c in "({[":
                depth += 1
            elif c in ")}]":
                if depth == 0 and close and c == close:
                    return j + 1
                depth -= 1
            if c.isalnum() or c in "_$":
                word = re.match(r"[\w$]+", text[j:]).group(0)
                prev, j = word, j + len(word)
                continue
            if not c.isspace():
                prev = c
            j += 1
        return j

    code(0, None)
    return spans


def interpolations(text: str, span: tuple[int, int]) -> list[str]:
    """The ``${...}`` expressions directly inside the template literal at ``span``."""
    out, j, end = [], span[0] + 1, span[1]
    while j < end - 1:
        if text[j] == "\\":
            j += 2
            continue
        if text.startswith("${", j):
            depth, k = 0, j + 2
            while True:  # nested templates/braces: count braces, skip nested literals roughly
                c = text[k]
                if c == "`":
                    k = next(e for s, e in _spans_cache[id(text)] if s == k)
                    continue
                if c in "\"'":
                    k = _after_string(text, k)
                    continue
                if c == "{":
                    depth += 1
                elif c == "}":
                    if depth == 0:
                        break
                    depth -= 1
                k += 1
            out.append(" ".join(text[j + 2:k].split()))
            j = k + 1
            continue
        j += 1
    return out


_spans_cache: dict[int, list[tuple[int, int]]] = {}

SINK = re.compile(r"\.(?:innerHTML|outerHTML)\s*=(?!=)|\binsertAdjacentHTML\s*\(|\.html\s*\(|document\.write(?:ln)?\s*\(|\bsrcdoc\b")
FORMATTER = re.compile(r"\bformatter\s*:\s*")
RICH = re.compile(r"\brich\s*:")
HTML_TAG = re.compile(r"<[a-zA-Z][\w-]*(?=[\s>/])|</[a-zA-Z]")
# Arithmetic (``-`` ``*`` ``/`` make a number of anything) and number formatting give only digits.
NUMERIC = re.compile(r"[\w.\s()\[\]]*[-*/][\w.\s()\[\]\-*/+]*|[\w.\s()\[\]]+\.(?:toFixed|toPrecision)\(\d*\)")
# ECharts paints these options' formatters as canvas text; only tooltip formatters produce HTML.
CANVAS_KEYS = {"axisLabel", "label", "endLabel", "title", "detail", "pageFormatter"}


def _value(text: str, start: int) -> str:
    """The expression starting at ``start``, up to the first ``,`` ``;`` or closing bracket at depth 0."""
    spans = _spans_cache[id(text)]
    depth, j = 0, start
    while j < len(text):
        c = text[j]
        literal = next((e for s, e in spans if s == j), None)
        if literal:
            j = literal
            continue
        if c in "\"'":
            j = _after_string(text, j)
            continue
        if c in "({[":
            depth += 1
        elif c in ")}]":
            if depth == 0:
                break
            depth -= 1
        elif c in ",;" and depth == 0:
            break
        j += 1
    return text[start:j].strip()


def _owner(text: str, at: int) -> str:
    """The key of the object literal enclosing offset ``at`` (``tooltip`` in ``tooltip: {formatter}``)."""
    depth, j = 0, at
    while j > 0:
        j -= 1
        if text[j] == "}":
            depth += 1
        elif text[j] == "{":
            if depth == 0:
                key = re.search(r"(\w+)\s*:\s*$", text[max(0, j - 40):j])
                return key.group(1) if key else ""
            depth -= 1
    return ""


def violations(name: str, text: str) -> list[str]:
    spans = scan(text)
    _spans_cache[id(text)] = spans
    found: list[str] = []
    sink_literals: set[tuple[int, int]] = set()
    for m in SINK.finditer(text):
        start = m.end()
        if "insertAdjacentHTML" in m.group(0):  # the HTML is the second argument
            start = text.index(",", len(_value(text, start)) + start) + 1
        value = _value(text, start)
        at = text.index(value, start) if value else start
        literal = next((sp for sp in spans if sp == (at, at + len(value))), None)
        if literal:
            sink_literals.add(literal)
        elif not re.fullmatch(r"""(["'])(?:(?!\1).)*\1""", value, re.S) and \
                not any(name == f and value.startswith(p) for f, p in SAFE_SINKS):
            found.append(f"{name}: HTML sink given a non-literal value: {m.group(0)} {value[:60]!r}")
    for span in spans:
        body = text[span[0]:span[1]]
        if span not in sink_literals and not HTML_TAG.search(body):
            continue
        for expr in interpolations(text, span):
            if expr.startswith("escapeHtml(") or NUMERIC.fullmatch(expr):
                continue
            if (name, expr) not in SAFE_INTERPOLATIONS:
                found.append(f"{name}: unescaped ${{{expr}}} in HTML {body[:50]!r}")
    for m in FORMATTER.finditer(text):
        value = _value(text, m.end())
        if value in TEXT_FORMATTERS or any(b in value for b in HTML_BUILDERS) or _owner(text, m.start()) in CANVAS_KEYS:
            continue
        if not any(name == f and p in value for f, p in SAFE_FORMATTERS):
            found.append(f"{name}: ECharts formatter without escapeHtml: {value[:70]!r}")
    for m in RICH.finditer(text):
        found.append(f"{name}: ECharts rich text at offset {m.start()}")
    return found


def sources() -> dict[str, str]:
    return {p.relative_to(SRC).as_posix(): p.read_text(encoding="utf-8") for p in sorted(SRC.rglob("*.ts"))}


def test_no_unescaped_html_in_frontend():
    files = sources()
    assert len(files) > 30 and "util/text.ts" in files
    problems = [v for name, text in files.items() for v in violations(name, text)]
    assert problems == [], "\n".join(problems)


def test_scanner_catches_each_kind_of_unsafe_use():
    planted = {
        "inner": "el.innerHTML = `<b>${run}</b>`;",
        "variable": "el.innerHTML = message;",
        "adjacent": "el.insertAdjacentHTML('beforeend', name);",
        "d3": "sel.html(d => d.name);",
        "formatter": "chart.setOption({ tooltip: { formatter: (p) => p.data.message } });",
        "template": "const tip = `<div>${p.seriesName}</div>`;",
        "rich": "label: { rich: { a: {} } }",
    }
    for kind, code in planted.items():
        assert violations(f"planted/{kind}.ts", code), kind
    safe = ("el.innerHTML = `<b>${escapeHtml(run)}</b>`; el.textContent = name; "
            "x = { formatter: (p) => escapeHtml(p.name), axisLabel: { formatter: formatNumber } };"
            " const r = /[\"'`]/g;")
    assert violations("planted/safe.ts", safe) == []


def test_allowlists_name_uses_that_exist():
    """A reviewed entry whose code is gone must be dropped, not kept to cover a future use."""
    files = sources()
    for name, expr in SAFE_INTERPOLATIONS:
        assert name in files and expr in " ".join(files[name].split()), (name, expr)
    for name, prefix in SAFE_SINKS | SAFE_FORMATTERS:
        assert prefix in files[name], (name, prefix)
