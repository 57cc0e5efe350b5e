/* config.c - the configuration table, inih parsing with line numbers, checking, printing. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <stdarg.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/stat.h>

typedef enum cf_type { CF_UINT, CF_SIZE, CF_STRING, CF_PATH, CF_ENUM, CF_BOOL, CF_DURATION, CF_PERCENT } cf_type;

/* One row per key: where it lives, its type, default and bounds. The same
 * table parses, checks, prints (--check-config) and documents. */
typedef struct cf_key {
    const char *section, *key;
    cf_type type;
    size_t offset;            /* into svc_config */
    size_t width;             /* bytes of the field (CF_UINT: 4; CF_SIZE: 8; strings: capacity) */
    const char *dflt;
    uint64_t min, max;        /* CF_UINT and CF_SIZE */
    const char *const *names; /* CF_ENUM: accepted words, index = stored int value */
    const int *values;        /* CF_ENUM: stored value per name (NULL = the index) */
    const char *help;
} cf_key;

static const char *const bad_names[] = {"skip", "reject", NULL};
static const char *const done_names[] = {"keep", "delete", NULL};
static const char *const level_names[] = {"err", "warning", "notice", "info", "debug", NULL};
static const int level_values[] = {3, 4, 5, 6, 7};
static const char *const target_names[] = {"auto", "stderr", "syslog", NULL};

#define OFF(f) offsetof(svc_config, f), sizeof(((svc_config *)0)->f)

