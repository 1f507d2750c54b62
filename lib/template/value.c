#include "base/compat.h"
#include "template/internal.h"
#include "base/util.h"
#include <inttypes.h>
#include <stdarg.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/banned.h"

/* ---- UTF-8 and Python's idea of whitespace ---- */

size_t tpl_utf8_len(const char *s, size_t n, uint32_t *cp)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t k;
	uint32_t c;

	if (u[0] < 0x80) {
		*cp = u[0];
		return 1;
	}
	if ((u[0] & 0xe0) == 0xc0) {
		k = 2;
		c = u[0] & 0x1f;
	} else if ((u[0] & 0xf0) == 0xe0) {
		k = 3;
		c = u[0] & 0x0f;
	} else if ((u[0] & 0xf8) == 0xf0) {
		k = 4;
		c = u[0] & 0x07;
	} else {
		goto bad;
	}
	if (k > n)
		goto bad;
	for (size_t i = 1; i < k; i++) {
		if ((u[i] & 0xc0) != 0x80)
			goto bad;
		c = (c << 6) | (u[i] & 0x3f);
	}
	*cp = c;
	return k;
bad:
	/* as Python's surrogateescape, so that bytes from the environment survive */
	*cp = 0xdc00 + u[0];
	return 1;
}

bool tpl_utf8_valid(const char *s, size_t n, size_t *bad)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0;

	while (i < n) {
		uint32_t c;
		size_t k;
		if (u[i] < 0x80) {
			i++;
			continue;
		}
		k = tpl_utf8_len(s + i, n - i, &c);
		if (k == 1 || (k == 2 && c < 0x80) || (k == 3 && c < 0x800) ||
		    (k == 4 && c < 0x10000) || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff)) {
			*bad = i;
			return false;
		}
		i += k;
	}
	return true;
}

