#include "base/compat.h"
#include "template/internal.h"
#include "base/util.h"
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/banned.h"

/*
 * Filters, tests, methods and str.format(), with the semantics of the
 * Jinja2 filter or Python method of the same name.
 */

/* Match evaluated arguments to named parameters, as a Python call does. */
static int bind(tpl_state *st, const tnode *at, const char *what, const tv_args *a,
		const char *const *params, size_t np, size_t nreq, tval *out, bool *given)
{
	size_t npos = 0;

	for (size_t i = 0; i < np; i++)
		given[i] = false;
	for (size_t i = 0; i < a->n; i++) {
		if (!a->kw[i]) {
			if (npos >= np)
				return tpl_err(st, at, "%s takes at most %zu argument%s", what, np,
					       np == 1 ? "" : "s");
			out[npos] = a->v[i];
			given[npos++] = true;
			continue;
		}
		{
			size_t j;
			for (j = 0; j < np; j++)
				if (strlen(params[j]) == a->kwlen[i] && !memcmp(params[j], a->kw[i], a->kwlen[i]))
					break;
			if (j == np)
				return tpl_err(st, at, "%s got an unexpected keyword argument '%.*s'", what,
					       (int)a->kwlen[i], a->kw[i]);
			if (given[j])
				return tpl_err(st, at, "%s got multiple values for argument '%s'", what, params[j]);
			out[j] = a->v[i];
			given[j] = true;
		}
	}
	for (size_t j = 0; j < nreq; j++)
		if (!given[j])
			return tpl_err(st, at, "%s is missing the argument '%s'", what, params[j]);
	return 0;
}

static int no_args(tpl_state *st, const tnode *at, const char *what, const tv_args *a)
{
	if (a->n)
		return tpl_err(st, at, "%s takes no arguments", what);
	return 0;
}

static bool is_intlike(tval v)
{
	return v.type == TV_INT || v.type == TV_BOOL;
}

static int64_t as_int(tval v)
{
	return v.type == TV_BOOL ? (int64_t)v.u.b : v.u.i;
}

/* ---- strings ---- */

static bool cp_in(uint32_t c, tval set)
{
	for (size_t i = 0; i < set.len;) {
		uint32_t d;
		i += tpl_utf8_len(set.u.s + i, set.len - i, &d);
		if (c == d)
			return true;
	}
	return false;
}

tval tv_strip(tval s, const tval *chars)
{
	size_t b = 0, e = s.len;

	while (b < e) {
		uint32_t c;
		size_t k = tpl_utf8_len(s.u.s + b, e - b, &c);
		if (chars ? !cp_in(c, *chars) : !tpl_space_at(s.u.s + b, e - b))
			break;
		b += k;
	}
	while (e > b) {
		size_t k;
		if (chars) {
			uint32_t c;
			k = 1;
			while (k < 4 && k < e - b && ((unsigned char)s.u.s[e - k] & 0xc0) == 0x80)
				k++;
			if (tpl_utf8_len(s.u.s + e - k, k, &c) != k) {
				k = 1;
				tpl_utf8_len(s.u.s + e - 1, 1, &c);
			}
			if (!cp_in(c, *chars))
				break;
		} else {
			k = tpl_space_before(s.u.s + b, e - b);
			if (!k)
				break;
		}
		e -= k;
	}
	return tv_str(s.u.s + b, e - b);
}

