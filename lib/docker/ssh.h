#ifndef RC_SSH_H
#define RC_SSH_H
/*
 * ssh: tunnels to Docker daemons over SSH (libssh2), for ships with an
 * `ssh_tunnel` (MAESTRO.md Ships).
 *
 * One `rc_ssh` is one SSH session to one host, authenticated with one
 * public key. Each connection the Docker client needs becomes a channel
 * of that session, handed to the caller as a local file descriptor (one
 * end of a socketpair): what is written to it goes to the far side, what
 * the far side sends can be read from it, and closing it closes the
 * channel. A channel is either
 *
 *  - direct-tcpip to `host:port` as seen from the SSH server
 *    (rc_ssh_open_tcp(): "127.0.0.1", docker_port), or
 *  - the stdin/stdout of a command the server runs (rc_ssh_open_exec():
 *    "docker system dial-stdio", as the Docker CLI does for ssh:// hosts,
 *    for daemons that listen only on their unix socket).
 *
 * For libcurl, which must connect() by itself (7.88 ignores
 * CURL_SOCKOPT_ALREADY_CONNECTED, curl issue #10626), rc_ssh_listen()
 * makes a listening unix socket, in a directory of its own that only we
 * may enter, whose every connection becomes a channel; only connections
 * from this very process (SO_PEERCRED) are taken, so no other user or
 * process of the machine can use the tunnel, and no TCP port is ever
 * opened for it. (Not an abstract socket: curl 7.88 never reuses a
 * connection to one, and has no permissions to offer.)
 *
 *     rc_ssh_opts o = { .ship = "vm1", .host = "10.0.0.5", .port = 22,
 *                       .user = "deploy", .key_path = "/etc/reconcile/id_ed25519",
 *                       .timeout_ms = 5000 };
 *     rc_ssh *s;
 *     int fd;
 *     if (rc_ssh_connect(&s, &o, &err) < 0 ||
 *         rc_ssh_open_tcp(s, &fd, "127.0.0.1", 2375, &err) < 0)
 *             report(err.msg);
 *     ... speak HTTP on fd; close(fd);
 *     rc_ssh_unref(s);
 *
 * Threads
 * -------
 * libssh2 sessions are not thread-safe: every libssh2 call of a session
 * is made by the session's own pump thread, which moves the bytes of all
 * its channels with poll(). rc_ssh_open_*() queue a request to it and
 * wait (bounded by the timeout), so they may be called from any thread,
 * by several threads at once. A session is reference-counted: the Docker
 * client and its events stream share one.
 *
 * Host keys and authentication
 * ----------------------------
 * The server's host key is checked against an OpenSSH known_hosts file
 * (`known_hosts`, default ~/.ssh/known_hosts) with rc_known_hosts_verify()
 * (base/known_hosts.h): an unknown key, a changed key or a revoked key is
 * refused (RC_EAUTH) with its SHA256 fingerprint, as `ssh-keygen -lf`
 * prints it, and the file's name. Never trust on first use. The host key
 * algorithms the file lists for the host are asked for first, as OpenSSH
 * does, so that a host known by its ed25519 key is not met with ecdsa.
 *
 * The user key (ed25519, ecdsa or RSA; OpenSSH or PEM format; encrypted
 * with `passphrase`) is offered once; a refusal is RC_EAUTH. libssh2
 * before 1.11 signs with RSA keys using SHA-1 only ("ssh-rsa"), which
 * OpenSSH 8.8 and later refuse unless the server allows it
 * (`PubkeyAcceptedAlgorithms +ssh-rsa`): the message says so.
 *
 * Bounded waits
 * -------------
 * Connecting (TCP, non-blocking with poll), the SSH handshake, the host
 * key check and authentication together take at most `timeout_ms`; so does
 * opening each channel. A host that drops packets, a listener that never
 * answers, an SSH server that stalls: RC_ETIMEOUT (RC_EUNREACHABLE for a
 * refused connection). An established session sends a keepalive every
 * `keepalive_s` seconds (0: 30) and the TCP socket has keepalives too, so
 * that a session idle in `--watch` notices a vanished host; once the
 * session has failed, rc_ssh_alive() is false, every channel's descriptor
 * reads EOF, and the caller connects anew.
 *
 * Errors (one line, naming the ship):
 *   "cannot reach ssh on 'vm1' (10.0.0.5:22): Connection refused"        RC_EUNREACHABLE
 *   "ssh on 'vm1' (10.0.0.5:22): no answer within 5000 ms (...)"        RC_ETIMEOUT
 *   "the ssh host key of [10.0.0.5]:2222 is not known: ssh-ed25519 SHA256:... is not in '...'"  RC_EAUTH
 *   "ssh authentication to 10.0.0.5:22 as 'deploy' failed: ..."         RC_EAUTH
 *   "ssh on 'vm1' (10.0.0.5:22): cannot open a channel to 127.0.0.1:2375: ..."  RC_EUNREACHABLE
 */
