/*
 * YAML 1.1 loading with PyYAML's safe rules, over libyaml's event parser.
 *
 * The file has five parts:
 *   - the arena that owns a loaded document,
 *   - the resolver and constructors (PyYAML's implicit types, exactly),
 *   - construction: an event loop with an explicit stack (no recursion,
 *     so nesting depth costs heap, never C stack),
 *   - mapping completion: duplicate keys and `<<` merge keys,
 *   - Python's str()/repr() of the constructed values.
 */
#include "base/compat.h"
/* libyaml's header is also yaml.h: the Makefile uses -iquote lib, so <> finds libyaml's */
#include <yaml.h>
#include "manifest/yaml.h"
#include "base/buf.h"
#include "base/util.h"
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/banned.h"

#define DEFAULT_MAX_DEPTH 512
#define DEFAULT_MAX_NODES 1000000
#define DEFAULT_MAX_EXPANDED 1000000

/* ------------------------------------------------------------------ */
/* Arena                                                              */

/*
 * Nodes, their texts and their child arrays live in a list of blocks and
 * are freed together: a document is built once and never edited, and an
 * alias makes a node reachable from several parents, so no node could be
 * freed on its own anyway.
 */
#define ARENA_BLOCK ((size_t)64 << 10)

struct arena_block {
	struct arena_block *next;
	size_t used, size;
	max_align_t data[];
};

struct rc_yaml_doc {
	struct arena_block *blocks;
	rc_node *root;
};

static void *arena_alloc(rc_yaml_doc *doc, size_t n)
{
	struct arena_block *b = doc->blocks;
	size_t unit = sizeof(max_align_t);
	void *p;

	n = n ? (n + unit - 1) / unit * unit : unit;
	if (!b || b->size - b->used < n) {
		/*
		 * A big request gets a block of its own, linked behind the
		 * current one, so the space left in the current block is
		 * not wasted.
		 */
		size_t size = n > ARENA_BLOCK / 4 ? n : ARENA_BLOCK;
		struct arena_block *nb;

		if (size > SIZE_MAX - sizeof(*nb))
			abort();
		nb = rc_xmalloc(sizeof(*nb) + size);
		nb->used = 0;
		nb->size = size;
		if (b && size != ARENA_BLOCK) {
			nb->next = b->next;
			b->next = nb;
		} else {
			nb->next = b;
			doc->blocks = nb;
		}
		b = nb;
	}
	p = (char *)b->data + b->used;
	b->used += n;
	return p;
}

static char *arena_memdup(rc_yaml_doc *doc, const void *s, size_t len)
{
	char *p = arena_alloc(doc, len + 1);
	if (len)
		memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

/* ------------------------------------------------------------------ */
/* Resolver and constructors                                          */

/*
 * PyYAML's SafeLoader resolves a plain, untagged scalar by trying its
 * implicit resolvers' regular expressions. They are written out here as
 * small matchers over (s, len), one per alternative of the regex, so
 * that the accepted language is exactly PyYAML's (timestamps and `=`
 * excepted: we keep those as strings).
 */

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool is_word(const char *s, size_t len, const char *const *words, size_t nr)
{
	for (size_t i = 0; i < nr; i++)
		if (strlen(words[i]) == len && !memcmp(words[i], s, len))
			return true;
	return false;
}

static const char *const null_words[] = { "~", "null", "Null", "NULL" };
static const char *const true_words[] = { "yes", "Yes", "YES", "true", "True", "TRUE",
					   "on", "On", "ON" };
static const char *const false_words[] = { "no", "No", "NO", "false", "False", "FALSE",
					    "off", "Off", "OFF" };

static bool match_null(const char *s, size_t len)
{
	return len == 0 || is_word(s, len, null_words, RC_ARRAY_SIZE(null_words));
}

/* 1 for true, 0 for false, -1 when not a bool */
static int match_bool(const char *s, size_t len)
{
	if (is_word(s, len, true_words, RC_ARRAY_SIZE(true_words)))
		return 1;
	if (is_word(s, len, false_words, RC_ARRAY_SIZE(false_words)))
		return 0;
	return -1;
}

/* Does [p, end) consist of one or more characters of `set`? */
static bool all_of(const char *p, const char *end, const char *set)
{
	if (p == end)
		return false;
	for (; p < end; p++)
		if (!*p || !strchr(set, *p))
			return false;
	return true;
}

/* Skip [0-9_]* */
static const char *skip_digits_(const char *p, const char *end)
{
	while (p < end && (is_digit(*p) || *p == '_'))
		p++;
	return p;
}

/*
 * (:[0-5]?[0-9])+ followed by `stop` (or the end when stop is 0): the
 * base-60 groups. Returns where `stop` is, or NULL.
 */
static const char *skip_sexagesimal(const char *p, const char *end, char stop)
{
	int groups = 0;

	while (p < end && *p == ':') {
		const char *q = ++p;
		while (q < end && is_digit(*q))
			q++;
		if (q - p == 1 || (q - p == 2 && *p <= '5'))
			groups++;
		else
			return NULL;
		p = q;
	}
	if (!groups)
		return NULL;
	if (stop ? (p < end && *p == stop) : p == end)
		return p;
	return NULL;
}

/*
 *   [-+]?0b[0-1_]+ | [-+]?0[0-7_]+ | [-+]?(0|[1-9][0-9_]*)
 * | [-+]?0x[0-9a-fA-F_]+ | [-+]?[1-9][0-9_]*(:[0-5]?[0-9])+
 */
static bool match_int(const char *s, size_t len)
{
	const char *p = s, *end = s + len, *q;

	if (p < end && (*p == '-' || *p == '+'))
		p++;
	if (p == end)
		return false;
	if (*p == '0') {
		if (p + 1 == end)
			return true;
		if (p[1] == 'b')
			return all_of(p + 2, end, "01_");
		if (p[1] == 'x')
			return all_of(p + 2, end, "0123456789abcdefABCDEF_");
		return all_of(p + 1, end, "01234567_");
	}
	if (*p < '1' || *p > '9')
		return false;
	q = skip_digits_(p + 1, end);
	return q == end || skip_sexagesimal(q, end, 0) != NULL;
}

/*
 *   [-+]?([0-9][0-9_]*)\.[0-9_]*([eE][-+][0-9]+)?
 * | \.[0-9][0-9_]*([eE][-+][0-9]+)?
 * | [-+]?[0-9][0-9_]*(:[0-5]?[0-9])+\.[0-9_]*
 * | [-+]?\.(inf|Inf|INF)
 * | \.(nan|NaN|NAN)
 * Note the second and last alternatives take no sign: `-.5` is a string.
 */
static bool match_exponent_tail(const char *p, const char *end)
{
	p = skip_digits_(p, end);
	if (p == end)
		return true;
	if (*p != 'e' && *p != 'E')
		return false;
	p++;
	if (p == end || (*p != '-' && *p != '+'))
		return false;
	p++;
	if (p == end)
		return false;
	for (; p < end; p++)
		if (!is_digit(*p))
			return false;
	return true;
}

static bool match_float(const char *s, size_t len)
{
	const char *p = s, *end = s + len, *q;
	bool sign = false;

	if (p < end && (*p == '-' || *p == '+')) {
		p++;
		sign = true;
	}
	if (p == end)
		return false;
	if (*p == '.') {
		size_t rest = (size_t)(end - p);
		if (rest == 4 && (!memcmp(p, ".inf", 4) || !memcmp(p, ".Inf", 4) ||
				  !memcmp(p, ".INF", 4)))
			return true;
		if (!sign && rest == 4 && (!memcmp(p, ".nan", 4) || !memcmp(p, ".NaN", 4) ||
					   !memcmp(p, ".NAN", 4)))
			return true;
		if (sign || rest < 2 || !is_digit(p[1]))
			return false;
		return match_exponent_tail(p + 2, end);
	}
	if (!is_digit(*p))
		return false;
	q = skip_digits_(p + 1, end);
	if (q < end && *q == '.')
		return match_exponent_tail(q + 1, end);
	/* base 60: the fraction takes no exponent */
	q = skip_sexagesimal(q, end, '.');
	return q && skip_digits_(q + 1, end) == end;
}

/* A copy of [s, s+len) without '_', optionally lowercased; free() it. */
static char *strip_underscores(const char *s, size_t len, bool lower)
{
	char *t = rc_xmalloc(len + 1);
	size_t n = 0;

	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (c == '_')
			continue;
		if (lower && c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		t[n++] = c;
	}
	t[n] = '\0';
	return t;
}

enum { CONV_OK = 0, CONV_INVALID = -1, CONV_RANGE = -2 };

static int digit_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return 99;
}

