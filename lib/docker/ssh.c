#include "base/compat.h"
#include "docker/ssh.h"
#include "base/buf.h"
#include "base/known_hosts.h"
#include "base/sshkey.h"
#include "base/util.h"
#include <errno.h>
#include <fcntl.h>
#include <libssh2.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include "base/banned.h"

#define DEFAULT_TIMEOUT_MS 5000L
#define DEFAULT_KEEPALIVE_S 30
#define KEY_CAP ((size_t)64 << 10)
#define CHAN_BUF 32768
#define STDERR_CAP 1024

enum req_kind { REQ_TCP, REQ_EXEC };
/* what the pump may be stuck in (see stuck()) */
enum op { OP_NONE, OP_REQ, OP_READ, OP_STDERR, OP_CLOSED, OP_WRITE, OP_EOF, OP_FREE, OP_KEEPALIVE };

/* A request to the pump thread for a new channel. */
struct req {
	enum req_kind kind;
	char *host;               /* REQ_TCP */
	int port;
	char *command;            /* REQ_EXEC */
	LIBSSH2_CHANNEL *ch;      /* REQ_EXEC: opened, not yet exec'd */
	bool done, abandoned;     /* under the lock */
	int fd;                   /* the caller's end, when done without error */
	int local_fd;             /* accepted on a listener: the channel's local end; -1 otherwise */
	long deadline;            /* accepted: now_ms() by which the channel must be open */
	rc_error err;
	struct req *next;
};

struct chan {
	LIBSSH2_CHANNEL *ch;
	int fd;                   /* our end of the socketpair; -1 once closed */
	char *command;            /* exec channels: for messages */
	char out[CHAN_BUF];       /* read from fd, to write to the channel */
	size_t out_len;
	char in[CHAN_BUF];        /* read from the channel, to write to fd */
	size_t in_len;
	rc_buf errtext;           /* exec channels: stderr, capped */
	bool got_data;
	bool local_eof, eof_sent, remote_eof, local_shut;
	bool remote_closed;       /* exec channels: the far side closed, its exit status is known */
	bool closing;             /* only libssh2_channel_free() is left to do */
	size_t wlen;              /* the length of a stuck write, which must be repeated as it was */
};

/* A local socket whose every connection becomes a channel (rc_ssh_listen()). */
struct listener {
	int id;
	int fd;
	enum req_kind kind;
	char *host;
	int port;
	char *command;
	char *path, *dir;         /* the socket, in a directory of its own (mode 0700) */
};

static void listener_release(struct listener *l);

struct rc_ssh {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int refs;                 /* under the lock */

	char *ship, *host, *user, *address, *known_hosts;
	int port;
	long timeout_ms;
	int keepalive_s;

	int sock;
	LIBSSH2_SESSION *sess;
	pthread_t thread;
	bool started;
	int wake[2];

	/* under the lock */
	bool stop, dead;
	rc_error dead_err;
	rc_error exec_err;        /* the last command channel that failed */
	struct req *queue, **queue_tail;
	struct listener *listeners;
	size_t listeners_nr, listeners_alloc;
	int next_listener;

	/* the pump thread's own (and the connecting thread's, before the pump starts) */
	unsigned long long received; /* bytes libssh2 read from the socket (counting_recv) */
	struct req *current;
	enum op pend_op;          /* a call stuck with a half-sent packet, and its channel */
	struct chan *pend_chan;
	struct chan **chans;
	size_t chans_nr, chans_alloc;
};

static pthread_once_t ssh_once = PTHREAD_ONCE_INIT;
static int ssh_init_result;

static void ssh_init_once(void)
{
	ssh_init_result = libssh2_init(0);
}

/* ---------------------------------------------------------------- helpers */

static long now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static const char *sess_msg(LIBSSH2_SESSION *sess)
{
	char *msg = NULL;
	if (!sess || libssh2_session_last_error(sess, &msg, NULL, 0) == 0 || !msg || !*msg)
		return "unknown libssh2 error";
	return msg;
}

char *rc_ssh_shell_quote(const char *s)
{
	rc_buf b = RC_BUF_INIT;

	rc_buf_init(&b, (size_t)1 << 20);
	rc_buf_addch(&b, '\'');
	for (; *s; s++) {
		if (*s == '\'')
			rc_buf_adds(&b, "'\\''");
		else
			rc_buf_addch(&b, *s);
	}
	rc_buf_addch(&b, '\'');
	return rc_buf_detach(&b, NULL);
}

/* ---------------------------------------------------------------- connecting */

/* Wait until the socket is ready for what libssh2 is blocked on, or the deadline. */
static int wait_session(rc_ssh *s, long deadline)
{
	int dir = libssh2_session_block_directions(s->sess);
	struct pollfd p = { s->sock, 0, 0 };
	long left = deadline - now_ms();

	if (left <= 0)
		return -1;
	if (dir & LIBSSH2_SESSION_BLOCK_INBOUND)
		p.events |= POLLIN;
	if (dir & LIBSSH2_SESSION_BLOCK_OUTBOUND)
		p.events |= POLLOUT;
	if (!p.events)
		p.events = POLLIN;
	if (poll(&p, 1, (int)(left < 100000 ? left : 100000)) < 0 && errno != EINTR)
		return -1;
	return 0;
}

