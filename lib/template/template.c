#include "base/compat.h"
#include "template/template.h"
#include "template/internal.h"
#include "base/util.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "base/banned.h"

/*
 * The renderer: walks the tree of template_parse.c with the values of
 * template_value.c. Scoping is Jinja2's: a for loop's body (each
 * iteration afresh), a `with` block and an included template get a scope
 * of their own, `if` does not; a `set` writes to the innermost scope, so
 * that it does not leak out of a loop.
 */

typedef struct scope scope;
struct scope {
	scope *parent;
	struct var {
		const char *name;
		size_t len;
		tval v;
	} *vars;
	size_t n, alloc;
};

typedef struct include {
	char *path;
	char *display;
	tnode *body;
} include;

typedef struct render {
	tpl_state st;        /* first: tpl_state pointers are render pointers */
	include *inc;
	size_t ninc, ainc;
	size_t max_rt_depth;
} render;

/* ---- scopes ---- */

static bool scope_get(const scope *sc, const char *name, size_t n, tval *out)
{
	for (; sc; sc = sc->parent)
		for (size_t i = sc->n; i-- > 0;)
			if (sc->vars[i].len == n && !memcmp(sc->vars[i].name, name, n)) {
				*out = sc->vars[i].v;
				return true;
			}
	return false;
}

static void scope_set(scope *sc, const char *name, size_t n, tval v)
{
	for (size_t i = 0; i < sc->n; i++)
		if (sc->vars[i].len == n && !memcmp(sc->vars[i].name, name, n)) {
			sc->vars[i].v = v;
			return;
		}
	RC_ALLOC_GROW(sc->vars, sc->n + 1, sc->alloc);
	sc->vars[sc->n].name = name;
	sc->vars[sc->n].len = n;
	sc->vars[sc->n].v = v;
	sc->n++;
}

static void scope_release(scope *sc)
{
	free(sc->vars);
	sc->vars = NULL;
	sc->n = sc->alloc = 0;
}

/* ---- expressions ---- */

static int eval(render *r, scope *sc, const tnode *n, tval *out);

static int enter(render *r, const tnode *n)
{
	tpl_state *st = &r->st;
	if (++st->depth > r->max_rt_depth)
		return tpl_err(st, n, "template nested too deeply (more than %zu levels with its includes)",
			       r->max_rt_depth);
	st->steps++;
	return tpl_check_budget(st, n);
}

static int eval_args(render *r, scope *sc, const tnode *n, tv_args *a)
{
	tpl_state *st = &r->st;

	a->n = n->nkids;
	if (n->nkids <= TV_ARGS_INLINE) {
		a->v = a->v_;
		a->kw = a->kw_;
		a->kwlen = a->kwlen_;
		memset(a->kw_, 0, sizeof(a->kw_));
	} else {
		a->v = tpl_alloc_raw(&st->arena, n->nkids * sizeof(tval));
		a->kw = tpl_alloc(&st->arena, n->nkids * sizeof(char *));
		a->kwlen = tpl_alloc(&st->arena, n->nkids * sizeof(size_t));
	}
	for (size_t i = 0; i < n->nkids; i++) {
		const tnode *k = n->kids[i];
		if (k->kind == N_KWARG) {
			a->kw[i] = k->name;
			a->kwlen[i] = k->nlen;
			k = k->a;
		}
		if (eval(r, sc, k, &a->v[i]) < 0)
			return -1;
	}
	return 0;
}

static int eval_call(render *r, scope *sc, const tnode *n, tval *out)
{
	tpl_state *st = &r->st;
	const tnode *callee = n->a;
	tv_args args;
	tval obj;

	if (callee->kind == N_GETATTR) {
		if (eval(r, sc, callee->a, &obj) < 0 || eval_args(r, sc, n, &args) < 0)
			return -1;
		return tv_method(st, callee, obj, callee->name, callee->nlen, &args, out);
	}
	if (callee->kind == N_NAME && !scope_get(sc, callee->name, callee->nlen, &obj) &&
	    callee->nlen == 5 && !memcmp(callee->name, "range", 5)) {
		if (eval_args(r, sc, n, &args) < 0)
			return -1;
		return tv_range(st, callee, &args, out);
	}
	if (eval(r, sc, callee, &obj) < 0)
		return -1;
	if (obj.type == TV_UNDEF)
		return tv_undef_error(st, callee, obj);
	return tpl_err(st, callee, "'%s' object is not callable", tv_type_name(obj));
}

