/*
 * libFuzzer target for the known_hosts reader of the git source's ssh
 * transport and of ssh_tunnel ships (lib/base/known_hosts.c). The file is
 * the user's, but it is text we parse ourselves with base64, HMAC-SHA1 of
 * hashed entries and glob patterns, and it decides whether a host is
 * trusted: it must never crash, never read out of bounds, and give the
 * same verdict twice.
 *
 * The input is the file. It is checked for two names (a plain host on port
 * 22 and [127.0.0.1]:2222) against a fixed ed25519 key and against every
 * key the input itself holds, so that matches, changes and revocations are
 * all reachable.
 */
#include "base/compat.h"
#include "base/buf.h"
#include "base/encode.h"
#include "base/known_hosts.h"
#include "base/util.h"
#include <stdlib.h>
#include <string.h>
#include "base/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const unsigned char fixed_key[] = {
	0, 0, 0, 11, 's', 's', 'h', '-', 'e', 'd', '2', '5', '5', '1', '9', 0, 0, 0, 32,
	1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
	17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32,
};

static void check(const char *text, size_t len, const unsigned char *key, size_t keylen)
{
	static const struct { const char *host; int port; } names[] = {
		{ "git.example.com", 22 }, { "127.0.0.1", 2222 },
	};
	for (size_t i = 0; i < RC_ARRAY_SIZE(names); i++) {
		rc_buf types = RC_BUF_INIT;
		enum rc_hostkey_status a = rc_known_hosts_check(text, len, names[i].host, names[i].port, key, keylen);
		enum rc_hostkey_status b = rc_known_hosts_check(text, len, names[i].host, names[i].port, key, keylen);
		if (a != b || a > RC_HOSTKEY_REVOKED)
			abort();
		/* the host key types an ssh_tunnel session asks for first (lib/ssh.c) */
		rc_buf_init(&types, 1 << 20);
		rc_known_hosts_types(&types, text, len, names[i].host, names[i].port);
		if (types.len && (types.ptr[0] == ',' || types.ptr[types.len - 1] == ','))
			abort();
		rc_buf_release(&types);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data, *p = text, *end = text + size;
	char fp[RC_KNOWN_HOSTS_FINGERPRINT_SIZE], type[64];
	int keys = 0;

	if (size > 64 << 10)
		return 0;
	check(text, size, fixed_key, sizeof(fixed_key));
	rc_known_hosts_key_type(type, data, size);
	rc_known_hosts_fingerprint(fp, data, size);
	if (strlen(fp) != 50)
		abort();
	/* every third whitespace-separated field of a line looks like a key: try it */
	while (p < end && keys < 8) {
		const char *nl = memchr(p, '\n', (size_t)(end - p)), *le = nl ? nl : end;
		const char *f = p;
		for (int field = 0; field < 3 && f < le; field++) {
			const char *fe = f;
			while (fe < le && *fe != ' ')
				fe++;
			if (field == 2 || (field == 1 && *p == '@')) {
				rc_buf k = RC_BUF_INIT;
				k.cap = 16 << 10;
				if (rc_base64_decode(&k, f, (size_t)(fe - f)) == 0 && k.len) {
					check(text, size, (const unsigned char *)k.ptr, k.len);
					keys++;
				}
				rc_buf_release(&k);
				break;
			}
			f = fe < le ? fe + 1 : le;
		}
		p = nl ? nl + 1 : end;
	}
	return 0;
}
