/* Target: kmip_tags.c kmip_tables_gen.c (tag / type / enumeration tables). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "kmip/kmip_tags.h"
#include "kmip/ttlv.h"

/* Every tag round-trips value -> info -> name -> info; the table is sorted and unique. */
static void test_tags_roundtrip(void **state)
{
	(void)state;
	assert_true(kmip_tag_table_len > 340);
	for (size_t i = 0; i < kmip_tag_table_len; i++) {
		const struct kmip_tag_info *ti = &kmip_tag_table[i];

		if (i > 0)
			assert_true(kmip_tag_table[i - 1].tag < ti->tag);
		assert_true(ti->tag >= 0x420001u && ti->tag <= 0x42FFFFu);
		assert_ptr_equal(kmip_tag_lookup(ti->tag), ti);
		assert_string_equal(kmip_tag_name(ti->tag), ti->name);
		assert_ptr_equal(kmip_tag_by_name(ti->name, strlen(ti->name)), ti);
		assert_true(ti->versions != 0 && (ti->versions & ~KMIP_VMASK_ALL) == 0);
		assert_true(ti->type <= TTLV_DATE_TIME_EXTENDED);
		assert_true(ti->type_v2 <= TTLV_DATE_TIME_EXTENDED);
		/* valid in a contiguous range of versions */
		int first = -1, last = -1;
		for (int v = 0; v < KMIP_V_COUNT; v++) {
			if (ti->versions & KMIP_VMASK(v)) {
				if (first < 0)
					first = v;
				last = v;
			}
		}
		for (int v = first; v <= last; v++)
			assert_true(kmip_tag_valid(ti->tag, v));
		if (ti->enums != NULL)
			assert_true(ti->type == TTLV_ENUMERATION || ti->type == TTLV_INTEGER ||
				    ti->type_v2 == TTLV_ENUMERATION || ti->type_v2 == TTLV_INTEGER ||
				    ti->type_v2 == 0);
	}
	for (size_t i = 0; i < kmip_tag_names_len; i++) {
		const struct kmip_tag_name_ix *e = &kmip_tag_names[i];

		assert_int_equal(strlen(e->name), e->len);
		assert_ptr_equal(kmip_tag_by_name(e->name, e->len), &kmip_tag_table[e->ix]);
		if (i > 0)
			assert_true(strcmp(kmip_tag_names[i - 1].name, e->name) < 0);
	}
}

struct tag_check {
	uint32_t tag;
	const char *name;
	uint8_t type;
};

/* Spot checks against the spec (1.4 Table 288 / 2.0 Table 446, types from the encoding
 * tables), including every tag the captured vCenter 7.0.3 session uses. */
