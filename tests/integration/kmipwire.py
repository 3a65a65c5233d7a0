"""Minimal TTLV codec and mutual-TLS KMIP client for the end-to-end tests (stdlib only)."""
import socket
import ssl
import struct

STRUCT, INT, LONG, BIGINT, ENUM, BOOL, TEXT, BYTES, DATE, INTERVAL = 1, 2, 3, 4, 5, 6, 7, 8, 9, 10

T_UID = 0x420094
T_BATCH_ITEM = 0x42000F
T_RESULT_STATUS = 0x42007F
T_RESULT_REASON = 0x42007E
T_RESULT_MESSAGE = 0x42007D
T_OPERATION = 0x42005C
T_PAYLOAD_RESP = 0x42007C
T_ATTRIBUTE = 0x420008
T_ATTR_NAME = 0x42000A
T_ATTR_VALUE = 0x42000B
T_KEY_MATERIAL = 0x420043
T_BATCH_ID = 0x420093


def decode(b, off=0, end=None):
    """bytes -> list of (tag, type, value); value is a list for structures."""
    end = len(b) if end is None else end
    out = []
    while off < end:
        if end - off < 8:
            raise ValueError("truncated header")
        tag = int.from_bytes(b[off:off + 3], "big")
        typ = b[off + 3]
        ln = struct.unpack(">I", b[off + 4:off + 8])[0]
        off += 8
        padded = ln if typ == STRUCT else (ln + 7) // 8 * 8
        if off + padded > end:
            raise ValueError("truncated value")
        raw = b[off:off + ln]
        if typ == STRUCT:
            val = decode(b, off, off + ln)
        elif typ in (INT, ENUM):
            val = struct.unpack(">i" if typ == INT else ">I", raw)[0]
        elif typ in (LONG, DATE, INTERVAL):
            val = struct.unpack(">q", raw)[0] if ln == 8 else struct.unpack(">I", raw)[0]
        elif typ == BOOL:
            val = struct.unpack(">Q", raw)[0]
        elif typ == TEXT:
            val = raw.decode("utf-8")
        else:
            val = bytes(raw)
        out.append((tag, typ, val))
        off += padded
    return out


def encode(items):
    out = bytearray()
    for tag, typ, val in items:
        if typ == STRUCT:
            raw = encode(val)
        elif typ == INT:
            raw = struct.pack(">i", val)
        elif typ == ENUM:
            raw = struct.pack(">I", val)
        elif typ in (LONG, DATE):
            raw = struct.pack(">q", val)
        elif typ == INTERVAL:
            raw = struct.pack(">I", val)
        elif typ == BOOL:
            raw = struct.pack(">Q", val)
        elif typ == TEXT:
            raw = val.encode("utf-8")
        else:
            raw = bytes(val)
        out += tag.to_bytes(3, "big") + bytes([typ]) + struct.pack(">I", len(raw))
        out += raw
        if typ != STRUCT:
            out += b"\0" * ((8 - len(raw) % 8) % 8)
    return bytes(out)


def walk(items):
    for it in items:
        yield it
        if it[1] == STRUCT:
            yield from walk(it[2])


def find_all(items, tag):
    return [it for it in walk(items) if it[0] == tag]


def find(items, tag):
    r = find_all(items, tag)
    return r[0][2] if r else None


def rewrite_uids(items, mapping):
    """Replace Unique Identifier text values by mapping[value] where present."""
    out = []
    for tag, typ, val in items:
        if typ == STRUCT:
            val = rewrite_uids(val, mapping)
        elif tag == T_UID and typ == TEXT and val in mapping:
            val = mapping[val]
        out.append((tag, typ, val))
    return out


def batch_items(resp_tree):
    return find_all(resp_tree, T_BATCH_ITEM)


def item_result(item):
    sub = item[2]
    return find(sub, T_RESULT_STATUS), find(sub, T_RESULT_REASON), find(sub, T_RESULT_MESSAGE)


def request(op, payload, version=(1, 1), batch_id=None):
    bi = [(T_OPERATION, ENUM, op)]
    if batch_id is not None:
        bi.append((T_BATCH_ID, BYTES, batch_id))
    bi.append((0x420079, STRUCT, payload))
    hdr = [(0x420069, STRUCT, [(0x42006A, INT, version[0]), (0x42006B, INT, version[1])]),
           (0x42000D, INT, 1)]
    return encode([(0x420078, STRUCT, [(0x420077, STRUCT, hdr), (T_BATCH_ITEM, STRUCT, bi)])])


def attr_names_payload(uid, names):
    return [(T_UID, TEXT, uid)] + [(T_ATTR_NAME, TEXT, n) for n in names]


class Conn:
    def __init__(self, port, ca, cert, key, host="127.0.0.1", timeout=15):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_verify_locations(ca)
        ctx.check_hostname = False
        ctx.load_cert_chain(cert, key)
        s = socket.create_connection((host, port), timeout=timeout)
        self.s = ctx.wrap_socket(s)
        self.s.settimeout(timeout)

    def _read(self, n):
        b = bytearray()
        while len(b) < n:
            c = self.s.recv(n - len(b))
            if not c:
                raise EOFError("connection closed after %d of %d bytes" % (len(b), n))
            b += c
        return bytes(b)

    def call(self, msg):
        self.s.sendall(msg)
        hdr = self._read(8)
        ln = struct.unpack(">I", hdr[4:8])[0]
        body = self._read(ln)
        return decode(hdr + body)

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass
