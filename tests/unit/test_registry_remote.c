/* The remote registry: an in-process wq_rpc server on tcp://127.0.0.1:0 serves wq_registry_server
 * over a local registry in a WINEQ_HOME of its own, and the whole registry contract runs against
 * the remote implementation (WQ_TEST_TRACKING_URI names the server). Then what only a remote
 * registry has: an absent server, hostile requests sent straight to the service (each must get
 * its code while the server goes on answering), transfers split over several messages, and
 * concurrent clients. */
#include "registry_contract.h"
#include "wq_test.h"

#include "ml/wq_bundle.h"
#include "base/wq_error.h"
#include "rpc/wq_registry_wire.h"
#include "registry/wq_registry.h"
#include "registry/wq_registry_server.h"
#include "rpc/wq_rpc_client.h"
#include "rpc/wq_rpc_server.h"
#include "base/wq_sha256.h"
#include "ml/wq_train.h"

#include "wineq/v1/wineq.pb-c.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>

#define M(name) "wineq.v1.Registry/" name

/* The server, for the whole program. */
static struct {
	char home[512];
	char url[256];
	char root[700]; /* its artifact root URI */
	wq_registry *backend;
	ProtobufCService *svc;
	wq_rpc_server *srv;
} sv;

/* The remote-specific group's clients. */
static struct {
	char home[512];
	wq_registry *r;        /* the remote registry */
	wq_rpc_client *client; /* raw calls to the service */
	char run_id[WQ_RUN_ID_LEN + 1];
} cx;

static int server_start(void)
{
	char track[700], arts[700], err[1024] = "";
	wq_config cfg;

	if (wq_test_tmpdir(sv.home, sizeof(sv.home)) == NULL)
		return -1;
	setenv("WINEQ_HOME", sv.home, 1);
	snprintf(track, sizeof(track), "sqlite:///%s/registry.db", sv.home);
	snprintf(arts, sizeof(arts), "file://%s/artifacts", sv.home);
	if (wq_config_resolve(track, arts, NULL, &cfg, err, sizeof(err)) != WQ_OK ||
	    wq_registry_local_open(&cfg, &sv.backend, err, sizeof(err)) != WQ_OK ||
	    wq_registry_server_new(sv.backend, &sv.svc, err, sizeof(err)) != WQ_OK ||
	    wq_rpc_server_open("tcp://127.0.0.1:0", NULL, &sv.srv, err, sizeof(err)) != WQ_OK ||
	    wq_rpc_server_add_service(sv.srv, sv.svc, err, sizeof(err)) != WQ_OK ||
	    wq_rpc_server_start(sv.srv, err, sizeof(err)) != WQ_OK) {
		fprintf(stderr, "server: %s\n", err);
		return -1;
	}
	snprintf(sv.url, sizeof(sv.url), "%s", wq_rpc_server_url(sv.srv));
	snprintf(sv.root, sizeof(sv.root), "%s", sv.backend->config.artifact_root);
	/* the contract opens its registry from these; the tamper case writes to the server's
	 * store through the artifact root */
	setenv("WQ_TEST_TRACKING_URI", sv.url, 1);
	setenv("WQ_TEST_ARTIFACT_ROOT", sv.root, 1);
	return 0;
}

static void server_stop(void)
{
	wq_rpc_server_close(sv.srv, 2000);
	wq_registry_server_free(sv.svc);
	wq_registry_close(sv.backend);
	wq_test_rmtree(sv.home);
}

static int open_remote(const char *url, wq_registry **out, char *err, size_t errlen)
{
	wq_config cfg;
	int rc = wq_config_resolve(url, NULL, NULL, &cfg, err, errlen);

	if (rc == WQ_OK)
		rc = wq_registry_open(&cfg, out, err, errlen);
	return rc;
}

static int group_setup(void **state)
{
	char err[1024] = "";

	(void)state;
	if (wq_test_tmpdir(cx.home, sizeof(cx.home)) == NULL)
		return -1;
	setenv("WINEQ_HOME", cx.home, 1);
	if (open_remote(sv.url, &cx.r, err, sizeof(err)) != WQ_OK ||
	    wq_rpc_client_open(sv.url, NULL, &cx.client, err, sizeof(err)) != WQ_OK ||
	    cx.r->ops->run_start(cx.r, "remote-hostile", NULL, 0, cx.run_id, err, sizeof(err)) !=
	        WQ_OK) {
		fprintf(stderr, "client: %s\n", err);
		return -1;
	}
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	wq_registry_close(cx.r);
	wq_rpc_client_close(cx.client);
	return wq_test_rmtree(cx.home);
}