static int eval_inner(render *r, scope *sc, const tnode *n, tval *out)
{
	tpl_state *st = &r->st;
	tval a, b;

	switch (n->kind) {
	case N_CONST:
		*out = n->val;
		return 0;
	case N_NAME:
		if (!scope_get(sc, n->name, n->nlen, out)) {
			if (!n->hint)
				((tnode *)(uintptr_t)n)->hint = tpl_alloc_hint(st, "'%.*s' is undefined",
									      (int)n->nlen, n->name);
			*out = tv_undef(n->hint);
		}
		return 0;
	case N_GETATTR:
		if (eval(r, sc, n->a, &a) < 0)
			return -1;
		return tv_getattr(st, n, a, n->name, n->nlen, out);
	case N_GETITEM:
		if (eval(r, sc, n->a, &a) < 0 || eval(r, sc, n->b, &b) < 0)
			return -1;
		return tv_getitem(st, n, a, b, out);
	case N_CALL:
		return eval_call(r, sc, n, out);
	case N_FILTER: {
		tv_args args;
		if (eval(r, sc, n->a, &a) < 0 || eval_args(r, sc, n, &args) < 0)
			return -1;
		return tv_filter(st, n, n->op, a, &args, out);
	}
	case N_TEST: {
		bool res;
		if (eval(r, sc, n->a, &a) < 0 || tv_test(st, n, n->op, a, &res) < 0)
			return -1;
		*out = tv_bool((n->flags & TN_NEGATED) ? !res : res);
		return 0;
	}
	case N_BINOP:
		if (eval(r, sc, n->a, &a) < 0 || eval(r, sc, n->b, &b) < 0)
			return -1;
		return tv_binop(st, n, n->op, a, b, out);
	case N_NEG:
	case N_POS:
		if (eval(r, sc, n->a, &a) < 0)
			return -1;
		return tv_neg(st, n, a, n->kind == N_POS, out);
	case N_NOT:
		if (eval(r, sc, n->a, &a) < 0)
			return -1;
		*out = tv_bool(!tv_truthy(a));
		return 0;
	case N_AND:
	case N_OR:
		/* Python's: the value of the operand that decided */
		if (eval(r, sc, n->a, &a) < 0)
			return -1;
		if (tv_truthy(a) == (n->kind == N_OR)) {
			*out = a;
			return 0;
		}
		return eval(r, sc, n->b, out);
	case N_COMPARE: {
		if (eval(r, sc, n->kids[0], &a) < 0)
			return -1;
		for (size_t i = 1; i < n->nkids; i++) {
			const tnode *o = n->kids[i];
			bool res;
			if (eval(r, sc, o->a, &b) < 0 || tv_compare(st, o, o->op, a, b, &res) < 0)
				return -1;
			if (!res) {
				*out = tv_bool(false);
				return 0;
			}
			a = b;
		}
		*out = tv_bool(true);
		return 0;
	}
	case N_COND:
		if (eval(r, sc, n->a, &a) < 0)
			return -1;
		if (tv_truthy(a))
			return eval(r, sc, n->b, out);
		if (n->c)
			return eval(r, sc, n->c, out);
		*out = tv_undef(tpl_alloc_hint(st, "the inline if-expression on line %d evaluated to false and no else section was defined",
					       n->line));
		return 0;
	case N_LIST:
	case N_TUPLE: {
		tval l = tv_list_new(st, n->kind == N_LIST ? TL_LIST : TL_TUPLE, n->nkids);
		for (size_t i = 0; i < n->nkids; i++)
			if (eval(r, sc, n->kids[i], &l.u.l->items[i]) < 0)
				return -1;
		l.u.l->n = n->nkids;
		*out = l;
		return 0;
	}
	case N_DICT: {
		tval d = tv_dict_new(st);
		for (size_t i = 0; i + 1 < n->nkids; i += 2) {
			if (eval(r, sc, n->kids[i], &a) < 0 || eval(r, sc, n->kids[i + 1], &b) < 0 ||
			    tv_dict_set(st, n->kids[i], d.u.d, a, b) < 0)
				return -1;
		}
		*out = d;
		return 0;
	}
	default:
		return tpl_err(st, n, "internal error: not an expression");
	}
}

