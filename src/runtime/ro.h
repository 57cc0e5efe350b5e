/* ro.h - public API of the reclaimd object runtime (prefix ro_). */
#ifndef RECLAIMD_RO_H
#define RECLAIMD_RO_H

/*
 * Every value is an object: a 16-byte header (reference count, 32 type-private
 * bits, type pointer), optionally preceded by a collector link (containers) and
 * followed by a size (variable-size objects). All state lives in an ro_state
 * that every call takes first; several runtimes can coexist in one process,
 * each owned by one thread.
 *
 * Ownership, as in the CPython C-API: each function that returns an object says
 * "Returns: new" (the caller owns one reference and must ro_decref it),
 * "Returns: borrowed" (valid while its container holds it; ro_incref to keep),
 * and "Steals: x" when it takes over the caller's reference to x, even when it
 * fails. docs/refcounts.tsv records the same facts and a test checks them.
 *
 * Errors: functions return NULL or -1 and leave an error (kind + message) on the
 * runtime; ro_err_kind()/ro_err_msg() read it. Running out of memory is an
 * RO_E_NOMEM error, never a crash.
 */

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ro_state ro_state;
typedef struct ro_type ro_type;

/* Reference count value that marks an immortal object: never incremented,
 * decremented or freed. Singletons, small ints and built-in types start here;
 * a count that would overflow saturates here (the object then lives until the
 * runtime closes), which is safer than wrapping to zero. */
#define RO_IMMORTAL UINT32_MAX

/* The header of every object. */
typedef struct ro_object {
    uint32_t ob_refcnt;  /* references held; RO_IMMORTAL = never freed */
    int32_t ob_aux;      /* 32 bits private to the type (int: compact value; bool: truth; tuple: cached hash) */
    ro_type *ob_type;    /* borrowed for built-in types; a new reference for heap types */
} ro_object;

/* Header of variable-size objects (str, bytes, tuple, list). */
typedef struct ro_varobject {
    ro_object ob_base;
    size_t ob_size;      /* number of items (bytes for str and bytes) */
} ro_varobject;

#define RO_OBJ(p) ((ro_object *)(p))
#define RO_TYPE(o) (RO_OBJ(o)->ob_type)
#define RO_SIZE(o) (((ro_varobject *)(o))->ob_size)

/* ---------------------------------------------------------------- errors */

typedef enum ro_errkind {
    RO_OK = 0,
    RO_E_NOMEM,      /* an allocation failed */
    RO_E_TYPE,       /* wrong type of argument */
    RO_E_VALUE,      /* right type, bad value */
    RO_E_KEY,        /* key not in dict */
    RO_E_INDEX,      /* index out of range */
    RO_E_OVERFLOW,   /* result does not fit */
    RO_E_UNICODE,    /* invalid UTF-8 */
    RO_E_OS,         /* a system call failed; ro_err_errno() has errno */
    RO_E_CLOSED,     /* I/O on a closed file */
    RO_E_RECURSION,  /* nesting too deep */
    RO_E_RUNTIME,    /* anything else (state misuse) */
} ro_errkind;

