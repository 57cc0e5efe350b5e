/* file.c - file objects over descriptors, and the registry of open files. */
#include "ro_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/*
 * States: open (f_state & F_OPEN, in the registry, f_fd valid) -> closed (by
 * ro_file_close, by the finalizer when the object dies open — counted as
 * "unclosed" and logged — or by ro_file_force_close, which marks it so later
 * I/O says why). A closed object never touches a descriptor again: its fd
 * field is -1, so a number the kernel hands out later is never used by mistake.
 */

#define F_OPEN 1u
#define F_READ 2u
#define F_WRITE 4u
#define F_FORCED 8u

#define RBUF_SIZE 65536u   /* bytes read ahead for readline */

struct ro_file {
    ro_object ob_base;
    int f_fd;
    uint32_t f_state;
    char f_mode[4];
    char *f_path;             /* malloc'd copy */
    ro_object *f_owner;       /* new reference, or NULL */
    int64_t f_opened_ns, f_opened_real_ns, f_last_use_ns;
    ro_file *f_reg_prev, *f_reg_next;
    uint8_t *f_rbuf;          /* read-ahead buffer (RBUF_SIZE bytes) or NULL */
    size_t f_rpos, f_rlen;    /* unread bytes are f_rbuf[f_rpos .. f_rlen) */
};

static void registry_add(ro_state *rt, ro_file *f)
{
    f->f_reg_next = NULL;
    f->f_reg_prev = rt->files_tail;
    if (rt->files_tail != NULL)
        rt->files_tail->f_reg_next = f;
    else
        rt->files_head = f;
    rt->files_tail = f;
    rt->files_open++;
}

static void registry_remove(ro_state *rt, ro_file *f)
{
    if (f->f_reg_prev != NULL)
        f->f_reg_prev->f_reg_next = f->f_reg_next;
    else
        rt->files_head = f->f_reg_next;
    if (f->f_reg_next != NULL)
        f->f_reg_next->f_reg_prev = f->f_reg_prev;
    else
        rt->files_tail = f->f_reg_prev;
    f->f_reg_prev = f->f_reg_next = NULL;
    rt->files_open--;
}

/* Close the descriptor and leave the registry. Returns close(2)'s result. */
static int file_shut(ro_state *rt, ro_file *f, uint32_t extra_state)
{
    int fd = f->f_fd;
    registry_remove(rt, f);
    f->f_fd = -1;
    f->f_state = (f->f_state & ~F_OPEN) | extra_state;
    if (f->f_rbuf != NULL) {
        ro_mem_free(rt, f->f_rbuf, RBUF_SIZE);
        f->f_rbuf = NULL;
    }
    f->f_rpos = f->f_rlen = 0;
    /* Linux releases the descriptor even when close fails (EINTR included):
     * never retry, that could close someone else's new descriptor. */
    return close(fd);
}

static const char *owner_text(const ro_file *f)
{
    if (f->f_owner == NULL)
        return "-";
    if (ro_is_kind(f->f_owner, RO_K_STR))
        return ro_str_utf8(f->f_owner);
    return f->f_owner->ob_type->tp_name;
}

/* The file object dies (or is found unreachable) while still open: close it,
 * count it and warn, as CPython's ResourceWarning for unclosed files. */
static void file_finalize(ro_state *rt, ro_object *o)
{
    ro_file *f = (ro_file *)o;
    if (!(f->f_state & F_OPEN))
        return;
    int fd = f->f_fd;
    int64_t age_ms = (ro_now_ns() - f->f_opened_ns) / 1000000;
    file_shut(rt, f, 0);
    rt->files_unclosed++;
    ro_log(rt, RO_LOG_WARNING, "unclosed file path=%s mode=%s owner=%s fd=%d age_ms=%lld", f->f_path,
           f->f_mode, owner_text(f), fd, (long long)age_ms);
}

static void file_dealloc(ro_state *rt, ro_object *o)
{
    ro_file *f = (ro_file *)o;
    ro_gc_untrack(rt, o);
    file_finalize(rt, o);
    RO_CLEAR(rt, f->f_owner);
    free(f->f_path);
    ro_object_free(rt, o, sizeof(ro_file));
}

