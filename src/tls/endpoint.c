#include "tls/endpoint.h"

#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>

#include "event/mempipe.h"

void kh_ep_init(struct kh_endpoint *ep, void (*cb)(struct kh_io *, uint32_t))
{
	memset(ep, 0, sizeof *ep);
	ep->io.fd = -1;
	ep->io.cb = cb;
}

/* Notes whether OpenSSL's read of the socket came back short. */
static long read_cb(BIO *b, int oper, const char *argp, size_t len, int argi, long argl, int ret,
		    size_t *processed)
{
	struct kh_endpoint *ep = (struct kh_endpoint *)BIO_get_callback_arg(b);

	(void)argp;
	(void)argi;
	(void)argl;
	if (oper == (BIO_CB_READ | BIO_CB_RETURN) && ep != NULL)
		ep->short_read = ret > 0 && processed != NULL && *processed < len;
	return ret;
}

void kh_ep_moved(struct kh_endpoint *ep)
{
	BIO *b = ep->ssl ? SSL_get_rbio(ep->ssl) : NULL;

	if (b != NULL)
		BIO_set_callback_arg(b, (char *)ep);
}

void kh_ep_attach_ssl(struct kh_endpoint *ep, SSL *ssl)
{
	BIO *b = SSL_get_rbio(ssl);

	ep->ssl = ssl;
	if (b != NULL)
		BIO_set_callback_ex(b, read_cb);
	kh_ep_moved(ep);
}

void kh_ep_attach_pipe(struct kh_endpoint *ep, struct kh_mempipe *p, unsigned side)
{
	ep->pipe = p;
	ep->pipe_side = side;
	kh_mempipe_attach(p, side, &ep->io);
}

/* A socket or a pipe end is there. */
static bool ep_open(const struct kh_endpoint *ep)
{
	return ep->io.fd >= 0 || ep->pipe != NULL;
}

int kh_ep_watch_lazily(struct kh_endpoint *ep, struct kh_loop *l)
{
	if (kh_loop_add_lazy_out(l, &ep->io) != 0)
		return -1;
	ep->lazy_loop = l;
	ep->wr_ready = true; /* a new socket has room; no event will say so */
	return 0;
}

/* A write was refused for room: ask for EPOLLOUT until it comes. */
static int watch_out(struct kh_endpoint *ep, bool on)
{
	if (ep->lazy_loop == NULL || ep->out_watched == on)
		return 0;
	if (kh_loop_watch_out(ep->lazy_loop, &ep->io, on) != 0)
		return -1;
	ep->out_watched = on;
	return 0;
}

void kh_ep_on_events(struct kh_endpoint *ep, uint32_t events)
{
	if ((events & EPOLLOUT) && ep->io.fd >= 0)
		(void)watch_out(ep, false); /* on failure it stays watched: a wakeup too many */
	if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))
		ep->peer_shut = true;
	if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
		ep->rd_ready = true;
	if (events & (EPOLLOUT | EPOLLHUP | EPOLLERR))
		ep->wr_ready = true;
}

static bool ready_for(const struct kh_endpoint *ep, uint8_t need, bool natural)
{
	if (need == KH_NEED_READ)
		return ep->rd_ready;
	if (need == KH_NEED_WRITE)
		return ep->wr_ready;
	return natural;
}

/* Bytes OpenSSL already took off the socket (read-ahead during a handshake
 * or a previous read) raise no epoll event: they make the endpoint readable
 * by themselves, until a read says it needs the socket again. */
static bool tls_buffered(const struct kh_endpoint *ep)
{
	return ep->ssl != NULL && ep->need_rd == KH_NEED_NATURAL && SSL_has_pending(ep->ssl);
}

bool kh_ep_can_read(const struct kh_endpoint *ep)
{
	return ep_open(ep) && !ep->eof && !ep->failed &&
	       (ready_for(ep, ep->need_rd, ep->rd_ready) || tls_buffered(ep));
}

bool kh_ep_can_write(const struct kh_endpoint *ep)
{
	return ep_open(ep) && !ep->failed && !ep->write_shut &&
	       ready_for(ep, ep->need_wr, ep->wr_ready);
}

bool kh_ep_can_handshake(const struct kh_endpoint *ep)
{
	return ep_open(ep) && !ep->failed && ready_for(ep, ep->need_hs, true);
}