static bool is_pyspace(uint32_t c)
{
	return (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x20) || c == 0x85 || c == 0xa0 ||
	       c == 0x1680 || (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 ||
	       c == 0x202f || c == 0x205f || c == 0x3000;
}

size_t tpl_space_at(const char *s, size_t n)
{
	uint32_t c;
	size_t k;

	if (!n)
		return 0;
	k = tpl_utf8_len(s, n, &c);
	return is_pyspace(c) ? k : 0;
}

size_t tpl_space_before(const char *s, size_t n)
{
	size_t k = 1;

	if (!n)
		return 0;
	while (k < 4 && k < n && ((unsigned char)s[n - k] & 0xc0) == 0x80)
		k++;
	{
		uint32_t c;
		size_t got = tpl_utf8_len(s + n - k, k, &c);
		if (got != k)
			return ((unsigned char)s[n - 1] < 0x80 && is_pyspace((unsigned char)s[n - 1])) ? 1 : 0;
		return is_pyspace(c) ? k : 0;
	}
}

static size_t utf8_count(const char *s, size_t n)
{
	size_t count = 0;
	for (size_t i = 0; i < n;) {
		uint32_t c;
		i += tpl_utf8_len(s + i, n - i, &c);
		count++;
	}
	return count;
}

/*
 * The few bits of libm we need, written out: the library links without
 * -lm. Exact, except tpl_powi, which may differ from C's pow() in the
 * last bit for large exponents.
 */
double tpl_floor(double x)
{
	double t;
	if (isnan(x) || x >= 4503599627370496.0 || x <= -4503599627370496.0)
		return x;   /* 2^52 and beyond: already an integer */
	t = (double)(int64_t)x;
	if (t > x)
		t -= 1.0;
	return t == 0.0 && signbit(x) ? -0.0 : t;
}

double tpl_trunc(double x)
{
	double t;
	if (isnan(x) || x >= 4503599627370496.0 || x <= -4503599627370496.0)
		return x;
	t = (double)(int64_t)x;
	return t == 0.0 && signbit(x) ? -0.0 : t;
}

double tpl_copysign(double x, double sign)
{
	double a = signbit(x) ? -x : x;
	return signbit(sign) ? -a : a;
}

double tpl_fmod(double x, double y)
{
	double r = signbit(x) ? -x : x, m = signbit(y) ? -y : y, t;

	if (isnan(x) || isnan(y) || isinf(x) || m == 0.0)
		return NAN;
	if (isinf(y) || r < m)
		return x;
	/* long division by powers of two: every subtraction is exact (Sterbenz) */
	t = m;
	while (t <= r / 2)
		t *= 2;
	while (t >= m) {
		if (r >= t)
			r -= t;
		t /= 2;
	}
	return tpl_copysign(r, x);
}

double tpl_powi(double x, int64_t e)
{
	double r = 1.0;
	uint64_t n = e < 0 ? 0 - (uint64_t)e : (uint64_t)e;

	while (n) {
		if (n & 1)
			r *= x;
		x *= x;
		n >>= 1;
	}
	return e < 0 ? 1.0 / r : r;
}

/* ---- constructors ---- */

tval tv_undef(const char *hint)
{
	tval v = { .type = TV_UNDEF };
	v.u.hint = hint;
	return v;
}

tval tv_none(void)
{
	tval v = { .type = TV_NONE };
	return v;
}

tval tv_bool(bool b)
{
	tval v = { .type = TV_BOOL };
	v.u.b = b;
	return v;
}

tval tv_int(int64_t i)
{
	tval v = { .type = TV_INT };
	v.u.i = i;
	return v;
}

tval tv_float(double f)
{
	tval v = { .type = TV_FLOAT };
	v.u.f = f;
	return v;
}

tval tv_str(const char *s, size_t n)
{
	tval v = { .type = TV_STR };
	v.u.s = s;
	v.len = n;
	return v;
}

tval tv_str_copy(tpl_state *st, const char *s, size_t n)
{
	char *p = tpl_alloc_raw(&st->arena, n + 1);
	if (n)
		memcpy(p, s, n);
	p[n] = '\0';
	return tv_str(p, n);
}

tval tv_list_new(tpl_state *st, tl_kind kind, size_t cap)
{
	tval v = { .type = TV_LIST };
	v.kind = (uint8_t)kind;
	v.u.l = tpl_alloc(&st->arena, sizeof(tv_list));
	if (cap) {
		v.u.l->items = tpl_alloc_raw(&st->arena, cap * sizeof(tval));
		v.u.l->alloc = cap;
	}
	return v;
}

int tv_list_push(tpl_state *st, const tnode *at, tv_list *l, tval v)
{
	if (l->n >= st->max_items)
		return tpl_err(st, at, "list longer than %zu items", st->max_items);
	if (l->n == l->alloc) {
		size_t na = l->alloc ? l->alloc * 2 : 8;
		tval *items;
		if (tpl_reserve(st, at, na * sizeof(tval)) < 0)
			return -1;
		items = tpl_alloc_raw(&st->arena, na * sizeof(tval));
		if (l->n)
			memcpy(items, l->items, l->n * sizeof(tval));
		l->items = items;
		l->alloc = na;
	}
	l->items[l->n++] = v;
	return 0;
}

tval tv_dict_new(tpl_state *st)
{
	tval v = { .type = TV_DICT };
	v.u.d = tpl_alloc(&st->arena, sizeof(tv_dict));
	return v;
}

const char *tv_type_name(tval v)
{
	switch (v.type) {
	case TV_UNDEF: return "Undefined";
	case TV_NONE: return "NoneType";
	case TV_BOOL: return "bool";
	case TV_INT: return "int";
	case TV_FLOAT: return "float";
	case TV_STR: return "str";
	case TV_DICT: return "dict";
	case TV_LOOP: return "LoopContext";
	case TV_LIST:
		switch (v.kind) {
		case TL_TUPLE: return "tuple";
		case TL_ITEMS: return "dict_items";
		case TL_KEYS: return "dict_keys";
		case TL_VALUES: return "dict_values";
		default: return "list";
		}
	}
	return "object";
}

/* Jinja2's object_type_repr(), quoted, for "has no attribute" hints. */
static const char *type_repr(tval v)
{
	switch (v.type) {
	case TV_NONE: return "'None'";
	case TV_BOOL: return "'bool object'";
	case TV_INT: return "'int object'";
	case TV_FLOAT: return "'float object'";
	case TV_STR: return "'str object'";
	case TV_DICT: return "'dict object'";
	case TV_LOOP: return "'jinja2.runtime.LoopContext object'";
	case TV_LIST:
		switch (v.kind) {
		case TL_TUPLE: return "'tuple object'";
		case TL_ITEMS: return "'dict_items object'";
		case TL_KEYS: return "'dict_keys object'";
		case TL_VALUES: return "'dict_values object'";
		default: return "'list object'";
		}
	default: return "'object'";
	}
}

bool tv_truthy(tval v)
{
	switch (v.type) {
	case TV_BOOL: return v.u.b;
	case TV_INT: return v.u.i != 0;
	case TV_FLOAT: return v.u.f != 0.0;
	case TV_STR: return v.len != 0;
	case TV_LIST: return v.u.l->n != 0;
	case TV_DICT: return v.u.d->n != 0;
	case TV_LOOP: return true;
	default: return false;
	}
}

int tv_undef_error(tpl_state *st, const tnode *at, tval v)
{
	return tpl_err(st, at, "%s", v.u.hint ? v.u.hint : "undefined value");
}

static bool is_intlike(tval v)
{
	return v.type == TV_INT || v.type == TV_BOOL;
}

static bool is_num(tval v)
{
	return v.type == TV_INT || v.type == TV_BOOL || v.type == TV_FLOAT;
}

static int64_t as_int(tval v)
{
	return v.type == TV_BOOL ? (int64_t)v.u.b : v.u.i;
}

static double as_float(tval v)
{
	return v.type == TV_FLOAT ? v.u.f : (double)as_int(v);
}

/* ---- printing ---- */

void tv_float_repr(char out[40], double f)
{
	char buf[40], digits[24];
	int prec, exp10, nd = 0;
	const char *p;
	char *o = out;

	if (isnan(f)) {
		memcpy(out, "nan", 4);
		return;
	}
	if (isinf(f)) {
		memcpy(out, f < 0 ? "-inf" : "inf", f < 0 ? 5 : 4);
		return;
	}
	if (f == 0.0) {
		memcpy(out, signbit(f) ? "-0.0" : "0.0", signbit(f) ? 5 : 4);
		return;
	}
	/* the fewest significant digits that read back as the same double */
	for (prec = 1; prec <= 17; prec++) {
		snprintf(buf, sizeof(buf), "%.*e", prec - 1, f);
		if (strtod(buf, NULL) == f)
			break;
	}
	p = buf;
	if (*p == '-')
		*o++ = *p++;
	for (; *p && *p != 'e'; p++)
		if (*p >= '0' && *p <= '9')
			digits[nd++] = *p;
	exp10 = (int)strtol(p + 1, NULL, 10);
	while (nd > 1 && digits[nd - 1] == '0')
		nd--;
	if (exp10 >= -4 && exp10 < 16) {
		if (exp10 >= 0) {
			for (int i = 0; i <= exp10; i++)
				*o++ = i < nd ? digits[i] : '0';
			*o++ = '.';
			if (nd > exp10 + 1) {
				for (int i = exp10 + 1; i < nd; i++)
					*o++ = digits[i];
			} else {
				*o++ = '0';
			}
		} else {
			*o++ = '0';
			*o++ = '.';
			for (int i = 0; i < -exp10 - 1; i++)
				*o++ = '0';
			for (int i = 0; i < nd; i++)
				*o++ = digits[i];
		}
		*o = '\0';
	} else {
		*o++ = digits[0];
		if (nd > 1) {
			*o++ = '.';
			for (int i = 1; i < nd; i++)
				*o++ = digits[i];
		}
		{
			int e = exp10 < 0 ? -exp10 : exp10;   /* at most 324 for a double */
			snprintf(o, 16, "e%c%02d", exp10 < 0 ? '-' : '+', e % 1000);
		}
	}
}

void tv_buf_init(tpl_state *st, rc_buf *b)
{
	rc_buf_init(b, st->max_str);
}

int tv_buf_error(tpl_state *st, const tnode *at)
{
	return tpl_err(st, at, "string longer than %zu bytes", st->max_str);
}

tval tv_from_buf(tpl_state *st, rc_buf *b)
{
	tval v = tv_str_copy(st, b->ptr, b->len);
	rc_buf_release(b);
	return v;
}

/* Containers being printed, to print a list that holds itself as Python does ("[...]"). */
typedef struct print_ctx {
	const void *stack[64];
	size_t n;
	size_t depth;
} print_ctx;

static int append_repr(tpl_state *st, const tnode *at, rc_buf *b, tval v, print_ctx *pc);

static int append_pystr_repr(rc_buf *b, const char *s, size_t n)
{
	char q = '\'';
	int err = 0;

	if (memchr(s, '\'', n) && !memchr(s, '"', n))
		q = '"';
	err |= rc_buf_addch(b, q);
	for (size_t i = 0; i < n && !err;) {
		uint32_t c;
		size_t k = tpl_utf8_len(s + i, n - i, &c);
		if (c == (uint32_t)q || c == '\\') {
			err |= rc_buf_addch(b, '\\');
			err |= rc_buf_addch(b, (int)c);
		} else if (c == '\t') {
			err |= rc_buf_adds(b, "\\t");
		} else if (c == '\n') {
			err |= rc_buf_adds(b, "\\n");
		} else if (c == '\r') {
			err |= rc_buf_adds(b, "\\r");
		} else if (c < 0x20 || c == 0x7f || (c >= 0x80 && c <= 0xa0) || c == 0xad) {
			err |= rc_buf_addf(b, "\\x%02x", (unsigned)c);
		} else if (c == 0x2028 || c == 0x2029 || (c >= 0xdc80 && c <= 0xdcff && k == 1)) {
			err |= rc_buf_addf(b, "\\u%04x", (unsigned)c);
		} else {
			err |= rc_buf_add(b, s + i, k);
		}
		i += k;
	}
	err |= rc_buf_addch(b, q);
	return err ? -1 : 0;
}

static int append_scalar(rc_buf *b, tval v)
{
	char fb[40];

	switch (v.type) {
	case TV_UNDEF: return 0;
	case TV_NONE: return rc_buf_adds(b, "None");
	case TV_BOOL: return rc_buf_adds(b, v.u.b ? "True" : "False");
	case TV_INT: return rc_buf_addf(b, "%" PRId64, v.u.i);
	case TV_FLOAT:
		tv_float_repr(fb, v.u.f);
		return rc_buf_adds(b, fb);
	case TV_STR: return rc_buf_add(b, v.u.s, v.len);
	case TV_LOOP:
		return rc_buf_addf(b, "<LoopContext %zu/%zu>", v.u.loop->i + 1, v.u.loop->seq->n);
	default: return -1;
	}
}

static int append_container(tpl_state *st, const tnode *at, rc_buf *b, tval v, print_ctx *pc)
{
	const void *self = v.type == TV_DICT ? (const void *)v.u.d : (const void *)v.u.l;
	const char *open, *close;
	int err = 0;

	/* deeper than the stack holds, the depth limit stops a cycle */
	for (size_t i = 0; i < pc->n && i < RC_ARRAY_SIZE(pc->stack); i++)
		if (pc->stack[i] == self)
			return rc_buf_adds(b, v.type == TV_DICT ? "{...}" :
					   v.kind == TL_TUPLE ? "(...)" : "[...]") ? -2 : 0;
	if (pc->depth >= st->max_depth)
		return tpl_err(st, at, "value nested too deeply to print");
	if (tpl_charge(st, at, 1 + (v.type == TV_DICT ? v.u.d->n : v.u.l->n)) < 0)
		return -1;
	if (pc->n < RC_ARRAY_SIZE(pc->stack))
		pc->stack[pc->n] = self;
	pc->n++;
	pc->depth++;
	if (v.type == TV_DICT) {
		const tv_dict *d = v.u.d;
		err |= rc_buf_addch(b, '{') ? -2 : 0;
		for (size_t i = 0; i < d->n && !err; i++) {
			if (i)
				err |= rc_buf_adds(b, ", ") ? -2 : 0;
			if (!err)
				err = append_repr(st, at, b, d->keys[i], pc);
			if (!err)
				err = rc_buf_adds(b, ": ") ? -2 : 0;
			if (!err)
				err = append_repr(st, at, b, d->vals[i], pc);
		}
		if (!err)
			err = rc_buf_addch(b, '}') ? -2 : 0;
	} else {
		const tv_list *l = v.u.l;
		switch (v.kind) {
		case TL_TUPLE: open = "("; close = l->n == 1 ? ",)" : ")"; break;
		case TL_ITEMS: open = "dict_items(["; close = "])"; break;
		case TL_KEYS: open = "dict_keys(["; close = "])"; break;
		case TL_VALUES: open = "dict_values(["; close = "])"; break;
		default: open = "["; close = "]"; break;
		}
		err = rc_buf_adds(b, open) ? -2 : 0;
		for (size_t i = 0; i < l->n && !err; i++) {
			if (i)
				err = rc_buf_adds(b, ", ") ? -2 : 0;
			if (!err)
				err = append_repr(st, at, b, l->items[i], pc);
		}
		if (!err)
			err = rc_buf_adds(b, close) ? -2 : 0;
	}
	pc->n--;
	pc->depth--;
	return err;
}

/* 0; -1 error reported; -2 the buffer is full (not yet reported) */
static int append_repr(tpl_state *st, const tnode *at, rc_buf *b, tval v, print_ctx *pc)
{
	switch (v.type) {
	case TV_STR: return append_pystr_repr(b, v.u.s, v.len) ? -2 : 0;
	case TV_UNDEF: return rc_buf_adds(b, "Undefined") ? -2 : 0;
	case TV_LIST:
	case TV_DICT: return append_container(st, at, b, v, pc);
	default: return append_scalar(b, v) ? -2 : 0;
	}
}

int tv_append_repr(tpl_state *st, const tnode *at, rc_buf *b, tval v)
{
	print_ctx pc = { .n = 0 };
	int err = append_repr(st, at, b, v, &pc);
	if (err == -2)
		return tv_buf_error(st, at);
	return err;
}

int tv_repr_short(tpl_state *st, const tnode *at, tval v, char *out, size_t size)
{
	print_ctx pc = { .n = 0 };
	rc_buf b;
	int err;

	rc_buf_init(&b, size > 4 ? size - 4 : 1);
	err = append_repr(st, at, &b, v, &pc);
	if (err == -1) {
		rc_buf_release(&b);
		return -1;
	}
	snprintf(out, size, "%s%s", b.ptr, err == -2 ? "..." : "");
	rc_buf_release(&b);
	return 0;
}

int tv_append_str(tpl_state *st, const tnode *at, rc_buf *b, tval v)
{
	if (v.type == TV_LIST || v.type == TV_DICT)
		return tv_append_repr(st, at, b, v);
	if (append_scalar(b, v))
		return tv_buf_error(st, at);
	return 0;
}

int tv_to_str(tpl_state *st, const tnode *at, tval v, tval *out)
{
	rc_buf b;

	if (v.type == TV_STR) {
		*out = v;
		return 0;
	}
	if (v.type == TV_UNDEF) {
		*out = tv_str("", 0);
		return 0;
	}
	tv_buf_init(st, &b);
	if (tv_append_str(st, at, &b, v) < 0) {
		rc_buf_release(&b);
		return -1;
	}
	*out = tv_from_buf(st, &b);
	return 0;
}

/* ---- equality, ordering, hashing ---- */

/* -1, 0, 1 comparing an int with a float exactly, 2 when unordered (nan) */
static int cmp_int_float(int64_t i, double f)
{
	double fl;
	int64_t t;

	if (isnan(f))
		return 2;
	if (f >= 9223372036854775808.0)
		return -1;
	if (f < -9223372036854775808.0)
		return 1;
	fl = tpl_floor(f);
	t = (int64_t)fl;
	if (i != t)
		return i < t ? -1 : 1;
	return f > fl ? -1 : 0;
}

static int num_cmp(tval a, tval b)
{
	if (is_intlike(a) && is_intlike(b)) {
		int64_t x = as_int(a), y = as_int(b);
		return x < y ? -1 : x > y;
	}
	if (is_intlike(a))
		return cmp_int_float(as_int(a), b.u.f);
	if (is_intlike(b)) {
		int c = cmp_int_float(as_int(b), a.u.f);
		return c == 2 ? 2 : -c;
	}
	if (isnan(a.u.f) || isnan(b.u.f))
		return 2;
	return a.u.f < b.u.f ? -1 : a.u.f > b.u.f;
}

static int value_eq(tpl_state *st, const tnode *at, tval a, tval b, size_t depth, bool *out);

static int list_eq(tpl_state *st, const tnode *at, const tv_list *x, const tv_list *y, size_t depth,
		   bool *out)
{
	*out = false;
	if (x->n != y->n)
		return 0;
	if (tpl_charge(st, at, x->n) < 0)
		return -1;
	for (size_t i = 0; i < x->n; i++) {
		bool e;
		if (value_eq(st, at, x->items[i], y->items[i], depth + 1, &e) < 0)
			return -1;
		if (!e)
			return 0;
	}
	*out = true;
	return 0;
}

static int value_eq(tpl_state *st, const tnode *at, tval a, tval b, size_t depth, bool *out)
{
	*out = false;
	if (depth > st->max_depth)
		return tpl_err(st, at, "values nested too deeply to compare");
	if (is_num(a) && is_num(b)) {
		*out = num_cmp(a, b) == 0;
		return 0;
	}
	if (a.type != b.type)
		return 0;
	switch (a.type) {
	case TV_UNDEF:
	case TV_NONE:
		*out = true;
		return 0;
	case TV_STR:
		*out = a.len == b.len && (a.len == 0 || memcmp(a.u.s, b.u.s, a.len) == 0);
		return 0;
	case TV_LOOP:
		*out = a.u.loop == b.u.loop;
		return 0;
	case TV_LIST:
		if ((a.kind == TL_TUPLE) != (b.kind == TL_TUPLE) || (a.kind == TL_LIST) != (b.kind == TL_LIST))
			return 0;
		if (a.u.l == b.u.l) {
			*out = true;
			return 0;
		}
		return list_eq(st, at, a.u.l, b.u.l, depth, out);
	case TV_DICT:
		if (a.u.d->n != b.u.d->n)
			return 0;
		if (tpl_charge(st, at, a.u.d->n) < 0)
			return -1;
		for (size_t i = 0; i < a.u.d->n; i++) {
			tval w;
			bool e;
			int r = tv_dict_get(st, at, b.u.d, a.u.d->keys[i], &w);
			if (r < 0)
				return -1;
			if (!r)
				return 0;
			if (value_eq(st, at, a.u.d->vals[i], w, depth + 1, &e) < 0)
				return -1;
			if (!e)
				return 0;
		}
		*out = true;
		return 0;
	default:
		return 0;
	}
}

static uint64_t mix64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return x;
}

