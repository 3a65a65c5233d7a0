"""Comparison of a server's KMIP response with a test case's expected response
(tools/conformance.py; the rules are listed in docs/conformance.md, "Comparison rules").

    ctx = Context(tables, client_bytes)     # one per test case (or chain of test cases)
    req = ctx.resolve(request_item)         # placeholders of a request -> values
    ctx.compare(step, expected_item, actual_item, request_item)   # raises Diff
"""
import hashlib
import re
import time

from kmipxml import (BYTES, DATE, ENUM, STRUCT, TEXT, XML_BY_TYPE, Item, Placeholder,
                     format_datetime, norm, show_value)

NOW_SLACK = 5            # seconds around the case's time window for $NOW values
# Byte strings a server makes up (key generation, digests of generated keys): compared by
# length and by consistency between steps, unless the value was sent by the client.
GENERATED_BYTES = {"Key Material", "Digest Value", "Modulus", "Private Exponent", "P", "Q",
                   "Prime Exponent P", "Prime Exponent Q", "CRT Coefficient", "D", "Q String",
                   "X", "Y", "J", "G", "Key Value"}
# Attributes whose value is the server's own (its generator, its lease policy): present, any value.
SERVER_SPECIFIC_ATTRS = {"Random Number Generator", "Lease Time"}
# Object types a 1.4 server need not list in Query even if the test case's server did.
QUERY_OPTIONAL_OBJECTS = {"Template"}     # deprecated since KMIP 1.3
# Server-to-client operations (KMIP 1.4 section 5): a server that sends them lists them; one
# that never opens a connection to its clients does not (docs/conformance.md "Query").
QUERY_OPTIONAL_OPERATIONS = {"Notify", "Put"}


class Diff(Exception):
    def __init__(self, path, msg):
        super().__init__("%s: %s" % (path, msg))
        self.path, self.msg = path, msg


def is_custom(name):
    return name[:2] in ("x-", "y-")


