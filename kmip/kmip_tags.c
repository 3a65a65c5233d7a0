/* Lookups over the generated KMIP tables (kmip_tables_gen.c). No state: every table is
 * static const and sorted by the generator, so every lookup is a binary search. */
#include <string.h>

#include "kmip/kmip_tags.h"
#include "kmip/ttlv.h"

int kmip_version_from(int major, int minor)
{
	if (major == 1 && minor >= 0 && minor <= 4)
		return KMIP_V1_0 + minor;
	if (major == 2 && minor == 0)
		return KMIP_V2_0;
	return -1;
}

static bool version_ok(int version)
{
	return version >= 0 && version < KMIP_V_COUNT;
}

const struct kmip_tag_info *kmip_tag_lookup(uint32_t tag)
{
	size_t lo = 0, hi = kmip_tag_table_len;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		uint32_t t = kmip_tag_table[mid].tag;

		if (t == tag)
			return &kmip_tag_table[mid];
		if (t < tag)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* Bytewise order, shorter first on a common prefix (the generator sorts Python bytes). */
static int name_cmp(const char *a, size_t an, const char *b, size_t bn)
{
	int c = memcmp(a, b, an < bn ? an : bn);

	if (c != 0)
		return c;
	return an < bn ? -1 : an > bn ? 1 : 0;
}

const struct kmip_tag_info *kmip_tag_by_name(const char *name, size_t n)
{
	size_t lo = 0, hi = kmip_tag_names_len;

	if (name == NULL)
		return NULL;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct kmip_tag_name_ix *e = &kmip_tag_names[mid];
		int c = name_cmp(e->name, e->len, name, n);

		if (c == 0)
			return &kmip_tag_table[e->ix];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

const char *kmip_tag_name(uint32_t tag)
{
	const struct kmip_tag_info *ti = kmip_tag_lookup(tag);

	return ti != NULL ? ti->name : NULL;
}

bool kmip_tag_is_extension(uint32_t tag)
{
	return tag >= KMIP_TAG_EXTENSION_FIRST && tag <= KMIP_TAG_EXTENSION_LAST;
}

bool kmip_tag_valid(uint32_t tag, int version)
{
	const struct kmip_tag_info *ti;

	if (!version_ok(version))
		return false;
	if (kmip_tag_is_extension(tag))
		return true;
	ti = kmip_tag_lookup(tag);
	return ti != NULL && (ti->versions & KMIP_VMASK(version)) != 0;
}

uint8_t kmip_tag_type(uint32_t tag, int version)
{
	const struct kmip_tag_info *ti = kmip_tag_lookup(tag);

	if (ti == NULL || !version_ok(version))
		return 0;
	return version == KMIP_V2_0 ? ti->type_v2 : ti->type;
}

const char *kmip_type_name(uint8_t type)
{
	switch (type) {
	case TTLV_STRUCTURE: return "Structure";
	case TTLV_INTEGER: return "Integer";
	case TTLV_LONG_INTEGER: return "Long Integer";
	case TTLV_BIG_INTEGER: return "Big Integer";
	case TTLV_ENUMERATION: return "Enumeration";
	case TTLV_BOOLEAN: return "Boolean";
	case TTLV_TEXT_STRING: return "Text String";
	case TTLV_BYTE_STRING: return "Byte String";
	case TTLV_DATE_TIME: return "Date-Time";
	case TTLV_INTERVAL: return "Interval";
	case TTLV_DATE_TIME_EXTENDED: return "Date-Time Extended";
	default: return NULL;
	}
}

const struct kmip_enum_table *kmip_enum_table_for(uint32_t tag)
{
	const struct kmip_tag_info *ti = kmip_tag_lookup(tag);

	return ti != NULL ? ti->enums : NULL;
}

/* First entry with this value (values may repeat when 2.0 renamed one; the 1.x spelling
 * comes first), or NULL. */
static const struct kmip_enum_value *enum_first(const struct kmip_enum_table *et, uint32_t value)
{
	size_t lo = 0, hi = et->count;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (et->values[mid].value < value)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < et->count && et->values[lo].value == value)
		return &et->values[lo];
	return NULL;
}

const char *kmip_enum_name(uint32_t tag, uint32_t value)
{
	const struct kmip_enum_table *et = kmip_enum_table_for(tag);
	const struct kmip_enum_value *ev;

	/* 2.0 Tag / Attribute Reference enumerations name tags. */
	if (tag == KMIP_TAG_TAG || tag == KMIP_TAG_ATTRIBUTE_REFERENCE)
		return kmip_tag_name(value);
	if (et == NULL)
		return NULL;
	ev = enum_first(et, value);
	return ev != NULL ? ev->name : NULL;
}

static bool value_valid(const struct kmip_enum_table *et, uint32_t value, uint8_t vm)
{
	if (et->count == 0)
		return false; /* empty table: values may be NULL, and NULL + 0 is undefined */
	const struct kmip_enum_value *ev = enum_first(et, value);
	const struct kmip_enum_value *end = et->values + et->count;

	for (; ev != NULL && ev < end && ev->value == value; ev++) {
		if ((ev->versions & vm) != 0)
			return true;
	}
	return false;
}

bool kmip_enum_valid(uint32_t tag, uint32_t value, int version)
{
	const struct kmip_enum_table *et = kmip_enum_table_for(tag);
	uint8_t vm;

	if (et == NULL || !version_ok(version))
		return false;
	vm = (uint8_t)KMIP_VMASK(version);
	if (et->is_mask) {
		uint32_t rest = value & ~et->ext_mask;

		for (uint32_t bit = 1; rest != 0 && bit != 0; bit <<= 1) {
			if ((rest & bit) == 0)
				continue;
			if (!value_valid(et, bit, vm))
				return false;
			rest &= ~bit;
		}
		return true;
	}
	/* 9.1.3.2 / 11: Extensions 8XXXXXXX */
	if ((value & 0x80000000u) != 0)
		return true;
	return value_valid(et, value, vm);
}

cf_err kmip_enum_by_name(uint32_t tag, const char *name, size_t n, uint32_t *value)
{
	const struct kmip_enum_table *et = kmip_enum_table_for(tag);

	if (value == NULL)
		return CF_E_INVALID_ARG;
	*value = 0;
	if (et == NULL || name == NULL)
		return CF_E_BAD_ENUM;
	for (size_t i = 0; i < et->count; i++) {
		const char *s = et->values[i].name;

		if (strlen(s) == n && memcmp(s, name, n) == 0) {
			*value = et->values[i].value;
			return CF_OK;
		}
	}
	return CF_E_BAD_ENUM;
}
