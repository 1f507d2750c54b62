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
 * client config file, `config_path` or, when NULL,
 * $DOCKER_CONFIG/config.json or ~/.docker/config.json, as the Docker CLI
 * does: a helper named by "credHelpers": {host: NAME}, else by
 * "credsStore": NAME, keeps them (see rc_docker_credential_helper());
 * without one, "auths": {host: {"auth": base64("user:pass")}} (or
 * "username" and "password") has them. Keys written as URLs
 * ("https://host/v1/") match their host. RC_ENOTFOUND when the file or
 * the entry is missing, or the helper has none.
 */
char *rc_docker_auth_header(const char *user, const char *password, const char *server);
int rc_docker_config_auth(char **header_out, const char *config_path, const char *registry_host,
			  rc_error *err);
/*
 * Parse the body of a config.json and find `registry_host`'s entry: the
 * header, or in `*helper_out` (to free()) the name of the helper that
 * keeps it (both NULL on failure). A helper name is a plain name
 * ([A-Za-z0-9._-], no leading dot): RC_EINVALID otherwise.
 */
int rc_docker_config_auth_parse(char **header_out, char **helper_out, const char *data, size_t len,
				const char *registry_host, const char *path, rc_error *err);

/*
 * Credential helpers
 * ------------------
 * rc_docker_credential_helper() runs `docker-credential-NAME get` (found
 * in PATH, our environment, its own process group, stderr to /dev/null)
 * as the Docker CLI does: the server on stdin ("https://index.docker.io/v1/"
 * for Docker Hub, else `registry_host`), {"Username", "Secret"} on stdout,
 * Username "<token>" for an identity token. Bounded: killed with its
 * process group after `timeout` seconds (RC_ETIMEOUT), at most 64 KiB
 * read (RC_ELIMIT). RC_ENOTFOUND when the program is not in PATH or says
 * "credentials not found". No message ever holds a byte of what it wrote;
 * our copies of it are zeroed before they are freed.
 *
 * rc_docker_credential_helper_parse() reads its stdout (for tests and fuzzing).
 */
int rc_docker_credential_helper(char **header_out, const char *helper, const char *registry_host,
				double timeout, rc_error *err);
int rc_docker_credential_helper_parse(char **header_out, const char *out, size_t len,
				      const char *registry_host, rc_error *err);

#endif