static int eval(render *r, scope *sc, const tnode *n, tval *out)
{
	int err;
	if (enter(r, n) < 0)
		return -1;
	err = eval_inner(r, sc, n, out);
	r->st.depth--;
	return err;
}

/* ---- statements ---- */

static int emit(render *r, const tnode *at, const char *s, size_t n)
{
	tpl_state *st = &r->st;
	if (st->out->len - st->out_start + n > st->max_output || rc_buf_add(st->out, s, n) < 0)
		return tpl_err(st, at, "output larger than %zu bytes", st->max_output);
	return 0;
}

/* Bind `v` to a name or unpack it into a tuple of names. */
static int assign(render *r, scope *sc, const tnode *target, tval v)
{
	tpl_state *st = &r->st;
	tv_list *items;

	if (target->kind == N_NAME) {
		scope_set(sc, target->name, target->nlen, v);
		return 0;
	}
	if (tv_iterate(st, target, v, &items) < 0)
		return -1;
	if (items->n < target->nkids)
		return tpl_err(st, target, "not enough values to unpack (expected %zu, got %zu)",
			       target->nkids, items->n);
	if (items->n > target->nkids)
		return tpl_err(st, target, "too many values to unpack (expected %zu)", target->nkids);
	for (size_t i = 0; i < target->nkids; i++)
		if (assign(r, sc, target->kids[i], items->items[i]) < 0)
			return -1;
	return 0;
}

static int exec_body(render *r, scope *sc, tnode *const *kids, size_t n);
static int exec_include(render *r, scope *sc, const tnode *n);

static int exec_for(render *r, scope *sc, const tnode *n)
{
	tpl_state *st = &r->st;
	scope fs = { .parent = sc };
	tv_loop *lp;
	tv_list *seq;
	tval it, loopv = { .type = TV_LOOP };
	int err = 0;

	if (eval(r, sc, n->b, &it) < 0 || tv_iterate(st, n->b, it, &seq) < 0)
		return -1;
	lp = tpl_alloc(&st->arena, sizeof(*lp));
	lp->seq = seq;
	loopv.u.loop = lp;
	/* live length: an append to the list in the body extends the loop, as in Python */
	for (size_t i = 0; i < seq->n; i++) {
		if (++st->iterations > st->max_iterations) {
			err = tpl_err(st, n, "more than %zu loop iterations", st->max_iterations);
			break;
		}
		fs.n = 0;
		lp->i = i;
		scope_set(&fs, "loop", 4, loopv);
		if ((err = assign(r, &fs, n->a, seq->items[i])) < 0)
			break;
		if ((err = exec_body(r, &fs, n->kids, n->nkids)) < 0)
			break;
	}
	if (!err && !seq->n && n->c) {
		fs.n = 0;
		err = exec_body(r, &fs, n->c->kids, n->c->nkids);
	}
	scope_release(&fs);
	return err;
}

static int exec(render *r, scope *sc, const tnode *n)
{
	tpl_state *st = &r->st;
	tval v;

	switch (n->kind) {
	case S_DATA:
		return emit(r, n, n->name, n->nlen);
	case S_PRINT: {
		rc_buf b;
		int err;
		if (eval(r, sc, n->a, &v) < 0)
			return -1;
		if (v.type == TV_STR)
			return emit(r, n, v.u.s, v.len);
		/* through a buffer of its own: printing numbers in a loop must not fill the arena */
		tv_buf_init(st, &b);
		err = tv_append_str(st, n->a, &b, v);
		if (!err)
			err = emit(r, n, b.ptr, b.len);
		rc_buf_release(&b);
		return err;
	}
	case S_SET:
		if (eval(r, sc, n->b, &v) < 0)
			return -1;
		return assign(r, sc, n->a, v);
	case S_SETBLOCK: {
		size_t mark = st->out->len;
		if (exec_body(r, sc, n->kids, n->nkids) < 0)
			return -1;
		v = tv_str_copy(st, st->out->ptr + mark, st->out->len - mark);
		rc_buf_setlen(st->out, mark);
		return assign(r, sc, n->a, v);
	}
	case S_IF:
		/* an elif chain is walked, not recursed into */
		for (const tnode *c = n; c;) {
			if (c != n && enter(r, c) < 0)
				return -1;
			if (c != n)
				st->depth--;
			if (eval(r, sc, c->a, &v) < 0)
				return -1;
			if (tv_truthy(v))
				return exec_body(r, sc, c->kids, c->nkids);
			if (c->b && c->b->kind == S_BODY)
				return exec_body(r, sc, c->b->kids, c->b->nkids);
			c = c->b;
		}
		return 0;
	case S_FOR:
		return exec_for(r, sc, n);
	case S_WITH: {
		scope ws = { .parent = sc };
		const tnode *sets = n->a;
		tval *vals = tpl_alloc_raw(&st->arena, (sets->nkids + 1) * sizeof(tval));
		int err = 0;
		/* every value is computed in the enclosing scope, then bound */
		for (size_t i = 0; i < sets->nkids; i++)
			if (eval(r, sc, sets->kids[i]->b, &vals[i]) < 0)
				return -1;
		for (size_t i = 0; i < sets->nkids && !err; i++)
			err = assign(r, &ws, sets->kids[i]->a, vals[i]);
		if (!err)
			err = exec_body(r, &ws, n->kids, n->nkids);
		scope_release(&ws);
		return err;
	}
	case S_INCLUDE:
		return exec_include(r, sc, n);
	case S_BODY:
		return exec_body(r, sc, n->kids, n->nkids);
	default:
		return tpl_err(st, n, "internal error: not a statement");
	}
}