static int file_traverse(ro_object *o, ro_visit_fn visit, void *arg)
{
    RO_VISIT(((ro_file *)o)->f_owner, visit, arg);
    return 0;
}

static void file_clear(ro_state *rt, ro_object *o)
{
    RO_CLEAR(rt, ((ro_file *)o)->f_owner);
}

static int file_repr(ro_state *rt, ro_object *o, ro_sbuf *b)
{
    ro_file *f = (ro_file *)o;
    return ro_sbuf_appendf(rt, b, "<file '%s' mode='%s'%s>", f->f_path ? f->f_path : "",
                           f->f_mode, (f->f_state & F_OPEN) ? "" : " closed");
}

void ro_type_init_file(ro_state *rt, ro_type *t)
{
    ro_type_init_common(rt, t, RO_K_FILE, "file", sizeof(ro_file), 0, RO_TPFLAG_GC);
    t->tp_dealloc = file_dealloc;
    t->tp_traverse = file_traverse;
    t->tp_clear = file_clear;
    t->tp_repr = file_repr;
    t->tp_finalize = file_finalize;
}

/* Parse an fopen-style mode. Returns open(2) flags, or -1. */
static int parse_mode(const char *mode, uint32_t *state)
{
    int flags;
    const char *m = mode;
    switch (*m++) {
    case 'r': flags = O_RDONLY; *state = F_READ; break;
    case 'w': flags = O_WRONLY | O_CREAT | O_TRUNC; *state = F_WRITE; break;
    case 'a': flags = O_WRONLY | O_CREAT | O_APPEND; *state = F_WRITE; break;
    default: return -1;
    }
    for (; *m != '\0'; m++) {
        if (*m == '+') {
            flags = (flags & ~(O_RDONLY | O_WRONLY)) | O_RDWR;
            *state = F_READ | F_WRITE;
        } else if (*m == 'x' && mode[0] != 'r') {
            flags |= O_EXCL | O_CREAT;
        } else {
            return -1;
        }
    }
    return (m - mode) <= 3 ? flags : -1;
}

ro_object *ro_file_open_at(ro_state *rt, int dirfd, const char *path, const char *mode,
                           unsigned flags, ro_object *owner)
{
    uint32_t state;
    int oflags = parse_mode(mode, &state);
    if (oflags < 0) {
        ro_err_set(rt, RO_E_VALUE, "open '%s': invalid mode '%s' (expected r, w, a, optionally + and x)",
                   path, mode);
        return NULL;
    }
    oflags |= O_CLOEXEC;
    if (flags & RO_FILE_NOFOLLOW)
        oflags |= O_NOFOLLOW;
    ro_file *f = (ro_file *)ro_object_alloc(rt, &rt->types[RO_K_FILE], sizeof(ro_file), true);
    if (f == NULL)
        return NULL;
    memset((uint8_t *)f + sizeof(ro_object), 0, sizeof(ro_file) - sizeof(ro_object));
    f->f_fd = -1;
    f->f_path = strdup(path);
    if (f->f_path == NULL) {
        ro_object_free(rt, RO_OBJ(f), sizeof(ro_file));
        return ro_err_nomem(rt, strlen(path) + 1);
    }
    int fd;
    do
        fd = openat(dirfd, path, oflags, 0666);
    while (fd < 0 && errno == EINTR);
    if (fd < 0) {
        int err = errno;
        ro_err_set_os(rt, err, "open '%s' (mode %s)%s", path, mode,
                      err == ELOOP && (flags & RO_FILE_NOFOLLOW) ? " refused a symbolic link" : "");
        free(f->f_path);
        ro_object_free(rt, RO_OBJ(f), sizeof(ro_file));
        return NULL;
    }
    f->f_fd = fd;
    f->f_state = state | F_OPEN;
    snprintf(f->f_mode, sizeof f->f_mode, "%s", mode);
    if (owner == NULL)
        owner = rt->file_default_owner;
    f->f_owner = owner;
    ro_xincref(owner);
    f->f_opened_ns = f->f_last_use_ns = ro_now_ns();
    f->f_opened_real_ns = ro_realtime_ns();
    registry_add(rt, f);
    ro_gc_track(rt, RO_OBJ(f));
    ro_gc_after_alloc(rt);
    return RO_OBJ(f);
}

