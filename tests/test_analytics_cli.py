"""``gongai measures``: its help says which "now" the running figures are measured at."""

from __future__ import annotations

from typer.testing import CliRunner


def test_measures_help_says_running_matters_are_measured_at_the_wall_clock() -> None:
    from engine.cli import app

    result = CliRunner().invoke(app, ["measures", "--help"], env={"COLUMNS": "200", "NO_COLOR": "1"})
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "wall clock" in text and "/analytics/report" in text
