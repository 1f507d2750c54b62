#include "base/compat.h"
#include "base/sshkey.h"
#include "base/buf.h"
#include "base/encode.h"
#include <string.h>
#include "base/banned.h"

bool rc_sshkey_is_rsa(const char *data, size_t len)
{
	static const char openssh[] = "-----BEGIN OPENSSH PRIVATE KEY-----";
	rc_buf der = RC_BUF_INIT, b64 = RC_BUF_INIT;
	const char *p;
	bool rsa = false;

	if (memmem(data, len, "BEGIN RSA PRIVATE KEY", 21))
		return true;
	if (!(p = memmem(data, len, openssh, sizeof(openssh) - 1)))
		return false;
	/* the public key's type comes early, but may straddle the first line break */
	p += sizeof(openssh) - 1;
	rc_buf_init(&b64, 256);
	for (; p < data + len && b64.len < 200 && *p != '-'; p++)
		if (*p != '\r' && *p != '\n')
			rc_buf_addch(&b64, *p);
	der.cap = 4096;
	if (b64.len && rc_base64_decode(&der, b64.ptr, b64.len / 4 * 4) == 0)
		rsa = memmem(der.ptr, der.len, "\0\0\0\7ssh-rsa", 11) != NULL;
	rc_buf_release(&der);
	rc_buf_release(&b64);
	return rsa;
}
