/* Every hard cap and default limit in keyhole lives here, so a reader can see
 * at once how much memory and time any input is allowed to cost. Values that
 * operators may change in config.yaml have a KH_DEFAULT_ name; the others are
 * compile-time ceilings that config values are clamped to. */
#ifndef KH_LIMITS_H
#define KH_LIMITS_H

/* --- files --- */
#define KH_MAX_CONFIG_BYTES    (1u << 20) /* config.yaml */
#define KH_MAX_MAPPINGS_BYTES  (4u << 20) /* mappings.json */
#define KH_MAX_PEM_BYTES       (256u << 10) /* ca.crt, ca.key */
#define KH_MAX_CA_BUNDLE_BYTES (8u << 20) /* upstream_ca_file (a whole system bundle fits) */
#define KH_MAX_PATH            4096
#define KH_MAX_CONFIG_WARNINGS 32 /* the last slot says more were dropped */
#define KH_MAX_CONFIG_NESTING  64 /* [ ] / { } depth in config.yaml (libyaml is quadratic in it) */
#define KH_JSON_MAX_DEPTH      16
#define KH_CONFIG_KEYPATH_MAX \
	192 /* "timeouts.header", "upstream_deny_cidrs[12]", "resolve.<key>" */
#define KH_CONFIG_SHOW_MAX 48 /* bytes of a bad value echoed back in a message */
#define KH_CONFIG_EDIT_MAX 40 /* longest key compared for "did you mean" */

/* --- policy objects --- */
#define KH_MAX_HOSTNAME            253 /* RFC 1035 presentation form without the dot */
#define KH_MAX_LABEL               63
#define KH_MAX_TOKENS              4096 /* proxy tokens held by one daemon */
#define KH_MAX_SECRET_LEN          8192
#define KH_MAX_ALLOW_RULES         4096
#define KH_MAX_DENY_CIDRS          1024
#define KH_MAX_LISTENERS           16
#define KH_MAX_BRIDGES             3 /* container bridges listened on: docker0, podman0, cni-podman0 */
#define KH_PODMAN_INSPECT_MS       10000 /* `podman network inspect` for the gateway, at most */
#define KH_PODMAN_INSPECT_MAX      4096 /* its output, at most */
#define KH_MAX_PINS                1024 /* resolve: host -> address */
#define KH_MAX_PORT_RULES          1024 /* allowed_ports: host pattern -> ports */
#define KH_MAX_PORT_RANGES         64 /* ports or "lo-hi" ranges of one allowed_ports entry */
#define KH_DEFAULT_TLS_PORT        443 /* CONNECT and transparent TLS, unless allowed_ports widens */
#define KH_DEFAULT_HTTP_PORT       80 /* plain HTTP (absolute-form, transparent), the same */
#define KH_MAX_MATCH_HEADERS       8
#define KH_MAX_LOCATIONS           8 /* credential locations of one mapping */
#define KH_MAX_PROVIDERS           64 /* custom providers in config.yaml */
#define KH_MAX_PROVIDER_HOSTS      16 /* hosts of one custom provider */
#define KH_MAX_GRANTS              4096 /* sandbox tokens (live and recently ended) held by one daemon */
#define KH_GRANT_LABEL_MAX         64 /* a sandbox label, with its NUL */
#define KH_MAX_GRANT_BINDS         1024 /* keyhole sandbox processes known by pid at once */
#define KH_MAX_OWNERS              1024 /* sandbox wrappers watched by pidfd at once (ownerwatch.h) */
#define KH_GRANT_TOMBSTONE_SECS    (24 * 3600) /* an ended sandbox token still gets 401 this long */
#define KH_CTL_MSG_MAX             (64u << 10) /* one control-socket request or answer */
#define KH_CTL_TIMEOUT_MS          5000 /* a control-socket exchange must finish within this */
#define KH_CTL_PROBE_MS            1000 /* the CLI asking control.sock who the daemon is */
#define KH_CTL_DRAIN_MS            200 /* unread request bytes are discarded this long after answering */
#define KH_MAX_GRANT_BUDGET        1000000000000ULL /* requests one sandbox token may make */
#define KH_MAX_GRANT_TTL           (366LL * 24 * 3600) /* longest sandbox token lifetime */
#define KH_DEFAULT_GRANT_SAVE_SECS 10 /* spent budget counts reach grants.json this often */
#define KH_MAX_GRANT_SAVE_SECS     3600
#define KH_DEFAULT_GRANT_TTL \
	(24 * 3600) /* sandbox tokens of docker run / sandbox, and token issue */