static const struct tag_check tag_checks[] = {
	{ 0x420078, "Request Message", TTLV_STRUCTURE },
	{ 0x420077, "Request Header", TTLV_STRUCTURE },
	{ 0x420069, "Protocol Version", TTLV_STRUCTURE },
	{ 0x42006A, "Protocol Version Major", TTLV_INTEGER },
	{ 0x42006B, "Protocol Version Minor", TTLV_INTEGER },
	{ 0x42000D, "Batch Count", TTLV_INTEGER },
	{ 0x42000F, "Batch Item", TTLV_STRUCTURE },
	{ 0x42005C, "Operation", TTLV_ENUMERATION },
	{ 0x420093, "Unique Batch Item ID", TTLV_BYTE_STRING },
	{ 0x420079, "Request Payload", TTLV_STRUCTURE },
	{ 0x42000C, "Authentication", TTLV_STRUCTURE },
	{ 0x420023, "Credential", TTLV_STRUCTURE },
	{ 0x420024, "Credential Type", TTLV_ENUMERATION },
	{ 0x420025, "Credential Value", 0 },
	{ 0x420099, "Username", TTLV_TEXT_STRING },
	{ 0x4200A1, "Password", TTLV_TEXT_STRING },
	{ 0x420057, "Object Type", TTLV_ENUMERATION },
	{ 0x420091, "Template-Attribute", TTLV_STRUCTURE },
	{ 0x420008, "Attribute", TTLV_STRUCTURE },
	{ 0x42000A, "Attribute Name", TTLV_TEXT_STRING },
	{ 0x42000B, "Attribute Value", 0 },
	{ 0x420094, "Unique Identifier", TTLV_TEXT_STRING },
	{ 0x420074, "Query Function", TTLV_ENUMERATION },
	{ 0x42007B, "Response Message", TTLV_STRUCTURE },
	{ 0x42007A, "Response Header", TTLV_STRUCTURE },
	{ 0x420092, "Time Stamp", TTLV_DATE_TIME },
	{ 0x42007F, "Result Status", TTLV_ENUMERATION },
	{ 0x42007E, "Result Reason", TTLV_ENUMERATION },
	{ 0x42007D, "Result Message", TTLV_TEXT_STRING },
	{ 0x42007C, "Response Payload", TTLV_STRUCTURE },
	{ 0x42009D, "Vendor Identification", TTLV_TEXT_STRING },
	{ 0x42008F, "Symmetric Key", TTLV_STRUCTURE },
	{ 0x420040, "Key Block", TTLV_STRUCTURE },
	{ 0x420042, "Key Format Type", TTLV_ENUMERATION },
	{ 0x420045, "Key Value", 0 },
	{ 0x420043, "Key Material", 0 },
	{ 0x420028, "Cryptographic Algorithm", TTLV_ENUMERATION },
	{ 0x42002A, "Cryptographic Length", TTLV_INTEGER },
	{ 0x42002C, "Cryptographic Usage Mask", TTLV_INTEGER },
	{ 0x42008D, "State", TTLV_ENUMERATION },
	{ 0x420053, "Name", TTLV_STRUCTURE },
	{ 0x420055, "Name Value", TTLV_TEXT_STRING },
	{ 0x420054, "Name Type", TTLV_ENUMERATION },
	{ 0x420001, "Activation Date", TTLV_DATE_TIME },
	{ 0x42000E, "Batch Error Continuation Option", TTLV_ENUMERATION },
	{ 0x420010, "Batch Order Option", TTLV_BOOLEAN },
	{ 0x420006, "Asynchronous Correlation Value", TTLV_BYTE_STRING },
	{ 0x420050, "Maximum Response Size", TTLV_INTEGER },
	{ 0x420088, "Server Information", TTLV_STRUCTURE },
	{ 0x4200B5, "X.509 Certificate Identifier", TTLV_STRUCTURE },
	{ 0x420125, "Attributes", TTLV_STRUCTURE },
	{ 0x42003F, "Key", TTLV_BYTE_STRING },
	{ 0x42004A, "Link", TTLV_STRUCTURE },
	{ 0x420081, "Revocation Reason", TTLV_STRUCTURE },
	{ 0x420082, "Revocation Reason Code", TTLV_ENUMERATION },
	{ 0x42009E, "Wrapping Method", TTLV_ENUMERATION },
	{ 0x420046, "Key Wrapping Data", TTLV_STRUCTURE },
	{ 0x4200D4, "Offset Items", TTLV_INTEGER },
};

