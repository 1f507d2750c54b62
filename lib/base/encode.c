#include "base/compat.h"
#include "base/encode.h"
#include "base/buf.h"
#include "base/error.h"
#include "base/util.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "base/banned.h"

/* ---- base64 ---- */

char *rc_base64_encode(const void *data, size_t len, bool url)
{
	const char *al = url ? "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
			     : "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const unsigned char *p = data;
	char *out = rc_xmalloc((len + 2) / 3 * 4 + 1), *o = out;
	size_t i;

	for (i = 0; i + 2 < len; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
		*o++ = al[v >> 18];
		*o++ = al[(v >> 12) & 63];
		*o++ = al[(v >> 6) & 63];
		*o++ = al[v & 63];
	}
	if (i < len) {
		uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < len ? (uint32_t)p[i + 1] << 8 : 0);
		*o++ = al[v >> 18];
		*o++ = al[(v >> 12) & 63];
		*o++ = i + 1 < len ? al[(v >> 6) & 63] : '=';
		*o++ = '=';
	}
	*o = '\0';
	return out;
}

static int b64val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+' || c == '-')
		return 62;
	if (c == '/' || c == '_')
		return 63;
	return -1;
}

int rc_base64_decode(rc_buf *out, const char *s, size_t len)
{
	uint32_t acc = 0;
	size_t i, n = 0, pad = 0;
	int ret;

	/* padding is optional, but only at the end and only to a multiple of 4 */
	while (len && s[len - 1] == '=' && pad < 2) {
		len--;
		pad++;
	}
	if (pad && (len + pad) % 4)
		return RC_EINVALID;
	if (len % 4 == 1)
		return RC_EINVALID;
	for (i = 0; i < len; i++) {
		int v = b64val((unsigned char)s[i]);
		if (v < 0)
			return RC_EINVALID;
		acc = acc << 6 | (uint32_t)v;
		if (++n == 4) {
			char b[3] = { (char)(acc >> 16), (char)(acc >> 8), (char)acc };
			if ((ret = rc_buf_add(out, b, 3)) < 0)
				return ret;
			n = 0;
			acc = 0;
		}
	}
	if (n == 2) {
		char b = (char)(acc >> 4);
		if (acc & 15)
			return RC_EINVALID;
		return rc_buf_add(out, &b, 1);
	}
	if (n == 3) {
		char b[2] = { (char)(acc >> 10), (char)(acc >> 2) };
		if (acc & 3)
			return RC_EINVALID;
		return rc_buf_add(out, b, 2);
	}
	return 0;
}
int rc_url_escape(rc_buf *out, const char *s, const char *keep)
{
	static const char hex[] = "0123456789ABCDEF";
	int ret;

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '_' || c == '.' || c == '~' || (keep && strchr(keep, c))) {
			ret = rc_buf_addch(out, c);
		} else {
			char e[3] = { '%', hex[c >> 4], hex[c & 15] };
			ret = rc_buf_add(out, e, 3);
		}
		if (ret < 0)
			return ret;
	}
	return 0;
}

