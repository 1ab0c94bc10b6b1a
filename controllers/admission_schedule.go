package controllers

import (
	"context"

	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
)

// ScheduleAdmission refuses a Schedule whose cron expression or time zone cannot work,
// and holds creates to spec.limits.schedules of the tenant's plan.
type ScheduleAdmission struct {
	count namespaceCount
}

var _ admission.Validator[*aiasv1alpha1.Schedule] = &ScheduleAdmission{}

// NewScheduleAdmission returns the Schedule validator reading through r.
func NewScheduleAdmission(r client.Reader, opts AdmissionOptions) *ScheduleAdmission {
	return &ScheduleAdmission{count: newNamespaceCount(r, opts, "Schedule", "schedules",
		func() client.ObjectList { return &aiasv1alpha1.ScheduleList{} },
		func(l aiasv1alpha1.PlanLimits) *int32 { return l.Schedules })}
}

// ValidateCreate checks the schedule and the namespace's Schedule count.
func (a *ScheduleAdmission) ValidateCreate(ctx context.Context, sc *aiasv1alpha1.Schedule) (admission.Warnings, error) {
	if _, _, _, err := parseSchedule(sc); err != nil {
		return nil, err
	}
	_, _, err := a.count.admitCreate(ctx, sc)
	return nil, err
}

// ValidateUpdate checks the schedule only: the count does not change.
func (a *ScheduleAdmission) ValidateUpdate(_ context.Context, _, sc *aiasv1alpha1.Schedule) (admission.Warnings, error) {
	_, _, _, err := parseSchedule(sc)
	return nil, err
}

// ValidateDelete allows every delete.
func (a *ScheduleAdmission) ValidateDelete(context.Context, *aiasv1alpha1.Schedule) (admission.Warnings, error) {
	return nil, nil
}