class Context:
    def __init__(self, tables, client_bytes=(), t0=None):
        self.t = tables
        self.bind = {}                    # placeholder text / ("gen", bytes) -> actual value
        self.client_bytes = set(client_bytes)
        self.t0 = time.time() if t0 is None else t0
        self.last_by_name = {}            # normalised tag name -> last value a response carried
        self.uid_kind = {}                # uid -> (Object Type value, made by the server)
        self.T = {n: tables.tag(n) for n in (
            "ResponseHeader", "BatchItem", "Operation", "ResultStatus", "ResultReason",
            "ResultMessage", "ResponsePayload", "RequestPayload", "Attribute", "AttributeName",
            "AttributeValue", "UniqueIdentifier", "ObjectType", "VendorIdentification",
            "ServerInformation", "TimeStamp", "KeyFormatType", "LocatedItems", "AttributeIndex")}

    # ---- requests ----------------------------------------------------------------------
    def resolve(self, item):
        tag, typ, val = item
        if typ == STRUCT:
            return Item(tag, typ, [self.resolve(c) for c in val])
        if not isinstance(val, Placeholder):
            if typ == BYTES and ("gen", val) in self.bind:
                # the vendor's server-made value sent back: the same place in our run
                return Item(tag, typ, self.bind[("gen", val)])
            return item
        if val.is_now:
            return Item(tag, typ, int(time.time()) + val.offset)
        if val.text not in self.bind:
            # some cases send $DATA_0 / $MAC_DATA / $IV_COUNTER_NONCE that their expected
            # response shows as a literal: the last response's field of that name
            k = norm(re.sub(r"_\d+$", "", val.text.lstrip("$")))
            if k in self.last_by_name:
                return Item(tag, typ, self.last_by_name[k])
            raise Diff("request", "%s is used before a response gave its value" % val.text)
        return Item(tag, typ, self.bind[val.text])

    def bind_loose(self, exp, act):
        """After a difference (--all): bind the placeholders still unbound to the items at the
        same place in the response, so that the next steps can still be sent."""
        if exp.typ == STRUCT and act.typ == STRUCT:
            seen = {}
            for e in exp.value:
                k = seen[e.tag] = seen.get(e.tag, 0) + 1
                same = [a for a in act.value if a.tag == e.tag]
                if len(same) >= k:
                    self.bind_loose(e, same[k - 1])
        elif isinstance(exp.value, Placeholder) and not exp.value.is_now and exp.typ == act.typ:
            self.bind.setdefault(exp.value.text, act.value)

    # ---- helpers -----------------------------------------------------------------------
    def name(self, tag):
        return self.t.xml_name(tag)

    def show(self, item, attr_table=None):
        return show_value(self.t, item, attr_table)

    def snapshot(self):
        return dict(self.bind)

    def restore(self, snap):
        self.bind = snap

    def _kids(self, item, tag):
        return [c for c in item.value if c.tag == tag]

    def _one(self, item, tag):
        k = self._kids(item, tag)
        return k[0] if k else None

    # ---- values ------------------------------------------------------------------------
    def value(self, path, exp, act, attr_table=None):
        if act.typ != exp.typ:
            raise Diff(path, "expected type %s, got type %d" % (self.t_name(exp.typ), act.typ))
        ev, av = exp.value, act.value
        if isinstance(ev, Placeholder):
            return self._placeholder(path, ev, act)
        if exp.typ == BYTES and self.t.spec_name(exp.tag) in GENERATED_BYTES and ev not in self.client_bytes:
            key = ("gen", ev)
            if key in self.bind:
                if self.bind[key] != av:
                    raise Diff(path, "server-generated value changed between steps: %s, then %s"
                               % (self.show(Item(act.tag, BYTES, self.bind[key])), self.show(act)))
                return
            if len(av) != len(ev):
                raise Diff(path, "expected %d bytes (server-generated), got %d" % (len(ev), len(av)))
            self.bind[key] = av
            return
        if ev != av:
            raise Diff(path, "expected %s, got %s" % (self.show(exp, attr_table), self.show(act, attr_table)))

    @staticmethod
    def t_name(typ):
        return XML_BY_TYPE.get(typ, str(typ))

    def _placeholder(self, path, ph, act):
        if ph.is_now:
            if act.typ != DATE:
                raise Diff(path, "expected a DateTime for %s" % ph.text)
            lo = int(self.t0) + ph.offset - NOW_SLACK
            hi = int(time.time()) + ph.offset + NOW_SLACK
            if not lo <= act.value <= hi:
                raise Diff(path, "expected %s (between %s and %s), got %s"
                           % (ph.text, format_datetime(lo), format_datetime(hi), format_datetime(act.value)))
            return
        if ph.text in self.bind:
            if self.bind[ph.text] != act.value:
                raise Diff(path, "expected %s = %r (bound earlier), got %r"
                           % (ph.text, self.bind[ph.text], act.value))
            return
        if ph.text.startswith("$UNIQUE_IDENTIFIER"):
            for k, v in self.bind.items():
                if isinstance(k, str) and k.startswith("$UNIQUE_IDENTIFIER") and v == act.value:
                    raise Diff(path, "%s got %r, the value of %s" % (ph.text, act.value, k))
            if act.typ != TEXT or not act.value:
                raise Diff(path, "expected a non-empty Unique Identifier for %s" % ph.text)
        self.bind[ph.text] = act.value

    # ---- structures --------------------------------------------------------------------
    def item(self, path, exp, act, attr_table=None):
        if exp.tag != act.tag:
            raise Diff(path, "expected %s, got %s" % (self.name(exp.tag), self.name(act.tag)))
        if exp.typ != STRUCT:
            return self.value(path, exp, act, attr_table)
        if act.typ != STRUCT:
            raise Diff(path, "expected a structure, got type %d" % act.typ)
        self.children(path, exp.value, act.value)

    def label(self, path, item, index, count):
        """Path element of a child: Attribute[Name] for attributes, Tag[i] when repeated."""
        n = self.name(item.tag)
        if item.tag == self.T["Attribute"]:
            an = self._one(item, self.T["AttributeName"])
            if an is not None:
                return "%s/%s[%s]" % (path, n, an.value)
        return "%s/%s[%d]" % (path, n, index + 1) if count > 1 else "%s/%s" % (path, n)

    def children(self, path, exp, act):
        ai = self.T["AttributeIndex"]
        if not any(e.tag == ai for e in exp):     # an omitted Attribute Index means 0
            act = [a for a in act if not (a.tag == ai and a.value == 0)]
        attr_table, any_value = None, False
        counts = {}
        for i, e in enumerate(exp):
            k = counts[e.tag] = counts.get(e.tag, 0) + 1
            p = self.label(path, e, k - 1, sum(1 for x in exp if x.tag == e.tag))
            if i >= len(act):
                raise Diff(p, "missing (expected %s)" % self.brief(e))
            a = act[i]
            if e.tag == self.T["AttributeName"] and e.typ == TEXT and not isinstance(e.value, Placeholder):
                attr_table = self.t.enum_for_attribute(e.value)
                any_value = e.value in SERVER_SPECIFIC_ATTRS
            if e.tag == self.T["AttributeValue"] and any_value:
                if a.tag != e.tag:      # any value: the server's generator or lease policy
                    raise Diff(p, "expected %s, got %s" % (self.name(e.tag), self.name(a.tag)))
                continue
            self.item(p, e, a, attr_table if e.tag == self.T["AttributeValue"] else None)
        if len(act) > len(exp):
            x = act[len(exp)]
            raise Diff("%s/%s" % (path, self.name(x.tag)), "unexpected item (%s)" % self.brief(x))

    def brief(self, item):
        if item.typ == STRUCT:
            an = self._one(item, self.T["AttributeName"]) if item.tag == self.T["Attribute"] else None
            return "%s %s" % (self.name(item.tag), an.value) if an is not None else self.name(item.tag)
        return "%s %s" % (self.name(item.tag), self.show(item))

    # ---- messages ----------------------------------------------------------------------
    def message(self, exp, act, req):
        """Compare a whole Response Message; req is the Request Message sent."""
        p = self.name(exp.tag)
        if act.tag != exp.tag:
            raise Diff(p, "expected %s, got %s" % (self.name(exp.tag), self.name(act.tag)))
        eh, ah = self._one(exp, self.T["ResponseHeader"]), self._one(act, self.T["ResponseHeader"])
        if ah is None:
            raise Diff(p, "no Response Header")
        ebi = self._kids(exp, self.T["BatchItem"])
        abi = self._kids(act, self.T["BatchItem"])
        rbi = self._kids(req, self.T["BatchItem"])

        def bpath(i):
            return "%s/BatchItem[%d]" % (p, i + 1) if len(ebi) > 1 else p + "/BatchItem"
        diffs = []
        for i, (e, a) in enumerate(zip(ebi, abi)):   # a failed operation is the news
            try:
                self.result(bpath(i), e, a)
            except Diff as d:
                diffs.append(d)
        if diffs:   # the item that failed, not those undone or skipped because of it
            raise next((d for d in diffs if "got OperationFailed" in d.msg), diffs[0])
        self.item(p + "/ResponseHeader", self.answer_version(eh, req), ah)
        if len(abi) != len(ebi):
            raise Diff(p, "expected %d Batch Items, got %d" % (len(ebi), len(abi)))
        for i, (e, a) in enumerate(zip(ebi, abi)):
            self.batch_item(bpath(i), e, a, rbi[i] if i < len(rbi) else None)

    def answer_version(self, eh, req):
        """The expected Response Header with the request's Protocol Version: a server answers
        in the request's version (KMIP 1.4 section 9.1, docs/conformance.md). One vector says
        otherwise (OMOS-O-1-14 step 2 expects 1.3 for its own 1.4 request); the request wins."""
        pv = self.t.tag("ProtocolVersion")
        rh = self._one(req, self.t.tag("RequestHeader")) if req is not None else None
        rpv = self._one(rh, pv) if rh is not None else None
        if rpv is None or self._one(eh, pv) is None:
            return eh
        return Item(eh.tag, eh.typ, [rpv if c.tag == pv else c for c in eh.value])

    def _result(self, item):
        st = self._one(item, self.T["ResultStatus"])
        rr = self._one(item, self.T["ResultReason"])
        rm = self._one(item, self.T["ResultMessage"])
        return st, rr, rm

    def result(self, path, exp, act):
        """Result Status and Result Reason as expected (the Result Message is free text)."""
        est, err, _ = self._result(exp)
        ast, arr, arm = self._result(act)
        if est is not None and (ast is None or ast.value != est.value or
                                (err is not None and (arr is None or arr.value != err.value))):
            got = self.show(ast) if ast is not None else "no Result Status"
            if arr is not None:
                got += " (%s%s)" % (self.show(arr), ": %r" % arm.value if arm is not None else "")
            want = self.show(est) + (" (%s)" % self.show(err) if err is not None else "")
            raise Diff(path + "/ResultStatus", "expected %s, got %s" % (want, got))

    def batch_item(self, path, exp, act, req):
        self.result(path, exp, act)
        self._remember(exp, act, req)
        strip = (self.T["ResultMessage"],)
        ek = [c for c in exp.value if c.tag not in strip]
        ak = [c for c in act.value if c.tag not in strip]
        op = self._one(exp, self.T["Operation"])
        ep = self._one(exp, self.T["ResponsePayload"])
        ap = self._one(act, self.T["ResponsePayload"])
        special = self.payload_rule(op)
        if special is None or ep is None or ap is None:
            return self.children(path, ek, ak)
        self.children(path, [c for c in ek if c.tag != ep.tag], [c for c in ak if c.tag != ap.tag])
        rp = self._one(req, self.T["RequestPayload"]) if req is not None else None
        special(path + "/ResponsePayload", ep, ap, rp)

    def payload_rule(self, op):
        if op is None or op.typ != ENUM:
            return None
        name = norm(self.t.enum_table(op.tag).name_of(op.value) or "")
        return {"query": self.query, "getattributes": self.get_attributes,
                "getattributelist": self.get_attribute_list, "locate": self.locate,
                "encrypt": self.crypt, "decrypt": self.crypt, "sign": self.crypt,
                "rngretrieve": self.rng, "rngseed": self.rng_seed}.get(name)

    def _remember(self, exp, act, req):
        """The response's primitive fields by name (for requests' unbound placeholders), and
        which objects exist with which type, made by the server or registered."""
        ap = self._one(act, self.T["ResponsePayload"])
        if ap is None:
            return
        for c in ap.value:
            if c.typ != STRUCT:
                self.last_by_name[norm(self.t.spec_name(c.tag) or "")] = c.value
        op = self._one(exp, self.T["Operation"])
        name = norm(self.t.enum_table(op.tag).name_of(op.value) or "") if op is not None else ""
        rp = self._one(req, self.T["RequestPayload"]) if req is not None else None
        if name in ("create", "register") and rp is not None:
            ot = self._one(rp, self.T["ObjectType"])
            for u in self._kids(ap, self.T["UniqueIdentifier"]):
                self.uid_kind[u.value] = (ot.value if ot is not None else None, name == "create")
        elif name in ("createkeypair", "rekeykeypair"):
            for c in ap.value:
                if c.typ == TEXT:
                    self.uid_kind[c.value] = (None, True)

    def crypt(self, path, exp, act, req):
        """Encrypt / Decrypt / Sign: compared exactly, except where the output is the server's
        choice: a key the server generated (the vendor's random key), an RSA encryption with a
        public key or a signature (random padding / nonce), an IV/Counter/Nonce the server
        made (Random IV): then Data, Signature Data, IV/Counter/Nonce and Authenticated
        Encryption Tag are server-generated bytes (length, and consistency between steps).
        Correlation Value: present when expected, any value (the server's own state)."""
        uid = self._one(req, self.T["UniqueIdentifier"]) if req is not None else None
        kind = self.uid_kind.get(uid.value) if uid is not None else None
        tn = {n: self.t.tag(n) for n in ("Data", "SignatureData", "IVCounterNonce",
                                          "AuthenticatedEncryptionTag", "CorrelationValue")}
        sent_iv = req is not None and self._one(req, tn["IVCounterNonce"]) is not None
        got_iv = self._one(act, tn["IVCounterNonce"]) is not None
        public_key = 3   # Object Type Public Key: RSA encryption pads at random
        loose = (kind is not None and (kind[1] or kind[0] == public_key)) or \
            (got_iv and not sent_iv) or \
            (self._one(exp, tn["SignatureData"]) is not None and self._random_sig(req))
        gen = {tn["Data"], tn["SignatureData"], tn["IVCounterNonce"],
               tn["AuthenticatedEncryptionTag"]} if loose else set()
        ek = [c for c in exp.value if c.tag != tn["CorrelationValue"]]
        ak = [c for c in act.value if c.tag != tn["CorrelationValue"]]
        ec = self._one(exp, tn["CorrelationValue"])
        ac = self._one(act, tn["CorrelationValue"])
        if ec is not None:
            if ac is None:
                raise Diff(path, "no Correlation Value")
            if isinstance(ec.value, Placeholder):
                self._placeholder(path + "/CorrelationValue", ec.value, ac)
        if len(ek) != len(ak) or [c.tag for c in ek] != [c.tag for c in ak]:
            return self.children(path, ek, ak)
        for e, a in zip(ek, ak):
            p = "%s/%s" % (path, self.name(e.tag))
            if e.tag in gen and e.typ == BYTES and a.typ == BYTES and \
                    not isinstance(e.value, Placeholder):
                key = ("gen", e.value)
                if key in self.bind and self.bind[key] != a.value:
                    raise Diff(p, "server-generated value changed between steps")
                if len(a.value) != len(e.value):
                    raise Diff(p, "expected %d bytes (server-generated), got %d"
                               % (len(e.value), len(a.value)))
                self.bind[key] = a.value
            else:
                self.item(p, e, a)

    def _random_sig(self, req):
        """Is the signature the request asks for randomised (RSA-PSS salt, ECDSA nonce)? A
        PKCS#1 v1.5 signature is deterministic and compared exactly. Without Cryptographic
        Parameters the key's own attribute chose: randomised unless shown otherwise."""
        cp = self._one(req, self.t.tag("CryptographicParameters")) if req is not None else None
        if cp is None:
            return True
        names = set()
        for c in cp.value:
            if c.typ == ENUM and not isinstance(c.value, Placeholder):
                names.add((norm(self.t.spec_name(c.tag) or ""),
                           norm(self.t.enum_table(c.tag).name_of(c.value) or "")))
        for field, val in names:
            if field == "paddingmethod" and val == "pss":
                return True
            if field == "cryptographicalgorithm" and val in ("ecdsa", "ec"):
                return True
            if field == "digitalsignaturealgorithm" and ("ecdsa" in val or "pss" in val):
                return True
        return False

    def rng_seed(self, path, exp, act, req):
        """RNG Seed: Data Length is how much of the seed the server's generator took (its own
        policy; CS-RNG-O-1..3 show 32, 16 and 0 for one request): 0 up to the seed's length."""
        dl = self.t.tag("DataLength")
        ed, ad = self._one(exp, dl), self._one(act, dl)
        sd = self._one(req, self.t.tag("Data")) if req is not None else None
        if ed is None:
            return self.children(path, exp.value, act.value)
        if ad is None or sd is None or not 0 <= ad.value <= len(sd.value):
            raise Diff(path + "/DataLength", "expected 0 to %s bytes accepted, got %s" % (
                len(sd.value) if sd is not None else "?", ad.value if ad is not None else "none"))

    def rng(self, path, exp, act, req):
        """RNG Retrieve: the Data is the server's random bytes: the expected length."""
        ed, ad = self._one(exp, self.t.tag("Data")), self._one(act, self.t.tag("Data"))
        if ed is None or ad is None or ad.typ != BYTES or len(ad.value) != len(ed.value):
            raise Diff(path + "/Data", "expected %s random bytes" %
                       (len(ed.value) if ed is not None else "no"))

    # ---- operation-specific payloads -----------------------------------------------------
    def query(self, path, exp, act, req):
        """Operations / Object Types: the expected ones must be listed (extra ones allowed;
        Template and the server-to-client Notify and Put are optional); Vendor Identification and Server Information: present, any
        value; anything else as expected, in any order."""
        have = {(c.tag, c.value) for c in act.value if c.typ != STRUCT}
        have_tags = {c.tag for c in act.value}
        missing = []       # (path, text), all reported at once
        for e in exp.value:
            p = "%s/%s" % (path, self.name(e.tag))
            if e.tag in (self.T["VendorIdentification"], self.T["ServerInformation"]):
                if e.tag not in have_tags:
                    missing.append((p, self.name(e.tag)))
            elif e.tag == self.T["ObjectType"] and self.show(e) in QUERY_OPTIONAL_OBJECTS:
                continue
            elif e.tag == self.T["Operation"] and self.show(e) in QUERY_OPTIONAL_OPERATIONS:
                continue
            elif e.typ == STRUCT:
                if not any(self._matches(path, e, a) for a in act.value if a.tag == e.tag):
                    missing.append((p, self.brief(e)))
            elif (e.tag, e.value) not in have:
                missing.append((p, "%s %s" % (self.name(e.tag), self.show(e))))
        if missing:
            raise Diff(missing[0][0], "not listed: %s" % ", ".join(m[1] for m in missing))

    def _matches(self, path, e, a):
        snap = self.snapshot()
        try:
            self.item(path, e, a)
            return True
        except Diff:
            self.restore(snap)
            return False

    def _split_attrs(self, item):
        attrs, other = {}, []
        for c in item.value:
            if c.tag == self.T["Attribute"]:
                an = self._one(c, self.T["AttributeName"])
                attrs.setdefault(an.value if an is not None else "?", []).append(c)
            else:
                other.append(c)
        return attrs, other

    def get_attributes(self, path, exp, act, req):
        """Attributes in any order (instances of one attribute in any order); the others in
        order. Extra attributes: an error, except standard ones when the request named none."""
        ea, eo = self._split_attrs(exp)
        aa, ao = self._split_attrs(act)
        self.children(path, eo, ao)
        named = req is not None and any(c.tag == self.T["AttributeName"] for c in req.value)
        missing = [n for n in ea if n not in aa]
        if missing:
            raise Diff("%s/Attribute[%s]" % (path, missing[0]), "missing" if len(missing) == 1 else
                       "missing (and %s)" % ", ".join(missing[1:]))
        extra = [n for n in aa if n not in ea and (named or is_custom(n))]
        if extra:
            raise Diff("%s/Attribute[%s]" % (path, extra[0]), "unexpected attribute" + (
                " (and %s)" % ", ".join(extra[1:]) if len(extra) > 1 else ""))
        for name, insts in ea.items():
            p = "%s/Attribute[%s]" % (path, name)
            got = list(aa.get(name, []))
            if len(got) != len(insts):
                raise Diff(p, "expected %d instances, got %d" % (len(insts), len(got)))
            for e in insts:
                for a in got:
                    if self._matches(p, e, a):
                        got.remove(a)
                        break
                else:
                    self.item(p, e, got[0])     # raises the difference with the first one

    def get_attribute_list(self, path, exp, act, req):
        """Attribute names as a set: every expected name listed; extra standard names allowed,
        extra custom (x-, y-) names not."""
        an = self.T["AttributeName"]
        self.children(path, [c for c in exp.value if c.tag != an], [c for c in act.value if c.tag != an])
        want = [c.value for c in exp.value if c.tag == an]
        got = [c.value for c in act.value if c.tag == an]
        missing = [n for n in want if n not in got]
        if missing:
            raise Diff(path + "/AttributeName", "missing %s" % ", ".join(repr(n) for n in missing))
        extra = [n for n in got if n not in want and is_custom(n)]
        if extra:
            raise Diff(path + "/AttributeName", "unexpected %s" % ", ".join(repr(n) for n in extra))

    def locate(self, path, exp, act, req):
        """Unique Identifiers in any order, same count; unbound placeholders take the
        identifiers no bound one accounts for."""
        uid, li = self.T["UniqueIdentifier"], self.T["LocatedItems"]
        want = [c.value for c in exp.value if c.tag == uid]
        got = [c.value for c in act.value if c.tag == uid]
        other = [c for c in act.value if c.tag != uid]
        if not any(c.tag == li for c in exp.value):    # a server MAY send Located Items
            n = [c for c in other if c.tag == li]
            if n and n[0].value < len(got):
                raise Diff(path + "/LocatedItems", "%d, fewer than the %d identifiers returned"
                           % (n[0].value, len(got)))
            other = [c for c in other if c.tag != li]
        self.children(path, [c for c in exp.value if c.tag != uid], other)
        if len(want) != len(got):
            raise Diff(path + "/UniqueIdentifier", "expected %d identifiers, got %d (%s)"
                       % (len(want), len(got), ", ".join(repr(g) for g in got) or "none"))
        left = list(got)
        unbound = []
        for w in want:
            v = self.bind.get(w.text) if isinstance(w, Placeholder) else w
            if v is None:
                unbound.append(w)
            elif v in left:
                left.remove(v)
            else:
                raise Diff(path + "/UniqueIdentifier", "%s (%r) not found; got %s"
                           % (w, v, ", ".join(repr(g) for g in got)))
        for w, v in zip(unbound, left):
            self._placeholder(path + "/UniqueIdentifier", w, Item(uid, TEXT, v))


def request_bytes(tables, steps):
    """Every Byte String a test case's requests carry (the client's values), and the SHA-256
    of each (the Digest of registered material)."""
    out = set()

    def walk(it):
        if it.typ == STRUCT:
            for c in it.value:
                walk(c)
        elif it.typ == BYTES and not isinstance(it.value, Placeholder):
            out.add(it.value)
            out.add(hashlib.sha256(it.value).digest())
    for req, _ in steps:
        walk(req)
    return out


def op_names(tables, req):
    """"Create" or "Locate, Get" for a Request Message."""
    bi, op = tables.tag("BatchItem"), tables.tag("Operation")
    names = []
    for b in req.value:
        if b.tag == bi:
            for c in b.value:
                if c.tag == op:
                    names.append(re.sub(r"[^A-Za-z0-9]", "", tables.enum_table(op).name_of(c.value) or "?"))
    return ", ".join(names)
