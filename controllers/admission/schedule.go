package admission

import (
	"context"

	"sigs.k8s.io/controller-runtime/pkg/client"
	cradmission "sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
	"github.com/aias-dev/aias/controllers"
)

// ScheduleValidator refuses a Schedule whose cron expression or time zone cannot work,
// and holds creates to spec.limits.schedules of the tenant's plan.
type ScheduleValidator struct {
	count namespaceCount
}

var _ cradmission.Validator[*aiasv1alpha1.Schedule] = &ScheduleValidator{}

// NewScheduleValidator returns the Schedule validator reading through r.
func NewScheduleValidator(r client.Reader, opts Options) *ScheduleValidator {
	return &ScheduleValidator{count: newNamespaceCount(r, opts, "Schedule", "schedules",
		func() client.ObjectList { return &aiasv1alpha1.ScheduleList{} },
		func(l aiasv1alpha1.PlanLimits) *int32 { return l.Schedules })}
}

// ValidateCreate checks the schedule and the namespace's Schedule count.
func (a *ScheduleValidator) ValidateCreate(ctx context.Context, sc *aiasv1alpha1.Schedule) (cradmission.Warnings, error) {
	if err := controllers.ValidateSchedule(sc); err != nil {
		return nil, err
	}
	_, _, err := a.count.admitCreate(ctx, sc)
	return nil, err
}

// ValidateUpdate checks the schedule only: the count does not change.
func (a *ScheduleValidator) ValidateUpdate(_ context.Context, _, sc *aiasv1alpha1.Schedule) (cradmission.Warnings, error) {
	err := controllers.ValidateSchedule(sc)
	return nil, err
}

// ValidateDelete allows every delete.
func (a *ScheduleValidator) ValidateDelete(context.Context, *aiasv1alpha1.Schedule) (cradmission.Warnings, error) {
	return nil, nil
}
