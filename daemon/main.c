/* main.c - reclaimd: parse the command line, build the pieces, run, tear down in reverse. */
#include "bt.h"
#include "config.h"
#include "log.h"
#include "service.h"
#include "ro.h"

#include <errno.h>
#include <arpa/inet.h>
#include <getopt.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef RECLAIMD_VERSION
#define RECLAIMD_VERSION "0.0.0"
#endif

#define DEFAULT_CONFIG "/etc/reclaimd/reclaimd.conf"

/* Exit codes (documented in --help and reclaimd(8)). */
enum {
    EXIT_OK = 0,
    EXIT_CONFIG = 1,      /* the configuration is invalid */
    EXIT_USAGE = 2,       /* bad command line */
    EXIT_SPOOL = 3,       /* the spool cannot be opened or created */
    EXIT_PROCESS = 4,     /* an input could not be processed (it stays in work/ and resumes) */
};

static void usage(FILE *f)
{
    fprintf(f,
            "usage: reclaimd [--config FILE] [--spool DIR] [--foreground]\n"
            "       reclaimd [--config FILE] [--spool DIR] --once\n"
            "       reclaimd [--config FILE] --check-config\n"
            "       reclaimd --demo DIR\n"
            "\n"
            "Processes users' NDJSON files dropped into SPOOL/inbox/ through the summary job\n"
            "(or a job .so) in crash-safe batches: results in SPOOL/out/, processed inputs in\n"
            "SPOOL/done/, bad records and rejected inputs in SPOOL/failed/. Without --once it\n"
            "runs as a service in the foreground (systemd Type=notify): inputs are picked up as\n"
            "they arrive, SIGHUP re-reads the configuration, SIGTERM drains and exits.\n"
            "\n"
            "  -c, --config FILE   configuration (default " DEFAULT_CONFIG " when it exists)\n"
            "  -s, --spool DIR     spool directory (overrides [spool] dir)\n"
            "      --foreground    accepted for clarity: the service always stays in the foreground\n"
            "      --once          run the service (guard included) until the spool is drained, then\n"
            "                      exit; no /metrics and no control socket\n"
            "      --demo DIR      run the service on a spool in DIR that it fills with generated users,\n"
            "                      one input a second; stops by itself when they are done\n"
            "      --check-config  check the configuration, print the effective one, exit 0 or 1\n"
            "  -V, --version       print the version\n"
            "  -h, --help          this text\n"
            "\n"
            "Exit codes: 0 done; 1 invalid configuration; 2 bad command line; 3 spool cannot be\n"
            "opened; 4 an input could not be processed (--once; it stays in work/ and resumes);\n"
            "5 SIGTERM drain timed out (inputs resume from their last checkpoint); 6 the leak guard\n"
            "found memory only a restart reclaims (systemd restarts the service; inputs resume).\n");
}

/* ------------------------------------------------------------------ demo */

/* Deterministic generator of demo users (xorshift64*), a few bad records included. */
static uint64_t rng(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ull;
}

static int write_demo_input(const char *dir, const char *name, int users, int bad, uint64_t seed)
{
    static const char *const types[] = {"click", "view", "buy", "search", "share"};
    static const char *const tags[] = {"mobile", "desktop", "promo", "eu", "us", "beta"};
    char tmp[4200], fin[4200];
    snprintf(tmp, sizeof tmp, "%s/inbox/%s.tmp", dir, name);
    snprintf(fin, sizeof fin, "%s/inbox/%s", dir, name);
    FILE *f = fopen(tmp, "we");
    if (f == NULL)
        return -1;
    uint64_t s = seed;
    for (int u = 0; u < users; u++) {
        if (bad > 0 && u % (users / bad + 1) == users / (2 * bad)) {
            static const char *const bads[] = {"{\"user_id\": 42, \"events\": []}", "{\"user_id\": \"x\", \"events\": [NaN]}",
                                               "{\"user_id\": \"y\", \"events\": [{\"ts\": \"late\", \"type\": \"view\"}]}"};
            fprintf(f, "%s\n", bads[u % 3]);
            continue;
        }
        fprintf(f, "{\"user_id\": \"%.*s-%05d\", \"events\": [", (int)(strlen(name) - 7), name, u);
        int n = (int)(rng(&s) % 12);
        int64_t ts = 1700000000 + (int64_t)(rng(&s) % 10000000);
        for (int e = 0; e < n; e++) {
            ts += (int64_t)(rng(&s) % 3600);
            fprintf(f, "%s{\"ts\": %lld, \"type\": \"%s\"", e ? ", " : "", (long long)ts, types[rng(&s) % 5]);
            if (rng(&s) % 5 != 0)
                fprintf(f, ", \"amount\": %.2f", (double)(rng(&s) % 50000) / 100.0);
            if (rng(&s) % 3 != 0)
                fprintf(f, ", \"tags\": [\"%s\", \"%s\"]", tags[rng(&s) % 6], tags[rng(&s) % 6]);
            fprintf(f, "}");
        }
        fprintf(f, "]}\n");
    }
    if (fclose(f) != 0)
        return -1;
    return rename(tmp, fin);
}

