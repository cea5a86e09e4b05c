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


def field_selector(text):
    """metadata.name and metadata.namespace, the fields every resource supports."""
    checks = []
    for term in _split(text):
        match = re.fullmatch(r"\s*(metadata\.name|metadata\.namespace)\s*(==|=|!=)\s*([^,]*)\s*", term)
        if not match:
            raise StatusError(400, "BadRequest", f'"{term.strip()}" is not a known field selector: only "metadata.name", "metadata.namespace"')
        field, op, value = match.groups()
        checks.append((field.split(".")[1], op != "!=", value))
    return lambda obj: all((obj["metadata"].get(f, "") == v) == equal for f, equal, v in checks)