static int exec_body(render *r, scope *sc, tnode *const *kids, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int err;
		if (enter(r, kids[i]) < 0)
			return -1;
		err = exec(r, sc, kids[i]);
		r->st.depth--;
		if (err < 0)
			return -1;
	}
	return 0;
}

/* ---- source text and includes ---- */

/*
 * As Jinja2 reads a template: UTF-8, every "\r\n" and "\r" as "\n", and
 * one trailing newline dropped. The result is in the arena.
 */
static int prepare(tpl_state *st, const char *file, const char *text, size_t len, const char **out,
		   size_t *outlen)
{
	size_t bad, k = 0;
	char *p;

	if (!tpl_utf8_valid(text, len, &bad)) {
		int line = 1, col = 1;
		for (size_t i = 0; i < bad; i++) {
			if (text[i] == '\n') {
				line++;
				col = 1;
			} else if (((unsigned char)text[i] & 0xc0) != 0x80) {
				col++;
			}
		}
		rc_diags_add(st->diags, RC_DIAG_ERROR, file, line, col, "invalid UTF-8");
		st->failed = true;
		return -1;
	}
	p = tpl_alloc_raw(&st->arena, len + 1);
	for (size_t i = 0; i < len; i++) {
		if (text[i] == '\r') {
			p[k++] = '\n';
			if (i + 1 < len && text[i + 1] == '\n')
				i++;
		} else {
			p[k++] = text[i];
		}
	}
	if (k && p[k - 1] == '\n')
		k--;
	p[k] = '\0';
	*out = p;
	*outlen = k;
	return 0;
}

static tnode *parse(tpl_state *st, const char *file, const char *text, size_t len)
{
	tpl_parse_opts po;
	tnode *body;
	size_t before = st->diags->errors;

	po.arena = &st->arena;
	po.diags = st->diags;
	po.file = file;
	po.max_depth = st->max_depth;
	body = tpl_parse(text, len, &po);
	if (!body) {
		if (st->diags->errors == before)
			rc_diags_add(st->diags, RC_DIAG_ERROR, file, 0, 0, "cannot parse template");
		st->failed = true;
	}
	return body;
}

/*
 * Jinja2's split_template_path, stricter: "." and empty components are
 * dropped, but an absolute path or a ".." is refused, not reinterpreted.
 * The result is malloc()ed, NULL with the error reported.
 */
static char *include_path(tpl_state *st, const tnode *at, tval name)
{
	const char *s = name.u.s;
	size_t n = name.len;
	rc_buf b = RC_BUF_INIT;

	if (memchr(s, '\0', n)) {
		tpl_err(st, at, "cannot include a name with a NUL byte");
		return NULL;
	}
	if (n && s[0] == '/') {
		tpl_err(st, at, "include of '%.*s' leaves the environment directory", (int)n, s);
		return NULL;
	}
	for (size_t i = 0; i < n;) {
		size_t j = i;
		while (j < n && s[j] != '/')
			j++;
		if (j - i == 2 && s[i] == '.' && s[i + 1] == '.') {
			rc_buf_release(&b);
			tpl_err(st, at, "include of '%.*s' leaves the environment directory", (int)n, s);
			return NULL;
		}
		if (j > i && !(j - i == 1 && s[i] == '.')) {
			if (b.len)
				rc_buf_addch(&b, '/');
			rc_buf_add(&b, s + i, j - i);
		}
		i = j + 1;
	}
	if (!b.len) {
		tpl_err(st, at, "cannot include an empty template name");
		return NULL;
	}
	return rc_buf_detach(&b, NULL);
}