/* Accumulate the digits of [p, end) in `base` into *mag, which may already hold a value. */
static int accumulate(uint64_t *mag, const char *p, const char *end, unsigned base)
{
	int ret = CONV_OK;

	if (p == end)
		return CONV_INVALID;
	for (; p < end; p++) {
		unsigned d = (unsigned)digit_value(*p);
		if (d >= base)
			return CONV_INVALID;
		if (*mag > (UINT64_MAX - d) / base)
			ret = CONV_RANGE;  /* keep checking the digits: invalid beats range */
		else
			*mag = *mag * base + d;
	}
	return ret;
}

/*
 * PyYAML's construct_yaml_int: drop '_', take the sign, then 0b / 0x /
 * leading 0 (octal) / ':' (base 60) / decimal. Used for implicit ints
 * (which the regex has already checked) and for `!!int` (which it has not).
 */
static int construct_int(int64_t *out, const char *s, size_t len)
{
	char *t;
	const char *p, *end;
	bool neg = false;
	uint64_t mag = 0;
	int ret;

	if (memchr(s, '\0', len))
		return CONV_INVALID;   /* a NUL in a quoted `!!int` */
	t = strip_underscores(s, len, false);
	p = t;
	if (*p == '-' || *p == '+')
		neg = *p++ == '-';
	end = p + strlen(p);
	if (p == end) {
		ret = CONV_INVALID;
	} else if (!strcmp(p, "0")) {
		ret = CONV_OK;
	} else if (p[0] == '0' && p[1] == 'b') {
		ret = accumulate(&mag, p + 2, end, 2);
	} else if (p[0] == '0' && p[1] == 'x') {
		ret = accumulate(&mag, p + 2, end, 16);
	} else if (p[0] == '0') {
		ret = accumulate(&mag, p + 1, end, 8);
	} else if (strchr(p, ':')) {
		ret = CONV_OK;
		while (ret == CONV_OK) {
			const char *colon = memchr(p, ':', (size_t)(end - p));
			const char *stop = colon ? colon : end;
			uint64_t part = 0;
			int r = accumulate(&part, p, stop, 10);
			if (r < 0)
				ret = r;
			else if (mag > (UINT64_MAX - part) / 60)
				ret = CONV_RANGE;
			else
				mag = mag * 60 + part;
			if (!colon)
				break;
			p = colon + 1;
		}
	} else {
		ret = accumulate(&mag, p, end, 10);
	}
	if (ret == CONV_OK) {
		if (neg && mag <= (uint64_t)INT64_MAX + 1)
			*out = mag == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)mag;
		else if (!neg && mag <= (uint64_t)INT64_MAX)
			*out = (int64_t)mag;
		else
			ret = CONV_RANGE;
	}
	free(t);
	return ret;
}

/* Python's float() of a decimal text (no hex, no "nan(...)"), via strtod. */
static int parse_double(double *out, const char *p, const char *end)
{
	char tmp[512], *stop;
	size_t n = (size_t)(end - p);
	char *heap = NULL;
	const char *s = tmp;
	int ret = CONV_OK;

	if (!n)
		return CONV_INVALID;
	/* strtod also reads hex, "nan(...)" and leading blanks; Python's float() does not */
	for (const char *c = p; c < end; c++)
		if (*c == 'x' || *c == 'X' || *c == '(' || *c == ' ' || *c == '\t' || *c == '\n')
			return CONV_INVALID;
	if (n < sizeof(tmp)) {
		memcpy(tmp, p, n);
		tmp[n] = '\0';
	} else {
		s = heap = rc_xstrndup(p, n);
	}
	/* overflow to inf and underflow to 0 are what Python's float() does too */
	*out = strtod(s, &stop);
	if (stop != s + n)
		ret = CONV_INVALID;
	free(heap);
	return ret;
}

