"""Self-test of the conformance runner's codec and comparator (tools/kmipxml.py,
tools/kmipcompare.py); no server.

usage: test_conformance_selftest.py [BUILD_DIR]     (BUILD_DIR unused; run_py.sh passes it)

1. Encoder: every message of the OASIS KMIP 1.1 test cases (../shared/vectors/oasis/
   kmip-testcases-v1.1.txt) that prints both its tree ("Tag: Name (0x42....), Type: ...,
   Data: ...") and its TTLV hex: the tree is written as KMIP XML (tag names, enumeration and
   mask names, ISO dates, as the 1.4 test cases write them), encoded with kmipxml, and must
   give the hex byte for byte; decoding the hex must give the same items back.
2. Tables: a few numbers the runner reads from kmip/kmip_tables_gen.c.
3. Comparator: an expected response of a 1.4 test case against "actual" responses built from
   it, one per rule of docs/conformance.md, and with planted differences that must be reported
   with the step's path.
"""
import os
import re
import sys
import time
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tools"))
import kmipcompare as kc  # noqa: E402
import kmipxml as kx  # noqa: E402

VECTORS = os.path.join(ROOT, "..", "shared", "vectors", "oasis")
passed = failed = 0


def check(what, cond, detail=""):
    global passed, failed
    if cond:
        passed += 1
        print("ok   " + what, flush=True)
    else:
        failed += 1
        print("FAIL " + what + (": " + detail if detail else ""), flush=True)
    return cond


T = kx.Tables()

# ---- 1. encoder against the 1.1 test cases --------------------------------------------------
LINE = re.compile(r"^( *)Tag: (.+?) \(0x([0-9A-Fa-f]{6})\), Type: ([A-Za-z -]+?) \(0x([0-9A-Fa-f]{2})\),"
                  r" Data:\s?(.*)$")


def txt_messages(path):
    """(tree lines, TTLV bytes) for each message printed with both."""
    tree = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for raw in f:
            line = raw.rstrip("\n").replace("\u00a0", " ")
            m = LINE.match(line)
            if m:
                tree.append(m.groups())
                continue
            s = line.strip()
            if re.fullmatch(r"42007[8B][0-9A-Fa-f]+", s) and tree:
                yield tree, bytes.fromhex(s)
                tree = []
            elif s.startswith("Tag:"):
                tree = [None]             # a line this parser does not read: skip the message


def xml_value(tag, typ, data):
    m = re.fullmatch(r"0x([0-9A-Fa-f]+)(?: \((.*)\))?", data)
    if typ in (kx.BYTES, kx.BIGINT):
        return re.sub(r"^0x| \(.*\)$", "", data)
    if typ == kx.BOOL:
        return data.lower()
    if typ == kx.TEXT:
        return data
    n = int(m.group(1), 16)
    table = T.enum_table(tag)
    if typ == kx.ENUM:
        return re.sub(r"[^A-Za-z0-9]", "", m.group(2)) if m.group(2) and table else "0x" + m.group(1)
    if typ == kx.INT and table is not None and table.is_mask and m.group(2):
        return " ".join(re.sub(r"[^A-Za-z0-9]", "", x) for x in m.group(2).split(","))
    if typ == kx.INT:
        return str(n - (1 << 32) if n >= 1 << 31 else n)
    if typ == kx.DATE:
        return kx.format_datetime(n)
    return str(n)


def tree_to_xml(tree):
    root = ET.Element("KMIP")
    stack = [(-1, root)]
    for ind, name, tag, _tname, tcode, data in tree:
        while stack[-1][0] >= len(ind):
            stack.pop()
        if int(tag, 16) not in T.tags:
            raise KeyError("tag 0x%s not in the tables" % tag)
        el = ET.SubElement(stack[-1][1], re.sub(r"[^A-Za-z0-9]", "", name))
        typ = int(tcode, 16)
        if typ != kx.STRUCT:
            el.set("type", kx.XML_BY_TYPE[typ])
            el.set("value", xml_value(int(tag, 16), typ, data.strip()))
        stack.append((len(ind), el))
    return root[0]