/* 0 and *out, 1 when the file does not exist, -1 on error (reported) */
static int load_include(render *r, const tnode *at, const char *path, include **out)
{
	tpl_state *st = &r->st;
	const rc_template_opts *o = st->opts;
	rc_error err = RC_ERROR_INIT;
	rc_buf text;
	include *inc;
	const char *src;
	size_t srclen;
	int ret;

	for (size_t i = 0; i < r->ninc; i++)
		if (!strcmp(r->inc[i].path, path)) {
			*out = &r->inc[i];
			return 0;
		}
	if (!o || !o->reader)
		return tpl_err(st, at, "cannot include '%s': includes are not available here", path);
	rc_buf_init(&text, st->max_output * 4);
	ret = o->reader(o->reader_ctx, path, &text, &err);
	if (ret == RC_ENOTFOUND) {
		rc_buf_release(&text);
		return 1;
	}
	if (ret < 0) {
		rc_buf_release(&text);
		return tpl_err(st, at, "cannot include '%s': %s", path, err.msg[0] ? err.msg : "read error");
	}
	RC_ALLOC_GROW(r->inc, r->ninc + 1, r->ainc);
	inc = &r->inc[r->ninc++];
	inc->path = rc_xstrdup(path);
	inc->display = o->display_dir && *o->display_dir ?
		       rc_xstrfmt("%s/%s", o->display_dir, path) : rc_xstrdup(path);
	inc->body = NULL;
	if (prepare(st, inc->display, text.ptr, text.len, &src, &srclen) == 0)
		inc->body = parse(st, inc->display, src, srclen);
	rc_buf_release(&text);
	if (!inc->body)
		return -1;
	*out = inc;
	return 0;
}

static int exec_include(render *r, scope *sc, const tnode *n)
{
	tpl_state *st = &r->st;
	tval name;
	tv_list *names = NULL;
	include *inc = NULL;
	const char *saved_file;
	scope is = { 0 };
	int err;

	if (eval(r, sc, n->a, &name) < 0)
		return -1;
	if (name.type == TV_UNDEF)
		return tv_undef_error(st, n->a, name);
	if (name.type == TV_LIST && (name.kind == TL_LIST || name.kind == TL_TUPLE))
		names = name.u.l;
	else if (name.type != TV_STR)
		return tpl_err(st, n->a, "include expects a string, not '%s'", tv_type_name(name));
	if (st->include_depth >= st->max_include)
		return tpl_err(st, n, "includes nested more than %zu deep", st->max_include);
	if (++st->iterations > st->max_iterations)
		return tpl_err(st, n, "more than %zu loop iterations and includes", st->max_iterations);
	/* a list is Jinja2's select_template: the first that exists */
	for (size_t i = 0; i < (names ? names->n : 1); i++) {
		tval one = names ? names->items[i] : name;
		char *path;
		if (one.type != TV_STR)
			return tpl_err(st, n->a, "include expects a string, not '%s'", tv_type_name(one));
		if (!(path = include_path(st, n, one)))
			return -1;
		err = load_include(r, n, path, &inc);
		free(path);
		if (err < 0)
			return -1;
		if (err == 0)
			break;
		inc = NULL;
	}
	if (!inc) {
		if (n->flags & TN_IGNORE_MISSING)
			return 0;
		if (names) {
			char buf[400];
			if (tv_repr_short(st, n, name, buf, sizeof(buf)) < 0)
				return -1;
			return tpl_err(st, n, "cannot include any of %s: not found", buf);
		}
		return tpl_err(st, n, "cannot include '%.*s': not found", (int)name.len, name.u.s);
	}
	/* included templates see the includer's variables; what they set stays theirs */
	is.parent = (n->flags & TN_WITHOUT_CONTEXT) ? NULL : sc;
	saved_file = st->file;
	st->file = inc->display;
	st->include_depth++;
	err = exec_body(r, &is, inc->body->kids, inc->body->nkids);
	st->include_depth--;
	st->file = saved_file;
	scope_release(&is);
	return err;
}