#define KH_DEFAULT_TUNNEL_PORT     9090
#define KH_TOKEN_MAX               128
#define KH_ENV_NAME_MAX            64
#define KH_HEADER_NAME_MAX         64
#define KH_PROVIDER_MAX_HOSTS      4
#define KH_PROVIDER_MAX_LOCS       3
#define KH_LOC_NAME_MAX            64 /* header or query parameter name, with its NUL */
#define KH_LOC_TEMPLATE_MAX        64 /* "token {}", with its NUL */
#define KH_CTL_MAX_NAMES           64 /* providers named in one issue request */
#define KH_TOKEN_CMD_MAX_PROVIDERS 64 /* providers named in one `keyhole token issue` */

/* --- credential sources (credsrc/) --- */
#define KH_CREDSRC_TIMEOUT_MS 30000 /* bws or credential_command must finish within this */
#define KH_CREDSRC_OUTPUT_MAX (1u << 20) /* and print no more than this on stdout */

/* --- keyhole sandbox --- */
#define KH_SANDBOX_UID            65534 /* the command's host uid when root starts it ("nobody") */
#define KH_SANDBOX_GID            65534 /* and its gid ("nogroup") */
#define KH_WORKDIR_MAX_RO         64 /* read-only paths kept inside the writable directory */
#define KH_WORKDIR_MAX_PINS       16 /* directories on the way to them, pinned against renames */
#define KH_WORKDIR_REL_MAX        512 /* one such path, relative to the writable directory */
#define KH_GITFILE_MAX            4096 /* a ".git" file ("gitdir: PATH") read to find its git dir */
#define KH_SANDBOX_MAX_ALLOW      64
#define KH_SANDBOX_MAX_RELAYS     256
#define KH_SANDBOX_RELAY_BUF      65536
#define KH_SANDBOX_FIRST_LINE_MAX 4096
#define KH_SANDBOX_MAX_LISTENERS  5
#define KH_SANDBOX_MAX_TOKEN_KEYS 256 /* --token-key: the random parts of the sandbox's tokens */
#define KH_SANDBOX_ID_WAIT_MS     5000 /* for `keyhole sandbox` to tell us who we are */
#define KH_DNS_MAX                512 /* classic UDP message size; our answers always fit */
#define KH_SANDBOX_DNS_TTL        5 /* short: the answer only points at the sandbox's own relay */
#define KH_CAP_SCAN_MAX           64 /* capability numbers tried; past the kernel's last is EINVAL */

/* --- HTTP/1 --- */
#define KH_DEFAULT_MAX_HEADER_BYTES 16384
#define KH_MAX_HEADER_BYTES_CEIL    65536
#define KH_DEFAULT_MAX_HEADERS      100
#define KH_MAX_HEADERS_CEIL         256
/* A privsep front re-writes each request head as "name: value\r\n" lines,
 * which can be up to two bytes a line longer than what the client sent: the
 * key holder's head limit allows for that. */
#define KH_FRONT_HEAD_SLACK (2 * (KH_MAX_HEADERS_CEIL + 1))
#define KH_MAX_CHUNK_LINE   1024 /* chunk-size line incl. extensions */
#define KH_MAX_PIPELINE     16 /* requests forwarded but not yet answered */
#define KH_IO_BUF_SIZE      16384 /* per-direction relay buffer */
/* Each direction of an in-process stream between a front and the key
 * holder (event/mempipe.h): held only while bytes are in it. */
#define KH_STREAM_PIPE_BUF       (4 * KH_IO_BUF_SIZE)
#define KH_MAX_RESPONSE_HEAD     32768 /* upstream response heads (also the client-bound buffer) */
#define KH_ERROR_RESPONSE_MAX    2048 /* room kept for a keyhole-generated response */
#define KH_MAX_BASIC_B64         8192 /* Authorization: Basic credentials decoded to look for tokens */
#define KH_MAX_CHUNK_HEX_DIGITS  15
#define KH_MAX_SWAPS             4
#define KH_MAX_CONNECTION_NAMES  16
#define KH_REWRITE_DECODE_WINDOW 2048 /* percent-decoded bytes scanned at a time */

