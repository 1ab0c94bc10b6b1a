// Package testrig groups the rigs the tests, `aias dev` and the bench stand on, none of
// which is in the image's binary (built with -tags nodev):
//
//   - testenv: the control plane (envtest's kube-apiserver and etcd, plus
//     kube-controller-manager and kube-scheduler), PostgreSQL and a real node;
//     testenv/fixtures: the set-up every integration package shares;
//   - storetest: a PostgreSQL database per test package;
//   - nodeagent: the kubelet of one Node, running Pods as local processes;
//   - ociimage: the aias image built in-process;
//   - realnode: a one-node cluster with a real kubelet, containerd and kube-proxy, the
//     chart installed with the Helm SDK;
//   - browsertest: Chromium driven by chromedp.
//
// The suites that use them end to end are under internal/testsuite.
package testrig
