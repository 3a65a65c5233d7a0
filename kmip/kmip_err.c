/* cf_err -> KMIP Result Status / Result Reason: internal detail never reaches
 * the wire, only the reason the specification prescribes.
 *
 *= kmip-spec-v1.4 section 11.1 (General errors): message cannot be parsed, or a field
 *# appears more than once -> Invalid Message; same major & minor version, unknown field ->
 *# Invalid Field; server does not support operation -> Operation Not Supported; Maximum
 *# Response Size exceeded -> Response Too Large; not allowed -> Permission Denied. */
#include "kmip/kmip.h"

#define R(x) KMIP_RESULT_REASON_##x

static uint32_t reason_1x(cf_err rc)
{
	switch (rc) {
	case CF_OK:
		return 0;
	/* message structure: cannot be parsed */
	case CF_E_TRUNCATED:
	case CF_E_TOO_LARGE:
	case CF_E_DEPTH:
	case CF_E_BAD_TYPE:
	case CF_E_BAD_LENGTH:
	case CF_E_BAD_PADDING:
	case CF_E_TRAILING:
	case CF_E_BAD_UTF8:
	case CF_E_MISSING:
	case CF_E_DUPLICATE:
	case CF_E_BATCH_COUNT:
	case CF_E_TOO_MANY:
	case CF_E_BAD_MESSAGE:
	case CF_E_BAD_HEX:
	case CF_E_BAD_VERSION:
		return R(INVALID_MESSAGE);
	/* well-formed, but a field or value the server does not accept */
	case CF_E_UNKNOWN_TAG:
	case CF_E_UNEXPECTED_TAG:
	case CF_E_BAD_VALUE:
	case CF_E_BAD_ENUM:
	case CF_E_BAD_ATTR:
	case CF_E_BAD_OBJECT:
	case CF_E_INVALID_ARG:
		return R(INVALID_FIELD);
	case CF_E_UNSUPPORTED_OP:
		return R(OPERATION_NOT_SUPPORTED);
	case CF_E_NO_SPACE:
		return R(RESPONSE_TOO_LARGE);
	case CF_E_NOT_FOUND:
	case CF_E_HSM_NOT_FOUND:
		return R(ITEM_NOT_FOUND);
	case CF_E_PERMISSION:
		return R(PERMISSION_DENIED);
	case CF_E_AUTH:
		return R(AUTHENTICATION_NOT_SUCCESSFUL);
	case CF_E_STATE:
		return R(ILLEGAL_OPERATION);
	case CF_E_EXISTS:
		return R(OBJECT_ALREADY_EXISTS);
	case CF_E_HSM_MECH:
		return R(FEATURE_NOT_SUPPORTED);
	case CF_E_HSM_UNWRAP:
	case CF_E_HSM_POLICY:
	case CF_E_HSM_CRYPTO: /* a GCM tag, a padding that does not check */
		return R(CRYPTOGRAPHIC_FAILURE);
	default:
		return R(GENERAL_FAILURE); /* I/O, HSM, store, internal: no detail on the wire */
	}
}

void kmip_result_for(cf_err rc, uint32_t *status, uint32_t *reason)
{
	*reason = reason_1x(rc);
	*status = rc == CF_OK ? KMIP_RESULT_STATUS_SUCCESS : KMIP_RESULT_STATUS_OPERATION_FAILED;
}

/*= kmip-spec-v2.0 section 11 (Result Reason): Unknown Tag, Unsupported Protocol Version,
 *# Server Limit Exceeded, Invalid Data Type, Unknown Enumeration, Wrong Key Lifecycle State. */
void kmip_result_for_version(cf_err rc, int version, uint32_t *status, uint32_t *reason)
{
	kmip_result_for(rc, status, reason);
	if (version < KMIP_V2_0)
		return;
	switch (rc) {
	case CF_E_UNKNOWN_TAG:
		*reason = R(UNKNOWN_TAG);
		break;
	case CF_E_BAD_VERSION:
		*reason = R(UNSUPPORTED_PROTOCOL_VERSION);
		break;
	case CF_E_TOO_MANY:
		*reason = R(SERVER_LIMIT_EXCEEDED);
		break;
	case CF_E_BAD_ENUM:
		*reason = R(UNKNOWN_ENUMERATION);
		break;
	case CF_E_STATE:
		*reason = R(WRONG_KEY_LIFECYCLE_STATE);
		break;
	case CF_E_BAD_ATTR:
		*reason = R(INVALID_ATTRIBUTE);
		break;
	case CF_E_NOT_FOUND:
	case CF_E_HSM_NOT_FOUND:
		*reason = R(OBJECT_NOT_FOUND);
		break;
	case CF_E_INTERNAL:
	case CF_E_NOMEM:
		*reason = R(INTERNAL_SERVER_ERROR);
		break;
	default:
		break;
	}
}