/* --- response scrubbing (scrub.c, respscrub.c) --- */
#define KH_SCRUB_MIN_SECRET 8 /* shorter secrets would match ordinary text: not scrubbed */
#define KH_SCRUB_TALLY      8 /* distinct secrets named in one audit record */
#define KH_SCRUB_DECODE_BUF 16384 /* inflated bytes staged per scrubbed gzip/deflate response */

/* --- AWS SigV4 re-signing --- */
#define KH_SIGV4_MAX_AUTH           2048 /* an Authorization header keyhole re-signs */
#define KH_SIGV4_MAX_QUERY_PARAMS   256
#define KH_SIGV4_MAX_SIGNED_HEADERS 64
#define KH_SIGV4_MAX_CREQ           (256u << 10) /* canonical request (paths may be encoded twice) */
#define KH_SIGV4_MAX_BODY \
	(8u << 20) /* body buffered to hash when the client sent no x-amz-content-sha256 */
#define KH_SIGV4_BODY_BUDGET  (64u << 20) /* all such bodies buffered at once, per daemon */
#define KH_SIGV4_BODY_SHARE   (16u << 20) /* of which one client (sandbox or address) may hold */
#define KH_SIGV4_BODY_SOURCES 256 /* clients holding such bodies at once */
#define KH_SIGV4_MAX_SKEW     900 /* seconds X-Amz-Date may be off keyhole's clock (AWS's 15 min) */
#define KH_MAX_AWS_BUCKETS    1024 /* aws.buckets entries */
#define KH_SIGV4_MAX_KEY_ID   128 /* real access key ids are 20 characters */
#define KH_AWS_SERVICE_MAX    64 /* bytes of a credential scope's service */
#define KH_BODYSHARE_KEY_MAX  80 /* "sandbox:<label>" or "addr:<ip>", with its NUL */

/* --- connections and time (seconds unless noted) --- */
#define KH_ACCEPT_BATCH              64 /* accepts per readiness event, so one listener cannot starve the loop */
#define KH_SHED_REPORT_MS            10000 /* "connections shed" warned at most this often (ms) */
#define KH_DEFAULT_MAX_CONNECTIONS   10000
#define KH_MAX_CONNECTIONS_CEIL      1000000
#define KH_DEFAULT_HANDSHAKE_TIMEOUT 10
#define KH_DEFAULT_HEADER_TIMEOUT    30
#define KH_DEFAULT_KEEPALIVE_TIMEOUT 60
#define KH_DEFAULT_CONNECT_TIMEOUT   10
#define KH_DEFAULT_RESPONSE_TIMEOUT  300
#define KH_DEFAULT_IDLE_TIMEOUT      300
#define KH_DEFAULT_SHUTDOWN_GRACE    10
#define KH_MAX_TIMEOUT               86400
#define KH_MAX_WORKERS               64
#define KH_DEFAULT_BUSY_POLL_US      50 /* see kh_loop_set_busy_poll() */
#define KH_MAX_BUSY_POLL_US          1000
#define KH_LINGER_MS                 2000 /* discard input this long after our final response */
#define KH_CLOSING_MS                10000 /* flushing a final response may take this long */
#define KH_RUN_BUDGET                64 /* state-machine rounds before yielding to other connections */
#define KH_ACCEPT_PAUSE_MS           100 /* out of fds with no spare: stop accepting this long */
#define KH_MAX_ADDRS                 16 /* addresses tried per upstream name */
#define KH_UPSTREAM_PARK_MS          250 /* an idle client hands its upstream to the pool after this */
#define KH_UPSTREAM_POOL_MAX         64 /* idle upstream connections kept per worker */
#define KH_UPSTREAM_POOL_IDLE_MS     30000 /* a parked upstream connection is closed after this */
#define KH_TRIM_QUIET_MS             500 /* no handshake or close this long: return freed heap */
#define KH_TRIM_SPACING              100 /* and not before 100 x the last trim's duration */
#define KH_LOOP_MAX_EVENTS           256 /* epoll events taken per wait */
#define KH_LOOP_MAX_WAIT_MS          1000 /* longest epoll wait with no timer due */
#define KH_LISTEN_BACKLOG            4096 /* listen(2) backlog */
#define KH_BRIDGE_ACK_WAIT_MS        2000 /* workers pick a change up within one loop iteration */
#define KH_BRIDGE_ACK_POLL_MS        5
#define KH_BRIDGE_NL_BUF             8192
#define KH_BRIDGE_RETRY_MS           1000 /* a bridge address we could not listen on: again */

