/* Secret env values: told by name, by content, by source; hashed for the spec label. */
#include "base/compat.h"
#include "manifest/secret.h"
#include "base/crypto.h"
#include "base/util.h"
#include <stdlib.h>
#include <string.h>
#include "base/banned.h"

static char upper(char ch)
{
	return ch >= 'a' && ch <= 'z' ? (char)(ch - 'a' + 'A') : ch;
}

/* `word` is one of the '_'-separated words of `up` (upper case). */
static bool has_word(const char *up, const char *word)
{
	size_t n = strlen(word);
	for (const char *p = up; (p = strstr(p, word)); p++)
		if ((p == up || p[-1] == '_') && (p[n] == '\0' || p[n] == '_'))
			return true;
	return false;
}

bool rc_secret_name(const char *name)
{
	static const char *const parts[] = { "PASSWORD", "PASSWD", "SECRET", "TOKEN", "KEY", "CREDENTIAL",
					     "PRIVATE", "AUTH", "DSN", "DATABASE_URL" };
	static const char *const words[] = { "PASS", "PWD" };
	/* asked for every env variable of every instance (link variables are N a piece): no allocation */
	char small[128], *up = strlen(name) < sizeof(small) ? small : rc_xstrdup(name);
	bool hit = false;
	size_t i;

	for (i = 0; name[i]; i++)
		up[i] = upper(name[i]);
	up[i] = '\0';
	for (size_t k = 0; k < RC_ARRAY_SIZE(parts) && !hit; k++)
		hit = strstr(up, parts[k]) != NULL;
	if (!hit && strcmp(up, "PWD") && strcmp(up, "OLDPWD"))
		for (size_t k = 0; k < RC_ARRAY_SIZE(words) && !hit; k++)
			hit = has_word(up, words[k]);
	if (up != small)
		free(up);
	return hit;
}

bool rc_secret_value(const char *value)
{
	const char *p;
	if (!value)
		return false;
	if (rc_starts_with(value, RC_SECRET_HASH_PREFIX))
		return true;
	/* scheme://user:password@host anywhere in the value (a list of URLs too) */
	for (p = value; (p = strstr(p, "://")); p += 3) {
		size_t auth = strcspn(p + 3, "/?#@ \t,;");
		const char *at = p + 3 + auth;
		if (*at == '@' && memchr(p + 3, ':', auth))
			return true;
	}
	return false;
}

bool rc_env_secret(const rc_instance *in, const char *name, const char *value)
{
	return rc_secret_name(name) || rc_secret_value(value) || (in && rc_strlist_has(&in->secret_env, name));
}

char *rc_secret_hash(const unsigned char key[32], const char *name, const char *value)
{
	size_t n = strlen(name), v = strlen(value);
	unsigned char *data = rc_xmalloc(n + 1 + v), mac[32];
	char hex[65];

	memcpy(data, name, n + 1);
	memcpy(data + n + 1, value, v);
	if (rc_crypto_hmac_sha256(mac, key, 32, data, n + 1 + v) < 0)
		abort(); /* only when out of memory */
	rc_crypto_wipe(data, n + 1 + v);
	free(data);
	for (size_t i = 0; i < 32; i++) {
		hex[2 * i] = "0123456789abcdef"[mac[i] >> 4];
		hex[2 * i + 1] = "0123456789abcdef"[mac[i] & 15];
	}
	hex[64] = '\0';
	return rc_xstrfmt(RC_SECRET_HASH_PREFIX "%s", hex);
}