def check_encoder():
    path = os.path.join(VECTORS, "kmip-testcases-v1.1.txt")
    ok, skipped, bad = 0, 0, []
    for tree, ttlv in txt_messages(path):
        if None in tree:
            skipped += 1
            continue
        try:
            x = tree_to_xml(tree)
        except KeyError:
            skipped += 1                   # extension tags (0x54xxxx): no XML name
            continue
        try:
            item = kx.from_xml(T, x)
            enc = kx.encode(item)
            back = kx.decode(ttlv)
        except (kx.XmlError, kx.DecodeError) as e:
            bad.append("%s: %s" % (tree[0][1], e))
            continue
        if enc != ttlv:
            i = next((k for k in range(min(len(enc), len(ttlv))) if enc[k] != ttlv[k]), min(len(enc), len(ttlv)))
            bad.append("%s differs at byte %d: %s vs %s" % (tree[0][1], i, enc[i:i + 16].hex(), ttlv[i:i + 16].hex()))
        elif back != [item]:
            bad.append("%s: decode(TTLV) differs from the XML items" % tree[0][1])
        else:
            ok += 1
    check("encoder: %d messages of kmip-testcases-v1.1 encode byte for byte and decode back "
          "(%d skipped: extension tags or unreadable lines)" % (ok, skipped),
          ok >= 500 and not bad, "; ".join(bad[:3]) + (" ... %d more" % (len(bad) - 3) if len(bad) > 3 else ""))


# ---- 2. tables ------------------------------------------------------------------------------
def check_tables():
    check("tables: UniqueIdentifier is 0x420094", T.tag("UniqueIdentifier") == 0x420094)
    check("tables: Template-Attribute spelling finds 0x420091", T.tag("Template-Attribute") == 0x420091)
    alg = T.enum_for_attribute("Cryptographic Algorithm")
    check("tables: AES = 3, DES3 (XML spelling of 3DES) = 2", alg.value("AES") == 3 and alg.value("DES3") == 2)
    mask = T.enum_table(T.tag("CryptographicUsageMask"))
    check("tables: usage mask 'Encrypt Decrypt' = 0x0C", kx._int("Encrypt Decrypt", mask, "m") == 0x0C)
    ops = T.enum_table(T.tag("Operation"))
    check("tables: Operation GetAttributeList = 0x0C, CreateKeyPair = 0x02",
          ops.value("GetAttributeList") == 0x0C and ops.value("CreateKeyPair") == 0x02)
    try:
        kx.from_xml(T, ET.fromstring('<NoSuchTag type="Integer" value="1"/>'))
        check("tables: an unknown tag is refused", False)
    except kx.XmlError as e:
        check("tables: an unknown tag is refused (%s)" % e, True)


# ---- 3. comparator --------------------------------------------------------------------------
CASE = os.path.join(VECTORS, "kmip-1.4-xml", "mandatory", "SKLC-M-1-14.xml")


def concrete(item, values):
    """The expected item with its placeholders replaced (a well-behaved server's answer)."""
    tag, typ, val = item
    if typ == kx.STRUCT:
        return kx.Item(tag, typ, [concrete(c, values) for c in val])
    if isinstance(val, kx.Placeholder):
        return kx.Item(tag, typ, int(time.time()) + val.offset if val.is_now else values[val.text])
    return item


def edit(item, path, fn):
    """Apply fn to the descendant at path (a list of child indexes)."""
    if not path:
        return fn(item)
    kids = list(item.value)
    kids[path[0]] = edit(kids[path[0]], path[1:], fn)
    return kx.Item(item.tag, item.typ, kids)


def compare(steps, actuals, client_bytes=()):
    """-> None or the Diff text of the first differing step."""
    ctx = kc.Context(T, client_bytes)
    for k, ((req, exp), act) in enumerate(zip(steps, actuals)):
        try:
            ctx.message(exp, act, ctx.resolve(req))
        except kc.Diff as d:
            return "step %d: %s" % (k + 1, d)
    return None


def attrs_of(resp):
    """(batch item index, payload index) path of the Response Payload of a 1-item response."""
    bi = next(i for i, c in enumerate(resp.value) if c.tag == T.tag("BatchItem"))
    pl = next(i for i, c in enumerate(resp.value[bi].value) if c.tag == T.tag("ResponsePayload"))
    return [bi, pl]


