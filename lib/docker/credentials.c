#include "base/compat.h"
#include "docker/credentials.h"
#include "base/buf.h"
#include "base/encode.h"
#include "base/error.h"
#include "base/util.h"
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "base/banned.h"

#define CONFIG_CAP ((size_t)1 << 20)
#define HELPER_OUTPUT_CAP ((size_t)64 << 10)
#define HELPER_TIMEOUT 10.0   /* seconds, for rc_docker_config_auth() */

extern char **environ;

/* ---- registry credentials ---- */

static char *auth_header(const char *user, const char *password, const char *token,
			 const char *server)
{
	json_t *j = json_object();
	char *s = NULL, *out;

	/* json_object_set_new() refuses a NULL value, which json_string() gives for bad UTF-8 */
	if (json_object_set_new(j, "username", json_string(user ? user : "")) == 0 &&
	    json_object_set_new(j, "password", json_string(password ? password : "")) == 0 &&
	    json_object_set_new(j, "serveraddress", json_string(server ? server : "")) == 0 &&
	    (!token || json_object_set_new(j, "identitytoken", json_string(token)) == 0))
		s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(j);
	if (!s)
		return NULL;
	out = rc_base64_encode(s, strlen(s), true);
	/* the JSON held the secret in clear */
	explicit_bzero(s, strlen(s));
	free(s);
	return out;
}

