"""Label and field selectors, as LIST takes them in ?labelSelector= and ?fieldSelector=."""
import re

from .store import StatusError

_TERM = re.compile(r"^\s*(!?)\s*([A-Za-z0-9./_-]+)\s*(?:(==|=|!=)\s*([A-Za-z0-9._-]*)|\s+(in|notin)\s*\(([^)]*)\))?\s*$")


def _split(text):
    """Splits on commas outside parentheses: `a in (x,y),b=c` → two terms."""
    terms, depth, current = [], 0, ""
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            terms.append(current)
            current = ""
        else:
            current += char
    if current.strip():
        terms.append(current)
    return terms


class LabelSelector:
    def __init__(self, text):
        self.terms = []
        for term in _split(text):
            match = _TERM.match(term)
            if not match:
                raise StatusError(400, "BadRequest", f"unable to parse requirement: invalid label selector term {term.strip()!r}")
            negated, key, op, value, set_op, values = match.groups()
            if negated and (op or set_op):
                raise StatusError(400, "BadRequest", f"unable to parse requirement: {term.strip()!r}")
            if set_op:
                self.terms.append((key, set_op, {v.strip() for v in values.split(",") if v.strip()}))
            elif op:
                self.terms.append((key, "!=" if op == "!=" else "=", value))
            else:
                self.terms.append((key, "!exists" if negated else "exists", None))

    def matches(self, labels):
        return all(self._holds(key, op, value, labels) for key, op, value in self.terms)

    @staticmethod
    def _holds(key, op, value, labels):
        present, actual = key in labels, labels.get(key)
        if op == "=":
            return present and actual == value
        if op == "!=":
            return actual != value
        if op == "in":
            return present and actual in value
        if op == "notin":
            return not present or actual not in value
        return present if op == "exists" else not present


# The fields each kind can be selected on besides metadata.name and metadata.namespace (kube-apiserver's
# field label conversions): kubectl describe lists an object's events by involvedObject; drains list a
# node's pods by spec.nodeName.
FIELDS = {
    "Event": {"involvedObject.kind", "involvedObject.namespace", "involvedObject.name", "involvedObject.uid",
              "involvedObject.apiVersion", "involvedObject.resourceVersion", "involvedObject.fieldPath", "reason",
              "reportingComponent", "source", "type"},
    "Pod": {"spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName", "status.phase",
            "status.podIP", "status.nominatedNodeName"},
    "Node": {"spec.unschedulable"},
    "Secret": {"type"},
}


def field_selector(text, kind=None):
    """`path=value`, `path==value`, `path!=value` terms on the fields the kind supports."""
    allowed = {"metadata.name", "metadata.namespace"} | FIELDS.get(kind, set())
    checks = []
    for term in _split(text):
        match = re.fullmatch(r"\s*([A-Za-z.]+)\s*(==|=|!=)\s*([^,]*)\s*", term)
        if not match or match.group(1) not in allowed:
            field = match.group(1) if match else term.strip()
            raise StatusError(400, "BadRequest", f'"{field}" is not a known field selector: only "' + '", "'.join(sorted(allowed)) + '"')
        field, op, value = match.groups()
        checks.append((field.split("."), op != "!=", value))

    def value_of(obj, path):
        for key in path:
            obj = obj.get(key) if isinstance(obj, dict) else None
        return "" if obj is None else str(obj).lower() if isinstance(obj, bool) else str(obj)
    return lambda obj: all((value_of(obj, path) == v) == equal for path, equal, v in checks)
