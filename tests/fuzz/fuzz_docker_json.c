/*
 * Everything the Docker client reads from a daemon or a config file: the
 * first byte picks the parser, the rest is its input.
 *
 *   make tests/fuzz/fuzz_docker_json && tests/fuzz/fuzz_docker_json -max_total_time=60 \
 *       tests/unit/data/docker
 */
#include "base/compat.h"
#include <stdlib.h>
#include <string.h>
#include "base/buf.h"
#include "base/encode.h"
#include "docker/credentials.h"
#include "docker/docker.h"
#include "docker/stream.h"
#include "base/error.h"
#include "base/util.h"
#include "base/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int count(json_t *obj, void *data, rc_error *err)
{
	(void)obj;
	(void)err;
	(*(size_t *)data)++;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	rc_error err = RC_ERROR_INIT;
	const char *p = (const char *)data + 1;
	size_t len = size ? size - 1 : 0;
	json_t *j;
	char *h = NULL, *helper = NULL;
	char version[16];

	if (!size)
		return 0;
	switch (data[0] % 6) {
	case 0: /* a pull progress stream, whole and split at a point the input picks */
		rc_docker_pull_check("vm1", "img", p, len, &err);
		{
			rc_docker_stream s;
			size_t n = 0, cut = len ? (size_t)data[0] * 7 % len : 0;
			rc_docker_stream_init(&s, 4096, count, &n);
			rc_docker_stream_feed(&s, p, cut);
			rc_docker_stream_feed(&s, p + cut, len - cut);
			rc_docker_stream_finish(&s, &err);
			rc_docker_stream_release(&s);
		}
		break;
	case 1: /* an error body */
		rc_docker_http_error(&err, "vm1", "POST", "/containers/create?name=x", 409, p, len);
		if (strlen(err.msg) >= sizeof(err.msg))
			abort();
		break;
	case 2: /* a /version body */
		j = json_loadb(p, len, JSON_DECODE_ANY, NULL);
		rc_docker_choose_version(version, j, NULL, "vm1", &err);
		rc_docker_choose_version(version, j, "1.30", "vm1", &err);
		json_decref(j);
		break;
	case 3: /* a config.json */
		rc_docker_config_auth_parse(&h, &helper, p, len, "registry.example.com:5000", "c.json", &err);
		free(h);
		free(helper);
		h = NULL;
		rc_docker_config_auth_parse(&h, &helper, p, len, "docker.io", "c.json", &err);
		free(h);
		free(helper);
		h = NULL;
		/* the same bytes as a credential helper's answer */
		rc_docker_credential_helper_parse(&h, p, len, "registry.example.com:5000", &err);
		free(h);
		break;
	case 4: { /* a container list, merged by name */
		const char *names[] = { "web-1", "a1", "db.x", NULL };
		json_t *into = json_array();
		j = json_loadb(p, len, JSON_DECODE_ANY, NULL);
		rc_docker_merge_named(into, j, names);
		rc_docker_merge_named(into, j, names);
		json_decref(j);
		json_decref(into);
		break;
	}
	case 5: { /* base64, exec/logs frames, versions and image references */
		rc_buf b = RC_BUF_INIT;
		char *repo, *tag, *s = rc_xstrndup(p, len);
		rc_base64_decode(&b, p, len);
		rc_buf_release(&b);
		rc_buf_init(&b, 256);
		rc_docker_demux(&b, p, len);
		rc_buf_release(&b);
		int a, v;
		rc_docker_parse_version(&a, &v, s);
		if (rc_docker_split_image(&repo, &tag, s) == 0) {
			free(repo);
			free(tag);
		}
		free(s);
		break;
	}
	}
	return 0;
}
