#ifndef RC_TEMPLATE_INT_H
#define RC_TEMPLATE_INT_H
/*
 * Inside the template engine, bottom up: budget.c (the arena, the step
 * and memory budget, runtime errors), value.c (values, their operations
 * and methods), filter.c (filters and tests), lex.c (the lexer), parse.c (the parser),
 * template.c (rendering and the API). Not for use outside these files.
 */
#include "base/compat.h"
#include "base/buf.h"
#include "base/error.h"
#include "template/template.h"

/*
 * Arena: every node and value of a render lives here and goes at once at
 * the end (lists may hold themselves, so nothing is freed one by one).
 * Allocation never fails; going past `limit` sets `over`, which the
 * renderer checks at every step, so a render cannot eat memory.
 */
typedef struct tpl_chunk tpl_chunk;
typedef struct tpl_arena {
	tpl_chunk *chunks;
	char *cur;
	size_t left;
	size_t used, limit;
	bool over;
} tpl_arena;

void *tpl_alloc(tpl_arena *a, size_t n);        /* zeroed */
void *tpl_alloc_raw(tpl_arena *a, size_t n);    /* not zeroed */
void tpl_arena_release(tpl_arena *a);

/* Values. */
typedef enum {
	TV_UNDEF, TV_NONE, TV_BOOL, TV_INT, TV_FLOAT, TV_STR, TV_LIST, TV_DICT, TV_LOOP
} tv_type;

/* What a TV_LIST is to Python: a list, a tuple or one of dict's views. */
typedef enum { TL_LIST, TL_TUPLE, TL_ITEMS, TL_KEYS, TL_VALUES } tl_kind;

typedef struct tv_list tv_list;
typedef struct tv_dict tv_dict;
typedef struct tv_loop tv_loop;

typedef struct tval {
	uint8_t type;       /* tv_type */
	uint8_t kind;       /* TV_LIST: tl_kind */
	size_t len;         /* TV_STR: bytes */
	union {
		bool b;
		int64_t i;
		double f;
		const char *s;      /* TV_STR, not NUL-terminated */
		tv_list *l;
		tv_dict *d;
		tv_loop *loop;
		const char *hint;   /* TV_UNDEF: the message when it is used, NUL-terminated */
	} u;
} tval;

struct tv_list {
	tval *items;
	size_t n, alloc;
};

struct tv_dict {
	tval *keys, *vals;
	size_t n, alloc;
	uint32_t *slots;    /* open addressing, index + 1; 0 is empty */
	size_t nslots;
};

/* Jinja2's `loop`: one object per loop, updated each iteration (as Jinja2's LoopContext). */
struct tv_loop {
	tv_list *seq;
	size_t i;
	tval prev;
};

/* Syntax tree. */
typedef enum {
	N_CONST, N_NAME, N_GETATTR, N_GETITEM, N_CALL, N_KWARG, N_FILTER, N_TEST,
	N_BINOP, N_NEG, N_POS, N_NOT, N_AND, N_OR, N_COMPARE, N_OPERAND, N_COND,
	N_LIST, N_TUPLE, N_DICT,
	S_DATA, S_PRINT, S_SET, S_SETBLOCK, S_IF, S_FOR, S_WITH, S_INCLUDE, S_BODY
} tnode_kind;

enum {
	OP_ADD, OP_SUB, OP_MUL, OP_DIV, OP_FLOORDIV, OP_MOD, OP_POW, OP_CONCAT,
	OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE, OP_IN, OP_NOTIN
};

enum {
	F_DEFAULT, F_LENGTH, F_JOIN, F_LOWER, F_UPPER, F_INT, F_STRING, F_REPLACE, F_TRIM
};

enum {
	T_DEFINED, T_UNDEFINED, T_NONE, T_NUMBER, T_STRING, T_MAPPING, T_ITERABLE,
	T_SEQUENCE, T_EVEN, T_ODD
};

#define TN_NEGATED 1          /* N_TEST: `is not` */
#define TN_IGNORE_MISSING 1   /* S_INCLUDE */
#define TN_WITHOUT_CONTEXT 2  /* S_INCLUDE */