static void show_file(const char *dir, const char *sub, const char *name, int lines)
{
    char path[4200], buf[512];
    snprintf(path, sizeof path, "%s/%s/%s", dir, sub, name);
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return;
    printf("\n%s/%s (first %d lines):\n", sub, name, lines);
    for (int i = 0; i < lines && fgets(buf, sizeof buf, f) != NULL; i++)
        printf("  %s", buf);
    fclose(f);
}

/* The demo's inputs: name, users, bad records among them. */
typedef struct demo_inputs {
    const char *dir;
    const char *names[3];
    int users[3], bad[3];
} demo_inputs;

static int demo_make_input(void *ud, int i)
{
    demo_inputs *d = ud;
    return write_demo_input(d->dir, d->names[i], d->users[i], d->bad[i], (uint64_t)i + 1);
}

/* ------------------------------------------------------------------ run */

typedef struct run_opts {
    const char *config_path;
    const char *spool;
    int once, check, demo;
} run_opts;

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'}, {"spool", required_argument, NULL, 's'},
        {"once", no_argument, NULL, 'o'},         {"check-config", no_argument, NULL, 'k'},
        {"demo", required_argument, NULL, 'd'},   {"version", no_argument, NULL, 'V'},
        {"foreground", no_argument, NULL, 'f'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
    };
    run_opts o = {0};
    const char *demo_dir = NULL;
    int ch;
    while ((ch = getopt_long(argc, argv, "c:s:Vh", longopts, NULL)) != -1) {
        switch (ch) {
        case 'c': o.config_path = optarg; break;
        case 's': o.spool = optarg; break;
        case 'o': o.once = 1; break;
        case 'k': o.check = 1; break;
        case 'd': o.demo = 1; demo_dir = optarg; break;
        case 'f': break;   /* always in the foreground (systemd style) */
        case 'V': printf("reclaimd %s\n", RECLAIMD_VERSION); return EXIT_OK;
        case 'h': usage(stdout); return EXIT_OK;
        default: usage(stderr); return EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "reclaimd: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return EXIT_USAGE;
    }
    if (o.once + o.check + o.demo > 1) {
        fprintf(stderr, "reclaimd: --once, --check-config and --demo exclude each other\n");
        return EXIT_USAGE;
    }
    int daemon_mode = o.once + o.check + o.demo == 0;
    svc_config cfg;
    svc_config_defaults(&cfg);
    const char *path = o.config_path;
    if (path == NULL && !o.demo && access(DEFAULT_CONFIG, F_OK) == 0)
        path = DEFAULT_CONFIG;
    if (path != NULL) {
        char errs[8192];
        int n = svc_config_load(&cfg, path, errs, sizeof errs);
        if (n != 0) {
            fputs(errs, stderr);
            if (n > 0)
                fprintf(stderr, "reclaimd: %s: %d problem%s; nothing was changed\n", path, n, n == 1 ? "" : "s");
            svc_config_free(&cfg);
            return EXIT_CONFIG;
        }
    }
    if (o.spool != NULL) {
        if (strlen(o.spool) >= sizeof cfg.spool_dir) {
            fprintf(stderr, "reclaimd: --spool: path too long\n");
            return EXIT_USAGE;
        }
        snprintf(cfg.spool_dir, sizeof cfg.spool_dir, "%s", o.spool);
    }
    if (o.demo) {
        if (mkdir(demo_dir, 0750) != 0 && errno != EEXIST) {
            fprintf(stderr, "reclaimd: --demo %s: %s\n", demo_dir, strerror(errno));
            return EXIT_USAGE;
        }
        snprintf(cfg.spool_dir, sizeof cfg.spool_dir, "%s", demo_dir);
    }
    if (cfg.spool_dir[0] == '\0' && !o.check) {
        fprintf(stderr, "reclaimd: no spool directory: set [spool] dir in the configuration or pass --spool DIR\n");
        svc_config_free(&cfg);
        return EXIT_CONFIG;
    }
    if (!o.demo) {
        char errs[1024];
        if (svc_config_check_system(&cfg, path, errs, sizeof errs) != 0) {
            fputs(errs, stderr);
            if (!o.check) {
                svc_config_free(&cfg);
                return o.once ? EXIT_SPOOL : EXIT_CONFIG;
            }
            svc_config_print(&cfg, stdout);
            svc_config_free(&cfg);
            return EXIT_CONFIG;
        }
    }
    if (o.check) {
        svc_config_print(&cfg, stdout);
        char err[512];
        void *dl = NULL;
        int rc = EXIT_OK;
        if (bt_job_load(cfg.job, &dl, err, sizeof err) == NULL) {
            fprintf(stderr, "reclaimd: [batch] job: %s\n", err);
            rc = EXIT_CONFIG;
        }
        bt_job_unload(dl);
        svc_config_free(&cfg);
        return rc;
    }
    svc_log lg;
    svc_log_init(&lg, cfg.log_level, cfg.log_target);
    if (daemon_mode || o.once) {
        /* --once is the same service, guard included, that stops when the
         * spool is drained. */
        int rc = svc_run(&cfg, path, o.spool, &lg, NULL, o.once);
        svc_config_free(&cfg);
        return rc;
    }
    if (o.demo) {
        /* The service on a spool it fills while running: inputs arrive one a
         * second, the logs show each claimed and finished, and it stops by
         * itself when they are all done. */
        demo_inputs inputs = {demo_dir, {"users-a.ndjson", "users-b.ndjson", "users-c.ndjson"},
                              {1500, 1200, 2500}, {0, 3, 0}};
        svc_demo demo = {3, demo_make_input, &inputs};
        cfg.log_target = 1;
        /* Its own control socket, and a free loopback port for the metrics. */
        snprintf(cfg.control_socket, sizeof cfg.control_socket, "%s/reclaimd.sock", demo_dir);
        if (strlen(demo_dir) + 15 > sizeof cfg.control_socket)
            snprintf(cfg.control_socket, sizeof cfg.control_socket, "off");
        int probe = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_in lo = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t lolen = sizeof lo;
        if (probe >= 0 && bind(probe, (struct sockaddr *)&lo, sizeof lo) == 0 &&
            getsockname(probe, (struct sockaddr *)&lo, &lolen) == 0)
            snprintf(cfg.metrics_listen, sizeof cfg.metrics_listen, "127.0.0.1:%u", ntohs(lo.sin_port));
        if (probe >= 0)
            close(probe);
        svc_log_init(&lg, cfg.log_level, cfg.log_target);
        printf("demo: service on spool %s; 3 inputs of generated users arrive one a second "
               "(3 bad records among them)\n", demo_dir);
        if (strcmp(cfg.metrics_listen, "off") != 0)
            printf("demo: metrics at http://%s/metrics while it runs\n", cfg.metrics_listen);
        if (strcmp(cfg.control_socket, "off") != 0)
            printf("demo: reclaimctl --socket %s status\n", cfg.control_socket);
        fflush(stdout);
        int rc = svc_run(&cfg, NULL, NULL, &lg, &demo, false);
        if (rc == 0) {
            show_file(demo_dir, "out", "users-a.ndjson", 2);
            show_file(demo_dir, "failed", "users-b.errors.ndjson", 3);
            printf("\nall results: %s/out/, processed inputs: %s/done/\n", demo_dir, demo_dir);
        }
        svc_config_free(&cfg);
        return rc;
    }
    svc_config_free(&cfg);
    return EXIT_USAGE;
}