def check_comparator():
    case = kx.load_case(T, CASE)
    vals = {"$UNIQUE_IDENTIFIER_0": "uid-1"}
    good = [concrete(exp, vals) for _, exp in case.steps]
    r = compare(case.steps, good)
    check("compare: the expected responses themselves (placeholders filled) pass", r is None, r or "")
    # GetAttributes (step 2): attributes in another order still pass
    p = attrs_of(good[1])
    swapped = edit(good[1], p, lambda pl: kx.Item(pl.tag, pl.typ, [pl.value[0]] + pl.value[1:][::-1]))
    r = compare(case.steps, [good[0], swapped, good[2]])
    check("compare: Get Attributes in another order pass", r is None, r or "")
    # planted: State PreActive -> Active
    state = next(i for i, c in enumerate(good[1].value[p[0]].value[p[1]].value)
                 if c.tag == T.tag("Attribute") and c.value[0].value == "State")

    def set_active(attr):
        return kx.Item(attr.tag, attr.typ, [attr.value[0], attr.value[1]._replace(value=2)])
    bad = edit(good[1], p + [state], set_active)
    r = compare(case.steps, [good[0], bad, good[2]]) or ""
    check("compare: a planted State Active is reported with its step and path (%s)" % r,
          r.startswith("step 2: ResponseMessage/BatchItem/ResponsePayload/Attribute[State]/AttributeValue:")
          and "expected PreActive, got Active" in r)
    # planted: an attribute the request did not ask for
    extra = edit(good[1], p, lambda pl: kx.Item(pl.tag, pl.typ, pl.value + [kx.Item(
        T.tag("Attribute"), kx.STRUCT, [kx.Item(T.tag("AttributeName"), kx.TEXT, "Activation Date"),
                                        kx.Item(T.tag("AttributeValue"), kx.DATE, int(time.time()))])]))
    r = compare(case.steps, [good[0], extra, good[2]]) or ""
    check("compare: an attribute not asked for is reported (%s)" % r,
          "Attribute[Activation Date]: unexpected attribute" in r)
    # planted: a different Unique Identifier in step 3 than the one bound in step 1
    other = concrete(case.steps[2][1], {"$UNIQUE_IDENTIFIER_0": "uid-2"})
    r = compare(case.steps, [good[0], good[1], other]) or ""
    check("compare: a Unique Identifier other than the bound one is reported (%s)" % r,
          r.startswith("step 3:") and "$UNIQUE_IDENTIFIER_0 = 'uid-1'" in r)
    # planted: a time stamp a day old
    old = edit(good[0], [0], lambda h: kx.Item(h.tag, h.typ, [
        c._replace(value=c.value - 86400) if c.tag == T.tag("TimeStamp") else c for c in h.value]))
    r = compare(case.steps, [old, good[1], good[2]]) or ""
    check("compare: a Time Stamp outside the run's time window is reported (%s)" % r,
          "ResponseHeader/TimeStamp: expected $NOW" in r)
    # planted: a digest (server-generated) of the wrong length; of another length-equal value: ok
    dig = next(i for i, c in enumerate(good[1].value[p[0]].value[p[1]].value)
               if c.tag == T.tag("Attribute") and c.value[0].value == "Digest")
    dv = [1, 1]    # AttributeValue / DigestValue inside the Digest attribute

    def short(x):
        return x._replace(value=x.value[:16])

    def other_bytes(x):
        return x._replace(value=bytes(len(x.value)))
    r = compare(case.steps, [good[0], edit(good[1], p + [dig] + dv, other_bytes), good[2]])
    check("compare: a server-generated Digest Value of the same length passes", r is None, r or "")
    r = compare(case.steps, [good[0], edit(good[1], p + [dig] + dv, short), good[2]]) or ""
    check("compare: a Digest Value of the wrong length is reported (%s)" % r, "expected 32 bytes" in r)
    r = compare(case.steps, [good[0], edit(good[1], p + [dig] + dv, short), good[2]],
                client_bytes=[case.steps[1][1].value[p[0]].value[p[1]].value[dig].value[1].value[1].value])
    check("compare: a byte string the client sent is compared exactly", r is not None and "expected" in r)
    # planted: a failed operation
    failed_resp = edit(good[0], [1], lambda bi: kx.Item(bi.tag, bi.typ, [
        bi.value[0], kx.Item(T.tag("ResultStatus"), kx.ENUM, 1),
        kx.Item(T.tag("ResultReason"), kx.ENUM, 5), kx.Item(T.tag("ResultMessage"), kx.TEXT, "nope")]))
    r = compare(case.steps[:1], [failed_resp]) or ""
    check("compare: a failed operation is reported with its reason and message (%s)" % r,
          "expected Success, got OperationFailed (OperationNotSupported: 'nope')" in r)