static int case_map(tpl_state *st, const tnode *at, tval v, bool upper, tval *out)
{
	tval s;
	char *p;

	if (tv_to_str(st, at, v, &s) < 0)
		return -1;
	p = tpl_alloc_raw(&st->arena, s.len + 1);
	/* ASCII only: enough for hostnames, variable names and YAML keywords */
	for (size_t i = 0; i < s.len; i++) {
		char c = s.u.s[i];
		if (upper && c >= 'a' && c <= 'z')
			c = (char)(c - 'a' + 'A');
		else if (!upper && c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		p[i] = c;
	}
	p[s.len] = '\0';
	*out = tv_str(p, s.len);
	return tpl_charge(st, at, s.len / 64);
}

static int replace(tpl_state *st, const tnode *at, tval s, tval old, tval new, int64_t count,
		   tval *out)
{
	rc_buf b;
	size_t i = 0;
	int err = 0;

	tv_buf_init(st, &b);
	if (!old.len) {
		/* Python puts `new` before each character and at the end */
		while (count != 0 && !err) {
			err |= rc_buf_add(&b, new.u.s, new.len);
			if (count > 0)
				count--;
			if (i >= s.len)
				break;
			{
				uint32_t c;
				size_t k = tpl_utf8_len(s.u.s + i, s.len - i, &c);
				err |= rc_buf_add(&b, s.u.s + i, k);
				i += k;
			}
		}
		if (!err && i < s.len)
			err |= rc_buf_add(&b, s.u.s + i, s.len - i);
	} else {
		while (!err && count != 0) {
			const char *hit = memmem(s.u.s + i, s.len - i, old.u.s, old.len);
			if (!hit)
				break;
			err |= rc_buf_add(&b, s.u.s + i, (size_t)(hit - (s.u.s + i)));
			err |= rc_buf_add(&b, new.u.s, new.len);
			i = (size_t)(hit - s.u.s) + old.len;
			if (count > 0)
				count--;
		}
		if (!err)
			err |= rc_buf_add(&b, s.u.s + i, s.len - i);
	}
	if (err) {
		rc_buf_release(&b);
		return tv_buf_error(st, at);
	}
	if (tpl_charge(st, at, b.len / 64) < 0) {
		rc_buf_release(&b);
		return -1;
	}
	*out = tv_from_buf(st, &b);
	return 0;
}

static int split(tpl_state *st, const tnode *at, tval s, const tval *sep, int64_t maxsplit, tval *out)
{
	tval r = tv_list_new(st, TL_LIST, 0);
	size_t i = 0;

	if (sep) {
		if (!sep->len)
			return tpl_err(st, at, "empty separator");
		for (;;) {
			const char *hit = maxsplit != 0 ? memmem(s.u.s + i, s.len - i, sep->u.s, sep->len) : NULL;
			size_t end = hit ? (size_t)(hit - s.u.s) : s.len;
			if (tv_list_push(st, at, r.u.l, tv_str(s.u.s + i, end - i)) < 0)
				return -1;
			if (!hit)
				break;
			i = end + sep->len;
			if (maxsplit > 0)
				maxsplit--;
		}
	} else {
		for (;;) {
			size_t k, start;
			while (i < s.len && (k = tpl_space_at(s.u.s + i, s.len - i)))
				i += k;
			if (i >= s.len)
				break;
			if (maxsplit == 0) {
				/* the rest, trailing whitespace and all */
				if (tv_list_push(st, at, r.u.l, tv_str(s.u.s + i, s.len - i)) < 0)
					return -1;
				break;
			}
			start = i;
			while (i < s.len && !tpl_space_at(s.u.s + i, s.len - i)) {
				uint32_t c;
				i += tpl_utf8_len(s.u.s + i, s.len - i, &c);
			}
			if (tv_list_push(st, at, r.u.l, tv_str(s.u.s + start, i - start)) < 0)
				return -1;
			if (maxsplit > 0)
				maxsplit--;
		}
	}
	*out = r;
	return tpl_charge(st, at, r.u.l->n + s.len / 64);
}

/* ---- numbers from strings, as Python's int() and float() read them ---- */

static int digit_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'Z')
		return c - 'A' + 10;
	return 99;
}

