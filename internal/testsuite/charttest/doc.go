// Package charttest holds the tests of the Helm chart charts/aias and of the Argo CD health
// checks in charts/aias/files/argocd: lint, render with the Helm SDK (as `helm template`
// does), the values schema, and every Lua script on objects built from the API types. They
// need no cluster.
package charttest
