/*
 * The webhook reader (serve/webhook.h): what anyone who can reach
 * --listen may POST to the hooks. The first byte picks the forge; then
 * "Name: value" header lines up to an empty line; the rest is the body.
 * The secret is "s", so the fuzzer can also reach the verified paths
 * (GitLab's token, and the signatures when it learns them from the
 * corpus). Checks that a push always names our branch's verdict only
 * when verified, and that the repository matcher never crashes.
 *
 *   make tests/fuzz/fuzz_webhook && tests/fuzz/fuzz_webhook -max_total_time=60 tests/fuzz/corpus/webhook
 */
#include "base/compat.h"
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "base/error.h"
#include "base/util.h"
#include "serve/webhook.h"
#include "base/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct hdrs {
	char *names[16], *values[16];
	size_t nr;
};

static const char *header(void *ctx, const char *name)
{
	struct hdrs *h = ctx;
	for (size_t i = 0; i < h->nr; i++)
		if (!strcasecmp(h->names[i], name))
			return h->values[i];
	return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	rc_error err = RC_ERROR_INIT;
	rc_hook_result r;
	struct hdrs h;
	char *text, *p, *body;
	int ret;

	if (!size)
		return 0;
	memset(&h, 0, sizeof(h));
	text = rc_xstrndup((const char *)data + 1, size - 1);
	body = strstr(text, "\n\n");
	if (body) {
		*body = '\0';
		body += 2;
	} else {
		body = text + strlen(text);
	}
	for (p = text; *p && h.nr < 16;) {
		char *nl = strchr(p, '\n'), *colon;
		if (nl)
			*nl = '\0';
		colon = strchr(p, ':');
		if (colon) {
			*colon = '\0';
			h.names[h.nr] = p;
			h.values[h.nr++] = colon + 1 + (colon[1] == ' ');
		}
		if (!nl)
			break;
		p = nl + 1;
	}
	ret = rc_webhook_verify(&r, (rc_hook_forge)(data[0] % RC_HOOK_FORGES), header, &h, body, strlen(body),
				(const unsigned char *)"s", 1, "git://example.com/x/repo.git", "main", 1700000000, &err);
	if (ret == 0 && r.verdict == RC_HOOK_PUSH && r.after[0] && strlen(r.after) != 40)
		abort();
	if (ret < 0 && ret != RC_EAUTH && ret != RC_EINVALID)
		abort();
	(void)rc_webhook_same_repo(body, text);
	free(text);
	return 0;
}
