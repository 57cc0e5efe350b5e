/* commit.c - a batch's commit on a helper thread, so the next batch is read while the disk syncs. */
#include "bt_internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/*
 * A commit is what makes one batch durable, in this order: append its
 * results and its bad records, fdatasync both (each only when its length
 * moved since its last sync: a batch without bad records leaves the errors
 * file alone; the first commit syncs both), then replace the checkpoint
 * (bt_ckpt_write). Commits run one at a time and in batch order, on one
 * thread per input being processed: batch N+1's bytes are written only
 * after batch N's checkpoint is on disk, so at any instant the checkpoint
 * on disk points at a durable prefix of the outputs, exactly as when the
 * worker committed inline. The worker meanwhile reads and computes batch
 * N+1; it waits for N's commit before it hands N+1 over, and before the
 * input finishes, pauses or fails. The thread touches only the two
 * descriptors, the spool's directory descriptors and the plain byte
 * buffers handed to it - no runtime object.
 *
 * Overlap costs memory: the batch in flight keeps its text while the next
 * one is built. So a huge batch (the guard's pressure cases) does not
 * overlap: its text past BT_COMMIT_OVERLAP_MAX goes to the files early, a
 * buffer at a time, from the worker once the commit before is done; the
 * worker waits for its commit at once; and a buffer grown past that size is
 * freed once committed instead of kept for reuse (process.c).
 */

static void *commit_main(void *arg)
{
    bt_committer *c = arg;
    pthread_mutex_lock(&c->mu);
    for (;;) {
        while (!c->busy && !c->quit)
            pthread_cond_wait(&c->cv, &c->mu);
        if (!c->busy)
            break;                                  /* quit with nothing to do */
        pthread_mutex_unlock(&c->mu);
        char failed[sizeof c->failed] = "";
        /* (the bytes the worker wrote early count in the checkpoint's lengths too) */
        bool sync_out = c->ck.out_len != c->out_synced, sync_err = c->ck.err_len != c->err_synced;
        if ((c->out.len && bt_write_all(c->out_fd, c->out.data, c->out.len) != 0) ||
            (c->err.len && bt_write_all(c->err_fd, c->err.data, c->err.len) != 0) ||
            (sync_out && fdatasync(c->out_fd) != 0) || (sync_err && fdatasync(c->err_fd) != 0)) {
            snprintf(failed, sizeof failed, "writing results of work/%s: %s", c->name, strerror(errno));
        } else {
            c->out_synced = c->ck.out_len;
            c->err_synced = c->ck.err_len;
            if (bt_ckpt_write(c->sp, c->name, &c->ck) != 0)
                snprintf(failed, sizeof failed, "writing checkpoint work/%s.ckpt: %s", c->name, strerror(errno));
        }
        pthread_mutex_lock(&c->mu);
        if (failed[0] != '\0')
            memcpy(c->failed, failed, sizeof failed);
        c->out.len = c->err.len = 0;
        if (c->out.cap > BT_COMMIT_OVERLAP_MAX)
            ro_sbuf_free(&c->out);
        if (c->err.cap > BT_COMMIT_OVERLAP_MAX)
            ro_sbuf_free(&c->err);
        c->busy = false;
        pthread_cond_broadcast(&c->cv);
    }
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

int bt_commit_start(bt_committer *c, bt_spool *sp, const char *name, int out_fd, int err_fd)
{
    memset(c, 0, sizeof *c);
    c->sp = sp;
    c->name = name;
    c->out_fd = out_fd;
    c->err_fd = err_fd;
    c->out_synced = c->err_synced = UINT64_MAX;
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
    int e = pthread_create(&c->thread, NULL, commit_main, c);
    if (e != 0) {
        pthread_cond_destroy(&c->cv);
        pthread_mutex_destroy(&c->mu);
        errno = e;
        return -1;
    }
    c->running = true;
    return 0;
}

int bt_commit_wait(bt_committer *c, char *err, size_t errlen)
{
    if (!c->running)
        return 0;
    pthread_mutex_lock(&c->mu);
    while (c->busy)
        pthread_cond_wait(&c->cv, &c->mu);
    int r = c->failed[0] != '\0' ? -1 : 0;
    if (r != 0)
        snprintf(err, errlen, "%s", c->failed);
    pthread_mutex_unlock(&c->mu);
    return r;
}

void bt_commit_submit(bt_committer *c, nj_buf *out, nj_buf *err, const bt_ckpt *ck)
{
    pthread_mutex_lock(&c->mu);
    nj_buf o = c->out, e = c->err;      /* emptied by the last commit: the worker reuses them */
    c->out = *out;
    c->err = *err;
    *out = o;
    *err = e;
    c->ck = *ck;
    c->busy = true;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

int bt_commit_stop(bt_committer *c, char *err, size_t errlen)
{
    if (!c->running)
        return 0;
    int r = bt_commit_wait(c, err, errlen);
    pthread_mutex_lock(&c->mu);
    c->quit = true;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
    pthread_join(c->thread, NULL);
    pthread_cond_destroy(&c->cv);
    pthread_mutex_destroy(&c->mu);
    ro_sbuf_free(&c->out);
    ro_sbuf_free(&c->err);
    c->running = false;
    return r;
}
