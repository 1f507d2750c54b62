#include "base/compat.h"
#include "template/internal.h"
#include "base/util.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/banned.h"

/*
 * The parser, after Jinja2's parser.py: the same precedence, so that a
 * template means here what it meant to Maestro-NG. It reads the tokens of
 * lex.c.
 */

/* ---- parser ---- */

typedef struct parser {
	const tpl_parse_opts *o;
	tok *t;
	size_t n, pos;
	size_t depth;
	bool fatal;
	size_t errors;
} parser;

static void perr(parser *p, const tok *t, const char *fmt, ...) RC_PRINTF(3, 4);
static void perr(parser *p, const tok *t, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	rc_diags_add(p->o->diags, RC_DIAG_ERROR, p->o->file, t->line, t->col, "%s", msg);
	p->errors++;
}

static tok *cur(parser *p)
{
	return &p->t[p->pos];
}

static tok *peek(parser *p, size_t k)
{
	return p->pos + k < p->n ? &p->t[p->pos + k] : &p->t[p->n - 1];
}

static void next(parser *p)
{
	if (p->t[p->pos].type != TK_EOF)
		p->pos++;
}

static bool is_op(const tok *t, const char *op)
{
	return t->type == TK_OP && t->n == strlen(op) && !memcmp(t->p, op, t->n);
}

static bool is_name(const tok *t, const char *name)
{
	return t->type == TK_NAME && t->n == strlen(name) && !memcmp(t->p, name, t->n);
}

/* "'x'" or "end of print statement", for "expected ..., got ..." */
static void describe(const tok *t, char *buf, size_t size)
{
	switch (t->type) {
	case TK_EOF: snprintf(buf, size, "end of template"); break;
	case TK_DATA: snprintf(buf, size, "template data"); break;
	case TK_VAR_BEGIN: snprintf(buf, size, "begin of print statement"); break;
	case TK_VAR_END: snprintf(buf, size, "end of print statement"); break;
	case TK_BLOCK_BEGIN: snprintf(buf, size, "begin of statement block"); break;
	case TK_BLOCK_END: snprintf(buf, size, "end of statement block"); break;
	case TK_STRING: snprintf(buf, size, "string"); break;
	case TK_INT: snprintf(buf, size, "integer"); break;
	case TK_FLOAT: snprintf(buf, size, "float"); break;
	default: snprintf(buf, size, "'%.*s'", (int)(t->n > 64 ? 64 : t->n), t->p); break;
	}
}

static void unexpected(parser *p, const char *expected)
{
	char got[100];
	if (cur(p)->type == TK_ERROR) {
		p->errors++;   /* the lexer has said what is wrong */
		return;
	}
	describe(cur(p), got, sizeof(got));
	if (expected)
		perr(p, cur(p), "expected %s, got %s", expected, got);
	else
		perr(p, cur(p), "unexpected %s", got);
}

static bool expect_op(parser *p, const char *op)
{
	char want[16];
	if (is_op(cur(p), op)) {
		next(p);
		return true;
	}
	snprintf(want, sizeof(want), "'%s'", op);
	unexpected(p, want);
	return false;
}

static bool expect_end(parser *p, int type)
{
	if (cur(p)->type == type) {
		next(p);
		return true;
	}
	unexpected(p, type == TK_BLOCK_END ? "end of statement block" : "end of print statement");
	return false;
}

/* After an error in a tag: go past its end, so that parsing resumes after it. */
static void skip_tag(parser *p)
{
	for (;;) {
		int ty = cur(p)->type;
		if (ty == TK_EOF || ty == TK_DATA || ty == TK_VAR_BEGIN || ty == TK_BLOCK_BEGIN)
			return;
		next(p);
		if (ty == TK_VAR_END || ty == TK_BLOCK_END)
			return;
	}
}

static bool enter(parser *p)
{
	if (p->fatal)
		return false;
	if (++p->depth > p->o->max_depth) {
		perr(p, cur(p), "nested too deeply (more than %zu levels)", p->o->max_depth);
		p->fatal = true;
		return false;
	}
	return true;
}

static void leave(parser *p)
{
	p->depth--;
}

static tnode *mk(parser *p, int kind, const tok *at)
{
	tnode *n = tpl_alloc(p->o->arena, sizeof(*n));
	n->kind = (uint8_t)kind;
	n->line = at->line;
	n->col = at->col;
	return n;
}

