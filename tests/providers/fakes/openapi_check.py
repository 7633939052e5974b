"""Requests checked against a kept copy of the provider's published OpenAPI document (`tests/data/specs/`).

A fake that mixes in `SpecChecked` asks `spec_problems(request)` before answering: the method and path must be an
operation of the document, the query parameters declared ones of the right type (required ones present), and the
JSON or multipart body valid for the operation's request schema (required fields, types, enums, patterns,
`additionalProperties: false`). The fake answers a violation with the provider's own 400, keeps the reason in
`spec_violations`, and fails the test when it stops (`close_spec_check`), even when the client swallowed the 400
(the avatar renderer falls back to the offline presenter on a refusal). A test that sends a bad request on purpose
takes the violations it expects with `take_spec_violations()`.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jsonschema.exceptions import best_match
from openapi_schema_validator import OAS30Validator, OAS31Validator

from tests.providers.fakes.base import Recorded, multipart

SPECS = Path(__file__).resolve().parents[2] / "data" / "specs"
_METHODS = ("get", "post", "put", "patch", "delete")


@dataclass(frozen=True)
class Operation:
    method: str
    template: str
    pattern: re.Pattern[str]
    definition: dict[str, Any]
    parameters: tuple[dict[str, Any], ...]


class OpenApiSpec:
    """One kept OpenAPI document (3.0 or 3.1) and the operations it declares."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.document: dict[str, Any] = json.loads((SPECS / name).read_text())
        self.validator_class = OAS31Validator if str(self.document["openapi"]).startswith("3.1") else OAS30Validator
        self.operations: list[Operation] = []
        for template, item in self.document["paths"].items():
            shared = tuple(item.get("parameters", []))
            regex = re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template))
            for method in _METHODS:
                if method in item:
                    definition = item[method]
                    parameters = shared + tuple(definition.get("parameters", []))
                    self.operations.append(
                        Operation(method.upper(), template, re.compile(regex), definition, parameters)
                    )
        # A fixed path ("/talks") wins over a template that would also match it ("/talks/{id}" does not, but be sure).
        self.operations.sort(key=lambda op: op.template.count("{"))

    def resolve(self, node: Any) -> Any:
        while isinstance(node, dict) and isinstance(node.get("$ref"), str):
            current: Any = self.document
            for part in node["$ref"].removeprefix("#/").split("/"):
                current = current[part]
            node = current
        return node

    def problems(
        self, method: str, path: str, query: dict[str, list[str]], content_type: str, body: bytes
    ) -> list[str]:
        """Why the request is not one the document allows ([] when it is)."""
        operation = next((op for op in self.operations if op.method == method and op.pattern.fullmatch(path)), None)
        if operation is None:
            return [f"{method} {path} is not an operation of {self.name}"]
        where = f"{method} {operation.template}"
        found = [f"{where}: {p}" for p in self._query_problems(operation, query)]
        found += [f"{where}: {p}" for p in self._body_problems(operation, content_type, body)]
        return found

    def _validate(self, instance: Any, schema: dict[str, Any]) -> list[str]:
        # Local refs ("#/components/...") resolve against the root: give the schema the document's components.
        validator = self.validator_class({**schema, "components": self.document.get("components", {})})
        error = best_match(validator.iter_errors(instance))
        if error is None:
            return []
        at = "/".join(str(part) for part in error.absolute_path) or "(the whole value)"
        return [f"{at}: {error.message[:400]}"]

    def _query_problems(self, operation: Operation, query: dict[str, list[str]]) -> list[str]:
        declared = {p["name"]: p for p in map(self.resolve, operation.parameters) if p.get("in") == "query"}
        found = [f"query parameter {name!r} is not in the spec" for name in query if name not in declared]
        for name, parameter in declared.items():
            if name not in query:
                if parameter.get("required"):
                    found.append(f"required query parameter {name!r} is missing")
                continue
            schema = self.resolve(parameter.get("schema", {}))
            found += [f"query {name}: {p}" for p in self._validate(self._coerce(query[name][0], schema), schema)]
        return found

    def _body_problems(self, operation: Operation, content_type: str, body: bytes) -> list[str]:
        request_body = self.resolve(operation.definition.get("requestBody"))
        if not request_body:
            return ["the operation takes no body"] if body else []
        if not body:
            return ["the request body is required"] if request_body.get("required") else []
        media = content_type.split(";")[0].strip().lower()
        content = request_body.get("content", {})
        if media not in content:
            return [f"Content-Type {media or '(none)'} is not one of {sorted(content)}"]
        schema = content[media].get("schema", {})
        if media == "application/json":
            try:
                instance = json.loads(body)
            except ValueError as exc:
                return [f"the body is not JSON: {exc}"]
        elif media == "multipart/form-data":
            instance = self._form(content_type, body, self.resolve(schema))
        else:
            return []  # raw uploads: nothing to validate but the content type
        return self._validate(instance, schema)

    def _form(self, content_type: str, body: bytes, schema: dict[str, Any]) -> dict[str, Any]:
        """The multipart body as the JSON the schema describes: `name[]` and repeated names become arrays,
        files a placeholder string, numbers and booleans parsed."""
        properties = {name: self.resolve(s) for name, s in (schema.get("properties") or {}).items()}
        form: dict[str, Any] = {}
        for part in multipart(content_type, body):
            name = part.name.removesuffix("[]")
            value: Any = "<file>" if part.filename is not None else part.data.decode(errors="replace")
            prop = properties.get(name, {})
            if part.filename is None:
                value = self._coerce(value, prop.get("items", {}) if "array" in self._types(prop) else prop)
            if "array" in self._types(prop) or part.name.endswith("[]"):
                form.setdefault(name, []).append(value)
            else:
                form[name] = value
        return form

    def _types(self, schema: dict[str, Any]) -> set[str]:
        schema = self.resolve(schema)
        kinds = schema.get("type", [])
        found = {kinds} if isinstance(kinds, str) else set(kinds)
        for option in schema.get("anyOf", []) + schema.get("oneOf", []):
            found |= self._types(option)
        return found

    def _coerce(self, text: str, schema: dict[str, Any]) -> Any:
        kinds = self._types(schema)
        if "string" in kinds:
            return text
        if "boolean" in kinds and text in ("true", "false"):
            return text == "true"
        if kinds & {"number", "integer"}:
            try:
                number = float(text)
            except ValueError:
                return text
            return int(number) if number.is_integer() and "integer" in kinds else number
        return text


