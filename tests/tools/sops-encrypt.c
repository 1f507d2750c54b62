/*
 * sops-encrypt dotenv|yaml RECIPIENT... <plain >encrypted
 *
 * Test fixtures: a plain dotenv or YAML file encrypted in SOPS format for
 * age recipients, as `sops --encrypt --age ...` would, by our encoder
 * (rc_sops_encrypt). Linked with the library; the integration scripts
 * build it (tests/integration/t1110-secrets.sh).
 */
#include "base/compat.h"
#include "base/buf.h"
#include "base/error.h"
#include "manifest/sops.h"
#include <stdio.h>
#include <string.h>
#include "base/banned.h"

int main(int argc, char **argv)
{
	rc_buf in = RC_BUF_INIT, out = RC_BUF_INIT;
	rc_error err = RC_ERROR_INIT;
	char chunk[4096];
	size_t n;
	rc_sops_format format;

	if (argc < 3 || (strcmp(argv[1], "dotenv") && strcmp(argv[1], "yaml"))) {
		fputs("usage: sops-encrypt dotenv|yaml RECIPIENT... <plain >encrypted\n", stderr);
		return 64;
	}
	format = !strcmp(argv[1], "yaml") ? RC_SOPS_YAML : RC_SOPS_DOTENV;
	while ((n = fread(chunk, 1, sizeof(chunk), stdin)) > 0)
		rc_buf_add(&in, chunk, n);
	if (rc_sops_encrypt(&out, in.ptr, in.len, format, (const char *const *)argv + 2, (size_t)argc - 2,
			    &err) < 0) {
		fprintf(stderr, "sops-encrypt: %s\n", err.msg);
		return 1;
	}
	fwrite(out.ptr, 1, out.len, stdout);
	rc_buf_release(&in);
	rc_buf_release(&out);
	return ferror(stdout) ? 1 : 0;
}
