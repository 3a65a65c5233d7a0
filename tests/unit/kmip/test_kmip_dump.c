/* Target: kmip_dump.c (TTLV tree printer) over ttlv_rd_*. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "kmip/kmip_dump.h"
#include "kmip/kmip_tags.h"

/* vCenter 7.0.3 DiscoverVersions request, first line of
 * ../shared/vectors/vcenter-7.0.3/requests.txt (also read from there below). */
static const char discover_hex[] =
	"42007801000000604200770100000038420069010000002042006a02000000040000000100000000"
	"42006b0200000004000000010000000042000d0200000004000000010000000042000f0100000018"
	"42005c05000000040000001e000000004200790100000000";

static const char discover_tree[] =
	"Request Message (0x420078) Structure\n"
	"  Request Header (0x420077) Structure\n"
	"    Protocol Version (0x420069) Structure\n"
	"      Protocol Version Major (0x42006A) Integer: 1\n"
	"      Protocol Version Minor (0x42006B) Integer: 1\n"
	"    Batch Count (0x42000D) Integer: 1\n"
	"  Batch Item (0x42000F) Structure\n"
	"    Operation (0x42005C) Enumeration: Discover Versions (0x0000001E)\n"
	"    Request Payload (0x420079) Structure\n";

static size_t unhex(const char *h, uint8_t *out, size_t cap)
{
	size_t n = 0;

	for (; h[0] != '\0' && h[1] != '\0'; h += 2) {
		unsigned v;
		if (h[0] == ' ') {
			h--;
			continue;
		}
		assert_int_equal(sscanf(h, "%2x", &v), 1);
		assert_true(n < cap);
		out[n++] = (uint8_t)v;
	}
	return n;
}

static char out[65536];

static cf_err dump_hex(const char *hex, const struct kmip_dump_opts *o, struct kmip_dump_err *e)
{
	static uint8_t b[8192];
	size_t n = unhex(hex, b, sizeof b), len = 0;
	cf_err rc = kmip_dump_buf(b, n, o, out, sizeof out, &len, e);

	assert_int_equal(len, strlen(out));
	return rc;
}

static void test_discover_versions(void **state)
{
	struct kmip_dump_err e;

	(void)state;
	assert_int_equal(dump_hex(discover_hex, NULL, &e), CF_OK);
	assert_int_equal(e.rc, CF_OK);
	assert_string_equal(out, discover_tree);
}

/* The vector file itself: the first request line decodes to the same tree, and every line
 * decodes without error. */
static void test_vcenter_vectors(void **state)
{
	FILE *f = fopen("../shared/vectors/vcenter-7.0.3/requests.txt", "r");
	char *line = NULL;
	size_t cap = 0;
	int lines = 0;

	(void)state;
	if (f == NULL) {
		skip();
		return;
	}
	while (getline(&line, &cap, f) > 0) {
		char *hex;
		struct kmip_dump_err e;
		static uint8_t b[16384];

		if (line[0] == '#')
			continue;
		hex = strrchr(line, ' ');
		assert_non_null(hex);
		hex++;
		hex[strcspn(hex, "\r\n")] = '\0';
		size_t n = unhex(hex, b, sizeof b);
		assert_int_equal(kmip_dump_buf(b, n, NULL, out, sizeof out, NULL, &e), CF_OK);
		assert_non_null(strstr(out, "Request Message (0x420078) Structure\n"));
		if (lines == 0)
			assert_string_equal(out, discover_tree);
		/* every proper prefix fails */
		for (size_t k = 1; k < n; k += (n > 200 ? 7 : 1)) {
			uint8_t *p = malloc(k);
			assert_non_null(p);
			memcpy(p, b, k);
			assert_int_not_equal(kmip_dump_buf(p, k, NULL, out, sizeof out, NULL, &e), CF_OK);
			assert_int_equal(e.rc, CF_E_TRUNCATED);
			free(p);
		}
		lines++;
	}
	free(line);
	fclose(f);
	assert_true(lines >= 100);
}

struct bad_case {
	const char *hex;
	cf_err rc;
	size_t off;
	const char *msg;
};

