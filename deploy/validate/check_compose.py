"""Validates a compose file against the Compose Specification's JSON Schema.

Usage: check_compose.py SCHEMA.json COMPOSE.yaml
"""

import json
import sys

import jsonschema
import yaml


def main() -> int:
    schema_path, compose_path = sys.argv[1:3]
    with open(schema_path, encoding="utf-8") as f:
        schema = json.load(f)
    with open(compose_path, encoding="utf-8") as f:
        compose = yaml.safe_load(f)
    # The schema names draft 2019-09 by an older URI that jsonschema does not map.
    validator = jsonschema.Draft201909Validator(schema)
    errors = sorted(validator.iter_errors(compose), key=lambda e: list(e.path))
    for error in errors:
        where = "/".join(str(p) for p in error.path) or "(root)"
        print(f"{compose_path}: {where}: {error.message}")
    if not errors:
        print(f"{compose_path}: valid against the Compose Specification")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
