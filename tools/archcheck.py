#!/usr/bin/python3
"""The architecture check of `make lint` (docs/architecture.md).

    tools/archcheck.py [--doc FILE] [BUILD_DIR]

Reads the table of allowed edges from docs/architecture.md ("## Allowed edges") and checks:
  0. the table itself has no cycle;
  1. includes: every #include "X/..." in the product sources goes along an allowed edge;
  2. calls: every symbol an object of BUILD_DIR/obj uses and another unit defines goes along
     an allowed edge (objects are those of the product sources; BUILD_DIR defaults to build);
  3. no call cycle between the files of hsm/ (objects of BUILD_DIR/obj/hsm);
  4. SQL (sqlite3_* or <sqlite3.h>) only in firmware/store/;
  5. nothing at the top of firmware/ but main.c (and its make fragments);
  6. no product function over 100 lines unless it is in the table "## Long functions"
     (at most 3 rows).
A unit is a firmware folder (firmware/ops -> "ops"), "main" (firmware/main.c), or a top-level
module (board, kmip, hsm, tools). Prints each violation; exits 1 if there is any."""
import collections
import glob
import os
import re
import subprocess
import sys

DOC = 'docs/architecture.md'
PRODUCT_DIRS = ('board', 'kmip', 'hsm', 'firmware', 'tools')
MAX_LONG = 3
MAX_LINES = 100


def unit_of(path):
    parts = path.split('/')
    if parts[0] == 'firmware':
        if len(parts) == 2:
            return 'main' if parts[1] == 'main.c' else 'firmware'
        return parts[1]
    return parts[0]


def table(text, heading):
    """Rows of the first markdown table after '## heading' (cells stripped, backticks gone)."""
    m = re.search(r'^## ' + re.escape(heading) + r'\s*$', text, re.M)
    if not m:
        return None
    rows = []
    started = False
    for line in text[m.end():].split('\n'):
        if line.startswith('|'):
            started = True
            cells = [c.strip().replace('`', '') for c in line.strip().strip('|').split('|')]
            if set(''.join(cells)) <= set('-: '):
                continue
            rows.append(cells)
        elif started:
            break
    return rows[1:] if rows else rows  # drop the header row


def sources():
    out = []
    for d in PRODUCT_DIRS:
        for root, _, files in os.walk(d):
            for f in files:
                if f.endswith(('.c', '.h')):
                    out.append(os.path.join(root, f))
    return sorted(out)


def includes(path):
    inc = re.compile(r'^\s*#\s*include\s+"([^"]+)"')
    for n, line in enumerate(open(path, encoding='utf-8', errors='replace'), 1):
        m = inc.match(line)
        if m:
            yield n, m.group(1)


def nm(obj):
    out = subprocess.run(['nm', obj], capture_output=True, text=True, check=True).stdout
    defs, undef = set(), set()
    for line in out.splitlines():
        p = line.split()
        if len(p) == 3 and p[1] in 'TDBRCGSV':
            defs.add(p[2])
        elif len(p) == 2 and p[0] == 'U':
            undef.add(p[1])
    return defs, undef


def find_cycle(graph):
    """One cycle of graph (dict node -> set of nodes) as a list, or None."""
    colour = {}
    stack = []

    def visit(n):
        colour[n] = 1
        stack.append(n)
        for m in sorted(graph.get(n, ())):
            if colour.get(m) == 1:
                return stack[stack.index(m):] + [m]
            if colour.get(m) is None:
                c = visit(m)
                if c:
                    return c
        stack.pop()
        colour[n] = 2
        return None

    for n in sorted(graph):
        if colour.get(n) is None:
            c = visit(n)
            if c:
                return c
    return None