/* Record an error on rt (replacing any earlier one). Never allocates. */
void ro_err_set(ro_state *rt, ro_errkind kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Record RO_E_OS with errno value err and strerror text after the message. */
void ro_err_set_os(ro_state *rt, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Record RO_E_NOMEM for an allocation of nbytes. Returns NULL for convenience. */
void *ro_err_nomem(ro_state *rt, size_t nbytes);
ro_errkind ro_err_kind(const ro_state *rt);
const char *ro_err_msg(const ro_state *rt);  /* "" when no error */
int ro_err_errno(const ro_state *rt);         /* errno of the last RO_E_OS, else 0 */
const char *ro_errkind_name(ro_errkind kind); /* "TypeError"-style name */
void ro_err_clear(ro_state *rt);

/* ------------------------------------------------------------- lifecycle */

/* Log levels follow syslog(3) numbering. */
enum { RO_LOG_ERR = 3, RO_LOG_WARNING = 4, RO_LOG_NOTICE = 5, RO_LOG_INFO = 6, RO_LOG_DEBUG = 7 };
typedef void (*ro_log_fn)(void *ud, int level, const char *msg);

typedef struct ro_config {
    ro_log_fn log;          /* where warnings (unclosed files, ...) go; NULL = counted only */
    void *log_ud;
    uint64_t hash_seed;     /* 0 = random per runtime (hash-flooding defence); else fixed */
    uint32_t freelist_max;  /* objects kept per free list; 0 = default (RO_FREELIST_MAX) */
} ro_config;

/* Default bound of each per-type free list (objects). Small on purpose: free
 * lists pin pool memory that the allocator could otherwise give back. */
#define RO_FREELIST_MAX 64

/* Create a runtime; cfg may be NULL for defaults. Returns NULL if memory for
 * the state itself cannot be had. */
ro_state *ro_open(const ro_config *cfg);
/* Destroy a runtime: closes registered files, drops interned strings and free
 * lists, releases every arena. Returns the number of object bytes still in use
 * that could not be reclaimed (leaked references); 0 means all came back. */
size_t ro_close(ro_state *rt);

/* --------------------------------------------------------------- types */

typedef enum ro_kind {
    RO_K_TYPE, RO_K_NONE, RO_K_BOOL, RO_K_INT, RO_K_FLOAT, RO_K_STR, RO_K_BYTES,
    RO_K_TUPLE, RO_K_LIST, RO_K_DICT, RO_K_FILE,
    RO_K_USER,   /* types made with ro_type_new */
    RO_K_COUNT_
} ro_kind;

/* Growable text buffer (repr, serializers). Zero-initialise; data is malloc'd,
 * NUL-terminated, owned by the caller; free with ro_sbuf_free. */
typedef struct ro_sbuf {
    char *data;
    size_t len;
    size_t cap;
    size_t limit;   /* 0: none; else appends stop at this many bytes (and a repr into it stops early) */
} ro_sbuf;

typedef int (*ro_visit_fn)(ro_object *o, void *arg);
typedef void (*ro_dealloc_fn)(ro_state *rt, ro_object *o);
typedef int (*ro_traverse_fn)(ro_object *o, ro_visit_fn visit, void *arg);
typedef void (*ro_clear_fn)(ro_state *rt, ro_object *o);
typedef int (*ro_hash_fn)(ro_state *rt, ro_object *o, uint64_t *out);   /* 0 or -1 */
typedef int (*ro_eq_fn)(ro_state *rt, ro_object *a, ro_object *b);      /* 1, 0, -1 */
typedef int (*ro_repr_fn)(ro_state *rt, ro_object *o, ro_sbuf *out);    /* 0 or -1 */
typedef void (*ro_finalize_fn)(ro_state *rt, ro_object *o);

/* Type flags. */
#define RO_TPFLAG_GC        (1u << 0)  /* container: carries a collector link, traversable */
#define RO_TPFLAG_HEAP      (1u << 1)  /* made by ro_type_new; instances own a reference */
#define RO_TPFLAG_NO_NEW    (1u << 2)  /* ro_object_new refuses (singletons, type) */
#define RO_TPFLAG_VAR       (1u << 3)  /* instances begin with ro_varobject */
#define RO_TPFLAG_OWN_DEALLOC (1u << 4) /* built-in containers: their dealloc does ro_dealloc's part itself */
#define RO_TPFLAG_WRAPPED   (1u << 5)  /* set by the runtime: GC without OWN_DEALLOC, freed through ro_dealloc */
/* A heap container type's promise (ro_type_new, with RO_TPFLAG_GC and no
 * finalizer): its tp_clear drops exactly the references its tp_traverse
 * visits and does nothing else. The collector then frees instances that are
 * garbage as it frees built-in containers: in bulk, without calling clear. */
#define RO_TPFLAG_PLAIN_CLEAR (1u << 6)

struct ro_type {
    ro_object ob_base;          /* ob_type is the runtime's `type` */
    const char *tp_name;
    size_t tp_basicsize;        /* bytes of an instance with no items (header included) */
    size_t tp_itemsize;         /* bytes per item for variable-size types, else 0 */
    uint32_t tp_flags;
    ro_kind tp_kind;
    ro_dealloc_fn tp_dealloc;   /* frees the instance (and drops what it holds) */
    ro_traverse_fn tp_traverse; /* visits every object reference (containers) */
    ro_clear_fn tp_clear;       /* drops every object reference (breaks cycles) */
    ro_hash_fn tp_hash;         /* NULL = unhashable */
    ro_eq_fn tp_eq;             /* NULL = identity */
    ro_repr_fn tp_repr;
    ro_finalize_fn tp_finalize; /* run once before an instance dies; may resurrect */
    void *tp_user;              /* free for the type's creator */
};

/* ----------------------------------------------------- reference counting */

/* Called when a count reaches zero; use ro_decref instead. */
void ro_dealloc(ro_state *rt, ro_object *o);

static inline void ro_incref(ro_object *o)
{
    if (o->ob_refcnt != RO_IMMORTAL)
        o->ob_refcnt++;
}

static inline void ro_xincref(ro_object *o)
{
    if (o != NULL)
        ro_incref(o);
}

static inline void ro_decref(ro_state *rt, ro_object *o)
{
    if (o->ob_refcnt != RO_IMMORTAL && --o->ob_refcnt == 0) {
        /* Atoms hold no references: straight to their dealloc, as built-in
         * containers, which do the collector's counts and deep-chain
         * deferral themselves. Other containers go through ro_dealloc. */
        ro_type *t = o->ob_type;
        if (t->tp_flags & RO_TPFLAG_WRAPPED)
            ro_dealloc(rt, o);
        else
            t->tp_dealloc(rt, o);
    }
}

static inline void ro_xdecref(ro_state *rt, ro_object *o)
{
    if (o != NULL)
        ro_decref(rt, o);
}

/* Set *slot to NULL, then drop the reference it held (safe against re-entry
 * from the dealloc), as CPython's Py_CLEAR. */
#define RO_CLEAR(rt, slot)                          \
    do {                                            \
        ro_object *ro_tmp_ = RO_OBJ(slot);          \
        if (ro_tmp_ != NULL) {                      \
            (slot) = NULL;                          \
            ro_decref((rt), ro_tmp_);               \
        }                                           \
    } while (0)

/* Call visit on a field if set and return its non-zero result, as Py_VISIT. */
#define RO_VISIT(o, visit, arg)                          \
    do {                                                 \
        if ((o) != NULL) {                               \
            int ro_vret_ = (visit)(RO_OBJ(o), (arg));    \
            if (ro_vret_ != 0)                           \
                return ro_vret_;                         \
        }                                                \
    } while (0)

/* Append text to a buffer (for a type's tp_repr, or any serializer). Returns 0 or -1. */
int ro_sbuf_append(ro_state *rt, ro_sbuf *b, const char *s, size_t n);
/* Make room for n more bytes and the NUL after them (b->limit is not
 * consulted: for writers that store into b->data + b->len themselves).
 * Returns 0 or -1 (RO_E_NOMEM). */
int ro_sbuf_reserve(ro_state *rt, ro_sbuf *b, size_t n);
void ro_sbuf_free(ro_sbuf *b);
int ro_sbuf_appendf(ro_state *rt, ro_sbuf *b, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Append the repr of o (recursion-safe). Returns 0 or -1. */
int ro_sbuf_append_repr(ro_state *rt, ro_sbuf *b, ro_object *o);

/* A built-in type object (immortal). Returns: borrowed, or NULL for RO_K_USER. */
ro_type *ro_builtin_type(ro_state *rt, ro_kind kind);

/* Description of a new container or atom type, for jobs and tests. */
typedef struct ro_type_spec {
    const char *name;           /* copied */
    size_t basicsize;           /* >= sizeof(ro_object) */
    size_t itemsize;
    uint32_t flags;             /* RO_TPFLAG_GC, RO_TPFLAG_VAR, RO_TPFLAG_PLAIN_CLEAR */
    ro_traverse_fn traverse;    /* required with RO_TPFLAG_GC */
    ro_clear_fn clear;          /* required with RO_TPFLAG_GC */
    ro_finalize_fn finalize;
    ro_hash_fn hash;
    ro_eq_fn eq;
    ro_repr_fn repr;
    void *user;
} ro_type_spec;

/* Make a heap type. Returns: new. Instances keep their type alive. */
ro_type *ro_type_new(ro_state *rt, const ro_type_spec *spec);

static inline int ro_is_kind(const ro_object *o, ro_kind k) { return o->ob_type->tp_kind == k; }

/* ---------------------------------------------------- generic objects */

/* Generic creation: allocate a zero-initialised instance of any type (the
 * zero value for built-ins: 0, 0.0, "", b"", [], {}, a closed file, a tuple of
 * nitems empty slots to fill with ro_tuple_set_item). Containers are tracked by
 * the collector. Returns: new. */
ro_object *ro_object_new(ro_state *rt, ro_type *type, size_t nitems);
/* Hash of a hashable object (str, bytes, int, float, bool, None, tuple of
 * hashables, types). Returns 0 and sets *out, or -1 (RO_E_TYPE if unhashable). */
int ro_hash(ro_state *rt, ro_object *o, uint64_t *out);
/* Equality: 1 equal, 0 not equal, -1 error. Numbers compare by value. */
int ro_equal(ro_state *rt, ro_object *a, ro_object *b);
/* Text representation, as Python's repr(). Returns: new (a str). */
ro_object *ro_repr(ro_state *rt, ro_object *o);
/* Size in bytes of the object's own block (header and inline items). */
size_t ro_object_sizeof(const ro_object *o);

/* ------------------------------------------------------ None and bools */

/* Returns: borrowed (immortal singleton). */
ro_object *ro_none(ro_state *rt);
/* Returns: borrowed (immortal singleton). */
ro_object *ro_true(ro_state *rt);
/* Returns: borrowed (immortal singleton). */
ro_object *ro_false(ro_state *rt);
/* Returns: borrowed (True when v != 0, else False). */
ro_object *ro_bool(ro_state *rt, int v);
static inline int ro_bool_value(const ro_object *o) { return o->ob_aux != 0; }

/* ------------------------------------------------------------------ int */

/* Small ints from RO_SMALLINT_MIN to RO_SMALLINT_MAX are preallocated and
 * shared: asking twice for 100 gives the same object. */
#define RO_SMALLINT_MIN (-5)
#define RO_SMALLINT_MAX 256

/* Compact ints keep their value in ob_aux (16-byte objects); values that do
 * not fit in 32 bits, and INT32_MIN (the marker), live in i_big. */
#define RO_INT_BIG_MARK INT32_MIN
typedef struct ro_int {
    ro_object ob_base;
    int64_t i_big;      /* present only when ob_aux == RO_INT_BIG_MARK */
} ro_int;

/* Returns: new. */
ro_object *ro_int_from_i64(ro_state *rt, int64_t v);
/* Value of an int or bool. Returns 0 and sets *out, or -1 (RO_E_TYPE). */
int ro_int_as_i64(ro_state *rt, ro_object *o, int64_t *out);
/* Value of an object known to be an int. */
static inline int64_t ro_int_value(const ro_object *o)
{
    return o->ob_aux != RO_INT_BIG_MARK ? (int64_t)o->ob_aux : ((const ro_int *)o)->i_big;
}

/* ---------------------------------------------------------------- float */

typedef struct ro_float {
    ro_object ob_base;
    double f_value;
} ro_float;

/* Returns: new. */
ro_object *ro_float_from_double(ro_state *rt, double v);
/* Value of a float, int or bool as a double. Returns 0 or -1 (RO_E_TYPE). */
int ro_float_as_double(ro_state *rt, ro_object *o, double *out);
static inline double ro_float_value(const ro_object *o) { return ((const ro_float *)o)->f_value; }
/* Shortest text that reads back to v, in Python's repr style ("1.0", "1e+16",
 * "0.1", "inf", "nan"). out needs 32 bytes. Returns the length. */
size_t ro_format_double(double v, char *out);
/* Decimal text of v, NUL-terminated. out needs 21 bytes. Returns the length. */
size_t ro_format_i64(int64_t v, char *out);

/* ------------------------------------------------------------------ str */

#define RO_STR_HASHED   1u   /* s_hash is valid */
#define RO_STR_INTERNED 2u   /* the one object for this text in the intern table */
#define RO_STR_ASCII    4u   /* every byte < 0x80: code points == bytes */
/* No control byte (< 0x20), '"' or '\\': a writer that escapes only those (JSON)
 * copies the text as it is. Set by whoever has seen the bytes (the NDJSON
 * parser, the serializer after one look); never cleared (str is immutable). */
#define RO_STR_NOESC    8u
/* Held by the shared-string cache (ro_str_shared_utf8): set when the cache
 * takes the str, cleared when it lets it go. The cache holds one str per
 * text, so two different strs both marked have different texts, whatever
 * their bytes: as with RO_STR_INTERNED, identity decides between them. */
#define RO_STR_CACHED  16u

#define RO_STR_HINTS 2u   /* hint bytes of a str (ro_str_hint) */

typedef struct ro_str {
    ro_varobject ob_base;   /* ob_size = length in bytes */
    size_t s_len;           /* length in code points */
    uint64_t s_hash;
    uint16_t s_state;       /* RO_STR_* bits */
    uint8_t s_hint[RO_STR_HINTS];   /* see ro_str_hint */
    char s_data[];          /* ob_size bytes of valid UTF-8, then a NUL */
} ro_str;

/* From UTF-8 bytes; invalid UTF-8 (overlongs, surrogates, > U+10FFFF, bad
 * continuation) is RO_E_UNICODE naming the byte offset. Returns: new. */
ro_object *ro_str_from_utf8(ro_state *rt, const char *s, size_t nbytes);
/* From bytes the caller has already validated as UTF-8 (a parser that checked
 * them, say); invalid input here breaks the str invariants. Returns: new. */
ro_object *ro_str_from_valid_utf8(ro_state *rt, const char *s, size_t nbytes);
#define RO_STRCACHE_MAX 32u
/* The same, shared: a text of up to RO_STRCACHE_MAX bytes made recently is
 * the same object again (the runtime keeps a small cache of them, each a
 * reference of its own; full collections and ro_freelists_clear empty it).
 * For a parser's repeated values: one hash, one allocation, and dict lookups
 * that find the key by identity. Returns: new. */
ro_object *ro_str_shared_utf8(ro_state *rt, const char *s, size_t nbytes);
/* ro_str_shared_utf8 for a text of 1 to 8 bytes whose caller has them as a
 * word already: word is data[0..nbytes) little-endian (byte i in bits 8i to
 * 8i+7), zero past them; data is read only when the string is made. Other
 * lengths take ro_str_shared_utf8 (word unused). Returns: new. */
ro_object *ro_str_shared_word(ro_state *rt, uint64_t word, const char *data, size_t nbytes);
/* The interned string for UTF-8 bytes: looked up without allocating, made
 * (and validated) only the first time. Returns: new. */
ro_object *ro_str_intern_utf8(ro_state *rt, const char *s, size_t nbytes);
/* From a NUL-terminated UTF-8 string. Returns: new. */
ro_object *ro_str_from_cstr(ro_state *rt, const char *s);
/* printf-style. Returns: new. */
ro_object *ro_str_from_format(ro_state *rt, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static inline const char *ro_str_utf8(const ro_object *o) { return ((const ro_str *)o)->s_data; }
static inline size_t ro_str_nbytes(const ro_object *o) { return RO_SIZE(o); }
/* A str's hints: RO_STR_HINTS bytes any code may leave in a str and read
 * back later, such as where it last filed that str in a table of its own
 * (the summary job's counters do, one byte each). They are no part of the
 * value (a str stays immutable; equality, hashing and text ignore them), 0
 * in a new str, and may have been changed since by anyone else: a reader
 * takes one as a guess and checks what it points to before trusting it.
 * i < RO_STR_HINTS. */
static inline unsigned ro_str_hint(const ro_object *o, unsigned i) { return ((const ro_str *)o)->s_hint[i]; }
static inline void ro_str_set_hint(ro_object *o, unsigned i, unsigned h) { ((ro_str *)o)->s_hint[i] = (uint8_t)h; }

/* The 8 bytes at p as a word whose lowest byte is p[0], on any byte order
 * (for code that reads text eight bytes at a time: hashing, scanning). */
static inline uint64_t ro_load_le64(const void *p)
{
    uint64_t w;
    memcpy(&w, p, 8);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    w = __builtin_bswap64(w);
#endif
    return w;
}

/* a[0..n) == b[0..n), inline for short texts such as keys (a call to
 * memcmp costs more than the compare there): two overlapping loads of 8 or
 * 4 bytes cover up to 16 bytes; longer texts go to memcmp. */
static inline uint64_t ro_text_load_(const unsigned char *p, size_t w)
{
    if (w == 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        return v;
    }
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

static inline bool ro_text_eq(const void *a, const void *b, size_t n)
{
    const unsigned char *x = a, *y = b;
    if (n >= 4 && n <= 16) {
        size_t w = n >= 8 ? 8 : 4;     /* the head and the tail word overlap */
        return ((ro_text_load_(x, w) ^ ro_text_load_(y, w)) |
                (ro_text_load_(x + n - w, w) ^ ro_text_load_(y + n - w, w))) == 0;
    }
    if (n < 4) {
        for (size_t i = 0; i < n; i++)
            if (x[i] != y[i])
                return false;
        return true;
    }
    return memcmp(x, y, n) == 0;
}

static inline size_t ro_str_len(const ro_object *o) { return ((const ro_str *)o)->s_len; }
/* Compare byte-wise (UTF-8 byte order = code point order): <0, 0, >0. */
int ro_str_compare(const ro_object *a, const ro_object *b);
/* Concatenation. Returns: new. */
ro_object *ro_str_concat(ro_state *rt, ro_object *a, ro_object *b);
/* Replace *p with the interned string equal to it (interning *p if it is the
 * first), moving the caller's reference. Returns 0 or -1 (then *p is unchanged). */
int ro_str_intern(ro_state *rt, ro_object **p);
/* Interned string for a C string. Returns: new. */
ro_object *ro_str_intern_cstr(ro_state *rt, const char *s);
/* Number of strings in the intern table. */
size_t ro_str_interned_count(const ro_state *rt);
/* Drop interned strings that nothing but the intern table refers to.
 * Returns how many were dropped. */
size_t ro_str_intern_prune(ro_state *rt);

/* ---------------------------------------------------------------- bytes */

typedef struct ro_bytes {
    ro_varobject ob_base;   /* ob_size = length */
    uint64_t b_hash;        /* valid when ob_aux != 0 */
    char b_data[];          /* ob_size bytes, then a NUL */
} ro_bytes;

/* Returns: new. */
ro_object *ro_bytes_from(ro_state *rt, const void *data, size_t n);
static inline const char *ro_bytes_data(const ro_object *o) { return ((const ro_bytes *)o)->b_data; }
static inline size_t ro_bytes_len(const ro_object *o) { return RO_SIZE(o); }

/* ---------------------------------------------------------------- tuple */

typedef struct ro_tuple {
    ro_varobject ob_base;
    ro_object *t_items[];
} ro_tuple;

/* A tuple of n empty slots, to be filled with ro_tuple_set_item before use.
 * Returns: new. */
ro_object *ro_tuple_new(ro_state *rt, size_t n);
/* A tuple of the n objects in items, each increfed. Returns: new. */
ro_object *ro_tuple_from_array(ro_state *rt, ro_object *const *items, size_t n);
/* A tuple of the n objects that follow, each increfed. Returns: new. The
 * macro below makes calls go to ro_tuple_from_array with the objects in a
 * compound literal (no variadic call); (ro_tuple_pack)(...) is the function. */
ro_object *ro_tuple_pack(ro_state *rt, size_t n, ...);
#define ro_tuple_pack(rt, n, ...) ro_tuple_from_array((rt), (ro_object *const[]){__VA_ARGS__}, (n))
/* Fill slot i of a tuple being built. Returns 0 or -1. Steals: item. */
int ro_tuple_set_item(ro_state *rt, ro_object *t, size_t i, ro_object *item);
/* Returns: borrowed, or NULL with RO_E_INDEX. */
ro_object *ro_tuple_get_item(ro_state *rt, ro_object *t, size_t i);
static inline size_t ro_tuple_len(const ro_object *t) { return RO_SIZE(t); }

/* ----------------------------------------------------------------- list */

typedef struct ro_list {
    ro_varobject ob_base;   /* ob_size = number of items */
    ro_object **l_items;
    size_t l_allocated;
} ro_list;

/* An empty list with room for at least hint items: a new item array gets
 * exactly hint slots (a size known up front, as CPython's PyList_New); appends
 * past them over-allocate. Returns: new. */
ro_object *ro_list_new(ro_state *rt, size_t hint);
/* A list of the n objects in items (none NULL), in order, in an item array
 * of exactly n slots: what a parser that collected a container's items
 * before making it calls. Returns: new, or NULL on failure.
 * Steals: items (all n references, also on failure). */
ro_object *ro_list_from_array_steal(ro_state *rt, ro_object *const *items, size_t n);
/* Append item (the list takes its own reference). Returns 0 or -1. */
int ro_list_append(ro_state *rt, ro_object *l, ro_object *item);
/* Append item, taking over the caller's reference. Returns 0 or -1.
 * Steals: item (also on failure; NULL item fails with the current error). */
int ro_list_append_steal(ro_state *rt, ro_object *l, ro_object *item);
/* Returns: borrowed, or NULL with RO_E_INDEX. */
ro_object *ro_list_get_item(ro_state *rt, ro_object *l, size_t i);
/* Replace item i. Returns 0 or -1. Steals: item. */
int ro_list_set_item(ro_state *rt, ro_object *l, size_t i, ro_object *item);
/* Remove and return the last item. Returns: new, or NULL (RO_E_INDEX if empty). */
ro_object *ro_list_pop(ro_state *rt, ro_object *l);
/* Remove every item. */
void ro_list_clear_items(ro_state *rt, ro_object *l);
static inline size_t ro_list_len(const ro_object *l) { return RO_SIZE(l); }

/* ----------------------------------------------------------------- dict */

typedef struct ro_dict_entry {
    uint64_t e_hash;
    ro_object *e_key;       /* NULL = deleted */
    ro_object *e_value;
} ro_dict_entry;

typedef struct ro_dict {
    ro_object ob_base;
    size_t d_used;          /* live entries */
    size_t d_nentries;      /* entries filled so far, deleted ones included */
    size_t d_usable;        /* capacity of d_entries */
    size_t d_mask;          /* index table size - 1; 0 with no table yet */
    int32_t *d_index;       /* -1 empty, -2 deleted, else entry number; NULL = no table */
    ro_dict_entry *d_entries; /* insertion order */
} ro_dict;

/* Returns: new. */
ro_object *ro_dict_new(ro_state *rt);
/* An empty dict with room for n entries before it grows (as CPython's
 * _PyDict_NewPresized): for a dict whose size is known up front. Returns: new. */
ro_object *ro_dict_new_presized(ro_state *rt, size_t n);
/* A dict of npairs pairs, kv[2i] its key and kv[2i+1] its value (none NULL),
 * inserted in order: a duplicate key keeps its first place and takes its
 * last value, as JSON objects read by Python do. Made with room for npairs
 * entries. Returns: new, or NULL on failure (an unhashable key, memory).
 * Steals: kv (every key and value reference, also on failure). */
ro_object *ro_dict_from_pairs_steal(ro_state *rt, ro_object *const *kv, size_t npairs);
/* A dict layout: the keys of a dict in their order, their hashes and its
 * index table, kept to make more dicts of those keys without hashing or
 * probing (a parser meets the same keys in record after record; CPython's
 * key-sharing dicts spare the same work). Each dict made from one still owns
 * its table, a copy, and is an ordinary dict. Not an object: the holder
 * frees it with ro_dict_layout_free while the runtime lives. */
typedef struct ro_dict_layout ro_dict_layout;
/* The layout of d's keys. Keeps new references to them. Returns: an owned
 * layout, or NULL: with no error set when d is no dict, is empty or has a
 * deleted entry; with RO_E_NOMEM set when memory runs out. */
ro_dict_layout *ro_dict_layout_of(ro_state *rt, ro_object *d);
void ro_dict_layout_free(ro_state *rt, ro_dict_layout *l);   /* l may be NULL */
size_t ro_dict_layout_len(const ro_dict_layout *l);
/* Are kv[0], kv[2], ... kv[2(npairs-1)] l's keys in order, the same
 * objects (identity, not equality)? */
bool ro_dict_layout_matches(const ro_dict_layout *l, ro_object *const *kv, size_t npairs);
/* A dict equal to what ro_dict_from_pairs_steal(rt, kv, n) makes, n being
 * l's length, for kv whose keys match l (ro_dict_layout_matches; anything
 * else is undefined), with the table size of the dict l was taken from.
 * Returns: new, or NULL (memory). Steals: kv (every key and value reference,
 * also on failure). */
ro_object *ro_dict_from_layout_steal(ro_state *rt, const ro_dict_layout *l, ro_object *const *kv);

/* A layout cache: for a caller that makes dict after dict whose key sequences
 * mostly repeat (a parser's objects at one depth, a job's per-record counts),
 * RO_LAYOUT_CACHE_SLOTS layouts, each picked by its length and its last key.
 * A dict whose keys match its slot's layout is made from it; any other is
 * made pairwise, and then its layout may be learnt into the slot:
 * - an empty slot learns at once; a slot holding a layout takes the new one
 *   over on its second miss in a row only, so that two key sequences sharing
 *   a slot do not relearn each other at every dict;
 * - learning is rationed: each layout learnt adds one to the cache's debt
 *   and each dict made from a layout takes one off; past
 *   RO_LAYOUT_CACHE_DEBT_MAX only every RO_LAYOUT_CACHE_RETRY-th chance to
 *   learn is taken, so that a stream of ever-new key sequences costs little
 *   more than making its dicts pairwise.
 * Zero-initialise it (every slot empty); empty it with ro_layout_cache_clear
 * while the runtime lives. learnt is for tests and statistics. */
#define RO_LAYOUT_CACHE_BITS 4
#define RO_LAYOUT_CACHE_SLOTS (1u << RO_LAYOUT_CACHE_BITS)
#define RO_LAYOUT_CACHE_DEBT_MAX 16
#define RO_LAYOUT_CACHE_RETRY 64
typedef struct ro_layout_cache {
    struct ro_layout_slot {
        ro_dict_layout *layout;     /* owned, or NULL */
        uint32_t misses;            /* misses in a row since it last matched or learnt */
    } slot[RO_LAYOUT_CACHE_SLOTS];
    uint32_t debt, passed;          /* see above; chances to learn passed while in debt */
    uint64_t learnt;                /* layouts learnt, all told */
} ro_layout_cache;
/* The slot (0 .. RO_LAYOUT_CACHE_SLOTS - 1) a dict of the npairs keys kv[0],
 * kv[2], ... would use (npairs > 0). */
static inline unsigned ro_layout_cache_slot(ro_object *const *kv, size_t npairs)
{
    uint64_t pick = ((uintptr_t)kv[2 * (npairs - 1)] + npairs) * 0x9e3779b97f4a7c15ull;
    return (unsigned)(pick >> (64 - RO_LAYOUT_CACHE_BITS));
}
/* ro_layout_cache_dict_steal when c's slot does not match: pairwise, then
 * maybe learnt. Returns: new, or NULL (memory; an unhashable key).
 * Steals: kv (every key and value reference, also on failure). */
ro_object *ro_layout_cache_miss_steal(ro_state *rt, ro_layout_cache *c, ro_object *const *kv, size_t npairs);
/* The dict ro_dict_from_pairs_steal(rt, kv, npairs) makes, through c as
 * above (inline: a parser makes one per object). A layout that cannot be
 * learnt for want of memory is not learnt: the dict is returned all the
 * same, no error left set. Returns: new, or NULL (memory; an unhashable
 * key). Steals: kv (every key and value reference, also on failure). */
static inline ro_object *ro_layout_cache_dict_steal(ro_state *rt, ro_layout_cache *c, ro_object *const *kv,
                                                    size_t npairs)
{
    if (npairs != 0) {
        struct ro_layout_slot *s = &c->slot[ro_layout_cache_slot(kv, npairs)];
        if (s->layout != NULL && ro_dict_layout_matches(s->layout, kv, npairs)) {
            s->misses = 0;
            if (c->debt != 0)           /* (mostly 0: a branch taken seldom) */
                c->debt--;
            return ro_dict_from_layout_steal(rt, s->layout, kv);
        }
    }
    return ro_layout_cache_miss_steal(rt, c, kv, npairs);
}
/* Free every layout c holds; c is empty and usable again (learnt goes on
 * counting). */
void ro_layout_cache_clear(ro_state *rt, ro_layout_cache *c);
/* d[key] = value (both increfed; key must be hashable). Returns 0 or -1. */
int ro_dict_set(ro_state *rt, ro_object *d, ro_object *key, ro_object *value);
/* d[key] = value. Returns 0 or -1. Steals: value (also on failure). */
int ro_dict_set_steal(ro_state *rt, ro_object *d, ro_object *key, ro_object *value);
/* Lookup. Returns: borrowed, or NULL: with no error set when key is absent,
 * with an error set when key is unhashable. */
ro_object *ro_dict_get(ro_state *rt, ro_object *d, ro_object *key);
/* d[key] = d.get(key, 0) + delta in one probe (what collections.Counter's C
 * helper does for Python). A value already there must be an int (RO_E_TYPE
 * otherwise) and the sum must fit 64 bits (RO_E_OVERFLOW otherwise); on an
 * error d is unchanged. Returns 0 or -1. */
int ro_dict_count(ro_state *rt, ro_object *d, ro_object *key, int64_t delta);
/* Lookup by a C string key. Returns: borrowed or NULL (absent, or error set). */
ro_object *ro_dict_get_cstr(ro_state *rt, ro_object *d, const char *key);
/* d[key] = value with a C string key. Returns 0 or -1. Steals: value. */
int ro_dict_set_cstr_steal(ro_state *rt, ro_object *d, const char *key, ro_object *value);
/* del d[key]. Returns 0, or -1 (RO_E_KEY when absent). */
int ro_dict_del(ro_state *rt, ro_object *d, ro_object *key);
/* Remove every entry (dict.clear()): each key and value loses the dict's
 * reference. A dict that held only atoms keeps its table for the next fill
 * when the table is small (up to 64 slots).
 * Returns 0, or -1 if d is no dict. */
int ro_dict_clear(ro_state *rt, ro_object *d);
/* Iterate in insertion order: start with *pos = 0; returns 1 and sets *key and
 * *value (borrowed) while items remain, then 0. The dict must not change size
 * during the iteration. */
int ro_dict_next(ro_object *d, size_t *pos, ro_object **key, ro_object **value);
static inline size_t ro_dict_len(const ro_object *d) { return ((const ro_dict *)d)->d_used; }

/* ----------------------------------------------------------------- file */

#define RO_FILE_NOFOLLOW 1u  /* refuse to open a symbolic link (O_NOFOLLOW) */

/* Open path (relative to dirfd, or AT_FDCWD) with a mode of "r", "w", "a",
 * "r+", "w+", "a+", optionally with "x" (create, fail if it exists). The file
 * is recorded in the runtime's registry with path, mode, owner (any object, may
 * be NULL; a new reference is kept) and times. Descriptors are O_CLOEXEC.
 * Returns: new. */
ro_object *ro_file_open_at(ro_state *rt, int dirfd, const char *path, const char *mode,
                           unsigned flags, ro_object *owner);
/* Same with dirfd = AT_FDCWD and no flags. Returns: new. */
ro_object *ro_file_open(ro_state *rt, const char *path, const char *mode, ro_object *owner);
/* The owner recorded for files opened with owner NULL from now on (the batch
 * engine sets one per batch, so that the guard can tell files of finished
 * batches). Keeps a new reference to owner (may be NULL) and drops the old. */
void ro_file_set_default_owner(ro_state *rt, ro_object *owner);
/* Returns: borrowed (may be NULL). */
ro_object *ro_file_default_owner(ro_state *rt);
/* Read up to n bytes (fewer at end of file; empty at EOF). Returns: new (bytes). */
ro_object *ro_file_read(ro_state *rt, ro_object *f, size_t n);
/* Read one line including its '\n' (the last one may lack it; empty at EOF).
 * Returns: new (bytes). */
ro_object *ro_file_readline(ro_state *rt, ro_object *f);
/* Write all n bytes. Returns 0 or -1. */
int ro_file_write(ro_state *rt, ro_object *f, const void *data, size_t n);
/* Close. Closing twice is harmless (returns 0); returns -1 if close(2) fails. */
int ro_file_close(ro_state *rt, ro_object *f);
/* Close on the runtime's behalf (the guard's force-close): the object stays
 * valid and later I/O fails with RO_E_CLOSED saying it was force-closed.
 * Returns 0, or -1 when already closed. */
int ro_file_force_close(ro_state *rt, ro_object *f);
/* The descriptor, or -1 when closed. */
int ro_file_fileno(const ro_object *f);
int ro_file_is_closed(const ro_object *f);

/* A registry entry, as reported to callers. Pointers are borrowed. */
typedef struct ro_file_info {
    ro_object *file;        /* the file object */
    const char *path;
    const char *mode;
    ro_object *owner;       /* may be NULL */
    int fd;
    int64_t opened_realtime_ns;  /* wall clock at open */
    int64_t opened_ns;      /* CLOCK_MONOTONIC at open */
    int64_t last_use_ns;    /* CLOCK_MONOTONIC at the last read/write */
} ro_file_info;

/* Number of open files in the registry. */
size_t ro_file_open_count(const ro_state *rt);
/* Call fn for each open file (oldest first); stops early when fn returns
 * non-zero and returns that value. fn must not close files; collect them and
 * close after. */
int ro_file_foreach(ro_state *rt, int (*fn)(const ro_file_info *info, void *arg), void *arg);
/* Files whose objects were freed while still open (closed on the way). */
uint64_t ro_file_unclosed_count(const ro_state *rt);

/* ----------------------------------------------------------- allocator */

/* Objects up to RO_SMALL_MAX bytes come from size classes in RO_ALIGN-byte
 * steps, carved from RO_POOL_SIZE pools inside RO_ARENA_SIZE mmap'd arenas;
 * larger blocks come from malloc. */
#define RO_ALIGN 16u                      /* bytes; class step and block alignment */
#define RO_SMALL_MAX 512u                 /* bytes; largest pooled request */
#define RO_NCLASSES (RO_SMALL_MAX / RO_ALIGN)
#define RO_POOL_SIZE (16u * 1024u)        /* bytes; 4 pages, as CPython 3.10+ */
#define RO_ARENA_SIZE (1024u * 1024u)     /* bytes; 64 pools, one bit each in a word */
#define RO_POOLS_PER_ARENA (RO_ARENA_SIZE / RO_POOL_SIZE)

typedef struct ro_mem_stats {
    uint64_t bytes_in_use;        /* requested bytes live now (pooled + large) */
    uint64_t bytes_in_use_peak;
    uint64_t blocks_in_use;       /* pooled blocks live now */
    uint64_t large_bytes_in_use;  /* of bytes_in_use, from malloc */
    uint64_t allocs_total;        /* successful allocations ever */
    uint64_t frees_total;
    uint64_t bytes_requested_total;
    uint64_t arenas_mapped;       /* arenas mapped now */
    uint64_t arenas_mapped_peak;
    uint64_t arenas_unmapped_total;
    uint64_t pools_in_use;        /* pools holding live blocks */
    uint64_t pools_free_resident; /* free pools whose pages are still resident */
    uint64_t pools_released;      /* free pools whose pages went back with madvise */
    uint64_t bytes_mapped;        /* arenas_mapped * RO_ARENA_SIZE */
    uint64_t bytes_resident_pools;/* pools in use + free resident, times RO_POOL_SIZE */
    uint64_t bytes_released_total;/* given back with madvise, ever */
    uint64_t madvise_calls_total;
    uint64_t alloc_failures_total;
} ro_mem_stats;

void ro_mem_get_stats(const ro_state *rt, ro_mem_stats *out);
/* Raw allocation for runtime extensions (jobs). n may be 0. Returns NULL with
 * RO_E_NOMEM set on failure. Blocks are RO_ALIGN-aligned up to RO_SMALL_MAX. */
void *ro_mem_alloc(ro_state *rt, size_t n);
/* Free a block from ro_mem_alloc; n must be the size it was asked with. */
void ro_mem_free(ro_state *rt, void *p, size_t n);
/* Resize; on failure returns NULL, sets RO_E_NOMEM and leaves p intact. */
void *ro_mem_realloc(ro_state *rt, void *p, size_t old_n, size_t new_n);
/* Give the pages of every free pool back to the OS now (madvise) and unmap
 * every empty arena. Returns bytes given back. */
uint64_t ro_mem_release(ro_state *rt);
/* Tune lazy page release: once more than `bytes` of free pools are resident,
 * give their pages back (default 1 MiB; UINT64_MAX = only on ro_mem_release). */
void ro_mem_set_release_threshold(ro_state *rt, uint64_t bytes);
/* Testing: make the nth allocation from now fail (1 = the next one); 0 = off.
 * With retry_fails, the emergency collection's retry of an object allocation
 * fails too (the caller sees RO_E_NOMEM); without, the retry may succeed. */
void ro_mem_inject_failure(ro_state *rt, uint64_t nth, int retry_fails);

/* ------------------------------------------------------ cycle collector
 *
 * Containers (types with RO_TPFLAG_GC) are tracked in three generations.
 * Reference counting frees most objects; the collector frees cycles, using
 * the gc_refs algorithm (copy counts, subtract references from inside the
 * generation, keep what stays above zero and everything reachable from it).
 * Finalizers run once per object before garbage is cleared; an object a
 * finalizer resurrects survives. Objects whose cycle cannot be broken (their
 * tp_clear leaves them alive) are uncollectable: kept alive in the list
 * ro_gc_garbage() returns and counted, never freed twice, never lost.
 */

#define RO_GC_GENERATIONS 3

/* What one collection did. */
typedef struct ro_gc_report {
    int generation;             /* collected this generation and all younger */
    int reason;                 /* RO_GC_REASON_* */
    uint64_t examined;          /* tracked objects looked at */
    uint64_t collected;         /* unreachable objects freed */
    uint64_t uncollectable;     /* unreachable objects that could not be freed */
    uint64_t finalized;         /* finalizers run */
    uint64_t resurrected;       /* unreachable objects a finalizer made reachable again */
    uint64_t files_closed;      /* file objects in garbage closed by their finalizer */
    uint64_t freelist_freed;    /* objects dropped from free lists (full collections) */
    uint64_t interned_dropped;  /* interned strings only the table held (full collections) */
    uint64_t bytes_released;    /* given back to the OS (full collections) */
    uint64_t arenas_released;   /* arenas unmapped (full collections) */
    int64_t pause_ns;
} ro_gc_report;

enum { RO_GC_REASON_AUTO = 0, RO_GC_REASON_EXPLICIT = 1, RO_GC_REASON_EMERGENCY = 2 };

/* Totals per generation. */
typedef struct ro_gc_genstats {
    uint64_t collections;
    uint64_t collected;
    uint64_t uncollectable;
    int64_t pause_ns_total;
} ro_gc_genstats;

/* Collect `generation` (0..2) and every younger one; 2 is a full collection,
 * which also clears free lists, prunes the intern table and releases free
 * pages and empty arenas. report may be NULL. Returns the number of objects
 * collected, or -1 (bad generation, or a collection is already running). */
int64_t ro_gc_collect(ro_state *rt, int generation, ro_gc_report *report);
/* Automatic collection when allocations outrun the thresholds (on by default). */
void ro_gc_enable(ro_state *rt);
void ro_gc_disable(ro_state *rt);
int ro_gc_is_enabled(const ro_state *rt);
/* Thresholds, as CPython's gc.set_threshold (defaults 700, 10, 10). */
void ro_gc_set_threshold(ro_state *rt, uint32_t t0, uint32_t t1, uint32_t t2);
uint32_t ro_gc_get_threshold(const ro_state *rt, int generation);
/* Counter that triggers the generation: allocations minus deallocations of
 * containers for 0 (as CPython 3.11: one recycled through a free list is
 * neither), collections of the younger generation for 1 and 2. */
uint64_t ro_gc_get_count(const ro_state *rt, int generation);
/* Objects tracked now, in one generation (walks the list) or all (counter). */
uint64_t ro_gc_generation_size(const ro_state *rt, int generation);
uint64_t ro_gc_tracked(const ro_state *rt);
void ro_gc_get_stats(const ro_state *rt, int generation, ro_gc_genstats *out);
/* Uncollectable objects found so far. Returns: borrowed (a list; may be empty). */
ro_object *ro_gc_garbage(ro_state *rt);
/* Called after every collection (to log and export it). */
typedef void (*ro_gc_callback)(void *ud, const ro_gc_report *report);
void ro_gc_set_callback(ro_state *rt, ro_gc_callback fn, void *ud);
/* Is this container tracked by the collector? */
int ro_gc_is_tracked(const ro_object *o);

/* --------------------------------------------------------- free lists */

/* Return every block held by the per-type free lists to the allocator, and
 * drop the strings the shared-string cache holds (ro_str_shared_utf8).
 * Returns the number of objects freed or dropped. */
size_t ro_freelists_clear(ro_state *rt);

#ifdef __cplusplus
}
#endif

#endif /* RECLAIMD_RO_H */