static int tcp_connect(rc_ssh *s, long deadline, rc_error *err)
{
	struct addrinfo hints, *res = NULL, *ai;
	char portstr[16];
	int e, fd = -1, last_errno = 0;
	bool timed_out = false;

	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	snprintf(portstr, sizeof(portstr), "%d", s->port);
	if ((e = getaddrinfo(s->host, portstr, &hints, &res)) != 0)
		return rc_error_set(err, RC_EUNREACHABLE, "cannot reach ssh on '%s' (%s): %s", s->ship,
				    s->address, gai_strerror(e));
	for (ai = res; ai && fd < 0; ai = ai->ai_next) {
		struct pollfd p;
		socklen_t len = sizeof(e);
		long left;

		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
		if (fd < 0) {
			last_errno = errno;
			continue;
		}
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		if (errno != EINPROGRESS) {
			last_errno = errno;
			close(fd);
			fd = -1;
			continue;
		}
		p.fd = fd;
		p.events = POLLOUT;
		p.revents = 0;
		left = deadline - now_ms();
		if (left <= 0 || poll(&p, 1, (int)left) <= 0) {
			timed_out = true;
			close(fd);
			fd = -1;
			break;
		}
		e = 0;
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &len) < 0 || e) {
			last_errno = e ? e : errno;
			close(fd);
			fd = -1;
		}
	}
	freeaddrinfo(res);
	if (fd < 0 && timed_out)
		return rc_error_set(err, RC_ETIMEOUT,
				    "cannot reach ssh on '%s' (%s): no answer to the TCP connection within %ld ms",
				    s->ship, s->address, s->timeout_ms);
	if (fd < 0)
		return rc_error_set(err, RC_EUNREACHABLE, "cannot reach ssh on '%s' (%s): %s", s->ship,
				    s->address, strerror(last_errno ? last_errno : ECONNREFUSED));
	{
		/* an idle session in --watch: only keepalives notice a host that vanished */
		int one = 1, idle = 30, intvl = 10, cnt = 3;
		unsigned int user_timeout = 60000;
		setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
		setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
		setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
		setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
		setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &user_timeout, sizeof(user_timeout));
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	}
	s->sock = fd;
	return 0;
}

static int timeout_error(rc_ssh *s, const char *what, rc_error *err)
{
	return rc_error_set(err, RC_ETIMEOUT, "ssh on '%s' (%s): no answer within %ld ms (%s)", s->ship,
			    s->address, s->timeout_ms, what);
}

/* Ask for the host key types known_hosts has for the host first, as OpenSSH does. */
static void prefer_known_types(rc_ssh *s)
{
	char *file = s->known_hosts ? rc_xstrdup(s->known_hosts) : rc_expand_home("~/.ssh/known_hosts");
	rc_buf text = RC_BUF_INIT, known = RC_BUF_INIT, pref = RC_BUF_INIT;
	const char **algs = NULL;
	int n;

	rc_buf_init(&known, 4096);
	rc_buf_init(&pref, 4096);
	rc_known_hosts_read(&text, file, NULL);   /* none: no known types */
	rc_known_hosts_types(&known, text.ptr ? text.ptr : "", text.len, s->host, s->port);
	n = libssh2_session_supported_algs(s->sess, LIBSSH2_METHOD_HOSTKEY, &algs);
	if (n <= 0)
		goto done;
	/*
	 * Known and supported first; then ed25519, as OpenSSH prefers it, so
	 * that an unknown host shows the fingerprint `ssh` would show; then
	 * the rest, so that an unknown key is still reported.
	 */
	for (int pass = 0; pass < 3; pass++)
		for (int i = 0; i < n; i++) {
			size_t len = strlen(algs[i]);
			const char *p = known.ptr ? known.ptr : "";
			bool isknown = false;
			int rank;
			while (*p && !isknown) {
				size_t k = strcspn(p, ",");
				isknown = k == len && !memcmp(p, algs[i], len);
				p += k + (p[k] == ',');
			}
			rank = isknown ? 0 : !strcmp(algs[i], "ssh-ed25519") ? 1 : 2;
			if (rank == pass)
				rc_buf_addf(&pref, "%s%s", pref.len ? "," : "", algs[i]);
		}
	libssh2_free(s->sess, (void *)algs);
	if (pref.len)
		libssh2_session_method_pref(s->sess, LIBSSH2_METHOD_HOSTKEY, pref.ptr);
done:
	rc_buf_release(&text);
	rc_buf_release(&known);
	rc_buf_release(&pref);
	free(file);
}

static int authenticate(rc_ssh *s, const rc_ssh_opts *o, long deadline, rc_error *err)
{
	rc_buf key = RC_BUF_INIT;
	rc_error ferr = RC_ERROR_INIT;
	const char *data;
	size_t len;
	int rc, ret = 0;

	if (o->key_data) {
		data = o->key_data;
		len = o->key_len;
	} else {
		key.cap = KEY_CAP;
		if (rc_buf_read_file(&key, o->key_path, &ferr) < 0) {
			ret = rc_error_set(err, RC_EAUTH, "ssh authentication to %s for ship '%s': cannot read the key: %s",
					   s->address, s->ship, ferr.msg);
			goto done;
		}
		data = key.ptr;
		len = key.len;
	}
	while ((rc = libssh2_userauth_publickey_frommemory(s->sess, s->user, strlen(s->user), NULL, 0, data,
							   len, o->passphrase)) == LIBSSH2_ERROR_EAGAIN)
		if (wait_session(s, deadline) < 0) {
			ret = timeout_error(s, "authentication", err);
			goto done;
		}
	if (rc == 0)
		goto done;
	if (rc == LIBSSH2_ERROR_FILE || rc == LIBSSH2_ERROR_METHOD_NOT_SUPPORTED ||
	    rc == LIBSSH2_ERROR_KEYFILE_AUTH_FAILED) {
		ret = rc_error_set(err, RC_EAUTH, "ssh authentication to %s for ship '%s': cannot use the key '%s': %s%s",
				   s->address, s->ship, o->key_path, sess_msg(s->sess),
				   !o->passphrase ? " (if it is encrypted, give its passphrase: ssh_passphrase_file or $RECONCILE_SSH_PASSPHRASE)" :
				   " (wrong passphrase?)");
	} else if (rc == LIBSSH2_ERROR_AUTHENTICATION_FAILED || rc == LIBSSH2_ERROR_PUBLICKEY_UNVERIFIED) {
		bool old_rsa = !libssh2_version(0x010b00) && rc_sshkey_is_rsa(data, len);
		ret = rc_error_set(err, RC_EAUTH, "ssh authentication to %s as '%s' failed: the server refused the key '%s'%s",
				   s->address, s->user, o->key_path,
				   old_rsa ? " (this libssh2 signs with RSA keys using SHA-1, \"ssh-rsa\", which OpenSSH 8.8 and later refuse: use an ed25519 key, or allow it on the server with 'PubkeyAcceptedAlgorithms +ssh-rsa' in sshd_config)" : "");
	} else if (rc == LIBSSH2_ERROR_TIMEOUT) {
		ret = timeout_error(s, "authentication", err);
	} else {
		ret = rc_error_set(err, RC_EAUTH, "ssh authentication to %s as '%s' failed: %s (libssh2 error %d)",
				   s->address, s->user, sess_msg(s->sess), rc);
	}
done:
	rc_buf_release(&key);
	return ret;
}

