"""Import the service's model code (switchboard.embeddings, switchboard.routing.classifier) in the training venv.

The training venv has numpy and the training libraries, not the gateway's dependencies, so the `switchboard`
package is registered as a bare namespace here: its submodules import without running its `__init__`.
"""

from __future__ import annotations

import sys
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "service" / "switchboard"

if "switchboard" not in sys.modules:
    for name, path in (("switchboard", PACKAGE), ("switchboard.routing", PACKAGE / "routing")):
        module = types.ModuleType(name)
        module.__path__ = [str(path)]
        sys.modules[name] = module