/* Sends req to method and returns the gRPC code; msg gets the message. */
static int raw(const char *method, const void *req, const ProtobufCMessageDescriptor *resp_desc,
               char *msg, size_t msglen)
{
	ProtobufCMessage *resp = NULL;
	int code =
	    wq_rpc_client_call(cx.client, method, req, resp_desc, 0, NULL, &resp, msg, msglen);

	if (resp != NULL)
		protobuf_c_message_free_unpacked(resp, NULL);
	return code;
}

/* Expects code want from a raw call, with needle in the message. */
#define EXPECT_CODE(want, needle, method, req, desc)                                               \
	do {                                                                                       \
		char msg_[1024] = "";                                                              \
		int code_ = raw((method), (req), (desc), msg_, sizeof(msg_));                      \
		if (code_ != (want))                                                               \
			fail_msg("%s: got %s, want %s (%s)", (method), wq_rpc_code_name(code_),    \
			         wq_rpc_code_name(want), msg_);                                    \
		if (strstr(msg_, (needle)) == NULL)                                                \
			fail_msg("%s: '%s' does not mention '%s'", (method), msg_, (needle));      \
	} while (0)

/* The server still answers a well-formed call. */
static void assert_alive(void)
{
	Wineq__V1__ListRegisteredModelsRequest req =
	    WINEQ__V1__LIST_REGISTERED_MODELS_REQUEST__INIT;

	EXPECT_CODE(WQ_RPC_OK, "", M("ListRegisteredModels"), &req,
	            &wineq__v1__list_registered_models_response__descriptor);
}

static void file_data(Wineq__V1__FileData *f, const char *path, const char *content,
                      char sha[WQ_SHA256_HEXLEN])
{
	wineq__v1__file_data__init(f);
	wq_sha256_buf_hex(content, strlen(content), sha);
	f->path = (char *)path;
	f->size = (int64_t)strlen(content);
	f->sha256 = sha;
	f->content.data = (uint8_t *)content;
	f->content.len = strlen(content);
}

/* A port in 20000-32000 that nothing listens on: one we can bind (and release at once). */
static int free_port(void)
{
	for (int attempt = 0; attempt < 100; attempt++) {
		struct sockaddr_in a = {.sin_family = AF_INET};
		int fd = socket(AF_INET, SOCK_STREAM, 0), port = 20000 + rand() % 12001, ok;

		if (fd < 0)
			return -1;
		a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		a.sin_port = htons((uint16_t)port);
		ok = bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
		close(fd);
		if (ok)
			return port;
	}
	return -1;
}

static void test_server_not_running(void **state)
{
	char url[64], err[1024] = "", id[WQ_RUN_ID_LEN + 1];
	wq_registered_model **m = NULL;
	wq_registry *r = NULL;
	size_t n = 0;
	int port = free_port(), rc;

	(void)state;
	assert_true(port > 0);
	snprintf(url, sizeof(url), "tcp://127.0.0.1:%d", port);
	setenv("WINEQ_RPC_TIMEOUT_MS", "200", 1);
	rc = open_remote(url, &r, err, sizeof(err));
	unsetenv("WINEQ_RPC_TIMEOUT_MS");
	assert_int_equal(rc, WQ_OK); /* dialing happens in the background */
	rc = r->ops->model_list(r, &m, &n, err, sizeof(err));
	assert_int_equal(rc, WQ_EIO);
	if (strstr(err, "unavailable") == NULL || strstr(err, url) == NULL)
		fail_msg("unclear error: %s", err);
	err[0] = '\0';
	rc = r->ops->run_start(r, "nowhere", NULL, 0, id, err, sizeof(err));
	assert_int_equal(rc, WQ_EIO);
	assert_non_null(strstr(err, "unavailable"));
	wq_registry_close(r);

	/* a bad timeout is refused at open */
	setenv("WINEQ_RPC_TIMEOUT_MS", "soon", 1);
	rc = open_remote(url, &r, err, sizeof(err));
	unsetenv("WINEQ_RPC_TIMEOUT_MS");
	assert_int_equal(rc, WQ_EINVAL);
	assert_non_null(strstr(err, "WINEQ_RPC_TIMEOUT_MS"));
	/* TLS without a CA file to verify the server with */
	unsetenv("WINEQ_TLS_CA_FILE");
	snprintf(url, sizeof(url), "tls+tcp://127.0.0.1:%d", port);
	rc = open_remote(url, &r, err, sizeof(err));
	assert_int_equal(rc, WQ_EINVAL);
	assert_non_null(strstr(err, "CA"));
}