static void *pump(void *arg);

/*
 * libssh2 reads the socket as ours would, but counts the bytes: a call on
 * one channel may read packets of another (or another stream of the same
 * channel) into libssh2's own buffers, where poll() on the socket no longer
 * sees them. A pass over the channels during which bytes came in is not
 * the last one (pump()).
 */
static LIBSSH2_RECV_FUNC(counting_recv)
{
	rc_ssh *s = *abstract;
	ssize_t n = recv(socket, buffer, length, flags);

	if (n < 0)
		return -errno; /* as libssh2's own: a negative errno, -EAGAIN included */
	s->received += (unsigned long long)n;
	return n;
}

static void session_free(rc_ssh *s)
{
	if (s->sess) {
		/*
		 * Non-blocking, a vanished host must not hold us: say goodbye if
		 * the socket takes it at once, then make every close that would
		 * wait for the far side fail at once (libssh2 frees anyway).
		 */
		libssh2_session_set_blocking(s->sess, 0);
		libssh2_session_disconnect(s->sess, "bye");
		if (s->sock >= 0)
			shutdown(s->sock, SHUT_RDWR);
		libssh2_session_free(s->sess);
	}
	if (s->sock >= 0)
		close(s->sock);
	if (s->wake[0] >= 0)
		close(s->wake[0]);
	if (s->wake[1] >= 0)
		close(s->wake[1]);
	pthread_mutex_destroy(&s->lock);
	pthread_cond_destroy(&s->cond);
	free(s->ship);
	free(s->host);
	free(s->user);
	free(s->address);
	free(s->known_hosts);
	for (size_t i = 0; i < s->listeners_nr; i++)
		listener_release(&s->listeners[i]);
	free(s->listeners);
	free(s->chans);
	free(s);
}

int rc_ssh_connect(rc_ssh **out, const rc_ssh_opts *o, rc_error *err)
{
	const char *ship = o && o->ship ? o->ship : "?";
	const char *hk;
	size_t hklen;
	int type, rc, ret = 0, e;
	long deadline;
	sigset_t all, old;
	rc_ssh *s;

	*out = NULL;
	if (!o || !o->host || !*o->host || !o->user || !*o->user || (!o->key_path && !o->key_data))
		return rc_error_set(err, RC_EINVALID, "ssh for ship '%s': host, user and key are required", ship);
	if (o->port < 0 || o->port > 65535 || o->timeout_ms < 0)
		return rc_error_set(err, RC_EINVALID, "ssh for ship '%s': bad port or timeout", ship);
	pthread_once(&ssh_once, ssh_init_once);
	if (ssh_init_result != 0)
		return rc_error_set(err, RC_ERROR, "cannot initialize libssh2");

	s = rc_xcalloc(1, sizeof(*s));
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->cond, NULL);
	s->refs = 1;
	s->sock = s->wake[0] = s->wake[1] = -1;
	s->queue_tail = &s->queue;
	s->ship = rc_xstrdup(ship);
	s->host = rc_xstrdup(o->host);
	s->user = rc_xstrdup(o->user);
	s->port = o->port ? o->port : 22;
	s->known_hosts = o->known_hosts ? rc_xstrdup(o->known_hosts) : NULL;
	s->timeout_ms = o->timeout_ms ? o->timeout_ms : DEFAULT_TIMEOUT_MS;
	s->keepalive_s = o->keepalive_s ? o->keepalive_s : DEFAULT_KEEPALIVE_S;
	s->address = strchr(o->host, ':') ? rc_xstrfmt("[%s]:%d", o->host, s->port) :
		rc_xstrfmt("%s:%d", o->host, s->port);
	deadline = now_ms() + s->timeout_ms;

	if ((ret = tcp_connect(s, deadline, err)) < 0)
		goto done;
	if (!(s->sess = libssh2_session_init_ex(NULL, NULL, NULL, s))) {
		ret = rc_error_set(err, RC_ERROR, "cannot initialize libssh2");
		goto done;
	}
	{
		/* libssh2 takes the callback as a void *: a union, not a cast (ISO C) */
		union {
			LIBSSH2_RECV_FUNC((*fn));
			void *p;
		} cb = {.fn = counting_recv};
		libssh2_session_callback_set(s->sess, LIBSSH2_CALLBACK_RECV, cb.p);
	}
	libssh2_session_set_blocking(s->sess, 0);
	prefer_known_types(s);
	while ((rc = libssh2_session_handshake(s->sess, s->sock)) == LIBSSH2_ERROR_EAGAIN)
		if (wait_session(s, deadline) < 0) {
			ret = timeout_error(s, "SSH handshake", err);
			goto done;
		}
	if (rc) {
		ret = rc_error_set(err, RC_EUNREACHABLE, "ssh on '%s' (%s): handshake failed: %s", s->ship,
				   s->address, sess_msg(s->sess));
		goto done;
	}
	hk = libssh2_session_hostkey(s->sess, &hklen, &type);
	if (!hk) {
		ret = rc_error_set(err, RC_EAUTH, "ssh on '%s' (%s): the server sent no host key", s->ship,
				   s->address);
		goto done;
	}
	if ((ret = rc_known_hosts_verify(s->known_hosts, s->host, s->port, (const unsigned char *)hk, hklen,
					 err)) < 0)
		goto done;
	if ((ret = authenticate(s, o, deadline, err)) < 0)
		goto done;
	libssh2_keepalive_config(s->sess, 1, (unsigned)s->keepalive_s);

	if (pipe2(s->wake, O_CLOEXEC | O_NONBLOCK) < 0) {
		ret = rc_error_set(err, RC_ERROR, "cannot make a pipe: %s", strerror(errno));
		goto done;
	}
	/* the pump takes no signal: they belong to the caller (the daemon's signalfd) */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	e = pthread_create(&s->thread, NULL, pump, s);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (e) {
		ret = rc_error_set(err, RC_ERROR, "cannot start the ssh thread: %s", strerror(e));
		goto done;
	}
	s->started = true;
