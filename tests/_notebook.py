"""A real IPython shell seen as a notebook front end sees it: every display call recorded.

`RecordingPublisher` replaces the shell's display publisher (the object
``IPython.display.display`` publishes through) and keeps each output with its
``display_id`` and whether it was an update; `Notebook` runs cells and returns what they
showed. The ``shell`` and ``nb`` fixtures (in conftest.py) put them together.
"""

from __future__ import annotations

import base64
import io
import re
import time
from dataclasses import dataclass, field
from typing import Any

from IPython.core.displaypub import DisplayPublisher

import nbimages
from nbimages.magics import magics_for

_DATA_URL = re.compile(r'src="data:image/(\w+);base64,([A-Za-z0-9+/=]+)"')


@dataclass
class Published:
    data: dict[str, Any]
    metadata: dict[str, Any]
    display_id: str | None
    update: bool
    at: float

    @property
    def meta(self) -> dict[str, Any]:
        return (self.metadata or {}).get("nbimages", {})

    @property
    def kind(self) -> str | None:
        return self.meta.get("kind")

    @property
    def text(self) -> str:
        return str(self.data.get("text/plain", ""))

    @property
    def html(self) -> str:
        return str(self.data.get("text/html", ""))

    def images(self) -> list[Any]:
        """The pictures embedded in the HTML, decoded with PIL."""
        from PIL import Image as PIL

        out = []
        for _, payload in _DATA_URL.findall(self.html):
            pil = PIL.open(io.BytesIO(base64.b64decode(payload)))
            pil.load()
            out.append(pil)
        return out


class RecordingPublisher(DisplayPublisher):
    """Records what would go to the front end; prints nothing."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.outputs: list[Published] = []

    def publish(self, data: dict[str, Any], metadata: dict[str, Any] | None = None, source: Any = None, *,
                transient: dict[str, Any] | None = None, update: bool = False, **kwargs: Any) -> None:
        self.outputs.append(Published(dict(data), dict(metadata or {}), (transient or {}).get("display_id"),
                                      update, time.perf_counter()))

    def clear_output(self, wait: bool = False) -> None:  # pragma: no cover - the magics never clear
        raise AssertionError("the magics must update their output in place, not clear it")


@dataclass
class Notebook:
    """A shell with nbimages loaded, the display recorder and the simulator behind it."""

    shell: Any
    pub: RecordingPublisher
    simulator: Any
    capfd: Any
    seen: int = field(default=0)

    def run(self, source: str) -> list[Published]:
        """Run ``source`` as one cell; return what it displayed. No traceback may appear."""
        result = self.shell.run_cell(source, store_history=True)
        out, err = self.capfd.readouterr()
        assert "Traceback" not in out + err, out + err
        assert result.error_in_exec is None and result.error_before_exec is None, (out, err)
        new = self.pub.outputs[self.seen:]
        self.seen = len(self.pub.outputs)
        return new

    def imagine(self, options: str, prompt: str) -> list[Published]:
        return self.run(f"%%imagine {options}\n{prompt}\n")

    @property
    def magics(self) -> Any:
        return magics_for(self.shell)

    @property
    def conversation(self) -> nbimages.Conversation:
        return self.magics.conversation

    def requests(self, path: str | None = None) -> list[Any]:
        return [r for r in self.simulator.requests if path is None or r.path.endswith(path)]
