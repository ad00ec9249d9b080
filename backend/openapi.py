"""Print the OpenAPI document; the frontend's typed client is generated from it."""

from __future__ import annotations

import json
import sys

from backend.main import create_app

if __name__ == "__main__":
    json.dump(create_app().openapi(), sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")
