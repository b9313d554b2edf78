"""Every fenced python and shell block of README.md and docs/*.md runs as written.

One test per block (``README.md:55`` is the block whose fence opens on line 55). The blocks of a
page run in order in one fresh process and working directory prepared with the demo's files;
blocks marked ``<!-- skip: reason -->`` are skipped with that reason, and printed outputs shown in
an ``output`` block are compared. The end of the run lists what ran and what was skipped.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from docs_blocks import (
    ALLOWED_SKIPS,
    ROOT,
    Block,
    collect,
    collect_page,
    outputs_match,
    pages,
    prepare_demo,
    prepare_workdir,
    run_page,
)

BLOCKS = collect()
_REPORT: dict[str, str] = {}  # block id -> "passed" / "failed" / "skipped: reason"
_CPU: dict[str, float] = {}  # page -> CPU seconds its blocks took (their commands included)


class _Summary:
    """Prints, at the end of the run, how many documentation blocks ran and which were skipped."""

    def pytest_terminal_summary(self, terminalreporter):
        if not _REPORT:
            return
        counts = Counter(v.split(":")[0] for v in _REPORT.values())
        terminalreporter.section("documentation blocks")
        terminalreporter.line(f"{len(_REPORT)} blocks: {counts['passed']} ran and passed, "
                              f"{counts['failed']} failed, {counts['skipped']} skipped")
        for block_id, outcome in _REPORT.items():
            if outcome != "passed":
                terminalreporter.line(f"  {block_id}: {outcome}")
        if _CPU:
            costly = ", ".join(f"{page} {cpu:.0f} s" for page, cpu in sorted(_CPU.items(), key=lambda kv: -kv[1])[:5])
            terminalreporter.line(f"CPU time of the blocks: {sum(_CPU.values()):.0f} s (most: {costly})")


@pytest.fixture(scope="module", autouse=True)
def _summary(request):
    plugin = _Summary()
    request.config.pluginmanager.register(plugin, "cnnvis-docs-summary")
    yield
    # Left registered: the terminal summary comes after the module's teardown.


@pytest.fixture(scope="session")
def demo_files(tmp_path_factory) -> Path:
    return prepare_demo(tmp_path_factory.mktemp("docs-demo") / "demo")


@pytest.fixture(scope="session")
def page_results(request, tmp_path_factory, demo_files):
    """``page -> {block id: result}``. The pages of the selected blocks run as soon as the first
    block asks, two at a time (each page is one process of its own, so they cannot disturb each
    other): the docs take half the time on a two-core machine."""
    import os
    from concurrent.futures import ThreadPoolExecutor

    selected = [item.callspec.params["block"] for item in request.session.items
                if item.originalname == "test_block_runs_as_written"]
    wanted = list(dict.fromkeys(b.page for b in selected if not b.skip))
    pool = ThreadPoolExecutor(max_workers=max(1, min(2, os.cpu_count() or 1)))
    futures: dict = {}

    def start(page: str) -> None:
        blocks = [b for b in BLOCKS if b.page == page]
        workdir = prepare_workdir(tmp_path_factory.mktemp("docs-" + Path(page).stem), demo_files)
        futures[page] = pool.submit(run_page, blocks, workdir)

    def results(page: str) -> dict:
        if not futures:
            for name in wanted:
                start(name)
        if page not in futures:
            start(page)
        done = futures[page].result()
        _CPU[page] = sum(r.get("cpu_seconds", 0.0) for r in done.values())
        return done

    yield results
    pool.shutdown(wait=True)


@pytest.mark.parametrize("block", BLOCKS, ids=[b.id for b in BLOCKS])
def test_block_runs_as_written(block: Block, page_results):
    if block.skip:
        _REPORT[block.id] = f"skipped: {block.skip}"
        pytest.skip(block.skip)
    _REPORT[block.id] = "failed"
    result = page_results(block.page)[block.id]
    assert result["ok"], f"{block.id} ({block.lang}) failed:\n{block.code}\n{result['error']}"
    if block.expected is not None:
        assert outputs_match(block.expected, result["stdout"]), (
            f"{block.id} printed\n{result['stdout']}\ninstead of\n{block.expected}")
    _REPORT[block.id] = "passed"


def test_collector_finds_every_block():
    """Each page's fences are all accounted for: run, skipped with a reason, or not code."""
    allowed_other = {"output", "toml", "text", "plain", "json", "ini", "yaml"}
    for page in pages():
        text = page.read_text()
        blocks, other = collect_page(page)
        opening = text.count("\n```") + text.startswith("```")
        assert opening == 2 * (len(blocks) + len(other) + _outputs(text)), page
        assert {lang for _, lang in other} <= allowed_other, (page, other)
    assert len(BLOCKS) >= 60 and sum(b.lang == "python" for b in BLOCKS) >= 40


def _outputs(text: str) -> int:
    return text.count("```output\n")


def test_skips_say_why_with_an_allowed_reason():
    skipped = [b for b in BLOCKS if b.skip]
    assert skipped, "the trtexec and Jetson examples need hardware this machine lacks"
    for b in skipped:
        assert any(word in b.skip for word in ALLOWED_SKIPS), f"{b.id}: skip reason {b.skip!r}"


def test_collector_reads_markers_and_outputs(tmp_path):
    page = tmp_path / "docs" / "x.md"
    page.parent.mkdir()
    page.write_text("# x\n\n<!-- skip: needs a GPU -->\n```bash\nnvidia-smi\n```\n\n"
                    "```python\nprint(2 + 2)\n```\n```output\n4\n```\n\n```toml\na = 1\n```\n")
    blocks, other = collect_page(page, tmp_path)
    assert [(b.line, b.lang, b.skip, b.expected) for b in blocks] == [
        (4, "bash", "needs a GPU", None), (8, "python", None, "4\n")]
    assert other == [(15, "toml")]
    assert outputs_match("Explanation(layer='x', maps=...)", "Explanation(layer='x', maps=(4, 16, 16))\n")
    assert not outputs_match("(4, 32, 16, 16)", "(4, 32, 8, 8)")
    assert ROOT.joinpath("README.md").is_file()


def test_magic_drops_a_trailing_comment_and_keeps_quoted_hashes():
    pytest.importorskip("IPython")
    from cnnvis.notebook.magic import parse_line

    args = parse_line("model --input x[:4] --target 3   # names and expressions from your namespace")
    assert (args.model, args.inputs, args.target, args.method) == ("model", "x[:4]", "3", None)
    args = parse_line('"runs #2/model.pt2" --classes "[\'#1\', \'#2\']"  # a comment')
    assert (args.model, args.classes) == ("runs #2/model.pt2", "['#1', '#2']")


def test_index_lists_every_page_and_its_links_resolve():
    import re

    index = ROOT / "docs" / "index.md"
    links = re.findall(r"\]\(([^)#]+)", index.read_text())
    listed = {(index.parent / link).resolve() for link in links}
    pages_here = {p.resolve() for p in (ROOT / "docs").glob("*.md") if p.name != "index.md"}
    assert pages_here <= listed, sorted(p.name for p in pages_here - listed)
    assert {(ROOT / "docs" / name).resolve() for name in ("architecture.md", "security.md")} <= listed
    assert (ROOT / "README.md").resolve() in listed
    assert all(path.is_file() for path in listed), sorted(str(p) for p in listed if not p.is_file())