/* A node's children are in: check the height of the tree, which bounds the renderer's recursion. */
static tnode *done(parser *p, tnode *n)
{
	uint32_t h = 0;
	const tnode *c[3] = { n->a, n->b, n->c };

	for (int i = 0; i < 3; i++)
		if (c[i] && c[i]->height > h)
			h = c[i]->height;
	for (size_t i = 0; i < n->nkids; i++)
		if (n->kids[i] && n->kids[i]->height > h)
			h = n->kids[i]->height;
	n->height = h + 1;
	if (n->height > p->o->max_depth && !p->fatal) {
		perr(p, &(tok){ .line = n->line, .col = n->col }, "nested too deeply (more than %zu levels)",
		     p->o->max_depth);
		p->fatal = true;
		return NULL;
	}
	return n;
}

typedef struct kids {
	tnode **v;
	size_t n, alloc;
} kids;

static void kid_push(parser *p, kids *k, tnode *n)
{
	if (k->n == k->alloc) {
		size_t na = k->alloc ? k->alloc * 2 : 4;
		tnode **v = tpl_alloc_raw(p->o->arena, na * sizeof(*v));
		if (k->n)
			memcpy(v, k->v, k->n * sizeof(*v));
		k->v = v;
		k->alloc = na;
	}
	k->v[k->n++] = n;
}

static void set_kids(tnode *n, const kids *k)
{
	n->kids = k->v;
	n->nkids = k->n;
}

static tnode *parse_expression(parser *p, bool with_condexpr);
static tnode *parse_tuple(parser *p, bool with_condexpr, const char *extra_end, bool explicit_parens);
static tnode *parse_unary(parser *p, bool with_filter);

static tnode *parse_list(parser *p)
{
	tnode *n = mk(p, N_LIST, cur(p));
	kids k = { 0 };

	next(p);
	while (!is_op(cur(p), "]")) {
		tnode *e;
		if (k.n && !expect_op(p, ","))
			return NULL;
		if (is_op(cur(p), "]"))
			break;
		if (!(e = parse_expression(p, true)))
			return NULL;
		kid_push(p, &k, e);
	}
	next(p);
	set_kids(n, &k);
	return done(p, n);
}

static tnode *parse_dict(parser *p)
{
	tnode *n = mk(p, N_DICT, cur(p));
	kids k = { 0 };

	next(p);
	while (!is_op(cur(p), "}")) {
		tnode *key, *val;
		if (k.n && !expect_op(p, ","))
			return NULL;
		if (is_op(cur(p), "}"))
			break;
		if (!(key = parse_expression(p, true)) || !expect_op(p, ":") ||
		    !(val = parse_expression(p, true)))
			return NULL;
		kid_push(p, &k, key);
		kid_push(p, &k, val);
	}
	next(p);
	set_kids(n, &k);
	return done(p, n);
}

static tnode *parse_primary(parser *p)
{
	tok *t = cur(p);
	tnode *n;

	if (t->type == TK_NAME) {
		n = mk(p, N_CONST, t);
		if (is_name(t, "true") || is_name(t, "True")) {
			n->val = tv_bool(true);
		} else if (is_name(t, "false") || is_name(t, "False")) {
			n->val = tv_bool(false);
		} else if (is_name(t, "none") || is_name(t, "None")) {
			n->val = tv_none();
		} else {
			n->kind = N_NAME;
			n->name = t->p;
			n->nlen = t->n;
		}
		next(p);
		return done(p, n);
	}
	if (t->type == TK_STRING) {
		/* adjacent literals are one string, as in Python */
		n = mk(p, N_CONST, t);
		n->val = t->v;
		next(p);
		while (cur(p)->type == TK_STRING) {
			tval a = n->val, b = cur(p)->v;
			char *s = tpl_alloc_raw(p->o->arena, a.len + b.len + 1);
			if (a.len)
				memcpy(s, a.u.s, a.len);
			if (b.len)
				memcpy(s + a.len, b.u.s, b.len);
			s[a.len + b.len] = '\0';
			n->val = tv_str(s, a.len + b.len);
			next(p);
		}
		return n;
	}
	if (t->type == TK_INT || t->type == TK_FLOAT) {
		n = mk(p, N_CONST, t);
		n->val = t->v;
		next(p);
		return n;
	}
	if (is_op(t, "(")) {
		next(p);
		if (!(n = parse_tuple(p, true, NULL, true)) || !expect_op(p, ")"))
			return NULL;
		return n;
	}
	if (is_op(t, "["))
		return parse_list(p);
	if (is_op(t, "{"))
		return parse_dict(p);
	unexpected(p, NULL);
	return NULL;
}