static void test_tags_spot(void **state)
{
	(void)state;
	assert_true(sizeof tag_checks / sizeof tag_checks[0] >= 40);
	for (size_t i = 0; i < sizeof tag_checks / sizeof tag_checks[0]; i++) {
		const struct tag_check *c = &tag_checks[i];
		const struct kmip_tag_info *ti = kmip_tag_lookup(c->tag);

		assert_non_null(ti);
		assert_string_equal(ti->name, c->name);
		if (ti->type != c->type)
			fail_msg("tag 0x%06X %s: type %u, want %u", c->tag, c->name, ti->type, c->type);
		assert_ptr_equal(kmip_tag_by_name(c->name, strlen(c->name)), ti);
	}
	/* constants follow the naming contract */
	assert_int_equal(KMIP_TAG_REQUEST_MESSAGE, 0x420078);
	assert_int_equal(KMIP_TAG_UNIQUE_BATCH_ITEM_ID, 0x420093);
	assert_int_equal(KMIP_TAG_TEMPLATE_ATTRIBUTE, 0x420091);
	assert_int_equal(KMIP_TAG_ATTRIBUTE_VALUE, 0x42000B);
	assert_int_equal(KMIP_TAG_X_509_CERTIFICATE_IDENTIFIER, 0x4200B5);
	assert_int_equal(KMIP_TAG_PKCS_11_FUNCTION, 0x42015A);
	/* Enumeration tags carry their table */
	assert_non_null(kmip_tag_lookup(KMIP_TAG_OPERATION)->enums);
	assert_string_equal(kmip_tag_lookup(KMIP_TAG_OPERATION)->enums->name, "Operation");
	assert_true(kmip_tag_lookup(KMIP_TAG_CRYPTOGRAPHIC_USAGE_MASK)->enums->is_mask);
	assert_null(kmip_tag_lookup(KMIP_TAG_REQUEST_MESSAGE)->enums);
	/* by name: exact spelling, n bytes, no NUL needed */
	assert_null(kmip_tag_by_name("cryptographic algorithm", 23));
	assert_null(kmip_tag_by_name("Cryptographic Algorith", 22));
	assert_non_null(kmip_tag_by_name("Cryptographic Algorithmxyz", 23));
	assert_null(kmip_tag_by_name("", 0));
	assert_null(kmip_tag_by_name(NULL, 3));
	assert_null(kmip_tag_lookup(0x420000));
	assert_null(kmip_tag_lookup(0x42FFFF));
	assert_null(kmip_tag_name(0x540001));
	/* 2.0 changes a type: Unique Identifier is Text String in 1.x, varies in 2.0 */
	assert_int_equal(kmip_tag_type(KMIP_TAG_UNIQUE_IDENTIFIER, KMIP_V1_1), TTLV_TEXT_STRING);
	assert_int_equal(kmip_tag_type(KMIP_TAG_ASYNCHRONOUS_INDICATOR, KMIP_V1_4), TTLV_BOOLEAN);
	assert_int_equal(kmip_tag_type(KMIP_TAG_ASYNCHRONOUS_INDICATOR, KMIP_V2_0),
			 TTLV_ENUMERATION);
	assert_int_equal(kmip_tag_type(0x4201FF, KMIP_V2_0), 0);
}