/* PyYAML's construct_yaml_float. */
static int construct_float(double *out, const char *s, size_t len)
{
	char *t;
	const char *p, *end;
	bool neg = false;
	double v = 0.0;
	int ret = CONV_OK;

	if (memchr(s, '\0', len))
		return CONV_INVALID;
	t = strip_underscores(s, len, true);
	p = t;
	if (*p == '-' || *p == '+')
		neg = *p++ == '-';
	end = p + strlen(p);
	if (!strcmp(p, ".inf")) {
		v = INFINITY;
	} else if (!strcmp(p, ".nan")) {
		v = NAN;
	} else if (strchr(p, ':')) {
		/* the same operations in the same order as PyYAML, for the same rounding */
		double base = 1.0;
		const char *q = end;
		for (;;) {
			const char *colon = q;
			double digit;
			while (colon > p && colon[-1] != ':')
				colon--;
			if ((ret = parse_double(&digit, colon, q)) < 0)
				break;
			v += digit * base;
			base *= 60;
			if (colon == p)
				break;
			q = colon - 1;
		}
	} else {
		ret = parse_double(&v, p, end);
	}
	if (ret == CONV_OK)
		*out = neg ? -v : v;
	free(t);
	return ret;
}

/* ------------------------------------------------------------------ */
/* Construction                                                       */

/* The loader's view of a node: the public part and bookkeeping. */
struct ynode {
	rc_node pub;            /* first, so an rc_node * of ours is a struct ynode * */
	uint64_t expanded;      /* nodes counting every path through aliases */
	bool merge_key;         /* a plain `<<` */
	bool open;              /* a collection still being built */
};

#define YNODE(n) ((struct ynode *)(n))

/* A child as it appeared in its parent: an alias has its own position. */
struct child {
	struct ynode *node;
	int line, col;
};

struct frame {
	struct ynode *node;
	struct child *kids;     /* SEQ: items; MAP: key, value, key, value, ... */
	size_t nr, alloc;
	uint64_t expanded;
};

struct anchor {
	char *name;             /* NULL: empty slot */
	struct ynode *node;
};

struct loader {
	rc_yaml_doc *doc;
	const char *file;
	rc_diags *diags;
	size_t max_depth, max_nodes, max_expanded;

	struct frame *stack;    /* open collections, innermost last */
	size_t depth, stack_alloc;

	struct anchor *anchors; /* open addressing, size a power of two */
	size_t anchors_nr, anchors_size;

	size_t nodes;
	uint64_t expanded;      /* expanded size of everything seen so far */
	size_t errors;
	bool fatal;             /* stop reading events */
	int documents;
};

static int clamp_int(size_t v)
{
	return v > INT_MAX ? INT_MAX : (int)v;
}

static void lerr(struct loader *L, int line, int col, const char *fmt, ...) RC_PRINTF(4, 5);
static void lerr(struct loader *L, int line, int col, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	rc_diags_vadd(L->diags, RC_DIAG_ERROR, L->file, line, col, fmt, ap);
	va_end(ap);
	L->errors++;
}

