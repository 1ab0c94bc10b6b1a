package cli

import (
	"fmt"
	"os"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	ctrl "sigs.k8s.io/controller-runtime"
)

// clusterConfig is the manager's and the webhookserver's connection to the cluster:
// in-cluster in a pod, else $KUBECONFIG or ~/.kube/config.
func clusterConfig(command string) (*rest.Config, error) {
	cfg, err := ctrl.GetConfig()
	return cfg, explainNoKubeconfig(command, err)
}

// explainNoKubeconfig replaces client-go's answer to a missing kubeconfig ("no
// configuration has been provided, try setting KUBERNETES_MASTER environment variable",
// a variable nothing reads any more) with where the command looked and how to point it
// at a cluster. Other errors pass unchanged.
func explainNoKubeconfig(command string, err error) error {
	if err == nil || !clientcmd.IsEmptyConfig(err) {
		return err
	}
	where := "~/.kube/config does not exist or selects no context"
	if kc := os.Getenv(clientcmd.RecommendedConfigPathEnvVar); kc != "" {
		where = fmt.Sprintf("KUBECONFIG=%s names no file with a current context", kc)
	}
	return fmt.Errorf("no Kubernetes cluster to talk to: %s, and this is not a pod with a ServiceAccount. "+
		"Point `%s %s` at a cluster: set KUBECONFIG to a kubeconfig file (`make dev` writes .aias-dev/kubeconfig), "+
		"or pick a context in ~/.kube/config with `kubectl config use-context <name>`", where, progName(), command)
}
