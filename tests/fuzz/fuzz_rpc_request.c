/* Every RPC method's request message, decoded as the server decodes a payload: the first byte
 * picks the method among the Predictor and Registry services' descriptors (so a new method is
 * fuzzed without touching this file), the rest is the payload, unpacked through an allocator
 * with a budget (WQ_RPC_BUDGET_FACTOR times the payload cap of the Predictor's small methods).
 * A message that decodes must be valid and encode to its announced size. (No decode-encode
 * round trip is required: protobuf-c keeps unknown fields, field number 0 included, and
 * re-encodes them in a normal form.) */
#include "fuzz_common.h"
#include "wineq/v1/wineq.pb-c.h"
#include "rpc/wq_rpc.h"

#include <stdlib.h>
#include <string.h>

typedef struct budget {
	size_t used, max;
} budget;

static void *budget_alloc(void *data, size_t size)
{
	budget *b = data;
	size_t *p;

	if (size > b->max - b->used || size + sizeof(size_t) < size)
		return NULL;
	p = malloc(size + sizeof(size_t));
	if (p == NULL)
		return NULL;
	b->used += size;
	p[0] = size;
	return p + 1;
}

static void budget_free(void *data, void *ptr)
{
	budget *b = data;
	size_t *p = ptr;

	if (p == NULL)
		return;
	b->used -= p[-1];
	free(p - 1);
}

static const ProtobufCServiceDescriptor *const services[] = {
    &wineq__v1__predictor__descriptor,
    &wineq__v1__registry__descriptor,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const ProtobufCMessageDescriptor *md = NULL;
	budget b = {0, (size_t)WQ_RPC_BUDGET_FACTOR * WQ_RPC_LIMIT_SMALL};
	ProtobufCAllocator alloc = {budget_alloc, budget_free, &b};
	ProtobufCMessage *m;
	size_t total = 0, pick, n;
	uint8_t *buf;

	if (size < 1)
		return 0;
	for (size_t s = 0; s < sizeof(services) / sizeof(services[0]); s++)
		total += services[s]->n_methods;
	pick = data[0] % total;
	for (size_t s = 0; md == NULL; s++) {
		if (pick < services[s]->n_methods)
			md = services[s]->methods[pick].input;
		else
			pick -= services[s]->n_methods;
	}
	m = protobuf_c_message_unpack(md, &alloc, size - 1, data + 1);
	if (m == NULL) {
		if (b.used != 0)
			abort(); /* a failed decode gives everything back */
		return 0;
	}
	if (!protobuf_c_message_check(m))
		abort();
	n = protobuf_c_message_get_packed_size(m);
	buf = malloc(n > 0 ? n : 1);
	if (buf == NULL)
		abort();
	if (protobuf_c_message_pack(m, buf) != n)
		abort();
	free(buf);
	protobuf_c_message_free_unpacked(m, &alloc);
	if (b.used != 0)
		abort();
	return 0;
}
