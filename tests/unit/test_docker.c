/*
 * The Docker client: pure parts against responses recorded from a real
 * dockerd (tests/unit/data/docker), transport failures against sockets
 * this test makes, and, when DOCKER_TEST_SOCKET names a running daemon's
 * socket, the live requests against that daemon (DOCKER_TEST_IMAGE, default
 * busybox:test, must be there; DOCKER_TEST_PULL, when set, is an image a
 * pull must succeed for, with DOCKER_TEST_REGISTRY_USER and _PASSWORD when its
 * registry wants them).
 */
#include "base/compat.h"
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>
#include <libgen.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include "base/buf.h"
#include "base/encode.h"
#include "docker/credentials.h"
#include "docker/docker.h"
#include "docker/stream.h"
#include "base/error.h"
#include "base/util.h"
#include "helpers.h"
#include "base/banned.h"

static char *data_dir;

/* dir/name, kept until the next call (a test's convenience) */
static char *tmp_last;

static const char *rc_xstrfmt_tmp(const char *dir, const char *name)
{
	free(tmp_last);
	tmp_last = name ? rc_xstrfmt("%s/%s", dir, name) : NULL;
	return tmp_last;
}

static char *slurp(const char *name, size_t *len)
{
	rc_buf b = RC_BUF_INIT;
	rc_error err = RC_ERROR_INIT;
	char *path = rc_xstrfmt("%s/%s", data_dir, name);

	if (rc_buf_read_file(&b, path, &err) < 0)
		fail_msg("%s", err.msg);
	free(path);
	return rc_buf_detach(&b, len);
}

static json_t *load_json(const char *name)
{
	size_t len;
	char *s = slurp(name, &len);
	json_error_t jerr;
	json_t *j = json_loadb(s, len, 0, &jerr);

	if (!j)
		fail_msg("%s: %s", name, jerr.text);
	free(s);
	return j;
}

/* ---- versions ---- */

static void test_parse_version(void **state)
{
	int a = 0, b = 0;
	(void)state;
	assert_int_equal(rc_docker_parse_version(&a, &b, "1.41"), 0);
	assert_int_equal(a, 1);
	assert_int_equal(b, 41);
	assert_int_equal(rc_docker_parse_version(&a, &b, "1.4"), 0);
	assert_int_equal(b, 4);
	assert_int_equal(rc_docker_parse_version(&a, &b, "2.0"), 0);
	static const char *bad[] = { "", "1", "1.", ".1", "a.b", "1.41.1", "+1.2", "1.-2", " 1.2",
				     "1.2 ", "1..2", "1.2x", "99999999999999999999.1" };
	for (size_t i = 0; i < RC_ARRAY_SIZE(bad); i++)
		assert_int_equal(rc_docker_parse_version(&a, &b, bad[i]), -1);
	assert_int_equal(rc_docker_parse_version(&a, &b, NULL), -1);
}

static void test_choose_version(void **state)
{
	rc_error err = RC_ERROR_INIT;
	json_t *v2010 = load_json("version-20.10.json");
	json_t *v111 = load_json("version-1.11.json");
	json_t *v29 = load_json("version-29.json");
	char out[16];
	(void)state;

	assert_int_equal(rc_docker_choose_version(out, v2010, NULL, "vm1", &err), 0);
	assert_string_equal(out, "1.41");
	assert_int_equal(rc_docker_choose_version(out, v2010, "1.30", "vm1", &err), 0);
	assert_string_equal(out, "1.30");
	assert_int_equal(rc_docker_choose_version(out, v2010, "1.45", "vm1", &err), 0);
	assert_string_equal(out, "1.41");
	/* "1.4" is not "1.40": compared as numbers */
	assert_int_equal(rc_docker_choose_version(out, v2010, "1.4", "vm1", &err), RC_EINVALID);
	assert_string_equal(err.msg, "docker on 'vm1': api_version 1.4 is below 1.24, the oldest reconcile speaks");

	assert_int_equal(rc_docker_choose_version(out, v111, NULL, "vm1", &err), RC_ERROR);
	assert_string_equal(err.msg, "docker on 'vm1' speaks API 1.23, reconcile needs 1.24 or later");

	/* a new daemon: ours is the cap; its minimum wins over an endpoint cap below it */
	assert_int_equal(rc_docker_choose_version(out, v29, NULL, "vm2", &err), 0);
	assert_string_equal(out, RC_DOCKER_API_MAX);
	assert_int_equal(rc_docker_choose_version(out, v29, "1.41", "vm2", &err), RC_ERROR);
	assert_string_equal(err.msg, "docker on 'vm2' needs API 1.44 or later, reconcile can use at most 1.41");

	json_t *bad = json_pack("{s:i}", "ApiVersion", 141);
	assert_int_equal(rc_docker_choose_version(out, bad, NULL, "vm1", &err), RC_ERROR);
	assert_string_equal(err.msg, "docker on 'vm1': GET /version: no ApiVersion in the answer");
	json_decref(bad);
	bad = json_pack("{s:s,s:s}", "ApiVersion", "1.41", "MinAPIVersion", "new");
	assert_int_equal(rc_docker_choose_version(out, bad, NULL, "vm1", &err), RC_ERROR);
	json_decref(bad);
	bad = json_array();
	assert_int_equal(rc_docker_choose_version(out, bad, NULL, "vm1", &err), RC_ERROR);
	assert_int_equal(rc_docker_choose_version(out, NULL, NULL, "vm1", &err), RC_ERROR);
	json_decref(bad);

	json_decref(v2010);
	json_decref(v111);
	json_decref(v29);
}

/* ---- error messages ---- */

static void check_http_error(const char *file, const char *method, const char *path, long status,
			     int code, const char *msg)
{
	rc_error err = RC_ERROR_INIT;
	size_t len = 0;
	char *body = file ? slurp(file, &len) : NULL;

	assert_int_equal(rc_docker_http_error(&err, "vm1", method, path, status, body, len), code);
	assert_int_equal(err.code, code);
	assert_string_equal(err.msg, msg);
	free(body);
}

static void test_http_error(void **state)
{
	(void)state;
	check_http_error("error-409-conflict.json", "POST", "/containers/create?name=a1", 409,
			 RC_ECONFLICT,
			 "docker on 'vm1': POST /containers/create: 409 Conflict: Conflict. The container name "
			 "\"/a1\" is already in use by container "
			 "\"f57c433ffbadb00cb1599451dcf49c915d94da32c45387f4437624ad17b64976\". You have to "
			 "remove (or rename) that container to be able to reuse that name.");
	check_http_error("error-404-image.json", "GET", "/images/nope/json", 404, RC_ENOTFOUND,
			 "docker on 'vm1': GET /images/nope/json: 404 Not Found: no such image: nope: No "
			 "such image: nope:latest");
	check_http_error("error-404-route.json", "GET", "/nope", 404, RC_ENOTFOUND,
			 "docker on 'vm1': GET /nope: 404 Not Found: page not found");
	check_http_error("error-400-too-new.json", "GET", "/version", 400, RC_ERROR,
			 "docker on 'vm1': GET /version: 400 Bad Request: client version 1.99 is too new. "
			 "Maximum supported API version is 1.41");
	check_http_error("error-500-pull-badauth.json", "POST", "/images/create?fromImage=x", 500, RC_ERROR,
			 "docker on 'vm1': POST /images/create: 500 Internal Server Error: unauthorized: "
			 "authentication required");
	check_http_error(NULL, "DELETE", "/containers/x?force=1", 401, RC_EAUTH,
			 "docker on 'vm1': DELETE /containers/x: 401 Unauthorized");
	check_http_error(NULL, "GET", "/x", 403, RC_EAUTH, "docker on 'vm1': GET /x: 403 Forbidden");
	check_http_error(NULL, "GET", "/x", 418, RC_ERROR, "docker on 'vm1': GET /x: 418");

	/* a text body: its first line, control characters made harmless */
	rc_error err = RC_ERROR_INIT;
	const char *text = "  proxy said\x1b[31m no\r\nsecond line";
	assert_int_equal(rc_docker_http_error(&err, "vm1", "GET", "/x", 502, text, strlen(text)), RC_ERROR);
	assert_string_equal(err.msg, "docker on 'vm1': GET /x: 502 Bad Gateway: proxy said?[31m no");
	/* a JSON body without a string message is shown as text */
	text = "{\"message\": 42}";
	rc_docker_http_error(&err, "vm1", "GET", "/x", 500, text, strlen(text));
	assert_string_equal(err.msg, "docker on 'vm1': GET /x: 500 Internal Server Error: {\"message\": 42}");
	/* a huge message is cut, not overflowed */
	char *huge = rc_xmalloc(100000);
	memset(huge, 'x', 99999);
	huge[99999] = '\0';
	rc_docker_http_error(&err, "vm1", "GET", "/x", 500, huge, strlen(huge));
	assert_true(strlen(err.msg) < sizeof(err.msg));
	free(huge);
}

/* ---- pull streams ---- */

static void test_pull_stream_recorded(void **state)
{
	rc_error err = RC_ERROR_INIT;
	size_t len;
	char *s;
	(void)state;

	s = slurp("pull-ok.stream", &len);
	assert_int_equal(rc_docker_pull_check("vm1", "127.0.0.1:5544/bb:1", s, len, &err), 0);
	free(s);
	s = slurp("pull-uptodate.stream", &len);
	assert_int_equal(rc_docker_pull_check("vm1", "127.0.0.1:5544/bb:1", s, len, &err), 0);
	free(s);

	s = slurp("pull-bad-layer.stream", &len);
	assert_int_equal(rc_docker_pull_check("vm1", "127.0.0.1:5544/bb:1", s, len, &err), RC_ERROR);
	assert_string_equal(err.msg,
			    "docker on 'vm1': pull of '127.0.0.1:5544/bb:1' failed: filesystem layer "
			    "verification failed for digest "
			    "sha256:4dc5d01d818df3a7f9334a18c6ca46b17e349c40a3429c4c856bc351ff5de1a9");
	free(s);
}

static int count_obj(json_t *obj, void *data, rc_error *err)
{
	(void)obj;
	(void)err;
	(*(int *)data)++;
	return 0;
}

struct layers_seen {
	rc_docker_layers l;
	int changes;
};

static int layers_object(json_t *obj, void *data, rc_error *err)
{
	struct layers_seen *t = data;
	(void)err;
	t->changes += rc_docker_layers_update(&t->l, obj);
	return 0;
}

/* What a progress display is told: layers seen and finished, bytes of known sizes. */
static void test_pull_layers(void **state)
{
	struct layers_seen t;
	rc_docker_stream s;
	rc_error err = RC_ERROR_INIT;
	size_t len, layers, done;
	uint64_t bytes, total;
	char *data = slurp("pull-ok.stream", &len);
	(void)state;

	memset(&t, 0, sizeof(t));
	rc_docker_stream_init(&s, 0, layers_object, &t);
	rc_docker_stream_feed(&s, data, len);
	assert_int_equal(rc_docker_stream_finish(&s, &err), 0);
	rc_docker_layers_count(&t.l, &layers, &done, &bytes, &total);
	/* "Pulling from bb" names the tag, not a layer */
	assert_int_equal(layers, 1);
	assert_int_equal(done, 1);
	assert_int_equal(bytes, 1064564);
	assert_int_equal(total, 1064564);
	/* seen, two downloads, finished: the extraction lines change nothing */
	assert_int_equal(t.changes, 4);
	rc_docker_stream_release(&s);
	rc_docker_layers_release(&t.l);
	free(data);

	memset(&t, 0, sizeof(t));
	data = rc_xstrdup("{\"status\":\"Already exists\",\"id\":\"aa\"}\n"
			  "{\"status\":\"Waiting\",\"id\":\"bb\"}\n");
	rc_docker_stream_init(&s, 0, layers_object, &t);
	rc_docker_stream_feed(&s, data, strlen(data));
	assert_int_equal(rc_docker_stream_finish(&s, &err), 0);
	rc_docker_layers_count(&t.l, &layers, &done, &bytes, &total);
	assert_int_equal(layers, 2);
	assert_int_equal(done, 1);
	assert_int_equal(bytes, 0);
	rc_docker_stream_release(&s);
	rc_docker_layers_release(&t.l);
	free(data);
}

static void test_pull_stream_chunked(void **state)
{
	rc_error err = RC_ERROR_INIT;
	rc_docker_stream s;
	size_t len;
	char *data = slurp("pull-ok.stream", &len);
	int n = 0;
	(void)state;

	/* a byte at a time: objects split anywhere must still come out whole */
	rc_docker_stream_init(&s, 0, count_obj, &n);
	for (size_t i = 0; i < len; i++)
		assert_int_equal(rc_docker_stream_feed(&s, data + i, 1), 0);
	assert_int_equal(rc_docker_stream_finish(&s, &err), 0);
	assert_int_equal(n, 13);
	assert_int_equal(s.objects, 13);
	rc_docker_stream_release(&s);
	free(data);

	/* no final newline; several objects on one line; blank lines */
	const char *t = "{\"a\":1}{\"b\":2}\n\n  \r\n{\"c\":3}";
	n = 0;
	rc_docker_stream_init(&s, 0, count_obj, &n);
	rc_docker_stream_feed(&s, t, strlen(t));
	assert_int_equal(n, 2);
	assert_int_equal(rc_docker_stream_finish(&s, &err), 0);
	assert_int_equal(n, 3);
	rc_docker_stream_release(&s);
}

static void test_pull_stream_bad(void **state)
{
	rc_error err = RC_ERROR_INIT;
	rc_docker_stream s;
	const char *t;
	(void)state;

	t = "{\"status\":\"Pulling\"}\n{\"status\": tru\n";
	assert_int_equal(rc_docker_pull_check("vm1", "x", t, strlen(t), &err), RC_ERROR);
	assert_true(rc_starts_with(err.msg, "docker on 'vm1': pull of 'x': malformed JSON in stream: "));

	t = "[1,2]\n";
	assert_int_equal(rc_docker_pull_check("vm1", "x", t, strlen(t), &err), RC_ERROR);
	assert_string_equal(err.msg, "docker on 'vm1': pull of 'x': unexpected progress item");

	/* error without errorDetail, and errorDetail without message */
	t = "{\"error\":\"boom\"}";
	assert_int_equal(rc_docker_pull_check("vm1", "x", t, strlen(t), &err), RC_ERROR);
	assert_string_equal(err.msg, "docker on 'vm1': pull of 'x' failed: boom");
	t = "{\"errorDetail\":{\"code\":1}}";
	assert_int_equal(rc_docker_pull_check("vm1", "x", t, strlen(t), &err), RC_ERROR);
	assert_string_equal(err.msg, "docker on 'vm1': pull of 'x' failed: (no message)");
	/* the first error wins */
	t = "{\"error\":\"first\"}\n{\"error\":\"second\"}\n";
	assert_int_equal(rc_docker_pull_check("vm1", "x", t, strlen(t), &err), RC_ERROR);
	assert_string_equal(err.msg, "docker on 'vm1': pull of 'x' failed: first");
	/* a registry refusing us is an auth error */
	t = "{\"errorDetail\":{\"message\":\"unauthorized: authentication required\"},\"error\":\"unauthorized: authentication required\"}\r\n";
	assert_int_equal(rc_docker_pull_check("vm1", "x", t, strlen(t), &err), RC_EAUTH);

	/* a line longer than the cap */
	rc_docker_stream_init(&s, 16, NULL, NULL);
	assert_int_equal(rc_docker_stream_feed(&s, "{\"status\":\"", 11), 0);
	assert_int_equal(rc_docker_stream_feed(&s, "0123456789", 10), RC_ELIMIT);
	assert_int_equal(rc_docker_stream_finish(&s, &err), RC_ELIMIT);
	assert_string_equal(err.msg, "a line of the stream is longer than 16 bytes");
	rc_docker_stream_release(&s);
}

/* ---- credentials ---- */

static void test_base64(void **state)
{
	static const struct { const char *in, *out; } v[] = {
		{ "", "" }, { "f", "Zg==" }, { "fo", "Zm8=" }, { "foo", "Zm9v" },
		{ "foob", "Zm9vYg==" }, { "fooba", "Zm9vYmE=" }, { "foobar", "Zm9vYmFy" },
	};
	rc_buf b = RC_BUF_INIT;
	char *s;
	(void)state;

	for (size_t i = 0; i < RC_ARRAY_SIZE(v); i++) {
		s = rc_base64_encode(v[i].in, strlen(v[i].in), false);
		assert_string_equal(s, v[i].out);
		rc_buf_reset(&b);
		assert_int_equal(rc_base64_decode(&b, s, strlen(s)), 0);
		assert_string_equal(b.ptr, v[i].in);
		free(s);
	}
	/* the URL alphabet differs in two characters */
	s = rc_base64_encode("\xfb\xff\xbf", 3, false);
	assert_string_equal(s, "+/+/");
	free(s);
	s = rc_base64_encode("\xfb\xff\xbf", 3, true);
	assert_string_equal(s, "-_-_");
	rc_buf_reset(&b);
	assert_int_equal(rc_base64_decode(&b, s, strlen(s)), 0);
	assert_memory_equal(b.ptr, "\xfb\xff\xbf", 3);
	free(s);
	/* unpadded is accepted */
	rc_buf_reset(&b);
	assert_int_equal(rc_base64_decode(&b, "Zm8", 3), 0);
	assert_string_equal(b.ptr, "fo");

	static const char *bad[] = { "Z", "Zm9v!", "Zm=9", "Zg=", "Zh==", "Zm9=", "====", "Zm9vY" };
	for (size_t i = 0; i < RC_ARRAY_SIZE(bad); i++) {
		rc_buf_reset(&b);
		assert_int_equal(rc_base64_decode(&b, bad[i], strlen(bad[i])), RC_EINVALID);
	}
	rc_buf_release(&b);
}