/* `(args)` of a call or a filter into `n`'s kids */
static bool parse_args(parser *p, tnode *n)
{
	kids k = { 0 };
	bool kw = false;

	next(p);
	while (!is_op(cur(p), ")")) {
		tnode *e;
		if (k.n && !expect_op(p, ","))
			return false;
		if (is_op(cur(p), ")"))
			break;
		if (is_op(cur(p), "*") || is_op(cur(p), "**")) {
			perr(p, cur(p), "'*' and '**' arguments are not supported");
			return false;
		}
		if (cur(p)->type == TK_NAME && is_op(peek(p, 1), "=")) {
			tnode *a = mk(p, N_KWARG, cur(p));
			a->name = cur(p)->p;
			a->nlen = cur(p)->n;
			next(p);
			next(p);
			if (!(a->a = parse_expression(p, true)) || !done(p, a))
				return false;
			kw = true;
			e = a;
		} else {
			if (kw) {
				perr(p, cur(p), "positional argument follows keyword argument");
				return false;
			}
			if (!(e = parse_expression(p, true)))
				return false;
		}
		kid_push(p, &k, e);
	}
	next(p);
	set_kids(n, &k);
	return true;
}

static tnode *parse_postfix(parser *p, tnode *n)
{
	for (;;) {
		tok *t = cur(p);
		if (is_op(t, ".")) {
			tok *a = peek(p, 1);
			tnode *g;
			next(p);
			if (a->type == TK_NAME) {
				g = mk(p, N_GETATTR, a);
				g->a = n;
				g->name = a->p;
				g->nlen = a->n;
			} else if (a->type == TK_INT) {
				g = mk(p, N_GETITEM, a);
				g->a = n;
				g->b = mk(p, N_CONST, a);
				g->b->val = a->v;
			} else {
				unexpected(p, "name or number");
				return NULL;
			}
			next(p);
			if (!(n = done(p, g)))
				return NULL;
		} else if (is_op(t, "[")) {
			tnode *g = mk(p, N_GETITEM, t);
			kids k = { 0 };
			next(p);
			g->a = n;
			while (!is_op(cur(p), "]")) {
				tnode *e;
				if (k.n && !expect_op(p, ","))
					return NULL;
				if (is_op(cur(p), "]"))
					break;
				if (is_op(cur(p), ":")) {
					perr(p, cur(p), "slices are not supported");
					return NULL;
				}
				if (!(e = parse_expression(p, true)))
					return NULL;
				if (is_op(cur(p), ":")) {
					perr(p, cur(p), "slices are not supported");
					return NULL;
				}
				kid_push(p, &k, e);
			}
			if (!k.n) {
				unexpected(p, "an expression");
				return NULL;
			}
			next(p);
			if (k.n == 1 && !is_op(&p->t[p->pos - 2], ",")) {
				g->b = k.v[0];
			} else {
				g->b = mk(p, N_TUPLE, t);
				set_kids(g->b, &k);
				if (!done(p, g->b))
					return NULL;
			}
			if (!(n = done(p, g)))
				return NULL;
		} else if (is_op(t, "(")) {
			tnode *c = mk(p, N_CALL, t);
			c->a = n;
			if (!parse_args(p, c) || !(n = done(p, c)))
				return NULL;
		} else {
			return n;
		}
	}
}