static const cf_key keys[] = {
    {"spool", "dir", CF_PATH, OFF(spool_dir), "", 0, 0, NULL, NULL,
     "spool directory (inbox/ work/ out/ done/ failed/ are made under it)"},
    {"spool", "rescan_interval", CF_DURATION, OFF(rescan_interval_ms), "5s", 10, 3600000, NULL, NULL,
     "how often the inbox is listed again besides inotify events (a safety net)"},
    {"spool", "done_action", CF_ENUM, OFF(batch.done_action), "keep", 0, 0, done_names, NULL,
     "what happens to a processed input: keep (moved to done/) or delete"},
    {"batch", "users", CF_UINT, OFF(batch.users_per_batch), "500", 1, 1000000, NULL, NULL,
     "records per batch; each batch is committed with one checkpoint"},
    {"batch", "workers", CF_UINT, OFF(workers), "0", 0, 256, NULL, NULL,
     "worker threads, each with its own runtime processing one input at a time; 0 = one per CPU"},
    {"batch", "drain_timeout", CF_DURATION, OFF(drain_timeout_ms), "30s", 0, 3600000, NULL, NULL,
     "on SIGTERM, how long workers may take to finish their current batch before the daemon exits anyway"},
    {"batch", "job", CF_STRING, OFF(job), "summary", 0, 0, NULL, NULL,
     "the job: summary, or the path of a job's .so"},
    {"batch", "bad_records", CF_ENUM, OFF(batch.bad_records), "skip", 0, 0, bad_names, NULL,
     "skip (into failed/NAME.errors.ndjson) or reject (the whole input into failed/)"},
    {"batch", "max_record_bytes", CF_SIZE, OFF(batch.limits.max_record_bytes), "1MiB", 64, 1ull << 30, NULL, NULL,
     "longest record accepted; longer ones are bad records"},
    {"batch", "max_depth", CF_UINT, OFF(batch.limits.max_depth), "64", 1, 10000, NULL, NULL,
     "deepest nesting of arrays and objects accepted in a record"},
    {"runtime", "gc", CF_BOOL, OFF(gc_enabled), "on", 0, 0, NULL, NULL,
     "automatic cycle collection"},
    {"runtime", "gc_threshold", CF_UINT, OFF(gc_threshold0), "700", 1, 100000000, NULL, NULL,
     "container allocations minus deallocations that trigger a young collection"},
    {"runtime", "release_threshold", CF_SIZE, OFF(release_threshold), "8MiB", 0, 1ull << 40, NULL, NULL,
     "free pool memory kept for reuse before it goes back to the OS: more means fewer page faults between batches, less means RSS closer to what live objects need"},
    {"metrics", "listen", CF_STRING, OFF(metrics_listen), "127.0.0.1:9187", 0, 0, NULL, NULL,
     "address and port of the Prometheus endpoint (GET /metrics), or off; an IPv4 address"},
    {"control", "socket", CF_STRING, OFF(control_socket), "/run/reclaimd/reclaimd.sock", 0, 0, NULL, NULL,
     "unix socket for reclaimctl (mode 0660), or off; left out with a warning when its directory is missing"},
    {"guard", "enabled", CF_BOOL, OFF(guard.enabled), "on", 0, 0, NULL, NULL,
     "the leak guard: watch memory and descriptors and act before the OOM killer or EMFILE (off only for comparison runs)"},
    {"guard", "kernel_events", CF_BOOL, OFF(guard.events), "on", 0, 0, NULL, NULL,
     "also sample at once on kernel notifications (cgroup thresholds and pressure level, cgroup v2 memory.events, PSI) where the kernel allows; off = the timer only"},
    {"guard", "memory_budget", CF_SIZE, OFF(guard.budget), "0", 0, 1ull << 50, NULL, NULL,
     "memory the daemon may use; 0 = no own limit: the budget is the smaller of the memory cgroup's limit and MemTotal"},
    {"guard", "soft", CF_PERCENT, OFF(guard.soft), "70%", 1, 100, NULL, NULL,
     "share of the budget at which every runtime collects, clears free lists, releases free pages and trims malloc"},
    {"guard", "hard", CF_PERCENT, OFF(guard.hard), "85%", 1, 100, NULL, NULL,
     "share of the budget at which intake pauses, batches halve and caches are dropped (undone below soft)"},
    {"guard", "critical", CF_PERCENT, OFF(guard.critical), "95%", 1, 100, NULL, NULL,
     "share of the budget at which the largest in-flight batch is aborted; still critical after a collection: exit 6 for a clean restart"},
    {"guard", "fd_soft", CF_PERCENT, OFF(guard.fd_soft), "70%", 1, 100, NULL, NULL,
     "share of RLIMIT_NOFILE at which runtimes collect and force-close files of finished batches or idle ones"},
    {"guard", "fd_hard", CF_PERCENT, OFF(guard.fd_hard), "90%", 1, 100, NULL, NULL,
     "share of RLIMIT_NOFILE at which intake also pauses until descriptors fall below fd_soft"},
    {"guard", "interval", CF_DURATION, OFF(guard.interval_ms), "250ms", 1, 60000, NULL, NULL,
     "sampling interval while usage is far from the next threshold"},
    {"guard", "min_interval", CF_DURATION, OFF(guard.min_interval_ms), "10ms", 1, 60000, NULL, NULL,
     "sampling interval at or above a threshold; the interval shrinks linearly toward it over the last 20 points of budget"},
    {"guard", "file_idle_timeout", CF_DURATION, OFF(guard.file_idle_ms), "5min", 0, 86400000, NULL, NULL,
     "at fd_soft, open files unused this long are force-closed even if their batch is still running"},
    {"guard", "batch_min_users", CF_UINT, OFF(guard.batch_min_users), "25", 1, 1000000, NULL, NULL,
     "smallest batch the hard level shrinks batches to"},
    {"log", "level", CF_ENUM, OFF(log_level), "info", 0, 0, level_names, level_values,
     "least important level logged: err, warning, notice, info, debug"},
    {"log", "target", CF_ENUM, OFF(log_target), "auto", 0, 0, target_names, NULL,
     "auto (stderr under systemd or on a terminal, else syslog), stderr, or syslog (facility daemon)"},
};

#define NKEYS (sizeof keys / sizeof keys[0])

const char *svc_level_name(int level)
{
    for (int i = 0; level_names[i] != NULL; i++)
        if (level_values[i] == level)
            return level_names[i];
    return NULL;
}