/* Maps an SSL_get_error() result: sets what the retry must wait for. */
static ssize_t ssl_result(struct kh_endpoint *ep, int ret, uint8_t *need)
{
	switch (SSL_get_error(ep->ssl, ret)) {
	case SSL_ERROR_WANT_READ:
		*need = KH_NEED_READ;
		ep->rd_ready = false;
		return KH_IO_AGAIN;
	case SSL_ERROR_WANT_WRITE:
		*need = KH_NEED_WRITE;
		ep->wr_ready = false;
		return KH_IO_AGAIN;
	case SSL_ERROR_ZERO_RETURN:
		return 0;
	case SSL_ERROR_SYSCALL:
		if (errno == EAGAIN) {
			*need = KH_NEED_READ;
			ep->rd_ready = false;
			return KH_IO_AGAIN;
		}
		/* fall through */
	default:
		ep->failed = true;
		return KH_IO_ERROR;
	}
}

ssize_t kh_ep_read(struct kh_endpoint *ep, void *buf, size_t len)
{
	ssize_t n;

	if (ep->ssl != NULL) {
		size_t got = 0;
		int ret;

		ERR_clear_error();
		ep->short_read = false;
		ret = SSL_read_ex(ep->ssl, buf, len, &got);
		if (ret == 1) {
			ep->need_rd = KH_NEED_NATURAL;
			if (ep->short_read && !ep->peer_shut && !SSL_has_pending(ep->ssl))
				ep->rd_ready = false; /* drained: see endpoint.h */
			return (ssize_t)got;
		}
		n = ssl_result(ep, ret, &ep->need_rd);
	} else {
		do
			n = ep->pipe != NULL ? kh_mempipe_read(ep->pipe, ep->pipe_side, buf, len)
					     : recv(ep->io.fd, buf, len, 0);
		while (n < 0 && errno == EINTR);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			ep->rd_ready = false;
			return KH_IO_AGAIN;
		}
		if (n < 0) {
			ep->failed = true;
			return KH_IO_ERROR;
		}
		if (n > 0 && (size_t)n < len && !ep->peer_shut)
			ep->rd_ready = false; /* drained: see endpoint.h */
	}
	if (n == 0)
		ep->eof = true;
	return n;
}

ssize_t kh_ep_write(struct kh_endpoint *ep, const void *buf, size_t len)
{
	ssize_t n;

	if (ep->ssl != NULL) {
		size_t put = 0;
		int ret;

		ERR_clear_error();
		ret = SSL_write_ex(ep->ssl, buf, len, &put);
		if (ret == 1) {
			ep->need_wr = KH_NEED_NATURAL;
			return (ssize_t)put;
		}
		n = ssl_result(ep, ret, &ep->need_wr);
		if (n == 0) { /* peer closed while we write: nothing more can go */
			ep->failed = true;
			return KH_IO_ERROR;
		}
		return n;
	}
	do
		n = ep->pipe != NULL ? kh_mempipe_write(ep->pipe, ep->pipe_side, buf, len)
				     : send(ep->io.fd, buf, len, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
		ep->wr_ready = false;
		if (ep->pipe == NULL && watch_out(ep, true) != 0) {
			ep->failed = true; /* no event would ever say it has room */
			return KH_IO_ERROR;
		}
		return KH_IO_AGAIN;
	}
	if (n < 0) {
		ep->failed = true;
		return KH_IO_ERROR;
	}
	return n;
}

int kh_ep_handshake(struct kh_endpoint *ep)
{
	int ret;

	ERR_clear_error();
	ret = SSL_do_handshake(ep->ssl);
	if (ret == 1) {
		ep->need_hs = KH_NEED_NATURAL;
		return 1;
	}
	if (ssl_result(ep, ret, &ep->need_hs) == KH_IO_AGAIN)
		return 0;
	ep->failed = true;
	return KH_IO_ERROR;
}

void kh_ep_shutdown_write(struct kh_endpoint *ep)
{
	if (!ep_open(ep) || ep->write_shut)
		return;
	ep->write_shut = true;
	if (ep->pipe != NULL) {
		kh_mempipe_shutdown(ep->pipe, ep->pipe_side);
		return;
	}
	if (ep->ssl != NULL && !ep->failed && SSL_is_init_finished(ep->ssl)) {
		ERR_clear_error();
		SSL_shutdown(ep->ssl); /* queues close_notify; we do not wait for theirs */
		ERR_clear_error();
	}
	shutdown(ep->io.fd, SHUT_WR);
}

void kh_ep_close(struct kh_loop *l, struct kh_endpoint *ep)
{
	if (ep->ssl != NULL) {
		SSL_free(ep->ssl);
		ep->ssl = NULL;
	}
	if (ep->pipe != NULL) {
		kh_mempipe_close(ep->pipe, ep->pipe_side);
		ep->pipe = NULL;
	}
	if (ep->io.fd >= 0) {
		kh_loop_del(l, &ep->io);
		close(ep->io.fd);
		ep->io.fd = -1;
	}
	ep->rd_ready = ep->wr_ready = false;
	ep->lazy_loop = NULL;
	ep->out_watched = false;
}