static void test_versions(void **state)
{
	(void)state;
	assert_int_equal(kmip_version_from(1, 0), KMIP_V1_0);
	assert_int_equal(kmip_version_from(1, 1), KMIP_V1_1);
	assert_int_equal(kmip_version_from(1, 4), KMIP_V1_4);
	assert_int_equal(kmip_version_from(2, 0), KMIP_V2_0);
	assert_int_equal(kmip_version_from(1, 5), -1);
	assert_int_equal(kmip_version_from(2, 1), -1);
	assert_int_equal(kmip_version_from(0, 0), -1);
	assert_int_equal(kmip_version_from(-1, 0), -1);
	assert_int_equal(KMIP_VMASK(KMIP_V2_0), 0x20u);

	/* Template-Attribute: 1.0-1.4, removed in 2.0 */
	for (int v = KMIP_V1_0; v <= KMIP_V1_4; v++) {
		assert_true(kmip_tag_valid(KMIP_TAG_TEMPLATE_ATTRIBUTE, v));
		assert_true(kmip_tag_valid(KMIP_TAG_ATTRIBUTE_INDEX, v));
		assert_true(kmip_tag_valid(KMIP_TAG_ATTRIBUTE_NAME, v));
		assert_false(kmip_tag_valid(KMIP_TAG_ATTRIBUTES, v));
		assert_true(kmip_tag_valid(KMIP_TAG_REQUEST_MESSAGE, v));
	}
	assert_false(kmip_tag_valid(KMIP_TAG_TEMPLATE_ATTRIBUTE, KMIP_V2_0));
	assert_false(kmip_tag_valid(KMIP_TAG_COMMON_TEMPLATE_ATTRIBUTE, KMIP_V2_0));
	assert_false(kmip_tag_valid(KMIP_TAG_ATTRIBUTE_INDEX, KMIP_V2_0));
	assert_false(kmip_tag_valid(KMIP_TAG_CUSTOM_ATTRIBUTE, KMIP_V2_0));
	assert_false(kmip_tag_valid(KMIP_TAG_OPERATION_POLICY_NAME, KMIP_V2_0));
	/* 2.0 keeps Attribute Name / Attribute Value inside the Vendor Attribute structure
	 * (2.0 section 4.53, Table 135); only Attribute Index is "(Reserved)" */
	assert_true(kmip_tag_valid(KMIP_TAG_ATTRIBUTE_NAME, KMIP_V2_0));
	assert_true(kmip_tag_valid(KMIP_TAG_ATTRIBUTES, KMIP_V2_0));
	assert_true(kmip_tag_valid(KMIP_TAG_REQUEST_MESSAGE, KMIP_V2_0));
	/* added in 1.1 / 1.2 / 1.3 / 1.4 */
	assert_false(kmip_tag_valid(KMIP_TAG_X_509_CERTIFICATE_IDENTIFIER, KMIP_V1_0));
	assert_true(kmip_tag_valid(KMIP_TAG_X_509_CERTIFICATE_IDENTIFIER, KMIP_V1_1));
	assert_false(kmip_tag_valid(KMIP_TAG_KEY_VALUE_LOCATION, KMIP_V1_1));
	assert_true(kmip_tag_valid(KMIP_TAG_KEY_VALUE_LOCATION, KMIP_V1_2));
	assert_false(kmip_tag_valid(KMIP_TAG_OFFSET_ITEMS, KMIP_V1_2));
	assert_true(kmip_tag_valid(KMIP_TAG_OFFSET_ITEMS, KMIP_V1_3));
	assert_false(kmip_tag_valid(KMIP_TAG_KEY_WRAP_TYPE, KMIP_V1_3));
	assert_true(kmip_tag_valid(KMIP_TAG_KEY_WRAP_TYPE, KMIP_V1_4));
	assert_true(kmip_tag_valid(KMIP_TAG_KEY_WRAP_TYPE, KMIP_V2_0));
	/* extensions, unknowns, bad versions */
	assert_true(kmip_tag_is_extension(0x540000));
	assert_true(kmip_tag_is_extension(0x54FFFF));
	assert_false(kmip_tag_is_extension(0x53FFFF));
	assert_false(kmip_tag_is_extension(0x550000));
	assert_true(kmip_tag_valid(0x540123, KMIP_V1_1));
	assert_false(kmip_tag_valid(0x4201FF, KMIP_V2_0));
	assert_false(kmip_tag_valid(KMIP_TAG_REQUEST_MESSAGE, -1));
	assert_false(kmip_tag_valid(KMIP_TAG_REQUEST_MESSAGE, KMIP_V_COUNT));
}

struct enum_check {
	uint32_t tag;
	uint32_t value;
	const char *name;
};