static json_t *decode_header(const char *h)
{
	rc_buf b = RC_BUF_INIT;
	json_t *j;

	assert_non_null(h);
	assert_null(strpbrk(h, "+/"));
	assert_int_equal(rc_base64_decode(&b, h, strlen(h)), 0);
	j = json_loadb(b.ptr, b.len, 0, NULL);
	assert_non_null(j);
	rc_buf_release(&b);
	return j;
}

static void check_creds(const char *h, const char *user, const char *pass, const char *server)
{
	json_t *j = decode_header(h);
	assert_string_equal(json_string_value(json_object_get(j, "username")), user);
	assert_string_equal(json_string_value(json_object_get(j, "password")), pass);
	assert_string_equal(json_string_value(json_object_get(j, "serveraddress")), server);
	json_decref(j);
}

/* The Docker CLI's order: credHelpers[host], then credsStore, then auths. */
static void test_config_helper_order(void **state)
{
	static const struct { const char *text, *host, *helper; } cases[] = {
		{ "{\"auths\": {\"h\": {\"auth\": \"YTpi\"}}, \"credsStore\": \"desktop\"}", "h", "desktop" },
		{ "{\"credsStore\": \"desktop\", \"credHelpers\": {\"h\": \"ecr-login\"}}", "h", "ecr-login" },
		{ "{\"credsStore\": \"desktop\", \"credHelpers\": {\"other\": \"ecr-login\"}}", "h", "desktop" },
		{ "{\"credHelpers\": {\"https://index.docker.io/v1/\": \"hub\"}}", "docker.io", "hub" },
		{ "{\"credsStore\": \"\", \"auths\": {\"h\": {\"auth\": \"YTpi\"}}}", "h", NULL },
	};
	rc_error err = RC_ERROR_INIT;

	(void)state;
	for (size_t i = 0; i < RC_ARRAY_SIZE(cases); i++) {
		char *h = NULL, *helper = NULL;

		assert_int_equal(rc_docker_config_auth_parse(&h, &helper, cases[i].text, strlen(cases[i].text),
							     cases[i].host, "c.json", &err), 0);
		if (cases[i].helper) {
			assert_null(h);
			assert_string_equal(helper, cases[i].helper);
		} else {
			assert_null(helper);
			check_creds(h, "a", "b", "h");
		}
		free(h);
		free(helper);
	}
}

/*
 * A helper of ours: what it answers depends on the server it is asked
 * about; it keeps what it read on stdin in $dir/stdin.
 */
static const char helper_script[] =
	"#!/bin/sh\n"
	"test \"$1\" = get || exit 9\n"
	"server=$(cat)\n"
	"printf '%s' \"$server\" >\"$(dirname \"$0\")/stdin\"\n"
	"echo 'SECRET-ON-STDERR' >&2\n"
	"case $server in\n"
	"h.example.com) printf '{\"ServerURL\":\"%s\",\"Username\":\"carol\",\"Secret\":\"h3lp:er\"}\\n' \"$server\" ;;\n"
	"https://index.docker.io/v1/) echo '{\"ServerURL\":\"x\",\"Username\":\"<token>\",\"Secret\":\"tok3n\"}' ;;\n"
	"none.example.com) echo 'credentials not found in native keychain'; exit 1 ;;\n"
	"fails.example.com) echo 'SECRET-IN-ERROR'; exit 3 ;;\n"
	"garbage.example.com) echo 'SECRET-NOT-JSON' ;;\n"
	"slow.example.com) sleep 30 & sleep 30 ;;\n"
	"closes.example.com) exec >&-; sleep 30 ;;\n"
	"*) exit 4 ;;\n"
	"esac\n";

static void test_credential_helper(void **state)
{
	char *dir = tmp_tree_new(), *script, *old_path = rc_xstrdup(getenv("PATH")), *h = NULL;
	char *new_path = rc_xstrfmt("%s:%s", dir, old_path);
	rc_buf got = RC_BUF_INIT;
	rc_error err = RC_ERROR_INIT;
	json_t *j;
	double t0;

	(void)state;
	tmp_write(dir, "docker-credential-rctest", helper_script);
	script = rc_xstrfmt("%s/docker-credential-rctest", dir);
	assert_int_equal(chmod(script, 0755), 0);
	setenv("PATH", new_path, 1);

	assert_int_equal(rc_docker_credential_helper(&h, "rctest", "h.example.com", 5, &err), 0);
	check_creds(h, "carol", "h3lp:er", "h.example.com");
	free(h);
	/* the server on stdin, as the Docker CLI writes it: no newline */
	rc_buf_reset(&got);
	assert_int_equal(rc_buf_read_file(&got, rc_xstrfmt_tmp(dir, "stdin"), &err), 0);
	assert_string_equal(got.ptr, "h.example.com");

	/* Docker Hub is asked under its historical key; "<token>" is an identity token */
	assert_int_equal(rc_docker_credential_helper(&h, "rctest", "docker.io", 5, &err), 0);
	j = decode_header(h);
	assert_string_equal(json_string_value(json_object_get(j, "identitytoken")), "tok3n");
	assert_string_equal(json_string_value(json_object_get(j, "username")), "");
	json_decref(j);
	free(h);

	assert_int_equal(rc_docker_credential_helper(&h, "rctest", "none.example.com", 5, &err), RC_ENOTFOUND);
	assert_null(h);
	assert_string_equal(err.msg, "'docker-credential-rctest get' exited with status 1: no credentials");
	/* never a byte of what it said, on stdout or stderr */
	assert_int_equal(rc_docker_credential_helper(&h, "rctest", "fails.example.com", 5, &err), RC_ERROR);
	assert_string_equal(err.msg, "'docker-credential-rctest get' exited with status 3");
	assert_int_equal(rc_docker_credential_helper(&h, "rctest", "garbage.example.com", 5, &err), RC_ERROR);
	assert_null(strstr(err.msg, "SECRET"));
	assert_string_equal(err.msg, "'docker-credential-rctest get': its answer is not a JSON object with Username and Secret");

	/* bounded: it and what it started are killed */
	t0 = rc_monotonic();
	assert_int_equal(rc_docker_credential_helper(&h, "rctest", "slow.example.com", 0.5, &err), RC_ETIMEOUT);
	assert_true(rc_monotonic() - t0 < 3);
	assert_string_equal(err.msg, "'docker-credential-rctest get' did not answer within 0.5 s");
	t0 = rc_monotonic();
	assert_int_equal(rc_docker_credential_helper(&h, "rctest", "closes.example.com", 0.5, &err), RC_ETIMEOUT);
	assert_true(rc_monotonic() - t0 < 3);
	assert_string_equal(err.msg, "'docker-credential-rctest get' did not exit within 0.5 s");

	assert_int_equal(rc_docker_credential_helper(&h, "nosuch", "h.example.com", 5, &err), RC_ENOTFOUND);
	assert_string_equal(err.msg, "cannot run 'docker-credential-nosuch': not found in PATH");

	/* from a config file */
	tmp_write(dir, "config.json", "{\"auths\": {\"h.example.com\": {}}, \"credsStore\": \"rctest\"}");
	assert_int_equal(rc_docker_config_auth(&h, rc_xstrfmt_tmp(dir, "config.json"), "h.example.com", &err), 0);
	check_creds(h, "carol", "h3lp:er", "h.example.com");
	free(h);
	assert_int_equal(rc_docker_config_auth(&h, rc_xstrfmt_tmp(dir, "config.json"), "none.example.com", &err),
			 RC_ENOTFOUND);
	assert_true(rc_ends_with(err.msg, "config.json: credentials for 'none.example.com' from 'docker-credential-rctest': "
				 "'docker-credential-rctest get' exited with status 1: no credentials"));

	setenv("PATH", old_path, 1);
	free(old_path);
	free(new_path);
	free(script);
	rc_buf_release(&got);
	rc_xstrfmt_tmp(NULL, NULL);
	tmp_tree_remove(dir);
}

/*
 * Every engine generation from 20.10 on, as its GET /version reports
 * ApiVersion and MinAPIVersion (the Engine API version matrix of the
 * Docker docs): each ship gets the newest both sides speak, and an engine
 * that refuses old clients (29: below 1.44) still gets one it accepts.
 */
static void test_choose_version_engines(void **state)
{
	static const struct { const char *engine, *api, *min, *want; } engines[] = {
		{ "20.10", "1.41", "1.12", "1.41" },
		{ "23.0", "1.42", "1.12", "1.42" },
		{ "24.0", "1.43", "1.12", "1.43" },
		{ "25.0", "1.44", "1.24", "1.44" },
		{ "26.0", "1.45", "1.24", "1.45" },
		{ "27.0", "1.46", "1.24", "1.46" },
		{ "27.3", "1.47", "1.24", "1.47" },
		{ "28.0", "1.48", "1.24", RC_DOCKER_API_MAX },
		{ "29.0", "1.52", "1.44", RC_DOCKER_API_MAX },
	};
	rc_error err = RC_ERROR_INIT;
	char out[16];

	(void)state;
	for (size_t i = 0; i < RC_ARRAY_SIZE(engines); i++) {
		json_t *v = json_pack("{s:s,s:s,s:s}", "Version", engines[i].engine, "ApiVersion",
				      engines[i].api, "MinAPIVersion", engines[i].min);

		if (rc_docker_choose_version(out, v, NULL, "vm", &err) < 0)
			fail_msg("engine %s: %s", engines[i].engine, err.msg);
		if (strcmp(out, engines[i].want))
			fail_msg("engine %s: chose %s, want %s", engines[i].engine, out, engines[i].want);
		/* a ship capped at 1.41 (api_version) works with every engine that still accepts it */
		assert_int_equal(rc_docker_choose_version(out, v, "1.41", "vm", &err),
				 strcmp(engines[i].min, "1.41") > 0 ? RC_ERROR : 0);
		json_decref(v);
	}
	/* the floor that matters must stay below our newest */
	assert_true(strcmp("1.44", RC_DOCKER_API_MAX) <= 0);
}

