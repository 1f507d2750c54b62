#include "base/compat.h"
#include "template/internal.h"
#include "base/util.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/banned.h"

/*
 * The lowest layer of the template engine: the arena every render
 * allocates from, and the budget (steps, memory) that every other part
 * charges; errors are reported through tpl_err(). The lexer, the parser,
 * the values and the renderer all sit on top of this file.
 */

/* ---- arena ---- */

struct tpl_chunk {
	tpl_chunk *next;
	max_align_t data[];
};

#define CHUNK_SIZE ((size_t)64 << 10)

void *tpl_alloc_raw(tpl_arena *a, size_t n)
{
	tpl_chunk *c;
	char *p;

	n = (n + 15) & ~(size_t)15;
	if (!n)
		n = 16;
	a->used += n;
	if (a->limit && a->used > a->limit)
		a->over = true;
	if (n > a->left) {
		if (n > CHUNK_SIZE / 4) {
			/* a big block gets a chunk of its own; the current one stays */
			c = rc_xmalloc(sizeof(*c) + n);
			c->next = a->chunks;
			a->chunks = c;
			return c->data;
		}
		c = rc_xmalloc(sizeof(*c) + CHUNK_SIZE);
		c->next = a->chunks;
		a->chunks = c;
		a->cur = (char *)c->data;
		a->left = CHUNK_SIZE;
	}
	p = a->cur;
	a->cur += n;
	a->left -= n;
	return p;
}

void *tpl_alloc(tpl_arena *a, size_t n)
{
	void *p = tpl_alloc_raw(a, n);
	memset(p, 0, n);
	return p;
}

void tpl_arena_release(tpl_arena *a)
{
	while (a->chunks) {
		tpl_chunk *next = a->chunks->next;
		free(a->chunks);
		a->chunks = next;
	}
	a->cur = NULL;
	a->left = a->used = 0;
	a->over = false;
}

/* ---- errors and budget ---- */

int tpl_err(tpl_state *st, const tnode *at, const char *fmt, ...)
{
	va_list ap;

	if (st->failed)
		return -1;
	st->failed = true;
	va_start(ap, fmt);
	rc_diags_vadd(st->diags, RC_DIAG_ERROR, st->file, at ? at->line : 0, at ? at->col : 0, fmt, ap);
	va_end(ap);
	return -1;
}

int tpl_check_budget(tpl_state *st, const tnode *at)
{
	if (st->failed)
		return -1;
	if (st->steps > st->max_steps)
		return tpl_err(st, at, "template takes more than %zu steps to render", st->max_steps);
	if (st->arena.over)
		return tpl_err(st, at, "template needs more than %zu bytes of memory to render",
			       st->arena.limit);
	return 0;
}

int tpl_charge(tpl_state *st, const tnode *at, size_t n)
{
	st->steps += n;
	return tpl_check_budget(st, at);
}

int tpl_reserve(tpl_state *st, const tnode *at, size_t bytes)
{
	if (st->arena.limit && (bytes > st->arena.limit || st->arena.used > st->arena.limit - bytes))
		return tpl_err(st, at, "template needs more than %zu bytes of memory to render",
			       st->arena.limit);
	return 0;
}

char *tpl_alloc_hint(tpl_state *st, const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	size_t n;
	char *p;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	n = strlen(buf);
	p = tpl_alloc_raw(&st->arena, n + 1);
	memcpy(p, buf, n + 1);
	return p;
}

