"""A strict parser for the Prometheus text exposition format (0.0.4), written
here so the tests do not trust keyhole's idea of the format.

Strict means: every line is a HELP, a TYPE or a sample (no blank lines, no
other comments); HELP and TYPE come once per family and before its samples;
samples of a family are contiguous; metric and label names match the
grammar; label values use only the \\\\, \\" and \\n escapes; no series is
repeated; counters are >= 0; a histogram has _bucket samples with strictly
increasing `le` ending in +Inf, cumulative (non-decreasing) counts, and
+Inf == _count, plus a _sum. Any violation raises PromError with the line.
"""
import math
import re

NAME_RE = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
LABEL_RE = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}


class PromError(AssertionError):
    pass


def _float(text, where):
    if text in ("+Inf", "Inf"):
        return math.inf
    if text == "-Inf":
        return -math.inf
    if text == "NaN":
        return math.nan
    if not re.fullmatch(r"[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?", text):
        raise PromError(f"{where}: bad number {text!r}")
    return float(text)


def _labels(s, i, where):
    """Parses {a="b",...} starting at s[i] == '{'; returns (dict, index after '}')."""
    labels = {}
    i += 1
    while True:
        if s[i:i + 1] == "}":
            return labels, i + 1
        m = LABEL_RE.match(s, i)
        if not m:
            raise PromError(f"{where}: bad label name at {s[i:]!r}")
        name = m.group(0)
        if name.startswith("__"):
            raise PromError(f"{where}: reserved label name {name!r}")
        i = m.end()
        if s[i:i + 2] != '="':
            raise PromError(f"{where}: expected =\" after label {name!r}")
        i += 2
        val = []
        while True:
            if i >= len(s):
                raise PromError(f"{where}: unterminated label value")
            c = s[i]
            if c == "\\":
                esc = s[i + 1:i + 2]
                if esc not in ("\\", '"', "n"):
                    raise PromError(f"{where}: bad escape \\{esc} in label value")
                val.append("\n" if esc == "n" else esc)
                i += 2
                continue
            if c == '"':
                i += 1
                break
            if c == "\n":
                raise PromError(f"{where}: raw newline in label value")
            val.append(c)
            i += 1
        if name in labels:
            raise PromError(f"{where}: label {name!r} repeated")
        labels[name] = "".join(val)
        if s[i:i + 1] == ",":
            i += 1
        elif s[i:i + 1] != "}":
            raise PromError(f"{where}: expected , or }} after label {name!r}")


def _family_of(sample_name, families):
    for suffix in ("_bucket", "_sum", "_count"):
        if sample_name.endswith(suffix):
            base = sample_name[:-len(suffix)]
            if families.get(base, {}).get("type") == "histogram":
                return base
    return sample_name


class Metrics:
    def __init__(self, families):
        self.families = families

    def samples(self, name):
        fam = _family_of(name, self.families)
        return [(l, v) for n, l, v in self.families.get(fam, {}).get("samples", []) if n == name]

    def value(self, name, default=0.0, **labels):
        """The value of the one series name{labels}; default if absent."""
        for l, v in self.samples(name):
            if l == labels:
                return v
        return default

    def type(self, name):
        return self.families[name]["type"]


def parse(text):
    if not text.endswith("\n"):
        raise PromError("exposition must end with a newline")
    families, seen_series, closed = {}, set(), set()
    current = None
    for no, line in enumerate(text[:-1].split("\n"), 1):
        where = f"line {no} {line!r}"
        if line.startswith("#"):
            m = re.fullmatch(r"# (HELP|TYPE) (\S+) (.*)", line)
            if not m:
                raise PromError(f"{where}: only HELP and TYPE comments are expected")
            kind, name, rest = m.groups()
            if not NAME_RE.fullmatch(name):
                raise PromError(f"{where}: bad metric name")
            fam = families.setdefault(name, {"samples": []})
            if fam["samples"]:
                raise PromError(f"{where}: {kind} after samples of {name}")
            if kind.lower() in fam:
                raise PromError(f"{where}: second {kind} for {name}")
            if kind == "TYPE":
                if rest not in TYPES:
                    raise PromError(f"{where}: unknown type {rest!r}")
                fam["type"] = rest
            else:
                if re.search(r"\\[^\\n]", rest):
                    raise PromError(f"{where}: bad escape in HELP")
                fam["help"] = rest
            if current is not None and current != name:
                closed.add(current)
            current = name
            continue
        m = NAME_RE.match(line)
        if not m:
            raise PromError(f"{where}: not a sample line")
        name, i = m.group(0), m.end()
        labels = {}
        if line[i:i + 1] == "{":
            labels, i = _labels(line, i, where)
        rest = line[i:]
        if not rest.startswith(" "):
            raise PromError(f"{where}: expected a space before the value")
        parts = rest[1:].split(" ")
        if len(parts) not in (1, 2) or (len(parts) == 2 and not re.fullmatch(r"-?\d+", parts[1])):
            raise PromError(f"{where}: expected 'value [timestamp]'")
        value = _float(parts[0], where)
        fam_name = _family_of(name, families)
        fam = families.get(fam_name)
        if fam is None or "type" not in fam or "help" not in fam:
            raise PromError(f"{where}: sample before HELP and TYPE of {fam_name}")
        if fam_name in closed:
            raise PromError(f"{where}: samples of {fam_name} are not contiguous")
        if current != fam_name:
            if current is not None:
                closed.add(current)
            current = fam_name
        key = (name, tuple(sorted(labels.items())))
        if key in seen_series:
            raise PromError(f"{where}: series repeated")
        seen_series.add(key)
        if fam["type"] == "counter" and not (value >= 0):
            raise PromError(f"{where}: counter below zero")
        fam["samples"].append((name, labels, value))
    for name, fam in families.items():
        if "type" not in fam or "help" not in fam:
            raise PromError(f"{name}: HELP or TYPE missing")
        if fam["type"] == "counter" and not name.endswith("_total"):
            raise PromError(f"{name}: counter names end in _total")
        if fam["type"] == "histogram":
            _check_histogram(name, fam["samples"])
    return Metrics(families)


def _check_histogram(name, samples):
    groups = {}
    for n, labels, v in samples:
        rest = tuple(sorted((k, x) for k, x in labels.items() if k != "le"))
        g = groups.setdefault(rest, {"buckets": [], "sum": None, "count": None})
        if n == name + "_bucket":
            if "le" not in labels:
                raise PromError(f"{name}: bucket without le")
            g["buckets"].append((_float(labels["le"], name), v))
        elif n == name + "_sum":
            g["sum"] = v
        elif n == name + "_count":
            g["count"] = v
        else:
            raise PromError(f"{name}: unexpected sample {n}")
    if not groups:
        raise PromError(f"{name}: histogram without samples")
    for g in groups.values():
        b = g["buckets"]
        if not b or b[-1][0] != math.inf:
            raise PromError(f"{name}: last bucket must be le=\"+Inf\"")
        for (le1, c1), (le2, c2) in zip(b, b[1:]):
            if not le1 < le2:
                raise PromError(f"{name}: le not increasing ({le1}, {le2})")
            if c2 < c1:
                raise PromError(f"{name}: buckets not cumulative ({c1} then {c2})")
        if g["count"] is None or g["sum"] is None:
            raise PromError(f"{name}: _count or _sum missing")
        if b[-1][1] != g["count"]:
            raise PromError(f"{name}: +Inf bucket {b[-1][1]} != _count {g['count']}")