done:
	if (ret < 0) {
		session_free(s);
		return ret;
	}
	*out = s;
	return 0;
}

/* ---------------------------------------------------------------- the pump */

static void wake(rc_ssh *s)
{
	char c = 1;
	ssize_t n = write(s->wake[1], &c, 1);
	(void)n; /* a full pipe already wakes it */
}

static bool session_error(int rc)
{
	return rc != LIBSSH2_ERROR_EAGAIN && rc < 0 &&
		(rc == LIBSSH2_ERROR_SOCKET_SEND || rc == LIBSSH2_ERROR_SOCKET_RECV ||
		 rc == LIBSSH2_ERROR_SOCKET_DISCONNECT || rc == LIBSSH2_ERROR_SOCKET_TIMEOUT ||
		 rc == LIBSSH2_ERROR_TIMEOUT || rc == LIBSSH2_ERROR_PROTO ||
		 rc == LIBSSH2_ERROR_KEX_FAILURE || rc == LIBSSH2_ERROR_DECRYPT ||
		 rc == LIBSSH2_ERROR_BAD_USE || rc == LIBSSH2_ERROR_ALLOC);
}

/* Finish a request: hand it over, or clean up after a caller that gave up. */
static void req_finish(rc_ssh *s, struct req *r, int fd)
{
	bool abandoned;

	if (r->local_fd >= 0 || r->deadline) {
		/* accepted on a listener: nobody waits; a failure is told by rc_ssh_last_error() */
		if (fd == -1) {
			if (r->local_fd >= 0)
				close(r->local_fd);
			pthread_mutex_lock(&s->lock);
			s->exec_err = r->err;
			pthread_mutex_unlock(&s->lock);
		}
		free(r->host);
		free(r->command);
		free(r);
		return;
	}

	pthread_mutex_lock(&s->lock);
	abandoned = r->abandoned;
	r->done = true;
	r->fd = fd;
	if (!abandoned)
		pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
	if (abandoned) {
		if (fd >= 0)
			close(fd);
		free(r->host);
		free(r->command);
		free(r);
	}
}

static void chan_add(rc_ssh *s, struct req *r, LIBSSH2_CHANNEL *ch)
{
	int sv[2];
	struct chan *c;

	if (r->local_fd >= 0) {
		sv[0] = r->local_fd;
		sv[1] = -2;  /* nothing to hand over */
		r->local_fd = -1;
	} else if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		rc_error_set(&r->err, RC_ERROR, "cannot make a socketpair: %s", strerror(errno));
		r->err.code = RC_ERROR;
		libssh2_channel_free(ch);
		req_finish(s, r, -1);
		return;
	}
	fcntl(sv[0], F_SETFL, fcntl(sv[0], F_GETFL) | O_NONBLOCK);
	c = rc_xcalloc(1, sizeof(*c));
	c->ch = ch;
	c->fd = sv[0];
	c->command = r->command ? rc_xstrdup(r->command) : NULL;
	rc_buf_init(&c->errtext, STDERR_CAP);
	RC_ALLOC_GROW(s->chans, s->chans_nr + 1, s->chans_alloc);
	s->chans[s->chans_nr++] = c;
	req_finish(s, r, sv[1]);
}

static void req_fail(rc_ssh *s, struct req *r, const char *what)
{
	rc_error_set(&r->err, RC_EUNREACHABLE, "ssh on '%s' (%s): cannot open %s: %s", s->ship, s->address,
		     what, sess_msg(s->sess));
	req_finish(s, r, -1);
}

/*
 * libssh2's rule for non-blocking use: a call that returned EAGAIN with a
 * packet half sent (the session blocked outbound) must be repeated, with
 * the same arguments, before any other call that sends; another one gets
 * LIBSSH2_ERROR_BAD_USE. With many channels on one session that is easy
 * to break, so the pump remembers which operation is stuck and repeats
 * only that one until the socket takes the rest.
 */
static bool stuck(rc_ssh *s, enum op op, struct chan *c)
{
	if (!(libssh2_session_block_directions(s->sess) & LIBSSH2_SESSION_BLOCK_OUTBOUND))
		return false;
	s->pend_op = op;
	s->pend_chan = c;
	return true;
}

/* One step of the current request; returns a libssh2 session error, or 0. */
static int req_step(rc_ssh *s, bool *progress, bool *blocked)
{
	struct req *r = s->current;
	LIBSSH2_CHANNEL *ch;
	int rc;

	if (!r) {
		pthread_mutex_lock(&s->lock);
		while ((r = s->queue)) {
			s->queue = r->next;
			if (!s->queue)
				s->queue_tail = &s->queue;
			if (!r->abandoned)
				break;
			pthread_mutex_unlock(&s->lock);
			req_finish(s, r, -1);
			pthread_mutex_lock(&s->lock);
		}
		pthread_mutex_unlock(&s->lock);
		if (!r)
			return 0;
		s->current = r;
		*progress = true;
	}
	if (r->kind == REQ_TCP) {
		ch = libssh2_channel_direct_tcpip_ex(s->sess, r->host, r->port, "127.0.0.1", 0);
		if (!ch) {
			rc = libssh2_session_last_errno(s->sess);
			if (rc == LIBSSH2_ERROR_EAGAIN) {
				*blocked = stuck(s, OP_REQ, NULL);
				return 0;
			}
			s->current = NULL;
			*progress = true;
			{
				char *what = rc_xstrfmt("a channel to %s:%d", r->host, r->port);
				req_fail(s, r, what);
				free(what);
			}
			return session_error(rc) ? rc : 0;
		}
		s->current = NULL;
		*progress = true;
		chan_add(s, r, ch);
		return 0;
	}
	if (!r->ch) {
		r->ch = libssh2_channel_open_session(s->sess);
		if (!r->ch) {
			rc = libssh2_session_last_errno(s->sess);
			if (rc == LIBSSH2_ERROR_EAGAIN) {
				*blocked = stuck(s, OP_REQ, NULL);
				return 0;
			}
			s->current = NULL;
			*progress = true;
			req_fail(s, r, "a session channel");
			return session_error(rc) ? rc : 0;
		}
		*progress = true;
	}
	rc = libssh2_channel_exec(r->ch, r->command);
	if (rc == LIBSSH2_ERROR_EAGAIN) {
		*blocked = stuck(s, OP_REQ, NULL);
		return 0;
	}
	s->current = NULL;
	*progress = true;
	if (rc) {
		char *what = rc_xstrfmt("a channel running '%s'", r->command);
		req_fail(s, r, what);
		free(what);
		libssh2_channel_free(r->ch);
		r->ch = NULL;
		return session_error(rc) ? rc : 0;
	}
	ch = r->ch;
	r->ch = NULL;
	chan_add(s, r, ch);
	return 0;
}