/* 0 ok, -1 not a number (ValueError), -2 out of int64 range */
static int py_int(tval s, int64_t base, int64_t *out)
{
	tval t = tv_strip(s, NULL);
	const char *p = t.u.s, *e = t.u.s + t.len;
	bool neg = false, any = false, last_us = false;
	uint64_t v = 0, lim;

	if (p < e && (*p == '+' || *p == '-'))
		neg = *p++ == '-';
	if (e - p >= 2 && p[0] == '0') {
		char x = (char)(p[1] | 0x20);
		int pb = x == 'x' ? 16 : x == 'o' ? 8 : x == 'b' ? 2 : 0;
		if (pb && (base == 0 || base == pb)) {
			/* "0x_1f" is allowed, "0x" is not */
			base = pb;
			p += 2;
			if (p < e && *p == '_')
				p++;
		}
	}
	if (base == 0) {
		/* decimal, and no leading zeros unless all zeros */
		base = 10;
		if (p < e && *p == '0') {
			for (const char *q = p; q < e; q++)
				if (*q != '0' && *q != '_')
					return -1;
		}
	}
	lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	for (; p < e; p++) {
		int d;
		if (*p == '_') {
			if (!any || last_us)
				return -1;
			last_us = true;
			continue;
		}
		d = digit_value(*p);
		if (d >= base)
			return -1;
		if (v > (lim - (uint64_t)d) / (uint64_t)base)
			return -2;
		v = v * (uint64_t)base + (uint64_t)d;
		any = true;
		last_us = false;
	}
	if (!any || last_us)
		return -1;
	*out = neg ? (int64_t)(0 - v) : (int64_t)v;
	return 0;
}

static bool ieq(const char *s, size_t n, const char *w)
{
	return strlen(w) == n && !strncasecmp(s, w, n);
}

/* 0 ok, -1 not a float */
static int py_float(tpl_state *st, tval s, double *out)
{
	tval t = tv_strip(s, NULL);
	const char *p = t.u.s;
	size_t n = t.len, i = 0, o = 0;
	char *buf, *end;
	bool neg = false, digits = false, dot = false, exp = false;

	if (n && (p[0] == '+' || p[0] == '-')) {
		neg = p[0] == '-';
		p++;
		n--;
	}
	if (ieq(p, n, "inf") || ieq(p, n, "infinity")) {
		*out = neg ? -INFINITY : INFINITY;
		return 0;
	}
	if (ieq(p, n, "nan")) {
		*out = NAN;
		return 0;
	}
	buf = tpl_alloc_raw(&st->arena, n + 2);
	buf[o++] = neg ? '-' : '+';
	for (i = 0; i < n; i++) {
		char c = p[i];
		if (c >= '0' && c <= '9') {
			digits = true;
		} else if (c == '_') {
			/* only between two digits */
			if (!i || i + 1 >= n || p[i - 1] < '0' || p[i - 1] > '9' || p[i + 1] < '0' || p[i + 1] > '9')
				return -1;
			continue;
		} else if (c == '.') {
			if (dot || exp)
				return -1;
			dot = true;
		} else if (c == 'e' || c == 'E') {
			if (exp || !digits)
				return -1;
			exp = true;
			buf[o++] = 'e';
			if (i + 1 < n && (p[i + 1] == '+' || p[i + 1] == '-'))
				buf[o++] = p[++i];
			if (i + 1 >= n || p[i + 1] < '0' || p[i + 1] > '9')
				return -1;
			continue;
		} else {
			return -1;
		}
		buf[o++] = c;
	}
	if (!digits)
		return -1;
	buf[o] = '\0';
	errno = 0;
	*out = strtod(buf, &end);
	if (*end)
		return -1;
	return 0;
}

static int float_to_int(tpl_state *st, const tnode *at, double f, tval *out, bool *valueerror)
{
	*valueerror = false;
	if (isnan(f)) {
		*valueerror = true;
		return 0;
	}
	if (isinf(f))
		return tpl_err(st, at, "cannot convert float infinity to integer");
	f = tpl_trunc(f);
	if (f >= 9223372036854775808.0 || f < -9223372036854775808.0)
		return tpl_err(st, at, "integer overflow");
	*out = tv_int((int64_t)f);
	return 0;
}