static tnode *parse_filter_expr(parser *p, tnode *n)
{
	for (;;) {
		tok *t = cur(p);
		if (is_op(t, "|")) {
			tok *name = peek(p, 1);
			tnode *f;
			next(p);
			if (name->type != TK_NAME) {
				unexpected(p, "a filter name");
				return NULL;
			}
			f = mk(p, N_FILTER, name);
			f->a = n;
			f->name = name->p;
			f->nlen = name->n;
			next(p);
			if (is_op(cur(p), ".")) {
				perr(p, name, "unknown filter '%.*s.%.*s'", (int)name->n, name->p,
				     (int)peek(p, 1)->n, peek(p, 1)->p);
				return NULL;
			}
			{
				int id = tpl_filter_id(name->p, name->n);
				if (id < 0) {
					perr(p, name, "unknown filter '%.*s'", (int)name->n, name->p);
					return NULL;
				}
				f->op = (uint8_t)id;
			}
			if (is_op(cur(p), "(") && !parse_args(p, f))
				return NULL;
			if (!(n = done(p, f)))
				return NULL;
		} else if (is_name(t, "is")) {
			tnode *f = mk(p, N_TEST, t);
			tok *name;
			int id;
			next(p);
			if (is_name(cur(p), "not")) {
				f->flags = TN_NEGATED;
				next(p);
			}
			name = cur(p);
			if (name->type != TK_NAME) {
				unexpected(p, "a test name");
				return NULL;
			}
			id = tpl_test_id(name->p, name->n);
			if (id < 0) {
				perr(p, name, "unknown test '%.*s'", (int)name->n, name->p);
				return NULL;
			}
			f->op = (uint8_t)id;
			f->a = n;
			f->name = name->p;
			f->nlen = name->n;
			next(p);
			if (is_op(cur(p), "(")) {
				perr(p, cur(p), "test '%.*s' takes no arguments", (int)name->n, name->p);
				return NULL;
			}
			if (!(n = done(p, f)))
				return NULL;
		} else {
			return n;
		}
	}
}

static tnode *parse_unary(parser *p, bool with_filter)
{
	tok *t = cur(p);
	tnode *n;

	if (!enter(p))
		return NULL;
	if (is_op(t, "-") || is_op(t, "+")) {
		n = mk(p, is_op(t, "-") ? N_NEG : N_POS, t);
		next(p);
		if (!(n->a = parse_unary(p, false)) || !done(p, n))
			n = NULL;
	} else {
		n = parse_primary(p);
	}
	if (n)
		n = parse_postfix(p, n);
	if (n && with_filter)
		n = parse_filter_expr(p, n);
	leave(p);
	return n;
}

static tnode *binop(parser *p, tok *at, int kind, int op, tnode *a, tnode *b)
{
	tnode *n = mk(p, kind, at);
	n->op = (uint8_t)op;
	n->a = a;
	n->b = b;
	return done(p, n);
}

static tnode *parse_pow(parser *p)
{
	tnode *a = parse_unary(p, true);
	while (a && is_op(cur(p), "**")) {
		tok *t = cur(p);
		tnode *b;
		next(p);
		if (!(b = parse_unary(p, true)))
			return NULL;
		a = binop(p, t, N_BINOP, OP_POW, a, b);
	}
	return a;
}

static tnode *parse_math2(parser *p)
{
	tnode *a = parse_pow(p);
	for (;;) {
		tok *t = cur(p);
		int op;
		tnode *b;
		if (!a)
			return NULL;
		if (is_op(t, "*"))
			op = OP_MUL;
		else if (is_op(t, "/"))
			op = OP_DIV;
		else if (is_op(t, "//"))
			op = OP_FLOORDIV;
		else if (is_op(t, "%"))
			op = OP_MOD;
		else
			return a;
		next(p);
		if (!(b = parse_pow(p)))
			return NULL;
		a = binop(p, t, N_BINOP, op, a, b);
	}
}

static tnode *parse_concat(parser *p)
{
	tnode *a = parse_math2(p);
	while (a && is_op(cur(p), "~")) {
		tok *t = cur(p);
		tnode *b;
		next(p);
		if (!(b = parse_math2(p)))
			return NULL;
		a = binop(p, t, N_BINOP, OP_CONCAT, a, b);
	}
	return a;
}

static tnode *parse_math1(parser *p)
{
	tnode *a = parse_concat(p);
	for (;;) {
		tok *t = cur(p);
		tnode *b;
		int op;
		if (!a)
			return NULL;
		if (is_op(t, "+"))
			op = OP_ADD;
		else if (is_op(t, "-"))
			op = OP_SUB;
		else
			return a;
		next(p);
		if (!(b = parse_concat(p)))
			return NULL;
		a = binop(p, t, N_BINOP, op, a, b);
	}
}

