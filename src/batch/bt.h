/* bt.h - batch engine: jobs, the spool protocol, crash-safe processing (prefix bt_). */
#ifndef RECLAIMD_BT_H
#define RECLAIMD_BT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nj.h"
#include "ro.h"

/* ---------------------------------------------------------------- jobs
 *
 * A job turns one input record (a runtime object, usually a dict) into one
 * result object. The built-in one is "summary"; operators can bring their own
 * as a shared object exporting `const bt_job *reclaimd_job(void)` whose
 * abi_version equals BT_JOB_ABI_VERSION (checked at load time).
 */

#define BT_JOB_ABI_VERSION 1u

/* The job's own options: the key/value pairs of the config's [job] section. */
typedef struct bt_job_option {
    const char *key;
    const char *value;
} bt_job_option;

typedef struct bt_job {
    uint32_t abi_version;          /* BT_JOB_ABI_VERSION */
    const char *name;
    /* Make a per-worker instance in runtime rt. On error returns NULL and
     * writes a message naming the option to err. */
    void *(*create)(ro_state *rt, const bt_job_option *opts, size_t nopts, char *err, size_t errlen);
    void (*destroy)(void *inst, ro_state *rt);
    /* Compute the result of one record. Returns: new (the result). NULL with
     * a message in err (and no runtime error set) means a bad record; NULL
     * with a runtime error set (e.g. RO_E_NOMEM) means the batch must stop. */
    ro_object *(*process)(void *inst, ro_state *rt, ro_object *record, char *err, size_t errlen);
} bt_job;

/* The built-in summary job (see summary.c for its input and output). */
const bt_job *bt_job_summary(void);
/* "summary", or the path of a job's .so (loaded with dlopen). The handle, if
 * any, is stored in *dl (close with bt_job_unload). Returns NULL and writes err. */
const bt_job *bt_job_load(const char *spec, void **dl, char *err, size_t errlen);
void bt_job_unload(void *dl);

/* ----------------------------------------------------------- the spool */

typedef enum bt_bad_policy { BT_BAD_SKIP = 0, BT_BAD_REJECT = 1 } bt_bad_policy;
typedef enum bt_done_action { BT_DONE_KEEP = 0, BT_DONE_DELETE = 1 } bt_done_action;

typedef void (*bt_log_fn)(void *ud, int level, const char *msg);

#define BT_SAFE_POINT_RECORDS 64

typedef struct bt_config {
    uint32_t users_per_batch;      /* records per batch (default 500) */
    bt_bad_policy bad_records;     /* skip (into failed/NAME.errors.ndjson) or reject the input */
    bt_done_action done_action;    /* keep the input in done/ or delete it */
    nj_limits limits;              /* record size and nesting limits */
    bt_log_fn log;                 /* one line per input claimed/finished/failed */
    void *log_ud;
    /* Called after each committed batch (may be NULL): records in it, bad
     * ones among them, and how long it took from first read to checkpoint. */
    void (*on_batch)(void *ud, uint64_t records, uint64_t bad, double seconds);
    void *on_batch_ud;
    /* Called in the worker's thread between batches and every
     * BT_SAFE_POINT_RECORDS records inside one, with its runtime: the safe
     * point where collections and other requests are honoured. It may lower
     * users_per_batch (the batch being built then ends sooner). */
    void (*safe_point)(void *ud, ro_state *rt);
    void *safe_point_ud;
} bt_config;

/* An open spool: descriptors of its directories (all O_CLOEXEC). */
typedef struct bt_spool {
    int root_fd, inbox_fd, work_fd, out_fd, done_fd, failed_fd;
    char root[4096];
} bt_spool;

/* An input's name: NAME.ndjson, not starting with '.', no '/'. */
bool bt_name_is_input(const char *name);

/* Open (creating the subdirectories if missing) the spool at path. Returns 0,
 * or -1 with a message naming the directory in err. */
int bt_spool_open(bt_spool *sp, const char *path, char *err, size_t errlen);
void bt_spool_close(bt_spool *sp);

/* What one input's processing did. */
typedef struct bt_input_report {
    uint64_t records;              /* non-blank lines read */
    uint64_t good, bad;            /* results written, bad records */
    uint64_t batches;              /* batches committed (this run) */
    bool resumed;                  /* continued from a checkpoint */
    bool rejected;                 /* moved whole into failed/ */
    bool finished;                 /* left work/ (done, rejected); false when stopped or skipped */
    bool aborted;                  /* a batch was dropped on *abort_batch (the input stays in work/) */
} bt_input_report;

/* A worker: one runtime, one job instance. */
typedef struct bt_worker {
    ro_state *rt;
    const bt_job *job;
    void *job_inst;
    const bt_config *cfg;
    bt_spool *spool;
    ro_type *batch_type, *user_type;
    volatile int *stop;            /* set non-zero to stop between batches (may be NULL) */
    uint64_t batch_records;        /* records in the batch being built (0 between batches) */
    volatile int *abort_batch;     /* set non-zero to drop the batch being built, uncommitted (may be NULL) */
    /* Orphans for which skip returns true are left alone (may be NULL). */
    bool (*skip)(void *ud, const char *name);
    void *skip_ud;
    char **inbox_names;            /* sorted inbox listing being claimed from (malloc'd) */
    size_t inbox_count, inbox_next;
    int claim_lock_fd;             /* lock taken by bt_claim_next for claim_name, or -1 */
    char claim_name[256];
} bt_worker;

/* Set up a worker on an open runtime. Returns 0 or -1 with err. */
int bt_worker_init(bt_worker *w, ro_state *rt, const bt_job *job, const bt_job_option *opts, size_t nopts,
                   const bt_config *cfg, bt_spool *sp, char *err, size_t errlen);
void bt_worker_fini(bt_worker *w);

/* Claim the next eligible input from inbox/ (a regular file NAME.ndjson, not
 * starting with '.'; symbolic links and other file types are moved to
 * failed/ with a NAME.error saying why). On success copies NAME into name and
 * returns 1; returns 0 when the inbox has nothing eligible; -1 on error. */
int bt_claim_next(bt_worker *w, char *name, size_t namelen, char *err, size_t errlen);
/* Forget the inbox listing bt_claim_next works through (bt_worker_fini does). */
void bt_claim_reset(bt_worker *w);
/* Find an input in work/ whose owner is gone (its lock is free). Returns 1
 * with its name, 0 when none, -1 on error. */
int bt_find_orphan(bt_worker *w, char *name, size_t namelen, char *err, size_t errlen);
/* Process a claimed input from its checkpoint to the end, commit results to
 * out/, move the input to done/ (or failed/). Returns 0 (also when the input
 * was rejected or another process holds it), or -1 on an I/O or runtime error
 * (the input stays in work/ and resumes from its last checkpoint). */
int bt_process_input(bt_worker *w, const char *name, bt_input_report *rep, char *err, size_t errlen);

#endif /* RECLAIMD_BT_H */
