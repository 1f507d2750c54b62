/*
 * lib/serve/webhook.h and lib/serve/render.h: each forge's proof checked
 * (good, wrong, missing), the push read (branch, repository, default
 * branch), and the metrics text and page rendered from a snapshot.
 */
#include "base/compat.h"
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "base/buf.h"
#include "base/crypto.h"
#include "base/encode.h"
#include "base/error.h"
#include "serve/render.h"
#include "serve/webhook.h"
#include "base/banned.h"

#define SECRET "s3cret"
#define REPO "git@github.com:acme/manifests.git"
#define PUSH "{\"ref\":\"refs/heads/main\",\"after\":\"0123456789abcdef0123456789abcdef01234567\"," \
	     "\"repository\":{\"full_name\":\"acme/manifests\",\"clone_url\":\"https://github.com/acme/manifests.git\"}}"

struct hdrs {
	const char *n[6], *v[6];
};

static const char *hdr(void *ctx, const char *name)
{
	struct hdrs *h = ctx;
	for (int i = 0; i < 6 && h->n[i]; i++)
		if (!strcasecmp(h->n[i], name))
			return h->v[i];
	return NULL;
}

static void hex_hmac(char out[65], const char *key, const char *body)
{
	unsigned char mac[32];
	assert_int_equal(rc_crypto_hmac_sha256(mac, key, strlen(key), body, strlen(body)), 0);
	for (int i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", mac[i]);
}

static int verify(rc_hook_result *r, rc_hook_forge f, struct hdrs *h, const char *body, const char *branch)
{
	rc_error err = RC_ERROR_INIT;
	return rc_webhook_verify(r, f, hdr, h, body, strlen(body), (const unsigned char *)SECRET, strlen(SECRET), REPO,
				 branch, 1700000000, &err);
}

static void test_github(void **state)
{
	char mac[65], sig[80];
	struct hdrs h = { { "X-Hub-Signature-256", "X-GitHub-Event", "X-GitHub-Delivery" }, { sig, "push", "d1" } };
	rc_hook_result r;

	(void)state;
	hex_hmac(mac, SECRET, PUSH);
	snprintf(sig, sizeof(sig), "sha256=%s", mac);
	assert_int_equal(verify(&r, RC_HOOK_GITHUB, &h, PUSH, "main"), 0);
	assert_int_equal(r.verdict, RC_HOOK_PUSH);
	assert_string_equal(r.delivery, "d1");
	assert_string_equal(r.after, "0123456789abcdef0123456789abcdef01234567");
	/* another branch: verified, ignored */
	assert_int_equal(verify(&r, RC_HOOK_GITHUB, &h, PUSH, "prod"), 0);
	assert_int_equal(r.verdict, RC_HOOK_IGNORED);
	/* one bit off, no prefix, missing */
	sig[10] ^= 1;
	assert_int_equal(verify(&r, RC_HOOK_GITHUB, &h, PUSH, "main"), RC_EAUTH);
	snprintf(sig, sizeof(sig), "%s", mac);
	assert_int_equal(verify(&r, RC_HOOK_GITHUB, &h, PUSH, "main"), RC_EAUTH);
	h.n[0] = "X-Other";
	assert_int_equal(verify(&r, RC_HOOK_GITHUB, &h, PUSH, "main"), RC_EAUTH);
}

static void test_gitlab_gitea(void **state)
{
	char mac[65];
	struct hdrs gl = { { "X-Gitlab-Token", "X-Gitlab-Event" }, { SECRET, "Push Hook" } };
	struct hdrs bad = { { "X-Gitlab-Token", "X-Gitlab-Event" }, { SECRET "x", "Push Hook" } };
	struct hdrs ge = { { "X-Forgejo-Signature", "X-Forgejo-Event" }, { mac, "push" } };
	struct hdrs tag = { { "X-Gitea-Signature", "X-Gitea-Event" }, { mac, "create" } };
	const char *body = "{\"ref\":\"refs/heads/main\",\"project\":{\"path_with_namespace\":\"acme/manifests\","
			   "\"default_branch\":\"main\"}}";
	rc_hook_result r;

	(void)state;
	assert_int_equal(verify(&r, RC_HOOK_GITLAB, &gl, body, "main"), 0);
	assert_int_equal(r.verdict, RC_HOOK_PUSH);
	assert_int_equal(verify(&r, RC_HOOK_GITLAB, &gl, body, NULL), 0);   /* the default branch */
	assert_int_equal(r.verdict, RC_HOOK_PUSH);
	assert_int_equal(verify(&r, RC_HOOK_GITLAB, &bad, body, "main"), RC_EAUTH);
	hex_hmac(mac, SECRET, PUSH);
	assert_int_equal(verify(&r, RC_HOOK_GITEA, &ge, PUSH, "main"), 0);
	assert_int_equal(r.verdict, RC_HOOK_PUSH);
	assert_int_equal(verify(&r, RC_HOOK_GITEA, &tag, PUSH, "main"), 0);
	assert_int_equal(r.verdict, RC_HOOK_IGNORED);
	assert_int_equal(verify(&r, RC_HOOK_GITEA, &ge, "{\"ref\":1}", "main"), RC_EAUTH);   /* the MAC is of PUSH */
}

static void test_generic(void **state)
{
	const char *body = "{\"ref\":\"refs/heads/main\"}";
	char *msg = NULL, *b64, sig[128];
	unsigned char mac[32];
	struct hdrs h = { { "webhook-id", "webhook-timestamp", "webhook-signature" }, { "msg_1", "1700000010", sig } };
	rc_hook_result r;
	rc_buf m = RC_BUF_INIT;

	(void)state;
	rc_buf_addf(&m, "msg_1.1700000010.%s", body);
	msg = m.ptr;
	assert_int_equal(rc_crypto_hmac_sha256(mac, SECRET, strlen(SECRET), msg, strlen(msg)), 0);
	b64 = rc_base64_encode(mac, 32, false);
	snprintf(sig, sizeof(sig), "v1,AAAA v1,%s", b64);
	assert_int_equal(verify(&r, RC_HOOK_GENERIC, &h, body, "main"), 0);
	assert_int_equal(r.verdict, RC_HOOK_PUSH);
	h.v[1] = "1699990000";   /* too old */
	assert_int_equal(verify(&r, RC_HOOK_GENERIC, &h, body, "main"), RC_EAUTH);
	free(b64);
	rc_buf_release(&m);
}

static void test_same_repo(void **state)
{
	(void)state;
	assert_true(rc_webhook_same_repo("https://github.com/acme/manifests.git", REPO));
	assert_true(rc_webhook_same_repo("ssh://git@GitHub.com/acme/manifests", REPO));
	assert_true(rc_webhook_same_repo("acme/manifests", REPO));
	assert_false(rc_webhook_same_repo("acme/other", REPO));
	assert_false(rc_webhook_same_repo("cme/manifests", REPO));
	assert_false(rc_webhook_same_repo("https://evil.example/acme/manifests.git", REPO));
	assert_false(rc_webhook_same_repo("", REPO));
}

static void test_render(void **state)
{
	json_t *snap = json_loads("{\"ready\":true,\"environments\":["
				  "{\"name\":\"a.example.com\",\"status\":\"converged\",\"instances\":[]},"
				  "{\"name\":\"q\\\"<b>\",\"status\":\"failed\",\"quarantine\":{\"reason\":\"x\",\"active\":true},"
				  "\"instances\":[{\"instance\":\"i\",\"ship\":\"s\",\"status\":\"conflict\",\"reasons\":[]},"
				  "{\"instance\":\"w\",\"ship\":\"s\",\"status\":\"running\",\"reasons\":[],"
				  "\"container\":{\"state\":\"running\",\"health\":\"unhealthy\"}}]}],"
				  "\"docker\":[{\"ship\":\"s\",\"buckets\":[[0.005,1],[0.01,3]],\"sum\":0.5,\"count\":4,"
				  "\"requests\":{\"GET\":3,\"POST\":1}}],"
				  "\"notifications\":[{\"type\":\"slack\",\"sent\":2,\"failed\":1,\"dropped\":0}],"
				  "\"runs\":{\"ok\":2},\"webhooks\":{\"unannounced\":1,\"last_unannounced\":\"abc\"}}", 0, NULL);
	rc_buf b = RC_BUF_INIT;

	(void)state;
	assert_non_null(snap);
	rc_render_metrics(&b, snap);
	assert_non_null(strstr(b.ptr, "reconcile_environment_quarantined{environment=\"q\\\"<b>\"} 1\n"));
	assert_non_null(strstr(b.ptr, "reconcile_runs_total{result=\"ok\"} 2\n"));
	assert_non_null(strstr(b.ptr, "reconcile_webhook_unannounced_commits_total 1\n"));
	assert_non_null(strstr(b.ptr, "reconcile_instance_running{environment=\"q\\\"<b>\",instance=\"w\",ship=\"s\"} 1\n"));
	assert_null(strstr(b.ptr, "reconcile_instance_running{environment=\"q\\\"<b>\",instance=\"i\""));
	assert_non_null(strstr(b.ptr, "instance=\"w\",ship=\"s\",health=\"unhealthy\"} 1\n"));
	assert_non_null(strstr(b.ptr, "instance=\"w\",ship=\"s\",health=\"healthy\"} 0\n"));
	assert_non_null(strstr(b.ptr, "reconcile_docker_request_duration_seconds_bucket{ship=\"s\",le=\"0.01\"} 3\n"
				      "reconcile_docker_request_duration_seconds_bucket{ship=\"s\",le=\"+Inf\"} 4\n"
				      "reconcile_docker_request_duration_seconds_sum{ship=\"s\"} 0.500000\n"
				      "reconcile_docker_request_duration_seconds_count{ship=\"s\"} 4\n"));
	assert_non_null(strstr(b.ptr, "reconcile_docker_requests_total{ship=\"s\",method=\"POST\"} 1\n"));
	assert_non_null(strstr(b.ptr, "reconcile_notifications_total{type=\"slack\",result=\"failed\"} 1\n"));
	rc_buf_reset(&b);
	rc_render_page(&b, snap);
	assert_null(strstr(b.ptr, "<b>"));
	/* what needs attention first: the quarantined one before the converged one */
	assert_true(strstr(b.ptr, "id=\"env-q&quot;&lt;b&gt;\"") < strstr(b.ptr, "id=\"env-a.example.com\""));
	assert_non_null(strstr(b.ptr, "no webhook announced"));
	assert_non_null(strstr(b.ptr, "i on ship s is a container that is not ours (conflict)"));
	assert_non_null(strstr(b.ptr, "<span class=\"b bad\">unhealthy</span>"));
	rc_buf_release(&b);
	json_decref(snap);
}

/* A source that cannot be read: its gauge, and the first thing the page asks attention for. */
static void test_render_source(void **state)
{
	json_t *snap = json_loads("{\"ready\":true,\"environments\":[],\"source\":{\"repo\":\"/srv/r.git\","
				  "\"reachable\":false,\"error\":\"cannot fetch '/srv/r.git': gone <x>\"}}", 0, NULL);
	rc_buf b = RC_BUF_INIT;

	(void)state;
	assert_non_null(snap);
	rc_render_metrics(&b, snap);
	assert_non_null(strstr(b.ptr, "\nreconcile_source_reachable 0\n"));
	assert_non_null(strstr(b.ptr, "\nreconcile_ready 0\n"));
	rc_buf_reset(&b);
	rc_render_page(&b, snap);
	assert_non_null(strstr(b.ptr, "the source cannot be read: cannot fetch &#39;/srv/r.git&#39;: gone &lt;x&gt;"));
	rc_buf_reset(&b);
	json_object_set_new(json_object_get(snap, "source"), "reachable", json_true());
	rc_render_metrics(&b, snap);
	assert_non_null(strstr(b.ptr, "\nreconcile_source_reachable 1\n"));
	rc_buf_release(&b);
	json_decref(snap);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_github),
		cmocka_unit_test(test_gitlab_gitea),
		cmocka_unit_test(test_generic),
		cmocka_unit_test(test_same_repo),
		cmocka_unit_test(test_render),
		cmocka_unit_test(test_render_source),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
