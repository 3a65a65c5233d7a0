#!/usr/bin/python3
"""Generate kmip/kmip_tags.h and kmip/kmip_tables_gen.c from the OASIS KMIP specifications.

Run by hand from the repository root and commit the output:

    /usr/bin/python3 tools/gen_kmip_tables.py [SPEC_DIR]

SPEC_DIR defaults to ../shared/spec and must hold kmip-spec-v1.4-os.{html,txt} and
kmip-spec-v2.0-os.{html,txt}. The .html and .txt files are the same OASIS documents; the tables
are read from the .html (its <table>/<tr>/<td> structure keeps rows and cells apart, which the
.txt rendering loses); the .txt is only checked to exist and to mention every tag name we emit.

Where the data comes from:
  * tags: 1.4 Table 288 "Tag Values" and 2.0 Table 446 "Tag Enumeration". A value present in
    1.4 is valid in 1.4; present in 2.0 under a name other than "(Reserved)", valid in 2.0.
  * item types: 1.4 Table 368 "Tag Cross-reference" (one type per tag) and, for 2.0, every
    Object/Item + Encoding table of the 2.0 document. Several types for one tag, "Varies" or
    "Any" give type 0 (varies).
  * enumerations and masks: every table of the two documents shaped
    [enum name] / [Name, Value] / rows.
  * KMIP 1.0 - 1.3: neither document says in which minor version a tag or value appeared. We
    take it from PyKMIP's kmip/core/enums.py, whose classes are grouped under "# KMIP 1.x"
    comments. A value that PyKMIP does not list gets the version of the nearest lower value
    that it does list (tags and enumeration values were allocated in increasing order as the
    versions were published), and never earlier than its tag. This is an approximation; it
    is exact for every tag and value PyKMIP lists.
"""
import html.parser
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SPEC = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, '..', 'shared', 'spec')
PYKMIP = '/usr/lib/python3/dist-packages/kmip/core/enums.py'

V = ['1.0', '1.1', '1.2', '1.3', '1.4', '2.0']
VBIT = {v: 1 << i for i, v in enumerate(V)}


def vmask_from(v, upto='1.4'):
    """Mask of versions from v to upto inclusive."""
    m = 0
    for x in V[V.index(v):V.index(upto) + 1]:
        m |= VBIT[x]
    return m