void ro_file_set_default_owner(ro_state *rt, ro_object *owner)
{
    ro_object *old = rt->file_default_owner;
    ro_xincref(owner);
    rt->file_default_owner = owner;
    ro_xdecref(rt, old);
}

ro_object *ro_file_default_owner(ro_state *rt)
{
    return rt->file_default_owner;
}

ro_object *ro_file_open(ro_state *rt, const char *path, const char *mode, ro_object *owner)
{
    return ro_file_open_at(rt, AT_FDCWD, path, mode, 0, owner);
}

/* Check that o is an open file allowing `need` (F_READ or F_WRITE). */
static ro_file *usable(ro_state *rt, ro_object *o, uint32_t need, const char *what)
{
    if (!ro_is_kind(o, RO_K_FILE)) {
        ro_err_set(rt, RO_E_TYPE, "%s: expected a file, got '%s'", what, o->ob_type->tp_name);
        return NULL;
    }
    ro_file *f = (ro_file *)o;
    if (!(f->f_state & F_OPEN)) {
        if (f->f_state & F_FORCED)
            ro_err_set(rt, RO_E_CLOSED, "%s on file '%s' that the runtime force-closed", what,
                       f->f_path ? f->f_path : "");
        else
            ro_err_set(rt, RO_E_CLOSED, "%s on closed file '%s'", what, f->f_path ? f->f_path : "");
        return NULL;
    }
    if (!(f->f_state & need)) {
        ro_err_set(rt, RO_E_VALUE, "%s: file '%s' is not open for %s (mode %s)", what, f->f_path,
                   need == F_READ ? "reading" : "writing", f->f_mode);
        return NULL;
    }
    f->f_last_use_ns = ro_now_ns();
    return f;
}

static ssize_t read_some(ro_state *rt, ro_file *f, void *buf, size_t n)
{
    ssize_t r;
    do
        r = read(f->f_fd, buf, n);
    while (r < 0 && errno == EINTR);
    if (r < 0)
        ro_err_set_os(rt, errno, "read '%s'", f->f_path);
    return r;
}

ro_object *ro_file_read(ro_state *rt, ro_object *o, size_t n)
{
    ro_file *f = usable(rt, o, F_READ, "read");
    if (f == NULL)
        return NULL;
    size_t buffered = f->f_rlen - f->f_rpos;
    if (buffered >= n || n > SIZE_MAX / 2) {
        if (n > SIZE_MAX / 2) {
            ro_err_set(rt, RO_E_OVERFLOW, "read of %zu bytes is too large", n);
            return NULL;
        }
        ro_object *b = ro_bytes_from(rt, f->f_rbuf + f->f_rpos, n);
        if (b != NULL)
            f->f_rpos += n;
        return b;
    }
    uint8_t *tmp = malloc(n ? n : 1);
    if (tmp == NULL)
        return ro_err_nomem(rt, n);
    size_t got = 0;
    if (buffered != 0) {
        memcpy(tmp, f->f_rbuf + f->f_rpos, buffered);
        got = buffered;
        f->f_rpos = f->f_rlen = 0;
    }
    while (got < n) {
        ssize_t r = read_some(rt, f, tmp + got, n - got);
        if (r < 0) {
            free(tmp);
            return NULL;
        }
        if (r == 0)
            break;
        got += (size_t)r;
    }
    ro_object *b = ro_bytes_from(rt, tmp, got);
    free(tmp);
    return b;
}