static void chan_close_local(struct chan *c)
{
	if (c->fd >= 0) {
		close(c->fd);
		c->fd = -1;
	}
}

/* What a finished command channel says, when it failed. */
static void exec_report(rc_ssh *s, struct chan *c)
{
	int status = libssh2_channel_get_exit_status(c->ch);
	char *sig = NULL;
	rc_buf text = RC_BUF_INIT;

	libssh2_channel_get_exit_signal(c->ch, &sig, NULL, NULL, NULL, NULL, NULL);
	if (!status && !sig && (c->got_data || !c->errtext.len))
		goto done;
	rc_buf_init(&text, STDERR_CAP + 1);
	for (size_t i = 0; i < c->errtext.len; i++) {
		char ch = c->errtext.ptr[i];
		rc_buf_addch(&text, ch == '\n' || ch == '\r' || ch == '\t' ? ' ' : (ch >= ' ' && ch < 127) ? ch : '?');
	}
	while (text.len && text.ptr[text.len - 1] == ' ')
		rc_buf_setlen(&text, text.len - 1);
	pthread_mutex_lock(&s->lock);
	if (sig)
		rc_error_set(&s->exec_err, RC_EUNREACHABLE, "'%s' on %s (ship '%s') was killed by SIG%s%s%s",
			     c->command, s->address, s->ship, sig, text.len ? ": " : "", text.len ? text.ptr : "");
	else
		rc_error_set(&s->exec_err, RC_EUNREACHABLE, "'%s' on %s (ship '%s') exited with status %d%s%s",
			     c->command, s->address, s->ship, status, text.len ? ": " : "", text.len ? text.ptr : "");
	pthread_mutex_unlock(&s->lock);
done:
	if (sig)
		libssh2_free(s->sess, sig);
	rc_buf_release(&text);
}

/*
 * Move what can be moved between a channel and its descriptor: every
 * operation, or only `only` (the stuck one). Returns a session error (the
 * pump then ends the session), or 0; *blocked when an operation is stuck.
 */
