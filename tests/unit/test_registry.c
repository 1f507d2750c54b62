/* The registry client's pure parts: references, RepoDigests, and what registries send. */
#include "base/compat.h"
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include "base/buf.h"
#include "docker/credentials.h"
#include "docker/registry.h"
#include "base/util.h"
#include "base/banned.h"

#define D1 "sha256:1111111111111111111111111111111111111111111111111111111111111111"
#define D2 "sha256:2222222222222222222222222222222222222222222222222222222222222222"

static void check_ref(const char *s, const char *domain, const char *path, const char *tag, const char *digest)
{
	rc_registry_ref r;
	rc_error err = RC_ERROR_INIT;
	if (rc_registry_ref_parse(&r, s, &err) < 0)
		fail_msg("'%s': %s", s, err.msg);
	assert_string_equal(r.domain, domain);
	assert_string_equal(r.path, path);
	if (tag)
		assert_string_equal(r.tag, tag);
	else
		assert_null(r.tag);
	if (digest)
		assert_string_equal(r.digest, digest);
	else
		assert_null(r.digest);
	rc_registry_ref_release(&r);
}

static void test_ref_docker_rules(void **state)
{
	(void)state;
	check_ref("busybox", "docker.io", "library/busybox", "latest", NULL);
	check_ref("busybox:1.36", "docker.io", "library/busybox", "1.36", NULL);
	check_ref("team/app", "docker.io", "team/app", "latest", NULL);
	check_ref("docker.io/busybox", "docker.io", "library/busybox", "latest", NULL);
	check_ref("index.docker.io/team/app:2", "docker.io", "team/app", "2", NULL);
	check_ref("127.0.0.1:5000/app:1", "127.0.0.1:5000", "app", "1", NULL);
	check_ref("localhost/app", "localhost", "app", "latest", NULL);
	check_ref("localhost:5000/a/b/c:v1.2-rc_3", "localhost:5000", "a/b/c", "v1.2-rc_3", NULL);
	check_ref("registry.example.com/team/app", "registry.example.com", "team/app", "latest", NULL);
	/* an upper-case first component is a host, never a Hub namespace */
	check_ref("Registry/app", "Registry", "app", "latest", NULL);
	check_ref("[::1]:5000/app", "[::1]:5000", "app", "latest", NULL);
	check_ref("app@" D1, "docker.io", "library/app", NULL, D1);
	check_ref("r.example.com:443/app:1@" D1, "r.example.com:443", "app", "1", D1);
	check_ref("my_org/a.b__c-d---e", "docker.io", "my_org/a.b__c-d---e", "latest", NULL);
}

static void test_ref_refused(void **state)
{
	static const char *const bad[] = {
		"", "App", "team/App", "app:", "app:-x", "app@sha256:abc", "app@md5:" "1111", "a//b", "a/",
		"host:5000/", "app:t/x", "host:abc/app", "-host.com/app", "[::1/app", "a..b", "a_.b", "-app", "app-", ":tag", "@" D1, "app:" "a b",
	};
	(void)state;
	for (size_t i = 0; i < RC_ARRAY_SIZE(bad); i++) {
		rc_registry_ref r;
		rc_error err = RC_ERROR_INIT;
		if (rc_registry_ref_parse(&r, bad[i], &err) != RC_EINVALID)
			fail_msg("'%s' was accepted", bad[i]);
		assert_true(err.msg[0] != '\0');
	}
	{
		/* 256 characters of name: over Docker's limit */
		char *s = rc_xmalloc(300);
		rc_registry_ref r;
		memset(s, 'a', 256);
		s[256] = '\0';
		assert_int_equal(rc_registry_ref_parse(&r, s, NULL), RC_EINVALID);
		s[255] = '\0';
		assert_int_equal(rc_registry_ref_parse(&r, s, NULL), 0);
		rc_registry_ref_release(&r);
		free(s);
	}
}