/* "<digits> <unit>": the number and the unit text (may be empty). */
static int number_and_unit(const char *s, unsigned long long *v, const char **unit)
{
    char *end;
    errno = 0;
    while (isspace((unsigned char)*s))
        s++;
    if (!isdigit((unsigned char)*s))
        return -1;
    *v = strtoull(s, &end, 10);
    if (errno != 0)
        return -1;
    while (isspace((unsigned char)*end))
        end++;
    *unit = end;
    return 0;
}

int svc_parse_duration(const char *s, uint64_t *ms)
{
    unsigned long long v;
    const char *end;
    if (number_and_unit(s, &v, &end) != 0)
        return -1;
    uint64_t mult;
    if (*end == '\0' || strcmp(end, "s") == 0)
        mult = 1000;
    else if (strcmp(end, "ms") == 0)
        mult = 1;
    else if (strcmp(end, "min") == 0)
        mult = 60000;
    else
        return -1;
    if (v > UINT64_MAX / mult)
        return -1;
    *ms = v * mult;
    return 0;
}

int svc_parse_listen(const char *s, char *host, size_t hostlen, unsigned *port)
{
    const char *colon = strrchr(s, ':');
    if (colon == NULL || (size_t)(colon - s) >= hostlen || colon == s)
        return -1;
    char *end;
    long p = strtol(colon + 1, &end, 10);
    if (*end != '\0' || p <= 0 || p > 65535)
        return -1;
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = '\0';
    struct in_addr a;
    if (inet_pton(AF_INET, host, &a) != 1)
        return -1;
    *port = (unsigned)p;
    return 0;
}

int svc_parse_size(const char *s, uint64_t *out)
{
    unsigned long long v;
    const char *end;
    if (number_and_unit(s, &v, &end) != 0)
        return -1;
    uint64_t mult = 1;
    if (strcmp(end, "%") == 0) {
        /* a share of physical memory */
        long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
        if (pages <= 0 || page <= 0 || v > 100)
            return -1;
        *out = (uint64_t)pages * (uint64_t)page / 100 * v;
        return 0;
    }
    if (*end == '\0' || strcmp(end, "B") == 0)
        mult = 1;
    else if (strcmp(end, "KiB") == 0)
        mult = 1ull << 10;
    else if (strcmp(end, "MiB") == 0)
        mult = 1ull << 20;
    else if (strcmp(end, "GiB") == 0)
        mult = 1ull << 30;
    else
        return -1;
    if (v > UINT64_MAX / mult)
        return -1;
    *out = v * mult;
    return 0;
}

static void put_u32(svc_config *c, const cf_key *k, uint32_t v) { memcpy((char *)c + k->offset, &v, 4); }