def check_locate_and_query():
    steps = kx.load_case(T, os.path.join(VECTORS, "kmip-1.4-xml", "mandatory", "SASED-M-1-14.xml")).steps
    good = concrete(steps[0][1], {})
    p = attrs_of(good)
    more = edit(good, p, lambda pl: kx.Item(pl.tag, pl.typ, pl.value + [
        kx.Item(T.tag("Operation"), kx.ENUM, 0x1E)]))
    r = compare(steps, [more])
    check("compare: Query may list more operations than the test case's server", r is None, r or "")
    less = edit(good, p, lambda pl: kx.Item(pl.tag, pl.typ, [c for c in pl.value if not (
        c.tag == T.tag("Operation") and c.value == 0x08)]))
    r = compare(steps, [less]) or ""
    check("compare: Query without an operation of the test case is reported (%s)" % r,
          "Operation: not listed: Operation Locate" in r)
    # Suite B's Query: Notify and Put (server-to-client) and Template may be missing, nothing else
    sb = kx.load_case(T, os.path.join(VECTORS, "kmip-1.4-xml", "mandatory",
                                      "SUITEB_128-M-1-14.xml")).steps
    sgood = concrete(sb[0][1], {})
    sp = attrs_of(sgood)
    names = {0x1B: "Notify", 0x1C: "Put"}

    def without(pred):
        return edit(sgood, sp, lambda pl: kx.Item(pl.tag, pl.typ, [c for c in pl.value
                                                                   if not pred(c)]))
    r = compare(sb, [without(lambda c: c.tag == T.tag("Operation") and c.value in names or
                             c.tag == T.tag("ObjectType") and c.value == 0x06)])
    check("compare: Query without Notify, Put (server-to-client) and Template passes", r is None,
          r or "")
    for op, name in ((0x06, "Certify"), (0x28, "CreateSplitKey"), (0x29, "JoinSplitKey")):
        r = compare(sb, [without(lambda c, op=op: c.tag == T.tag("Operation") and
                                 c.value == op)]) or ""
        check("compare: Query without %s is reported (%s)" % (name, r),
              "not listed: Operation" in r and name.lower() in r.replace(" ", "").lower())
    r = compare(sb, [without(lambda c: c.tag == T.tag("ObjectType") and c.value == 0x09)]) or ""
    check("compare: Query without Object Type PGP Key is reported (%s)" % r,
          "not listed: Object Type" in r or "not listed: ObjectType" in r)
    uid = T.tag("UniqueIdentifier")
    loc_exp = kx.Item(T.tag("ResponseMessage"), kx.STRUCT, [])   # built by hand below
    header = good.value[0]
    op = kx.Item(T.tag("Operation"), kx.ENUM, 0x08)

    def resp(uids, located=None):
        pl = [kx.Item(uid, kx.TEXT, u) for u in uids]
        if located is not None:
            pl.insert(0, kx.Item(T.tag("LocatedItems"), kx.INT, located))
        return kx.Item(loc_exp.tag, kx.STRUCT, [header, kx.Item(T.tag("BatchItem"), kx.STRUCT, [
            op, kx.Item(T.tag("ResultStatus"), kx.ENUM, 0), kx.Item(T.tag("ResponsePayload"), kx.STRUCT, pl)])])
    exp = resp([kx.Placeholder("$UNIQUE_IDENTIFIER_0"), kx.Placeholder("$UNIQUE_IDENTIFIER_1")])
    exp = edit(exp, [0], lambda h: kx.Item(h.tag, h.typ, [c._replace(value=kx.Placeholder("$NOW"))
                                                          if c.tag == T.tag("TimeStamp") else c for c in h.value]))
    req = kx.Item(T.tag("RequestMessage"), kx.STRUCT, [])
    ctx = kc.Context(T)
    ctx.bind["$UNIQUE_IDENTIFIER_1"] = "b"
    try:
        ctx.message(exp, resp(["b", "a"], located=2), req)
        ok = ctx.bind.get("$UNIQUE_IDENTIFIER_0") == "a"
        check("compare: Locate identifiers in any order, Located Items allowed, unbound one binds", ok)
    except kc.Diff as d:
        check("compare: Locate identifiers in any order", False, str(d))
    ctx = kc.Context(T)
    try:
        ctx.message(exp, resp(["a", "b", "c"]), req)
        check("compare: Locate with one identifier too many is reported", False)
    except kc.Diff as d:
        check("compare: Locate with one identifier too many is reported (%s)" % d,
              "expected 2 identifiers, got 3" in str(d))


