/* The service context's own helpers (firmware/core/context.h). */
#include <time.h>

#include "firmware/core/context.h"

const char *svc_state_name(enum svc_state s)
{
	switch (s) {
	case SVC_UNINITIALIZED: return "UNINITIALIZED";
	case SVC_SEALED: return "SEALED";
	case SVC_READY: return "READY";
	case SVC_ERROR: return "ERROR";
	}
	return "?";
}

int64_t svc_now(const struct svc *s)
{
	if (s->now != NULL)
		return s->now(s->now_arg);
	return (int64_t)time(NULL);
}
