#include "base/compat.h"
#include "template/internal.h"
#include "base/util.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/banned.h"

/*
 * Lexer and parser, after Jinja2's lexer.py and parser.py: the same token
 * rules (including the bracket balancing that lets "}}" close a dict
 * inside "{{ }}") and the same precedence, so that a template means here
 * what it meant to Maestro-NG.
 */

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

static void lx_where(lexer *lx, size_t off, int *line, int *col)
{
	if (off < lx->cpos) {
		/* only for an error about an earlier spot: count again */
		lx->cpos = 0;
		lx->cline = lx->ccol = 1;
	}
	while (lx->cpos < off) {
		unsigned char c = (unsigned char)lx->s[lx->cpos++];
		if (c == '\n') {
			lx->cline++;
			lx->ccol = 1;
		} else if ((c & 0xc0) != 0x80) {
			lx->ccol++;
		}
	}
	*line = lx->cline;
	*col = lx->ccol;
}

static void lx_error(lexer *lx, size_t off, const char *fmt, ...) RC_PRINTF(3, 4);
static void lx_error(lexer *lx, size_t off, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	int line, col;

	if (lx->fatal)
		return;
	lx_where(lx, off, &line, &col);
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	rc_diags_add(lx->o->diags, RC_DIAG_ERROR, lx->o->file, line, col, "%s", msg);
	lx->errors++;
	lx->err_pos = off;
}