static int value_hash(tpl_state *st, const tnode *at, tval v, size_t depth, uint64_t *h)
{
	if (depth > st->max_depth)
		return tpl_err(st, at, "value nested too deeply to hash");
	switch (v.type) {
	case TV_UNDEF: *h = 0x5bd1e995; return 0;
	case TV_NONE: *h = 0x27d4eb2f; return 0;
	case TV_BOOL:
	case TV_INT: *h = mix64((uint64_t)as_int(v)); return 0;
	case TV_FLOAT:
		if (v.u.f == tpl_floor(v.u.f) && v.u.f >= -9223372036854775808.0 && v.u.f < 9223372036854775808.0) {
			*h = mix64((uint64_t)(int64_t)v.u.f);
		} else {
			uint64_t bits;
			memcpy(&bits, &v.u.f, sizeof(bits));
			*h = mix64(bits);
		}
		return 0;
	case TV_STR: {
		uint64_t x = 1469598103934665603ULL;
		for (size_t i = 0; i < v.len; i++)
			x = (x ^ (unsigned char)v.u.s[i]) * 1099511628211ULL;
		*h = x;
		return 0;
	}
	case TV_LOOP: *h = mix64((uint64_t)(uintptr_t)v.u.loop); return 0;
	case TV_LIST:
		if (v.kind == TL_TUPLE) {
			uint64_t x = 0x345678;
			if (tpl_charge(st, at, v.u.l->n) < 0)
				return -1;
			for (size_t i = 0; i < v.u.l->n; i++) {
				uint64_t e;
				if (value_hash(st, at, v.u.l->items[i], depth + 1, &e) < 0)
					return -1;
				x = mix64(x ^ e) + i;
			}
			*h = x;
			return 0;
		}
		/* fall through */
	default:
		return tpl_err(st, at, "unhashable type: '%s'", tv_type_name(v));
	}
}

