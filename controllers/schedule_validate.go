package controllers

import aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"

// ValidateSchedule says why a Schedule's cron expression or time zone cannot work, by the
// rule the Schedule controller runs it with; the admission webhook (controllers/admission)
// refuses such a Schedule with this error.
func ValidateSchedule(sc *aiasv1alpha1.Schedule) error {
	_, _, _, err := parseSchedule(sc)
	return err
}
