"""The device report the sample apps write (`device_report.json`): its one
JSON Schema (schemas/device_report.schema.json) and the checks a report must
pass to count as a device result."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

SCHEMA_PATH = Path(__file__).parent / "schemas" / "device_report.schema.json"
FORMAT = "avsep-device-report/1"


@lru_cache(maxsize=1)
def schema() -> dict:
    return json.loads(SCHEMA_PATH.read_text())


def schema_errors(report: dict) -> list[str]:
    """Every way `report` breaks the schema, one line each (empty when valid)."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(schema())
    return [f"{'/'.join(map(str, e.absolute_path)) or '(top)'}: {e.message}"
            for e in sorted(validator.iter_errors(report), key=lambda e: list(map(str, e.absolute_path)))]