static void test_auth_header(void **state)
{
	char *h;
	(void)state;

	/* what the daemon accepted from a real registry with htpasswd */
	h = rc_docker_auth_header("alice", "s3cret", "127.0.0.1:5545");
	assert_string_equal(h, "eyJ1c2VybmFtZSI6ImFsaWNlIiwicGFzc3dvcmQiOiJzM2NyZXQiLCJzZXJ2ZXJhZGRyZXNzIjoiMTI3LjAuMC4xOjU1NDUifQ==");
	free(h);
	/* characters that need JSON escaping, and bytes that give '-' and '_' */
	h = rc_docker_auth_header("b\"o\\b", "p?>?~\xc3\xbf", "r.example.com:5000");
	check_creds(h, "b\"o\\b", "p?>?~\xc3\xbf", "r.example.com:5000");
	free(h);
	assert_null(rc_docker_auth_header("bad\xff", "x", "y"));
}

static void test_config_auth(void **state)
{
	rc_error err = RC_ERROR_INIT;
	char *path = rc_xstrfmt("%s/config.json", data_dir);
	char *h = NULL;
	(void)state;

	assert_int_equal(rc_docker_config_auth(&h, path, "127.0.0.1:5545", &err), 0);
	check_creds(h, "alice", "s3cret", "127.0.0.1:5545");
	free(h);
	assert_int_equal(rc_docker_config_auth(&h, path, "docker.io", &err), 0);
	check_creds(h, "hubuser", "hubpass", "docker.io");
	free(h);
	/* a key written as a URL, credentials in plain fields, a colon in the password */
	assert_int_equal(rc_docker_config_auth(&h, path, "registry.example.com:5000", &err), 0);
	check_creds(h, "bob", "pa:ss", "registry.example.com:5000");
	free(h);

	assert_int_equal(rc_docker_config_auth(&h, path, "other.example.com", &err), RC_ENOTFOUND);
	assert_null(h);
	assert_true(rc_ends_with(err.msg, "config.json: no credentials for 'other.example.com'"));
	/* kept by a helper that is not installed */
	char *old_path = rc_xstrdup(getenv("PATH"));
	setenv("PATH", "/nonexistent-rc-test", 1);
	assert_int_equal(rc_docker_config_auth(&h, path, "helper.example.com", &err), RC_ENOTFOUND);
	assert_null(h);
	assert_true(strstr(err.msg, "config.json: credentials for 'helper.example.com' from 'docker-credential-secretservice': "
			    "cannot run 'docker-credential-secretservice': not found in PATH"));
	setenv("PATH", old_path, 1);
	free(old_path);
	free(path);

	/* $DOCKER_CONFIG, and a missing file */
	char *old = getenv("DOCKER_CONFIG") ? rc_xstrdup(getenv("DOCKER_CONFIG")) : NULL;
	setenv("DOCKER_CONFIG", data_dir, 1);
	assert_int_equal(rc_docker_config_auth(&h, NULL, "127.0.0.1:5545", &err), 0);
	free(h);
	setenv("DOCKER_CONFIG", "/nonexistent-rc-test", 1);
	assert_int_equal(rc_docker_config_auth(&h, NULL, "127.0.0.1:5545", &err), RC_ENOTFOUND);
	assert_string_equal(err.msg, "cannot open '/nonexistent-rc-test/config.json': No such file or directory");
	if (old)
		setenv("DOCKER_CONFIG", old, 1);
	else
		unsetenv("DOCKER_CONFIG");
	free(old);

	/* malformed files */
	static const struct { const char *text; int code; const char *msg; } bad[] = {
		{ "{", RC_ERROR, NULL },
		{ "[]", RC_ERROR, "c.json:1:1: not a docker config file: not an object" },
		{ "{\"auths\": []}", RC_ERROR, "c.json: \"auths\" is not an object" },
		{ "{\"auths\": {\"h\": 1}}", RC_ERROR, "c.json: entry for 'h' is not an object" },
		{ "{\"auths\": {\"h\": {\"auth\": \"!!\"}}}", RC_ERROR, "c.json: malformed \"auth\" for 'h'" },
		{ "{\"auths\": {\"h\": {\"auth\": \"bm9jb2xvbg==\"}}}", RC_ERROR, "c.json: malformed \"auth\" for 'h'" },
		{ "{\"auths\": {\"h\": {\"auth\": \"YQB6OmI=\"}}}", RC_ERROR, "c.json: \"auth\" for 'h' is not text" },
		{ "{\"auths\": {\"h\": {\"auth\": \"\"}}}", RC_ENOTFOUND, "c.json: no credentials for 'h'" },
		{ "{}", RC_ENOTFOUND, "c.json: no credentials for 'h'" },
		{ "{\"credsStore\": \"../bin/sh\"}", RC_EINVALID, "c.json: credential helper name '../bin/sh' is not a plain name" },
		{ "{\"credHelpers\": {\"h\": \".x\"}}", RC_EINVALID, "c.json: credential helper name '.x' is not a plain name" },
	};
	for (size_t i = 0; i < RC_ARRAY_SIZE(bad); i++) {
		char *helper = NULL;

		h = NULL;
		assert_int_equal(rc_docker_config_auth_parse(&h, &helper, bad[i].text, strlen(bad[i].text), "h",
							     "c.json", &err), bad[i].code);
		assert_null(h);
		assert_null(helper);
		if (bad[i].msg)
			assert_string_equal(err.msg, bad[i].msg);
	}
}

/* ---- requests, pure parts ---- */

static void test_split_image(void **state)
{
	static const struct { const char *in, *repo, *tag; } v[] = {
		{ "busybox", "busybox", "latest" },
		{ "busybox:1.36", "busybox", "1.36" },
		{ "registry.example.com:5000/team/app", "registry.example.com:5000/team/app", "latest" },
		{ "registry.example.com:5000/team/app:1.2", "registry.example.com:5000/team/app", "1.2" },
		{ "app@sha256:abcd", "app", "sha256:abcd" },
		{ "r:5000/app:1@sha256:abcd", "r:5000/app:1", "sha256:abcd" },
	};
	char *repo, *tag;
	(void)state;

	for (size_t i = 0; i < RC_ARRAY_SIZE(v); i++) {
		assert_int_equal(rc_docker_split_image(&repo, &tag, v[i].in), 0);
		assert_string_equal(repo, v[i].repo);
		assert_string_equal(tag, v[i].tag);
		free(repo);
		free(tag);
	}
	static const char *bad[] = { "", "app:", ":tag", "@sha256:x", "app@" };
	for (size_t i = 0; i < RC_ARRAY_SIZE(bad); i++) {
		assert_int_equal(rc_docker_split_image(&repo, &tag, bad[i]), -1);
		assert_null(repo);
		assert_null(tag);
	}
}

static void test_url_escape_and_query(void **state)
{
	rc_buf b = RC_BUF_INIT;
	const char *names[] = { "web-1", "db.main", "x", NULL };
	(void)state;

	assert_int_equal(rc_docker_url_escape(&b, "a b/c?d&e=f%~\xc3\xa9", NULL), 0);
	assert_string_equal(b.ptr, "a%20b%2Fc%3Fd%26e%3Df%25~%C3%A9");
	rc_buf_reset(&b);
	rc_docker_url_escape(&b, "r:5000/app:1@sha256:ab", "/:@");
	assert_string_equal(b.ptr, "r:5000/app:1@sha256:ab");

	rc_buf_reset(&b);
	assert_int_equal(rc_docker_list_query(&b, NULL, NULL, 0), 0);
	assert_string_equal(b.ptr, "/containers/json?all=1");
	rc_buf_reset(&b);
	rc_docker_list_query(&b, "reconcile.environment", NULL, 0);
	/* {"label":["reconcile.environment"]} */
	assert_string_equal(b.ptr, "/containers/json?all=1&filters=%7B%22label%22%3A%5B%22reconcile.environment%22%5D%7D");
	rc_buf_reset(&b);
	rc_docker_list_query(&b, NULL, names, 2);
	/* {"name":["^/web-1$","^/db\\.main$"]}: anchored, the dot escaped */
	assert_string_equal(b.ptr, "/containers/json?all=1&filters=%7B%22name%22%3A%5B%22%5E%2Fweb-1%24%22%2C%22%5E%2Fdb%5C%5C.main%24%22%5D%7D");
	rc_buf_release(&b);

	/* a cap on the buffer is honoured */
	rc_buf small;
	rc_buf_init(&small, 8);
	assert_int_equal(rc_docker_url_escape(&small, "0123456789", NULL), RC_ELIMIT);
	rc_buf_release(&small);
}