/* ---- the API ---- */

static tval env_dict(render *r, const char *const *envp)
{
	tpl_state *st = &r->st;
	tval d = tv_dict_new(st);
	size_t max_items = st->max_items;

	/* the environment is not built by the template: no item limit */
	st->max_items = SIZE_MAX;
	if (!envp)
		envp = (const char *const *)environ;
	for (; envp && *envp; envp++) {
		const char *eq = strchr(*envp, '=');
		if (!eq)
			continue;
		/* cannot fail: string keys are hashable, and the env is far below the item limit */
		if (tv_dict_set(st, NULL, d.u.d, tv_str(*envp, (size_t)(eq - *envp)),
				tv_str(eq + 1, strlen(eq + 1))) < 0)
			break;
	}
	st->max_items = max_items;
	return d;
}

static bool has_tags(const char *s, size_t n)
{
	for (const char *p = s; (p = memchr(p, '{', n - (size_t)(p - s))) != NULL; p++)
		if ((size_t)(p - s) + 1 < n && (p[1] == '{' || p[1] == '%' || p[1] == '#'))
			return true;
	return false;
}

int rc_template_render(rc_buf *out, const char *text, size_t len, const char *file,
		       const rc_template_opts *opts, rc_diags *diags)
{
	render r;
	tpl_state *st = &r.st;
	scope root = { 0 };
	const char *src;
	size_t srclen;
	tnode *body;
	int ret = 0;

	memset(&r, 0, sizeof(r));
	st->diags = diags;
	st->opts = opts;
	st->file = file;
	st->out = out;
	st->out_start = out->len;
	st->max_output = opts && opts->max_output ? opts->max_output : RC_TEMPLATE_MAX_OUTPUT;
	st->max_include = opts && opts->max_include_depth ? opts->max_include_depth :
			  RC_TEMPLATE_MAX_INCLUDE_DEPTH;
	st->max_depth = opts && opts->max_depth ? opts->max_depth : RC_TEMPLATE_MAX_DEPTH;
	st->max_iterations = opts && opts->max_iterations ? opts->max_iterations :
			     RC_TEMPLATE_MAX_ITERATIONS;
	st->max_str = st->max_output;
	st->max_items = st->max_iterations;
	st->max_steps = st->max_iterations > SIZE_MAX / 100 ? SIZE_MAX : st->max_iterations * 100;
	st->arena.limit = st->max_output > SIZE_MAX / 16 ? SIZE_MAX : st->max_output * 16;
	if (st->arena.limit < ((size_t)16 << 20))
		st->arena.limit = (size_t)16 << 20;
	r.max_rt_depth = st->max_depth > SIZE_MAX / 4 ? SIZE_MAX : st->max_depth * 4;

	if (prepare(st, file, text, len, &src, &srclen) < 0) {
		ret = RC_EINVALID;
		goto done;
	}
	if (!has_tags(src, srclen)) {
		if (srclen > st->max_output) {
			rc_diags_add(diags, RC_DIAG_ERROR, file, 0, 0, "output larger than %zu bytes",
				     st->max_output);
			ret = RC_EINVALID;
		} else if (rc_buf_add(out, src, srclen) < 0) {
			rc_diags_add(diags, RC_DIAG_ERROR, file, 0, 0, "output larger than %zu bytes",
				     out->cap ? out->cap : RC_BUF_DEFAULT_CAP);
			ret = RC_EINVALID;
		}
		goto done;
	}
	if (!(body = parse(st, file, src, srclen))) {
		ret = RC_EINVALID;
		goto done;
	}
	scope_set(&root, "env", 3, env_dict(&r, opts ? opts->envp : NULL));
	if (exec_body(&r, &root, body->kids, body->nkids) < 0 || st->failed)
		ret = RC_EINVALID;
done:
	if (ret < 0)
		rc_buf_setlen(out, st->out_start);
	scope_release(&root);
	for (size_t i = 0; i < r.ninc; i++) {
		free(r.inc[i].path);
		free(r.inc[i].display);
	}
	free(r.inc);
	tpl_arena_release(&st->arena);
	return ret;
}
