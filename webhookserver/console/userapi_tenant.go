package console

import (
	"net/http"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"

	"github.com/aias-dev/aias/internal/userapi"
	"github.com/aias-dev/aias/webhookserver/internal/httpjson"
)

// listNamespaces lists the tenant namespaces whose runs the caller may list: one
// (cached) SubjectAccessReview per Tenant, so a tenant's members never learn of others.
func (a *Server) listNamespaces(w http.ResponseWriter, r *http.Request) {
	var tenants aiasv1alpha1.TenantList
	if err := a.Cache.List(r.Context(), &tenants); err != nil {
		a.apiFailure(w, "tenants", err)
		return
	}
	u := callerFrom(r.Context())
	out := userapi.NamespaceList{Items: []userapi.Namespace{}}
	for _, t := range tenants.Items {
		ok, _, err := a.access.allowed(r.Context(), u, t.Name, check{Verb: "list", Resource: "runs"})
		if err != nil {
			a.apiFailure(w, "permissions", err)
			return
		}
		if !ok {
			continue
		}
		e, err := a.Source.Entitlement(r.Context(), t.Name)
		if err != nil {
			a.apiFailure(w, "tenants", err)
			return
		}
		ns := userapi.Namespace{Name: t.Name}
		if e != nil {
			ns.Plan = e.PlanName
		}
		out.Items = append(out.Items, ns)
	}
	sort.Slice(out.Items, func(i, j int) bool { return out.Items[i].Name < out.Items[j].Name })
	httpjson.Write(w, http.StatusOK, out)
}

// workflowChunk is how many Workflows listWorkflows reads from the apiserver at once: a
// Workflow may be large (up to what etcd stores), so a namespace's Workflows are never
// held all at once.
const workflowChunk = 20

// listWorkflows lists a namespace's Workflows, read from the apiserver in chunks
// (limit and continue) and written as they come.
func (a *Server) listWorkflows(w http.ResponseWriter, r *http.Request) {
	iw := &itemsWriter{w: w}
	cont := ""
	for {
		var list aiasv1alpha1.WorkflowList
		if err := a.Client.List(r.Context(), &list, client.InNamespace(r.PathValue("ns")), client.Limit(workflowChunk), client.Continue(cont)); err != nil {
			iw.fail(a, r, "workflows", err)
			return
		}
		for i := range list.Items {
			if iw.Item(workflowInfo(&list.Items[i])) != nil {
				return // the client went away
			}
		}
		if cont = list.Continue; cont == "" {
			break
		}
	}
	iw.Close(nil)
}

func workflowInfo(wf *aiasv1alpha1.Workflow) userapi.WorkflowInfo {
	info := userapi.WorkflowInfo{Name: wf.Name, Steps: []userapi.WorkflowStep{}}
	if c := wf.Spec.Concurrency; c != nil {
		info.Concurrency = string(c.Policy)
	}
	for _, p := range wf.Spec.Params {
		info.Params = append(info.Params, userapi.WorkflowParam{Name: p.Name, Description: p.Description, Default: p.Default, Enum: p.Enum, Required: p.Required})
	}
	all, main := wf.Spec.RunSteps()
	deps := drawnDependencies(all, main)
	for i, s := range all.Steps {
		info.Steps = append(info.Steps, userapi.WorkflowStep{Name: s.Name, Image: s.Image, DependsOn: deps[i]})
	}
	info.Ready, info.Message = readyOf(wf.Status.Conditions)
	if lr := wf.Status.LastRun; lr != nil {
		info.LastRun, info.LastPhase = lr.Name, string(lr.Phase)
	}
	return info
}

func (a *Server) listEndpoints(w http.ResponseWriter, r *http.Request) {
	var list aiasv1alpha1.WebhookEndpointList
	if err := a.Cache.List(r.Context(), &list, client.InNamespace(r.PathValue("ns"))); err != nil {
		a.apiFailure(w, "webhook endpoints", err)
		return
	}
	sort.Slice(list.Items, func(i, j int) bool { return list.Items[i].Name < list.Items[j].Name })
	out := userapi.EndpointList{Items: []userapi.EndpointInfo{}}
	for _, ep := range list.Items {
		info := userapi.EndpointInfo{Name: ep.Name, Workflow: ep.Spec.WorkflowRef.Name, URL: ep.Status.URL,
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
	httpjson.Write(w, http.StatusOK, out)
}

// usage reports the tenant's counters (kept in Tenant status by the Tenant controller)
// against its effective plan.
func (a *Server) usage(w http.ResponseWriter, r *http.Request) {
	e, err := a.Source.Entitlement(r.Context(), r.PathValue("ns"))
	if err != nil {
		a.apiFailure(w, "tenant", err)
		return
	}
	if e == nil {
		httpjson.Error(w, http.StatusNotFound, "NotFound", "namespace "+r.PathValue("ns")+" belongs to no tenant")
		return
	}
	out := userapi.Usage{Tenant: e.Tenant.Name, Plan: e.PlanName, Items: []userapi.UsageLimit{}}
	limits := e.Limits()
	var used aiasv1alpha1.TenantUsage
	if e.Tenant.Status.Usage != nil {
		used = *e.Tenant.Status.Usage
	}
	out.Items = append(out.Items,
		userapi.UsageLimit{Name: "workflows", Used: int64(used.Workflows), Limit: widen(limits.Workflows)},
		userapi.UsageLimit{Name: "webhookEndpoints", Used: int64(used.WebhookEndpoints), Limit: widen(limits.WebhookEndpoints)},
		userapi.UsageLimit{Name: "runsPerMonth", Used: used.RunsThisPeriod, Limit: limits.RunsPerMonth},
		userapi.UsageLimit{Name: "concurrentRuns", Used: int64(used.ActiveRuns), Limit: widen(limits.ConcurrentRuns)},
	)
	httpjson.Write(w, http.StatusOK, out)
}

func widen(v *int32) *int64 {
	if v == nil {
		return nil
	}
	n := int64(*v)
	return &n
}

func readyOf(conds []metav1.Condition) (bool, string) {
	c := meta.FindStatusCondition(conds, aiasv1alpha1.ConditionReady)
	if c == nil {
		return false, "not reconciled yet"
	}
	return c.Status == metav1.ConditionTrue, c.Message
}