/* --- name resolution (resolver.c: c-ares on one thread; lookupq.c, dnscache.c) --- */
#define KH_RESOLVER_RUNNING        256 /* lookups sent to DNS at once, all sources */
#define KH_RESOLVER_QUEUE          4096 /* lookups waiting for their turn, all sources */
#define KH_RESOLVER_SOURCE_RUNNING 8 /* lookups one source has at DNS at once */
#define KH_RESOLVER_SOURCE_QUEUE   128 /* lookups one source may have waiting; more: 429 */
#define KH_RESOLVER_SOURCES        256 /* sources with lookups running or waiting at once */
#define KH_RESOLVER_TIMEOUT_MS     2000 /* first try; c-ares doubles it per round */
#define KH_RESOLVER_TRIES          2 /* rounds over the servers: a lookup ends within ~6 s */
#define KH_RESOLVER_SOCKETS        64 /* sockets c-ares may have open (UDP per server, TCP) */
#define KH_RESOLV_CONF_CHECK_MS    5000 /* /etc/resolv.conf is looked at again at most this often */
#define KH_MAX_DNS_SERVERS         8 /* dns_servers: in config.yaml */
#define KH_DNS_CACHE_ENTRIES       1024 /* names whose answer is kept (least recently used goes) */
#define KH_DNS_CACHE_MAX_TTL_MS    300000 /* an answer is kept for its TTL, at most this */
#define KH_DNS_NEGATIVE_TTL_MS     5000 /* "no such name" / "no address" is kept this long */

/* --- TLS --- */
#define KH_DEFAULT_CERT_CACHE 1000
#define KH_MAX_CERT_CACHE     100000
#define KH_LEAF_VALIDITY_SECS (48 * 3600)
#define KH_LEAF_REMINT_SECS   (24 * 3600) /* re-mint cached leaves this old */
#define KH_LEAF_BACKDATE_SECS 3600
/* The CA signer (tls/signer.c, privsep): each front's own leaf key asks it
 * for leaves. A front gets KH_LEAF_MINT_RATE new leaves a second once its
 * KH_LEAF_MINT_BURST are spent; leaves it already has cost nothing. */
#define KH_LEAF_MINT_RATE       50
#define KH_LEAF_MINT_BURST      200
#define KH_LEAF_MINT_RATE_MAX   1000 /* what a signer may be configured to */
#define KH_LEAF_SPKI_MAX        128 /* a leaf public key as SPKI DER (P-256: 91) */
#define KH_LEAF_DER_MAX         4096 /* a leaf certificate as DER (ours: under 1 KiB) */
#define KH_SIGNER_CACHE_DEFAULT 4096 /* leaves the signer keeps, by (front, host, key) */
#define KH_SIGNER_FRONTS_MAX    KH_MAX_WORKERS
#define KH_CA_VALIDITY_DAYS     3650
#define KH_CLIENT_HELLO_MAX     16384 /* handshake bytes we are willing to wait for */
#define KH_CA_BACKDATE_SECS     3600
#define KH_CA_EXPIRY_WARN_SECS  (30L * 86400)

/* --- logging and audit --- */
#define KH_LOG_LINE_MAX   2048
#define KH_AUDIT_LINE_MAX 4096
#define KH_AUDIT_BATCH_BYTES \
	(16 * KH_AUDIT_LINE_MAX) /* per worker, written once per loop iteration */
#define KH_AUDIT_PATH_MAX  1024 /* request path kept in an audit record */
#define KH_TOKEN_LOG_CHARS 12 /* never log more of a proxy token than this */
#define KH_DETAIL_MAX      640 /* human explanation attached to a refusal */
/* A "source" is whoever a request comes from, for fairness and flood
 * control: a sandbox's label, else the client's address (kh_conn_source). */
#define KH_SOURCE_MAX 64 /* a source's name, with its NUL */
/* Audit flood control (auditlimit.c): refusal records per source and kind
 * (decision + reason). */
