package controllers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
)

// TenantClusterRole is the aias ClusterRole a member role binds to: aias-<role>.
func TenantClusterRole(role aiasv1alpha1.MemberRole) string { return "aias-" + string(role) }

// memberSubject is the RBAC subject of a member; ServiceAccounts without a namespace
// live in the tenant namespace.
func memberSubject(tenantNS string, m aiasv1alpha1.TenantMember) rbacv1.Subject {
	switch m.Kind {
	case aiasv1alpha1.MemberServiceAccount:
		ns := m.Namespace
		if ns == "" {
			ns = tenantNS
		}
		return rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Name: m.Name, Namespace: ns}
	case aiasv1alpha1.MemberGroup:
		return rbacv1.Subject{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: m.Name}
	default:
		return rbacv1.Subject{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: m.Name}
	}
}

// memberRoleBindingName is `aias-<role>-<hash of kind/namespace/name>`: deterministic, so a
// restarted reconcile finds it, and different per role, so a role change creates a new
// binding (a RoleBinding's roleRef is immutable) and deletes the old one.
func memberRoleBindingName(role aiasv1alpha1.MemberRole, s rbacv1.Subject) string {
	sum := sha256.Sum256([]byte(s.Kind + "/" + s.Namespace + "/" + s.Name))
	return childName("aias", string(role), hex.EncodeToString(sum[:])[:16])
}

// desiredRoleBindings are the RoleBindings the Tenant's members call for, by name.
func desiredRoleBindings(t *aiasv1alpha1.Tenant) map[string]*rbacv1.RoleBinding {
	out := make(map[string]*rbacv1.RoleBinding, len(t.Spec.Members))
	for _, m := range t.Spec.Members {
		s := memberSubject(t.Name, m)
		name := memberRoleBindingName(m.Role, s)
		out[name] = &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{
				Namespace: t.Name, Name: name,
				Labels: map[string]string{aiasv1alpha1.LabelTenant: t.Name, aiasv1alpha1.LabelManagedBy: aiasv1alpha1.ManagedByAias},
			},
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: TenantClusterRole(m.Role)},
			Subjects: []rbacv1.Subject{s},
		}
	}
	return out
}

// reconcileRoleBindings creates, updates and deletes the managed RoleBindings in the tenant
// namespace so that there is exactly one per member. It returns a problem message when a
// RoleBinding of the wanted name exists but is not the Tenant's.
func (r *TenantReconciler) reconcileRoleBindings(ctx context.Context, t *aiasv1alpha1.Tenant) (string, error) {
	desired := desiredRoleBindings(t)
	var existing rbacv1.RoleBindingList
	if err := r.List(ctx, &existing, client.InNamespace(t.Name),
		client.MatchingLabels{aiasv1alpha1.LabelTenant: t.Name, aiasv1alpha1.LabelManagedBy: aiasv1alpha1.ManagedByAias}); err != nil {
		return "", fmt.Errorf("listing RoleBindings in %s: %w", t.Name, err)
	}
	have := make(map[string]*rbacv1.RoleBinding, len(existing.Items))
	for i := range existing.Items {
		rb := &existing.Items[i]
		want, ok := desired[rb.Name]
		if !ok || !metav1.IsControlledBy(rb, t) || !equality.Semantic.DeepEqual(rb.RoleRef, want.RoleRef) {
			// A removed member, or a binding we cannot fix in place (the roleRef is immutable).
			if !rb.DeletionTimestamp.IsZero() {
				continue
			}
			if err := r.Delete(ctx, rb, client.Preconditions{UID: &rb.UID}); err != nil && !apierrors.IsNotFound(err) {
				return "", fmt.Errorf("deleting RoleBinding %s/%s: %w", rb.Namespace, rb.Name, err)
			}
			continue
		}
		have[rb.Name] = rb
	}

	var conflicts []string
	for _, name := range slices.Sorted(maps.Keys(desired)) {
		want := desired[name]
		if rb, ok := have[name]; ok {
			if equality.Semantic.DeepEqual(rb.Subjects, want.Subjects) && rb.Labels[aiasv1alpha1.LabelTenant] == t.Name {
				continue
			}
			orig := rb.DeepCopy()
			rb.Subjects = want.Subjects
			maps.Copy(rb.Labels, want.Labels)
			if err := r.Patch(ctx, rb, client.MergeFromWithOptions(orig, client.MergeFromWithOptimisticLock{})); err != nil {
				return "", fmt.Errorf("updating RoleBinding %s/%s: %w", rb.Namespace, rb.Name, err)
			}
			continue
		}
		if err := controllerutil.SetControllerReference(t, want, r.Scheme); err != nil {
			return "", err
		}
		err := r.Create(ctx, want)
		if apierrors.IsAlreadyExists(err) {
			// Either our cache is behind (it is ours: the next reconcile sees it) or someone
			// else's binding holds the name: report that, never take it over.
			cur := &rbacv1.RoleBinding{}
			if gerr := r.Get(ctx, types.NamespacedName{Namespace: t.Name, Name: name}, cur); gerr == nil &&
				!metav1.IsControlledBy(cur, t) {
				conflicts = append(conflicts, name)
				continue
			}
			return "", fmt.Errorf("creating RoleBinding %s/%s: %w", t.Name, name, err)
		}
		if err != nil {
			return "", fmt.Errorf("creating RoleBinding %s/%s: %w", t.Name, name, err)
		}
	}
	if len(conflicts) > 0 {
		return fmt.Sprintf("RoleBindings %v exist in namespace %s and are not managed by this Tenant", conflicts, t.Name), nil
	}
	return "", nil
}
