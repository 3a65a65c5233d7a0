/* Error strings for enum cf_err. */
#include "board/err.h"

#include <stddef.h>

struct err_text {
	cf_err code;
	const char *name;
	const char *text;
};

static const struct err_text err_texts[] = {
	{ CF_OK, "CF_OK", "success" },
	{ CF_E_TRUNCATED, "CF_E_TRUNCATED", "truncated input" },
	{ CF_E_TOO_LARGE, "CF_E_TOO_LARGE", "length over limit" },
	{ CF_E_DEPTH, "CF_E_DEPTH", "structure nested too deeply" },
	{ CF_E_BAD_TYPE, "CF_E_BAD_TYPE", "wrong or unknown item type" },
	{ CF_E_BAD_LENGTH, "CF_E_BAD_LENGTH", "bad length for type" },
	{ CF_E_BAD_PADDING, "CF_E_BAD_PADDING", "non-zero padding" },
	{ CF_E_UNKNOWN_TAG, "CF_E_UNKNOWN_TAG", "unknown tag" },
	{ CF_E_UNEXPECTED_TAG, "CF_E_UNEXPECTED_TAG", "unexpected tag" },
	{ CF_E_TRAILING, "CF_E_TRAILING", "trailing bytes in structure" },
	{ CF_E_BAD_UTF8, "CF_E_BAD_UTF8", "invalid UTF-8 in text string" },
	{ CF_E_BAD_VALUE, "CF_E_BAD_VALUE", "value out of range" },
	{ CF_E_MISSING, "CF_E_MISSING", "required field missing" },
	{ CF_E_DUPLICATE, "CF_E_DUPLICATE", "field repeated" },
	{ CF_E_BATCH_COUNT, "CF_E_BATCH_COUNT", "batch count does not match items" },
	{ CF_E_TOO_MANY, "CF_E_TOO_MANY", "too many items" },
	{ CF_E_BAD_VERSION, "CF_E_BAD_VERSION", "protocol version not supported" },
	{ CF_E_UNSUPPORTED_OP, "CF_E_UNSUPPORTED_OP", "operation not supported" },
	{ CF_E_BAD_ENUM, "CF_E_BAD_ENUM", "enumeration value not valid" },
	{ CF_E_BAD_HEX, "CF_E_BAD_HEX", "malformed hex" },
	{ CF_E_NO_SPACE, "CF_E_NO_SPACE", "output buffer too small" },
	{ CF_E_BAD_MESSAGE, "CF_E_BAD_MESSAGE", "malformed message" },
	{ CF_E_BAD_ATTR, "CF_E_BAD_ATTR", "malformed attribute" },
	{ CF_E_BAD_OBJECT, "CF_E_BAD_OBJECT", "malformed managed object" },
	{ CF_E_IO, "CF_E_IO", "I/O error" },
	{ CF_E_CLOSED, "CF_E_CLOSED", "connection closed" },
	{ CF_E_TIMEOUT, "CF_E_TIMEOUT", "timed out" },
	{ CF_E_AGAIN, "CF_E_AGAIN", "try again" },
	{ CF_E_TLS, "CF_E_TLS", "TLS error" },
	{ CF_E_PERM_FILE, "CF_E_PERM_FILE", "unsafe file permissions" },
	{ CF_E_CANCELLED, "CF_E_CANCELLED", "cancelled" },
	{ CF_E_HSM, "CF_E_HSM", "HSM error" },
	{ CF_E_HSM_LOAD, "CF_E_HSM_LOAD", "cannot load PKCS#11 module" },
	{ CF_E_HSM_NO_TOKEN, "CF_E_HSM_NO_TOKEN", "HSM token not found" },
	{ CF_E_HSM_PIN, "CF_E_HSM_PIN", "HSM PIN incorrect" },
	{ CF_E_HSM_LOCKED, "CF_E_HSM_LOCKED", "HSM PIN locked" },
	{ CF_E_HSM_DEVICE, "CF_E_HSM_DEVICE", "HSM device error or removed" },
	{ CF_E_HSM_TIMEOUT, "CF_E_HSM_TIMEOUT", "HSM call timed out" },
	{ CF_E_HSM_NOT_FOUND, "CF_E_HSM_NOT_FOUND", "HSM object not found" },
	{ CF_E_HSM_UNWRAP, "CF_E_HSM_UNWRAP", "unwrap failed (wrong binding or tampered blob)" },
	{ CF_E_HSM_SELFTEST, "CF_E_HSM_SELFTEST", "HSM self-test failed" },
	{ CF_E_HSM_SESSION, "CF_E_HSM_SESSION", "HSM session invalid" },
	{ CF_E_HSM_OUTPUT, "CF_E_HSM_OUTPUT", "HSM returned an invalid length or value" },
	{ CF_E_HSM_BLOB, "CF_E_HSM_BLOB", "wrapped blob malformed" },
	{ CF_E_HSM_WRONG_KEK, "CF_E_HSM_WRONG_KEK", "wrapped blob names an unknown KEK" },
	{ CF_E_HSM_MECH, "CF_E_HSM_MECH", "HSM mechanism not supported" },
	{ CF_E_HSM_NOT_INIT, "CF_E_HSM_NOT_INIT", "HSM not initialised" },
	{ CF_E_HSM_POLICY, "CF_E_HSM_POLICY", "HSM key attributes violate policy" },
	{ CF_E_HSM_BUSY, "CF_E_HSM_BUSY", "no HSM session available in time" },
	{ CF_E_HSM_CRYPTO, "CF_E_HSM_CRYPTO", "the data failed a cryptographic check" },
	{ CF_E_NOT_FOUND, "CF_E_NOT_FOUND", "not found" },
	{ CF_E_PERMISSION, "CF_E_PERMISSION", "permission denied" },
	{ CF_E_STATE, "CF_E_STATE", "not allowed in this state" },
	{ CF_E_STORE, "CF_E_STORE", "store error" },
	{ CF_E_CONFIG, "CF_E_CONFIG", "configuration error" },
	{ CF_E_AUTH, "CF_E_AUTH", "authentication failed" },
	{ CF_E_EXISTS, "CF_E_EXISTS", "already exists" },
	{ CF_E_STORE_FULL, "CF_E_STORE_FULL", "data disk full" },
	{ CF_E_INVALID_ARG, "CF_E_INVALID_ARG", "invalid argument" },
	{ CF_E_NOMEM, "CF_E_NOMEM", "out of memory" },
	{ CF_E_INTERNAL, "CF_E_INTERNAL", "internal error" },
};

static const struct err_text *err_find(cf_err e)
{
	for (size_t i = 0; i < sizeof err_texts / sizeof err_texts[0]; i++)
		if (err_texts[i].code == e)
			return &err_texts[i];
	return NULL;
}

const char *cf_err_str(cf_err e)
{
	const struct err_text *t = err_find(e);
	return t ? t->text : "unknown error";
}

const char *cf_err_name(cf_err e)
{
	const struct err_text *t = err_find(e);
	return t ? t->name : "CF_E_UNKNOWN";
}