static int chan_step(rc_ssh *s, struct chan *c, enum op only, bool *progress, bool *blocked)
{
	ssize_t n;

	if (c->closing) {
		int rc;
		if (!c->ch || (only && only != OP_FREE))
			return 0;   /* freed, waiting to be dropped from the list */
		rc = libssh2_channel_free(c->ch);
		if (rc == LIBSSH2_ERROR_EAGAIN) {
			*blocked = stuck(s, OP_FREE, c);
			return 0;
		}
		c->ch = NULL;
		*progress = true;
		return session_error(rc) ? rc : 0;
	}
	/* far side -> local */
	while ((!only || only == OP_READ) && !c->remote_eof && c->in_len < sizeof(c->in)) {
		n = libssh2_channel_read(c->ch, c->in + c->in_len, sizeof(c->in) - c->in_len);
		if (n == LIBSSH2_ERROR_EAGAIN) {
			if ((*blocked = stuck(s, OP_READ, c)))
				return 0;
			break;
		}
		if (n < 0) {
			if (session_error((int)n))
				return (int)n;
			c->remote_eof = true;
			break;
		}
		if (n == 0) {
			if (libssh2_channel_eof(c->ch))
				c->remote_eof = true;
			break;
		}
		c->in_len += (size_t)n;
		c->got_data = true;
		*progress = true;
		if (only)
			return 0;
	}
	if (c->command && (!only || only == OP_STDERR)) {
		char junk[1024];
		for (;;) {
			n = libssh2_channel_read_stderr(c->ch, junk, sizeof(junk));
			if (n == LIBSSH2_ERROR_EAGAIN) {
				if ((*blocked = stuck(s, OP_STDERR, c)))
					return 0;
				break;
			}
			if (n <= 0) {
				if (n < 0 && session_error((int)n))
					return (int)n;
				break;
			}
			*progress = true;
			if (c->errtext.len < STDERR_CAP) {
				size_t room = STDERR_CAP - c->errtext.len;
				rc_buf_add(&c->errtext, junk, (size_t)n < room ? (size_t)n : room);
			}
			if (only)
				return 0;
		}
	}
	/*
	 * A command channel that ended: wait for the far side's close, which
	 * comes after the exit status, and tell why before curl sees the end
	 * (else it reports an empty reply first).
	 */
	if (c->command && c->remote_eof && !c->in_len && !c->remote_closed && (!only || only == OP_CLOSED)) {
		int rc = libssh2_channel_wait_closed(c->ch);
		if (rc == LIBSSH2_ERROR_EAGAIN) {
			if ((*blocked = stuck(s, OP_CLOSED, c)))
				return 0;
		} else {
			if (rc < 0 && session_error(rc))
				return rc;
			c->remote_closed = true;
			exec_report(s, c);
			*progress = true;
		}
	}
	if (only && only != OP_WRITE && only != OP_EOF)
		return 0;
	if (!only) {
		if (!c->remote_eof && libssh2_channel_eof(c->ch))
			c->remote_eof = true;
		while (c->in_len && c->fd >= 0) {
			n = send(c->fd, c->in, c->in_len, MSG_NOSIGNAL);
			if (n < 0) {
				if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
					break;
				/* the local side is gone: nobody wants the rest */
				c->in_len = 0;
				c->local_eof = true;
				c->out_len = 0;
				chan_close_local(c);
				break;
			}
			memmove(c->in, c->in + n, c->in_len - (size_t)n);
			c->in_len -= (size_t)n;
			*progress = true;
		}
		if (c->remote_eof && !c->in_len && c->fd >= 0 && !c->local_shut &&
		    (!c->command || c->remote_closed)) {
			shutdown(c->fd, SHUT_WR);
			c->local_shut = true;
			*progress = true;
		}
		/* local -> far side; bytes a stuck write still covers stay where they are */
		while (!c->local_eof && c->fd >= 0 && c->out_len < sizeof(c->out)) {
			n = recv(c->fd, c->out + c->out_len, sizeof(c->out) - c->out_len, 0);
			if (n < 0) {
				if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
					break;
				c->local_eof = true;
				break;
			}
			if (n == 0) {
				c->local_eof = true;
				*progress = true;
				break;
			}
			c->out_len += (size_t)n;
			*progress = true;
		}
	}
	while ((!only || only == OP_WRITE) && (c->wlen || c->out_len)) {
		size_t len = c->wlen ? c->wlen : c->out_len;
		n = libssh2_channel_write(c->ch, c->out, len);
		if (n == LIBSSH2_ERROR_EAGAIN) {
			if ((*blocked = stuck(s, OP_WRITE, c))) {
				c->wlen = len;
				return 0;
			}
			c->wlen = 0;
			break;
		}
		c->wlen = 0;
		if (n < 0) {
			if (session_error((int)n))
				return (int)n;
			/* the channel is closed on the far side: drop what is left */
			c->out_len = 0;
			c->remote_eof = true;
			break;
		}
		memmove(c->out, c->out + n, c->out_len - (size_t)n);
		c->out_len -= (size_t)n;
		*progress = true;
		if (only)
			return 0;
	}
	if ((!only || only == OP_EOF) && c->local_eof && !c->out_len && !c->eof_sent && !c->remote_eof) {
		int rc = libssh2_channel_send_eof(c->ch);
		if (rc == 0) {
			c->eof_sent = true;
			*progress = true;
		} else if (rc == LIBSSH2_ERROR_EAGAIN) {
			if ((*blocked = stuck(s, OP_EOF, c)))
				return 0;
		} else {
			if (session_error(rc))
				return rc;
			c->eof_sent = true;
		}
	}
	if (only)
		return 0;
	/*
	 * Done when our side has closed: curl drops a connection only when it
	 * has what it wanted, or wants no more (it never half-closes).
	 */
	if (c->fd < 0 || (c->local_eof && !c->out_len)) {
		if (c->command && !c->remote_closed)
			exec_report(s, c);
		chan_close_local(c);
		c->closing = true;
		*progress = true;
	}
	return 0;
}

static void chan_free(struct chan *c)
{
	chan_close_local(c);
	rc_buf_release(&c->errtext);
	free(c->command);
	free(c);
}

static void pump_fail(rc_ssh *s, int rc)
{
	struct req *r, *next;

	pthread_mutex_lock(&s->lock);
	s->dead = true;
	if (!s->dead_err.code)
		rc_error_set(&s->dead_err, RC_EUNREACHABLE, "ssh on '%s' (%s): the session failed: %s (libssh2 error %d)",
			     s->ship, s->address, sess_msg(s->sess), rc);
	r = s->queue;
	s->queue = NULL;
	s->queue_tail = &s->queue;
	pthread_mutex_unlock(&s->lock);
	if (s->current) {
		r = s->current;
		s->current = NULL;
		if (r->ch)
			libssh2_channel_free(r->ch);
		r->ch = NULL;
		r->next = NULL;
		r->err = s->dead_err;
		req_finish(s, r, -1);
		pthread_mutex_lock(&s->lock);
		r = s->queue;
		s->queue = NULL;
		s->queue_tail = &s->queue;
		pthread_mutex_unlock(&s->lock);
	}
	for (; r; r = next) {
		next = r->next;
		r->err = s->dead_err;
		req_finish(s, r, -1);
	}
	/* every descriptor reads EOF: curl sees its connections end */
	for (size_t i = 0; i < s->chans_nr; i++)
		chan_close_local(s->chans[i]);
}

