/* ro_gc.h - collector link in front of container objects, and generations. */
#ifndef RECLAIMD_RO_GC_H
#define RECLAIMD_RO_GC_H

#include <stdint.h>

/* The link in front of every container object (types with RO_TPFLAG_GC).
 * gc_next == NULL means "not tracked". Outside a collection gc_refs is 0;
 * during one it holds the scratch count (see gc.c). */
typedef struct ro_gchead {
    struct ro_gchead *gc_next;
    struct ro_gchead *gc_prev;
    uint32_t gc_flags;   /* RO_GCF_* */
    uint32_t gc_refs;
} ro_gchead;

#define RO_GCF_FINALIZED 1u     /* tp_finalize has run (it runs once per object) */
#define RO_GCF_COLLECTING 2u    /* in the set being collected (gc_refs is meaningful) */
#define RO_GCF_UNREACHABLE 4u   /* tentatively on the unreachable list */
/* Bits 8..31: the full collection that last initialised gc_refs (see gc.c). */
#define RO_GCF_EPOCH_SHIFT 8
#define RO_GCF_LOW_MASK 0xffu

#define RO_GC_HEAD(o) ((ro_gchead *)(o) - 1)
#define RO_GC_OBJ(g) ((ro_object *)((ro_gchead *)(g) + 1))

#define RO_GC_NGENS 3

typedef struct ro_gcgen {
    ro_gchead head;        /* circular list sentinel */
    uint64_t count;        /* gen 0: allocations minus deallocations; older: collections of the younger */
    uint32_t threshold;
} ro_gcgen;

#endif /* RECLAIMD_RO_GC_H */
