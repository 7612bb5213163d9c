"""Done markers: one small JSON file per finished unit of work, recording what it was computed from.

Example::

    from biomed.runtime.files import files_fingerprint
    from biomed.runtime.markers import DoneMarkers

    markers = DoneMarkers("scored/done")
    inputs = files_fingerprint([shard])  # {resolved path: [size, mtime_ns]}
    output = Path("scored/data") / shard.name
    if markers.read(shard.stem, inputs) is None:  # missing, cut short, made from another input, output damaged
        ...  # do the work, write its output atomically
        markers.write(shard.stem, {"paragraphs": 120}, inputs, outputs=[output])

A marker is written last and atomically, after the output it vouches for, so a kill at any point leaves either
no marker (the unit is redone) or a complete output with its marker. Each marker records ``inputs``, any
JSON value naming what the unit was computed from (input files' fingerprints, a model version, a store version);
a marker whose recorded inputs differ from the current ones counts as missing, so a changed input is redone
instead of silently kept. Markers written by older versions of the kit, which recorded nothing, count as missing.

A marker also records the files it vouches for (``outputs``): each one's size and a hash of its first and last
64 KiB (a Parquet file's footer, with its row counts, is in its last bytes). A marker whose output file is gone,
truncated or replaced counts as missing, so the unit is redone instead of reported done with rows missing. The
check reads at most 128 KiB per file, whatever its size.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from biomed.runtime.files import read_json, write_json


INPUTS_KEY = "computed_from"
"""The key of a marker holding what its unit was computed from (the rest of the marker is the unit's payload)."""
OUTPUTS_KEY = "outputs"
"""The key of a marker holding the files it vouches for: ``{path: [size, edge hash]}``."""
EDGE_BYTES = 64 * 1024


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
        outputs = marker.get(OUTPUTS_KEY, {})
        if not isinstance(outputs, dict) or any(self._signature(path) != kept for path, kept in outputs.items()):
            return None
        return {key: value for key, value in marker.items() if key not in (INPUTS_KEY, OUTPUTS_KEY)}

    def write(self, name: str, payload: dict[str, Any], inputs: Any, outputs: Iterable[str | Path] = ()) -> None:
        """Mark unit ``name`` done, computed from ``inputs``; ``payload`` is what ``read`` returns (its counts).

        Args:
            name: the unit.
            payload: its counts (JSON-able).
            inputs: what it was computed from.
            outputs: the files it wrote (already in place): the marker counts only while they are intact.
        """
        for key in (INPUTS_KEY, OUTPUTS_KEY):
            if key in payload:
                raise ValueError(f"a marker's payload cannot use the reserved key {key!r}")
        signatures = {self._name(path): self._signature(self._name(path)) for path in outputs}
        missing = [path for path, signature in signatures.items() if signature is None]
        if missing:
            raise FileNotFoundError(f"done marker {name}: its output {missing[0]} does not exist")
        marker = {**payload, INPUTS_KEY: inputs}
        if signatures:
            marker[OUTPUTS_KEY] = signatures
        write_json(self.path(name), marker)

    def _name(self, path: str | Path) -> str:
        # outputs are named relative to the run's folder (the markers' parent): the folder may be moved whole
        path = Path(path)
        base = self.folder.parent
        if path.is_absolute() and path.resolve().is_relative_to(base.resolve()):
            return path.resolve().relative_to(base.resolve()).as_posix()
        if not path.is_absolute() and path.is_relative_to(base):
            return path.relative_to(base).as_posix()
        return str(path)

    def _signature(self, name: str) -> list | None:
        """``[size, hash of the first and last EDGE_BYTES]`` of an output, or ``None`` when it cannot be read."""
        path = Path(name) if Path(name).is_absolute() else self.folder.parent / name
        try:
            with open(path, "rb") as handle:
                size = os.fstat(handle.fileno()).st_size
                digest = hashlib.blake2b(handle.read(EDGE_BYTES), digest_size=16)
                if size > EDGE_BYTES:
                    handle.seek(max(EDGE_BYTES, size - EDGE_BYTES))
                    digest.update(handle.read(EDGE_BYTES))
        except OSError:
            return None
        return [size, digest.hexdigest()]

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
