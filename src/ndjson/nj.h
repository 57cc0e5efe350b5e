/* nj.h - strict JSON (RFC 8259) records to and from runtime objects (prefix nj_). */
#ifndef RECLAIMD_NJ_H
#define RECLAIMD_NJ_H

#include <stddef.h>
#include <stdint.h>

#include "ro.h"

/*
 * One NDJSON record is one line holding one JSON value. The parser goes from
 * bytes straight to runtime objects (no intermediate tree): objects become
 * dicts (duplicate keys: the last wins; keys are interned), arrays lists,
 * strings str, integers int (int64; an integer literal outside int64 is an
 * error, never silently a float), numbers with a fraction or exponent float,
 * true/false/null the singletons.
 *
 * Rejected, each with the 1-based byte column of the offending byte: invalid
 * UTF-8, control characters in strings, lone or misordered \u surrogates, bare
 * NaN/Infinity and other bad literals, leading zeros, trailing garbage,
 * nesting deeper than the limit, a number outside double's range.
 */

#define NJ_DEFAULT_MAX_DEPTH 64
#define NJ_DEFAULT_MAX_RECORD_BYTES (1024u * 1024u)

typedef struct nj_limits {
    uint32_t max_depth;         /* arrays and objects nested at most this deep */
    size_t max_record_bytes;    /* longest record accepted (checked by the reader) */
} nj_limits;

typedef struct nj_error {
    size_t column;              /* 1-based byte column of the problem */
    char msg[160];
} nj_error;

/* Parse one JSON value from buf[0..len) (a line without its newline).
 * On error returns NULL and fills *err (the runtime error is RO_E_VALUE with
 * the same text, or RO_E_NOMEM). limits may be NULL for the defaults.
 * Returns: new. */
ro_object *nj_parse(ro_state *rt, const char *buf, size_t len, const nj_limits *limits, nj_error *err);

/* What the parser keeps from one record of a stream to the next: the keys
 * it read at each ordinal of the objects at each depth, and the bytes around
 * them, which the next records' objects are compared with before any key is
 * read and interned (see parse.c). Holds new references to interned keys:
 * free it with nj_shapes_free while the runtime is alive. One stream's, one
 * thread's. nj_shapes_new returns NULL when out of memory. */
typedef struct nj_shapes nj_shapes;
nj_shapes *nj_shapes_new(void);
void nj_shapes_free(ro_state *rt, nj_shapes *sh);   /* sh may be NULL */

/* nj_parse with the shapes of the stream's earlier records (sh: borrowed,
 * updated; NULL: none kept). The value is the same as nj_parse's.
 * Returns: new. */
ro_object *nj_parse_shaped(ro_state *rt, nj_shapes *sh, const char *buf, size_t len, const nj_limits *limits,
                           nj_error *err);

/* Output buffer for the serializer: the runtime's text buffer (owned by the
 * caller; append with ro_sbuf_append, free with ro_sbuf_free). */
typedef ro_sbuf nj_buf;

/* Append the JSON text of o: dict keys must be str; floats print as the
 * shortest text that reads back to the same double; NaN and infinities are
 * RO_E_VALUE (JSON has no spelling for them); strings keep their UTF-8, with
 * quotes, backslashes and control characters escaped. Separators are ", " and
 * ": " as Python's json.dumps. Returns 0 or -1. */
int nj_emit(ro_state *rt, ro_object *o, nj_buf *out);

#endif /* RECLAIMD_NJ_H */
