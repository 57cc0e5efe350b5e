/* bt_internal.h - helpers shared by the batch engine's files. */
#ifndef RECLAIMD_BT_INTERNAL_H
#define RECLAIMD_BT_INTERNAL_H

#include "bt.h"

#define BT_NAME_MAX 200   /* longest input name handled (bytes) */

#include <pthread.h>
#include <stdbool.h>

/* What a checkpoint records (work/NAME.ckpt). */
typedef struct bt_ckpt {
    uint64_t in_offset, out_len, err_len, batch, line;
    int done;
} bt_ckpt;

/* Replace work/NAME.ckpt atomically: write a temporary, fdatasync, rename,
 * fsync the directory. Returns 0 or -1 (errno). */
int bt_ckpt_write(bt_spool *sp, const char *name, const bt_ckpt *ck);

/* A batch whose text is larger than this is committed without overlap, and
 * its buffer is not kept for reuse (commit.c). */
#define BT_COMMIT_OVERLAP_MAX ((size_t)1 << 20)

/* The commit thread of one input (commit.c). */
typedef struct bt_committer {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool running, busy, quit;
    bt_spool *sp;
    const char *name;               /* borrowed: outlives the committer */
    int out_fd, err_fd;             /* borrowed */
    nj_buf out, err;                /* the batch in flight: the thread's while busy */
    bt_ckpt ck;                     /* its checkpoint, written once both are durable */
    /* The lengths of out_fd and err_fd last made durable (UINT64_MAX: not
     * yet, so the first commit syncs both, and with them the cut a resume
     * made): a file whose length the checkpoint leaves as it was is not
     * synced again. The commit thread's own. */
    uint64_t out_synced, err_synced;
    char failed[BT_NAME_MAX + 120]; /* "", or why a commit failed (the worker then submits no more) */
} bt_committer;

/* Start the thread. Returns 0 or -1 (errno). */
int bt_commit_start(bt_committer *c, bt_spool *sp, const char *name, int out_fd, int err_fd);
/* Hand a batch over: *out and *err are swapped with the committer's emptied
 * buffers (reuse them for the next batch). The commit before must have been
 * waited for. */
void bt_commit_submit(bt_committer *c, nj_buf *out, nj_buf *err, const bt_ckpt *ck);
/* Wait until no commit is in flight. Returns 0 when every commit handed over
 * is durable; -1 once one failed (err says which step and why; the input's
 * checkpoint on disk is the last good one). */
int bt_commit_wait(bt_committer *c, char *err, size_t errlen);
/* Wait as bt_commit_wait, then end the thread and free its buffers. No-op
 * when it never started. */
int bt_commit_stop(bt_committer *c, char *err, size_t errlen);

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