/* New connections on the listeners: each one a request for a channel. */
static void accept_all(rc_ssh *s, const struct pollfd *pfd, size_t first, size_t nr)
{
	for (size_t i = 0; i < nr; i++) {
		const struct listener *l = NULL;
		int a;

		if (!(pfd[first + i].revents & POLLIN))
			continue;
		pthread_mutex_lock(&s->lock);
		for (size_t k = 0; k < s->listeners_nr; k++)
			if (s->listeners[k].fd == pfd[first + i].fd)
				l = &s->listeners[k];
		while (l && (a = accept4(l->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK)) >= 0) {
			struct ucred cred;
			socklen_t len = sizeof(cred);
			struct req *r;

			/* the directory keeps others out; this keeps out our own user's other processes */
			if (getsockopt(a, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 || cred.pid != getpid()) {
				close(a);
				continue;
			}
			r = rc_xcalloc(1, sizeof(*r));
			r->kind = l->kind;
			r->host = l->host ? rc_xstrdup(l->host) : NULL;
			r->port = l->port;
			r->command = l->command ? rc_xstrdup(l->command) : NULL;
			r->fd = -1;
			r->local_fd = a;
			r->deadline = now_ms() + s->timeout_ms;
			*s->queue_tail = r;
			s->queue_tail = &r->next;
		}
		pthread_mutex_unlock(&s->lock);
	}
}

static void *pump(void *arg)
{
	rc_ssh *s = arg;
	struct pollfd *pfd = NULL;
	size_t pfd_alloc = 0;
	int rc = 0;

	for (;;) {
		bool progress = true, stop;
		int next_ka = s->keepalive_s, wait_ms;
		unsigned long long seen;
		size_t np = 0, nl;
		char junk[64];

		pthread_mutex_lock(&s->lock);
		stop = s->stop;
		pthread_mutex_unlock(&s->lock);
		if (stop)
			break;
		if (s->pend_op) {
			/* finish the stuck call first, and nothing else until it is done */
			enum op op = s->pend_op;
			bool blocked = false;
			s->pend_op = OP_NONE;
			if (op == OP_REQ)
				rc = req_step(s, &progress, &blocked);
			else if (op == OP_KEEPALIVE) {
				rc = libssh2_keepalive_send(s->sess, &next_ka);
				if (rc == LIBSSH2_ERROR_EAGAIN) {
					stuck(s, OP_KEEPALIVE, NULL);
					rc = 0;
				}
			} else
				rc = chan_step(s, s->pend_chan, op, &progress, &blocked);
			if (rc)
				break;
			progress = !s->pend_op;
		}
		/*
		 * Until a whole pass moves nothing and reads nothing from the
		 * socket: bytes read during a pass may be another channel's (or
		 * the same channel's stdout, read while asking for its stderr),
		 * already checked in this pass and now in libssh2's buffers,
		 * where poll() would not wake us for them.
		 */
		while (progress && !rc && !s->pend_op) {
			bool blocked = false;
			unsigned long long before = s->received;
			progress = false;
			rc = req_step(s, &progress, &blocked);
			for (size_t i = 0; i < s->chans_nr && !rc && !blocked; i++)
				rc = chan_step(s, s->chans[i], OP_NONE, &progress, &blocked);
			if (s->received != before)
				progress = true;
		}
		if (rc)
			break;
		seen = s->received;
		if (s->current && s->current->deadline && now_ms() > s->current->deadline) {
			/* the server does not answer a channel open: it will not answer the next either */
			pthread_mutex_lock(&s->lock);
			rc_error_set(&s->dead_err, RC_ETIMEOUT, "ssh on '%s' (%s): no channel within %ld ms",
				     s->ship, s->address, s->timeout_ms);
			pthread_mutex_unlock(&s->lock);
			rc = LIBSSH2_ERROR_TIMEOUT;
			break;
		}
		/* drop the channels that are done */
		for (size_t i = 0; i < s->chans_nr;) {
			if (s->chans[i]->closing && !s->chans[i]->ch) {
				chan_free(s->chans[i]);
				s->chans[i] = s->chans[--s->chans_nr];
			} else {
				i++;
			}
		}
		if (!s->pend_op) {
			if ((rc = libssh2_keepalive_send(s->sess, &next_ka)) == LIBSSH2_ERROR_EAGAIN)
				stuck(s, OP_KEEPALIVE, NULL);
			else if (rc)
				break;
			rc = 0;
		}

		pthread_mutex_lock(&s->lock);
		nl = s->listeners_nr;
		RC_ALLOC_GROW(pfd, s->chans_nr + nl + 2, pfd_alloc);
		for (size_t i = 0; i < nl; i++) {
			pfd[2 + i].fd = s->listeners[i].fd;
			pfd[2 + i].events = POLLIN;
			pfd[2 + i].revents = 0;
		}
		pthread_mutex_unlock(&s->lock);
		pfd[np].fd = s->wake[0];
		pfd[np].events = POLLIN;
		pfd[np++].revents = 0;
		pfd[np].fd = s->sock;
		pfd[np].events = POLLIN;
		if (libssh2_session_block_directions(s->sess) & LIBSSH2_SESSION_BLOCK_OUTBOUND)
			pfd[np].events |= POLLOUT;
		pfd[np++].revents = 0;
		np += nl;
		for (size_t i = 0; i < s->chans_nr && !s->pend_op; i++) {
			struct chan *c = s->chans[i];
			if (c->fd < 0)
				continue;
			pfd[np].fd = c->fd;
			pfd[np].events = 0;
			if (!c->local_eof && c->out_len < sizeof(c->out))
				pfd[np].events |= POLLIN;
			if (c->in_len)
				pfd[np].events |= POLLOUT;
			pfd[np++].revents = 0;
		}
		wait_ms = (next_ka > 0 ? next_ka : 1) * 1000;
		if (s->current && s->current->deadline) {
			long left = s->current->deadline - now_ms() + 1;
			if (left < wait_ms)
				wait_ms = left > 0 ? (int)left : 0;
		}
		if (s->received != seen)
			wait_ms = 0; /* the keepalive read packets (a key exchange): look at them first */
		if (poll(pfd, (nfds_t)np, wait_ms) < 0 && errno != EINTR) {
			rc = LIBSSH2_ERROR_SOCKET_RECV;
			break;
		}
		accept_all(s, pfd, 2, nl);
		if (pfd[1].revents & (POLLERR | POLLHUP | POLLNVAL) && !(pfd[1].revents & POLLIN)) {
			rc = LIBSSH2_ERROR_SOCKET_DISCONNECT;
			break;
		}
		while (read(s->wake[0], junk, sizeof(junk)) > 0)
			;
	}
	if (rc)
		pump_fail(s, rc);
	free(pfd);
	return NULL;
}

/* ---------------------------------------------------------------- the API */

rc_ssh *rc_ssh_ref(rc_ssh *s)
{
	if (s) {
		pthread_mutex_lock(&s->lock);
		s->refs++;
		pthread_mutex_unlock(&s->lock);
	}
	return s;
}

void rc_ssh_unref(rc_ssh *s)
{
	int left;

	if (!s)
		return;
	pthread_mutex_lock(&s->lock);
	left = --s->refs;
	if (!left)
		s->stop = true;
	pthread_mutex_unlock(&s->lock);
	if (left)
		return;
	if (s->started) {
		wake(s);
		pthread_join(s->thread, NULL);
	}
	/* requests still queued have callers that gave up (none can be waiting: no reference is left) */
	while (s->queue) {
		struct req *r = s->queue;
		s->queue = r->next;
		free(r->host);
		free(r->command);
		free(r);
	}
	if (s->current) {
		free(s->current->host);
		free(s->current->command);
		free(s->current);
	}
	/* their libssh2 channels go with the session */
	for (size_t i = 0; i < s->chans_nr; i++)
		chan_free(s->chans[i]);
	session_free(s);
}

bool rc_ssh_alive(rc_ssh *s)
{
	bool dead;
	pthread_mutex_lock(&s->lock);
	dead = s->dead;
	pthread_mutex_unlock(&s->lock);
	return !dead;
}

const char *rc_ssh_address(const rc_ssh *s)
{
	return s->address;
}

int rc_ssh_last_error(rc_ssh *s, rc_error *err)
{
	int code = 0;

	pthread_mutex_lock(&s->lock);
	if (s->dead && s->dead_err.code) {
		code = s->dead_err.code;
		if (err)
			*err = s->dead_err;
	} else if (s->exec_err.code) {
		code = s->exec_err.code;
		if (err)
			*err = s->exec_err;
		/* told once: a later failure has its own reason */
		s->exec_err.code = 0;
	}
	pthread_mutex_unlock(&s->lock);
	return code;
}

static int open_channel(rc_ssh *s, struct req *r, int *fd_out, rc_error *err)
{
	struct timespec deadline;
	int ret = 0;

	*fd_out = -1;
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += s->timeout_ms / 1000;
	deadline.tv_nsec += (s->timeout_ms % 1000) * 1000000L;
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&s->lock);
	if (s->dead) {
		ret = rc_error_set(err, s->dead_err.code, "%s", s->dead_err.msg);
		pthread_mutex_unlock(&s->lock);
		free(r->host);
		free(r->command);
		free(r);
		return ret;
	}
	*s->queue_tail = r;
	s->queue_tail = &r->next;
	pthread_mutex_unlock(&s->lock);
	wake(s);

	pthread_mutex_lock(&s->lock);
	while (!r->done && pthread_cond_timedwait(&s->cond, &s->lock, &deadline) != ETIMEDOUT)
		;
	if (!r->done) {
		/* the pump frees it when it gets to it */
		r->abandoned = true;
		pthread_mutex_unlock(&s->lock);
		return rc_error_set(err, RC_ETIMEOUT, "ssh on '%s' (%s): no channel within %ld ms", s->ship,
				    s->address, s->timeout_ms);
	}
	pthread_mutex_unlock(&s->lock);
	if (r->fd < 0) {
		ret = r->err.code ? r->err.code : RC_ERROR;
		if (err)
			*err = r->err;
		if (!r->err.code)
			rc_error_set(err, RC_ERROR, "ssh on '%s' (%s): cannot open a channel", s->ship, s->address);
	} else {
		*fd_out = r->fd;
	}
	free(r->host);
	free(r->command);
	free(r);
	return ret;
}