static tnode *parse_compare(parser *p)
{
	tok *start = cur(p);
	tnode *first = parse_math1(p), *n = NULL;
	kids k = { 0 };

	if (!first)
		return NULL;
	for (;;) {
		tok *t = cur(p);
		int op;
		tnode *o;
		if (is_op(t, "=="))
			op = OP_EQ;
		else if (is_op(t, "!="))
			op = OP_NE;
		else if (is_op(t, "<"))
			op = OP_LT;
		else if (is_op(t, "<="))
			op = OP_LE;
		else if (is_op(t, ">"))
			op = OP_GT;
		else if (is_op(t, ">="))
			op = OP_GE;
		else if (is_name(t, "in"))
			op = OP_IN;
		else if (is_name(t, "not") && is_name(peek(p, 1), "in"))
			op = OP_NOTIN;
		else
			break;
		next(p);
		if (op == OP_NOTIN)
			next(p);
		o = mk(p, N_OPERAND, t);
		o->op = (uint8_t)op;
		if (!(o->a = parse_math1(p)) || !done(p, o))
			return NULL;
		if (!k.n)
			kid_push(p, &k, first);
		kid_push(p, &k, o);
	}
	if (!k.n)
		return first;
	n = mk(p, N_COMPARE, start);
	set_kids(n, &k);
	return done(p, n);
}

static tnode *parse_not(parser *p)
{
	tnode *n;

	if (!is_name(cur(p), "not"))
		return parse_compare(p);
	if (!enter(p))
		return NULL;
	n = mk(p, N_NOT, cur(p));
	next(p);
	if (!(n->a = parse_not(p)) || !done(p, n))
		n = NULL;
	leave(p);
	return n;
}

static tnode *parse_and(parser *p)
{
	tnode *a = parse_not(p);
	while (a && is_name(cur(p), "and")) {
		tok *t = cur(p);
		tnode *b;
		next(p);
		if (!(b = parse_not(p)))
			return NULL;
		a = binop(p, t, N_AND, 0, a, b);
	}
	return a;
}

static tnode *parse_or(parser *p)
{
	tnode *a = parse_and(p);
	while (a && is_name(cur(p), "or")) {
		tok *t = cur(p);
		tnode *b;
		next(p);
		if (!(b = parse_and(p)))
			return NULL;
		a = binop(p, t, N_OR, 0, a, b);
	}
	return a;
}

static tnode *parse_condexpr(parser *p)
{
	tnode *a = parse_or(p);

	while (a && is_name(cur(p), "if")) {
		tnode *c = mk(p, N_COND, cur(p));
		next(p);
		c->b = a;
		if (!(c->a = parse_or(p)))
			return NULL;
		if (is_name(cur(p), "else")) {
			next(p);
			/* "a if b else c if d else ..." recurses here */
			if (!enter(p))
				return NULL;
			c->c = parse_condexpr(p);
			leave(p);
			if (!c->c)
				return NULL;
		}
		a = done(p, c);
	}
	return a;
}

static tnode *parse_expression(parser *p, bool with_condexpr)
{
	return with_condexpr ? parse_condexpr(p) : parse_or(p);
}

static bool tuple_end(parser *p, const char *extra_end)
{
	tok *t = cur(p);
	return t->type == TK_VAR_END || t->type == TK_BLOCK_END || t->type == TK_EOF ||
	       is_op(t, ")") || (extra_end && is_name(t, extra_end));
}

static tnode *parse_tuple(parser *p, bool with_condexpr, const char *extra_end, bool explicit_parens)
{
	tok *start = cur(p);
	kids k = { 0 };
	bool is_tuple = false;
	tnode *n;

	for (;;) {
		tnode *e;
		if (k.n && !expect_op(p, ","))
			return NULL;
		if (tuple_end(p, extra_end))
			break;
		if (!(e = parse_expression(p, with_condexpr)))
			return NULL;
		kid_push(p, &k, e);
		if (is_op(cur(p), ","))
			is_tuple = true;
		else
			break;
	}
	if (!is_tuple) {
		if (k.n)
			return k.v[0];
		if (!explicit_parens) {
			unexpected(p, "an expression");
			return NULL;
		}
	}
	n = mk(p, N_TUPLE, start);
	set_kids(n, &k);
	return done(p, n);
}