static void test_upload_path_traversal(void **state)
{
	const char *bad_paths[] = {
	    "../escape.txt", "/tmp/absolute.txt", "a/../../escape.txt", "a//b", "..", "a/./b"};
	Wineq__V1__UploadArtifactsRequest req = WINEQ__V1__UPLOAD_ARTIFACTS_REQUEST__INIT;
	Wineq__V1__FileData f, *fp[2] = {&f, &f};
	char sha[WQ_SHA256_HEXLEN], probe[700];
	wq_run *run = NULL;
	struct stat st;
	char err[1024];

	(void)state;
	req.run_id = cx.run_id;
	req.artifact_path = "notes";
	req.files = fp;
	req.n_files = 1;
	for (size_t i = 0; i < sizeof(bad_paths) / sizeof(bad_paths[0]); i++) {
		file_data(&f, bad_paths[i], "pwned\n", sha);
		EXPECT_CODE(WQ_RPC_INVALID_ARGUMENT, "artifact file path", M("UploadArtifacts"),
		            &req, &wineq__v1__upload_artifacts_response__descriptor);
	}
	/* the artifact path (a store key prefix) is checked too */
	file_data(&f, "ok.txt", "fine\n", sha);
	req.artifact_path = "../../outside";
	EXPECT_CODE(WQ_RPC_INVALID_ARGUMENT, "artifact path", M("UploadArtifacts"), &req,
	            &wineq__v1__upload_artifacts_response__descriptor);
	req.artifact_path = "";
	EXPECT_CODE(WQ_RPC_INVALID_ARGUMENT, "artifact path", M("UploadArtifacts"), &req,
	            &wineq__v1__upload_artifacts_response__descriptor);
	/* the same path twice */
	req.artifact_path = "notes";
	req.n_files = 2;
	EXPECT_CODE(WQ_RPC_INVALID_ARGUMENT, "twice", M("UploadArtifacts"), &req,
	            &wineq__v1__upload_artifacts_response__descriptor);
	req.n_files = 1;
	assert_alive();
	/* nothing escaped the staging directory or was recorded */
	snprintf(probe, sizeof(probe), "%s/escape.txt", sv.home);
	assert_int_not_equal(stat(probe, &st), 0);
	snprintf(probe, sizeof(probe), "%s/tmp/escape.txt", sv.home);
	assert_int_not_equal(stat(probe, &st), 0);
	assert_int_equal(cx.r->ops->run_get(cx.r, cx.run_id, &run, err, sizeof(err)), WQ_OK);
	assert_int_equal(run->nartifacts, 0);
	wq_run_free(run);
	/* a good upload still works, and the staging area is emptied afterwards */
	EXPECT_CODE(WQ_RPC_OK, "", M("UploadArtifacts"), &req,
	            &wineq__v1__upload_artifacts_response__descriptor);
	assert_int_equal(cx.r->ops->run_get(cx.r, cx.run_id, &run, err, sizeof(err)), WQ_OK);
	assert_int_equal(run->nartifacts, 1);
	assert_string_equal(run->artifacts[0].path, "notes/ok.txt");
	wq_run_free(run);
	{
		wq_artifact_file *left = NULL;
		size_t nleft = 99;

		snprintf(probe, sizeof(probe), "%s/tmp", sv.home);
		assert_int_equal(wq_registry_wire_tree_list(probe, &left, &nleft, NULL, 0), WQ_OK);
		assert_int_equal(nleft, 0);
		wq_artifact_files_free(left, nleft);
	}
}

