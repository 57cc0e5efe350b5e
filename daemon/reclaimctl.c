/* reclaimctl.c - talk to a running reclaimd over its control socket. */
#include "nj.h"
#include "ro.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define DEFAULT_SOCKET "/run/reclaimd/reclaimd.sock"

static void usage(FILE *f)
{
    fprintf(f, "usage: reclaimctl [--socket PATH] [--json] COMMAND\n"
               "\n"
               "Commands: status   inputs queued, in progress, done, failed; records; guard level\n"
               "          stats    per-worker runtime figures (heap, arenas, collector)\n"
               "          gc       full collection in every worker at its next safe point\n"
               "          pause    stop claiming new inputs (current ones finish)\n"
               "          resume   claim again\n"
               "          reload   re-read the configuration (as SIGHUP)\n"
               "\n"
               "  -s, --socket PATH  control socket (default " DEFAULT_SOCKET ")\n"
               "  -j, --json         print the daemon's JSON reply as it is\n"
               "\n"
               "Exit codes: 0 done; 1 the daemon refused (ok: false); 2 usage or connection error.\n");
}

/* key: value lines; lists of objects one line per element. */
static void print_human(ro_state *rt, ro_object *v)
{
    size_t pos = 0;
    ro_object *k, *x;
    while (ro_dict_next(v, &pos, &k, &x)) {
        if (ro_is_kind(x, RO_K_LIST)) {
            for (size_t i = 0; i < ro_list_len(x); i++) {
                ro_object *e = ro_list_get_item(rt, x, i);
                printf("%s[%zu]:", ro_str_utf8(k), i);
                size_t p2 = 0;
                ro_object *k2, *x2;
                if (ro_is_kind(e, RO_K_DICT)) {
                    while (ro_dict_next(e, &p2, &k2, &x2)) {
                        nj_buf b = {0};
                        if (nj_emit(rt, x2, &b) == 0)
                            printf(" %s=%s", ro_str_utf8(k2), b.data);
                        ro_sbuf_free(&b);
                    }
                }
                printf("\n");
            }
            continue;
        }
        if (ro_is_kind(x, RO_K_STR)) {
            printf("%s: %s\n", ro_str_utf8(k), ro_str_utf8(x));
            continue;
        }
        nj_buf b = {0};
        if (nj_emit(rt, x, &b) == 0)
            printf("%s: %s\n", ro_str_utf8(k), b.data);
        ro_sbuf_free(&b);
    }
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"socket", required_argument, NULL, 's'}, {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
    };
    const char *path = DEFAULT_SOCKET;
    int json = 0, ch;
    while ((ch = getopt_long(argc, argv, "s:jh", longopts, NULL)) != -1) {
        switch (ch) {
        case 's': path = optarg; break;
        case 'j': json = 1; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind + 1 != argc) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[optind];
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof sa.sun_path) {
        fprintf(stderr, "reclaimctl: socket path too long: %s\n", path);
        return 2;
    }
    memcpy(sa.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        fprintf(stderr, "reclaimctl: cannot reach reclaimd at %s: %s (is it running? see [control] socket)\n", path,
                strerror(errno));
        return 2;
    }
    char line[160];
    int n = snprintf(line, sizeof line, "%s\n", cmd);
    if (n <= 0 || (size_t)n >= sizeof line || write(fd, line, (size_t)n) != n) {
        fprintf(stderr, "reclaimctl: cannot send the command: %s\n", strerror(errno));
        return 2;
    }
    char reply[65536];
    size_t got = 0;
    ssize_t k;
    while (got + 1 < sizeof reply && (k = read(fd, reply + got, sizeof reply - 1 - got)) > 0)
        got += (size_t)k;
    close(fd);
    reply[got] = '\0';
    if (got == 0) {
        fprintf(stderr, "reclaimctl: no reply from %s\n", path);
        return 2;
    }
    ro_state *rt = ro_open(NULL);
    nj_error err;
    size_t len = strcspn(reply, "\n");
    ro_object *v = rt ? nj_parse(rt, reply, len, NULL, &err) : NULL;
    int rc = 0;
    if (v != NULL && ro_is_kind(v, RO_K_DICT)) {
        ro_object *ok = ro_dict_get_cstr(rt, v, "ok");
        if (ok != NULL && ok == ro_false(rt))
            rc = 1;
    }
    if (json || v == NULL || !ro_is_kind(v, RO_K_DICT))
        fputs(reply, stdout);
    else
        print_human(rt, v);
    if (v != NULL)
        ro_decref(rt, v);
    if (rt != NULL)
        ro_close(rt);
    return rc;
}
