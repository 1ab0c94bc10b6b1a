package testenv

import (
	"bytes"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"path/filepath"

	"k8s.io/client-go/util/cert"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// KubernetesServiceIP is the ClusterIP of Service default/kubernetes: the first address
// of envtest's --service-cluster-ip-range 10.0.0.0/24. Pods reach the apiserver there.
const KubernetesServiceIP = "10.0.0.1"

// servePods makes the apiserver reachable from pods on a node whose address is nodeIP:
// it listens on every address, advertises nodeIP (so Service default/kubernetes, and with
// it every pod's in-cluster config, points there through kube-proxy), and serves a
// certificate naming the Service's ClusterIP, nodeIP and the kubernetes.default names,
// which envtest's own (localhost only) does not. The certificates go in a directory of
// ours, removed by Stop.
func servePods(env *envtest.Environment, nodeIP string) (certDir string, err error) {
	if net.ParseIP(nodeIP) == nil {
		return "", fmt.Errorf("node IP %q is not an IP address", nodeIP)
	}
	dir, err := os.MkdirTemp("", "aias-apiserver-certs-")
	if err != nil {
		return "", err
	}
	defer func() {
		if err != nil {
			_ = os.RemoveAll(dir)
		}
	}()
	chain, key, ca, err := ServingCert("127.0.0.1",
		[]net.IP{net.ParseIP(KubernetesServiceIP), net.ParseIP(nodeIP)},
		[]string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"})
	if err != nil {
		return "", err
	}
	saCert, saKey, err := cert.GenerateSelfSignedCertKey("service-accounts", nil, nil)
	if err != nil {
		return "", err
	}
	// envtest keeps certificates it finds in the directory (apiserver.crt present), so it
	// must find the service-account signing pair there too, under its names.
	for name, b := range map[string][]byte{"apiserver.crt": chain, "apiserver.key": key, "sa-signer.crt": saCert, "sa-signer.key": saKey} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			return "", err
		}
	}
	api := env.ControlPlane.GetAPIServer()
	api.CertDir = dir
	api.SecureServing.CA = ca
	api.Configure().Set("bind-address", "0.0.0.0").Set("advertise-address", nodeIP)
	return dir, nil
}

// ServingCert is a serving certificate for host (and ips and dns) signed by a fresh CA:
// the chain (certificate, then CA) and key for the server, the CA alone for its clients
// (a kubeconfig, a webhook's caBundle).
func ServingCert(host string, ips []net.IP, dns []string) (chain, key, ca []byte, err error) {
	chain, key, err = cert.GenerateSelfSignedCertKey(host, ips, dns)
	if err != nil {
		return nil, nil, nil, err
	}
	first, rest := pem.Decode(chain)
	if first == nil || len(bytes.TrimSpace(rest)) == 0 {
		return nil, nil, nil, fmt.Errorf("unexpected serving certificate chain")
	}
	return chain, key, bytes.TrimSpace(rest), nil
}
