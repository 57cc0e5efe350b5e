/* process.c - one claimed input: batches of records through the job, committed with checkpoints. */
#include "bt.h"
#include "bt_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/*
 * Files of input NAME.ndjson in work/ while it is processed:
 *   NAME.ndjson              the claimed input
 *   NAME.ndjson.lock         flock'ed by the process that owns the input
 *   NAME.ndjson.ckpt         the last committed checkpoint (replaced atomically)
 *   NAME.ndjson.out.tmp      results so far
 *   NAME.ndjson.errors.tmp   bad records so far
 * Commit of a batch: append its results and bad records, fdatasync them (a
 * file whose length did not move since its last sync is left alone), then
 * replace the checkpoint (input offset, output and error lengths, batch and
 * line numbers) - on the input's commit thread (commit.c), while the next
 * batch is read and computed. On resume the outputs are cut back to the checkpointed
 * lengths and the input is read from the checkpointed offset, so a crash at
 * any instant neither loses nor repeats a record. When the input is done the
 * checkpoint says so (done=1) and the finish steps below are each idempotent:
 * out.tmp -> out/NAME.ndjson, errors.tmp -> failed/BASE.errors.ndjson (when
 * not empty), input -> done/ (or deleted), then checkpoint and lock removed.
 */

#define RAW_MAX 200                 /* bytes of a bad record kept in its error line */
#define READ_CHUNK (1024u * 1024u)
/* Bytes asked of one read(): the kernel's copy lands in the front of the
 * buffer, still in the cache when the parser reads it a moment later
 * (reading the whole free space, 1-2 MiB, left it to come back from the
 * shared cache: 2-4% more user time on bench/batch's input, bench/ab;
 * 16 KiB reads cost more in calls than they save). */
#define READ_STEP (64u * 1024u)

/* ------------------------------------------------------------- helpers */

void bt_log(bt_worker *w, int level, const char *fmt, ...)
{
    if (w->cfg->log == NULL)
        return;
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    w->cfg->log(w->cfg->log_ud, level, msg);
}