static void test_hosts_and_digests(void **state)
{
	rc_registry_ref r;
	(void)state;
	assert_int_equal(rc_registry_ref_parse(&r, "busybox", NULL), 0);
	assert_string_equal(rc_registry_api_host(&r), "registry-1.docker.io");
	rc_registry_ref_release(&r);
	assert_int_equal(rc_registry_ref_parse(&r, "r.example.com/x", NULL), 0);
	assert_string_equal(rc_registry_api_host(&r), "r.example.com");
	rc_registry_ref_release(&r);

	assert_true(rc_registry_is_loopback("localhost"));
	assert_true(rc_registry_is_loopback("localhost:5000"));
	assert_true(rc_registry_is_loopback("127.0.0.1:5000"));
	assert_true(rc_registry_is_loopback("127.1.2.254"));
	assert_true(rc_registry_is_loopback("[::1]:5000"));
	assert_false(rc_registry_is_loopback("127.0.0.1.example.com"));
	assert_false(rc_registry_is_loopback("127.0.0"));
	assert_false(rc_registry_is_loopback("1270.0.0.1"));
	assert_false(rc_registry_is_loopback("10.0.0.1:5000"));
	assert_false(rc_registry_is_loopback("localhost.example.com"));
	assert_false(rc_registry_is_loopback(NULL));

	assert_true(rc_registry_valid_digest(D1));
	assert_false(rc_registry_valid_digest("sha256:ABCD111111111111111111111111111111111111111111111111111111111111"));
	assert_false(rc_registry_valid_digest(D1 "1"));
	assert_false(rc_registry_valid_digest("sha256:11"));
	assert_false(rc_registry_valid_digest("md5:11111111111111111111111111111111"));
	assert_false(rc_registry_valid_digest(NULL));
}

static void test_repo_digests(void **state)
{
	rc_registry_ref hub, local;
	json_t *none = json_array();
	/* as dockerd reports them: Hub images in their short form */
	json_t *pulled = json_pack("[s, s, s]", "busybox@" D1, "127.0.0.1:5000/app@" D1, "127.0.0.1:5000/app@" D2);
	json_t *other = json_pack("[s]", "127.0.0.1:5000/other@" D1);
	(void)state;
	assert_int_equal(rc_registry_ref_parse(&hub, "docker.io/library/busybox:latest", NULL), 0);
	assert_int_equal(rc_registry_ref_parse(&local, "127.0.0.1:5000/app:1", NULL), 0);

	assert_int_equal(rc_registry_repo_digests_state(&hub, pulled, D1), RC_REGISTRY_FRESH);
	assert_int_equal(rc_registry_repo_digests_state(&hub, pulled, D2), RC_REGISTRY_STALE);
	assert_int_equal(rc_registry_repo_digests_state(&hub, pulled, NULL), RC_REGISTRY_FRESH);
	/* any of the repository's digests will do (an image pulled twice, pushed again unchanged) */
	assert_int_equal(rc_registry_repo_digests_state(&local, pulled, D2), RC_REGISTRY_FRESH);
	/* never pulled, or pulled under another name: nothing to compare with */
	assert_int_equal(rc_registry_repo_digests_state(&local, none, D1), RC_REGISTRY_UNKNOWN);
	assert_int_equal(rc_registry_repo_digests_state(&local, other, D1), RC_REGISTRY_UNKNOWN);
	assert_int_equal(rc_registry_repo_digests_state(&local, NULL, NULL), RC_REGISTRY_UNKNOWN);
	rc_registry_ref_release(&hub);
	rc_registry_ref_release(&local);
	json_decref(none);
	json_decref(pulled);
	json_decref(other);
}

static int challenge(rc_registry_challenge *ch, const char *value)
{
	return rc_registry_parse_challenge(ch, value, strlen(value));
}

/* WWW-Authenticate values as registries send them. */
static void test_challenges(void **state)
{
	rc_registry_challenge ch;
	(void)state;
	/* Docker Hub */
	assert_int_equal(challenge(&ch, "Bearer realm=\"https://auth.docker.io/token\",service=\"registry.docker.io\","
				   "scope=\"repository:library/busybox:pull\""), 0);
	assert_true(ch.bearer);
	assert_string_equal(ch.realm, "https://auth.docker.io/token");
	assert_string_equal(ch.service, "registry.docker.io");
	assert_string_equal(ch.scope, "repository:library/busybox:pull");
	rc_registry_challenge_release(&ch);
	/* distribution with htpasswd (our test registry) */
	assert_int_equal(challenge(&ch, "Basic realm=\"reconcile-test\""), 0);
	assert_false(ch.bearer);
	assert_string_equal(ch.realm, "reconcile-test");
	rc_registry_challenge_release(&ch);
	/* GitLab-style, no scope, spaces, case, an unquoted token, escapes */
	assert_int_equal(challenge(&ch, "bearer  Realm = \"https://gitlab.example.com/jwt/auth\" , service=container_registry, "
				   "error=\"insufficient_scope\", scope=\"a\\\"b\""), 0);
	assert_true(ch.bearer);
	assert_string_equal(ch.realm, "https://gitlab.example.com/jwt/auth");
	assert_string_equal(ch.service, "container_registry");
	assert_string_equal(ch.scope, "a\"b");
	rc_registry_challenge_release(&ch);
	/* several challenges in one value: Bearer wins wherever it is */
	assert_int_equal(challenge(&ch, "Basic realm=\"x\", Bearer realm=\"https://t/token\",service=\"s\""), 0);
	assert_true(ch.bearer);
	assert_string_equal(ch.realm, "https://t/token");
	assert_null(ch.scope);
	rc_registry_challenge_release(&ch);
	/* a token68 challenge before a Basic one */
	assert_int_equal(challenge(&ch, "Negotiate dXNlcjpwYXNz==, Basic realm=\"r\""), 0);
	assert_false(ch.bearer);
	assert_string_equal(ch.realm, "r");
	rc_registry_challenge_release(&ch);
	/* a Bearer without a realm cannot be used: the Basic one is taken */
	assert_int_equal(challenge(&ch, "Bearer service=\"s\", Basic"), 0);
	assert_false(ch.bearer);
	assert_null(ch.realm);
	rc_registry_challenge_release(&ch);
	/* neither */
	assert_int_equal(challenge(&ch, "Negotiate, Digest realm=\"d\", nonce=\"n\""), RC_ENOTFOUND);
	assert_int_equal(challenge(&ch, ""), RC_ENOTFOUND);
	/* unreadable */
	assert_int_equal(challenge(&ch, "Bearer realm=\"https://unterminated"), RC_ERROR);
	assert_int_equal(challenge(&ch, "Bearer realm=\"x\" \"y\""), RC_ERROR);
	assert_int_equal(challenge(&ch, "Bearer realm=\"x\\"), RC_ERROR);
	assert_int_equal(challenge(&ch, "\"Bearer\""), RC_ERROR);
}