static void dict_rehash(tpl_state *st, tv_dict *d, size_t nslots)
{
	d->slots = tpl_alloc(&st->arena, nslots * sizeof(uint32_t));
	d->nslots = nslots;
	for (size_t i = 0; i < d->n; i++) {
		uint64_t h = 0;
		size_t s;
		value_hash(st, NULL, d->keys[i], 0, &h);   /* hashable: it is a key */
		s = h & (nslots - 1);
		while (d->slots[s])
			s = (s + 1) & (nslots - 1);
		d->slots[s] = (uint32_t)(i + 1);
	}
}

/* index of `k` in d, or -1; -2 on error */
static long dict_find(tpl_state *st, const tnode *at, const tv_dict *d, tval k, uint64_t *hash_out)
{
	uint64_t h;
	bool e;

	if (value_hash(st, at, k, 0, &h) < 0)
		return -2;
	if (hash_out)
		*hash_out = h;
	if (!d->nslots) {
		for (size_t i = 0; i < d->n; i++) {
			if (value_eq(st, at, d->keys[i], k, 0, &e) < 0)
				return -2;
			if (e)
				return (long)i;
		}
		return -1;
	}
	for (size_t s = h & (d->nslots - 1);; s = (s + 1) & (d->nslots - 1)) {
		uint32_t idx = d->slots[s];
		if (!idx)
			return -1;
		if (value_eq(st, at, d->keys[idx - 1], k, 0, &e) < 0)
			return -2;
		if (e)
			return (long)idx - 1;
	}
}

