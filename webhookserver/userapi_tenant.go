package webhookserver

import (
	"net/http"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
)

// listNamespaces lists the tenant namespaces whose runs the caller may list: one
// (cached) SubjectAccessReview per Tenant, so a tenant's members never learn of others.
func (a *UserAPI) listNamespaces(w http.ResponseWriter, r *http.Request) {
	var tenants aiasv1alpha1.TenantList
	if err := a.Cache.List(r.Context(), &tenants); err != nil {
		a.apiFailure(w, "tenants", err)
		return
	}
	u := callerFrom(r.Context())
	out := NamespaceList{Items: []Namespace{}}
	for _, t := range tenants.Items {
		ok, _, err := a.access.allowed(r.Context(), u, t.Name, check{Verb: "list", Resource: "runs"})
		if err != nil {
			a.apiFailure(w, "permissions", err)
			return
		}
		if ok {
			out.Items = append(out.Items, Namespace{Name: t.Name, Plan: t.Status.EffectivePlan})
		}
	}
	sort.Slice(out.Items, func(i, j int) bool { return out.Items[i].Name < out.Items[j].Name })
	writeJSON(w, http.StatusOK, out)
}

func (a *UserAPI) listWorkflows(w http.ResponseWriter, r *http.Request) {
	var list aiasv1alpha1.WorkflowList
	if err := a.Client.List(r.Context(), &list, client.InNamespace(r.PathValue("ns"))); err != nil {
		a.apiFailure(w, "workflows", err)
		return
	}
	out := WorkflowList{Items: []WorkflowInfo{}}
	for _, wf := range list.Items {
		info := WorkflowInfo{Name: wf.Name, Steps: []WorkflowStep{}, Concurrency: string(wf.Spec.Concurrency.Policy)}
		for i, s := range wf.Spec.Steps {
			info.Steps = append(info.Steps, WorkflowStep{Name: s.Name, Image: s.Image, DependsOn: wf.Spec.StepDependencies(i)})
		}
		info.Ready, info.Message = readyOf(wf.Status.Conditions)
		if lr := wf.Status.LastRun; lr != nil {
			info.LastRun, info.LastPhase = lr.Name, string(lr.Phase)
		}
		out.Items = append(out.Items, info)
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *UserAPI) listEndpoints(w http.ResponseWriter, r *http.Request) {
	var list aiasv1alpha1.WebhookEndpointList
	if err := a.Cache.List(r.Context(), &list, client.InNamespace(r.PathValue("ns"))); err != nil {
		a.apiFailure(w, "webhook endpoints", err)
		return
	}
	sort.Slice(list.Items, func(i, j int) bool { return list.Items[i].Name < list.Items[j].Name })
	out := EndpointList{Items: []EndpointInfo{}}
	for _, ep := range list.Items {
		info := EndpointInfo{Name: ep.Name, Workflow: ep.Spec.WorkflowRef.Name, URL: ep.Status.URL,
			Scheme: string(ep.Spec.Verification.Scheme), Suspended: ep.Spec.Suspend}
		if info.Scheme == "" {
			info.Scheme = string(aiasv1alpha1.SchemeStandardWebhooks)
		}
		if info.URL == "" || strings.HasPrefix(info.URL, "/") {
			info.URL = ep.HookURL(a.PublicBaseURL) // not reconciled yet, or the manager has no public base URL
		}
		info.Ready, info.Message = readyOf(ep.Status.Conditions)
		out.Items = append(out.Items, info)
	}
	writeJSON(w, http.StatusOK, out)
}

// usage reports the tenant's counters (kept in Tenant status by the Tenant controller)
// against its effective plan.
func (a *UserAPI) usage(w http.ResponseWriter, r *http.Request) {
	tenant, plan, err := a.Source.Tenant(r.Context(), r.PathValue("ns"))
	if err != nil {
		a.apiFailure(w, "tenant", err)
		return
	}
	if tenant == nil {
		writeError(w, http.StatusNotFound, "NotFound", "namespace "+r.PathValue("ns")+" belongs to no tenant")
		return
	}
	out := Usage{Tenant: tenant.Name, Plan: tenant.Status.EffectivePlan, Items: []UsageLimit{}}
	var limits aiasv1alpha1.PlanLimits
	if plan != nil {
		out.Plan, limits = plan.Name, plan.Spec.Limits
	}
	var used aiasv1alpha1.TenantUsage
	if tenant.Status.Usage != nil {
		used = *tenant.Status.Usage
	}
	out.Items = append(out.Items,
		UsageLimit{Name: "workflows", Used: int64(used.Workflows), Limit: widen(limits.Workflows)},
		UsageLimit{Name: "webhookEndpoints", Used: int64(used.WebhookEndpoints), Limit: widen(limits.WebhookEndpoints)},
		UsageLimit{Name: "runsPerMonth", Used: used.RunsThisPeriod, Limit: limits.RunsPerMonth},
		UsageLimit{Name: "concurrentRuns", Used: int64(used.ActiveRuns), Limit: widen(limits.ConcurrentRuns)},
	)
	writeJSON(w, http.StatusOK, out)
}

func widen(v *int32) *int64 {
	if v == nil {
		return nil
	}
	n := int64(*v)
	return &n
}

func readyOf(conds []metav1.Condition) (bool, string) {
	c := meta.FindStatusCondition(conds, "Ready")
	if c == nil {
		return false, "not reconciled yet"
	}
	return c.Status == "True", c.Message
}