int bt_write_all(int fd, const void *buf, size_t n)
{
    const char *p = buf;
    while (n > 0) {
        ssize_t k = write(fd, p, n);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

static void work_name(char *buf, size_t n, const char *name, const char *suffix)
{
    snprintf(buf, n, "%s%s", name, suffix);
}

int bt_lock_open(bt_spool *sp, const char *name)
{
    char lk[BT_NAME_MAX + 16];
    work_name(lk, sizeof lk, name, ".lock");
    return openat(sp->work_fd, lk, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0640);
}

int bt_lock_take(bt_spool *sp, const char *name)
{
    char path[BT_NAME_MAX + 16];
    work_name(path, sizeof path, name, ".lock");
    for (int attempt = 0; attempt < 3; attempt++) {
        int lk = bt_lock_open(sp, name);
        if (lk < 0)
            return -1;
        if (flock(lk, LOCK_EX | LOCK_NB) != 0) {
            close(lk);
            return -1;                      /* held by its owner */
        }
        /* The previous owner may have unlinked this lock file between our
         * open and our flock: then we hold a lock nobody else can see. Only
         * a lock on the inode still at the path counts. */
        struct stat a, b;
        if (fstat(lk, &a) == 0 && a.st_nlink > 0 && fstatat(sp->work_fd, path, &b, AT_SYMLINK_NOFOLLOW) == 0 &&
            a.st_ino == b.st_ino && a.st_dev == b.st_dev)
            return lk;
        close(lk);
    }
    errno = EWOULDBLOCK;                    /* it keeps changing hands: someone else has it */
    return -1;
}

static int ckpt_read(bt_spool *sp, const char *name, bt_ckpt *ck, bool *exists)
{
    char path[BT_NAME_MAX + 16], buf[512];
    memset(ck, 0, sizeof *ck);
    *exists = false;
    work_name(path, sizeof path, name, ".ckpt");
    int fd = openat(sp->work_fd, path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 0 : -1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    if (sscanf(buf, "reclaimd-checkpoint 1\ninput_offset=%" SCNu64 "\noutput_length=%" SCNu64
                    "\nerrors_length=%" SCNu64 "\nbatch=%" SCNu64 "\nline=%" SCNu64 "\ndone=%d",
               &ck->in_offset, &ck->out_len, &ck->err_len, &ck->batch, &ck->line, &ck->done) != 6) {
        errno = EINVAL;
        return -1;
    }
    *exists = true;
    return 0;
}

int bt_ckpt_write(bt_spool *sp, const char *name, const bt_ckpt *ck)
{
    char tmp[BT_NAME_MAX + 16], path[BT_NAME_MAX + 16], buf[512];
    work_name(tmp, sizeof tmp, name, ".ckpt.tmp");
    work_name(path, sizeof path, name, ".ckpt");
    int n = snprintf(buf, sizeof buf,
                     "reclaimd-checkpoint 1\ninput_offset=%" PRIu64 "\noutput_length=%" PRIu64
                     "\nerrors_length=%" PRIu64 "\nbatch=%" PRIu64 "\nline=%" PRIu64 "\ndone=%d\n",
                     ck->in_offset, ck->out_len, ck->err_len, ck->batch, ck->line, ck->done);
    int fd = openat(sp->work_fd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0640);
    if (fd < 0)
        return -1;
    int r = bt_write_all(fd, buf, (size_t)n) == 0 && fdatasync(fd) == 0 ? 0 : -1;
    close(fd);
    if (r == 0)
        r = renameat(sp->work_fd, tmp, sp->work_fd, path);
    if (r == 0)
        r = fsync(sp->work_fd);
    return r;
}

/* ------------------------------------------------------------- reader */

typedef struct bt_reader {
    int fd;
    char *buf;
    size_t cap, start, end;
    uint64_t offset;         /* file offset of buf[start] */
    bool eof;
    size_t max_record;
    char prefix[RAW_MAX];    /* start of an over-long line (its raw text) */
    size_t prefix_len;
} bt_reader;

/* Next line (without '\n'). Returns 1, 0 at end of file, -1 on a read error.
 * A line longer than max_record is skipped whole: *too_long is set and the
 * line returned is its first RAW_MAX bytes. */
static int reader_next(bt_reader *r, const char **line, size_t *len, bool *too_long)
{
    *too_long = false;
    bool skipping = false;
    for (;;) {
        char *s = r->buf + r->start;
        size_t avail = r->end - r->start;
        char *nl = memchr(s, '\n', avail);
        if (nl != NULL) {
            size_t n = (size_t)(nl - s);
            r->start += n + 1;
            r->offset += n + 1;
            if (skipping) {
                *line = r->prefix;
                *len = r->prefix_len;
                *too_long = true;
                return 1;
            }
            if (n > r->max_record) {
                r->prefix_len = n < RAW_MAX ? n : RAW_MAX;
                memcpy(r->prefix, s, r->prefix_len);
                *line = r->prefix;
                *len = r->prefix_len;
                *too_long = true;
                return 1;
            }
            *line = s;
            *len = n;
            return 1;
        }
        if (r->eof) {
            if (avail == 0 && !skipping)
                return 0;
            r->start = r->end;
            r->offset += avail;
            if (skipping || avail > r->max_record) {
                if (!skipping) {
                    r->prefix_len = avail < RAW_MAX ? avail : RAW_MAX;
                    memcpy(r->prefix, s, r->prefix_len);
                }
                *line = r->prefix;
                *len = r->prefix_len;
                *too_long = true;
                return 1;
            }
            *line = s;
            *len = avail;
            return 1;
        }
        if (!skipping && avail > r->max_record) {
            /* Over-long: keep its start for the error line, drop the rest. */
            r->prefix_len = RAW_MAX;
            memcpy(r->prefix, s, RAW_MAX);
            skipping = true;
        }
        if (skipping) {
            r->offset += avail;
            r->start = r->end = 0;
        } else if (r->start != 0) {
            memmove(r->buf, s, avail);
            r->start = 0;
            r->end = avail;
        }
        ssize_t k;
        do
            k = read(r->fd, r->buf + r->end, r->cap - r->end < READ_STEP ? r->cap - r->end : READ_STEP);
        while (k < 0 && errno == EINTR);
        if (k < 0)
            return -1;
        if (k == 0)
            r->eof = true;
        r->end += (size_t)k;
    }
}

/* ------------------------------------------------- batch and user objects */

/* A batch holds its users; each user refers back to its batch: the cycle the
 * collector frees once the batch is committed and dropped. A user holds its
 * result, not its record: the parsed record is dropped as soon as the job has
 * read it, so it dies by reference counting while its memory is still in the
 * cache, and the batch-end collection walks ~20 objects a user, not ~200. */
typedef struct bt_batch {
    ro_object ob_base;
    ro_object *users;       /* list of bt_user */
} bt_batch;

typedef struct bt_user {
    ro_object ob_base;
    ro_object *result, *batch;
} bt_user;

static int batch_traverse(ro_object *o, ro_visit_fn visit, void *arg)
{
    RO_VISIT(((bt_batch *)o)->users, visit, arg);
    return 0;
}

static void batch_clear(ro_state *rt, ro_object *o)
{
    RO_CLEAR(rt, ((bt_batch *)o)->users);
}

static int user_traverse(ro_object *o, ro_visit_fn visit, void *arg)
{
    bt_user *u = (bt_user *)o;
    RO_VISIT(u->result, visit, arg);
    RO_VISIT(u->batch, visit, arg);
    return 0;
}

static void user_clear(ro_state *rt, ro_object *o)
{
    bt_user *u = (bt_user *)o;
    RO_CLEAR(rt, u->result);
    RO_CLEAR(rt, u->batch);
}

int bt_worker_init(bt_worker *w, ro_state *rt, const bt_job *job, const bt_job_option *opts, size_t nopts,
                   const bt_config *cfg, bt_spool *sp, char *err, size_t errlen)
{
    memset(w, 0, sizeof *w);
    w->claim_lock_fd = -1;
    w->rt = rt;
    w->job = job;
    w->cfg = cfg;
    w->spool = sp;
    /* Their clears drop exactly what their traversals visit: the collector
     * frees a committed batch in bulk (RO_TPFLAG_PLAIN_CLEAR). */
    ro_type_spec bs = {.name = "batch", .basicsize = sizeof(bt_batch), .flags = RO_TPFLAG_GC | RO_TPFLAG_PLAIN_CLEAR,
                       .traverse = batch_traverse, .clear = batch_clear};
    ro_type_spec us = {.name = "user", .basicsize = sizeof(bt_user), .flags = RO_TPFLAG_GC | RO_TPFLAG_PLAIN_CLEAR,
                       .traverse = user_traverse, .clear = user_clear};
    w->batch_type = ro_type_new(rt, &bs);
    w->user_type = ro_type_new(rt, &us);
    if (w->batch_type == NULL || w->user_type == NULL) {
        snprintf(err, errlen, "%s", ro_err_msg(rt));
        bt_worker_fini(w);
        return -1;
    }
    w->job_inst = job->create(rt, opts, nopts, err, errlen);
    if (w->job_inst == NULL) {
        bt_worker_fini(w);
        return -1;
    }
    return 0;
}

void bt_worker_fini(bt_worker *w)
{
    bt_claim_reset(w);
    if (w->claim_lock_fd >= 0)
        close(w->claim_lock_fd);
    w->claim_lock_fd = -1;
    if (w->job_inst != NULL)
        w->job->destroy(w->job_inst, w->rt);
    w->job_inst = NULL;
    if (w->batch_type != NULL)
        ro_decref(w->rt, RO_OBJ(w->batch_type));
    if (w->user_type != NULL)
        ro_decref(w->rt, RO_OBJ(w->user_type));
    w->batch_type = w->user_type = NULL;
}

/* --------------------------------------------------------- bad records */

/* The raw text of a record as a valid JSON string: at most RAW_MAX bytes,
 * invalid UTF-8 replaced by U+FFFD. */
static ro_object *raw_text(ro_state *rt, const char *s, size_t n)
{
    char out[RAW_MAX * 3 + 4];
    size_t o = 0;
    if (n > RAW_MAX)
        n = RAW_MAX;
    for (size_t i = 0; i < n;) {
        ro_object *probe = NULL;
        size_t k = 1;
        uint8_t c = (uint8_t)s[i];
        if (c >= 0x80) {
            k = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
            if (i + k > n || k == 1 || (probe = ro_str_from_utf8(rt, s + i, k)) == NULL) {
                ro_err_clear(rt);
                memcpy(out + o, "\xef\xbf\xbd", 3);   /* U+FFFD */
                o += 3;
                i++;
                continue;
            }
            ro_decref(rt, probe);
        }
        memcpy(out + o, s + i, k);
        o += k;
        i += k;
    }
    return ro_str_from_utf8(rt, out, o);
}

/* Append {"line": N, "column": C, "error": "...", "raw": "..."} to errb. */
static int bad_record(bt_worker *w, nj_buf *errb, uint64_t line, size_t column, const char *msg, const char *raw,
                      size_t rawlen)
{
    ro_state *rt = w->rt;
    ro_object *d = ro_dict_new(rt);
    if (d == NULL)
        return -1;
    int r = ro_dict_set_cstr_steal(rt, d, "line", ro_int_from_i64(rt, (int64_t)line));
    if (r == 0)
        r = ro_dict_set_cstr_steal(rt, d, "column", ro_int_from_i64(rt, (int64_t)column));
    if (r == 0)
        r = ro_dict_set_cstr_steal(rt, d, "error", ro_str_from_utf8(rt, msg, strlen(msg)));
    if (r == 0)
        r = ro_dict_set_cstr_steal(rt, d, "raw", raw_text(rt, raw, rawlen));
    if (r == 0)
        r = nj_emit(rt, d, errb);
    if (r == 0)
        r = ro_sbuf_append(rt, errb, "\n", 1);
    ro_decref(rt, d);
    return r;
}

static bool blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
            return false;
    return true;
}

/* ----------------------------------------------------------- finishing */

static void remove_work_files(bt_spool *sp, const char *name)
{
    static const char *const suffixes[] = {".out.tmp", ".errors.tmp", ".ckpt.tmp", ".ckpt"};
    char path[BT_NAME_MAX + 16];
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
        work_name(path, sizeof path, name, suffixes[i]);
        unlinkat(sp->work_fd, path, 0);
    }
}

static void drop_lock(bt_spool *sp, const char *name, int lk)
{
    char path[BT_NAME_MAX + 16];
    work_name(path, sizeof path, name, ".lock");
    unlinkat(sp->work_fd, path, 0);
    fsync(sp->work_fd);
    close(lk);
}

/* Each step checks whether it already happened, so a crash in the middle is
 * finished by whoever resumes. */
static int finish(bt_worker *w, const char *name, const bt_ckpt *ck, char *err, size_t errlen)
{
    bt_spool *sp = w->spool;
    char path[BT_NAME_MAX + 16], dest[BT_NAME_MAX + 24];
    int base = (int)strlen(name) - 7;
    work_name(path, sizeof path, name, ".out.tmp");
    if (renameat(sp->work_fd, path, sp->out_fd, name) != 0 && errno != ENOENT)
        goto fail;
    fsync(sp->out_fd);
    work_name(path, sizeof path, name, ".errors.tmp");
    snprintf(dest, sizeof dest, "%.*s.errors.ndjson", base, name);
    if (ck->err_len > 0) {
        if (renameat(sp->work_fd, path, sp->failed_fd, dest) != 0 && errno != ENOENT)
            goto fail;
        fsync(sp->failed_fd);
    } else {
        unlinkat(sp->work_fd, path, 0);
    }
    if (w->cfg->done_action == BT_DONE_DELETE) {
        if (unlinkat(sp->work_fd, name, 0) != 0 && errno != ENOENT)
            goto fail;
    } else {
        if (renameat(sp->work_fd, name, sp->done_fd, name) != 0 && errno != ENOENT)
            goto fail;
        fsync(sp->done_fd);
    }
    remove_work_files(sp, name);
    return 0;
fail:
    snprintf(err, errlen, "finishing %s: %s", name, strerror(errno));
    return -1;
}

/* Bad-record policy "reject": the whole input goes to failed/ with a reason. */
static int reject(bt_worker *w, const char *name, const char *reason, char *err, size_t errlen)
{
    bt_spool *sp = w->spool;
    if (bt_write_error_file(sp, name, reason) != 0 ||
        (renameat(sp->work_fd, name, sp->failed_fd, name) != 0 && errno != ENOENT)) {
        snprintf(err, errlen, "rejecting %s: %s", name, strerror(errno));
        return -1;
    }
    fsync(sp->failed_fd);
    remove_work_files(sp, name);
    bt_log(w, 4, "input=%s rejected reason=\"%s\"", name, reason);
    return 0;
}

/* -------------------------------------------------------------- engine */

static int open_output(bt_spool *sp, const char *name, const char *suffix, uint64_t len)
{
    char path[BT_NAME_MAX + 16];
    work_name(path, sizeof path, name, suffix);
    int fd = openat(sp->work_fd, path, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0640);
    if (fd < 0)
        return -1;
    if (ftruncate(fd, (off_t)len) != 0 || lseek(fd, 0, SEEK_END) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* The batch handed to the commit thread and not yet known durable. */
typedef struct pending_batch {
    bool on;
    uint64_t records, bad;
    struct timespec t0;
} pending_batch;

/* Wait for the commit in flight; once durable, its batch counts (report,
 * on_batch). Returns 0, or -1 with err set when the commit failed. */
static int settle(bt_worker *w, bt_committer *cm, pending_batch *pb, bt_input_report *rep, char *err, size_t errlen)
{
    if (bt_commit_wait(cm, err, errlen) != 0)
        return -1;
    if (!pb->on)
        return 0;
    pb->on = false;
    rep->records += pb->records;
    rep->bad += pb->bad;
    rep->good += pb->records - pb->bad;
    rep->batches++;
    if (w->cfg->on_batch != NULL) {
        struct timespec t1;
        clock_gettime(CLOCK_MONOTONIC, &t1);
        w->cfg->on_batch(w->cfg->on_batch_ud, pb->records, pb->bad,
                         (double)(t1.tv_sec - pb->t0.tv_sec) + (double)(t1.tv_nsec - pb->t0.tv_nsec) / 1e9);
    }
    return 0;
}

/* Write b to fd now, once the commit in flight is done, and empty it;
 * *early counts the bytes. Returns 0, or -1 with err set. */
static int write_early(bt_worker *w, bt_committer *cm, pending_batch *pb, bt_input_report *rep, int fd, nj_buf *b,
                       size_t *early, const char *name, char *err, size_t errlen)
{
    if (settle(w, cm, pb, rep, err, errlen) != 0)
        return -1;
    if (bt_write_all(fd, b->data, b->len) != 0) {
        snprintf(err, errlen, "writing results of work/%s: %s", name, strerror(errno));
        return -1;
    }
    *early += b->len;
    b->len = 0;
    return 0;
}

int bt_process_input(bt_worker *w, const char *name, bt_input_report *rep, char *err, size_t errlen)
{
    bt_spool *sp = w->spool;
    ro_state *rt = w->rt;
    const bt_config *cfg = w->cfg;
    int rc = -1, in_fd = -1, out_fd = -1, err_fd = -1;
    bool gc_auto = ro_gc_is_enabled(rt);
    bool gone = false;                      /* the input left work/: drop its lock file too */
    bt_reader rd = {0};
    nj_buf outb = {0}, errb = {0};
    bt_committer cm = {.running = false};
    pending_batch pb = {.on = false};
    nj_shapes *shapes = NULL;
    memset(rep, 0, sizeof *rep);
    if (!bt_name_is_input(name)) {
        snprintf(err, errlen, "'%s' is not an input name", name);
        return -1;
    }
    int lk;
    if (w->claim_lock_fd >= 0 && strcmp(w->claim_name, name) == 0) {
        lk = w->claim_lock_fd;              /* taken when it was claimed */
        w->claim_lock_fd = -1;
    } else {
        lk = bt_lock_take(sp, name);
    }
    if (lk < 0) {
        if (errno == EWOULDBLOCK)
            return 0;                       /* another process owns it */
        snprintf(err, errlen, "cannot lock work/%s.lock: %s", name, strerror(errno));
        return -1;
    }
    bt_ckpt ck;
    bool exists;
    if (ckpt_read(sp, name, &ck, &exists) != 0) {
        snprintf(err, errlen, "unreadable checkpoint work/%s.ckpt: %s", name, strerror(errno));
        goto out;
    }
    rep->resumed = exists;
    if (ck.done)
        goto done;
    in_fd = openat(sp->work_fd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (in_fd < 0) {
        if (errno == ENOENT) {              /* finished or rejected by someone else */
            remove_work_files(sp, name);
            rc = 0;
            gone = true;
            goto out;
        }
        char reason[300];
        snprintf(reason, sizeof reason, "rejected: cannot open work/%s: %s", name, strerror(errno));
        rep->rejected = true;
        rc = reject(w, name, reason, err, errlen);
        gone = rep->finished = rc == 0;
        goto out;
    }
    struct stat st;
    if (fstat(in_fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        rep->rejected = true;
        rc = reject(w, name, "rejected: not a regular file", err, errlen);
        gone = rep->finished = rc == 0;
        goto out;
    }
    out_fd = open_output(sp, name, ".out.tmp", ck.out_len);
    err_fd = open_output(sp, name, ".errors.tmp", ck.err_len);
    if (out_fd < 0 || err_fd < 0 || lseek(in_fd, (off_t)ck.in_offset, SEEK_SET) < 0) {
        snprintf(err, errlen, "preparing work/%s: %s", name, strerror(errno));
        goto out;
    }
    rd.fd = in_fd;
    rd.max_record = cfg->limits.max_record_bytes ? cfg->limits.max_record_bytes : NJ_DEFAULT_MAX_RECORD_BYTES;
    rd.cap = rd.max_record + READ_CHUNK;
    rd.buf = malloc(rd.cap);
    rd.offset = ck.in_offset;
    if (rd.buf == NULL) {
        snprintf(err, errlen, "out of memory for the read buffer (%zu bytes)", rd.cap);
        goto out;
    }
    /* The keys the input's records share, kept from one record to the next
     * (without them, when out of memory here, each record reads its own). */
    shapes = nj_shapes_new();
    if (bt_commit_start(&cm, sp, name, out_fd, err_fd) != 0) {
        snprintf(err, errlen, "starting the commit thread of work/%s: %s", name, strerror(errno));
        goto out;
    }
    bt_log(w, 6, "input=%s %s offset=%" PRIu64 " batch=%" PRIu64, name, exists ? "resumed" : "started",
           ck.in_offset, ck.batch);

    /* Collection happens at batch boundaries: while a batch is built all its
     * records are alive anyway, so automatic young collections would only
     * rescan and promote them. Once the committed batch is dropped (a cycle:
     * users -> batch) one young collection frees the whole batch. */
    for (;;) {
        if (w->stop != NULL && *w->stop) {
            bt_log(w, 5, "input=%s paused at batch=%" PRIu64 " (stop requested)", name, ck.batch);
            rc = 0;
            goto out;
        }
        ro_gc_disable(rt);
        struct timespec batch_t0;
        clock_gettime(CLOCK_MONOTONIC, &batch_t0);
        ro_object *batch = ro_object_new(rt, w->batch_type, 0);
        ro_object *users = ro_list_new(rt, cfg->users_per_batch);
        if (batch == NULL || users == NULL) {
            ro_xdecref(rt, batch);
            ro_xdecref(rt, users);
            goto rt_fail;
        }
        ((bt_batch *)batch)->users = users;
        /* Files the job opens in this batch are owned by it: once it is
         * committed the guard may force-close those left open. */
        ro_object *owner = ro_str_from_format(rt, "%s#batch%" PRIu64, name, ck.batch + 1);
        if (owner == NULL) {
            ro_decref(rt, batch);
            goto rt_fail;
        }
        ro_file_set_default_owner(rt, owner);
        ro_decref(rt, owner);
        outb.len = errb.len = 0;
        uint64_t count = 0, line = ck.line, bad = 0;
        bool eof = false;
        while (count < cfg->users_per_batch) {
            if (w->abort_batch != NULL && *w->abort_batch) {
                bt_log(w, 4, "input=%s batch=%" PRIu64 " aborted after %" PRIu64 " records: nothing of it is "
                       "committed; the input resumes from its checkpoint", name, ck.batch + 1, count);
                ro_file_set_default_owner(rt, NULL);
                ro_decref(rt, batch);
                rep->aborted = true;
                rc = 0;
                goto out;
            }
            /* A safe point every few records too, so that the guard acts
             * inside long batches (every object here is owned by batch). */
            w->batch_records = count;
            if (count % BT_SAFE_POINT_RECORDS == BT_SAFE_POINT_RECORDS - 1 && cfg->safe_point != NULL)
                cfg->safe_point(cfg->safe_point_ud, rt);
            const char *s;
            size_t n;
            bool too_long;
            int r = reader_next(&rd, &s, &n, &too_long);
            if (r < 0) {
                ro_decref(rt, batch);
                snprintf(err, errlen, "reading work/%s: %s", name, strerror(errno));
                goto out;
            }
            if (r == 0) {
                eof = true;
                break;
            }
            line++;
            if (!too_long && blank(s, n))
                continue;
            count++;
            char msg[200];
            size_t column = 1;
            ro_object *rec = NULL, *res = NULL;
            if (too_long) {
                snprintf(msg, sizeof msg, "record larger than %zu bytes", rd.max_record);
                column = rd.max_record + 1;
            } else {
                nj_error pe;
                rec = nj_parse_shaped(rt, shapes, s, n, &cfg->limits, &pe);
                if (rec == NULL) {
                    if (ro_err_kind(rt) == RO_E_NOMEM) {
                        ro_decref(rt, batch);
                        goto rt_fail;
                    }
                    ro_err_clear(rt);
                    snprintf(msg, sizeof msg, "%s", pe.msg);
                    column = pe.column;
                } else {
                    res = w->job->process(w->job_inst, rt, rec, msg, sizeof msg);
                    ro_decref(rt, rec);
                    if (res == NULL && ro_err_kind(rt) != RO_OK) {
                        ro_decref(rt, batch);
                        goto rt_fail;
                    }
                }
            }
            if (res == NULL) {
                bad++;
                if (cfg->bad_records == BT_BAD_REJECT) {
                    char reason[400];
                    snprintf(reason, sizeof reason, "rejected: line %" PRIu64 ", column %zu: %s", line, column, msg);
                    ro_decref(rt, batch);
                    if (settle(w, &cm, &pb, rep, err, errlen) != 0)
                        goto out;                   /* the work files are not touched while a commit runs */
                    rep->rejected = true;
                    rep->bad++;
                    rc = reject(w, name, reason, err, errlen);
                    rep->finished = rc == 0;
                    gone = rc == 0;
                    goto out;
                }
                if (bad_record(w, &errb, line, column, msg, s, n) != 0) {
                    ro_decref(rt, batch);
                    goto rt_fail;
                }
                continue;
            }
            bt_user *u = (bt_user *)ro_object_new(rt, w->user_type, 0);
            if (u == NULL) {
                ro_decref(rt, res);
                ro_decref(rt, batch);
                goto rt_fail;
            }
            u->result = res;
            u->batch = batch;
            ro_incref(batch);
            if (ro_list_append_steal(rt, users, RO_OBJ(u)) != 0) {
                ro_decref(rt, batch);
                goto rt_fail;
            }
        }
        if (count == 0 && line == ck.line) {
            ro_decref(rt, batch);
            break;                          /* end of input */
        }
        /* A huge batch's text goes to the files as it is made, a buffer at a
         * time, once the commit before is done (nothing of a batch may reach
         * the files before the batch before is durable); the commit below
         * makes it durable with the rest. So its results never sit in memory
         * whole - under the guard's pressure the largest batches are the
         * ones that end. Bytes past the checkpoint are cut on resume. */
        size_t out_early = 0, err_early = 0;
        if (errb.len > BT_COMMIT_OVERLAP_MAX && write_early(w, &cm, &pb, rep, err_fd, &errb, &err_early, name, err,
                                                           errlen) != 0) {
            ro_decref(rt, batch);
            goto out;
        }
        for (size_t i = 0; i < ro_list_len(users); i++) {
            bt_user *u = (bt_user *)((ro_list *)users)->l_items[i];
            if (nj_emit(rt, u->result, &outb) != 0 || ro_sbuf_append(rt, &outb, "\n", 1) != 0) {
                ro_decref(rt, batch);
                goto rt_fail;
            }
            if (outb.len > BT_COMMIT_OVERLAP_MAX && write_early(w, &cm, &pb, rep, out_fd, &outb, &out_early, name,
                                                                err, errlen) != 0) {
                ro_decref(rt, batch);
                goto out;
            }
        }
        /* Commit (commit.c): data first, durable, then the checkpoint that
         * points past it - on the commit thread, once the batch before is
         * durable, while this thread goes on with the next batch. */
        if (settle(w, &cm, &pb, rep, err, errlen) != 0) {
            ro_decref(rt, batch);
            goto out;
        }
        ck.in_offset = rd.offset;
        ck.out_len += out_early + outb.len;
        ck.err_len += err_early + errb.len;
        ck.batch++;
        ck.line = line;
        size_t text = out_early + err_early + outb.len + errb.len;
        bt_commit_submit(&cm, &outb, &errb, &ck);
        pb = (pending_batch){.on = true, .records = count, .bad = bad, .t0 = batch_t0};
        if (text > BT_COMMIT_OVERLAP_MAX && settle(w, &cm, &pb, rep, err, errlen) != 0) {
            ro_decref(rt, batch);       /* a huge batch: no overlap (see commit.c) */
            goto out;
        }
        ro_file_set_default_owner(rt, NULL); /* the batch is finished */
        w->batch_records = 0;
        ro_decref(rt, batch);               /* a cycle (users -> batch): the collector frees it */
        if (gc_auto) {
            ro_gc_enable(rt);
            ro_gc_collect(rt, 0, NULL);
        }
        if (cfg->safe_point != NULL)
            cfg->safe_point(cfg->safe_point_ud, rt);
        if (eof)
            break;
    }
    if (settle(w, &cm, &pb, rep, err, errlen) != 0)
        goto out;
    ck.done = 1;
    if (bt_ckpt_write(sp, name, &ck) != 0) {
        snprintf(err, errlen, "writing checkpoint work/%s.ckpt: %s", name, strerror(errno));
        goto out;
    }
done:
    if (finish(w, name, &ck, err, errlen) != 0)
        goto out;
    rep->finished = true;
    bt_log(w, 6, "input=%s finished records=%" PRIu64 " good=%" PRIu64 " bad=%" PRIu64 " batches=%" PRIu64, name,
           rep->records, rep->good, rep->bad, ck.batch);
    rc = 0;
    gone = true;
    goto out;
rt_fail:
    snprintf(err, errlen, "runtime error in work/%s: %s", name, ro_err_msg(rt));
    ro_err_clear(rt);
out:
    if (cm.running) {
        /* A pause, an abort or an error: what was handed over still
         * commits (or its failure is the error) before the files close. */
        char cerr[400];
        int cr = settle(w, &cm, &pb, rep, cerr, sizeof cerr);
        if (bt_commit_stop(&cm, cerr, sizeof cerr) != 0)
            cr = -1;
        if (cr != 0 && rc == 0) {
            snprintf(err, errlen, "%s", cerr);
            rc = -1;
        }
    }
    ro_file_set_default_owner(rt, NULL);
    w->batch_records = 0;
    if (gc_auto)
        ro_gc_enable(rt);
    if (in_fd >= 0)
        close(in_fd);
    if (out_fd >= 0)
        close(out_fd);
    if (err_fd >= 0)
        close(err_fd);
    if (gone)
        drop_lock(sp, name, lk);            /* unlinks the lock file, then lets go of it */
    else
        close(lk);                          /* the input stays in work/: resumable */
    free(rd.buf);
    nj_shapes_free(rt, shapes);
    ro_sbuf_free(&outb);
    ro_sbuf_free(&errb);
    return rc;
}