int tv_dict_get(tpl_state *st, const tnode *at, const tv_dict *d, tval k, tval *out)
{
	long i = dict_find(st, at, d, k, NULL);
	if (i == -2)
		return -1;
	if (i < 0)
		return 0;
	*out = d->vals[i];
	return 1;
}

int tv_dict_set(tpl_state *st, const tnode *at, tv_dict *d, tval k, tval v)
{
	long i = dict_find(st, at, d, k, NULL);

	if (i == -2)
		return -1;
	if (i >= 0) {
		d->vals[i] = v;   /* Python keeps the first key and its place */
		return 0;
	}
	if (d->n >= st->max_items)
		return tpl_err(st, at, "dict larger than %zu items", st->max_items);
	if (d->n == d->alloc) {
		size_t na = d->alloc ? d->alloc * 2 : 8;
		tval *keys = tpl_alloc_raw(&st->arena, na * sizeof(tval));
		tval *vals = tpl_alloc_raw(&st->arena, na * sizeof(tval));
		if (d->n) {
			memcpy(keys, d->keys, d->n * sizeof(tval));
			memcpy(vals, d->vals, d->n * sizeof(tval));
		}
		d->keys = keys;
		d->vals = vals;
		d->alloc = na;
	}
	d->keys[d->n] = k;
	d->vals[d->n] = v;
	d->n++;
	if (d->n > 8 && d->n * 2 > d->nslots) {
		size_t ns = 32;
		while (ns < d->n * 4)
			ns *= 2;
		dict_rehash(st, d, ns);
	} else if (d->nslots) {
		uint64_t h = 0;
		size_t s;
		value_hash(st, at, k, 0, &h);
		s = h & (d->nslots - 1);
		while (d->slots[s])
			s = (s + 1) & (d->nslots - 1);
		d->slots[s] = (uint32_t)d->n;
	}
	return 0;
}

static const char *op_text(int op)
{
	static const char *const t[] = {
		"+", "-", "*", "/", "//", "%", "**", "~", "==", "!=", "<", "<=", ">", ">=", "in", "not in"
	};
	return t[op];
}

static int order(tpl_state *st, const tnode *at, int op, tval a, tval b, size_t depth, bool *out)
{
	int c;

	if (a.type == TV_UNDEF)
		return tv_undef_error(st, at, a);
	if (b.type == TV_UNDEF)
		return tv_undef_error(st, at, b);
	if (depth > st->max_depth)
		return tpl_err(st, at, "values nested too deeply to compare");
	if (is_num(a) && is_num(b)) {
		c = num_cmp(a, b);
		if (c == 2) {
			*out = false;
			return 0;
		}
	} else if (a.type == TV_STR && b.type == TV_STR) {
		size_t m = a.len < b.len ? a.len : b.len;
		c = m ? memcmp(a.u.s, b.u.s, m) : 0;
		if (!c)
			c = a.len < b.len ? -1 : a.len > b.len;
		else
			c = c < 0 ? -1 : 1;
	} else if (a.type == TV_LIST && b.type == TV_LIST && a.kind == b.kind &&
		   (a.kind == TL_LIST || a.kind == TL_TUPLE)) {
		size_t i, n = a.u.l->n < b.u.l->n ? a.u.l->n : b.u.l->n;
		if (tpl_charge(st, at, n) < 0)
			return -1;
		for (i = 0; i < n; i++) {
			bool e;
			if (value_eq(st, at, a.u.l->items[i], b.u.l->items[i], depth + 1, &e) < 0)
				return -1;
			if (!e)
				return order(st, at, op, a.u.l->items[i], b.u.l->items[i], depth + 1, out);
		}
		c = a.u.l->n < b.u.l->n ? -1 : a.u.l->n > b.u.l->n;
	} else {
		return tpl_err(st, at, "'%s' not supported between instances of '%s' and '%s'",
			       op_text(op), tv_type_name(a), tv_type_name(b));
	}
	switch (op) {
	case OP_LT: *out = c < 0; break;
	case OP_LE: *out = c <= 0; break;
	case OP_GT: *out = c > 0; break;
	default: *out = c >= 0; break;
	}
	return 0;
}

static int contains(tpl_state *st, const tnode *at, tval hay, tval needle, bool *out)
{
	*out = false;
	switch (hay.type) {
	case TV_UNDEF:
		return 0;
	case TV_STR:
		if (needle.type != TV_STR)
			return tpl_err(st, at, "'in <string>' requires string as left operand, not %s",
				       tv_type_name(needle));
		*out = needle.len == 0 || memmem(hay.u.s, hay.len, needle.u.s, needle.len) != NULL;
		return tpl_charge(st, at, hay.len / 64);
	case TV_LIST:
		if (tpl_charge(st, at, hay.u.l->n) < 0)
			return -1;
		for (size_t i = 0; i < hay.u.l->n; i++) {
			if (value_eq(st, at, hay.u.l->items[i], needle, 0, out) < 0)
				return -1;
			if (*out)
				return 0;
		}
		return 0;
	case TV_DICT: {
		tval w;
		int r = tv_dict_get(st, at, hay.u.d, needle, &w);
		if (r < 0)
			return -1;
		*out = r == 1;
		return 0;
	}
	default:
		return tpl_err(st, at, "argument of type '%s' is not iterable", tv_type_name(hay));
	}
}