ro_object *ro_file_readline(ro_state *rt, ro_object *o)
{
    ro_file *f = usable(rt, o, F_READ, "readline");
    if (f == NULL)
        return NULL;
    if (f->f_rbuf == NULL) {
        f->f_rbuf = ro_mem_alloc(rt, RBUF_SIZE);
        if (f->f_rbuf == NULL)
            return NULL;
        f->f_rpos = f->f_rlen = 0;
    }
    ro_sbuf line = {0};   /* only used when a line spans buffer refills */
    for (;;) {
        uint8_t *start = f->f_rbuf + f->f_rpos;
        size_t avail = f->f_rlen - f->f_rpos;
        uint8_t *nl = memchr(start, '\n', avail);
        size_t take = nl != NULL ? (size_t)(nl - start) + 1 : avail;
        if (nl != NULL && line.len == 0) {
            f->f_rpos += take;
            return ro_bytes_from(rt, start, take);
        }
        if (take != 0 && ro_sbuf_append(rt, &line, (const char *)start, take) != 0)
            goto fail;
        f->f_rpos += take;
        if (nl != NULL)
            break;
        ssize_t r = read_some(rt, f, f->f_rbuf, RBUF_SIZE);
        if (r < 0)
            goto fail;
        f->f_rpos = 0;
        f->f_rlen = (size_t)r;
        if (r == 0)
            break;
    }
    ro_object *b = ro_bytes_from(rt, line.data ? line.data : "", line.len);
    free(line.data);
    return b;
fail:
    free(line.data);
    return NULL;
}

int ro_file_write(ro_state *rt, ro_object *o, const void *data, size_t n)
{
    ro_file *f = usable(rt, o, F_WRITE, "write");
    if (f == NULL)
        return -1;
    const uint8_t *p = data;
    while (n > 0) {
        ssize_t w = write(f->f_fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            ro_err_set_os(rt, errno, "write '%s'", f->f_path);
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int ro_file_close(ro_state *rt, ro_object *o)
{
    if (!ro_is_kind(o, RO_K_FILE)) {
        ro_err_set(rt, RO_E_TYPE, "close: expected a file, got '%s'", o->ob_type->tp_name);
        return -1;
    }
    ro_file *f = (ro_file *)o;
    if (!(f->f_state & F_OPEN))
        return 0;
    if (file_shut(rt, f, 0) != 0) {
        ro_err_set_os(rt, errno, "close '%s'", f->f_path);
        return -1;
    }
    return 0;
}

int ro_file_force_close(ro_state *rt, ro_object *o)
{
    if (!ro_is_kind(o, RO_K_FILE) || !(((ro_file *)o)->f_state & F_OPEN)) {
        ro_err_set(rt, RO_E_CLOSED, "force-close of a file that is not open");
        return -1;
    }
    file_shut(rt, (ro_file *)o, F_FORCED);   /* the descriptor is gone either way */
    return 0;
}

int ro_file_fileno(const ro_object *o)
{
    const ro_file *f = (const ro_file *)o;
    return (f->f_state & F_OPEN) ? f->f_fd : -1;
}

int ro_file_is_closed(const ro_object *o)
{
    return !(((const ro_file *)o)->f_state & F_OPEN);
}

size_t ro_file_open_count(const ro_state *rt)
{
    return rt->files_open;
}

uint64_t ro_file_unclosed_count(const ro_state *rt)
{
    return rt->files_unclosed;
}

int ro_file_foreach(ro_state *rt, int (*fn)(const ro_file_info *info, void *arg), void *arg)
{
    for (ro_file *f = rt->files_head; f != NULL; f = f->f_reg_next) {
        ro_file_info info = {
            .file = RO_OBJ(f), .path = f->f_path, .mode = f->f_mode, .owner = f->f_owner,
            .fd = f->f_fd, .opened_realtime_ns = f->f_opened_real_ns,
            .opened_ns = f->f_opened_ns, .last_use_ns = f->f_last_use_ns,
        };
        int r = fn(&info, arg);
        if (r != 0)
            return r;
    }
    return 0;
}

/* At runtime close: files still open belong to leaked references. */
void ro_files_fini(ro_state *rt)
{
    while (rt->files_head != NULL) {
        ro_file *f = rt->files_head;
        ro_log(rt, RO_LOG_WARNING, "file still open at runtime close path=%s owner=%s", f->f_path,
               owner_text(f));
        file_shut(rt, f, 0);
    }
}
