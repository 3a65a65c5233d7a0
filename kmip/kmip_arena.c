/* Per-request bump allocator over a caller-owned buffer. */
#include "kmip/kmip.h"

#include <stdalign.h>
#include <string.h>
#include "board/sec.h"

void kmip_arena_init(struct kmip_arena *a, void *buf, size_t cap)
{
	*a = (struct kmip_arena){ .p = buf, .cap = buf != NULL ? cap : 0, .off = 0 };
}

cf_err kmip_arena_alloc(struct kmip_arena *a, size_t count, size_t size, void **out)
{
	const size_t al = alignof(max_align_t);

	*out = NULL;
	if (a == NULL)
		return CF_E_INVALID_ARG;
	if (count == 0 || size == 0)
		return CF_OK;
	if (count > SIZE_MAX / size)
		return CF_E_NOMEM;
	size_t need = count * size;
	uintptr_t base = (uintptr_t)a->p;
	size_t pad = (size_t)((al - ((base + a->off) % al)) % al);
	if (a->off > a->cap || pad > a->cap - a->off || need > a->cap - a->off - pad)
		return CF_E_NOMEM;
	uint8_t *p = a->p + a->off + pad;
	memset(p, 0, need);
	a->off += pad + need;
	*out = p;
	return CF_OK;
}

void kmip_arena_reset(struct kmip_arena *a)
{
	if (a == NULL)
		return;
	if (a->p != NULL && a->off > 0)
		sec_wipe(a->p, a->off <= a->cap ? a->off : a->cap);
	a->off = 0;
}
