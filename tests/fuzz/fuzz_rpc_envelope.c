/* The RPC envelope as wineqd's server reads it off the wire: each input is sent verbatim (as
 * one nng message) to an in-process wq_rpc server over ipc://, which runs its whole request
 * path (size caps, envelope decode, method lookup, wire counting of Predict instances and
 * features, the authorizer, the budgeted payload decode) before stand-in handlers of every
 * Predictor (fast) and Registry (blocking) method answer an empty response. The server must
 * always answer with a well-formed response envelope. */
#include "fuzz_common.h"
#include "wineq/v1/wineq.pb-c.h"
#include "rpc/wq_rpc_client.h"
#include "rpc/wq_rpc_server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static wq_rpc_client *client;

/* Every method answers its output message, empty; the decoded input must be valid. */
static void stub_invoke(ProtobufCService *svc, unsigned index, const ProtobufCMessage *in,
                        ProtobufCClosure closure, void *data)
{
	const ProtobufCMessageDescriptor *od = svc->descriptor->methods[index].output;
	ProtobufCMessage *m = calloc(1, od->sizeof_message);

	if (m == NULL || !protobuf_c_message_check(in) || wq_rpc_call_identity(data) == NULL)
		abort();
	protobuf_c_message_init(od, m);
	closure(m, data);
	free(m);
}

static ProtobufCService predictor = {&wineq__v1__predictor__descriptor, stub_invoke, NULL};
static ProtobufCService registry = {&wineq__v1__registry__descriptor, stub_invoke, NULL};

/* A token of "deny" is refused, as an authorizer refuses a bad credential. */
static wq_rpc_code authorize(void *arg, const char *method, const char *token,
                             const wq_rpc_peer *peer, wq_identity *who, char *msg, size_t msglen)
{
	(void)arg;
	if (method == NULL || token == NULL || peer == NULL || who == NULL)
		abort();
	if (strcmp(token, "deny") == 0) {
		snprintf(msg, msglen, "bad token");
		return WQ_RPC_UNAUTHENTICATED;
	}
	return WQ_RPC_OK;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	wq_rpc_server_opts so = {0};
	wq_rpc_client_opts co = {0};
	wq_rpc_server *srv;
	char url[400], err[256];

	(void)argc;
	(void)argv;
	snprintf(url, sizeof(url), "ipc://%s/rpc.sock", fz_tmpdir());
	so.workers = 2;
	so.blocking_threads = 1;
	so.blocking_queue = 4;
	co.timeout_ms = 5000;
	co.retries = -1;
	if (wq_rpc_server_open(url, &so, &srv, err, sizeof(err)) != 0 ||
	    wq_rpc_server_add_fast_service(srv, &predictor, err, sizeof(err)) != 0 ||
	    wq_rpc_server_add_service(srv, &registry, err, sizeof(err)) != 0 ||
	    wq_rpc_server_set_authorizer(srv, authorize, NULL) != 0 ||
	    wq_rpc_server_start(srv, err, sizeof(err)) != 0 ||
	    wq_rpc_client_open(url, &co, &client, err, sizeof(err)) != 0) {
		fprintf(stderr, "fuzz_rpc_envelope: %s\n", err);
		abort();
	}
	/* the server lives as long as the process: closing it races libFuzzer's exit */
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	Wineq__V1__RpcResponse *r;
	uint8_t *out = NULL;
	size_t outlen = 0;
	char err[256];

	if (wq_rpc_client_send_raw(client, data, size, &out, &outlen, err, sizeof(err)) != 0) {
		fprintf(stderr, "fuzz_rpc_envelope: no answer: %s\n", err);
		abort();
	}
	r = wineq__v1__rpc_response__unpack(NULL, outlen, out);
	if (r == NULL)
		abort();
	wineq__v1__rpc_response__free_unpacked(r, NULL);
	free(out);
	return 0;
}