static void test_upload_bad_sizes(void **state)
{
	Wineq__V1__UploadArtifactsRequest req = WINEQ__V1__UPLOAD_ARTIFACTS_REQUEST__INIT;
	Wineq__V1__FileData f, *fp = &f;
	char sha[WQ_SHA256_HEXLEN], path[700], err[1024] = "";
	wq_rpc_client *big = NULL;
	wq_rpc_client_opts o = {0};
	uint8_t *huge;
	size_t hugelen = WQ_RPC_MAX_MESSAGE + 1024 * 1024;
	int fd;

	(void)state;
	req.run_id = cx.run_id;
	req.artifact_path = "sizes";
	req.files = &fp;
	req.n_files = 1;
	/* declared size and content disagree */
	file_data(&f, "a.txt", "four", sha);
	f.size = 5;
	EXPECT_CODE(WQ_RPC_INVALID_ARGUMENT, "declared size", M("UploadArtifacts"), &req,
	            &wineq__v1__upload_artifacts_response__descriptor);
	/* a size above the file limit, whatever the content */
	f.size = WQ_REGISTRY_WIRE_MAX_FILE + 1;
	EXPECT_CODE(WQ_RPC_OUT_OF_RANGE, "bytes", M("UploadArtifacts"), &req,
	            &wineq__v1__upload_artifacts_response__descriptor);
	f.size = -1;
	EXPECT_CODE(WQ_RPC_INVALID_ARGUMENT, "negative", M("UploadArtifacts"), &req,
	            &wineq__v1__upload_artifacts_response__descriptor);
	/* the digest must describe the bytes */
	file_data(&f, "a.txt", "four", sha);
	memcpy(sha, "00000000", 8);
	EXPECT_CODE(WQ_RPC_DATA_LOSS, "SHA-256", M("UploadArtifacts"), &req,
	            &wineq__v1__upload_artifacts_response__descriptor);
	f.sha256 = "not-a-digest";
	EXPECT_CODE(WQ_RPC_INVALID_ARGUMENT, "sha256", M("UploadArtifacts"), &req,
	            &wineq__v1__upload_artifacts_response__descriptor);
	f.sha256 = sha;

	/* a request above the message limit, from a client that does not enforce it: the
	 * transport drops it unread and closes the connection (the client sees UNAVAILABLE);
	 * the server goes on serving */
	o.max_message = 2 * WQ_RPC_MAX_MESSAGE;
	assert_int_equal(wq_rpc_client_open(sv.url, &o, &big, err, sizeof(err)), WQ_OK);
	huge = calloc(1, hugelen);
	assert_non_null(huge);
	wq_sha256_buf_hex(huge, hugelen, sha);
	f.path = "huge.bin";
	f.size = (int64_t)hugelen;
	f.sha256 = sha;
	f.content.data = huge;
	f.content.len = hugelen;
	{
		ProtobufCMessage *resp = NULL;
		char msg[512] = "";
		int code = wq_rpc_client_call(big, M("UploadArtifacts"), &req.base,
		                              &wineq__v1__upload_artifacts_response__descriptor, 0,
		                              NULL, &resp, msg, sizeof(msg));

		assert_null(resp);
		if (code != WQ_RPC_UNAVAILABLE)
			fail_msg("oversize request: %s (%s)", wq_rpc_code_name(code), msg);
	}
	free(huge);
	wq_rpc_client_close(big);
	assert_alive();

	/* through the client library: refused before anything is sent, naming the file */
	snprintf(path, sizeof(path), "%s/big", cx.home);
	assert_int_equal(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/big/too-big.bin", cx.home);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, WQ_REGISTRY_WIRE_MAX_FILE + 1),
	                 0); /* sparse: costs no disk */
	close(fd);
	snprintf(path, sizeof(path), "%s/big", cx.home);
	assert_int_equal(
	    cx.r->ops->artifacts_log_dir(cx.r, cx.run_id, "big", path, err, sizeof(err)),
	    WQ_ERANGE);
	if (strstr(err, "too-big.bin") == NULL || strstr(err, "bytes") == NULL)
		fail_msg("unclear error: %s", err);
	assert_alive();
}