/* A name, or names in a tuple (with parentheses, nested): what `set`, `for` and `with` assign. */
static tnode *parse_target(parser *p, bool explicit_parens)
{
	tok *start = cur(p);
	kids k = { 0 };
	bool is_tuple = false;
	tnode *n;

	if (!enter(p))
		return NULL;
	for (;;) {
		tok *t = cur(p);
		tnode *e;
		if (k.n) {
			if (!is_op(t, ","))
				break;
			next(p);
			is_tuple = true;
			t = cur(p);
			if (t->type != TK_NAME && !is_op(t, "("))
				break;
		}
		if (is_op(t, "(")) {
			next(p);
			if (!(e = parse_target(p, true)) || !expect_op(p, ")")) {
				leave(p);
				return NULL;
			}
		} else if (t->type == TK_NAME) {
			if (is_name(t, "true") || is_name(t, "false") || is_name(t, "none") ||
			    is_name(t, "True") || is_name(t, "False") || is_name(t, "None")) {
				perr(p, t, "cannot assign to '%.*s'", (int)t->n, t->p);
				leave(p);
				return NULL;
			}
			e = mk(p, N_NAME, t);
			e->name = t->p;
			e->nlen = t->n;
			next(p);
		} else {
			if (explicit_parens && is_op(t, ")") && !k.n)
				break;
			unexpected(p, "a name to assign to");
			leave(p);
			return NULL;
		}
		kid_push(p, &k, e);
	}
	leave(p);
	if (!is_tuple && k.n == 1)
		return k.v[0];
	n = mk(p, N_TUPLE, start);
	set_kids(n, &k);
	return done(p, n);
}

/* ---- statements ---- */

static tnode *parse_body(parser *p, const char *const *ends, int *which, const char *block,
			 const tok *opened);
static tnode *parse_statement(parser *p, tok *tag);

static bool is_end_tag(const tok *t)
{
	return (t->n > 3 && !memcmp(t->p, "end", 3)) || is_name(t, "else") || is_name(t, "elif");
}

/*
 * The body of a block up to one of its end tags: *which is the index of
 * the end tag found (its name consumed, the rest of its tag not), -1 at
 * the end of the template (reported as an unclosed block).
 */
static tnode *parse_body(parser *p, const char *const *ends, int *which, const char *block,
			 const tok *opened)
{
	tnode *body = mk(p, S_BODY, cur(p));
	kids k = { 0 };

	*which = -1;
	if (!enter(p))
		return NULL;
	while (!p->fatal) {
		tok *t = cur(p);
		tnode *s = NULL;
		if (p->o->arena->over) {
			perr(p, t, "template too large");
			p->fatal = true;
			break;
		}
		if (t->type == TK_EOF) {
			if (block)
				perr(p, t, "unclosed '%s' block opened at line %d", block, opened->line);
			break;
		}
		if (t->type == TK_DATA) {
			s = mk(p, S_DATA, t);
			s->name = t->p;
			s->nlen = t->n;
			next(p);
			kid_push(p, &k, s);
			continue;
		}
		if (t->type == TK_VAR_BEGIN) {
			next(p);
			s = mk(p, S_PRINT, t);
			if (!(s->a = parse_tuple(p, true, NULL, false)) || !expect_end(p, TK_VAR_END) ||
			    !done(p, s)) {
				skip_tag(p);
				continue;
			}
			kid_push(p, &k, s);
			continue;
		}
		if (t->type != TK_BLOCK_BEGIN) {
			unexpected(p, NULL);
			skip_tag(p);
			continue;
		}
		next(p);
		t = cur(p);
		if (t->type != TK_NAME) {
			unexpected(p, "a tag name");
			skip_tag(p);
			continue;
		}
		for (int i = 0; ends && ends[i]; i++)
			if (is_name(t, ends[i])) {
				*which = i;
				next(p);
				goto out;
			}
		if (is_end_tag(t)) {
			if (block)
				perr(p, t, "unexpected '%.*s' in '%s' block opened at line %d", (int)t->n, t->p,
				     block, opened->line);
			else
				perr(p, t, "unexpected '%.*s' (no block is open)", (int)t->n, t->p);
			skip_tag(p);
			continue;
		}
		s = parse_statement(p, t);
		if (s)
			kid_push(p, &k, s);
	}
out:
	leave(p);
	set_kids(body, &k);
	return done(p, body);
}

static bool expect_name(parser *p, const char *name)
{
	char want[32];
	if (is_name(cur(p), name)) {
		next(p);
		return true;
	}
	snprintf(want, sizeof(want), "'%s'", name);
	unexpected(p, want);
	return false;
}

/* After an end tag's name: the rest of its tag. */
static void end_tag(parser *p)
{
	if (!expect_end(p, TK_BLOCK_END))
		skip_tag(p);
}

