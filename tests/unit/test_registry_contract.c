/* The registry contract against the local registry (or whatever WQ_TEST_TRACKING_URI /
 * WQ_TEST_ARTIFACT_ROOT name): the suite itself is in registry_contract.c. */
#include "registry_contract.h"

int main(void)
{
	return registry_contract_run();
}
