/* KMIP operation handlers: decoded request -> authorization -> store + hsm -> response.
 * One struct ops_worker per net worker thread: it owns that thread's HSM session, its
 * SQLite connection and its request arena, so the hot path takes no lock of ours. */
#ifndef COFFRE_FIRMWARE_OPS_H
#define COFFRE_FIRMWARE_OPS_H

#include <stddef.h>
#include <stdint.h>

#include "board/err.h"
#include "firmware/net/net.h"
#include "firmware/core/context.h"

struct ops_worker;

MUST_USE cf_err ops_worker_new(struct svc *svc, unsigned index, struct ops_worker **out);
void ops_worker_free(struct ops_worker *w);
/* The worker's idle tick (net worker_tick): the HSM key object cache's sweep of its session. */
void ops_worker_tick(struct ops_worker *w);

/* Handle one whole Request Message (n bytes, already framed and size-checked) from the
 * client ci and write the Response Message into resp (cap bytes). Always produces a KMIP
 * response (an error response when the request cannot be decoded or authorised) unless
 * nothing can be answered at all; then returns an error and the connection is closed.
 * Signature-compatible with net_handle_fn when arg is the worker. */
MUST_USE cf_err ops_handle(struct ops_worker *w, struct net_conn_info *ci,
			   const uint8_t *req, size_t n, uint8_t *resp, size_t cap, size_t *resp_len);
/* Durability (docs/kmip-server.md "Durability and group commit"). When ci->can_hold, the
 * response may be held (ci->hold, ci->hold_ops set by ops_handle): the net layer sends it only
 * once the transaction it answers for, and the audit records of a read, are durable. Without
 * can_hold (tests, tools) ops_handle itself waits for that before returning. */

#endif
