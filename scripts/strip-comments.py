#!/usr/bin/python3
"""Prints each C file with its comments blanked out, as FILE:LINE:TEXT lines,
so a grep for banned calls sees the code on lines that also hold a comment
and never matches words inside one. String and character literals are kept
(a "/*" inside a string is not a comment)."""
import sys


def strip(text):
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append("".join(ch if ch == "\n" else " " for ch in text[i:j]))
            i = j
        elif text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            i = j
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] != c and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            out.append(text[i:j + 1])
            i = j + 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


for path in sys.argv[1:]:
    with open(path, encoding="utf-8") as f:
        for no, line in enumerate(strip(f.read()).split("\n"), 1):
            if line.strip():
                print(f"{path}:{no}:{line}")