static void test_tokens(void **state)
{
	rc_error err = RC_ERROR_INIT;
	char *t;
	static const char hub[] = "{\"token\":\"eyJhbGciOiJSUzI1NiJ9.e30.sig\",\"access_token\":\"eyJhbGciOiJSUzI1NiJ9.e30.sig\","
				  "\"expires_in\":300,\"issued_at\":\"2026-11-22T02:00:00Z\"}";
	(void)state;
	assert_int_equal(rc_registry_parse_token(&t, hub, strlen(hub), &err), 0);
	assert_string_equal(t, "eyJhbGciOiJSUzI1NiJ9.e30.sig");
	free(t);
	assert_int_equal(rc_registry_parse_token(&t, "{\"access_token\":\"abc\"}", 22, &err), 0);
	assert_string_equal(t, "abc");
	free(t);
	assert_int_equal(rc_registry_parse_token(&t, "{\"token\":\"\",\"access_token\":\"abc\"}", 33, &err), 0);
	assert_string_equal(t, "abc");
	free(t);
	/* header injection, empty, absent, not JSON */
	assert_int_equal(rc_registry_parse_token(&t, "{\"token\":\"a\\r\\nX-Evil: 1\"}", 26, &err), RC_ERROR);
	assert_null(t);
	assert_int_equal(rc_registry_parse_token(&t, "{\"token\":\"a b\"}", 15, &err), RC_ERROR);
	assert_int_equal(rc_registry_parse_token(&t, "{\"token\":\"\"}", 12, &err), RC_ERROR);
	assert_int_equal(rc_registry_parse_token(&t, "{\"token\":5}", 11, &err), RC_ERROR);
	assert_int_equal(rc_registry_parse_token(&t, "[\"token\"]", 9, &err), RC_ERROR);
	assert_int_equal(rc_registry_parse_token(&t, "<html>", 6, &err), RC_ERROR);
	assert_non_null(strstr(err.msg, "token"));
}

static void test_token_url(void **state)
{
	rc_registry_challenge ch;
	rc_registry_ref ref;
	rc_buf b = RC_BUF_INIT;
	(void)state;
	assert_int_equal(rc_registry_ref_parse(&ref, "busybox", NULL), 0);
	assert_int_equal(challenge(&ch, "Bearer realm=\"https://auth.docker.io/token\",service=\"registry.docker.io\","
				   "scope=\"repository:library/busybox:pull\""), 0);
	assert_int_equal(rc_registry_token_url(&b, &ch, &ref), 0);
	assert_string_equal(b.ptr, "https://auth.docker.io/token?service=registry.docker.io&scope=repository%3Alibrary%2Fbusybox%3Apull");
	rc_registry_challenge_release(&ch);
	rc_buf_reset(&b);
	/* no scope in the challenge: ours; a realm with a query already */
	assert_int_equal(challenge(&ch, "Bearer realm=\"http://t.example/auth?x=1\""), 0);
	assert_int_equal(rc_registry_token_url(&b, &ch, &ref), 0);
	assert_string_equal(b.ptr, "http://t.example/auth?x=1&scope=repository%3Alibrary%2Fbusybox%3Apull");
	rc_registry_challenge_release(&ch);
	rc_buf_reset(&b);
	/* only http and https realms */
	assert_int_equal(challenge(&ch, "Bearer realm=\"file:///etc/passwd\""), 0);
	assert_int_equal(rc_registry_token_url(&b, &ch, &ref), RC_EINVALID);
	rc_registry_challenge_release(&ch);
	assert_int_equal(challenge(&ch, "Bearer realm=\"https://a/b c\""), 0);
	assert_int_equal(rc_registry_token_url(&b, &ch, &ref), RC_EINVALID);
	rc_registry_challenge_release(&ch);
	rc_buf_release(&b);
	rc_registry_ref_release(&ref);
}