static tnode *parse_set(parser *p, tok *tag)
{
	static const char *const ends[] = { "endset", NULL };
	tnode *n = mk(p, S_SET, tag), *body;
	int which;

	next(p);
	if (!(n->a = parse_target(p, false))) {
		skip_tag(p);
		return NULL;
	}
	if (is_op(cur(p), "=")) {
		next(p);
		if (!(n->b = parse_tuple(p, true, NULL, false)) || !expect_end(p, TK_BLOCK_END)) {
			skip_tag(p);
			return NULL;
		}
		return done(p, n);
	}
	if (cur(p)->type != TK_BLOCK_END) {
		unexpected(p, "'='");
		skip_tag(p);
		return NULL;
	}
	next(p);
	n->kind = S_SETBLOCK;
	if (n->a->kind != N_NAME)
		perr(p, tag, "a block 'set' assigns one name");
	if (!(body = parse_body(p, ends, &which, "set", tag)))
		return NULL;
	set_kids(n, &(kids){ body->kids, body->nkids, body->nkids });
	if (which == 0)
		end_tag(p);
	return done(p, n);
}

static tnode *parse_if(parser *p, tok *tag)
{
	static const char *const ends[] = { "elif", "else", "endif", NULL };
	static const char *const ends_else[] = { "endif", NULL };
	tnode *root = mk(p, S_IF, tag), *n = root, *body;
	kids chain = { 0 };
	int which;

	next(p);
	for (;;) {
		kid_push(p, &chain, n);
		if (!(n->a = parse_tuple(p, false, NULL, false)) || !expect_end(p, TK_BLOCK_END))
			skip_tag(p);
		if (!(body = parse_body(p, ends, &which, "if", tag)))
			return NULL;
		n->kids = body->kids;
		n->nkids = body->nkids;
		if (which == 0) {
			n->b = mk(p, S_IF, &p->t[p->pos - 1]);
			n = n->b;
			continue;
		}
		if (which == 1) {
			end_tag(p);
			if (!(n->b = parse_body(p, ends_else, &which, "if", tag)))
				return NULL;
			if (which == 0)
				end_tag(p);
		} else if (which == 2) {
			end_tag(p);
		}
		break;
	}
	/* innermost first: an elif adds nothing to the height, the renderer walks the chain */
	while (chain.n) {
		tnode *c = chain.v[--chain.n];
		tnode *elif = c->b && c->b->kind == S_IF ? c->b : NULL;
		if (elif)
			c->b = NULL;
		if (!done(p, c))
			return NULL;
		if (elif) {
			c->b = elif;
			if (elif->height > c->height)
				c->height = elif->height;
		}
	}
	return root;
}

static tnode *parse_for(parser *p, tok *tag)
{
	static const char *const ends[] = { "endfor", "else", NULL };
	static const char *const ends_else[] = { "endfor", NULL };
	tnode *n = mk(p, S_FOR, tag), *body;
	int which;

	next(p);
	if (!(n->a = parse_target(p, false)) || !expect_name(p, "in") ||
	    !(n->b = parse_tuple(p, false, "recursive", false))) {
		skip_tag(p);
	} else if (is_name(cur(p), "if")) {
		perr(p, cur(p), "loop filters ('for ... if ...') are not supported");
		skip_tag(p);
	} else if (is_name(cur(p), "recursive")) {
		perr(p, cur(p), "recursive loops are not supported");
		skip_tag(p);
	} else if (!expect_end(p, TK_BLOCK_END)) {
		skip_tag(p);
	}
	if (!(body = parse_body(p, ends, &which, "for", tag)))
		return NULL;
	n->kids = body->kids;
	n->nkids = body->nkids;
	if (which == 1) {
		end_tag(p);
		if (!(n->c = parse_body(p, ends_else, &which, "for", tag)))
			return NULL;
		if (which == 0)
			end_tag(p);
	} else if (which == 0) {
		end_tag(p);
	}
	return done(p, n);
}

static tnode *parse_with(parser *p, tok *tag)
{
	static const char *const ends[] = { "endwith", NULL };
	tnode *n = mk(p, S_WITH, tag), *list = mk(p, N_LIST, tag), *body;
	kids k = { 0 };
	bool ok = true;
	int which;

	next(p);
	while (cur(p)->type != TK_BLOCK_END) {
		tnode *s;
		if (k.n && !expect_op(p, ",")) {
			ok = false;
			break;
		}
		s = mk(p, S_SET, cur(p));
		if (!(s->a = parse_target(p, false)) || !expect_op(p, "=") ||
		    !(s->b = parse_expression(p, true)) || !done(p, s)) {
			ok = false;
			break;
		}
		kid_push(p, &k, s);
	}
	if (ok)
		next(p);
	else
		skip_tag(p);
	set_kids(list, &k);
	n->a = list;
	if (!done(p, list))
		return NULL;
	if (!(body = parse_body(p, ends, &which, "with", tag)))
		return NULL;
	n->kids = body->kids;
	n->nkids = body->nkids;
	if (which == 0)
		end_tag(p);
	return done(p, n);
}