/*
 * Node fields by kind:
 *   N_CONST val; N_NAME name; N_GETATTR a.name; N_GETITEM a[b];
 *   N_CALL a(kids), keyword arguments are N_KWARG name=a;
 *   N_FILTER a|name(kids), op = F_*; N_TEST a is name, op = T_*;
 *   N_BINOP a op b; N_NEG/N_POS/N_NOT a; N_AND/N_OR a b;
 *   N_COMPARE kids[0] then N_OPERAND kids (op, a); N_COND b if a else c;
 *   N_LIST/N_TUPLE kids; N_DICT kids = key, value, key, value...
 *   S_DATA name (the text); S_PRINT a; S_SET a = b; S_SETBLOCK a, kids;
 *   S_IF a, kids, b (S_IF of an elif or S_BODY of else, or NULL);
 *   S_FOR a in b, kids, c (S_BODY of else, or NULL);
 *   S_WITH a (its kids are S_SETs), kids; S_INCLUDE a, flags; S_BODY kids.
 */
typedef struct tnode tnode;
struct tnode {
	uint8_t kind;
	uint8_t op;
	uint8_t flags;
	uint32_t height;    /* of the subtree: bounds the renderer's recursion */
	int line, col;
	tnode *a, *b, *c;
	tnode **kids;
	size_t nkids;
	const char *name;
	size_t nlen;
	tval val;
	/*
	 * The message of the undefined value this node last gave (a
	 * missing name, a missing attribute of an object of type
	 * `hint_type`): kept, so that a loop does not allocate it anew.
	 */
	const char *hint;
	const char *hint_type;
};

/* Parsing (template_parse.c). */
typedef struct tpl_parse_opts {
	tpl_arena *arena;
	rc_diags *diags;
	const char *file;
	size_t max_depth;
} tpl_parse_opts;

/*
 * Parse `len` bytes of `text` (already newline-normalized, trailing
 * newline dropped, valid UTF-8) into an S_BODY. The nodes point into
 * `text`, which must outlive them. NULL after errors, all in diags.
 */

/* Tokens (lex.c), read by the parser (parse.c). */
enum {
	TK_EOF, TK_DATA, TK_VAR_BEGIN, TK_VAR_END, TK_BLOCK_BEGIN, TK_BLOCK_END,
	TK_NAME, TK_INT, TK_FLOAT, TK_STRING, TK_OP,
	TK_ERROR    /* the rest of a tag the lexer could not read (error reported) */
};

typedef struct tok {
	uint8_t type;
	int line, col;
	const char *p;      /* source text of the token (DATA: the text, after stripping) */
	size_t n;
	tval v;             /* INT, FLOAT, STRING */
} tok;

typedef struct lexer {
	const char *s;
	size_t n;
	size_t cpos;        /* position cursor, for line and column */
	int cline, ccol;
	tok *toks;
	size_t ntoks, alloc, max_toks;
	const tpl_parse_opts *o;
	size_t errors;
	size_t err_pos;     /* where the last error in a tag was */
	bool fatal;         /* cannot go on: the rest is not lexed */
} lexer;
/* Split lx->s into lx->toks; false when it cannot go on (errors reported). */
bool tpl_lex(lexer *lx);

tnode *tpl_parse(const char *text, size_t len, const tpl_parse_opts *o);

int tpl_filter_id(const char *name, size_t n);   /* F_* or -1 */
int tpl_test_id(const char *name, size_t n);     /* T_* or -1 */

/* Rendering state (template.c). */
typedef struct tpl_state {
	tpl_arena arena;
	rc_diags *diags;
	const rc_template_opts *opts;
	const char *file;             /* display name of the file being rendered */
	size_t max_output, max_include, max_depth, max_iterations;
	size_t max_steps, max_str, max_items;
	size_t iterations, steps, depth, include_depth;
	rc_buf *out;
	size_t out_start;
	bool failed;
} tpl_state;

/* Report a runtime error at `at` (in st->file); returns -1. */
int tpl_err(tpl_state *st, const tnode *at, const char *fmt, ...) RC_PRINTF(3, 4);
/* -1 (error reported) when the render is past its step budget or its memory limit. */
int tpl_check_budget(tpl_state *st, const tnode *at);
/* Count `n` units of work; -1 (error reported) past the budget or the memory limit. */
int tpl_charge(tpl_state *st, const tnode *at, size_t n);

/* -1 (error reported) when `bytes` more would take the render past its memory limit. */
int tpl_reserve(tpl_state *st, const tnode *at, size_t bytes);