static void test_hostile_model_requests(void **state)
{
	Wineq__V1__GetRegisteredModelRequest get = WINEQ__V1__GET_REGISTERED_MODEL_REQUEST__INIT;
	Wineq__V1__GetModelVersionRequest getv = WINEQ__V1__GET_MODEL_VERSION_REQUEST__INIT;
	Wineq__V1__TransitionStageRequest tr = WINEQ__V1__TRANSITION_STAGE_REQUEST__INIT;
	Wineq__V1__EndRunRequest end = WINEQ__V1__END_RUN_REQUEST__INIT;
	Wineq__V1__ResolveModelUriRequest res = WINEQ__V1__RESOLVE_MODEL_URI_REQUEST__INIT;
	Wineq__V1__DownloadArtifactsRequest dl = WINEQ__V1__DOWNLOAD_ARTIFACTS_REQUEST__INIT;
	Wineq__V1__CreateModelVersionRequest cr = WINEQ__V1__CREATE_MODEL_VERSION_REQUEST__INIT;
	Wineq__V1__BundleFiles bf = WINEQ__V1__BUNDLE_FILES__INIT;
	Wineq__V1__SearchRunsRequest sr = WINEQ__V1__SEARCH_RUNS_REQUEST__INIT;
	Wineq__V1__FileData f, *fp = &f;
	wq_registered_model *m = NULL;
	char sha[WQ_SHA256_HEXLEN], uri[800], err[1024] = "";
	char *paths[] = {"../../registry.db"};

	(void)state;
	get.name = "no-such-model";
	EXPECT_CODE(WQ_RPC_NOT_FOUND, "no-such-model", M("GetRegisteredModel"), &get,
	            &wineq__v1__get_registered_model_response__descriptor);
	assert_int_equal(cx.r->ops->model_get(cx.r, "no-such-model", &m, err, sizeof(err)),
	                 WQ_ENOENT);
	assert_non_null(strstr(err, "no-such-model"));
	get.name = "../../etc";
	EXPECT_CODE(WQ_RPC_INVALID_ARGUMENT, "", M("GetRegisteredModel"), &get,
	            &wineq__v1__get_registered_model_response__descriptor);
	getv.name = "no-such-model";
	getv.version = -7;
	EXPECT_CODE(WQ_RPC_NOT_FOUND, "no-such-model", M("GetModelVersion"), &getv,
	            &wineq__v1__get_model_version_response__descriptor);
	tr.name = "no-such-model";
	tr.version = 1;
	tr.stage = (Wineq__V1__Stage)99;
	EXPECT_CODE(WQ_RPC_INVALID_ARGUMENT, "stage", M("TransitionStage"), &tr,
	            &wineq__v1__transition_stage_response__descriptor);
	end.run_id = cx.run_id;
	end.status = (Wineq__V1__RunStatus)-3;
	EXPECT_CODE(WQ_RPC_INVALID_ARGUMENT, "status", M("EndRun"), &end,
	            &wineq__v1__end_run_response__descriptor);
	sr.max_results = -1;
	EXPECT_CODE(WQ_RPC_OUT_OF_RANGE, "max_results", M("SearchRuns"), &sr,
	            &wineq__v1__search_runs_response__descriptor);

	/* URIs naming the server's own files */
	res.uri = "/etc";
	EXPECT_CODE(WQ_RPC_INVALID_ARGUMENT, "local path", M("ResolveModelUri"), &res,
	            &wineq__v1__resolve_model_uri_response__descriptor);
	res.uri = "file:///etc/passwd";
	EXPECT_CODE(WQ_RPC_INVALID_ARGUMENT, "artifact root", M("ResolveModelUri"), &res,
	            &wineq__v1__resolve_model_uri_response__descriptor);
	snprintf(uri, sizeof(uri), "%s/../registry.db", sv.root);
	dl.uri = uri;
	EXPECT_CODE(WQ_RPC_INVALID_ARGUMENT, "", M("DownloadArtifacts"), &dl,
	            &wineq__v1__download_artifacts_response__descriptor);
	snprintf(uri, sizeof(uri), "runs:/%s/../../..", cx.run_id);
	EXPECT_CODE(WQ_RPC_INVALID_ARGUMENT, "", M("DownloadArtifacts"), &dl,
	            &wineq__v1__download_artifacts_response__descriptor);
	snprintf(uri, sizeof(uri), "runs:/%s/notes", cx.run_id);
	dl.paths = paths;
	dl.n_paths = 1;
	EXPECT_CODE(WQ_RPC_INVALID_ARGUMENT, "artifact file path", M("DownloadArtifacts"), &dl,
	            &wineq__v1__download_artifacts_response__descriptor);

	/* versions: a hostile name, no source, a bundle that is not one */
	cr.name = "../evil";
	cr.source_case = WINEQ__V1__CREATE_MODEL_VERSION_REQUEST__SOURCE_ARTIFACT_PATH;
	cr.artifact_path = "model";
	cr.run_id = cx.run_id;
	EXPECT_CODE(WQ_RPC_INVALID_ARGUMENT, "model name", M("CreateModelVersion"), &cr,
	            &wineq__v1__create_model_version_response__descriptor);
	cr.name = "remote-hostile";
	cr.artifact_path = "../../registry.db";
	EXPECT_CODE(WQ_RPC_INVALID_ARGUMENT, "artifact path", M("CreateModelVersion"), &cr,
	            &wineq__v1__create_model_version_response__descriptor);
	cr.source_case = WINEQ__V1__CREATE_MODEL_VERSION_REQUEST__SOURCE__NOT_SET;
	EXPECT_CODE(WQ_RPC_INVALID_ARGUMENT, "artifact path", M("CreateModelVersion"), &cr,
	            &wineq__v1__create_model_version_response__descriptor);
	file_data(&f, WQ_BUNDLE_MANIFEST, "{\"format\": \"not-wineq\"}\n", sha);
	bf.files = &fp;
	bf.n_files = 1;
	cr.source_case = WINEQ__V1__CREATE_MODEL_VERSION_REQUEST__SOURCE_BUNDLE;
	cr.bundle = &bf;
	cr.run_id = "";
	EXPECT_CODE(WQ_RPC_FAILED_PRECONDITION, "", M("CreateModelVersion"), &cr,
	            &wineq__v1__create_model_version_response__descriptor);
	bf.n_files = 0;
	EXPECT_CODE(WQ_RPC_FAILED_PRECONDITION, "no files", M("CreateModelVersion"), &cr,
	            &wineq__v1__create_model_version_response__descriptor);
	assert_int_equal(cx.r->ops->model_get(cx.r, "remote-hostile", &m, err, sizeof(err)),
	                 WQ_ENOENT);
	assert_alive();
}