/* Credentials go to an https realm, or a plain http one on the registry's own host only. */
static void test_realm_ok(void **state)
{
	(void)state;
	assert_true(rc_registry_realm_ok("https://auth.docker.io/token", "registry-1.docker.io"));
	assert_true(rc_registry_realm_ok("http://reg.example:5000/token", "reg.example:5000"));
	assert_true(rc_registry_realm_ok("http://REG.example:5001/token", "reg.example:5000"));
	assert_true(rc_registry_realm_ok("http://[::1]:5001/token", "[::1]:5000"));
	assert_false(rc_registry_realm_ok("http://evil.example/token", "reg.example:5000"));
	assert_false(rc_registry_realm_ok("http://reg.example.evil/token", "reg.example"));
	assert_false(rc_registry_realm_ok("http://reg.example@evil.example/token", "reg.example"));
	assert_false(rc_registry_realm_ok("http://reg/token", "reg.example"));
	assert_false(rc_registry_realm_ok("http://10.0.0.9/token", "10.0.0.1:5000"));
}

static void test_auth_decode(void **state)
{
	char *h = rc_docker_auth_header("tester", "s3cret:x", "127.0.0.1:5000"), *u, *p;
	(void)state;
	assert_int_equal(rc_registry_auth_decode(&u, &p, h), 0);
	assert_string_equal(u, "tester");
	assert_string_equal(p, "s3cret:x");
	free(u);
	free(p);
	free(h);
	/* a user name with ':' cannot be sent as Basic auth */
	h = rc_docker_auth_header("a:b", "c", "r");
	assert_int_equal(rc_registry_auth_decode(&u, &p, h), RC_EINVALID);
	assert_null(u);
	free(h);
	assert_int_equal(rc_registry_auth_decode(&u, &p, "not base64!"), RC_EINVALID);
	assert_int_equal(rc_registry_auth_decode(&u, &p, "W10"), RC_EINVALID);   /* [] */
	assert_int_equal(rc_registry_auth_decode(&u, &p, NULL), RC_EINVALID);
}

/* No registry answers on port 1: HTTPS, then HTTP (loopback), then a clear error. */
static void test_unreachable_and_pinned(void **state)
{
	rc_registry_client *c;
	rc_registry_ref ref;
	rc_registry_query q = { NULL, RC_REGISTRY_SCHEME_AUTO, 2000 };
	rc_error err = RC_ERROR_INIT;
	char *digest = NULL;
	(void)state;
	assert_int_equal(rc_registry_client_new(&c, &err), 0);
	assert_int_equal(rc_registry_ref_parse(&ref, "127.0.0.1:1/app:1", NULL), 0);
	assert_int_equal(rc_registry_digest(c, &digest, &ref, &q, &err), RC_EUNREACHABLE);
	assert_null(digest);
	assert_non_null(strstr(err.msg, "cannot reach registry '127.0.0.1:1' (http://127.0.0.1:1/v2/app/manifests/1)"));
	assert_int_equal((int)rc_registry_client_requests(c), 2);
	/* forced to HTTPS: one attempt */
	q.scheme = RC_REGISTRY_SCHEME_HTTPS;
	assert_int_equal(rc_registry_digest(c, &digest, &ref, &q, &err), RC_EUNREACHABLE);
	assert_non_null(strstr(err.msg, "https://127.0.0.1:1/"));
	assert_int_equal((int)rc_registry_client_requests(c), 3);
	rc_registry_ref_release(&ref);
	/* pinned: nothing is sent */
	assert_int_equal(rc_registry_ref_parse(&ref, "127.0.0.1:1/app@" D1, NULL), 0);
	assert_int_equal(rc_registry_digest(c, &digest, &ref, &q, &err), RC_EINVALID);
	assert_int_equal((int)rc_registry_client_requests(c), 3);
	rc_registry_ref_release(&ref);
	rc_registry_client_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ref_docker_rules),
		cmocka_unit_test(test_ref_refused),
		cmocka_unit_test(test_hosts_and_digests),
		cmocka_unit_test(test_repo_digests),
		cmocka_unit_test(test_challenges),
		cmocka_unit_test(test_tokens),
		cmocka_unit_test(test_token_url),
		cmocka_unit_test(test_realm_ok),
		cmocka_unit_test(test_auth_decode),
		cmocka_unit_test(test_unreachable_and_pinned),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