static int filter_int(tpl_state *st, const tnode *at, tval v, tval def, int64_t base, tval *out)
{
	bool ve;

	switch (v.type) {
	case TV_UNDEF:
		return tv_undef_error(st, at, v);
	case TV_BOOL:
	case TV_INT:
		*out = tv_int(as_int(v));
		return 0;
	case TV_FLOAT:
		if (float_to_int(st, at, v.u.f, out, &ve) < 0)
			return -1;
		if (ve)
			*out = def;
		return 0;
	case TV_STR: {
		int64_t i;
		double f;
		int r;
		if (base != 0 && (base < 2 || base > 36))
			return tpl_err(st, at, "int() base must be >= 2 and <= 36, or 0");
		r = py_int(v, base, &i);
		if (r == -2)
			return tpl_err(st, at, "integer overflow");
		if (r == 0) {
			*out = tv_int(i);
			return 0;
		}
		if (py_float(st, v, &f) < 0) {
			*out = def;
			return 0;
		}
		if (float_to_int(st, at, f, out, &ve) < 0)
			return -1;
		if (ve)
			*out = def;
		return 0;
	}
	default:
		*out = def;
		return 0;
	}
}

/* ---- filters ---- */

static int filter_join(tpl_state *st, const tnode *at, tval v, tval sep, tval *out)
{
	tv_list *items;
	rc_buf b;
	tval d;

	if (tv_iterate(st, at, v, &items) < 0 || tv_to_str(st, at, sep, &d) < 0)
		return -1;
	if (tpl_charge(st, at, items->n) < 0)
		return -1;
	tv_buf_init(st, &b);
	for (size_t i = 0; i < items->n; i++) {
		if (i && rc_buf_add(&b, d.u.s, d.len) < 0)
			goto full;
		if (tv_append_str(st, at, &b, items->items[i]) < 0) {
			rc_buf_release(&b);
			return -1;
		}
	}
	*out = tv_from_buf(st, &b);
	return tpl_charge(st, at, out->len / 64);
full:
	rc_buf_release(&b);
	return tv_buf_error(st, at);
}

static int length(tpl_state *st, const tnode *at, tval v, tval *out)
{
	switch (v.type) {
	case TV_UNDEF: *out = tv_int(0); return 0;
	case TV_LIST: *out = tv_int((int64_t)v.u.l->n); return 0;
	case TV_DICT: *out = tv_int((int64_t)v.u.d->n); return 0;
	case TV_STR: {
		int64_t count = 0;
		for (size_t i = 0; i < v.len; count++) {
			uint32_t c;
			i += tpl_utf8_len(v.u.s + i, v.len - i, &c);
		}
		*out = tv_int(count);
		return tpl_charge(st, at, v.len / 64);
	}
	default:
		return tpl_err(st, at, "object of type '%s' has no len()", tv_type_name(v));
	}
}

