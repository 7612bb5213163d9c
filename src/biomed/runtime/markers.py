"""Done markers: one small JSON file per finished unit of work, recording what it was computed from.

Example::

    from biomed.runtime.files import files_fingerprint
    from biomed.runtime.markers import DoneMarkers

    markers = DoneMarkers("scored/done")
    inputs = files_fingerprint([shard])  # {resolved path: [size, mtime_ns]}
    if markers.read(shard.stem, inputs) is None:  # missing, cut short, or made from another input
        ...  # do the work, write its output atomically
        markers.write(shard.stem, {"paragraphs": 120}, inputs)

A marker is written last and atomically, after the output it vouches for, so a kill at any point leaves either
no marker (the unit is redone) or a complete output with its marker. Each marker records ``inputs``, any
JSON value naming what the unit was computed from (input files' fingerprints, a model version, a store version);
a marker whose recorded inputs differ from the current ones counts as missing, so a changed input is redone
instead of silently kept. Markers written by older versions of the kit, which recorded nothing, count as missing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from biomed.runtime.files import read_json, write_json


INPUTS_KEY = "computed_from"
"""The key of a marker holding what its unit was computed from (the rest of the marker is the unit's payload)."""


class DoneMarkers:
    """The done markers of one kind of unit, one ``NAME.json`` per unit under ``folder``.

    Args:
        folder: where the markers live (created on the first write).
    """

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)

    def path(self, name: str) -> Path:
        return self.folder / f"{name}.json"

    def read(self, name: str, inputs: Any) -> dict[str, Any] | None:
        """The payload of unit ``name`` when it is done from exactly ``inputs``, else ``None``."""
        marker = read_json(self.path(name))
        if not isinstance(marker, dict) or INPUTS_KEY not in marker or marker[INPUTS_KEY] != _plain(inputs):
            return None
        return {key: value for key, value in marker.items() if key != INPUTS_KEY}

    def write(self, name: str, payload: dict[str, Any], inputs: Any) -> None:
        """Mark unit ``name`` done, computed from ``inputs``; ``payload`` is what ``read`` returns (its counts)."""
        if INPUTS_KEY in payload:
            raise ValueError(f"a marker's payload cannot use the reserved key {INPUTS_KEY!r}")
        write_json(self.path(name), {**payload, INPUTS_KEY: inputs})

    def clear(self, name: str) -> None:
        """Forget unit ``name`` (it will be redone)."""
        self.path(name).unlink(missing_ok=True)

    def done(self, names: list[str], inputs: dict[str, Any]) -> set[str]:
        """The names among ``names`` done from ``inputs[name]``."""
        return {name for name in names if self.read(name, inputs[name]) is not None}


def _plain(value: Any) -> Any:
    # a marker is compared with what was written, after a JSON round trip: tuples become lists
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value
