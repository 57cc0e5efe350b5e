/* job.c - choosing a job: the built-in summary, or a shared object with an ABI check. */
#include "bt.h"

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

typedef const bt_job *(*bt_job_entry)(void);

const bt_job *bt_job_load(const char *spec, void **dl, char *err, size_t errlen)
{
    *dl = NULL;
    if (strcmp(spec, "summary") == 0)
        return bt_job_summary();
    if (strchr(spec, '/') == NULL) {
        snprintf(err, errlen, "unknown job '%s' (expected 'summary' or the path of a job's .so)", spec);
        return NULL;
    }
    void *h = dlopen(spec, RTLD_NOW | RTLD_LOCAL);
    if (h == NULL) {
        snprintf(err, errlen, "cannot load job %s: %s", spec, dlerror());
        return NULL;
    }
    bt_job_entry entry;
    *(void **)&entry = dlsym(h, "reclaimd_job");
    if (entry == NULL) {
        snprintf(err, errlen, "job %s does not export reclaimd_job()", spec);
        dlclose(h);
        return NULL;
    }
    const bt_job *job = entry();
    if (job == NULL || job->abi_version != BT_JOB_ABI_VERSION) {
        snprintf(err, errlen, "job %s was built for job ABI %u, this reclaimd speaks %u: rebuild it", spec,
                 job ? job->abi_version : 0, BT_JOB_ABI_VERSION);
        dlclose(h);
        return NULL;
    }
    if (job->create == NULL || job->destroy == NULL || job->process == NULL || job->name == NULL) {
        snprintf(err, errlen, "job %s leaves a required entry (name, create, destroy, process) empty", spec);
        dlclose(h);
        return NULL;
    }
    *dl = h;
    return job;
}

void bt_job_unload(void *dl)
{
    if (dl != NULL)
        dlclose(dl);
}
