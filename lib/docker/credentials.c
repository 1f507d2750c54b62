#include "base/compat.h"
#include "docker/credentials.h"
#include "base/buf.h"
#include "base/encode.h"
#include "base/error.h"
#include "base/util.h"
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "base/banned.h"

#define CONFIG_CAP ((size_t)1 << 20)

/* ---- registry credentials ---- */

char *rc_docker_auth_header(const char *user, const char *password, const char *server)
{
	json_t *j = json_object();
	char *s = NULL, *out;

	/* json_object_set_new() refuses a NULL value, which json_string() gives for bad UTF-8 */
	if (json_object_set_new(j, "username", json_string(user ? user : "")) == 0 &&
	    json_object_set_new(j, "password", json_string(password ? password : "")) == 0 &&
	    json_object_set_new(j, "serveraddress", json_string(server ? server : "")) == 0)
		s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(j);
	if (!s)
		return NULL;
	out = rc_base64_encode(s, strlen(s), true);
	free(s);
	return out;
}

/*
 * The host a config.json key names: "https://index.docker.io/v1/" ->
 * "index.docker.io", "registry:5000" -> itself.
 */
static void key_host(char *out, size_t size, const char *key)
{
	size_t n;

	if (rc_starts_with(key, "https://"))
		key += 8;
	else if (rc_starts_with(key, "http://"))
		key += 7;
	n = strcspn(key, "/");
	if (n >= size)
		n = size - 1;
	memcpy(out, key, n);
	out[n] = '\0';
}

static bool is_docker_hub(const char *host)
{
	return !strcmp(host, "docker.io") || !strcmp(host, "index.docker.io") ||
	       !strcmp(host, "registry-1.docker.io");
}

static bool valid_utf8_nul_free(const char *s, size_t len)
{
	json_t *j;

	if (memchr(s, '\0', len))
		return false;
	j = json_stringn(s, len);
	json_decref(j);
	return j != NULL;
}

int rc_docker_config_auth_parse(char **header_out, const char *data, size_t len,
				const char *registry_host, const char *path, rc_error *err)
{
	json_t *root = NULL, *auths, *entry = NULL, *v, *helper;
	json_error_t jerr;
	rc_buf cred = RC_BUF_INIT;
	const char *key, *user = NULL, *pass = NULL, *colon;
	char *u = NULL;
	char host[256];
	int ret = 0;

	*header_out = NULL;
	rc_buf_init(&cred, 64 << 10);
	root = json_loadb(data, len, 0, &jerr);
	if (!root || !json_is_object(root)) {
		ret = rc_error_set(err, RC_ERROR, "%s:%d:%d: not a docker config file: %s", path,
				   root ? 1 : jerr.line, root ? 1 : jerr.column,
				   root ? "not an object" : jerr.text);
		goto done;
	}
	auths = json_object_get(root, "auths");
	if (auths && !json_is_object(auths)) {
		ret = rc_error_set(err, RC_ERROR, "%s: \"auths\" is not an object", path);
		goto done;
	}
	json_object_foreach(auths, key, v) {
		key_host(host, sizeof(host), key);
		if (!strcmp(host, registry_host) || (is_docker_hub(host) && is_docker_hub(registry_host))) {
			entry = v;
			break;
		}
	}
	if (entry && !json_is_object(entry)) {
		ret = rc_error_set(err, RC_ERROR, "%s: entry for '%s' is not an object", path,
				   registry_host);
		goto done;
	}
	if (entry && (v = json_object_get(entry, "auth")) && json_is_string(v) && json_string_length(v)) {
		if (rc_base64_decode(&cred, json_string_value(v), json_string_length(v)) < 0 ||
		    !(colon = memchr(cred.ptr, ':', cred.len))) {
			ret = rc_error_set(err, RC_ERROR, "%s: malformed \"auth\" for '%s'", path,
					   registry_host);
			goto done;
		}
		if (!valid_utf8_nul_free(cred.ptr, cred.len)) {
			ret = rc_error_set(err, RC_ERROR, "%s: \"auth\" for '%s' is not text", path,
					   registry_host);
			goto done;
		}
		u = rc_xstrndup(cred.ptr, (size_t)(colon - cred.ptr));
		user = u;
		pass = colon + 1;
	} else if (entry && json_is_string(json_object_get(entry, "username")) &&
		   json_is_string(json_object_get(entry, "password"))) {
		user = json_string_value(json_object_get(entry, "username"));
		pass = json_string_value(json_object_get(entry, "password"));
	}
	if (!user) {
		helper = json_object_get(json_object_get(root, "credHelpers"), registry_host);
		if (!helper)
			helper = json_object_get(root, "credsStore");
		if (json_is_string(helper))
			ret = rc_error_set(err, RC_ENOTFOUND,
					   "%s: credentials for '%s' are kept by the helper 'docker-credential-%s', which reconcile does not run",
					   path, registry_host, json_string_value(helper));
		else
			ret = rc_error_set(err, RC_ENOTFOUND, "%s: no credentials for '%s'", path,
					   registry_host);
		goto done;
	}
	*header_out = rc_docker_auth_header(user, pass, registry_host);
	if (!*header_out)
		ret = rc_error_set(err, RC_EINVALID, "%s: credentials for '%s' are not valid UTF-8",
				   path, registry_host);
done:
	free(u);
	rc_buf_release(&cred);
	json_decref(root);
	return ret;
}

int rc_docker_config_auth(char **header_out, const char *config_path, const char *registry_host,
			  rc_error *err)
{
	rc_buf data = RC_BUF_INIT;
	char *path = NULL;
	const char *dir;
	int ret;

	*header_out = NULL;
	if (config_path) {
		path = rc_xstrdup(config_path);
	} else if ((dir = getenv("DOCKER_CONFIG")) && *dir) {
		path = rc_xstrfmt("%s/config.json", dir);
	} else {
		char *home = rc_home_dir();
		if (!home)
			return rc_error_set(err, RC_ENOTFOUND, "no home directory for ~/.docker/config.json");
		path = rc_xstrfmt("%s/.docker/config.json", home);
		free(home);
	}
	rc_buf_init(&data, CONFIG_CAP);
	if ((ret = rc_buf_read_file(&data, path, err)) == 0)
		ret = rc_docker_config_auth_parse(header_out, data.ptr, data.len, registry_host, path,
						  err);
	rc_buf_release(&data);
	free(path);
	return ret;
}
