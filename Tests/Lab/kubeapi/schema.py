"""Structural schemas of CRDs, as kube-apiserver applies them to custom resources.

What the real server does (apiextensions-apiserver and structured-merge-diff, v1.36):
- server-side apply builds a typed object from the schema first: a field the schema does not declare,
  or a value of the wrong type, fails the request with 500 "failed to create typed patch object
  (NS/NAME; GROUP/VERSION, Kind=KIND): .spec.x: field not declared in schema" (or "expected numeric
  (int or float), got string"), every time;
- a create or update (POST/PUT) prunes undeclared fields and says so in a Warning header
  (`299 - "unknown field \\"spec.x\\""`), or refuses them with 400 under fieldValidation=Strict; a
  wrong type is a 422 Invalid.
`x-kubernetes-preserve-unknown-fields` keeps anything below it; `x-kubernetes-int-or-string` takes both.
"""

TYPE_WORDS = {"integer": "numeric (int or float)", "number": "numeric (int or float)", "string": "string",
              "boolean": "bool", "object": "map", "array": "list"}


def _kind_of(value):
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    return "null"


def _fits(schema, value):
    if value is None:
        return True
    if schema.get("x-kubernetes-int-or-string"):
        return isinstance(value, (int, str)) and not isinstance(value, bool)
    wanted = schema.get("type")
    if not wanted:
        return True
    kind = _kind_of(value)
    if wanted == "integer":
        return kind == "number" and float(value).is_integer()
    return kind == wanted or (wanted == "number" and kind == "number")


def problems(schema, value, path=""):
    """[(kind, path, detail)]: kind is "unknown" (an undeclared field) or "type" (a wrong type)."""
    found = []
    if not schema or schema.get("x-kubernetes-preserve-unknown-fields") and not schema.get("properties"):
        return found
    if not _fits(schema, value):
        return [("type", path, f"expected {TYPE_WORDS.get(schema.get('type'), schema.get('type'))}, got {TYPE_WORDS.get(_kind_of(value), _kind_of(value))}")]
    if isinstance(value, dict):
        properties = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        for key, child in value.items():
            if path == "" and key in ("apiVersion", "kind", "metadata"):
                continue
            sub = f"{path}.{key}"
            if key in properties:
                found += problems(properties[key], child, sub)
            elif isinstance(extra, dict):
                found += problems(extra, child, sub)
            elif not schema.get("x-kubernetes-preserve-unknown-fields") and extra is not True:
                found.append(("unknown", sub, "field not declared in schema"))
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for index, item in enumerate(value):
            found += problems(schema["items"], item, f"{path}[{index}]")
    return found


def prune(schema, value, path=""):
    """Removes undeclared fields in place; returns their paths (without the leading dot)."""
    removed = []
    if not schema or not isinstance(value, dict) or schema.get("x-kubernetes-preserve-unknown-fields"):
        return removed
    properties = schema.get("properties") or {}
    extra = schema.get("additionalProperties")
    for key in list(value):
        if path == "" and key in ("apiVersion", "kind", "metadata"):
            continue
        sub = f"{path}.{key}" if path else key
        if key in properties:
            child = value[key]
            removed += prune(properties[key], child, sub)
            if isinstance(child, list) and isinstance(properties[key].get("items"), dict):
                for index, item in enumerate(child):
                    removed += prune(properties[key]["items"], item, f"{sub}[{index}]")
        elif isinstance(extra, dict):
            removed += prune(extra, value[key], sub)
        elif extra is not True:
            removed.append(sub)
            del value[key]
    return removed


def version_schema(crd, version):
    spec = crd.get("spec") or {}
    for v in spec.get("versions") or []:
        if v.get("name") == version:
            return ((v.get("schema") or spec.get("validation") or {}).get("openAPIV3Schema")) or {}
    return {}
