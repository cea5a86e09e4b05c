"""Field sets for server-side apply, in the shape of Kubernetes' FieldsV1.

A field path is a tuple of elements: "f:<key>" for a map key, 'k:{"name":"x"}' for an item of a list of
named maps (containers, env, volumes, ports, ...). Other lists are atomic: owned and replaced whole, as
for CRD fields without list-type markers. The one simplification against the real structured-merge-diff:
every list of maps that all carry a unique `name` is treated as a map-list keyed by name, whatever the
schema says (Kubernetes keys container ports by containerPort, for instance).
"""
import json

# Structs Kubernetes marks `+structType=atomic`: owned and replaced whole, so a value that differs
# anywhere inside (a defaulted fieldRef.apiVersion) is a conflict on the struct itself.
ATOMIC_KEYS = {"fieldRef", "resourceFieldRef", "configMapKeyRef", "secretKeyRef"}
# A LabelSelector under spec is atomic too, for the kinds that select pods.
SELECTOR_KINDS = {"Deployment", "DaemonSet", "StatefulSet", "ReplicaSet", "Job", "PodDisruptionBudget"}

# Fields no manager owns: identity and bookkeeping the server sets.
UNOWNED_METADATA = {"name", "namespace", "uid", "resourceVersion", "generation", "creationTimestamp",
                    "managedFields", "selfLink", "deletionTimestamp"}


def _item_key(item):
    return "k:" + json.dumps({"name": item["name"]}, separators=(",", ":"))


def _is_named_list(value):
    if not value or not all(isinstance(item, dict) and "name" in item for item in value):
        return False
    names = [json.dumps(item["name"]) for item in value]
    return len(set(names)) == len(names)


def paths(obj, include_status=False, kind=None):
    """Every owned path of an object (or applied configuration)."""
    result = set()
    for key, value in obj.items():
        if key in ("apiVersion", "kind") or (key == "status" and not include_status):
            continue
        if key == "metadata" and isinstance(value, dict):
            for meta_key, meta_value in value.items():
                if meta_key not in UNOWNED_METADATA:
                    _collect(meta_value, ("f:metadata", f"f:{meta_key}"), result)
            continue
        if key == "spec" and kind in SELECTOR_KINDS and isinstance(value, dict):
            for spec_key, spec_value in value.items():
                if spec_key == "selector":
                    result.add(("f:spec", "f:selector"))
                else:
                    _collect(spec_value, ("f:spec", f"f:{spec_key}"), result)
            continue
        _collect(value, (f"f:{key}",), result)
    return result


def _collect(value, prefix, result):
    if prefix[-1][2:] in ATOMIC_KEYS and prefix[-1].startswith("f:"):
        result.add(prefix)
    elif isinstance(value, dict) and value:
        for key, child in value.items():
            _collect(child, prefix + (f"f:{key}",), result)
    elif isinstance(value, list) and _is_named_list(value):
        for item in value:
            item_prefix = prefix + (_item_key(item),)
            result.add(item_prefix)
            for key, child in item.items():
                _collect(child, item_prefix + (f"f:{key}",), result)
    else:
        result.add(prefix)


_MISSING = object()


def get(obj, path):
    """The value at a path, or _MISSING."""
    current = obj
    for element in path:
        if element.startswith("f:"):
            if not isinstance(current, dict) or element[2:] not in current:
                return _MISSING
            current = current[element[2:]]
        else:
            name = json.loads(element[2:])["name"]
            if not isinstance(current, list):
                return _MISSING
            matches = [item for item in current if isinstance(item, dict) and item.get("name") == name]
            if not matches:
                return _MISSING
            current = matches[0]
    return current


def differs(a, b, path):
    left, right = get(a, path), get(b, path)
    if path and path[-1].startswith("k:"):
        return (left is _MISSING) != (right is _MISSING)  # an item's presence, not its contents
    return left != right


def remove(obj, path):
    """Deletes the field or list item at a path; missing parents are fine."""
    parent = get(obj, path[:-1]) if len(path) > 1 else obj
    last = path[-1]
    if last.startswith("f:") and isinstance(parent, dict):
        parent.pop(last[2:], None)
    elif last.startswith("k:") and isinstance(parent, list):
        name = json.loads(last[2:])["name"]
        parent[:] = [item for item in parent if not (isinstance(item, dict) and item.get("name") == name)]


def remove_and_prune(obj, path, owned):
    """Removes a field no manager owns any more, then the maps and lists it leaves empty (unless
    someone owns them as such)."""
    remove(obj, path)
    for length in range(len(path) - 1, 0, -1):
        parent = path[:length]
        if get(obj, parent) not in ({}, []) or parent in owned:
            break
        remove(obj, parent)


def merge(target, config):
    """Merges an applied configuration into an object: maps recursively, named lists by name, the rest
    replaced."""
    for key, value in config.items():
        current = target.get(key)
        if isinstance(value, dict) and isinstance(current, dict):
            merge(current, value)  # an empty map in the configuration owns the map, not its contents
        elif isinstance(value, list) and isinstance(current, list) and _is_named_list(value) \
                and all(isinstance(i, dict) and "name" in i for i in current):
            by_name = {json.dumps(item["name"]): item for item in current}
            for item in value:
                existing = by_name.get(json.dumps(item["name"]))
                if existing is not None:
                    merge(existing, item)
                else:
                    current.append(json.loads(json.dumps(item)))
        else:
            target[key] = json.loads(json.dumps(value))


def to_fields_v1(path_set):
    """A set of paths as the nested FieldsV1 map the API returns in metadata.managedFields."""
    tree = {}
    for path in sorted(path_set):
        node = tree
        for element in path:
            node = node.setdefault(element, {})
    for path in path_set:  # an item that is owned itself and has owned children gets a "." entry
        node = tree
        for element in path:
            node = node[element]
        if node:
            node["."] = {}
    return tree


def describe(path):
    """A path as the API's conflict messages write it: .spec.replicas, .spec.containers[name="x"].image"""
    text = ""
    for element in path:
        if element.startswith("f:"):
            text += "." + element[2:]
        else:
            text += "[name=" + json.dumps(json.loads(element[2:])["name"]) + "]"
    return text