int tv_compare(tpl_state *st, const tnode *at, int op, tval a, tval b, bool *out)
{
	switch (op) {
	case OP_EQ:
		return value_eq(st, at, a, b, 0, out);
	case OP_NE:
		if (value_eq(st, at, a, b, 0, out) < 0)
			return -1;
		*out = !*out;
		return 0;
	case OP_IN:
		return contains(st, at, b, a, out);
	case OP_NOTIN:
		if (contains(st, at, b, a, out) < 0)
			return -1;
		*out = !*out;
		return 0;
	default:
		return order(st, at, op, a, b, 0, out);
	}
}

/* ---- arithmetic ---- */

static int overflow(tpl_state *st, const tnode *at)
{
	return tpl_err(st, at, "integer overflow");
}

static int float_result(tpl_state *st, const tnode *at, double f, tval *out)
{
	(void)st;
	(void)at;
	*out = tv_float(f);
	return 0;
}

static int repeat(tpl_state *st, const tnode *at, tval seq, int64_t times, tval *out)
{
	if (times < 0)
		times = 0;
	if (seq.type == TV_STR) {
		char *p;
		if (seq.len && (uint64_t)times > st->max_str / seq.len)
			return tv_buf_error(st, at);
		if (tpl_reserve(st, at, seq.len * (size_t)times) < 0)
			return -1;
		p = tpl_alloc_raw(&st->arena, seq.len * (size_t)times + 1);
		for (int64_t i = 0; i < times; i++)
			memcpy(p + (size_t)i * seq.len, seq.u.s, seq.len);
		p[seq.len * (size_t)times] = '\0';
		*out = tv_str(p, seq.len * (size_t)times);
		return tpl_charge(st, at, seq.len * (size_t)times / 64);
	} else {
		const tv_list *l = seq.u.l;
		tval r;
		if (l->n && (uint64_t)times > st->max_items / l->n)
			return tpl_err(st, at, "list longer than %zu items", st->max_items);
		if (tpl_reserve(st, at, l->n * (size_t)times * sizeof(tval)) < 0)
			return -1;
		r = tv_list_new(st, seq.kind, l->n * (size_t)times);
		for (int64_t i = 0; i < times; i++)
			for (size_t j = 0; j < l->n; j++)
				r.u.l->items[r.u.l->n++] = l->items[j];
		*out = r;
		return tpl_charge(st, at, l->n * (size_t)times);
	}
}

static int concat_str(tpl_state *st, const tnode *at, tval a, tval b, tval *out)
{
	char *p;

	if (a.len > st->max_str || b.len > st->max_str - a.len)
		return tv_buf_error(st, at);
	if (!b.len) {
		*out = a;
		return 0;
	}
	if (!a.len) {
		*out = b;
		return 0;
	}
	p = tpl_alloc_raw(&st->arena, a.len + b.len + 1);
	memcpy(p, a.u.s, a.len);
	memcpy(p + a.len, b.u.s, b.len);
	p[a.len + b.len] = '\0';
	*out = tv_str(p, a.len + b.len);
	return tpl_charge(st, at, (a.len + b.len) / 64);
}

static int int_pow(tpl_state *st, const tnode *at, int64_t base, int64_t e, tval *out)
{
	int64_t r = 1;

	while (e > 0) {
		if (e & 1) {
			if (__builtin_mul_overflow(r, base, &r))
				return overflow(st, at);
		}
		e >>= 1;
		if (e && __builtin_mul_overflow(base, base, &base))
			return overflow(st, at);
	}
	*out = tv_int(r);
	return 0;
}

static int type_error(tpl_state *st, const tnode *at, int op, tval a, tval b)
{
	return tpl_err(st, at, "unsupported operand type(s) for %s: '%s' and '%s'", op_text(op),
		       tv_type_name(a), tv_type_name(b));
}

