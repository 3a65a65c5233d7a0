/* One error enum for the whole firmware.
 * 0 = OK, negative = failure, grouped by block:
 *   -1..-31 parse, -32..-63 I/O, -64..-95 HSM, -96..-127 store/policy, -128 internal. */
#ifndef COFFRE_BOARD_ERR_H
#define COFFRE_BOARD_ERR_H

#define MUST_USE __attribute__((warn_unused_result))

typedef enum cf_err {
	CF_OK = 0,

	/* parse: -1..-31 (kmip/ maps each to a KMIP Result Reason) */
	CF_E_TRUNCATED = -1,      /* fewer bytes than a header or declared length needs */
	CF_E_TOO_LARGE = -2,      /* a length over the caller's limit */
	CF_E_DEPTH = -3,          /* Structure nesting over the limit */
	CF_E_BAD_TYPE = -4,       /* type byte unknown, or wrong for the tag */
	CF_E_BAD_LENGTH = -5,     /* length wrong for a fixed-width type */
	CF_E_BAD_PADDING = -6,    /* non-zero padding byte */
	CF_E_UNKNOWN_TAG = -7,    /* tag not in the tables */
	CF_E_UNEXPECTED_TAG = -8, /* a valid tag where another was required */
	CF_E_TRAILING = -9,       /* bytes left after a Structure's last field */
	CF_E_BAD_UTF8 = -10,      /* Text String not valid UTF-8, or holds NUL */
	CF_E_BAD_VALUE = -11,     /* value out of range (Boolean not 0/1, negative length...) */
	CF_E_MISSING = -12,       /* a required field is absent */
	CF_E_DUPLICATE = -13,     /* a single-instance field appears twice */
	CF_E_BATCH_COUNT = -14,   /* Batch Count disagrees with the items */
	CF_E_TOO_MANY = -15,      /* more items than the limit (batch items, attributes) */
	CF_E_BAD_VERSION = -16,   /* protocol version not supported */
	CF_E_UNSUPPORTED_OP = -17,/* operation not supported */
	CF_E_BAD_ENUM = -18,      /* enumeration value not valid (for this version) */
	CF_E_BAD_HEX = -19,       /* hex text malformed (tools) */
	CF_E_NO_SPACE = -20,      /* writer: output buffer too small */
	CF_E_BAD_MESSAGE = -21,   /* message-level framing wrong (outer tag, type) */
	CF_E_BAD_ATTR = -22,      /* attribute name/value inconsistent */
	CF_E_BAD_OBJECT = -23,    /* managed object malformed */

	/* I/O: -32..-63 */
	CF_E_IO = -32,
	CF_E_CLOSED = -33,
	CF_E_TIMEOUT = -34,
	CF_E_AGAIN = -35,
	CF_E_TLS = -36,
	CF_E_PERM_FILE = -37,     /* file permissions / ownership unsafe */
	CF_E_CANCELLED = -38,     /* the operator cancelled (Ctrl-C, declined a confirmation) */

	/* HSM: -64..-95 (hsm/p11_err.c maps CK_RV here) */
	CF_E_HSM = -64,           /* generic module failure */
	CF_E_HSM_LOAD = -65,      /* dlopen / C_GetFunctionList / version */
	CF_E_HSM_NO_TOKEN = -66,  /* no token matching the label / URI */
	CF_E_HSM_PIN = -67,       /* PIN incorrect / invalid */
	CF_E_HSM_LOCKED = -68,    /* PIN locked */
	CF_E_HSM_DEVICE = -69,    /* device error / removed / not present */
	CF_E_HSM_TIMEOUT = -70,   /* a module call exceeded the configured timeout */
	CF_E_HSM_NOT_FOUND = -71, /* object (KEK, key pair) not found */
	CF_E_HSM_UNWRAP = -72,    /* unwrap failed: wrong binding, corrupt or tampered blob */
	CF_E_HSM_SELFTEST = -73,  /* power-up self-test failed */
	CF_E_HSM_SESSION = -74,   /* session invalid / pool exhausted */
	CF_E_HSM_OUTPUT = -75,    /* module returned an out-of-range length or value */
	CF_E_HSM_BLOB = -76,      /* wrapped blob header malformed or unknown version */
	CF_E_HSM_WRONG_KEK = -77, /* blob names a KEK version we do not have */
	CF_E_HSM_MECH = -78,      /* mechanism not supported by the module */
	CF_E_HSM_NOT_INIT = -79,  /* module not initialised / token not initialised */
	CF_E_HSM_POLICY = -80,    /* key attributes violate our policy */
	CF_E_HSM_BUSY = -81,      /* session pool wait timed out */
	CF_E_HSM_CRYPTO = -82,    /* data failed a cryptographic check (GCM tag, padding): KMIP
	                           * Cryptographic Failure */

	/* store / policy: -96..-127 */
	CF_E_NOT_FOUND = -96,
	CF_E_PERMISSION = -97,
	CF_E_STATE = -98,         /* operation not allowed in this object / service state */
	CF_E_STORE = -99,
	CF_E_CONFIG = -100,
	CF_E_AUTH = -101,
	CF_E_EXISTS = -102,
	CF_E_STORE_FULL = -103,  /* the store's disk is full (SQLITE_FULL, ENOSPC) */

	/* internal */
	CF_E_INVALID_ARG = -126,
	CF_E_NOMEM = -127,
	CF_E_INTERNAL = -128,
} cf_err;

/* Static text for an error code; never NULL. */
const char *cf_err_str(cf_err e);
/* Symbolic name ("CF_E_TRUNCATED"); never NULL. */
const char *cf_err_name(cf_err e);

#define TRY(e) do { cf_err _e = (e); if (_e != CF_OK) return _e; } while (0)

#endif