/* Store text as key k's value. Returns NULL, or what is wrong. */
static const char *set_value(svc_config *c, const cf_key *k, const char *v, char *why, size_t whylen)
{
    char *field = (char *)c + k->offset;
    switch (k->type) {
    case CF_UINT: {
        char *end;
        errno = 0;
        unsigned long long n = strtoull(v, &end, 10);
        if (!isdigit((unsigned char)*v) || *end != '\0' || errno != 0 || n < k->min || n > k->max) {
            snprintf(why, whylen, "'%s' is not valid (expected a whole number from %llu to %llu)", v,
                     (unsigned long long)k->min, (unsigned long long)k->max);
            return why;
        }
        put_u32(c, k, (uint32_t)n);
        return NULL;
    }
    case CF_SIZE: {
        uint64_t n;
        if (svc_parse_size(v, &n) != 0 || n < k->min || n > k->max) {
            snprintf(why, whylen, "'%s' is not valid (expected a size from %llu bytes to %llu GiB, "
                                  "like 512, 64KiB, 1MiB, or a %% of physical memory)", v, (unsigned long long)k->min,
                     (unsigned long long)(k->max >> 30));
            return why;
        }
        size_t sz = (size_t)n;
        memcpy(field, &sz, sizeof sz);
        return NULL;
    }
    case CF_DURATION: {
        uint64_t ms;
        if (svc_parse_duration(v, &ms) != 0 || ms < k->min || ms > k->max) {
            snprintf(why, whylen, "'%s' is not valid (expected a duration from %llums to %llumin, "
                                  "like 250ms, 5s, 2min)", v, (unsigned long long)k->min,
                     (unsigned long long)(k->max / 60000));
            return why;
        }
        memcpy(field, &ms, sizeof ms);
        return NULL;
    }
    case CF_PERCENT: {
        char *end;
        errno = 0;
        unsigned long long n = strtoull(v, &end, 10);
        if (*end == '%')
            end++;
        if (!isdigit((unsigned char)*v) || *end != '\0' || errno != 0 || n < k->min || n > k->max) {
            snprintf(why, whylen, "'%s' is not valid (expected a percentage from %llu%% to %llu%%, like 70%%)", v,
                     (unsigned long long)k->min, (unsigned long long)k->max);
            return why;
        }
        put_u32(c, k, (uint32_t)n);
        return NULL;
    }
    case CF_STRING:
    case CF_PATH:
        if (strlen(v) >= k->width) {
            snprintf(why, whylen, "value is too long (at most %zu bytes)", k->width - 1);
            return why;
        }
        if (k->type == CF_PATH && v[0] != '\0' && v[0] != '/') {
            snprintf(why, whylen, "'%s' is not an absolute path", v);
            return why;
        }
        memcpy(field, v, strlen(v) + 1);
        return NULL;
    case CF_BOOL: {
        bool b;
        if (strcmp(v, "on") == 0 || strcmp(v, "yes") == 0 || strcmp(v, "true") == 0)
            b = true;
        else if (strcmp(v, "off") == 0 || strcmp(v, "no") == 0 || strcmp(v, "false") == 0)
            b = false;
        else {
            snprintf(why, whylen, "'%s' is not valid (expected on or off)", v);
            return why;
        }
        memcpy(field, &b, sizeof b);
        return NULL;
    }
    case CF_ENUM:
        for (int i = 0; k->names[i] != NULL; i++) {
            if (strcmp(v, k->names[i]) == 0) {
                int stored = k->values ? k->values[i] : i;
                memcpy(field, &stored, sizeof stored);
                return NULL;
            }
        }
        size_t o = (size_t)snprintf(why, whylen, "'%s' is not valid (expected ", v);
        for (int i = 0; k->names[i] != NULL && o < whylen; i++)
            o += (size_t)snprintf(why + o, whylen - o, "%s%s", i ? " or " : "", k->names[i]);
        if (o < whylen)
            snprintf(why + o, whylen - o, ")");
        return why;
    }
    return "unknown key type";
}

void svc_config_defaults(svc_config *c)
{
    memset(c, 0, sizeof *c);
    char why[256];
    for (size_t i = 0; i < NKEYS; i++)
        set_value(c, &keys[i], keys[i].dflt, why, sizeof why);
}

/* ------------------------------------------------------------ parsing */

typedef struct cf_parse {
    svc_config *c;
    const char *path;
    FILE *f;
    int line;                 /* counted by our reader: Debian's inih has no line numbers */
    int problems;
    char bad_section[64];     /* last unknown section reported (once per section) */
    char *errs;
    size_t errlen, used;
} cf_parse;