/* ---- the container list, scanned ---- */

struct scanned {
	rc_buf text;      /* one line a container: id name state [status] image key=value... */
	size_t n;
};

static int scanned_one(const rc_docker_summary *c, void *data, rc_error *err)
{
	struct scanned *x = data;

	(void)err;
	x->n++;
	rc_buf_addf(&x->text, "%s %s %s [%s] %s", c->id, c->name, c->state ? c->state : "-",
		    c->status ? c->status : "-", c->image_id ? c->image_id : "-");
	for (size_t i = 0; i < c->labels_nr; i++)
		rc_buf_addf(&x->text, " %s=%s", c->labels[2 * i], c->labels[2 * i + 1] ? c->labels[2 * i + 1] : "(skipped)");
	rc_buf_addch(&x->text, '\n');
	return 0;
}

static const char *const skip_spec[] = { "reconcile.spec", NULL };

/* Scan `text` fed in pieces of `chunk` bytes (0: whole); the result in x, the code returned. */
static int scan_text(struct scanned *x, const char *text, size_t len, size_t chunk, size_t entry_cap)
{
	rc_docker_scanner s;
	rc_error err = RC_ERROR_INIT;
	int ret;

	rc_buf_init(&x->text, 0);
	x->n = 0;
	rc_docker_scanner_init(&s, "reconcile.", skip_spec, entry_cap, scanned_one, x);
	for (size_t off = 0; off < len; off += chunk ? chunk : len)
		rc_docker_scanner_feed(&s, text + off, chunk && len - off > chunk ? chunk : len - off);
	ret = rc_docker_scanner_finish(&s, &err);
	rc_docker_scanner_release(&s);
	return ret;
}

static void test_scan_list(void **state)
{
	static const char doc[] =
		" [ {\"Id\":\"a\",\"Names\":[\"/web/db\",\"/db\"],\"State\":\"running\",\"ImageID\":\"sha256:1\","
		"\"Status\":\"Up 2 minutes (healthy)\","
		"\"Ports\":[{\"PrivatePort\":80,\"Type\":\"tcp\"}],\"Created\":1.5e9,\"x\":null,\"y\":true,"
		"\"Labels\":{\"reconcile.environment\":\"prod\",\"other\":\"\\\"}\",\"reconcile.spec\":"
		"\"{\\\"env\\\":{\\\"A\\\":\\\"]}\\\"}}\",\"reconcile.service\":\"d\\u00e9\\ud83d\\ude00\\n\\/\","
		"\"reconcile.spec-hash\":\"h1\"},\"Mounts\":[]},\n"
		"  7, \"s\", [], {},\n"
		"  {\"Names\":[\"/noid\"],\"Id\":\"b\",\"Labels\":null,\"Id\":\"c\"},\n"
		"  {\"Id\":\"d\",\"Names\":[]}\n"
		"] \n";
	const char *want =
		"a /db running [Up 2 minutes (healthy)] sha256:1 reconcile.environment=prod reconcile.spec=(skipped) "
		"reconcile.service=d\xc3\xa9\xf0\x9f\x98\x80\n/ reconcile.spec-hash=h1\n"
		"c /noid - [-] -\n";
	struct scanned x;
	(void)state;

	/* whole, and split at every byte */
	for (size_t chunk = 0; chunk < 4; chunk++) {
		assert_int_equal(scan_text(&x, doc, sizeof(doc) - 1, chunk, 0), 0);
		assert_string_equal(x.text.ptr, want);
		assert_int_equal(x.n, 2);
		rc_buf_release(&x.text);
	}
	/* an empty list; and what is not one */
	assert_int_equal(scan_text(&x, "[]", 2, 1, 0), 0);
	assert_int_equal(x.n, 0);
	rc_buf_release(&x.text);
	{
		static const char *const bad[] = { "", "{}", "\"x\"", "1", "[", "[{]", "[{\"Id\":}]", "[1,]x",
						   "[{\"Id\":\"\\x\"}]", "[{\"Id\":\"\\u12g4\"}]", "[]]", "[{\"a\" 1}]",
						   "[{\"Id\":\"a\"", "[{\"Id\":\"a", "[1 2]" };
		for (size_t i = 0; i < RC_ARRAY_SIZE(bad); i++) {
			if (scan_text(&x, bad[i], strlen(bad[i]), 1, 0) != RC_ERROR)
				fail_msg("'%s' was accepted", bad[i]);
			rc_buf_release(&x.text);
		}
	}
	/* too deep */
	{
		char deep[200];
		memset(deep, '[', sizeof(deep));
		assert_int_equal(scan_text(&x, deep, sizeof(deep), 0, 0), RC_ERROR);
		rc_buf_release(&x.text);
	}
	/* the fields kept of one entry are capped; the labels skipped are not kept, so do not count */
	assert_int_equal(scan_text(&x, doc, sizeof(doc) - 1, 0, 40), RC_ELIMIT);
	rc_buf_release(&x.text);
	assert_int_equal(scan_text(&x, doc, sizeof(doc) - 1, 0, 200), 0);
	rc_buf_release(&x.text);
}

/* The recorded answer of a real dockerd reads the same scanned as parsed. */
static void test_scan_list_recorded(void **state)
{
	json_t *recorded = load_json("containers-list.json");
	char *text = json_dumps(recorded, JSON_COMPACT);
	struct scanned x;
	size_t i;
	json_t *c;
	(void)state;

	assert_int_equal(scan_text(&x, text, strlen(text), 7, 0), 0);
	assert_int_equal(x.n, json_array_size(recorded));
	json_array_foreach(recorded, i, c)
		assert_non_null(strstr(x.text.ptr, json_string_value(json_object_get(c, "Id"))));
	rc_buf_release(&x.text);
	free(text);
	json_decref(recorded);
}

/*
 * One service of 1,200 instances: a list of ~70 MB, over the 64 MiB any
 * buffered answer may be, read in the pieces curl hands over, in little
 * memory (the spec labels skipped).
 */
static void test_scan_list_huge(void **state)
{
	rc_buf spec = RC_BUF_INIT, doc = RC_BUF_INIT;
	struct scanned x;
	(void)state;

	rc_buf_init(&doc, (size_t)128 << 20);
	rc_buf_adds(&spec, "{\\\"env\\\":{");
	for (int i = 0; i < 1200; i++)
		rc_buf_addf(&spec, "%s\\\"APP_%d_HOST\\\":\\\"10.0.0.%d\\\"", i ? "," : "", i, i % 250);
	rc_buf_adds(&spec, "}}");
	rc_buf_addch(&doc, '[');
	for (int i = 0; doc.len < (size_t)70 << 20; i++)
		rc_buf_addf(&doc, "%s{\"Id\":\"%064d\",\"Names\":[\"/app-%d\"],\"State\":\"running\","
			    "\"ImageID\":\"sha256:1\",\"Labels\":{\"reconcile.environment\":\"e\","
			    "\"reconcile.spec-hash\":\"h\",\"reconcile.spec\":\"%s\"}}",
			    i ? "," : "", i, i, spec.ptr);
	rc_buf_addch(&doc, ']');
	assert_true(doc.len > RC_BUF_DEFAULT_CAP);
	assert_int_equal(scan_text(&x, doc.ptr, doc.len, 16384, 0), 0);
	assert_true(x.n > 1200);
	assert_non_null(strstr(x.text.ptr, " /app-1200 running [-] sha256:1 reconcile.environment=e "
				   "reconcile.spec-hash=h reconcile.spec=(skipped)\n"));
	rc_buf_release(&x.text);
	rc_buf_release(&doc);
	rc_buf_release(&spec);
}

static void test_merge_named(void **state)
{
	json_t *recorded = load_json("containers-list.json");
	json_t *into = json_array();
	json_t *from = json_loads(
		"[{\"Id\":\"1\",\"Names\":[\"/web-1\"]},"
		" {\"Id\":\"2\",\"Names\":[\"/web-10\"]},"
		" {\"Id\":\"3\",\"Names\":[\"/other\",\"/db\"]},"
		" {\"Id\":\"4\",\"Names\":\"/web-1\"},"
		" {\"Id\":5,\"Names\":[\"/web-1\"]},"
		" 7,"
		" {\"Id\":\"1\",\"Names\":[\"/web-1\"]}]", 0, NULL);
	const char *names[] = { "web-1", "db", NULL };
	const char *a1[] = { "a1", NULL };
	(void)state;

	json_array_append_new(into, json_pack("{s:s}", "Id", "3"));
	rc_docker_merge_named(into, from, names);
	assert_int_equal(json_array_size(into), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(into, 1), "Id")), "1");

	/* the recorded list holds one container named a1 */
	json_decref(into);
	into = json_array();
	rc_docker_merge_named(into, recorded, a1);
	assert_int_equal(json_array_size(into), 1);
	rc_docker_merge_named(into, NULL, a1);
	rc_docker_merge_named(NULL, recorded, a1);
	assert_int_equal(json_array_size(into), 1);

	json_decref(into);
	json_decref(from);
	json_decref(recorded);
}

