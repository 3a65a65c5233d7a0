/* The store's part of a backup (firmware/store/store_backup.c; format in firmware/backup/backup.h). */
#ifndef COFFRE_FIRMWARE_STORE_BACKUP_H
#define COFFRE_FIRMWARE_STORE_BACKUP_H

#include <stdbool.h>

#include "firmware/backup/backup.h"
#include "firmware/store/store.h"

/* Append one BK_REC_TABLE record per table (objects, attributes, clients, users, meta without
 * the audit anchor and backup.* keys) from one read snapshot. */
MUST_USE cf_err store_backup_dump(struct store *st, struct bk_buf *b);
/* true when the store holds no object, client or account (a full restore needs that). */
MUST_USE cf_err store_backup_empty(struct store *st, bool *empty);
/* Load the tables of a verified body in one transaction (all or nothing). merge: rows whose
 * key exists are skipped; else a row that exists fails the load (CF_E_EXISTS). A column this
 * schema lacks, or a newer store schema: CF_E_BAD_VERSION. *loaded = rows inserted. */
MUST_USE cf_err store_backup_load(struct store *st, const uint8_t *body, size_t n, bool merge,
				  struct bk_counts *loaded, struct bk_diag *d);

#endif
