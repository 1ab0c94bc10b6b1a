// Package testsuite groups the end-to-end suites that run the whole product on the rigs of
// internal/testrig:
//
//   - e2e: the dev stack in-process, driven by a browser and by the CLI;
//   - outage: a PostgreSQL outage and an apiserver outage, and what the product does after;
//   - noisy: one tenant flooding every shared path while another is measured (run alone);
//   - charttest: the Helm chart rendered and checked (production values, Argo CD scripts).
package testsuite
