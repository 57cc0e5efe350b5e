/* policy.c - budget, pressure, levels and the sampling interval: arithmetic only. */
#include "gd.h"

void gd_sample_derive(gd_sample *s, uint64_t configured_budget)
{
    uint64_t b = GD_UNLIMITED;
    if (configured_budget != 0)
        b = configured_budget;
    if (s->has_cgroup && s->cg.limit < b)
        b = s->cg.limit;
    if (s->mem_total != 0 && s->mem_total < b)
        b = s->mem_total;
    s->budget = b;
    s->usage = s->rss;
    if (s->has_cgroup && s->cg.working_set > s->usage)
        s->usage = s->cg.working_set;
    s->pressure = b == GD_UNLIMITED || b == 0 ? 0.0 : (double)s->usage / (double)b;
    s->fd_ratio = s->fd_limit != 0 && s->fds > 0 ? (double)s->fds / (double)s->fd_limit : 0.0;
}

void gd_policy_defaults(gd_policy *p)
{
    p->soft = 0.70;
    p->hard = 0.85;
    p->critical = 0.95;
    p->fd_soft = 0.70;
    p->fd_hard = 0.90;
    p->interval_ms = 250;
    p->min_interval_ms = 10;
}

gd_level gd_level_of(const gd_policy *p, double pressure)
{
    if (pressure >= p->critical)
        return GD_CRITICAL;
    if (pressure >= p->hard)
        return GD_HARD;
    if (pressure >= p->soft)
        return GD_SOFT;
    return GD_OK;
}

int gd_fd_level_of(const gd_policy *p, double fd_ratio)
{
    return fd_ratio >= p->fd_hard ? 2 : fd_ratio >= p->fd_soft ? 1 : 0;
}

/* Interval for a distance (in fractions) to the next threshold up. */
static double scaled(const gd_policy *p, double distance)
{
    const double span = 0.20;
    double lo = (double)p->min_interval_ms, hi = (double)p->interval_ms;
    if (distance <= 0.0)
        return lo;
    if (distance >= span)
        return hi;
    return lo + (hi - lo) * distance / span;
}

uint64_t gd_next_interval_ms(const gd_policy *p, double pressure, double fd_ratio, double rate)
{
    double next = pressure < p->soft ? p->soft : pressure < p->hard ? p->hard : p->critical;
    double ms = scaled(p, pressure >= p->critical ? 0.0 : next - pressure);
    if (rate > 0.0 && pressure < p->critical) {
        double eta_ms = (next - pressure) / rate * 1000.0 / 2.0;
        if (eta_ms < ms)
            ms = eta_ms < (double)p->min_interval_ms ? (double)p->min_interval_ms : eta_ms;
    }
    double fnext = fd_ratio < p->fd_soft ? p->fd_soft : p->fd_hard;
    double fms = scaled(p, fd_ratio >= p->fd_hard ? 0.0 : fnext - fd_ratio);
    if (fms < ms)
        ms = fms;
    return (uint64_t)(ms + 0.5);
}

const char *gd_level_name(gd_level l)
{
    static const char *const names[] = {"ok", "soft", "hard", "critical"};
    return (unsigned)l < 4 ? names[l] : "?";
}
