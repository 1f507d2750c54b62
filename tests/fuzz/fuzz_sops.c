/*
 * libFuzzer target for what reads encrypted secrets from git: the age
 * header parser and payload, the ASCII armor, identity files, and the
 * SOPS dotenv and YAML readers. A fixed identity is used, so that inputs
 * derived from the seed corpus (made with that identity) reach the MAC
 * checks and the value decryption, not only the parsers.
 *
 * The first byte picks the reader; the rest is the input.
 */
#include "base/compat.h"
#include "base/buf.h"
#include "base/error.h"
#include "manifest/age.h"
#include "manifest/sops.h"
#include <stdlib.h>
#include <string.h>
#include "base/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The secret is 32 bytes of 0x42; the seeds in corpus/sops were made by our encoders for it. */
static const char identity[] = "AGE-SECRET-KEY-1GFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPQ4EGAEX";

static void check_error(int ret, const rc_error *err)
{
	if (ret < 0 && (!err->msg[0] || strchr(err->msg, '\n')))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static rc_age_identities ids = RC_AGE_IDENTITIES_INIT;
	rc_error err = RC_ERROR_INIT;
	const char *text = (const char *)data + 1;
	int ret = 0;

	if (!ids.nr && rc_age_identities_parse(&ids, identity, strlen(identity), &err) < 0)
		abort();
	if (size < 1)
		return 0;
	size--;
	switch (data[0] % 4) {
	case 0: {
		rc_buf out = RC_BUF_INIT;

		rc_buf_adds(&out, "x");
		ret = rc_age_decrypt(&out, text, size, &ids, &err);
		if (ret < 0 && out.len != 1)
			abort();
		rc_age_wipe_buf(&out);
		break;
	}
	case 1:
	case 2: {
		rc_sops_values v = RC_SOPS_VALUES_INIT;

		ret = rc_sops_decrypt(&v, text, size, data[0] % 4 == 1 ? RC_SOPS_DOTENV : RC_SOPS_YAML,
				      &ids, &err);
		if (ret < 0 && v.nr)
			abort();
		for (size_t i = 0; i < v.nr; i++)
			if (!v.items[i].key || !v.items[i].value || v.items[i].value[v.items[i].len])
				abort();
		rc_sops_values_release(&v);
		break;
	}
	default: {
		rc_age_identities l = RC_AGE_IDENTITIES_INIT;

		ret = rc_age_identities_parse(&l, text, size, &err);
		if ((ret == 0) != (l.nr > 0))
			abort();
		rc_age_identities_release(&l);
		break;
	}
	}
	check_error(ret, &err);
	return 0;
}