int tv_filter(tpl_state *st, const tnode *at, int id, tval v, const tv_args *a, tval *out)
{
	tval p[3];
	bool given[3];

	switch (id) {
	case F_DEFAULT: {
		static const char *const params[] = { "default_value", "boolean" };
		if (bind(st, at, "default()", a, params, 2, 0, p, given) < 0)
			return -1;
		if (v.type == TV_UNDEF || (given[1] && tv_truthy(p[1]) && !tv_truthy(v)))
			*out = given[0] ? p[0] : tv_str("", 0);
		else
			*out = v;
		return 0;
	}
	case F_LENGTH:
		if (no_args(st, at, "length()", a) < 0)
			return -1;
		return length(st, at, v, out);
	case F_JOIN: {
		static const char *const params[] = { "d", "attribute" };
		if (bind(st, at, "join()", a, params, 2, 0, p, given) < 0)
			return -1;
		if (given[1])
			return tpl_err(st, at, "join(attribute=...) is not supported");
		return filter_join(st, at, v, given[0] ? p[0] : tv_str("", 0), out);
	}
	case F_LOWER:
	case F_UPPER:
		if (no_args(st, at, id == F_LOWER ? "lower()" : "upper()", a) < 0)
			return -1;
		return case_map(st, at, v, id == F_UPPER, out);
	case F_STRING:
		if (no_args(st, at, "string()", a) < 0)
			return -1;
		return tv_to_str(st, at, v, out);
	case F_INT: {
		static const char *const params[] = { "default", "base" };
		if (bind(st, at, "int()", a, params, 2, 0, p, given) < 0)
			return -1;
		if (given[1] && !is_intlike(p[1]))
			return tpl_err(st, at, "int() base must be an integer");
		return filter_int(st, at, v, given[0] ? p[0] : tv_int(0), given[1] ? as_int(p[1]) : 10, out);
	}
	case F_REPLACE: {
		static const char *const params[] = { "old", "new", "count" };
		tval s, o, n;
		if (bind(st, at, "replace()", a, params, 3, 2, p, given) < 0)
			return -1;
		if (given[2] && p[2].type != TV_NONE && !is_intlike(p[2]))
			return tpl_err(st, at, "replace() count must be an integer");
		if (tv_to_str(st, at, v, &s) < 0 || tv_to_str(st, at, p[0], &o) < 0 ||
		    tv_to_str(st, at, p[1], &n) < 0)
			return -1;
		return replace(st, at, s, o, n, given[2] && p[2].type != TV_NONE ? as_int(p[2]) : -1, out);
	}
	case F_TRIM: {
		static const char *const params[] = { "chars" };
		tval s;
		if (bind(st, at, "trim()", a, params, 1, 0, p, given) < 0)
			return -1;
		if (tv_to_str(st, at, v, &s) < 0)
			return -1;
		if (given[0] && p[0].type != TV_NONE && p[0].type != TV_STR)
			return tpl_err(st, at, "strip arg must be None or str");
		*out = tv_strip(s, given[0] && p[0].type == TV_STR ? &p[0] : NULL);
		return 0;
	}
	default:
		return tpl_err(st, at, "unknown filter");
	}
}

int tv_test(tpl_state *st, const tnode *at, int id, tval v, bool *out)
{
	switch (id) {
	case T_DEFINED: *out = v.type != TV_UNDEF; return 0;
	case T_UNDEFINED: *out = v.type == TV_UNDEF; return 0;
	case T_NONE: *out = v.type == TV_NONE; return 0;
	case T_NUMBER: *out = v.type == TV_INT || v.type == TV_BOOL || v.type == TV_FLOAT; return 0;
	case T_STRING: *out = v.type == TV_STR; return 0;
	case T_MAPPING: *out = v.type == TV_DICT; return 0;
	case T_ITERABLE:
	case T_SEQUENCE:
		*out = v.type == TV_UNDEF || v.type == TV_STR || v.type == TV_LIST || v.type == TV_DICT;
		return 0;
	case T_EVEN:
	case T_ODD: {
		tval r;
		if (tv_binop(st, at, OP_MOD, v, tv_int(2), &r) < 0)
			return -1;
		*out = (r.type == TV_FLOAT ? r.u.f == 0.0 : r.u.i == 0) == (id == T_EVEN);
		return 0;
	}
	default:
		return tpl_err(st, at, "unknown test");
	}
}

/* ---- str.format() ---- */

