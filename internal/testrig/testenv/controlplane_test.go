package testenv

import (
	"context"
	"os"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// The whole control plane comes up: the controllers act (a namespace gets its default
// ServiceAccount) and the scheduler binds a Pod to a Node.
func TestControlPlane(t *testing.T) {
	start := time.Now()
	env, err := Start()
	if err != nil {
		t.Fatal(err)
	}
	defer env.Stop()
	t.Logf("control plane up in %v", time.Since(start))
	ctx := context.Background()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "cp"}}
	if err := env.Client.Create(ctx, ns); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		if err := env.Client.Get(ctx, client.ObjectKey{Namespace: "cp", Name: "default"}, &corev1.ServiceAccount{}); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no default ServiceAccount in namespace cp")
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("default ServiceAccount after %v", time.Since(start))
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}}
	if err := env.Client.Create(ctx, node); err != nil {
		t.Fatal(err)
	}
	// kube-controller-manager may write the new Node first (the TTL controller's
	// annotation, the node lifecycle controller's taint): read again on a conflict.
	if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := env.Client.Get(ctx, client.ObjectKey{Name: "n1"}, node); err != nil {
			return err
		}
		node.Status = corev1.NodeStatus{
			Capacity:    corev1.ResourceList{corev1.ResourcePods: mustQ("100"), corev1.ResourceCPU: mustQ("4"), corev1.ResourceMemory: mustQ("8Gi")},
			Allocatable: corev1.ResourceList{corev1.ResourcePods: mustQ("100"), corev1.ResourceCPU: mustQ("4"), corev1.ResourceMemory: mustQ("8Gi")},
			Conditions:  []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady", LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now()}},
		}
		return env.Client.Status().Update(ctx, node)
	}); err != nil {
		t.Fatal(err)
	}
	// kube-controller-manager writes the new Node too (the TTL controller's annotation):
	// retry on a conflict.
	if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := env.Client.Get(ctx, client.ObjectKey{Name: "n1"}, node); err != nil {
			return err
		}
		t.Logf("node taints %v", node.Spec.Taints)
		node.Spec.Taints = nil
		return env.Client.Update(ctx, node)
	}); err != nil {
		t.Fatal(err)
	}
	f := false
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "cp", Name: "p"}, Spec: corev1.PodSpec{
		AutomountServiceAccountToken: &f, RestartPolicy: corev1.RestartPolicyNever,
		Containers: []corev1.Container{{Name: "c", Image: "busybox", Command: []string{"true"}}}}}
	if err := env.Client.Create(ctx, pod); err != nil {
		t.Fatal(err)
	}
	for {
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(pod), pod); err != nil {
			t.Fatal(err)
		}
		if pod.Spec.NodeName != "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("pod not scheduled: %+v", pod.Status)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("pod bound to %s after %v", pod.Spec.NodeName, time.Since(start))
	if b, err := os.ReadFile(env.ComponentLog("kube-controller-manager")); err == nil && os.Getenv("SHOW_KCM") != "" {
		t.Log(string(b))
	}
}

func mustQ(s string) resource.Quantity { return resource.MustParse(s) }