static const struct enum_check enum_checks[] = {
	{ KMIP_TAG_OPERATION, 0x01, "Create" },
	{ KMIP_TAG_OPERATION, 0x0A, "Get" },
	{ KMIP_TAG_OPERATION, 0x0B, "Get Attributes" },
	{ KMIP_TAG_OPERATION, 0x0D, "Add Attribute" },
	{ KMIP_TAG_OPERATION, 0x12, "Activate" },
	{ KMIP_TAG_OPERATION, 0x18, "Query" },
	{ KMIP_TAG_OPERATION, 0x1E, "Discover Versions" },
	{ KMIP_TAG_OBJECT_TYPE, 2, "Symmetric Key" },
	{ KMIP_TAG_RESULT_STATUS, 0, "Success" },
	{ KMIP_TAG_RESULT_STATUS, 1, "Operation Failed" },
	{ KMIP_TAG_RESULT_REASON, 0x01, "Item Not Found" },
	{ KMIP_TAG_RESULT_REASON, 0x03, "Authentication Not Successful" },
	{ KMIP_TAG_RESULT_REASON, 0x04, "Invalid Message" },
	{ KMIP_TAG_RESULT_REASON, 0x05, "Operation Not Supported" },
	{ KMIP_TAG_RESULT_REASON, 0x07, "Invalid Field" },
	{ KMIP_TAG_RESULT_REASON, 0x0C, "Permission Denied" },
	{ KMIP_TAG_RESULT_REASON, 0x100, "General Failure" },
	{ KMIP_TAG_STATE, 1, "Pre-Active" },
	{ KMIP_TAG_STATE, 2, "Active" },
	{ KMIP_TAG_STATE, 6, "Destroyed Compromised" },
	{ KMIP_TAG_KEY_FORMAT_TYPE, 1, "Raw" },
	{ KMIP_TAG_KEY_FORMAT_TYPE, 7, "Transparent Symmetric Key" },
	{ KMIP_TAG_CRYPTOGRAPHIC_ALGORITHM, 3, "AES" },
	{ KMIP_TAG_QUERY_FUNCTION, 1, "Query Operations" },
	{ KMIP_TAG_QUERY_FUNCTION, 3, "Query Server Information" },
	{ KMIP_TAG_CREDENTIAL_TYPE, 1, "Username and Password" },
	{ KMIP_TAG_BATCH_ERROR_CONTINUATION_OPTION, 2, "Stop" },
	{ KMIP_TAG_NAME_TYPE, 1, "Uninterpreted Text String" },
	{ KMIP_TAG_REVOCATION_REASON_CODE, 2, "Key Compromise" },
	{ KMIP_TAG_CRYPTOGRAPHIC_USAGE_MASK, 4, "Encrypt" },
	{ KMIP_TAG_CRYPTOGRAPHIC_USAGE_MASK, 8, "Decrypt" },
	{ KMIP_TAG_HASHING_ALGORITHM, 0x0E, "SHA-3-224" },     /* 1.4 spelling first */
	{ KMIP_TAG_MASK_GENERATOR_HASHING_ALGORITHM, 6, "SHA-256" },
	{ KMIP_TAG_HASHING_ALGORITHM, 4, "SHA-1" },
};

static void test_enums(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof enum_checks / sizeof enum_checks[0]; i++) {
		const struct enum_check *c = &enum_checks[i];
		const char *n = kmip_enum_name(c->tag, c->value);
		uint32_t v = 0xFFFF;

		if (n == NULL || strcmp(n, c->name) != 0)
			fail_msg("tag 0x%06X value 0x%X: %s, want %s", c->tag, c->value,
				 n ? n : "NULL", c->name);
		assert_int_equal(kmip_enum_by_name(c->tag, c->name, strlen(c->name), &v), CF_OK);
		assert_int_equal(v, c->value);
	}
	/* constants */
	assert_int_equal(KMIP_OPERATION_DISCOVER_VERSIONS, 0x1E);
	assert_int_equal(KMIP_OPERATION_CREATE, 1);
	assert_int_equal(KMIP_OBJECT_TYPE_SYMMETRIC_KEY, 2);
	assert_int_equal(KMIP_RESULT_STATUS_SUCCESS, 0);
	assert_int_equal(KMIP_RESULT_REASON_ITEM_NOT_FOUND, 1);
	assert_int_equal(KMIP_STATE_PRE_ACTIVE, 1);
	assert_int_equal(KMIP_KEY_FORMAT_TYPE_RAW, 1);
	assert_int_equal(KMIP_KEY_FORMAT_TYPE_TRANSPARENT_SYMMETRIC_KEY, 7);
	assert_int_equal(KMIP_CRYPTOGRAPHIC_ALGORITHM_AES, 3);
	assert_int_equal(KMIP_QUERY_FUNCTION_QUERY_SERVER_INFORMATION, 3);
	assert_int_equal(KMIP_CREDENTIAL_TYPE_USERNAME_AND_PASSWORD, 1);
	assert_int_equal(KMIP_BATCH_ERROR_CONTINUATION_OPTION_STOP, 2);
	assert_int_equal(KMIP_NAME_TYPE_UNINTERPRETED_TEXT_STRING, 1);
	assert_int_equal(KMIP_REVOCATION_REASON_CODE_KEY_COMPROMISE, 2);
	assert_int_equal(KMIP_CRYPTOGRAPHIC_USAGE_MASK_ENCRYPT, 4);
	assert_int_equal(KMIP_CRYPTOGRAPHIC_USAGE_MASK_DECRYPT, 8);
	assert_int_equal(KMIP_STORAGE_STATUS_MASK_ON_LINE_STORAGE, 1);
	/* renamed in 2.0: both constants, same number */
	assert_int_equal(KMIP_HASHING_ALGORITHM_SHA_3_256, KMIP_HASHING_ALGORITHM_SHA3_256);

	/* unknowns */
	assert_null(kmip_enum_name(KMIP_TAG_OPERATION, 0x7F));
	assert_null(kmip_enum_name(KMIP_TAG_REQUEST_MESSAGE, 1));
	assert_null(kmip_enum_name(0x4201FF, 1));
	uint32_t v = 7;
	assert_int_equal(kmip_enum_by_name(KMIP_TAG_OPERATION, "create", 6, &v), CF_E_BAD_ENUM);
	assert_int_equal(v, 0);
	/* 2.0 Tag / Attribute Reference enumerations name tags */
	assert_string_equal(kmip_enum_name(KMIP_TAG_ATTRIBUTE_REFERENCE, 0x420028),
			    "Cryptographic Algorithm");

	/* every enumeration table: sorted, names non-empty, versions in range */
	for (size_t t = 0; t < kmip_enum_tables_len; t++) {
		const struct kmip_enum_table *et = kmip_enum_tables[t];

		assert_non_null(et->name);
		for (size_t i = 0; i < et->count; i++) {
			assert_true(et->values[i].name[0] != '\0');
			assert_true(et->values[i].versions != 0);
			assert_true((et->values[i].versions & ~KMIP_VMASK_ALL) == 0);
			if (i > 0)
				assert_true(et->values[i - 1].value <= et->values[i].value);
			if (et->is_mask) {
				uint32_t b = et->values[i].value;
				assert_true(b != 0 && (b & (b - 1)) == 0);
			}
		}
	}
}