#define KH_AUDIT_FOLD_MS       1000 /* a kind's window: later refusals fold into one record */
#define KH_AUDIT_FOLD_WHOLE    8 /* refusals of one kind written whole per window and source */
#define KH_AUDIT_FOLD_KINDS    8 /* kinds folded apart per source; more share one record */
#define KH_AUDIT_FOLD_DISTINCT 64 /* distinct hosts counted in one fold record */
#define KH_AUDIT_SOURCE_BYTES  16384 /* whole refusal records: bytes per second per source */
#define KH_AUDIT_SOURCES       64 /* sources followed at once (the least recent is let go) */
#define KH_AUDIT_FRONT_BYTES   (64u << 10) /* a front process's records: bytes a second */
#define KH_AUDIT_FRONT_BURST   (1u << 20) /* and as many at once at most */
#define KH_CHILDLOG_LINE       1024 /* a front's or the signer's log line, as the daemon copies it */
#define KH_CHILDLOG_RATE       20 /* lines a second a child may log */
#define KH_CHILDLOG_BURST      200 /* and as many at once */
#define KH_CHILDLOG_READS      16 /* reads of its pipe per turn (4 KiB each) */
#define KH_REDACT_SCAN_MAX \
	4096 /* bytes of one record field searched for encoded secrets (more is cut) */
#define KH_REDACT_PCT_DEPTH 3 /* percent-decoding rounds a field is searched through (%2525...) */
#define KH_ERR_MAX          512
#define KH_STRERROR_BUF     128 /* one errno's text (kh_strerror) */

/* --- metrics (Prometheus text on a loopback listener) --- */
#define KH_METRICS_REQ_LABELS  128 /* distinct (decision, reason) pairs counted */
#define KH_METRICS_PROVIDERS   256 /* distinct env names counted for swaps */
#define KH_METRICS_LABEL_MAX   64 /* bytes of one label value kept */
#define KH_METRICS_BODY_MAX    (256u << 10) /* one rendered /metrics answer */
#define KH_METRICS_REQUEST_MAX 4096 /* a scrape request head */
#define KH_METRICS_MAX_CLIENTS 16 /* scrapes served at once; more are closed */
#define KH_METRICS_TIMEOUT_MS  5000 /* a scrape must be sent and answered within this */
#define KH_METRICS_MAX_HEADERS 32
#define KH_METRICS_HEAD_MAX    256

/* --- keyhole log (audit.log viewer) --- */
#define KH_LOG_VIEW_LINE_MAX   (64u << 10) /* longer audit lines are skipped as malformed */
#define KH_LOG_VIEW_POLL_MS    200 /* --follow: how often to look for new lines */
#define KH_LOG_VIEW_READ_CHUNK 65536

/* --- operator CLI (keyhole start/stop/reload/status/docker/bench) --- */
/* keyhole start: for the daemon to come up (its signer and fronts: 5 s each at most) */
#define KH_START_WAIT_MS             15000
#define KH_STOP_MIN_WAIT_MS          5000
#define KH_RELOAD_WAIT_MS            10000 /* keyhole reload: for the daemon to answer */
#define KH_START_ENV_MAX             (KH_MAX_TOKENS + 32) /* variables keyhole start hands the daemon */
#define KH_PROC_READ_MAX             (64u << 10)
#define KH_STATUS_JSON_MAX           (256u << 10)
#define KH_PROCVIEW_FILE_MAX         (64u << 10) /* /proc/PID/status or limits: a few KiB */
#define KH_MAX_ARGS                  4096
#define KH_DOCKER_MAX_USER_ENV       1024
#define KH_DOCKER_MAX_ENV_FILES      64
#define KH_DOCKER_ENV_FILE_MAX       (1u << 20)
#define KH_DOCKER_NODE_OPTIONS_MAX   4096
#define KH_BENCH_DEFAULT_DURATION_MS 10000u
#define KH_BENCH_DEFAULT_TIMEOUT_MS  10000u
#define KH_BENCH_DEFAULT_HOLD_MS     5000u
#define KH_BENCH_IDLE_TIMEOUT_MS     30000u /* idle mode: slow proxies take a while per handshake */
#define KH_BENCH_MAX_OVERRIDES       16
#define KH_BENCH_JSON_MAX            8192

