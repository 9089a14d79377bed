/* The registry events feed as `wineq-client models watch` receives it (wq_regevents_decode):
 * a topic, a NUL and a RegistryEvent, from whatever publisher the subscriber dialled. What
 * decodes must pass the publisher's own checks: encoding it again succeeds and decodes to the
 * same event. */
#include "fuzz_common.h"
#include "rpc/wq_regevents.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	return 0;
}

static void same(const char *a, const char *b)
{
	if (strcmp(a, b) != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	wq_model_event *e = NULL, *again = NULL;
	uint8_t *buf = NULL;
	size_t len = 0;
	char err[512];

	if (wq_regevents_decode(data, size, &e, err, sizeof(err)) != WQ_OK) {
		if (e != NULL)
			abort(); /* nothing handed out on failure */
		return 0;
	}
	if (wq_regevents_encode(e, &buf, &len, err, sizeof(err)) != WQ_OK)
		abort();
	if (wq_regevents_decode(buf, len, &again, err, sizeof(err)) != WQ_OK)
		abort();
	if (again->id != e->id || again->version != e->version || again->time_ms != e->time_ms)
		abort();
	same(again->name, e->name);
	same(again->kind, e->kind);
	same(again->from, e->from);
	same(again->to, e->to);
	same(again->alias, e->alias);
	same(again->actor, e->actor);
	wq_model_events_free(again, 1);
	wq_model_events_free(e, 1);
	free(buf);
	return 0;
}