/* Bytes that are no protobuf message at all, to several methods. */
static void test_garbage_payloads(void **state)
{
	const char *methods[] = {M("UploadArtifacts"), M("CreateModelVersion"), M("SearchRuns"),
	                         M("ResolveModelUri"), M("GetRun")};
	const uint8_t garbage[] = {0xff, 0xff, 0xff, 0xff, 0x0f, 0x12,
	                           0x80, 0x80, 0x80, 0x80, 0x01};

	(void)state;
	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
		uint8_t *out = NULL;
		size_t outlen = 0;
		char msg[512] = "";
		int code = wq_rpc_client_call_bytes(cx.client, methods[i], garbage, sizeof(garbage),
		                                    0, NULL, &out, &outlen, msg, sizeof(msg));

		free(out);
		if (code != WQ_RPC_INVALID_ARGUMENT)
			fail_msg("%s: %s (%s)", methods[i], wq_rpc_code_name(code), msg);
	}
	assert_alive();
}

/* Writes n bytes of a deterministic pseudo-random pattern (seed) to path. */
static void write_pattern(const char *path, size_t n, uint32_t seed)
{
	uint8_t *b = malloc(n);
	uint32_t x = seed | 1;
	FILE *f;

	assert_non_null(b);
	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		b[i] = (uint8_t)x;
	}
	f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(b, 1, n, f), n);
	fclose(f);
	free(b);
}

static int same_file(const char *a, const char *b)
{
	char ha[WQ_SHA256_HEXLEN], hb[WQ_SHA256_HEXLEN];

	return wq_sha256_file_hex(a, ha, NULL, 0) == WQ_OK &&
	       wq_sha256_file_hex(b, hb, NULL, 0) == WQ_OK && strcmp(ha, hb) == 0;
}

/* 21 MiB in three files: more than one message each way, so the upload is split over calls
 * and the download continues with follow-ups for what the first reply had no room for. */