/* Values (template_value.c). */
tval tv_undef(const char *hint);
tval tv_none(void);
tval tv_bool(bool b);
tval tv_int(int64_t i);
tval tv_float(double f);
tval tv_str(const char *s, size_t n);
tval tv_str_copy(tpl_state *st, const char *s, size_t n);
tval tv_list_new(tpl_state *st, tl_kind kind, size_t cap);
int tv_list_push(tpl_state *st, const tnode *at, tv_list *l, tval v);
tval tv_dict_new(tpl_state *st);
int tv_dict_set(tpl_state *st, const tnode *at, tv_dict *d, tval k, tval v);
/* 1 found, 0 not, -1 error (unhashable key). */
int tv_dict_get(tpl_state *st, const tnode *at, const tv_dict *d, tval k, tval *out);

const char *tv_type_name(tval v);
bool tv_truthy(tval v);
/* A message for an undefined value, in the arena. */
char *tpl_alloc_hint(tpl_state *st, const char *fmt, ...) RC_PRINTF(2, 3);
/* Whether `name` is a Python method of v's type (str, list, dict...). */
bool tv_is_method(tval v, const char *name, size_t n);
/* Python's str.strip(chars); chars NULL: whitespace. */
tval tv_strip(tval s, const tval *chars);
/* Error for using undefined `v` (its hint) at `at`; returns -1. */
int tv_undef_error(tpl_state *st, const tnode *at, tval v);

/* Python str() and repr(), appended to `b`; -1 with an error past st->max_str or too deep. */
int tv_append_str(tpl_state *st, const tnode *at, rc_buf *b, tval v);
int tv_append_repr(tpl_state *st, const tnode *at, rc_buf *b, tval v);
/* repr(v) cut to fit `size` bytes ("..." at the end when cut), for messages. */
int tv_repr_short(tpl_state *st, const tnode *at, tval v, char *out, size_t size);
/* str(v) as a string value (strings are returned as they are). */
int tv_to_str(tpl_state *st, const tnode *at, tval v, tval *out);
/* A new string holding `b`'s bytes; `b` is released. */
tval tv_from_buf(tpl_state *st, rc_buf *b);
void tv_buf_init(tpl_state *st, rc_buf *b);
int tv_buf_error(tpl_state *st, const tnode *at);

/* Python repr() of a double (shortest round trip). */
void tv_float_repr(char out[40], double f);

int tv_binop(tpl_state *st, const tnode *at, int op, tval a, tval b, tval *out);
/* == and friends, `in`: result in *out. */
int tv_compare(tpl_state *st, const tnode *at, int op, tval a, tval b, bool *out);
int tv_neg(tpl_state *st, const tnode *at, tval a, bool plus, tval *out);
int tv_getattr(tpl_state *st, const tnode *at, tval obj, const char *name, size_t n, tval *out);
int tv_getitem(tpl_state *st, const tnode *at, tval obj, tval key, tval *out);
/*
 * Iterate: the items of `v` as a list (a list is returned as it is, so that
 * an append in the loop is seen, as in Python); undefined gives nothing.
 */
int tv_iterate(tpl_state *st, const tnode *at, tval v, tv_list **out);

/* `args` are evaluated: kw[i] is the keyword name (NULL for positional). */
#define TV_ARGS_INLINE 4
typedef struct tv_args {
	tval *v;
	const char **kw;
	size_t *kwlen;
	size_t n;
	/* storage for a few, so that a call in a loop does not allocate */
	tval v_[TV_ARGS_INLINE];
	const char *kw_[TV_ARGS_INLINE];
	size_t kwlen_[TV_ARGS_INLINE];
} tv_args;

int tv_filter(tpl_state *st, const tnode *at, int id, tval v, const tv_args *args, tval *out);
int tv_test(tpl_state *st, const tnode *at, int id, tval v, bool *out);
int tv_method(tpl_state *st, const tnode *at, tval obj, const char *name, size_t n,
	      const tv_args *args, tval *out);
int tv_range(tpl_state *st, const tnode *at, const tv_args *args, tval *out);

/* floor(), trunc(), copysign(), fmod() without libm; x**e by squaring. */
double tpl_floor(double x);
double tpl_trunc(double x);
double tpl_copysign(double x, double sign);
double tpl_fmod(double x, double y);
double tpl_powi(double x, int64_t e);

/* UTF-8 and Python whitespace helpers. */
size_t tpl_utf8_len(const char *s, size_t n, uint32_t *cp);   /* bytes of the char at s (>= 1) */
size_t tpl_space_at(const char *s, size_t n);                 /* bytes of the whitespace char at s, 0 if none */
size_t tpl_space_before(const char *s, size_t n);             /* bytes of the whitespace char ending at s+n, 0 if none */
bool tpl_utf8_valid(const char *s, size_t n, size_t *bad);

#endif
