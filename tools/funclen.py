#!/usr/bin/python3
"""Lengths of C function definitions (first line of the definition to its closing brace).

    tools/funclen.py [--over N] FILE...

Prints "LINES FILE:LINE NAME" for each function longer than N lines (default 0), longest
first. A definition is a line at column 0 that names a function and ends with ')' or ')'
followed by the opening brace at column 0 on the next line or on the same line."""
import re
import sys

DEF = re.compile(r'^(?!static\s+const\b)[A-Za-z_][^;=]*?\b([A-Za-z_]\w*)\s*\(')


def functions(path):
    lines = open(path, encoding='utf-8', errors='replace').read().split('\n')
    i = 0
    while i < len(lines):
        m = DEF.match(lines[i])
        if m and not lines[i].startswith(('typedef', '#', 'struct ', 'enum ', 'union ')) or \
           (m and re.match(r'^(struct|enum)\s+\w+\s*\*?\s*\w+\s*\(', lines[i])):
            # find the line with the opening brace at column 0 (K&R style for functions)
            j = i
            while j < len(lines) and j < i + 12 and not lines[j].startswith('{'):
                if lines[j].rstrip().endswith(';'):
                    j = None
                    break
                j += 1
            if j is not None and j < len(lines) and lines[j].startswith('{'):
                k = j + 1
                while k < len(lines) and not lines[k].startswith('}'):
                    k += 1
                yield m.group(1), i + 1, k - i + 1
                i = k + 1
                continue
        i += 1


def main(argv):
    over = 0
    if len(argv) >= 2 and argv[0] == '--over':
        over = int(argv[1])
        argv = argv[2:]
    out = []
    for path in argv:
        for name, line, n in functions(path):
            if n > over:
                out.append((n, path, line, name))
    out.sort(key=lambda t: (-t[0], t[1], t[2]))
    for n, path, line, name in out:
        print(f'{n:5d} {path}:{line} {name}')


if __name__ == '__main__':
    main(sys.argv[1:])