static void test_transfer_split_over_messages(void **state)
{
	const char *names[] = {"one.bin", "sub/two.bin", "sub/deeper/three.bin"};
	char src[700], dest[700], a[800], b[800], uri[128], err[1024] = "";
	wq_run *run = NULL;

	(void)state;
	snprintf(src, sizeof(src), "%s/split", cx.home);
	snprintf(a, sizeof(a), "%s/sub/deeper", src);
	assert_int_equal(mkdir(src, 0755), 0);
	snprintf(b, sizeof(b), "%s/sub", src);
	assert_int_equal(mkdir(b, 0755), 0);
	assert_int_equal(mkdir(a, 0755), 0);
	for (size_t i = 0; i < 3; i++) {
		snprintf(a, sizeof(a), "%s/%s", src, names[i]);
		write_pattern(a, 7u * 1024 * 1024, (uint32_t)(i + 7));
	}
	if (cx.r->ops->artifacts_log_dir(cx.r, cx.run_id, "split", src, err, sizeof(err)) != WQ_OK)
		fail_msg("upload: %s", err);
	assert_int_equal(cx.r->ops->run_get(cx.r, cx.run_id, &run, err, sizeof(err)), WQ_OK);
	{
		int found = 0;

		for (size_t i = 0; i < run->nartifacts; i++)
			found += strncmp(run->artifacts[i].path, "split/", 6) == 0 &&
			         run->artifacts[i].size == 7 * 1024 * 1024;
		assert_int_equal(found, 3);
	}
	wq_run_free(run);
	snprintf(uri, sizeof(uri), "runs:/%s/split", cx.run_id);
	snprintf(dest, sizeof(dest), "%s/split-back", cx.home);
	if (cx.r->ops->artifacts_get(cx.r, uri, dest, err, sizeof(err)) != WQ_OK)
		fail_msg("download: %s", err);
	for (size_t i = 0; i < 3; i++) {
		snprintf(a, sizeof(a), "%s/%s", src, names[i]);
		snprintf(b, sizeof(b), "%s/%s", dest, names[i]);
		if (!same_file(a, b))
			fail_msg("%s differs after the round trip", names[i]);
	}
	assert_alive();
}

typedef struct worker {
	wq_registry *r;
	int n, failures;
	char err[1024];
} worker;

static void *work(void *arg)
{
	worker *w = arg;
	char id[WQ_RUN_ID_LEN + 1];

	for (int i = 0; i < w->n; i++) {
		char key[32];

		snprintf(key, sizeof(key), "p%d", i);
		if (w->r->ops->run_start(w->r, "remote-concurrent", NULL, 0, id, w->err,
		                         sizeof(w->err)) != WQ_OK ||
		    w->r->ops->param_log(w->r, id, key, "v", w->err, sizeof(w->err)) != WQ_OK ||
		    w->r->ops->metric_log(w->r, id, "m", i, 0, w->err, sizeof(w->err)) != WQ_OK ||
		    w->r->ops->run_end(w->r, id, WQ_RUN_FINISHED, 0, w->err, sizeof(w->err)) !=
		        WQ_OK)
			w->failures++;
	}
	return NULL;
}