#include "base/compat.h"
#include "base/error.h"
#include <stddef.h>

typedef struct rc_ssh rc_ssh;

typedef struct rc_ssh_opts {
	const char *ship;           /* for messages */
	const char *host;           /* name or address of the SSH server */
	int port;                   /* 0: 22 */
	const char *user;
	const char *key_path;       /* the private key file; named in messages */
	const char *key_data;       /* its contents when already read (NULL: read key_path); NUL-
	                               terminated too (libssh2 1.10 runs strlen() on it) */
	size_t key_len;
	const char *passphrase;     /* for an encrypted key, or NULL */
	const char *known_hosts;    /* NULL: ~/.ssh/known_hosts */
	long timeout_ms;            /* 0: 5000 */
	int keepalive_s;            /* 0: 30 */
} rc_ssh_opts;

/*
 * Connect, check the host key, authenticate and start the pump thread.
 * `o` is copied. The session holds one reference.
 */
int rc_ssh_connect(rc_ssh **out, const rc_ssh_opts *o, rc_error *err);

/* Another reference to `s` (NULL-safe); rc_ssh_unref() drops one, and the last ends the session. */
rc_ssh *rc_ssh_ref(rc_ssh *s);
void rc_ssh_unref(rc_ssh *s);

/* False once the session has failed (the server went away, a protocol error). */
bool rc_ssh_alive(rc_ssh *s);

/*
 * A new channel, as a connected, blocking AF_UNIX stream socket the
 * caller owns (*fd_out; close() it when done).
 */
int rc_ssh_open_tcp(rc_ssh *s, int *fd_out, const char *host, int port, rc_error *err);
int rc_ssh_open_exec(rc_ssh *s, int *fd_out, const char *command, rc_error *err);

/*
 * A listening unix socket (*path_out, to free(): CURLOPT_UNIX_SOCKET_PATH)
 * in a new directory of mode 0700 under $TMPDIR or /tmp, both removed by
 * rc_ssh_unlisten() or with the session, whose every
 * connection, from this process only, becomes a channel as
 * rc_ssh_open_exec() (when `command` is set) or rc_ssh_open_tcp() would
 * make it, opened within the timeout (else the session is failed: a server
 * that does not open channels is of no use). A connection whose channel
 * cannot be opened is closed, and rc_ssh_last_error() says why. Returns
 * the listener's id (> 0) for rc_ssh_unlisten(), or an error.
 */
int rc_ssh_listen(rc_ssh *s, char **path_out, const char *host, int port, const char *command,
		  rc_error *err);
void rc_ssh_unlisten(rc_ssh *s, int id);

/*
 * Why the session or the last failed channel went wrong: the
 * session's error once it failed; else, for a command channel that
 * ended with a non-zero status (or said something on stderr before any
 * output), "'docker system dial-stdio' on 10.0.0.5:22 exited with status
 * 127: sh: 1: docker: not found" (told once). 0 when there is nothing to say.
 */
int rc_ssh_last_error(rc_ssh *s, rc_error *err);

/* "10.0.0.5:22", as used in messages. */
const char *rc_ssh_address(const rc_ssh *s);

/*
 * Quote `s` for a POSIX shell (the far side's login shell runs exec
 * commands): 'it'\''s'. free() the result.
 */
char *rc_ssh_shell_quote(const char *s);

#endif
