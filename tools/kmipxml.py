"""KMIP XML test-case encoding <-> TTLV, for the conformance runner (tools/conformance.py).

The OASIS KMIP profile test cases write every message as XML: one element per TTLV item,
named after the tag (spec name without spaces: "Unique Identifier" -> UniqueIdentifier),
with type="Integer|Enumeration|..." and value="..." attributes (structures have no type).
Enumeration values and mask bits are written as names ("SymmetricKey", "Encrypt Decrypt") or
as hex ("0x00000002").

The tag numbers, item types and enumeration values are not typed in here: Tables reads them
from the generated C tables kmip/kmip_tables_gen.c (tools/gen_kmip_tables.py made those from
the KMIP 1.4 and 2.0 specifications). Names are matched after normalisation (lower case,
only letters and digits), so "SHA_256", "SHA-256" and "Sha256" are the same name; a
normalised name that two values of one table share is refused when used.

Item: a TTLV item as a (tag, type, value) triple; value is a list of Items for a structure,
int for Integer / Long / Enumeration / Interval / DateTime, bool for Boolean, str for Text
String, bytes for Byte String and Big Integer. In a parsed expected message a value may also
be a Placeholder ($UNIQUE_IDENTIFIER_0, $NOW-3600, ...), resolved by the runner.
"""
import calendar
import collections
import os
import re
import struct
import time
import xml.etree.ElementTree as ET

STRUCT, INT, LONG, BIGINT, ENUM, BOOL, TEXT, BYTES, DATE, INTERVAL, DATEX = range(1, 12)
TYPE_BY_XML = {"Structure": STRUCT, "Integer": INT, "LongInteger": LONG, "BigInteger": BIGINT,
               "Enumeration": ENUM, "Boolean": BOOL, "TextString": TEXT, "ByteString": BYTES,
               "DateTime": DATE, "Interval": INTERVAL, "DateTimeExtended": DATEX}
XML_BY_TYPE = {v: k for k, v in TYPE_BY_XML.items()}
C_TYPES = {"TTLV_STRUCTURE": STRUCT, "TTLV_INTEGER": INT, "TTLV_LONG_INTEGER": LONG,
           "TTLV_BIG_INTEGER": BIGINT, "TTLV_ENUMERATION": ENUM, "TTLV_BOOLEAN": BOOL,
           "TTLV_TEXT_STRING": TEXT, "TTLV_BYTE_STRING": BYTES, "TTLV_DATE_TIME": DATE,
           "TTLV_INTERVAL": INTERVAL, "TTLV_DATE_TIME_EXTENDED": DATEX, "0": 0}

Item = collections.namedtuple("Item", "tag typ value")


class XmlError(Exception):
    """A test case that cannot be turned into TTLV (unknown tag, value, type)."""


def norm(name):
    return re.sub(r"[^a-z0-9]", "", name.lower())


def norm_keys(name):
    """The normalised spellings a name may have in XML: itself and, for a name that starts
    with digits, the XML encoding's form with those digits moved to the end of the first
    word ("3DES" -> "DES3")."""
    keys = {norm(name)}
    m = re.match(r"(\d+)(\S*)(.*)", name)
    if m and m.group(2):
        keys.add(norm(m.group(2) + m.group(1) + m.group(3)))
    return keys


class Placeholder:
    """$NAME or $NOW[+-]SECONDS in a test case."""

    def __init__(self, text):
        self.text = text
        m = re.fullmatch(r"\$NOW([+-]\d+)?", text)
        self.is_now = m is not None
        self.offset = int(m.group(1) or 0) if m else 0

    def __repr__(self):
        return self.text

    def __eq__(self, other):
        return isinstance(other, Placeholder) and other.text == self.text

    def __hash__(self):
        return hash(self.text)