/* Clients calling at once: the service serializes backend calls, nothing is lost. */
static void test_concurrent_clients(void **state)
{
	const char *exps[] = {"remote-concurrent"};
	worker w[4];
	pthread_t t[4];
	wq_run **runs = NULL;
	char *next = NULL, err[1024] = "";
	size_t n = 0;

	(void)state;
	for (int i = 0; i < 4; i++) {
		memset(&w[i], 0, sizeof(w[i]));
		w[i].n = 10;
		if (i % 2 == 0)
			w[i].r = cx.r; /* one registry shared by two threads, others of their own */
		else
			assert_int_equal(open_remote(sv.url, &w[i].r, err, sizeof(err)), WQ_OK);
		assert_int_equal(pthread_create(&t[i], NULL, work, &w[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		if (w[i].failures > 0)
			fail_msg("worker %d: %d failures (%s)", i, w[i].failures, w[i].err);
		if (i % 2 == 1)
			wq_registry_close(w[i].r);
	}
	assert_int_equal(cx.r->ops->runs_search(cx.r, exps, 1, "attributes.status = 'FINISHED'",
	                                        NULL, 100, NULL, &runs, &n, &next, err,
	                                        sizeof(err)),
	                 WQ_OK);
	assert_int_equal(n, 40);
	assert_null(next);
	wq_runs_free(runs, n);
}

/* Resolved bundles land in $WINEQ_HOME/cache/<manifest sha256>/ as with the local registry;
 * an entry that verifies is reused, a damaged one is fetched again. */
static void test_resolve_cache(void **state)
{
	char data[1024], bundle[700], want[800], file[900], uri[128], err[1024] = "";
	char *dir = NULL, *again = NULL;
	wq_model_version *v = NULL;
	wq_bundle *b = NULL, *check = NULL;
	wq_train_opts o;
	int64_t ver;
	FILE *f;

	(void)state;
	wq_test_path(data, sizeof(data), "data/winequality-red.csv");
	wq_train_opts_default(&o);
	o.data_path = data;
	o.svm.kernel = WQ_KERNEL_LINEAR;
	o.svm.probability = 0;
	o.svm.C = 0.1;
	assert_int_equal(wq_train_run(&o, &b, err, sizeof(err)), WQ_OK);
	snprintf(bundle, sizeof(bundle), "%s/cache-bundle", cx.home);
	assert_int_equal(wq_bundle_save(b, bundle, 0, err, sizeof(err)), WQ_OK);
	wq_bundle_free(b);
	if (cx.r->ops->version_create(cx.r, "remote-cache", bundle, NULL, NULL, NULL, &ver, err,
	                              sizeof(err)) != WQ_OK)
		fail_msg("register: %s", err);
	snprintf(uri, sizeof(uri), "models:/remote-cache/%" PRId64, ver);
	assert_int_equal(cx.r->ops->resolve(cx.r, uri, &dir, &v, err, sizeof(err)), WQ_OK);
	snprintf(want, sizeof(want), "%s/cache/%s", cx.home, v->sha256);
	assert_string_equal(dir, want);
	assert_int_equal(cx.r->ops->resolve(cx.r, uri, &again, NULL, err, sizeof(err)), WQ_OK);
	assert_string_equal(again, dir);
	free(again);
	again = NULL;
	/* damage the cached copy: the next resolve replaces it with verified bytes */
	snprintf(file, sizeof(file), "%s/%s", dir, WQ_BUNDLE_MODEL_FILE);
	f = fopen(file, "a");
	assert_non_null(f);
	fputs("garbage\n", f);
	fclose(f);
	assert_int_not_equal(wq_bundle_load(dir, 0, &check, NULL, 0), WQ_OK);
	if (cx.r->ops->resolve(cx.r, uri, &again, NULL, err, sizeof(err)) != WQ_OK)
		fail_msg("resolve over a damaged cache entry: %s", err);
	assert_string_equal(again, dir);
	assert_int_equal(wq_bundle_load(again, 0, &check, err, sizeof(err)), WQ_OK);
	wq_bundle_free(check);
	free(again);
	free(dir);
	wq_model_version_free(v);
}

/* Exact statuses survive the coarser gRPC codes through the message tag, and only a tag that
 * agrees with the code is believed. */
static void test_status_tag(void **state)
{
	char msg[512];
	int code;

	(void)state;
	code = wq_registry_wire_status_message(WQ_EPARSE, "bad filter", msg, sizeof(msg));
	assert_int_equal(code, WQ_RPC_INVALID_ARGUMENT);
	assert_int_equal(wq_registry_wire_status_of_reply(code, msg), WQ_EPARSE);
	assert_string_equal(msg, "bad filter");
	code = wq_registry_wire_status_message(WQ_ENOENT, "no such run", msg, sizeof(msg));
	assert_string_equal(msg, "no such run"); /* the code says it all: no tag */
	assert_int_equal(wq_registry_wire_status_of_reply(code, msg), WQ_ENOENT);
	snprintf(msg, sizeof(msg), "x" WQ_REGISTRY_WIRE_STATUS_TAG "%d]", WQ_ENOENT);
	assert_int_equal(wq_registry_wire_status_of_reply(WQ_RPC_INVALID_ARGUMENT, msg), WQ_EINVAL);
	snprintf(msg, sizeof(msg), "x" WQ_REGISTRY_WIRE_STATUS_TAG "-4] trailing");
	assert_int_equal(wq_registry_wire_status_of_reply(WQ_RPC_INVALID_ARGUMENT, msg), WQ_EINVAL);
	snprintf(msg, sizeof(msg), "x" WQ_REGISTRY_WIRE_STATUS_TAG "99999999999999999999]");
	assert_int_equal(wq_registry_wire_status_of_reply(WQ_RPC_INTERNAL, msg), WQ_EIO);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_status_tag),
	    cmocka_unit_test(test_server_not_running),
	    cmocka_unit_test(test_upload_path_traversal),
	    cmocka_unit_test(test_upload_bad_sizes),
	    cmocka_unit_test(test_hostile_model_requests),
	    cmocka_unit_test(test_garbage_payloads),
	    cmocka_unit_test(test_transfer_split_over_messages),
	    cmocka_unit_test(test_resolve_cache),
	    cmocka_unit_test(test_concurrent_clients),
	};
	int failed;

	srand((unsigned)getpid());
	if (server_start() != 0)
		return 1;
	failed = registry_contract_run();
	failed +=
	    cmocka_run_group_tests_name("registry remote", tests, group_setup, group_teardown);
	server_stop();
	return failed;
}
