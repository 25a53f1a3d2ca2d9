"""The README's performance tables are what benchmarks/summary.py makes from the committed
reports, and benchmarks/plot.py plots a committed report (when matplotlib is installed)."""
from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "benchmarks"
if not (BENCH / "summary.py").is_file():
    pytest.skip("benchmarks/ is not here (tests copied out of the source tree)", allow_module_level=True)


def _module(name: str):
    spec = importlib.util.spec_from_file_location(f"_bench_{name}", BENCH / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_readme_tables_are_generated_from_the_reports():
    summary = _module("summary")
    text = (ROOT / "README.md").read_text()
    blocks = list(summary.BEGIN.finditer(text))
    assert len(blocks) >= 5, "the README's performance tables should carry the generated markers"
    assert summary.update_readme(text, ROOT) == text, \
        "README tables are stale: run python benchmarks/summary.py --readme README.md"


def test_every_family_has_a_summary():
    summary = _module("summary")
    for path in sorted((BENCH / "reports").glob("*.json")):
        table = summary.summarize(json.loads(path.read_text()))
        assert table.count("|") > 10 and "cores" in table, path.name


def test_plot_of_a_report(tmp_path):
    plot = _module("plot")
    if not plot.have_matplotlib():
        pytest.skip("matplotlib is not installed; plots not tested")
    report = json.loads((BENCH / "reports" / "2026-11-28-train-full.json").read_text())
    written = plot.plot_report(report, "train", tmp_path)
    assert [p.name for p in written] == ["train-train-float32.png"]
    assert written[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    caption = plot.machine_caption(report)
    assert "AMD EPYC" in caption and "numpy" in caption and "torch" in caption and "ISA avx512" in caption


def test_plot_without_matplotlib_says_so(monkeypatch, capsys):
    plot = _module("plot")
    monkeypatch.setattr(plot, "have_matplotlib", lambda: False)
    assert plot.main([str(BENCH / "reports" / "2026-11-28-train-full.json")]) == 0
    assert "matplotlib is not installed" in capsys.readouterr().err