check_encoder()
check_tables()
def check_crypto_rules():
    """The cryptographic services' rules: output of a server-generated key compared by length,
    of a registered key exactly; RNG Seed's Data Length any amount up to the seed."""
    mand = os.path.join(VECTORS, "kmip-1.4-xml", "mandatory")
    vals = {"$UNIQUE_IDENTIFIER_0": "uid-1"}

    def with_data(resp, fn):
        p = attrs_of(resp)
        d = next(i for i, c in enumerate(resp.value[p[0]].value[p[1]].value)
                 if c.tag == T.tag("Data"))
        return edit(resp, p + [d], fn)
    for name, loose in (("CS-BC-M-1-14", True), ("CS-BC-M-4-14", False)):
        case = kx.load_case(T, os.path.join(mand, name + ".xml"))
        good = [concrete(exp, vals) for _, exp in case.steps]
        check("compare: %s's expected responses pass" % name, compare(case.steps, good) is None)
        other = list(good)
        other[1] = with_data(good[1], lambda x: x._replace(value=bytes(len(x.value))))
        r = compare(case.steps, other) or ""
        if loose:
            check("compare: %s (a created key): another ciphertext of the same length passes"
                  % name, r == "", r)
            other[1] = with_data(good[1], lambda x: x._replace(value=x.value + b"\0"))
            r = compare(case.steps, other) or ""
            check("compare: %s: a ciphertext of another length is reported (%s)" % (name, r),
                  "server-generated" in r)
        else:
            check("compare: %s (a registered key): another ciphertext is reported (%s)"
                  % (name, r), r.startswith("step 2:") and "/Data: expected" in r)
    # signatures: a randomised one (RSA-PSS here) is compared by length, a deterministic one
    # (the same request asking PKCS#1 v1.5) exactly
    def path_of(item, tag):
        if item.tag == tag:
            return []
        if item.typ != kx.STRUCT:
            return None
        for i, c in enumerate(item.value):
            sub = path_of(c, tag)
            if sub is not None:
                return [i] + sub
        return None
    def placeholders(item, out):
        if item.typ == kx.STRUCT:
            for c in item.value:
                placeholders(c, out)
        elif isinstance(item.value, kx.Placeholder) and not item.value.is_now:
            out.setdefault(item.value.text, "uid-%d" % len(out))
        return out
    # CS-AC-M-1-14's Sign (RSA-PSS) with a literal expected signature, as a vendor's log
    # would show it, in place of its $SIGNATURE_DATA
    case = kx.load_case(T, os.path.join(mand, "CS-AC-M-1-14.xml"))
    vals = {}
    for _, exp in case.steps:
        placeholders(exp, vals)
    steps = list(case.steps)
    k = next(i for i, (_, e) in enumerate(steps) if path_of(e, T.tag("SignatureData")) is not None)
    sp = path_of(steps[k][1], T.tag("SignatureData"))
    steps[k] = (steps[k][0], edit(steps[k][1], sp, lambda x: x._replace(value=b"\x5a" * 256)))
    good = [concrete(exp, vals) for _, exp in steps]
    check("compare: CS-AC-M-1-14 with a literal signature: that signature passes",
          compare(steps, good) is None)
    other = list(good)
    other[k] = edit(good[k], sp, lambda x: x._replace(value=bytes(256)))
    r = compare(steps, other) or ""
    check("compare: RSA-PSS (randomised): another signature of the same length passes", r == "", r)
    req, exp = steps[k]
    pl = path_of(req, T.tag("RequestPayload"))

    def asking(padding):
        cp = kx.Item(T.tag("CryptographicParameters"), kx.STRUCT, [kx.Item(
            T.tag("PaddingMethod"), kx.ENUM, T.enum_table(T.tag("PaddingMethod")).value(padding))])
        return edit(req, pl, lambda x: x._replace(value=[x.value[0], cp] + list(x.value[1:])))
    for padding, loose in (("PSS", True), ("PKCS1 v1.5", False)):
        steps[k] = (asking(padding), exp)
        r = compare(steps, other) or ""
        if loose:
            check("compare: a Sign asking PSS: another signature of the same length passes",
                  r == "", r)
        else:
            check("compare: a Sign asking PKCS#1 v1.5 (deterministic): another signature is "
                  "reported (%s)" % r, "SignatureData" in r, r)
    case = kx.load_case(T, os.path.join(VECTORS, "kmip-1.4-xml", "optional", "CS-RNG-O-1-14.xml"))
    good = [concrete(exp, {}) for _, exp in case.steps]
    p = attrs_of(good[0])
    for n, ok in ((0, True), (16, True), (32, True), (33, False)):
        resp = edit(good[0], p + [0], lambda x, n=n: x._replace(value=n))
        r = compare(case.steps, [resp]) or ""
        check("compare: RNG Seed Data Length %d of a 32-byte seed %s" % (
            n, "passes" if ok else "is reported (%s)" % r), (r == "") == ok, r)


check_comparator()
check_locate_and_query()
check_crypto_rules()
print("%d passed, %d failed" % (passed, failed), flush=True)
sys.exit(0 if failed == 0 else 1)
