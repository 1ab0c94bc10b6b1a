package controllers

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
)

// ScheduleAdmission refuses a Schedule whose cron expression or time zone cannot work,
// and holds creates to spec.limits.schedules of the tenant's plan.
type ScheduleAdmission struct {
	Reader client.Reader
	limits *planLimitsResolver
	ledger *admissionLedger
}

var _ admission.Validator[*aiasv1alpha1.Schedule] = &ScheduleAdmission{}

// NewScheduleAdmission returns the Schedule validator reading through r.
func NewScheduleAdmission(r client.Reader, opts AdmissionOptions) *ScheduleAdmission {
	res := newPlanLimitsResolver(r, opts)
	return &ScheduleAdmission{Reader: r, limits: res, ledger: newAdmissionLedger(res.Opts.Now)}
}

// ValidateCreate checks the schedule and the namespace's Schedule count.
func (a *ScheduleAdmission) ValidateCreate(ctx context.Context, sc *aiasv1alpha1.Schedule) (admission.Warnings, error) {
	if _, _, _, err := parseSchedule(sc); err != nil {
		return nil, err
	}
	nl, ok, err := a.limits.admitCreate(ctx, "Schedule", sc.Namespace)
	if err != nil || !ok {
		return nil, err
	}
	limit := nl.Limits.Schedules
	if limit == nil {
		return nil, nil
	}
	n, ok, err := a.ledger.admit("Schedule/"+sc.Namespace, sc.Name, int(*limit), func() ([]string, error) {
		return otherNames(ctx, a.Reader, &aiasv1alpha1.ScheduleList{}, sc.Namespace, sc.Name)
	})
	if err != nil {
		return nil, apierrors.NewInternalError(fmt.Errorf("counting the Schedules of namespace %s: %w", sc.Namespace, err))
	}
	if !ok {
		return nil, fmt.Errorf("plan %q allows %d Schedules per namespace (spec.limits.schedules) and namespace %q already holds %d",
			nl.Plan, *limit, sc.Namespace, n)
	}
	return nil, nil
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
