#!/usr/bin/python3
"""Include directions and include cycles in src/.

Reads the layer table src/LAYERS and checks every `#include "layer/x.h"` of
every file under src/ against it; then looks for cycles between modules (a
module is x.c with its x.h; x depends on y when x.c or x.h includes y.h).
Prints one line per finding and exits 1 if there is any.
"""
import os
import re
import sys

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def read_table(path):
    allowed = {}
    for line in open(path):
        line = line.split("#", 1)[0].split()
        if not line:
            continue
        allowed[line[0]] = set() if line[1:] == ["-"] else set(line[1:])
    return allowed


def sources(src):
    for dirpath, _, names in os.walk(src):
        for name in sorted(names):
            if name.endswith((".c", ".h")):
                yield os.path.relpath(os.path.join(dirpath, name), src)


def layer_of(rel):
    return rel.split("/", 1)[0] if "/" in rel else rel


def check_directions(src, allowed, includes):
    bad = []
    for rel, incs in includes.items():
        layer = layer_of(rel)
        if layer not in allowed:
            bad.append(f"{rel}: folder '{layer}' is not in src/LAYERS")
            continue
        for inc in incs:
            if "/" not in inc:
                bad.append(f'{rel}: #include "{inc}" names no layer; write "<layer>/{inc}"')
                continue
            target = layer_of(inc)
            if not os.path.exists(os.path.join(src, inc)):
                bad.append(f'{rel}: #include "{inc}": no such file under src/')
            elif target != layer and target not in allowed[layer]:
                bad.append(f'{rel}: #include "{inc}": {layer} may not include {target} (src/LAYERS)')
    return bad


def module(rel):
    return os.path.splitext(rel)[0]


def find_cycles(includes):
    deps = {}
    for rel, incs in includes.items():
        m = module(rel)
        deps.setdefault(m, set())
        for inc in incs:
            t = module(inc)
            if t != m:
                deps[m].add(t)
    # Tarjan's strongly connected components; any component of two or more
    # modules is a cycle.
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(deps.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(deps):
        if v not in index:
            visit(v)
    return out


def main():
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    src = os.path.join(root, "src")
    allowed = read_table(os.path.join(src, "LAYERS"))
    includes = {}
    for rel in sources(src):
        text = open(os.path.join(src, rel), encoding="utf-8").read()
        includes[rel] = INCLUDE.findall(text)
    bad = check_directions(src, allowed, includes)
    for comp in find_cycles(includes):
        bad.append("include cycle between modules: " + " <-> ".join(comp))
    for line in bad:
        print("layers:", line)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