@functools.cache
def spec(name: str) -> OpenApiSpec:
    """The kept document `tests/data/specs/<name>`, loaded once per session."""
    return OpenApiSpec(name)


class SpecChecked:
    """Mixed into a fake: `spec_problems` checks a request, `close_spec_check` fails the test on violations."""

    spec_name: str = ""
    spec_prefix: str = ""  # what the fake's paths carry before the document's ("/v1" for OpenAI)
    spec_violations: list[str]

    def spec_problems(self, request: Recorded) -> list[str]:
        if not hasattr(self, "spec_violations"):
            self.spec_violations = []
        query = {name: [value] for name, value in request.query.items()}
        path = request.path.removeprefix(self.spec_prefix) or "/"
        found = spec(self.spec_name).problems(request.method, path, query, request.content_type, request.body)
        self.spec_violations.extend(found)
        return found

    def take_spec_violations(self) -> list[str]:
        """The violations seen so far (cleared: the test expected them)."""
        taken, self.spec_violations = list(getattr(self, "spec_violations", [])), []
        return taken

    def close_spec_check(self) -> None:
        """AssertionError naming every request that broke the spec (then forgotten)."""
        found = self.take_spec_violations()
        if found:
            raise AssertionError(f"requests that break {self.spec_name}:\n  " + "\n  ".join(found))