# ---------------------------------------------------------------- HTML tables
class _TableParser(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tables = []
        self.depth = 0
        self.rows = self.row = self.cell = None

    def handle_starttag(self, t, a):
        if t == 'table':
            self.depth += 1
            if self.depth == 1:
                self.rows = []
        elif self.depth == 1 and t == 'tr':
            self.row = []
        elif self.depth == 1 and t in ('td', 'th'):
            self.cell = []
        elif t == 'br' and self.cell is not None:
            self.cell.append(' ')

    def handle_endtag(self, t):
        if t == 'table':
            self.depth -= 1
            if self.depth == 0:
                self.tables.append(self.rows)
                self.rows = None
        elif self.depth == 1 and t == 'tr' and self.row is not None:
            self.rows.append(self.row)
            self.row = None
        elif self.depth == 1 and t in ('td', 'th') and self.cell is not None:
            self.row.append(clean(''.join(self.cell)))
            self.cell = None

    def handle_data(self, d):
        if self.cell is not None:
            self.cell.append(d)


def clean(s):
    s = s.replace('\u2013', '-').replace('\u2014', '-').replace('\u2019', "'")
    s = s.replace('\xa0', ' ')
    return re.sub(r'\s+', ' ', s).strip()


def tables(fn):
    p = _TableParser()
    with open(fn, encoding='windows-1252', errors='replace') as f:
        p.feed(f.read())
    return [t for t in p.tables if t]


def cname(s):
    """The naming contract: uppercase, each run of non-alphanumerics -> '_', no trailing '_'."""
    return re.sub(r'[^A-Z0-9]+', '_', s.upper()).strip('_')


# ---------------------------------------------------------------- spec parsing
TYPE_WORDS = [
    ('Date Time Extended', 0x0B), ('Date-Time Extended', 0x0B),
    ('Long Integer', 0x03), ('Big Integer', 0x04),
    ('Text String', 0x07), ('TextString', 0x07), ('Text string', 0x07),
    ('Byte String', 0x08), ('ByteString', 0x08),
    ('Date-Time', 0x09), ('Date Time', 0x09),
    ('Structure', 0x01), ('Attribute Object', 0x01), ('RNG Parameters', 0x01),
    ('Enumeration', 0x05), ('Boolean', 0x06), ('Interval', 0x0A), ('Integer', 0x02),
]
TYPE_NAMES = {1: 'TTLV_STRUCTURE', 2: 'TTLV_INTEGER', 3: 'TTLV_LONG_INTEGER',
              4: 'TTLV_BIG_INTEGER', 5: 'TTLV_ENUMERATION', 6: 'TTLV_BOOLEAN',
              7: 'TTLV_TEXT_STRING', 8: 'TTLV_BYTE_STRING', 9: 'TTLV_DATE_TIME',
              10: 'TTLV_INTERVAL', 11: 'TTLV_DATE_TIME_EXTENDED'}
VARIES = 0


def enc_types(s):
    """Types named by an Encoding cell; {0} when it varies."""
    if s.startswith(('Varies', 'Any', '*')):
        return {VARIES}
    found = set()
    rest = s
    for w, t in TYPE_WORDS:
        if w in rest:
            found.add(t)
            rest = rest.replace(w, ' ')
    if not found:
        return set()
    if len(found) > 1:
        return {VARIES}
    return found


def parse_tag_table(ts):
    out = {}
    for t in ts:
        if t[0] == ['Tag'] and len(t) > 100:
            for r in t[2:]:
                if len(r) != 2:
                    continue
                m = re.match(r'^(42[0-9A-F]{4})\b(?!\s*-)', r[1])
                if not m:
                    continue
                name = r[0]
                if 'Reserved' in name:
                    name = None
                out[int(m.group(1), 16)] = name
    return out


def name_key(s):
    """Strip table decorations from an Object cell: ', see 2.1.1', footnotes, 'MAY be repeated'."""
    s = re.sub(r',?\s*see\b.*$', '', s)
    s = re.sub(r'\s*\(.*?\)\s*$', '', s)
    return s.strip()


def parse_types(ts, by_name):
    """tag value -> set of types from Object/Item + Encoding tables, plus 1.4 cross-ref."""
    obs = {}
    xref = {}
    for t in ts:
        h = t[0]
        if len(h) >= 3 and h[:3] == ['Object', 'Defined', 'Type']:
            for r in t[1:]:
                if len(r) >= 3 and name_key(r[0]) in by_name:
                    xref[by_name[name_key(r[0])]] = enc_types(r[2] if r[2] != '*' else 'Varies')
            continue
        if len(h) >= 2 and h[0] in ('Object', 'Item') and h[1].startswith('Encoding'):
            for r in t[1:]:
                if len(r) < 2:
                    continue
                k = name_key(r[0])
                if k in by_name:
                    ty = enc_types(r[1])
                    if ty:
                        obs.setdefault(by_name[k], set()).update(ty)
    return obs, xref


ENUM_RENAME = {
    'Recommended Curve Enumeration': 'Recommended Curve',
    'Batch Error Continuation': 'Batch Error Continuation Option',
    'Object Group Member Option': 'Object Group Member',
    'Profile Name Type': 'Profile Name',
    'NIST Key Type Enumeration': 'NIST Key Type',
    'Unique Identifier Enumerations': 'Unique Identifier',
}


def parse_enums(ts, ver):
    out = {}
    for t in ts:
        if len(t) < 3 or len(t[0]) != 1 or t[1] != ['Name', 'Value'] or t[0] == ['Tag']:
            continue
        name = t[0][0]
        rows = [r for r in t[2:] if len(r) == 2]
        names = [r[0] for r in rows]
        # 2.0 table heading slips: the Endpoint Role table is headed "Encoding Option" and
        # the Ticket Type table "State".
        if ver == '2.0' and name == 'Encoding Option' and 'Client' in names:
            name = 'Endpoint Role'
        if ver == '2.0' and name == 'State' and 'Login' in names:
            name = 'Ticket Type'
        name = ENUM_RENAME.get(name, name)
        vals = []
        ext = None
        for n, v in rows:
            if n == 'Extensions':
                ext = v
                continue
            if 'Reserved' in n:
                continue
            if n.startswith('(') and ')' not in n:
                n = n[1:]   # 2.0 Certificate Type: "(PGP" is a typo for "PGP"
            m = re.match(r'^([0-9A-F]{8})\b(?!\s*-)', v)
            if not m:
                continue
            vals.append((int(m.group(1), 16), n))
        assert name not in out, (ver, name)
        out[name] = (vals, ext)
    return out


# ---------------------------------------------------------------- PyKMIP "added in"
def pykmip_added():
    """class name -> {value: 'x.y'} from the '# KMIP x.y' comment blocks."""
    out = {}
    cls = None
    cur = None
    if not os.path.exists(PYKMIP):
        sys.exit('need PyKMIP (python3-pykmip) at ' + PYKMIP)
    for line in open(PYKMIP):
        m = re.match(r'^class (\w+)\(', line)
        if m:
            cls = m.group(1)
            cur = None
            out[cls] = {}
            continue
        m = re.match(r'^\s+# KMIP (\d\.\d)\s*$', line)
        if m and cls:
            cur = m.group(1)
            continue
        m = re.match(r'^\s+(\w+)\s*=\s*(0x[0-9A-Fa-f]+|\d+)\b', line)
        if m and cls and cur:
            out[cls][int(m.group(2), 0)] = cur
    return out


def added_in(known, value, floor='1.0'):
    """Version a value appeared in: PyKMIP's, else the nearest lower PyKMIP value's."""
    if value in known:
        v = known[value]
    else:
        lower = [k for k in known if k < value]
        v = known[max(lower)] if lower else floor
    if v == '2.0':
        v = '1.4'   # present in 1.4 per the 1.4 spec: PyKMIP mislabels a few
    return max(v, floor, key=V.index)


# ---------------------------------------------------------------- build model
def main():
    h14 = os.path.join(SPEC, 'kmip-spec-v1.4-os.html')
    h20 = os.path.join(SPEC, 'kmip-spec-v2.0-os.html')
    t14, t20 = tables(h14), tables(h20)
    txt = {}
    for ver in ('1.4', '2.0'):
        with open(os.path.join(SPEC, 'kmip-spec-v%s-os.txt' % ver), encoding='utf-8',
                  errors='replace') as f:
            txt[ver] = re.sub(r'\s+', ' ', f.read())
    tags14 = parse_tag_table(t14)
    tags20 = parse_tag_table(t20)
    py = pykmip_added()
    pytags = py['Tags']

    tags = {}   # value -> dict
    for val in sorted(set(tags14) | set(tags20)):
        n14 = tags14.get(val)
        n20 = tags20.get(val)
        if n14 is None and n20 is None:
            continue
        vm = 0
        if n14 is not None:
            vm |= vmask_from(added_in(pytags, val))
        if n20 is not None:
            vm |= VBIT['2.0']
        names = [n for n in (n14, n20) if n]
        names = list(dict.fromkeys(names))
        tags[val] = {'name': names[0], 'names': names, 'versions': vm,
                     'n14': n14, 'n20': n20}
        for n in names:
            assert n in txt['1.4'] or n in txt['2.0'], n

    def by_name_map(ver):
        m = {}
        for val, t in tags.items():
            n = t['n14'] if ver == '1.4' else t['n20']
            if n:
                m[n] = val
        return m

    bn14, bn20 = by_name_map('1.4'), by_name_map('2.0')
    obs14, xref14 = parse_types(t14, bn14)
    obs20, _ = parse_types(t20, bn20)

    def one(s):
        if not s:
            return None
        return next(iter(s)) if len(s) == 1 else VARIES

    for val, t in tags.items():
        ty14 = one(xref14.get(val)) if val in xref14 else one(obs14.get(val))
        ty20 = one(obs20.get(val))
        t['seen'] = ty14 is not None or ty20 is not None
        if t['n14'] is None:
            ty14 = None
        if t['n20'] is None:
            ty20 = None
        if ty14 is None:
            ty14 = ty20
        if ty20 is None:
            ty20 = ty14
        t['type'] = ty14 if ty14 is not None else VARIES
        t['type2'] = ty20 if ty20 is not None else VARIES
    # Tags that no Object/Encoding table of either document types (they appear only in
    # Request/Response Payload tables, whose columns are Object/REQUIRED/Description, or the
    # table is malformed). Types below come from the payload descriptions ("An Integer object
    # ...", "(as a Byte String)") and the section text; (1.x type, 2.0 type), 0 = varies.
    HAND_TYPES = {
        'Offset Items': (2, 2), 'Located Items': (2, 2),
        'Comment': (7, 7), 'Digested Data': (8, 8), 'Always Sensitive': (6, 6),
        'Replace Existing': (6, 6),
        # 2.0 7.x Server Information (1.4 leaves its contents to the vendor)
        'Server Name': (7, 7), 'Server Serial Number': (7, 7), 'Server Version': (7, 7),
        'Server Load': (7, 7), 'Product Name': (7, 7), 'Build Level': (7, 7),
        'Build Date': (9, 9), 'Cluster Info': (7, 7), 'Alternate Failover Endpoints': (7, 7),
        'Certificate Request Unique Identifier': (7, 7), 'Request Count': (2, 2),
        'Ephemeral': (6, 6), 'Server Hashed Password': (8, 8), 'Interop Identifier': (7, 7),
        'PKCS#11 Interface': (7, 7), 'PKCS#11 Input Parameters': (8, 8),
        'PKCS#11 Output Parameters': (8, 8),
        'Common Protection Storage Masks': (1, 1), 'Private Protection Storage Masks': (1, 1),
        'Public Protection Storage Masks': (1, 1),
        'Tag': (5, 5),   # 2.0 11.x Tag Enumeration
        # 1.4 Table 368 says Text String, an erratum: 1.4 Table 11 (and 2.0) define a Structure
        'MAC/Signature Key Information': (1, 1),
    }
    for val, t in tags.items():
        if t['name'] in HAND_TYPES:
            t['type'], t['type2'] = HAND_TYPES[t['name']]

    # enumerations
    e14 = parse_enums(t14, '1.4')
    e20 = parse_enums(t20, '2.0')
    enums = {}   # name -> {'values': [(value, name, vmask)], 'ext': str, 'is_mask': bool}
    tag_by_any_name = {}
    for val, t in tags.items():
        for n in t['names']:
            tag_by_any_name[n] = val
    pyclass = {re.sub(r'[^a-z0-9]', '', k.lower()): k for k in py}
    pyclass.update({'uniqueidentifier': 'UniqueIdentifier' if 'UniqueIdentifier' in py else None})
    notes = []
    for name in sorted(set(e14) | set(e20)):
        if name == 'Item Type' and name not in tag_by_any_name:
            pass
        tagval = tag_by_any_name.get(name)
        tagfloor = '1.0'
        if tagval is not None and tags[tagval]['versions'] & 0x1F:
            for v in V:
                if tags[tagval]['versions'] & VBIT[v]:
                    tagfloor = v
                    break
        known = py.get(pyclass.get(re.sub(r'[^a-z0-9]', '', name.lower())) or '', {})
        vals = {}
        order = []
        for (src, ver) in ((e14, '1.4'), (e20, '2.0')):
            if name not in src:
                continue
            for value, vname in src[name][0]:
                key = (value, vname)
                if key not in vals:
                    vals[key] = 0
                    order.append(key)
                if ver == '1.4':
                    vals[key] |= vmask_from(added_in(known, value, tagfloor))
                else:
                    vals[key] |= VBIT['2.0']
        ext = (e14.get(name) or e20.get(name))[1]
        if name in e20 and e20[name][1]:
            ext = e20[name][1]
        is_mask = name.endswith('Mask')
        # order by value, 1.x spelling first for a value renamed in 2.0
        order.sort(key=lambda k: (k[0], 0 if vals[k] & 0x1F else 1))
        entries = [(v, n, vals[(v, n)]) for v, n in order]
        byval = {}
        for v, n, m in entries:
            byval.setdefault(v, []).append((n, m))
        for v, lst in byval.items():
            if len(lst) > 1:
                notes.append('%s 0x%08X: %s' % (name, v, ' / '.join(
                    '"%s" (%s)' % (n, vers_str(m)) for n, m in lst)))
        enums[name] = {'values': entries, 'ext': ext, 'is_mask': is_mask, 'tag': tagval}

    # tag -> enum table
    EXTRA_ENUM_TAGS = {
        'Mask Generator Hashing Algorithm': 'Hashing Algorithm',
        'Destroy Action': 'Destroy Action Type',
        'Extension Type': 'Item Type',
    }
    for val, t in tags.items():
        t['enum'] = None
        for n in t['names']:
            if n in enums:
                t['enum'] = n
            elif n in EXTRA_ENUM_TAGS and EXTRA_ENUM_TAGS[n] in enums:
                t['enum'] = EXTRA_ENUM_TAGS[n]
    for val, t in tags.items():
        # A same-named enumeration whose tag is not an Enumeration / Integer in any version
        # (2.0 "Data" enumeration vs the Byte String tag "Data") is not the tag's table.
        if t['enum']:
            ok = {5, 0} if not enums[t['enum']]['is_mask'] else {2}
            if t['type'] not in ok and t['type2'] not in ok:
                t['enum'] = None
        if t['enum'] and not enums[t['enum']]['is_mask']:
            # never typed by an encoding table: a same-named enumeration makes it one
            unseen = not t['seen'] and t['name'] not in HAND_TYPES
            if unseen and t['type'] == VARIES and t['n14'] is not None:
                t['type'] = 5
            if unseen and t['type2'] == VARIES and t['n20'] is not None:
                t['type2'] = 5
        if t['n14'] is None:
            t['type'] = t['type2']
        if t['n20'] is None:
            t['type2'] = t['type']
    unattached = [n for n in enums if not any(t['enum'] == n for t in tags.values())]
    enum_tags_without = [t['name'] for t in tags.values()
                         if 5 in (t['type'], t['type2']) and t['enum'] is None]

    emit(tags, enums, notes, unattached, enum_tags_without)


def vers_str(m):
    vs = [v for v in V if m & VBIT[v]]
    if not vs:
        return 'none'
    if len(vs) == 1:
        return vs[0]
    # contiguous?
    i0, i1 = V.index(vs[0]), V.index(vs[-1])
    if i1 - i0 + 1 == len(vs):
        return '%s-%s' % (vs[0], vs[-1])
    return ','.join(vs)


def cstr(s):
    return '"' + s.replace('\\', '\\\\').replace('"', '\\"') + '"'


def emit(tags, enums, notes, unattached, enum_tags_without):
    H = []
    w = H.append
    w('/* KMIP tag, item type and enumeration tables (KMIP 1.0 - 1.4 and 2.0).')
    w(' *')
    w(' * GENERATED by tools/gen_kmip_tables.py from the OASIS KMIP 1.4 and 2.0 specifications')
    w(' * (Table 288 / Table 446 for tags; the enumeration tables of 9.1.3.2 / 11.x; types from')
    w(' * the 1.4 Tag Cross-reference and the 2.0 encoding tables). Do not edit by hand: change')
    w(' * the generator and run it again.')
    w(' *')
    w(' * Naming contract: KMIP_TAG_<NAME> for tags and KMIP_<ENUMERATION>_<VALUE> for enumeration')
    w(' * values and mask bits, where each name is the spec spelling uppercased with every run of')
    w(' * non-alphanumerics turned into one "_" (no leading or trailing "_"). The enumeration')
    w(' * part is the spec name of the enumeration table, except where it differs from the tag')
    w(' * that carries it: "Batch Error Continuation" -> Batch Error Continuation Option,')
    w(' * "Recommended Curve Enumeration" -> Recommended Curve, "Object Group Member Option" ->')
    w(' * Object Group Member, 1.4 "Profile Name Type" -> Profile Name, "NIST Key Type')
    w(' * Enumeration" -> NIST Key Type, "Unique Identifier Enumerations" -> Unique Identifier.')
    w(' * Tags carried by a table of another name: Destroy Action (Destroy Action Type), Extension')
    w(' * Type (Item Type), Mask Generator Hashing Algorithm (Hashing Algorithm).')
    w(' * A value whose 1.4 and 2.0 names differ has both constants (same number); a name that')
    w(' * 1.4 and 2.0 give different numbers has the 1.4 number under its plain name and the')
    w(' * 2.0 number under <NAME>_V2_0.')
    w(' *')
    w(' * Versions: the specs at hand are 1.4 and 2.0. Validity in 1.0 - 1.3 comes from PyKMIP')
    w(' * (kmip/core/enums.py "# KMIP 1.x" groups) and, for values PyKMIP does not list, from the')
    w(' * nearest lower listed value (tags and values were allocated in increasing order). Tags')
    w(' * and values marked "(Reserved)" in 2.0 are invalid in 2.0; those new in 2.0 are invalid')
    w(' * in 1.x. Deprecated-but-present 1.x tags stay valid in 1.x. */')
    w('#ifndef COFFRE_KMIP_KMIP_TAGS_H')
    w('#define COFFRE_KMIP_KMIP_TAGS_H')
    w('')
    w('#include <stdbool.h>')
    w('#include <stddef.h>')
    w('#include <stdint.h>')
    w('#include "board/err.h"')
    w('')
    w('/* ---- tags ' + '-' * 77 + ' */')
    w('enum kmip_tag {')
    seen = {}
    for val in sorted(tags):
        t = tags[val]
        for n in t['names']:
            c = 'KMIP_TAG_' + cname(n)
            if c in seen:
                assert seen[c] == val, (c, hex(seen[c]), hex(val))
                continue
            seen[c] = val
            cm = '/* %s */' % vers_str(t['versions'])
            if len(t['names']) > 1:
                cm = '/* %s; %s in %s */' % (vers_str(t['versions']),
                                          ('1.4 name' if n == t['n14'] else '2.0 name'),
                                          ('1.4' if n == t['n14'] else '2.0'))
            w('\t%-58s = 0x%06X, %s' % (c, val, cm))
    w('};')
    w('#define KMIP_TAG_EXTENSION_FIRST 0x540000u')
    w('#define KMIP_TAG_EXTENSION_LAST 0x54FFFFu')
    w('')
    w('/* ---- enumerations and masks ' + '-' * 59 + ' */')
    allc = dict(seen)
    for name in sorted(enums):
        e = enums[name]
        pre = 'KMIP_' + cname(name) + '_'
        w('/* %s%s%s */' % (name, ' (bit mask)' if e['is_mask'] else '',
                            '; extensions ' + e['ext'] if e['ext'] else ''))
        if not e['values']:
            w('/* (no values defined besides extensions) */')
            continue
        w('enum kmip_%s {' % cname(name).lower())
        done = {}
        for v, n, m in e['values']:
            c = pre + cname(n)
            if c in done and done[c] != v:
                c = c + '_V2_0'
                assert m == VBIT['2.0'], (name, n)
            if c in done:
                continue
            assert c not in allc or allc[c] == v, c
            done[c] = v
            allc[c] = v
            w('\t%-58s = 0x%08X, /* %s */' % (c, v, vers_str(m)))
        w('};')
    w('')
    w('/* ---- versions ' + '-' * 73 + ' */')
    w(API)
    w('#endif')
    with open(os.path.join(ROOT, 'kmip', 'kmip_tags.h'), 'w') as f:
        f.write('\n'.join(H) + '\n')

    # ---------------- C tables
    C = []
    w = C.append
    w('/* GENERATED by tools/gen_kmip_tables.py -- do not edit. See kmip/kmip_tags.h. */')
    w('#include "kmip/kmip_tags.h"')
    w('#include "kmip/ttlv.h"')
    w('')
    if notes:
        w('/* Values whose name differs between 1.x and 2.0 (both kept; 1.x spelling first):')
        for n in notes:
            w(' *   ' + n)
        w(' */')
    if unattached:
        w('/* Enumerations carried by no tag of the same name (kept for names only): %s */'
          % ', '.join(sorted(unattached)))
    if enum_tags_without:
        w('/* Enumeration tags without a value table (value printed as hex): %s */'
          % ', '.join(sorted(enum_tags_without)))
    w('')
    tabname = {}
    for name in sorted(enums):
        e = enums[name]
        cn = cname(name).lower()
        tabname[name] = 'kmip_enum_' + cn
        if e['values']:
            w('static const struct kmip_enum_value vals_%s[] = {' % cn)
            for v, n, m in e['values']:
                w('\t{ 0x%08Xu, %s, 0x%02X },' % (v, cstr(n), m))
            w('};')
        vals_ref = ('vals_' + cn) if e['values'] else 'NULL'
        extm = 0
        if e['is_mask'] and e['ext']:
            extm = int(e['ext'].replace('X', 'F').replace('x', 'F'), 16)
            # Only hex digits written X are extension space.
            extm = int(''.join('F' if c in 'Xx' else '0' for c in e['ext']), 16)
        w('static const struct kmip_enum_table kmip_enum_%s = { %s, %s, %d, %s, 0x%08Xu };'
          % (cn, cstr(name), vals_ref, len(e['values']), 'true' if e['is_mask'] else 'false', extm))
        w('')
    w('const struct kmip_enum_table *const kmip_enum_tables[] = {')
    for name in sorted(enums):
        w('\t&%s,' % tabname[name])
    w('};')
    w('const size_t kmip_enum_tables_len = sizeof kmip_enum_tables / sizeof kmip_enum_tables[0];')
    w('')
    w('/* Sorted by tag. type: 1.x type (2.0 type for 2.0-only tags); type_v2: 2.0 type (1.x type')
    w(' * for tags removed in 2.0); 0 = varies. */')
    w('const struct kmip_tag_info kmip_tag_table[] = {')
    for val in sorted(tags):
        t = tags[val]
        ty = TYPE_NAMES.get(t['type'], '0')
        ty2 = TYPE_NAMES.get(t['type2'], '0')
        en = '&' + tabname[t['enum']] if t['enum'] else 'NULL'
        w('\t{ 0x%06Xu, %s, %s, 0x%02X, %s, %s },' % (val, cstr(t['name']), ty, t['versions'],
                                                     en, ty2))
    w('};')
    w('const size_t kmip_tag_table_len = sizeof kmip_tag_table / sizeof kmip_tag_table[0];')
    w('')
    idx = {v: i for i, v in enumerate(sorted(tags))}
    names = []
    for val in sorted(tags):
        for n in tags[val]['names']:
            names.append((n.encode(), idx[val]))
    names.sort()
    for a, b in zip(names, names[1:]):
        assert a[0] != b[0], a
    w('/* Every spec spelling (1.4 and 2.0) -> index in kmip_tag_table, sorted bytewise. */')
    w('const struct kmip_tag_name_ix kmip_tag_names[] = {')
    for n, i in names:
        w('\t{ %s, %d, %d },' % (cstr(n.decode()), len(n), i))
    w('};')
    w('const size_t kmip_tag_names_len = sizeof kmip_tag_names / sizeof kmip_tag_names[0];')
    with open(os.path.join(ROOT, 'kmip', 'kmip_tables_gen.c'), 'w') as f:
        f.write('\n'.join(C) + '\n')
    print('tags %d, enumerations %d, name aliases %d, notes %d' %
          (len(tags), len(enums), len(names) - len(tags), len(notes)))
    if unattached:
        print('enumerations without a tag:', ', '.join(sorted(unattached)))
    if enum_tags_without:
        print('enumeration tags without table:', ', '.join(sorted(enum_tags_without)))
    vt = [tags[v]['name'] for v in sorted(tags) if tags[v]['type'] == VARIES]
    print('tags with type 0 (varies):', ', '.join(vt))


API = r'''enum kmip_version {
	KMIP_V1_0,
	KMIP_V1_1,
	KMIP_V1_2,
	KMIP_V1_3,
	KMIP_V1_4,
	KMIP_V2_0,
	KMIP_V_COUNT
};
#define KMIP_VMASK(v) (1u << (v))
#define KMIP_VMASK_1X 0x1Fu    /* 1.0 - 1.4 */
#define KMIP_VMASK_ALL 0x3Fu   /* 1.0 - 2.0 */

/* enum kmip_version for a Protocol Version, -1 if unknown. */
MUST_USE int kmip_version_from(int major, int minor);

/* ---- tables and lookups ----------------------------------------------------------------
 * All tables are static const; lookups are binary searches. */
struct kmip_enum_value {
	uint32_t value;
	const char *name;        /* spec spelling */
	uint8_t versions;        /* KMIP_VMASK bits */
};

struct kmip_enum_table {
	const char *name;        /* enumeration name, e.g. "Operation" */
	const struct kmip_enum_value *values;   /* sorted by value (a value may repeat: renamed) */
	size_t count;
	bool is_mask;            /* bit mask (Cryptographic Usage Mask...): values are bits */
	uint32_t ext_mask;       /* masks: bits reserved for extensions (e.g. 0xFFF00000) */
};

struct kmip_tag_info {
	uint32_t tag;
	const char *name;        /* spec spelling (1.4 spelling when 2.0 renamed it) */
	uint8_t type;            /* enum ttlv_type in 1.x; 0 = varies (Attribute Value...) */
	uint8_t versions;        /* KMIP_VMASK bits */
	const struct kmip_enum_table *enums;    /* Enumeration / mask tags, else NULL */
	uint8_t type_v2;         /* enum ttlv_type in 2.0; 0 = varies */
};

struct kmip_tag_name_ix {
	const char *name;
	uint16_t len;
	uint16_t ix;             /* index in kmip_tag_table */
};

/* The generated tables (kmip_tables_gen.c); for iteration (tests, dumps). */
extern const struct kmip_tag_info kmip_tag_table[];
extern const size_t kmip_tag_table_len;
extern const struct kmip_tag_name_ix kmip_tag_names[];
extern const size_t kmip_tag_names_len;
extern const struct kmip_enum_table *const kmip_enum_tables[];
extern const size_t kmip_enum_tables_len;

/* NULL if unknown. */
const struct kmip_tag_info *kmip_tag_lookup(uint32_t tag);
/* Exact spec spelling (1.4 or 2.0), e.g. "Cryptographic Algorithm", n bytes (no NUL needed).
 * NULL if unknown. */
const struct kmip_tag_info *kmip_tag_by_name(const char *name, size_t n);
/* NULL if unknown. */
const char *kmip_tag_name(uint32_t tag);
/* Known tag valid in this version (enum kmip_version). Extension tags (0x54xxxx): true. */
bool kmip_tag_valid(uint32_t tag, int version);
/* 0x540000 - 0x54FFFF. */
bool kmip_tag_is_extension(uint32_t tag);
/* Expected item type of a tag in a version: 0 when it varies or the tag is unknown. */
uint8_t kmip_tag_type(uint32_t tag, int version);
/* "Structure", "Integer", ... ; NULL if unknown. */
const char *kmip_type_name(uint8_t type);
/* The value table for a tag (Enumeration and mask tags), NULL if none. */
const struct kmip_enum_table *kmip_enum_table_for(uint32_t tag);
/* Name of an enumeration value (or of a single mask bit), NULL if unknown. */
const char *kmip_enum_name(uint32_t tag, uint32_t value);
/* Value valid for the tag in this version. Enumerations: a listed value valid in the
 * version, or an extension value 0x8XXXXXXX. Masks: every set bit is a listed bit valid in
 * the version or lies in the extension bits. False when the tag has no value table. */
bool kmip_enum_valid(uint32_t tag, uint32_t value, int version);
/* Reverse lookup by spec spelling (linear in the table size). */
MUST_USE cf_err kmip_enum_by_name(uint32_t tag, const char *name, size_t n, uint32_t *value);
'''

if __name__ == '__main__':
    main()