static void problem(cf_parse *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void problem(cf_parse *p, const char *fmt, ...)
{
    p->problems++;
    if (p->used + 1 >= p->errlen)
        return;
    int n = snprintf(p->errs + p->used, p->errlen - p->used, "%s:%d: ", p->path, p->line);
    if (n > 0)
        p->used += (size_t)n;
    va_list ap;
    va_start(ap, fmt);
    n = p->used < p->errlen ? vsnprintf(p->errs + p->used, p->errlen - p->used, fmt, ap) : 0;
    va_end(ap);
    if (n > 0)
        p->used += (size_t)n;
    if (p->used + 1 < p->errlen) {
        p->errs[p->used++] = '\n';
        p->errs[p->used] = '\0';
    } else {
        p->used = p->errlen - 1;
    }
}

static char *reader(char *str, int num, void *stream)
{
    cf_parse *p = stream;
    char *r = fgets(str, num, p->f);
    if (r != NULL)
        p->line++;
    return r;
}

static bool known_section(const char *s)
{
    if (strcmp(s, "job") == 0)
        return true;
    for (size_t i = 0; i < NKEYS; i++)
        if (strcmp(keys[i].section, s) == 0)
            return true;
    return false;
}

static int handler(void *user, const char *section, const char *name, const char *value)
{
    cf_parse *p = user;
    svc_config *c = p->c;
    if (name == NULL) {           /* a new section (inih calls with name NULL if INI_CALL_HANDLER_ON_NEW_SECTION) */
        if (!known_section(section))
            problem(p, "unknown section [%s] (expected spool, batch, runtime, guard, metrics, control, log or job)", section);
        return 1;
    }
    if (section[0] == '\0') {
        problem(p, "%s: a key outside any section (put it under [spool], [batch], ...)", name);
        return 1;
    }
    if (strcmp(section, "job") == 0) {
        bt_job_option *o = realloc(c->job_opts, (c->njob_opts + 1) * sizeof *o);
        if (o == NULL)
            return 0;
        c->job_opts = o;
        o[c->njob_opts].key = strdup(name);
        o[c->njob_opts].value = strdup(value);
        c->njob_opts++;
        return 1;
    }
    if (!known_section(section)) {
        /* Reported at its first key: this inih build does not report section lines. */
        if (strcmp(p->bad_section, section) != 0)
            problem(p, "unknown section [%s] (expected spool, batch, runtime, guard, metrics, control, log or job)", section);
        snprintf(p->bad_section, sizeof p->bad_section, "%s", section);
        return 1;
    }
    for (size_t i = 0; i < NKEYS; i++) {
        if (strcmp(keys[i].section, section) == 0 && strcmp(keys[i].key, name) == 0) {
            char why[256];
            const char *bad = set_value(c, &keys[i], value, why, sizeof why);
            char host[64];
            unsigned port;
            if (bad == NULL && strcmp(section, "metrics") == 0 && strcmp(value, "off") != 0 &&
                svc_parse_listen(value, host, sizeof host, &port) != 0) {
                snprintf(why, sizeof why, "'%s' is not valid (expected an IPv4 ADDR:PORT like 127.0.0.1:9187, or off)",
                         value);
                bad = why;
            }
            if (bad != NULL)
                problem(p, "[%s] %s: %s", section, name, bad);
            else if (strcmp(section, "spool") == 0 && strcmp(name, "dir") == 0)
                c->spool_dir_line = p->line;
            else if (strcmp(section, "guard") == 0)
                c->guard_line = p->line;
            return 1;
        }
    }
    size_t o = 0;
    char known[400];
    known[0] = '\0';
    for (size_t i = 0; i < NKEYS && o < sizeof known; i++)
        if (strcmp(keys[i].section, section) == 0)
            o += (size_t)snprintf(known + o, sizeof known - o, "%s%s", o ? ", " : "", keys[i].key);
    problem(p, "[%s] %s: unknown key (keys of [%s]: %s)", section, name, section, known);
    return 1;
}

int svc_config_load(svc_config *c, const char *path, char *errs, size_t errlen)
{
    cf_parse p = {.c = c, .path = path, .errs = errs, .errlen = errlen};
    if (errlen)
        errs[0] = '\0';
    p.f = fopen(path, "re");
    if (p.f == NULL) {
        snprintf(errs, errlen, "%s: cannot read the configuration: %s\n", path, strerror(errno));
        return -1;
    }
    int r = ini_parse_stream(reader, &p, handler, &p);
    fclose(p.f);
    if (r > 0 && p.problems == 0)
        problem(&p, "syntax error (expected [section] or key = value)");
    else if (r < 0)
        problem(&p, "could not parse the file (error %d)", r);
    if (!(c->guard.soft < c->guard.hard && c->guard.hard < c->guard.critical)) {
        p.line = c->guard_line;
        problem(&p, "[guard] soft, hard, critical: %u%%, %u%%, %u%% (expected soft < hard < critical)", c->guard.soft,
                c->guard.hard, c->guard.critical);
    }
    if (c->guard.fd_soft >= c->guard.fd_hard) {
        p.line = c->guard_line;
        problem(&p, "[guard] fd_soft, fd_hard: %u%%, %u%% (expected fd_soft < fd_hard)", c->guard.fd_soft,
                c->guard.fd_hard);
    }
    return p.problems;
}

int svc_config_check_system(const svc_config *c, const char *path, char *errs, size_t errlen)
{
    struct stat st;
    if (c->spool_dir[0] == '\0' || (stat(c->spool_dir, &st) == 0 && S_ISDIR(st.st_mode)))
        return 0;
    const char *what = stat(c->spool_dir, &st) == 0 ? "is not a directory" : "does not exist";
    if (path != NULL && c->spool_dir_line > 0)
        snprintf(errs, errlen, "%s:%d: [spool] dir: %s %s (expected an existing directory; create it, or let "
                               "systemd's StateDirectory= make it)\n", path, c->spool_dir_line, c->spool_dir, what);
    else
        snprintf(errs, errlen, "spool directory %s %s (expected an existing directory)\n", c->spool_dir, what);
    return 1;
}

void svc_config_print(const svc_config *c, FILE *f)
{
    const char *section = "";
    for (size_t i = 0; i < NKEYS; i++) {
        const cf_key *k = &keys[i];
        if (strcmp(section, k->section) != 0) {
            fprintf(f, "%s[%s]\n", i ? "\n" : "", k->section);
            section = k->section;
        }
        const char *field = (const char *)c + k->offset;
        fprintf(f, "# %s (default: %s)\n%s = ", k->help, k->dflt[0] ? k->dflt : "none", k->key);
        switch (k->type) {
        case CF_UINT: {
            uint32_t v;
            memcpy(&v, field, 4);
            fprintf(f, "%u\n", v);
            break;
        }
        case CF_PERCENT: {
            uint32_t v;
            memcpy(&v, field, 4);
            fprintf(f, "%u%%\n", v);
            break;
        }
        case CF_SIZE: {
            size_t v;
            memcpy(&v, field, sizeof v);
            if (v == 0)
                fprintf(f, "0\n");
            else if (v % (1u << 20) == 0)
                fprintf(f, "%zuMiB\n", v >> 20);
            else if (v % 1024 == 0)
                fprintf(f, "%zuKiB\n", v >> 10);
            else
                fprintf(f, "%zu\n", v);
            break;
        }
        case CF_DURATION: {
            uint64_t ms;
            memcpy(&ms, field, sizeof ms);
            if (ms % 60000 == 0 && ms != 0)
                fprintf(f, "%llumin\n", (unsigned long long)(ms / 60000));
            else if (ms % 1000 == 0)
                fprintf(f, "%llus\n", (unsigned long long)(ms / 1000));
            else
                fprintf(f, "%llums\n", (unsigned long long)ms);
            break;
        }
        case CF_STRING:
        case CF_PATH:
            fprintf(f, "%s\n", field);
            break;
        case CF_BOOL: {
            bool b;
            memcpy(&b, field, sizeof b);
            fprintf(f, "%s\n", b ? "on" : "off");
            break;
        }
        case CF_ENUM: {
            int v;
            memcpy(&v, field, sizeof v);
            const char *name = "?";
            for (int j = 0; k->names[j] != NULL; j++)
                if ((k->values ? k->values[j] : j) == v)
                    name = k->names[j];
            fprintf(f, "%s\n", name);
            break;
        }
        }
    }
    fprintf(f, "\n[job]\n");
    for (size_t i = 0; i < c->njob_opts; i++)
        fprintf(f, "%s = %s\n", c->job_opts[i].key, c->job_opts[i].value);
}

void svc_config_free(svc_config *c)
{
    for (size_t i = 0; i < c->njob_opts; i++) {
        free((char *)c->job_opts[i].key);
        free((char *)c->job_opts[i].value);
    }
    free(c->job_opts);
    c->job_opts = NULL;
    c->njob_opts = 0;
}