char *rc_docker_auth_header(const char *user, const char *password, const char *server)
{
	return auth_header(user, password, NULL, server);
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

int rc_docker_config_auth_parse(char **header_out, char **helper_out, const char *data, size_t len,
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
	*helper_out = NULL;
	rc_buf_init(&cred, 64 << 10);
	root = json_loadb(data, len, 0, &jerr);
	if (!root || !json_is_object(root)) {
		ret = rc_error_set(err, RC_ERROR, "%s:%d:%d: not a docker config file: %s", path,
				   root ? 1 : jerr.line, root ? 1 : jerr.column,
				   root ? "not an object" : jerr.text);
		goto done;
	}
	/*
	 * As the Docker CLI: credHelpers[host], else credsStore, keeps the
	 * credentials, and "auths" is not looked at for them.
	 */
	helper = json_object_get(json_object_get(root, "credHelpers"), registry_host);
	if (!helper && is_docker_hub(registry_host))
		helper = json_object_get(json_object_get(root, "credHelpers"), "https://index.docker.io/v1/");
	if (!helper || (json_is_string(helper) && !json_string_length(helper)))
		helper = json_object_get(root, "credsStore");
	if (helper && json_is_string(helper) && json_string_length(helper)) {
		const char *name = json_string_value(helper);

		if (strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") !=
		    strlen(name) || name[0] == '.' || strlen(name) > 64) {
			ret = rc_error_set(err, RC_EINVALID, "%s: credential helper name '%s' is not a plain name",
					   path, name);
			goto done;
		}
		*helper_out = rc_xstrdup(name);
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
		ret = rc_error_set(err, RC_ENOTFOUND, "%s: no credentials for '%s'", path, registry_host);
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

int rc_docker_credential_helper_parse(char **header_out, const char *out, size_t len,
				      const char *registry_host, rc_error *err)
{
	json_t *root = json_loadb(out, len, 0, NULL);
	json_t *u = json_object_get(root, "Username"), *sec = json_object_get(root, "Secret");
	int ret = 0;

	*header_out = NULL;
	if (!json_is_object(root) || !json_is_string(u) || !json_is_string(sec)) {
		/* never a word of what it said: it may be the secret itself */
		ret = rc_error_set(err, RC_ERROR, "its answer is not a JSON object with Username and Secret");
	} else if (!json_string_length(sec)) {
		ret = rc_error_set(err, RC_ENOTFOUND, "it has no credentials for '%s'", registry_host);
	} else {
		/* Username "<token>": the secret is an identity token (docker/cli credentials/native_store.go) */
		bool token = !strcmp(json_string_value(u), "<token>");

		*header_out = token ? auth_header("", "", json_string_value(sec), registry_host)
				    : auth_header(json_string_value(u), json_string_value(sec), NULL,
						  registry_host);
		if (!*header_out)
			ret = rc_error_set(err, RC_EINVALID, "its credentials are not text");
	}
	json_decref(root);
	return ret;
}

/* A memfd holding `text`, at offset 0: the helper's stdin. */
static int text_fd(const char *text, rc_error *err)
{
	size_t off = 0, len = strlen(text);
	int fd = memfd_create("reconcile-credential", MFD_CLOEXEC);

	if (fd < 0)
		return rc_error_set(err, RC_ERROR, "memfd_create: %s", strerror(errno));
	while (off < len) {
		ssize_t w = write(fd, text + off, len - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			rc_error_set(err, RC_ERROR, "write: %s", strerror(errno));
			close(fd);
			return RC_ERROR;
		}
		off += (size_t)w;
	}
	lseek(fd, 0, SEEK_SET);
	return fd;
}

/*
 * The helper's path, as execvp() would find it, so that a missing one is
 * RC_ENOTFOUND everywhere (under valgrind posix_spawnp()'s child just
 * exits 127).
 */
static char *find_in_path(const char *name)
{
	const char *path = getenv("PATH"), *p;
	struct stat st;

	if (!path || !*path)
		path = "/usr/local/bin:/usr/bin:/bin";
	for (p = path;; p++) {
		size_t n = strcspn(p, ":");
		char *full = rc_xstrfmt("%.*s/%s", n ? (int)n : 1, n ? p : ".", name);

		if (!stat(full, &st) && S_ISREG(st.st_mode) && !access(full, X_OK))
			return full;
		free(full);
		p += n;
		if (!*p)
			return NULL;
	}
}

int rc_docker_credential_helper(char **header_out, const char *helper, const char *registry_host,
				double timeout, rc_error *err)
{
	/* the key Docker stores Docker Hub under, the host for any other registry */
	const char *server = is_docker_hub(registry_host) ? "https://index.docker.io/v1/" : registry_host;
	char *prog = rc_xstrfmt("docker-credential-%s", helper);
	char *argv[] = { prog, (char *)"get", NULL }, *full = NULL;
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none, all;
	rc_buf out = RC_BUF_INIT;
	int in_fd = -1, pipefd[2] = { -1, -1 }, rc, status = 0, ret = RC_ERROR;
	double end = rc_monotonic() + timeout;
	bool over = false, reaped = false;
	pid_t pid = -1;

	*header_out = NULL;
	rc_buf_init(&out, HELPER_OUTPUT_CAP);
	posix_spawn_file_actions_init(&fa);
	posix_spawnattr_init(&attr);
	if (!(full = find_in_path(prog))) {
		ret = rc_error_set(err, RC_ENOTFOUND, "cannot run '%s': not found in PATH", prog);
		goto done;
	}
	if ((in_fd = text_fd(server, err)) < 0)
		goto done;
	if (pipe2(pipefd, O_CLOEXEC) < 0) {
		ret = rc_error_set(err, RC_ERROR, "pipe: %s", strerror(errno));
		goto done;
	}
	sigemptyset(&none);
	sigfillset(&all);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &all);
	/* its own process group, so that a timeout kills what it started too */
	posix_spawnattr_setpgroup(&attr, 0);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
				 POSIX_SPAWN_SETPGROUP);
	posix_spawn_file_actions_adddup2(&fa, in_fd, 0);
	posix_spawn_file_actions_adddup2(&fa, pipefd[1], 1);
	/* what it says on stderr is its own business, and might echo a secret */
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	rc = posix_spawn(&pid, full, &fa, &attr, argv, environ);
	if (rc) {
		pid = -1;
		ret = rc_error_set(err, RC_ERROR, "cannot run '%s': %s", full, strerror(rc));
		goto done;
	}
	close(pipefd[1]);
	pipefd[1] = -1;
	for (;;) {
		struct pollfd p = { pipefd[0], POLLIN, 0 };
		double left = end - rc_monotonic();
		char chunk[4096];
		ssize_t n;

		if (left <= 0) {
			ret = rc_error_set(err, RC_ETIMEOUT, "'%s get' did not answer within %g s", prog, timeout);
			goto done;
		}
		rc = poll(&p, 1, (int)(left * 1000) + 1);
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc < 0) {
			ret = rc_error_set(err, RC_ERROR, "poll: %s", strerror(errno));
			goto done;
		}
		if (rc == 0)
			continue;
		n = read(pipefd[0], chunk, sizeof(chunk));
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0)
			break;
		if (!over && rc_buf_add(&out, chunk, (size_t)n) < 0)
			over = true;
		explicit_bzero(chunk, sizeof(chunk));
	}
	/* stdout is closed: it is exiting, or has closed it and goes on; wait as long as allowed */
	for (;;) {
		pid_t w = waitpid(pid, &status, WNOHANG);

		if (w == pid) {
			reaped = true;
			break;
		}
		if (w < 0 && errno != EINTR) {
			ret = rc_error_set(err, RC_ERROR, "waitpid: %s", strerror(errno));
			goto done;
		}
		if (rc_monotonic() >= end) {
			ret = rc_error_set(err, RC_ETIMEOUT, "'%s get' did not exit within %g s", prog, timeout);
			goto done;
		}
		{
			struct timespec ts = { 0, 5000000L };
			nanosleep(&ts, NULL);
		}
	}
	if (over) {
		ret = rc_error_set(err, RC_ELIMIT, "'%s get' answered more than %zu bytes", prog, HELPER_OUTPUT_CAP);
	} else if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		if ((ret = rc_docker_credential_helper_parse(header_out, out.ptr, out.len, registry_host, err)) < 0)
			rc_error_prefix(err, "'%s get'", prog);
	} else if (WIFEXITED(status)) {
		/*
		 * "credentials not found in native keychain" is how every helper
		 * of docker/docker-credential-helpers says it has none; any other
		 * answer stays unsaid.
		 */
		bool notfound = out.len && strstr(out.ptr, "credentials not found");

		ret = rc_error_set(err, notfound ? RC_ENOTFOUND : RC_ERROR, "'%s get' exited with status %d%s",
				   prog, WEXITSTATUS(status), notfound ? ": no credentials" : "");
	} else {
		ret = rc_error_set(err, RC_ERROR, "'%s get' was killed by signal %d", prog,
				   WIFSIGNALED(status) ? WTERMSIG(status) : 0);
	}
done:
	if (pid > 0 && !reaped) {
		kill(-pid, SIGKILL);
		kill(pid, SIGKILL);
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
	}
	if (in_fd >= 0)
		close(in_fd);
	if (pipefd[0] >= 0)
		close(pipefd[0]);
	if (pipefd[1] >= 0)
		close(pipefd[1]);
	if (out.ptr && out.len)
		explicit_bzero(out.ptr, out.len);
	rc_buf_release(&out);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	free(full);
	free(prog);
	return ret;
}

int rc_docker_config_auth(char **header_out, const char *config_path, const char *registry_host,
			  rc_error *err)
{
	rc_buf data = RC_BUF_INIT;
	char *path = NULL, *helper = NULL;
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
		ret = rc_docker_config_auth_parse(header_out, &helper, data.ptr, data.len, registry_host,
						  path, err);
	if (ret == 0 && helper &&
	    (ret = rc_docker_credential_helper(header_out, helper, registry_host, HELPER_TIMEOUT, err)) < 0)
		rc_error_prefix(err, "%s: credentials for '%s' from 'docker-credential-%s'", path,
				registry_host, helper);
	free(helper);
	rc_buf_release(&data);
	free(path);
	return ret;
}
