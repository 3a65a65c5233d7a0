/* Group commit for the store (docs/store.md "Group commit"). Private to firmware/store*.c.
 *
 * One commit group per database file per process (keyed by device and inode), shared by every
 * struct store open on it:
 *   - the write lock: a process mutex taken before BEGIN IMMEDIATE and released after the
 *     outermost COMMIT or ROLLBACK, so the connections of this process queue on a futex
 *     instead of polling SQLite's busy handler (which sleeps 1..100 ms between tries). SQLite's
 *     own lock still guards against other processes.
 *   - group commit: a connection opened with store_opts.group_commit runs synchronous=NORMAL
 *     (a COMMIT writes the WAL without fsync). Each such COMMIT takes a ticket under the write
 *     lock, so tickets follow the order of the transactions in the WAL. One committer thread
 *     fdatasyncs the WAL for every ticket taken so far, then marks them durable: one fsync for
 *     every transaction committed while the previous fsync ran. Nothing is acknowledged before
 *     its ticket is durable; a crash loses only transactions whose tickets were not (they are
 *     a suffix of the WAL: recovery stops at the first frame that was not written).
 *   - syslog copies of audit records, emitted by the committer once their ticket is durable
 *     (never for a transaction a crash could still undo). */
#ifndef COFFRE_FIRMWARE_COMMIT_H
#define COFFRE_FIRMWARE_COMMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "board/err.h"

struct commit_group;

/* The group of the database file at path (which must exist), created on first use. */
MUST_USE cf_err commit_group_get(const char *path, struct commit_group **out);
/* Drop a reference; the last one stops the committer (after its pending syncs) and frees. */
void commit_group_put(struct commit_group *g);

/* The write lock, waiting at most timeout_ms (CF_E_AGAIN after that). */
MUST_USE cf_err commit_wlock(struct commit_group *g, unsigned timeout_ms);
void commit_wunlock(struct commit_group *g);

/* After a COMMIT that did not sync, with the write lock held: the transaction's ticket.
 * lines[0..n) (malloc'd syslog lines, may be NULL/0) are taken over and emitted once the
 * ticket is durable. CF_E_NOMEM leaves the lines to the caller; the ticket is still valid. */
MUST_USE cf_err commit_note(struct commit_group *g, char **lines, size_t n, uint64_t *ticket);
/* 1 = durable, 0 = not yet, -1 = will never be (*err says why: the fsync failed). */
int commit_state(struct commit_group *g, uint64_t ticket, cf_err *err);
/* If the ticket is not durable and no sync is running, sync now on this thread (else return
 * at once: the running sync or the committer will cover it). */
void commit_sync_inline(struct commit_group *g, uint64_t ticket);
/* Block until the ticket is durable (CF_OK) or failed; syncs itself when no sync runs. */
MUST_USE cf_err commit_wait(struct commit_group *g, uint64_t ticket);
/* An eventfd the committer writes 1 to after every sync (an event loop's wake-up). */
MUST_USE cf_err commit_notify_add(struct commit_group *g, int fd);
void commit_notify_del(struct commit_group *g, int fd);

/* Syslog for an audit line of g's file. With the gate on (audit_syslog_open turns it on, for
 * the process), only when /dev/log exists (checked at most once a second per group), so a
 * system without a syslog daemon does not pay a failed socket + connect per line. */
void commit_syslog_line(struct commit_group *g, const char *line);
void commit_syslog_gate(bool on);

/* Counters for tests and the bench: syncs done, tickets made durable. */
void commit_stats(struct commit_group *g, uint64_t *syncs, uint64_t *durable);

#endif
