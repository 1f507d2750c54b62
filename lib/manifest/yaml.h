#ifndef RC_YAML_H
#define RC_YAML_H
/*
 * YAML 1.1 loading with PyYAML's *safe* rules (see shared MAESTRO.md,
 * "Pipeline" step 2), over libyaml's event parser and our own resolver.
 *
 * A document loads into a tree of rc_node, all owned by one rc_yaml_doc
 * (an arena): free the document and every node goes with it. An alias
 * does not copy: it points at the anchored node, so a node may be
 * reachable from several parents. The loader bounds the *expanded* size
 * of the tree (counting every path through aliases), so that a billion
 * laughs document is an error rather than an exponential walk later.
 *
 * Typing of plain scalars (quoted scalars are always strings):
 *   null   ~ null Null NULL and the empty scalar
 *   bool   yes Yes YES no No NO true True TRUE false False FALSE
 *          on On ON off Off OFF   (not y / n)
 *   int    decimal with underscores, 0b.., octal 0.., 0x.., base 60
 *   float  needs a dot: 1.5 1. .5 1.5e+3 (the exponent sign is required,
 *          as in PyYAML), base 60 with a dot, .inf -.inf .nan
 *   string everything else, including dates (kept as written)
 * Keys are typed the same way. A duplicate key in any mapping is an error.
 * Merge keys (`<<: *a` or `<<: [*a, *b]`) are applied: explicit keys win,
 * then the merged maps in order. Only one document; tags other than the
 * standard ones (!!str, !!int, ...) are errors.
 *
 * Every problem found is added to `diags` with file:line:col (1-based);
 * the loader goes on after a problem where it can, so that all of a
 * file's problems are reported in one run.
 */
#include "base/compat.h"
#include "base/error.h"

typedef enum {
	RC_NODE_NULL,
	RC_NODE_BOOL,
	RC_NODE_INT,
	RC_NODE_FLOAT,
	RC_NODE_STR,
	RC_NODE_SEQ,
	RC_NODE_MAP,
} rc_node_type;

typedef struct rc_node rc_node;

struct rc_node {
	rc_node_type type;
	int line, col;          /* where the node starts, 1-based */
	/*
	 * Scalars: `text` is the scalar's value as libyaml gives it (after
	 * quote and escape processing), NUL-terminated; `len` its length
	 * (a quoted string may contain a NUL byte). For SEQ/MAP, NULL.
	 */
	char *text;
	size_t len;
	bool quoted;            /* not a plain scalar */
	union {
		bool b;             /* BOOL */
		int64_t i;          /* INT (out of range of int64: an error at load) */
		double f;           /* FLOAT */
	} v;
	/* SEQ: items[0..n). MAP: keys[0..n) and items[0..n), in document order. */
	size_t n;
	rc_node **items;
	rc_node **keys;
};

typedef struct rc_yaml_doc rc_yaml_doc;

typedef struct rc_yaml_limits {
	size_t max_depth;          /* nesting of collections; default 512 */
	size_t max_nodes;          /* nodes created; default 1,000,000 */
	size_t max_expanded;       /* nodes counting alias expansion; default 1,000,000 */
} rc_yaml_limits;

/*
 * Load `len` bytes of `text`. `file` is the name used in diagnostics.
 * Returns 0 and a document in `out` when the text parsed without error
 * (warnings may have been added); otherwise RC_EINVALID, with every error
 * in `diags` and `*out` NULL. A document that is empty or only comments
 * loads as a document whose root is a NULL node. `limits` may be NULL.
 */
int rc_yaml_load(rc_yaml_doc **out, const char *text, size_t len, const char *file,
		 const rc_yaml_limits *limits, rc_diags *diags);
const rc_node *rc_yaml_root(const rc_yaml_doc *doc);
void rc_yaml_free(rc_yaml_doc *doc);

/* In a MAP, the value whose key is the *string* `key` (a typed key such as 80 or true does not match); NULL when absent or `map` is not a MAP. */
const rc_node *rc_node_get(const rc_node *map, const char *key);
/* The same, but also the key node (for its position). */
const rc_node *rc_node_get_kv(const rc_node *map, const char *key, const rc_node **key_out);

/* "null", "bool", "int", "float", "string", "list", "mapping": for messages. */
const char *rc_node_type_name(rc_node_type t);

/*
 * Write a scalar the way Python's str() writes the value PyYAML would
 * construct: True/False; decimal ints (0755 -> 493, 1:30 -> 90); floats
 * as the shortest text that round-trips, with a dot or an exponent as
 * Python's repr (1.50 -> 1.5, 1.5e+3 -> 1500.0, 1e16 -> 1e+16, inf, nan);
 * strings (and dates) as they are; NULL as "None". Appends to `out`.
 * Returns RC_EINVALID for a SEQ or MAP.
 */
struct rc_buf;
int rc_node_pystr(struct rc_buf *out, const rc_node *n);
/* Python repr() of a float, appended to `out`. */
int rc_pyfloat_repr(struct rc_buf *out, double f);

#endif