static const struct bad_case bad_cases[] = {
	/* Attribute Name "ab" with a non-zero padding byte */
	{ "4200780100000010" "42000a0700000002" "6162000000000100",
	  CF_E_BAD_PADDING, 8, "bad padding at offset 8 (tag 0x42000A Attribute Name)" },
	/* outer length larger than the buffer */
	{ "4200780100000018" "42000a0700000002" "6162000000000000",
	  CF_E_TRUNCATED, 0, "truncated at offset 0 (tag 0x420078 Request Message)" },
	/* a header cut short */
	{ "4200780100", CF_E_TRUNCATED, 0, "truncated at offset 0" },
	/* Integer of length 8 */
	{ "4200780100000010" "42000d0200000008" "0000000000000001",
	  CF_E_BAD_LENGTH, 8, "bad length at offset 8 (tag 0x42000D Batch Count)" },
	/* Text String not UTF-8 */
	{ "4200780100000010" "42000a0700000002" "61ff000000000000",
	  CF_E_BAD_UTF8, 8, "invalid UTF-8 at offset 8 (tag 0x42000A Attribute Name)" },
	/* Type 0x0C unknown, nested one level down */
	{ "4200780100000020" "4200770100000018" "42006a0200000004" "0000000100000000"
	  "42006b0c00000000",
	  CF_E_BAD_TYPE, 32, "bad type at offset 32 (tag 0x42006B Protocol Version Minor)" },
	/* Boolean 2 */
	{ "4200780100000010" "4200100600000008" "0000000000000002",
	  CF_E_BAD_VALUE, 8, "bad value at offset 8 (tag 0x420010 Batch Order Option)" },
	/* Structure length not a multiple of 8 */
	{ "4200780100000004" "0000000000000000", CF_E_BAD_LENGTH, 0,
	  "bad length at offset 0 (tag 0x420078 Request Message)" },
	/* an unknown tag is printed, then a short item after it */
	{ "4201ff0200000004" "0000000500000000" "42000d02000000",
	  CF_E_TRUNCATED, 16, "truncated at offset 16 (tag 0x000000 Unknown)" },
};

static void test_malformed(void **state)
{
	char msg[256];

	(void)state;
	for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
		const struct bad_case *c = &bad_cases[i];
		struct kmip_dump_err e;
		cf_err rc = dump_hex(c->hex, NULL, &e);

		if (rc != c->rc || e.rc != c->rc || e.off != c->off)
			fail_msg("case %zu: rc %d/%d off %zu, want %d off %zu", i, rc, e.rc, e.off,
				 c->rc, c->off);
		(void)kmip_dump_err_str(&e, msg, sizeof msg);
		if (i == 8) {
			/* header of 7 bytes: the tag was not read */
			assert_string_equal(msg, "truncated at offset 16");
			assert_string_equal(out, "Unknown(0x4201FF) Integer: 5\n");
			continue;
		}
		assert_string_equal(msg, c->msg);
	}
}

static void test_depth(void **state)
{
	enum { LEVELS = 40 };
	uint8_t b[LEVELS * 8];
	struct kmip_dump_err e;
	char msg[128];

	(void)state;
	for (int i = 0; i < LEVELS; i++) {
		uint32_t len = (uint32_t)(LEVELS - 1 - i) * 8u;
		uint8_t *h = b + i * 8;
		h[0] = 0x42; h[1] = 0x00; h[2] = 0x08; h[3] = 0x01;
		h[4] = (uint8_t)(len >> 24); h[5] = (uint8_t)(len >> 16);
		h[6] = (uint8_t)(len >> 8); h[7] = (uint8_t)len;
	}
	assert_int_equal(kmip_dump_buf(b, sizeof b, NULL, out, sizeof out, NULL, &e), CF_E_DEPTH);
	assert_int_equal(e.off, 32 * 8);
	(void)kmip_dump_err_str(&e, msg, sizeof msg);
	assert_string_equal(msg, "nested too deeply at offset 256 (tag 0x420008 Attribute)");
	/* a caller limit */
	struct kmip_limits lim = KMIP_LIMITS_DEFAULT;
	lim.max_depth = 3;
	struct kmip_dump_opts o = { .lim = &lim };
	assert_int_equal(kmip_dump_buf(b, sizeof b, &o, out, sizeof out, NULL, &e), CF_E_DEPTH);
	assert_int_equal(e.off, 24);
}

static void test_values(void **state)
{
	struct kmip_dump_err e;

	(void)state;
	assert_int_equal(dump_hex(
		"42009d0700000006" "6122090a5c7f0000"                   /* Text with escapes */
		"4200920900000008" "00000000618260a0"                   /* Date-Time */
		"4200260600000008" "0000000000000001"                   /* Boolean */
		"4200490a00000004" "00000e1000000000"                   /* Interval */
		"42002c0200000004" "0000000c00000000"                   /* usage mask */
		"42002c0200000004" "0010000400000000"                   /* 2.0 bit */
		"42008e0200000004" "0000000b00000000"                   /* mask unknown bit */
		"42008e0200000004" "0000000000000000"                   /* empty mask */
		"42005c0500000004" "0000007f00000000"                   /* unknown enum */
		"42005c0500000004" "8000000100000000"                   /* extension enum */
		"4200960300000008" "fffffffffffffffe"                   /* Long Integer */
		"4200040400000008" "0102030405060708"                   /* Big Integer */
		"5400010200000004" "ffffffff00000000"                   /* extension tag */
		"42ffff0800000000",                                     /* unknown, empty */
		NULL, &e), CF_OK);
	assert_string_equal(out,
		"Vendor Identification (0x42009D) Text String: \"a\\\"\\t\\n\\\\\\x7f\"\n"
		"Time Stamp (0x420092) Date-Time: 2021-11-03T10:12:48Z (1635934368)\n"
		"Criticality Indicator (0x420026) Boolean: true\n"
		"Lease Time (0x420049) Interval: 3600 seconds\n"
		"Cryptographic Usage Mask (0x42002C) Integer: Encrypt|Decrypt (0x0000000C)\n"
		"Cryptographic Usage Mask (0x42002C) Integer: Encrypt|Authenticate (0x00100004)\n"
		"Storage Status Mask (0x42008E) Integer: On-line storage|Archival storage|0x00000008 (0x0000000B)\n"
		"Storage Status Mask (0x42008E) Integer: none (0x00000000)\n"
		"Operation (0x42005C) Enumeration: 0x0000007F\n"
		"Operation (0x42005C) Enumeration: Extension (0x80000001)\n"
		"Usage Limits Count (0x420096) Long Integer: -2\n"
		"Application Specific Information (0x420004) Big Integer: [8] 0102030405060708\n"
		"Extension(0x540001) Integer: -1\n"
		"Unknown(0x42FFFF) Byte String: [0]\n");
}