class EnumTable:
    def __init__(self, name, values, is_mask):
        self.name, self.values, self.is_mask = name, values, is_mask   # values: [(int, name)]
        self.by_norm = {}
        for v, n in values:
            for k in norm_keys(n):
                self.by_norm.setdefault(k, set()).add(v)

    def value(self, text):
        vs = self.by_norm.get(norm(text))
        if not vs:
            raise XmlError("%s: no value named %r" % (self.name, text))
        if len(vs) > 1:
            raise XmlError("%s: %r names several values" % (self.name, text))
        return next(iter(vs))

    def name_of(self, value):
        for v, n in self.values:
            if v == value:
                return n
        return None


class Tables:
    """Tags and enumerations of kmip/kmip_tables_gen.c."""

    def __init__(self, path=None):
        if path is None:
            here = os.path.dirname(os.path.abspath(__file__))
            path = os.path.join(here, "..", "kmip", "kmip_tables_gen.c")
        with open(path, encoding="utf-8") as f:
            src = f.read()
        vals = {}
        for m in re.finditer(r"static const struct kmip_enum_value (\w+)\[\] = \{(.*?)\n\};", src, re.S):
            vals[m.group(1)] = [(int(v, 16), n) for v, n in
                                re.findall(r'\{ 0x([0-9A-Fa-f]+)u, "((?:[^"\\]|\\.)*)", 0x[0-9A-Fa-f]+ \}',
                                           m.group(2))]
        enums = {}
        for m in re.finditer(r'static const struct kmip_enum_table (\w+) = \{ "([^"]*)", (\w+), \d+, '
                             r'(true|false), 0x[0-9A-Fa-f]+u \};', src):
            enums[m.group(1)] = EnumTable(m.group(2), vals.get(m.group(3), []), m.group(4) == "true")
        self.tags = {}            # tag -> (name, type 1.x, EnumTable|None, type 2.0)
        self.by_norm = {}         # normalised name -> tag
        for m in re.finditer(r'\{ 0x([0-9A-Fa-f]{6})u, "([^"]*)", (\w+), 0x[0-9A-Fa-f]+, '
                             r'(NULL|&\w+), (\w+) \}', src):
            tag = int(m.group(1), 16)
            et = enums.get(m.group(4)[1:]) if m.group(4) != "NULL" else None
            self.tags[tag] = (m.group(2), C_TYPES[m.group(3)], et, C_TYPES[m.group(5)])
            self.by_norm.setdefault(norm(m.group(2)), tag)
        if len(self.tags) < 300 or len(enums) < 50:
            raise RuntimeError("%s: could not read the KMIP tables (%d tags, %d enumerations)"
                               % (path, len(self.tags), len(enums)))

    def tag(self, xml_name):
        if re.fullmatch(r"0x[0-9A-Fa-f]{6}", xml_name):
            return int(xml_name, 16)
        t = self.by_norm.get(norm(xml_name))
        if t is None:
            raise XmlError("unknown tag %s" % xml_name)
        return t

    def xml_name(self, tag):
        t = self.tags.get(tag)
        return re.sub(r"[^A-Za-z0-9]", "", t[0]) if t else "0x%06X" % tag

    def spec_name(self, tag):
        t = self.tags.get(tag)
        return t[0] if t else "0x%06X" % tag

    def enum_table(self, tag):
        t = self.tags.get(tag)
        return t[2] if t else None

    def enum_for_attribute(self, attr_name):
        """The enumeration table of an attribute by its name ("Cryptographic Algorithm")."""
        t = self.by_norm.get(norm(attr_name))
        return self.enum_table(t) if t is not None else None


# ---- XML -> Items ------------------------------------------------------------------------
def _int(text, table, what):
    """Integer / Enumeration text: decimal, 0x hex, or names (mask bits joined by spaces or |)."""
    t = text.strip()
    if re.fullmatch(r"-?\d+", t):
        return int(t)
    if re.fullmatch(r"0x[0-9A-Fa-f]+", t):
        return int(t, 16)
    if table is None:
        raise XmlError("%s: %r is not a number and the tag has no value table" % (what, text))
    if table.is_mask:
        v = 0
        for part in re.split(r"[\s|]+", t):
            v |= table.value(part)
        return v
    return table.value(t)


