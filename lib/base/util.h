#ifndef RC_UTIL_H
#define RC_UTIL_H
/*
 * Small helpers used everywhere.
 *
 * Allocation: the rc_x* functions never return NULL. Running out of
 * memory is not a condition this program can report sensibly from deep
 * inside a parser, so they abort() (as git's xmalloc dies); every input
 * that could make us allocate a lot is bounded before it gets here.
 *
 * Numbers: parse with rc_parse_*(); they reject empty input, trailing
 * garbage and overflow, which atoi() and friends silently accept.
 */
#include "base/compat.h"
#include <stdarg.h>

void *rc_xmalloc(size_t n);
void *rc_xcalloc(size_t nmemb, size_t size);
void *rc_xrealloc(void *p, size_t n);
char *rc_xstrdup(const char *s);
char *rc_xstrndup(const char *s, size_t n);
char *rc_xstrfmt(const char *fmt, ...) RC_PRINTF(1, 2);
char *rc_xvstrfmt(const char *fmt, va_list ap) RC_PRINTF(1, 0);
void *rc_xmemdup(const void *p, size_t n);

/*
 * Make sure `x` (an array of `alloc` elements) holds at least `nr`,
 * growing it by half again as needed (git's ALLOC_GROW).
 */
#define RC_ALLOC_GROW(x, nr, alloc) \
	do { \
		if ((size_t)(nr) > (alloc)) { \
			size_t rc_ag_new_ = ((alloc) + 16) * 3 / 2; \
			if (rc_ag_new_ < (size_t)(nr)) \
				rc_ag_new_ = (nr); \
			(x) = rc_xrealloc((x), rc_ag_new_ * sizeof(*(x))); \
			(alloc) = rc_ag_new_; \
		} \
	} while (0)

/* Checked integer parsing of the whole string `s` in `base` (0: C rules). 0 or -1. */
int rc_parse_i64(int64_t *out, const char *s, int base);
int rc_parse_u64(uint64_t *out, const char *s, int base);
/* A non-negative int no larger than `max`. */
int rc_parse_int(int *out, const char *s, int max);

bool rc_starts_with(const char *s, const char *prefix);
bool rc_ends_with(const char *s, const char *suffix);
bool rc_streq(const char *a, const char *b);   /* NULL-safe */
/* Whether `host` (a name or address, "[::1]" too) is this machine's loopback: localhost, 127/8, ::1. */
bool rc_host_is_loopback(const char *host);

/* Lowercase hex of SHA-256 of `data` into `out` (65 bytes with the NUL). */
void rc_sha256_hex(char out[65], const void *data, size_t len);

/*
 * A copy of `s` fit for a report (JSON strings must be UTF-8): valid UTF-8,
 * newlines and tabs are kept, any other byte becomes '?'; trailing
 * newlines are dropped. Free it.
 */
char *rc_clean_text(const char *s, size_t len);

/*
 * `text` with the credentials of every URL in it masked: the password of
 * "scheme://user:password@host" becomes "***", and so does a lone user of
 * http:// and https:// (a token given as the user name); an ssh user
 * ("ssh://git@host") is kept. For what is shown or sent: error messages
 * quote the repository URL as it was given. Free it.
 */
char *rc_mask_url_credentials(const char *text);

/* The monotonic clock, in seconds. */
double rc_monotonic(void);

/*
 * Sleep `seconds` in slices of about 10 ms, asking `cancelled(ctx)` (may be
 * NULL) before each: false as soon as it says true, else true.
 */
bool rc_sleep_unless(double seconds, bool (*cancelled)(void *ctx), void *ctx);

/*
 * The user's home directory, for the ~/.ssh and ~/.docker defaults.
 *
 * rc_home_dir() is $HOME when it is set and absolute (so that a test or a
 * service unit can point it elsewhere, as OpenSSH and the Docker CLI let
 * it), else the home directory of the effective user in the password
 * database (a daemon started with an empty environment, or a relative
 * $HOME, which would name a different file in every working directory).
 * NULL when neither gives one. Free it. Thread-safe (getpwuid_r()).
 *
 * rc_expand_home() returns a copy of `path` with a leading "~/" (or a lone
 * "~") replaced by that directory; other paths, "~user/" among them, are
 * copied as they are. With no home directory "~" becomes "/", so that the
 * file is then simply not found and the message names it. NULL gives NULL.
 * Free it.
 */
char *rc_home_dir(void);
char *rc_expand_home(const char *path);

/* Free a NULL-terminated array of strings and the array itself. */
void rc_strv_free(char **v);

/*
 * rc_strmap: strings to pointers, hashed, for the lookups that grow with
 * the fleet (names on a ship, ids, services): a membership test in a loop
 * over N must not cost N.
 *
 *     rc_strmap m = RC_STRMAP_INIT;
 *     rc_strmap_add(&m, c->name, c);        (the first value of a key stays)
 *     c = rc_strmap_get(&m, "web-1");       (NULL: absent)
 *     rc_strmap_release(&m);
 *
 * Keys are copied; values are the caller's (never NULL: a set stores its
 * keys' own address or any non-NULL token).
 */
typedef struct rc_strmap_slot {
	char *key;
	void *value;
	uint32_t hash;
} rc_strmap_slot;
typedef struct rc_strmap {
	rc_strmap_slot *slots;
	size_t nr, alloc;   /* alloc: a power of two, or 0 */
} rc_strmap;
#define RC_STRMAP_INIT { NULL, 0, 0 }
/* Add `key` -> `value` when `key` is absent; returns the value the key has now. */
void *rc_strmap_add(rc_strmap *m, const char *key, void *value);
void *rc_strmap_get(const rc_strmap *m, const char *key);
void rc_strmap_release(rc_strmap *m);

#endif