static int format_field(tpl_state *st, const tnode *at, rc_buf *b, const char *f, size_t n,
			const tv_args *a, int *autonum, size_t *next)
{
	size_t nlen = 0;
	const char *conv = NULL, *spec = NULL;
	tval v = tv_undef(NULL);
	bool found = false;

	while (nlen < n && f[nlen] != '!' && f[nlen] != ':')
		nlen++;
	if (nlen < n && f[nlen] == '!') {
		conv = f + nlen + 1;
		if (nlen + 2 > n || (nlen + 2 < n && f[nlen + 2] != ':'))
			return tpl_err(st, at, "expected ':' after conversion specifier");
		if (nlen + 2 < n)
			spec = f + nlen + 3;
	} else if (nlen < n) {
		spec = f + nlen + 1;
	}
	if (spec && spec < f + n)
		return tpl_err(st, at, "format specifications are not supported: '{%.*s}'", (int)n, f);
	if (memchr(f, '.', nlen) || memchr(f, '[', nlen))
		return tpl_err(st, at, "attribute and index format fields are not supported: '{%.*s}'",
			       (int)n, f);
	if (nlen == 0 || (f[0] >= '0' && f[0] <= '9')) {
		size_t idx = 0, npos = 0;
		if (nlen == 0) {
			if (*autonum == 0)
				return tpl_err(st, at, "cannot switch from manual field specification to automatic field numbering");
			*autonum = 1;
			idx = (*next)++;
		} else {
			if (*autonum == 1)
				return tpl_err(st, at, "cannot switch from automatic field numbering to manual field specification");
			*autonum = 0;
			for (size_t i = 0; i < nlen; i++) {
				if (f[i] < '0' || f[i] > '9')
					return tpl_err(st, at, "invalid format field '{%.*s}'", (int)n, f);
				if (idx > 100000000)
					return tpl_err(st, at, "too many decimal digits in format string");
				idx = idx * 10 + (size_t)(f[i] - '0');
			}
		}
		for (size_t i = 0; i < a->n; i++) {
			if (a->kw[i])
				continue;
			if (npos++ == idx) {
				v = a->v[i];
				found = true;
				break;
			}
		}
		if (!found)
			return tpl_err(st, at, "replacement index %zu out of range for positional args tuple", idx);
	} else {
		for (size_t i = 0; i < a->n; i++)
			if (a->kw[i] && a->kwlen[i] == nlen && !memcmp(a->kw[i], f, nlen)) {
				v = a->v[i];
				found = true;
			}
		if (!found)
			return tpl_err(st, at, "no argument named '%.*s' for format", (int)nlen, f);
	}
	if (conv && (*conv == 'r' || *conv == 'a'))
		return tv_append_repr(st, at, b, v);
	if (conv && *conv != 's')
		return tpl_err(st, at, "unknown conversion specifier %c", *conv);
	return tv_append_str(st, at, b, v);
}

static int format(tpl_state *st, const tnode *at, tval fmt, const tv_args *a, tval *out)
{
	const char *s = fmt.u.s;
	size_t n = fmt.len, next = 0;
	int autonum = -1;
	rc_buf b;

	tv_buf_init(st, &b);
	for (size_t i = 0; i < n;) {
		if (s[i] == '{') {
			size_t j;
			if (i + 1 < n && s[i + 1] == '{') {
				if (rc_buf_addch(&b, '{') < 0)
					goto full;
				i += 2;
				continue;
			}
			for (j = i + 1; j < n && s[j] != '}'; j++)
				if (s[j] == '{') {
					rc_buf_release(&b);
					return tpl_err(st, at, "nested format fields are not supported");
				}
			if (j >= n) {
				rc_buf_release(&b);
				return tpl_err(st, at, "single '{' encountered in format string");
			}
			if (format_field(st, at, &b, s + i + 1, j - i - 1, a, &autonum, &next) < 0) {
				rc_buf_release(&b);
				return -1;
			}
			i = j + 1;
		} else if (s[i] == '}') {
			if (i + 1 >= n || s[i + 1] != '}') {
				rc_buf_release(&b);
				return tpl_err(st, at, "single '}' encountered in format string");
			}
			if (rc_buf_addch(&b, '}') < 0)
				goto full;
			i += 2;
		} else {
			size_t j = i;
			while (j < n && s[j] != '{' && s[j] != '}')
				j++;
			if (rc_buf_add(&b, s + i, j - i) < 0)
				goto full;
			i = j;
		}
	}
	*out = tv_from_buf(st, &b);
	return tpl_charge(st, at, out->len / 64 + a->n);
full:
	rc_buf_release(&b);
	return tv_buf_error(st, at);
}

/* ---- methods ---- */

#define IS(s) (n == sizeof(s) - 1 && memcmp(name, s, n) == 0)