def parse_datetime(text):
    t = text.strip()
    if re.fullmatch(r"0x[0-9A-Fa-f]+", t):
        return int(t, 16)
    m = re.fullmatch(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.\d+)?(Z|[+-]\d\d:\d\d)?", t)
    if not m:
        raise XmlError("bad DateTime %r" % text)
    secs = calendar.timegm(tuple(int(x) for x in m.groups()[:6]))
    tz = m.group(7)
    if tz and tz != "Z":
        off = (int(tz[1:3]) * 60 + int(tz[4:6])) * 60
        secs -= off if tz[0] == "+" else -off
    return secs


def bigint_pad(b):
    """A Big Integer's bytes sign-extended to a multiple of 8 (the TTLV rule)."""
    if len(b) % 8 == 0:
        return b
    fill = b"\xff" if b and b[0] & 0x80 else b"\0"
    return fill * (8 - len(b) % 8) + b


def format_datetime(secs):
    return time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(secs))


def _value(tables, el, typ, tag, attr_table):
    text = el.get("value")
    what = el.tag
    if text is None:
        raise XmlError("%s: no value" % what)
    if text.startswith("$"):
        return Placeholder(text)
    if typ in (INT, ENUM):
        table = tables.enum_table(tag) or attr_table
        return _int(text, table, what)
    if typ in (LONG, INTERVAL, DATEX):
        return _int(text, None, what)
    if typ == BOOL:
        low = text.strip().lower()
        if low in ("true", "false"):
            return low == "true"
        return _int(text, None, what) != 0
    if typ == TEXT:
        return text
    if typ in (BYTES, BIGINT):
        h = text.strip()
        if typ == BIGINT and h.startswith("0x"):
            h = h[2:]
        try:
            b = bytes.fromhex(h)
        except ValueError:
            raise XmlError("%s: bad hex %r" % (what, text)) from None
        return bigint_pad(b) if typ == BIGINT else b
    if typ == DATE:
        return parse_datetime(text)
    raise XmlError("%s: type %d" % (what, typ))


def from_xml(tables, el, attr_table=None):
    """One XML element -> Item. attr_table: the enumeration of the attribute whose value this
    is (an Attribute Value's table comes from the Attribute Name next to it)."""
    tag = tables.tag(el.get("tag", el.tag)) if el.tag == "Tag" else tables.tag(el.tag)
    tname = el.get("type")
    if tname is None:
        tname = "Structure" if len(el) or el.get("value") is None else None
    if tname not in TYPE_BY_XML:
        raise XmlError("%s: unknown type %r" % (el.tag, tname))
    typ = TYPE_BY_XML[tname]
    if typ != STRUCT:
        return Item(tag, typ, _value(tables, el, typ, tag, attr_table))
    kids = []
    table = None
    for c in el:
        if c.tag == "AttributeName" and c.get("value"):
            table = tables.enum_for_attribute(c.get("value"))
        kids.append(from_xml(tables, c, table if c.tag == "AttributeValue" else None))
    return Item(tag, STRUCT, kids)


Case = collections.namedtuple("Case", "name path steps")   # steps: [(request Item, response Item)]


def load_case(tables, path):
    """A test case file -> Case: its Request / Response messages paired in order."""
    root = ET.parse(path).getroot()
    msgs = [m for m in root if m.tag in ("RequestMessage", "ResponseMessage")]
    steps = []
    for i in range(0, len(msgs), 2):
        req = msgs[i]
        resp = msgs[i + 1] if i + 1 < len(msgs) else None
        if req.tag != "RequestMessage" or resp is None or resp.tag != "ResponseMessage":
            raise XmlError("message %d: a RequestMessage followed by its ResponseMessage expected" % (i + 1))
        steps.append((from_xml(tables, req), from_xml(tables, resp)))
    name = os.path.basename(path)
    return Case(name[:-4] if name.endswith(".xml") else name, path, steps)