static tnode *parse_include(parser *p, tok *tag)
{
	tnode *n = mk(p, S_INCLUDE, tag);

	next(p);
	if (!(n->a = parse_expression(p, true))) {
		skip_tag(p);
		return NULL;
	}
	for (;;) {
		if (is_name(cur(p), "ignore") && is_name(peek(p, 1), "missing")) {
			n->flags |= TN_IGNORE_MISSING;
		} else if (is_name(cur(p), "with") && is_name(peek(p, 1), "context")) {
			n->flags &= (uint8_t)~TN_WITHOUT_CONTEXT;
		} else if (is_name(cur(p), "without") && is_name(peek(p, 1), "context")) {
			n->flags |= TN_WITHOUT_CONTEXT;
		} else {
			break;
		}
		next(p);
		next(p);
	}
	if (!expect_end(p, TK_BLOCK_END)) {
		skip_tag(p);
		return NULL;
	}
	return done(p, n);
}

static tnode *parse_statement(parser *p, tok *tag)
{
	if (is_name(tag, "set"))
		return parse_set(p, tag);
	if (is_name(tag, "if"))
		return parse_if(p, tag);
	if (is_name(tag, "for"))
		return parse_for(p, tag);
	if (is_name(tag, "with"))
		return parse_with(p, tag);
	if (is_name(tag, "include"))
		return parse_include(p, tag);
	perr(p, tag, "unknown tag '%.*s'", (int)tag->n, tag->p);
	skip_tag(p);
	return NULL;
}

int tpl_filter_id(const char *name, size_t n)
{
	static const struct { const char *name; int id; } f[] = {
		{ "default", F_DEFAULT }, { "d", F_DEFAULT }, { "length", F_LENGTH },
		{ "count", F_LENGTH }, { "join", F_JOIN }, { "lower", F_LOWER }, { "upper", F_UPPER },
		{ "int", F_INT }, { "string", F_STRING }, { "replace", F_REPLACE }, { "trim", F_TRIM },
	};
	for (size_t i = 0; i < RC_ARRAY_SIZE(f); i++)
		if (strlen(f[i].name) == n && !memcmp(f[i].name, name, n))
			return f[i].id;
	return -1;
}

int tpl_test_id(const char *name, size_t n)
{
	static const struct { const char *name; int id; } t[] = {
		{ "defined", T_DEFINED }, { "undefined", T_UNDEFINED }, { "none", T_NONE },
		{ "number", T_NUMBER }, { "string", T_STRING }, { "mapping", T_MAPPING },
		{ "iterable", T_ITERABLE }, { "sequence", T_SEQUENCE }, { "even", T_EVEN },
		{ "odd", T_ODD },
	};
	for (size_t i = 0; i < RC_ARRAY_SIZE(t); i++)
		if (strlen(t[i].name) == n && !memcmp(t[i].name, name, n))
			return t[i].id;
	return -1;
}

tnode *tpl_parse(const char *text, size_t len, const tpl_parse_opts *opts)
{
	lexer lx = { 0 };
	parser p = { 0 };
	tnode *body = NULL;
	rc_diags diags = RC_DIAGS_INIT;
	tpl_parse_opts po = *opts, *o = &po;
	int which;

	/* lexer and parser errors in the order of the text */
	diags.limit = opts->diags->limit;
	po.diags = &diags;

	lx.s = text;
	lx.n = len;
	lx.cline = 1;
	lx.ccol = 1;
	lx.o = o;
	lx.max_toks = o->arena->limit ? o->arena->limit / sizeof(tok) : SIZE_MAX / sizeof(tok);
	if (!tpl_lex(&lx))
		goto done;
	p.o = o;
	p.t = lx.toks;
	p.n = lx.ntoks;
	body = parse_body(&p, NULL, &which, NULL, NULL);
	if (lx.errors || p.errors || p.fatal)
		body = NULL;
done:
	free(lx.toks);
	rc_diags_sort(&diags);
	rc_diags_append(opts->diags, &diags);
	rc_diags_release(&diags);
	return body;
}