static int no_kwargs(tpl_state *st, const tnode *at, const char *name, size_t n, const tv_args *a)
{
	for (size_t i = 0; i < a->n; i++)
		if (a->kw[i])
			return tpl_err(st, at, "%.*s() takes no keyword arguments", (int)n, name);
	return 0;
}

static int str_method(tpl_state *st, const tnode *at, tval obj, const char *name, size_t n,
		      const tv_args *a, tval *out)
{
	tval p[3];
	bool given[3];

	if (IS("format"))
		return format(st, at, obj, a, out);
	if (IS("upper") || IS("lower")) {
		if (no_args(st, at, IS("upper") ? "upper()" : "lower()", a) < 0)
			return -1;
		return case_map(st, at, obj, IS("upper"), out);
	}
	if (IS("split")) {
		static const char *const params[] = { "sep", "maxsplit" };
		if (bind(st, at, "split()", a, params, 2, 0, p, given) < 0)
			return -1;
		if (given[0] && p[0].type != TV_NONE && p[0].type != TV_STR)
			return tpl_err(st, at, "must be str or None, not %s", tv_type_name(p[0]));
		if (given[1] && !is_intlike(p[1]))
			return tpl_err(st, at, "'%s' object cannot be interpreted as an integer",
				       tv_type_name(p[1]));
		return split(st, at, obj, given[0] && p[0].type == TV_STR ? &p[0] : NULL,
			     given[1] ? as_int(p[1]) : -1, out);
	}
	if (IS("strip")) {
		if (no_kwargs(st, at, name, n, a) < 0 ||
		    bind(st, at, "strip()", a, (const char *const[]){ "chars" }, 1, 0, p, given) < 0)
			return -1;
		if (given[0] && p[0].type != TV_NONE && p[0].type != TV_STR)
			return tpl_err(st, at, "strip arg must be None or str");
		*out = tv_strip(obj, given[0] && p[0].type == TV_STR ? &p[0] : NULL);
		return 0;
	}
	if (IS("replace")) {
		static const char *const params[] = { "old", "new", "count" };
		if (no_kwargs(st, at, name, n, a) < 0 ||
		    bind(st, at, "replace()", a, params, 3, 2, p, given) < 0)
			return -1;
		if (p[0].type != TV_STR || p[1].type != TV_STR || (given[2] && !is_intlike(p[2])))
			return tpl_err(st, at, "replace() takes two strings and an optional count");
		return replace(st, at, obj, p[0], p[1], given[2] ? as_int(p[2]) : -1, out);
	}
	if (IS("startswith") || IS("endswith")) {
		tval x;
		if (no_kwargs(st, at, name, n, a) < 0 ||
		    bind(st, at, IS("startswith") ? "startswith()" : "endswith()", a,
			 (const char *const[]){ "prefix" }, 1, 1, p, given) < 0)
			return -1;
		x = p[0];
		if (x.type != TV_STR)
			return tpl_err(st, at, "%.*s() argument must be str", (int)n, name);
		if (x.len > obj.len)
			*out = tv_bool(false);
		else
			*out = tv_bool(!x.len || !memcmp(IS("startswith") ? obj.u.s : obj.u.s + obj.len - x.len,
							 x.u.s, x.len));
		return 0;
	}
	return 1;
}