def main(argv):
    global DOC
    if len(argv) >= 2 and argv[0] == '--doc':
        DOC = argv[1]  # another copy of the map (tests/cli/test_archcheck.sh)
        argv = argv[2:]
    build = argv[0] if argv else 'build'
    text = open(DOC, encoding='utf-8').read()
    errors = []
    rows = table(text, 'Allowed edges')
    if not rows:
        print(f'archcheck: {DOC} has no "## Allowed edges" table')
        return 1
    allowed = {}
    for cells in rows:
        frm = cells[0]
        to = {t.strip() for t in re.split(r'[ ,]+', cells[1]) if t.strip() and t.strip() != '-'}
        allowed[frm] = to
    units = set(allowed)
    # the table itself must run one way: a cycle in it would allow a cycle in the code
    table_graph = {u: {v for v in vs if v != u} for u, vs in allowed.items()}
    cyc = find_cycle(table_graph)
    if cyc:
        errors.append(f'{DOC}: the edge table has a cycle: ' + ' -> '.join(cyc))

    def ok(a, b):
        return a == b or b in allowed.get(a, ())

    srcs = sources()
    for path in srcs:
        u = unit_of(path)
        if u not in units:
            errors.append(f'{path}: unit "{u}" is not in the table of {DOC}')
            continue
        for n, inc in includes(path):
            if '/' not in inc:
                continue  # same folder
            target = os.path.normpath(inc)
            if not os.path.exists(target):
                target = os.path.normpath(os.path.join(os.path.dirname(path), inc))
            v = unit_of(target)
            if not ok(u, v):
                errors.append(f'{path}:{n}: includes {inc}: edge {u} -> {v} is not allowed')

    # calls, from the objects of the product sources
    objs = {}
    for path in srcs:
        if path.endswith('.c'):
            o = os.path.join(build, 'obj', path[:-2] + '.o')
            if os.path.exists(o):
                objs[path] = nm(o)
    if not objs:
        errors.append(f'no objects under {build}/obj: build first (make lint builds them)')
    owner = {}
    for path, (defs, _) in objs.items():
        for s in defs:
            owner.setdefault(s, path)
    seen = set()
    hsm_graph = collections.defaultdict(set)
    for path, (_, undef) in sorted(objs.items()):
        u = unit_of(path)
        for s in sorted(undef):
            d = owner.get(s)
            if d is None or d == path:
                continue
            v = unit_of(d)
            if u == 'hsm' and v == 'hsm':
                hsm_graph[path].add(d)
            if not ok(u, v) and (path, v) not in seen:
                seen.add((path, v))
                errors.append(f'{path}: calls {s} ({d}): edge {u} -> {v} is not allowed')
    cyc = find_cycle(hsm_graph)
    if cyc:
        errors.append('hsm/: call cycle ' + ' -> '.join(os.path.basename(c) for c in cyc))

    sql = re.compile(r'\bsqlite3_\w+|<sqlite3\.h>')
    for path in srcs:
        if path.startswith('firmware/store/'):
            continue
        for n, line in enumerate(open(path, encoding='utf-8', errors='replace'), 1):
            if sql.search(line):
                errors.append(f'{path}:{n}: SQL outside firmware/store/')
                break

    for f in sorted(os.listdir('firmware')):
        if os.path.isfile(os.path.join('firmware', f)) and f not in ('main.c', 'module.mk', 'coffred.mk'):
            errors.append(f'firmware/{f}: only main.c lives at the top of firmware/')

    long_rows = table(text, 'Long functions') or []
    allowed_long = {(r[0], r[1]) for r in long_rows if len(r) >= 2}
    if len(allowed_long) > MAX_LONG:
        errors.append(f'{DOC}: more than {MAX_LONG} long functions allowed')
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, here)
    import funclen
    for path in srcs:
        if not path.endswith('.c') or path.endswith('_gen.c'):
            continue
        for name, line, n in funclen.functions(path):
            if n > MAX_LINES and (path, name) not in allowed_long:
                errors.append(f'{path}:{line}: {name} is {n} lines (over {MAX_LINES})')

    for e in errors:
        print('archcheck: ' + e)
    print(f'archcheck: {len(srcs)} files, {len(objs)} objects, {len(errors)} violation(s)')
    return 1 if errors else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