int rc_ssh_listen(rc_ssh *s, char **path_out, const char *host, int port, const char *command,
		  rc_error *err)
{
	const char *tmp = getenv("TMPDIR");
	struct sockaddr_un sun;
	struct listener *l;
	char *dir, *path = NULL;
	int fd = -1, id, e;

	*path_out = NULL;
	/* a directory only we may enter: nobody else can even reach the socket */
	dir = rc_xstrfmt("%s/reconcile-ssh-XXXXXX", tmp && *tmp && strlen(tmp) < 60 ? tmp : "/tmp");
	if (!mkdtemp(dir)) {
		e = errno;
		goto fail;
	}
	path = rc_xstrfmt("%s/docker.sock", dir);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 || listen(fd, 64) < 0) {
		e = errno;
		if (fd >= 0)
			close(fd);
		unlink(path);
		rmdir(dir);
		goto fail;
	}
	pthread_mutex_lock(&s->lock);
	RC_ALLOC_GROW(s->listeners, s->listeners_nr + 1, s->listeners_alloc);
	l = &s->listeners[s->listeners_nr++];
	l->id = id = ++s->next_listener;
	l->fd = fd;
	l->kind = command ? REQ_EXEC : REQ_TCP;
	l->host = host ? rc_xstrdup(host) : NULL;
	l->port = port;
	l->command = command ? rc_xstrdup(command) : NULL;
	l->path = rc_xstrdup(path);
	l->dir = dir;
	pthread_mutex_unlock(&s->lock);
	wake(s);
	*path_out = path;
	return id;
fail:
	free(dir);
	free(path);
	return rc_error_set(err, RC_ERROR, "ssh on '%s': cannot make a local socket for the tunnel: %s",
			    s->ship, strerror(e));
}

static void listener_release(struct listener *l)
{
	close(l->fd);
	unlink(l->path);
	rmdir(l->dir);
	free(l->path);
	free(l->dir);
	free(l->host);
	free(l->command);
}

void rc_ssh_unlisten(rc_ssh *s, int id)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; i < s->listeners_nr; i++)
		if (s->listeners[i].id == id) {
			/* the pump polls a copy of the set: it must not see this fd reused */
			struct listener gone = s->listeners[i];
			s->listeners[i] = s->listeners[--s->listeners_nr];
			pthread_mutex_unlock(&s->lock);
			wake(s);
			shutdown(gone.fd, SHUT_RDWR);
			listener_release(&gone);
			return;
		}
	pthread_mutex_unlock(&s->lock);
}

int rc_ssh_open_tcp(rc_ssh *s, int *fd_out, const char *host, int port, rc_error *err)
{
	struct req *r = rc_xcalloc(1, sizeof(*r));
	r->kind = REQ_TCP;
	r->host = rc_xstrdup(host);
	r->port = port;
	r->fd = -1;
	r->local_fd = -1;
	return open_channel(s, r, fd_out, err);
}

int rc_ssh_open_exec(rc_ssh *s, int *fd_out, const char *command, rc_error *err)
{
	struct req *r = rc_xcalloc(1, sizeof(*r));
	r->kind = REQ_EXEC;
	r->command = rc_xstrdup(command);
	r->fd = -1;
	r->local_fd = -1;
	return open_channel(s, r, fd_out, err);
}
