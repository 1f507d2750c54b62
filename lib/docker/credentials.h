#ifndef RC_DOCKER_CREDENTIALS_H
#define RC_DOCKER_CREDENTIALS_H
#include "base/compat.h"
#include "base/error.h"
#include <stddef.h>

/*
 * Registry credentials
 * --------------------
 * rc_docker_auth_header() returns (to free()) the X-Registry-Auth value:
 * the JSON {"username", "password", "serveraddress"} in base64url, as the
 * daemon decodes it; NULL when a value is not valid UTF-8.
 *
 * rc_docker_config_auth() finds the credentials for `registry_host`
 * ("registry.example.com:5000"; "docker.io" for Docker Hub) in a Docker
 * client config file ("auths": {host: {"auth": base64("user:pass")}}),
 * `config_path` or, when NULL, $DOCKER_CONFIG/config.json or
 * ~/.docker/config.json. Keys written as URLs ("https://host/v1/") match
 * their host. RC_ENOTFOUND when the file or the entry is missing (and when
 * the entry is kept by a credential helper, which we do not run).
 */
char *rc_docker_auth_header(const char *user, const char *password, const char *server);
int rc_docker_config_auth(char **header_out, const char *config_path, const char *registry_host,
			  rc_error *err);
/* Parse the body of a config.json and find `registry_host`'s entry. */
int rc_docker_config_auth_parse(char **header_out, const char *data, size_t len,
				const char *registry_host, const char *path, rc_error *err);

#endif