int tv_binop(tpl_state *st, const tnode *at, int op, tval a, tval b, tval *out)
{
	if (op == OP_CONCAT) {
		tval x, y;
		if (tv_to_str(st, at, a, &x) < 0 || tv_to_str(st, at, b, &y) < 0)
			return -1;
		return concat_str(st, at, x, y, out);
	}
	if (a.type == TV_UNDEF)
		return tv_undef_error(st, at, a);
	if (b.type == TV_UNDEF)
		return tv_undef_error(st, at, b);

	if (is_num(a) && is_num(b)) {
		if (is_intlike(a) && is_intlike(b)) {
			int64_t x = as_int(a), y = as_int(b), r;
			switch (op) {
			case OP_ADD:
				if (__builtin_add_overflow(x, y, &r))
					return overflow(st, at);
				*out = tv_int(r);
				return 0;
			case OP_SUB:
				if (__builtin_sub_overflow(x, y, &r))
					return overflow(st, at);
				*out = tv_int(r);
				return 0;
			case OP_MUL:
				if (__builtin_mul_overflow(x, y, &r))
					return overflow(st, at);
				*out = tv_int(r);
				return 0;
			case OP_DIV:
				if (!y)
					return tpl_err(st, at, "division by zero");
				return float_result(st, at, (double)x / (double)y, out);
			case OP_FLOORDIV:
				if (!y)
					return tpl_err(st, at, "division by zero");
				if (x == INT64_MIN && y == -1)
					return overflow(st, at);
				r = x / y;
				if (x % y != 0 && ((x < 0) != (y < 0)))
					r--;
				*out = tv_int(r);
				return 0;
			case OP_MOD:
				if (!y)
					return tpl_err(st, at, "division by zero");
				if (y == -1) {
					*out = tv_int(0);
					return 0;
				}
				r = x % y;
				if (r != 0 && ((r < 0) != (y < 0)))
					r += y;
				*out = tv_int(r);
				return 0;
			case OP_POW:
				if (y < 0) {
					if (!x)
						return tpl_err(st, at, "0.0 cannot be raised to a negative power");
					return float_result(st, at, tpl_powi((double)x, y), out);
				}
				return int_pow(st, at, x, y, out);
			default:
				break;
			}
		} else {
			double x = as_float(a), y = as_float(b), m;
			switch (op) {
			case OP_ADD: return float_result(st, at, x + y, out);
			case OP_SUB: return float_result(st, at, x - y, out);
			case OP_MUL: return float_result(st, at, x * y, out);
			case OP_DIV:
				if (y == 0.0)
					return tpl_err(st, at, "division by zero");
				return float_result(st, at, x / y, out);
			case OP_FLOORDIV:
			case OP_MOD: {
				/* CPython's float_divmod */
				double div, fl;
				if (y == 0.0)
					return tpl_err(st, at, "division by zero");
				m = tpl_fmod(x, y);
				div = (x - m) / y;
				if (m != 0.0) {
					if ((y < 0) != (m < 0)) {
						m += y;
						div -= 1.0;
					}
				} else {
					m = tpl_copysign(0.0, y);
				}
				if (div != 0.0) {
					fl = tpl_floor(div);
					if (div - fl > 0.5)
						fl += 1.0;
				} else {
					fl = tpl_copysign(0.0, x / y);
				}
				return float_result(st, at, op == OP_MOD ? m : fl, out);
			}
			case OP_POW:
				if (x == 0.0 && y < 0)
					return tpl_err(st, at, "0.0 cannot be raised to a negative power");
				if (y != tpl_floor(y) || y > 9.2e18 || y < -9.2e18)
					return tpl_err(st, at, "fractional powers are not supported");
				return float_result(st, at, tpl_powi(x, (int64_t)y), out);
			default:
				break;
			}
		}
		return type_error(st, at, op, a, b);
	}
	if (op == OP_ADD) {
		if (a.type == TV_STR && b.type == TV_STR)
			return concat_str(st, at, a, b, out);
		if (a.type == TV_LIST && b.type == TV_LIST && a.kind == b.kind &&
		    (a.kind == TL_LIST || a.kind == TL_TUPLE)) {
			const tv_list *x = a.u.l, *y = b.u.l;
			tval r;
			if (x->n + y->n > st->max_items)
				return tpl_err(st, at, "list longer than %zu items", st->max_items);
			if (tpl_reserve(st, at, (x->n + y->n) * sizeof(tval)) < 0)
				return -1;
			r = tv_list_new(st, a.kind, x->n + y->n);
			if (x->n)
				memcpy(r.u.l->items, x->items, x->n * sizeof(tval));
			if (y->n)
				memcpy(r.u.l->items + x->n, y->items, y->n * sizeof(tval));
			r.u.l->n = x->n + y->n;
			*out = r;
			return tpl_charge(st, at, r.u.l->n);
		}
		if (a.type == TV_STR || (a.type == TV_LIST && (a.kind == TL_LIST || a.kind == TL_TUPLE)))
			return tpl_err(st, at, "can only concatenate %s (not \"%s\") to %s",
				       tv_type_name(a), tv_type_name(b), tv_type_name(a));
	}
	if (op == OP_MUL) {
		bool seq_a = a.type == TV_STR || (a.type == TV_LIST && (a.kind == TL_LIST || a.kind == TL_TUPLE));
		bool seq_b = b.type == TV_STR || (b.type == TV_LIST && (b.kind == TL_LIST || b.kind == TL_TUPLE));
		if (seq_a && is_intlike(b))
			return repeat(st, at, a, as_int(b), out);
		if (seq_b && is_intlike(a))
			return repeat(st, at, b, as_int(a), out);
	}
	return type_error(st, at, op, a, b);
}

int tv_neg(tpl_state *st, const tnode *at, tval a, bool plus, tval *out)
{
	if (a.type == TV_UNDEF)
		return tv_undef_error(st, at, a);
	if (a.type == TV_FLOAT) {
		*out = tv_float(plus ? a.u.f : -a.u.f);
		return 0;
	}
	if (is_intlike(a)) {
		int64_t i = as_int(a);
		if (!plus && i == INT64_MIN)
			return overflow(st, at);
		*out = tv_int(plus ? i : -i);
		return 0;
	}
	return tpl_err(st, at, "bad operand type for unary %c: '%s'", plus ? '+' : '-', tv_type_name(a));
}

/* ---- attributes and items ---- */

static bool in_list(const char *const *names, const char *s, size_t n)
{
	for (; *names; names++)
		if (strlen(*names) == n && memcmp(*names, s, n) == 0)
			return true;
	return false;
}

static const char *const dict_methods[] = {
	"clear", "copy", "fromkeys", "get", "items", "keys", "pop", "popitem", "setdefault",
	"update", "values", NULL
};
static const char *const list_methods[] = {
	"append", "clear", "copy", "count", "extend", "index", "insert", "pop", "remove",
	"reverse", "sort", NULL
};
static const char *const tuple_methods[] = { "count", "index", NULL };
static const char *const str_methods[] = {
	"capitalize", "casefold", "center", "count", "encode", "endswith", "expandtabs", "find",
	"format", "format_map", "index", "isalnum", "isalpha", "isascii", "isdecimal", "isdigit",
	"isidentifier", "islower", "isnumeric", "isprintable", "isspace", "istitle", "isupper",
	"join", "ljust", "lower", "lstrip", "maketrans", "partition", "removeprefix",
	"removesuffix", "replace", "rfind", "rindex", "rjust", "rpartition", "rsplit", "rstrip",
	"split", "splitlines", "startswith", "strip", "swapcase", "title", "translate", "upper",
	"zfill", NULL
};
static const char *const view_methods[] = { "isdisjoint", "mapping", NULL };

static const char *const *methods_of(tval v)
{
	switch (v.type) {
	case TV_DICT: return dict_methods;
	case TV_STR: return str_methods;
	case TV_LIST:
		if (v.kind == TL_LIST)
			return list_methods;
		return v.kind == TL_TUPLE ? tuple_methods : view_methods;
	default: return NULL;
	}
}

bool tv_is_method(tval v, const char *name, size_t n)
{
	const char *const *m = methods_of(v);
	return m && in_list(m, name, n);
}

static tval missing(tpl_state *st, const tnode *at, tval obj, const char *name, size_t n)
{
	const char *tr = type_repr(obj);
	char *hint;

	if (at && at->kind == N_GETATTR && at->hint && at->hint_type == tr)
		return tv_undef(at->hint);
	hint = tpl_alloc_hint(st, "%s has no attribute '%.*s'", tr, (int)n, name);
	if (at && at->kind == N_GETATTR) {
		/* the node is the render's own: the cache is all that changes in it */
		tnode *w = (tnode *)(uintptr_t)at;
		w->hint = hint;
		w->hint_type = tr;
	}
	return tv_undef(hint);
}