int tv_method(tpl_state *st, const tnode *at, tval obj, const char *name, size_t n,
	      const tv_args *a, tval *out)
{
	int r;

	if (obj.type == TV_UNDEF)
		return tv_undef_error(st, at, obj);
	if (obj.type == TV_STR) {
		if ((r = str_method(st, at, obj, name, n, a, out)) <= 0)
			return r;
	} else if (obj.type == TV_DICT) {
		if (IS("items") || IS("keys") || IS("values")) {
			const tv_dict *d = obj.u.d;
			tval l;
			if (no_args(st, at, IS("items") ? "items()" : IS("keys") ? "keys()" : "values()", a) < 0)
				return -1;
			l = tv_list_new(st, IS("items") ? TL_ITEMS : IS("keys") ? TL_KEYS : TL_VALUES, d->n);
			for (size_t i = 0; i < d->n; i++) {
				if (IS("items")) {
					tval t = tv_list_new(st, TL_TUPLE, 2);
					t.u.l->items[0] = d->keys[i];
					t.u.l->items[1] = d->vals[i];
					t.u.l->n = 2;
					l.u.l->items[i] = t;
				} else {
					l.u.l->items[i] = IS("keys") ? d->keys[i] : d->vals[i];
				}
			}
			l.u.l->n = d->n;
			*out = l;
			return tpl_charge(st, at, d->n);
		}
		if (IS("get")) {
			tval p[2];
			bool given[2];
			if (no_kwargs(st, at, name, n, a) < 0 ||
			    bind(st, at, "get()", a, (const char *const[]){ "key", "default" }, 2, 1, p, given) < 0)
				return -1;
			r = tv_dict_get(st, at, obj.u.d, p[0], out);
			if (r < 0)
				return -1;
			if (!r)
				*out = given[1] ? p[1] : tv_none();
			return 0;
		}
		if (!tv_is_method(obj, name, n)) {
			tval v;
			r = tv_dict_get(st, at, obj.u.d, tv_str(name, n), &v);
			if (r < 0)
				return -1;
			if (r)
				return tpl_err(st, at, "'%s' object is not callable", tv_type_name(v));
		}
	} else if (obj.type == TV_LIST && obj.kind == TL_LIST && IS("append")) {
		tval p[1];
		bool given[1];
		if (no_kwargs(st, at, name, n, a) < 0 ||
		    bind(st, at, "append()", a, (const char *const[]){ "object" }, 1, 1, p, given) < 0)
			return -1;
		if (tv_list_push(st, at, obj.u.l, p[0]) < 0)
			return -1;
		*out = tv_none();
		return 0;
	}
	if (tv_is_method(obj, name, n))
		return tpl_err(st, at, "method '%.*s' of '%s' objects is not supported", (int)n, name,
			       tv_type_name(obj));
	{
		tval m;
		if (tv_getattr(st, at, obj, name, n, &m) < 0)
			return -1;
		if (m.type == TV_UNDEF)
			return tv_undef_error(st, at, m);
		return tpl_err(st, at, "'%s' object is not callable", tv_type_name(m));
	}
}

#undef IS

int tv_range(tpl_state *st, const tnode *at, const tv_args *a, tval *out)
{
	int64_t start = 0, stop, step = 1, count;
	tval r;

	for (size_t i = 0; i < a->n; i++) {
		if (a->kw[i])
			return tpl_err(st, at, "range() takes no keyword arguments");
		if (!is_intlike(a->v[i]))
			return tpl_err(st, at, "'%s' object cannot be interpreted as an integer",
				       tv_type_name(a->v[i]));
	}
	if (a->n == 1) {
		stop = as_int(a->v[0]);
	} else if (a->n == 2 || a->n == 3) {
		start = as_int(a->v[0]);
		stop = as_int(a->v[1]);
		if (a->n == 3)
			step = as_int(a->v[2]);
	} else {
		return tpl_err(st, at, "range expected 1 to 3 arguments, got %zu", a->n);
	}
	if (!step)
		return tpl_err(st, at, "range() arg 3 must not be zero");
	/* count in floating point first: the int64 difference may overflow */
	{
		double span = (double)stop - (double)start;
		double q = span / (double)step, c = tpl_floor(q);
		if (c < q)
			c += 1.0;
		if (c <= 0)
			count = 0;
		else if (c > (double)st->max_items)
			return tpl_err(st, at, "range() longer than %zu items", st->max_items);
		else
			count = (int64_t)c;
	}
	if (tpl_reserve(st, at, (size_t)count * sizeof(tval)) < 0)
		return -1;
	r = tv_list_new(st, TL_LIST, (size_t)count);
	for (int64_t i = 0; i < count; i++)
		r.u.l->items[i] = tv_int(start + i * step);
	r.u.l->n = (size_t)count;
	*out = r;
	return tpl_charge(st, at, (size_t)count);
}
