#include "base/compat.h"
#include "template/internal.h"
#include "base/util.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/banned.h"

/*
 * The lexer, after Jinja2's lexer.py: the same token rules, including the
 * bracket balancing that lets "}}" close a dict inside "{{ }}".
 */

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

bool tpl_lex(lexer *lx)
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