/* --- load generator (tools/loadgen.c, keyhole bench) --- */
/* Hard caps: anything above is a usage error, never a silent clamp. */
#define KH_LG_MAX_CONNECTIONS 20000
#define KH_LG_MAX_THREADS     64
#define KH_LG_MAX_HEADERS     32
#define KH_LG_MAX_HEADER_LEN  8192
#define KH_LG_MAX_PATH        8192
#define KH_LG_MAX_BODY        (UINT64_C(1) << 30)
#define KH_LG_MAX_SECONDS     86400
#define KH_LG_MAX_REQUESTS    (UINT64_C(1) << 40)
/* First connection setups in flight at once (all threads together), so
 * 10,000 idle connections do not hit a proxy's accept backlog at once. */
#define KH_LG_SETUP_WINDOW      256
#define KH_LG_HEAD_CAP          32768 /* response head bytes kept per connection */
#define KH_LG_SCRATCH_SIZE      (256u << 10) /* per-thread sink for response bodies */
#define KH_LG_BODY_BLOCK        65536 /* request body pattern, sent repeatedly */
#define KH_LG_RETRY_MS          10 /* pause before reconnecting after an error */
#define KH_LG_MAX_RESP_HEADERS  128
#define KH_LG_IDLE_SETUP_CAP_MS (600u * 1000u) /* idle mode: bound on opening them all */
#define KH_LG_READ_AHEAD_BUF    (128u << 10) /* TLS read buffer when streaming */

/* --- the channel's buffered I/O (privsep/chanio.c, issue 17) --- */
#define KH_CHANIO_OUT_MAX     (1u << 20) /* frames queued for the peer; a send past it is refused */
#define KH_CHANIO_IN_MAX      (256u << 10) /* bytes taken off the socket per read */
#define KH_CHANIO_READ_BUDGET (256u << 10) /* bytes read per turn before other handlers run */
#define KH_CHANIO_FDS_MAX     16 /* fds received and not yet taken */
#define KH_CHANIO_FDS_OUT_MAX 256 /* fds queued to send (a burst of new streams' ends) */
#define KH_CHANIO_SNDBUF      (1u << 20) /* SO_SNDBUF asked for (the kernel caps it at wmem_max) */

/* --- the channel between processes (privsep/chan.c, issue 17) --- */
#define KH_CHAN_HDR            16 /* u16 type, u16 flags, u32 len, u64 stream */
#define KH_CHAN_FRAME_MAX      65536 /* payload bytes of one frame */
#define KH_CHAN_REASON_MAX     48 /* a reason token ([a-z0-9_]), with its NUL */
#define KH_CHAN_ADDR_MAX       64 /* a client address as text, with its NUL (as kh_conn.client) */
#define KH_CTLMSG_MAX          8192 /* payload of one control-channel message (a leaf DER fits) */
#define KH_FRONT_START_WAIT_MS 5000 /* a front or the signer waits this long for its start */
#define KH_FRONT_LEAF_WAIT_MS  1500 /* a front waits this long for a leaf from the CA signer */
#define KH_SIGNER_RESTART_MS   1000 /* the CA signer, when it died, is started again after this */
#define KH_SIGNER_PING_MS      1000 /* the daemon asks the CA signer whether it still answers */
#define KH_SIGNER_HANG_MS      5000 /* a signer that has not answered for this long is killed */
#define KH_CTLMSG_DRAIN_MAX    (1 << 16) /* messages a dead child left, dropped at its restart */
#define KH_FRONT_RESTART_MS    1000 /* a front that died is started again after this */
#define KH_FRONT_STOP_MS       2000 /* at stop, fronts get this long after their grace to exit */
#define KH_FRONTSTAT_LABEL     32 /* a decision or reason label a front reports, bytes */
#define KH_FRONTSTAT_REQS      32 /* (decision, reason) counts in one metrics message */
#define KH_FRONTSTAT_OBS       32 /* histogram observations in one metrics message */
#define KH_FRONTSTAT_COUNT     1000000 /* most one entry may add: a lying front stays bounded */
#define KH_FRONTSTAT_LANDLOCK  64 /* a landlock ABI above this is not believed */
#define KH_FRONTSTAT_PERIOD_MS 250 /* a front sends its metric deltas at most this often */
#define KH_FRONTSTAT_NEW_PAIRS \
	32 /* (decision, reason) pairs fronts may add to /metrics, all together */
#define KH_FRONT_WARN_EVERY_MS 10000 /* at most one log line a front's bad messages cause */
#define KH_CHAN_NAMES_MAX      256 /* swapped header names, comma-separated, with its NUL */

#endif