static tok *lx_push(lexer *lx, int type, size_t off, size_t n)
{
	tok *t;

	if (lx->ntoks >= lx->max_toks) {
		lx_error(lx, off, "template too large (more than %zu tokens)", lx->max_toks);
		lx->fatal = true;
		return NULL;
	}
	RC_ALLOC_GROW(lx->toks, lx->ntoks + 1, lx->alloc);
	t = &lx->toks[lx->ntoks++];
	memset(t, 0, sizeof(*t));
	t->type = (uint8_t)type;
	t->p = lx->s + off;
	t->n = n;
	lx_where(lx, off, &t->line, &t->col);
	return t;
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool is_name_start(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool is_name_char(char c)
{
	return is_name_start(c) || is_digit(c);
}

/* `(\d+_)*\d+` at i: its end, or i when there is none */
static size_t digit_run(const char *s, size_t n, size_t i)
{
	size_t j = i;
	if (j >= n || !is_digit(s[j]))
		return i;
	for (;;) {
		while (j < n && is_digit(s[j]))
			j++;
		if (j + 1 < n && s[j] == '_' && is_digit(s[j + 1]))
			j++;
		else
			return j;
	}
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)(c | 0x20);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static void put_utf8(char *o, size_t *k, uint32_t c)
{
	if (c < 0x80) {
		o[(*k)++] = (char)c;
	} else if (c < 0x800) {
		o[(*k)++] = (char)(0xc0 | (c >> 6));
		o[(*k)++] = (char)(0x80 | (c & 0x3f));
	} else if (c < 0x10000) {
		o[(*k)++] = (char)(0xe0 | (c >> 12));
		o[(*k)++] = (char)(0x80 | ((c >> 6) & 0x3f));
		o[(*k)++] = (char)(0x80 | (c & 0x3f));
	} else {
		o[(*k)++] = (char)(0xf0 | (c >> 18));
		o[(*k)++] = (char)(0x80 | ((c >> 12) & 0x3f));
		o[(*k)++] = (char)(0x80 | ((c >> 6) & 0x3f));
		o[(*k)++] = (char)(0x80 | (c & 0x3f));
	}
}

/* Python's unicode-escape decoding of the inside of a string literal. */
static bool lx_unescape(lexer *lx, size_t start, const char *s, size_t n, tval *out)
{
	/* an escape never gets longer than its source text, "\x80" -> 2 bytes included */
	char *o = tpl_alloc_raw(lx->o->arena, n + 1);
	size_t k = 0;

	for (size_t i = 0; i < n;) {
		char c = s[i];
		if (c != '\\' || i + 1 >= n) {
			o[k++] = c;
			i++;
			continue;
		}
		c = s[i + 1];
		i += 2;
		switch (c) {
		case '\n': break;
		case '\\': o[k++] = '\\'; break;
		case '\'': o[k++] = '\''; break;
		case '"': o[k++] = '"'; break;
		case 'a': o[k++] = '\a'; break;
		case 'b': o[k++] = '\b'; break;
		case 'f': o[k++] = '\f'; break;
		case 'n': o[k++] = '\n'; break;
		case 'r': o[k++] = '\r'; break;
		case 't': o[k++] = '\t'; break;
		case 'v': o[k++] = '\v'; break;
		case '0': case '1': case '2': case '3': case '4': case '5': case '6': case '7': {
			uint32_t v = (uint32_t)(c - '0');
			for (int d = 0; d < 2 && i < n && s[i] >= '0' && s[i] <= '7'; d++)
				v = v * 8 + (uint32_t)(s[i++] - '0');
			put_utf8(o, &k, v);
			break;
		}
		case 'x': case 'u': case 'U': {
			int digits = c == 'x' ? 2 : c == 'u' ? 4 : 8;
			uint32_t v = 0;
			for (int d = 0; d < digits; d++) {
				int h = i < n ? hexval(s[i]) : -1;
				if (h < 0) {
					lx_error(lx, start, "truncated \\%cXX escape in string", c);
					return false;
				}
				v = v * 16 + (uint32_t)h;
				i++;
			}
			if (v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff)) {
				lx_error(lx, start, "invalid \\%c escape in string", c);
				return false;
			}
			put_utf8(o, &k, v);
			break;
		}
		case 'N':
			lx_error(lx, start, "\\N{...} escapes are not supported");
			return false;
		default:
			o[k++] = '\\';
			o[k++] = c;
			break;
		}
	}
	o[k] = '\0';
	*out = tv_str(o, k);
	return true;
}

static const char *const ops2[] = { "**", "//", "==", "!=", ">=", "<=", NULL };
static const char ops1[] = "+-*/%~[](){}<>=.:|,;";

/* Lex the inside of a tag from `i`; the position after its end marker, or 0 on error. */
static size_t lx_tag(lexer *lx, size_t i, bool block, size_t tag_start)
{
	const char *s = lx->s;
	size_t n = lx->n;
	char stack[256];
	size_t depth = 0;
	const char *end = block ? "%}" : "}}";

	for (;;) {
		size_t k;
		while (i < n && (k = tpl_space_at(s + i, n - i)))
			i += k;
		if (i >= n) {
			lx_error(lx, tag_start, "unclosed '%s' (missing '%s')", block ? "{%" : "{{", end);
			lx->fatal = true;
			return 0;
		}
		if (!depth) {
			bool strip = false;
			size_t at = i;
			if (s[i] == '-' && i + 2 < n && s[i + 1] == end[0] && s[i + 2] == '}') {
				strip = true;
				i++;
			} else if (block && s[i] == '+' && i + 2 < n && s[i + 1] == '%' && s[i + 2] == '}') {
				i++;
			}
			if (i + 1 < n && s[i] == end[0] && s[i + 1] == '}') {
				if (!lx_push(lx, block ? TK_BLOCK_END : TK_VAR_END, at, i + 2 - at))
					return 0;
				i += 2;
				if (strip)
					while (i < n && (k = tpl_space_at(s + i, n - i)))
						i += k;
				return i;
			}
			i = at;
		}
		if (is_digit(s[i])) {
			size_t j = digit_run(s, n, i), f = j;
			bool is_float = false;
			tok *t;
			if (i == 0 || s[i - 1] != '.') {
				if (f + 1 < n && s[f] == '.' && is_digit(s[f + 1])) {
					f = digit_run(s, n, f + 1);
					is_float = true;
				}
				if (f < n && (s[f] == 'e' || s[f] == 'E')) {
					size_t e = f + 1;
					if (e < n && (s[e] == '+' || s[e] == '-'))
						e++;
					if (digit_run(s, n, e) > e) {
						f = digit_run(s, n, e);
						is_float = true;
					}
				}
			}
			if (is_float) {
				char buf[512];
				size_t b = 0;
				for (size_t q = i; q < f && b + 1 < sizeof(buf); q++)
					if (s[q] != '_')
						buf[b++] = s[q];
				buf[b] = '\0';
				if (!(t = lx_push(lx, TK_FLOAT, i, f - i)))
					return 0;
				t->v = tv_float(strtod(buf, NULL));
				i = f;
				continue;
			}
			{
				int base = 10;
				size_t q = i;
				uint64_t v = 0;
				char x = i + 1 < n ? (char)(s[i + 1] | 0x20) : 0;
				if (s[i] == '0' && (x == 'b' || x == 'o' || x == 'x')) {
					size_t d = i + 2;
					base = x == 'b' ? 2 : x == 'o' ? 8 : 16;
					for (;;) {
						size_t e = d < n && s[d] == '_' ? d + 1 : d;
						int h = e < n ? hexval(s[e]) : -1;
						if (h < 0 || h >= base)
							break;
						d = e + 1;
					}
					if (d == i + 2) {
						base = 10;
						j = i + 1;
					} else {
						q = i + 2;
						j = d;
					}
				} else if (s[i] == '0') {
					/* `0(_?0)*`: "007" is 0 then 07, as in Jinja2 */
					j = i + 1;
					while (j < n && (s[j] == '0' || (s[j] == '_' && j + 1 < n && s[j + 1] == '0')))
						j += s[j] == '_' ? 2 : 1;
				}
				for (; q < j; q++) {
					int h;
					if (s[q] == '_')
						continue;
					h = hexval(s[q]);
					if (v > (UINT64_MAX - (uint64_t)h) / (uint64_t)base || v * (uint64_t)base + (uint64_t)h > (uint64_t)INT64_MAX) {
						lx_error(lx, i, "integer literal too large");
						return 0;
					}
					v = v * (uint64_t)base + (uint64_t)h;
				}
				if (!(t = lx_push(lx, TK_INT, i, j - i)))
					return 0;
				t->v = tv_int((int64_t)v);
				i = j;
				continue;
			}
		}
		if (is_name_start(s[i])) {
			size_t j = i + 1;
			while (j < n && is_name_char(s[j]))
				j++;
			if (!lx_push(lx, TK_NAME, i, j - i))
				return 0;
			i = j;
			continue;
		}
		if (s[i] == '\'' || s[i] == '"') {
			size_t j = i + 1;
			tok *t;
			while (j < n && s[j] != s[i])
				j += s[j] == '\\' ? 2 : 1;
			if (j >= n) {
				lx_error(lx, i, "unterminated string");
				return 0;
			}
			if (!(t = lx_push(lx, TK_STRING, i, j + 1 - i)))
				return 0;
			if (!lx_unescape(lx, i, s + i + 1, j - i - 1, &t->v)) {
				lx->ntoks--;   /* the error token stands for it */
				return 0;
			}
			i = j + 1;
			continue;
		}
		{
			size_t len = 0;
			for (size_t o = 0; ops2[o]; o++)
				if (i + 1 < n && s[i] == ops2[o][0] && s[i + 1] == ops2[o][1])
					len = 2;
			if (!len && strchr(ops1, s[i]) && s[i])
				len = 1;
			if (!len) {
				uint32_t c;
				size_t cl = tpl_utf8_len(s + i, n - i, &c);
				lx_error(lx, i, "unexpected character '%.*s'", (int)cl, s + i);
				return 0;
			}
			if (len == 1 && (s[i] == '(' || s[i] == '[' || s[i] == '{')) {
				if (depth >= sizeof(stack)) {
					/* the parser could not go deeper either */
					lx_error(lx, i, "nested too deeply (more than %zu levels)", sizeof(stack));
					lx->fatal = true;
					return 0;
				}
				stack[depth++] = s[i];
			} else if (len == 1 && (s[i] == ')' || s[i] == ']' || s[i] == '}')) {
				char want = s[i] == ')' ? '(' : s[i] == ']' ? '[' : '{';
				if (!depth) {
					lx_error(lx, i, "unexpected '%c'", s[i]);
					return 0;
				}
				if (stack[depth - 1] != want) {
					char close = stack[depth - 1] == '(' ? ')' : stack[depth - 1] == '[' ? ']' : '}';
					lx_error(lx, i, "unexpected '%c', expected '%c'", s[i], close);
					return 0;
				}
				depth--;
			}
			if (!lx_push(lx, TK_OP, i, len))
				return 0;
			i += len;
		}
	}
}

static bool lex(lexer *lx)
{
	const char *s = lx->s;
	size_t n = lx->n, i = 0;

	while (i < n && !lx->fatal) {
		size_t start = i, data_end, k;
		char kind;
		bool strip;
		/* the next "{{", "{%" or "{#" */
		for (;;) {
			const char *q = memchr(s + start, '{', n - start);
			if (!q || (size_t)(q - s) + 1 >= n) {
				start = n;
				break;
			}
			start = (size_t)(q - s);
			if (s[start + 1] == '{' || s[start + 1] == '%' || s[start + 1] == '#')
				break;
			start++;
		}
		data_end = start;
		strip = start + 2 < n && s[start + 2] == '-';
		if (strip)
			while (data_end > i && (k = tpl_space_before(s + i, data_end - i)))
				data_end -= k;
		if (data_end > i && !lx_push(lx, TK_DATA, i, data_end - i))
			return false;
		if (start >= n)
			break;
		kind = s[start + 1];
		i = start + 2;
		if (i < n && (s[i] == '-' || s[i] == '+'))
			i++;
		if (kind == '#') {
			const char *q = NULL;
			size_t from = i;
			while (from + 1 < n) {
				q = memchr(s + from, '#', n - from - 1);
				if (!q || q[1] == '}')
					break;
				from = (size_t)(q - s) + 1;
				q = NULL;
			}
			if (!q) {
				lx_error(lx, start, "unclosed comment (missing '#}')");
				lx->fatal = true;
				return false;
			}
			strip = (size_t)(q - s) > i && q[-1] == '-';
			i = (size_t)(q - s) + 2;
			if (strip)
				while (i < n && (k = tpl_space_at(s + i, n - i)))
					i += k;
			continue;
		}
		if (!lx_push(lx, kind == '%' ? TK_BLOCK_BEGIN : TK_VAR_BEGIN, start, i - start))
			return false;
		{
			size_t after = lx_tag(lx, i, kind == '%', start);
			const char *end;
			if (after) {
				i = after;
				continue;
			}
			if (lx->fatal)
				return false;
			/* resume after the end of the tag in error: the parser skips it */
			end = memmem(s + lx->err_pos, n - lx->err_pos, kind == '%' ? "%}" : "}}", 2);
			if (!end) {
				lx->fatal = true;
				return false;
			}
			if (!lx_push(lx, TK_ERROR, lx->err_pos, (size_t)(end - s) - lx->err_pos) ||
			    !lx_push(lx, kind == '%' ? TK_BLOCK_END : TK_VAR_END, (size_t)(end - s), 2))
				return false;
			i = (size_t)(end - s) + 2;
		}
	}
	if (lx->fatal)
		return false;
	return lx_push(lx, TK_EOF, n, 0) != NULL;
}

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
	if (!lex(&lx))
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
