"""Cut a provider's published OpenAPI document down to the operations we call and the schemas they reference.

    python tests/data/specs/trim.py openapi.yaml out.json "post /audio/transcriptions" "post /chat/completions"

Everything else of the document (info, servers, security schemes) is kept as published; unreferenced
components are dropped. The output is sorted JSON so that updates diff cleanly.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import yaml


def refs(node: Any) -> set[str]:
    """Every local `$ref` under `node`."""
    found: set[str] = set()
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/"):
            found.add(ref)
        for value in node.values():
            found |= refs(value)
    elif isinstance(node, list):
        for value in node:
            found |= refs(value)
    return found


def pointer(document: dict[str, Any], ref: str) -> Any:
    node: Any = document
    for part in ref.removeprefix("#/").split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def trim(document: dict[str, Any], operations: list[tuple[str, str]]) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for method, path in operations:
        item = document["paths"][path]
        kept = {key: value for key, value in item.items() if key not in {"get", "post", "put", "patch", "delete"}}
        paths.setdefault(path, kept)[method] = item[method]
    wanted, seen = refs(paths), set[str]()
    while wanted - seen:
        ref = sorted(wanted - seen)[0]
        seen.add(ref)
        wanted |= refs(pointer(document, ref))
    components: dict[str, Any] = {}
    for ref in sorted(seen):
        section, name = ref.removeprefix("#/components/").split("/", 1)
        components.setdefault(section, {})[name] = pointer(document, ref)
    if "securitySchemes" in document.get("components", {}):
        components["securitySchemes"] = document["components"]["securitySchemes"]
    top = {key: value for key, value in document.items() if key not in {"paths", "components", "webhooks"}}
    return {**top, "paths": paths, "components": components}


def main(source: str, target: str, *operations: str) -> None:
    text = Path(source).read_text()
    document = json.loads(text) if source.endswith(".json") else yaml.safe_load(text)
    wanted = [(op.split()[0].lower(), op.split()[1]) for op in operations]
    Path(target).write_text(json.dumps(trim(document, wanted), indent=1, sort_keys=True, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main(*sys.argv[1:])