static int loop_attr(tpl_state *st, const tnode *at, const tv_loop *lp, const char *name, size_t n,
		     tval *out)
{
	size_t len = lp->seq->n, i = lp->i;
#define IS(s) (n == sizeof(s) - 1 && memcmp(name, s, n) == 0)
	if (IS("index"))
		*out = tv_int((int64_t)i + 1);
	else if (IS("index0"))
		*out = tv_int((int64_t)i);
	else if (IS("first"))
		*out = tv_bool(i == 0);
	else if (IS("last"))
		*out = tv_bool(i + 1 >= len);
	else if (IS("length"))
		*out = tv_int((int64_t)len);
	else if (IS("revindex"))
		*out = tv_int((int64_t)(len > i ? len - i : 0));
	else if (IS("revindex0"))
		*out = tv_int((int64_t)(len > i + 1 ? len - i - 1 : 0));
	else if (IS("depth"))
		*out = tv_int(1);
	else if (IS("depth0"))
		*out = tv_int(0);
	else if (IS("previtem"))
		*out = i ? lp->seq->items[i - 1] :
		       tv_undef("there is no previous item");
	else if (IS("nextitem"))
		*out = i + 1 < len ? lp->seq->items[i + 1] : tv_undef("there is no next item");
	else if (IS("cycle") || IS("changed"))
		return tpl_err(st, at, "loop.%.*s() is not supported", (int)n, name);
	else
		*out = tv_undef(tpl_alloc_hint(st, "'jinja2.runtime.LoopContext object' has no attribute '%.*s'",
					       (int)n, name));
#undef IS
	return 0;
}

int tv_getattr(tpl_state *st, const tnode *at, tval obj, const char *name, size_t n, tval *out)
{
	const char *const *methods;

	if (obj.type == TV_UNDEF)
		return tv_undef_error(st, at, obj);
	if (obj.type == TV_LOOP)
		return loop_attr(st, at, obj.u.loop, name, n, out);
	methods = methods_of(obj);
	if (methods && in_list(methods, name, n))
		return tpl_err(st, at, "'%.*s' is a method of '%s' objects: call it", (int)n, name,
			       tv_type_name(obj));
	if (obj.type == TV_DICT) {
		int r = tv_dict_get(st, at, obj.u.d, tv_str(name, n), out);
		if (r < 0)
			return -1;
		if (r)
			return 0;
	}
	*out = missing(st, at, obj, name, n);
	return 0;
}

/* the code point at index `idx` (negative from the end) of a string, or false */
static bool str_index(tval s, int64_t idx, tval *out)
{
	size_t count = utf8_count(s.u.s, s.len), i = 0, k = 0;

	if (idx < 0)
		idx += (int64_t)count;
	if (idx < 0 || (uint64_t)idx >= count)
		return false;
	for (int64_t c = 0;; c++) {
		uint32_t cp;
		k = tpl_utf8_len(s.u.s + i, s.len - i, &cp);
		if (c == idx)
			break;
		i += k;
	}
	*out = tv_str(s.u.s + i, k);
	return true;
}

int tv_getitem(tpl_state *st, const tnode *at, tval obj, tval key, tval *out)
{
	if (obj.type == TV_UNDEF)
		return tv_undef_error(st, at, obj);
	if (obj.type == TV_DICT) {
		int r = tv_dict_get(st, at, obj.u.d, key, out);
		if (r < 0)
			return -1;
		if (r)
			return 0;
	} else if (obj.type == TV_LIST && (obj.kind == TL_LIST || obj.kind == TL_TUPLE) && is_intlike(key)) {
		int64_t i = as_int(key), n = (int64_t)obj.u.l->n;
		if (i < 0)
			i += n;
		if (i >= 0 && i < n) {
			*out = obj.u.l->items[i];
			return 0;
		}
	} else if (obj.type == TV_STR && is_intlike(key)) {
		if (str_index(obj, as_int(key), out))
			return 0;
	} else if (obj.type == TV_LOOP && key.type == TV_STR) {
		return loop_attr(st, at, obj.u.loop, key.u.s, key.len, out);
	}
	if (key.type == TV_STR) {
		/* Jinja2 then tries the attribute: a method, or nothing */
		const char *const *methods = methods_of(obj);
		if (methods && in_list(methods, key.u.s, key.len))
			return tpl_err(st, at, "'%.*s' is a method of '%s' objects: call it", (int)key.len,
				       key.u.s, tv_type_name(obj));
		*out = missing(st, at, obj, key.u.s, key.len);
		return 0;
	}
	{
		char buf[200];
		if (tv_repr_short(st, at, key, buf, sizeof(buf)) < 0)
			return -1;
		*out = tv_undef(tpl_alloc_hint(st, "%s has no element %s", type_repr(obj), buf));
	}
	return 0;
}

int tv_iterate(tpl_state *st, const tnode *at, tval v, tv_list **out)
{
	tval r;

	switch (v.type) {
	case TV_LIST:
		*out = v.u.l;
		return 0;
	case TV_UNDEF:
		*out = tv_list_new(st, TL_LIST, 0).u.l;
		return 0;
	case TV_DICT:
		r = tv_list_new(st, TL_LIST, v.u.d->n);
		if (v.u.d->n)
			memcpy(r.u.l->items, v.u.d->keys, v.u.d->n * sizeof(tval));
		r.u.l->n = v.u.d->n;
		*out = r.u.l;
		return tpl_charge(st, at, v.u.d->n);
	case TV_STR: {
		size_t count = utf8_count(v.u.s, v.len);
		r = tv_list_new(st, TL_LIST, count);
		for (size_t i = 0; i < v.len;) {
			uint32_t cp;
			size_t k = tpl_utf8_len(v.u.s + i, v.len - i, &cp);
			r.u.l->items[r.u.l->n++] = tv_str(v.u.s + i, k);
			i += k;
		}
		*out = r.u.l;
		return tpl_charge(st, at, count);
	}
	default:
		return tpl_err(st, at, "'%s' object is not iterable", tv_type_name(v));
	}
}