static void test_demux(void **state)
{
	rc_buf b = RC_BUF_INIT, small;
	size_t len;
	char *data = slurp("logs-multiplexed.bin", &len);
	(void)state;

	assert_int_equal(rc_docker_demux(&b, data, len), 0);
	assert_string_equal(b.ptr, "out1\nerr1\nout2\n");
	rc_buf_reset(&b);
	assert_int_equal(rc_docker_demux(&b, data, len - 1), RC_ERROR);  /* cut in a payload */
	assert_int_equal(rc_docker_demux(&b, data, 3), RC_ERROR);        /* cut in a header */
	assert_int_equal(rc_docker_demux(&b, "out1\n", 5), RC_ERROR);    /* a TTY's raw output */
	assert_int_equal(rc_docker_demux(&b, "\1\0\0\0\0\0\0\0", 8), 0); /* an empty frame */
	assert_int_equal(rc_docker_demux(NULL, data, len), 0);
	rc_buf_init(&small, 6);
	assert_int_equal(rc_docker_demux(&small, data, len), RC_ELIMIT);
	assert_string_equal(small.ptr, "out1\ne");
	rc_buf_release(&small);
	rc_buf_release(&b);
	free(data);
}

/* ---- the client without a daemon ---- */

static void test_new(void **state)
{
	rc_error err = RC_ERROR_INIT;
	rc_docker *d;
	(void)state;

	rc_docker_endpoint none = { .ship = "vm1" };
	assert_int_equal(rc_docker_new(&d, &none, &err), RC_EINVALID);
	assert_null(d);
	assert_string_equal(err.msg, "docker on 'vm1': no socket path and no host");
	rc_docker_endpoint badv = { .ship = "vm1", .host = "h", .max_api_version = "1.2.3" };
	assert_int_equal(rc_docker_new(&d, &badv, &err), RC_EINVALID);
	assert_string_equal(err.msg, "docker on 'vm1': malformed API version '1.2.3'");

	rc_docker_endpoint tcp = { .ship = "vm1", .host = "10.0.0.1" };
	assert_int_equal(rc_docker_new(&d, &tcp, &err), 0);
	assert_string_equal(rc_docker_address(d), "tcp://10.0.0.1:2375");
	assert_null(rc_docker_api_version(d));
	rc_docker_free(d);
	rc_docker_endpoint tls = { .ship = "vm1", .host = "::1", .tls_verify = true };
	assert_int_equal(rc_docker_new(&d, &tls, &err), 0);
	assert_string_equal(rc_docker_address(d), "tcp://[::1]:2376");
	rc_docker_free(d);
	rc_docker_endpoint both = { .ship = "vm1", .host = "h", .port = 1234, .unix_path = "/run/d.sock" };
	assert_int_equal(rc_docker_new(&d, &both, &err), 0);
	assert_string_equal(rc_docker_address(d), "unix:///run/d.sock");
	rc_docker_free(d);
	rc_docker_free(NULL);
}

static void test_unreachable(void **state)
{
	rc_error err = RC_ERROR_INIT;
	rc_docker_stats st;
	rc_docker *d;
	json_t *out = NULL;
	(void)state;

	rc_docker_endpoint ep = { .ship = "vm1", .unix_path = "/nonexistent-rc-test/docker.sock" };
	assert_int_equal(rc_docker_new(&d, &ep, &err), 0);
	assert_int_equal(rc_docker_negotiate(d, &err), RC_EUNREACHABLE);
	assert_string_equal(err.msg, "cannot reach docker on 'vm1' (unix:///nonexistent-rc-test/docker.sock): "
			    "No such file or directory");
	/* the first versioned request negotiates, and fails the same way */
	assert_int_equal(rc_docker_inspect_image(d, "busybox", &out, &err), RC_EUNREACHABLE);
	assert_null(out);

	/* read-only: a write is refused before anything is sent */
	rc_docker_set_read_only(d, true);
	rc_docker_stats_get(d, &st);
	assert_int_equal(st.get, 2);
	/* both timed, a refused connection in the first buckets */
	assert_int_equal(st.timed, 2);
	{
		unsigned long n = 0;
		for (size_t i = 0; i <= RC_DOCKER_LATENCY_BUCKETS; i++)
			n += st.latency[i];
		assert_int_equal(n, 2);
		assert_true(st.latency[RC_DOCKER_LATENCY_BUCKETS] == 0 && st.seconds >= 0 && st.seconds < 10);
	}
	assert_int_equal(rc_docker_remove(d, "abc", true, false, &err), RC_EINVALID);
	assert_string_equal(err.msg, "docker on 'vm1': DELETE /containers/abc: refused, the client is read-only (dry run)");
	assert_int_equal(rc_docker_request(d, "POST", "/containers/abc/start", NULL, NULL, NULL, &err), RC_EINVALID);
	rc_docker_stats_get(d, &st);
	assert_int_equal(st.post + st.delete_ + st.other, 0);
	assert_int_equal(rc_docker_request(d, "GET", "no-slash", NULL, NULL, NULL, &err), RC_EINVALID);
	rc_docker_free(d);

	/* TCP: nothing listens on port 1 */
	rc_docker_endpoint t = { .ship = "vm2", .host = "127.0.0.1", .port = 1 };
	assert_int_equal(rc_docker_new(&d, &t, &err), 0);
	assert_int_equal(rc_docker_negotiate(d, &err), RC_EUNREACHABLE);
	assert_string_equal(err.msg, "cannot reach docker on 'vm2' (tcp://127.0.0.1:1): Connection refused");
	rc_docker_free(d);
}

/* A socket that accepts connections (in the kernel's backlog) and never answers. */
static void test_timeout(void **state)
{
	rc_error err = RC_ERROR_INIT;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char *dir = rc_xstrdup("/tmp/rc-docker-test-XXXXXX");
	rc_docker *d;
	int fd;
	(void)state;

	assert_non_null(mkdtemp(dir));
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/s", dir);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 4), 0);

	rc_docker_endpoint ep = { .ship = "vm1", .unix_path = sa.sun_path, .timeout_ms = 200 };
	assert_int_equal(rc_docker_new(&d, &ep, &err), 0);
	assert_int_equal(rc_docker_negotiate(d, &err), RC_ETIMEOUT);
	assert_true(strstr(err.msg, "GET /_ping: Operation timed out after"));
	rc_docker_free(d);
	close(fd);
	unlink(sa.sun_path);
	rmdir(dir);
	free(dir);
}

/* ---- live, against DOCKER_TEST_SOCKET ---- */

static const char *live_socket(void)
{
	return getenv("DOCKER_TEST_SOCKET");
}

static const char *live_image(void)
{
	const char *s = getenv("DOCKER_TEST_IMAGE");
	return s && *s ? s : "busybox:test";
}

static char live_prefix[64];

static rc_docker *live_new(size_t max_response)
{
	rc_error err = RC_ERROR_INIT;
	rc_docker_endpoint ep = { .ship = "live", .unix_path = live_socket(),
				  .timeout_ms = 20000, .max_response = max_response };
	rc_docker *d;

	if (rc_docker_new(&d, &ep, &err) < 0)
		fail_msg("%s", err.msg);
	return d;
}

static char *live_name(const char *suffix)
{
	return rc_xstrfmt("%s-%s", live_prefix, suffix);
}

static void live_cleanup(void)
{
	rc_error err = RC_ERROR_INIT;
	rc_docker *d = live_new(0);
	json_t *list = NULL, *c;
	size_t i;

	if (rc_docker_list_containers(d, NULL, NULL, &list, &err) == 0) {
		json_array_foreach(list, i, c) {
			const char *n = json_string_value(json_array_get(json_object_get(c, "Names"), 0));
			if (n && rc_starts_with(n + 1, live_prefix))
				rc_docker_remove(d, json_string_value(json_object_get(c, "Id")), true, true, &err);
		}
	}
	json_decref(list);
	rc_docker_free(d);
}

static int live_setup(void **state)
{
	(void)state;
	snprintf(live_prefix, sizeof(live_prefix), "rc-dt-%ld", (long)getpid());
	return 0;
}

static int live_teardown(void **state)
{
	(void)state;
	if (live_socket() && *live_socket())
		live_cleanup();
	return 0;
}

static void live_negotiate(void **state)
{
	rc_error err = RC_ERROR_INIT;
	rc_docker_stats st;
	rc_docker *d = live_new(0);
	int a, b;
	(void)state;

	assert_int_equal(rc_docker_negotiate(d, &err), 0);
	assert_non_null(rc_docker_api_version(d));
	assert_int_equal(rc_docker_parse_version(&a, &b, rc_docker_api_version(d)), 0);
	rc_docker_stats_get(d, &st);
	assert_int_equal(st.get, 1);
	rc_docker_free(d);

	/* a cap from the endpoint is honoured */
	rc_docker_endpoint ep = { .ship = "live", .unix_path = live_socket(), .max_api_version = "1.25" };
	assert_int_equal(rc_docker_new(&d, &ep, &err), 0);
	assert_int_equal(rc_docker_negotiate(d, &err), 0);
	assert_string_equal(rc_docker_api_version(d), "1.25");
	rc_docker_free(d);
}

