/* feed_pub: a fake feed publisher for the tests. It listens where wineqd's feed would (an
 * nng PUB socket, plain or TLS), waits for a subscriber, and publishes crafted prediction
 * events: made-up features under a ModelRef the caller chooses. It prints "subscribed" when a
 * subscriber connected and "sent N" after publishing, or "no subscriber" (exit 1) when none
 * connected in time.
 *
 *   feed_pub [--tls-cert FILE --tls-key FILE] [--subscribers N] URL SECONDS NAME VERSION URI
 *            COUNT
 *
 * It waits up to SECONDS for N subscribers (default 1) to connect.
 * NAME, URI: the event's ModelRef name and uri ("" for none); VERSION: its version (0: a
 * plain bundle); COUNT events are sent, each with the 11 UCI feature names. */
#include "wineq/v1/wineq.pb-c.h"
#include "rpc/wq_tlsconf.h"

#include <nng/nng.h>
#include <nng/protocol/pubsub0/pub.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *const features[] = {"fixed acidity",
                                       "volatile acidity",
                                       "citric acid",
                                       "residual sugar",
                                       "chlorides",
                                       "free sulfur dioxide",
                                       "total sulfur dioxide",
                                       "density",
                                       "pH",
                                       "sulphates",
                                       "alcohol"};
#define NFEAT (sizeof(features) / sizeof(features[0]))

static atomic_int subscribers;

static void on_pipe(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	(void)p;
	(void)arg;
	if (ev == NNG_PIPE_EV_ADD_POST)
		atomic_fetch_add(&subscribers, 1);
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

/* One packed FeedEvent: a prediction of quality 9 (rare in the real data) with absurd
 * feature values, so rows that got into a window would stand out. */
static int event_pack(const char *name, long long version, const char *uri, long long i,
                      uint8_t **out, size_t *len)
{
	Wineq__V1__FeedEvent fe = WINEQ__V1__FEED_EVENT__INIT;
	Wineq__V1__PredictionEvent ev = WINEQ__V1__PREDICTION_EVENT__INIT;
	Wineq__V1__ModelRef ref = WINEQ__V1__MODEL_REF__INIT;
	Wineq__V1__Feature f[NFEAT], *fp[NFEAT];
	struct timespec ts;
	char id[40];
	size_t k;

	for (k = 0; k < NFEAT; k++) {
		wineq__v1__feature__init(&f[k]);
		f[k].name = (char *)features[k];
		f[k].value = 1000.0 + (double)k;
		fp[k] = &f[k];
	}
	ref.name = (char *)name;
	ref.version = version;
	ref.uri = (char *)uri;
	clock_gettime(CLOCK_REALTIME, &ts);
	snprintf(id, sizeof(id), "%032llx", 0xfeed0000ULL + (unsigned long long)i);
	ev.time_unix_nano = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
	ev.source = "feed_pub";
	ev.request_id = "";
	ev.n_features = NFEAT;
	ev.features = fp;
	ev.quality = 9;
	ev.model = &ref;
	ev.prediction_id = id;
	ev.customer_id = "";
	fe.event_case = WINEQ__V1__FEED_EVENT__EVENT_PREDICTION;
	fe.prediction = &ev;
	*len = wineq__v1__feed_event__get_packed_size(&fe);
	*out = malloc(*len ? *len : 1);
	if (*out == NULL)
		return -1;
	wineq__v1__feed_event__pack(&fe, *out);
	return 0;
}

int main(int argc, char **argv)
{
	wq_rpc_tls tls = {0};
	nng_socket sock;
	nng_listener l;
	char err[512] = "";
	long long version, count, i, waited = 0;
	double seconds;
	int a = 1, rv, want = 1;

	while (a + 1 < argc && strncmp(argv[a], "--", 2) == 0) {
		if (strcmp(argv[a], "--tls-cert") == 0)
			tls.cert_file = argv[a + 1];
		else if (strcmp(argv[a], "--tls-key") == 0)
			tls.key_file = argv[a + 1];
		else if (strcmp(argv[a], "--subscribers") == 0)
			want = (int)strtol(argv[a + 1], NULL, 10);
		else
			break;
		a += 2;
	}
	if (argc - a != 6) {
		fprintf(stderr, "usage: feed_pub [--tls-cert F --tls-key F] [--subscribers N] URL "
		                "SECONDS NAME VERSION URI COUNT\n");
		return 2;
	}
	seconds = strtod(argv[a + 1], NULL);
	version = strtoll(argv[a + 3], NULL, 10);
	count = strtoll(argv[a + 5], NULL, 10);
	if ((rv = nng_pub0_open(&sock)) != 0 ||
	    (rv = nng_listener_create(&l, sock, argv[a])) != 0) {
		fprintf(stderr, "feed_pub: %s: %s\n", argv[a], nng_strerror(rv));
		return 1;
	}
	nng_socket_set_int(sock, NNG_OPT_SENDBUF, 8192);
	nng_pipe_notify(sock, NNG_PIPE_EV_ADD_POST, on_pipe, NULL);
	if (wq_tlsconf_apply(&tls, argv[a], &l, NULL, err, sizeof(err)) != 0) {
		fprintf(stderr, "feed_pub: %s\n", err);
		return 1;
	}
	if ((rv = nng_listener_start(l, 0)) != 0) {
		fprintf(stderr, "feed_pub: listen %s: %s\n", argv[a], nng_strerror(rv));
		return 1;
	}
	while (atomic_load(&subscribers) < want && waited < (long long)(seconds * 1000)) {
		sleep_ms(50);
		waited += 50;
	}
	if (atomic_load(&subscribers) < want) {
		printf(atomic_load(&subscribers) == 0 ? "no subscriber\n"
		                                      : "too few subscribers\n");
		nng_close(sock);
		return 1;
	}
	printf("subscribed\n");
	fflush(stdout);
	sleep_ms(200); /* the pipe is attached to the PUB side before the first send */
	for (i = 0; i < count; i++) {
		uint8_t *buf;
		size_t len;

		if (event_pack(argv[a + 2], version, argv[a + 4], i, &buf, &len) != 0 ||
		    (rv = nng_send(sock, buf, len, 0)) != 0) {
			fprintf(stderr, "feed_pub: send: %s\n",
			        rv ? nng_strerror(rv) : "no memory");
			return 1;
		}
		free(buf);
	}
	sleep_ms(500); /* lets the queued messages leave before the socket closes */
	printf("sent %lld\n", count);
	nng_close(sock);
	return 0;
}
