"""The write path's speed-ups keep what is stored (issue 14).

- Plain ``JSON`` columns are written and read with orjson (``json_column_text`` / ``json_column_value``): the
  values read back are those written, what the standard library refused stays refused, and text the standard
  library wrote (spaced, ASCII-escaped, even ``NaN``) still reads.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone

import pytest
from sqlalchemy import select

from engine.persistence import tables as t
from engine.persistence.db import make_engine, migrate
from engine.persistence.tables import json_column_text, json_column_value

VALUES = [{"名称": "规划许可", "n": 3, "x": 0.1, "big": 2**70, "nested": [None, True, {"1": []}]}, [], "text", 1.5e-7]


@pytest.mark.parametrize("value", VALUES)
def test_json_columns_read_back_what_was_written(value) -> None:
    assert json_column_value(json_column_text(value)) == value == json.loads(json.dumps(value))


def test_json_columns_refuse_what_the_standard_library_refused_and_read_its_old_text() -> None:
    @dataclass
    class Point:
        x: int

    for refused in ({"at": datetime.now(timezone.utc)}, {"p": Point(1)}, {"s": {1, 2}}):
        with pytest.raises(TypeError):
            json_column_text(refused)
    old = json.dumps({"名称": "规划许可", "ratio": float("nan")})  # spaced, \\u-escaped, NaN
    read = json_column_value(old)
    assert read["名称"] == "规划许可" and read["ratio"] != read["ratio"]
    assert json_column_text({1: "a"}) == json.dumps({1: "a"}, separators=(",", ":"))  # keys become text alike


def test_a_json_column_round_trips_through_the_database(tmp_path) -> None:
    db = make_engine(f"sqlite:///{tmp_path / 'j.db'}")
    migrate(db)
    files = {"模型.bpmn": "<bpmn/>", "sizes": [1, 2.5, None]}
    with db.begin() as conn:
        conn.execute(t.definitions.insert().values(process_id="p", version=1, content_hash="h", files=files,
                                                   deployed_at=datetime.now(timezone.utc), deployed_by=None))
        stored = conn.exec_driver_sql("SELECT files FROM definitions").scalar()
        assert conn.execute(select(t.definitions.c.files)).scalar() == files
    assert "模型" in stored and ", " not in stored  # UTF-8, compact
    db.dispose()