# ---- TTLV ----------------------------------------------------------------------------------
def encode(item):
    tag, typ, val = item
    if isinstance(val, Placeholder):
        raise XmlError("unresolved %s in a request" % val.text)
    if typ == STRUCT:
        raw = b"".join(encode(c) for c in val)
    elif typ == INT:
        raw = struct.pack(">i" if val < 0x80000000 else ">I", val)
    elif typ in (ENUM, INTERVAL):
        raw = struct.pack(">I", val)
    elif typ in (LONG, DATE, DATEX):
        raw = struct.pack(">q", val)
    elif typ == BOOL:
        raw = struct.pack(">Q", 1 if val else 0)
    elif typ == TEXT:
        raw = val.encode("utf-8")
    elif typ == BIGINT:
        raw = bigint_pad(bytes(val))
    else:
        raw = bytes(val)
    pad = b"" if typ == STRUCT else b"\0" * ((8 - len(raw) % 8) % 8)
    return tag.to_bytes(3, "big") + bytes([typ]) + struct.pack(">I", len(raw)) + raw + pad


class DecodeError(Exception):
    pass


def decode(buf, off=0, end=None, depth=0):
    """bytes -> [Item]."""
    end = len(buf) if end is None else end
    out = []
    while off < end:
        if end - off < 8 or depth > 64:
            raise DecodeError("truncated item at offset %d" % off)
        tag = int.from_bytes(buf[off:off + 3], "big")
        typ = buf[off + 3]
        n = struct.unpack(">I", buf[off + 4:off + 8])[0]
        v0 = off + 8
        padded = n if typ == STRUCT else n + (8 - n % 8) % 8
        if padded > end - v0:
            raise DecodeError("item 0x%06X: length %d past the end" % (tag, n))
        raw = bytes(buf[v0:v0 + n])
        fixed = {INT: 4, ENUM: 4, INTERVAL: 4, LONG: 8, DATE: 8, DATEX: 8, BOOL: 8}
        if typ in fixed and n != fixed[typ]:
            raise DecodeError("item 0x%06X type %d: length %d" % (tag, typ, n))
        if typ == STRUCT:
            val = decode(buf, v0, v0 + n, depth + 1)
        elif typ == INT:
            val = struct.unpack(">i", raw)[0]
        elif typ in (ENUM, INTERVAL):
            val = struct.unpack(">I", raw)[0]
        elif typ in (LONG, DATE, DATEX):
            val = struct.unpack(">q", raw)[0]
        elif typ == BOOL:
            val = raw != b"\0" * 8
        elif typ == TEXT:
            val = raw.decode("utf-8", "replace")
        elif typ in (BYTES, BIGINT):
            val = raw
        else:
            raise DecodeError("item 0x%06X: unknown type %d" % (tag, typ))
        out.append(Item(tag, typ, val))
        off = v0 + padded
    return out


def show_value(tables, item, attr_table=None):
    """A value as the XML encoding writes it (for messages)."""
    tag, typ, val = item
    if isinstance(val, Placeholder):
        return val.text
    if typ in (ENUM, INT):
        table = tables.enum_table(tag) or attr_table
        if table is not None and typ == ENUM:
            n = table.name_of(val)
            return re.sub(r"[^A-Za-z0-9]", "", n) if n else "0x%08X" % val
        if table is not None and table.is_mask:
            names = [re.sub(r"[^A-Za-z0-9]", "", n) for v, n in table.values if val & v]
            return " ".join(names) or "0"
        return str(val)
    if typ in (BYTES, BIGINT):
        h = bytes(val).hex()
        return h if len(h) <= 48 else "%s... (%d bytes)" % (h[:40], len(val))
    if typ == DATE:
        return format_datetime(val)
    if typ == BOOL:
        return "true" if val else "false"
    if typ == STRUCT:
        return "structure"
    return repr(val) if typ == TEXT else str(val)