static void test_enum_versions(void **state)
{
	(void)state;
	/* Discover Versions appeared in 1.1 */
	assert_false(kmip_enum_valid(KMIP_TAG_OPERATION, KMIP_OPERATION_DISCOVER_VERSIONS, KMIP_V1_0));
	assert_true(kmip_enum_valid(KMIP_TAG_OPERATION, KMIP_OPERATION_DISCOVER_VERSIONS, KMIP_V1_1));
	assert_true(kmip_enum_valid(KMIP_TAG_OPERATION, KMIP_OPERATION_DISCOVER_VERSIONS, KMIP_V2_0));
	for (int v = KMIP_V1_0; v < KMIP_V_COUNT; v++)
		assert_true(kmip_enum_valid(KMIP_TAG_OPERATION, KMIP_OPERATION_CREATE, v));
	assert_false(kmip_enum_valid(KMIP_TAG_OPERATION, 0, KMIP_V1_1));
	assert_false(kmip_enum_valid(KMIP_TAG_OPERATION, 0x7F, KMIP_V2_0));
	/* extensions 8XXXXXXX */
	assert_true(kmip_enum_valid(KMIP_TAG_OPERATION, 0x80000001u, KMIP_V1_1));
	/* Object Type Template: 1.x only; Certificate Request: 2.0 only */
	assert_true(kmip_enum_valid(KMIP_TAG_OBJECT_TYPE, KMIP_OBJECT_TYPE_TEMPLATE, KMIP_V1_4));
	assert_false(kmip_enum_valid(KMIP_TAG_OBJECT_TYPE, KMIP_OBJECT_TYPE_TEMPLATE, KMIP_V2_0));
	assert_false(kmip_enum_valid(KMIP_TAG_OBJECT_TYPE, KMIP_OBJECT_TYPE_CERTIFICATE_REQUEST, KMIP_V1_4));
	assert_true(kmip_enum_valid(KMIP_TAG_OBJECT_TYPE, KMIP_OBJECT_TYPE_CERTIFICATE_REQUEST, KMIP_V2_0));
	/* PGP Key: 1.2 */
	assert_false(kmip_enum_valid(KMIP_TAG_OBJECT_TYPE, KMIP_OBJECT_TYPE_PGP_KEY, KMIP_V1_1));
	assert_true(kmip_enum_valid(KMIP_TAG_OBJECT_TYPE, KMIP_OBJECT_TYPE_PGP_KEY, KMIP_V1_2));
	/* masks: Encrypt|Decrypt valid everywhere; unknown bits rejected; extension bits ok */
	for (int v = KMIP_V1_0; v < KMIP_V_COUNT; v++)
		assert_true(kmip_enum_valid(KMIP_TAG_CRYPTOGRAPHIC_USAGE_MASK, 0x0C, v));
	assert_true(kmip_enum_valid(KMIP_TAG_CRYPTOGRAPHIC_USAGE_MASK, 0, KMIP_V1_1));
	assert_true(kmip_enum_valid(KMIP_TAG_CRYPTOGRAPHIC_USAGE_MASK, 0x80000004u, KMIP_V1_1));
	/* Translate Encrypt (0x10000): 1.x only, "(Reserved)" in 2.0 */
	assert_true(kmip_enum_valid(KMIP_TAG_CRYPTOGRAPHIC_USAGE_MASK, 0x10000, KMIP_V1_4));
	assert_false(kmip_enum_valid(KMIP_TAG_CRYPTOGRAPHIC_USAGE_MASK, 0x10000, KMIP_V2_0));
	assert_true(kmip_enum_valid(KMIP_TAG_STORAGE_STATUS_MASK, 3, KMIP_V1_1));
	assert_false(kmip_enum_valid(KMIP_TAG_STORAGE_STATUS_MASK, 4, KMIP_V1_4));
	assert_true(kmip_enum_valid(KMIP_TAG_STORAGE_STATUS_MASK, 4, KMIP_V2_0));
	/* no table / bad version */
	assert_false(kmip_enum_valid(KMIP_TAG_REQUEST_MESSAGE, 1, KMIP_V1_1));
	assert_false(kmip_enum_valid(KMIP_TAG_OPERATION, 1, -1));
	assert_false(kmip_enum_valid(KMIP_TAG_OPERATION, 1, KMIP_V_COUNT));
	/* renamed values stay valid in both versions */
	assert_true(kmip_enum_valid(KMIP_TAG_HASHING_ALGORITHM, 0x0F, KMIP_V1_4));
	assert_true(kmip_enum_valid(KMIP_TAG_HASHING_ALGORITHM, 0x0F, KMIP_V2_0));
	/* Profile Name: 2.0 renumbered every profile */
	assert_false(kmip_enum_valid(KMIP_TAG_PROFILE_NAME, 1, KMIP_V2_0));
	assert_true(kmip_enum_valid(KMIP_TAG_PROFILE_NAME, 1, KMIP_V1_3));
	assert_false(kmip_enum_valid(KMIP_TAG_PROFILE_NAME, 1, KMIP_V1_2));
	assert_true(kmip_enum_valid(KMIP_TAG_PROFILE_NAME, 0x104, KMIP_V2_0));
}

static void test_type_names(void **state)
{
	(void)state;
	assert_string_equal(kmip_type_name(TTLV_STRUCTURE), "Structure");
	assert_string_equal(kmip_type_name(TTLV_INTEGER), "Integer");
	assert_string_equal(kmip_type_name(TTLV_ENUMERATION), "Enumeration");
	assert_string_equal(kmip_type_name(TTLV_TEXT_STRING), "Text String");
	assert_string_equal(kmip_type_name(TTLV_DATE_TIME), "Date-Time");
	assert_string_equal(kmip_type_name(TTLV_DATE_TIME_EXTENDED), "Date-Time Extended");
	assert_null(kmip_type_name(0));
	assert_null(kmip_type_name(0x0C));
	assert_null(kmip_type_name(0xFF));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tags_roundtrip),
		cmocka_unit_test(test_tags_spot),
		cmocka_unit_test(test_versions),
		cmocka_unit_test(test_enums),
		cmocka_unit_test(test_enum_versions),
		cmocka_unit_test(test_type_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
