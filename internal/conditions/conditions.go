// Package conditions sets the conditions of AIAS objects one way, for every kind (after
// cluster-api's util/conditions and flux's runtime/conditions): a condition always
// records the generation it describes, and its transition time is cut to the second the
// API stores, so that setting an unchanged condition again leaves the object equal to
// what was read and causes no status write.
//
// The condition types and reasons themselves are API: api/v1alpha1/conditions.go.
package conditions

import (
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Setter is an object whose status carries conditions; api/v1alpha1 gives its kinds
// GetConditions and SetConditions.
type Setter interface {
	GetGeneration() int64
	GetConditions() []metav1.Condition
	SetConditions([]metav1.Condition)
}

// Set sets the condition condType of obj for obj's current generation and reports
// whether anything of it changed. now becomes the transition time only when the status
// changes (meta.SetStatusCondition keeps the old one otherwise).
func Set(obj Setter, condType string, status metav1.ConditionStatus, reason, message string, now time.Time) bool {
	conds := obj.GetConditions()
	changed := meta.SetStatusCondition(&conds, metav1.Condition{
		Type:               condType,
		Status:             status,
		Reason:             reason,
		Message:            message,
		ObservedGeneration: obj.GetGeneration(),
		LastTransitionTime: metav1.NewTime(now).Rfc3339Copy(),
	})
	if changed {
		obj.SetConditions(conds)
	}
	return changed
}

// Remove drops the condition condType of obj and reports whether it had one.
func Remove(obj Setter, condType string) bool {
	conds := obj.GetConditions()
	if !meta.RemoveStatusCondition(&conds, condType) {
		return false
	}
	obj.SetConditions(conds)
	return true
}