/* Key Material and passwords are redacted unless asked for. */
static void test_secrets(void **state)
{
	static const char hex[] =
		"4200400100000030"                                 /* Key Block */
		"4200450100000028"                                 /* Key Value */
		"4200430800000020"                                 /* Key Material, 32 bytes */
		"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
		"4200a10700000005" "7333637233000000";             /* Password "s3cr3" */
	struct kmip_dump_opts o = { 0 };
	struct kmip_dump_err e;

	(void)state;
	assert_int_equal(dump_hex(hex, &o, &e), CF_OK);
	assert_string_equal(out,
		"Key Block (0x420040) Structure\n"
		"  Key Value (0x420045) Structure\n"
		"    Key Material (0x420043) Byte String: <32 bytes redacted>\n"
		"Password (0x4200A1) Text String: <5 bytes redacted>\n");
	assert_null(strstr(out, "000102"));
	o.show_secrets = true;
	o.indent = 4;
	assert_int_equal(dump_hex(hex, &o, &e), CF_OK);
	assert_non_null(strstr(out,
		"        Key Material (0x420043) Byte String: [32] 000102030405060708090a0b0c0d0e0f"));
	assert_non_null(strstr(out, "Password (0x4200A1) Text String: \"s3cr3\"\n"));
	/* transparent key: the structure under Key Material is redacted too */
	assert_int_equal(dump_hex("4200430100000010" "42003f0800000002" "abcd000000000000",
				  NULL, &e), CF_OK);
	assert_string_equal(out, "Key Material (0x420043) Structure\n"
				 "  Key (0x42003F) Byte String: <2 bytes redacted>\n");
}

/* 1.x Attribute Value is named through the preceding Attribute Name. */
static void test_attribute_values(void **state)
{
	struct kmip_dump_err e;

	(void)state;
	assert_int_equal(dump_hex(
		"4200080100000030"
		"42000a0700000017" "43727970746f6772617068696320416c676f726974686d00"
		"42000b0500000004" "0000000300000000", NULL, &e), CF_OK);
	assert_string_equal(out,
		"Attribute (0x420008) Structure\n"
		"  Attribute Name (0x42000A) Text String: \"Cryptographic Algorithm\"\n"
		"  Attribute Value (0x42000B) Enumeration: AES (0x00000003)\n");
}

static void test_small_buffer(void **state)
{
	uint8_t b[256];
	char small[40];
	size_t n = unhex(discover_hex, b, sizeof b), len = 99;
	struct kmip_dump_err e;

	(void)state;
	assert_int_equal(kmip_dump_buf(b, n, NULL, small, sizeof small, &len, &e), CF_E_NO_SPACE);
	assert_int_equal(e.rc, CF_OK);
	assert_int_equal(len, sizeof small - 1);
	assert_int_equal(strlen(small), sizeof small - 1);
	assert_memory_equal(small, discover_tree, sizeof small - 1);
	assert_int_equal(kmip_dump_buf(b, n, NULL, NULL, 0, &len, &e), CF_E_NO_SPACE);
	assert_int_equal(kmip_dump_buf(b, n, NULL, NULL, 5, &len, &e), CF_E_INVALID_ARG);
	/* empty input: empty tree */
	assert_int_equal(kmip_dump_buf(b, 0, NULL, small, sizeof small, &len, &e), CF_OK);
	assert_int_equal(len, 0);
	/* FILE sink */
	char *mem = NULL;
	size_t memlen = 0;
	FILE *f = open_memstream(&mem, &memlen);
	assert_non_null(f);
	assert_int_equal(kmip_dump_file(b, n, NULL, f, &e), CF_OK);
	fclose(f);
	assert_string_equal(mem, discover_tree);
	free(mem);
	assert_int_equal(kmip_dump_file(b, n, NULL, NULL, &e), CF_E_INVALID_ARG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_discover_versions),
		cmocka_unit_test(test_vcenter_vectors),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_depth),
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_secrets),
		cmocka_unit_test(test_attribute_values),
		cmocka_unit_test(test_small_buffer),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