/*
 * Several threads on one client at once (an apply's batch): each request
 * answered on a connection of its own, and every one counted, timed and
 * none taken for a broken connection (the counters main's gate and
 * /metrics read).
 */
#define LIVE_THREADS 8
#define LIVE_REQUESTS 25

static void *live_concurrent_one(void *p)
{
	rc_docker *d = p;
	rc_error err = RC_ERROR_INIT;
	intptr_t failed = 0;

	for (int i = 0; i < LIVE_REQUESTS; i++) {
		json_t *info = NULL;
		if (rc_docker_request(d, "GET", "/info", NULL, NULL, &info, &err) < 0 || !json_is_object(info))
			failed++;
		json_decref(info);
	}
	return (void *)failed;
}

static void live_concurrent(void **state)
{
	rc_error err = RC_ERROR_INIT;
	rc_docker_stats before, after;
	rc_docker *d = live_new(0);
	pthread_t t[LIVE_THREADS];
	intptr_t failed = 0;
	(void)state;

	assert_int_equal(rc_docker_negotiate(d, &err), 0);
	rc_docker_stats_get(d, &before);
	for (size_t i = 0; i < LIVE_THREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, live_concurrent_one, d), 0);
	for (size_t i = 0; i < LIVE_THREADS; i++) {
		void *r;
		pthread_join(t[i], &r);
		failed += (intptr_t)r;
	}
	assert_int_equal(failed, 0);
	rc_docker_stats_get(d, &after);
	assert_int_equal(after.get - before.get, LIVE_THREADS * LIVE_REQUESTS);
	assert_int_equal(after.timed - before.timed, LIVE_THREADS * LIVE_REQUESTS);
	assert_int_equal(after.breaks, 0);
	rc_docker_free(d);
}

static void live_images(void **state)
{
	rc_error err = RC_ERROR_INIT;
	rc_docker *d = live_new(0);
	json_t *img = NULL;
	(void)state;

	assert_int_equal(rc_docker_inspect_image(d, "rc-no-such-image:never", &img, &err), RC_ENOTFOUND);
	assert_null(img);
	assert_true(rc_starts_with(err.msg, "docker on 'live': GET /images/rc-no-such-image:never/json: 404 Not Found: "));
	if (rc_docker_inspect_image(d, live_image(), &img, &err) < 0)
		fail_msg("%s", err.msg);
	assert_true(rc_starts_with(json_string_value(json_object_get(img, "Id")), "sha256:"));
	json_decref(img);

	/* a pull from nowhere fails with the daemon's reason */
	assert_int_equal(rc_docker_pull(d, "127.0.0.1:1/nothing:1", NULL, &err), RC_ERROR);
	assert_true(rc_starts_with(err.msg, "docker on 'live': POST /images/create: 500 Internal Server Error: "));
	assert_true(strstr(err.msg, "connection refused"));
	if (getenv("DOCKER_TEST_PULL")) {
		const char *image = getenv("DOCKER_TEST_PULL");
		const char *user = getenv("DOCKER_TEST_REGISTRY_USER");
		char *auth = NULL;

		if (user) {
			/* the registry wants credentials: none, then wrong ones, then right ones */
			const char *slash = strchr(image, '/');
			char *server = rc_xstrndup(image, slash ? (size_t)(slash - image) : 0);
			assert_int_equal(rc_docker_pull(d, image, NULL, &err), RC_EAUTH);
			auth = rc_docker_auth_header(user, "wrong", server);
			assert_int_equal(rc_docker_pull(d, image, auth, &err), RC_EAUTH);
			assert_true(strstr(err.msg, "unauthorized"));
			free(auth);
			auth = rc_docker_auth_header(user, getenv("DOCKER_TEST_REGISTRY_PASSWORD"), server);
			free(server);
		}
		if (rc_docker_pull(d, image, auth, &err) < 0)
			fail_msg("%s", err.msg);
		free(auth);
		assert_int_equal(rc_docker_inspect_image(d, image, &img, &err), 0);
		json_decref(img);
	}
	rc_docker_free(d);
}

static const char *state_of(const json_t *list, const char *id)
{
	size_t i;
	json_t *c;

	json_array_foreach(list, i, c)
		if (rc_streq(json_string_value(json_object_get(c, "Id")), id))
			return json_string_value(json_object_get(c, "State"));
	return NULL;
}

static void live_lifecycle(void **state)
{
	rc_error err = RC_ERROR_INIT;
	rc_docker *d = live_new(0);
	char *name = live_name("a"), *renamed = live_name("a-old"), *squat = live_name("squat");
	char *dotted = live_name("x.y"), *lookalike = live_name("xzy");
	const char *names[] = { name, squat, dotted, NULL };
	char label[80];
	char *id = NULL, *id2 = NULL, *id3 = NULL, *id4 = NULL;
	json_t *body, *plain, *list = NULL, *insp = NULL;
	rc_docker_stats st0, st1;
	(void)state;

	snprintf(label, sizeof(label), "reconcile.test-%s", live_prefix);
	body = json_pack("{s:s, s:[s,s], s:{s:s}, s:i}", "Image", live_image(), "Cmd", "sleep", "600",
			 "Labels", label, "t0100", "StopTimeout", 1);
	plain = json_pack("{s:s, s:[s,s]}", "Image", live_image(), "Cmd", "sleep", "600");

	if (rc_docker_create(d, name, body, &id, &err) < 0)
		fail_msg("%s", err.msg);
	assert_int_equal(strlen(id), 64);
	/* the name is taken: 409 with the daemon's words */
	assert_int_equal(rc_docker_create(d, name, body, &id2, &err), RC_ECONFLICT);
	assert_null(id2);
	assert_true(rc_starts_with(err.msg, "docker on 'live': POST /containers/create: 409 Conflict: "));
	assert_true(strstr(err.msg, "is already in use"));

	if (rc_docker_start(d, id, &err) < 0)
		fail_msg("%s", err.msg);
	assert_int_equal(rc_docker_start(d, id, &err), 0); /* 304 */

	/* unmanaged containers: one squatting a desired name, one whose name a regex would match */
	assert_int_equal(rc_docker_create(d, squat, plain, &id2, &err), 0);
	assert_int_equal(rc_docker_create(d, lookalike, plain, &id3, &err), 0);
	assert_int_equal(rc_docker_create(d, dotted, plain, &id4, &err), 0);

	rc_docker_stats_get(d, &st0);
	if (rc_docker_list_containers(d, label, names, &list, &err) < 0)
		fail_msg("%s", err.msg);
	rc_docker_stats_get(d, &st1);
	assert_int_equal(st1.get - st0.get, 2);
	assert_int_equal(json_array_size(list), 3);
	assert_string_equal(state_of(list, id), "running");
	assert_string_equal(state_of(list, id2), "created");
	assert_non_null(state_of(list, id4));
	assert_null(state_of(list, id3));
	json_decref(list);
	/* only the label */
	assert_int_equal(rc_docker_list_containers(d, label, NULL, &list, &err), 0);
	assert_int_equal(json_array_size(list), 1);
	json_decref(list);
	/* only names: one request */
	rc_docker_stats_get(d, &st0);
	assert_int_equal(rc_docker_list_containers(d, NULL, names + 1, &list, &err), 0);
	rc_docker_stats_get(d, &st1);
	assert_int_equal(st1.get - st0.get, 1);
	assert_int_equal(json_array_size(list), 2);
	json_decref(list);

	if (rc_docker_stop(d, id, 1, &err) < 0)
		fail_msg("%s", err.msg);
	assert_int_equal(rc_docker_stop(d, id, 1, &err), 0); /* 304 */
	assert_int_equal(rc_docker_inspect_container(d, id, &insp, &err), 0);
	assert_false(json_is_true(json_object_get(json_object_get(insp, "State"), "Running")));
	json_decref(insp);

	assert_int_equal(rc_docker_rename(d, id, renamed, &err), 0);
	assert_int_equal(rc_docker_inspect_container(d, renamed, &insp, &err), 0);
	assert_string_equal(json_string_value(json_object_get(insp, "Id")), id);
	json_decref(insp);
	assert_int_equal(rc_docker_inspect_container(d, name, &insp, &err), RC_ENOTFOUND);
	assert_int_equal(rc_docker_rename(d, id2, renamed, &err), RC_ECONFLICT);

	assert_int_equal(rc_docker_remove(d, id, false, false, &err), 0);
	assert_int_equal(rc_docker_remove(d, id, false, false, &err), RC_ENOTFOUND);
	assert_int_equal(rc_docker_inspect_container(d, id, &insp, &err), RC_ENOTFOUND);
	assert_null(insp);
	assert_int_equal(rc_docker_remove(d, id2, true, true, &err), 0);
	assert_int_equal(rc_docker_remove(d, id3, true, false, &err), 0);
	assert_int_equal(rc_docker_remove(d, id4, true, false, &err), 0);

	/* low level, a status and no body */
	long status = 0;
	json_t *out = NULL;
	assert_int_equal(rc_docker_request(d, "GET", "/_ping", NULL, &status, &out, &err), RC_ERROR);
	assert_true(strstr(err.msg, "malformed JSON in the answer"));
	assert_int_equal(status, 200);
	assert_int_equal(rc_docker_request(d, "GET", "/containers/json?limit=1", NULL, &status, &out, &err), 0);
	assert_true(json_is_array(out));
	json_decref(out);

	free(id);
	free(id2);
	free(id3);
	free(id4);
	json_decref(body);
	json_decref(plain);
	free(name);
	free(renamed);
	free(squat);
	free(dotted);
	free(lookalike);
	rc_docker_free(d);
}

