"""The environment benchmark runs end to end at a tiny size and reports its ratios (never timed here)."""

from __future__ import annotations

import json

from pgjax.bench import envs as bench_envs


def test_quick_benchmark_writes_json_and_markdown(tmp_path, capsys):
    assert (
        bench_envs.main(["--quick", "--seeds", "32", "--horizon", "20", "--repeats", "1", "--out", str(tmp_path)]) == 0
    )
    result = json.loads((tmp_path / bench_envs.JSON_FILE).read_text())
    assert result["ratio_vs_gymnax_random"] > 0
    assert set(result["rates_steps_per_s"]) == set(bench_envs.CONTENDERS)
    assert "gymnax" in (tmp_path / bench_envs.MARKDOWN_FILE).read_text()


def test_bad_sizes_are_one_line_errors(tmp_path, capsys):
    assert bench_envs.main(["--seeds", "0", "--out", str(tmp_path)]) == 2
    assert "error" in capsys.readouterr().err
