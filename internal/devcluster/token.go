package devcluster

import (
	"context"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
)

// The dashboard logs in as the sample tenant's CI ServiceAccount (config/samples: an
// editor of tenant acme), so what the dev UI shows is what a tenant member sees.
const (
	dashboardNamespace      = "acme"
	dashboardServiceAccount = "ci"
)

// dashboardToken makes sure the ServiceAccount exists and requests a 24-hour token for
// it with the TokenRequest API (the apiserver itself signs it; no controller needed).
func dashboardToken(ctx context.Context, cfg *rest.Config) (string, error) {
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return "", err
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: dashboardServiceAccount, Namespace: dashboardNamespace}}
	if _, err := cs.CoreV1().ServiceAccounts(dashboardNamespace).Create(ctx, sa, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return "", err
	}
	tr, err := cs.CoreV1().ServiceAccounts(dashboardNamespace).CreateToken(ctx, dashboardServiceAccount, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To(int64((24 * time.Hour).Seconds()))},
	}, metav1.CreateOptions{})
	if err != nil {
		return "", err
	}
	return tr.Status.Token, nil
}
