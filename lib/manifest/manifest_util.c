/*
 * The small pieces of the manifest model: ordered string maps and lists,
 * shlex splitting, envfiles and link-variable names.
 */
#include "base/compat.h"
#include "manifest/manifest.h"
#include "base/buf.h"
#include "base/util.h"
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include "base/banned.h"

#define INDEX_FROM 8

static size_t key_hash(const char *k)
{
	size_t h = 1469598103934665603ULL;   /* FNV-1a */
	for (; *k; k++)
		h = (h ^ (unsigned char)*k) * 1099511628211ULL;
	return h;
}

static void index_insert(rc_kvlist *l, size_t pos)
{
	size_t mask = l->index_cap - 1, i = key_hash(l->v[pos].key) & mask;
	while (l->index[i])
		i = (i + 1) & mask;
	l->index[i] = pos + 1;
}

/* an index for `want` keys (none under INDEX_FROM) */
static void reindex_for(rc_kvlist *l, size_t want)
{
	free(l->index);
	l->index = NULL;
	l->index_cap = 0;
	if (want < INDEX_FROM)
		return;
	l->index_cap = 16;
	while (l->index_cap < want * 2)
		l->index_cap *= 2;
	l->index = rc_xcalloc(l->index_cap, sizeof(*l->index));
	for (size_t i = 0; i < l->nr; i++)
		index_insert(l, i);
}

void rc_kvlist_reindex(rc_kvlist *l)
{
	reindex_for(l, l->nr);
}

void rc_kvlist_reserve(rc_kvlist *l, size_t extra)
{
	size_t want = l->nr + extra;

	RC_ALLOC_GROW(l->v, want, l->alloc);
	if (want >= INDEX_FROM && want * 2 > l->index_cap)
		reindex_for(l, want);
}

static rc_kv *kv_lookup(const rc_kvlist *l, const char *key)
{
	if (l->index) {
		size_t mask = l->index_cap - 1, i = key_hash(key) & mask;
		for (; l->index[i]; i = (i + 1) & mask)
			if (!strcmp(l->v[l->index[i] - 1].key, key))
				return &l->v[l->index[i] - 1];
		return NULL;
	}
	for (size_t i = 0; i < l->nr; i++)
		if (!strcmp(l->v[i].key, key))
			return &l->v[i];
	return NULL;
}

void rc_kvlist_set(rc_kvlist *l, const char *key, const char *value)
{
	rc_kv *kv = kv_lookup(l, key);

	if (kv) {
		free(kv->value);
		kv->value = value ? rc_xstrdup(value) : NULL;
		return;
	}
	RC_ALLOC_GROW(l->v, l->nr + 1, l->alloc);
	l->v[l->nr].key = rc_xstrdup(key);
	l->v[l->nr].value = value ? rc_xstrdup(value) : NULL;
	l->nr++;
	if (l->nr >= INDEX_FROM && l->nr * 2 > l->index_cap)
		rc_kvlist_reindex(l);   /* grows the table: amortized O(1) */
	else if (l->index)
		index_insert(l, l->nr - 1);
}

const rc_kv *rc_kvlist_find(const rc_kvlist *l, const char *key)
{
	return kv_lookup(l, key);
}

void rc_kvlist_release(rc_kvlist *l)
{
	for (size_t i = 0; i < l->nr; i++) {
		free(l->v[i].key);
		free(l->v[i].value);
	}
	free(l->v);
	free(l->index);
	l->v = NULL;
	l->index = NULL;
	l->nr = l->alloc = l->index_cap = 0;
}

void rc_strlist_push(rc_strlist *l, const char *s)
{
	RC_ALLOC_GROW(l->v, l->nr + 1, l->alloc);
	l->v[l->nr++] = rc_xstrdup(s);
}

bool rc_strlist_has(const rc_strlist *l, const char *s)
{
	for (size_t i = 0; i < l->nr; i++)
		if (!strcmp(l->v[i], s))
			return true;
	return false;
}