static void live_exec_and_logs(void **state)
{
	rc_error err = RC_ERROR_INIT;
	rc_docker *d = live_new(0);
	char *name = live_name("exec");
	json_t *body = json_pack("{s:s, s:[s,s,s]}", "Image", live_image(), "Cmd", "sh", "-c",
				 "echo started; sleep 1; echo oops >&2; exec sleep 600");
	const char *ok[] = { "sh", "-c", "echo hello; echo world >&2", NULL };
	const char *fails[] = { "sh", "-c", "exit 3", NULL };
	const char *chatty[] = { "sh", "-c", "i=0; while [ $i -lt 2000 ]; do echo 0123456789; i=$((i+1)); done", NULL };
	const char *missing[] = { "/no/such/program", NULL };
	rc_buf out = RC_BUF_INIT, small;
	char *id = NULL;
	int code = 0;
	(void)state;

	assert_int_equal(rc_docker_create(d, name, body, &id, &err), 0);
	assert_int_equal(rc_docker_start(d, id, &err), 0);

	if (rc_docker_exec(d, id, ok, 0, &code, &out, &err) < 0)
		fail_msg("%s", err.msg);
	assert_int_equal(code, 0);
	assert_true(strstr(out.ptr, "hello\n") && strstr(out.ptr, "world\n"));
	assert_int_equal(rc_docker_exec(d, id, fails, 0, &code, NULL, &err), 0);
	assert_int_equal(code, 3);
	assert_int_equal(rc_docker_exec(d, id, missing, 0, &code, NULL, &err), 0);
	assert_true(code == 126 || code == 127);
	/* more output than the cap: the command still ends and says how */
	rc_buf_init(&small, 1000);
	assert_int_equal(rc_docker_exec(d, id, chatty, 0, &code, &small, &err), RC_ELIMIT);
	assert_int_equal(code, 0);
	assert_int_equal(small.len, 1000);
	rc_buf_release(&small);
	/* the connection is still good after the daemon took one over */
	assert_int_equal(rc_docker_exec(d, id, ok, 0, &code, NULL, &err), 0);

	rc_buf_reset(&out);
	for (int i = 0; i < 250; i++) {
		rc_buf_reset(&out);
		if (rc_docker_logs_tail(d, id, 10, &out, &err) < 0)
			fail_msg("%s", err.msg);
		if (strstr(out.ptr, "oops"))
			break;
		usleep(20 * 1000);
	}
	assert_string_equal(out.ptr, "started\noops\n");
	rc_buf_reset(&out);
	assert_int_equal(rc_docker_logs_tail(d, id, 1, &out, &err), 0);
	assert_string_equal(out.ptr, "oops\n");
	assert_int_equal(rc_docker_logs_tail(d, "rc-no-such-container", 1, &out, &err), RC_ENOTFOUND);

	assert_int_equal(rc_docker_stop(d, id, 0, &err), 0);
	assert_int_equal(rc_docker_exec(d, id, ok, 0, &code, NULL, &err), RC_ECONFLICT);
	assert_int_equal(rc_docker_remove(d, id, true, false, &err), 0);
	rc_buf_release(&out);
	json_decref(body);
	free(id);
	free(name);
	rc_docker_free(d);
}

static void live_limits(void **state)
{
	rc_error err = RC_ERROR_INIT;
	rc_docker *d = live_new(0), *small;
	char *name = live_name("ro"), *name2 = live_name("ro2");
	json_t *body = json_pack("{s:s}", "Image", live_image()), *list = NULL;
	rc_docker_stats st;
	char *id = NULL, *id2 = NULL;
	(void)state;

	/* make sure the list (~600 bytes a container) is longer than the cap below */
	assert_int_equal(rc_docker_create(d, name, body, &id, &err), 0);
	assert_int_equal(rc_docker_create(d, name2, body, &id2, &err), 0);
	small = live_new(64);
	/* the version comes from /_ping's header (its body is "OK"); then any real answer is over the cap */
	assert_int_equal(rc_docker_negotiate(small, &err), 0);
	assert_int_equal(rc_docker_request(small, "GET", "/info", NULL, NULL, &list, &err), RC_ELIMIT);
	assert_string_equal(err.msg, "docker on 'live': GET /info: the answer is larger than 64 bytes");
	rc_docker_free(small);
	small = live_new(1000); /* /version fits */
	assert_int_equal(rc_docker_list_containers(small, NULL, NULL, &list, &err), RC_ELIMIT);
	assert_null(list);
	assert_string_equal(err.msg, "docker on 'live': GET /containers/json: the answer is larger than 1000 bytes");
	/* scanned, the same list is no error: only one entry is capped */
	{
		struct scanned x;
		rc_buf_init(&x.text, 0);
		x.n = 0;
		assert_int_equal(rc_docker_scan_containers(small, NULL, NULL, "reconcile.", skip_spec, scanned_one, &x, &err), 0);
		assert_true(x.n >= 2);
		assert_non_null(strstr(x.text.ptr, id2));
		rc_buf_release(&x.text);
	}
	rc_docker_free(small);

	/* read-only: reads work, writes are refused and never sent */
	rc_docker_set_read_only(d, true);
	assert_int_equal(rc_docker_list_containers(d, NULL, NULL, &list, &err), 0);
	json_decref(list);
	rc_docker_stats_get(d, &st);
	unsigned long posts = st.post;
	assert_int_equal(rc_docker_start(d, id, &err), RC_EINVALID);
	assert_int_equal(rc_docker_pull(d, live_image(), NULL, &err), RC_EINVALID);
	rc_docker_stats_get(d, &st);
	assert_int_equal(st.post, posts);
	rc_docker_set_read_only(d, false);
	assert_int_equal(rc_docker_remove(d, id, true, false, &err), 0);
	assert_int_equal(rc_docker_remove(d, id2, true, false, &err), 0);

	free(id);
	free(id2);
	free(name);
	free(name2);
	json_decref(body);
	rc_docker_free(d);
}

int main(int argc, char **argv)
{
	static const struct CMUnitTest pure[] = {
		cmocka_unit_test(test_parse_version),
		cmocka_unit_test(test_choose_version),
		cmocka_unit_test(test_http_error),
		cmocka_unit_test(test_pull_stream_recorded),
		cmocka_unit_test(test_pull_stream_chunked),
		cmocka_unit_test(test_pull_layers),
		cmocka_unit_test(test_pull_stream_bad),
		cmocka_unit_test(test_base64),
		cmocka_unit_test(test_auth_header),
		cmocka_unit_test(test_choose_version_engines),
		cmocka_unit_test(test_config_auth),
		cmocka_unit_test(test_config_helper_order),
		cmocka_unit_test(test_credential_helper),
		cmocka_unit_test(test_split_image),
		cmocka_unit_test(test_url_escape_and_query),
		cmocka_unit_test(test_merge_named),
		cmocka_unit_test(test_scan_list),
		cmocka_unit_test(test_scan_list_recorded),
		cmocka_unit_test(test_scan_list_huge),
		cmocka_unit_test(test_demux),
		cmocka_unit_test(test_new),
		cmocka_unit_test(test_unreachable),
		cmocka_unit_test(test_timeout),
	};
	static const struct CMUnitTest live[] = {
		cmocka_unit_test(live_negotiate),
		cmocka_unit_test(live_concurrent),
		cmocka_unit_test(live_images),
		cmocka_unit_test(live_lifecycle),
		cmocka_unit_test(live_exec_and_logs),
		cmocka_unit_test(live_limits),
	};
	struct CMUnitTest all[RC_ARRAY_SIZE(pure) + RC_ARRAY_SIZE(live)];
	size_t n = 0;
	char *self = rc_xstrdup(argc > 0 ? argv[0] : "tests/unit/test_docker");
	int ret;

	data_dir = rc_xstrfmt("%s/data/docker", dirname(self));
	free(self);
	for (size_t i = 0; i < RC_ARRAY_SIZE(pure); i++)
		all[n++] = pure[i];
	/* without a daemon the live tests are not registered at all, rather than "skipped" */
	if (live_socket() && *live_socket())
		for (size_t i = 0; i < RC_ARRAY_SIZE(live); i++)
			all[n++] = live[i];
	ret = _cmocka_run_group_tests("docker", all, n, live_setup, live_teardown);
	free(data_dir);
	return ret;
}
