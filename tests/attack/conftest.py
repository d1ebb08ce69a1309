"""Fixtures for the attack suite: each file here is one way a hostile sandbox
tried to get out, and the test shows keyhole refusing it.

The attack tests use the same real upstreams, clients and `start_keyhole`
fixture as the black-box suite; they are loaded from tests/integration's
conftest so there is one definition of each.
"""
import importlib.util
import os
import sys

_INTEGRATION = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                            "integration")
if _INTEGRATION not in sys.path:
    sys.path.insert(0, _INTEGRATION)   # the `helpers` package

_spec = importlib.util.spec_from_file_location(
    "keyhole_integration_conftest", os.path.join(_INTEGRATION, "conftest.py"))
_shared = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_shared)

# Re-export the fixtures and hooks: pytest finds them as this module's names.
globals().update({k: v for k, v in vars(_shared).items() if not k.startswith("__")})