void rc_strlist_release(rc_strlist *l)
{
	for (size_t i = 0; i < l->nr; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->nr = l->alloc = 0;
}

char *rc_link_name(const char *x)
{
	char *r = rc_xstrdup(x);
	for (char *p = r; *p; p++) {
		unsigned char c = (unsigned char)*p;
		if (isalnum(c) && c < 128)
			*p = (char)toupper(c);
		else if (c != '_')
			*p = '_';
	}
	return r;
}

/*
 * shlex.split() in POSIX mode: whitespace separates words; single quotes
 * keep everything literally; double quotes keep everything but let a
 * backslash escape \ " $ ` and newline; outside quotes a backslash escapes
 * any character. No comments (shlex.split's default).
 */
char **rc_shlex_split(const char *s, const char **errmsg)
{
	char **argv = NULL;
	size_t nr = 0, alloc = 0;
	rc_buf word = RC_BUF_INIT;
	bool in_word = false;
	const char *p = s;

	for (;;) {
		char c = *p;
		if (c == '\0' || c == ' ' || c == '\t' || c == '\n' || c == '\r') {
			if (in_word) {
				RC_ALLOC_GROW(argv, nr + 2, alloc);
				argv[nr++] = rc_buf_detach(&word, NULL);
				in_word = false;
			}
			if (c == '\0')
				break;
			p++;
			continue;
		}
		in_word = true;
		if (c == '\'') {
			const char *e = strchr(p + 1, '\'');
			if (!e) {
				*errmsg = "no closing quotation";
				goto fail;
			}
			rc_buf_add(&word, p + 1, (size_t)(e - p - 1));
			p = e + 1;
		} else if (c == '"') {
			p++;
			while (*p && *p != '"') {
				if (*p == '\\' && (p[1] == '\\' || p[1] == '"' || p[1] == '$' ||
						   p[1] == '`' || p[1] == '\n'))
					p++;
				rc_buf_addch(&word, *p++);
			}
			if (!*p) {
				*errmsg = "no closing quotation";
				goto fail;
			}
			p++;
		} else if (c == '\\') {
			if (!p[1]) {
				*errmsg = "no escaped character";
				goto fail;
			}
			rc_buf_addch(&word, p[1]);
			p += 2;
		} else {
			rc_buf_addch(&word, c);
			p++;
		}
	}
	if (!argv)
		argv = rc_xcalloc(1, sizeof(*argv));
	argv[nr] = NULL;
	return argv;
fail:
	rc_buf_release(&word);
	if (argv) {
		argv[nr] = NULL;
		rc_strv_free(argv);
	}
	return NULL;
}

/*
 * Maestro-NG's envfile rules, byte for byte: a line whose first character
 * is '#' is a comment; the line is stripped; empty lines are skipped; it
 * is split at the first '=' and quotes and inner spaces are kept.
 */
int rc_envfile_parse(rc_kvlist *out, const char *text, size_t len, const char *file, rc_diags *diags)
{
	size_t pos = 0;
	int line = 0, ret = 0;

	while (pos < len) {
		const char *start = text + pos, *nl = memchr(start, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - start) : len - pos;
		const char *b = start, *e = start + n, *eq;
		char *key, *val;

		line++;
		pos += n + (nl ? 1 : 0);
		if (n && *start == '#')
			continue;
		while (b < e && isspace((unsigned char)*b))
			b++;
		while (e > b && isspace((unsigned char)e[-1]))
			e--;
		if (b == e)
			continue;
		if (memchr(b, '\0', (size_t)(e - b))) {
			rc_diags_add(diags, RC_DIAG_ERROR, file, line, 1, "NUL byte in envfile line");
			ret = RC_EINVALID;
			continue;
		}
		eq = memchr(b, '=', (size_t)(e - b));
		if (!eq) {
			rc_diags_add(diags, RC_DIAG_ERROR, file, line, (int)(b - start) + 1,
				     "line without '=' in envfile");
			ret = RC_EINVALID;
			continue;
		}
		key = rc_xstrndup(b, (size_t)(eq - b));
		val = rc_xstrndup(eq + 1, (size_t)(e - eq - 1));
		rc_kvlist_set(out, key, val);
		free(key);
		free(val);
	}
	return ret;
}