static uint64_t sat_add(uint64_t a, uint64_t b)
{
	return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

/* Keys and values quoted in messages are cut, so one line stays one line. */
#define SHOW_MAX 60

static int show_len(const rc_node *n)
{
	size_t len = n->text ? strnlen(n->text, n->len) : 0;
	const char *nl = len ? memchr(n->text, '\n', len) : NULL;

	if (nl)
		len = (size_t)(nl - n->text);
	return (int)(len > SHOW_MAX ? SHOW_MAX : len);
}

static const char *show_more(const rc_node *n)
{
	return n->text && (size_t)show_len(n) < n->len ? "..." : "";
}

static uint64_t hash_bytes(const void *p, size_t len)
{
	const unsigned char *s = p;
	uint64_t h = 0xcbf29ce484222325ull;   /* FNV-1a */

	for (size_t i = 0; i < len; i++) {
		h ^= s[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

/* Anchors: a name may be redefined, and the later definition wins (YAML 1.1). */
static struct anchor *anchor_slot(struct loader *L, const char *name)
{
	size_t mask = L->anchors_size - 1;
	size_t i = (size_t)hash_bytes(name, strlen(name)) & mask;

	while (L->anchors[i].name && strcmp(L->anchors[i].name, name))
		i = (i + 1) & mask;
	return &L->anchors[i];
}

static void anchor_set(struct loader *L, const char *name, struct ynode *node)
{
	struct anchor *a;

	if (L->anchors_nr + 1 > L->anchors_size / 2) {
		struct anchor *old = L->anchors;
		size_t old_size = L->anchors_size;

		L->anchors_size = old_size ? old_size * 2 : 16;
		L->anchors = rc_xcalloc(L->anchors_size, sizeof(*L->anchors));
		for (size_t i = 0; i < old_size; i++)
			if (old[i].name)
				*anchor_slot(L, old[i].name) = old[i];
		free(old);
	}
	a = anchor_slot(L, name);
	if (!a->name) {
		a->name = rc_xstrdup(name);
		L->anchors_nr++;
	}
	a->node = node;
}

static struct ynode *anchor_get(struct loader *L, const char *name)
{
	return L->anchors_size ? anchor_slot(L, name)->node : NULL;
}

/*
 * Count a node (or an alias's whole expansion) against the limits before
 * it is made. Limits are fatal: going on would only produce more of the
 * same, and bounding the work is the point.
 */
static bool count_node(struct loader *L, yaml_mark_t m, bool is_new, uint64_t expanded)
{
	int line = clamp_int(m.line + 1), col = clamp_int(m.column + 1);

	if (is_new && ++L->nodes > L->max_nodes) {
		lerr(L, line, col, "document has more than %zu nodes", L->max_nodes);
		L->fatal = true;
		return false;
	}
	L->expanded = sat_add(L->expanded, expanded);
	if (L->expanded > L->max_expanded) {
		lerr(L, line, col, "document expands to more than %zu nodes (alias bomb?)",
		     L->max_expanded);
		L->fatal = true;
		return false;
	}
	return true;
}

static struct ynode *new_node(struct loader *L, rc_node_type type, yaml_mark_t m)
{
	struct ynode *n = arena_alloc(L->doc, sizeof(*n));

	memset(n, 0, sizeof(*n));
	n->pub.type = type;
	n->pub.line = clamp_int(m.line + 1);
	n->pub.col = clamp_int(m.column + 1);
	n->expanded = 1;
	return n;
}

/* Hang `n` under the innermost open collection; line:col is where it appeared there. */
static void add_child(struct loader *L, struct ynode *n, int line, int col)
{
	struct frame *f;

	if (!L->depth) {
		L->doc->root = &n->pub;
		return;
	}
	f = &L->stack[L->depth - 1];
	RC_ALLOC_GROW(f->kids, f->nr + 1, f->alloc);
	f->kids[f->nr].node = n;
	f->kids[f->nr].line = line;
	f->kids[f->nr].col = col;
	f->nr++;
	f->expanded = sat_add(f->expanded, n->expanded);
}

enum tag_kind {
	TAG_NONE,               /* no tag: resolve */
	TAG_NONSPECIFIC,        /* `!`: resolved as if untagged (PyYAML) */
	TAG_STR, TAG_INT, TAG_FLOAT, TAG_BOOL, TAG_NULL, TAG_MAP, TAG_SEQ,
	TAG_UNSUPPORTED,
};

#define YAML_TAG_PREFIX "tag:yaml.org,2002:"

static enum tag_kind classify_tag(const char *tag)
{
	static const struct { const char *name; enum tag_kind kind; } std[] = {
		{ "str", TAG_STR }, { "int", TAG_INT }, { "float", TAG_FLOAT },
		{ "bool", TAG_BOOL }, { "null", TAG_NULL }, { "map", TAG_MAP },
		{ "seq", TAG_SEQ },
	};

	if (!tag)
		return TAG_NONE;
	if (!strcmp(tag, "!"))
		return TAG_NONSPECIFIC;
	if (rc_starts_with(tag, YAML_TAG_PREFIX))
		for (size_t i = 0; i < RC_ARRAY_SIZE(std); i++)
			if (!strcmp(tag + strlen(YAML_TAG_PREFIX), std[i].name))
				return std[i].kind;
	return TAG_UNSUPPORTED;
}

/* "!!int" rather than "tag:yaml.org,2002:int", as the user wrote it */
static void tag_error(struct loader *L, const rc_node *n, const char *tag, const char *what)
{
	if (rc_starts_with(tag, YAML_TAG_PREFIX))
		lerr(L, n->line, n->col, "%s tag '!!%s'", what, tag + strlen(YAML_TAG_PREFIX));
	else
		lerr(L, n->line, n->col, "%s tag '%s'", what, tag);
}

static void int_error(struct loader *L, const rc_node *n, int r)
{
	if (r == CONV_RANGE)
		lerr(L, n->line, n->col, "integer '%.*s%s' out of range",
		     show_len(n), n->text, show_more(n));
	else
		lerr(L, n->line, n->col, "invalid integer '%.*s%s'",
		     show_len(n), n->text, show_more(n));
}

static void resolve_scalar(struct loader *L, struct ynode *yn, const yaml_event_t *ev)
{
	rc_node *n = &yn->pub;
	const char *tag = (const char *)ev->data.scalar.tag;
	enum tag_kind kind = classify_tag(tag);
	int r;

	n->type = RC_NODE_STR;
	/*
	 * PyYAML resolves a scalar tagged `!` as if it were plain, quoted or
	 * not (`! "123"` is 123), although YAML says `!` means string.
	 */
	if (kind == TAG_NONE && ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return;
	switch (kind) {
	case TAG_NONE:
	case TAG_NONSPECIFIC:
		if (match_null(n->text, n->len)) {
			n->type = RC_NODE_NULL;
		} else if ((r = match_bool(n->text, n->len)) >= 0) {
			n->type = RC_NODE_BOOL;
			n->v.b = r;
		} else if (n->len == 2 && !memcmp(n->text, "<<", 2)) {
			yn->merge_key = true;
		} else if (match_int(n->text, n->len)) {
			/* the regex admits 0b_ and 0x_, which PyYAML then fails to construct */
			r = construct_int(&n->v.i, n->text, n->len);
			if (r == CONV_OK)
				n->type = RC_NODE_INT;
			else
				int_error(L, n, r);
		} else if (match_float(n->text, n->len)) {
			n->type = RC_NODE_FLOAT;
			construct_float(&n->v.f, n->text, n->len);
		}
		return;
	case TAG_STR:
		return;
	case TAG_INT:
		r = construct_int(&n->v.i, n->text, n->len);
		if (r == CONV_OK)
			n->type = RC_NODE_INT;
		else
			int_error(L, n, r);
		return;
	case TAG_FLOAT:
		if (construct_float(&n->v.f, n->text, n->len) == CONV_OK)
			n->type = RC_NODE_FLOAT;
		else
			lerr(L, n->line, n->col, "invalid float '%.*s%s'",
			     show_len(n), n->text, show_more(n));
		return;
	case TAG_BOOL: {
		/* PyYAML's construct_yaml_bool looks the lowercased value up */
		char low[8];
		size_t i;
		for (i = 0; i < n->len && i < sizeof(low) - 1; i++)
			low[i] = (char)(n->text[i] >= 'A' && n->text[i] <= 'Z' ?
					n->text[i] - 'A' + 'a' : n->text[i]);
		low[i] = '\0';
		if (n->len < sizeof(low) && (r = match_bool(low, n->len)) >= 0) {
			n->type = RC_NODE_BOOL;
			n->v.b = r;
		} else {
			lerr(L, n->line, n->col, "invalid bool '%.*s%s'",
			     show_len(n), n->text, show_more(n));
		}
		return;
	}
	case TAG_NULL:
		n->type = RC_NODE_NULL;
		return;
	case TAG_MAP:
	case TAG_SEQ:
		tag_error(L, n, tag, "scalar with collection");
		return;
	case TAG_UNSUPPORTED:
		tag_error(L, n, tag, "unsupported");
		return;
	}
}

static void register_anchor(struct loader *L, const yaml_char_t *anchor, struct ynode *n)
{
	if (anchor)
		anchor_set(L, (const char *)anchor, n);
}

static void on_scalar(struct loader *L, const yaml_event_t *ev)
{
	struct ynode *n;

	if (!count_node(L, ev->start_mark, true, 1))
		return;
	n = new_node(L, RC_NODE_STR, ev->start_mark);
	n->pub.text = arena_memdup(L->doc, ev->data.scalar.value, ev->data.scalar.length);
	n->pub.len = ev->data.scalar.length;
	n->pub.quoted = ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE;
	resolve_scalar(L, n, ev);
	register_anchor(L, ev->data.scalar.anchor, n);
	add_child(L, n, n->pub.line, n->pub.col);
}

static void on_alias(struct loader *L, const yaml_event_t *ev)
{
	const char *name = (const char *)ev->data.alias.anchor;
	struct ynode *target = anchor_get(L, name);
	int line = clamp_int(ev->start_mark.line + 1), col = clamp_int(ev->start_mark.column + 1);

	if (!target || target->open) {
		/* keep going with a null in its place, to find the file's other problems */
		if (!target)
			lerr(L, line, col, "found undefined alias '%s'", name);
		else
			lerr(L, line, col, "alias '%s' refers to a collection that contains it", name);
		if (!count_node(L, ev->start_mark, true, 1))
			return;
		target = new_node(L, RC_NODE_NULL, ev->start_mark);
		target->pub.text = arena_memdup(L->doc, "", 0);
	} else if (!count_node(L, ev->start_mark, false, target->expanded)) {
		return;
	}
	add_child(L, target, line, col);
}

static void on_collection_start(struct loader *L, const yaml_event_t *ev, rc_node_type type)
{
	bool is_map = type == RC_NODE_MAP;
	const char *tag = (const char *)(is_map ? ev->data.mapping_start.tag
					      : ev->data.sequence_start.tag);
	const yaml_char_t *anchor = is_map ? ev->data.mapping_start.anchor
					   : ev->data.sequence_start.anchor;
	enum tag_kind kind = classify_tag(tag);
	struct ynode *n;
	struct frame *f;

	if (L->depth >= L->max_depth) {
		lerr(L, clamp_int(ev->start_mark.line + 1), clamp_int(ev->start_mark.column + 1),
		     "nesting deeper than %zu levels", L->max_depth);
		L->fatal = true;
		return;
	}
	if (!count_node(L, ev->start_mark, true, 1))
		return;
	n = new_node(L, type, ev->start_mark);
	n->open = true;
	if (kind == TAG_UNSUPPORTED)
		tag_error(L, &n->pub, tag, "unsupported");
	else if (kind != TAG_NONE && kind != TAG_NONSPECIFIC &&
		 kind != (is_map ? TAG_MAP : TAG_SEQ))
		tag_error(L, &n->pub, tag, is_map ? "mapping with" : "sequence with");
	/* registered now, so that an alias inside it is seen as recursive */
	register_anchor(L, anchor, n);

	if (L->depth >= L->stack_alloc) {
		size_t old = L->stack_alloc;
		RC_ALLOC_GROW(L->stack, L->depth + 1, L->stack_alloc);
		memset(L->stack + old, 0, (L->stack_alloc - old) * sizeof(*L->stack));
	}
	/* frames keep their kids array from earlier use at the same depth */
	f = &L->stack[L->depth++];
	f->node = n;
	f->nr = 0;
	f->expanded = 1;
}

static rc_node **arena_nodes(struct loader *L, size_t nr)
{
	if (nr > SIZE_MAX / sizeof(rc_node *))
		abort();
	return arena_alloc(L->doc, nr * sizeof(rc_node *));
}

static void finish_seq(struct loader *L, struct frame *f)
{
	rc_node *n = &f->node->pub;

	n->n = f->nr;
	n->items = arena_nodes(L, f->nr);
	for (size_t i = 0; i < f->nr; i++)
		n->items[i] = &f->kids[i].node->pub;
}

/* ------------------------------------------------------------------ */
/* Mappings: duplicate keys and merge keys                            */

static uint64_t mix64(uint64_t h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ull;
	h ^= h >> 33;
	return h;
}

static uint64_t key_hash(const rc_node *k)
{
	switch (k->type) {
	case RC_NODE_BOOL:
		return mix64(k->v.b ? 2 : 1);
	case RC_NODE_INT:
		return mix64((uint64_t)k->v.i);
	case RC_NODE_FLOAT: {
		double f = k->v.f == 0 ? 0.0 : k->v.f;   /* -0.0 == 0.0 */
		uint64_t bits;
		memcpy(&bits, &f, sizeof(bits));
		return mix64(bits ^ 0x5555);
	}
	case RC_NODE_STR:
		return mix64(hash_bytes(k->text, k->len));
	default:
		return 0;
	}
}

/* Same type and same value: 1 and "1" differ, yes and true are one key. */
static bool key_equal(const rc_node *a, const rc_node *b)
{
	if (a->type != b->type)
		return false;
	switch (a->type) {
	case RC_NODE_NULL:
		return true;
	case RC_NODE_BOOL:
		return a->v.b == b->v.b;
	case RC_NODE_INT:
		return a->v.i == b->v.i;
	case RC_NODE_FLOAT:
		return a->v.f == b->v.f;   /* a nan is never equal, as in a Python dict */
	case RC_NODE_STR:
		return a->len == b->len && !memcmp(a->text, b->text, a->len);
	default:
		return false;
	}
}

/* The keys and values of the mapping being finished, with a hash index. */
struct mapbuild {
	struct child *keys, *vals;
	size_t nr, alloc, valloc;
	size_t *slots;          /* index + 1 into keys; 0: empty */
	size_t size;            /* power of two */
};

static size_t *mb_find(struct mapbuild *mb, const rc_node *k)
{
	size_t mask = mb->size - 1, i = (size_t)key_hash(k) & mask;

	while (mb->slots[i] && !key_equal(&mb->keys[mb->slots[i] - 1].node->pub, k))
		i = (i + 1) & mask;
	return &mb->slots[i];
}

static void mb_grow(struct mapbuild *mb, size_t want)
{
	size_t *old = mb->slots, old_size = mb->size;

	if (want * 2 <= mb->size)
		return;
	mb->size = mb->size ? mb->size : 16;
	while (want * 2 > mb->size)
		mb->size *= 2;
	mb->slots = rc_xcalloc(mb->size, sizeof(*mb->slots));
	for (size_t i = 0; i < old_size; i++)
		if (old[i])
			*mb_find(mb, &mb->keys[old[i] - 1].node->pub) = old[i];
	free(old);
}

/*
 * Add a key unless an equal one is there; returns the index of the one
 * already there plus one, or 0 when added. Collections cannot be keys
 * (Python cannot hash them): they are added unindexed, after an error.
 */
static size_t mb_add(struct mapbuild *mb, const struct child *k, const struct child *v)
{
	bool hashable = k->node->pub.type != RC_NODE_SEQ && k->node->pub.type != RC_NODE_MAP;

	if (hashable) {
		size_t *slot;
		mb_grow(mb, mb->nr + 1);
		slot = mb_find(mb, &k->node->pub);
		if (*slot) /* an equal key was added before */
			/* cppcheck-suppress identicalInnerCondition */
			return *slot;
		*slot = mb->nr + 1;
	}
	RC_ALLOC_GROW(mb->keys, mb->nr + 1, mb->alloc);
	RC_ALLOC_GROW(mb->vals, mb->nr + 1, mb->valloc);
	mb->keys[mb->nr] = *k;
	mb->vals[mb->nr] = *v;
	mb->nr++;
	return 0;
}

/* Merge the keys of `src` (a finished MAP) that are not there yet. */
static void mb_merge(struct mapbuild *mb, const rc_node *src)
{
	for (size_t i = 0; i < src->n; i++) {
		struct child k = { YNODE(src->keys[i]), src->keys[i]->line, src->keys[i]->col };
		struct child v = { YNODE(src->items[i]), src->items[i]->line, src->items[i]->col };
		mb_add(mb, &k, &v);
	}
}

/*
 * Explicit keys first, in document order, each checked for duplicates;
 * then the keys of the `<<` maps that are not there yet, the earlier
 * map winning (PyYAML's rule for `<<: [*a, *b]`). Merged maps are
 * already finished, so their own merges are in them.
 */
static void finish_map(struct loader *L, struct frame *f)
{
	rc_node *n = &f->node->pub;
	struct mapbuild mb = { NULL, NULL, 0, 0, 0, NULL, 0 };
	const struct child *merge = NULL, *merge_key = NULL;

	for (size_t i = 0; i + 1 < f->nr; i += 2) {
		const struct child *k = &f->kids[i], *v = &f->kids[i + 1];
		const rc_node *kn = &k->node->pub;
		size_t first;

		if (k->node->merge_key) {
			if (merge_key)
				lerr(L, k->line, k->col,
				     "duplicate merge key '<<' (first at line %d)", merge_key->line);
			else
				merge_key = k;
			if (!merge)
				merge = v;
			continue;
		}
		if (kn->type == RC_NODE_SEQ || kn->type == RC_NODE_MAP)
			lerr(L, k->line, k->col, "found unhashable key (a %s)",
			     rc_node_type_name(kn->type));
		if ((first = mb_add(&mb, k, v)))
			lerr(L, k->line, k->col, "duplicate key '%.*s%s' (first at line %d)",
			     show_len(kn), kn->text, show_more(kn), mb.keys[first - 1].line);
	}
	if (merge) {
		const rc_node *m = &merge->node->pub;
		if (m->type == RC_NODE_MAP) {
			mb_merge(&mb, m);
		} else if (m->type == RC_NODE_SEQ) {
			for (size_t i = 0; i < m->n; i++) {
				if (m->items[i]->type == RC_NODE_MAP)
					mb_merge(&mb, m->items[i]);
				else
					lerr(L, m->items[i]->line, m->items[i]->col,
					     "expected a mapping for merging, but found %s",
					     rc_node_type_name(m->items[i]->type));
			}
		} else {
			lerr(L, merge->line, merge->col,
			     "expected a mapping or list of mappings for merging, but found %s",
			     rc_node_type_name(m->type));
		}
	}
	n->n = mb.nr;
	n->keys = arena_nodes(L, mb.nr);
	n->items = arena_nodes(L, mb.nr);
	for (size_t i = 0; i < mb.nr; i++) {
		n->keys[i] = &mb.keys[i].node->pub;
		n->items[i] = &mb.vals[i].node->pub;
	}
	free(mb.keys);
	free(mb.vals);
	free(mb.slots);
}

static void on_collection_end(struct loader *L)
{
	struct frame *f;
	struct ynode *n;

	if (!L->depth)
		return;   /* libyaml pairs its events; defensive only */
	f = &L->stack[L->depth - 1];
	n = f->node;
	if (n->pub.type == RC_NODE_MAP)
		finish_map(L, f);
	else
		finish_seq(L, f);
	n->expanded = f->expanded;
	n->open = false;
	L->depth--;
	add_child(L, n, n->pub.line, n->pub.col);
}

/* ------------------------------------------------------------------ */
/* libyaml errors                                                     */

/* A reader error has a byte offset, not a mark: count lines and characters up to it. */
static void offset_position(const char *text, size_t len, size_t offset, int *line, int *col)
{
	size_t l = 1, c = 1;

	if (offset > len)
		offset = len;
	for (size_t i = 0; i < offset; i++) {
		unsigned char ch = (unsigned char)text[i];
		if (ch == '\n') {
			l++;
			c = 1;
		} else if ((ch & 0xc0) != 0x80) {
			c++;   /* count characters, as libyaml's marks do */
		}
	}
	*line = clamp_int(l);
	*col = clamp_int(c);
}

static void parser_error(struct loader *L, const yaml_parser_t *p, const char *text, size_t len)
{
	const char *problem = p->problem ? p->problem : "unknown error";
	int line, col;

	switch (p->error) {
	case YAML_MEMORY_ERROR:
		lerr(L, 0, 0, "out of memory parsing YAML");
		break;
	case YAML_READER_ERROR:
		offset_position(text, len, p->problem_offset, &line, &col);
		if (p->problem_value != -1)
			lerr(L, line, col, "%s (byte 0x%02x)", problem, (unsigned)p->problem_value & 0xff);
		else
			lerr(L, line, col, "%s", problem);
		break;
	default:
		line = clamp_int(p->problem_mark.line + 1);
		col = clamp_int(p->problem_mark.column + 1);
		if (p->context)
			lerr(L, line, col, "%s (%s at line %d, column %d)", problem, p->context,
			     clamp_int(p->context_mark.line + 1),
			     clamp_int(p->context_mark.column + 1));
		else
			lerr(L, line, col, "%s", problem);
		break;
	}
}

/* ------------------------------------------------------------------ */
/* Loading                                                            */

static void handle_event(struct loader *L, const yaml_event_t *ev)
{
	switch (ev->type) {
	case YAML_DOCUMENT_START_EVENT:
		if (++L->documents > 1) {
			lerr(L, clamp_int(ev->start_mark.line + 1),
			     clamp_int(ev->start_mark.column + 1),
			     "expected a single document in the stream, but found another document");
			L->fatal = true;
		}
		break;
	case YAML_SCALAR_EVENT:
		on_scalar(L, ev);
		break;
	case YAML_ALIAS_EVENT:
		on_alias(L, ev);
		break;
	case YAML_SEQUENCE_START_EVENT:
		on_collection_start(L, ev, RC_NODE_SEQ);
		break;
	case YAML_MAPPING_START_EVENT:
		on_collection_start(L, ev, RC_NODE_MAP);
		break;
	case YAML_SEQUENCE_END_EVENT:
	case YAML_MAPPING_END_EVENT:
		on_collection_end(L);
		break;
	default:
		break;
	}
}

static void loader_release(struct loader *L)
{
	for (size_t i = 0; i < L->stack_alloc; i++)
		free(L->stack[i].kids);
	free(L->stack);
	for (size_t i = 0; i < L->anchors_size; i++)
		free(L->anchors[i].name);
	free(L->anchors);
}

int rc_yaml_load(rc_yaml_doc **out, const char *text, size_t len, const char *file,
		 const rc_yaml_limits *limits, rc_diags *diags)
{
	struct loader L;
	yaml_parser_t parser;
	yaml_event_t ev;
	int err = 0;

	*out = NULL;
	memset(&L, 0, sizeof(L));
	L.doc = rc_xcalloc(1, sizeof(*L.doc));
	L.file = file ? file : "";
	L.diags = diags;
	L.max_depth = limits && limits->max_depth ? limits->max_depth : DEFAULT_MAX_DEPTH;
	L.max_nodes = limits && limits->max_nodes ? limits->max_nodes : DEFAULT_MAX_NODES;
	L.max_expanded = limits && limits->max_expanded ? limits->max_expanded
							: DEFAULT_MAX_EXPANDED;
	if (!text)
		text = "";

	if (!yaml_parser_initialize(&parser)) {
		lerr(&L, 0, 0, "out of memory parsing YAML");
		goto done;
	}
	/* manifests are UTF-8 (the template renderer writes UTF-8) */
	yaml_parser_set_encoding(&parser, YAML_UTF8_ENCODING);
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	for (;;) {
		yaml_event_type_t type;

		if (!yaml_parser_parse(&parser, &ev)) {
			parser_error(&L, &parser, text, len);
			break;
		}
		handle_event(&L, &ev);
		type = ev.type;
		yaml_event_delete(&ev);
		if (L.fatal || type == YAML_STREAM_END_EVENT)
			break;
	}
	yaml_parser_delete(&parser);

	if (!L.errors && !L.doc->root) {
		/* an empty stream: a null document */
		yaml_mark_t start = { 0, 0, 0 };
		struct ynode *n = new_node(&L, RC_NODE_NULL, start);
		n->pub.text = arena_memdup(L.doc, "", 0);
		L.doc->root = &n->pub;
	}

done:
	loader_release(&L);
	if (L.errors) {
		rc_yaml_free(L.doc);
		err = RC_EINVALID;
	} else {
		*out = L.doc;
	}
	return err;
}

const rc_node *rc_yaml_root(const rc_yaml_doc *doc)
{
	return doc ? doc->root : NULL;
}

void rc_yaml_free(rc_yaml_doc *doc)
{
	struct arena_block *b, *next;

	if (!doc)
		return;
	for (b = doc->blocks; b; b = next) {
		next = b->next;
		free(b);
	}
	free(doc);
}

/* ------------------------------------------------------------------ */
/* Access                                                             */

const rc_node *rc_node_get_kv(const rc_node *map, const char *key, const rc_node **key_out)
{
	size_t klen;

	if (key_out)
		*key_out = NULL;
	if (!map || map->type != RC_NODE_MAP || !key)
		return NULL;
	klen = strlen(key);
	for (size_t i = 0; i < map->n; i++) {
		const rc_node *k = map->keys[i];
		if (k->type == RC_NODE_STR && k->len == klen && !memcmp(k->text, key, klen)) {
			if (key_out)
				*key_out = k;
			return map->items[i];
		}
	}
	return NULL;
}

const rc_node *rc_node_get(const rc_node *map, const char *key)
{
	return rc_node_get_kv(map, key, NULL);
}

const char *rc_node_type_name(rc_node_type t)
{
	switch (t) {
	case RC_NODE_NULL: return "null";
	case RC_NODE_BOOL: return "bool";
	case RC_NODE_INT: return "int";
	case RC_NODE_FLOAT: return "float";
	case RC_NODE_STR: return "string";
	case RC_NODE_SEQ: return "list";
	case RC_NODE_MAP: return "mapping";
	}
	return "unknown";
}

/* ------------------------------------------------------------------ */
/* Python formatting                                                  */

/* Parse "d.ddde+XX" (as %e writes it) into digits and the decimal exponent. */
static int split_e(const char *tmp, char *digits, size_t *nd, int64_t *exp10)
{
	const char *e = strchr(tmp, 'e');

	*nd = 0;
	if (!e || rc_parse_i64(exp10, e + 1, 10) < 0)
		return -1;
	for (const char *c = tmp; c < e && *nd < 17; c++)
		if (is_digit(*c))
			digits[(*nd)++] = *c;
	return *nd ? 0 : -1;
}

static bool reads_back(const char *digits, size_t nd, int64_t exp10, double f)
{
	char tmp[64];

	snprintf(tmp, sizeof(tmp), "%c.%.*se%" PRId64, digits[0], (int)nd - 1, digits + 1, exp10);
	return strtod(tmp, NULL) == f;
}

/*
 * The shortest digits that read back as `f` (finite, positive), and among
 * those the nearest, as Python's repr (David Gay's mode 0) picks them.
 * For each length the correctly rounded digits are the nearest; when they
 * do not read back, the neighbour on the other side of `f` still may (the
 * rounding interval is lopsided at a power of two), so try it too.
 */
static int shortest_digits(double f, char *digits, size_t *nd, int64_t *exp10)
{
	char tmp[64];

	for (int prec = 0; prec < 17; prec++) {
		char alt[17];
		int64_t alt_exp;
		size_t n, i;

		snprintf(tmp, sizeof(tmp), "%.*e", prec, f);
		if (split_e(tmp, digits, nd, exp10) < 0)
			return -1;
		if (strtod(tmp, NULL) == f)
			return 0;
		n = *nd;
		alt_exp = *exp10;
		memcpy(alt, digits, n);
		if (strtod(tmp, NULL) < f) {
			for (i = n; i > 0 && alt[i - 1] == '9'; i--)
				alt[i - 1] = '0';
			if (i == 0) {
				alt[0] = '1';   /* 9.99 -> 10.0 = 1.00e+1 */
				alt_exp++;
			} else {
				alt[i - 1]++;
			}
		} else {
			for (i = n; i > 0 && alt[i - 1] == '0'; i--)
				alt[i - 1] = '9';
			alt[i - 1]--;   /* the first digit is not 0, so i > 0 */
			if (alt[0] == '0') {
				memset(alt, '9', n);   /* 1.00e+1 -> 9.99 */
				alt_exp--;
			}
		}
		if (reads_back(alt, n, alt_exp, f)) {
			memcpy(digits, alt, n);
			*exp10 = alt_exp;
			return 0;
		}
	}
	snprintf(tmp, sizeof(tmp), "%.16e", f);   /* 17 digits always read back */
	return split_e(tmp, digits, nd, exp10);
}

/*
 * Python's float repr: the shortest digits that read back as the same
 * double, in fixed notation when the decimal exponent is in [-4, 16)
 * (with ".0" when integral), else as d.ddde+XX. (snprintf and strtod
 * depend on LC_NUMERIC, which lib/ never changes from "C".)
 */
int rc_pyfloat_repr(rc_buf *out, double f)
{
	char digits[17];
	int64_t exp10;
	size_t nd;
	rc_buf b = RC_BUF_INIT;
	int err;

	if (isnan(f))
		return rc_buf_adds(out, "nan");
	if (isinf(f))
		return rc_buf_adds(out, f < 0 ? "-inf" : "inf");
	if (f == 0)
		return rc_buf_adds(out, signbit(f) ? "-0.0" : "0.0");
	if (shortest_digits(fabs(f), digits, &nd, &exp10) < 0)
		return RC_ERROR;   /* cannot happen with a finite double */
	while (nd > 1 && digits[nd - 1] == '0')
		nd--;

	err = f < 0 ? rc_buf_addch(&b, '-') : 0;
	if (err < 0) {
		;
	} else if (exp10 >= 16 || exp10 < -4) {
		err = rc_buf_addch(&b, digits[0]);
		if (!err && nd > 1)
			err = rc_buf_addf(&b, ".%.*s", (int)nd - 1, digits + 1);
		if (!err)
			err = rc_buf_addf(&b, "e%c%02d", exp10 < 0 ? '-' : '+',
					  (int)(exp10 < 0 ? -exp10 : exp10));
	} else if (exp10 >= 0) {
		size_t intd = (size_t)exp10 + 1;
		for (size_t i = 0; !err && i < intd; i++)
			err = rc_buf_addch(&b, i < nd ? digits[i] : '0');
		if (!err)
			err = nd > intd ? rc_buf_addf(&b, ".%.*s", (int)(nd - intd), digits + intd)
					: rc_buf_adds(&b, ".0");
	} else {
		err = rc_buf_adds(&b, "0.");
		for (int64_t i = 0; !err && i < -exp10 - 1; i++)
			err = rc_buf_addch(&b, '0');
		if (!err)
			err = rc_buf_add(&b, digits, nd);
	}
	if (!err)
		err = rc_buf_add(out, b.ptr, b.len);
	rc_buf_release(&b);
	return err;
}

int rc_node_pystr(rc_buf *out, const rc_node *n)
{
	if (!n)
		return RC_EINVALID;
	switch (n->type) {
	case RC_NODE_NULL:
		return rc_buf_adds(out, "None");
	case RC_NODE_BOOL:
		return rc_buf_adds(out, n->v.b ? "True" : "False");
	case RC_NODE_INT:
		return rc_buf_addf(out, "%" PRId64, n->v.i);
	case RC_NODE_FLOAT:
		return rc_pyfloat_repr(out, n->v.f);
	case RC_NODE_STR:
		return rc_buf_add(out, n->text, n->len);
	case RC_NODE_SEQ:
	case RC_NODE_MAP:
		break;
	}
	return RC_EINVALID;
}
