/* bt_internal.h - helpers shared by the batch engine's files. */
#ifndef RECLAIMD_BT_INTERNAL_H
#define RECLAIMD_BT_INTERNAL_H

#include "bt.h"

#define BT_NAME_MAX 200   /* longest input name handled (bytes) */

int bt_write_all(int fd, const void *buf, size_t n);
int bt_write_error_file(bt_spool *sp, const char *name, const char *reason);
/* Open (creating) work/NAME.lock; returns the fd or -1. */
int bt_lock_open(bt_spool *sp, const char *name);
/* Lock input NAME for this process: work/NAME.lock opened and flock'ed, and
 * still the file at that path. Returns the fd, or -1 (errno EWOULDBLOCK when
 * another process holds it). */
int bt_lock_take(bt_spool *sp, const char *name);
void bt_log(bt_worker *w, int level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
