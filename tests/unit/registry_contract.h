/* The registry contract suite (registry_contract.c), shared by the runners
 * test_registry_contract (local, or the registry the environment names) and
 * test_registry_remote (an in-process server). */
#ifndef REGISTRY_CONTRACT_H
#define REGISTRY_CONTRACT_H

/* Runs every contract case (cmocka group "registry contract") against the registry that
 * WQ_TEST_TRACKING_URI / WQ_TEST_ARTIFACT_ROOT name (default: local below a fresh WINEQ_HOME,
 * which the suite sets for the time it runs). Returns the number of failed cases (0: all
 * passed). */
int registry_contract_run(void);

#endif
